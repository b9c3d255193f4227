/*
 * test_guest_smp — vCPUs on their own threads: two run concurrently,
 * a vCPU spinning at CPL3 is kicked out of its run quickly, a kick before
 * the run makes the run return at once, and a run without exits ends at
 * the harness's timeout instead of hanging.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "lib/harness.h"
#include "guest_smp.h"

static void ck_hook(const char *msg)
{
	ck_abort_msg("%s", msg);
}

struct runner {
	pthread_t thread;
	struct gvcpu *vcpu;
	int rc;
	uint32_t kind;
	uint64_t end_ns;
};

/* No Check assertions off the main thread: record and let main judge. */
static void *run_once(void *arg)
{
	struct runner *r = arg;
	struct modvm_cpu_exit *e;
	r->rc = __gvcpu_run(r->vcpu, &e);
	r->kind = e->kind;
	r->end_ns = gtest_now_ns();
	return NULL;
}

static uint64_t counter(struct gvm *vm, unsigned i)
{
	return __atomic_load_n(&GVM_GLOBAL(vm, guest_counters[i].n), __ATOMIC_RELAXED);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

START_TEST(test_two_vcpus_concurrent)
{
	struct gvm *vm = gvm_create(2);
	struct runner r[2];
	for (unsigned i = 0; i < 2; i++) {
		r[i] = (struct runner){ .vcpu = gvm_vcpu_add(vm, i, guest_count, i, GTEST_CPL3) };
		gvcpu_set_timeout(r[i].vcpu, 5000);
		ck_assert_int_eq(pthread_create(&r[i].thread, NULL, run_once, &r[i]), 0);
	}
	/* Both counters must move while both vCPUs are inside one run each. */
	uint64_t deadline = gtest_now_ns() + 3000000000ull;
	while ((counter(vm, 0) < 1000000 || counter(vm, 1) < 1000000) &&
	       gtest_now_ns() < deadline)
		sleep_ms(5);
	uint64_t c0 = counter(vm, 0), c1 = counter(vm, 1);
	sleep_ms(20);
	uint64_t d0 = counter(vm, 0) - c0, d1 = counter(vm, 1) - c1;
	for (unsigned i = 0; i < 2; i++)
		gvcpu_kick(r[i].vcpu);
	for (unsigned i = 0; i < 2; i++) {
		pthread_join(r[i].thread, NULL);
		ck_assert_int_eq(r[i].rc, 0);
		ck_assert_uint_eq(r[i].kind, MODVM_EXIT_INTR);
	}
	ck_assert_msg(c0 >= 1000000 && c1 >= 1000000, "counters %llu and %llu after 3 s",
		      (unsigned long long)c0, (unsigned long long)c1);
	ck_assert_msg(d0 > 0 && d1 > 0, "in 20 ms vCPU 0 counted %llu, vCPU 1 %llu",
		      (unsigned long long)d0, (unsigned long long)d1);
	gvm_destroy(vm);
}
END_TEST

START_TEST(test_kick_spinning_vcpu)
{
	struct gvm *vm = gvm_create(1);
	struct runner r = { .vcpu = gvm_vcpu_add(vm, 0, guest_count, 0, GTEST_CPL3) };
	gvcpu_set_timeout(r.vcpu, 5000);
	ck_assert_int_eq(pthread_create(&r.thread, NULL, run_once, &r), 0);
	uint64_t deadline = gtest_now_ns() + 3000000000ull;
	while (counter(vm, 0) == 0 && gtest_now_ns() < deadline)
		sleep_ms(1);
	ck_assert_uint_gt(counter(vm, 0), 0);
	uint64_t kicked = gtest_now_ns();
	gvcpu_kick(r.vcpu);
	pthread_join(r.thread, NULL);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(modvm_cpu_exit_name(r.kind), "interrupted");
	uint64_t latency_us = (r.end_ns - kicked) / 1000;
	ck_assert_msg(latency_us < 500000, "kick took %llu us", (unsigned long long)latency_us);
	gvm_destroy(vm);
}
END_TEST

START_TEST(test_kick_before_run)
{
	struct gvm *vm = gvm_create(1);
	struct gvcpu *v = gvm_vcpu_add(vm, 0, guest_count, 0, GTEST_CPL3);
	gvcpu_kick(v);
	uint64_t t0 = gtest_now_ns();
	struct modvm_cpu_exit *e = gvcpu_run(v);
	ck_assert_uint_eq(e->kind, MODVM_EXIT_INTR);
	ck_assert_uint_lt(gtest_now_ns() - t0, 1000000000ull);
	/* The kick is consumed: the next run enters the guest and counts. */
	gvcpu_set_timeout(v, 200);
	ck_assert_int_eq(__gvcpu_run(v, &e), -ETIMEDOUT);
	ck_assert_uint_gt(counter(vm, 0), 0);
	gvm_destroy(vm);
}
END_TEST

START_TEST(test_run_timeout_bounded)
{
	struct gvm *vm = gvm_create(1);
	struct gvcpu *v = gvm_vcpu_add(vm, 0, guest_count, 0, GTEST_CPL3);
	gvcpu_set_timeout(v, 100);
	uint64_t t0 = gtest_now_ns();
	struct modvm_cpu_exit *e;
	ck_assert_int_eq(__gvcpu_run(v, &e), -ETIMEDOUT);
	uint64_t ms = (gtest_now_ns() - t0) / 1000000;
	ck_assert_msg(ms >= 100 && ms < 2000, "timed out after %llu ms", (unsigned long long)ms);
	gvm_destroy(vm);
}
END_TEST

int main(void)
{
	gtest_require_kvm();
	gtest_fail_hook = ck_hook;
	Suite *s = suite_create("guest-smp");
	TCase *tc = tcase_create("smp");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_two_vcpus_concurrent);
	tcase_add_test(tc, test_kick_spinning_vcpu);
	tcase_add_test(tc, test_kick_before_run);
	tcase_add_test(tc, test_run_timeout_bounded);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
