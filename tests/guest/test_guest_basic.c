/*
 * test_guest_basic — one vCPU running guest functions of this binary:
 * shared memory, PIO, MMIO at CPL0 and CPL3, MMIO beyond RAM, emulation
 * failure, HLT, guest assertions and exceptions reported with their origin.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>

#include "lib/harness.h"
#include "guest_basic.h"

static void ck_hook(const char *msg)
{
	ck_abort_msg("%s", msg);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

START_TEST(test_memory_both_ways)
{
	struct gvm *vm = gvm_create(1);
	struct gvcpu *v = gvm_vcpu_add(vm, 0, guest_memory, 0x10, GTEST_CPL3);
	struct ucall uc;
	ck_assert_uint_eq(gvcpu_run_ucall(v, &uc), UCALL_SYNC);
	uint8_t *buf = GVM_GLOBAL(vm, guest_buf);
	for (unsigned i = 0; i < sizeof(guest_buf); i++)
		ck_assert_uint_eq(buf[i], 0x10 + i);
	/* The guest wrote its own copy, not the host's global. */
	ck_assert_uint_eq(guest_buf[5], 0);
	GVM_GLOBAL(vm, host_to_guest) = HOST_PATTERN;
	ck_assert_uint_eq(gvcpu_run_ucall(v, &uc), UCALL_SYNC);
	ck_assert_uint_eq(uc.args[0], HOST_PATTERN);
	ck_assert_uint_eq(gvcpu_run_ucall(v, &uc), UCALL_DONE);
	gvm_destroy(vm);
}
END_TEST

START_TEST(test_pio_cpl0)
{
	struct gvm *vm = gvm_create(1);
	struct gvcpu *v = gvm_vcpu_add(vm, 0, guest_pio, 0, GTEST_CPL0);
	struct modvm_cpu_exit *e = gvcpu_run(v);
	ck_assert_str_eq(modvm_cpu_exit_name(e->kind), "pio");
	ck_assert_uint_eq(e->pio.port, PIO_OUT_PORT);
	ck_assert_uint_eq(e->pio.size, 4);
	ck_assert_uint_eq(e->pio.is_write, 1);
	ck_assert_uint_eq(e->pio.count, 1);
	uint32_t out;
	memcpy(&out, e->pio.data, 4);
	ck_assert_uint_eq(out, PIO_OUT_VALUE);

	e = gvcpu_run(v);
	ck_assert_uint_eq(e->kind, MODVM_EXIT_PIO);
	ck_assert_uint_eq(e->pio.port, PIO_IN_PORT);
	ck_assert_uint_eq(e->pio.size, 1);
	ck_assert_uint_eq(e->pio.is_write, 0);
	e->pio.data[0] = 0x5a;	/* the answer to the guest's inb */

	struct ucall uc;
	ck_assert_uint_eq(gvcpu_run_ucall(v, &uc), UCALL_SYNC);
	ck_assert_uint_eq(uc.args[0], 0x5a);
	ck_assert_uint_eq(gvcpu_run_ucall(v, &uc), UCALL_DONE);
	gvm_destroy(vm);
}
END_TEST

/* _i = 0: CPL0, 1: CPL3. */
START_TEST(test_mmio)
{
	enum gtest_mode mode = _i ? GTEST_CPL3 : GTEST_CPL0;
	struct gvm *vm = gvm_create(1);
	struct gvcpu *v = gvm_vcpu_add(vm, 0, guest_mmio, mode, mode);
	struct modvm_cpu_exit *e = gvcpu_run(v);
	ck_assert_uint_eq(e->kind, MODVM_EXIT_MMIO);
	ck_assert_uint_eq(e->mmio.addr, MMIO_ADDR);
	ck_assert_uint_eq(e->mmio.len, 4);
	ck_assert_uint_eq(e->mmio.is_write, 1);
	uint32_t w;
	memcpy(&w, e->mmio.data, 4);
	ck_assert_uint_eq(w, MMIO_WRITE_VALUE);

	e = gvcpu_run(v);
	ck_assert_uint_eq(e->kind, MODVM_EXIT_MMIO);
	ck_assert_uint_eq(e->mmio.addr, MMIO_ADDR + 8);
	ck_assert_uint_eq(e->mmio.len, 8);
	ck_assert_uint_eq(e->mmio.is_write, 0);
	uint64_t r = MMIO_READ_VALUE;
	memcpy(e->mmio.data, &r, 8);

	struct ucall uc;
	ck_assert_uint_eq(gvcpu_run_ucall(v, &uc), UCALL_SYNC);
	ck_assert_msg(uc.args[0] == 1, "guest ran at the wrong CPL");
	ck_assert_uint_eq(gvcpu_run_ucall(v, &uc), UCALL_DONE);
	gvm_destroy(vm);
}
END_TEST

START_TEST(test_gpa_outside_ram)
{
	struct gvm *vm = gvm_create(1);
	uint64_t gpa = 0x80000000ull;
	ck_assert_uint_gt(gpa, gvm_ram_size(vm));
	struct gvcpu *v = gvm_vcpu_add(vm, 0, guest_no_ram, gpa, GTEST_CPL3);
	struct modvm_cpu_exit *e = gvcpu_run(v);
	ck_assert_uint_eq(e->kind, MODVM_EXIT_MMIO);
	ck_assert_uint_eq(e->mmio.addr, gpa);
	ck_assert_uint_eq(e->mmio.len, 1);
	ck_assert_uint_eq(e->mmio.is_write, 0);
	e->mmio.data[0] = 0xab;
	struct ucall uc;
	ck_assert_uint_eq(gvcpu_run_ucall(v, &uc), UCALL_SYNC);
	ck_assert_uint_eq(uc.args[0], 0xab);
	gvm_destroy(vm);
}
END_TEST

START_TEST(test_emulation_failure)
{
	struct gvm *vm = gvm_create(1);
	struct gvcpu *v = gvm_vcpu_add(vm, 0, guest_sse, 0, GTEST_CPL0);
	struct modvm_cpu_exit *e = gvcpu_run(v);
	struct ucall uc;
	const struct modvm_cpu_probe *p = gtest_backend_probe();
	if (__gvcpu_get_ucall(v, e, &uc) == UCALL_DONE) {
		/* Hardware virtualization runs CPL0 natively: SSE simply works. */
		ck_assert_msg(p->caps.hw_virt, "SSE at CPL0 worked without VMX/SVM");
	} else {
		char buf[256];
		ck_assert_msg(e->kind == MODVM_EXIT_INTERNAL_ERROR, "expected internal-error, got %s",
			      gexit_format(e, buf, sizeof(buf)));
		ck_assert_uint_eq(e->internal.suberror, KVM_INTERNAL_ERROR_EMULATION);
		ck_assert_str_eq(modvm_cpu_exit_name(e->kind), "internal-error");
	}
	gvm_destroy(vm);
}
END_TEST

START_TEST(test_hlt)
{
	struct gvm *vm = gvm_create(1);
	struct gvcpu *v = gvm_vcpu_add(vm, 0, guest_hlt, 0, GTEST_CPL0);
	ck_assert_uint_eq(gvcpu_run(v)->kind, MODVM_EXIT_HLT);
	struct ucall uc;
	ck_assert_uint_eq(gvcpu_run_ucall(v, &uc), UCALL_DONE);
	gvm_destroy(vm);
}
END_TEST

START_TEST(test_assert_reports_file_line)
{
	struct gvm *vm = gvm_create(1);
	struct gvcpu *v = gvm_vcpu_add(vm, 0, guest_assert_fails, 41, GTEST_CPL3);
	struct modvm_cpu_exit *e = gvcpu_run(v);
	struct ucall uc;
	ck_assert_uint_eq(__gvcpu_get_ucall(v, e, &uc), UCALL_ABORT);
	uint64_t line = GVM_GLOBAL(vm, assert_line);
	ck_assert_uint_gt(line, 0);
	ck_assert_uint_eq(uc.line, line);
	ck_assert_msg(ends_with(uc.file, "guest_basic.c"), "file %s", uc.file);
	ck_assert_str_eq(uc.expr, "arg == 42");
	ck_assert_uint_eq(uc.args[0], 41);
	ck_assert_uint_eq(uc.args[1], 42);
	char buf[512], want[64];
	gucall_format(&uc, buf, sizeof(buf));
	snprintf(want, sizeof(want), "guest_basic.c:%llu: ", (unsigned long long)line);
	ck_assert_msg(strstr(buf, want) && strstr(buf, "(0x29, 0x2a)"), "message: %s", buf);
	gvm_destroy(vm);
}
END_TEST

START_TEST(test_exception_reported)
{
	struct gvm *vm = gvm_create(1);
	struct gvcpu *v = gvm_vcpu_add(vm, 0, guest_ud2, 0, GTEST_CPL3);
	struct ucall uc;
	ck_assert_uint_eq(__gvcpu_get_ucall(v, gvcpu_run(v), &uc), UCALL_UNHANDLED);
	ck_assert_uint_eq(uc.args[0], 6);	/* #UD */
	uint64_t fn = (uint64_t)(uintptr_t)guest_ud2;
	ck_assert_msg(uc.args[2] >= fn && uc.args[2] < fn + 64, "rip 0x%llx, guest_ud2 at 0x%llx",
		      (unsigned long long)uc.args[2], (unsigned long long)fn);
	gvm_destroy(vm);
}
END_TEST

START_TEST(test_start_cpl)
{
	enum gtest_mode mode = _i ? GTEST_CPL3 : GTEST_CPL0;
	struct gvm *vm = gvm_create(1);
	struct gvcpu *v = gvm_vcpu_add(vm, 0, guest_report_cpl, 0, mode);
	struct ucall uc;
	ck_assert_uint_eq(gvcpu_run_ucall(v, &uc), UCALL_SYNC);
	ck_assert_uint_eq(uc.args[0], mode);
	gvm_destroy(vm);
}
END_TEST

START_TEST(test_drop_to_user)
{
	struct gvm *vm = gvm_create(1);
	struct gvcpu *v = gvm_vcpu_add(vm, 0, guest_drop_to_user, 77, GTEST_CPL0);
	struct ucall uc;
	ck_assert_uint_eq(gvcpu_run_ucall(v, &uc), UCALL_SYNC);
	ck_assert_uint_eq(uc.args[0], 0);
	ck_assert_uint_eq(gvcpu_run_ucall(v, &uc), UCALL_SYNC);
	ck_assert_uint_eq(uc.args[0], 77);
	ck_assert_uint_eq(gvcpu_run_ucall(v, &uc), UCALL_SYNC);
	ck_assert_uint_eq(uc.args[0], 3);
	ck_assert_uint_eq(gvcpu_run_ucall(v, &uc), UCALL_DONE);
	gvm_destroy(vm);
}
END_TEST

START_TEST(test_return_without_done)
{
	struct gvm *vm = gvm_create(1);
	struct gvcpu *v = gvm_vcpu_add(vm, 0, guest_returns, 0, GTEST_CPL3);
	struct ucall uc;
	ck_assert_uint_eq(__gvcpu_get_ucall(v, gvcpu_run(v), &uc), UCALL_ABORT);
	ck_assert_ptr_nonnull(strstr(uc.expr, "GUEST_DONE"));
	gvm_destroy(vm);
}
END_TEST

int main(void)
{
	gtest_require_kvm();
	gtest_fail_hook = ck_hook;
	Suite *s = suite_create("guest-basic");
	TCase *tc = tcase_create("basic");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_memory_both_ways);
	tcase_add_test(tc, test_pio_cpl0);
	tcase_add_loop_test(tc, test_mmio, 0, 2);
	tcase_add_test(tc, test_gpa_outside_ram);
	tcase_add_test(tc, test_emulation_failure);
	tcase_add_test(tc, test_hlt);
	tcase_add_test(tc, test_assert_reports_file_line);
	tcase_add_test(tc, test_exception_reported);
	tcase_add_loop_test(tc, test_start_cpl, 0, 2);
	tcase_add_test(tc, test_drop_to_user);
	tcase_add_test(tc, test_return_without_done);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
