/*
 * core/vcpu.c — one thread per vCPU: run, dispatch the exit, repeat.
 *
 * The hot path (run → PIO/MMIO → handler → run) takes no lock: the stop flag
 * and the counters are atomics.  Everything that ends a vCPU goes through
 * modvm__vm_end()/modvm__vm_fail() in vm_state.c, which own the lifecycle.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vm/vm.h"

static _Thread_local struct modvm__vcpu *current_vcpu;

MODVM_INTERNAL struct modvm__vcpu *modvm__vcpu_current(void)
{
	return current_vcpu;
}

MODVM_INTERNAL uint64_t modvm__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ULL + (uint64_t)ts->tv_nsec;
}

static void count(struct modvm__vcpu *vc, unsigned reason)
{
	atomic_fetch_add_explicit(&vc->exits[reason], 1, memory_order_relaxed);
}

static bool dispatch_pio(struct modvm__vcpu *vc, const struct modvm_cpu_exit *ex)
{
	uint32_t size = ex->pio.size, n = ex->pio.count ? ex->pio.count : 1;

	if ((size != 1 && size != 2 && size != 4) || !ex->pio.data) {
		modvm__vm_fail(vc->vm, "vm '%s' vcpu %u: malformed pio exit (port 0x%x size %u)",
			       vc->vm->name, vc->index, ex->pio.port, size);
		return false;
	}
	/* rep ins/outs: the backend hands over all elements at once. */
	for (uint32_t i = 0; i < n; i++)
		modvm__iobus_dispatch(vc->vm->iobus, vc->index, MODVM_IOBUS_PIO, ex->pio.port,
				      ex->pio.data + (size_t)i * size, size, ex->pio.is_write);
	return true;
}

static bool dispatch_mmio(struct modvm__vcpu *vc, const struct modvm_cpu_exit *ex)
{
	if (ex->mmio.len == 0 || ex->mmio.len > 8 || !ex->mmio.data) {
		modvm__vm_fail(vc->vm, "vm '%s' vcpu %u: malformed mmio exit (addr 0x%llx len %u)",
			       vc->vm->name, vc->index, (unsigned long long)ex->mmio.addr,
			       ex->mmio.len);
		return false;
	}
	modvm__iobus_dispatch(vc->vm->iobus, vc->index, MODVM_IOBUS_MMIO, ex->mmio.addr,
			      ex->mmio.data, ex->mmio.len, ex->mmio.is_write);
	return true;
}

static void fail_internal(struct modvm__vcpu *vc, const struct modvm_cpu_exit *ex)
{
	char data[4 * 21 + 8] = "";
	size_t used = 0;
	uint32_t nd = ex->internal.ndata < 4 ? ex->internal.ndata : 4;

	for (uint32_t i = 0; i < nd; i++)
		used += (size_t)snprintf(data + used, sizeof(data) - used, "%s0x%llx",
					 i ? " " : ", data ",
					 (unsigned long long)ex->internal.data[i]);
	modvm__vm_fail(vc->vm, "vm '%s' vcpu %u: internal-error exit (raw reason %u), suberror %u%s",
		       vc->vm->name, vc->index, ex->raw_reason, ex->internal.suberror, data);
}

/* Returns false when this vCPU is done. */
static bool handle_exit(struct modvm__vcpu *vc, const struct modvm_cpu_exit *ex)
{
	struct modvm_vm *vm = vc->vm;

	switch (ex->kind) {
	case MODVM_EXIT_PIO:
		count(vc, MODVM_EXIT_REASON_IO);
		return dispatch_pio(vc, ex);
	case MODVM_EXIT_MMIO:
		count(vc, MODVM_EXIT_REASON_MMIO);
		return dispatch_mmio(vc, ex);
	case MODVM_EXIT_HLT:
		count(vc, MODVM_EXIT_REASON_HLT);
		if (vm->irqchip)
			return true;
		/* No irqchip: no interrupt can ever wake this vCPU. */
		modvm_log(MODVM_LOG_DEBUG, NULL, "vm '%s' vcpu %u: halted, vcpu done", vm->name,
			  vc->index);
		return false;
	case MODVM_EXIT_INTR:
		count(vc, MODVM_EXIT_REASON_INTR);
		return true;
	case MODVM_EXIT_SHUTDOWN: {
		/* A triple fault (or a crash the backend reported): the guest is
		 * dead; ending it says so, and where, instead of leaving a VM
		 * that never runs again. */
		struct modvm_regs regs;
		struct modvm_sregs sregs;
		char where[128] = "";

		count(vc, MODVM_EXIT_REASON_OTHER);
		/* Where it died, unless the backend already reset the vCPU (KVM on
		 * AMD re-INITs it on a shutdown intercept: rip 0xfff0, cr3 0). */
		if (vm->be->get_regs(vc->cpu, &regs) == 0 && vm->be->get_sregs(vc->cpu, &sregs) == 0 &&
		    !(regs.rip == 0xfff0 && sregs.cr3 == 0))
			snprintf(where, sizeof(where), " at rip 0x%llx (rsp 0x%llx, cr3 0x%llx)",
				 (unsigned long long)regs.rip, (unsigned long long)regs.rsp,
				 (unsigned long long)sregs.cr3);
		modvm__vm_fail(vm, "vm '%s' vcpu %u: triple fault%s (the guest CPU shut down after "
			       "an exception it could not handle); the VM is stopped",
			       vm->name, vc->index, where);
		return false;
	}
	case MODVM_EXIT_SYSTEM_OFF:
	case MODVM_EXIT_SYSTEM_RESET:
		count(vc, MODVM_EXIT_REASON_OTHER);
		modvm_log(MODVM_LOG_INFO, NULL, "vm '%s' vcpu %u: %s exit, stopping the vm",
			  vm->name, vc->index, modvm_cpu_exit_name(ex->kind));
		if (ex->kind == MODVM_EXIT_SYSTEM_RESET) {
			pthread_mutex_lock(&vm->lock);
			vm->reset = true;
			pthread_mutex_unlock(&vm->lock);
		}
		modvm__vm_end(vm, false, NULL);
		return false;
	case MODVM_EXIT_INTERNAL_ERROR:
		count(vc, MODVM_EXIT_REASON_OTHER);
		fail_internal(vc, ex);
		return false;
	case MODVM_EXIT_FAIL_ENTRY:
		count(vc, MODVM_EXIT_REASON_OTHER);
		modvm__vm_fail(vm,
			       "vm '%s' vcpu %u: fail-entry exit (raw reason %u), hardware entry failure reason 0x%llx",
			       vm->name, vc->index, ex->raw_reason,
			       (unsigned long long)ex->fail_entry.reason);
		return false;
	default:
		count(vc, MODVM_EXIT_REASON_OTHER);
		modvm__vm_fail(vm, "vm '%s' vcpu %u: unexpected %s exit (kind %u, raw reason %u)",
			       vm->name, vc->index, modvm_cpu_exit_name(ex->kind), ex->kind,
			       ex->raw_reason);
		return false;
	}
}

MODVM_INTERNAL bool modvm__vcpu_can_tell_halted(const struct modvm_vm *vm)
{
	return vm->be->struct_size >= offsetof(struct modvm_cpu_backend, vcpu_halted) +
					      sizeof(vm->be->vcpu_halted) &&
	       vm->be->vcpu_halted;
}

/* The halt watch's question, answered between two runs (vm_halt.c). */
static void answer_halt_probe(struct modvm__vcpu *vc)
{
	int r = vc->vm->be->vcpu_halted(vc->cpu);
	atomic_store_explicit(&vc->halted, r == 1 ? 1 : 0, memory_order_release);
}

static void run_loop(struct modvm__vcpu *vc)
{
	struct modvm_vm *vm = vc->vm;

	while (!atomic_load_explicit(&vm->stop, memory_order_acquire)) {
		struct modvm_cpu_exit ex;
		int r;

		if (atomic_load_explicit(&vc->halt_probe, memory_order_acquire)) {
			atomic_store_explicit(&vc->halt_probe, false, memory_order_relaxed);
			answer_halt_probe(vc);
		}
		ex.kind = MODVM_EXIT_NONE;
		r = vm->be->vcpu_run(vc->cpu, &ex);
		atomic_store_explicit(&vc->last_cpu, sched_getcpu(), memory_order_relaxed);
		if (r == -EINTR || r == -EAGAIN) {
			count(vc, MODVM_EXIT_REASON_INTR);
			continue;
		}
		if (r < 0) {
			modvm__vm_fail(vm, "vm '%s' vcpu %u: vcpu_run failed: %s", vm->name,
				       vc->index, modvm_strerror(r));
			return;
		}
		if (!handle_exit(vc, &ex))
			return;
	}
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return ts_ns(&ts);
}

MODVM_INTERNAL void *modvm__vcpu_thread(void *arg)
{
	struct modvm__vcpu *vc = arg;
	struct modvm_vm *vm = vc->vm;
	char tname[16];
	sigset_t block;
	int err = 0;
	bool last;

	/*
	 * The loop thread owns SIGINT/SIGTERM (libev may use a signalfd, which
	 * only works if no other thread takes them).  The backend's kick signal
	 * is left alone.
	 */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	sigaddset(&block, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	snprintf(tname, sizeof(tname), "vcpu%u", vc->index);
	pthread_setname_np(pthread_self(), tname);
	current_vcpu = vc;
	clock_gettime(CLOCK_MONOTONIC, &vc->started);

	pthread_mutex_lock(&vm->lock);
	vc->tid = gettid();
	if (vc->has_affinity)
		pthread_setaffinity_np(pthread_self(), sizeof(vc->affinity), &vc->affinity);
	pthread_mutex_unlock(&vm->lock);

	if (vm->init_fn) {
		err = vm->init_fn(vm, vc->index, vm->init_ud);
		if (err)
			modvm__vm_fail(vm, "vm '%s' vcpu %u: initial state hook failed: %s",
				       vm->name, vc->index, modvm_strerror(err < 0 ? err : -EINVAL));
	}

	/* Nobody enters the guest before RUNNING is published. */
	pthread_mutex_lock(&vm->lock);
	if (err && !vm->init_err)
		vm->init_err = err < 0 ? err : -EINVAL;
	vc->ready = true;
	vm->nready++;
	pthread_cond_broadcast(&vm->cond);
	while (!vm->go)
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);

	if (!err)
		run_loop(vc);

	vc->final_run_ns = thread_cpu_ns();
	pthread_mutex_lock(&vm->lock);
	vc->finished = true;
	last = --vm->running == 0;
	if (last)
		modvm__vm_vcpu_finished_locked(vm);
	pthread_mutex_unlock(&vm->lock);
	modvm__vm_vcpu_after_finish(vm, last);
	current_vcpu = NULL;
	return NULL;
}

/* ---- public: registers, affinity, tid, stats ---- */

static struct modvm__vcpu *own_vcpu(struct modvm_vm *vm, uint32_t index, int *err)
{
	if (index >= vm->nvcpus) {
		*err = -EINVAL;
		return NULL;
	}
	if (current_vcpu != &vm->vcpus[index] || !current_vcpu->cpu) {
		*err = -EPERM;
		return NULL;
	}
	return current_vcpu;
}

MODVM_EXPORT int modvm_vcpu_get_regs(struct modvm_vm *vm, uint32_t index, struct modvm_regs *regs)
{
	int err = 0;
	struct modvm__vcpu *vc = own_vcpu(vm, index, &err);

	return vc ? vm->be->get_regs(vc->cpu, regs) : err;
}

MODVM_EXPORT int modvm_vcpu_set_regs(struct modvm_vm *vm, uint32_t index,
				     const struct modvm_regs *regs)
{
	int err = 0;
	struct modvm__vcpu *vc = own_vcpu(vm, index, &err);

	return vc ? vm->be->set_regs(vc->cpu, regs) : err;
}

MODVM_EXPORT int modvm_vcpu_get_sregs(struct modvm_vm *vm, uint32_t index,
				      struct modvm_sregs *sregs)
{
	int err = 0;
	struct modvm__vcpu *vc = own_vcpu(vm, index, &err);

	return vc ? vm->be->get_sregs(vc->cpu, sregs) : err;
}

MODVM_EXPORT int modvm_vcpu_set_sregs(struct modvm_vm *vm, uint32_t index,
				      const struct modvm_sregs *sregs)
{
	int err = 0;
	struct modvm__vcpu *vc = own_vcpu(vm, index, &err);

	return vc ? vm->be->set_sregs(vc->cpu, sregs) : err;
}

MODVM_EXPORT int modvm_vcpu_set_affinity(struct modvm_vm *vm, uint32_t index,
					 const cpu_set_t *set)
{
	struct modvm__vcpu *vc;
	cpu_set_t all;
	int r = 0;

	if (index >= vm->nvcpus) {
		modvm_log(MODVM_LOG_ERROR, NULL, "vm '%s': affinity for vcpu %u: no such vcpu",
			  vm->name, index);
		return -EINVAL;
	}
	if (!set) {
		/* The kernel ignores CPUs that do not exist (or the cpuset forbids). */
		CPU_ZERO(&all);
		for (int c = 0; c < CPU_SETSIZE; c++)
			CPU_SET(c, &all);
		set = &all;
	}
	if (CPU_COUNT(set) == 0) {
		modvm_log(MODVM_LOG_ERROR, NULL, "vm '%s': affinity for vcpu %u: empty cpu set",
			  vm->name, index);
		return -EINVAL;
	}
	vc = &vm->vcpus[index];
	pthread_mutex_lock(&vm->lock);
	if (vc->spawned && !vc->finished) {
		r = -pthread_setaffinity_np(vc->thread, sizeof(*set), set);
		if (r < 0)
			modvm_log(MODVM_LOG_ERROR, NULL,
				  "vm '%s': cannot pin vcpu %u (tid %d): %s", vm->name, index,
				  vc->tid, strerror(-r));
	}
	if (r == 0) {
		vc->affinity = *set;
		vc->has_affinity = true;
	}
	pthread_mutex_unlock(&vm->lock);
	return r;
}

MODVM_EXPORT int modvm_vm_vcpu_tid(struct modvm_vm *vm, uint32_t index)
{
	int tid;

	if (index >= vm->nvcpus)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	tid = vm->vcpus[index].spawned && !vm->vcpus[index].finished && vm->vcpus[index].tid
		      ? vm->vcpus[index].tid
		      : -ESRCH;
	pthread_mutex_unlock(&vm->lock);
	return tid;
}

MODVM_EXPORT int modvm_vcpu_get_stats(struct modvm_vm *vm, uint32_t index,
				      struct modvm_vcpu_stats *out)
{
	struct modvm__vcpu *vc;
	struct timespec ts;
	clockid_t clk;

	if (index >= vm->nvcpus)
		return -EINVAL;
	vc = &vm->vcpus[index];
	memset(out, 0, sizeof(*out));
	out->vm_id = vm->vm_id;
	out->vcpu = index;
	out->host_cpu = atomic_load_explicit(&vc->last_cpu, memory_order_relaxed);
	for (int i = 0; i < MODVM_EXIT_REASON_COUNT; i++)
		out->exits[i] = atomic_load_explicit(&vc->exits[i], memory_order_relaxed);

	pthread_mutex_lock(&vm->lock);
	out->tid = vc->tid;
	if (vc->tid) {
		out->interval_ns = modvm__now_ns() - ts_ns(&vc->started);
		/* A thread that has not finished is alive: its clock is readable. */
		if (vc->spawned && !vc->finished && pthread_getcpuclockid(vc->thread, &clk) == 0 &&
		    clock_gettime(clk, &ts) == 0)
			out->run_ns = ts_ns(&ts);
		else
			out->run_ns = vc->final_run_ns;
	}
	pthread_mutex_unlock(&vm->lock);
	return 0;
}
