/*
 * Live on this machine: a real 2-vCPU guest on KVM (the KVM-selftests-style
 * harness of tests/guest/lib, guest code at CPL3, so it runs natively) under
 * the core-parking policy on the power-park mechanism in an in-process host,
 * affinity action.
 *
 * The guest idles first (each vCPU hands its thread back with a ucall and
 * the host thread sleeps, as a halted vCPU's would): both vCPU threads end
 * up on one core (sched_getaffinity, and /proc/self/task/TID/stat field 39).
 * Then it spins at CPL3 and must get both cores back within 2 intervals.
 *
 * vcpu.stats is published here every quarter interval from the vCPU
 * threads' own clocks, as the core does for its VMs.  proc_stat is a frozen
 * copy (zero busy): this machine is shared, other people's builds would
 * otherwise decide; the guest's demand must come from its own vCPU threads.
 *
 * Skips (77) with the reason without /dev/kvm (or a CPU backend for it) or
 * when this process may not run on both cpu0 and cpu1.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <modvm/events.h>
#include <modvm/loop.h>

#include "guest_park.h"
#include "harness.h"
#include "host/host.h"

#define INTERVAL_MS 100
#define IDLE_SLEEP_MS 20	/* a ucall round trip costs up to ~1 ms in the nested host: under 10 % */

struct runner {
	pthread_t th;
	struct gvcpu *vcpu;
	_Atomic int tid;
	atomic_bool stop;
	int err;		/* no Check assertions off the main thread */
	char what[128];
	uint64_t started_ns;	/* when the thread started (stats count from it) */
};

struct watch {
	unsigned loads, parked, unparked;
	char reason[64];
};

static struct runner run[2];
static char logbuf[8192];
static char conf_path[64];

static void ck_hook(const char *msg)
{
	ck_abort_msg("%s", msg);
}

static void sink(enum modvm_log_level lvl, const char *line, void *ud)
{
	(void)lvl;
	(void)ud;
	strncat(logbuf, line, sizeof(logbuf) - strlen(logbuf) - 2);
	strcat(logbuf, "\n");
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A vCPU thread: runs the guest; an idle ucall sleeps like HLT would. */
static void *vcpu_thread(void *arg)
{
	struct runner *r = arg;

	r->tid = gettid();
	while (!r->stop) {
		struct modvm_cpu_exit *e;
		struct ucall uc;
		int rc = __gvcpu_run(r->vcpu, &e);

		if (rc == -ETIMEDOUT || (rc == 0 && e->kind == MODVM_EXIT_INTR))
			continue;	/* kicked: look at stop */
		if (rc < 0) {
			r->err = rc;
			snprintf(r->what, sizeof(r->what), "run: %s", strerror(-rc));
			break;
		}
		if (__gvcpu_get_ucall(r->vcpu, e, &uc) == UCALL_SYNC) {
			sleep_ms(IDLE_SLEEP_MS);
			continue;
		}
		r->err = -EPROTO;
		gexit_format(e, r->what, sizeof(r->what));
		break;
	}
	return NULL;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* What the core's stats timer does for a VM: each vCPU thread's clock. */
static void stats_tick(struct modvm_timer *t, void *ud)
{
	struct modvm_host *host = ud;

	(void)t;
	for (uint32_t i = 0; i < 2; i++) {
		struct modvm_vcpu_stats ev = { .vm_id = 0, .vcpu = i, .host_cpu = -1,
					       .tid = run[i].tid };
		struct timespec ts;
		clockid_t clk;
		uint64_t now = now_ns();

		if (pthread_getcpuclockid(run[i].th, &clk) != 0 || clock_gettime(clk, &ts) != 0)
			continue;
		ev.run_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		ev.interval_ns = now - run[i].started_ns;	/* vcpu.stats v2: since the start */
		modvm_publish_vcpu_stats(modvm__host_bus(host), &ev);
	}
}

static void on_load(const struct modvm_host_cpu_load *ev, void *ud)
{
	struct watch *w = ud;

	w->loads += ev->cpu == 1;	/* one per tick */
}

static void on_state(const struct modvm_power_core_state *ev, void *ud)
{
	struct watch *w = ud;

	ck_assert_uint_eq(ev->cpu, 1);
	if (ev->state == MODVM_CORE_PARKED)
		w->parked++;
	else
		w->unparked++;
	snprintf(w->reason, sizeof(w->reason), "%s", ev->reason);
}

/* Field 39 of /proc/self/task/TID/stat: the cpu it last ran on. */
static int processor(int tid)
{
	char path[64], buf[1024], *p, *save = NULL;
	int field = 2, cpu = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "re");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	p = strrchr(buf, ')');	/* the comm field may hold spaces */
	ck_assert_ptr_nonnull(p);
	for (char *tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		if (++field == 39) {
			cpu = atoi(tok);
			break;
		}
	return cpu;
}

static bool only_on(int tid, int cpu)
{
	cpu_set_t set;

	ck_assert_int_eq(sched_getaffinity(tid, sizeof(set), &set), 0);
	return CPU_COUNT(&set) == 1 && CPU_ISSET(cpu, &set);
}

static void loop_for_ms(struct modvm_host *host, unsigned ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000u;

	while (now_ns() < end)
		modvm__loop_run_once(modvm__host_loop(host));
}

static void check_runners(void)
{
	for (int i = 0; i < 2; i++)
		ck_assert_msg(run[i].err == 0, "vCPU %d: %s", i, run[i].what);
}

START_TEST(idle_guest_packed_busy_guest_gets_both_cores_back)
{
	struct watch w = { 0 };
	struct modvm_host *host = modvm__host_new();
	struct modvm_timer *stats;
	struct gvm *vm;
	cpu_set_t orig, set;
	unsigned ticks_at_switch;
	uint64_t deadline, spins[2];
	bool apart = false;
	FILE *f;

	ck_assert_int_eq(sched_getaffinity(0, sizeof(orig), &orig), 0);
	snprintf(conf_path, sizeof(conf_path), "/tmp/park-live-%d.conf", (int)getpid());
	f = fopen(conf_path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"plugins = { core-parking = { enabled = true;\n"
		"  interval_ms = %d; decrease_time = 2; increase_threshold = 25;\n"
		"  decrease_threshold = 10; proc_stat = \"%s/tests/fixtures/park/proc-stat-half-t0\"; };"
		"  power-park = { enabled = true; action = \"affinity\"; cores = \"0-1\"; };"
		" };\n",
		INTERVAL_MS, getenv("MODVM_SOURCE_ROOT"));
	fclose(f);
	ck_assert_ptr_nonnull(host);
	ck_assert_int_eq(modvm__host_load_config(host, conf_path), 0);
	unlink(conf_path);
	ck_assert_int_eq(modvm__host_load_plugins(host), 0);
	ck_assert_int_ge(modvm_subscribe_host_cpu_load(modvm__host_bus(host), 0, on_load, &w), 1);
	ck_assert_int_ge(modvm_subscribe_power_core_state(modvm__host_bus(host), 0, on_state, &w),
			 1);
	modvm_log_set_sink(sink, NULL);
	modvm_log_set_level(MODVM_LOG_INFO);

	vm = gvm_create(2);
	GVM_GLOBAL(vm, park_guest_mode) = PARK_GUEST_IDLE;
	for (unsigned i = 0; i < 2; i++) {
		run[i] = (struct runner){ .vcpu = gvm_vcpu_add(vm, i, park_guest_vcpu, i, GTEST_CPL3),
					  .started_ns = now_ns() };
		gvcpu_set_timeout(run[i].vcpu, 20000);
		ck_assert_int_eq(pthread_create(&run[i].th, NULL, vcpu_thread, &run[i]), 0);
	}
	while (!run[0].tid || !run[1].tid)
		sleep_ms(1);
	ck_assert_int_eq(modvm__host_start(host), 0);
	stats = modvm_timer_start(modvm__host_loop(host), INTERVAL_MS / 4000.0,
				  INTERVAL_MS / 4000.0, stats_tick, host);
	ck_assert_ptr_nonnull(stats);

	/*
	 * idle guest: cpu1 parked after decrease_time intervals, both vCPUs on
	 * cpu0.  Within 10 s: in the nested test host each idle ucall costs the
	 * vCPU thread milliseconds of emulated CPU, and on a loaded machine the
	 * first intervals can look busy.
	 */
	uint64_t t_idle = now_ns();
	deadline = t_idle + 10000000000u;
	while (w.parked == 0 && now_ns() < deadline)
		modvm__loop_run_once(modvm__host_loop(host));
	check_runners();
	ck_assert_msg(w.parked == 1, "idle guest not packed within 10 s; log: %s", logbuf);
	printf("idle guest packed after %.1f s (%u intervals)\n", (now_ns() - t_idle) / 1e9,
	       w.loads);
	ck_assert_msg(strstr(logbuf, "power-park: re-pinned 2 vCPU threads and "), "log: %s", logbuf);
	ck_assert(only_on(run[0].tid, 0) && only_on(run[1].tid, 0));
	ck_assert(only_on(gettid(), 0));	/* modvm's own threads too */
	loop_for_ms(host, 3 * IDLE_SLEEP_MS * 4);	/* each idle vCPU ran a few times since */
	ck_assert_int_eq(processor(run[0].tid), 0);
	ck_assert_int_eq(processor(run[1].tid), 0);
	ck_assert_uint_eq(w.unparked, 0);

	/* busy guest: a CPL3 spin loop on both vCPUs; both cores within 2 intervals */
	spins[0] = GVM_GLOBAL(vm, park_guest_spins[0].n);
	spins[1] = GVM_GLOBAL(vm, park_guest_spins[1].n);
	ticks_at_switch = w.loads;
	GVM_GLOBAL(vm, park_guest_mode) = PARK_GUEST_SPIN;
	deadline = now_ns() + 3000000000u;
	while (w.unparked == 0 && w.loads - ticks_at_switch <= 2 && now_ns() < deadline)
		modvm__loop_run_once(modvm__host_loop(host));
	check_runners();
	ck_assert_msg(w.unparked == 1, "busy guest still packed after %u intervals; log: %s",
		      w.loads - ticks_at_switch, logbuf);
	ck_assert_uint_le(w.loads - ticks_at_switch, 2);
	ck_assert_msg(strstr(w.reason, "vCPU load ") && strstr(w.reason, "on 1 cores above 25%"),
		      "reason: %s", w.reason);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(sched_getaffinity(run[i].tid, sizeof(set), &set), 0);
		ck_assert(CPU_ISSET(0, &set) && CPU_ISSET(1, &set));
	}
	/*
	 * Where the scheduler then puts them is its business, not the plugin's:
	 * on this shared 2-core machine another load often keeps both on one
	 * core for seconds though both are allowed.  Reported, not asserted.
	 */
	deadline = now_ns() + 1000000000u;
	while (!apart && now_ns() < deadline) {
		loop_for_ms(host, 10);
		apart = processor(run[0].tid) != processor(run[1].tid);
	}
	printf("note: the spinning vCPUs %s on different cores within 1 s\n",
	       apart ? "ran" : "did not run");
	ck_assert_uint_eq(w.parked, 1);	/* and the busy guest is not packed again */
	ck_assert_uint_gt(GVM_GLOBAL(vm, park_guest_spins[0].n), spins[0]);
	ck_assert_uint_gt(GVM_GLOBAL(vm, park_guest_spins[1].n), spins[1]);

	/* stop restores every thread's affinity */
	modvm_timer_stop(stats);
	modvm__host_stop(host);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(sched_getaffinity(run[i].tid, sizeof(set), &set), 0);
		ck_assert(CPU_EQUAL(&set, &orig));
	}
	ck_assert_int_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	ck_assert(CPU_EQUAL(&set, &orig));
	for (int i = 0; i < 2; i++) {
		run[i].stop = true;
		gvcpu_kick(run[i].vcpu);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(run[i].th, NULL);
	check_runners();
	gvm_destroy(vm);
	modvm_log_set_sink(NULL, NULL);
	modvm__host_free(host);
}
END_TEST

int main(void)
{
	Suite *s;
	TCase *t;
	SRunner *sr;
	cpu_set_t set;
	int failed;

	if (sched_getaffinity(0, sizeof(set), &set) < 0 || !CPU_ISSET(0, &set) ||
	    !CPU_ISSET(1, &set)) {
		printf("SKIP: this process may not run on both cpu0 and cpu1\n");
		return 77;
	}
	gtest_require_kvm();	/* exits 77 with the reason */
	gtest_fail_hook = ck_hook;
	s = suite_create("park-live");
	t = tcase_create("live");
	tcase_set_timeout(t, 30);
	tcase_add_test(t, idle_guest_packed_busy_guest_gets_both_cores_back);
	suite_add_tcase(s, t);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
