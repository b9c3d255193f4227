/* Running a suite of guest-booting cases: see guest_suite.h. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest_suite.h"

#define MAX_RERUNS 8

void guest_suite_add_loop(Suite *s, const TTest *test, int start, int end, int timeout_s,
			  SFun setup, SFun teardown)
{
	TCase *tc = tcase_create(test->name);

	tcase_set_timeout(tc, timeout_s);
	if (setup || teardown)
		tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test, start, end);
	suite_add_tcase(s, tc);
}

void guest_suite_add(Suite *s, const TTest *test, int timeout_s, SFun setup, SFun teardown)
{
	guest_suite_add_loop(s, test, 0, 1, timeout_s, setup, teardown);
}

int guest_suite_run(Suite *(*make)(void))
{
	char cases[MAX_RERUNS][128];
	int ncases = 0, failed;
	bool all_triple = true;

	SRunner *sr = srunner_create(make());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	if (failed > 0) {
		TestResult **trs = srunner_failures(sr);
		for (int i = 0; i < failed && trs; i++) {
			const char *msg = tr_msg(trs[i]), *tc = tr_tcname(trs[i]);
			bool seen = false;
			if (!msg || !strstr(msg, "triple fault") || !tc) {
				all_triple = false;
				continue;
			}
			for (int j = 0; j < ncases; j++)
				seen = seen || strcmp(cases[j], tc) == 0;
			if (!seen && ncases < MAX_RERUNS)
				snprintf(cases[ncases++], sizeof(cases[0]), "%s", tc);
			else if (!seen)
				all_triple = false;
		}
		free(trs);
	}
	srunner_free(sr);
	if (failed == 0)
		return 0;
	if (!all_triple || ncases == 0)
		return 1;

	failed = 0;
	for (int i = 0; i < ncases; i++) {
		printf("guest-suite: case '%s' failed on a guest triple fault (a rare flake of the "
		       "nested TCG test host); running it once more\n", cases[i]);
		fflush(stdout);
		sr = srunner_create(make());
		srunner_run(sr, NULL, cases[i], CK_NORMAL);
		failed += srunner_ntests_failed(sr);
		srunner_free(sr);
	}
	return failed ? 1 : 0;
}
