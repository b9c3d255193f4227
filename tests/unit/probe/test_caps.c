/*
 * The `modvm caps` report: exact human text and JSON for recorded hosts,
 * JSON escaping, an empty list, and determinism.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe_util.h"
#include "host/caps.h"
#include "vmx_probe.h"
#include "svm_probe.h"

/* Both backends' probes of @host; returns the best one's index or -1. */
static int probe_both(const char *host, struct modvm_cpu_probe p[2])
{
	struct modvm_host_facts f;

	load_host(host, &f);
	ck_assert_int_eq(vmx_probe(&f, &p[0]), 0);
	ck_assert_int_eq(svm_probe(&f, &p[1]), 0);
	if (p[0].score == 0 && p[1].score == 0)
		return -1;
	return p[0].score >= p[1].score ? 0 : 1;
}

static char *report(const struct modvm_cpu_probe *p, size_t n, int selected, bool json)
{
	char *text = NULL;

	ck_assert_int_eq(modvm__caps_format(p, n, selected, json, &text), 0);
	ck_assert_ptr_nonnull(text);
	return text;
}

static const char this_host_human[] =
	"cpu-vmx: score 0 (cannot run guests here)\n"
	"  cpu-vmx needs an Intel CPU; this is AMD\n"
	"  vendor:                  AMD\n"
	"  hardware virtualization: no (SVM not visible)\n"
	"  KVM module:              kvm_pvm\n"
	"  SLAT:                    none\n"
	"  VPID/ASID:               no\n"
	"  APICv/AVIC:              no\n"
	"  nested:                  no\n"
	"  unrestricted guest:      no\n"
	"  max vCPUs:               1024\n"
	"  advice:\n"
	"    vendor: this is an AMD CPU: use the cpu-svm backend\n"
	"\n"
	"cpu-svm (selected): score 10\n"
	"  AMD, no SVM visible, KVM via kvm_pvm, SLAT: none (shadow paging)\n"
	"  vendor:                  AMD\n"
	"  hardware virtualization: no (SVM not visible)\n"
	"  KVM module:              kvm_pvm\n"
	"  SLAT:                    none (shadow paging)\n"
	"  VPID/ASID:               no\n"
	"  APICv/AVIC:              no\n"
	"  nested:                  no\n"
	"  unrestricted guest:      no\n"
	"  max vCPUs:               1024\n"
	"  advice:\n"
	"    SVM: SVM not visible: this host is a VM; expose SVM to it (nested virtualization "
	"on the outer host)\n";

/* The Intel hosts with cpu-vmx alone (the first of the two probes). */
static const char skylake_human[] =
	"cpu-vmx (selected): score 96\n"
	"  Intel, VMX, KVM via kvm_intel, SLAT: EPT\n"
	"  vendor:                  Intel\n"
	"  hardware virtualization: yes (VMX)\n"
	"  KVM module:              kvm_intel\n"
	"  SLAT:                    EPT\n"
	"  VPID/ASID:               yes (VPID)\n"
	"  APICv/AVIC:              yes (APICv)\n"
	"  nested:                  yes\n"
	"  unrestricted guest:      yes\n"
	"  max vCPUs:               1024\n"
	"  advice:                  none\n";

static const char broadwell_human[] =
	"cpu-vmx (selected): score 62\n"
	"  Intel, VMX, KVM via kvm_intel, SLAT: none (shadow paging)\n"
	"  vendor:                  Intel\n"
	"  hardware virtualization: yes (VMX)\n"
	"  KVM module:              kvm_intel\n"
	"  SLAT:                    none (shadow paging)\n"
	"  VPID/ASID:               yes (VPID)\n"
	"  APICv/AVIC:              yes (APICv)\n"
	"  nested:                  no\n"
	"  unrestricted guest:      no\n"
	"  max vCPUs:               288\n"
	"  advice:\n"
	"    EPT: EPT disabled in kvm_intel: modprobe -r kvm_intel && modprobe kvm_intel "
	"ept=1\n"
	"    unrestricted guest: unrestricted guest needs EPT: enable EPT first; real-mode "
	"guest code is emulated meanwhile\n"
	"    nested: nested virtualization off: modprobe -r kvm_intel && modprobe kvm_intel "
	"nested=1\n";

/* Both backends describe the same host: one caps object, printed twice. */
#define THIS_HOST_CAPS_JSON                                                                 \
	"      \"caps\": {\n"                                                               \
	"        \"vendor\": \"amd\",\n"                                                    \
	"        \"slat\": \"none\",\n"                                                     \
	"        \"hw_virt\": false,\n"                                                     \
	"        \"vpid\": false,\n"                                                        \
	"        \"apic_virt\": false,\n"                                                   \
	"        \"nested\": false,\n"                                                      \
	"        \"unrestricted_guest\": false,\n"                                          \
	"        \"asid_count\": 0,\n"                                                      \
	"        \"max_vcpus\": 1024,\n"                                                    \
	"        \"kvm_module\": \"kvm_pvm\"\n"                                             \
	"      },\n"

static const char this_host_json[] =
	"{\n"
	"  \"selected\": \"cpu-svm\",\n"
	"  \"can_run_guests\": true,\n"
	"  \"reason\": null,\n"
	"  \"backends\": [\n"
	"    {\n"
	"      \"backend\": \"cpu-vmx\",\n"
	"      \"selected\": false,\n"
	"      \"score\": 0,\n"
	"      \"usable\": false,\n"
	"      \"summary\": \"cpu-vmx needs an Intel CPU; this is AMD\",\n"
	THIS_HOST_CAPS_JSON
	"      \"advice\": [\n"
	"        { \"feature\": \"vendor\", \"remedy\": \"this is an AMD CPU: use the cpu-svm "
	"backend\" }\n"
	"      ]\n"
	"    },\n"
	"    {\n"
	"      \"backend\": \"cpu-svm\",\n"
	"      \"selected\": true,\n"
	"      \"score\": 10,\n"
	"      \"usable\": true,\n"
	"      \"summary\": \"AMD, no SVM visible, KVM via kvm_pvm, SLAT: none (shadow paging)\",\n"
	THIS_HOST_CAPS_JSON
	"      \"advice\": [\n"
	"        { \"feature\": \"SVM\", \"remedy\": \"SVM not visible: this host is a VM; expose "
	"SVM to it (nested virtualization on the outer host)\" }\n"
	"      ]\n"
	"    }\n"
	"  ]\n"
	"}\n";

/*
 * Reports of recorded hosts: which backend is selected, and the exact text
 * (.text) or texts it must hold (.has, for the parts a case is about).
 */
static const struct {
	const char *name;
	const char *host;
	size_t n;		/* probes reported: cpu-vmx, then cpu-svm */
	int selected;
	bool json;
	const char *text;	/* the whole report, or NULL */
	const char *has[7];	/* NULL ends */
} reports[] = {
	{ "human, this host", "amd-vm-kvm-pvm.facts", 2, 1, false, this_host_human, { NULL } },
	{ "human, skylake", "intel-skylake-sp-ept.facts", 1, 0, false, skylake_human, { NULL } },
	{ "human, broadwell", "intel-broadwell-ep-noept.facts", 1, 0, false, broadwell_human,
	  { NULL } },
	{ "human, milan", "amd-epyc-milan-npt-avic.facts", 2, 1, false, NULL, {
		"cpu-svm (selected): score 96\n"
		"  AMD, SVM, KVM via kvm_amd, SLAT: NPT\n"
		"  vendor:                  AMD\n"
		"  hardware virtualization: yes (SVM)\n"
		"  KVM module:              kvm_amd\n"
		"  SLAT:                    NPT\n"
		"  VPID/ASID:               yes (32768 ASIDs)\n"
		"  APICv/AVIC:              yes (AVIC)\n"
		"  nested:                  yes\n"
		"  unrestricted guest:      yes\n"
		"  max vCPUs:               1024\n"
		"  advice:                  none\n",
		/* cpu-vmx on this AMD host: unusable, the host's SVM still shown. */
		"cpu-vmx: score 0 (cannot run guests here)\n"
		"  cpu-vmx needs an Intel CPU; this is AMD\n"
		"  vendor:                  AMD\n"
		"  hardware virtualization: yes (SVM)\n"
		"  KVM module:              none\n" } },
	{ "json, this host", "amd-vm-kvm-pvm.facts", 2, 1, true, this_host_json, { NULL } },
	{ "json, milan", "amd-epyc-milan-npt-avic.facts", 2, 1, true, NULL, {
		"\"selected\": \"cpu-svm\",\n",
		"\"slat\": \"npt\"",
		"\"asid_count\": 32768",
		"\"apic_virt\": true",
		"\"kvm_module\": \"kvm_amd\"",
		"\"advice\": []\n" } },	/* cpu-svm needs none */
	{ "json, skylake", "intel-skylake-sp-ept.facts", 2, 0, true, NULL, {
		"\"selected\": \"cpu-vmx\",\n",
		"\"vendor\": \"intel\"",
		"\"slat\": \"ept\"",
		"\"score\": 96," } },
};

START_TEST(host_report)
{
	struct modvm_cpu_probe p[2];
	int sel = probe_both(reports[_i].host, p);
	char *text;

	ck_assert_msg(sel == reports[_i].selected, "case %s: selected %d, want %d",
		      reports[_i].name, sel, reports[_i].selected);
	text = report(p, reports[_i].n, sel, reports[_i].json);
	if (reports[_i].text)
		ck_assert_msg(!strcmp(text, reports[_i].text), "case %s: got\n%s\nwant\n%s",
			      reports[_i].name, text, reports[_i].text);
	for (size_t i = 0; i < sizeof(reports[_i].has) / sizeof(reports[_i].has[0]) &&
			   reports[_i].has[i]; i++)
		ck_assert_msg(strstr(text, reports[_i].has[i]), "case %s: no\n%s\nin\n%s",
			      reports[_i].name, reports[_i].has[i], text);
	free(text);
}
END_TEST

START_TEST(json_escapes_and_empty)
{
	struct modvm_cpu_probe p;
	char *text;

	memset(&p, 0, sizeof(p));
	p.struct_size = sizeof(p);
	strcpy(p.caps.backend, "x\"y");
	strcpy(p.summary, "back\\slash \"quoted\"\nnew\tline \x01");
	p.n_advice = 1;
	strcpy(p.advice[0].feature, "f");
	memset(p.advice[0].remedy, 'r', sizeof(p.advice[0].remedy));	/* no NUL at all */
	text = report(&p, 1, -1, true);
	ck_assert_ptr_nonnull(strstr(text, "\"selected\": null,"));
	ck_assert_ptr_nonnull(strstr(text, "\"backend\": \"x\\\"y\","));
	ck_assert_ptr_nonnull(strstr(text,
		"\"summary\": \"back\\\\slash \\\"quoted\\\"\\nnew\\tline \\u0001\","));
	ck_assert_ptr_nonnull(strstr(text, "\"remedy\": \"rrrr"));
	ck_assert_ptr_null(strstr(text, "\"vendor\": \"intel\""));
	free(text);

	text = report(&p, 1, -1, false);
	ck_assert_ptr_nonnull(strstr(text, "x\"y: score 0 (cannot run guests here)\n"));
	ck_assert_ptr_nonnull(strstr(text, "  max vCPUs:               unknown\n"));
	ck_assert_ptr_nonnull(strstr(text, "  KVM module:              none\n"));
	free(text);

	text = report(NULL, 0, -1, true);
	ck_assert_str_eq(text, "{\n  \"selected\": null,\n  \"can_run_guests\": false,\n"
			 "  \"reason\": \"no CPU backend plugin enabled (enable cpu-vmx or cpu-svm "
			 "under plugins)\",\n  \"backends\": []\n}\n");
	free(text);
	text = report(NULL, 0, -1, false);
	ck_assert_str_eq(text, "verdict: no CPU backend plugin enabled (enable cpu-vmx or cpu-svm "
			 "under plugins)\n");
	free(text);
}
END_TEST

/* Same probes, same bytes; the FILE* and buffer forms agree. */
START_TEST(report_is_deterministic)
{
	struct modvm_cpu_probe p[2];
	int sel = probe_both("intel-broadwell-ep-noept.facts", p);

	for (int json = 0; json < 2; json++) {
		char *a = report(p, 2, sel, json), *b = report(p, 2, sel, json), *c = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&c, &len);

		ck_assert_int_eq(modvm__caps_print(mem, p, 2, sel, json), 0);
		fclose(mem);
		ck_assert_str_eq(a, b);
		ck_assert_str_eq(a, c);
		free(a);
		free(b);
		free(c);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("caps");
	TCase *tc = tcase_create("report");

	tcase_add_loop_test(tc, host_report, 0, sizeof(reports) / sizeof(reports[0]));
	tcase_add_test(tc, json_escapes_and_empty);
	tcase_add_test(tc, report_is_deterministic);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	return run_suite(suite(), argc, argv);
}
