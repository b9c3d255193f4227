/*
 * nic-table — an out-of-tree NIC offload driver (kind MODVM_KIND_NIC_DRIVER)
 * written against the installed SDK only: it implements
 * "modvm.nic-driver/1" (modvm/nicdrv.h) for a fixture NIC, keeping the
 * receive queues it hands out in a table and touching no hardware, which
 * makes it the skeleton of a real vendor driver: where it fills the table,
 * a vendor's driver programs its device (a MAC filter to a queue, the
 * queue's MSI-X vector to host_cpu) and where it empties it, undoes that.
 *
 * It claims NICs with more than one receive queue that either do flow
 * steering (ethtool's n-tuple) or carry one of the PCI ids of its `pci_ids`
 * option, the way a vendor's driver knows its own devices and programs
 * their steering itself, at a score of 20, above nic-ethtool's generic 10:
 * with both loaded it owns them, and net-vmq asks it, not nic-ethtool, for
 * every VM NIC on them.  It logs each queue it gives and takes back.
 * modvm-conform's nic-driver check runs it on the kit's own fixture NIC;
 * tests/e2e/test_examples_live.c runs it under a real modvm and net-vmq.
 *
 *     plugins = { net-vmq = { enabled = true; };
 *                 nic-table = { enabled = true; pci_ids = "8086:10fb"; }; };
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/nicdrv.h>
#include <modvm/plugin.h>

#define NAME "nic-table"
#define MAXQ 64
#define MAXIDS 16

static struct {
	bool used;
	char ifname[16];
	uint8_t mac[6];
	uint16_t vlan;
	uint32_t vm_id;
	uint32_t queue;
	uint64_t handle;
} given[MAXQ];
static uint64_t next_handle = 1;

/* pci_ids: the devices claimed whatever ethtool says (set in init). */
static struct {
	uint16_t vendor, device;
} ids[MAXIDS];
static unsigned nids;

/*
 * Parses "8086:10fb 15b3:1017" (blanks or commas between) into ids[];
 * 0, or -EINVAL with one line naming the option's file:line.
 */
static int parse_ids(struct modvm_plugin_ctx *ctx)
{
	const struct modvm_config *cfg = modvm_plugin_config(ctx);
	const char *p = modvm_config_string(cfg, "pci_ids");
	unsigned n = 0;

	while (p && *p) {
		static const char hex[] = "0123456789abcdefABCDEF";
		size_t v, d;

		p += strspn(p, " \t,");
		if (!*p)
			break;
		v = strspn(p, hex);
		d = p[v] == ':' ? strspn(p + v + 1, hex) : 0;
		if (v < 1 || v > 4 || d < 1 || d > 4 || (p[v + 1 + d] && !strchr(" \t,", p[v + 1 + d])) ||
		    n == MAXIDS) {
			modvm_plugin_log(ctx, MODVM_LOG_ERROR,
					 "%s: pci_ids: \"%s\": at most %d vendor:device pairs in hex, "
					 "like \"8086:10fb 15b3:1017\"",
					 modvm_config_where(cfg, "pci_ids"),
					 modvm_config_string(cfg, "pci_ids"), MAXIDS);
			return -EINVAL;
		}
		ids[n].vendor = (uint16_t)strtoul(p, NULL, 16);
		ids[n].device = (uint16_t)strtoul(p + v + 1, NULL, 16);
		n++;
		p += v + 1 + d;
	}
	nids = n;
	return 0;
}

static bool listed(const struct modvm_nic *nic)
{
	for (unsigned i = 0; i < nids; i++)
		if (ids[i].vendor == nic->info.vendor_id && ids[i].device == nic->info.device_id)
			return true;
	return false;
}

static int nd_probe(struct modvm_plugin_ctx *self, const struct modvm_nic *nic)
{
	(void)self;
	return nic->info.rx_queues >= 2 && (nic->info.ntuple || listed(nic)) ? 20 : 0;
}

static int nd_caps(struct modvm_plugin_ctx *self, const struct modvm_nic *nic,
		   struct modvm_nic_caps *out)
{
	(void)self;
	if (out->struct_size < sizeof(*out))
		return -EINVAL;
	*out = (struct modvm_nic_caps){ .struct_size = sizeof(*out),
					.max_queues = nic->info.rx_queues - 1,
					.offload_capa = nic->info.offload_capa };
	return 0;
}

static bool ring_taken(const char *ifname, uint32_t q)
{
	for (int i = 0; i < MAXQ; i++)
		if (given[i].used && given[i].queue == q && strcmp(given[i].ifname, ifname) == 0)
			return true;
	return false;
}

static int nd_alloc(struct modvm_plugin_ctx *self, const struct modvm_nic *nic,
		    const struct modvm_nic_queue_req *req, struct modvm_nic_queue *out)
{
	static const uint8_t zero[6];
	uint32_t ring = 0;
	int slot = -1;

	(void)self;
	if (!memcmp(req->mac, zero, 6) || (req->mac[0] & 1) || req->vlan > 4094)
		return -EINVAL;
	for (int i = 0; i < MAXQ; i++) {
		if (!given[i].used) {
			if (slot < 0)
				slot = i;
			continue;
		}
		if (!strcmp(given[i].ifname, nic->info.ifname) && !memcmp(given[i].mac, req->mac, 6) &&
		    given[i].vlan == req->vlan)
			return -EEXIST;
	}
	for (uint32_t q = 1; q < nic->info.rx_queues && !ring; q++)
		if (!ring_taken(nic->info.ifname, q))
			ring = q;
	if (!ring || slot < 0)
		return -ENOSPC;
	given[slot].used = true;
	snprintf(given[slot].ifname, sizeof(given[slot].ifname), "%s", nic->info.ifname);
	memcpy(given[slot].mac, req->mac, 6);
	given[slot].vlan = req->vlan;
	given[slot].vm_id = req->vm_id;
	given[slot].queue = ring;
	given[slot].handle = next_handle++;
	*out = (struct modvm_nic_queue){ .struct_size = sizeof(*out), .queue = ring, .irq = -1,
					 .host_cpu = -1, .handle = given[slot].handle };
	/* A vendor's driver programs its MAC filter to the ring here. */
	if (self)
		modvm_plugin_log(self, MODVM_LOG_INFO,
				 "vm %u mac %02x:%02x:%02x:%02x:%02x:%02x: %s rx queue %u given",
				 req->vm_id, req->mac[0], req->mac[1], req->mac[2], req->mac[3],
				 req->mac[4], req->mac[5], nic->info.ifname, ring);
	return 0;
}

static int nd_free(struct modvm_plugin_ctx *self, const struct modvm_nic *nic, uint64_t handle)
{
	(void)nic;
	for (int i = 0; i < MAXQ; i++) {
		if (!given[i].used || given[i].handle != handle)
			continue;
		given[i].used = false;
		/* ... and removes the filter here. */
		if (self)
			modvm_plugin_log(self, MODVM_LOG_INFO, "vm %u: %s rx queue %u taken back",
					 given[i].vm_id, given[i].ifname, given[i].queue);
		return 0;
	}
	return -ENOENT;
}

static const struct modvm_nic_driver driver = {
	.struct_size = sizeof(struct modvm_nic_driver),
	.probe = nd_probe,
	.caps = nd_caps,
	.queue_alloc = nd_alloc,
	.queue_free = nd_free,
};

static const void *nd_get_interface(struct modvm_plugin_ctx *ctx, const char *id)
{
	(void)ctx;
	return strcmp(id, MODVM_NIC_DRIVER_IFACE) == 0 ? &driver : NULL;
}

/* `modvm check`: the option is checked, nothing kept. */
static int nd_validate(struct modvm_plugin_ctx *ctx)
{
	int r = parse_ids(ctx);

	nids = 0;
	return r;
}

static int nd_init(struct modvm_plugin_ctx *ctx)
{
	return parse_ids(ctx);
}

/* Whatever net-vmq did not give back (it always does, on its stop) goes here. */
static void nd_fini(struct modvm_plugin_ctx *ctx)
{
	(void)ctx;
	memset(given, 0, sizeof(given));	/* a real driver removes its filters here */
	next_handle = 1;
	nids = 0;
}

static const struct modvm_option options[] = {
	{ .name = "pci_ids", .type = MODVM_OPT_STRING, .default_value = "",
	  .description = "PCI vendor:device ids in hex (\"8086:10fb 15b3:1017\") of NICs claimed "
			 "even without ethtool n-tuple steering, as a vendor's driver claims "
			 "its own devices" },
	MODVM_OPTIONS_END,
};

MODVM_PLUGIN(.name = NAME, .kind = MODVM_KIND_NIC_DRIVER, .version = "1.1.0",
	     .license = "MIT", .description = "example NIC driver: dedicated receive queues kept in a table",
	     .options = options, .validate = nd_validate, .init = nd_init, .fini = nd_fini,
	     .get_interface = nd_get_interface);
