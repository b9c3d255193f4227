/*
 * Choosing the CPU backend when none can run (issue 19): the error names
 * why each vendor backend can't, this CPU's vendor first, with the fix —
 * not the first backend's summary alone ("cpu-vmx needs an Intel CPU; this
 * is AMD" on an AMD host whose real trouble is a missing /dev/kvm).  The
 * probes are the plugins' own, run on recorded hosts with one fact changed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe_util.h"
#include "host/caps.h"
#include "host/fleet.h"
#include "vmx_probe.h"
#include "svm_probe.h"

static struct modvm_plugin_ctx vmx_ctx = { .name = "cpu-vmx" };
static struct modvm_plugin_ctx svm_ctx = { .name = "cpu-svm" };

/* The probes of @f, cpu-vmx first as etc/modvm.conf enables them. */
static size_t probe_both(const struct modvm_host_facts *f, struct modvm__backend_probe bp[2])
{
	memset(bp, 0, 2 * sizeof(*bp));
	ck_assert_int_eq(vmx_probe(f, &bp[0].probe), 0);
	ck_assert_int_eq(svm_probe(f, &bp[1].probe), 0);
	bp[0].plugin = &vmx_ctx;
	bp[1].plugin = &svm_ctx;
	return 2;
}

/* The one error line select logs for @bp. */
static const char *select_error(const struct modvm__backend_probe *bp, size_t n, const char *want)
{
	capture_start();
	ck_assert_int_lt(modvm__backends_select(bp, n, want, "preferred", NULL), 0);
	capture_stop();
	ck_assert_msg(!strchr(capture_text(), '\n'), "more than one line:\n%s", capture_text());
	return capture_text();
}

START_TEST(amd_without_dev_kvm_names_kvm_amd_first)
{
	struct modvm_host_facts f;
	struct modvm__backend_probe bp[2];

	load_host("amd-epyc-milan-npt-avic.facts", &f);
	f.kvm_dev = f.kvm_open = 0;
	const char *err = select_error(bp, probe_both(&f, bp), "auto");
	ck_assert_str_eq(err,
		"modvm: error: no CPU backend can run guests here. "
		"cpu-svm: AMD, SVM, /dev/kvm missing: cannot run guests; "
		"to fix: /dev/kvm missing: load kvm_amd (modprobe kvm_amd). "
		"cpu-vmx: needs an Intel CPU; this is AMD");
}
END_TEST

START_TEST(intel_without_permission_names_the_kvm_group)
{
	struct modvm_host_facts f;
	struct modvm__backend_probe bp[2];

	load_host("intel-skylake-sp-ept.facts", &f);
	f.kvm_open = 0;
	const char *err = select_error(bp, probe_both(&f, bp), "auto");
	ck_assert_str_eq(err,
		"modvm: error: no CPU backend can run guests here. "
		"cpu-vmx: Intel, VMX, /dev/kvm not accessible: cannot run guests; "
		"to fix: /dev/kvm exists but does not open: run as root or join the kvm group "
		"(adduser USER kvm, then log in again). "
		"cpu-svm: needs an AMD CPU; this is Intel");
}
END_TEST

/* Only the other vendor's backend enabled: its "use the other one" is the fix. */
START_TEST(only_the_wrong_vendor_enabled)
{
	struct modvm_host_facts f;
	struct modvm__backend_probe bp[2];

	load_host("amd-epyc-milan-npt-avic.facts", &f);
	probe_both(&f, bp);
	const char *err = select_error(bp, 1, "auto");
	ck_assert_str_eq(err,
		"modvm: error: no CPU backend can run guests here. "
		"cpu-vmx: needs an Intel CPU; this is AMD; "
		"to fix: this is an AMD CPU: use the cpu-svm backend");
}
END_TEST

/* host.cpu.backend naming one that can't run: its reason and fix. */
START_TEST(named_backend_says_why_and_how)
{
	struct modvm_host_facts f;
	struct modvm__backend_probe bp[2];

	load_host("amd-epyc-milan-npt-avic.facts", &f);
	f.kvm_dev = f.kvm_open = 0;
	const char *err = select_error(bp, probe_both(&f, bp), "cpu-svm");
	ck_assert_str_eq(err,
		"modvm: error: host.cpu.backend = \"cpu-svm\": cannot run here: "
		"cpu-svm: AMD, SVM, /dev/kvm missing: cannot run guests; "
		"to fix: /dev/kvm missing: load kvm_amd (modprobe kvm_amd)");
}
END_TEST

/*
 * A backend that can always run but has no SLAT and the lowest score, as
 * sdk/examples/cpu-null probes: it must never win over a KVM backend that
 * can run, whatever host.cpu.slat says, nor make "required" refuse a host
 * whose KVM backend has SLAT.
 */
static struct modvm_plugin_ctx null_ctx = { .name = "cpu-null" };

/* cpu-vmx and cpu-svm on @f, with cpu-null first or last; *@vmx its index. */
static size_t probe_with_null(const struct modvm_host_facts *f, bool null_first,
			      struct modvm__backend_probe bp[3], int *vmx)
{
	struct modvm__backend_probe both[2], null = { .plugin = &null_ctx };

	probe_both(f, both);
	null.probe = (struct modvm_cpu_probe){ .struct_size = sizeof(null.probe), .score = 1 };
	snprintf(null.probe.summary, sizeof(null.probe.summary), "runs no guest code");
	bp[null_first ? 0 : 2] = null;
	bp[null_first ? 1 : 0] = both[0];
	bp[null_first ? 2 : 1] = both[1];
	*vmx = null_first ? 1 : 0;
	return 3;
}

START_TEST(null_backend_never_wins_over_kvm)
{
	static const char *const slats[] = { "preferred", "off", "required" };
	static const char *const hosts[] = { "intel-skylake-sp-ept.facts",
					     "intel-broadwell-ep-noept.facts" };
	struct modvm_host_facts f;
	struct modvm__backend_probe bp[3];
	int vmx;

	for (int h = 0; h < 2; h++)
		for (int order = 0; order < 2; order++)
			for (int s = 0; s < 3; s++) {
				if (h == 1 && s == 2)
					continue;	/* no SLAT anywhere: see below */
				load_host(hosts[h], &f);
				size_t n = probe_with_null(&f, order, bp, &vmx);
				ck_assert_int_gt(bp[vmx].probe.score, 1);
				ck_assert_msg(modvm__backends_select(bp, n, "auto", slats[s],
								     NULL) == vmx,
					      "%s, cpu-null %s, slat %s: cpu-vmx not chosen",
					      hosts[h], order ? "first" : "last", slats[s]);
			}
}
END_TEST

/* Nothing else can run: "auto" takes it; naming it pins it even next to KVM. */
START_TEST(null_backend_when_nothing_else_runs_or_pinned)
{
	struct modvm_host_facts f;
	struct modvm__backend_probe bp[3];
	int vmx;

	load_host("intel-skylake-sp-ept.facts", &f);
	f.kvm_dev = f.kvm_open = 0;
	probe_with_null(&f, false, bp, &vmx);
	ck_assert_int_eq(modvm__backends_select(bp, 3, "auto", "preferred", NULL), 2);

	load_host("intel-skylake-sp-ept.facts", &f);
	probe_with_null(&f, false, bp, &vmx);
	ck_assert_int_eq(modvm__backends_select(bp, 3, "cpu-null", "preferred", NULL), 2);
	/* ... but not under "required": it has no SLAT. */
	capture_start();
	ck_assert_int_eq(modvm__backends_select(bp, 3, "cpu-null", "required", NULL), -EOPNOTSUPP);
	capture_stop();
	ck_assert_msg(strstr(capture_text(), "host.cpu.slat = \"required\", but cpu-null reports "
					     "SLAT: none"), "%s", capture_text());
}
END_TEST

/* "required" with no SLAT anywhere: the error names the best of those without. */
START_TEST(slat_required_names_the_best_backend_without_it)
{
	struct modvm_host_facts f;
	struct modvm__backend_probe bp[3];
	int vmx;

	load_host("intel-broadwell-ep-noept.facts", &f);
	probe_with_null(&f, true, bp, &vmx);
	capture_start();
	ck_assert_int_eq(modvm__backends_select(bp, 3, "auto", "required", NULL), -EOPNOTSUPP);
	capture_stop();
	ck_assert_msg(strstr(capture_text(), "host.cpu.slat = \"required\", but cpu-vmx reports "
					     "SLAT: none"), "%s", capture_text());
	/* with cpu-vmx's own remedy (filed under "EPT"), not a generic one */
	ck_assert_msg(strstr(capture_text(), "ept=1"), "%s", capture_text());
}
END_TEST

/* `caps --json` carries the same verdict and reason. */
START_TEST(caps_json_has_the_verdict)
{
	struct modvm_host_facts f;
	struct modvm__backend_probe bp[2];
	struct modvm_cpu_probe p[2];
	char *text;

	load_host("amd-epyc-milan-npt-avic.facts", &f);
	f.kvm_dev = f.kvm_open = 0;
	probe_both(&f, bp);
	p[0] = bp[0].probe;
	p[1] = bp[1].probe;
	ck_assert_int_eq(modvm__caps_format(p, 2, -1, true, &text), 0);
	ck_assert_msg(strstr(text, "\"selected\": null,\n  \"can_run_guests\": false,\n"
				   "  \"reason\": \"no CPU backend can run guests here. cpu-svm: "),
		      "%s", text);
	free(text);
	ck_assert_int_eq(modvm__caps_format(p, 2, -1, false, &text), 0);
	ck_assert_msg(strstr(text, "\nverdict: no CPU backend can run guests here. cpu-svm: "),
		      "%s", text);
	free(text);

	load_host("amd-epyc-milan-npt-avic.facts", &f);
	probe_both(&f, bp);
	p[0] = bp[0].probe;
	p[1] = bp[1].probe;
	ck_assert_int_eq(modvm__caps_format(p, 2, 1, true, &text), 0);
	ck_assert_msg(strstr(text, "\"selected\": \"cpu-svm\",\n  \"can_run_guests\": true,\n"
				   "  \"reason\": null,\n"), "%s", text);
	free(text);
}
END_TEST

int main(int argc, char **argv)
{
	Suite *s = suite_create("select");
	TCase *t = tcase_create("select");

	tcase_add_test(t, amd_without_dev_kvm_names_kvm_amd_first);
	tcase_add_test(t, intel_without_permission_names_the_kvm_group);
	tcase_add_test(t, only_the_wrong_vendor_enabled);
	tcase_add_test(t, named_backend_says_why_and_how);
	tcase_add_test(t, caps_json_has_the_verdict);
	tcase_add_test(t, null_backend_never_wins_over_kvm);
	tcase_add_test(t, null_backend_when_nothing_else_runs_or_pinned);
	tcase_add_test(t, slat_required_names_the_best_backend_without_it);
	suite_add_tcase(s, t);
	return run_suite(s, argc, argv);
}
