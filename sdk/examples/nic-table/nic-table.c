/*
 * nic-table — an out-of-tree NIC offload driver (kind MODVM_KIND_NIC_DRIVER)
 * written against the installed SDK only: it implements
 * "modvm.nic-driver/1" (modvm/nicdrv.h) for a fixture NIC, keeping the
 * receive queues it hands out in a table and touching no hardware, which
 * makes it the skeleton of a real vendor driver: where it fills the table,
 * a vendor's driver programs its device (a MAC filter to a queue, the
 * queue's MSI-X vector to host_cpu) and where it empties it, undoes that.
 *
 * It claims NICs with flow steering and more than one receive queue at a
 * score of 20, above nic-ethtool's generic 10, so with both loaded it owns
 * them; net-vmq then asks it, not nic-ethtool, for every VM NIC on them.
 * modvm-conform's nic-driver check runs it on the kit's own fixture NIC.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <modvm/nicdrv.h>
#include <modvm/plugin.h>

#define NAME "nic-table"
#define MAXQ 64

static struct {
	bool used;
	char ifname[16];
	uint8_t mac[6];
	uint16_t vlan;
	uint32_t queue;
	uint64_t handle;
} given[MAXQ];
static uint64_t next_handle = 1;

static int nd_probe(struct modvm_plugin_ctx *self, const struct modvm_nic *nic)
{
	(void)self;
	return nic->info.ntuple && nic->info.rx_queues >= 2 ? 20 : 0;
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
	given[slot].queue = ring;
	given[slot].handle = next_handle++;
	*out = (struct modvm_nic_queue){ .struct_size = sizeof(*out), .queue = ring, .irq = -1,
					 .host_cpu = -1, .handle = given[slot].handle };
	return 0;
}

static int nd_free(struct modvm_plugin_ctx *self, const struct modvm_nic *nic, uint64_t handle)
{
	(void)self, (void)nic;
	for (int i = 0; i < MAXQ; i++) {
		if (!given[i].used || given[i].handle != handle)
			continue;
		given[i].used = false;
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

/* Whatever net-vmq did not give back (it always does, on its stop) goes here. */
static void nd_fini(struct modvm_plugin_ctx *ctx)
{
	(void)ctx;
	memset(given, 0, sizeof(given));	/* a real driver removes its filters here */
	next_handle = 1;
}

MODVM_PLUGIN(.name = NAME, .kind = MODVM_KIND_NIC_DRIVER, .version = "1.0.0",
	     .license = "MIT", .description = "example NIC driver: dedicated receive queues kept in a table",
	     .fini = nd_fini, .get_interface = nd_get_interface);
