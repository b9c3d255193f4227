/*
 * modvm/events.h — the standard event catalogue.
 *
 * Every payload is plain data (fixed-size arrays, no pointers) so it can be
 * copied across threads.  A VM is named by its index in the config's `vms`
 * list (vm_id) and by its name.  Sizes are bytes, times nanoseconds, ratios
 * per mille unless a field says otherwise.  Changing a payload's layout or
 * the meaning of a field means bumping its version number here (and the ABI
 * minor).  Each event lists its members (MODVM_EVENT_FIELDS), so the bus
 * refuses a plugin built against another layout even of the same size.
 */
#ifndef MODVM_EVENTS_H
#define MODVM_EVENTS_H

#include "bus.h"

MODVM_BEGIN_DECLS

#define MODVM_NAME_MAX 32

/* vm.lifecycle — a VM changed state. Published by the core. */
enum modvm_vm_state {
	MODVM_VM_CREATED = 1,
	MODVM_VM_STARTING,
	MODVM_VM_RUNNING,
	MODVM_VM_PAUSED,
	MODVM_VM_STOPPING,
	MODVM_VM_STOPPED,
	MODVM_VM_FAILED,
};
struct modvm_vm_lifecycle {
	uint32_t vm_id;
	uint32_t state;		/* enum modvm_vm_state */
	uint32_t vcpus;
	uint32_t reserved;
	uint64_t memory_bytes;
	char vm_name[MODVM_NAME_MAX];
};
MODVM_EVENT_FIELDS(vm_lifecycle, "vm.lifecycle", struct modvm_vm_lifecycle, 1,
		   vm_id, state, vcpus, reserved, memory_bytes, vm_name)

/* cpu.caps — what the selected CPU backend found on this host. */
enum modvm_slat { MODVM_SLAT_NONE = 0, MODVM_SLAT_EPT = 1, MODVM_SLAT_NPT = 2 };
enum modvm_cpu_vendor { MODVM_VENDOR_UNKNOWN = 0, MODVM_VENDOR_INTEL = 1, MODVM_VENDOR_AMD = 2 };
struct modvm_cpu_caps {
	uint32_t vendor;	/* enum modvm_cpu_vendor */
	uint32_t slat;		/* enum modvm_slat */
	uint8_t hw_virt;	/* VMX or SVM visible in CPUID */
	uint8_t vpid;		/* VPID (Intel) or ASIDs (AMD) in use */
	uint8_t apic_virt;	/* APICv (Intel) or AVIC (AMD) enabled */
	uint8_t nested;
	uint8_t unrestricted_guest;
	uint8_t reserved[3];
	uint32_t asid_count;	/* AMD: ASIDs; 0 if unknown */
	uint32_t max_vcpus;
	char backend[MODVM_NAME_MAX];		/* plugin name, "cpu-svm" */
	char kvm_module[MODVM_NAME_MAX];	/* "kvm_amd", "kvm_intel", "kvm_pvm", "" */
};
MODVM_EVENT_FIELDS(cpu_caps, "cpu.caps", struct modvm_cpu_caps, 1,
		   vendor, slat, hw_virt, vpid, apic_virt, nested, unrestricted_guest, reserved,
		   asid_count, max_vcpus, backend, kvm_module)

/*
 * vcpu.stats — periodic per-vCPU accounting. Published by the core every
 * VM's stats_interval_ms.  Every counter covers the same span, from the
 * vCPU thread's start to the sample, exactly as modvm_vcpu_get_stats()
 * gives them: a rate is the difference of two samples of one thread (same
 * tid) over the difference of their interval_ns.  Version 2: in version 1
 * interval_ns alone covered the time since the previous sample.
 */
enum {
	MODVM_EXIT_REASON_IO,
	MODVM_EXIT_REASON_MMIO,
	MODVM_EXIT_REASON_HLT,
	MODVM_EXIT_REASON_INTR,
	MODVM_EXIT_REASON_OTHER,
	MODVM_EXIT_REASON_COUNT
};
struct modvm_vcpu_stats {
	uint32_t vm_id;
	uint32_t vcpu;
	int32_t host_cpu;	/* core the thread last ran on, -1 unknown */
	int32_t tid;		/* host thread id */
	uint64_t run_ns;	/* thread CPU time since the thread started */
	uint64_t interval_ns;	/* wall time since the thread started */
	uint64_t exits[MODVM_EXIT_REASON_COUNT];
};
MODVM_EVENT_FIELDS(vcpu_stats, "vcpu.stats", struct modvm_vcpu_stats, 2,
		   vm_id, vcpu, host_cpu, tid, run_ns, interval_ns, exits)

/* host.cpu_load — utilisation of one host core over the last interval. */
struct modvm_host_cpu_load {
	uint32_t cpu;
	uint32_t busy_permille;
	uint64_t interval_ns;
};
MODVM_EVENT_FIELDS(host_cpu_load, "host.cpu_load", struct modvm_host_cpu_load, 1,
		   cpu, busy_permille, interval_ns)

/* power.core_state — a core was parked or unparked. */
enum modvm_core_state { MODVM_CORE_UNPARKED = 0, MODVM_CORE_PARKED = 1 };
struct modvm_power_core_state {
	uint32_t cpu;
	uint32_t state;		/* enum modvm_core_state */
	char reason[64];
};
MODVM_EVENT_FIELDS(power_core_state, "power.core_state", struct modvm_power_core_state, 1,
		   cpu, state, reason)

/* host.mem_pressure — host memory situation. */
struct modvm_mem_pressure {
	uint64_t mem_total;
	uint64_t mem_available;
	uint32_t psi_some_avg10_permille;	/* /proc/pressure/memory "some avg10" × 10 */
	uint32_t psi_full_avg10_permille;
};
MODVM_EVENT_FIELDS(mem_pressure, "host.mem_pressure", struct modvm_mem_pressure, 1,
		   mem_total, mem_available, psi_some_avg10_permille, psi_full_avg10_permille)

/* mem.guest_stats — what a guest reports through its balloon stats queue. */
struct modvm_mem_guest_stats {
	uint32_t vm_id;
	uint32_t reserved;
	uint64_t total;
	uint64_t free;
	uint64_t available;
	uint64_t caches;
	uint64_t swap_in;
	uint64_t swap_out;
	uint64_t major_faults;
	uint64_t minor_faults;
};
MODVM_EVENT_FIELDS(mem_guest_stats, "mem.guest_stats", struct modvm_mem_guest_stats, 1,
		   vm_id, reserved, total, free, available, caches, swap_in, swap_out,
		   major_faults, minor_faults)

/*
 * mem.balloon_target / mem.balloon_actual — desired and actual guest
 * memory.  The operator's `modvm ctl … balloon VM SIZE` publishes a target
 * with source "operator" (0 bytes: back to the policy); the balloon
 * mechanism publishes every target it puts in force (after clamping), with
 * the source that asked, and the actual size as the guest reports it.
 */
struct modvm_mem_balloon {
	uint32_t vm_id;
	uint32_t reserved;
	uint64_t guest_bytes;	/* memory the guest should have (target) or has (actual) */
	char source[MODVM_NAME_MAX];	/* who set it: plugin name or "operator" */
};
MODVM_EVENT_FIELDS(mem_balloon_target, "mem.balloon_target", struct modvm_mem_balloon, 1,
		   vm_id, reserved, guest_bytes, source)
MODVM_EVENT_FIELDS(mem_balloon_actual, "mem.balloon_actual", struct modvm_mem_balloon, 1,
		   vm_id, reserved, guest_bytes, source)

/*
 * mem.balloon_state (ABI 1.4) — what the balloon mechanism (the device
 * plugin providing "modvm.balloon/1", balloon.h) holds for one VM.
 * Published by the mechanism when a VM's balloon appears (its setup hook)
 * or goes (teardown: flags without PRESENT), and whenever the target in
 * force, the last request or the operator's hold changes.  Memory policies
 * learn from it which VMs have a balloon and the effective target of what
 * they asked (a target outside [minimum, maximum] is clamped: CLAMPED).
 */
#define MODVM_BALLOON_PRESENT (1u << 0)		/* the VM has a balloon device now */
#define MODVM_BALLOON_OPERATOR (1u << 1)	/* `modvm ctl … balloon` holds it: policies wait */
#define MODVM_BALLOON_CLAMPED (1u << 2)		/* the last request lay outside the limits */
#define MODVM_BALLOON_STATS (1u << 3)		/* the guest has reported statistics */
#define MODVM_BALLOON_COUNTED (1u << 4)		/* the guest's total still counts the balloon */
struct modvm_mem_balloon_state {
	uint32_t vm_id;
	uint32_t flags;			/* MODVM_BALLOON_* */
	uint64_t ram;			/* the VM's RAM */
	uint64_t minimum;		/* targets are clamped into [minimum, maximum] */
	uint64_t maximum;
	uint64_t requested;		/* the last target asked for, before clamping; 0: none */
	uint64_t target;		/* the target in force */
	char source[MODVM_NAME_MAX];	/* who set it: a policy's name, "operator" or "startup" */
	char governor[MODVM_NAME_MAX];	/* the memory policy governing the VM, "" for none */
};
MODVM_EVENT_FIELDS(mem_balloon_state, "mem.balloon_state", struct modvm_mem_balloon_state, 1,
		   vm_id, flags, ram, minimum, maximum, requested, target, source, governor)

/* net.nic — a host NIC was discovered. */
struct modvm_net_nic {
	char ifname[16];
	char pci_addr[16];	/* "0000:00:03.0", empty if not PCI */
	char driver[MODVM_NAME_MAX];
	uint16_t vendor_id;
	uint16_t device_id;
	uint32_t rx_queues;
	uint32_t tx_queues;
	uint32_t msix_vectors;
	uint32_t sriov_vfs;
	uint32_t mtu;
	uint64_t offload_capa;	/* MODVM_NET_OFFLOAD_* bits */
	uint8_t ntuple;		/* flow steering rules possible */
	uint8_t reserved[7];
};
MODVM_EVENT_FIELDS(net_nic, "net.nic", struct modvm_net_nic, 1,
		   ifname, pci_addr, driver, vendor_id, device_id, rx_queues, tx_queues,
		   msix_vectors, sriov_vfs, mtu, offload_capa, ntuple, reserved)

/* net.queue_assigned — a VM NIC got a receive queue (and a core). */
struct modvm_net_queue_assigned {
	uint32_t vm_id;
	uint32_t queue;
	int32_t host_cpu;	/* core serving the queue's IRQ, -1 none */
	uint32_t dedicated;	/* 0: fell back to the default queue */
	char uplink[16];
	uint8_t mac[6];
	uint8_t reserved[2];
};
MODVM_EVENT_FIELDS(net_queue_assigned, "net.queue_assigned", struct modvm_net_queue_assigned, 1,
		   vm_id, queue, host_cpu, dedicated, uplink, mac, reserved)

/*
 * MODVM_NET_OFFLOAD_* — the bits of modvm_net_nic.offload_capa: what the NIC
 * can do (on now, or switchable on), from the kernel's ethtool feature names
 * given after each bit.  Bits are only ever appended.
 */
#define MODVM_NET_OFFLOAD_RX_CSUM	(UINT64_C(1) << 0)	/* rx-checksum */
#define MODVM_NET_OFFLOAD_TX_CSUM	(UINT64_C(1) << 1)	/* tx-checksum-{ipv4,ipv6,ip-generic} */
#define MODVM_NET_OFFLOAD_SG		(UINT64_C(1) << 2)	/* tx-scatter-gather */
#define MODVM_NET_OFFLOAD_TSO4		(UINT64_C(1) << 3)	/* tx-tcp-segmentation */
#define MODVM_NET_OFFLOAD_TSO6		(UINT64_C(1) << 4)	/* tx-tcp6-segmentation */
#define MODVM_NET_OFFLOAD_TSO_ECN	(UINT64_C(1) << 5)	/* tx-tcp-ecn-segmentation */
#define MODVM_NET_OFFLOAD_GSO		(UINT64_C(1) << 6)	/* tx-generic-segmentation */
#define MODVM_NET_OFFLOAD_GRO		(UINT64_C(1) << 7)	/* rx-gro */
#define MODVM_NET_OFFLOAD_LRO		(UINT64_C(1) << 8)	/* rx-lro */
#define MODVM_NET_OFFLOAD_USO		(UINT64_C(1) << 9)	/* tx-udp-segmentation */
#define MODVM_NET_OFFLOAD_RXHASH	(UINT64_C(1) << 10)	/* rx-hashing */
#define MODVM_NET_OFFLOAD_NTUPLE	(UINT64_C(1) << 11)	/* rx-ntuple-filter */
#define MODVM_NET_OFFLOAD_VLAN_RX	(UINT64_C(1) << 12)	/* rx-vlan-hw-parse */
#define MODVM_NET_OFFLOAD_VLAN_TX	(UINT64_C(1) << 13)	/* tx-vlan-hw-insert */

MODVM_END_DECLS

#endif
