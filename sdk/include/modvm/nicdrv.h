/*
 * modvm/nicdrv.h — NIC offload drivers, "modvm.nic-driver/1" (ABI 1.4).
 *
 * The NIC plugin (net-vmq in tree) discovers the host's NICs and gives each
 * VM NIC that names an `uplink` a receive queue of its own on that NIC
 * (Virtual Machine Queue), so the VM's traffic lands on a core near it.
 * How a queue is carved out of a NIC is the business of a driver plugin
 * (kind MODVM_KIND_NIC_DRIVER) that implements this vtable: the in-tree
 * nic-ethtool does it for any NIC with n-tuple flow steering (a
 * destination-MAC ethtool rule to a ring, the ring's IRQ on the VM's core);
 * a vendor's driver can do better for its own devices.
 *
 * How the NIC plugin uses drivers:
 *  - at its start it finds every provider with modvm_plugin_query_each()
 *    and asks each driver's probe() about each NIC it discovered; the best
 *    score owns that NIC (ties: the first loaded), a score of 0 means "not
 *    mine".  A NIC no driver claims gets no dedicated queues: its VMs keep
 *    their own tap queues, and the NIC plugin says so;
 *  - caps() tells what the owner does on that NIC: how many queues it can
 *    dedicate, and the offloads it provides (MODVM_NET_OFFLOAD_* bits).
 *    A VM NIC whose config requires an offload the owner lacks is refused,
 *    naming the missing bits;
 *  - queue_alloc() gives a VM MAC (and VLAN) its own receive queue and
 *    returns the queue, its IRQ and the core serving it (published as
 *    net.queue_assigned: the power mechanism never parks that core);
 *    queue_free() gives it back when the VM goes or the NIC plugin stops.
 *
 * The contract, which modvm-conform checks of every nic-driver plugin on a
 * fixture NIC (nic-driver): probe is a pure function of the NIC (same
 * answer twice, no fd left, nothing changed); a queue is never the default
 * queue 0 and never given twice on one NIC; a second request for the same
 * MAC and VLAN on a NIC is refused (-EEXIST); caps' max_queues are
 * allocatable and one more is -ENOSPC; queue_free undoes queue_alloc
 * (every queue freed leaves the NIC as it was) and an unknown handle is
 * -ENOENT; fini frees whatever is left (the one promise the kit cannot
 * see on a NIC with no hardware behind it).
 *
 * Every call passes the driver's own context (the one query_each
 * returned), on the loop thread, between the driver's init and fini.
 * ABI: this vtable and these structs never change; a breaking change is
 * "modvm.nic-driver/2".
 */
#ifndef MODVM_NICDRV_H
#define MODVM_NICDRV_H

#include "common.h"
#include "events.h"

MODVM_BEGIN_DECLS

#define MODVM_NIC_DRIVER_IFACE "modvm.nic-driver/1"

struct modvm_plugin_ctx;

/* A NIC as discovery found it. */
struct modvm_nic {
	uint32_t struct_size;
	uint32_t reserved;
	struct modvm_net_nic info;	/* what net.nic published: name, PCI ids, queues, offloads */
	char netdev_dir[256];		/* SYSFS/class/net/IF */
	char pci_dir[256];		/* the PCI function's sysfs directory */
	char bus_dev[32];		/* the netdev's parent when not the PCI function ("virtio2"), else "" */
	char proc_root[128];		/* where `interrupts` and `irq/N/` are ("/proc", or a fixture) */
};

#define MODVM_NIC_CAP_VLAN (1u << 0)	/* steers by MAC and VLAN id */

/* What a driver does on one NIC. */
struct modvm_nic_caps {
	uint32_t struct_size;
	uint32_t flags;			/* MODVM_NIC_CAP_* */
	uint32_t max_queues;		/* receive queues it can dedicate to VMs */
	uint32_t reserved;
	uint64_t offload_capa;		/* MODVM_NET_OFFLOAD_* it provides on this NIC */
};

struct modvm_nic_queue_req {
	uint32_t struct_size;
	uint32_t vm_id;
	uint8_t mac[6];			/* unicast, non-zero */
	uint16_t vlan;			/* 1..4094, 0: any (MAC only) */
	int32_t host_cpu;		/* the core to serve the queue's IRQ, -1: leave it */
};

struct modvm_nic_queue {
	uint32_t struct_size;
	uint32_t queue;			/* the receive queue, never 0 (the NIC's default) */
	int32_t irq;			/* its IRQ, -1 if not known */
	int32_t host_cpu;		/* the core its IRQ now points at, -1 if left alone */
	uint64_t handle;		/* the driver's, for queue_free; never 0 */
};

struct modvm_nic_driver {
	uint32_t struct_size;

	/* How well this driver drives @nic: 0 not at all, higher wins. Pure. */
	int (*probe)(struct modvm_plugin_ctx *self, const struct modvm_nic *nic);

	/* Fills @out (set out->struct_size first) for a NIC probe claimed. 0 or -errno. */
	int (*caps)(struct modvm_plugin_ctx *self, const struct modvm_nic *nic,
		    struct modvm_nic_caps *out);

	/*
	 * Gives @req's MAC (and VLAN) a receive queue of its own on @nic,
	 * with the queue's IRQ on req->host_cpu when that is >= 0.  0 with
	 * @out filled (set out->struct_size first); -ENOSPC (no queue left),
	 * -EEXIST (that MAC and VLAN have one on this NIC), -EOPNOTSUPP (a
	 * VLAN without MODVM_NIC_CAP_VLAN), -EINVAL (a bad MAC), or the
	 * hardware's -errno (logged): nothing is left changed on failure.
	 */
	int (*queue_alloc)(struct modvm_plugin_ctx *self, const struct modvm_nic *nic,
			   const struct modvm_nic_queue_req *req, struct modvm_nic_queue *out);

	/* Undoes one queue_alloc (steering removed, IRQ affinity written back).  0 or -ENOENT. */
	int (*queue_free)(struct modvm_plugin_ctx *self, const struct modvm_nic *nic,
			  uint64_t handle);
};

MODVM_END_DECLS

#endif
