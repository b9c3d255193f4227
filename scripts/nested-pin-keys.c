/*
 * nested-pin-keys: runs inside the nested test host (scripts/nested-kvm.sh)
 * and holds KVM objects open for the L1's whole life, so that no test's VM
 * ever flips one of KVM's static keys between 0 and 1.
 *
 * Why: every such flip makes the L1 kernel rewrite its own code while the
 * other vCPU runs it (text_poke_bp: an int3 on the patch site, IPIs, then
 * the new bytes).  Creating and destroying a VM flips preempt_notifier_key
 * (read in __schedule), creating a vCPU and the delayed work after
 * destroying one flip apic_sw_disabled/apic_hw_disabled (read on every
 * vcpu_run).  Under QEMU's TCG with an L2 guest running, that patching
 * sometimes goes wrong: the L1's vCPUs were found wedged in
 * poke_int3_handler, exc_int3, __schedule and a spinlock, and once the L1
 * panicked with a kernel stack overflow in error_entry (an int3 loop).  A
 * key whose count never reaches 0 is never patched again; measured with a
 * kprobe on text_poke_bp_batch (docs/nested-kvm.md).
 *
 * What it holds: one VM (preempt notifiers) with an in-kernel irqchip and
 * one vCPU that never runs, its APIC software-disabled (as at reset) and
 * hardware-disabled (APIC base without the enable bit); one VM with a vCPU
 * and no irqchip (kvm_has_noapic_vcpu).  Then it writes "ready" to stdout
 * and sleeps until killed.
 *
 * Built static by nested-kvm.sh with the host's cc; no modvm code in it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MSR_IA32_APICBASE 0x1b
#define APIC_DEFAULT_BASE 0xfee00000ull

static void die(const char *what)
{
	fprintf(stderr, "nested-pin-keys: %s: %m\n", what);
	exit(1);
}

static int create_vm_with_vcpu(int kvm, int with_irqchip)
{
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");
	if (with_irqchip && ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
		die("KVM_CREATE_IRQCHIP");
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die("KVM_CREATE_VCPU");
	return vcpu;
}

int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");

	int vcpu = create_vm_with_vcpu(kvm, 1);
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entry;
	} msrs;
	memset(&msrs, 0, sizeof msrs);
	msrs.hdr.nmsrs = 1;
	msrs.entry.index = MSR_IA32_APICBASE;
	/* BSP, x2APIC off, global enable off: apic_hw_disabled counts it. */
	msrs.entry.data = APIC_DEFAULT_BASE | (1u << 8);
	if (ioctl(vcpu, KVM_SET_MSRS, &msrs) != 1)
		die("KVM_SET_MSRS(APIC base, disabled)");

	create_vm_with_vcpu(kvm, 0);

	puts("ready");
	fflush(stdout);
	for (;;)
		pause();
}
