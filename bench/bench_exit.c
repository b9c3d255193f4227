/*
 * bench_exit — what one guest exit to userspace costs through the CPU
 * backend (KVM_RUN round trip included): a PIO exit from CPL0 guest code
 * and an MMIO exit from CPL3 guest code, plus a bare KVM_RUN that returns
 * at once (immediate_exit).  Uses the guest-code harness (tests/guest/lib)
 * and the best cpu-* plugin from MODVM_PLUGIN_PATH.
 *
 *     MODVM_PLUGIN_PATH=build/plugins/cpu-svm build/bench/bench_exit [iterations]
 */
#include <stdio.h>
#include <stdlib.h>

#include "../tests/guest/lib/harness.h"
#include "../tests/guest/guest_bench.h"

static void measure(const char *what, guest_fn fn, enum gtest_mode mode, uint32_t kind,
		    unsigned n)
{
	struct gvm *vm = gvm_create(1);
	struct gvcpu *v = gvm_vcpu_add(vm, 0, fn, 0, mode);
	const struct modvm_cpu_backend *be = gtest_backend(NULL);
	struct modvm_cpu_vcpu *cpu = gvcpu_backend(v);
	struct modvm_cpu_exit e;
	/* Warm up: first touches of guest pages and shadow page tables. */
	for (unsigned i = 0; i < 100; i++)
		if (be->vcpu_run(cpu, &e) < 0 || e.kind != kind)
			gtest_fail(__FILE__, __LINE__, "%s: unexpected exit %s", what,
				   modvm_cpu_exit_name(e.kind));
	uint64_t t0 = gtest_now_ns();
	for (unsigned i = 0; i < n; i++)
		if (be->vcpu_run(cpu, &e) < 0 || e.kind != kind)
			gtest_fail(__FILE__, __LINE__, "%s: unexpected exit %s", what,
				   modvm_cpu_exit_name(e.kind));
	uint64_t ns = gtest_now_ns() - t0;
	printf("%-36s %8.2f us/exit  (%u exits)\n", what, ns / 1000.0 / n, n);
	gvm_destroy(vm);
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 20000;
	if (n == 0)
		n = 1;
	gtest_require_kvm();
	const char *name;
	gtest_backend(&name);
	printf("backend %s, %u iterations\n", name, n);

	/* A kicked vCPU: KVM_RUN returns EINTR before entering the guest. */
	struct gvm *vm = gvm_create(1);
	struct gvcpu *v = gvm_vcpu_add(vm, 0, guest_bench_pio, 0, GTEST_CPL0);
	const struct modvm_cpu_backend *be = gtest_backend(NULL);
	struct modvm_cpu_exit e;
	uint64_t t0 = gtest_now_ns();
	for (unsigned i = 0; i < n; i++) {
		be->vcpu_kick(gvcpu_backend(v));
		be->vcpu_run(gvcpu_backend(v), &e);
	}
	printf("%-36s %8.2f us/run\n", "kick + KVM_RUN (immediate_exit)",
	       (gtest_now_ns() - t0) / 1000.0 / n);
	gvm_destroy(vm);

	measure("PIO exit, CPL0 (outb)", guest_bench_pio, GTEST_CPL0, MODVM_EXIT_PIO, n);
	measure("MMIO exit, CPL3 (4-byte write)", guest_bench_mmio, GTEST_CPL3, MODVM_EXIT_MMIO, n);
	return 0;
}
