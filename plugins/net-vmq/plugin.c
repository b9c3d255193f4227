/*
 * plugin.c — net-vmq: a virtio-net NIC on a multi-queue tap for each VM
 * with a `net-vmq` group.
 *
 * NICs per VM: the VM's group is one NIC (`net-vmq = { tap = "t0"; };`),
 * or lists several (`net-vmq = { nics = ( { tap = "t0"; }, { tap = "t1"; } ); };`,
 * each element taking the same keys); a group uses one form, not both.
 * The guest finds them as eth0, eth1, ... in that order.
 *
 * Threads.  TX runs on the vCPU thread that kicks (netdev_tx.c: a tap
 * write never blocks, so no hop to another thread is worth its cost; see
 * bench/net).  RX runs on the loop thread (rxloop.c).
 *
 * Queue assignment (VMQ): at start the VMQ manager (vmq/) discovers the
 * host's NICs, offers each to the NIC driver plugins ("modvm.nic-driver/1":
 * the best probe owns it) and publishes net.nic for each; every VM NIC with
 * an `uplink` then asks the uplink's driver for a dedicated receive queue
 * (nic-ethtool: a destination-MAC n-tuple rule, the queue's IRQ on the VM's
 * core).  Without such a NIC or driver the NIC keeps its own tap queues,
 * and we say so; offloads the VM NIC requires of its uplink and the driver
 * lacks refuse the VM.  Either way net.queue_assigned tells power-park
 * which core must stay unparked.
 */
#include <errno.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/events.h>
#include <modvm/loop.h>
#include <modvm/nicdrv.h>
#include <modvm/plugin.h>
#include <modvm/sandbox.h>
#include <modvm/vm.h>

#include "netdev.h"
#include "rxloop.h"
#include "tap.h"
#include "vmq.h"

#define PLUGIN_NAME "net-vmq"

struct nv;

#define NV_MAX_NICS 8

struct nv_nic {
	struct nv *m;
	unsigned vm_id;
	/* configuration */
	char key[16];		/* "" for the single-NIC form, "nics.[1]." in a list */
	const char *tap_name, *uplink;
	uint8_t mac[6];
	uint16_t vlan;		/* steered with the MAC, 0: none */
	uint64_t offloads;	/* MODVM_NET_OFFLOAD_* the uplink's driver must provide */
	unsigned pairs, mtu;
	bool csum, tso, ecn;
	/* running */
	struct modvm_vm *vm;
	struct tap *tap;
	struct rxloop *rx;
	struct netdev *nd;
};

/* The NICs of one VM. */
struct nv_vm {
	unsigned n;
	struct nv_nic nics[NV_MAX_NICS];
	bool up;		/* set up, not torn down */
};

struct nv {
	struct modvm_plugin_ctx *ctx;
	unsigned nvms;
	struct nv_vm *vms;
	const char *sysfs_root, *proc_root;
	struct vmq_manager *vmq;	/* from start to stop; NULL if discovery failed */
	struct vmq_driver drivers[16];	/* the NIC drivers found at start */
	size_t ndrivers;
};

/* Every plugin that provides "modvm.nic-driver/1", in load order. */
static void find_drivers(struct nv *m)
{
	struct modvm_plugin_ctx *self;
	const struct modvm_nic_driver *ops;
	size_t cursor = 0;

	m->ndrivers = 0;
	while (m->ndrivers < sizeof(m->drivers) / sizeof(m->drivers[0]) &&
	       (ops = modvm_plugin_query_each(m->ctx, MODVM_NIC_DRIVER_IFACE, &cursor, &self))) {
		if (ops->struct_size < sizeof(*ops) || !self)
			continue;
		m->drivers[m->ndrivers++] = (struct vmq_driver){ .name = modvm_plugin_name(self),
								 .ops = ops, .self = self };
	}
}

/* ---- queue assignment (VMQ) ---- */

/*
 * The core that serves the NIC's receive queue: the VMs' vCPU threads are
 * spread over the online cores by VM index (power-park may pack them
 * later, but it never parks a core named in net.queue_assigned).
 */
static int home_cpu(unsigned vm_id)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	return ncpu > 0 ? (int)(vm_id % (unsigned long)ncpu) : -1;
}

/* A dedicated receive queue from the VMQ manager, or the tap queues; an
 * uplink whose driver lacks a required offload refuses the VM (-EOPNOTSUPP). */
static int assign_queue(struct nv *m, struct nv_nic *n)
{
	struct modvm_net_queue_assigned ev = { .vm_id = n->vm_id, .queue = 0, .host_cpu = -1,
					       .dedicated = 0 };
	struct vmq_request req = { .vm_id = n->vm_id, .vlan = n->vlan, .uplink = n->uplink,
				   .offloads = n->offloads };
	int r = 0;

	memcpy(req.mac, n->mac, 6);
	if (m->vmq && *n->uplink &&
	    (r = vmq_manager_assign_req(m->vmq, &req, home_cpu(n->vm_id), &ev)) == 0 &&
	    ev.dedicated) {
		modvm_plugin_log(m->ctx, MODVM_LOG_INFO,
				 "vm %s: receive queue %u on %s (from its NIC driver), IRQ on cpu %d",
				 modvm_plugin_vm_name(m->ctx, n->vm_id), ev.queue, n->uplink,
				 ev.host_cpu);
		return 0;	/* the manager published net.queue_assigned */
	}
	if (r == -EOPNOTSUPP)
		return r;	/* the manager named the missing offloads */
	if (n->offloads && !m->vmq) {
		modvm_plugin_log(m->ctx, MODVM_LOG_ERROR,
				 "vm %s: uplink %s: NIC discovery failed, so the offloads it requires "
				 "cannot be checked", modvm_plugin_vm_name(m->ctx, n->vm_id), n->uplink);
		return -EOPNOTSUPP;
	}
	bool published = m->vmq && *n->uplink;	/* the manager published the fallback */
	modvm_plugin_log(m->ctx, MODVM_LOG_INFO,
			 "vm %s: %s%s: no dedicated receive queue, falling back to per-VM tap "
			 "queues (%u on %s)",
			 modvm_plugin_vm_name(m->ctx, n->vm_id), *n->uplink ? "uplink " : "no uplink",
			 n->uplink, n->pairs, tap_name(n->tap));
	if (published)
		return 0;
	snprintf(ev.uplink, sizeof(ev.uplink), "%s", n->uplink);
	memcpy(ev.mac, n->mac, 6);
	modvm_publish_net_queue_assigned(modvm_plugin_bus(m->ctx), &ev);
	return 0;
}

/* ---- per-VM hooks ---- */

/* What each queue pair did, at the stop of a NIC that ran. */
static void nic_report(struct modvm_plugin_ctx *ctx, struct nv_nic *n)
{
	if (!n->nd || !n->tap || !n->rx)
		return;
	for (unsigned p = 0; p < n->pairs; p++) {
		char line[512];
		netdev_describe(n->nd, p, line, sizeof(line));
		modvm_plugin_log(ctx, MODVM_LOG_INFO, "vm %s: %s pair %u at stop: %s%s",
				 modvm_vm_name(n->vm), tap_name(n->tap), p, line,
				 rxloop_watching(n->rx, p) ? "" : "; tap not watched");
	}
}

static void nic_stop(struct nv_nic *n)
{
	rxloop_stop(n->rx);
	if (n->nd)
		netdev_detach(n->vm, n->nd);
	n->nd = NULL;
	rxloop_free(n->rx);
	n->rx = NULL;
	tap_close(n->tap);
	n->tap = NULL;
	n->vm = NULL;
}

static int nic_setup(struct modvm_plugin_ctx *ctx, struct nv *m, struct modvm_vm *vm,
		     struct nv_nic *n)
{
	const char *vmname = modvm_vm_name(vm);
	int r;

	n->vm = vm;
	r = tap_open(n->tap_name, n->pairs, &n->tap);
	if (r < 0) {
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "vm %s: cannot open tap \"%s\": %s", vmname,
				 n->tap_name, modvm_strerror(r));
		goto fail;
	}
	unsigned want = (n->csum ? NETDEV_OFF_CSUM : 0) |
			(n->tso ? NETDEV_OFF_TSO4 | NETDEV_OFF_TSO6 : 0) |
			(n->ecn ? NETDEV_OFF_TSO_ECN : 0);
	if ((r = tap_check_offloads(n->tap, want)) < 0) {
		modvm_plugin_log(ctx, MODVM_LOG_ERROR,
				 "vm %s: offload = { csum = %s, tso = %s, ecn = %s } asks for more "
				 "than tap %s can do",
				 vmname, n->csum ? "true" : "false", n->tso ? "true" : "false",
				 n->ecn ? "true" : "false", tap_name(n->tap));
		goto fail;
	}
	if ((r = tap_set_mtu(n->tap, n->mtu)) < 0 || (r = tap_set_up(n->tap)) < 0)
		goto fail;
	r = rxloop_create(modvm_plugin_loop(ctx), n->tap, n->pairs, &n->rx);
	if (r < 0)
		goto fail;
	struct netdev_config cfg = {
		.pairs = (uint16_t)n->pairs, .mtu = n->mtu,
		.csum = n->csum, .tso = n->tso, .ecn = n->ecn,
		.backend = rxloop_backend(n->rx),
	};
	memcpy(cfg.mac, n->mac, 6);
	r = netdev_attach(vm, &cfg, &n->nd);
	if (r < 0) {
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "vm %s: cannot add virtio-net: %s", vmname,
				 modvm_strerror(r));
		goto fail;
	}
	modvm_plugin_log(ctx, MODVM_LOG_INFO,
			 "vm %s: virtio-net on %s, mac %02x:%02x:%02x:%02x:%02x:%02x, %u queue "
			 "pair(s), mtu %u",
			 vmname, tap_name(n->tap), n->mac[0], n->mac[1], n->mac[2], n->mac[3],
			 n->mac[4], n->mac[5], n->pairs, n->mtu);
	/* Queue assignment before RX starts: with VMQ it decides where RX is
	 * served. */
	if ((r = assign_queue(m, n)) < 0 || (r = rxloop_start(n->rx, n->nd)) < 0)
		goto fail;
	return 0;
fail:
	nic_stop(n);
	return r;
}

/* Stops every NIC of VM @id and gives back its queue assignments (MAC
 * rules, IRQ affinity). */
static void vm_stop(struct nv *m, unsigned id)
{
	struct nv_vm *v = &m->vms[id];

	if (m->vmq)
		vmq_manager_release(m->vmq, id);
	for (unsigned k = 0; k < v->n; k++)
		if (v->nics[k].vm) {
			nic_report(m->ctx, &v->nics[k]);
			nic_stop(&v->nics[k]);
		}
	v->up = false;
}

static int vm_setup(struct modvm_plugin_ctx *ctx, struct modvm_vm *vm, unsigned id, void *ud)
{
	struct nv *m = ud;
	int r = 0;

	if (id >= m->nvms || m->vms[id].n == 0)
		return 0;
	m->vms[id].up = true;
	for (unsigned k = 0; k < m->vms[id].n && r == 0; k++)
		r = nic_setup(ctx, m, vm, &m->vms[id].nics[k]);
	/* The core runs no teardown hook for a failed setup: undo here. */
	if (r < 0)
		vm_stop(m, id);
	return r;
}

static void vm_teardown(struct modvm_plugin_ctx *ctx, struct modvm_vm *vm, unsigned id, void *ud)
{
	struct nv *m = ud;

	(void)ctx;
	(void)vm;
	if (id < m->nvms && m->vms[id].up)
		vm_stop(m, id);
}

static const struct modvm_vm_hooks hooks = {
	.struct_size = sizeof(struct modvm_vm_hooks),
	.setup = vm_setup,
	.teardown = vm_teardown,
};

/* ---- configuration ---- */

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &end) != 6 || strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return (mac[0] & 1) ? -EINVAL : 0;
}

/* A stable, locally administered address from the VM's name (and the
 * NIC's index after the first, so eth1 differs from eth0). */
static void default_mac(const char *name, unsigned index, uint8_t mac[6])
{
	uint32_t h = 2166136261u;

	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	for (unsigned i = index; i; i >>= 8)
		h = (h ^ (uint8_t)i) * 16777619u;
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = 0x00;
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

/* The keys a NIC takes, in the VM's group or in each element of `nics`. */
static const char *const nic_keys[] = { "tap", "mac", "queues", "mtu", "offload.csum",
					"offload.tso", "offload.ecn", "uplink", "vlan", "require_offloads", NULL };

/* One NIC from @c (the VM's group, or an element of its `nics`). */
static int nic_configure(struct nv *m, unsigned id, unsigned k, const struct modvm_config *c,
			 bool in_list)
{
	struct nv_nic *n = &m->vms[id].nics[k];
	const char *vm = modvm_plugin_vm_name(m->ctx, id);

	n->m = m;
	n->vm_id = id;
	if (in_list)
		snprintf(n->key, sizeof(n->key), "nics.[%u].", k);
	n->tap_name = modvm_config_string(c, "tap");
	n->uplink = modvm_config_string(c, "uplink");
	n->pairs = (unsigned)modvm_config_int(c, "queues");
	n->mtu = (unsigned)modvm_config_int(c, "mtu");
	n->csum = modvm_config_bool(c, "offload.csum");
	n->tso = modvm_config_bool(c, "offload.tso");
	n->ecn = modvm_config_bool(c, "offload.ecn");
	const char *mac = modvm_config_string(c, "mac");
	if (!*mac) {
		default_mac(vm, k, n->mac);
	} else if (parse_mac(mac, n->mac) < 0) {
		modvm_plugin_log(m->ctx, MODVM_LOG_ERROR,
				 "%s: vm %s: %smac: \"%s\": expected a unicast xx:xx:xx:xx:xx:xx",
				 modvm_config_where(c, "mac"), vm, n->key, mac);
		return -EINVAL;
	}
	if (strlen(n->tap_name) >= 16) {
		modvm_plugin_log(m->ctx, MODVM_LOG_ERROR,
				 "%s: vm %s: %stap: \"%s\": longer than 15 characters",
				 modvm_config_where(c, "tap"), vm, n->key, n->tap_name);
		return -EINVAL;
	}
	if (n->tso && !n->csum) {
		modvm_plugin_log(m->ctx, MODVM_LOG_ERROR,
				 "%s: vm %s: %soffload.tso = true needs offload.csum = true",
				 modvm_config_where(c, "offload.tso"), vm, n->key);
		return -EINVAL;
	}
	if (n->ecn && !n->tso) {
		modvm_plugin_log(m->ctx, MODVM_LOG_ERROR,
				 "%s: vm %s: %soffload.ecn = true needs offload.tso = true",
				 modvm_config_where(c, "offload.ecn"), vm, n->key);
		return -EINVAL;
	}
	n->vlan = (uint16_t)modvm_config_int(c, "vlan");
	char bad[64];
	if (vmq_offload_parse(modvm_config_string(c, "require_offloads"), &n->offloads, bad,
			      sizeof(bad)) < 0) {
		modvm_plugin_log(m->ctx, MODVM_LOG_ERROR,
				 "%s: vm %s: %srequire_offloads: \"%s\" is no offload (ethtool "
				 "feature names like rx-checksum, tx-tcp-segmentation, "
				 "rx-ntuple-filter)",
				 modvm_config_where(c, "require_offloads"), vm, n->key, bad);
		return -EINVAL;
	}
	if ((n->offloads || n->vlan) && !*n->uplink) {
		modvm_plugin_log(m->ctx, MODVM_LOG_ERROR,
				 "%s: vm %s: %s%s needs an uplink",
				 modvm_config_where(c, n->vlan ? "vlan" : "require_offloads"), vm,
				 n->key, n->vlan ? "vlan" : "require_offloads");
		return -EINVAL;
	}
	/* Two NICs on one named tap would be two queues of one device, each
	 * guest seeing the other's frames: the kernel does not refuse it. */
	for (unsigned i = 0; n->tap_name && *n->tap_name && i <= id; i++)
		for (unsigned j = 0; j < (i == id ? k : m->vms[i].n); j++) {
			const struct nv_nic *o = &m->vms[i].nics[j];

			if (!o->tap_name || strcmp(o->tap_name, n->tap_name) != 0)
				continue;
			modvm_plugin_log(m->ctx, MODVM_LOG_ERROR,
					 "%s: vm %s: %stap: \"%s\" is already vm %s's %stap (NICs on "
					 "one tap see each other's frames)",
					 modvm_config_where(c, "tap"), vm, n->key, n->tap_name,
					 modvm_plugin_vm_name(m->ctx, i), o->key);
			return -EINVAL;
		}
	/* Two NICs of a VM with one MAC would confuse the guest and VMQ. */
	for (unsigned j = 0; j < k; j++)
		if (!memcmp(m->vms[id].nics[j].mac, n->mac, 6)) {
			modvm_plugin_log(m->ctx, MODVM_LOG_ERROR,
					 "%s: vm %s: %smac: the same address as nics.[%u]",
					 modvm_config_where(c, "mac"), vm, n->key, j);
			return -EINVAL;
		}
	return 0;
}

static int vm_configure(struct nv *m, unsigned id)
{
	const struct modvm_config *c = modvm_plugin_vm_config(m->ctx, id);
	struct nv_vm *v = &m->vms[id];
	int r;

	if (!c)
		return 0;
	if (!modvm_config_is_set(c, "nics")) {	/* the group is the NIC */
		v->n = 1;
		return nic_configure(m, id, 0, c, false);
	}
	for (const char *const *key = nic_keys; *key; key++)
		if (modvm_config_is_set(c, *key)) {
			modvm_plugin_log(m->ctx, MODVM_LOG_ERROR,
					 "%s: vm %s: %s: a group with `nics = ( ... )` takes its NICs' "
					 "keys in the list elements, not beside it",
					 modvm_config_where(c, *key), modvm_plugin_vm_name(m->ctx, id),
					 *key);
			return -EINVAL;
		}
	v->n = (unsigned)modvm_config_list_count(c, "nics");	/* the table bounds it */
	for (unsigned k = 0; k < v->n; k++)
		if ((r = nic_configure(m, id, k, modvm_config_list_elem(c, "nics", k), true)) < 0)
			return r;
	return 0;
}

/* ---- lifecycle ---- */

/*
 * What the NICs need after the lockdown, beyond the core's lists: a
 * guest's reboot sets its taps up again on the loop thread (open
 * /dev/net/tun, the TUN ioctls, MTU and link state through an AF_INET
 * socket, ethtool for VMQ); the TX path writes frames on vCPU threads (and
 * on the loop, which the core lets writev, after a kick's queue's worth)
 * and the guest's feature negotiation (a vCPU's MMIO write) sets the tap's
 * offloads; taps and queue steering keep CAP_NET_ADMIN.
 */
static int declare_sandbox(struct nv *m)
{
	static const unsigned long loop_ioctls[] = { TUNGETFEATURES, TUNSETIFF, TUNSETVNETHDRSZ,
						     TUNSETOFFLOAD,  TUNSETQUEUE, SIOCSIFMTU,
						     SIOCGIFFLAGS,   SIOCSIFFLAGS, SIOCETHTOOL };
	struct modvm_plugin_ctx *ctx = m->ctx;
	char irq[PATH_MAX];
	int r = modvm_sandbox_allow_arg(ctx, MODVM_THREAD_LOOP, "socket", 0, AF_INET);

	for (size_t i = 0; r == 0 && i < sizeof(loop_ioctls) / sizeof(loop_ioctls[0]); i++)
		r = modvm_sandbox_allow_arg(ctx, MODVM_THREAD_LOOP, "ioctl", 1, loop_ioctls[i]);
	/* the guest's driver sets offloads and enables queues from a vCPU */
	if (r == 0)
		r = modvm_sandbox_allow_arg(ctx, MODVM_THREAD_VCPU, "ioctl", 1, TUNSETOFFLOAD);
	if (r == 0)
		r = modvm_sandbox_allow_arg(ctx, MODVM_THREAD_VCPU, "ioctl", 1, TUNSETQUEUE);
	if (r == 0)
		r = modvm_sandbox_allow(ctx, MODVM_THREAD_VCPU, "writev");
	if (r == 0)
		r = modvm_sandbox_allow_path(ctx, "/dev/net/tun",
					     MODVM_SANDBOX_READ | MODVM_SANDBOX_WRITE);
	/* VMQ: a queue's IRQ goes to the VM's core */
	snprintf(irq, sizeof(irq), "%s/irq", m->proc_root);
	if (r == 0 && access(irq, F_OK) == 0)
		r = modvm_sandbox_allow_path(ctx, irq, MODVM_SANDBOX_READ | MODVM_SANDBOX_WRITE);
	if (r == 0 && m->nvms)
		r = modvm_sandbox_keep_cap(ctx, CAP_NET_ADMIN);
	return r;
}

static int nv_init(struct modvm_plugin_ctx *ctx)
{
	struct nv *m = calloc(1, sizeof(*m));
	int rc;

	if (!m)
		return -ENOMEM;
	m->ctx = ctx;
	m->nvms = modvm_plugin_vm_count(ctx);
	m->vms = calloc(m->nvms ? m->nvms : 1, sizeof(*m->vms));
	rc = -ENOMEM;
	if (!m->vms)
		goto free_m;
	for (unsigned i = 0; i < m->nvms; i++)
		if ((rc = vm_configure(m, i)) < 0)
			goto free_m;
	if ((rc = modvm_bus_register(&modvm_event_net_queue_assigned)) < 0 ||
	    (rc = modvm_bus_register(&modvm_event_net_nic)) < 0)
		goto free_m;
	const struct modvm_config *cfg = modvm_plugin_config(ctx);
	m->sysfs_root = modvm_config_string(cfg, "sysfs_root");
	m->proc_root = modvm_config_string(cfg, "proc_root");
	rc = declare_sandbox(m);
	if (rc < 0)
		goto free_m;
	rc = modvm_plugin_set_vm_hooks(ctx, &hooks, m);
	if (rc < 0)
		goto free_m;
	modvm_plugin_set_data(ctx, m);
	return 0;
free_m:
	free(m->vms);
	free(m);
	return rc;
}

/* Discovery at start, when every plugin has subscribed to net.nic. */
static int nv_start(struct modvm_plugin_ctx *ctx)
{
	struct nv *m = modvm_plugin_data(ctx);
	struct vmq_options opt = { .sysfs_root = m->sysfs_root, .proc_root = m->proc_root };

	find_drivers(m);
	opt.drivers = m->drivers;
	opt.ndrivers = m->ndrivers;
	int r = vmq_manager_create(modvm_plugin_bus(ctx), &opt, &m->vmq);
	if (r < 0) {
		/* Not fatal: VM NICs still work on their tap queues. */
		modvm_plugin_log(ctx, MODVM_LOG_WARN,
				 "NIC discovery under %s failed (%s): no dedicated receive queues",
				 m->sysfs_root, modvm_strerror(r));
		m->vmq = NULL;
	}
	return 0;
}

static void nv_stop(struct modvm_plugin_ctx *ctx)
{
	struct nv *m = modvm_plugin_data(ctx);

	vmq_manager_destroy(m->vmq);	/* rules removed, IRQ affinity restored */
	m->vmq = NULL;
}

/* `modvm caps`: what discovery found, one line each. */
struct caps_buf {
	char *buf;
	size_t len, used;
};

static void caps_line(const char *text, void *ud)
{
	struct caps_buf *c = ud;
	if (c->used < c->len)
		c->used += (size_t)snprintf(c->buf + c->used, c->len - c->used, "%s\n", text);
}

static int caps_report(struct modvm_plugin_ctx *ctx, char *buf, size_t len)
{
	struct nv *m = modvm_plugin_data(ctx);
	struct caps_buf c = { buf, len, 0 };
	struct vmq_manager *own = NULL;

	if (!len)
		return 0;
	buf[0] = '\0';
	if (!m->vmq) {	/* `modvm caps` does not start plugins: discover for the report */
		struct vmq_options opt = { .sysfs_root = m->sysfs_root, .proc_root = m->proc_root };
		find_drivers(m);
		opt.drivers = m->drivers;
		opt.ndrivers = m->ndrivers;
		if (vmq_manager_create(NULL, &opt, &own) < 0) {
			snprintf(buf, len, "NIC discovery under %s failed\n", m->sysfs_root);
			return 0;
		}
	}
	vmq_manager_describe(m->vmq ? m->vmq : own, caps_line, &c);
	vmq_manager_destroy(own);
	return 0;
}

static const struct modvm_caps_report caps = {
	.struct_size = sizeof(struct modvm_caps_report),
	.report = caps_report,
};

static const void *nv_get_interface(struct modvm_plugin_ctx *ctx, const char *id)
{
	(void)ctx;
	return id && strcmp(id, MODVM_CAPS_REPORT_IFACE) == 0 ? &caps : NULL;
}

static void nv_fini(struct modvm_plugin_ctx *ctx)
{
	struct nv *m = modvm_plugin_data(ctx);

	modvm_plugin_set_vm_hooks(ctx, NULL, NULL);
	/* The core tears VMs down (our teardown hook) before fini. */
	for (unsigned i = 0; i < m->nvms; i++)
		if (m->vms[i].up)
			vm_stop(m, i);
	free(m->vms);
	free(m);
	modvm_plugin_set_data(ctx, NULL);
}

/* The keys of one NIC, written once for the group and for list elements. */
#define NIC_OPTIONS(P)                                                                       \
	{ .name = P "tap", .type = MODVM_OPT_STRING, .default_value = "",                     \
	  .description = "tap interface to open or create (\"\": the kernel picks mvtapN)" },  \
	{ .name = P "mac", .type = MODVM_OPT_STRING, .default_value = "",                     \
	  .description = "guest MAC xx:xx:xx:xx:xx:xx (\"\": 52:54:00 + hash of VM name, index)" }, \
	{ .name = P "queues", .type = MODVM_OPT_INT, .default_value = "1", .min = 1,          \
	  .max = NETDEV_MAX_PAIRS, .description = "queue pairs (one tap queue each)" },      \
	{ .name = P "mtu", .type = MODVM_OPT_INT, .default_value = "1500", .min = 68,         \
	  .max = 65535, .description = "MTU told to the guest and set on the tap (9000: jumbo frames)" }, \
	{ .name = P "offload.csum", .type = MODVM_OPT_BOOL, .default_value = "true",          \
	  .description = "checksum offload both ways (CSUM, GUEST_CSUM)" },                   \
	{ .name = P "offload.tso", .type = MODVM_OPT_BOOL, .default_value = "true",           \
	  .description = "TCP segmentation offload both ways (HOST/GUEST_TSO4/6); needs csum" }, \
	{ .name = P "offload.ecn", .type = MODVM_OPT_BOOL, .default_value = "false",          \
	  .description = "TSO with ECN (HOST/GUEST_ECN); needs tso" },                        \
	{ .name = P "uplink", .type = MODVM_OPT_STRING, .default_value = "",                  \
	  .description = "host NIC whose receive queue (VMQ) this NIC should get" },          \
	{ .name = P "vlan", .type = MODVM_OPT_INT, .default_value = "0", .min = 0,            \
	  .max = 4094, .description = "VLAN id steered with the MAC to the dedicated queue; 0 = none" }, \
	{ .name = P "require_offloads", .type = MODVM_OPT_STRING, .default_value = "",        \
	  .description = "offloads the uplink's NIC driver must provide (ethtool feature "    \
			 "names: rx-checksum tx-tcp-segmentation ...), else the VM is refused " \
			 "naming what is missing" }

static const struct modvm_option vm_options[] = {
	/* One NIC: the keys right in the VM's net-vmq group... */
	NIC_OPTIONS(""),
	/* ...or several, one element each. */
	{ .name = "nics", .type = MODVM_OPT_LIST, .default_value = "()", .min = 0,
	  .max = NV_MAX_NICS,
	  .description = "several NICs (eth0, eth1, ... in order), each with the keys above; "
			 "then none beside it" },
	NIC_OPTIONS("nics."),
	MODVM_OPTIONS_END,
};

static const struct modvm_option options[] = {
	{ .name = "sysfs_root", .type = MODVM_OPT_STRING, .default_value = "/sys",
	  .description = "where NIC discovery reads class/net and bus/pci (tests: a fixture)" },
	{ .name = "proc_root", .type = MODVM_OPT_STRING, .default_value = "/proc",
	  .description = "where queue IRQs are found and their affinity set" },
	MODVM_OPTIONS_END,
};

static struct modvm_event_desc *const events[] = { &modvm_event_net_nic,
						   &modvm_event_net_queue_assigned, NULL };

MODVM_PLUGIN(.name = PLUGIN_NAME, .kind = MODVM_KIND_NET, .version = "1.0.0", .license = "MIT",
	     .description = "virtio-net on a multi-queue tap: offloads, jumbo frames, VMQ",
	     .options = options, .vm_options = vm_options, .events = events, .init = nv_init,
	     .start = nv_start, .stop = nv_stop, .fini = nv_fini, .get_interface = nv_get_interface);
