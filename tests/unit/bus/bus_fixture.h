/* Shared by the bus tests: a loop with a bus on it, and its counters. */
#ifndef MODVM_TEST_BUS_FIXTURE_H
#define MODVM_TEST_BUS_FIXTURE_H

#include <check.h>

#include <modvm/events.h>
#include "event/event.h"

struct ping { uint64_t seq; uint32_t producer; uint32_t pad; };
MODVM_EVENT(ping, "test.bus.ping", struct ping, 1)

struct fixture {
	struct modvm_loop *loop;
	struct modvm_bus *bus;
};

static inline struct fixture make(void)
{
	struct fixture f = { modvm__loop_new(), NULL };
	ck_assert_ptr_nonnull(f.loop);
	f.bus = modvm__bus_new(f.loop);
	ck_assert_ptr_nonnull(f.bus);
	return f;
}

static inline void destroy(struct fixture *f)
{
	modvm__bus_free(f->bus);
	modvm__loop_free(f->loop);
}

static inline struct modvm_bus_stats stats(struct modvm_bus *bus, const char *name)
{
	struct modvm_bus_stats st;
	ck_assert_int_eq(modvm_bus_get_stats(bus, name, &st), 0);
	return st;
}

#endif
