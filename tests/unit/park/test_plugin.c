/*
 * The core-parking policy on the power-park mechanism, loaded into an
 * in-process host: a scripted
 * /proc/stat (rewritten before every tick) and a generated sysfs tree.
 * host.cpu_load and power.core_state come out on the bus, the cpufreq and
 * offline actions hit the fixture tree, stop() restores it, and a file that
 * is not /proc/stat makes start fail with one clear line.  vcpu.stats (the
 * vCPU threads' run time) unparks cores /proc/stat does not show busy, and
 * names the vCPU threads the affinity action pins; min_cores takes "50%".
 */
#include <pthread.h>
#include <sched.h>
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <modvm/events.h>

#include "host/host.h"
#include "sysfs_tree.h"

#define NCPU 4

struct watch {
	unsigned loads, parked, unparked;
	char last_reason[64];
	bool cpu0_parked;
};

static char root[256], stat_path[64], conf_path[64];
static uint64_t busy[NCPU], idle[NCPU];
static char logbuf[4096];

static void sink(enum modvm_log_level lvl, const char *line, void *ud)
{
	(void)lvl;
	(void)ud;
	strncat(logbuf, line, sizeof(logbuf) - strlen(logbuf) - 2);
	strcat(logbuf, "\n");
}

static void on_load(const struct modvm_host_cpu_load *ev, void *ud)
{
	struct watch *w = ud;

	ck_assert_uint_lt(ev->cpu, NCPU);
	ck_assert_uint_le(ev->busy_permille, 1000);
	w->loads++;
}

static void on_state(const struct modvm_power_core_state *ev, void *ud)
{
	struct watch *w = ud;

	if (ev->state == MODVM_CORE_PARKED) {
		w->parked++;
		w->cpu0_parked |= ev->cpu == 0;
	} else {
		w->unparked++;
	}
	snprintf(w->last_reason, sizeof(w->last_reason), "%s", ev->reason);
}

/* Advances every core by 100 jiffies, @busy_pct of them busy. */
static void write_stat(unsigned busy_pct)
{
	FILE *f = fopen(stat_path, "w");

	ck_assert_ptr_nonnull(f);
	fprintf(f, "cpu  0 0 0 0 0 0 0 0 0 0\n");
	for (unsigned c = 0; c < NCPU; c++) {
		busy[c] += busy_pct;
		idle[c] += 100 - busy_pct;
		fprintf(f, "cpu%u %llu 0 0 %llu 0 0 0 0 0 0\n", c, (unsigned long long)busy[c],
			(unsigned long long)idle[c]);
	}
	fprintf(f, "intr 0\n");
	fclose(f);
}

static const char *cores = "0-3";
static const char *extra = "";

static void write_conf(const char *action, const char *proc_stat)
{
	FILE *f = fopen(conf_path, "w");

	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"plugins = { core-parking = { enabled = true; interval_ms = 10;\n"
		"  decrease_time = 2; proc_stat = \"%s\"; %s };\n"
		"  power-park = { enabled = true; action = \"%s\"; cores = \"%s\";\n"
		"  sysfs_root = \"%s\"; state_file = \"%s/power-park.state\"; }; };\n",
		proc_stat, extra, action, cores, root, root);
	fclose(f);
}

static struct modvm_host *host_up(const char *action, const char *proc_stat, struct watch *w)
{
	struct modvm_host *host = modvm__host_new();

	write_conf(action, proc_stat);
	ck_assert_ptr_nonnull(host);
	ck_assert_int_eq(modvm__host_load_config(host, conf_path), 0);
	ck_assert_int_eq(modvm__host_load_plugins(host), 0);
	ck_assert_int_ge(modvm_subscribe_host_cpu_load(modvm__host_bus(host), 0, on_load, w), 1);
	ck_assert_int_ge(modvm_subscribe_power_core_state(modvm__host_bus(host), 0, on_state, w),
			 1);
	return host;
}

/* Writes one interval of @pct load and runs the loop until the plugin sampled it. */
static void tick(struct modvm_host *host, struct watch *w, unsigned pct)
{
	unsigned before = w->loads;

	write_stat(pct);
	for (int i = 0; i < 2000 && w->loads == before; i++) {
		modvm__loop_run_once(modvm__host_loop(host));
		usleep(1000);
	}
	ck_assert_uint_eq(w->loads, before + NCPU);
}

static const char *gov(unsigned cpu)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "cpu%u/cpufreq/scaling_governor", cpu);
	return sysfs_tree_read(root, rel);
}

static const char *online(unsigned cpu)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "cpu%u/online", cpu);
	return sysfs_tree_read(root, rel);
}

static void setup(void)
{
	snprintf(root, sizeof(root), "%s", sysfs_tree_create(NCPU, "schedutil"));
	snprintf(stat_path, sizeof(stat_path), "/tmp/park-plugin-stat-%d", (int)getpid());
	snprintf(conf_path, sizeof(conf_path), "/tmp/park-plugin-%d.conf", (int)getpid());
	memset(busy, 0, sizeof(busy));
	memset(idle, 0, sizeof(idle));
	write_stat(0);
	logbuf[0] = '\0';
	modvm_log_set_sink(sink, NULL);
}

static void teardown(void)
{
	modvm_log_set_sink(NULL, NULL);
	modvm_log_set_level(MODVM_LOG_WARN);
	unlink(stat_path);
	unlink(conf_path);
	sysfs_tree_destroy(root);
}

START_TEST(cpufreq_parks_unparks_and_restores_on_stop)
{
	struct watch w = { 0 };
	struct modvm_host *host = host_up("cpufreq", stat_path, &w);

	ck_assert_int_eq(modvm__host_start(host), 0);
	/* 5 % on 4 cores = 200 permille: fits in 1 core below 20 %? no, in 2 */
	for (int i = 0; i < 6; i++)
		tick(host, &w, 5);
	ck_assert_uint_eq(w.parked, 2);
	ck_assert_str_eq(gov(3), "powersave");
	ck_assert_str_eq(gov(2), "powersave");
	ck_assert_str_eq(gov(1), "schedutil");
	ck_assert_ptr_nonnull(strstr(w.last_reason, "fits in 2 cores below 20%"));
	/* a spike: every core 90 % busy: both come back in the same interval */
	tick(host, &w, 90);
	ck_assert_uint_eq(w.unparked, 2);
	ck_assert_str_eq(gov(3), "schedutil");
	ck_assert_ptr_nonnull(strstr(w.last_reason, "above 60%"));
	for (int i = 0; i < 2; i++)
		tick(host, &w, 5);
	ck_assert_str_eq(gov(3), "powersave");
	/* stop (what SIGTERM leads to) restores the tree and says so */
	modvm__host_stop(host);
	ck_assert_str_eq(gov(3), "schedutil");
	ck_assert_str_eq(w.last_reason, "stopping: restored");
	ck_assert_uint_eq(w.parked, w.unparked);
	modvm__host_free(host);
}
END_TEST

START_TEST(offline_never_cpu0_and_restores_on_stop)
{
	struct watch w = { 0 };
	struct modvm_host *host = host_up("offline", stat_path, &w);

	ck_assert_int_eq(modvm__host_start(host), 0);
	for (int i = 0; i < 8; i++)
		tick(host, &w, 1);	/* 40 permille: fits in one core */
	ck_assert_uint_eq(w.parked, 3);
	ck_assert(!w.cpu0_parked);
	ck_assert_str_eq(online(0), "1");
	ck_assert_str_eq(online(1), "0");
	ck_assert_str_eq(online(3), "0");
	modvm__host_stop(host);
	for (unsigned c = 0; c < NCPU; c++)
		ck_assert_str_eq(online(c), "1");
	modvm__host_free(host);
}
END_TEST

START_TEST(garbage_proc_stat_refused_at_start)
{
	struct watch w = { 0 };
	char garbage[1024];
	struct modvm_host *host;

	snprintf(garbage, sizeof(garbage), "%s/tests/fixtures/park/garbage.stat",
		 getenv("MODVM_SOURCE_ROOT"));
	host = host_up("affinity", garbage, &w);
	ck_assert_int_lt(modvm__host_start(host), 0);
	ck_assert_msg(strstr(logbuf, "core-parking: proc_stat: ") &&
			      strstr(logbuf, "garbage.stat: no cpuN lines: not a /proc/stat file"),
		      "log was: %s", logbuf);
	modvm__host_free(host);
}
END_TEST

START_TEST(queue_core_unparked_at_once_and_kept)
{
	struct watch w = { 0 };
	struct modvm_host *host = host_up("cpufreq", stat_path, &w);
	struct modvm_net_queue_assigned q = { .vm_id = 0, .queue = 0, .host_cpu = 3,
					      .dedicated = 1 };

	ck_assert_int_eq(modvm__host_start(host), 0);
	for (int i = 0; i < 6; i++)
		tick(host, &w, 1);
	ck_assert_str_eq(gov(3), "powersave");
	/* a VM's queue lands on parked cpu3: unparked by the event, not a tick later */
	ck_assert_int_eq(modvm_publish_net_queue_assigned(modvm__host_bus(host), &q), 0);
	ck_assert_str_eq(gov(3), "schedutil");
	ck_assert_str_eq(w.last_reason, "serves a network queue");
	for (int i = 0; i < 8; i++)
		tick(host, &w, 1);
	ck_assert_str_eq(gov(3), "schedutil");
	ck_assert_str_eq(gov(1), "powersave");
	/* cpu3 serving the queue carries the load: cpu0 went instead */
	ck_assert_str_eq(gov(0), "powersave");
	/* the VM stops: its queue no longer holds cpu3, which parks first again */
	struct modvm_vm_lifecycle lc = { .vm_id = 0, .state = MODVM_VM_STOPPED };
	ck_assert_int_eq(modvm_publish_vm_lifecycle(modvm__host_bus(host), &lc), 0);
	tick(host, &w, 90);
	ck_assert_str_eq(gov(0), "schedutil");
	for (int i = 0; i < 8; i++)
		tick(host, &w, 1);
	ck_assert_str_eq(gov(3), "powersave");
	ck_assert_str_eq(gov(0), "schedutil");
	modvm__host_stop(host);
	for (unsigned c = 0; c < NCPU; c++)
		ck_assert_str_eq(gov(c), "schedutil");
	modvm__host_free(host);
}
END_TEST

START_TEST(impossible_action_refused_at_start)
{
	struct watch w = { 0 };
	struct modvm_host *host;

	cores = "0-5";	/* the tree has cpu0..cpu3 */
	host = host_up("cpufreq", stat_path, &w);
	ck_assert_int_eq(modvm__host_start(host), -ENOENT);
	ck_assert_msg(strstr(logbuf, "power-park: action cpufreq: ") &&
			      strstr(logbuf, "/cpu4/cpufreq/scaling_governor: No such file or "
					     "directory (this host permits: affinity"),
		      "log was: %s", logbuf);
	modvm__host_free(host);
	cores = "0-3";
}
END_TEST

/* vcpu.stats v2: run_ns and interval_ns both count from the thread's start. */
static void publish_stats(struct modvm_host *host, uint32_t vcpu, int tid, uint64_t run_ns,
			  uint64_t wall_ns)
{
	struct modvm_vcpu_stats ev = { .vm_id = 0, .vcpu = vcpu, .host_cpu = 0, .tid = tid,
				       .run_ns = run_ns, .interval_ns = wall_ns };

	ck_assert_int_eq(modvm_publish_vcpu_stats(modvm__host_bus(host), &ev), 0);
}

/* /proc/stat says idle; the vCPU threads' own clocks say two cores' worth. */
START_TEST(vcpu_run_time_unparks_what_proc_stat_hides)
{
	struct watch w = { 0 };
	struct modvm_host *host = host_up("cpufreq", stat_path, &w);

	ck_assert_int_eq(modvm__host_start(host), 0);
	publish_stats(host, 0, 1000, 0, 1000000000u);
	publish_stats(host, 1, 1001, 0, 1000000000u);
	for (int i = 0; i < 8; i++)
		tick(host, &w, 1);
	ck_assert_uint_eq(w.parked, 3);
	/* both vCPUs ran the whole second */
	publish_stats(host, 0, 1000, 1000000000u, 2000000000u);
	publish_stats(host, 1, 1001, 1000000000u, 2000000000u);
	tick(host, &w, 1);
	ck_assert_uint_eq(w.unparked, 3);
	ck_assert_str_eq(w.last_reason, "vCPU load 200.0% on 1 cores above 60%");
	ck_assert_str_eq(gov(3), "schedutil");
	/* idle again (their clocks stand still): packed again */
	publish_stats(host, 0, 1000, 1000000000u, 3000000000u);
	publish_stats(host, 1, 1001, 1000000000u, 3000000000u);
	for (int i = 0; i < 8; i++)
		tick(host, &w, 1);
	ck_assert_uint_eq(w.parked, 6);
	/* a paused, then a stopped VM's vCPUs no longer count */
	publish_stats(host, 0, 1000, 2000000000u, 4000000000u);
	struct modvm_vm_lifecycle lc = { .vm_id = 0, .state = MODVM_VM_PAUSED, .vcpus = 2 };
	ck_assert_int_eq(modvm_publish_vm_lifecycle(modvm__host_bus(host), &lc), 0);
	tick(host, &w, 1);
	ck_assert_uint_eq(w.unparked, 3);
	publish_stats(host, 0, 1000, 3000000000u, 5000000000u);
	lc.state = MODVM_VM_STOPPED;
	ck_assert_int_eq(modvm_publish_vm_lifecycle(modvm__host_bus(host), &lc), 0);
	tick(host, &w, 1);
	ck_assert_uint_eq(w.unparked, 3);
	/* while without that, one busy vCPU sample unparks */
	publish_stats(host, 0, 1000, 1000000000u, 1000000000u);
	publish_stats(host, 0, 1000, 2000000000u, 2000000000u);
	tick(host, &w, 1);
	ck_assert_uint_eq(w.unparked, 6);	/* one core saturated: all back */
	modvm__host_stop(host);
	modvm__host_free(host);
}
END_TEST

static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int idle_tid;

static void *idle_vcpu(void *arg)
{
	(void)arg;
	idle_tid = gettid();
	pthread_mutex_lock(&idle_lock);	/* held by the test until it is done */
	pthread_mutex_unlock(&idle_lock);
	return NULL;
}

/* affinity: the thread vcpu.stats names is pinned as a vCPU; a foreign tid never is. */
START_TEST(affinity_pins_vcpu_threads_named_by_stats)
{
	struct watch w = { 0 };
	struct modvm_host *host = host_up("affinity", stat_path, &w);
	cpu_set_t orig, set, init_before, init_after;
	pthread_t th;

	ck_assert_int_eq(sched_getaffinity(0, sizeof(orig), &orig), 0);
	if (!CPU_ISSET(0, &orig) || CPU_COUNT(&orig) < 2) {
		modvm__host_free(host);
		return;	/* main() already said this host lacks cpu0 + another */
	}
	ck_assert_int_eq(sched_getaffinity(1, sizeof(init_before), &init_before), 0);
	pthread_mutex_lock(&idle_lock);
	ck_assert_int_eq(pthread_create(&th, NULL, idle_vcpu, NULL), 0);
	while (!idle_tid)
		usleep(1000);
	ck_assert_int_eq(modvm__host_start(host), 0);
	modvm_log_set_level(MODVM_LOG_INFO);	/* the re-pin line is INFO */
	publish_stats(host, 0, idle_tid, 0, 1000000000u);
	publish_stats(host, 1, 1, 0, 1000000000u);	/* pid 1 is not ours: must never be pinned */
	for (int i = 0; i < 8; i++)
		tick(host, &w, 1);
	ck_assert_uint_eq(w.parked, 3);
	ck_assert_msg(strstr(logbuf, "power-park: re-pinned 1 vCPU threads and "), "log: %s",
		      logbuf);
	ck_assert_int_eq(sched_getaffinity(idle_tid, sizeof(set), &set), 0);
	ck_assert_int_eq(CPU_COUNT(&set), 1);
	ck_assert(CPU_ISSET(0, &set));
	ck_assert_int_eq(sched_getaffinity(1, sizeof(init_after), &init_after), 0);
	ck_assert(CPU_EQUAL(&init_before, &init_after));
	modvm__host_stop(host);
	ck_assert_int_eq(sched_getaffinity(idle_tid, sizeof(set), &set), 0);
	ck_assert(CPU_EQUAL(&set, &orig));
	ck_assert_int_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	ck_assert(CPU_EQUAL(&set, &orig));
	pthread_mutex_unlock(&idle_lock);
	pthread_join(th, NULL);
	idle_tid = 0;
	modvm__host_free(host);
}
END_TEST

/* min_cores as a share of the managed cores, and a bad one refused with its place. */
START_TEST(min_cores_percent)
{
	struct watch w = { 0 };
	struct modvm_host *host;

	extra = "min_cores = \"50%\";";
	host = host_up("cpufreq", stat_path, &w);
	ck_assert_int_eq(modvm__host_start(host), 0);
	for (int i = 0; i < 10; i++)
		tick(host, &w, 0);
	ck_assert_uint_eq(w.parked, 2);
	ck_assert_str_eq(gov(1), "schedutil");
	ck_assert_str_eq(gov(2), "powersave");
	modvm__host_stop(host);
	modvm__host_free(host);

	extra = "min_cores = \"half\";";
	write_conf("cpufreq", stat_path);
	host = modvm__host_new();
	ck_assert_int_eq(modvm__host_load_config(host, conf_path), 0);
	ck_assert_int_eq(modvm__host_load_plugins(host), 0);
	ck_assert_int_lt(modvm__host_start(host), 0);
	ck_assert_msg(strstr(logbuf, "min_cores: \"half\": not a count like \"2\" or a percent "
				     "like \"50%\""), "log: %s", logbuf);
	ck_assert_msg(strstr(logbuf, conf_path), "no file:line in: %s", logbuf);
	modvm__host_free(host);
	extra = "";
}
END_TEST

int main(void)
{
	Suite *s = suite_create("park-plugin");
	TCase *t = tcase_create("plugin");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 20);
	tcase_add_test(t, cpufreq_parks_unparks_and_restores_on_stop);
	tcase_add_test(t, offline_never_cpu0_and_restores_on_stop);
	tcase_add_test(t, queue_core_unparked_at_once_and_kept);
	tcase_add_test(t, garbage_proc_stat_refused_at_start);
	tcase_add_test(t, impossible_action_refused_at_start);
	tcase_add_test(t, vcpu_run_time_unparks_what_proc_stat_hides);
	tcase_add_test(t, affinity_pins_vcpu_threads_named_by_stats);
	tcase_add_test(t, min_cores_percent);
	suite_add_tcase(s, t);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
