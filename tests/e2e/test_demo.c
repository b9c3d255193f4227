/*
 * End to end on real KVM: `modvm run` boots the built-in demo guest through
 * the Linux boot protocol, the guest prints over the serial console, drives
 * its virtio devices and powers off; bad kernels and unmet SLAT policy are
 * refused before any vCPU runs.  Skips (exit 77) without a usable /dev/kvm.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest_suite.h"
#include "run_modvm.h"

static struct run_result res;

START_TEST(demo_guest_boots_prints_and_powers_off)
{
	run_modvm(&res, 60, "run", run_conf("modvm.conf"), NULL);
	run_expect(&res, 0, "Hello from the modvm demo guest!\r\n", NULL);
	ck_assert_ptr_nonnull(strstr(res.out, "command line: console=ttyS0 modvm.demo=1"));
	ck_assert_ptr_nonnull(strstr(res.out, "e820: 000000000000-00000009fbff usable"));
	ck_assert_ptr_nonnull(strstr(res.out, "usable RAM: 63 MiB"));
	/* virtio-rng announced on the command line, found and driven by the guest */
	ck_assert_ptr_nonnull(strstr(res.out, "virtio_mmio.device=4K@0xd0000000:5"));
	ck_assert_ptr_nonnull(strstr(res.out, "virtio-mmio at 0xd0000000: rng"));
	ck_assert_ptr_nonnull(strstr(res.out, "virtio-rng: 16 random bytes: "));
	ck_assert_ptr_nonnull(strstr(res.out, "virtio devices driven: 1"));
	ck_assert_ptr_nonnull(strstr(res.out, "powering off\r\n"));
	ck_assert_ptr_nonnull(strstr(res.out, "event vm.lifecycle"));
	ck_assert_ptr_nonnull(strstr(res.out, "stopped\n"));
	ck_assert_str_eq(res.err, "");
}
END_TEST

START_TEST(two_vms_in_one_process)
{
	run_modvm(&res, 60, "-v", "run", run_conf("e2e-two-vms.conf"), NULL);
	run_expect(&res, 0, "running 2 VMs with 2 plugins", "first: guest requested power off");
	ck_assert_ptr_nonnull(strstr(res.err, "second: guest requested power off"));
}
END_TEST

START_TEST(trace_events_logs_deliveries)
{
	run_modvm(&res, 60, "run", "--trace-events", run_conf("e2e-trace.conf"), NULL);
	run_expect(&res, 0, "stopped", "event vm.lifecycle #1 -> fixture-good");
}
END_TEST

START_TEST(bad_kernel_refused_before_running)
{
	run_modvm(&res, 60, "run", run_conf("e2e-bad-kernel.conf"), NULL);
	run_expect(&res, 2, NULL, "vm broken: ");	/* refused before anything starts, like `check` */
	ck_assert_ptr_nonnull(strstr(res.err, "e2e-bad-kernel.conf"));
	ck_assert_ptr_null(strstr(res.out, "Hello"));
}
END_TEST

START_TEST(slat_required_names_what_is_missing)
{
	run_modvm(&res, 60, "caps", "--json", NULL);
	ck_assert_int_eq(res.status, 0);
	/* What the selected backend says decides what `run` must do. */
	const char *sel = strstr(res.out, "\"selected\": true");
	ck_assert_ptr_nonnull(sel);
	const char *slat = strstr(sel, "\"slat\": \"");
	ck_assert_ptr_nonnull(slat);
	bool has_slat = strncmp(slat, "\"slat\": \"none\"", 14) != 0;
	run_modvm(&res, 60, "run", run_conf("e2e-slat-required.conf"), NULL);
	if (has_slat) {
		run_expect(&res, 0, "Hello from the modvm demo guest!", NULL);
	} else {
		run_expect(&res, 1, NULL, "host.cpu.slat = \"required\", but ");
		ck_assert_ptr_nonnull(strstr(res.err, "reports SLAT: none (shadow paging)"));
		ck_assert_ptr_null(strstr(res.out, "Hello"));
	}
}
END_TEST

START_TEST(caps_reports_this_host)
{
	run_modvm(&res, 60, "caps", NULL);
	run_expect(&res, 0, "(selected)", NULL);
	ck_assert_ptr_nonnull(strstr(res.out, "KVM module:"));
	ck_assert_ptr_nonnull(strstr(res.out, "SLAT:"));
	/* power-park reports through "modvm.caps-report/1" */
	ck_assert_ptr_nonnull(strstr(res.out, "power-park:\n  parking actions this host permits: affinity"));
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("e2e-demo");
	const TTest *tests[] = {
		demo_guest_boots_prints_and_powers_off, two_vms_in_one_process,
		trace_events_logs_deliveries, bad_kernel_refused_before_running,
		slat_required_names_what_is_missing, caps_reports_this_host,
	};
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		guest_suite_add(s, tests[i], 120, NULL, NULL);
	return s;
}

int main(int argc, char **argv)
{
	char why[256];
	if (argc < 2) {
		fprintf(stderr, "usage: %s MODVM_EXE\n", argv[0]);
		return 2;
	}
	if (!kvm_usable(why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	run_modvm_init(argv[1]);
	return guest_suite_run(make_suite);
}
