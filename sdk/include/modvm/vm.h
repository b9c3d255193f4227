/*
 * modvm/vm.h — the VM runtime: guest RAM, vCPU threads, the PIO/MMIO bus.
 *
 * A struct modvm_vm runs guests only through a CPU-backend vtable
 * (modvm/cpu.h); it never knows a vendor or an accelerator, so tests drive it
 * with a fake backend.  Device plugins use the iobus and the bounds-checked
 * guest-physical helpers below; nothing else may dereference a guest address.
 *
 * Threads.  The thread that creates the VM (the loop thread in the modvm
 * process, the test body in tests) owns it: create, start, set_vcpu_init,
 * set_done_callback, register/unregister and destroy run there.  Each vCPU
 * has its own thread; I/O handlers and the vCPU init hook run on it.
 * Functions that may be called from any thread say so.
 *
 * Lifecycle and events.  A VM goes CREATED → STARTING → RUNNING → STOPPING →
 * STOPPED (or FAILED), each published as vm.lifecycle when the VM was given a
 * bus and a loop.  The events are posted to the loop thread in transition
 * order (modvm_loop_call), never delivered under a VM lock, so handlers may
 * call back into this API.  With a non-zero stats interval the core also
 * publishes vcpu.stats (cumulative counters) for every vCPU from a loop timer.
 * The posted events name the bus: destroy VMs, then let the loop run once,
 * before freeing the bus.
 *
 * Guest-physical layout (x86, like kvmtool and Firecracker): RAM starts at
 * 0; memory above 3 GiB is placed from 4 GiB up, leaving [3 GiB, 4 GiB) for
 * MMIO (PCI holes, IOAPIC, LAPIC, virtio-mmio windows).
 */
#ifndef MODVM_VM_H
#define MODVM_VM_H

#include <sched.h>	/* cpu_set_t, with _GNU_SOURCE (every in-tree build defines it) */
#include "common.h"
#include "cpu.h"

MODVM_BEGIN_DECLS

struct modvm_vm;
struct modvm_bus;
struct modvm_loop;
struct modvm_plugin_ctx;

#define MODVM_GPA_MMIO_HOLE_START 0xC0000000ULL		/* 3 GiB: RAM below, MMIO above */
#define MODVM_GPA_HIGH_RAM_START 0x100000000ULL	/* 4 GiB: RAM beyond 3 GiB continues here */
#define MODVM_VM_MAX_VCPUS 256

/*
 * What to create.  Size-stamped: set struct_size = sizeof(struct
 * modvm_vm_config); fields are only ever appended.
 */
struct modvm_vm_config {
	uint32_t struct_size;
	uint32_t vm_id;		/* index in the config's vms list, for events */
	const char *name;	/* copied (truncated to MODVM_NAME_MAX-1); NULL: "vmID" */
	uint32_t vcpus;		/* 1..MODVM_VM_MAX_VCPUS */
	uint32_t stats_interval_ms;	/* vcpu.stats period; 0: none (needs bus+loop) */
	uint64_t memory_bytes;	/* a multiple of 4 KiB (2 MiB with hugepages) */
	bool hugepages;		/* back RAM with MAP_HUGETLB (reserved huge pages) */
	bool irqchip;		/* in-kernel irqchip: HLT then waits inside the backend */
	bool nested;		/* expose VMX/SVM to the guest */
	struct modvm_bus *bus;	/* optional; needs @loop too; see below */
	struct modvm_loop *loop;	/* optional; the thread that runs it owns the VM */
};

/*
 * Creates a VM: the backend VM (@backend->vm_create with @backend_ctx), guest
 * RAM (an anonymous MAP_PRIVATE|MAP_NORESERVE mapping, or MAP_HUGETLB without
 * NORESERVE so a missing reservation fails here and not as a SIGBUS later)
 * registered as memslot 0 (and 1 above 4 GiB), and an empty iobus.  Logs one
 * line naming the VM and the bad value on any failure and returns -EINVAL
 * (config), -ENOMEM (RAM), or the backend's error; *out is set only on
 * success.  Tests wrap this in an asserting helper.  Owner thread.
 */
MODVM_EXPORT int __modvm_vm_create(const struct modvm_cpu_backend *backend,
				   struct modvm_plugin_ctx *backend_ctx,
				   const struct modvm_vm_config *cfg, struct modvm_vm **out);

/*
 * Stops the VM if it runs (modvm_vm_stop), then destroys the backend VM,
 * unmaps RAM and frees everything.  NULL is ignored.  Owner thread only;
 * called on a vCPU thread it logs an error and does nothing.
 */
MODVM_EXPORT void modvm_vm_destroy(struct modvm_vm *vm);

/* Identity and state.  Any thread. */
MODVM_EXPORT const char *modvm_vm_name(const struct modvm_vm *vm);
MODVM_EXPORT uint32_t modvm_vm_id(const struct modvm_vm *vm);
MODVM_EXPORT uint32_t modvm_vm_vcpu_count(const struct modvm_vm *vm);
MODVM_EXPORT uint64_t modvm_vm_memory_bytes(const struct modvm_vm *vm);
MODVM_EXPORT enum modvm_vm_state modvm_vm_state(struct modvm_vm *vm);

/*
 * The line logged for the failure that put the VM in FAILED (the first one,
 * if several vCPUs failed), without the log prefix; "" if it has not failed.
 * The returned text stays valid until destroy.  Any thread.
 */
MODVM_EXPORT const char *modvm_vm_error(struct modvm_vm *vm);

/* ---- guest RAM ---- */

/* One contiguous piece of guest RAM: [gpa, gpa+size) lives at hva. */
struct modvm_ram_region {
	uint64_t gpa;
	uint64_t size;
	void *hva;
	uint32_t slot;		/* the backend memslot */
	uint32_t reserved;
};

/*
 * The RAM regions, in ascending gpa order (1 or 2).  They are fixed for the
 * VM's life, so loaders and the balloon (madvise on hva) may keep them;
 * region(vm, 0) is the start of an array of count() entries.  region()
 * returns NULL for an index out of range.  Any thread.
 */
MODVM_EXPORT uint32_t modvm_vm_ram_region_count(const struct modvm_vm *vm);
MODVM_EXPORT const struct modvm_ram_region *modvm_vm_ram_region(const struct modvm_vm *vm,
								  uint32_t index);

/*
 * A host pointer to guest-physical [@gpa, @gpa+@len), only if the whole range
 * lies inside one RAM region (computed without overflow), else NULL.  A
 * zero-length range names no memory and returns NULL.  Any thread; the guest
 * may change the bytes concurrently, so copy what you validate.
 */
MODVM_EXPORT void *modvm_gpa_to_hva(struct modvm_vm *vm, uint64_t gpa, uint64_t len);

/*
 * Copies @len bytes from/to guest-physical @gpa.  0, or -EFAULT (nothing
 * copied) unless the whole range lies inside one RAM region.  @len 0 copies
 * nothing and returns 0.  Any thread.
 */
MODVM_EXPORT int modvm_gpa_read(struct modvm_vm *vm, uint64_t gpa, void *buf, size_t len);
MODVM_EXPORT int modvm_gpa_write(struct modvm_vm *vm, uint64_t gpa, const void *buf, size_t len);

/* ---- PIO/MMIO bus ---- */

enum modvm_iobus_space {
	MODVM_IOBUS_PIO = 0,	/* port I/O, 0..0xffff */
	MODVM_IOBUS_MMIO = 1,	/* guest-physical addresses outside RAM */
};

/*
 * A device's access handler.  Runs on the vCPU thread that made the access,
 * possibly on several vCPU threads at once: a handler must be thread-safe
 * with respect to its own state, must not block for long (the vCPU is stalled
 * meanwhile) and must not call modvm_vm_destroy.  @addr is the offset from the
 * registered base; @len is 1, 2, 4 or 8 and the access never crosses the end
 * of the range (such accesses count as unhandled).  For a read, write the
 * @len answer bytes into @data (little-endian guest order); for a write, @data
 * holds them.  Each element of a string PIO (rep ins/outs) is one call.
 */
typedef void (*modvm_iobus_handler)(void *userdata, uint64_t addr, uint8_t *data, uint32_t len,
				    bool is_write);

/*
 * Routes [@base, @base+@len) of @space to @handler.  A range overlapping an
 * existing one is refused with -EBUSY and one logged line naming both
 * ranges; adjacent ranges are fine.  -EINVAL for len 0, a range past the end
 * of the space (0x10000 for PIO) or an unknown space.  Registration is meant
 * for device setup but is safe while vCPUs run (readers see the old or the
 * new table, never a torn one).  Owner thread (or any thread, serialised).
 */
MODVM_EXPORT int modvm_iobus_register(struct modvm_vm *vm, enum modvm_iobus_space space,
				      uint64_t base, uint64_t len, modvm_iobus_handler handler,
				      void *userdata);

/*
 * Removes the range registered at exactly @base.  When it returns no vCPU is
 * still inside (or about to enter) that range's handler, so its userdata may
 * be freed; called from inside a handler, only that vCPU's own call may still
 * be running.  0 or -ENOENT.  Owner thread (or any thread, serialised).
 */
MODVM_EXPORT int modvm_iobus_unregister(struct modvm_vm *vm, enum modvm_iobus_space space,
					uint64_t base);

/* Accesses nobody handled (reads answered all-ones, writes dropped). */
struct modvm_iobus_stats {
	uint64_t unhandled_reads;
	uint64_t unhandled_writes;
	uint32_t ranges;	/* registered ranges */
	uint32_t reserved;
};
/* 0 or -EINVAL for an unknown space.  Any thread. */
MODVM_EXPORT int modvm_iobus_get_stats(struct modvm_vm *vm, enum modvm_iobus_space space,
				       struct modvm_iobus_stats *out);

/* ---- interrupts and doorbells (pass-throughs to the backend) ---- */

/*
 * These forward to the backend's irq_line / signal_msi / irqfd / ioeventfd
 * and return its result; -ENOTSUP where the backend lacks the mechanism.
 * Thread rules are the backend's: irq_line and signal_msi from any thread,
 * irqfd and ioeventfd from the owner thread.
 */
MODVM_EXPORT int modvm_vm_irq_line(struct modvm_vm *vm, uint32_t gsi, bool level);
MODVM_EXPORT int modvm_vm_signal_msi(struct modvm_vm *vm, uint64_t addr, uint32_t data);
MODVM_EXPORT int modvm_vm_irqfd(struct modvm_vm *vm, uint32_t gsi, int fd, bool assign);
MODVM_EXPORT int modvm_vm_ioeventfd(struct modvm_vm *vm, enum modvm_iobus_space space,
				    uint64_t addr, uint32_t len, int fd, bool assign);

/* ---- running ---- */

/*
 * Sets the initial state of vCPU @index: called once per vCPU, on that
 * vCPU's thread, after the backend created it and before its first run (use
 * modvm_vcpu_set_regs/_sregs inside).  A non-zero return (negative errno)
 * fails the VM.  Set it before modvm_vm_start (-EBUSY afterwards).
 */
typedef int (*modvm_vcpu_init_fn)(struct modvm_vm *vm, uint32_t index, void *userdata);
MODVM_EXPORT int modvm_vm_set_vcpu_init(struct modvm_vm *vm, modvm_vcpu_init_fn fn,
					void *userdata);

/*
 * Called once when every vCPU thread has finished, whether the guest ended
 * the VM (power off, all vCPUs halted, failure) or modvm_vm_stop did.  With a
 * loop it is posted to the loop thread (and not called if the VM is
 * destroyed first); without one it runs on the last vCPU thread.  The VM
 * still needs modvm_vm_stop or modvm_vm_destroy to join its threads.  Set it
 * before modvm_vm_start (-EBUSY afterwards).
 */
typedef void (*modvm_vm_done_fn)(struct modvm_vm *vm, void *userdata);
MODVM_EXPORT int modvm_vm_set_done_callback(struct modvm_vm *vm, modvm_vm_done_fn fn,
					    void *userdata);

/*
 * Creates the vCPUs (backend vcpu_create on this thread) and one thread per
 * vCPU, runs every init hook, then lets all vCPUs run.  Returns once they
 * run: vCPU tids are known and affinity applies.  Exits are handled as:
 *  - PIO, MMIO: the iobus (string PIO element by element);
 *  - HLT: without an in-kernel irqchip nobody can wake the vCPU, so that
 *    vCPU is done (its thread ends; the VM ends when all vCPUs are done);
 *    with one the vCPU simply runs again;
 *  - SHUTDOWN (triple fault), SYSTEM_OFF, SYSTEM_RESET: the VM stops (reset
 *    is a stop for now; logged at INFO);
 *  - INTERNAL_ERROR, FAIL_ENTRY, an unknown exit or a backend error: the VM
 *    FAILS, with one ERROR line naming the VM, vCPU, exit and reason;
 *  - INTR: the vCPU checks whether it must stop, then runs again.
 * Returns 0; -EALREADY if started before; the backend's error (logged) if a
 * vCPU or thread could not be created (the VM is then FAILED); an init hook's
 * error (the VM is then FAILED and its threads ending).  Owner thread.
 */
MODVM_EXPORT int modvm_vm_start(struct modvm_vm *vm);

/*
 * Stops the VM: sets the stop flag, kicks every vCPU out of the guest
 * (backend vcpu_kick), joins the threads and destroys the backend vCPUs; the
 * backend VM and RAM stay until modvm_vm_destroy.  Works while vCPUs spin in
 * guest code.  Idempotent, any thread; concurrent callers all return once the
 * threads are joined.  From a vCPU thread (an I/O handler) it only requests
 * the stop and returns -EINPROGRESS.  0 otherwise (also if never started).
 */
MODVM_EXPORT int modvm_vm_stop(struct modvm_vm *vm);

/*
 * Waits until every vCPU thread has finished (the VM ended by itself or was
 * stopped), up to @timeout_ms (-1: forever).  0, -ETIMEDOUT, or -EINVAL if
 * the VM was never started.  Any thread but a vCPU thread.
 */
MODVM_EXPORT int modvm_vm_wait(struct modvm_vm *vm, int timeout_ms);

/* ---- vCPUs ---- */

/*
 * Register access for vCPU @index.  Only on that vCPU's own thread (the
 * init hook, an I/O handler): -EPERM elsewhere, -EINVAL for a bad index,
 * else the backend's result.
 */
MODVM_EXPORT int modvm_vcpu_get_regs(struct modvm_vm *vm, uint32_t index, struct modvm_regs *regs);
MODVM_EXPORT int modvm_vcpu_set_regs(struct modvm_vm *vm, uint32_t index,
				     const struct modvm_regs *regs);
MODVM_EXPORT int modvm_vcpu_get_sregs(struct modvm_vm *vm, uint32_t index,
				      struct modvm_sregs *sregs);
MODVM_EXPORT int modvm_vcpu_set_sregs(struct modvm_vm *vm, uint32_t index,
				      const struct modvm_sregs *sregs);

/*
 * Pins vCPU @index's thread to @set (NULL: every CPU).  vCPUs are never
 * pinned unless asked.  Before start the set is remembered and applied when
 * the thread starts; while it runs it applies at once; either way it is
 * remembered for the VM's life.  0, -EINVAL (index, empty or unusable set:
 * logged) or -errno from pthread_setaffinity_np.  Any thread (power-park
 * calls it from the loop thread at any time).
 */
#ifdef CPU_SETSIZE	/* glibc shows cpu_set_t only to _GNU_SOURCE builds */
MODVM_EXPORT int modvm_vcpu_set_affinity(struct modvm_vm *vm, uint32_t index,
					 const cpu_set_t *set);
#endif

/* The host thread id of vCPU @index while its thread lives; -ESRCH otherwise,
 * -EINVAL for a bad index.  Any thread. */
MODVM_EXPORT int modvm_vm_vcpu_tid(struct modvm_vm *vm, uint32_t index);

/*
 * Counters of vCPU @index, in the vcpu.stats layout: exits by
 * MODVM_EXIT_REASON_* and run_ns (thread CPU time) since the thread started,
 * interval_ns = wall time since it started, host_cpu last seen (-1 before it
 * ran), tid (0 before start).  Still readable after the VM stopped.  0 or
 * -EINVAL.  Any thread.
 */
MODVM_EXPORT int modvm_vcpu_get_stats(struct modvm_vm *vm, uint32_t index,
				      struct modvm_vcpu_stats *out);

/* ---- virtio-mmio devices ---- */

struct modvm_virtio_device_ops;
struct modvm_virtio_mmio;

#define MODVM_VM_VIRTIO_MMIO_BASE 0xd0000000ULL	/* first window; 4 KiB each */
#define MODVM_VM_VIRTIO_MAX 10

/*
 * Adds a virtio-mmio device (modvm/virtio.h) to @vm: takes the next 4 KiB
 * window from MODVM_VM_VIRTIO_MMIO_BASE and the next free ISA interrupt
 * (5, 6, 7, 9, 10, …), wires guest memory, the interrupt and, if the VM
 * has a loop, the defer of modvm_virtio_renotify (the loop thread; nothing
 * new is deferred once the VM is stopping), registers the window on the
 * iobus and records it so the boot path announces it with
 * "virtio_mmio.device=".  Before modvm_vm_start (a device added later is
 * not on the command line).  @name appears in log lines.  0 or -ENOSPC /
 * -EBUSY / -ENOMEM / the transport's error, logged.  Owner thread.
 */
MODVM_EXPORT int modvm_vm_add_virtio(struct modvm_vm *vm, const char *name,
				     const struct modvm_virtio_device_ops *ops, void *opaque,
				     struct modvm_virtio_mmio **out);
/* Unregisters and destroys a device added above (after the vCPUs stopped). */
MODVM_EXPORT void modvm_vm_remove_virtio(struct modvm_vm *vm, struct modvm_virtio_mmio *t);

MODVM_END_DECLS

#endif
