/*
 * modvm/cpu.h — the CPU-backend interface, "modvm.cpu-backend/1".
 *
 * A CPU backend plugin (kind MODVM_KIND_CPU_BACKEND) returns a
 * struct modvm_cpu_backend from get_interface(MODVM_CPU_BACKEND_IFACE).  The
 * core probes every backend, picks one (host.cpu.backend = "auto": the best
 * score), and from then on runs guests only through this vtable: the core
 * never knows a vendor and never calls KVM itself.
 *
 * Threading: probe, vm_*, vcpu_create/destroy and the irq/fd calls run on
 * the loop thread (or the thread that owns the VM in tests).  vcpu_run and
 * the register calls run on the vCPU's own thread.  vcpu_kick may be called
 * from any thread.
 *
 * ABI: this vtable never changes; a breaking change is "modvm.cpu-backend/2".
 * struct_size fields let the caller check that a struct has what it reads.
 */
#ifndef MODVM_CPU_H
#define MODVM_CPU_H

#include "common.h"
#include "events.h"

MODVM_BEGIN_DECLS

#define MODVM_CPU_BACKEND_IFACE "modvm.cpu-backend/1"

struct modvm_plugin_ctx;
struct modvm_cpu_vm;	/* backend-private */
struct modvm_cpu_vcpu;	/* backend-private */

/*
 * One feature the probe found missing, and what the user can do about it.
 * The feature "vendor" says the backend is for another CPU vendor: when no
 * backend can run guests, the core explains the others (this CPU's own
 * vendor backend) first and leaves that advice out if one of them is there.
 */
struct modvm_cpu_advice {
	char feature[32];	/* "SLAT" (or "EPT"/"NPT"), "VPID", "APICv", "nested", "KVM", "vendor" */
	char remedy[160];	/* "enable EPT: modprobe kvm_intel ept=1" */
};

#define MODVM_CPU_MAX_ADVICE 8

/* Result of probing the host for one backend. */
struct modvm_cpu_probe {
	uint32_t struct_size;
	int32_t score;		/* 0: cannot run guests here; higher is better */
	char summary[160];	/* one line: why it can or cannot run here */
	struct modvm_cpu_caps caps;
	uint32_t n_advice;
	struct modvm_cpu_advice advice[MODVM_CPU_MAX_ADVICE];
};

/*
 * What the core asks of a VM it creates.  Size-stamped: fields are only
 * appended, and a backend reads one only if struct_size covers it
 * (offsetof(struct modvm_cpu_vm_config, f) + sizeof(f) <= struct_size).
 */
struct modvm_cpu_vm_config {
	uint32_t struct_size;
	uint32_t vcpus;		/* guest CPUID topology reports this many */
	bool nested;		/* expose VMX/SVM to the guest */
	bool irqchip;		/* in-kernel irqchip (IOAPIC/PIC/LAPIC) + PIT when true */
	/* ---- ABI 1.4 ---- */
	uint32_t vm_id;		/* the VM's index in the config (vm_id of every event) */
	char name[MODVM_NAME_MAX];	/* the VM's name, NUL-terminated */
};

/* Vendor-neutral x86-64 register files (a subset sufficient for boot). */
struct modvm_regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip, rflags;
};

struct modvm_segment {
	uint64_t base;
	uint32_t limit;
	uint16_t selector;
	uint8_t type, present, dpl, db, s, l, g, avl;
};

struct modvm_dtable {
	uint64_t base;
	uint16_t limit;
};

struct modvm_sregs {
	struct modvm_segment cs, ds, es, fs, gs, ss, tr, ldt;
	struct modvm_dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer, apic_base;
};

enum modvm_exit_kind {
	MODVM_EXIT_NONE = 0,
	MODVM_EXIT_PIO,
	MODVM_EXIT_MMIO,
	MODVM_EXIT_HLT,
	MODVM_EXIT_SHUTDOWN,		/* triple fault */
	MODVM_EXIT_SYSTEM_RESET,	/* guest asked for reset (system event) */
	MODVM_EXIT_SYSTEM_OFF,		/* guest asked for power off (system event) */
	MODVM_EXIT_INTERNAL_ERROR,	/* e.g. an instruction the accelerator can't emulate */
	MODVM_EXIT_FAIL_ENTRY,		/* the hardware refused the guest state */
	MODVM_EXIT_INTR,		/* vcpu_kick() or a signal interrupted the run */
	MODVM_EXIT_UNKNOWN,
};

/*
 * A vendor-neutral exit.  For PIO and MMIO, @data points into a buffer the
 * backend owns that stays valid until the next vcpu_run on this vCPU; a
 * handler answering a read writes its bytes there before the next run.
 */
struct modvm_cpu_exit {
	uint32_t kind;		/* enum modvm_exit_kind */
	uint32_t raw_reason;	/* the accelerator's own exit code, for messages */
	union {
		struct {
			uint16_t port;
			uint8_t size;	/* 1, 2 or 4 */
			uint8_t is_write;
			uint32_t count;	/* string I/O repeats; data holds count*size bytes */
			uint8_t *data;
		} pio;
		struct {
			uint64_t addr;
			uint32_t len;	/* 1..8 */
			uint8_t is_write;
			uint8_t *data;
		} mmio;
		struct {
			uint32_t suberror;
			uint32_t ndata;
			uint64_t data[4];
		} internal;
		struct {
			uint64_t reason;
		} fail_entry;
	};
};

struct modvm_cpu_backend {
	uint32_t struct_size;

	/* Probes this host (pure of side effects). Returns 0; out->score 0 = unusable. */
	int (*probe)(struct modvm_plugin_ctx *ctx, struct modvm_cpu_probe *out);

	int (*vm_create)(struct modvm_plugin_ctx *ctx, const struct modvm_cpu_vm_config *cfg,
			 struct modvm_cpu_vm **out);
	void (*vm_destroy)(struct modvm_cpu_vm *vm);

	/*
	 * Maps @size bytes of host memory @hva at guest-physical @gpa in @slot
	 * (size 0 removes the slot).  @hva and @gpa page-aligned.  The memory
	 * stays the caller's; it must outlive the slot.
	 */
	int (*set_memory)(struct modvm_cpu_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size,
			  void *hva);

	/* Creates vCPU @index with the vendor's guest CPUID already set. */
	int (*vcpu_create)(struct modvm_cpu_vm *vm, uint32_t index, struct modvm_cpu_vcpu **out);
	void (*vcpu_destroy)(struct modvm_cpu_vcpu *vcpu);

	/* Runs until the next exit; 0 with @exit filled, or -errno. */
	int (*vcpu_run)(struct modvm_cpu_vcpu *vcpu, struct modvm_cpu_exit *exit);
	/* Makes a running (or the next) vcpu_run return MODVM_EXIT_INTR soon. */
	void (*vcpu_kick)(struct modvm_cpu_vcpu *vcpu);

	int (*get_regs)(struct modvm_cpu_vcpu *vcpu, struct modvm_regs *regs);
	int (*set_regs)(struct modvm_cpu_vcpu *vcpu, const struct modvm_regs *regs);
	int (*get_sregs)(struct modvm_cpu_vcpu *vcpu, struct modvm_sregs *sregs);
	int (*set_sregs)(struct modvm_cpu_vcpu *vcpu, const struct modvm_sregs *sregs);

	/* Interrupts.  -ENOTSUP where the backend/VM lacks the mechanism. */
	int (*irq_line)(struct modvm_cpu_vm *vm, uint32_t gsi, bool level);
	int (*signal_msi)(struct modvm_cpu_vm *vm, uint64_t addr, uint32_t data);
	/* @fd is an eventfd. assign=false removes. */
	int (*irqfd)(struct modvm_cpu_vm *vm, uint32_t gsi, int fd, bool assign);
	/* A guest write of @len bytes to @addr (PIO if @pio) signals @fd without an exit. */
	int (*ioeventfd)(struct modvm_cpu_vm *vm, uint64_t addr, uint32_t len, bool pio, int fd,
			 bool assign);

	/*
	 * ABI 1.2, optional (NULL, or a struct_size without it: never asked).
	 * Whether @vcpu can no longer run by itself: 1 if it is halted with
	 * interrupts disabled or waits for an INIT/SIPI that nobody will send,
	 * 0 if not, -errno.  Called on the vCPU's own thread between two
	 * vcpu_run calls.  The core asks it of idle vCPUs and ends a VM whose
	 * every vCPU answers 1 (a guest that halted itself instead of
	 * powering off), so that it does not hang forever.
	 */
	int (*vcpu_halted)(struct modvm_cpu_vcpu *vcpu);
};

/* "pio", "mmio", "hlt", … for messages. */
MODVM_EXPORT const char *modvm_cpu_exit_name(uint32_t kind);

MODVM_END_DECLS

#endif
