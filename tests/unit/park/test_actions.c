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
#include "cpulist.h"
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

/*
 * A scenario is a list of steps on a fresh fixture tree; every step is
 * asserted, and a failure names the scenario and the step.
 */
enum op {
	OP_END,
	OP_INIT,		/* park_actions_init(.kind) returns 0 */
	OP_PARK,		/* park_actions_park(.cpu) returns .ret */
	OP_UNPARK,		/* park_actions_unpark(.cpu) returns 0 */
	OP_RESTORE,		/* park_actions_restore() could not undo .ret cores */
	OP_GOV,			/* cpuN's scaling_governor reads .text */
	OP_ONLINE,		/* cpuN/online reads .text */
	OP_PARKED,		/* a.parked[.cpu] is .ret */
	OP_CHECK,		/* park_actions_check(.cpu) returns .ret, err .text (%s: root) */
	OP_SET_GOV,		/* something else writes .text to cpuN's scaling_governor */
	OP_LOSE_ONLINE,		/* cpuN/online disappears */
	OP_SHARE,		/* cpus .cpu...ret share one cpufreq policy (.text) */
	OP_SET_ONLINE,		/* something else writes .text to cpuN/online */
};

struct step {
	enum op op;
	unsigned cpu;
	int ret;
	const char *text;
	enum park_action kind;
};

#define INIT(k)			{ .op = OP_INIT, .kind = (k) }
#define PARK(c)			{ .op = OP_PARK, .cpu = (c) }
#define PARK_FAILS(c, e)	{ .op = OP_PARK, .cpu = (c), .ret = (e) }
#define UNPARK(c)		{ .op = OP_UNPARK, .cpu = (c) }
#define RESTORE(left)		{ .op = OP_RESTORE, .ret = (left) }
#define GOV(c, g)		{ .op = OP_GOV, .cpu = (c), .text = (g) }
#define ONLINE(c, v)		{ .op = OP_ONLINE, .cpu = (c), .text = (v) }
#define PARKED(c, yes)		{ .op = OP_PARKED, .cpu = (c), .ret = (yes) }
#define CHECK(c, e, err)	{ .op = OP_CHECK, .cpu = (c), .ret = (e), .text = (err) }
#define SET_GOV(c, g)		{ .op = OP_SET_GOV, .cpu = (c), .text = (g) }
#define LOSE_ONLINE(c)		{ .op = OP_LOSE_ONLINE, .cpu = (c) }
#define SHARE(a, b, g)		{ .op = OP_SHARE, .cpu = (a), .ret = (b), .text = (g) }
#define SET_ONLINE(c, v)	{ .op = OP_SET_ONLINE, .cpu = (c), .text = (v) }

static const struct scenario {
	const char *name;
	unsigned ncpus;
	const char *governor;	/* every core's, as the tree is made */
	struct step steps[20];	/* up to OP_END */
} scenarios[] = {
	{ "cpufreq powersave and back", 4, "schedutil", {
		INIT(PARK_ACTION_CPUFREQ),
		PARK(3), PARK(2),
		GOV(3, "powersave"), GOV(2, "powersave"), GOV(1, "schedutil"),
		/* parking twice keeps the first saved governor, not "powersave" */
		PARK(3), UNPARK(3), GOV(3, "schedutil"),
		/* restore (stop) puts back what is still parked; never touched cores stay */
		RESTORE(0), GOV(2, "schedutil"), GOV(0, "schedutil") } },
	{ "cpufreq keeps each core's governor", 3, "performance", {
		SET_GOV(2, "ondemand"),
		INIT(PARK_ACTION_CPUFREQ),
		PARK(1), PARK(2), RESTORE(0),
		GOV(1, "performance"), GOV(2, "ondemand") } },
	{ "offline writes and restores", 4, "schedutil", {
		INIT(PARK_ACTION_OFFLINE),
		PARK(3), PARK(1),
		ONLINE(3, "0"), ONLINE(1, "0"), ONLINE(2, "1"),
		PARK_FAILS(0, -EPERM), ONLINE(0, "1"),	/* never cpu0 */
		UNPARK(1), ONLINE(1, "1"),
		RESTORE(0), ONLINE(3, "1"),
		/* the governors are the cpufreq action's business, not offline's */
		GOV(3, "schedutil") } },
	{ "missing sysfs file fails cleanly", 2, "schedutil", {
		INIT(PARK_ACTION_CPUFREQ),
		PARK_FAILS(5, -ENOENT), PARKED(5, false),
		INIT(PARK_ACTION_OFFLINE),
		PARK_FAILS(7, -ENOENT), PARKED(7, false),
		/* the up-front check the plugin's start() makes */
		CHECK(1, 0, NULL),
		CHECK(0, 0, NULL),	/* never offlined */
		CHECK(7, -ENOENT,
		      "action offline: %s/cpu7/online: No such file or directory") } },
	/* A core the kernel won't bring back is counted and stays parked: stop()
	 * must not report the host restored. */
	{ "restore reports what it could not undo", 4, "schedutil", {
		INIT(PARK_ACTION_OFFLINE),
		PARK(2), PARK(3),
		LOSE_ONLINE(3),		/* as if the kernel refused */
		RESTORE(1),
		PARKED(2, false), PARKED(3, true), ONLINE(2, "1") } },
	/* One governor for cpus 2 and 3: parking cpu2 alone would slow cpu3,
	 * which still runs, and cpu3 would then save "powersave" as its own. */
	{ "cpufreq throttles a shared policy when all its cores are parked", 4, "schedutil", {
		SHARE(2, 3, "schedutil"),
		INIT(PARK_ACTION_CPUFREQ),
		PARK(2), PARKED(2, true), GOV(3, "schedutil"),
		PARK(3), GOV(2, "powersave"), GOV(3, "powersave"), GOV(1, "schedutil"),
		/* the first to unpark gives both their governor back */
		UNPARK(3), GOV(2, "schedutil"), PARKED(2, true),
		PARK(3), GOV(2, "powersave"),
		RESTORE(0), GOV(2, "schedutil"), PARKED(2, false), PARKED(3, false) } },
	{ "offline leaves a core someone else took down", 4, "schedutil", {
		SET_ONLINE(2, "0"),
		INIT(PARK_ACTION_OFFLINE),
		PARK_FAILS(2, -EALREADY), PARKED(2, false),
		PARK(3), RESTORE(0),
		ONLINE(2, "0"), ONLINE(3, "1") } },
	{ "affinity ignores sysfs", 2, "schedutil", {
		INIT(PARK_ACTION_AFFINITY),
		PARK(1), GOV(1, "schedutil"), ONLINE(1, "1") } },
};

/* Writes @text as ROOT/cpuN/@rel, as the kernel (or an administrator) would. */
static void put_cpu_file(const char *root, unsigned cpu, const char *rel, const char *text)
{
	char path[400];
	FILE *f;

	snprintf(path, sizeof(path), "%s/cpu%u/%s", root, cpu, rel);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "%s\n", text);
	fclose(f);
}

START_TEST(scenario)
{
	const struct scenario *sc = &scenarios[_i];
	const char *made = sysfs_tree_create(sc->ncpus, sc->governor);
	char root[256], at[128], path[400], err[400], want[400];
	struct park_actions a;
	const char *got;
	int r;

	ck_assert_ptr_nonnull(made);
	snprintf(root, sizeof(root), "%s", made);
	for (unsigned k = 0; sc->steps[k].op != OP_END; k++) {
		const struct step *s = &sc->steps[k];

		snprintf(at, sizeof(at), "case %s, step %u", sc->name, k + 1);
		switch (s->op) {
		case OP_INIT:
			r = park_actions_init(&a, s->kind, root);
			ck_assert_msg(r == 0, "%s: init %s: %d", at, park_action_name(s->kind), r);
			break;
		case OP_PARK:
			r = park_actions_park(&a, s->cpu);
			ck_assert_msg(r == s->ret, "%s: park cpu%u: %d, want %d", at, s->cpu, r,
				      s->ret);
			break;
		case OP_UNPARK:
			r = park_actions_unpark(&a, s->cpu);
			ck_assert_msg(r == 0, "%s: unpark cpu%u: %d", at, s->cpu, r);
			break;
		case OP_RESTORE:
			r = (int)park_actions_restore(&a);
			ck_assert_msg(r == s->ret, "%s: restore left %d, want %d", at, r, s->ret);
			break;
		case OP_GOV:
			got = gov(root, s->cpu);
			ck_assert_msg(!strcmp(got, s->text),
				      "%s: cpu%u governor \"%s\", want \"%s\"", at, s->cpu, got,
				      s->text);
			break;
		case OP_ONLINE:
			got = online(root, s->cpu);
			ck_assert_msg(!strcmp(got, s->text), "%s: cpu%u online \"%s\", want \"%s\"",
				      at, s->cpu, got, s->text);
			break;
		case OP_PARKED:
			ck_assert_msg(a.parked[s->cpu] == (s->ret != 0),
				      "%s: cpu%u parked %d, want %d", at, s->cpu, a.parked[s->cpu],
				      s->ret);
			break;
		case OP_CHECK:
			r = park_actions_check(&a, s->cpu, err, sizeof(err));
			ck_assert_msg(r == s->ret, "%s: check cpu%u: %d, want %d", at, s->cpu, r,
				      s->ret);
			if (!s->text)
				break;
			snprintf(want, sizeof(want), s->text, root);
			ck_assert_msg(!strcmp(err, want), "%s: \"%s\", want \"%s\"", at, err, want);
			break;
		case OP_SET_GOV:
			put_cpu_file(root, s->cpu, "cpufreq/scaling_governor", s->text);
			break;
		case OP_SHARE:
			ck_assert_msg(sysfs_tree_share_policy(root, s->cpu, (unsigned)s->ret,
							      s->text) == 0,
				      "%s: cannot share a policy", at);
			break;
		case OP_SET_ONLINE:
			put_cpu_file(root, s->cpu, "online", s->text);
			break;
		case OP_LOSE_ONLINE:
			snprintf(path, sizeof(path), "%s/cpu%u/online", root, s->cpu);
			ck_assert_msg(unlink(path) == 0, "%s: unlink %s", at, path);
			break;
		case OP_END:
			break;
		}
	}
	sysfs_tree_destroy(root);
}
END_TEST

START_TEST(action_names)
{
	enum park_action k;

	ck_assert_str_eq(park_action_name(PARK_ACTION_OFFLINE), "offline");
	ck_assert_int_eq(park_action_parse("cpufreq", &k), 0);
	ck_assert_int_eq(k, PARK_ACTION_CPUFREQ);
	ck_assert_int_eq(park_action_parse("sleep", &k), -EINVAL);
}
END_TEST

/*
 * What "modvm caps" and the start log say the host permits, on fixture
 * trees.  Affinity needs two cpus of our own to pin between, whatever the tree.
 */
static const struct {
	const char *name;
	unsigned ncpus;		/* 0: no tree at all */
	bool no_powersave;	/* the kernel offers no powersave governor */
	const char *want;	/* with fewer than two cpus in our affinity */
	const char *want_affinity;	/* with two or more */
} permitted[] = {
	{ "two cpus", 2, false, "cpufreq offline", "affinity cpufreq offline" },
	{ "no powersave governor: no cpufreq", 2, true, "offline", "affinity offline" },
	{ "one cpu: cpu0 is never taken offline", 1, false, "cpufreq", "affinity cpufreq" },
	{ "no tree", 0, false, "none", "affinity" },
};

START_TEST(permitted_reflects_the_tree)
{
	char root[256] = "/nonexistent", out[64];
	cpu_set_t mine;
	const char *want;

	ck_assert_int_eq(sched_getaffinity(0, sizeof(mine), &mine), 0);
	want = CPU_COUNT(&mine) >= 2 ? permitted[_i].want_affinity : permitted[_i].want;
	if (permitted[_i].ncpus) {
		const char *made = sysfs_tree_create(permitted[_i].ncpus, "schedutil");

		ck_assert_ptr_nonnull(made);
		snprintf(root, sizeof(root), "%s", made);
	}
	for (unsigned c = 0; permitted[_i].no_powersave && c < permitted[_i].ncpus; c++)
		put_cpu_file(root, c, "cpufreq/scaling_available_governors",
			     "performance schedutil");
	park_actions_permitted(root, out, sizeof(out));
	ck_assert_msg(!strcmp(out, want), "case %s: \"%s\", want \"%s\"", permitted[_i].name, out,
		      want);
	if (permitted[_i].ncpus)
		sysfs_tree_destroy(root);
}
END_TEST

START_TEST(cpulist_parsing)
{
	unsigned c[PARK_MAX_CPUS];

	ck_assert_int_eq(park_cpulist_parse("0-3,6", c), 5);
	ck_assert_uint_eq(c[3], 3);
	ck_assert_uint_eq(c[4], 6);
	ck_assert_int_eq(park_cpulist_parse("5,1,1-2\n", c), 3);
	ck_assert_uint_eq(c[0], 1);
	ck_assert_uint_eq(c[2], 5);
	ck_assert_int_eq(park_cpulist_parse("", c), -EINVAL);
	ck_assert_int_eq(park_cpulist_parse("3-1", c), -EINVAL);
	ck_assert_int_eq(park_cpulist_parse("1,x", c), -EINVAL);
	ck_assert_int_eq(park_cpulist_parse("999", c), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("park-actions");
	TCase *t = tcase_create("actions");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(t, scenario, 0, sizeof(scenarios) / sizeof(scenarios[0]));
	tcase_add_test(t, action_names);
	tcase_add_test(t, cpulist_parsing);
	tcase_add_loop_test(t, permitted_reflects_the_tree, 0,
			    sizeof(permitted) / sizeof(permitted[0]));
	suite_add_tcase(s, t);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
