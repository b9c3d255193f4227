/*
 * core/vm_run.c — a VM's life once created: start, stop, wait, and its events.
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
#include <time.h>

#include "vm_internal.h"

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

static void kick_all(struct modvm_vm *vm)
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
	pthread_mutex_unlock(&vm->lock);
	kick_all(vm);
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

/* ---- start / stop / wait ---- */

static void stats_tick(struct modvm_timer *timer, void *ud)
{
	struct modvm_vm *vm = ud;
	uint64_t now = modvm__now_ns();
	bool live;

	(void)timer;
	pthread_mutex_lock(&vm->lock);
	live = vm->state == MODVM_VM_RUNNING;
	pthread_mutex_unlock(&vm->lock);
	if (!live)
		return;
	for (uint32_t i = 0; i < vm->nvcpus; i++) {
		struct modvm__vcpu *vc = &vm->vcpus[i];
		struct modvm_vcpu_stats s;

		modvm_vcpu_get_stats(vm, i, &s);
		if (vc->last_sample_ns)
			s.interval_ns = now - vc->last_sample_ns;
		vc->last_sample_ns = now;
		modvm_publish_vcpu_stats(vm->bus, &s);
	}
}

static void destroy_vcpus(struct modvm_vm *vm)
{
	for (uint32_t i = 0; i < vm->nvcpus; i++) {
		if (vm->vcpus[i].cpu)
			vm->be->vcpu_destroy(vm->vcpus[i].cpu);
		vm->vcpus[i].cpu = NULL;
	}
}

static void join_spawned(struct modvm_vm *vm)
{
	for (uint32_t i = 0; i < vm->nvcpus; i++)
		if (vm->vcpus[i].spawned)
			pthread_join(vm->vcpus[i].thread, NULL);
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

		r = -pthread_create(&vc->thread, NULL, modvm__vcpu_thread, vc);
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
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	if (timeout_ms >= 0) {
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
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

