/*
 * The memory plugins as a user meets them, through the built `modvm`:
 * their options are described, the example config validates, a bad per-VM
 * range, an unreadable meminfo and a memory_policy naming no memory policy
 * are refused naming the file, and (with /dev/kvm) both VMs of
 * etc/dynamic-memory.conf find a virtio-balloon on their command line.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run_modvm.h"

static struct run_result res;
static char example[4096];

/* `run` needs a usable CPU backend before plugins see VMs. */
static bool need_kvm(void)
{
	char why[256];
	if (kvm_usable(why, sizeof(why)))
		return true;
	printf("skipped: %s\n", why);
	return false;
}

/* Writes @text to a fresh /tmp/mem-balloon-XXXXXX.conf; the caller unlinks it. */
static const char *temp_conf(char *path, size_t size, const char *text)
{
	snprintf(path, size, "/tmp/mem-balloon-XXXXXX.conf");
	int fd = mkstemps(path, 5);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

START_TEST(describe_lists_options_and_events)
{
	run_modvm(&res, 30, "plugins", "--describe", "mem-balloon", NULL);
	run_expect(&res, 0, "kind         device", NULL);
	const char *want[] = { "interval_ms", "startup", "minimum", "maximum",
			       "free_page_reporting", "mem.guest_stats", "mem.balloon_target",
			       "mem.balloon_actual", "mem.balloon_state" };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(strstr(res.out, want[i]), "missing %s", want[i]);
	run_modvm(&res, 30, "plugins", "--describe", "mem-dynamic", NULL);
	run_expect(&res, 0, "kind         memory-policy", NULL);
	const char *want_dyn[] = { "interval_ms", "meminfo", "psi", "host_reserve", "buffer",
				   "weight", "range 5..2000", "range 0..10000",
				   "host.mem_pressure" };
	for (size_t i = 0; i < sizeof(want_dyn) / sizeof(want_dyn[0]); i++)
		ck_assert_msg(strstr(res.out, want_dyn[i]), "missing %s", want_dyn[i]);
}
END_TEST

START_TEST(example_config_validates)
{
	run_modvm(&res, 30, "check", example, NULL);
	run_expect(&res, 0, "OK (4 plugins, 2 VMs)", NULL);
}
END_TEST

START_TEST(bad_buffer_refused)
{
	char path[64];
	temp_conf(path, sizeof(path),
		  "plugins = { mem-balloon = { enabled = true; }; mem-dynamic = { enabled = true; }; };\n"
		  "vms = ( { name = \"a\"; memory = \"64M\"; kernel = \"builtin:demo\";\n"
		  "  mem-dynamic = { buffer = 3; }; } );\n");
	run_modvm(&res, 30, "check", path, NULL);
	unlink(path);
	ck_assert_int_eq(res.status, 2);
	ck_assert_ptr_nonnull(strstr(res.err, ":3:"));
	ck_assert_ptr_nonnull(strstr(res.err, "buffer"));
}
END_TEST

/* A plugin's semantics are checked by `check` (its validate) exactly as
 * `run` refuses them, before anything starts: no KVM needed (issue 17). */
START_TEST(minimum_above_maximum_refused)
{
	char path[64];
	temp_conf(path, sizeof(path),
		  "plugins = { cpu-vmx = { enabled = true; }; cpu-svm = { enabled = true; };\n"
		  "  mem-balloon = { enabled = true; }; };\n"
		  "vms = ( { name = \"a\"; memory = \"64M\"; kernel = \"builtin:demo\";\n"
		  "  mem-balloon = { minimum = \"48M\";\n"
		  "    maximum = \"32M\"; }; } );\n");
	for (int i = 0; i < 2; i++) {
		run_modvm(&res, 30, i ? "run" : "check", path, NULL);
		ck_assert_int_eq(res.status, 2);
		ck_assert_msg(strstr(res.err, ":4: vm a: minimum 50331648 bytes is above maximum 33554432"),
			      "stderr: %s", res.err);
		ck_assert_ptr_nonnull(strstr(res.err, ":5)"));
	}
	unlink(path);
}
END_TEST

START_TEST(unreadable_meminfo_refused)
{
	char path[64];
	temp_conf(path, sizeof(path),
		  "plugins = { cpu-vmx = { enabled = true; }; cpu-svm = { enabled = true; };\n"
		  "  mem-dynamic = { enabled = true; meminfo = \"/nonexistent/meminfo\"; }; };\n"
		  "vms = ( { name = \"a\"; memory = \"64M\"; kernel = \"builtin:demo\"; } );\n");
	for (int i = 0; i < 2; i++) {
		run_modvm(&res, 30, i ? "run" : "check", path, NULL);
		ck_assert_int_eq(res.status, 2);
		ck_assert_msg(strstr(res.err, ":2: meminfo: /nonexistent/meminfo: No such file"),
			      "stderr: %s", res.err);
	}
	unlink(path);
}
END_TEST

/* A policy that is no memory policy, or none at all, is refused with file:line;
 * "auto" with two memory policies must be told which one. */
START_TEST(memory_policy_names_a_memory_policy)
{
	char path[64];
	temp_conf(path, sizeof(path),
		  "host = { memory_policy = \"mem-balloon\"; };\n"
		  "plugins = { mem-balloon = { enabled = true; }; mem-dynamic = { enabled = true; }; };\n"
		  "vms = ( { name = \"a\"; memory = \"64M\"; kernel = \"builtin:demo\";\n"
		  "  mem-balloon = { }; },\n"
		  "  { name = \"b\"; memory = \"64M\"; kernel = \"builtin:demo\";\n"
		  "    memory_policy = \"mem-nothing\"; } );\n");
	run_modvm(&res, 30, "check", path, NULL);
	unlink(path);
	ck_assert_int_eq(res.status, 2);
	ck_assert_msg(strstr(res.err, ":1: host.memory_policy = \"mem-balloon\": plugin mem-balloon "
				      "is a device plugin, not a memory-policy"), "stderr: %s", res.err);
	ck_assert_msg(strstr(res.err, ":6: vm b: memory_policy = \"mem-nothing\": no enabled "
				      "memory-policy plugin is named \"mem-nothing\" (enabled: "
				      "mem-dynamic; or \"none\")"), "stderr: %s", res.err);
	temp_conf(path, sizeof(path),
		  "plugins = { mem-balloon = { enabled = true; }; mem-dynamic = { enabled = true; }; };\n"
		  "vms = ( { name = \"a\"; memory = \"64M\"; kernel = \"builtin:demo\";\n"
		  "  memory_policy = \"none\"; mem-balloon = { }; } );\n");
	run_modvm(&res, 30, "check", path, NULL);
	unlink(path);
	run_expect(&res, 0, "OK (2 plugins, 1 VM)", NULL);
}
END_TEST

/* The example's guests drive their balloons until stopped: wait for both. */
static bool both_driving(int pid, const char *out, void *ud)
{
	(void)pid, (void)ud;
	const char *first = strstr(out, "driving the balloon");
	return first && strstr(first + 1, "driving the balloon");
}

START_TEST(both_vms_get_a_balloon)
{
	if (!need_kvm())
		return;
	const char *args[] = { "run", example, NULL };
	double t = run_modvm_watch(&res, 60, args, both_driving, NULL);
	ck_assert_msg(t >= 0, "stdout: %s\nstderr: %s", res.out, res.err);
	run_expect(&res, 0, "virtio_mmio.device=4K@0xd0001000:6", NULL);
	const char *first = strstr(res.out, "virtio-mmio at 0xd0001000: balloon");
	ck_assert_ptr_nonnull(first);
	ck_assert_ptr_nonnull(strstr(first + 1, "virtio-mmio at 0xd0001000: balloon"));
}
END_TEST

int main(int argc, char **argv)
{
	const char *root = getenv("MODVM_SOURCE_ROOT");

	if (argc < 2) {
		fprintf(stderr, "usage: %s MODVM_BINARY\n", argv[0]);
		return 2;
	}
	run_modvm_init(argv[1]);
	snprintf(example, sizeof(example), "%s/etc/dynamic-memory.conf", root ? root : ".");

	Suite *s = suite_create("balloon_plugin");
	TCase *tc = tcase_create("plugin");
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, describe_lists_options_and_events);
	tcase_add_test(tc, example_config_validates);
	tcase_add_test(tc, bad_buffer_refused);
	tcase_add_test(tc, minimum_above_maximum_refused);
	tcase_add_test(tc, unreadable_meminfo_refused);
	tcase_add_test(tc, memory_policy_names_a_memory_policy);
	tcase_add_test(tc, both_vms_get_a_balloon);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
