/*
 * test_cpuid — the vendor guest-CPUID policies over synthetic supported
 * lists: virtualization bits hidden unless nested, per-vCPU APIC ids, the
 * Intel (0xB/0x1F, leaf 4) and AMD (0x80000008, 0x8000001E) topology, and
 * -ENOSPC when there is no room for added leaves; and the VM-wide fixups
 * (AMX half reported, TSC deadline, what needs the in-kernel irqchip).
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/kvm.h"
#include "svm_cpuid.h"
#include "vmx_cpuid.h"

#define CAP 32

static struct kvm_cpuid_entry2 ent[CAP];
static uint32_t nent;

static void add(uint32_t fn, uint32_t idx, bool indexed, uint32_t a, uint32_t b, uint32_t c,
		uint32_t d)
{
	ck_assert_uint_lt(nent, CAP);
	ent[nent++] = (struct kvm_cpuid_entry2){
		.function = fn, .index = idx,
		.flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0,
		.eax = a, .ebx = b, .ecx = c, .edx = d,
	};
}

static struct kvm_cpuid_entry2 *get(uint32_t fn, uint32_t idx)
{
	struct kvm_cpuid_entry2 *e = modvm_kvm_cpuid_find(ent, nent, fn, idx);
	ck_assert_msg(e != NULL, "leaf 0x%x.%u missing", fn, idx);
	return e;
}

/* Shaped like KVM's list on an Ice Lake host (values trimmed to what matters). */
static void intel_host(void)
{
	memset(ent, 0, sizeof(ent));
	nent = 0;
	add(0, 0, false, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69);
	add(1, 0, false, 0x606a6, 0x00400800, 0xf7fa3223 | (1u << 5), 0x0f8bfbff);
	add(4, 0, true, 0x1c004121, 0x02c0003f, 0x3f, 0);	/* L1d */
	add(4, 1, true, 0x1c004122, 0x01c0003f, 0x3f, 0);	/* L1i */
	add(4, 2, true, 0x1c004143, 0x04c0003f, 0x3ff, 0);	/* L2 */
	add(4, 3, true, 0x1c03c163, 0x02c0003f, 0xbfff, 4);	/* L3 */
	add(4, 4, true, 0, 0, 0, 0);
	add(0xb, 0, true, 1, 2, 0x100, 0);
	add(0xb, 1, true, 7, 64, 0x201, 0);
	add(0x1f, 0, true, 1, 2, 0x100, 0);
	add(0x80000000u, 0, false, 0x80000008u, 0, 0, 0);
	add(0x80000001u, 0, false, 0, 0, 0x121 | (1u << 2), 0x2c100800);
	add(0x80000008u, 0, false, 0x3030, 0, 0, 0);
}

/* Shaped like KVM's list on an EPYC (Zen 3) host. */
static void amd_host(void)
{
	memset(ent, 0, sizeof(ent));
	nent = 0;
	add(0, 0, false, 0x10, 0x68747541, 0x444d4163, 0x69746e65);
	add(1, 0, false, 0xa00f11, 0x00800800, 0xfef83203, 0x178bfbff);
	add(0xb, 0, true, 1, 2, 0x100, 0);
	add(0xb, 1, true, 7, 64, 0x201, 0);
	add(0x80000000u, 0, false, 0x80000021u, 0x68747541, 0x444d4163, 0x69746e65);
	add(0x80000001u, 0, false, 0xa00f11, 0, 0x75c237ff, 0x2fd3fbff);
	add(0x80000008u, 0, false, 0x3030, 0x91bef257, 0x0001703f, 0);
	add(0x8000000au, 0, false, 1, 0x8000, 0, 0x13bcbf);
	/* the host's cache topology: L1d/L2 shared by 2 threads, L3 by 16 */
	add(0x8000001du, 0, true, 0x00004121, 0x01c0003f, 0x3f, 0);
	add(0x8000001du, 1, true, 0x00004143, 0x01c0003f, 0x3ff, 2);
	add(0x8000001du, 2, true, 0x0003c163, 0x03c0003f, 0x7fff, 1);
	add(0x8000001du, 3, true, 0, 0, 0, 0);
	add(0x8000001eu, 0, false, 0, 0x100, 0, 0);
}

static int vmx(uint32_t vcpus, uint32_t apic, bool nested)
{
	struct modvm_kvm_cpuid_topo t = { .vcpus = vcpus, .apic_id = apic, .nested = nested };
	return vmx_guest_cpuid(ent, &nent, CAP, &t);
}

static int svm(uint32_t vcpus, uint32_t apic, bool nested)
{
	struct modvm_kvm_cpuid_topo t = { .vcpus = vcpus, .apic_id = apic, .nested = nested };
	return svm_guest_cpuid(ent, &nent, CAP, &t);
}

START_TEST(test_vmx_hides_vmx_unless_nested)
{
	intel_host();
	ck_assert_int_eq(vmx(4, 0, false), 0);
	ck_assert_uint_eq(get(1, 0)->ecx & (1u << 5), 0);
	ck_assert_uint_eq(get(0x80000001u, 0)->ecx & (1u << 2), 0);	/* SVM never */
	intel_host();
	ck_assert_int_eq(vmx(4, 0, true), 0);
	ck_assert_uint_ne(get(1, 0)->ecx & (1u << 5), 0);
}
END_TEST

START_TEST(test_vmx_leaf1_per_vcpu)
{
	intel_host();
	ck_assert_int_eq(vmx(6, 5, false), 0);
	struct kvm_cpuid_entry2 *l1 = get(1, 0);
	ck_assert_uint_eq(l1->ebx >> 24, 5);
	ck_assert_uint_eq((l1->ebx >> 16) & 0xff, 6);
	ck_assert_uint_eq(l1->ebx & 0xffff, 0x0800);	/* CLFLUSH size etc. kept */
	ck_assert_uint_ne(l1->edx & (1u << 28), 0);
	ck_assert_uint_ne(l1->ecx & (1u << 31), 0);
	intel_host();
	ck_assert_int_eq(vmx(1, 0, false), 0);
	ck_assert_uint_eq(get(1, 0)->edx & (1u << 28), 0);	/* one vCPU: no HTT */
}
END_TEST

START_TEST(test_vmx_ext_topology)
{
	intel_host();
	ck_assert_int_eq(vmx(6, 3, false), 0);
	static const uint32_t leaves[] = { 0xb, 0x1f };
	for (unsigned i = 0; i < 2; i++) {
		struct kvm_cpuid_entry2 *smt = get(leaves[i], 0), *core = get(leaves[i], 1),
					*end = get(leaves[i], 2);
		ck_assert_uint_eq(smt->eax, 0);
		ck_assert_uint_eq(smt->ebx, 1);
		ck_assert_uint_eq(smt->ecx, 0x100);
		ck_assert_uint_eq(core->eax, 3);	/* 6 vCPUs need 3 id bits */
		ck_assert_uint_eq(core->ebx, 6);
		ck_assert_uint_eq(core->ecx, 0x201);
		ck_assert_uint_eq(end->ecx & 0xff00, 0);
		ck_assert_uint_eq(smt->edx, 3);
		ck_assert_uint_eq(core->edx, 3);
		ck_assert_uint_eq(end->edx, 3);
	}
	/* Leaf 4: 6 cores per package, L1/L2 private, L3 shared by all. */
	ck_assert_uint_eq(get(4, 0)->eax >> 26, 5);
	ck_assert_uint_eq((get(4, 0)->eax >> 14) & 0xfff, 0);
	ck_assert_uint_eq((get(4, 3)->eax >> 14) & 0xfff, 5);
	ck_assert_uint_eq(get(4, 3)->eax & 0x3fff, 0x0163);
	ck_assert_uint_eq(get(4, 4)->eax, 0);
}
END_TEST

START_TEST(test_vmx_adds_0xb_not_0x1f)
{
	intel_host();
	modvm_kvm_cpuid_remove(ent, &nent, 0xb);
	modvm_kvm_cpuid_remove(ent, &nent, 0x1f);
	ck_assert_int_eq(vmx(2, 1, false), 0);
	ck_assert_uint_eq(get(0xb, 1)->ebx, 2);
	ck_assert_uint_eq(get(0xb, 0)->edx, 1);
	ck_assert_ptr_null(modvm_kvm_cpuid_find(ent, nent, 0x1f, 0));
}
END_TEST

START_TEST(test_vmx_no_room)
{
	intel_host();
	struct modvm_kvm_cpuid_topo t = { .vcpus = 2, .apic_id = 0 };
	/* 0xB's two entries become three: one more than the list holds. */
	uint32_t cap = nent;
	ck_assert_int_eq(vmx_guest_cpuid(ent, &nent, cap, &t), -ENOSPC);
}
END_TEST

START_TEST(test_svm_hides_svm_unless_nested)
{
	amd_host();
	ck_assert_int_eq(svm(2, 0, false), 0);
	ck_assert_uint_eq(get(0x80000001u, 0)->ecx & (1u << 2), 0);
	ck_assert_uint_eq(get(0x8000000au, 0)->edx, 0);
	ck_assert_uint_eq(get(1, 0)->ecx & (1u << 5), 0);
	amd_host();
	ck_assert_int_eq(svm(2, 0, true), 0);
	ck_assert_uint_ne(get(0x80000001u, 0)->ecx & (1u << 2), 0);
	ck_assert_uint_eq(get(0x8000000au, 0)->edx, 0x13bcbf);
}
END_TEST

START_TEST(test_svm_topology)
{
	amd_host();
	ck_assert_int_eq(svm(6, 4, false), 0);
	struct kvm_cpuid_entry2 *x8 = get(0x80000008u, 0);
	ck_assert_uint_eq(x8->ecx & 0xff, 5);			/* NC = cores - 1 */
	ck_assert_uint_eq((x8->ecx >> 12) & 0xf, 3);		/* ApicIdCoreIdSize */
	ck_assert_uint_eq(x8->ecx & 0x00030000, 0x00010000);	/* PerfTscSize kept */
	struct kvm_cpuid_entry2 *x1e = get(0x8000001eu, 0);
	ck_assert_uint_eq(x1e->eax, 4);
	ck_assert_uint_eq(x1e->ebx, 4);		/* core 4, one thread per core */
	ck_assert_uint_eq(x1e->ecx, 0);
	ck_assert_uint_eq(get(1, 0)->ebx >> 24, 4);
	ck_assert_uint_ne(get(0x80000001u, 0)->ecx & (1u << 1), 0);	/* CmpLegacy */
	/* AMD hosts that list 0xB get the same levels. */
	ck_assert_uint_eq(get(0xb, 1)->ebx, 6);
	ck_assert_uint_eq(get(0xb, 2)->edx, 4);
	/* caches: L1/L2 per vCPU, the L3 shared by all 6; the rest kept */
	ck_assert_uint_eq(get(0x8000001du, 0)->eax, 0x00000121);
	ck_assert_uint_eq(get(0x8000001du, 1)->eax, 0x00000143);
	ck_assert_uint_eq(get(0x8000001du, 2)->eax, 0x00014163);
	ck_assert_uint_eq(get(0x8000001du, 3)->eax, 0);
}
END_TEST

START_TEST(test_svm_single_vcpu)
{
	amd_host();
	ck_assert_int_eq(svm(1, 0, false), 0);
	ck_assert_uint_eq(get(0x80000008u, 0)->ecx & 0xf0ff, 0);
	ck_assert_uint_eq(get(0x80000001u, 0)->ecx & (1u << 1), 0);
	ck_assert_uint_eq(get(1, 0)->edx & (1u << 28), 0);
}
END_TEST

START_TEST(test_svm_adds_0x8000001e)
{
	amd_host();
	modvm_kvm_cpuid_remove(ent, &nent, 0x8000001eu);
	ck_assert_int_eq(svm(2, 1, false), 0);
	ck_assert_uint_eq(get(0x8000001eu, 0)->eax, 1);
	/* An extended range that ends before 0x8000001E gets none. */
	amd_host();
	modvm_kvm_cpuid_remove(ent, &nent, 0x8000001eu);
	get(0x80000000u, 0)->eax = 0x8000001a;
	ck_assert_int_eq(svm(2, 1, false), 0);
	ck_assert_ptr_null(modvm_kvm_cpuid_find(ent, nent, 0x8000001eu, 0));
}
END_TEST

START_TEST(test_zero_vcpus_refused)
{
	amd_host();
	ck_assert_int_eq(svm(0, 0, false), -EINVAL);
	intel_host();
	ck_assert_int_eq(vmx(0, 0, false), -EINVAL);
}
END_TEST

/* A 5.17-6.3 host without the guest AMX permission: XTILECFG without
 * XTILEDATA, which makes a Linux guest's XSETBV fault; all of AMX goes. */
START_TEST(test_half_amx_removed)
{
	intel_host();
	add(7, 0, true, 0, 0, 0, (1u << 22) | (1u << 24) | (1u << 25) | 1u);
	add(0xd, 0, true, 0x202e7, 0x2b00, 0x2b00, 0);
	add(0xd, 17, true, 0x40, 0xac0, 0, 0);
	add(0xd, 18, true, 0x2000, 0xb00, 6, 0);
	add(0x1d, 0, true, 1, 0, 0, 0);
	add(0x1e, 0, true, 0, 0x4010, 0, 0);
	modvm__kvm_cpuid_vm_fixups(ent, &nent, true, false);
	ck_assert_uint_eq(get(0xd, 0)->eax, 0x2e7);
	ck_assert_uint_eq(get(7, 0)->edx, 1u);
	ck_assert_ptr_null(modvm_kvm_cpuid_find(ent, nent, 0xd, 17));
	ck_assert_ptr_null(modvm_kvm_cpuid_find(ent, nent, 0xd, 18));
	ck_assert_ptr_null(modvm_kvm_cpuid_find(ent, nent, 0x1d, 0));
	ck_assert_ptr_null(modvm_kvm_cpuid_find(ent, nent, 0x1e, 0));
	ck_assert_ptr_nonnull(modvm_kvm_cpuid_find(ent, nent, 0x80000008u, 0));

	/* Both halves (permission granted, or a 6.4+ kernel): left alone. */
	intel_host();
	add(0xd, 0, true, 0x602e7, 0x2b00, 0x2b00, 0);
	add(0xd, 18, true, 0x2000, 0xb00, 6, 0);
	modvm__kvm_cpuid_vm_fixups(ent, &nent, true, false);
	ck_assert_uint_eq(get(0xd, 0)->eax, 0x602e7);
	ck_assert_ptr_nonnull(modvm_kvm_cpuid_find(ent, nent, 0xd, 18));
}
END_TEST

/* TSC deadline only with the irqchip and the capability; x2APIC and
 * PV_UNHALT only with the irqchip. */
START_TEST(test_irqchip_dependent_bits)
{
	intel_host();	/* KVM before 6.14 does not list TSC deadline itself */
	get(1, 0)->ecx &= ~(1u << 24);
	add(0x40000001u, 0, false, (1u << 7) | 1u, 0, 0, 0);
	modvm__kvm_cpuid_vm_fixups(ent, &nent, true, true);
	ck_assert_uint_eq(get(1, 0)->ecx & (1u << 24), 1u << 24);
	ck_assert_uint_eq(get(1, 0)->ecx & (1u << 21), 1u << 21);

	intel_host();
	get(1, 0)->ecx &= ~(1u << 24);
	add(0x40000001u, 0, false, (1u << 7) | 1u, 0, 0, 0);
	modvm__kvm_cpuid_vm_fixups(ent, &nent, true, false);
	ck_assert_uint_eq(get(1, 0)->ecx & (1u << 24), 0);

	intel_host();
	add(0x40000001u, 0, false, (1u << 7) | 1u, 0, 0, 0);
	modvm__kvm_cpuid_vm_fixups(ent, &nent, false, true);
	ck_assert_uint_eq(get(1, 0)->ecx & ((1u << 24) | (1u << 21)), 0);
	ck_assert_uint_eq(get(0x40000001u, 0)->eax, 1u);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cpuid");
	TCase *tc = tcase_create("policy");
	tcase_add_test(tc, test_vmx_hides_vmx_unless_nested);
	tcase_add_test(tc, test_vmx_leaf1_per_vcpu);
	tcase_add_test(tc, test_vmx_ext_topology);
	tcase_add_test(tc, test_vmx_adds_0xb_not_0x1f);
	tcase_add_test(tc, test_vmx_no_room);
	tcase_add_test(tc, test_svm_hides_svm_unless_nested);
	tcase_add_test(tc, test_svm_topology);
	tcase_add_test(tc, test_svm_single_vcpu);
	tcase_add_test(tc, test_svm_adds_0x8000001e);
	tcase_add_test(tc, test_zero_vcpus_refused);
	tcase_add_test(tc, test_half_amx_removed);
	tcase_add_test(tc, test_irqchip_dependent_bits);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
