/*
 * test_kvm_live — modvm/kvm.h and the cpu-* plugins against this host's
 * /dev/kvm: capabilities, probes, VM creation errors, interrupt plumbing,
 * ioeventfd, and the guest CPUID a vCPU really sees.  Skips without KVM.
 */
#include <check.h>
#include <cpuid.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <modvm/kvm.h>
#include <modvm/plugin.h>

#include "lib/harness.h"
#include "guest_kvm.h"

static void ck_hook(const char *msg)
{
	ck_abort_msg("%s", msg);
}

START_TEST(test_open_and_caps)
{
	int fd = modvm_kvm_open();
	ck_assert_int_ge(fd, 0);
	ck_assert_int_gt(modvm_kvm_check_extension(fd, KVM_CAP_USER_MEMORY), 0);
	ck_assert_int_ge(modvm_kvm_max_vcpus(fd), 2);
	ck_assert_int_ge(modvm_kvm_vcpu_mmap_size(fd), (int)sizeof(struct kvm_run));
	struct kvm_cpuid2 *c = NULL;
	ck_assert_int_eq(modvm_kvm_get_supported_cpuid(fd, 4, &c), 0);
	ck_assert_uint_gt(c->nent, 0);
	ck_assert_ptr_nonnull(modvm_kvm_cpuid_find(c->entries, c->nent, 0, 0));
	free(c);
	close(fd);
}
END_TEST

/* Probes plugin @name found in MODVM_PLUGIN_PATH; -1 if not found. */
static int probe_plugin(const char *name, struct modvm_cpu_probe *out)
{
	char *list = strdup(getenv("MODVM_PLUGIN_PATH") ? getenv("MODVM_PLUGIN_PATH") : "");
	int score = -1;
	char *save = NULL;
	for (char *dir = strtok_r(list, ":", &save); dir && score < 0;
	     dir = strtok_r(NULL, ":", &save)) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s.so", dir, name);
		void *h = access(path, R_OK) == 0 ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
		if (!h)
			continue;
		const struct modvm_plugin *p = dlsym(h, "modvm_plugin_entry_v1");
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq(p->kind, MODVM_KIND_CPU_BACKEND);
		ck_assert_str_eq(p->name, name);
		const struct modvm_cpu_backend *be = p->get_interface(NULL, MODVM_CPU_BACKEND_IFACE);
		ck_assert_ptr_nonnull(be);
		ck_assert_ptr_null(p->get_interface(NULL, "modvm.cpu-backend/2"));
		ck_assert_int_eq(be->probe(NULL, out), 0);
		score = out->score;
		dlclose(h);
	}
	free(list);
	return score;
}

START_TEST(test_probes_this_host)
{
	unsigned a, b, c, d;
	__cpuid(0, a, b, c, d);
	bool amd = b == 0x68747541;	/* "Auth" */
	bool intel = b == 0x756e6547;	/* "Genu" */
	struct modvm_cpu_probe svm, vmx;
	int s = probe_plugin("cpu-svm", &svm);
	int v = probe_plugin("cpu-vmx", &vmx);
	ck_assert_int_ge(s, 0);
	ck_assert_int_ge(v, 0);
	const char *chosen;
	ck_assert_ptr_nonnull(gtest_backend(&chosen));
	if (amd) {
		ck_assert_msg(s > 0, "cpu-svm scores 0 on an AMD host with KVM: %s", svm.summary);
		ck_assert_msg(v == 0, "cpu-vmx scores %d on an AMD host: %s", v, vmx.summary);
		ck_assert_str_eq(chosen, "cpu-svm");
	} else if (intel) {
		ck_assert_msg(v > 0, "cpu-vmx scores 0 on an Intel host with KVM: %s", vmx.summary);
		ck_assert_int_eq(s, 0);
		ck_assert_str_eq(chosen, "cpu-vmx");
	}
}
END_TEST

START_TEST(test_vm_create_errors)
{
	const struct modvm_cpu_backend *be = gtest_backend(NULL);
	struct modvm_cpu_vm *vm = (void *)1;
	struct modvm_cpu_vm_config cfg = { .struct_size = sizeof(cfg), .vcpus = 0 };
	ck_assert_int_eq(be->vm_create(NULL, &cfg, &vm), -EINVAL);
	ck_assert_ptr_null(vm);
	int fd = modvm_kvm_open();
	cfg.vcpus = (uint32_t)modvm_kvm_max_vcpus(fd) + 1;
	close(fd);
	ck_assert_int_eq(be->vm_create(NULL, &cfg, &vm), -E2BIG);
	cfg.vcpus = 1;
	ck_assert_int_eq(be->vm_create(NULL, &cfg, &vm), 0);
	struct modvm_cpu_vcpu *vcpu;
	ck_assert_int_eq(be->vcpu_create(vm, 1, &vcpu), -EINVAL);	/* index >= vcpus */
	static uint8_t unaligned[8192];
	ck_assert_int_lt(be->set_memory(vm, 0, 0x123, 4096, unaligned + 1), 0);
	be->vm_destroy(vm);
}
END_TEST

START_TEST(test_irq_plumbing)
{
	const struct modvm_cpu_backend *be = gtest_backend(NULL);
	int efd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(efd, 0);
	struct modvm_cpu_vm *vm;
	struct modvm_cpu_vm_config cfg = { .struct_size = sizeof(cfg), .vcpus = 1 };
	ck_assert_int_eq(be->vm_create(NULL, &cfg, &vm), 0);
	ck_assert_int_eq(be->irq_line(vm, 4, true), -ENOTSUP);
	ck_assert_int_eq(be->irqfd(vm, 5, efd, true), -ENOTSUP);
	ck_assert_int_eq(be->signal_msi(vm, 0xfee00000, 0x30), -ENOTSUP);
	be->vm_destroy(vm);

	cfg.irqchip = true;
	ck_assert_int_eq(be->vm_create(NULL, &cfg, &vm), 0);
	struct modvm_cpu_vcpu *vcpu;
	ck_assert_int_eq(be->vcpu_create(vm, 0, &vcpu), 0);
	ck_assert_int_eq(be->irq_line(vm, 4, true), 0);
	ck_assert_int_eq(be->irq_line(vm, 4, false), 0);
	ck_assert_int_eq(be->irqfd(vm, 5, efd, true), 0);
	ck_assert_int_eq(be->irqfd(vm, 5, efd, false), 0);
	ck_assert_int_eq(be->signal_msi(vm, 0xfee00000, 0x30), 0);
	ck_assert_int_eq(be->ioeventfd(vm, 0x510, 2, true, efd, true), 0);
	ck_assert_int_eq(be->ioeventfd(vm, 0x510, 2, true, efd, false), 0);
	be->vcpu_destroy(vcpu);
	be->vm_destroy(vm);
	close(efd);
}
END_TEST

START_TEST(test_ioeventfd_without_exit)
{
	struct gvm *vm = gvm_create(1);
	uint64_t gpa = GTEST_NO_RAM_GPA + 0x40;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_ge(efd, 0);
	const struct modvm_cpu_backend *be = gtest_backend(NULL);
	ck_assert_int_eq(be->ioeventfd(gvm_backend_vm(vm), gpa, 4, false, efd, true), 0);
	struct gvcpu *v = gvm_vcpu_add(vm, 0, guest_write_then_sync, gpa, GTEST_CPL3);
	struct ucall uc;
	/* The write signals the eventfd and the next exit is the SYNC. */
	ck_assert_uint_eq(gvcpu_run_ucall(v, &uc), UCALL_SYNC);
	uint64_t n = 0;
	ck_assert_int_eq(read(efd, &n, 8), 8);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(be->ioeventfd(gvm_backend_vm(vm), gpa, 4, false, efd, false), 0);
	gvm_destroy(vm);
	close(efd);
}
END_TEST

/*
 * At CPL0: kvm_pvm lets CPL3 execute CPUID natively (the host's values,
 * whichever host CPU it runs on); only CPL0 CPUID reaches KVM's table.
 */
static void guest_leaf(struct gvm *vm, unsigned id, uint32_t leaf, uint32_t r[4])
{
	struct gvcpu *v = gvm_vcpu_add(vm, id, guest_cpuid, (uint64_t)leaf << 32, GTEST_CPL0);
	struct ucall uc;
	for (unsigned i = 0; i < 4; i++) {
		ck_assert_uint_eq(gvcpu_run_ucall(v, &uc), UCALL_SYNC);
		r[i] = (uint32_t)uc.args[0];
	}
}

/* What the vendor policy wrote is what the guest reads, per vCPU. */
START_TEST(test_guest_cpuid_topology)
{
	struct gvm *vm = gvm_create(2);
	uint32_t l1[4], x1[4];
	guest_leaf(vm, 1, 1, l1);
	ck_assert_uint_eq(l1[1] >> 24, 1);		/* initial APIC id of vCPU 1 */
	ck_assert_uint_eq((l1[1] >> 16) & 0xff, 2);	/* logical processors */
	ck_assert_uint_ne(l1[3] & (1u << 28), 0);	/* HTT */
	ck_assert_uint_ne(l1[2] & (1u << 31), 0);	/* hypervisor */
	ck_assert_uint_eq(l1[2] & (1u << 5), 0);	/* no VMX without nested */
	guest_leaf(vm, 0, 0x80000001u, x1);
	ck_assert_uint_eq(x1[2] & (1u << 2), 0);	/* no SVM without nested */
	const char *name;
	gtest_backend(&name);
	if (strcmp(name, "cpu-svm") == 0) {
		struct gvm *vm2 = gvm_create(2);
		uint32_t x8[4];
		guest_leaf(vm2, 1, 0x80000008u, x8);
		ck_assert_uint_eq(x8[2] & 0xff, 1);	/* NC: 2 cores */
		gvm_destroy(vm2);
	}
	gvm_destroy(vm);
}
END_TEST

int main(void)
{
	gtest_require_kvm();
	gtest_fail_hook = ck_hook;
	Suite *s = suite_create("kvm-live");
	TCase *tc = tcase_create("live");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_open_and_caps);
	tcase_add_test(tc, test_probes_this_host);
	tcase_add_test(tc, test_vm_create_errors);
	tcase_add_test(tc, test_irq_plumbing);
	tcase_add_test(tc, test_ioeventfd_without_exit);
	tcase_add_test(tc, test_guest_cpuid_topology);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
