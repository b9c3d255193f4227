/*
 * Event-bus throughput and latency, against a direct call through a
 * function pointer measured in the same run.  Not a test: prints numbers.
 *
 *   bench_bus [events]       (default 20 million synchronous, 2 million cross-thread)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <modvm/events.h>
#include "internal.h"

struct tick { uint64_t seq; uint64_t sent_ns; uint32_t producer; uint32_t pad; };
MODVM_EVENT(tick, "bench.tick", struct tick, 1)

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static volatile uint64_t sink;
static void on_tick(const struct tick *t, void *ud) { (void)ud; sink += t->seq; }
static void (*volatile direct)(const struct tick *, void *) = on_tick;

struct xt {
	struct modvm_loop *loop;
	struct modvm_bus *bus;
	uint64_t expected, received;
	uint64_t *lat;
};

static void on_tick_xt(const struct tick *t, void *ud)
{
	struct xt *x = ud;
	x->lat[x->received++] = now_ns() - t->sent_ns;
	if (x->received == x->expected)
		modvm_loop_break(x->loop);
}

struct prod { struct modvm_bus *bus; uint64_t n; uint32_t id; };
static void *produce(void *arg)
{
	struct prod *p = arg;
	for (uint64_t i = 0; i < p->n; i++) {
		struct tick t = { .seq = i, .sent_ns = now_ns(), .producer = p->id };
		while (modvm_publish_tick(p->bus, &t) == -EAGAIN)
			;
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void cross_thread(unsigned producers, uint64_t per_producer)
{
	struct xt x = { .loop = modvm__loop_new() };
	x.bus = modvm__bus_new(x.loop);
	x.expected = producers * per_producer;
	x.lat = malloc(x.expected * sizeof(*x.lat));
	int id = modvm_subscribe_tick(x.bus, 0, on_tick_xt, &x);
	pthread_t th[4];
	struct prod args[4];
	uint64_t t0 = now_ns();
	for (unsigned i = 0; i < producers; i++) {
		args[i] = (struct prod){ x.bus, per_producer, i };
		pthread_create(&th[i], NULL, produce, &args[i]);
	}
	modvm__loop_run(x.loop);
	uint64_t t1 = now_ns();
	for (unsigned i = 0; i < producers; i++)
		pthread_join(th[i], NULL);
	qsort(x.lat, x.expected, sizeof(*x.lat), cmp_u64);
	printf("cross-thread, %u producer%s: %6.2f M events/s   latency p50 %6.1f us  p99 %7.1f us\n",
	       producers, producers > 1 ? "s" : " ", (double)x.expected / ((t1 - t0) / 1e3),
	       x.lat[x.expected / 2] / 1e3, x.lat[x.expected * 99 / 100] / 1e3);
	modvm_bus_unsubscribe(x.bus, id);
	free(x.lat);
	modvm__bus_free(x.bus);
	modvm__loop_free(x.loop);
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000;
	struct modvm_loop *loop = modvm__loop_new();
	struct modvm_bus *bus = modvm__bus_new(loop);
	modvm_subscribe_tick(bus, 0, on_tick, NULL);

	struct tick t = { 0 };
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		t.seq = i;
		direct(&t, NULL);
	}
	uint64_t t1 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		t.seq = i;
		modvm_publish_tick(bus, &t);
	}
	uint64_t t2 = now_ns();
	double base = n / ((t1 - t0) / 1e3), bus_rate = n / ((t2 - t1) / 1e3);
	printf("direct call (baseline):      %7.1f M calls/s\n", base);
	printf("synchronous publish->handler: %7.1f M events/s  (%.1fx the baseline's time, %.1f ns/event)\n",
	       bus_rate, base / bus_rate, (double)(t2 - t1) / n);
	modvm__bus_free(bus);
	modvm__loop_free(loop);

	cross_thread(1, n / 10);
	cross_thread(2, n / 20);
	return 0;
}
