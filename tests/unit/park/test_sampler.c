/*
 * /proc/stat parsing from recorded files: busy permille between two reads,
 * the first read only primes, and files that are not /proc/stat are refused
 * with one line naming the path (and the line).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "park_test.h"
#include "sampler.h"

static uint32_t pm[PARK_MAX_CPUS];
static char err[400];

/* Reads @first then @second through one sampler, via a copy the test swaps. */
static void read_pair(const char *first, const char *second, int *n1, int *n2)
{
	char tmp[] = "/tmp/park-stat-XXXXXX";
	static char cmd[1200];
	struct park_sampler s;
	int fd = mkstemp(tmp);

	ck_assert_int_ge(fd, 0);
	close(fd);
	park_sampler_init(&s, tmp);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", park_fixture(first), tmp);
	ck_assert_int_eq(system(cmd), 0);
	*n1 = park_sampler_read(&s, pm, err, sizeof(err));
	for (unsigned i = 0; i < PARK_MAX_CPUS; i++)
		ck_assert_uint_eq(pm[i], 0);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", park_fixture(second), tmp);
	ck_assert_int_eq(system(cmd), 0);
	*n2 = park_sampler_read(&s, pm, err, sizeof(err));
	unlink(tmp);
}

START_TEST(busy_permille_between_reads)
{
	int n1, n2;

	/* cpu0: 50 busy of 100 jiffies; cpu1: 25 of 100 */
	read_pair("proc-stat-half-t0", "proc-stat-half-t1", &n1, &n2);
	ck_assert_int_eq(n1, 2);
	ck_assert_int_eq(n2, 2);
	ck_assert_uint_eq(pm[0], 500);
	ck_assert_uint_eq(pm[1], 250);
	ck_assert_uint_eq(pm[2], 0);
}
END_TEST

START_TEST(recorded_busy_host)
{
	int n1, n2;

	/* recorded on this 2-core machine while a fuzzer and builds ran: saturated */
	read_pair("proc-stat-t0", "proc-stat-t1", &n1, &n2);
	ck_assert_int_eq(n2, 2);
	ck_assert_uint_ge(pm[0], 950);
	ck_assert_uint_ge(pm[1], 950);
}
END_TEST

START_TEST(garbage_refused)
{
	struct park_sampler s;
	char want[600];

	park_sampler_init(&s, park_fixture("garbage.stat"));
	ck_assert_int_eq(park_sampler_read(&s, pm, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: no cpuN lines: not a /proc/stat file",
		 park_fixture("garbage.stat"));
	ck_assert_str_eq(err, want);

	park_sampler_init(&s, park_fixture("truncated.stat"));
	ck_assert_int_eq(park_sampler_read(&s, pm, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: not a /proc/stat cpu line", park_fixture("truncated.stat"));
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);

	park_sampler_init(&s, "/nonexistent/stat");
	ck_assert_int_eq(park_sampler_read(&s, pm, err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "/nonexistent/stat: No such file or directory");
}
END_TEST

START_TEST(real_proc_stat)
{
	struct park_sampler s;
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	park_sampler_init(&s, "/proc/stat");
	ck_assert_int_eq(park_sampler_read(&s, pm, err, sizeof(err)), n);
	usleep(20000);
	ck_assert_int_eq(park_sampler_read(&s, pm, err, sizeof(err)), n);
	for (long i = 0; i < n; i++)
		ck_assert_uint_le(pm[i], 1000);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("park-sampler");
	TCase *t = tcase_create("sampler");
	SRunner *sr;
	int failed;

	tcase_add_test(t, busy_permille_between_reads);
	tcase_add_test(t, recorded_busy_host);
	tcase_add_test(t, garbage_refused);
	tcase_add_test(t, real_proc_stat);
	suite_add_tcase(s, t);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
