/*
 * core/machine/ — one runnable machine assembled from a VM's settings: the
 * VM runtime (vm/), the core devices (devices/: serial console, power,
 * virtio-rng), the kernel loaded by the boot protocol (boot/), and the
 * vCPU start state.  The fleet (host/) calls it; the VM runtime itself
 * knows nothing about configs or kernels.  Uses vm/, devices/, boot/.
 */
#ifndef MODVM_CORE_MACHINE_H
#define MODVM_CORE_MACHINE_H

#include <modvm/cpu.h>
#include <modvm/vm.h>

#include "base/base.h"

struct modvm__machine_config {
	uint32_t vm_id;
	const char *name;
	uint32_t vcpus;
	uint64_t memory;
	const char *kernel;	/* path, or "builtin:demo" */
	const char *initrd;	/* NULL or "": none */
	const char *cmdline;
	const char *boot_entry;	/* "auto", "64", "32", "pvh"; NULL = auto */
	const char *console;	/* "stdout", "none" or a file path */
	bool console_append;	/* a file: append (else truncate) */
	uint64_t console_max;	/* a file: bytes at most, 0 = no cap */
	bool rng;		/* attach a virtio-rng device */
	uint32_t stats_interval_ms;
	struct modvm_bus *bus;
	struct modvm_loop *loop;
	/* Device plugins' per-VM hooks: attach runs after the core devices and
	 * before the kernel is loaded, detach after the vCPUs stopped. */
	int (*attach)(struct modvm_vm *vm, uint32_t vm_id, void *ud);
	void (*detach)(struct modvm_vm *vm, uint32_t vm_id, void *ud);
	void *hooks_ud;
};

struct modvm__machine;

/*
 * Creates the VM with @backend, attaches the devices and loads the kernel.
 * Every failure is logged once ("vm NAME: …") and leaves nothing behind.
 */
MODVM_INTERNAL int modvm__machine_create(const struct modvm_cpu_backend *backend,
				     struct modvm_plugin_ctx *backend_ctx,
				     const struct modvm__machine_config *cfg, struct modvm__machine **out);
/* Starts the vCPUs; @done runs on the loop thread when the VM has ended. */
MODVM_INTERNAL int modvm__machine_start(struct modvm__machine *m, modvm_vm_done_fn done, void *ud);
/* Stops (if running) and frees everything. NULL is ignored. */
MODVM_INTERNAL void modvm__machine_free(struct modvm__machine *m);
MODVM_INTERNAL struct modvm_vm *modvm__machine_vm(struct modvm__machine *m);
/* True if the VM ended in failure (not a guest power-off/reset or a stop). */
MODVM_INTERNAL bool modvm__machine_failed(struct modvm__machine *m);
/* True if the guest asked for a reset (ACPI reset register, i8042, the
 * backend's reset event) rather than a power off: on_reboot decides. */
MODVM_INTERNAL bool modvm__machine_reset_requested(struct modvm__machine *m);
/* The path "builtin:demo" stands for (for messages and `modvm check`). */
MODVM_INTERNAL const char *modvm__machine_resolve_kernel(const char *kernel);

#endif
