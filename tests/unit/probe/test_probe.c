/*
 * The cpu-vmx and cpu-svm probes as pure functions of recorded hosts: the
 * capability record, score, summary and advice for each fixture, variations
 * of a fixture (one fact changed), determinism, and this live host.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "probe_util.h"
#include "vmx_probe.h"
#include "svm_probe.h"

static void probe_vmx(const struct modvm_host_facts *f, struct modvm_cpu_probe *p)
{
	memset(p, 0xa5, sizeof(*p));	/* the probe must not depend on what was there */
	ck_assert_int_eq(vmx_probe(f, p), 0);
	ck_assert_uint_eq(p->struct_size, sizeof(*p));
	ck_assert_str_eq(p->caps.backend, "cpu-vmx");
}

static void probe_svm(const struct modvm_host_facts *f, struct modvm_cpu_probe *p)
{
	memset(p, 0x5a, sizeof(*p));
	ck_assert_int_eq(svm_probe(f, p), 0);
	ck_assert_uint_eq(p->struct_size, sizeof(*p));
	ck_assert_str_eq(p->caps.backend, "cpu-svm");
}

static void assert_advice(const struct modvm_cpu_probe *p, uint32_t i, const char *feature,
			  const char *remedy)
{
	ck_assert_msg(i < p->n_advice, "advice %u missing (have %u)", i, p->n_advice);
	ck_assert_str_eq(p->advice[i].feature, feature);
	ck_assert_str_eq(p->advice[i].remedy, remedy);
}

/*
 * Each recorded host under each backend: the whole capability record, the
 * score, the summary and every piece of advice, in order; a field left out
 * is 0.  The backend that does not match the vendor still describes the
 * host (its VMX or SVM, max vCPUs, a vendor-neutral KVM module), scores 0
 * and says which backend to use.
 */
static const struct fixture_probe {
	const char *host;
	const char *backend;		/* "cpu-vmx" or "cpu-svm" */
	int score;
	const char *summary;
	struct modvm_cpu_caps caps;	/* .backend aside: probe_vmx/probe_svm check it */
	struct {
		const char *feature, *remedy;
	} advice[MODVM_CPU_MAX_ADVICE];	/* NULL ends */
} fixture_probes[] = {
	{ "intel-skylake-sp-ept.facts", "cpu-vmx", 96, "Intel, VMX, KVM via kvm_intel, SLAT: EPT",
	  { .vendor = MODVM_VENDOR_INTEL, .slat = MODVM_SLAT_EPT, .hw_virt = 1, .vpid = 1,
	    .apic_virt = 1, .nested = 1, .unrestricted_guest = 1, .asid_count = 0,
	    .max_vcpus = 1024, .kvm_module = "kvm_intel" },
	  { { NULL } } },
	{ "intel-skylake-sp-ept.facts", "cpu-svm", 0, "cpu-svm needs an AMD CPU; this is Intel",
	  { .vendor = MODVM_VENDOR_INTEL, .slat = MODVM_SLAT_NONE,
	    .hw_virt = 1,	/* the host's VMX, unusable by cpu-svm */
	    .max_vcpus = 1024, .kvm_module = "" },
	  { { "vendor", "this is an Intel CPU: use the cpu-vmx backend" } } },
	{ "intel-broadwell-ep-noept.facts", "cpu-vmx", 62,
	  "Intel, VMX, KVM via kvm_intel, SLAT: none (shadow paging)",
	  { .vendor = MODVM_VENDOR_INTEL, .slat = MODVM_SLAT_NONE, .hw_virt = 1, .vpid = 1,
	    .apic_virt = 1, .nested = 0, .unrestricted_guest = 0, .asid_count = 0,
	    .max_vcpus = 288, .kvm_module = "kvm_intel" },
	  { { "EPT",
	      "EPT disabled in kvm_intel: modprobe -r kvm_intel && modprobe kvm_intel ept=1" },
	    { "unrestricted guest", "unrestricted guest needs EPT: enable EPT first; real-mode "
	      "guest code is emulated meanwhile" },
	    { "nested", "nested virtualization off: modprobe -r kvm_intel && "
	      "modprobe kvm_intel nested=1" } } },
	{ "intel-broadwell-ep-noept.facts", "cpu-svm", 0, "cpu-svm needs an AMD CPU; this is Intel",
	  { .vendor = MODVM_VENDOR_INTEL, .slat = MODVM_SLAT_NONE, .hw_virt = 1,
	    .max_vcpus = 288, .kvm_module = "" },
	  { { "vendor", "this is an Intel CPU: use the cpu-vmx backend" } } },
	{ "amd-epyc-milan-npt-avic.facts", "cpu-svm", 96, "AMD, SVM, KVM via kvm_amd, SLAT: NPT",
	  { .vendor = MODVM_VENDOR_AMD, .slat = MODVM_SLAT_NPT, .hw_virt = 1, .vpid = 1,
	    .apic_virt = 1,
	    .nested = 1,	/* kvm_amd's int param prints "1" */
	    .unrestricted_guest = 1, .asid_count = 32768, .max_vcpus = 1024,
	    .kvm_module = "kvm_amd" },
	  { { NULL } } },
	{ "amd-epyc-milan-npt-avic.facts", "cpu-vmx", 0, "cpu-vmx needs an Intel CPU; this is AMD",
	  { .vendor = MODVM_VENDOR_AMD, .slat = MODVM_SLAT_NONE,
	    .hw_virt = 1,	/* the host's SVM */
	    .max_vcpus = 1024, .kvm_module = "" },
	  { { "vendor", "this is an AMD CPU: use the cpu-svm backend" } } },
	/* This machine: AMD, no SVM flag, /dev/kvm from kvm_pvm. */
	{ "amd-vm-kvm-pvm.facts", "cpu-svm", 10,
	  "AMD, no SVM visible, KVM via kvm_pvm, SLAT: none (shadow paging)",
	  { .vendor = MODVM_VENDOR_AMD, .slat = MODVM_SLAT_NONE, .hw_virt = 0, .vpid = 0,
	    .apic_virt = 0, .nested = 0, .unrestricted_guest = 0, .asid_count = 0,
	    .max_vcpus = 1024, .kvm_module = "kvm_pvm" },
	  { { "SVM", "SVM not visible: this host is a VM; expose SVM to it "
	      "(nested virtualization on the outer host)" } } },
	{ "amd-vm-kvm-pvm.facts", "cpu-vmx", 0, "cpu-vmx needs an Intel CPU; this is AMD",
	  { .vendor = MODVM_VENDOR_AMD, .slat = MODVM_SLAT_NONE, .hw_virt = 0,
	    .max_vcpus = 1024, .kvm_module = "kvm_pvm" },
	  { { "vendor", "this is an AMD CPU: use the cpu-svm backend" } } },
};

START_TEST(fixture_probe)
{
	const struct fixture_probe *e = &fixture_probes[_i];
	const struct modvm_cpu_caps *want = &e->caps;
	struct modvm_host_facts f;
	struct modvm_cpu_probe p;
	uint32_t n = 0;
	char name[128];

	snprintf(name, sizeof(name), "%s on %s", e->backend, e->host);
	load_host(e->host, &f);
	if (!strcmp(e->backend, "cpu-vmx"))
		probe_vmx(&f, &p);
	else
		probe_svm(&f, &p);
	ck_assert_msg(p.score == e->score, "case %s: score %d, want %d", name, p.score, e->score);
	ck_assert_msg(!strcmp(p.summary, e->summary), "case %s: summary \"%s\", want \"%s\"", name,
		      p.summary, e->summary);
#define SAME(field)                                                                          \
	ck_assert_msg(p.caps.field == want->field, "case %s: " #field " %u, want %u", name,  \
		      (unsigned)p.caps.field, (unsigned)want->field)
	SAME(vendor);
	SAME(slat);
	SAME(hw_virt);
	SAME(vpid);
	SAME(apic_virt);
	SAME(nested);
	SAME(unrestricted_guest);
	SAME(asid_count);
	SAME(max_vcpus);
#undef SAME
	ck_assert_msg(!strcmp(p.caps.kvm_module, want->kvm_module),
		      "case %s: kvm_module \"%s\", want \"%s\"", name, p.caps.kvm_module,
		      want->kvm_module);
	while (n < MODVM_CPU_MAX_ADVICE && e->advice[n].feature)
		n++;
	ck_assert_msg(p.n_advice == n, "case %s: %u pieces of advice, want %u", name, p.n_advice,
		      n);
	for (uint32_t i = 0; i < n; i++)
		ck_assert_msg(!strcmp(p.advice[i].feature, e->advice[i].feature) &&
			      !strcmp(p.advice[i].remedy, e->advice[i].remedy),
			      "case %s: advice %u \"%s: %s\", want \"%s: %s\"", name, i,
			      p.advice[i].feature, p.advice[i].remedy, e->advice[i].feature,
			      e->advice[i].remedy);
}
END_TEST

START_TEST(score_ordering)
{
	struct modvm_host_facts sky, bdw, milan, here;
	struct modvm_cpu_probe a, b, c, d;

	load_host("intel-skylake-sp-ept.facts", &sky);
	load_host("intel-broadwell-ep-noept.facts", &bdw);
	load_host("amd-epyc-milan-npt-avic.facts", &milan);
	load_host("amd-vm-kvm-pvm.facts", &here);
	probe_vmx(&sky, &a);
	probe_vmx(&bdw, &b);
	probe_svm(&milan, &c);
	probe_svm(&here, &d);
	/* hardware virt + SLAT > hardware virt alone > KVM without either > unusable */
	ck_assert_int_gt(a.score, b.score);
	ck_assert_int_gt(c.score, b.score);
	ck_assert_int_gt(b.score, d.score);
	ck_assert_int_gt(d.score, 0);
	probe_vmx(&here, &d);
	ck_assert_int_eq(d.score, 0);
}
END_TEST

/* MSRs unreadable (no msr driver): kvm_intel's parameters decide alone. */
START_TEST(vmx_msrs_unreadable_trusts_params)
{
	struct modvm_host_facts f;
	struct modvm_cpu_probe p;

	load_host("intel-skylake-sp-ept.facts", &f);
	for (uint32_t i = 0; i < f.n_msr; i++)
		f.msr[i].readable = 0, f.msr[i].value = 0;
	probe_vmx(&f, &p);
	ck_assert_int_eq(p.score, 96);
	ck_assert_uint_eq(p.caps.slat, MODVM_SLAT_EPT);
	ck_assert_uint_eq(p.n_advice, 0);

	/* A parameter N with the MSRs unreadable: kvm_intel writes N for what
	 * the CPU lacks too (desktop CPUs without APICv), so a reload is not
	 * promised to help. */
	for (uint32_t i = 0; i < f.n_param; i++)
		if (!strcmp(f.param[i].name, "enable_apicv"))
			strcpy(f.param[i].value, "N");
	probe_vmx(&f, &p);
	ck_assert_uint_eq(p.caps.apic_virt, 0);
	assert_advice(&p, 0, "APICv", "APICv off in kvm_intel (enable_apicv=N), or not in this CPU: "
		      "modprobe -r kvm_intel && modprobe kvm_intel enable_apicv=1");

	/* …and without the parameters either, the probe says it can't tell. */
	f.n_param = 0;
	memset(f.param, 0, sizeof(f.param));
	probe_vmx(&f, &p);
	ck_assert_uint_eq(p.caps.slat, MODVM_SLAT_NONE);
	ck_assert_int_eq(p.score, 50);
	assert_advice(&p, 0, "EPT", "cannot tell whether EPT is available: modprobe msr and probe "
		      "as root to read the VMX capability MSRs");
}
END_TEST

/* The MSR says no EPT: the advice blames the CPU, not kvm_intel. */
START_TEST(vmx_cpu_without_ept)
{
	struct modvm_host_facts f;
	struct modvm_cpu_probe p;

	load_host("intel-broadwell-ep-noept.facts", &f);
	host_msr(&f, MODVM_MSR_IA32_VMX_PROCBASED_CTLS2)->value &= ~(1ull << 33);
	probe_vmx(&f, &p);
	ck_assert_uint_eq(p.caps.slat, MODVM_SLAT_NONE);
	assert_advice(&p, 0, "EPT", "EPT: this CPU has none (IA32_VMX_PROCBASED_CTLS2); guests "
		      "use shadow paging");

	/* No APIC-register virtualization: no APICv whatever enable_apicv says. */
	host_msr(&f, MODVM_MSR_IA32_VMX_PROCBASED_CTLS2)->value &= ~(1ull << 40);
	probe_vmx(&f, &p);
	ck_assert_uint_eq(p.caps.apic_virt, 0);
	ck_assert_str_eq(p.advice[2].feature, "APICv");
	ck_assert_ptr_nonnull(strstr(p.advice[2].remedy, "not supported by this CPU"));

	/* No posted interrupts: no APICv either. */
	load_host("intel-skylake-sp-ept.facts", &f);
	host_msr(&f, MODVM_MSR_IA32_VMX_PINBASED_CTLS)->value &= ~(1ull << 39);
	probe_vmx(&f, &p);
	ck_assert_uint_eq(p.caps.apic_virt, 0);
	ck_assert_int_eq(p.score, 90);

	/* Secondary controls not offered at all: none of EPT/VPID/UG/APICv. */
	load_host("intel-skylake-sp-ept.facts", &f);
	host_msr(&f, MODVM_MSR_IA32_VMX_TRUE_PROCBASED_CTLS)->value &= ~(1ull << 63);
	probe_vmx(&f, &p);
	ck_assert_int_eq(p.score, 50);
	ck_assert_uint_eq(p.n_advice, 4);
}
END_TEST

START_TEST(vmx_params_off)
{
	struct modvm_host_facts f;
	struct modvm_cpu_probe p;

	load_host("intel-skylake-sp-ept.facts", &f);
	for (uint32_t i = 0; i < f.n_param; i++) {
		if (!strcmp(f.param[i].name, "vpid") || !strcmp(f.param[i].name, "enable_apicv") ||
		    !strcmp(f.param[i].name, "nested"))
			strcpy(f.param[i].value, "N");
	}
	probe_vmx(&f, &p);
	ck_assert_int_eq(p.score, 84);
	ck_assert_uint_eq(p.caps.slat, MODVM_SLAT_EPT);
	ck_assert_uint_eq(p.caps.vpid, 0);
	ck_assert_uint_eq(p.caps.apic_virt, 0);
	ck_assert_uint_eq(p.caps.nested, 0);
	ck_assert_uint_eq(p.n_advice, 3);
	assert_advice(&p, 0, "VPID",
		      "VPID disabled in kvm_intel: modprobe -r kvm_intel && modprobe kvm_intel vpid=1");
	assert_advice(&p, 1, "APICv", "APICv disabled in kvm_intel: modprobe -r kvm_intel && "
		      "modprobe kvm_intel enable_apicv=1");
	assert_advice(&p, 2, "nested",
		      "nested virtualization off: modprobe -r kvm_intel && modprobe kvm_intel nested=1");
}
END_TEST

START_TEST(vmx_firmware_disabled_and_no_kvm)
{
	struct modvm_host_facts f;
	struct modvm_cpu_probe p;

	load_host("intel-skylake-sp-ept.facts", &f);
	host_msr(&f, MODVM_MSR_IA32_FEATURE_CONTROL)->value = 0x1;	/* locked, VMXON off */
	f.n_module = 1;		/* kvm_intel can't load then: only kvm */
	memset(f.module[1], 0, sizeof(f.module[1]));
	f.kvm_dev = f.kvm_open = 0;
	probe_vmx(&f, &p);
	ck_assert_int_eq(p.score, 0);
	ck_assert_str_eq(p.summary, "Intel, VMX disabled in firmware, /dev/kvm missing: "
		      "cannot run guests");
	ck_assert_uint_eq(p.caps.hw_virt, 1);	/* visible in CPUID, unusable */
	assert_advice(&p, 0, "VMX", "VMX disabled in firmware (IA32_FEATURE_CONTROL locked "
		      "without VMXON): enable VT-x in the firmware setup");
	assert_advice(&p, 1, "KVM", "/dev/kvm missing: no KVM module provides it");
}
END_TEST

START_TEST(kvm_missing_or_closed)
{
	struct modvm_host_facts f;
	struct modvm_cpu_probe p;

	load_host("intel-skylake-sp-ept.facts", &f);
	f.kvm_dev = f.kvm_open = 0;
	probe_vmx(&f, &p);
	ck_assert_int_eq(p.score, 0);
	ck_assert_str_eq(p.summary, "Intel, VMX, /dev/kvm missing: cannot run guests");
	assert_advice(&p, 0, "KVM", "/dev/kvm missing: load kvm_intel (modprobe kvm_intel)");

	f.kvm_dev = 1;
	probe_vmx(&f, &p);
	ck_assert_int_eq(p.score, 0);
	ck_assert_str_eq(p.summary, "Intel, VMX, /dev/kvm not accessible: cannot run guests");
	assert_advice(&p, 0, "KVM", "/dev/kvm exists but does not open: run as root or join "
		      "the kvm group (adduser USER kvm, then log in again)");

	load_host("amd-epyc-milan-npt-avic.facts", &f);
	f.kvm_open = 0;
	probe_svm(&f, &p);
	ck_assert_int_eq(p.score, 0);
	ck_assert_str_eq(p.summary, "AMD, SVM, /dev/kvm not accessible: cannot run guests");
}
END_TEST

START_TEST(svm_params_off)
{
	struct modvm_host_facts f;
	struct modvm_cpu_probe p;

	load_host("amd-epyc-milan-npt-avic.facts", &f);
	for (uint32_t i = 0; i < f.n_param; i++)
		if (!strcmp(f.param[i].name, "avic"))
			strcpy(f.param[i].value, "N");
	probe_svm(&f, &p);
	ck_assert_int_eq(p.score, 90);
	ck_assert_uint_eq(p.caps.apic_virt, 0);
	ck_assert_uint_eq(p.caps.slat, MODVM_SLAT_NPT);
	ck_assert_uint_eq(p.n_advice, 1);
	assert_advice(&p, 0, "AVIC",
		      "AVIC off in kvm_amd: modprobe -r kvm_amd && modprobe kvm_amd avic=1");

	load_host("amd-epyc-milan-npt-avic.facts", &f);
	for (uint32_t i = 0; i < f.n_param; i++)
		if (!strcmp(f.param[i].name, "npt") || !strcmp(f.param[i].name, "nested"))
			strcpy(f.param[i].value, !strcmp(f.param[i].name, "npt") ? "N" : "0");
	probe_svm(&f, &p);
	ck_assert_int_eq(p.score, 60);
	ck_assert_str_eq(p.summary, "AMD, SVM, KVM via kvm_amd, SLAT: none (shadow paging)");
	ck_assert_uint_eq(p.caps.slat, MODVM_SLAT_NONE);
	ck_assert_uint_eq(p.caps.apic_virt, 0);	/* AVIC needs NPT */
	ck_assert_uint_eq(p.caps.nested, 0);
	assert_advice(&p, 0, "NPT", "NPT disabled in kvm_amd: modprobe -r kvm_amd && modprobe "
		      "kvm_amd npt=1");
	assert_advice(&p, 1, "AVIC", "AVIC needs NPT: enable NPT first");
	assert_advice(&p, 2, "nested", "nested virtualization off: modprobe -r kvm_amd && "
		      "modprobe kvm_amd nested=1");
}
END_TEST

START_TEST(svm_cpu_limits)
{
	struct modvm_host_facts f;
	struct modvm_cpu_probe p;
	struct modvm_host_cpuid_leaf *svm;

	/* An older AMD without NPT or AVIC in CPUID (kvm_amd then reports npt=N). */
	load_host("amd-epyc-milan-npt-avic.facts", &f);
	svm = (struct modvm_host_cpuid_leaf *)modvm_host_facts_cpuid(&f, 0x8000000a, 0);
	svm->edx &= ~(1u << 0 | 1u << 13);
	probe_svm(&f, &p);
	ck_assert_uint_eq(p.caps.slat, MODVM_SLAT_NONE);
	ck_assert_uint_eq(p.caps.apic_virt, 0);
	assert_advice(&p, 0, "NPT", "NPT: this CPU has none (CPUID 0x8000000A EDX[0]); guests "
		      "use shadow paging");
	assert_advice(&p, 1, "AVIC", "AVIC: not supported by this CPU (CPUID 0x8000000A "
		      "EDX[13]); APIC accesses exit to KVM");

	/* SVM disabled by the firmware: VM_CR.SVMDIS (locked). */
	load_host("amd-epyc-milan-npt-avic.facts", &f);
	host_msr(&f, MODVM_MSR_AMD_VM_CR)->value = 0x18;
	f.kvm_dev = f.kvm_open = 0;
	probe_svm(&f, &p);
	ck_assert_int_eq(p.score, 0);
	ck_assert_str_eq(p.summary, "AMD, SVM disabled in firmware, /dev/kvm missing: cannot "
		      "run guests");
	assert_advice(&p, 0, "SVM", "SVM disabled in firmware (VM_CR.SVMDIS): enable SVM "
		      "(AMD-V) in the firmware setup");

	/* SVM visible, but /dev/kvm comes from another module. */
	load_host("amd-epyc-milan-npt-avic.facts", &f);
	strcpy(f.module[1], "kvm_pvm");
	probe_svm(&f, &p);
	ck_assert_int_eq(p.score, 10);
	ck_assert_str_eq(p.summary, "AMD, SVM, KVM via kvm_pvm, SLAT: none (shadow paging)");
	ck_assert_uint_eq(p.caps.hw_virt, 1);
	ck_assert_uint_eq(p.caps.asid_count, 32768);
	ck_assert_uint_eq(p.caps.vpid, 0);
	assert_advice(&p, 0, "KVM", "kvm_amd not loaded (KVM via kvm_pvm): modprobe kvm_amd to "
		      "use AMD-V");

	/* Bare metal with SVM off in the firmware setup: not visible at all. */
	load_host("amd-vm-kvm-pvm.facts", &f);
	((struct modvm_host_cpuid_leaf *)modvm_host_facts_cpuid(&f, 1, 0))->ecx &= ~(1u << 31);
	probe_svm(&f, &p);
	assert_advice(&p, 0, "SVM", "SVM not visible: enable SVM (AMD-V) in the firmware setup");
}
END_TEST

START_TEST(unknown_vendor)
{
	struct modvm_host_facts f;
	struct modvm_cpu_probe p;
	struct modvm_host_cpuid_leaf l0 = { 0, 0, 0x16, 0x6f677948, 0x656e6975, 0x6e65476e };

	modvm_host_facts_init(&f);
	probe_vmx(&f, &p);
	ck_assert_int_eq(p.score, 0);
	ck_assert_str_eq(p.summary, "cpu-vmx needs an Intel CPU; this is unknown (no CPUID)");
	probe_svm(&f, &p);
	ck_assert_str_eq(p.summary, "cpu-svm needs an AMD CPU; this is unknown (no CPUID)");

	ck_assert_int_eq(modvm_host_facts_add_cpuid(&f, &l0), 0);	/* "HygonGenuine" */
	probe_svm(&f, &p);
	ck_assert_int_eq(p.score, 0);
	ck_assert_uint_eq(p.caps.vendor, MODVM_VENDOR_UNKNOWN);
	ck_assert_str_eq(p.summary, "cpu-svm needs an AMD CPU; this is \"HygonGenuine\"");
}
END_TEST

/* Same facts, same probe, byte for byte, whatever the buffer held before. */
START_TEST(probe_is_deterministic)
{
	static const char *const hosts[] = {
		"intel-skylake-sp-ept.facts", "intel-broadwell-ep-noept.facts",
		"amd-epyc-milan-npt-avic.facts", "amd-vm-kvm-pvm.facts",
	};
	struct modvm_host_facts f, copy;
	struct modvm_cpu_probe a, b;

	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		load_host(hosts[i], &f);
		copy = f;
		probe_vmx(&f, &a);	/* filled with 0xa5 first */
		memset(&b, 0, sizeof(b));
		ck_assert_int_eq(vmx_probe(&f, &b), 0);
		ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
		probe_svm(&f, &a);
		memset(&b, 0xff, sizeof(b));
		ck_assert_int_eq(svm_probe(&f, &b), 0);
		ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
		ck_assert(memcmp(&f, &copy, sizeof(f)) == 0);	/* facts untouched */
	}
}
END_TEST

/*
 * This machine, live.  On the dev/CI VMs (AMD, no svm flag, kvm_pvm) the
 * literal facts are asserted; elsewhere the probe must agree with the facts.
 */
START_TEST(live_host)
{
	struct modvm_host_facts f;
	struct modvm_cpu_probe vmx, svm;
	const struct modvm_host_cpuid_leaf *e1;
	char vendor[13];
	bool amd, svm_flag;

	ck_assert_int_eq(modvm_host_facts_read(&f), 0);
	probe_vmx(&f, &vmx);
	probe_svm(&f, &svm);
	modvm_host_facts_vendor(&f, vendor);
	amd = !strcmp(vendor, "AuthenticAMD");
	e1 = modvm_host_facts_cpuid(&f, 0x80000001, 0);
	svm_flag = e1 && (e1->ecx & 1u << 2);

	if (amd && !svm_flag && access("/sys/module/kvm_pvm", F_OK) == 0 &&
	    access("/sys/module/kvm_amd", F_OK) != 0) {
		ck_assert_uint_eq(svm.caps.vendor, MODVM_VENDOR_AMD);
		ck_assert_uint_eq(svm.caps.hw_virt, 0);
		ck_assert_str_eq(svm.caps.kvm_module, "kvm_pvm");
		ck_assert_uint_eq(svm.caps.slat, MODVM_SLAT_NONE);
		ck_assert_int_eq(vmx.score, 0);
		ck_assert_str_eq(vmx.summary, "cpu-vmx needs an Intel CPU; this is AMD");
		if (f.kvm_open) {
			ck_assert_int_eq(svm.score, 10);
			ck_assert_str_eq(svm.summary, "AMD, no SVM visible, KVM via kvm_pvm, SLAT: "
					 "none (shadow paging)");
		} else {
			ck_assert_int_eq(svm.score, 0);
		}
		return;
	}
	printf("live_host: not an AMD host without SVM running kvm_pvm (vendor \"%s\", "
	       "svm %d, kvm_pvm %s): checking consistency only\n",
	       vendor, svm_flag, access("/sys/module/kvm_pvm", F_OK) == 0 ? "yes" : "no");
	/* At most one vendor backend is usable, and only with a working /dev/kvm. */
	ck_assert(vmx.score == 0 || svm.score == 0);
	if (!f.kvm_open)
		ck_assert(vmx.score == 0 && svm.score == 0);
	if (amd) {
		ck_assert_int_eq(vmx.score, 0);
		ck_assert_uint_eq(svm.caps.hw_virt, svm_flag);
		ck_assert_int_eq(svm.score > 0, f.kvm_open);
		ck_assert(svm.caps.slat != MODVM_SLAT_NPT || svm.caps.hw_virt);
	} else if (!strcmp(vendor, "GenuineIntel")) {
		const struct modvm_host_cpuid_leaf *l1 = modvm_host_facts_cpuid(&f, 1, 0);

		ck_assert_int_eq(svm.score, 0);
		ck_assert_uint_eq(vmx.caps.hw_virt, l1 && (l1->ecx & 1u << 5));
		ck_assert_int_eq(vmx.score > 0, f.kvm_open);
		ck_assert(vmx.caps.slat != MODVM_SLAT_EPT || vmx.caps.hw_virt);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("probe");
	TCase *tc = tcase_create("fixtures");

	tcase_add_loop_test(tc, fixture_probe, 0,
			    sizeof(fixture_probes) / sizeof(fixture_probes[0]));
	tcase_add_test(tc, score_ordering);
	tcase_add_test(tc, probe_is_deterministic);
	suite_add_tcase(s, tc);

	tc = tcase_create("variations");
	tcase_add_test(tc, vmx_msrs_unreadable_trusts_params);
	tcase_add_test(tc, vmx_cpu_without_ept);
	tcase_add_test(tc, vmx_params_off);
	tcase_add_test(tc, vmx_firmware_disabled_and_no_kvm);
	tcase_add_test(tc, kvm_missing_or_closed);
	tcase_add_test(tc, svm_params_off);
	tcase_add_test(tc, svm_cpu_limits);
	tcase_add_test(tc, unknown_vendor);
	suite_add_tcase(s, tc);

	tc = tcase_create("live");
	tcase_add_test(tc, live_host);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	return run_suite(suite(), argc, argv);
}
