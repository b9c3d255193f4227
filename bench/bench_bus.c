/*
 * Event-bus throughput and latency, against a direct call through a
 * function pointer measured in the same run.  Not a test: prints numbers.
 *
 *   bench_bus [events]     (default 20 million; cross-thread runs use a tenth)
 *
 * Cross-thread latency is measured twice: under a flood (producers publish
 * as fast as they can, so it is mostly time spent queued behind earlier
 * events) and idle (one event in flight, so it is the wakeup cost).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "event/event.h"

struct tick { uint64_t seq; uint64_t sent_ns; uint32_t producer; uint32_t pad; };
MODVM_EVENT(tick, "bench.tick", struct tick, 1)

#define SYNC_FLOOR 20e6
#define XT_FLOOR 3e6

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_bus: %s\n", what);
	exit(1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* ---- synchronous ---- */

static volatile uint64_t sink;
static void on_tick(const struct tick *t, void *ud) { (void)ud; sink += t->seq; }
/* volatile: the compiler must really call through the pointer each time. */
static void (*volatile direct)(const struct tick *, void *) = on_tick;

static void synchronous(uint64_t n)
{
	struct modvm_loop *loop = modvm__loop_new();
	struct modvm_bus *bus = loop ? modvm__bus_new(loop) : NULL;
	if (!bus || modvm_subscribe_tick(bus, 0, on_tick, NULL) < 0)
		die("setup failed");

	/* Best of three rounds, each timing both, so noise hits both alike. */
	double best_direct = 0, best_bus = 0;
	struct tick t = { 0 };
	for (int round = 0; round < 3; round++) {
		uint64_t t0 = now_ns();
		for (uint64_t i = 0; i < n; i++) {
			t.seq = i;
			direct(&t, NULL);
		}
		uint64_t t1 = now_ns();
		for (uint64_t i = 0; i < n; i++) {
			t.seq = i;
			if (modvm_publish_tick(bus, &t) < 0)
				die("publish failed");
		}
		uint64_t t2 = now_ns();
		double d = (double)n / ((double)(t1 - t0) / 1e9);
		double b = (double)n / ((double)(t2 - t1) / 1e9);
		best_direct = d > best_direct ? d : best_direct;
		best_bus = b > best_bus ? b : best_bus;
	}
	struct modvm_bus_stats st;
	modvm_bus_get_stats(bus, "bench.tick", &st);
	if (st.delivered != 3 * n)
		die("synchronous: events lost");
	printf("direct call through a pointer (baseline): %8.1f M calls/s   %6.2f ns/call\n",
	       best_direct / 1e6, 1e9 / best_direct);
	printf("synchronous publish->handler, 1 sub:      %8.1f M events/s  %6.2f ns/event  "
	       "(%.1fx the direct call's time; floor %.0f M/s: %s)\n",
	       best_bus / 1e6, 1e9 / best_bus, best_direct / best_bus, SYNC_FLOOR / 1e6,
	       best_bus >= SYNC_FLOOR ? "met" : "MISSED");
	modvm__bus_free(bus);
	modvm__loop_free(loop);
}

/* ---- cross-thread ---- */

struct xt {
	struct modvm_loop *loop;
	uint64_t expected, received;
	uint64_t *lat;
	uint64_t acked;		/* atomic: idle mode's handshake */
};

static void on_tick_xt(const struct tick *t, void *ud)
{
	struct xt *x = ud;
	x->lat[x->received++] = now_ns() - t->sent_ns;
	__atomic_store_n(&x->acked, t->seq + 1, __ATOMIC_RELEASE);
	if (x->received == x->expected)
		modvm_loop_break(x->loop);
}

struct prod { struct modvm_bus *bus; struct xt *x; uint64_t n; uint32_t id; bool idle; uint64_t again; };

static void *produce(void *arg)
{
	struct prod *p = arg;
	for (uint64_t i = 0; i < p->n; i++) {
		struct tick t = { .seq = i, .sent_ns = now_ns(), .producer = p->id };
		int r;
		while ((r = modvm_publish_tick(p->bus, &t)) == -EAGAIN)
			p->again++;
		if (r < 0)
			die("cross-thread publish failed");
		while (p->idle && __atomic_load_n(&p->x->acked, __ATOMIC_ACQUIRE) != i + 1)
			sched_yield();
	}
	return NULL;
}

static void cross_thread(unsigned producers, uint64_t per_producer, bool idle)
{
	struct xt x = { .loop = modvm__loop_new() };
	struct modvm_bus *bus = x.loop ? modvm__bus_new(x.loop) : NULL;
	x.expected = producers * per_producer;
	x.lat = malloc(x.expected * sizeof(*x.lat));
	if (!bus || !x.lat || modvm_subscribe_tick(bus, 0, on_tick_xt, &x) < 0)
		die("setup failed");

	pthread_t th[2];
	struct prod args[2];
	uint64_t t0 = now_ns();
	for (unsigned i = 0; i < producers; i++) {
		args[i] = (struct prod){ bus, &x, per_producer, i, idle, 0 };
		if (pthread_create(&th[i], NULL, produce, &args[i]))
			die("pthread_create failed");
	}
	modvm__loop_run(x.loop);
	uint64_t t1 = now_ns();
	uint64_t again = 0;
	for (unsigned i = 0; i < producers; i++) {
		pthread_join(th[i], NULL);
		again += args[i].again;
	}
	qsort(x.lat, x.expected, sizeof(*x.lat), cmp_u64);
	double rate = (double)x.expected / ((double)(t1 - t0) / 1e9);
	if (idle)
		printf("cross-thread, idle (1 in flight):         %8.2f M events/s  latency p50 %8.1f us"
		       "  p99 %8.1f us\n",
		       rate / 1e6, (double)x.lat[x.expected / 2] / 1e3,
		       (double)x.lat[x.expected * 99 / 100] / 1e3);
	else
		printf("cross-thread, %u producer%s, flood:        %8.2f M events/s  latency p50 %8.1f us"
		       "  p99 %8.1f us  (floor %.0f M/s: %s; queue-full retries %llu)\n",
		       producers, producers > 1 ? "s" : " ", rate / 1e6,
		       (double)x.lat[x.expected / 2] / 1e3,
		       (double)x.lat[x.expected * 99 / 100] / 1e3, XT_FLOOR / 1e6,
		       rate >= XT_FLOOR ? "met" : "MISSED", (unsigned long long)again);
	free(x.lat);
	modvm__bus_free(bus);
	modvm__loop_free(x.loop);
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000;
	if (n < 1000)
		die("need at least 1000 events");
	printf("bench_bus: %llu synchronous events, %llu cross-thread\n", (unsigned long long)n,
	       (unsigned long long)(n / 10));
	synchronous(n);
	cross_thread(1, n / 10, false);
	cross_thread(2, n / 20, false);
	cross_thread(1, n / 1000 < 20000 ? n / 1000 : 20000, true);
	return 0;
}
