/*
 * Live on this machine's cores: the policy and the affinity action drive
 * real threads of this process.  Two threads stand in for an idle guest's
 * vCPUs: the policy parks cpu1 and the action packs every thread onto cpu0
 * (sched_getaffinity, and /proc/self/task/TID/stat field 39 once they spin
 * there).  Then they busy-spin: demand (run + runqueue wait, from
 * /proc/self/task/TID/schedstat, so a host busy with other work cannot hide
 * it) rises and both cores come back within 2 intervals.  Needs no /dev/kvm;
 * skips (77) with a reason on a host that gives this process fewer than 2 cpus.
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actions.h"
#include "policy.h"

#define INTERVAL_MS 50

struct worker {
	pthread_t th;
	_Atomic int tid;
	_Atomic int mode;	/* 0 idle, 1 spin, 2 exit */
	uint64_t last_demand;
};

static void *work(void *arg)
{
	struct worker *w = arg;

	w->tid = gettid();
	for (;;) {
		int m = w->mode;
		if (m == 2)
			break;
		if (m == 0)
			usleep(2000);
	}
	return NULL;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* run + wait ns of a thread: what it used plus what it wanted. */
static uint64_t demand_ns(int tid)
{
	char path[64];
	unsigned long long run = 0, wait = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", tid);
	f = fopen(path, "re");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%llu %llu", &run, &wait), 2);
	fclose(f);
	return run + wait;
}

/* Field 39 of /proc/self/task/TID/stat: the cpu it last ran on. */
static int processor(int tid)
{
	char path[64], buf[1024], *p;
	int field = 2, cpu = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "re");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	p = strrchr(buf, ')');	/* the comm field may hold spaces */
	for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " "))
		if (++field == 39) {
			cpu = atoi(tok);
			break;
		}
	return cpu;
}

static struct worker w[2];
static struct park_policy pol;
static struct park_actions act;
static uint64_t last_wall;

static void sample_and_step(struct park_decision *d)
{
	struct park_sample s;
	uint64_t t = now_ns(), wall = t - last_wall;

	memset(&s, 0, sizeof(s));
	for (int i = 0; i < 2; i++) {
		uint64_t dm = demand_ns(w[i].tid), pm = (dm - w[i].last_demand) * 1000 / wall;
		int cpu = processor(w[i].tid);
		w[i].last_demand = dm;
		s.busy_permille[cpu == 1 ? 1 : 0] += (uint32_t)(pm > 1000 ? 1000 : pm);
	}
	last_wall = t;
	park_policy_step(&pol, &s, d);
	if (d->changed) {
		cpu_set_t set;
		CPU_ZERO(&set);
		for (unsigned i = 0; i < pol.ncores; i++)
			if (pol.unparked[i])
				CPU_SET(pol.cpu[i], &set);
		ck_assert_int_ge(park_actions_pin_threads(&act, &set, NULL, 0), 3);
	}
}

static bool only_on(int tid, int cpu)
{
	cpu_set_t set;

	ck_assert_int_eq(sched_getaffinity(tid, sizeof(set), &set), 0);
	return CPU_COUNT(&set) == 1 && CPU_ISSET(cpu, &set);
}

START_TEST(idle_packs_onto_one_core_busy_gets_both_back)
{
	struct park_params p = { .min_cores = 1, .increase_threshold = 60,
				 .decrease_threshold = 20, .increase_time = 1, .decrease_time = 2,
				 .cores_per_step = 1 };
	unsigned cpus[2] = { 0, 1 };
	struct park_decision d;
	cpu_set_t orig, set;
	char err[160];
	int k;

	ck_assert_int_eq(sched_getaffinity(0, sizeof(orig), &orig), 0);
	ck_assert_int_eq(park_policy_init(&pol, &p, cpus, 2, err, sizeof(err)), 0);
	ck_assert_int_eq(park_actions_init(&act, PARK_ACTION_AFFINITY, "/nonexistent"), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&w[i].th, NULL, work, &w[i]), 0);
	while (!w[0].tid || !w[1].tid)
		usleep(1000);
	for (int i = 0; i < 2; i++)
		w[i].last_demand = demand_ns(w[i].tid);
	last_wall = now_ns();

	/* idle guest: parked after decrease_time (2) intervals, a little slack for noise */
	for (k = 1; k <= 6 && park_policy_unparked_count(&pol) == 2; k++) {
		usleep(INTERVAL_MS * 1000);
		sample_and_step(&d);
	}
	ck_assert_uint_eq(park_policy_unparked_count(&pol), 1);
	ck_assert_int_ge(k - 1, 2);
	ck_assert(only_on(w[0].tid, 0) && only_on(w[1].tid, 0));
	ck_assert(only_on(gettid(), 0));	/* the process's own threads too */

	/* both spin; affinity keeps them on cpu0 */
	w[0].mode = w[1].mode = 1;
	usleep(30000);
	ck_assert_int_eq(processor(w[0].tid), 0);
	ck_assert_int_eq(processor(w[1].tid), 0);

	/* load rises: both cores back within 2 intervals */
	for (k = 1; k <= 2 && park_policy_unparked_count(&pol) == 1; k++) {
		usleep(INTERVAL_MS * 1000);
		sample_and_step(&d);
	}
	ck_assert_msg(park_policy_unparked_count(&pol) == 2, "still parked after 2 intervals");
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(sched_getaffinity(w[i].tid, sizeof(set), &set), 0);
		ck_assert(CPU_ISSET(0, &set) && CPU_ISSET(1, &set));
	}

	park_actions_restore(&act);
	ck_assert_int_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	ck_assert(CPU_EQUAL(&set, &orig));
	w[0].mode = w[1].mode = 2;
	for (int i = 0; i < 2; i++)
		pthread_join(w[i].th, NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("park-live");
	TCase *t = tcase_create("live");
	SRunner *sr;
	cpu_set_t set;
	int failed;

	if (sched_getaffinity(0, sizeof(set), &set) < 0 || !CPU_ISSET(0, &set) ||
	    !CPU_ISSET(1, &set)) {
		printf("SKIP: this process may not run on both cpu0 and cpu1\n");
		return 77;
	}
	tcase_set_timeout(t, 10);
	tcase_add_test(t, idle_packs_onto_one_core_busy_gets_both_back);
	suite_add_tcase(s, t);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
