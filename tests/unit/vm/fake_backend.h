/*
 * A scripted CPU backend: each vCPU replays a list of exits, so the VM
 * runtime can be tested (and benchmarked) without KVM.  Used by the vm unit
 * tests and bench/bench_iobus.c.  No Check dependency.
 */
#ifndef MODVM_TEST_FAKE_BACKEND_H
#define MODVM_TEST_FAKE_BACKEND_H

#include <pthread.h>
#include <stdatomic.h>
#include <modvm/cpu.h>

#define FAKE_MAX_VCPUS 8
#define FAKE_MAX_STEPS 32
#define FAKE_MAX_SLOTS 4

/* Step kinds beyond enum modvm_exit_kind. */
enum {
	FAKE_SPIN = 100,	/* "guest code": blocks until kicked, returns INTR, repeats */
	FAKE_ERRNO,		/* vcpu_run returns step.err */
};

struct fake_step {
	uint32_t kind;		/* enum modvm_exit_kind or FAKE_* */
	uint64_t addr;		/* port or gpa */
	uint32_t size;		/* PIO element size / MMIO length */
	uint32_t count;		/* PIO string repeats (0 = 1) */
	bool is_write;
	uint8_t data[64];	/* bytes a write carries */
	uint32_t raw_reason;
	uint32_t suberror;
	uint32_t ndata;
	uint64_t idata[4];	/* internal-error data, or [0] = fail-entry reason */
	int err;		/* FAKE_ERRNO */
};

struct fake_script {
	struct fake_step steps[FAKE_MAX_STEPS];
	unsigned n;
	uint64_t repeat;	/* play the steps this many times (0 = once); then HLT */
};

struct fake_slot {
	bool used;
	uint64_t gpa, size;
	void *hva;
};

struct fake_vcpu;

struct fake_backend {
	struct modvm_cpu_backend vt;

	/* What to do (set before creating the VM). */
	struct fake_script script[FAKE_MAX_VCPUS];
	int fail_vm_create;		/* -errno or 0 */
	int fail_vcpu_create_index;	/* -1: none */
	int fail_set_memory_slot;	/* -1: none */

	/* What happened (atomics: vCPU threads write them). */
	_Atomic int vm_creates, vm_destroys, vcpu_creates, vcpu_destroys, kicks;
	_Atomic int set_memory_calls;
	_Atomic int halted_answer;	/* what vcpu_halted says (0 unless a test sets it) */
	_Atomic int halted_asked;
	struct fake_slot slots[FAKE_MAX_SLOTS];
	bool irqchip_seen;
	_Atomic int run_tid[FAKE_MAX_VCPUS];		/* thread that ran each vCPU */
	_Atomic uint64_t first_rip[FAKE_MAX_VCPUS];	/* rip when it first ran */
	_Atomic uint64_t runs[FAKE_MAX_VCPUS];
	/* Bytes a device answered to each read step (first play only). */
	uint8_t answers[FAKE_MAX_VCPUS][FAKE_MAX_STEPS][64];
};

/* Fills the vtable and clears the records. */
void fake_backend_init(struct fake_backend *fb);

/* The ctx to pass to __modvm_vm_create together with &fb->vt. */
static inline struct modvm_plugin_ctx *fake_ctx(struct fake_backend *fb)
{
	return (struct modvm_plugin_ctx *)(void *)fb;
}

/* Appends a step to vCPU @vcpu's script; returns it for tweaking. */
struct fake_step *fake_add(struct fake_backend *fb, unsigned vcpu, uint32_t kind);
struct fake_step *fake_pio(struct fake_backend *fb, unsigned vcpu, uint16_t port, uint32_t size,
			   bool is_write, uint32_t value);
struct fake_step *fake_mmio(struct fake_backend *fb, unsigned vcpu, uint64_t addr, uint32_t len,
			    bool is_write, uint64_t value);

#endif
