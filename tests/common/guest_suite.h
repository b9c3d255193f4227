/*
 * Running a test suite whose cases boot guests, with one allowance for the
 * nested test host: a test case whose failure is a guest triple fault is
 * run once more.
 *
 * Rarely (a few in a hundred minutes of guest time, never reproduced on
 * demand) a guest triple-faults in the nested AMD-V host that QEMU's TCG
 * emulates, in cases that do nothing unusual: an idle 2-vCPU Linux guest,
 * a Linux guest allocating memory, the demo guest as it starts to drive its
 * balloon (dynamic-memory) and the 2-vCPU demo guest of two_vms_in_one_process,
 * which has no device, no interrupt and no IDT and runs the same
 * instructions every time.  A second run of just that case tells a flake of
 * the emulated host from a defect of ours, which fails twice; the rerun is
 * announced on stdout, so the log shows every one (docs/nested-kvm.md).
 */
#ifndef MODVM_TESTS_GUEST_SUITE_H
#define MODVM_TESTS_GUEST_SUITE_H

#include <check.h>

/* Adds @test to @s as a test case of its own, named after it, so that a
 * rerun runs just that test.  @setup and @teardown may be NULL. */
void guest_suite_add(Suite *s, const TTest *test, int timeout_s, SFun setup, SFun teardown);
/* The same for a loop test (_i from @start to @end - 1), all in one case. */
void guest_suite_add_loop(Suite *s, const TTest *test, int start, int end, int timeout_s,
			  SFun setup, SFun teardown);

/* Runs the suite @make builds; 0 if every case passed (on a rerun after a triple fault, too). */
int guest_suite_run(Suite *(*make)(void));

#endif
