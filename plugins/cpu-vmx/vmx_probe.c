/*
 * cpu-vmx host probe: Intel VT-x through kvm_intel, decided from recorded
 * host facts only, so every branch is tested with fixtures.
 *
 * Sources (Intel SDM vol. 3, appendix A; kvm_intel's module parameters):
 *   CPUID.1:ECX[5]  VMX;  CPUID.1:ECX[31]  running under a hypervisor
 *   IA32_FEATURE_CONTROL (0x3A): bit 0 lock, bit 2 VMXON outside SMX.  Locked
 *     with bit 2 clear = VT-x disabled by the firmware.
 *   Capability MSRs report allowed-1 settings in bits 63:32:
 *     PINBASED_CTLS (0x481)   bit 7 process posted interrupts
 *     PROCBASED_CTLS (0x482)  bit 31 activate secondary controls (same bit in
 *                             TRUE_PROCBASED_CTLS 0x48E)
 *     PROCBASED_CTLS2 (0x48B) bit 1 EPT, 5 VPID, 7 unrestricted guest,
 *                             8 APIC-register virtualization,
 *                             9 virtual-interrupt delivery, 17 PML
 * kvm_intel's parameters show what it actually enabled (it clears ept when
 * the CPU lacks it, unrestricted_guest when ept is off), so a recorded
 * parameter wins over the MSRs; with the MSRs unreadable (no msr driver, not
 * root) the parameter alone decides.
 */
#include <stdio.h>
#include <string.h>

#include <modvm/kvm.h>

#include "vmx_probe.h"

#define CPUID1_ECX_VMX (1u << 5)
#define CPUID1_ECX_HYPERVISOR (1u << 31)
#define FC_LOCKED (1ull << 0)
#define FC_VMXON_OUTSIDE_SMX (1ull << 2)
#define ALLOWED1(bit) (1ull << (32 + (bit)))
#define PIN_POSTED_INTR ALLOWED1(7)
#define PROC_ACTIVATE_SECONDARY ALLOWED1(31)
#define SEC_EPT ALLOWED1(1)
#define SEC_VPID ALLOWED1(5)
#define SEC_UNRESTRICTED ALLOWED1(7)
#define SEC_APIC_REG_VIRT ALLOWED1(8)
#define SEC_VIRT_INTR_DELIVERY ALLOWED1(9)

#define OWN_MODULE "kvm_intel"
#define RELOAD "modprobe -r kvm_intel && modprobe kvm_intel"

/* Tri-state of a secondary control: 1 allowed, 0 not, -1 MSRs unreadable. */
static int secondary(const struct modvm_host_facts *f, uint64_t bits)
{
	uint64_t proc, sec;

	if ((modvm_host_facts_msr(f, MODVM_MSR_IA32_VMX_TRUE_PROCBASED_CTLS, &proc) ||
	     modvm_host_facts_msr(f, MODVM_MSR_IA32_VMX_PROCBASED_CTLS, &proc)) &&
	    !(proc & PROC_ACTIVATE_SECONDARY))
		return 0;
	if (!modvm_host_facts_msr(f, MODVM_MSR_IA32_VMX_PROCBASED_CTLS2, &sec))
		return -1;
	return (sec & bits) == bits;
}

/* @cpu: what the MSRs say of the feature (secondary()), -1 unreadable. */
static void advise_feature(struct modvm_cpu_probe *out, enum modvm_kvm_feature why, int cpu,
			   const char *feature, const char *param, const char *cpu_text)
{
	if (why == MODVM_KVM_FEATURE_OFF_CPU)
		modvm_cpu_probe_advise(out, feature, "%s", cpu_text);
	else if (why == MODVM_KVM_FEATURE_OFF_PARAM && cpu < 0)
		/* kvm_intel writes N for what the CPU lacks too (many desktop
		 * CPUs have no APICv): reloading cannot be promised to help. */
		modvm_cpu_probe_advise(out, feature, "%s off in kvm_intel (%s=N), or not in this "
				       "CPU: " RELOAD " %s=1", feature, param, param);
	else if (why == MODVM_KVM_FEATURE_OFF_PARAM)
		modvm_cpu_probe_advise(out, feature, "%s disabled in kvm_intel: " RELOAD " %s=1", feature, param);
	else if (why == MODVM_KVM_FEATURE_UNKNOWN)
		modvm_cpu_probe_advise(out, feature, "cannot tell whether %s is available: modprobe msr and "
		       "probe as root to read the VMX capability MSRs", feature);
}

static void probe_features(const struct modvm_host_facts *f, bool in_vm,
			   struct modvm_cpu_probe *out)
{
	struct modvm_cpu_caps *c = &out->caps;
	int apicv_cpu = secondary(f, SEC_APIC_REG_VIRT | SEC_VIRT_INTR_DELIVERY);
	int ept_cpu = secondary(f, SEC_EPT), vpid_cpu = secondary(f, SEC_VPID);
	int ug_cpu = secondary(f, SEC_UNRESTRICTED);
	uint64_t pin;
	enum modvm_kvm_feature ept, vpid, ug, apicv;

	if (apicv_cpu == 1 && modvm_host_facts_msr(f, MODVM_MSR_IA32_VMX_PINBASED_CTLS, &pin) &&
	    !(pin & PIN_POSTED_INTR))
		apicv_cpu = 0;
	ept = modvm_kvm_feature_decide(ept_cpu, modvm_host_facts_param_bool(f, OWN_MODULE, "ept"));
	vpid = modvm_kvm_feature_decide(vpid_cpu, modvm_host_facts_param_bool(f, OWN_MODULE, "vpid"));
	ug = modvm_kvm_feature_decide(ug_cpu,
		    modvm_host_facts_param_bool(f, OWN_MODULE, "unrestricted_guest"));
	apicv = modvm_kvm_feature_decide(apicv_cpu, modvm_host_facts_param_bool(f, OWN_MODULE, "enable_apicv"));
	if (ept != MODVM_KVM_FEATURE_ON && ug == MODVM_KVM_FEATURE_ON)
		ug = MODVM_KVM_FEATURE_OFF_PARAM;	/* kvm_intel needs EPT for it */

	c->slat = ept == MODVM_KVM_FEATURE_ON ? MODVM_SLAT_EPT : MODVM_SLAT_NONE;
	c->vpid = vpid == MODVM_KVM_FEATURE_ON;
	c->unrestricted_guest = ug == MODVM_KVM_FEATURE_ON;
	c->apic_virt = apicv == MODVM_KVM_FEATURE_ON;
	c->nested = modvm_host_facts_param_bool(f, OWN_MODULE, "nested") == 1;

	advise_feature(out, ept, ept_cpu, "EPT", "ept", in_vm ?
		       "EPT: not offered to this VM: enable EPT for it on the outer host; "
		       "guests use shadow paging" :
		       "EPT: this CPU has none (IA32_VMX_PROCBASED_CTLS2); guests use shadow paging");
	advise_feature(out, vpid, vpid_cpu, "VPID", "vpid",
		       "VPID: not supported by this CPU; the TLB is flushed on every VM exit");
	if (ug != MODVM_KVM_FEATURE_ON && ept != MODVM_KVM_FEATURE_ON)
		modvm_cpu_probe_advise(out, "unrestricted guest", "unrestricted guest needs EPT: enable EPT "
		       "first; real-mode guest code is emulated meanwhile");
	else
		advise_feature(out, ug, ug_cpu, "unrestricted guest", "unrestricted_guest",
			       "unrestricted guest: not supported by this CPU; "
			       "real-mode guest code is emulated");
	advise_feature(out, apicv, apicv_cpu, "APICv", "enable_apicv",
		       "APICv: not supported by this CPU (needs APIC-register virtualization "
		       "and virtual-interrupt delivery); APIC accesses exit to KVM");
	if (!c->nested)
		modvm_cpu_probe_advise(out, "nested", "nested virtualization off: " RELOAD " nested=1");
}

static const struct modvm_kvm_probe_vendor intel = {
	.struct_size = sizeof(intel),
	.vendor = "Intel",
	.feature = "VMX",
	.module = OWN_MODULE,
	.tech = "VT-x",
	.slat = "EPT",
	.enable = "enable VT-x (Intel Virtualization Technology) in the firmware setup",
	.fw_off = "VMX disabled in firmware (IA32_FEATURE_CONTROL locked without VMXON): "
		  "enable VT-x in the firmware setup",
	.features = probe_features,
};

int vmx_probe(const struct modvm_host_facts *f, struct modvm_cpu_probe *out)
{
	struct modvm_cpu_caps *c = &out->caps;
	const struct modvm_host_cpuid_leaf *l1 = modvm_host_facts_cpuid(f, 1, 0);
	char vendor[13];
	bool visible, fw_off, in_vm;
	uint64_t fc;

	memset(out, 0, sizeof(*out));
	out->struct_size = sizeof(*out);
	snprintf(c->backend, sizeof(c->backend), "cpu-vmx");
	c->max_vcpus = f->max_vcpus;

	modvm_host_facts_vendor(f, vendor);
	if (strcmp(vendor, "GenuineIntel") != 0) {
		c->vendor = !strcmp(vendor, "AuthenticAMD") ? MODVM_VENDOR_AMD : MODVM_VENDOR_UNKNOWN;
		snprintf(c->kvm_module, sizeof(c->kvm_module), "%s", modvm_kvm_probe_module(f, OWN_MODULE, false));
		if (c->vendor == MODVM_VENDOR_AMD) {
			const struct modvm_host_cpuid_leaf *e1 =
				modvm_host_facts_cpuid(f, 0x80000001, 0);

			/* caps describe the host: its own virtualization, SVM (0x80000001 ECX[2]). */
			c->hw_virt = e1 && (e1->ecx & (1u << 2));
			snprintf(out->summary, sizeof(out->summary),
				 "cpu-vmx needs an Intel CPU; this is AMD");
			modvm_cpu_probe_advise(out, "vendor", "this is an AMD CPU: use the cpu-svm backend");
		} else {
			snprintf(out->summary, sizeof(out->summary),
				 "cpu-vmx needs an Intel CPU; this is %s%s%s",
				 vendor[0] ? "\"" : "", vendor[0] ? vendor : "unknown (no CPUID)",
				 vendor[0] ? "\"" : "");
		}
		return 0;
	}
	c->vendor = MODVM_VENDOR_INTEL;

	visible = l1 && (l1->ecx & CPUID1_ECX_VMX);
	in_vm = l1 && (l1->ecx & CPUID1_ECX_HYPERVISOR);
	fw_off = modvm_host_facts_msr(f, MODVM_MSR_IA32_FEATURE_CONTROL, &fc) &&
		 (fc & FC_LOCKED) && !(fc & FC_VMXON_OUTSIDE_SMX);
	return modvm_kvm_probe_finish(&intel, f, visible, fw_off, in_vm, out);
}
