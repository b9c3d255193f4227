/*
 * test_kvm_unit — the pure parts of modvm/kvm.h: exit translation,
 * register conversion, CPUID array helpers.  No /dev/kvm needed.
 */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/kvm.h>

/* A kvm_run followed by room for PIO data, as the kernel lays it out. */
static union {
	struct kvm_run run;
	uint8_t bytes[8192];
} page;

START_TEST(test_translate_pio)
{
	memset(&page, 0, sizeof(page));
	page.run.exit_reason = KVM_EXIT_IO;
	page.run.io.direction = KVM_EXIT_IO_OUT;
	page.run.io.size = 2;
	page.run.io.port = 0x3f8;
	page.run.io.count = 3;
	page.run.io.data_offset = 4096;
	struct modvm_cpu_exit e;
	modvm_kvm_translate_exit(&page.run, &e);
	ck_assert_uint_eq(e.kind, MODVM_EXIT_PIO);
	ck_assert_uint_eq(e.raw_reason, KVM_EXIT_IO);
	ck_assert_uint_eq(e.pio.port, 0x3f8);
	ck_assert_uint_eq(e.pio.size, 2);
	ck_assert_uint_eq(e.pio.count, 3);
	ck_assert_uint_eq(e.pio.is_write, 1);
	ck_assert_ptr_eq(e.pio.data, page.bytes + 4096);
	page.run.io.direction = KVM_EXIT_IO_IN;
	modvm_kvm_translate_exit(&page.run, &e);
	ck_assert_uint_eq(e.pio.is_write, 0);
}
END_TEST

START_TEST(test_translate_mmio)
{
	memset(&page, 0, sizeof(page));
	page.run.exit_reason = KVM_EXIT_MMIO;
	page.run.mmio.phys_addr = 0xfee00000;
	page.run.mmio.len = 4;
	page.run.mmio.is_write = 1;
	struct modvm_cpu_exit e;
	modvm_kvm_translate_exit(&page.run, &e);
	ck_assert_uint_eq(e.kind, MODVM_EXIT_MMIO);
	ck_assert_uint_eq(e.mmio.addr, 0xfee00000);
	ck_assert_uint_eq(e.mmio.len, 4);
	ck_assert_uint_eq(e.mmio.is_write, 1);
	ck_assert_ptr_eq(e.mmio.data, page.run.mmio.data);
}
END_TEST

START_TEST(test_translate_others)
{
	static const struct {
		uint32_t reason, sys_type, kind;
	} cases[] = {
		{ KVM_EXIT_HLT, 0, MODVM_EXIT_HLT },
		{ KVM_EXIT_SHUTDOWN, 0, MODVM_EXIT_SHUTDOWN },
		{ KVM_EXIT_SYSTEM_EVENT, KVM_SYSTEM_EVENT_SHUTDOWN, MODVM_EXIT_SYSTEM_OFF },
		{ KVM_EXIT_SYSTEM_EVENT, KVM_SYSTEM_EVENT_RESET, MODVM_EXIT_SYSTEM_RESET },
		{ KVM_EXIT_SYSTEM_EVENT, KVM_SYSTEM_EVENT_CRASH, MODVM_EXIT_SHUTDOWN },
		{ KVM_EXIT_INTR, 0, MODVM_EXIT_INTR },
		{ KVM_EXIT_DEBUG, 0, MODVM_EXIT_UNKNOWN },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&page, 0, sizeof(page));
		page.run.exit_reason = cases[i].reason;
		page.run.system_event.type = cases[i].sys_type;
		struct modvm_cpu_exit e;
		modvm_kvm_translate_exit(&page.run, &e);
		ck_assert_msg(e.kind == cases[i].kind, "case %u: kind %u", i, e.kind);
		ck_assert_uint_eq(e.raw_reason, cases[i].reason);
	}
}
END_TEST

START_TEST(test_translate_errors)
{
	memset(&page, 0, sizeof(page));
	page.run.exit_reason = KVM_EXIT_INTERNAL_ERROR;
	page.run.internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
	page.run.internal.ndata = 6;
	for (unsigned i = 0; i < 6; i++)
		page.run.internal.data[i] = 100 + i;
	struct modvm_cpu_exit e;
	modvm_kvm_translate_exit(&page.run, &e);
	ck_assert_uint_eq(e.kind, MODVM_EXIT_INTERNAL_ERROR);
	ck_assert_uint_eq(e.internal.suberror, 1);
	ck_assert_uint_eq(e.internal.ndata, 6);
	ck_assert_uint_eq(e.internal.data[3], 103);

	memset(&page, 0, sizeof(page));
	page.run.exit_reason = KVM_EXIT_FAIL_ENTRY;
	page.run.fail_entry.hardware_entry_failure_reason = 0x80000021;
	modvm_kvm_translate_exit(&page.run, &e);
	ck_assert_uint_eq(e.kind, MODVM_EXIT_FAIL_ENTRY);
	ck_assert_uint_eq(e.fail_entry.reason, 0x80000021);
}
END_TEST

START_TEST(test_regs_round_trip)
{
	struct modvm_regs r, back;
	uint64_t *w = (uint64_t *)&r;
	for (unsigned i = 0; i < sizeof(r) / 8; i++)
		w[i] = 0x1111111111111111ull * (i + 1);
	struct kvm_regs k;
	modvm_kvm_regs_to_kvm(&r, &k);
	ck_assert_uint_eq(k.r15, r.r15);
	ck_assert_uint_eq(k.rip, r.rip);
	ck_assert_uint_eq(k.rflags, r.rflags);
	modvm_kvm_regs_from_kvm(&k, &back);
	ck_assert_int_eq(memcmp(&r, &back, sizeof(r)), 0);
}
END_TEST

START_TEST(test_sregs_round_trip)
{
	struct kvm_sregs k;
	memset(&k, 0, sizeof(k));
	k.interrupt_bitmap[1] = 0x40;	/* not modvm's: must survive to_kvm */
	struct modvm_sregs s;
	memset(&s, 0, sizeof(s));
	s.cs = (struct modvm_segment){ .base = 0, .limit = 0xffffffff, .selector = 0x8,
				       .type = 0xb, .present = 1, .s = 1, .l = 1, .g = 1 };
	s.ss = (struct modvm_segment){ .selector = 0x10, .type = 3, .present = 1, .db = 1,
				       .s = 1, .dpl = 0 };
	s.ldt = (struct modvm_segment){ .type = 2 };	/* not present: unusable */
	s.gdt = (struct modvm_dtable){ .base = 0x1000, .limit = 0xa7 };
	s.cr0 = 0x80010033;
	s.cr3 = 0x10000;
	s.cr4 = 0x620;
	s.efer = 0xd00;
	s.apic_base = 0xfee00900;
	modvm_kvm_sregs_to_kvm(&s, &k);
	ck_assert_uint_eq(k.interrupt_bitmap[1], 0x40);
	ck_assert_uint_eq(k.cs.l, 1);
	ck_assert_uint_eq(k.cs.unusable, 0);
	ck_assert_uint_eq(k.ldt.unusable, 1);
	ck_assert_uint_eq(k.gdt.limit, 0xa7);
	ck_assert_uint_eq(k.efer, 0xd00);
	struct modvm_sregs back;
	memset(&back, 0, sizeof(back));
	modvm_kvm_sregs_from_kvm(&k, &back);
	ck_assert_int_eq(memcmp(&s.cs, &back.cs, sizeof(s.cs)), 0);
	ck_assert_int_eq(memcmp(&s.ss, &back.ss, sizeof(s.ss)), 0);
	ck_assert_uint_eq(back.ldt.present, 0);
	ck_assert_uint_eq(back.cr3, 0x10000);
	ck_assert_uint_eq(back.apic_base, 0xfee00900);
	/* An unusable segment reads back as not present even if KVM kept P. */
	k.ds.present = 1;
	k.ds.unusable = 1;
	modvm_kvm_sregs_from_kvm(&k, &back);
	ck_assert_uint_eq(back.ds.present, 0);
}
END_TEST

START_TEST(test_cpuid_helpers)
{
	struct kvm_cpuid_entry2 e[6];
	memset(e, 0, sizeof(e));
	uint32_t n = 0;
	struct kvm_cpuid_entry2 *a = modvm_kvm_cpuid_get(e, &n, 6, 1, 0, false);
	ck_assert_ptr_nonnull(a);
	a->ebx = 7;
	ck_assert_ptr_eq(modvm_kvm_cpuid_get(e, &n, 6, 1, 5, false), a);	/* index ignored */
	ck_assert_uint_eq(n, 1);
	struct kvm_cpuid_entry2 *b0 = modvm_kvm_cpuid_get(e, &n, 6, 0xb, 0, true);
	struct kvm_cpuid_entry2 *b1 = modvm_kvm_cpuid_get(e, &n, 6, 0xb, 1, true);
	ck_assert_ptr_ne(b0, b1);
	ck_assert_uint_eq(n, 3);
	ck_assert_ptr_eq(modvm_kvm_cpuid_find(e, n, 0xb, 1), b1);
	ck_assert_ptr_null(modvm_kvm_cpuid_find(e, n, 0xb, 2));
	modvm_kvm_cpuid_remove(e, &n, 0xb);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(e[0].ebx, 7);
	n = 6;
	ck_assert_ptr_null(modvm_kvm_cpuid_get(e, &n, 6, 0x40000000, 0, false));

	static const uint32_t order[][2] = { { 1, 0 }, { 2, 1 }, { 3, 2 }, { 4, 2 }, { 5, 3 },
					     { 8, 3 }, { 9, 4 }, { 256, 8 } };
	for (unsigned i = 0; i < 8; i++)
		ck_assert_uint_eq(modvm_kvm_cpuid_order(order[i][0]), order[i][1]);
}
END_TEST

START_TEST(test_kick_signal_and_names)
{
	int sig = modvm_kvm_kick_signal();
	ck_assert_int_ge(sig, SIGRTMIN);
	ck_assert_int_le(sig, SIGRTMAX);
	ck_assert_str_eq(modvm_cpu_exit_name(MODVM_EXIT_INTR), "interrupted");
	ck_assert_str_eq(modvm_cpu_exit_name(999), "unknown");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kvm-unit");
	TCase *tc = tcase_create("pure");
	tcase_add_test(tc, test_translate_pio);
	tcase_add_test(tc, test_translate_mmio);
	tcase_add_test(tc, test_translate_others);
	tcase_add_test(tc, test_translate_errors);
	tcase_add_test(tc, test_regs_round_trip);
	tcase_add_test(tc, test_sregs_round_trip);
	tcase_add_test(tc, test_cpuid_helpers);
	tcase_add_test(tc, test_kick_signal_and_names);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
