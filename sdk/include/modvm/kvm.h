/*
 * modvm/kvm.h — KVM plumbing shared by the KVM-based CPU backends.
 *
 * The core never calls anything here: it only knows the CPU-backend vtable
 * (cpu.h).  The vendor backends (cpu-vmx, cpu-svm) are thin: they differ in
 * how they probe the host and in the guest CPUID they build, and get the rest
 * of the vtable from the generic KVM backend at the end of this header.
 *
 * Two tiers, as everywhere in modvm: every function returns 0 (or a value)
 * or a negative errno and never aborts.  Functions that can fail because of
 * the host (no /dev/kvm, no permission, a missing capability) log one line
 * saying what is missing; plain ioctl wrappers leave logging to the caller.
 *
 * Threading: the VM-level calls run on the thread that owns the VM (KVM
 * refuses VM ioctls from another *process*, not thread).  modvm_kvm_vcpu_run
 * and the register calls run on the vCPU's thread; modvm_kvm_vcpu_kick may
 * be called from any thread.
 *
 * This header includes <linux/kvm.h>: it is Linux-only, like KVM.
 */
#ifndef MODVM_KVM_H
#define MODVM_KVM_H

#include <linux/kvm.h>
#include <sys/types.h>
#include "common.h"
#include "cpu.h"

MODVM_BEGIN_DECLS

struct modvm_plugin_ctx;
struct modvm_host_facts;

/* ---- /dev/kvm ---- */

/*
 * Opens /dev/kvm (O_RDWR|O_CLOEXEC) and checks KVM_GET_API_VERSION == 12.
 * Returns the fd, or -ENOENT (no /dev/kvm: KVM module not loaded), -EACCES
 * (no permission: add the user to group "kvm"), -EPROTO (API version), each
 * logged as one line.
 */
MODVM_EXPORT int modvm_kvm_open(void);

/* KVM_CHECK_EXTENSION on @fd (the /dev/kvm or a VM fd): value >= 0, or -errno. */
MODVM_EXPORT int modvm_kvm_check_extension(int fd, long cap);

/* KVM_CAP_MAX_VCPUS (falling back to KVM_CAP_NR_VCPUS, then 4 as the API says). */
MODVM_EXPORT int modvm_kvm_max_vcpus(int kvm_fd);

/* KVM_GET_VCPU_MMAP_SIZE: bytes of the kvm_run mapping, or -errno. */
MODVM_EXPORT int modvm_kvm_vcpu_mmap_size(int kvm_fd);

/* ---- VM ---- */

/* KVM_CREATE_VM (default type): the VM fd, or -errno (logged). */
MODVM_EXPORT int modvm_kvm_vm_create(int kvm_fd);

/* KVM_SET_USER_MEMORY_REGION; @size 0 deletes @slot. */
MODVM_EXPORT int modvm_kvm_set_user_memory(int vm_fd, uint32_t slot, uint32_t flags,
					   uint64_t gpa, uint64_t size, void *hva);

/* KVM_CREATE_IRQCHIP (PIC + IOAPIC + LAPICs); before any vCPU exists. */
MODVM_EXPORT int modvm_kvm_create_irqchip(int vm_fd);
/* KVM_CREATE_PIT2 with flags 0; after the irqchip. */
MODVM_EXPORT int modvm_kvm_create_pit2(int vm_fd);

/* KVM_IRQ_LINE: drives @gsi to @level (needs the in-kernel irqchip). */
MODVM_EXPORT int modvm_kvm_irq_line(int vm_fd, uint32_t gsi, bool level);
/* KVM_SIGNAL_MSI: returns >0 delivered, 0 blocked by the guest, or -errno. */
MODVM_EXPORT int modvm_kvm_signal_msi(int vm_fd, uint64_t addr, uint32_t data);
/* KVM_IRQFD: eventfd @fd raises @gsi; @assign false removes the pairing. */
MODVM_EXPORT int modvm_kvm_irqfd(int vm_fd, uint32_t gsi, int fd, bool assign);
/* KVM_IOEVENTFD: a guest write of @len bytes to @addr (a port if @pio) signals @fd. */
MODVM_EXPORT int modvm_kvm_ioeventfd(int vm_fd, uint64_t addr, uint32_t len, bool pio, int fd,
				     bool assign);

/* ---- CPUID ---- */

/*
 * KVM_GET_SUPPORTED_CPUID into a malloc'd kvm_cpuid2 with room for
 * @extra_room more entries than KVM returned (the vendor policies add
 * leaves).  *out is freed with free().
 */
MODVM_EXPORT int modvm_kvm_get_supported_cpuid(int kvm_fd, uint32_t extra_room,
					       struct kvm_cpuid2 **out);
/* KVM_SET_CPUID2 on a vCPU. */
MODVM_EXPORT int modvm_kvm_set_cpuid(int vcpu_fd, const struct kvm_cpuid2 *cpuid);

/*
 * Pure helpers the vendor CPUID policies share (unit-tested without KVM).
 * Entries are the kvm_cpuid_entry2 array of a kvm_cpuid2.
 */

/* The entry for @function/@index (index ignored unless the entry is indexed), or NULL. */
MODVM_EXPORT struct kvm_cpuid_entry2 *modvm_kvm_cpuid_find(struct kvm_cpuid_entry2 *ent,
							   uint32_t nent, uint32_t function,
							   uint32_t index);
/*
 * Returns the entry for @function/@index, appending a zeroed one (marked
 * indexed if @indexed) when absent.  NULL if *nent == @cap (no room).
 */
MODVM_EXPORT struct kvm_cpuid_entry2 *modvm_kvm_cpuid_get(struct kvm_cpuid_entry2 *ent,
							  uint32_t *nent, uint32_t cap,
							  uint32_t function, uint32_t index,
							  bool indexed);
/* Removes every entry of @function. */
MODVM_EXPORT void modvm_kvm_cpuid_remove(struct kvm_cpuid_entry2 *ent, uint32_t *nent,
					 uint32_t function);

/* What a vendor CPUID policy needs to know about the guest and this vCPU. */
struct modvm_kvm_cpuid_topo {
	uint32_t vcpus;		/* vCPUs of the VM: cores of one socket, one thread each */
	uint32_t apic_id;	/* this vCPU's APIC id (= its index) */
	bool nested;		/* expose the vendor's virtualization extension */
};

/* ceil(log2(n)) for n >= 1: the APIC-id bits a level of n members needs. */
MODVM_EXPORT uint32_t modvm_kvm_cpuid_order(uint32_t n);

/*
 * The vendor-neutral part of a guest CPUID, applied by both policies:
 * leaf 1 (initial APIC id, logical processor count, HTT, hypervisor bit)
 * and the Intel-style extended topology leaves 0xB and 0x1F, filled only if
 * KVM listed them (AMD hosts that have 0xB get the same SMT/core levels).
 * Returns 0, or -ENOSPC when @cap entries are not enough.
 */
MODVM_EXPORT int modvm_kvm_cpuid_common(struct kvm_cpuid_entry2 *ent, uint32_t *nent,
					uint32_t cap, const struct modvm_kvm_cpuid_topo *topo);

/* Fills one topology leaf (0xB or 0x1F): SMT level, core level, then the invalid level. */
MODVM_EXPORT int modvm_kvm_cpuid_ext_topology(struct kvm_cpuid_entry2 *ent, uint32_t *nent,
					      uint32_t cap, uint32_t leaf,
					      const struct modvm_kvm_cpuid_topo *topo);

/* ---- vCPU ---- */

/*
 * The signal that kicks a vCPU thread out of KVM_RUN: SIGRTMAX - 1.  libmodvm
 * installs a no-op handler for it once (without SA_RESTART, so KVM_RUN
 * returns EINTR) when the first vCPU is created.  A program embedding modvm
 * must not use this signal for anything else.
 */
MODVM_EXPORT int modvm_kvm_kick_signal(void);

struct modvm_kvm_vcpu {
	int fd;
	uint32_t id;
	struct kvm_run *run;	/* mmap'd, run_size bytes */
	size_t run_size;
	int tid;		/* thread last seen in vcpu_run (0: never); read by kick */
};

/* KVM_CREATE_VCPU(@id) + mmap of kvm_run; installs the kick handler once. */
MODVM_EXPORT int modvm_kvm_vcpu_open(int kvm_fd, int vm_fd, uint32_t id,
				     struct modvm_kvm_vcpu *out);
/* Unmaps and closes; safe on a zeroed or already closed struct. */
MODVM_EXPORT void modvm_kvm_vcpu_close(struct modvm_kvm_vcpu *vcpu);

/*
 * One KVM_RUN, translated into @exit (see struct modvm_cpu_exit; PIO/MMIO
 * data point into kvm_run).  EINTR (a kick or any signal) gives
 * MODVM_EXIT_INTR and 0.  Other ioctl failures return -errno.
 */
MODVM_EXPORT int modvm_kvm_vcpu_run(struct modvm_kvm_vcpu *vcpu, struct modvm_cpu_exit *exit);

/* Pure: translates a finished kvm_run into @exit. */
MODVM_EXPORT void modvm_kvm_translate_exit(struct kvm_run *run, struct modvm_cpu_exit *exit);

/* immediate_exit = 1, then the kick signal to the vCPU's thread if it has run. */
MODVM_EXPORT void modvm_kvm_vcpu_kick(struct modvm_kvm_vcpu *vcpu);

/* Register conversions (pure). to_kvm writes only the fields modvm knows. */
MODVM_EXPORT void modvm_kvm_regs_from_kvm(const struct kvm_regs *in, struct modvm_regs *out);
MODVM_EXPORT void modvm_kvm_regs_to_kvm(const struct modvm_regs *in, struct kvm_regs *out);
MODVM_EXPORT void modvm_kvm_sregs_from_kvm(const struct kvm_sregs *in, struct modvm_sregs *out);
MODVM_EXPORT void modvm_kvm_sregs_to_kvm(const struct modvm_sregs *in, struct kvm_sregs *out);

MODVM_EXPORT int modvm_kvm_get_regs(int vcpu_fd, struct modvm_regs *regs);
MODVM_EXPORT int modvm_kvm_set_regs(int vcpu_fd, const struct modvm_regs *regs);
MODVM_EXPORT int modvm_kvm_get_sregs(int vcpu_fd, struct modvm_sregs *sregs);
/* Reads the current sregs first, so pending-interrupt state survives. */
MODVM_EXPORT int modvm_kvm_set_sregs(int vcpu_fd, const struct modvm_sregs *sregs);

/* ---- probing helpers for vendor backends (ABI 1.2) ----
 *
 * A vendor's probe is a pure function of recorded host facts
 * (modvm_kvm_vendor.probe_facts below).  What differs between vendors is
 * how the CPU shows its virtualization and which features KVM enabled;
 * everything after that (which module provides /dev/kvm, the advice, the
 * score, the summary) is the same and lives here.
 */

/* Appends one piece of advice (@feature, then the remedy from @fmt) to
 * @out; beyond MODVM_CPU_MAX_ADVICE it is dropped. */
MODVM_EXPORT void modvm_cpu_probe_advise(struct modvm_cpu_probe *out, const char *feature,
					 const char *fmt, ...) MODVM_PRINTF(3, 4);

/* Whether a feature is on, and if not, why: it decides the advice. */
enum modvm_kvm_feature {
	MODVM_KVM_FEATURE_ON,
	MODVM_KVM_FEATURE_OFF_CPU,	/* the CPU lacks it */
	MODVM_KVM_FEATURE_OFF_PARAM,	/* the KVM module turned it off */
	MODVM_KVM_FEATURE_UNKNOWN,	/* neither CPU nor module parameter was recorded */
};

/*
 * Combines what the CPU allows (@cpu: 1, 0, -1 = not recorded) with the KVM
 * module's parameter (@param: 1, 0, -1 = not recorded): the parameter shows
 * what KVM actually did, so it wins once the CPU allows the feature.
 */
MODVM_EXPORT enum modvm_kvm_feature modvm_kvm_feature_decide(int cpu, int param);

/*
 * The module that provides /dev/kvm for a vendor backend: @own ("kvm_amd",
 * "kvm_intel") when the hardware is usable and @own is loaded, else any
 * other KVM module (e.g. kvm_pvm), else "".
 */
MODVM_EXPORT const char *modvm_kvm_probe_module(const struct modvm_host_facts *facts,
						const char *own, bool hw_usable);

/* How one vendor words the shared end of its probe. */
struct modvm_kvm_probe_vendor {
	uint32_t struct_size;
	const char *vendor;	/* "AMD": the summary's first word */
	const char *feature;	/* "SVM": the CPU feature, in the hardware text and advice */
	const char *module;	/* "kvm_amd": KVM's module for it */
	const char *tech;	/* "AMD-V": the marketing name, in the modprobe advice */
	const char *slat;	/* "NPT": the SLAT's name in the summary */
	const char *enable;	/* "enable SVM (AMD-V) in the firmware setup" */
	const char *fw_off;	/* the advice when the firmware disabled the feature */
	/* With the hardware in use: fills caps.slat/vpid/apic_virt/
	 * unrestricted_guest/nested and their advice. */
	void (*features)(const struct modvm_host_facts *facts, bool in_vm,
			 struct modvm_cpu_probe *out);
};

/*
 * The shared end of a vendor probe, once the vendor code has seen that the
 * CPU is its vendor's and set caps.vendor (and what only it knows, e.g.
 * AMD's ASID count): @visible = the CPU shows the feature, @fw_off = the
 * firmware disabled it, @in_vm = this host is itself a VM.  Sets
 * caps.hw_virt and caps.kvm_module, the advice (feature not visible,
 * disabled, KVM not using it, /dev/kvm missing or not accessible), calls
 * v->features when KVM uses the hardware, then the score (0 when /dev/kvm
 * is unusable, else 10, +40 hardware in use, +30 SLAT, +6 VPID/ASID, +6
 * APIC virtualization, +4 unrestricted guest) and the summary.  Returns 0.
 */
MODVM_EXPORT int modvm_kvm_probe_finish(const struct modvm_kvm_probe_vendor *v,
					const struct modvm_host_facts *facts, bool visible,
					bool fw_off, bool in_vm, struct modvm_cpu_probe *out);

/* ---- the generic KVM backend ---- */

/*
 * What a vendor plugin adds to the generic backend: its name (the log
 * domain when there is no plugin context) and its guest CPUID policy, a
 * pure function over KVM's supported CPUID (*nent entries, room for @cap)
 * that edits it in place for one vCPU.
 */

struct modvm_kvm_vendor {
	uint32_t struct_size;
	const char *name;
	int (*guest_cpuid)(struct kvm_cpuid_entry2 *ent, uint32_t *nent, uint32_t cap,
			   const struct modvm_kvm_cpuid_topo *topo);
	/* The vendor's probe as a pure function of recorded host facts. */
	int (*probe_facts)(const struct modvm_host_facts *facts, struct modvm_cpu_probe *out);
};

/*
 * probe for a vendor: reads this host's facts and runs vendor->probe_facts.
 * If the facts can't be read the probe scores 0 with a summary saying why
 * (logged as a warning; @ctx may be NULL in tests).
 */
MODVM_EXPORT int modvm_kvm_backend_probe(const struct modvm_kvm_vendor *vendor,
					 struct modvm_plugin_ctx *ctx,
					 struct modvm_cpu_probe *out);

/*
 * vm_create for a vendor: opens /dev/kvm, checks cfg->vcpus against
 * KVM_CAP_MAX_VCPUS, creates the VM, the irqchip and PIT if asked, and reads
 * the supported CPUID.  Each failure is logged naming what is missing.
 */
MODVM_EXPORT int modvm_kvm_backend_vm_create(const struct modvm_kvm_vendor *vendor,
					     struct modvm_plugin_ctx *ctx,
					     const struct modvm_cpu_vm_config *cfg,
					     struct modvm_cpu_vm **out);

/* The VM's fds, for tests and for vendor extras. */
MODVM_EXPORT int modvm_kvm_backend_vm_fd(const struct modvm_cpu_vm *vm);
MODVM_EXPORT int modvm_kvm_backend_vcpu_fd(const struct modvm_cpu_vcpu *vcpu);

/* The rest of the vtable, shared by every KVM backend. */
MODVM_EXPORT void modvm_kvm_backend_vm_destroy(struct modvm_cpu_vm *vm);
MODVM_EXPORT int modvm_kvm_backend_set_memory(struct modvm_cpu_vm *vm, uint32_t slot,
					      uint64_t gpa, uint64_t size, void *hva);
MODVM_EXPORT int modvm_kvm_backend_vcpu_create(struct modvm_cpu_vm *vm, uint32_t index,
					       struct modvm_cpu_vcpu **out);
MODVM_EXPORT void modvm_kvm_backend_vcpu_destroy(struct modvm_cpu_vcpu *vcpu);
MODVM_EXPORT int modvm_kvm_backend_vcpu_run(struct modvm_cpu_vcpu *vcpu,
					    struct modvm_cpu_exit *exit);
MODVM_EXPORT void modvm_kvm_backend_vcpu_kick(struct modvm_cpu_vcpu *vcpu);
MODVM_EXPORT int modvm_kvm_backend_get_regs(struct modvm_cpu_vcpu *vcpu, struct modvm_regs *regs);
MODVM_EXPORT int modvm_kvm_backend_set_regs(struct modvm_cpu_vcpu *vcpu,
					    const struct modvm_regs *regs);
MODVM_EXPORT int modvm_kvm_backend_get_sregs(struct modvm_cpu_vcpu *vcpu,
					     struct modvm_sregs *sregs);
MODVM_EXPORT int modvm_kvm_backend_set_sregs(struct modvm_cpu_vcpu *vcpu,
					     const struct modvm_sregs *sregs);
MODVM_EXPORT int modvm_kvm_backend_irq_line(struct modvm_cpu_vm *vm, uint32_t gsi, bool level);
MODVM_EXPORT int modvm_kvm_backend_signal_msi(struct modvm_cpu_vm *vm, uint64_t addr,
					      uint32_t data);
MODVM_EXPORT int modvm_kvm_backend_irqfd(struct modvm_cpu_vm *vm, uint32_t gsi, int fd,
					 bool assign);
MODVM_EXPORT int modvm_kvm_backend_ioeventfd(struct modvm_cpu_vm *vm, uint64_t addr, uint32_t len,
					     bool pio, int fd, bool assign);
/* ABI 1.2: KVM_GET_MP_STATE and RFLAGS.IF (see modvm_cpu_backend.vcpu_halted). */
MODVM_EXPORT int modvm_kvm_backend_vcpu_halted(struct modvm_cpu_vcpu *vcpu);

/*
 * Designated initialisers for every vtable entry except probe and vm_create,
 * which the vendor writes:
 *
 *     static const struct modvm_cpu_backend svm_backend = {
 *             .struct_size = sizeof(struct modvm_cpu_backend),
 *             .probe = svm_backend_probe,
 *             .vm_create = svm_vm_create,
 *             MODVM_KVM_BACKEND_COMMON
 *     };
 */
#define MODVM_KVM_BACKEND_COMMON                                   \
	.vm_destroy = modvm_kvm_backend_vm_destroy,                \
	.set_memory = modvm_kvm_backend_set_memory,                \
	.vcpu_create = modvm_kvm_backend_vcpu_create,              \
	.vcpu_destroy = modvm_kvm_backend_vcpu_destroy,            \
	.vcpu_run = modvm_kvm_backend_vcpu_run,                    \
	.vcpu_kick = modvm_kvm_backend_vcpu_kick,                  \
	.get_regs = modvm_kvm_backend_get_regs,                    \
	.set_regs = modvm_kvm_backend_set_regs,                    \
	.get_sregs = modvm_kvm_backend_get_sregs,                  \
	.set_sregs = modvm_kvm_backend_set_sregs,                  \
	.irq_line = modvm_kvm_backend_irq_line,                    \
	.signal_msi = modvm_kvm_backend_signal_msi,                \
	.irqfd = modvm_kvm_backend_irqfd,                          \
	.ioeventfd = modvm_kvm_backend_ioeventfd,                  \
	.vcpu_halted = modvm_kvm_backend_vcpu_halted,

MODVM_END_DECLS

#endif
