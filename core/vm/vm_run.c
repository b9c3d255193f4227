/*
 * A VM's run once created: starting its vCPU threads, stopping and
 * joining them, waiting for the end, and the periodic vcpu.stats.  The
 * state machine underneath is vm_state.c; the threads themselves vcpu.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sandbox/sandbox.h"
#include "vm/vm.h"

/* ---- start / stop / wait ---- */

static void stats_tick(struct modvm_timer *timer, void *ud)
{
	struct modvm_vm *vm = ud;
	bool live;

	(void)timer;
	pthread_mutex_lock(&vm->lock);
	live = vm->state == MODVM_VM_RUNNING;
	pthread_mutex_unlock(&vm->lock);
	if (!live)
		return;
	/* vcpu.stats v2: the counters exactly as modvm_vcpu_get_stats() reads
	 * them, all since the thread started (events.h). */
	for (uint32_t i = 0; i < vm->nvcpus; i++) {
		struct modvm_vcpu_stats s;

		modvm_vcpu_get_stats(vm, i, &s);
		modvm_publish_vcpu_stats(vm->bus, &s);
	}
}

/* Each pointer is cleared under the lock first: a kick from another
 * thread (modvm__vm_end, the halt watch) reads it under the same lock. */
static void destroy_vcpus(struct modvm_vm *vm)
{
	for (uint32_t i = 0; i < vm->nvcpus; i++) {
		pthread_mutex_lock(&vm->lock);
		struct modvm_cpu_vcpu *cpu = vm->vcpus[i].cpu;
		vm->vcpus[i].cpu = NULL;
		pthread_mutex_unlock(&vm->lock);
		if (cpu)
			vm->be->vcpu_destroy(cpu);
	}
}

/* How often a vCPU that has not left yet is kicked again while joined. */
#define REKICK_NS 100000000L

/*
 * Joins every vCPU thread, kicking a slow one again: one kick can be spent
 * on a blocking call in an exit handler (a console write to a reader that
 * stopped reading, which a terminal may partly take before the signal).
 */
static void join_spawned(struct modvm_vm *vm)
{
	for (uint32_t i = 0; i < vm->nvcpus; i++) {
		if (!vm->vcpus[i].spawned)
			continue;
		for (;;) {
			struct timespec t = modvm__deadline_after(CLOCK_REALTIME, REKICK_NS);

			if (pthread_timedjoin_np(vm->vcpus[i].thread, NULL, &t) != ETIMEDOUT)
				break;
			if (vm->vcpus[i].cpu)
				vm->be->vcpu_kick(vm->vcpus[i].cpu);
		}
	}
}

/* A start that could not get every vCPU going: undo it, end FAILED. */
static int start_failed(struct modvm_vm *vm, uint32_t nthreads, int err)
{
	pthread_mutex_lock(&vm->lock);
	vm->running = nthreads;
	vm->go = true;	/* spawned threads see the stop flag and leave */
	if (nthreads == 0)
		modvm__vm_set_state_locked(vm, MODVM_VM_FAILED);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	join_spawned(vm);
	destroy_vcpus(vm);
	pthread_mutex_lock(&vm->lock);
	vm->joined = true;
	vm->start_done = true;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return err;
}

MODVM_EXPORT int modvm_vm_start(struct modvm_vm *vm)
{
	uint32_t i;
	int r;

	pthread_mutex_lock(&vm->lock);
	if (vm->started) {
		pthread_mutex_unlock(&vm->lock);
		return -EALREADY;
	}
	vm->started = true;
	vm->running = vm->nvcpus;
	modvm__vm_set_state_locked(vm, MODVM_VM_STARTING);
	pthread_mutex_unlock(&vm->lock);

	for (i = 0; i < vm->nvcpus; i++) {
		r = vm->be->vcpu_create(vm->cvm, i, &vm->vcpus[i].cpu);
		if (r < 0) {
			vm->vcpus[i].cpu = NULL;
			modvm__vm_fail(vm, "vm '%s': cannot create vcpu %u: %s", vm->name, i,
				       modvm_strerror(r));
			return start_failed(vm, 0, r);
		}
	}
	for (i = 0; i < vm->nvcpus; i++) {
		struct modvm__vcpu *vc = &vm->vcpus[i];

		char name[16];

		/* Through the sandbox: once it is locked down the thread comes
		 * from its spawner and has the vCPU filter before its first
		 * line, so before the guest's first instruction. */
		snprintf(name, sizeof(name), "vcpu%u", i);
		r = modvm__thread_spawn(&vc->thread, MODVM__TC_VCPU, NULL, name, false,
					modvm__vcpu_thread, vc);
		if (r < 0) {
			modvm__vm_fail(vm, "vm '%s': cannot start the thread of vcpu %u: %s",
				       vm->name, i, strerror(-r));
			return start_failed(vm, i, r);
		}
		pthread_mutex_lock(&vm->lock);
		vc->spawned = true;
		pthread_mutex_unlock(&vm->lock);
	}

	pthread_mutex_lock(&vm->lock);
	while (vm->nready < vm->nvcpus)
		pthread_cond_wait(&vm->cond, &vm->lock);
	if (vm->state == MODVM_VM_STARTING)
		modvm__vm_set_state_locked(vm, MODVM_VM_RUNNING);
	vm->go = true;
	vm->start_done = true;
	r = vm->init_err;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);

	if (vm->loop && vm->bus && vm->stats_interval_ms) {
		double s = vm->stats_interval_ms / 1000.0;

		vm->stats_timer = modvm_timer_start(vm->loop, s, s, stats_tick, vm);
		if (!vm->stats_timer)
			modvm_log(MODVM_LOG_WARN, NULL, "vm '%s': no vcpu.stats (out of memory)",
				  vm->name);
	}
	if (r == 0)
		modvm__vm_halt_watch_start(vm);
	return r;
}

MODVM_EXPORT int modvm_vm_stop(struct modvm_vm *vm)
{
	struct modvm__vcpu *self = modvm__vcpu_current();

	if (self && self->vm == vm) {
		modvm__vm_end(vm, false, NULL);
		return -EINPROGRESS;
	}
	pthread_mutex_lock(&vm->lock);
	while (vm->started && !vm->start_done)
		pthread_cond_wait(&vm->cond, &vm->lock);
	if (!vm->started || vm->joined) {
		pthread_mutex_unlock(&vm->lock);
		return 0;
	}
	if (vm->joining) {
		while (!vm->joined)
			pthread_cond_wait(&vm->cond, &vm->lock);
		pthread_mutex_unlock(&vm->lock);
		return 0;
	}
	vm->joining = true;
	pthread_mutex_unlock(&vm->lock);

	modvm__vm_end(vm, false, NULL);
	join_spawned(vm);
	destroy_vcpus(vm);

	pthread_mutex_lock(&vm->lock);
	vm->joined = true;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

MODVM_EXPORT int modvm_vm_wait(struct modvm_vm *vm, int timeout_ms)
{
	struct modvm__vcpu *self = modvm__vcpu_current();
	struct timespec deadline;
	int r = 0;

	if (self && self->vm == vm)
		return -EDEADLK;
	deadline = modvm__deadline_after(CLOCK_MONOTONIC,
					 timeout_ms >= 0 ? (uint64_t)timeout_ms * 1000000u : 0);
	pthread_mutex_lock(&vm->lock);
	if (!vm->started) {
		pthread_mutex_unlock(&vm->lock);
		return -EINVAL;
	}
	while (!modvm__vm_state_terminal(vm->state) && r == 0) {
		if (timeout_ms < 0)
			pthread_cond_wait(&vm->cond, &vm->lock);
		else
			r = -pthread_cond_timedwait(&vm->cond, &vm->lock, &deadline);
	}
	if (modvm__vm_state_terminal(vm->state))
		r = 0;
	pthread_mutex_unlock(&vm->lock);
	return r;
}

MODVM_EXPORT int modvm_vm_set_vcpu_init(struct modvm_vm *vm, modvm_vcpu_init_fn fn,
					void *userdata)
{
	int r = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->started) {
		r = -EBUSY;
	} else {
		vm->init_fn = fn;
		vm->init_ud = userdata;
	}
	pthread_mutex_unlock(&vm->lock);
	return r;
}

MODVM_EXPORT int modvm_vm_set_done_callback(struct modvm_vm *vm, modvm_vm_done_fn fn,
					    void *userdata)
{
	int r = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->started) {
		r = -EBUSY;
	} else {
		vm->done_fn = fn;
		vm->done_ud = userdata;
	}
	pthread_mutex_unlock(&vm->lock);
	return r;
}

