/*
 * The typed event bus on the loop thread: typed delivery, ordering,
 * unsubscribing and subscribing inside handlers, descriptor checks,
 * counters, trace lines, owners and the type registry.
 */
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event/event.h"
#include "bus_fixture.h"

/* A second type, to show subscribers of one never see the other. */
struct pong { uint32_t value; };
MODVM_EVENT(pong, "test.bus.pong", struct pong, 3)

/* Records the order handlers ran in, as a string of tags. */
static char order[64];
static void tag(const struct ping *p, void *ud)
{
	(void)p;
	strncat(order, ud, sizeof(order) - strlen(order) - 1);
}

static void remember_seq(const struct ping *p, void *ud) { *(uint64_t *)ud = p->seq; }
static void count_calls(const struct ping *p, void *ud) { (void)p; (*(int *)ud)++; }
static void count_pong(const struct pong *p, void *ud) { *(uint32_t *)ud += p->value; }
static void raw_count(const void *p, modvm_fn fn, void *ud) { (void)p; (void)fn; (*(int *)ud)++; }
static void fn_nop(void) {}

/* One payload, and a plugin built against a reordered copy of it (same size). */
struct lay { uint32_t x; uint32_t y; uint64_t z; };
struct lay_swapped { uint32_t y; uint32_t x; uint64_t z; };
MODVM_EVENT_FIELDS(lay, "test.bus.layout2", struct lay, 1, x, y, z)
MODVM_EVENT_FIELDS(lay_swapped, "test.bus.layout2", struct lay_swapped, 1, y, x, z)
MODVM_EVENT(lay_plain, "test.bus.layout2", struct lay, 1)
/* A list that forgets a member, and one whose members overlap. */
MODVM_EVENT_FIELDS(lay_short, "test.bus.layout3", struct lay, 1, x, y)
static void count_lay(const struct lay *p, void *ud) { (void)p; (*(int *)ud)++; }

START_TEST(typed_delivery_is_synchronous_on_loop_thread)
{
	struct fixture f = make();
	uint64_t seen = 0;
	uint32_t pongs = 0;
	ck_assert_int_gt(modvm_subscribe_ping(f.bus, 0, remember_seq, &seen), 0);
	ck_assert_int_gt(modvm_subscribe_pong(f.bus, 0, count_pong, &pongs), 0);
	struct ping p = { .seq = 42 };
	ck_assert_int_eq(modvm_publish_ping(f.bus, &p), 0);
	ck_assert_uint_eq(seen, 42);	/* before publish returned */
	ck_assert_uint_eq(pongs, 0);	/* other types are not disturbed */
	struct pong q = { .value = 5 };
	ck_assert_int_eq(modvm_publish_pong(f.bus, &q), 0);
	ck_assert_uint_eq(pongs, 5);
	ck_assert_uint_eq(seen, 42);
	destroy(&f);
}
END_TEST

START_TEST(publish_without_subscribers_succeeds)
{
	struct fixture f = make();
	struct ping p = { 0 };
	ck_assert_int_eq(modvm_publish_ping(f.bus, &p), 0);
	struct modvm_bus_stats st = stats(f.bus, "test.bus.ping");
	ck_assert_uint_eq(st.published, 1);
	ck_assert_uint_eq(st.delivered, 0);
	ck_assert_uint_eq(st.subscribers, 0);
	destroy(&f);
}
END_TEST

START_TEST(priority_order_higher_first)
{
	struct fixture f = make();
	order[0] = '\0';
	modvm_subscribe_ping(f.bus, MODVM_PRIO_LAST, tag, "e");
	modvm_subscribe_ping(f.bus, MODVM_PRIO_DEFAULT, tag, "c");
	modvm_subscribe_ping(f.bus, MODVM_PRIO_FIRST, tag, "a");
	modvm_subscribe_ping(f.bus, MODVM_PRIO_LATE, tag, "d");
	modvm_subscribe_ping(f.bus, MODVM_PRIO_EARLY, tag, "b");
	modvm_subscribe_ping(f.bus, -5000, tag, "f");
	struct ping p = { 0 };
	modvm_publish_ping(f.bus, &p);
	ck_assert_str_eq(order, "abcdef");
	destroy(&f);
}
END_TEST

START_TEST(equal_priority_keeps_subscription_order)
{
	struct fixture f = make();
	order[0] = '\0';
	modvm_subscribe_ping(f.bus, 7, tag, "1");
	modvm_subscribe_ping(f.bus, 7, tag, "2");
	modvm_subscribe_ping(f.bus, 9, tag, "A");
	modvm_subscribe_ping(f.bus, 7, tag, "3");
	modvm_subscribe_ping(f.bus, 9, tag, "B");
	modvm_subscribe_ping(f.bus, 7, tag, "4");
	struct ping p = { 0 };
	modvm_publish_ping(f.bus, &p);
	ck_assert_str_eq(order, "AB1234");
	order[0] = '\0';
	modvm_publish_ping(f.bus, &p);
	ck_assert_str_eq(order, "AB1234");	/* stable, not reshuffled by delivery */
	destroy(&f);
}
END_TEST

/* ---- unsubscribe inside a handler ---- */
static struct modvm_bus *hb;	/* the bus the handlers below act on */
static int ids[4];
static int calls[4];

static void unsub_self(const struct ping *p, void *ud)
{
	(void)p;
	int i = (int)(intptr_t)ud;
	calls[i]++;
	ck_assert_int_eq(modvm_bus_unsubscribe(hb, ids[i]), 0);
	if (i == 0)	/* and a later one, which must not run any more */
		ck_assert_int_eq(modvm_bus_unsubscribe(hb, ids[2]), 0);
}

START_TEST(unsubscribe_self_and_another_inside_handler)
{
	struct fixture f = make();
	hb = f.bus;
	for (int i = 0; i < 3; i++)
		ids[i] = modvm_subscribe_ping(f.bus, 10 - i, unsub_self, (void *)(intptr_t)i);
	ck_assert_uint_eq(stats(f.bus, "test.bus.ping").subscribers, 3);
	struct ping p = { 0 };
	modvm_publish_ping(f.bus, &p);
	modvm_publish_ping(f.bus, &p);
	ck_assert_int_eq(calls[0], 1);
	ck_assert_int_eq(calls[1], 1);
	ck_assert_int_eq(calls[2], 0);
	ck_assert_int_eq(modvm_bus_unsubscribe(f.bus, ids[0]), -ENOENT);
	ck_assert_int_eq(modvm_bus_unsubscribe(f.bus, ids[2]), -ENOENT);
	ck_assert_uint_eq(stats(f.bus, "test.bus.ping").subscribers, 0);
	destroy(&f);
}
END_TEST

/*
 * A handler publishes the same event again (nested dispatch); the inner
 * delivery unsubscribes the outer handler that is still on the stack.  The
 * entry must outlive the inner dispatch (ASan checks the walk).
 */
static void outer(const struct ping *p, void *ud)
{
	(void)ud;
	calls[0]++;
	if (p->seq == 0) {
		struct ping again = { .seq = 1 };
		ck_assert_int_eq(modvm_publish_ping(hb, &again), 0);
	}
}

static void inner(const struct ping *p, void *ud)
{
	(void)ud;
	calls[1]++;
	if (p->seq == 1) {
		ck_assert_int_eq(modvm_bus_unsubscribe(hb, ids[0]), 0);
		ck_assert_int_eq(modvm_bus_unsubscribe(hb, ids[1]), 0);
	}
}

START_TEST(unsubscribe_during_nested_dispatch_is_deferred)
{
	struct fixture f = make();
	hb = f.bus;
	ids[0] = modvm_subscribe_ping(f.bus, 1, outer, NULL);
	ids[1] = modvm_subscribe_ping(f.bus, 0, inner, NULL);
	ids[2] = modvm_subscribe_ping(f.bus, -1, count_calls, &calls[2]);
	struct ping p = { .seq = 0 };
	ck_assert_int_eq(modvm_publish_ping(f.bus, &p), 0);
	/* outer(0) -> [outer(1), inner(1) unsubscribes both, count(1)], then
	 * the outer dispatch skips the dead inner and reaches count(0). */
	ck_assert_int_eq(calls[0], 2);
	ck_assert_int_eq(calls[1], 1);
	ck_assert_int_eq(calls[2], 2);
	ck_assert_uint_eq(stats(f.bus, "test.bus.ping").subscribers, 1);
	modvm_publish_ping(f.bus, &p);
	ck_assert_int_eq(calls[0], 2);
	ck_assert_int_eq(calls[2], 3);
	destroy(&f);
}
END_TEST

static int resub_count;
static void counting(const struct ping *p, void *ud) { (void)p; (void)ud; resub_count++; }
static void subscribes_more(const struct ping *p, void *ud)
{
	(void)p;
	(void)ud;
	ck_assert_int_gt(modvm_subscribe_ping(hb, MODVM_PRIO_FIRST, counting, NULL), 0);
	ck_assert_int_gt(modvm_subscribe_ping(hb, MODVM_PRIO_LAST, counting, NULL), 0);
}

START_TEST(subscribe_inside_handler_does_not_crash)
{
	struct fixture f = make();
	hb = f.bus;
	resub_count = 0;
	modvm_subscribe_ping(f.bus, 0, subscribes_more, NULL);
	struct ping p = { 0 };
	modvm_publish_ping(f.bus, &p);
	/* Whether the first publish reaches a subscription made during it is
	 * unspecified; later ones reach all of them. */
	int after_first = resub_count;
	ck_assert_int_le(after_first, 1);
	modvm_publish_ping(f.bus, &p);
	ck_assert_int_ge(resub_count - after_first, 2);
	ck_assert_uint_eq(stats(f.bus, "test.bus.ping").subscribers, 5);
	destroy(&f);
}
END_TEST

/* ---- descriptor checks ---- */
static char last_error[512];
static int errors;
static void capture(enum modvm_log_level level, const char *line, void *ud)
{
	(void)ud;
	if (level == MODVM_LOG_ERROR) {
		errors++;
		snprintf(last_error, sizeof(last_error), "%s", line);
	}
}

START_TEST(size_and_version_mismatch_refused_with_eproto)
{
	struct fixture f = make();
	struct modvm_event_desc good = { sizeof(good), 1, "test.bus.layout", 16, -1, NULL, 0 };
	struct modvm_event_desc bigger = { sizeof(bigger), 1, "test.bus.layout", 24, -1, NULL, 0 };
	struct modvm_event_desc newer = { sizeof(newer), 2, "test.bus.layout", 16, -1, NULL, 0 };
	uint64_t payload[3] = { 0 };
	int n = 0;

	modvm_log_set_sink(capture, NULL);
	ck_assert_int_eq(modvm_bus_publish(f.bus, &good, payload, 16), 0);
	ck_assert_int_eq(errors, 0);
	ck_assert_int_eq(modvm_bus_publish(f.bus, &bigger, payload, 24), -EPROTO);
	ck_assert_int_eq(errors, 1);
	ck_assert_str_eq(last_error,
			 "modvm: error: event test.bus.layout: payload of 24 bytes version 1 does "
			 "not match the registered 16 bytes version 1 (built against another "
			 "layout?)");
	ck_assert_int_eq(modvm_bus_subscribe(f.bus, &newer, 0, raw_count, fn_nop, &n), -EPROTO);
	ck_assert_int_eq(errors, 2);
	ck_assert_str_eq(last_error,
			 "modvm: error: event test.bus.layout: payload of 16 bytes version 2 does "
			 "not match the registered 16 bytes version 1 (built against another "
			 "layout?)");
	ck_assert_int_eq(modvm_bus_register(&newer), -EPROTO);
	/* The refused desc stays refused, and is never fed bytes. */
	ck_assert_int_eq(modvm_bus_publish(f.bus, &bigger, payload, 24), -EPROTO);
	ck_assert_int_eq(modvm_bus_subscribe(f.bus, &good, 0, raw_count, fn_nop, &n) > 0, 1);
	ck_assert_int_eq(modvm_bus_publish(f.bus, &good, payload, 16), 0);
	ck_assert_int_eq(n, 1);
	modvm_log_set_sink(NULL, NULL);
	destroy(&f);
}
END_TEST

START_TEST(wrong_size_and_bad_descriptors_refused_with_einval)
{
	struct fixture f = make();
	struct modvm_event_desc good = { sizeof(good), 1, "test.bus.sized", 16, -1, NULL, 0 };
	struct modvm_event_desc noname = { sizeof(noname), 1, "", 16, -1, NULL, 0 };
	struct modvm_event_desc empty = { sizeof(empty), 1, "test.bus.empty", 0, -1, NULL, 0 };
	struct modvm_event_desc tiny = { 8, 1, "test.bus.tiny", 16, -1, NULL, 0 };
	uint64_t payload[3] = { 0 };
	int n = 0;

	ck_assert_int_gt(modvm_bus_subscribe(f.bus, &good, 0, raw_count, fn_nop, &n), 0);
	modvm_log_set_sink(capture, NULL);
	ck_assert_int_eq(modvm_bus_publish(f.bus, &good, payload, 8), -EINVAL);
	ck_assert_str_eq(last_error, "modvm: error: event test.bus.sized: published 8 bytes, "
				     "type has 16");
	ck_assert_int_eq(modvm_bus_publish(f.bus, &good, payload, 24), -EINVAL);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(modvm_bus_register(&noname), -EINVAL);
	ck_assert_int_eq(modvm_bus_register(&empty), -EINVAL);
	ck_assert_int_eq(modvm_bus_register(&tiny), -EINVAL);
	ck_assert_int_eq(errors, 5);
	ck_assert_int_eq(modvm_bus_publish(f.bus, NULL, payload, 16), -EINVAL);
	ck_assert_int_eq(modvm_bus_publish(f.bus, &good, NULL, 16), -EINVAL);
	ck_assert_int_eq(modvm_bus_subscribe(f.bus, &good, 0, NULL, fn_nop, NULL), -EINVAL);
	modvm_log_set_sink(NULL, NULL);
	/* A refused publish counts nowhere. */
	ck_assert_uint_eq(stats(f.bus, "test.bus.sized").published, 0);
	destroy(&f);
}
END_TEST

/* A member moved within the same size is refused, naming both layouts;
 * a descriptor from before layouts existed still gets size and version. */
START_TEST(reordered_layout_of_the_same_size_refused)
{
	struct fixture f = make();
	struct lay p = { 1, 2, 3 };
	struct lay_swapped q = { 2, 1, 3 };
	struct modvm_event_desc old = { offsetof(struct modvm_event_desc, fields), 1,
					"test.bus.layout2", sizeof(struct lay), -1, NULL, 0 };
	struct modvm_event_field overlap[] = { { "x", 0, 8 }, { "y", 4, 4 }, { "z", 8, 8 } };
	struct modvm_event_desc bad = { sizeof(bad), 1, "test.bus.layout4", 16, -1, overlap, 3 };
	char last[512];
	unsigned before = modvm__bus_refusals(NULL, 0);
	int n = 0;

	modvm_log_set_sink(capture, NULL);
	ck_assert_int_gt(modvm_subscribe_lay(f.bus, 0, count_lay, &n), 0);
	ck_assert_int_eq(modvm_publish_lay(f.bus, &p), 0);
	ck_assert_int_eq(modvm_publish_lay_swapped(f.bus, &q), -EPROTO);
	ck_assert_msg(strstr(last_error, "members y@0+4 x@4+4 z@8+8 do not match the registered "
					 "x@0+4 y@4+4 z@8+8"), "%s", last_error);
	ck_assert_uint_eq(modvm__bus_refusals(last, sizeof(last)), before + 1);
	ck_assert_msg(strstr(last, "test.bus.layout2") && strstr(last, "(by core)"), "%s", last);
	ck_assert_int_eq(modvm_publish_lay_plain(f.bus, &p), -EPROTO);
	ck_assert_msg(strstr(last_error, "declared without its member list"), "%s", last_error);
	ck_assert_int_eq(modvm_bus_publish(f.bus, &old, &p, sizeof(p)), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(modvm_bus_register(&modvm_event_lay_short), -EINVAL);
	ck_assert_msg(strstr(last_error, "bytes 8..16 are in no listed member"), "%s", last_error);
	ck_assert_int_eq(modvm_bus_register(&bad), -EINVAL);
	ck_assert_msg(strstr(last_error, "member y at 4 overlaps"), "%s", last_error);
	modvm_log_set_sink(NULL, NULL);
	destroy(&f);
}
END_TEST

/* Every translation unit has its own static desc; they must meet by name. */
START_TEST(separate_descs_with_same_layout_share_the_type)
{
	struct fixture f = make();
	struct modvm_event_desc a = { sizeof(a), 4, "test.bus.shared", 8, -1, NULL, 0 };
	struct modvm_event_desc b = { sizeof(b), 4, "test.bus.shared", 8, -1, NULL, 0 };
	uint64_t payload = 1;
	int n = 0;

	ck_assert_int_gt(modvm_bus_subscribe(f.bus, &a, 0, raw_count, fn_nop, &n), 0);
	ck_assert_int_eq(modvm_bus_publish(f.bus, &b, &payload, sizeof(payload)), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_ne(a.id_cache, -1);
	ck_assert_int_eq(a.id_cache, b.id_cache);
	destroy(&f);
}
END_TEST

/* A hand-built desc that leaves id_cache at 0 must not alias another type. */
START_TEST(zeroed_id_cache_is_not_a_registered_slot)
{
	struct fixture f = make();
	struct modvm_event_desc first = { sizeof(first), 1, "test.bus.first", 8, -1, NULL, 0 };
	struct modvm_event_desc zeroed = { .struct_size = sizeof(zeroed), .version = 1,
					   .name = "test.bus.zeroed", .payload_size = 4 };
	uint64_t payload = 0;
	int n_first = 0, n_zeroed = 0;
	ck_assert_int_gt(modvm_bus_subscribe(f.bus, &first, 0, raw_count, fn_nop, &n_first), 0);
	ck_assert_int_gt(modvm_bus_subscribe(f.bus, &zeroed, 0, raw_count, fn_nop, &n_zeroed), 0);
	ck_assert_int_eq(modvm_bus_publish(f.bus, &zeroed, &payload, 4), 0);
	ck_assert_int_eq(n_zeroed, 1);
	ck_assert_int_eq(n_first, 0);
	struct modvm_bus_stats st;
	ck_assert_int_eq(modvm_bus_get_stats(f.bus, "test.bus.zeroed", &st), 0);
	ck_assert_uint_eq(st.published, 1);
	destroy(&f);
}
END_TEST

START_TEST(counters_follow_publish_delivery_and_subscriptions)
{
	struct fixture f = make();
	int n1 = 0, n2 = 0;
	struct modvm_bus_stats st;
	ck_assert_int_eq(modvm_bus_get_stats(f.bus, "test.bus.never-registered", &st), -ENOENT);

	int id1 = modvm_subscribe_ping(f.bus, 0, count_calls, &n1);
	int id2 = modvm_subscribe_ping(f.bus, 0, count_calls, &n2);
	ck_assert_int_ne(id1, id2);
	struct ping p = { 0 };
	for (int i = 0; i < 10; i++)
		modvm_publish_ping(f.bus, &p);
	st = stats(f.bus, "test.bus.ping");
	ck_assert_uint_eq(st.published, 10);
	ck_assert_uint_eq(st.delivered, 20);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.subscribers, 2);
	ck_assert_int_eq(modvm_bus_unsubscribe(f.bus, id1), 0);
	for (int i = 0; i < 5; i++)
		modvm_publish_ping(f.bus, &p);
	st = stats(f.bus, "test.bus.ping");
	ck_assert_uint_eq(st.published, 15);
	ck_assert_uint_eq(st.delivered, 25);
	ck_assert_uint_eq(st.subscribers, 1);
	ck_assert_int_eq(n1, 10);
	ck_assert_int_eq(n2, 15);

	/* Counters are per bus. */
	struct fixture g = make();
	st = stats(g.bus, "test.bus.ping");
	ck_assert_uint_eq(st.published, 0);
	ck_assert_uint_eq(st.subscribers, 0);
	destroy(&g);
	destroy(&f);
}
END_TEST

/* ---- trace ---- */
#define TRACE_MAX 8
static char trace[TRACE_MAX][256];
static int traced;
static void capture_info(enum modvm_log_level level, const char *line, void *ud)
{
	(void)ud;
	if (level == MODVM_LOG_INFO && traced < TRACE_MAX)
		snprintf(trace[traced++], sizeof(trace[0]), "%s", line);
}

START_TEST(trace_logs_each_delivery_with_owner_and_priority)
{
	struct fixture f = make();
	order[0] = '\0';
	modvm__bus_set_owner("fixture-owner");
	modvm_subscribe_ping(f.bus, 5, tag, "a");
	modvm__bus_set_owner(NULL);
	modvm_subscribe_ping(f.bus, -3, tag, "b");
	struct ping p = { 0 };
	modvm_publish_ping(f.bus, &p);	/* untraced: #1 */

	modvm_log_set_level(MODVM_LOG_INFO);
	modvm_log_set_sink(capture_info, NULL);
	ck_assert_int_eq(traced, 0);	/* trace is off by default */
	modvm__bus_set_trace(f.bus, true);
	modvm_publish_ping(f.bus, &p);
	modvm__bus_set_trace(f.bus, false);
	modvm_publish_ping(f.bus, &p);
	modvm_log_set_sink(NULL, NULL);
	modvm_log_set_level(MODVM_LOG_WARN);

	ck_assert_int_eq(traced, 2);
	ck_assert_str_eq(trace[0], "modvm: info: event test.bus.ping #2 -> fixture-owner (prio 5)");
	ck_assert_str_eq(trace[1], "modvm: info: event test.bus.ping #2 -> core (prio -3)");
	ck_assert_str_eq(order, "ababab");
	destroy(&f);
}
END_TEST

START_TEST(unsubscribe_owner_removes_only_that_owner)
{
	struct fixture f = make();
	int mine = 0, theirs = 0;
	/* Longer than any fixed-size owner buffer, to catch truncation. */
	static const char long_name[] = "a-plugin-with-a-rather-long-name-indeed-0123456789";
	modvm__bus_set_owner(long_name);
	modvm_subscribe_ping(f.bus, 0, count_calls, &mine);
	modvm_subscribe_ping(f.bus, 1, count_calls, &mine);
	modvm__bus_set_owner("other");
	modvm_subscribe_ping(f.bus, 0, count_calls, &theirs);
	modvm__bus_set_owner(NULL);
	ck_assert_int_eq(modvm__bus_unsubscribe_owner(f.bus, "a-plugin"), 0);
	ck_assert_int_eq(modvm__bus_unsubscribe_owner(f.bus, long_name), 2);
	ck_assert_int_eq(modvm__bus_unsubscribe_owner(f.bus, long_name), 0);
	struct ping p = { 0 };
	modvm_publish_ping(f.bus, &p);
	ck_assert_int_eq(mine, 0);
	ck_assert_int_eq(theirs, 1);
	ck_assert_uint_eq(stats(f.bus, "test.bus.ping").subscribers, 1);
	destroy(&f);
}
END_TEST

struct seen_type { const char *name; uint32_t size, version; int hits; char prev[64]; bool sorted; };
static void check_type(const char *name, uint32_t size, uint32_t version, void *ud)
{
	struct seen_type *s = ud;
	if (strcmp(s->prev, name) >= 0)
		s->sorted = false;
	size_t n = strnlen(name, sizeof(s->prev) - 1);
	memcpy(s->prev, name, n);
	s->prev[n] = '\0';
	if (strcmp(name, s->name) == 0 && size == s->size && version == s->version)
		s->hits++;
}

/* A handler runs as its subscriber: what it subscribes is that plugin's
 * (removed with it), and a plugin removes only its own subscriptions. */
static struct modvm_bus *owner_bus;
static int owner_other_id, owner_unsub_rc, owner_late;
static void subscribes_as_owner(const struct ping *p, void *ud)
{
	(void)p;
	(void)ud;
	if (!owner_late)
		owner_late = modvm_subscribe_ping(owner_bus, -5, count_calls, &owner_late);
	owner_unsub_rc = modvm_bus_unsubscribe(owner_bus, owner_other_id);
}

START_TEST(handlers_run_as_their_subscriber)
{
	struct fixture f = make();
	int theirs = 0;

	owner_bus = f.bus;
	owner_late = 0;
	modvm_log_set_sink(capture, NULL);
	modvm__bus_set_owner("other");
	owner_other_id = modvm_subscribe_ping(f.bus, -9, count_calls, &theirs);
	modvm__bus_set_owner("a-plugin");
	modvm_subscribe_ping(f.bus, 0, subscribes_as_owner, NULL);
	modvm__bus_set_owner(NULL);	/* published by the core */
	struct ping p = { 0 };
	modvm_publish_ping(f.bus, &p);
	modvm_log_set_sink(NULL, NULL);
	ck_assert_int_gt(owner_late, 0);
	ck_assert_int_eq(owner_unsub_rc, -EPERM);
	ck_assert_ptr_nonnull(strstr(last_error, "a-plugin may not unsubscribe"));
	ck_assert_int_eq(theirs, 1);	/* still subscribed, and delivered */
	/* the subscription made in the handler went with its plugin */
	ck_assert_int_eq(modvm__bus_unsubscribe_owner(f.bus, "a-plugin"), 2);
	/* the core may remove anyone's */
	ck_assert_int_eq(modvm_bus_unsubscribe(f.bus, owner_other_id), 0);
	destroy(&f);
}
END_TEST

START_TEST(registry_lists_types_by_name)
{
	ck_assert_int_eq(modvm_bus_register(&modvm_event_pong), 0);
	ck_assert_int_eq(modvm_bus_register(&modvm_event_ping), 0);
	ck_assert_int_eq(modvm_bus_register(&modvm_event_ping), 0);	/* idempotent */
	struct seen_type s = { "test.bus.pong", sizeof(struct pong), 3, 0, "", true };
	modvm__bus_foreach_type(check_type, &s);
	ck_assert_int_eq(s.hits, 1);
	ck_assert(s.sorted);
	s = (struct seen_type){ "test.bus.ping", sizeof(struct ping), 1, 0, "", true };
	modvm__bus_foreach_type(check_type, &s);
	ck_assert_int_eq(s.hits, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bus");
	TCase *tc = tcase_create("sync");
	tcase_add_test(tc, typed_delivery_is_synchronous_on_loop_thread);
	tcase_add_test(tc, publish_without_subscribers_succeeds);
	tcase_add_test(tc, priority_order_higher_first);
	tcase_add_test(tc, equal_priority_keeps_subscription_order);
	tcase_add_test(tc, unsubscribe_self_and_another_inside_handler);
	tcase_add_test(tc, unsubscribe_during_nested_dispatch_is_deferred);
	tcase_add_test(tc, subscribe_inside_handler_does_not_crash);
	tcase_add_test(tc, size_and_version_mismatch_refused_with_eproto);
	tcase_add_test(tc, wrong_size_and_bad_descriptors_refused_with_einval);
	tcase_add_test(tc, reordered_layout_of_the_same_size_refused);
	tcase_add_test(tc, separate_descs_with_same_layout_share_the_type);
	tcase_add_test(tc, zeroed_id_cache_is_not_a_registered_slot);
	tcase_add_test(tc, counters_follow_publish_delivery_and_subscriptions);
	tcase_add_test(tc, trace_logs_each_delivery_with_owner_and_priority);
	tcase_add_test(tc, unsubscribe_owner_removes_only_that_owner);
	tcase_add_test(tc, handlers_run_as_their_subscriber);
	tcase_add_test(tc, registry_lists_types_by_name);
	suite_add_tcase(s, tc);

	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
