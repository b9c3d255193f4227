/*
 * vmq.h — host NIC discovery and the Virtual Machine Queue manager of
 * net-vmq.  A static library the plugin links whole; the unit tests use it
 * directly on a fixture sysfs/proc tree with a fake ethtool.
 *
 * What it does:
 *  - discovery: every /sys/class/net/IF whose `device` link leads to a PCI
 *    function (directly, or through one virtio bus device as virtio_net
 *    does) becomes a NIC: PCI address, vendor/device, MSI-X table size and
 *    SR-IOV from libpci and sysfs, driver, MTU, queue counts from ethtool
 *    channels (sysfs queues/rx-* tx-* when channels are not reported),
 *    offload features from ethtool's feature strings.  Interfaces without a
 *    PCI function (lo, veth, tap, bridges, ifb, USB) are not NICs here: they
 *    have no hardware queues to hand out.  They are counted and named in
 *    vmq_manager_describe(), and an uplink naming one falls back.
 *  - drivers: each NIC is offered to every NIC driver plugin
 *    ("modvm.nic-driver/1", modvm/nicdrv.h); the best probe owns it.
 *  - assignment: a VM NIC on an uplink some driver owns asks that driver
 *    for a receive queue of its own (nic-ethtool: a destination-MAC rule
 *    to a ring, the ring's IRQ on the VM's core).  Anything else falls back
 *    to the default queue (dedicated = 0): the plugin then serves the VM
 *    from its own tap queues.  Offloads a VM NIC requires are checked
 *    against the owner's capabilities; missing bits refuse it.
 *
 * Threading: a manager belongs to the loop thread (it publishes events and
 * does blocking sysfs/ioctl work that takes microseconds).  No locks.
 */
#ifndef NETVMQ_VMQ_H
#define NETVMQ_VMQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <modvm/bus.h>
#include <modvm/events.h>
#include <modvm/nicdrv.h>

#define VMQ_IFNAMSIZ 16

/*
 * The ethtool channel.  @ethtool performs one SIOCETHTOOL request on
 * @ifname: @cmd points at the ethtool structure whose first u32 is the
 * ETHTOOL_* command, exactly as the ioctl takes it (variable-length ones
 * such as ethtool_gstrings come with their trailing array).  Returns 0 or
 * -errno.  Tests pass a fake that answers from a table and records rules.
 */
struct vmq_ethtool_ops {
	int (*ethtool)(void *ud, const char *ifname, void *cmd);
};

/* The real thing: an AF_INET datagram socket and ioctl(SIOCETHTOOL). */
extern const struct vmq_ethtool_ops vmq_ethtool_live;

/* How a NIC's n-tuple capability was learnt (for describe lines). */
enum vmq_ntuple_source {
	VMQ_NTUPLE_FEATURE = 0,	/* "rx-ntuple-filter" in the feature set */
	VMQ_NTUPLE_RULECNT,	/* no feature strings; ETHTOOL_GRXCLSRLCNT answered or not */
};

/* One discovered NIC. @info is what net.nic publishes. */
struct vmq_nic {
	struct modvm_net_nic info;
	uint64_t offload_active;	/* MODVM_NET_OFFLOAD_* switched on now */
	uint32_t sriov_numvfs;		/* VFs enabled now (info.sriov_vfs is the total) */
	uint32_t combined;		/* ethtool combined channels, 0 if not reported */
	bool channels_ok;		/* queue counts came from ETHTOOL_GCHANNELS */
	bool features_ok;		/* ETHTOOL_GFEATURES answered */
	bool pci_ok;			/* libpci found the function */
	uint8_t ntuple_source;		/* enum vmq_ntuple_source */
	char bus_dev[VMQ_IFNAMSIZ * 2];	/* the netdev's parent when not PCI ("virtio2"), else "" */
	char pci_dir[512];		/* sysfs directory of the PCI function */
	struct modvm_nic sdk;		/* what drivers are handed (filled by the manager) */
	int driver;			/* index of the owning driver, -1: none claims it */
	int score;			/* its probe's answer */
};

/* Text of one MODVM_NET_OFFLOAD_* bit ("tx-tcp-segmentation"), NULL if unknown. */
const char *vmq_offload_name(uint64_t bit);
/* The kernel feature names in @mask, space separated, into @buf. */
void vmq_offload_names(uint64_t mask, char *buf, size_t len);
/*
 * Parses kernel feature names separated by blanks or commas
 * ("rx-checksum tx-tcp-segmentation") into MODVM_NET_OFFLOAD_* bits.  0, or
 * -EINVAL with the first unknown name in @bad.
 */
int vmq_offload_parse(const char *text, uint64_t *mask, char *bad, size_t badlen);

/* ---- the pure assignment decision ---- */

/* One VM NIC's assignment, as the manager records it. */
struct vmq_assignment {
	uint32_t vm_id;
	uint8_t mac[6];
	uint16_t vlan;			/* 0: none */
	char uplink[VMQ_IFNAMSIZ];	/* "" when the VM NIC names none */
	uint32_t queue;			/* rx ring; 0 = the default queue */
	bool dedicated;
	int32_t host_cpu;		/* core the IRQ was pointed at, -1 none */
	/* the driver's, used by the manager only (the decision ignores it) */
	int driver;			/* -1 none */
	uint64_t handle;		/* its queue_alloc handle */
};

struct vmq_request {
	uint32_t vm_id;
	uint8_t mac[6];
	uint16_t vlan;			/* 0: none */
	const char *uplink;		/* NULL or "" = none */
	uint64_t offloads;		/* MODVM_NET_OFFLOAD_* the uplink's driver must provide */
};

/* Why a request got what it got. */
enum vmq_reason {
	VMQ_DEDICATED = 0,	/* a dedicated queue (the owner is asked for it) */
	VMQ_NO_UPLINK,		/* the VM NIC names no uplink */
	VMQ_UPLINK_UNKNOWN,	/* the uplink is not a discovered PCI NIC */
	VMQ_NO_DRIVER,		/* no NIC driver claims the uplink */
	VMQ_EXHAUSTED,		/* the driver has no queue left */
	VMQ_NO_VLAN,		/* a VLAN was asked and the driver cannot steer by it */
	VMQ_REFUSED,		/* the driver (its hardware) refused */
};
const char *vmq_reason_text(enum vmq_reason reason);

struct vmq_decision {
	bool ask_driver;	/* the uplink's owner is to be asked for a queue */
	enum vmq_reason reason;
	int nic;		/* index into @nics of the uplink, -1 if none */
};

/*
 * Decides what to do with a request, against the NIC table and the
 * assignments already made; touches nothing.  Returns 0 with @out filled,
 * -EINVAL for a zero or multicast MAC or a VLAN above 4094, -EEXIST if the
 * MAC (with that VLAN) already has an assignment on that uplink (two rules
 * for one destination cannot both win).
 */
int vmq_decide(const struct vmq_nic *nics, size_t nnics, const struct vmq_assignment *taken,
	       size_t ntaken, const struct vmq_request *req, struct vmq_decision *out);

/* ---- the manager ---- */

struct vmq_manager;

/* One NIC driver the manager may ask (a provider of "modvm.nic-driver/1"). */
struct vmq_driver {
	const char *name;			/* its plugin's, for lines */
	const struct modvm_nic_driver *ops;
	struct modvm_plugin_ctx *self;		/* passed back to every call */
};

struct vmq_options {
	const char *sysfs_root;			/* NULL: "/sys" */
	const char *proc_root;			/* NULL: "/proc" */
	const struct vmq_ethtool_ops *ethtool;	/* NULL: &vmq_ethtool_live */
	void *ethtool_ud;
	const struct vmq_driver *drivers;	/* copied; may be NULL */
	size_t ndrivers;
};

/*
 * Discovers the host NICs, offers each to every driver of @opt (the best
 * probe owns it) and publishes net.nic for each on @bus (NULL: no
 * events).  @opt may be NULL (the live host).  Finding no NIC is not an
 * error.  Takes a few milliseconds (libpci reads each function's config).  Returns 0 or -errno (-ENOMEM,
 * or the sysfs root's class/net cannot be read: logged with the path).
 */
int vmq_manager_create(struct modvm_bus *bus, const struct vmq_options *opt,
		       struct vmq_manager **out);

/* Releases every assignment left through its driver, frees. */
void vmq_manager_destroy(struct vmq_manager *mgr);

size_t vmq_manager_nic_count(const struct vmq_manager *mgr);
const struct vmq_nic *vmq_manager_nic(const struct vmq_manager *mgr, size_t i);
/* NULL if @ifname is not a discovered NIC. */
const struct vmq_nic *vmq_manager_find_nic(const struct vmq_manager *mgr, const char *ifname);

/*
 * Gives @req's VM NIC a receive queue on its uplink (none or "" for no
 * uplink), asking the uplink's owning driver, with the queue's IRQ on
 * @host_cpu when >= 0.  A fallback (no uplink, no driver, no queue left,
 * a driver or device that refuses) gives the default queue and logs one
 * line saying why.  @out (may be NULL) receives what net.queue_assigned
 * publishes.  Returns 0 (also for a fallback), -EINVAL / -EEXIST as
 * vmq_decide(), -EOPNOTSUPP (logged, nothing published) when the
 * uplink's driver lacks an offload of req->offloads, -ENOMEM.
 */
int vmq_manager_assign_req(struct vmq_manager *mgr, const struct vmq_request *req, int host_cpu,
			   struct modvm_net_queue_assigned *out);
/* The same for a MAC without VLAN or required offloads. */
int vmq_manager_assign(struct vmq_manager *mgr, uint32_t vm_id, const uint8_t mac[6],
		       const char *uplink, int host_cpu, struct modvm_net_queue_assigned *out);

/*
 * Undoes every assignment of @vm_id through its driver (rules removed,
 * IRQ affinity written back).  Returns how many were released (0 if none).
 */
int vmq_manager_release(struct vmq_manager *mgr, uint32_t vm_id);

size_t vmq_manager_assignment_count(const struct vmq_manager *mgr);
const struct vmq_assignment *vmq_manager_assignment(const struct vmq_manager *mgr, size_t i);

/* Calls @line once per line of what was found (for `modvm caps`). */
void vmq_manager_describe(const struct vmq_manager *mgr,
			  void (*line)(const char *text, void *ud), void *ud);

#endif
