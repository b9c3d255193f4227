/* The typed event bus: delivery, ordering, cross-thread queueing, checks. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/events.h>
#include "internal.h"

struct ping { uint64_t seq; uint32_t producer; uint32_t pad; };
MODVM_EVENT(ping, "test.bus.ping", struct ping, 1)

struct fixture {
	struct modvm_loop *loop;
	struct modvm_bus *bus;
};

static struct fixture make(void)
{
	struct fixture f = { modvm__loop_new(), NULL };
	ck_assert_ptr_nonnull(f.loop);
	f.bus = modvm__bus_new(f.loop);
	ck_assert_ptr_nonnull(f.bus);
	return f;
}

static void destroy(struct fixture *f)
{
	modvm__bus_free(f->bus);
	modvm__loop_free(f->loop);
}

/* Records the order handlers ran in, as a string of tags. */
static char order[64];
static void tag_a(const struct ping *p, void *ud) { (void)p; (void)ud; strcat(order, "a"); }
static void tag_b(const struct ping *p, void *ud) { (void)p; (void)ud; strcat(order, "b"); }
static void tag_c(const struct ping *p, void *ud) { (void)p; (void)ud; strcat(order, "c"); }

static void remember_seq(const struct ping *p, void *ud) { *(uint64_t *)ud = p->seq; }
static void count_calls(const struct ping *p, void *ud) { (void)p; (*(int *)ud)++; }
static void raw_nop(const void *p, modvm_fn fn, void *ud) { (void)p; (void)fn; (void)ud; }
static void fn_nop(void) {}

START_TEST(typed_delivery_is_synchronous_on_loop_thread)
{
	struct fixture f = make();
	uint64_t seen = 0;
	ck_assert_int_gt(modvm_subscribe_ping(f.bus, 0, remember_seq, &seen), 0);
	struct ping p = { .seq = 42 };
	ck_assert_int_eq(modvm_publish_ping(f.bus, &p), 0);
	ck_assert_uint_eq(seen, 42);	/* before publish returned */
	struct modvm_bus_stats st;
	ck_assert_int_eq(modvm_bus_get_stats(f.bus, "test.bus.ping", &st), 0);
	ck_assert_uint_eq(st.published, 1);
	ck_assert_uint_eq(st.delivered, 1);
	ck_assert_uint_eq(st.subscribers, 1);
	destroy(&f);
}
END_TEST

START_TEST(priority_order_then_subscription_order)
{
	struct fixture f = make();
	order[0] = '\0';
	modvm_subscribe_ping(f.bus, MODVM_PRIO_LATE, tag_c, NULL);
	modvm_subscribe_ping(f.bus, MODVM_PRIO_EARLY, tag_a, NULL);
	modvm_subscribe_ping(f.bus, MODVM_PRIO_DEFAULT, tag_b, NULL);
	modvm_subscribe_ping(f.bus, MODVM_PRIO_DEFAULT, tag_c, NULL);
	modvm_subscribe_ping(f.bus, MODVM_PRIO_EARLY, tag_b, NULL);
	struct ping p = { 0 };
	modvm_publish_ping(f.bus, &p);
	ck_assert_str_eq(order, "abbcc");
	destroy(&f);
}
END_TEST

/* ---- unsubscribe inside a handler ---- */
static struct modvm_bus *unsub_bus;
static int unsub_ids[3];
static int unsub_calls[3];
static void unsub_self(const struct ping *p, void *ud)
{
	(void)p;
	int i = (int)(intptr_t)ud;
	unsub_calls[i]++;
	ck_assert_int_eq(modvm_bus_unsubscribe(unsub_bus, unsub_ids[i]), 0);
	if (i == 0)	/* and also a later one, which must not run any more */
		ck_assert_int_eq(modvm_bus_unsubscribe(unsub_bus, unsub_ids[2]), 0);
}

START_TEST(unsubscribe_inside_handler_is_safe)
{
	struct fixture f = make();
	unsub_bus = f.bus;
	memset(unsub_calls, 0, sizeof(unsub_calls));
	for (int i = 0; i < 3; i++)
		unsub_ids[i] = modvm_subscribe_ping(f.bus, 10 - i, unsub_self, (void *)(intptr_t)i);
	struct ping p = { 0 };
	modvm_publish_ping(f.bus, &p);
	modvm_publish_ping(f.bus, &p);
	ck_assert_int_eq(unsub_calls[0], 1);
	ck_assert_int_eq(unsub_calls[1], 1);
	ck_assert_int_eq(unsub_calls[2], 0);
	ck_assert_int_eq(modvm_bus_unsubscribe(f.bus, unsub_ids[0]), -ENOENT);
	struct modvm_bus_stats st;
	modvm_bus_get_stats(f.bus, "test.bus.ping", &st);
	ck_assert_uint_eq(st.subscribers, 0);
	destroy(&f);
}
END_TEST

static struct modvm_bus *resub_bus;
static int resub_count;
static void counting(const struct ping *p, void *ud) { (void)p; (void)ud; resub_count++; }
static void subscribes_more(const struct ping *p, void *ud)
{
	(void)p;
	(void)ud;
	modvm_subscribe_ping(resub_bus, MODVM_PRIO_LAST, counting, NULL);
}

START_TEST(subscribe_inside_handler_does_not_crash)
{
	struct fixture f = make();
	resub_bus = f.bus;
	resub_count = 0;
	modvm_subscribe_ping(f.bus, 0, subscribes_more, NULL);
	struct ping p = { 0 };
	modvm_publish_ping(f.bus, &p);
	modvm_publish_ping(f.bus, &p);
	/* The first publish may or may not reach the new subscription; the
	 * second reaches the one added by the first. */
	ck_assert_int_ge(resub_count, 1);
	destroy(&f);
}
END_TEST

/* ---- descriptor checks ---- */
static char last_error[512];
static void capture(enum modvm_log_level level, const char *line, void *ud)
{
	(void)ud;
	if (level == MODVM_LOG_ERROR)
		snprintf(last_error, sizeof(last_error), "%s", line);
}

START_TEST(mismatched_size_and_version_are_refused)
{
	struct fixture f = make();
	struct modvm_event_desc good = { sizeof(good), 1, "test.bus.layout", 16, -1 };
	struct modvm_event_desc bigger = { sizeof(bigger), 1, "test.bus.layout", 24, -1 };
	struct modvm_event_desc newer = { sizeof(newer), 2, "test.bus.layout", 16, -1 };
	uint64_t payload[3] = { 0 };

	modvm_log_set_sink(capture, NULL);
	ck_assert_int_eq(modvm_bus_publish(f.bus, &good, payload, 16), 0);
	ck_assert_int_eq(modvm_bus_publish(f.bus, &bigger, payload, 24), -EPROTO);
	ck_assert_str_eq(last_error,
			 "modvm: error: event test.bus.layout: payload of 24 bytes version 1 does "
			 "not match the registered 16 bytes version 1 (built against another "
			 "layout?)");
	ck_assert_int_eq(modvm_bus_subscribe(f.bus, &newer, 0, raw_nop, fn_nop, NULL), -EPROTO);
	ck_assert_ptr_nonnull(strstr(last_error, "version 2 does not match the registered 16 bytes version 1"));
	ck_assert_int_eq(modvm_bus_publish(f.bus, &good, payload, 8), -EINVAL);
	ck_assert_ptr_nonnull(strstr(last_error, "published 8 bytes, type has 16"));
	modvm_log_set_sink(NULL, NULL);
	destroy(&f);
}
END_TEST

/* ---- cross-thread ---- */
#define PER_PRODUCER 100000
struct xt {
	struct fixture f;
	uint64_t next[2];
	uint64_t received;
	int out_of_order;
};

static void xt_handler(const struct ping *p, void *ud)
{
	struct xt *x = ud;
	ck_assert_uint_lt(p->producer, 2);
	if (p->seq != x->next[p->producer])
		x->out_of_order++;
	x->next[p->producer] = p->seq + 1;
	if (++x->received == 2 * PER_PRODUCER)
		modvm_loop_break(x->f.loop);
	ck_assert(modvm_loop_on_thread(x->f.loop));
}

struct producer_arg { struct modvm_bus *bus; uint32_t id; };
static void *produce(void *arg)
{
	struct producer_arg *a = arg;
	for (uint64_t i = 0; i < PER_PRODUCER; i++) {
		struct ping p = { .seq = i, .producer = a->id };
		while (modvm_publish_ping(a->bus, &p) == -EAGAIN)
			;
	}
	return NULL;
}

START_TEST(cross_thread_two_producers_nothing_lost_in_order)
{
	struct xt x = { .f = make() };
	modvm_subscribe_ping(x.f.bus, 0, xt_handler, &x);
	pthread_t t[2];
	struct producer_arg args[2] = { { x.f.bus, 0 }, { x.f.bus, 1 } };
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, produce, &args[i]), 0);
	modvm__loop_run(x.f.loop);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ck_assert_uint_eq(x.received, 2 * PER_PRODUCER);
	ck_assert_int_eq(x.out_of_order, 0);
	ck_assert_uint_eq(x.next[0], PER_PRODUCER);
	ck_assert_uint_eq(x.next[1], PER_PRODUCER);
	struct modvm_bus_stats st;
	modvm_bus_get_stats(x.f.bus, "test.bus.ping", &st);
	ck_assert_uint_eq(st.published, 2 * PER_PRODUCER);
	ck_assert_uint_eq(st.delivered, 2 * PER_PRODUCER);
	ck_assert_uint_eq(st.dropped, 0);
	destroy(&x.f);
}
END_TEST

static void *publish_once(void *arg)
{
	struct ping p = { .seq = 7 };
	modvm_publish_ping(arg, &p);
	return NULL;
}

START_TEST(queued_events_discarded_at_free_are_counted_not_leaked)
{
	struct fixture f = make();
	int calls = 0;
	modvm_subscribe_ping(f.bus, 0, count_calls, &calls);
	pthread_t t;
	pthread_create(&t, NULL, publish_once, f.bus);
	pthread_join(t, NULL);
	ck_assert_int_eq(calls, 0);	/* queued, not delivered on the wrong thread */
	modvm__bus_drain(f.bus);
	ck_assert_int_eq(calls, 1);
	pthread_create(&t, NULL, publish_once, f.bus);
	pthread_join(t, NULL);
	destroy(&f);	/* ASan: the queued copy must be freed */
}
END_TEST

/* ---- trace ---- */
static char trace_line[256];
static void capture_info(enum modvm_log_level level, const char *line, void *ud)
{
	(void)ud;
	if (level == MODVM_LOG_INFO)
		snprintf(trace_line, sizeof(trace_line), "%s", line);
}

START_TEST(trace_logs_each_delivery_with_owner)
{
	struct fixture f = make();
	modvm__bus_set_owner("fixture-owner");
	modvm_subscribe_ping(f.bus, 5, tag_a, NULL);
	modvm__bus_set_owner(NULL);
	modvm__bus_set_trace(f.bus, true);
	modvm_log_set_level(MODVM_LOG_INFO);
	modvm_log_set_sink(capture_info, NULL);
	struct ping p = { 0 };
	order[0] = '\0';
	modvm_publish_ping(f.bus, &p);
	modvm_log_set_sink(NULL, NULL);
	modvm_log_set_level(MODVM_LOG_WARN);
	ck_assert_str_eq(trace_line, "modvm: info: event test.bus.ping #1 -> fixture-owner (prio 5)");
	ck_assert_int_eq(modvm__bus_unsubscribe_owner(f.bus, "fixture-owner"), 1);
	destroy(&f);
}
END_TEST

static void count_type(const char *name, uint32_t size, uint32_t version, void *ud)
{
	if (strcmp(name, "test.bus.ping") == 0 && size == sizeof(struct ping) && version == 1)
		(*(int *)ud)++;
}

START_TEST(registry_lists_registered_types)
{
	ck_assert_int_eq(modvm_bus_register(&modvm_event_ping), 0);
	int found = 0;
	modvm__bus_foreach_type(count_type, &found);
	ck_assert_int_eq(found, 1);
}
END_TEST

Suite *bus_suite(void)
{
	Suite *s = suite_create("bus");
	TCase *tc = tcase_create("bus");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, typed_delivery_is_synchronous_on_loop_thread);
	tcase_add_test(tc, priority_order_then_subscription_order);
	tcase_add_test(tc, unsubscribe_inside_handler_is_safe);
	tcase_add_test(tc, subscribe_inside_handler_does_not_crash);
	tcase_add_test(tc, mismatched_size_and_version_are_refused);
	tcase_add_test(tc, cross_thread_two_producers_nothing_lost_in_order);
	tcase_add_test(tc, queued_events_discarded_at_free_are_counted_not_leaked);
	tcase_add_test(tc, trace_logs_each_delivery_with_owner);
	tcase_add_test(tc, registry_lists_registered_types);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(bus_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
