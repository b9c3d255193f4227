/* vm.lifecycle order, vcpu.stats and the completion callback, through a
 * real loop and bus. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "event/event.h"
#include "vm/vm.h"
#include "vm_test.h"

#define MiB (1ULL << 20)

struct seen {
	int n;
	uint32_t states[16];
	char name[MODVM_NAME_MAX];
	uint32_t vm_id, vcpus;
	uint64_t memory;
	int stats[4];
	uint64_t stats_exits[4];
	int done_calls;
	bool done_on_loop;
	struct modvm_loop *loop;
};

static void on_lifecycle(const struct modvm_vm_lifecycle *ev, void *ud)
{
	struct seen *s = ud;

	if (s->n < 16)
		s->states[s->n++] = ev->state;
	snprintf(s->name, sizeof(s->name), "%s", ev->vm_name);
	s->vm_id = ev->vm_id;
	s->vcpus = ev->vcpus;
	s->memory = ev->memory_bytes;
}

static void on_stats(const struct modvm_vcpu_stats *ev, void *ud)
{
	struct seen *s = ud;

	if (ev->vcpu < 4) {
		s->stats[ev->vcpu]++;
		s->stats_exits[ev->vcpu] = ev->exits[MODVM_EXIT_REASON_MMIO];
	}
}

static void on_done(struct modvm_vm *vm, void *ud)
{
	struct seen *s = ud;

	(void)vm;
	s->done_calls++;
	s->done_on_loop = modvm_loop_on_thread(s->loop);
}

/* Lets posted calls and queued events reach the handlers. */
static void pump(struct modvm_loop *loop, struct modvm_bus *bus, int ms)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		modvm__loop_run_once(loop);
		modvm__bus_drain(bus);
		usleep(1000);
	} while ((int)ms_since(&t0) < ms);
}

static struct modvm_vm *create_with_bus(struct fake_backend *fb, struct modvm_loop *loop,
					struct modvm_bus *bus, const char *name, uint32_t vcpus,
					uint32_t stats_ms)
{
	struct modvm_vm_config cfg = {
		.name = name, .vm_id = 3, .vcpus = vcpus, .memory_bytes = 2 * MiB,
		.bus = bus, .loop = loop, .stats_interval_ms = stats_ms,
	};

	return vm_create_cfg(fb, &cfg);
}

START_TEST(lifecycle_in_order_when_guest_ends)
{
	struct modvm_loop *loop = modvm__loop_new();
	struct modvm_bus *bus = modvm__bus_new(loop);
	struct fake_backend fb;
	struct seen s = { .loop = loop };
	struct modvm_vm *vm;

	ck_assert_ptr_nonnull(bus);
	ck_assert_int_gt(modvm_subscribe_vm_lifecycle(bus, 0, on_lifecycle, &s), 0);
	fake_backend_init(&fb);
	fake_mmio(&fb, 0, 0xd0000000, 4, true, 0);
	fake_add(&fb, 0, MODVM_EXIT_SYSTEM_OFF);
	fake_add(&fb, 1, FAKE_SPIN);
	vm = create_with_bus(&fb, loop, bus, "life", 2, 0);
	ck_assert_int_eq(modvm_vm_set_done_callback(vm, on_done, &s), 0);
	pump(loop, bus, 5);
	ck_assert_int_eq(s.n, 1);
	ck_assert_uint_eq(s.states[0], MODVM_VM_CREATED);
	ck_assert_str_eq(s.name, "life");
	ck_assert_uint_eq(s.vm_id, 3);
	ck_assert_uint_eq(s.vcpus, 2);
	ck_assert_uint_eq(s.memory, 2 * MiB);

	ck_assert_int_eq(modvm_vm_start(vm), 0);
	ck_assert_int_eq(modvm_vm_wait(vm, 5000), 0);
	pump(loop, bus, 10);
	ck_assert_int_eq(s.n, 5);
	ck_assert_uint_eq(s.states[1], MODVM_VM_STARTING);
	ck_assert_uint_eq(s.states[2], MODVM_VM_RUNNING);
	ck_assert_uint_eq(s.states[3], MODVM_VM_STOPPING);
	ck_assert_uint_eq(s.states[4], MODVM_VM_STOPPED);
	ck_assert_int_eq(s.done_calls, 1);
	ck_assert(s.done_on_loop);

	modvm_vm_destroy(vm);
	pump(loop, bus, 2);
	ck_assert_int_eq(s.n, 5);	/* nothing after the terminal state */
	modvm__bus_free(bus);
	modvm__loop_free(loop);
}
END_TEST

START_TEST(lifecycle_failed_and_stopped_by_host)
{
	struct modvm_loop *loop = modvm__loop_new();
	struct modvm_bus *bus = modvm__bus_new(loop);
	struct fake_backend fb;
	struct seen s = { .loop = loop };
	struct modvm_vm *vm;
	const uint32_t failed[] = { MODVM_VM_CREATED, MODVM_VM_STARTING, MODVM_VM_RUNNING,
				    MODVM_VM_STOPPING, MODVM_VM_FAILED };
	const uint32_t stopped[] = { MODVM_VM_CREATED, MODVM_VM_STARTING, MODVM_VM_RUNNING,
				     MODVM_VM_STOPPING, MODVM_VM_STOPPED };
	const uint32_t unstarted[] = { MODVM_VM_CREATED, MODVM_VM_STOPPED };

	ck_assert_int_gt(modvm_subscribe_vm_lifecycle(bus, 0, on_lifecycle, &s), 0);
	fake_backend_init(&fb);
	fake_add(&fb, 0, FAKE_SPIN);
	fake_add(&fb, 1, MODVM_EXIT_INTERNAL_ERROR)->raw_reason = 17;
	vm = create_with_bus(&fb, loop, bus, "bad", 2, 0);
	errors_start();
	ck_assert_int_eq(modvm_vm_start(vm), 0);
	ck_assert_int_eq(modvm_vm_wait(vm, 5000), 0);
	errors_stop();
	modvm_vm_destroy(vm);
	pump(loop, bus, 5);
	ck_assert_int_eq(s.n, 5);
	ck_assert_mem_eq(s.states, failed, sizeof(failed));

	s.n = 0;
	fake_backend_init(&fb);
	fake_add(&fb, 0, FAKE_SPIN);
	vm = create_with_bus(&fb, loop, bus, "host", 1, 0);
	ck_assert_int_eq(modvm_vm_start(vm), 0);
	ck_assert_int_eq(modvm_vm_stop(vm), 0);
	modvm_vm_destroy(vm);
	pump(loop, bus, 5);
	ck_assert_int_eq(s.n, 5);
	ck_assert_mem_eq(s.states, stopped, sizeof(stopped));

	s.n = 0;
	vm = create_with_bus(&fb, loop, bus, "never", 1, 0);
	modvm_vm_destroy(vm);
	pump(loop, bus, 5);
	ck_assert_int_eq(s.n, 2);
	ck_assert_mem_eq(s.states, unstarted, sizeof(unstarted));
	modvm__bus_free(bus);
	modvm__loop_free(loop);
}
END_TEST

START_TEST(periodic_vcpu_stats)
{
	struct modvm_loop *loop = modvm__loop_new();
	struct modvm_bus *bus = modvm__bus_new(loop);
	struct fake_backend fb;
	struct seen s = { .loop = loop };
	struct modvm_vm *vm;

	ck_assert_int_gt(modvm_subscribe_vcpu_stats(bus, 0, on_stats, &s), 0);
	fake_backend_init(&fb);
	fake_mmio(&fb, 0, 0xd0000000, 4, true, 0);
	fake_mmio(&fb, 0, 0xd0000000, 4, true, 0);
	fake_add(&fb, 0, FAKE_SPIN);
	fake_add(&fb, 1, FAKE_SPIN);
	vm = create_with_bus(&fb, loop, bus, "stats", 2, 20);
	ck_assert_int_eq(modvm_vm_start(vm), 0);
	pump(loop, bus, 150);
	ck_assert_int_ge(s.stats[0], 2);
	ck_assert_int_ge(s.stats[1], 2);
	ck_assert_uint_eq(s.stats_exits[0], 2);
	ck_assert_uint_eq(s.stats_exits[1], 0);
	modvm_vm_destroy(vm);
	pump(loop, bus, 2);	/* the lifecycle posts name the bus */
	modvm__bus_free(bus);
	modvm__loop_free(loop);
}
END_TEST

/* Destroying the VM before the loop ran the completion call cancels it. */
START_TEST(done_callback_cancelled_by_destroy)
{
	struct modvm_loop *loop = modvm__loop_new();
	struct modvm_bus *bus = modvm__bus_new(loop);
	struct fake_backend fb;
	struct seen s = { .loop = loop };
	struct modvm_vm *vm;

	fake_backend_init(&fb);
	vm = create_with_bus(&fb, loop, bus, "cancel", 1, 0);
	ck_assert_int_eq(modvm_vm_set_done_callback(vm, on_done, &s), 0);
	ck_assert_int_eq(modvm_vm_start(vm), 0);
	ck_assert_int_eq(modvm_vm_wait(vm, 5000), 0);
	modvm_vm_destroy(vm);
	pump(loop, bus, 5);
	ck_assert_int_eq(s.done_calls, 0);
	modvm__bus_free(bus);
	modvm__loop_free(loop);
}
END_TEST

/*
 * Every vCPU idle and halted for good (the backend says so): the halt
 * watch ends the VM as stopped, with one warning, after two watches.  The
 * same idle VM whose vCPUs could still run is left alone.
 */
static void halt_watch(int answer)
{
	struct modvm_loop *loop = modvm__loop_new();
	struct modvm_bus *bus = modvm__bus_new(loop);
	struct fake_backend fb;
	struct seen s = { .loop = loop };
	struct timespec t0;

	fake_backend_init(&fb);
	atomic_store(&fb.halted_answer, answer);
	fake_add(&fb, 0, FAKE_SPIN);
	fake_add(&fb, 1, FAKE_SPIN);
	struct modvm_vm *vm = create_with_bus(&fb, loop, bus, "halt", 2, 0);
	ck_assert_int_eq(modvm_vm_set_done_callback(vm, on_done, &s), 0);
	errors_start();
	ck_assert_int_eq(modvm_vm_start(vm), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (modvm_vm_state(vm) == MODVM_VM_RUNNING && ms_since(&t0) < 5000)
		pump(loop, bus, 50);
	/* STOPPING comes first; the vCPUs join before STOPPED (a loaded host
	 * shows the gap). */
	while (modvm_vm_state(vm) == MODVM_VM_STOPPING && ms_since(&t0) < 10000)
		pump(loop, bus, 10);
	if (answer == 1) {
		ck_assert_int_eq(modvm_vm_state(vm), MODVM_VM_STOPPED);
		ck_assert(modvm__vm_halted(vm));
		ck_assert_str_eq(modvm_vm_error(vm), "");
		/* two watches of two vCPUs, the first one after a second */
		ck_assert_int_ge(atomic_load(&fb.halted_asked), 4);
		ck_assert_uint_ge(ms_since(&t0), 1900);
		pump(loop, bus, 10);
		ck_assert_int_eq(s.done_calls, 1);
	} else {
		ck_assert_int_eq(modvm_vm_state(vm), MODVM_VM_RUNNING);
		ck_assert(!modvm__vm_halted(vm));
		ck_assert_int_ge(atomic_load(&fb.halted_asked), 6);
	}
	errors_stop();
	modvm_vm_destroy(vm);
	pump(loop, bus, 2);	/* the last lifecycle events, while the bus lives */
	modvm__bus_free(bus);
	modvm__loop_free(loop);
}

START_TEST(halted_guest_ends_the_vm)
{
	halt_watch(1);
}
END_TEST

START_TEST(idle_guest_keeps_running)
{
	halt_watch(0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vm-events");
	TCase *tc = tcase_create("events");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, lifecycle_in_order_when_guest_ends);
	tcase_add_test(tc, lifecycle_failed_and_stopped_by_host);
	tcase_add_test(tc, periodic_vcpu_stats);
	tcase_add_test(tc, done_callback_cancelled_by_destroy);
	tcase_add_test(tc, halted_guest_ends_the_vm);
	tcase_add_test(tc, idle_guest_keeps_running);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
