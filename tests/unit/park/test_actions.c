/*
 * The cpufreq and offline actions on a generated fixture sysfs tree: they
 * write what they should, unpark writes back exactly what was there, and
 * restore (what stop() calls) undoes everything still changed.
 */
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "actions.h"
#include "sysfs_tree.h"

static const char *gov(const char *root, unsigned cpu)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "cpu%u/cpufreq/scaling_governor", cpu);
	return sysfs_tree_read(root, rel);
}

static const char *online(const char *root, unsigned cpu)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "cpu%u/online", cpu);
	return sysfs_tree_read(root, rel);
}

START_TEST(cpufreq_powersave_and_back)
{
	char root[256];
	struct park_actions a;

	snprintf(root, sizeof(root), "%s", sysfs_tree_create(4, "schedutil"));
	ck_assert_int_eq(park_actions_init(&a, PARK_ACTION_CPUFREQ, root), 0);
	ck_assert_int_eq(park_actions_park(&a, 3), 0);
	ck_assert_int_eq(park_actions_park(&a, 2), 0);
	ck_assert_str_eq(gov(root, 3), "powersave");
	ck_assert_str_eq(gov(root, 2), "powersave");
	ck_assert_str_eq(gov(root, 1), "schedutil");
	/* parking twice keeps the first saved governor, not "powersave" */
	ck_assert_int_eq(park_actions_park(&a, 3), 0);
	ck_assert_int_eq(park_actions_unpark(&a, 3), 0);
	ck_assert_str_eq(gov(root, 3), "schedutil");
	/* restore (stop) puts back what is still parked; never touched cores stay */
	park_actions_restore(&a);
	ck_assert_str_eq(gov(root, 2), "schedutil");
	ck_assert_str_eq(gov(root, 0), "schedutil");
	sysfs_tree_destroy(root);
}
END_TEST

START_TEST(cpufreq_keeps_each_cores_governor)
{
	char root[256];
	struct park_actions a;
	FILE *f;
	char path[400];

	snprintf(root, sizeof(root), "%s", sysfs_tree_create(3, "performance"));
	snprintf(path, sizeof(path), "%s/cpu2/cpufreq/scaling_governor", root);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("ondemand\n", f);
	fclose(f);
	ck_assert_int_eq(park_actions_init(&a, PARK_ACTION_CPUFREQ, root), 0);
	ck_assert_int_eq(park_actions_park(&a, 1), 0);
	ck_assert_int_eq(park_actions_park(&a, 2), 0);
	park_actions_restore(&a);
	ck_assert_str_eq(gov(root, 1), "performance");
	ck_assert_str_eq(gov(root, 2), "ondemand");
	sysfs_tree_destroy(root);
}
END_TEST

START_TEST(offline_writes_and_restores)
{
	char root[256];
	struct park_actions a;

	snprintf(root, sizeof(root), "%s", sysfs_tree_create(4, "schedutil"));
	ck_assert_int_eq(park_actions_init(&a, PARK_ACTION_OFFLINE, root), 0);
	ck_assert_int_eq(park_actions_park(&a, 3), 0);
	ck_assert_int_eq(park_actions_park(&a, 1), 0);
	ck_assert_str_eq(online(root, 3), "0");
	ck_assert_str_eq(online(root, 1), "0");
	ck_assert_str_eq(online(root, 2), "1");
	ck_assert_int_eq(park_actions_park(&a, 0), -EPERM);	/* never cpu0 */
	ck_assert_str_eq(online(root, 0), "1");
	ck_assert_int_eq(park_actions_unpark(&a, 1), 0);
	ck_assert_str_eq(online(root, 1), "1");
	park_actions_restore(&a);
	ck_assert_str_eq(online(root, 3), "1");
	/* the governors are the cpufreq action's business, not offline's */
	ck_assert_str_eq(gov(root, 3), "schedutil");
	sysfs_tree_destroy(root);
}
END_TEST

START_TEST(missing_sysfs_file_fails_cleanly)
{
	char root[256];
	struct park_actions a;

	snprintf(root, sizeof(root), "%s", sysfs_tree_create(2, "schedutil"));
	ck_assert_int_eq(park_actions_init(&a, PARK_ACTION_CPUFREQ, root), 0);
	ck_assert_int_eq(park_actions_park(&a, 5), -ENOENT);
	ck_assert(!a.parked[5]);
	ck_assert_int_eq(park_actions_init(&a, PARK_ACTION_OFFLINE, root), 0);
	ck_assert_int_eq(park_actions_park(&a, 7), -ENOENT);
	ck_assert(!a.parked[7]);
	/* the up-front check the plugin's start() makes */
	char err[400], want[400];
	ck_assert_int_eq(park_actions_check(&a, 1, err, sizeof(err)), 0);
	ck_assert_int_eq(park_actions_check(&a, 0, err, sizeof(err)), 0);	/* never offlined */
	ck_assert_int_eq(park_actions_check(&a, 7, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "action offline: %s/cpu7/online: No such file or directory",
		 root);
	ck_assert_str_eq(err, want);
	sysfs_tree_destroy(root);
}
END_TEST

/* A core the kernel won't bring back is counted and stays parked: stop()
 * must not report the host restored. */
START_TEST(restore_reports_what_it_could_not_undo)
{
	char root[256], path[400];
	struct park_actions a;

	snprintf(root, sizeof(root), "%s", sysfs_tree_create(4, "schedutil"));
	ck_assert_int_eq(park_actions_init(&a, PARK_ACTION_OFFLINE, root), 0);
	ck_assert_int_eq(park_actions_park(&a, 2), 0);
	ck_assert_int_eq(park_actions_park(&a, 3), 0);
	/* cpu3's online file disappears (as if the kernel refused) */
	snprintf(path, sizeof(path), "%s/cpu3/online", root);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_uint_eq(park_actions_restore(&a), 1);
	ck_assert(!a.parked[2]);
	ck_assert(a.parked[3]);
	ck_assert_str_eq(online(root, 2), "1");
	sysfs_tree_destroy(root);
}
END_TEST

START_TEST(affinity_ignores_sysfs)
{
	char root[256];
	struct park_actions a;

	snprintf(root, sizeof(root), "%s", sysfs_tree_create(2, "schedutil"));
	ck_assert_int_eq(park_actions_init(&a, PARK_ACTION_AFFINITY, root), 0);
	ck_assert_int_eq(park_actions_park(&a, 1), 0);
	ck_assert_str_eq(gov(root, 1), "schedutil");
	ck_assert_str_eq(online(root, 1), "1");
	ck_assert_str_eq(park_action_name(PARK_ACTION_OFFLINE), "offline");
	enum park_action k;
	ck_assert_int_eq(park_action_parse("cpufreq", &k), 0);
	ck_assert_int_eq(k, PARK_ACTION_CPUFREQ);
	ck_assert_int_eq(park_action_parse("sleep", &k), -EINVAL);
	sysfs_tree_destroy(root);
}
END_TEST

/* What "modvm caps" and the start log say the host permits, on fixture trees. */
START_TEST(permitted_reflects_the_tree)
{
	char root[256], path[600], out[64];
	cpu_set_t mine;
	const char *aff;
	FILE *f;

	ck_assert_int_eq(sched_getaffinity(0, sizeof(mine), &mine), 0);
	aff = CPU_COUNT(&mine) >= 2 ? "affinity " : "";
	snprintf(root, sizeof(root), "%s", sysfs_tree_create(2, "schedutil"));
	park_actions_permitted(root, out, sizeof(out));
	snprintf(path, sizeof(path), "%scpufreq offline", aff);
	ck_assert_str_eq(out, path);
	/* a kernel whose governors lack powersave: no cpufreq */
	for (unsigned c = 0; c < 2; c++) {
		snprintf(path, sizeof(path), "%s/cpu%u/cpufreq/scaling_available_governors", root, c);
		f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		fprintf(f, "performance schedutil\n");
		fclose(f);
	}
	park_actions_permitted(root, out, sizeof(out));
	snprintf(path, sizeof(path), "%soffline", aff);
	ck_assert_str_eq(out, path);
	sysfs_tree_destroy(root);
	/* one cpu: cpu0 is never taken offline, so only cpufreq */
	snprintf(root, sizeof(root), "%s", sysfs_tree_create(1, "schedutil"));
	park_actions_permitted(root, out, sizeof(out));
	snprintf(path, sizeof(path), "%scpufreq", aff);
	ck_assert_str_eq(out, path);
	sysfs_tree_destroy(root);
	/* no tree at all */
	park_actions_permitted("/nonexistent", out, sizeof(out));
	ck_assert_str_eq(out, aff[0] ? "affinity" : "none");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("park-actions");
	TCase *t = tcase_create("actions");
	SRunner *sr;
	int failed;

	tcase_add_test(t, cpufreq_powersave_and_back);
	tcase_add_test(t, cpufreq_keeps_each_cores_governor);
	tcase_add_test(t, offline_writes_and_restores);
	tcase_add_test(t, missing_sysfs_file_fails_cleanly);
	tcase_add_test(t, restore_reports_what_it_could_not_undo);
	tcase_add_test(t, affinity_ignores_sysfs);
	tcase_add_test(t, permitted_reflects_the_tree);
	suite_add_tcase(s, t);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
