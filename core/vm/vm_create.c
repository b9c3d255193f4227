/*
 * Creating and destroying a VM: the top of the VM runtime.
 *
 * Running it (threads, stop, wait) is vm_run.c, its states vm_state.c;
 * RAM is guest_mem.c, the I/O bus iobus.c, the vCPU loop vcpu.c, virtio
 * windows and interrupts vm_devices.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vm/vm.h"

/* ---- create / destroy ---- */

static int check_backend(const struct modvm_cpu_backend *be, const char *name)
{
	const char *missing = NULL;

	if (!be)
		missing = "the whole vtable";
	else if (be->struct_size < sizeof(*be))
		missing = "fields (struct_size too small)";
	else if (!be->vm_create || !be->vm_destroy || !be->set_memory)
		missing = "vm_create/vm_destroy/set_memory";
	else if (!be->vcpu_create || !be->vcpu_destroy || !be->vcpu_run || !be->vcpu_kick)
		missing = "vcpu_create/vcpu_destroy/vcpu_run/vcpu_kick";
	else if (!be->get_regs || !be->set_regs || !be->get_sregs || !be->set_sregs)
		missing = "register accessors";
	if (!missing)
		return 0;
	modvm_log(MODVM_LOG_ERROR, NULL, "vm '%s': cpu backend lacks %s", name, missing);
	return -EINVAL;
}

static int check_config(const struct modvm_vm_config *cfg, const char *name)
{
	if (cfg->struct_size < sizeof(*cfg)) {
		modvm_log(MODVM_LOG_ERROR, NULL, "vm '%s': config struct_size %u < %zu", name,
			  cfg->struct_size, sizeof(*cfg));
		return -EINVAL;
	}
	if (cfg->vcpus < 1 || cfg->vcpus > MODVM_VM_MAX_VCPUS) {
		modvm_log(MODVM_LOG_ERROR, NULL, "vm '%s': vcpus %u out of range (1..%d)", name,
			  cfg->vcpus, MODVM_VM_MAX_VCPUS);
		return -EINVAL;
	}
	if (!cfg->bus != !cfg->loop) {
		modvm_log(MODVM_LOG_ERROR, NULL, "vm '%s': events need both a bus and a loop", name);
		return -EINVAL;
	}
	return 0;
}

MODVM_EXPORT int __modvm_vm_create(const struct modvm_cpu_backend *backend,
				   struct modvm_plugin_ctx *backend_ctx,
				   const struct modvm_vm_config *cfg, struct modvm_vm **out)
{
	struct modvm_cpu_vm_config ccfg;
	pthread_condattr_t ca;
	struct modvm_vm *vm;
	char name[MODVM_NAME_MAX];
	int r;

	if (!cfg || !out)
		return -EINVAL;
	if (cfg->struct_size >= offsetof(struct modvm_vm_config, name) + sizeof(cfg->name) &&
	    cfg->name && cfg->name[0])
		snprintf(name, sizeof(name), "%s", cfg->name);
	else
		snprintf(name, sizeof(name), "vm%u", cfg->vm_id);
	r = check_config(cfg, name);
	if (r == 0)
		r = check_backend(backend, name);
	if (r < 0)
		return r;

	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	memcpy(vm->name, name, sizeof(name));
	vm->vm_id = cfg->vm_id;
	vm->nvcpus = cfg->vcpus;
	vm->memory_bytes = cfg->memory_bytes;
	vm->irqchip = cfg->irqchip;
	vm->be = backend;
	vm->be_ctx = backend_ctx;
	vm->bus = cfg->bus;
	vm->loop = cfg->loop;
	vm->stats_interval_ms = cfg->stats_interval_ms;
	pthread_mutex_init(&vm->lock, NULL);
	char who[MODVM_NAME_MAX + 8];
	snprintf(who, sizeof(who), "vm %s", vm->name);
	modvm__ratelimit_init(&vm->guest_log, who, MODVM__GUEST_LOG_BURST,
			      MODVM__GUEST_LOG_WINDOW_NS);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&vm->cond, &ca);
	pthread_condattr_destroy(&ca);

	r = -ENOMEM;
	vm->vcpus = calloc(vm->nvcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		goto free_vm;
	for (uint32_t i = 0; i < vm->nvcpus; i++) {
		vm->vcpus[i].vm = vm;
		vm->vcpus[i].index = i;
		atomic_init(&vm->vcpus[i].last_cpu, -1);
		atomic_init(&vm->vcpus[i].halted, -1);
	}
	/* One read-side slot per vCPU plus a spare for tests and benchmarks. */
	vm->iobus = modvm__iobus_new(vm->name, vm->nvcpus + 1);
	if (!vm->iobus)
		goto free_vcpus;

	ccfg = (struct modvm_cpu_vm_config){
		.struct_size = sizeof(ccfg),
		.vcpus = cfg->vcpus,
		.nested = cfg->nested,
		.irqchip = cfg->irqchip,
		.vm_id = vm->vm_id,
	};
	snprintf(ccfg.name, sizeof(ccfg.name), "%s", vm->name);
	r = backend->vm_create(backend_ctx, &ccfg, &vm->cvm);
	if (r < 0) {
		modvm_log(MODVM_LOG_ERROR, NULL, "vm '%s': the cpu backend cannot create it: %s",
			  vm->name, modvm_strerror(r));
		goto free_iobus;
	}
	r = modvm__guest_mem_map(vm, cfg->memory_bytes, cfg->hugepages);
	if (r < 0)
		goto destroy_cvm;

	modvm__vm_set_state_locked(vm, MODVM_VM_CREATED);
	*out = vm;
	return 0;

destroy_cvm:
	backend->vm_destroy(vm->cvm);
free_iobus:
	modvm__iobus_free(vm->iobus);
free_vcpus:
	free(vm->vcpus);
free_vm:
	modvm__ratelimit_fini(&vm->guest_log);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
	return r;
}

MODVM_EXPORT void modvm_vm_destroy(struct modvm_vm *vm)
{
	struct modvm__vcpu *self = modvm__vcpu_current();

	if (!vm)
		return;
	if (self && self->vm == vm) {
		modvm_log(MODVM_LOG_ERROR, NULL,
			  "vm '%s': modvm_vm_destroy called on its own vcpu %u thread; ignored",
			  vm->name, self->index);
		return;
	}
	modvm_vm_stop(vm);
	modvm_timer_stop(vm->stats_timer);
	modvm__vm_halt_watch_stop(vm);
	modvm__vm_cancel_done(vm);
	pthread_mutex_lock(&vm->lock);
	if (!modvm__vm_state_terminal(vm->state))	/* never started */
		modvm__vm_set_state_locked(vm, MODVM_VM_STOPPED);
	pthread_mutex_unlock(&vm->lock);

	modvm__vm_devices_free(vm);
	modvm__guest_mem_unmap(vm);
	vm->be->vm_destroy(vm->cvm);
	modvm__iobus_free(vm->iobus);
	free(vm->vcpus);
	/* What the guest's limiter still holds back is said now. */
	modvm__ratelimit_fini(&vm->guest_log);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}
