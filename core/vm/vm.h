/*
 * core/vm/ — the VM runtime behind modvm/vm.h: guest RAM between guard
 * pages (guest_mem.c), the lock-free PIO/MMIO bus (iobus.c), the VM's
 * state machine (vm_state.c), one thread per vCPU (vcpu.c), noticing a
 * guest that halted for good (vm_halt.c), running and stopping them
 * (vm_run.c), interrupts and virtio windows (vm_devices.c), and creating
 * and destroying a VM (vm_create.c).  The files depend one way, in that
 * order.  It runs on any CPU backend (modvm/cpu.h) and knows nothing of
 * configs, kernels or plugins.  Uses base/, event/ and virtio/.
 *
 * This header is the runtime's shared state.  Not SDK.
 *
 * Locking: vm->lock guards the lifecycle fields (state, started/finished
 * counts, go, joined, error) and per-vCPU thread bookkeeping; the stop flag
 * and the exit counters are atomics so the vCPU fast path takes no lock.
 */
#ifndef MODVM_CORE_VM_H
#define MODVM_CORE_VM_H

#include <pthread.h>
#include <stdatomic.h>

#include <modvm/vm.h>
#include <modvm/events.h>
#include "event/event.h"

/* ---- iobus.c ---- */

struct modvm__iobus;

/*
 * @nreaders read-side slots: vCPU i dispatches through slot i; tests and
 * benchmarks use the spare ones.  @owner names the VM in log lines.
 */
MODVM_INTERNAL struct modvm__iobus *modvm__iobus_new(const char *owner, unsigned nreaders);
MODVM_INTERNAL void modvm__iobus_free(struct modvm__iobus *bus);
MODVM_INTERNAL int modvm__iobus_add(struct modvm__iobus *bus, enum modvm_iobus_space space,
				    uint64_t base, uint64_t len, modvm_iobus_handler fn, void *ud);
MODVM_INTERNAL int modvm__iobus_del(struct modvm__iobus *bus, enum modvm_iobus_space space,
				    uint64_t base);
/*
 * Routes one access through read-side slot @reader (one thread per slot at a
 * time).  Returns true if a device handled it; otherwise a read got all-ones
 * and the access was counted as unhandled.
 */
MODVM_INTERNAL bool modvm__iobus_dispatch(struct modvm__iobus *bus, unsigned reader,
					  enum modvm_iobus_space space, uint64_t addr,
					  uint8_t *data, uint32_t len, bool is_write);
MODVM_INTERNAL int modvm__iobus_stats(struct modvm__iobus *bus, enum modvm_iobus_space space,
				      struct modvm_iobus_stats *out);

/* ---- vcpu.c ---- */

struct modvm__vcpu {
	struct modvm_vm *vm;
	uint32_t index;
	struct modvm_cpu_vcpu *cpu;	/* backend vCPU, NULL when not created */

	pthread_t thread;
	bool spawned;		/* thread created and not yet joined (vm->lock) */
	bool ready;		/* init hook done, waiting for go (vm->lock) */
	bool finished;		/* thread left its loop (vm->lock) */
	int tid;		/* 0 before start (vm->lock) */

	bool has_affinity;	/* vm->lock */
	cpu_set_t affinity;

	/* The halt watch (vm_halt.c): the loop thread asks, the vCPU answers
	 * between two runs whether it can still run by itself. */
	_Atomic bool halt_probe;
	_Atomic int halted;	/* last answer: 1 halted for good, 0 not, -1 none yet */
	uint64_t watch_run_ns;	/* loop thread only: CPU time at the last watch */

	struct timespec started;	/* CLOCK_MONOTONIC at thread start */
	uint64_t final_run_ns;	/* thread CPU time when it finished */
	_Atomic int last_cpu;
	_Atomic uint64_t exits[MODVM_EXIT_REASON_COUNT];
};

MODVM_INTERNAL void *modvm__vcpu_thread(void *arg);
/* vcpu_run's "did you halt for good" question, asked (and answered) on the
 * vCPU's thread; the backend may lack it (then never halted). */
MODVM_INTERNAL bool modvm__vcpu_can_tell_halted(const struct modvm_vm *vm);
/* The vCPU whose thread this is, or NULL. */
MODVM_INTERNAL struct modvm__vcpu *modvm__vcpu_current(void);
MODVM_INTERNAL uint64_t modvm__now_ns(void);

/* ---- guest_mem.c ---- */

struct modvm__guest_mem {
	void *base;		/* one mapping (between guard pages); regions are slices of it */
	size_t size;
	bool hugepages;	/* no guard pages around base */
	uint32_t nregions;
	uint32_t registered;	/* slots the backend knows, to undo */
	struct modvm_ram_region regions[2];
};

MODVM_INTERNAL int modvm__guest_mem_map(struct modvm_vm *vm, uint64_t bytes, bool hugepages);
MODVM_INTERNAL void modvm__guest_mem_unmap(struct modvm_vm *vm);

/* ---- the VM itself (vm_create.c; vm_state.c keeps its state) ---- */

struct modvm__done_token;

struct modvm_vm {
	char name[MODVM_NAME_MAX];
	uint32_t vm_id;
	uint32_t nvcpus;
	uint64_t memory_bytes;
	bool irqchip;

	const struct modvm_cpu_backend *be;
	struct modvm_plugin_ctx *be_ctx;
	struct modvm_cpu_vm *cvm;

	struct modvm__guest_mem mem;
	struct modvm__iobus *iobus;
	struct modvm__vcpu *vcpus;
	struct modvm__vm_devices *devices;	/* virtio-mmio windows, vm_devices.c */

	modvm_vcpu_init_fn init_fn;
	void *init_ud;
	modvm_vm_done_fn done_fn;
	void *done_ud;
	struct modvm__done_token *done_token;

	struct modvm_bus *bus;
	struct modvm_loop *loop;
	uint32_t stats_interval_ms;
	struct modvm_timer *stats_timer;
	struct modvm_timer *halt_timer;	/* vm_halt.c */
	struct modvm__ratelimit guest_log;	/* every line the guest can trigger */
	unsigned halt_strikes;		/* loop thread: watches in a row that found all halted */

	pthread_mutex_t lock;
	pthread_cond_t cond;	/* CLOCK_MONOTONIC */
	_Atomic bool stop;	/* vCPUs leave their loop at the next check */
	enum modvm_vm_state state;
	bool started;
	bool go;		/* every vCPU may enter the guest */
	bool start_done;	/* start returned (or gave up) */
	bool joining, joined;
	bool failed;
	bool halted;		/* ended because every vCPU halted for good */
	bool reset;		/* the backend reported a system reset */
	uint32_t nready;	/* threads past their init hook */
	uint32_t running;	/* threads not yet finished */
	int init_err;		/* first init hook error */
	char error[256];
};

/* ---- vm_state.c ---- */

/* Sets vm->state and posts its vm.lifecycle event; vm->lock held (or the VM
 * not shared yet). */
MODVM_INTERNAL void modvm__vm_set_state_locked(struct modvm_vm *vm, enum modvm_vm_state state);
/* Makes a completion call still queued on the loop a no-op (destroy). */
MODVM_INTERNAL void modvm__vm_cancel_done(struct modvm_vm *vm);

static inline bool modvm__vm_state_terminal(enum modvm_vm_state s)
{
	return s == MODVM_VM_STOPPED || s == MODVM_VM_FAILED;
}

/*
 * Ends the VM from any thread: records @why as the failure (if @failed and
 * none was recorded), moves to STOPPING, sets the stop flag and kicks every
 * vCPU.  Idempotent.
 */
MODVM_INTERNAL void modvm__vm_end(struct modvm_vm *vm, bool failed, const char *why);
/* Logs one ERROR line (the VM's name is the caller's business) and fails the VM. */
MODVM_INTERNAL void modvm__vm_fail(struct modvm_vm *vm, const char *fmt, ...) MODVM_PRINTF(2, 3);
/* Called by each vCPU thread, holding vm->lock, when it has left its loop. */
MODVM_INTERNAL void modvm__vm_vcpu_finished_locked(struct modvm_vm *vm);
/* Called by each vCPU thread, not holding the lock, after finished_locked. */
MODVM_INTERNAL void modvm__vm_vcpu_after_finish(struct modvm_vm *vm, bool last);

/* ---- vm_halt.c ---- */

/*
 * Watches a running VM whose vCPUs are all idle: asks each whether it
 * halted for good (interrupts off, or waiting for a SIPI) and ends the VM,
 * not as a failure, once two watches in a row say so for every vCPU.
 * Needs the loop and the backend's vcpu_halted; a no-op without them.
 */
MODVM_INTERNAL void modvm__vm_halt_watch_start(struct modvm_vm *vm);
MODVM_INTERNAL void modvm__vm_halt_watch_stop(struct modvm_vm *vm);
/* Ended because it halted for good / the guest reset it (vm->lock taken). */
MODVM_INTERNAL bool modvm__vm_halted(struct modvm_vm *vm);
MODVM_INTERNAL bool modvm__vm_reset(struct modvm_vm *vm);

/* ---- vm_devices.c ---- */

struct modvm__vm_devices;
/* The VM's virtio-mmio devices in window order, for the boot command line. */
MODVM_INTERNAL unsigned modvm__vm_virtio_count(struct modvm_vm *vm);
MODVM_INTERNAL struct modvm_virtio_mmio *modvm__vm_virtio(struct modvm_vm *vm, unsigned index);
/* Removes every device left (after the vCPUs stopped). */
MODVM_INTERNAL void modvm__vm_devices_free(struct modvm_vm *vm);
/* The VM's limiter for lines its guest can trigger (base/ratelimit.c):
 * the core's devices log through it with modvm__log_limited. */
MODVM_INTERNAL struct modvm__ratelimit *modvm__vm_guest_log(struct modvm_vm *vm);

#endif
