/*
 * cpu-svm host probe: AMD-V through kvm_amd, decided from recorded host
 * facts only, so every branch is tested with fixtures.
 *
 * Sources (AMD APM vol. 2 §15, and vol. 3 appendix E "CPUID"):
 *   CPUID 0x80000001 ECX[2]  SVM;  CPUID 1 ECX[31]  running under a hypervisor
 *   VM_CR MSR (0xC0010114) bit 4 SVMDIS: SVM disabled (by the firmware, when
 *     bit 3 LOCK is also set); EFER.SVME then can't be set
 *   CPUID 0x8000000A (SVM features):
 *     EAX[7:0] SVM revision, EBX number of ASIDs,
 *     EDX bit 0 NP (nested paging), 1 LbrVirt, 2 SVML (SVM lock), 3 NRIPS,
 *     4 TscRateMsr, 5 VmcbClean, 6 FlushByAsid, 7 DecodeAssists,
 *     10 PauseFilter, 12 PauseFilterThreshold, 13 AVIC, 15 VMSAVEvirt,
 *     16 VGIF, 18 x2AVIC, 20 SpecCtrl
 * kvm_amd's parameters show what it actually enabled (npt, avic, nested);
 * a recorded parameter wins over CPUID.  AVIC is off unless avic=1 (its
 * default) and it needs NPT.  ASIDs are always in use with AMD-V: SVM tags
 * the TLB by ASID, there is no switch to turn that off.
 */
#include <stdio.h>
#include <string.h>

#include <modvm/kvm.h>

#include "svm_probe.h"

#define CPUID1_ECX_HYPERVISOR (1u << 31)
#define EXT1_ECX_SVM (1u << 2)
#define VM_CR_SVMDIS (1ull << 4)
#define SVM_EDX_NP (1u << 0)
#define SVM_EDX_AVIC (1u << 13)

#define OWN_MODULE "kvm_amd"
#define RELOAD "modprobe -r kvm_amd && modprobe kvm_amd"

static void probe_features(const struct modvm_host_facts *f, bool in_vm,
			   struct modvm_cpu_probe *out)
{
	const struct modvm_host_cpuid_leaf *svm = modvm_host_facts_cpuid(f, 0x8000000a, 0);
	struct modvm_cpu_caps *c = &out->caps;
	int npt_cpu = svm ? !!(svm->edx & SVM_EDX_NP) : -1;
	int avic_cpu = svm ? !!(svm->edx & SVM_EDX_AVIC) : -1;
	int avic_param = modvm_host_facts_param_bool(f, OWN_MODULE, "avic");
	enum modvm_kvm_feature npt =
		modvm_kvm_feature_decide(npt_cpu, modvm_host_facts_param_bool(f, OWN_MODULE, "npt"));
	enum modvm_kvm_feature avic = modvm_kvm_feature_decide(avic_cpu, avic_param == 1 ? 1 : 0);

	c->slat = npt == MODVM_KVM_FEATURE_ON ? MODVM_SLAT_NPT : MODVM_SLAT_NONE;
	c->vpid = 1;
	c->unrestricted_guest = 1;
	c->apic_virt = avic == MODVM_KVM_FEATURE_ON && npt == MODVM_KVM_FEATURE_ON;
	c->nested = modvm_host_facts_param_bool(f, OWN_MODULE, "nested") == 1;

	if (npt == MODVM_KVM_FEATURE_OFF_CPU)
		modvm_cpu_probe_advise(out, "NPT", in_vm ? "NPT: not offered to this VM: enable it on the outer "
		       "host; guests use shadow paging" :
		       "NPT: this CPU has none (CPUID 0x8000000A EDX[0]); guests use shadow paging");
	else if (npt == MODVM_KVM_FEATURE_OFF_PARAM)
		modvm_cpu_probe_advise(out, "NPT", "NPT disabled in kvm_amd: " RELOAD " npt=1");
	else if (npt == MODVM_KVM_FEATURE_UNKNOWN)
		modvm_cpu_probe_advise(out, "NPT", "cannot tell whether NPT is available: CPUID 0x8000000A and "
		       "kvm_amd's npt parameter were not recorded");
	if (avic == MODVM_KVM_FEATURE_OFF_CPU)
		modvm_cpu_probe_advise(out, "AVIC", "AVIC: not supported by this CPU (CPUID 0x8000000A EDX[13]); "
		       "APIC accesses exit to KVM");
	else if (avic == MODVM_KVM_FEATURE_OFF_PARAM)
		modvm_cpu_probe_advise(out, "AVIC", "AVIC off in kvm_amd: " RELOAD " avic=1");
	else if (!c->apic_virt)
		modvm_cpu_probe_advise(out, "AVIC", "AVIC needs NPT: enable NPT first");
	if (!c->nested)
		modvm_cpu_probe_advise(out, "nested", "nested virtualization off: " RELOAD " nested=1");
}

static const struct modvm_kvm_probe_vendor amd = {
	.struct_size = sizeof(amd),
	.vendor = "AMD",
	.feature = "SVM",
	.module = OWN_MODULE,
	.tech = "AMD-V",
	.slat = "NPT",
	.enable = "enable SVM (AMD-V) in the firmware setup",
	.fw_off = "SVM disabled in firmware (VM_CR.SVMDIS): enable SVM (AMD-V) in the firmware setup",
	.features = probe_features,
};

int svm_probe(const struct modvm_host_facts *f, struct modvm_cpu_probe *out)
{
	struct modvm_cpu_caps *c = &out->caps;
	const struct modvm_host_cpuid_leaf *l1 = modvm_host_facts_cpuid(f, 1, 0);
	const struct modvm_host_cpuid_leaf *e1 = modvm_host_facts_cpuid(f, 0x80000001, 0);
	const struct modvm_host_cpuid_leaf *svm = modvm_host_facts_cpuid(f, 0x8000000a, 0);
	char vendor[13];
	bool visible, fw_off, in_vm;
	uint64_t vm_cr;

	memset(out, 0, sizeof(*out));
	out->struct_size = sizeof(*out);
	snprintf(c->backend, sizeof(c->backend), "cpu-svm");
	c->max_vcpus = f->max_vcpus;

	modvm_host_facts_vendor(f, vendor);
	if (strcmp(vendor, "AuthenticAMD") != 0) {
		c->vendor = !strcmp(vendor, "GenuineIntel") ? MODVM_VENDOR_INTEL
							    : MODVM_VENDOR_UNKNOWN;
		snprintf(c->kvm_module, sizeof(c->kvm_module), "%s", modvm_kvm_probe_module(f, OWN_MODULE, false));
		if (c->vendor == MODVM_VENDOR_INTEL) {
			/* caps describe the host: its own virtualization, VMX (CPUID.1:ECX[5]). */
			c->hw_virt = l1 && (l1->ecx & (1u << 5));
			snprintf(out->summary, sizeof(out->summary),
				 "cpu-svm needs an AMD CPU; this is Intel");
			modvm_cpu_probe_advise(out, "vendor", "this is an Intel CPU: use the cpu-vmx backend");
		} else {
			snprintf(out->summary, sizeof(out->summary),
				 "cpu-svm needs an AMD CPU; this is %s%s%s",
				 vendor[0] ? "\"" : "", vendor[0] ? vendor : "unknown (no CPUID)",
				 vendor[0] ? "\"" : "");
		}
		return 0;
	}
	c->vendor = MODVM_VENDOR_AMD;

	visible = e1 && (e1->ecx & EXT1_ECX_SVM);
	in_vm = l1 && (l1->ecx & CPUID1_ECX_HYPERVISOR);
	fw_off = modvm_host_facts_msr(f, MODVM_MSR_AMD_VM_CR, &vm_cr) && (vm_cr & VM_CR_SVMDIS);
	if (visible && svm)
		c->asid_count = svm->ebx;
	return modvm_kvm_probe_finish(&amd, f, visible, fw_off, in_vm, out);
}
