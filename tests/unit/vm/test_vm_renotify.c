/*
 * A VM's virtio devices defer their notifications to the VM's loop
 * (modvm_virtio_renotify through modvm_vm_add_virtio): the rest of a kick
 * beyond the device's budget is taken there, nothing new is deferred once
 * the VM is stopping, and a call still queued when the VM is destroyed
 * finds nothing.  The queue is driven as tests/devices' driver does, in
 * the VM's own RAM.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "event/event.h"
#include "virtio_driver.h"
#include "vm_test.h"

#define QNUM 16u
#define BUDGET 4u

struct sink {
	struct modvm_virtio_dev *dev;
	bool in_loop;		/* the test is inside a loop iteration */
	int notifies, from_loop;
	unsigned taken;
	int renotify_ret;
};

static void sink_notify(void *opaque, uint16_t q)
{
	struct sink *s = opaque;
	struct modvm_virtq *vq = modvm_virtio_queue(s->dev, q);
	struct modvm_virtq_chain *c;
	unsigned n = 0;

	s->notifies++;
	s->from_loop += s->in_loop;
	for (; n < BUDGET && modvm_virtq_pop(vq, &c) > 0; n++)
		modvm_virtq_push(vq, c, 0);
	s->taken += n;
	if (n == BUDGET)
		s->renotify_ret = modvm_virtio_renotify(s->dev, q);
}

static const struct modvm_virtio_device_ops sink_ops = {
	.struct_size = sizeof(struct modvm_virtio_device_ops),
	.device_id = 43,
	.num_queues = 1,
	.queue_max_size = QNUM,
	.queue_notify = sink_notify,
};

static struct fake_backend fb;
static struct modvm_loop *loop;
static struct modvm_bus *bus;
static struct modvm_vm *vm;
static struct sink sink;
static struct vdrv d;

/* A VM with a loop and the sink, its queue live with EVENT_IDX. */
static void make(bool run)
{
	struct modvm_vm_config cfg = { .name = "renotify", .vcpus = 1, .memory_bytes = 2 << 20 };

	loop = modvm__loop_new();
	ck_assert_ptr_nonnull(loop);
	bus = modvm__bus_new(loop);
	ck_assert_ptr_nonnull(bus);
	fake_backend_init(&fb);
	if (run)
		fake_add(&fb, 0, FAKE_SPIN);
	cfg.loop = loop;
	cfg.bus = bus;
	vm = vm_create_cfg(&fb, &cfg);
	memset(&sink, 0, sizeof(sink));
	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(modvm_vm_add_virtio(vm, "sink", &sink_ops, &sink, &d.t), 0);
	d.dev = sink.dev = modvm_virtio_mmio_dev(d.t);
	d.ram = modvm_vm_ram_region(vm, 0)->hva;	/* vdrv's layout fits in 2 MiB */
	vdrv_start(&d, VERSION_1 | EVENT_IDX, QNUM);
	for (uint16_t i = 0; i < QNUM; i++)
		vdrv_set_desc(&d, DESC_GPA, i, BUF_GPA + i, 1, 0, 0);
	sink.notifies = 0;	/* DRIVER_OK looked at the queue: not a kick */
}

/* The VM first, then what its events and calls need. */
static void finish(void)
{
	if (vm)
		modvm_vm_destroy(vm);
	for (int i = 0; i < 5; i++) {
		modvm__loop_run_once(loop);
		modvm__bus_drain(bus);
	}
	modvm__bus_free(bus);
	modvm__loop_free(loop);
}

static void post_and_kick(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		vdrv_post(&d, (uint16_t)(d.avail_idx % QNUM));
	vdrv_kick(&d, 0);
}

/* Runs the loop until the sink took @want chains, for at most @ms. */
static void pump_until(unsigned want, unsigned ms)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (sink.taken < want && ms_since(&t0) < ms) {
		sink.in_loop = true;
		modvm__loop_run_once(loop);
		sink.in_loop = false;
		usleep(1000);
	}
}

START_TEST(rest_taken_on_the_loop)
{
	make(false);
	post_and_kick(10);
	ck_assert_uint_eq(sink.taken, 4);
	ck_assert_int_eq(sink.renotify_ret, 1);
	pump_until(10, 2000);
	ck_assert_uint_eq(sink.taken, 10);
	ck_assert_int_eq(sink.notifies, 3);
	ck_assert_int_eq(sink.from_loop, 2);	/* all but the kick */
	finish();
}
END_TEST

START_TEST(nothing_deferred_once_stopping)
{
	make(true);
	ck_assert_int_eq(modvm_vm_start(vm), 0);
	ck_assert_int_eq(modvm_vm_stop(vm), 0);
	post_and_kick(10);
	ck_assert_uint_eq(sink.taken, 4);
	ck_assert_int_eq(sink.renotify_ret, -ESHUTDOWN);
	pump_until(10, 100);
	ck_assert_uint_eq(sink.taken, 4);
	finish();
}
END_TEST

/* Destroyed with the call still queued on the loop: it runs at the loop's
 * next turn and finds nothing (ASan would name the freed transport). */
START_TEST(queued_call_outlives_the_vm)
{
	make(false);
	post_and_kick(10);
	ck_assert_int_eq(sink.renotify_ret, 1);
	modvm_vm_destroy(vm);
	vm = NULL;
	for (int i = 0; i < 5; i++)
		modvm__loop_run_once(loop);
	ck_assert_int_eq(sink.notifies, 1);
	finish();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vm-renotify");
	TCase *tc = tcase_create("renotify");

	tcase_add_test(tc, rest_taken_on_the_loop);
	tcase_add_test(tc, nothing_deferred_once_stopping);
	tcase_add_test(tc, queued_call_outlives_the_vm);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
