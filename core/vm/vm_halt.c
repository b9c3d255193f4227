/*
 * Noticing a guest that stopped itself without powering off: Linux's
 * `halt`, a kernel that found no way to power off ("reboot: System
 * halted"), a panic with no reboot.  Every vCPU then sits in HLT with
 * interrupts disabled (or waits for a SIPI), inside the kernel's KVM where
 * the VMM sees no exit, and the VM would run forever doing nothing.
 *
 * Once a second, on the loop thread: if every vCPU thread used (nearly) no
 * CPU since the last watch, each is asked, between two of its runs,
 * whether it can still run by itself (the backend's vcpu_halted).  Two
 * watches in a row that find every vCPU halted end the VM as stopped, with
 * one line saying why.  A busy guest is never disturbed; an idle one gets
 * one extra exit per vCPU per second.
 */
#include <stdio.h>
#include <string.h>

#include "vm/vm.h"

#define HALT_WATCH_S 1.0
#define HALT_WATCH_NS 1000000000ull
#define IDLE_CPU_NS (HALT_WATCH_NS / 50)	/* under 2% of a CPU counts as idle */
#define HALT_STRIKES 2

/* True if no vCPU thread used more than IDLE_CPU_NS since the last watch. */
static bool all_idle(struct modvm_vm *vm)
{
	bool idle = true;

	for (uint32_t i = 0; i < vm->nvcpus; i++) {
		struct modvm__vcpu *vc = &vm->vcpus[i];
		struct modvm_vcpu_stats st;

		modvm_vcpu_get_stats(vm, i, &st);
		if (st.run_ns - vc->watch_run_ns > IDLE_CPU_NS)
			idle = false;
		vc->watch_run_ns = st.run_ns;
	}
	return idle;
}

static bool all_answered_halted(struct modvm_vm *vm)
{
	for (uint32_t i = 0; i < vm->nvcpus; i++)
		if (atomic_load_explicit(&vm->vcpus[i].halted, memory_order_acquire) != 1)
			return false;
	return true;
}

static void halt_tick(struct modvm_timer *timer, void *ud)
{
	struct modvm_vm *vm = ud;

	(void)timer;
	bool idle = all_idle(vm);
	bool halted = idle && all_answered_halted(vm);

	vm->halt_strikes = halted ? vm->halt_strikes + 1 : 0;
	if (vm->halt_strikes >= HALT_STRIKES) {
		pthread_mutex_lock(&vm->lock);
		bool live = vm->state == MODVM_VM_RUNNING;
		if (live)
			vm->halted = true;
		pthread_mutex_unlock(&vm->lock);
		if (!live)
			return;
		modvm_log(MODVM_LOG_WARN, NULL,
			  "vm '%s': every vCPU halted with interrupts disabled (the guest stopped "
			  "itself without powering off); ending the VM", vm->name);
		modvm__vm_end(vm, false, NULL);
		return;
	}
	/* Ask again; the lock keeps the vCPUs from being destroyed meanwhile. */
	pthread_mutex_lock(&vm->lock);
	if (vm->state == MODVM_VM_RUNNING) {
		for (uint32_t i = 0; i < vm->nvcpus; i++) {
			struct modvm__vcpu *vc = &vm->vcpus[i];

			atomic_store_explicit(&vc->halted, -1, memory_order_relaxed);
			if (!idle || !vc->cpu)
				continue;
			atomic_store_explicit(&vc->halt_probe, true, memory_order_release);
			vm->be->vcpu_kick(vc->cpu);
		}
	}
	pthread_mutex_unlock(&vm->lock);
}

MODVM_INTERNAL void modvm__vm_halt_watch_start(struct modvm_vm *vm)
{
	if (!vm->loop || !modvm__vcpu_can_tell_halted(vm))
		return;
	vm->halt_strikes = 0;
	vm->halt_timer = modvm_timer_start(vm->loop, HALT_WATCH_S, HALT_WATCH_S, halt_tick, vm);
	if (!vm->halt_timer)
		modvm_log(MODVM_LOG_WARN, NULL,
			  "vm '%s': no halt watch (out of memory): a guest that halts itself "
			  "will not end the VM", vm->name);
}

MODVM_INTERNAL void modvm__vm_halt_watch_stop(struct modvm_vm *vm)
{
	modvm_timer_stop(vm->halt_timer);
	vm->halt_timer = NULL;
}

MODVM_INTERNAL bool modvm__vm_halted(struct modvm_vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	bool h = vm->halted;
	pthread_mutex_unlock(&vm->lock);
	return h;
}

MODVM_INTERNAL bool modvm__vm_reset(struct modvm_vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	bool r = vm->reset;
	pthread_mutex_unlock(&vm->lock);
	return r;
}
