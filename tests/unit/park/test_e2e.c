/*
 * core-parking on power-park inside the real `modvm` binary: `plugins
 * --describe` lists both option tables and events, and a run with the demo
 * guest (2 vCPUs) and an
 * idle /proc/stat parks cpu1, re-pins both vCPU threads (modvm_plugin_vm +
 * modvm_vcpu_set_affinity) and restores everything when modvm stops.
 *
 * With the bench guest spinning forever (modvm.bench=spin) on a fixture
 * sysfs tree: the cpufreq and offline actions park cpu1 ("50%" of 2 cores
 * kept) and a SIGTERM to `modvm run` puts every file back.  The same run
 * with the core's vcpu.stats on never parks: the busy vCPU thread's own
 * run time outweighs the idle /proc/stat copy.  The runs need /dev/kvm
 * and skip (77) with the reason without it.
 */
#include <glob.h>
#include <sched.h>
#include <time.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guest_suite.h"
#include "run_modvm.h"
#include "sysfs_tree.h"

static struct run_result res;

START_TEST(describe_lists_options)
{
	run_modvm(&res, 30, "plugins", "--describe", "power-park", NULL);
	run_expect(&res, 0, "power-park 2.0.0", NULL);
	static const char *const keys[] = { "kind         other", "cores", "action", "sysfs_root",
		"state_file", "affinity|cpufreq|offline", "power.core_state" };
	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		ck_assert_msg(strstr(res.out, keys[i]) != NULL, "describe lacks %s", keys[i]);
	run_modvm(&res, 30, "plugins", "--describe", "core-parking", NULL);
	run_expect(&res, 0, "core-parking 1.0.0", NULL);
	static const char *const pkeys[] = { "kind         power-policy", "min_cores", "max_cores",
		"increase_threshold", "decrease_threshold", "increase_time", "decrease_time",
		"cores_per_step", "interval_ms", "proc_stat", "host.cpu_load" };
	for (unsigned i = 0; i < sizeof(pkeys) / sizeof(pkeys[0]); i++)
		ck_assert_msg(strstr(res.out, pkeys[i]) != NULL, "describe lacks %s", pkeys[i]);
}
END_TEST

START_TEST(demo_guest_vcpus_packed_and_restored)
{
	char conf[64];
	const char *root = getenv("MODVM_SOURCE_ROOT");
	FILE *f;
	int attempt;

	snprintf(conf, sizeof(conf), "/tmp/park-e2e-%d.conf", (int)getpid());
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	/* a static /proc/stat copy: zero busy every interval, so it parks at the first tick */
	fprintf(f,
		"plugins = { cpu-vmx = { enabled = true; }; cpu-svm = { enabled = true; };\n"
		"  core-parking = { enabled = true; interval_ms = 10; decrease_time = 1;\n"
		"    proc_stat = \"%s/tests/fixtures/park/proc-stat-half-t0\"; };\n"
		"  power-park = { enabled = true; }; };\n"
		"vms = ( { name = \"demo\"; vcpus = 2; memory = \"64M\"; kernel = \"builtin:demo\";"
		" console = \"none\"; } );\n", root ? root : ".");
	fclose(f);
	/* the demo guest lives ~50 ms: a loaded host may end it before the first tick */
	for (attempt = 0; attempt < 5; attempt++) {
		run_modvm(&res, 60, "-v", "run", conf, NULL);
		run_expect(&res, 0, "stopped", NULL);
		if (strstr(res.err, "power-park: cpu1 parked: "))
			break;
	}
	unlink(conf);
	ck_assert_msg(attempt < 5, "never parked: %s", run_tail(res.err, 3000));
	ck_assert_ptr_nonnull(strstr(res.err, "power-park: re-pinned 2 vCPU threads and "));
	ck_assert_ptr_nonnull(strstr(res.err, "onto 1 cpus"));
	ck_assert_ptr_nonnull(strstr(res.err, "power-park: cpu1 unparked: stopping: restored"));
	ck_assert_ptr_null(strstr(res.err, "error"));
}
END_TEST

static const char *const actions[] = { "cpufreq", "offline" };

/* Writes a config: bench guest spinning, power-park on the fixture tree @root. */
static void spin_conf(const char *conf, const char *action, const char *root,
		      unsigned stats_ms, unsigned decrease_threshold)
{
	const char *src = getenv("MODVM_SOURCE_ROOT");
	FILE *f = fopen(conf, "w");

	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"plugins = { cpu-vmx = { enabled = true; }; cpu-svm = { enabled = true; };\n"
		"  core-parking = { enabled = true; interval_ms = 20;\n"
		"    decrease_time = 1; min_cores = \"50%%\"; decrease_threshold = %u;\n"
		"    proc_stat = \"%s/tests/fixtures/park/proc-stat-half-t0\"; };\n"
		"  power-park = { enabled = true; action = \"%s\"; cores = \"0-1\";\n"
		"    sysfs_root = \"%s\"; state_file = \"%s/power-park.state\"; }; };\n"
		"vms = ( { name = \"spin\"; vcpus = 1; memory = \"16M\"; kernel = \"%s\";\n"
		"  cmdline = \"modvm.bench=spin\"; console = \"none\"; stats_interval_ms = %u; } );\n",
		decrease_threshold, src ? src : ".", action, root, root, PARK_BENCH_GUEST, stats_ms);
	fclose(f);
}

struct parked_watch {
	const char *root, *action;
	uint64_t until_ns;	/* 0: until cpu1 is parked (+ settle); else until this time */
	uint64_t parked_ns;	/* when cpu1 was first seen parked */
	int parked_at_end;	/* with until_ns: cpu1's state then, -1 before */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool cpu1_parked(const struct parked_watch *w)
{
	if (strcmp(w->action, "cpufreq") == 0)
		return strcmp(sysfs_tree_read(w->root, "cpu1/cpufreq/scaling_governor"),
			      "powersave") == 0;
	return strcmp(sysfs_tree_read(w->root, "cpu1/online"), "0") == 0;
}

static bool watch_done(int pid, const char *out, void *ud)
{
	struct parked_watch *w = ud;

	(void)pid;
	(void)out;
	/*
	 * SIGTERM once modvm is in its main loop: core/host.c's modvm__host_run
	 * runs one loop iteration (where the first park can happen) before it
	 * watches SIGTERM, so a SIGTERM in those first milliseconds still kills
	 * modvm unrestored (reported to the core; not this plugin's to fix).
	 */
	if (!w->until_ns) {
		if (!w->parked_ns && cpu1_parked(w))
			w->parked_ns = mono_ns();
		return w->parked_ns && mono_ns() - w->parked_ns > 200000000u;
	}
	if (mono_ns() < w->until_ns)
		return false;
	w->parked_at_end = cpu1_parked(w);
	return true;
}

static unsigned count_of(const char *hay, const char *needle, const char *stop_at)
{
	const char *end = stop_at ? strstr(hay, stop_at) : NULL;
	unsigned n = 0;

	for (const char *p = strstr(hay, needle); p && (!end || p < end); p = strstr(p + 1, needle))
		n++;
	return n;
}

/* SIGTERM to `modvm run` while cpu1 is parked: every sysfs file is restored. */
START_TEST(sigterm_restores_sysfs)
{
	const char *action = actions[_i];
	char conf[64], root[256];
	struct parked_watch w = { .action = action };
	const char *argv[] = { "-v", "run", conf, NULL };
	double t;

	snprintf(root, sizeof(root), "%s", sysfs_tree_create(2, "schedutil"));
	w.root = root;
	snprintf(conf, sizeof(conf), "/tmp/park-e2e-term-%d.conf", (int)getpid());
	spin_conf(conf, action, root, 0, 20);	/* no vcpu.stats: /proc/stat alone (idle) decides */
	t = run_modvm_watch(&res, 60, argv, watch_done, &w);
	unlink(conf);
	ck_assert_msg(t >= 0, "%s: cpu1 never parked; stderr: %s", action, res.err);
	ck_assert_msg(res.status == 0, "%s: exit %d after SIGTERM; stderr: %s", action,
		      res.status, res.err);
	ck_assert_ptr_nonnull(strstr(res.err, "power-park: cpu1 parked: "));
	ck_assert_ptr_nonnull(strstr(res.err, "power-park: cpu1 unparked: stopping: restored"));
	ck_assert_ptr_null(strstr(res.err, "power-park: cpu0 parked"));	/* 50% of 2 kept */
	ck_assert_str_eq(sysfs_tree_read(root, "cpu0/cpufreq/scaling_governor"), "schedutil");
	ck_assert_str_eq(sysfs_tree_read(root, "cpu1/cpufreq/scaling_governor"), "schedutil");
	ck_assert_str_eq(sysfs_tree_read(root, "cpu0/online"), "1");
	ck_assert_str_eq(sysfs_tree_read(root, "cpu1/online"), "1");
	sysfs_tree_destroy(root);
}
END_TEST

/*
 * The same idle /proc/stat, but the core's vcpu.stats shows the spinning
 * vCPU: cpu1 is in use.  At most one park is allowed, at the first tick,
 * before the VM's first vcpu.stats sample exists (decrease_time is 1 here);
 * the sample then unparks it for good, and the reason names the vCPUs.
 */
START_TEST(busy_vcpu_keeps_cores_despite_idle_proc_stat)
{
	char conf[64], root[256];
	/*
	 * 5 s: the first vcpu.stats sample must have come and unparked cpu1
	 * by then even where modvm starts slowly (ASan, the nested test host).
	 */
	struct parked_watch w = { .action = "cpufreq", .until_ns = mono_ns() + 5000000000u,
				  .parked_at_end = -1 };
	const char *argv[] = { "-v", "run", conf, NULL };
	double t;

	snprintf(root, sizeof(root), "%s", sysfs_tree_create(2, "schedutil"));
	w.root = root;
	snprintf(conf, sizeof(conf), "/tmp/park-e2e-busy-%d.conf", (int)getpid());
	/*
	 * Run time only shows the share the vCPU got: on this shared 2-core
	 * machine under parallel tests a spinning vCPU may get ~20 % of a core,
	 * so "idle" here is below 5 %.
	 */
	spin_conf(conf, "cpufreq", root, 20, 5);
	t = run_modvm_watch(&res, 60, argv, watch_done, &w);
	unlink(conf);
	ck_assert_msg(t >= 0 && res.status == 0, "run failed (%d): %s", res.status,
		      run_tail(res.err, 3000));
	ck_assert_msg(strstr(res.err, "power-park: managing 2 cores"), "stderr: %s",
		      run_tail(res.err, 3000));
	ck_assert_msg(w.parked_at_end == 0, "a spinning guest was packed: %s", run_tail(res.err, 3000));
	ck_assert_msg(count_of(res.err, "power-park: cpu1 parked", "signal 15") <= 1,
		      "flapped: %s", run_tail(res.err, 3000));
	if (count_of(res.err, "power-park: cpu1 parked", "signal 15") == 1)
		ck_assert_msg(strstr(res.err, "power-park: cpu1 unparked: vCPU load "), "stderr: %s",
			      res.err);
	ck_assert_str_eq(sysfs_tree_read(root, "cpu1/cpufreq/scaling_governor"), "schedutil");
	sysfs_tree_destroy(root);
}
END_TEST

/* `modvm caps`: the actions named are the ones the (fixture or real) sysfs allows. */
START_TEST(caps_reports_permitted_actions)
{
	char conf[64], root[256], want[160];
	bool cpufreq, offline;
	const char *aff;
	cpu_set_t mine;
	glob_t g;
	FILE *f;

	ck_assert_int_eq(sched_getaffinity(0, sizeof(mine), &mine), 0);
	aff = CPU_COUNT(&mine) >= 2 ? "affinity " : "";

	snprintf(root, sizeof(root), "%s", sysfs_tree_create(2, "schedutil"));
	snprintf(conf, sizeof(conf), "/tmp/park-e2e-caps-%d.conf", (int)getpid());
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "plugins = { cpu-vmx = { enabled = true; }; cpu-svm = { enabled = true; };\n"
		   "  power-park = { enabled = true; sysfs_root = \"%s\"; }; };\n", root);
	fclose(f);
	run_modvm(&res, 30, "caps", conf, NULL);
	unlink(conf);
	sysfs_tree_destroy(root);
	snprintf(want, sizeof(want),
		 "power-park:\n  parking actions this host permits: %scpufreq offline\n", aff);
	run_expect(&res, 0, want, NULL);

	/* this host's own sysfs, judged here independently */
	cpufreq = glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor", 0, NULL,
		       &g) == 0;
	if (cpufreq)
		globfree(&g);
	offline = access("/sys/devices/system/cpu/cpu1/online", W_OK) == 0;
	snprintf(want, sizeof(want), "  parking actions this host permits: %s%s%s\n",
		 aff[0] ? "affinity" : "", cpufreq ? (aff[0] ? " cpufreq" : "cpufreq") : "",
		 offline ? (aff[0] || cpufreq ? " offline" : "offline") : "");
	if (!aff[0] && !cpufreq && !offline)
		snprintf(want, sizeof(want), "  parking actions this host permits: none\n");
	run_modvm(&res, 30, "caps", NULL);
	run_expect(&res, 0, want, NULL);
}
END_TEST

static bool kvm;

static Suite *make_suite(void)
{
	Suite *s = suite_create("park-e2e");

	guest_suite_add(s, describe_lists_options, 60, NULL, NULL);
	if (kvm) {
		guest_suite_add(s, demo_guest_vcpus_packed_and_restored, 60, NULL, NULL);
		guest_suite_add_loop(s, sigterm_restores_sysfs, 0, 2, 60, NULL, NULL);
		guest_suite_add(s, busy_vcpu_keeps_cores_despite_idle_proc_stat, 60, NULL, NULL);
		guest_suite_add(s, caps_reports_permitted_actions, 60, NULL, NULL);
	}
	return s;
}

int main(int argc, char **argv)
{
	char why[256];
	int failed;

	if (argc < 2) {
		fprintf(stderr, "usage: %s MODVM\n", argv[0]);
		return 2;
	}
	run_modvm_init(argv[1]);
	kvm = kvm_usable(why, sizeof(why));
	failed = guest_suite_run(make_suite);
	if (!failed && !kvm) {
		printf("SKIP: the demo guest run needs /dev/kvm: %s\n", why);
		return 77;
	}
	return failed;
}
