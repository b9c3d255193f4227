/*
 * modvm_virtio_renotify: a device that stops on its own budget with
 * chains still available gets queue_notify again from the transport's
 * executor, since a driver with RING_EVENT_IDX does not kick for buffers
 * it added while the device worked.  A sink device (pops up to its budget
 * per call) and an executor the test runs by hand, so every ordering is
 * chosen: reset, queue disable and destroy before the call runs, a call
 * running while the transport is destroyed, an executor that refuses.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "virtio_driver.h"

#define QNUM 16u
#define BUDGET 4u

struct sink {
	struct modvm_virtio_dev *dev;
	unsigned budget;
	int notifies[2];
	unsigned taken[2];
	int renotify_ret;
	/* a notify that waits here (destroy while a call runs) */
	bool block;
	bool inside;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static struct vdrv d;
static struct sink sink;

/* ---- an executor run by hand ---- */

#define MAX_CALLS 8

static struct {
	void (*fn)(void *);
	void *arg;
} calls[MAX_CALLS];
static unsigned ncalls, posts;
static int defer_error;

static int defer(void *ctx, void (*fn)(void *), void *arg)
{
	ck_assert_ptr_eq(ctx, &calls);
	if (defer_error)
		return defer_error;
	ck_assert_uint_lt(ncalls, MAX_CALLS);
	calls[ncalls].fn = fn;
	calls[ncalls].arg = arg;
	ncalls++;
	posts++;
	return 0;
}

/* Runs the calls posted so far (not those they post); how many ran. */
static unsigned run_calls(void)
{
	unsigned n = ncalls;

	for (unsigned i = 0; i < n; i++)
		calls[i].fn(calls[i].arg);
	memmove(calls, calls + n, (ncalls - n) * sizeof(calls[0]));
	ncalls -= n;
	return n;
}

/* ---- the device ---- */

static void sink_notify(void *opaque, uint16_t q)
{
	struct sink *s = opaque;
	struct modvm_virtq *vq = modvm_virtio_queue(s->dev, q);
	struct modvm_virtq_chain *c;
	unsigned n = 0;

	s->notifies[q]++;
	if (s->block) {
		pthread_mutex_lock(&s->mu);
		s->inside = true;
		pthread_cond_broadcast(&s->cv);
		while (s->block)
			pthread_cond_wait(&s->cv, &s->mu);
		pthread_mutex_unlock(&s->mu);
	}
	for (; n < s->budget && modvm_virtq_pop(vq, &c) > 0; n++)
		modvm_virtq_push(vq, c, 0);
	s->taken[q] += n;
	modvm_virtio_notify_used(s->dev, q);
	if (n == s->budget)
		s->renotify_ret = modvm_virtio_renotify(s->dev, q);
}

static const struct modvm_virtio_device_ops sink_ops = {
	.struct_size = sizeof(struct modvm_virtio_device_ops),
	.device_id = 43,
	.num_queues = 2,
	.queue_max_size = QNUM,
	.queue_notify = sink_notify,
};

/* Queue 0 live, every descriptor a one-byte buffer of its own. */
static void start(void)
{
	vdrv_start(&d, VERSION_1 | EVENT_IDX, QNUM);
	for (uint16_t i = 0; i < QNUM; i++)
		vdrv_set_desc(&d, DESC_GPA, i, BUF_GPA + i, 1, 0, 0);
	sink.notifies[0] = 0;	/* DRIVER_OK looked at the queue: not a kick */
}

static void make(bool with_defer)
{
	struct modvm_virtio_mmio_config cfg;

	vdrv_init(&d, &cfg);
	memset(&sink, 0, sizeof(sink));
	pthread_mutex_init(&sink.mu, NULL);
	pthread_cond_init(&sink.cv, NULL);
	sink.budget = BUDGET;
	ncalls = posts = 0;
	defer_error = 0;
	cfg.name = "sink0";
	if (with_defer) {
		cfg.defer = defer;
		cfg.defer_ctx = &calls;
	}
	ck_assert_int_eq(modvm_virtio_mmio_create(&cfg, &sink_ops, &sink, &d.t), 0);
	d.dev = sink.dev = modvm_virtio_mmio_dev(d.t);
	start();
}

/* After the transport is gone (or with it, for @t). */
static void finish(struct modvm_virtio_mmio *t)
{
	modvm_virtio_mmio_destroy(t);
	d.t = NULL;
	vdrv_fini(&d);
	pthread_cond_destroy(&sink.cv);
	pthread_mutex_destroy(&sink.mu);
}

static void destroy(void)
{
	finish(d.t);
}

/* Makes @n chains available on queue 0; whether the driver would kick
 * (vring_need_event against avail_event, as Linux decides). */
static bool post(unsigned n)
{
	uint16_t old = d.avail_idx;

	for (unsigned i = 0; i < n; i++)
		vdrv_post(&d, (uint16_t)(d.avail_idx % QNUM));
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t event = vdrv_avail_event(&d), nw = d.avail_idx;
	return (uint16_t)(nw - event - 1) < (uint16_t)(nw - old);
}

static unsigned used_count(void)
{
	uint32_t id, len;
	unsigned n = 0;

	while (vdrv_get_used(&d, &id, &len))
		n++;
	return n;
}

/* More than a budget's worth available: one kick, the rest through the
 * executor, one call at a time, each behind the previous. */
START_TEST(rest_taken_later)
{
	make(true);
	ck_assert(post(10));
	vdrv_kick(&d, 0);
	ck_assert_uint_eq(sink.taken[0], 4);
	ck_assert_int_eq(sink.renotify_ret, 1);
	ck_assert_uint_eq(ncalls, 1);
	/* the driver adds more meanwhile: avail_event lags, it does not kick */
	ck_assert(!post(2));
	ck_assert_uint_eq(run_calls(), 1);
	ck_assert_uint_eq(sink.taken[0], 8);
	ck_assert_uint_eq(ncalls, 1);	/* posted again by the call itself */
	ck_assert_uint_eq(run_calls(), 1);
	ck_assert_uint_eq(sink.taken[0], 12);
	/* 12 is the whole ring so far: the budget ran out on an empty ring,
	 * so nothing is posted, but avail_event asks for the next one */
	ck_assert_int_eq(sink.renotify_ret, 0);
	ck_assert_uint_eq(ncalls, 0);
	ck_assert_uint_eq(vdrv_avail_event(&d), 12);
	ck_assert_uint_eq(used_count(), 12);
	ck_assert_int_eq(sink.notifies[0], 3);
	ck_assert(post(1));	/* a kick, as the driver sees it */
	destroy();
}
END_TEST

/* The budget ending exactly at the last entry leaves avail_event one
 * behind what a pop finding nothing would publish: without renotify the
 * driver's next buffer gets no kick. */
START_TEST(drained_by_the_budget_rearms)
{
	make(false);
	ck_assert(post(4));
	vdrv_kick(&d, 0);
	ck_assert_uint_eq(sink.taken[0], 4);
	ck_assert_int_eq(sink.renotify_ret, 0);
	ck_assert_uint_eq(vdrv_avail_event(&d), 4);
	ck_assert(post(1));
	vdrv_kick(&d, 0);
	ck_assert_uint_eq(sink.taken[0], 5);
	ck_assert_uint_eq(used_count(), 5);
	destroy();
}
END_TEST

/* Without an executor: -ENOTSUP when chains wait, and they wait for the
 * driver's next kick. */
START_TEST(no_executor)
{
	make(false);
	post(6);
	vdrv_kick(&d, 0);
	ck_assert_uint_eq(sink.taken[0], 4);
	ck_assert_int_eq(sink.renotify_ret, -ENOTSUP);
	ck_assert_int_eq(modvm_virtio_renotify(d.dev, 2), -EINVAL);
	destroy();
}
END_TEST

/* Two queues asking share one posted call, which serves both. */
START_TEST(one_call_for_every_queue)
{
	make(true);
	ck_assert_uint_eq(vdrv_setup_queue(&d, 1, QNUM), 1);
	for (uint16_t i = 0; i < QNUM; i++)
		vdrv_set_desc(&d, DESC_GPA + 0x4000, i, BUF_GPA + 0x100 + i, 1, 0, 0);
	/* queue 1: avail ring at AVAIL_GPA + 0x4000 */
	for (uint16_t i = 0; i < 6; i++)
		*(uint16_t *)gpa(&d, AVAIL_GPA + 0x4000 + 4 + 2u * i) = i;
	__atomic_store_n((uint16_t *)gpa(&d, AVAIL_GPA + 0x4000 + 2), 6, __ATOMIC_RELEASE);
	post(6);
	vdrv_kick(&d, 0);
	vdrv_kick(&d, 1);
	ck_assert_uint_eq(sink.taken[0], 4);
	ck_assert_uint_eq(sink.taken[1], 4);
	ck_assert_uint_eq(ncalls, 1);
	ck_assert_uint_eq(run_calls(), 1);
	ck_assert_uint_eq(sink.taken[0], 6);
	ck_assert_uint_eq(sink.taken[1], 6);
	ck_assert_int_eq(sink.notifies[0], 2);
	ck_assert_int_eq(sink.notifies[1], 2);
	ck_assert_uint_eq(ncalls, 0);
	destroy();
}
END_TEST

/* A reset, or the queue turned off, before the call runs: it finds
 * nothing to do, and the device after the reset nothing of before. */
START_TEST(dropped_by_reset)
{
	make(true);
	post(10);
	vdrv_kick(&d, 0);
	ck_assert_uint_eq(ncalls, 1);
	mmio_write(&d, MODVM_VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(run_calls(), 1);
	ck_assert_int_eq(sink.notifies[0], 1);
	ck_assert_uint_eq(sink.taken[0], 4);

	/* set up again: a new post, then QueueReady=0 */
	start();
	post(10);
	vdrv_kick(&d, 0);
	ck_assert_uint_eq(ncalls, 1);
	mmio_write(&d, MODVM_VIRTIO_MMIO_QUEUE_SEL, 0);
	mmio_write(&d, MODVM_VIRTIO_MMIO_QUEUE_READY, 0);
	ck_assert_uint_eq(run_calls(), 1);
	ck_assert_int_eq(sink.notifies[0], 1);
	destroy();
}
END_TEST

/* Destroyed with a call still posted: the call runs later and touches
 * nothing (ASan would name the freed transport), and frees its token. */
START_TEST(posted_call_outlives_transport)
{
	make(true);
	post(10);
	vdrv_kick(&d, 0);
	ck_assert_uint_eq(ncalls, 1);
	modvm_virtio_mmio_destroy(d.t);
	d.t = NULL;
	ck_assert_uint_eq(run_calls(), 1);
	ck_assert_int_eq(sink.notifies[0], 1);
	finish(NULL);
}
END_TEST

static void *run_calls_thread(void *arg)
{
	(void)arg;
	run_calls();
	return NULL;
}

static void *destroy_thread(void *arg)
{
	bool *done = arg;

	modvm_virtio_mmio_destroy(d.t);
	__atomic_store_n(done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Destroy while the call is inside the device waits until it is out. */
START_TEST(destroy_waits_for_a_running_call)
{
	pthread_t runner, killer;
	bool destroyed = false;

	make(true);
	post(10);
	vdrv_kick(&d, 0);
	ck_assert_uint_eq(ncalls, 1);
	sink.block = true;
	ck_assert_int_eq(pthread_create(&runner, NULL, run_calls_thread, NULL), 0);
	pthread_mutex_lock(&sink.mu);
	while (!sink.inside)
		pthread_cond_wait(&sink.cv, &sink.mu);
	pthread_mutex_unlock(&sink.mu);
	ck_assert_int_eq(pthread_create(&killer, NULL, destroy_thread, &destroyed), 0);
	usleep(100 * 1000);
	ck_assert(!__atomic_load_n(&destroyed, __ATOMIC_ACQUIRE));
	pthread_mutex_lock(&sink.mu);
	sink.block = false;
	pthread_cond_broadcast(&sink.cv);
	pthread_mutex_unlock(&sink.mu);
	pthread_join(runner, NULL);
	pthread_join(killer, NULL);
	ck_assert(destroyed);
	ck_assert_uint_eq(sink.taken[0], 8);
	/* the call it posted again runs into nothing */
	ck_assert_uint_eq(run_calls(), 1);
	ck_assert_uint_eq(sink.taken[0], 8);
	finish(NULL);
}
END_TEST

/* An executor that refuses: the error comes back, nothing stays marked
 * posted, and the next kick can post again. */
START_TEST(executor_refuses)
{
	make(true);
	modvm_log_set_level(MODVM_LOG_ERROR);
	defer_error = -ENOMEM;
	post(10);
	vdrv_kick(&d, 0);
	ck_assert_int_eq(sink.renotify_ret, -ENOMEM);
	ck_assert_uint_eq(ncalls, 0);
	defer_error = -ESHUTDOWN;
	vdrv_kick(&d, 0);
	ck_assert_int_eq(sink.renotify_ret, -ESHUTDOWN);
	defer_error = 0;
	ck_assert_int_eq(modvm_virtio_renotify(d.dev, 0), 1);
	ck_assert_uint_eq(ncalls, 1);
	ck_assert_uint_eq(run_calls(), 1);
	ck_assert_uint_eq(sink.taken[0], 10);
	destroy();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio-renotify");
	TCase *tc = tcase_create("renotify");

	tcase_add_test(tc, rest_taken_later);
	tcase_add_test(tc, drained_by_the_budget_rearms);
	tcase_add_test(tc, no_executor);
	tcase_add_test(tc, one_call_for_every_queue);
	tcase_add_test(tc, dropped_by_reset);
	tcase_add_test(tc, posted_call_outlives_transport);
	tcase_add_test(tc, destroy_waits_for_a_running_call);
	tcase_add_test(tc, executor_refuses);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
