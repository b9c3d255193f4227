/*
 * A VM's state machine: its lifecycle states and their vm.lifecycle
 * events, ending it from any thread (stop flag, kicks, the failure
 * recorded), the completion callback when its last vCPU finishes, and
 * what it tells about itself.  The bottom of the VM runtime: vcpu.c,
 * vm_run.c and vm_create.c build on it, it calls none of them.
 *
 * State changes happen under vm->lock and their vm.lifecycle events are
 * posted to the loop (modvm_loop_call) while still holding it, so events
 * arrive in transition order whichever thread caused them, and no handler
 * ever runs under the VM's lock.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/vm.h"

/* ---- vm.lifecycle ---- */

struct lifecycle_post {
	struct modvm_bus *bus;
	struct modvm_vm_lifecycle ev;
};

static void deliver_lifecycle(void *ud)
{
	struct lifecycle_post *p = ud;

	modvm_publish_vm_lifecycle(p->bus, &p->ev);
	free(p);
}

MODVM_INTERNAL void modvm__vm_set_state_locked(struct modvm_vm *vm, enum modvm_vm_state state)
{
	struct lifecycle_post *p;

	vm->state = state;
	if (!vm->bus)
		return;
	p = calloc(1, sizeof(*p));
	if (!p)
		goto lost;
	p->bus = vm->bus;
	p->ev = (struct modvm_vm_lifecycle){
		.vm_id = vm->vm_id,
		.state = state,
		.vcpus = vm->nvcpus,
		.memory_bytes = vm->memory_bytes,
	};
	snprintf(p->ev.vm_name, sizeof(p->ev.vm_name), "%s", vm->name);
	if (modvm_loop_call(vm->loop, deliver_lifecycle, p) == 0)
		return;
	free(p);
lost:
	modvm_log(MODVM_LOG_WARN, NULL, "vm '%s': vm.lifecycle event %d lost (out of memory)",
		  vm->name, (int)state);
}

/* ---- the completion callback ---- */

/*
 * Posted to the loop when the last vCPU finishes.  Shared with the VM so
 * that destroying the VM first turns the call into a no-op (both run on the
 * loop thread, so a plain field suffices; the refcount decides who frees).
 */
struct modvm__done_token {
	_Atomic int refs;
	struct modvm_vm *vm;
	modvm_vm_done_fn fn;
	void *ud;
};

static void token_put(struct modvm__done_token *t)
{
	if (atomic_fetch_sub(&t->refs, 1) == 1)
		free(t);
}

static void deliver_done(void *ud)
{
	struct modvm__done_token *t = ud;

	if (t->vm)
		t->fn(t->vm, t->ud);
	token_put(t);
}

MODVM_INTERNAL void modvm__vm_cancel_done(struct modvm_vm *vm)
{
	if (vm->done_token) {
		vm->done_token->vm = NULL;
		token_put(vm->done_token);
		vm->done_token = NULL;
	}
}


/* ---- ending ---- */

/* Under vm->lock: destroy_vcpus clears each vCPU under it before freeing. */
static void kick_all_locked(struct modvm_vm *vm)
{
	for (uint32_t i = 0; i < vm->nvcpus; i++)
		if (vm->vcpus[i].cpu)
			vm->be->vcpu_kick(vm->vcpus[i].cpu);
}

MODVM_INTERNAL void modvm__vm_end(struct modvm_vm *vm, bool failed, const char *why)
{
	pthread_mutex_lock(&vm->lock);
	if (failed && !vm->failed) {
		vm->failed = true;
		snprintf(vm->error, sizeof(vm->error), "%s", why);
	}
	if (vm->state == MODVM_VM_STARTING || vm->state == MODVM_VM_RUNNING)
		modvm__vm_set_state_locked(vm, MODVM_VM_STOPPING);
	atomic_store_explicit(&vm->stop, true, memory_order_release);
	kick_all_locked(vm);
	pthread_mutex_unlock(&vm->lock);
}

MODVM_INTERNAL void modvm__vm_fail(struct modvm_vm *vm, const char *fmt, ...)
{
	char line[sizeof(vm->error)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	modvm_log(MODVM_LOG_ERROR, NULL, "%s", line);
	modvm__vm_end(vm, true, line);
}

MODVM_INTERNAL void modvm__vm_vcpu_finished_locked(struct modvm_vm *vm)
{
	/* The guest ended it (all halted, power off): still pass STOPPING. */
	if (vm->state == MODVM_VM_RUNNING || vm->state == MODVM_VM_STARTING)
		modvm__vm_set_state_locked(vm, MODVM_VM_STOPPING);
	modvm__vm_set_state_locked(vm, vm->failed ? MODVM_VM_FAILED : MODVM_VM_STOPPED);
	atomic_store(&vm->stop, true);
	pthread_cond_broadcast(&vm->cond);
	if (vm->done_fn && vm->loop) {
		struct modvm__done_token *t = calloc(1, sizeof(*t));

		if (!t) {
			modvm_log(MODVM_LOG_WARN, NULL, "vm '%s': completion callback lost (out of memory)",
				  vm->name);
			return;
		}
		atomic_init(&t->refs, 2);
		t->vm = vm;
		t->fn = vm->done_fn;
		t->ud = vm->done_ud;
		vm->done_token = t;
		if (modvm_loop_call(vm->loop, deliver_done, t) < 0) {
			vm->done_token = NULL;
			free(t);
			modvm_log(MODVM_LOG_WARN, NULL, "vm '%s': completion callback lost (out of memory)",
				  vm->name);
		}
	}
}

MODVM_INTERNAL void modvm__vm_vcpu_after_finish(struct modvm_vm *vm, bool last)
{
	if (last && vm->done_fn && !vm->loop)
		vm->done_fn(vm, vm->done_ud);
}

/* ---- what a VM tells about itself ---- */

MODVM_EXPORT const char *modvm_vm_name(const struct modvm_vm *vm)
{
	return vm->name;
}

MODVM_EXPORT uint32_t modvm_vm_id(const struct modvm_vm *vm)
{
	return vm->vm_id;
}

MODVM_EXPORT uint32_t modvm_vm_vcpu_count(const struct modvm_vm *vm)
{
	return vm->nvcpus;
}

MODVM_EXPORT uint64_t modvm_vm_memory_bytes(const struct modvm_vm *vm)
{
	return vm->memory_bytes;
}

MODVM_EXPORT enum modvm_vm_state modvm_vm_state(struct modvm_vm *vm)
{
	enum modvm_vm_state s;

	pthread_mutex_lock(&vm->lock);
	s = vm->state;
	pthread_mutex_unlock(&vm->lock);
	return s;
}

MODVM_EXPORT const char *modvm_vm_error(struct modvm_vm *vm)
{
	const char *e;

	/* Written once, under the lock, before `failed` becomes visible. */
	pthread_mutex_lock(&vm->lock);
	e = vm->failed ? vm->error : "";
	pthread_mutex_unlock(&vm->lock);
	return e;
}
