/* Host pressure readers: /proc/meminfo and /proc/pressure/memory fixtures. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostfacts/hostfacts.h"

static const char meminfo[] = "MemTotal:       16303488 kB\n"
			      "MemFree:          812344 kB\n"
			      "MemAvailable:    9876544 kB\n"
			      "Buffers:          204800 kB\n";
static const char psi[] = "some avg10=12.34 avg60=1.00 avg300=0.50 total=123456\n"
			  "full avg10=0.56 avg60=0.00 avg300=0.00 total=42\n";

START_TEST(test_meminfo)
{
	uint64_t total = 0, avail = 0;

	ck_assert_int_eq(modvm__parse_meminfo(meminfo, &total, &avail), 0);
	ck_assert_uint_eq(total, 16303488ull * 1024);
	ck_assert_uint_eq(avail, 9876544ull * 1024);
	ck_assert_int_eq(modvm__parse_meminfo("MemTotal: 1 kB\n", &total, &avail), -EINVAL);
	ck_assert_int_eq(modvm__parse_meminfo("MemTotal: x kB\nMemAvailable: 1 kB\n", &total, &avail),
			 -EINVAL);
	/* "MemTotalX:" is another key, not MemTotal */
	ck_assert_int_eq(modvm__parse_meminfo("MemTotalX: 5 kB\nMemAvailable: 1 kB\n", &total, &avail),
			 -EINVAL);
}
END_TEST

START_TEST(test_psi)
{
	uint32_t some = 0, full = 0;

	ck_assert_int_eq(modvm__parse_psi(psi, &some, &full), 0);
	ck_assert_uint_eq(some, 123);
	ck_assert_uint_eq(full, 6);
	ck_assert_int_eq(modvm__parse_psi("some avg10=1.00 avg60=0\n", &some, &full), 0);
	ck_assert_uint_eq(some, 10);
	ck_assert_uint_eq(full, 0);
	ck_assert_int_eq(modvm__parse_psi("full avg10=1.00\n", &some, &full), -EINVAL);
	ck_assert_int_eq(modvm__parse_psi("some avg10=abc\n", &some, &full), -EINVAL);
	ck_assert_int_eq(modvm__parse_psi("some avg10=1\nfull avg10=\n", &some, &full), -EINVAL);
}
END_TEST

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(test_read_files)
{
	char dir[] = "/tmp/mb-hostmem-XXXXXX", mi[64], ps[64], err[256];
	struct modvm_mem_pressure s;
	bool have_psi;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(mi, sizeof(mi), "%s/meminfo", dir);
	snprintf(ps, sizeof(ps), "%s/psi", dir);
	write_file(mi, meminfo);
	/* no PSI file: fine, MemAvailable only */
	ck_assert_int_eq(modvm_host_mem_read(mi, ps, &s, &have_psi, err, sizeof(err)), 0);
	ck_assert(!have_psi);
	ck_assert_uint_eq(s.mem_available, 9876544ull * 1024);
	write_file(ps, psi);
	ck_assert_int_eq(modvm_host_mem_read(mi, ps, &s, &have_psi, err, sizeof(err)), 0);
	ck_assert(have_psi);
	ck_assert_uint_eq(s.psi_some_avg10_permille, 123);
	write_file(ps, "garbage\n");
	ck_assert_int_eq(modvm_host_mem_read(mi, ps, &s, &have_psi, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ps));
	unlink(mi);
	ck_assert_int_eq(modvm_host_mem_read(mi, ps, &s, &have_psi, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, mi));
	unlink(ps);
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("balloon_hostmem");
	TCase *tc = tcase_create("hostmem");

	tcase_add_test(tc, test_meminfo);
	tcase_add_test(tc, test_psi);
	tcase_add_test(tc, test_read_files);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
