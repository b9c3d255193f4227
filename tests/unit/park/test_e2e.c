/*
 * power-park inside the real `modvm` binary: `plugins --describe` lists its
 * option table and events, and a run with the demo guest (2 vCPUs) and an
 * idle /proc/stat parks cpu1, re-pins both vCPU threads (modvm_plugin_vm +
 * modvm_vcpu_set_affinity) and restores everything when modvm stops.  The
 * run needs /dev/kvm and skips (77) with the reason without it.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run_modvm.h"

static struct run_result res;

START_TEST(describe_lists_options)
{
	run_modvm(&res, 30, "plugins", "--describe", "power-park", NULL);
	run_expect(&res, 0, "power-park 1.0.0", NULL);
	ck_assert_ptr_nonnull(strstr(res.out, "power-policy"));
	static const char *const keys[] = { "min_cores", "max_cores", "increase_threshold",
		"decrease_threshold", "increase_time", "decrease_time", "cores_per_step",
		"interval_ms", "cores", "action", "proc_stat", "sysfs_root",
		"affinity|cpufreq|offline", "host.cpu_load", "power.core_state" };
	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		ck_assert_msg(strstr(res.out, keys[i]) != NULL, "describe lacks %s", keys[i]);
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
		"  power-park = { enabled = true; interval_ms = 10; decrease_time = 1;\n"
		"    proc_stat = \"%s/tests/fixtures/park/proc-stat-half-t0\"; }; };\n"
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
	ck_assert_msg(attempt < 5, "never parked: %s", res.err);
	ck_assert_ptr_nonnull(strstr(res.err, "power-park: re-pinned 2 vCPU threads and "));
	ck_assert_ptr_nonnull(strstr(res.err, "onto 1 cpus"));
	ck_assert_ptr_nonnull(strstr(res.err, "power-park: cpu1 unparked: stopping: restored"));
	ck_assert_ptr_null(strstr(res.err, "error"));
}
END_TEST

int main(int argc, char **argv)
{
	Suite *s = suite_create("park-e2e");
	TCase *t = tcase_create("e2e");
	SRunner *sr;
	char why[256];
	bool kvm;
	int failed;

	if (argc < 2) {
		fprintf(stderr, "usage: %s MODVM\n", argv[0]);
		return 2;
	}
	run_modvm_init(argv[1]);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, describe_lists_options);
	kvm = kvm_usable(why, sizeof(why));
	if (kvm)
		tcase_add_test(t, demo_guest_vcpus_packed_and_restored);
	suite_add_tcase(s, t);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (!failed && !kvm) {
		printf("SKIP: the demo guest run needs /dev/kvm: %s\n", why);
		return 77;
	}
	return failed ? 1 : 0;
}
