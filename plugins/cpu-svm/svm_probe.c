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
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "svm_probe.h"

#define CPUID1_ECX_HYPERVISOR (1u << 31)
#define EXT1_ECX_SVM (1u << 2)
#define VM_CR_SVMDIS (1ull << 4)
#define SVM_EDX_NP (1u << 0)
#define SVM_EDX_AVIC (1u << 13)

#define OWN_MODULE "kvm_amd"
#define RELOAD "modprobe -r kvm_amd && modprobe kvm_amd"

enum why { ON, OFF_CPU, OFF_PARAM, OFF_UNKNOWN };

static void advise(struct modvm_cpu_probe *out, const char *feature, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void advise(struct modvm_cpu_probe *out, const char *feature, const char *fmt, ...)
{
	struct modvm_cpu_advice *a;
	va_list ap;

	if (out->n_advice >= MODVM_CPU_MAX_ADVICE)
		return;
	a = &out->advice[out->n_advice++];
	snprintf(a->feature, sizeof(a->feature), "%s", feature);
	va_start(ap, fmt);
	vsnprintf(a->remedy, sizeof(a->remedy), fmt, ap);
	va_end(ap);
}

/* What the CPU allows (-1: leaf 0x8000000A not recorded) with what kvm_amd did. */
static enum why decide(int cpu, int param)
{
	if (cpu == 0)
		return OFF_CPU;
	if (param == 0)
		return OFF_PARAM;
	if (param == 1 || cpu == 1)
		return ON;
	return OFF_UNKNOWN;
}

/* KVM's own module when AMD-V is usable, else another provider of /dev/kvm. */
static const char *pick_module(const struct modvm_host_facts *f, bool hw_usable)
{
	if (hw_usable && modvm_host_facts_has_module(f, OWN_MODULE))
		return OWN_MODULE;
	for (uint32_t i = 0; i < f->n_module && i < MODVM_HOST_FACTS_MAX_MODULE; i++) {
		const char *m = f->module[i];

		if (!strncmp(m, "kvm_", 4) && strcmp(m, "kvm_intel") && strcmp(m, "kvm_amd"))
			return m;
	}
	return "";
}

static void probe_features(const struct modvm_host_facts *f, bool in_vm,
			   struct modvm_cpu_probe *out)
{
	const struct modvm_host_cpuid_leaf *svm = modvm_host_facts_cpuid(f, 0x8000000a, 0);
	struct modvm_cpu_caps *c = &out->caps;
	int npt_cpu = svm ? !!(svm->edx & SVM_EDX_NP) : -1;
	int avic_cpu = svm ? !!(svm->edx & SVM_EDX_AVIC) : -1;
	int avic_param = modvm_host_facts_param_bool(f, OWN_MODULE, "avic");
	enum why npt = decide(npt_cpu, modvm_host_facts_param_bool(f, OWN_MODULE, "npt"));
	enum why avic = decide(avic_cpu, avic_param == 1 ? 1 : 0);

	c->slat = npt == ON ? MODVM_SLAT_NPT : MODVM_SLAT_NONE;
	c->vpid = 1;
	c->unrestricted_guest = 1;
	c->apic_virt = avic == ON && npt == ON;
	c->nested = modvm_host_facts_param_bool(f, OWN_MODULE, "nested") == 1;

	if (npt == OFF_CPU)
		advise(out, "NPT", in_vm ? "NPT: not offered to this VM: enable it on the outer "
		       "host; guests use shadow paging" :
		       "NPT: this CPU has none (CPUID 0x8000000A EDX[0]); guests use shadow paging");
	else if (npt == OFF_PARAM)
		advise(out, "NPT", "NPT disabled in kvm_amd: " RELOAD " npt=1");
	else if (npt == OFF_UNKNOWN)
		advise(out, "NPT", "cannot tell whether NPT is available: CPUID 0x8000000A and "
		       "kvm_amd's npt parameter were not recorded");
	if (avic == OFF_CPU)
		advise(out, "AVIC", "AVIC: not supported by this CPU (CPUID 0x8000000A EDX[13]); "
		       "APIC accesses exit to KVM");
	else if (avic == OFF_PARAM)
		advise(out, "AVIC", "AVIC off in kvm_amd: " RELOAD " avic=1");
	else if (!c->apic_virt)
		advise(out, "AVIC", "AVIC needs NPT: enable NPT first");
	if (!c->nested)
		advise(out, "nested", "nested virtualization off: " RELOAD " nested=1");
}

int svm_probe(const struct modvm_host_facts *f, struct modvm_cpu_probe *out)
{
	struct modvm_cpu_caps *c = &out->caps;
	const struct modvm_host_cpuid_leaf *l1 = modvm_host_facts_cpuid(f, 1, 0);
	const struct modvm_host_cpuid_leaf *e1 = modvm_host_facts_cpuid(f, 0x80000001, 0);
	const struct modvm_host_cpuid_leaf *svm = modvm_host_facts_cpuid(f, 0x8000000a, 0);
	char vendor[13];
	const char *hw, *module;
	bool visible, fw_off, in_vm, hw_in_use;
	uint64_t vm_cr;

	memset(out, 0, sizeof(*out));
	out->struct_size = sizeof(*out);
	snprintf(c->backend, sizeof(c->backend), "cpu-svm");
	c->max_vcpus = f->max_vcpus;

	modvm_host_facts_vendor(f, vendor);
	if (strcmp(vendor, "AuthenticAMD") != 0) {
		c->vendor = !strcmp(vendor, "GenuineIntel") ? MODVM_VENDOR_INTEL
							    : MODVM_VENDOR_UNKNOWN;
		snprintf(c->kvm_module, sizeof(c->kvm_module), "%s", pick_module(f, false));
		if (c->vendor == MODVM_VENDOR_INTEL) {
			/* caps describe the host: its own virtualization, VMX (CPUID.1:ECX[5]). */
			c->hw_virt = l1 && (l1->ecx & (1u << 5));
			snprintf(out->summary, sizeof(out->summary),
				 "cpu-svm needs an AMD CPU; this is Intel");
			advise(out, "vendor", "this is an Intel CPU: use the cpu-vmx backend");
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
	c->hw_virt = visible;
	if (visible && svm)
		c->asid_count = svm->ebx;
	module = pick_module(f, visible && !fw_off);
	snprintf(c->kvm_module, sizeof(c->kvm_module), "%s", module);
	hw_in_use = visible && !fw_off && !strcmp(module, OWN_MODULE);
	hw = !visible ? "no SVM visible" : fw_off ? "SVM disabled in firmware" : "SVM";

	if (!visible)
		advise(out, "SVM", in_vm ?
		       "SVM not visible: this host is a VM; expose SVM to it (nested "
		       "virtualization on the outer host)" :
		       "SVM not visible: enable SVM (AMD-V) in the firmware setup");
	else if (fw_off)
		advise(out, "SVM", "SVM disabled in firmware (VM_CR.SVMDIS): enable SVM (AMD-V) "
		       "in the firmware setup");
	else if (!hw_in_use)
		advise(out, "KVM", "kvm_amd not loaded%s%s%s: modprobe kvm_amd to use AMD-V",
		       module[0] ? " (KVM via " : "", module, module[0] ? ")" : "");

	if (!f->kvm_dev || !f->kvm_open) {
		if (!f->kvm_dev)
			advise(out, "KVM", "/dev/kvm missing: %s", visible && !fw_off ?
			       "modprobe kvm_amd" : "no KVM module provides it");
		else
			advise(out, "KVM", "/dev/kvm exists but does not open: run as root or "
			       "join the kvm group");
		snprintf(out->summary, sizeof(out->summary), "AMD, %s, %s: cannot run guests",
			 hw, f->kvm_dev ? "/dev/kvm not accessible" : "/dev/kvm missing");
		return 0;
	}

	if (hw_in_use)
		probe_features(f, in_vm, out);
	out->score = 10 + (hw_in_use ? 40 : 0) + (c->slat ? 30 : 0) + (c->vpid ? 6 : 0) +
		     (c->apic_virt ? 6 : 0) + (c->unrestricted_guest ? 4 : 0);
	snprintf(out->summary, sizeof(out->summary), "AMD, %s, KVM via %s, SLAT: %s", hw,
		 module[0] ? module : "an unknown module",
		 c->slat == MODVM_SLAT_NPT ? "NPT" : "none (shadow paging)");
	return 0;
}
