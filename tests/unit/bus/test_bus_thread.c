/*
 * The event bus across threads: the queue, its order, its bound and what
 * happens to events still queued when the bus goes away.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event/event.h"
#include "bus_fixture.h"

/* Big enough that a few dozen fill the queue's 64 MiB bound quickly. */
struct slab { unsigned char bytes[1u << 20]; };
MODVM_EVENT(slab, "test.bus.slab", struct slab, 1)

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, fn, arg), 0);
	return t;
}

/* ---- two producers, one loop ----
 * No ck_assert in the hot loops: each one costs Check a write(2). */
#define PER_PRODUCER 100000
struct xt {
	struct fixture f;
	uint64_t next[2];
	uint64_t received;
	int out_of_order;
	int off_thread;
	int bad_producer;
};

static void xt_handler(const struct ping *p, void *ud)
{
	struct xt *x = ud;
	if (!modvm_loop_on_thread(x->f.loop))
		x->off_thread++;
	if (p->producer >= 2) {
		x->bad_producer++;
		return;
	}
	if (p->seq != x->next[p->producer])
		x->out_of_order++;
	x->next[p->producer] = p->seq + 1;
	if (++x->received == 2 * PER_PRODUCER)
		modvm_loop_break(x->f.loop);
}

struct producer_arg { struct modvm_bus *bus; uint32_t id; uint64_t n; int again, failed; };
static void *produce(void *arg)
{
	struct producer_arg *a = arg;
	for (uint64_t i = 0; i < a->n; i++) {
		struct ping p = { .seq = i, .producer = a->id };
		int r;
		while ((r = modvm_publish_ping(a->bus, &p)) == -EAGAIN)
			a->again++;
		if (r < 0)
			a->failed++;
	}
	return NULL;
}

START_TEST(two_producers_nothing_lost_per_producer_order_kept)
{
	struct xt x = { .f = make() };
	ck_assert_int_gt(modvm_subscribe_ping(x.f.bus, 0, xt_handler, &x), 0);
	struct producer_arg args[2] = { { x.f.bus, 0, PER_PRODUCER, 0, 0 },
					{ x.f.bus, 1, PER_PRODUCER, 0, 0 } };
	pthread_t t[2] = { spawn(produce, &args[0]), spawn(produce, &args[1]) };
	modvm__loop_run(x.f.loop);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(args[0].failed + args[1].failed, 0);
	ck_assert_int_eq(x.bad_producer, 0);
	ck_assert_uint_eq(x.received, 2 * PER_PRODUCER);
	ck_assert_int_eq(x.out_of_order, 0);
	ck_assert_int_eq(x.off_thread, 0);
	ck_assert_uint_eq(x.next[0], PER_PRODUCER);
	ck_assert_uint_eq(x.next[1], PER_PRODUCER);
	struct modvm_bus_stats st = stats(x.f.bus, "test.bus.ping");
	ck_assert_uint_eq(st.published, 2 * PER_PRODUCER);
	ck_assert_uint_eq(st.delivered, 2 * PER_PRODUCER);
	ck_assert_uint_eq(st.dropped, (uint64_t)(args[0].again + args[1].again));
	destroy(&x.f);
}
END_TEST

/* ---- queued, drained, discarded ---- */
static void record(const struct ping *p, void *ud)
{
	struct ping *log = ud;
	log[log[0].pad++ + 1] = *p;
}

static void *publish_three(void *bus)
{
	for (uint64_t i = 1; i <= 3; i++) {
		struct ping p = { .seq = i * 10 };
		ck_assert_int_eq(modvm_publish_ping(bus, &p), 0);
	}
	return NULL;
}

START_TEST(queued_events_wait_for_the_loop_thread_in_order)
{
	struct fixture f = make();
	struct ping log[8] = { { 0 } };
	modvm_subscribe_ping(f.bus, 0, record, log);
	pthread_join(spawn(publish_three, f.bus), NULL);
	ck_assert_uint_eq(log[0].pad, 0);	/* queued, not delivered on the wrong thread */
	struct modvm_bus_stats st = stats(f.bus, "test.bus.ping");
	ck_assert_uint_eq(st.published, 3);
	ck_assert_uint_eq(st.delivered, 0);
	modvm__bus_drain(f.bus);
	ck_assert_uint_eq(log[0].pad, 3);
	ck_assert_uint_eq(log[1].seq, 10);
	ck_assert_uint_eq(log[2].seq, 20);
	ck_assert_uint_eq(log[3].seq, 30);
	modvm__bus_drain(f.bus);	/* nothing left: nothing delivered twice */
	ck_assert_uint_eq(log[0].pad, 3);
	ck_assert_uint_eq(stats(f.bus, "test.bus.ping").delivered, 3);
	destroy(&f);
}
END_TEST

START_TEST(loop_iteration_delivers_queued_events)
{
	struct fixture f = make();
	struct ping log[8] = { { 0 } };
	modvm_subscribe_ping(f.bus, 0, record, log);
	pthread_join(spawn(publish_three, f.bus), NULL);
	for (int i = 0; i < 10 && log[0].pad < 3; i++)
		modvm__loop_run_once(f.loop);
	ck_assert_uint_eq(log[0].pad, 3);
	ck_assert_uint_eq(log[3].seq, 30);
	destroy(&f);
}
END_TEST

START_TEST(events_queued_at_free_are_discarded_not_leaked)
{
	struct fixture f = make();
	struct ping log[8] = { { 0 } };
	modvm_subscribe_ping(f.bus, 0, record, log);
	pthread_join(spawn(publish_three, f.bus), NULL);
	destroy(&f);	/* ASan: the queued copies must be freed */
	ck_assert_uint_eq(log[0].pad, 0);	/* and never delivered */
}
END_TEST

/* ---- trace numbers are taken at publish time ---- */
#define TRACE_MAX 8
static char trace[TRACE_MAX][256];
static int traced;
static void capture_info(enum modvm_log_level level, const char *line, void *ud)
{
	(void)ud;
	if (level == MODVM_LOG_INFO && traced < TRACE_MAX)
		snprintf(trace[traced++], sizeof(trace[0]), "%s", line);
}

START_TEST(trace_numbers_queued_events_in_publish_order)
{
	struct fixture f = make();
	struct ping log[8] = { { 0 } };
	modvm_subscribe_ping(f.bus, 2, record, log);
	modvm__bus_set_trace(f.bus, true);
	modvm_log_set_level(MODVM_LOG_INFO);
	modvm_log_set_sink(capture_info, NULL);
	pthread_join(spawn(publish_three, f.bus), NULL);
	struct ping p = { .seq = 99 };
	modvm_publish_ping(f.bus, &p);	/* synchronous: overtakes the queue */
	modvm__bus_drain(f.bus);
	modvm_log_set_sink(NULL, NULL);
	modvm_log_set_level(MODVM_LOG_WARN);
	ck_assert_int_eq(traced, 4);
	ck_assert_str_eq(trace[0], "modvm: info: event test.bus.ping #4 -> core (prio 2)");
	ck_assert_str_eq(trace[1], "modvm: info: event test.bus.ping #1 -> core (prio 2)");
	ck_assert_str_eq(trace[2], "modvm: info: event test.bus.ping #2 -> core (prio 2)");
	ck_assert_str_eq(trace[3], "modvm: info: event test.bus.ping #3 -> core (prio 2)");
	destroy(&f);
}
END_TEST

/* ---- the queue's bound ---- */
struct flood { struct modvm_bus *bus; int accepted, refused, other; };
static void *flood(void *arg)
{
	struct flood *fl = arg;
	struct slab *s = calloc(1, sizeof(*s));
	ck_assert_ptr_nonnull(s);
	/* Fill until refused, then try twice more: all three are drops. */
	while (fl->refused < 3) {
		s->bytes[0] = (unsigned char)fl->accepted;
		int r = modvm_publish_slab(fl->bus, s);
		if (r == 0 && fl->refused == 0)
			fl->accepted++;
		else if (r == -EAGAIN)
			fl->refused++;
		else
			fl->other++;
		if (fl->accepted > 200)
			break;	/* no bound at all: let the asserts say so */
	}
	free(s);
	return NULL;
}

static void count_slab(const struct slab *s, void *ud)
{
	int *n = ud;
	ck_assert_uint_eq(s->bytes[0], (unsigned char)*n);	/* in order, intact */
	(*n)++;
}

static char warning[512];
static int warnings;
static void capture_warn(enum modvm_log_level level, const char *line, void *ud)
{
	(void)ud;
	if (level == MODVM_LOG_WARN) {
		warnings++;
		snprintf(warning, sizeof(warning), "%s", line);
	}
}

START_TEST(full_queue_refuses_with_eagain_and_counts_drops)
{
	struct fixture f = make();
	int delivered = 0;
	modvm_subscribe_slab(f.bus, 0, count_slab, &delivered);
	struct flood fl = { f.bus, 0, 0, 0 };
	modvm_log_set_sink(capture_warn, NULL);
	pthread_join(spawn(flood, &fl), NULL);
	modvm_log_set_sink(NULL, NULL);

	/* 64 MiB of 1 MiB payloads, less the per-record header. */
	ck_assert_int_ge(fl.accepted, 60);
	ck_assert_int_le(fl.accepted, 64);
	ck_assert_int_eq(fl.refused, 3);
	ck_assert_int_eq(fl.other, 0);
	ck_assert_int_eq(warnings, 1);	/* one line per full episode, not per drop */
	ck_assert_str_eq(warning, "modvm: warn: event test.bus.slab: cross-thread queue full "
				  "(64 MiB waiting for the loop thread), dropping events until "
				  "it catches up");
	struct modvm_bus_stats st = stats(f.bus, "test.bus.slab");
	ck_assert_uint_eq(st.published, (uint64_t)fl.accepted);
	ck_assert_uint_eq(st.dropped, 3);

	modvm__bus_drain(f.bus);
	ck_assert_int_eq(delivered, fl.accepted);
	/* Drained: accepted again, and a new full episode warns again. */
	fl = (struct flood){ f.bus, 0, 0, 0 };
	modvm_log_set_sink(capture_warn, NULL);
	pthread_join(spawn(flood, &fl), NULL);
	modvm_log_set_sink(NULL, NULL);
	ck_assert_int_ge(fl.accepted, 60);
	ck_assert_int_eq(warnings, 2);
	ck_assert_uint_eq(stats(f.bus, "test.bus.slab").dropped, 6);
	destroy(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bus-thread");
	TCase *tc = tcase_create("queue");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, two_producers_nothing_lost_per_producer_order_kept);
	tcase_add_test(tc, queued_events_wait_for_the_loop_thread_in_order);
	tcase_add_test(tc, loop_iteration_delivers_queued_events);
	tcase_add_test(tc, events_queued_at_free_are_discarded_not_leaked);
	tcase_add_test(tc, trace_numbers_queued_events_in_publish_order);
	tcase_add_test(tc, full_queue_refuses_with_eagain_and_counts_drops);
	suite_add_tcase(s, tc);

	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
