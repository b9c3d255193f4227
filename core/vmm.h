/*
 * core/vmm.h — assembling one runnable VM from its configuration: the VM
 * runtime, the core devices (serial console, power), the kernel loaded by
 * the boot protocol, and the vCPU start state.  host.c calls this; the VM
 * runtime itself knows nothing about configs or kernels.
 */
#ifndef MODVM_CORE_VMM_H
#define MODVM_CORE_VMM_H

#include <modvm/cpu.h>
#include <modvm/vm.h>

#include "internal.h"

struct modvm__vmm_config {
	uint32_t vm_id;
	const char *name;
	uint32_t vcpus;
	uint64_t memory;
	const char *kernel;	/* path, or "builtin:demo" */
	const char *initrd;	/* NULL or "": none */
	const char *cmdline;
	const char *console;	/* "stdout", "none" or a file path */
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

struct modvm__vmm;

/*
 * Creates the VM with @backend, attaches the devices and loads the kernel.
 * Every failure is logged once ("vm NAME: …") and leaves nothing behind.
 */
MODVM_INTERNAL int modvm__vmm_create(const struct modvm_cpu_backend *backend,
				     struct modvm_plugin_ctx *backend_ctx,
				     const struct modvm__vmm_config *cfg, struct modvm__vmm **out);
/* Starts the vCPUs; @done runs on the loop thread when the VM has ended. */
MODVM_INTERNAL int modvm__vmm_start(struct modvm__vmm *vmm, modvm_vm_done_fn done, void *ud);
/* Stops (if running) and frees everything. NULL is ignored. */
MODVM_INTERNAL void modvm__vmm_free(struct modvm__vmm *vmm);
MODVM_INTERNAL struct modvm_vm *modvm__vmm_vm(struct modvm__vmm *vmm);
/* True if the VM ended in failure (not a guest power-off/reset or a stop). */
MODVM_INTERNAL bool modvm__vmm_failed(struct modvm__vmm *vmm);
/* The path "builtin:demo" stands for (for messages and `modvm check`). */
MODVM_INTERNAL const char *modvm__vmm_resolve_kernel(const char *kernel);

#endif
