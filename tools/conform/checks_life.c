/*
 * Checks that run the plugin's callbacks: orders, repetition and leaks,
 * init latency, interfaces, handler latency.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <modvm/events.h>

#include "host/host.h"
#include "conform.h"

#define INIT_BOUND_NS (100ull * 1000 * 1000)
#define HANDLER_BOUND_NS (10ull * 1000 * 1000)
#define HEAP_GROWTH_BOUND (256u * 1024)
#define RSS_GROWTH_BOUND (64ull << 20)

/* Present only in sanitizer builds: a real leak check beats a heap delta. */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

uint64_t conform_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t conform_rand(uint64_t *state)
{
	uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

int conform_count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static uint64_t rss_bytes(void)
{
	unsigned long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* init → [start → stop] → fini; @detail says which call failed. */
static int one_cycle(struct harness *h, bool with_start, char *detail, size_t n)
{
	int r = harness_init(h);

	if (r < 0) {
		snprintf(detail, n, "init failed: %s", modvm_strerror(r));
		return r;
	}
	if (with_start) {
		r = harness_start(h);
		if (r < 0) {
			snprintf(detail, n, "start failed: %s", modvm_strerror(r));
			harness_fini(h);	/* what the host does after a failed start */
			return r;
		}
		harness_stop(h);
	}
	harness_fini(h);
	return 0;
}

enum verdict conform_check_lifecycle(const struct conform_opts *o, char *detail, size_t n)
{
	struct harness h;
	enum verdict v = harness_open(&h, o, detail, n);

	if (v != V_PASS)
		return v;
	/* Both orders the ABI allows (a failed start elsewhere means init → fini),
	 * each followed by the other so re-init after either is covered. */
	if (one_cycle(&h, false, detail, n) < 0 || one_cycle(&h, true, detail, n) < 0 ||
	    one_cycle(&h, false, detail, n) < 0) {
		harness_close(&h);
		return V_FAIL;
	}
	harness_close(&h);
	snprintf(detail, n, "init->fini, init->start->stop->fini, init->fini again");
	return V_PASS;
}

enum verdict conform_check_cycles(const struct conform_opts *o, char *detail, size_t n)
{
	struct harness h;
	int cycles = o->strictness * 20;
	int fd0, fd1, th0, th1;
	size_t heap0, heap1;
	uint64_t rss0, rss1;
	enum verdict v = harness_open(&h, o, detail, n);

	if (v != V_PASS)
		return v;
	/* Warm-up: first-use allocations (bus registry, lazy tables) are not leaks. */
	if (one_cycle(&h, true, detail, n) < 0 || one_cycle(&h, false, detail, n) < 0)
		goto fail;
	fd0 = conform_count_dir("/proc/self/fd");
	th0 = conform_count_dir("/proc/self/task");
	heap0 = mallinfo2().uordblks;
	rss0 = rss_bytes();
	for (int i = 0; i < cycles; i++) {
		if (one_cycle(&h, i % 2 == 0, detail, n) < 0) {
			size_t len = strlen(detail);

			snprintf(detail + len, n - len, " (cycle %d)", i + 2);
			goto fail;
		}
	}
	modvm__loop_run_once(modvm__host_loop(h.host));
	fd1 = conform_count_dir("/proc/self/fd");
	th1 = conform_count_dir("/proc/self/task");
	heap1 = mallinfo2().uordblks;
	rss1 = rss_bytes();
	if (fd1 != fd0) {
		snprintf(detail, n, "%d cycles: open fds went from %d to %d", cycles, fd0, fd1);
		goto fail;
	}
	if (th1 != th0) {
		snprintf(detail, n, "%d cycles: threads went from %d to %d", cycles, th0, th1);
		goto fail;
	}
	if (heap1 > heap0 + HEAP_GROWTH_BOUND) {
		snprintf(detail, n, "%d cycles: heap grew by %zu bytes", cycles, heap1 - heap0);
		goto fail;
	}
	if (rss1 > rss0 + RSS_GROWTH_BOUND) {
		snprintf(detail, n, "%d cycles: RSS grew by %" PRIu64 " KiB", cycles,
			 (rss1 - rss0) >> 10);
		goto fail;
	}
	harness_close(&h);
	if (__lsan_do_recoverable_leak_check && __lsan_do_recoverable_leak_check()) {
		snprintf(detail, n, "%d cycles: LeakSanitizer found leaks (-v shows them)", cycles);
		return V_FAIL;
	}
	snprintf(detail, n, "%d cycles, no fd/thread/heap growth", cycles);
	return V_PASS;
fail:
	harness_close(&h);
	return V_FAIL;
}

enum verdict conform_check_init_time(const struct conform_opts *o, char *detail, size_t n)
{
	struct harness h;
	uint64_t t0, dt;
	int r;
	enum verdict v = harness_open(&h, o, detail, n);

	if (v != V_PASS)
		return v;
	t0 = conform_now_ns();
	r = harness_init(&h);
	dt = conform_now_ns() - t0;
	if (r < 0) {
		snprintf(detail, n, "init failed: %s", modvm_strerror(r));
		harness_close(&h);
		return V_FAIL;
	}
	harness_close(&h);
	snprintf(detail, n, "init took %.3f ms (bound %llu ms)", dt / 1e6,
		 INIT_BOUND_NS / 1000000);
	return dt <= INIT_BOUND_NS ? V_PASS : V_FAIL;
}

enum verdict conform_check_interfaces(const struct conform_opts *o, char *detail, size_t n)
{
	char random_id[64];
	uint64_t seed = o->seed;
	const char *ids[] = { "", "modvm.conform.nonexistent/1", "modvm.cpu-backend/999",
			      "modvm.cpu-backend", "modvm.cpu-backend/1x", random_id, NULL };
	struct harness h;
	int r;
	enum verdict v = harness_open(&h, o, detail, n);

	if (v != V_PASS)
		return v;
	snprintf(random_id, sizeof(random_id), "conform.random-%016" PRIx64 "/%u",
		 conform_rand(&seed), (unsigned)(conform_rand(&seed) % 100));
	if (!h.desc->get_interface) {
		harness_close(&h);
		snprintf(detail, n, "no get_interface");
		return V_PASS;
	}
	r = harness_init(&h);
	if (r < 0) {
		snprintf(detail, n, "init failed: %s", modvm_strerror(r));
		harness_close(&h);
		return V_FAIL;
	}
	v = V_PASS;
	for (size_t i = 0; ids[i]; i++) {
		if (harness_get_interface(&h, ids[i])) {
			snprintf(detail, n, "unknown id \"%s\" returned non-NULL", ids[i]);
			v = V_FAIL;
			break;
		}
	}
	harness_close(&h);
	if (v == V_PASS)
		snprintf(detail, n, "unknown ids return NULL");
	return v;
}

/* Publishes @e zeroed on the loop thread (synchronous delivery) and times it. */
int conform_time_publish(struct harness *h, struct modvm_event_desc *e, uint64_t *ns)
{
	void *payload = calloc(1, e->payload_size);
	uint64_t t0;
	int r;

	if (!payload)
		return -ENOMEM;
	t0 = conform_now_ns();
	r = modvm_bus_publish(modvm__host_bus(h->host), e, payload, e->payload_size);
	modvm__bus_drain(modvm__host_bus(h->host));
	*ns = conform_now_ns() - t0;
	free(payload);
	return r;
}

/*
 * Random bytes for one payload of @e, shaped the way a real publisher's
 * are: a member that is not a plain 1/2/4/8-byte number is taken for text
 * or an array and ends in a NUL (strings on the bus are NUL-terminated),
 * and a `vm_id` member names VM 0 (the config's, if any) every other time,
 * else a VM nobody has.
 */
static void random_payload(const struct modvm_event_desc *e, uint8_t *p, uint64_t *seed,
			   bool known_vm)
{
	for (uint32_t i = 0; i < e->payload_size; i++)
		p[i] = (uint8_t)conform_rand(seed);
	for (uint32_t f = 0; e->fields && f < e->nfields; f++) {
		const struct modvm_event_field *fl = &e->fields[f];
		uint32_t sz = fl->size;

		if (fl->offset + sz > e->payload_size)
			continue;
		if (strcmp(fl->name, "vm_id") == 0 && sz == 4 && known_vm)
			memset(p + fl->offset, 0, 4);
		else if (sz != 1 && sz != 2 && sz != 4 && sz != 8)
			p[fl->offset + sz - 1] = '\0';
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Publishes @e on the loop thread (synchronous delivery) zeroed, then
 * RANDOM_PAYLOADS times with seeded random members (half of them for VM
 * 0).  *@ns is the median delivery time: a handler that is slow every time
 * fails the bound, one preempted once on a loaded machine does not.
 */
#define RANDOM_PAYLOADS 16
static int time_publish(struct harness *h, struct modvm_event_desc *e, uint64_t *seed,
			uint64_t *ns)
{
	uint8_t *payload = calloc(1, e->payload_size);
	uint64_t t0, took[RANDOM_PAYLOADS + 1];
	char what[96];
	int r = 0, k;

	if (!payload)
		return -ENOMEM;
	for (k = 0; k <= RANDOM_PAYLOADS && r >= 0; k++) {
		if (k)
			random_payload(e, payload, seed, k % 2);
		snprintf(what, sizeof(what), "handler of %s (%s payload %d)", e->name,
			 k ? "random" : "zeroed", k);
		conform_doing(h->desc->name, what);
		t0 = conform_now_ns();
		r = modvm_bus_publish(modvm__host_bus(h->host), e, payload, e->payload_size);
		modvm__bus_drain(modvm__host_bus(h->host));
		took[k] = conform_now_ns() - t0;
		conform_doing(NULL, NULL);
	}
	qsort(took, (size_t)k, sizeof(took[0]), cmp_u64);
	*ns = took[k / 2];
	free(payload);
	return r;
}

/* vm.lifecycle once per state: handlers usually act on one state only. */
int conform_time_lifecycle_states(struct harness *h, uint64_t *worst)
{
	struct modvm_vm_lifecycle ev = { .vcpus = 1, .memory_bytes = 64ull << 20 };
	uint64_t t0, ns;
	int r;

	snprintf(ev.vm_name, sizeof(ev.vm_name), "conform");
	for (uint32_t s = MODVM_VM_CREATED; s <= MODVM_VM_FAILED; s++) {
		ev.state = s;
		t0 = conform_now_ns();
		r = modvm_publish_vm_lifecycle(modvm__host_bus(h->host), &ev);
		modvm__bus_drain(modvm__host_bus(h->host));
		ns = conform_now_ns() - t0;
		if (r < 0)
			return r;
		if (ns > *worst)
			*worst = ns;
	}
	return 0;
}

enum verdict conform_check_handlers(const struct conform_opts *o, char *detail, size_t n)
{
	struct harness h;
	uint64_t worst = 0, ns, seed = o->seed ^ 0x68616e64ULL;
	size_t heap0 = 0, heap1;
	char worst_name[64] = "-";	/* a copy: a plugin's own event name goes with it */
	int r, count = 0;
	enum verdict v = harness_open(&h, o, detail, n);

	if (v != V_PASS)
		return v;
	if ((r = harness_init(&h)) < 0 || (r = harness_start(&h)) < 0) {
		snprintf(detail, n, "init/start failed: %s", modvm_strerror(r));
		harness_close(&h);
		return V_FAIL;
	}
	/* Round 0 warms up (first-use allocations are not leaks); round 1 is measured. */
	for (int round = 0; round < 2; round++) {
		if (round == 1)
			heap0 = mallinfo2().uordblks;
		for (int pass = 0; pass < 2; pass++) {
			struct modvm_event_desc *const *list = pass ? h.desc->events
								    : conform_std_events;

			for (size_t i = 0; list && list[i]; i++) {
				r = time_publish(&h, list[i], &seed, &ns);
				if (r < 0 && r != -EPROTO) {
					snprintf(detail, n, "publishing %s failed: %s",
						 list[i]->name, modvm_strerror(r));
					goto fail;
				}
				count += round == 0;
				if (ns > worst) {
					worst = ns;
					snprintf(worst_name, sizeof(worst_name), "%s",
						 list[i]->name);
				}
			}
		}
	}
	heap1 = mallinfo2().uordblks;
	if (heap1 > heap0 + HEAP_GROWTH_BOUND) {
		snprintf(detail, n, "handled events leaked: heap grew by %zu bytes over %d "
			 "deliveries", heap1 - heap0, count * (RANDOM_PAYLOADS + 1));
		goto fail;
	}
	ns = 0;
	r = conform_time_lifecycle_states(&h, &ns);
	if (r < 0) {
		snprintf(detail, n, "publishing vm.lifecycle failed: %s", modvm_strerror(r));
		goto fail;
	}
	count += MODVM_VM_FAILED;
	if (ns > worst) {
		worst = ns;
		snprintf(worst_name, sizeof(worst_name), "vm.lifecycle");
	}
	harness_stop(&h);
	harness_close(&h);
	if (__lsan_do_recoverable_leak_check && __lsan_do_recoverable_leak_check()) {
		snprintf(detail, n, "handled events leaked: LeakSanitizer found leaks (-v shows "
			 "them)");
		return V_FAIL;
	}
	snprintf(detail, n, "%d events, each zeroed and %d times random (seed-derived, half for "
		 "VM 0), twice, no leak; slowest median %s %.3f ms (bound %llu ms)", count, RANDOM_PAYLOADS, worst_name,
		 worst / 1e6, HANDLER_BOUND_NS / 1000000);
	return worst <= HANDLER_BOUND_NS ? V_PASS : V_FAIL;
fail:
	harness_stop(&h);
	harness_close(&h);
	return V_FAIL;
}
