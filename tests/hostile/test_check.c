/*
 * Item 10: `modvm check` passed what `modvm run` refused — vcpus 255-288,
 * memory that is not a multiple of 4 KiB or larger than the host, a
 * missing or malformed kernel, an unknown backend, a bad socket path and
 * plugin semantics (min_cores, balloon minimum > maximum) — some without
 * a file:line.  Now check runs the same validation as run (which runs it
 * before anything starts): each case below is refused by both, exit 2,
 * with the file:line of the offending setting.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostile.h"
#include "run_modvm.h"
#include "sysfs_tree.h"

static struct run_result res;

/* `check` and `run` both refuse @conf (exit 2) with @what at @conf:@line. */
static void refused(const char *conf, int line, const char *what)
{
	char where[400];

	snprintf(where, sizeof(where), "%s:%d: ", conf, line);
	for (int i = 0; i < 2; i++) {
		run_modvm(&res, 30, i ? "run" : "check", conf, NULL);
		ck_assert_msg(res.status == 2, "%s exit %d, stderr:\n%s", i ? "run" : "check",
			      res.status, res.err);
		ck_assert_msg(strstr(res.err, where), "%s: no \"%s\" in:\n%s", i ? "run" : "check",
			      where, res.err);
		ck_assert_msg(strstr(res.err, what), "%s: no \"%s\" in:\n%s", i ? "run" : "check",
			      what, res.err);
	}
}

static const char *vm_conf(const char *name, const char *vm_keys)
{
	return write_text(name,
		"plugins = { cpu-vmx = { enabled = true; }; cpu-svm = { enabled = true; }; };\n"
		"vms = ( { name = \"v\"; %s\n"
		"  %s } );\n", strstr(vm_keys, "kernel") ? "" : "kernel = \"builtin:demo\";", vm_keys);
}

START_TEST(vcpus_above_the_boot_limit)
{
	refused(vm_conf("a.conf", "vcpus = 255;"), 3, "vcpus");
	run_modvm(&res, 30, "check", vm_conf("b.conf", "vcpus = 254;"), NULL);
	run_expect(&res, 0, "OK", NULL);
	tmp_dir_remove();
}
END_TEST

START_TEST(memory_not_whole_pages)
{
	refused(vm_conf("a.conf", "memory = \"2049K\";"), 3, "not a multiple of 4K");
	tmp_dir_remove();
}
END_TEST

START_TEST(memory_larger_than_the_host)
{
	refused(vm_conf("a.conf", "memory = \"1T\";"), 3,
		"is more than this host's RAM");
	const char *ok = write_text("b.conf",
		"host = { memory_overcommit = true; };\n"
		"vms = ( { name = \"v\"; kernel = \"builtin:demo\"; memory = \"1T\"; } );\n");
	run_modvm(&res, 30, "check", ok, NULL);
	run_expect(&res, 0, "OK", NULL);
	tmp_dir_remove();
}
END_TEST

START_TEST(kernel_missing_unreadable_or_not_a_kernel)
{
	refused(vm_conf("a.conf", "kernel = \"/nonexistent/vmlinuz\";"), 3,
		"vm v: /nonexistent/vmlinuz: cannot open: No such file");
	const char *junk = write_text("junk", "this is not a kernel\n");
	char keys[400];
	snprintf(keys, sizeof(keys), "kernel = \"%s\";", junk);
	refused(vm_conf("b.conf", keys), 3, "not a bzImage or ELF vmlinux");
	snprintf(keys, sizeof(keys), "kernel = \"%s\";", tmp_dir());
	refused(vm_conf("c.conf", keys), 3, "is a directory, not a regular file");
	/* an initrd that is empty */
	const char *empty = write_text("empty", "%s", "");
	snprintf(keys, sizeof(keys), "initrd = \"%s\";", empty);
	refused(vm_conf("d.conf", keys), 3, "the initrd is empty");
	tmp_dir_remove();
}
END_TEST

START_TEST(unknown_cpu_backend)
{
	const char *conf = write_text("a.conf",
		"host = {\n  cpu = { backend = \"cpu-nope\"; };\n};\n"
		"plugins = { cpu-vmx = { enabled = true; }; };\n"
		"vms = ( { name = \"v\"; kernel = \"builtin:demo\"; } );\n");
	refused(conf, 2, "cpu.backend: \"cpu-nope\": no CPU backend plugin of that name is enabled "
		"(enabled: cpu-vmx)");
	tmp_dir_remove();
}
END_TEST

START_TEST(control_socket_settings)
{
	char keys[400], dir[300];

	snprintf(keys, sizeof(keys), "host = {\n  control_socket = \"%s/%0200d.sock\";\n};\n",
		 tmp_dir(), 0);
	refused(write_text("a.conf", "%s", keys), 2, "the socket path is too long");
	snprintf(dir, sizeof(dir), "%s", tmp_path("public"));
	mkdir(dir, 0777);
	chmod(dir, 01777);
	snprintf(keys, sizeof(keys), "host = {\n  control_socket = \"%s/x.sock\";\n};\n", dir);
	refused(write_text("b.conf", "%s", keys), 2, "is writable by others (mode 1777)");
	refused(write_text("c.conf", "host = { control_socket = \"auto\";\n"
				     "  control_group = \"no-such-group-x\"; };\n"),
		2, "control_group: no group named \"no-such-group-x\"");
	tmp_dir_remove();
}
END_TEST

/* Plugin semantics: core-parking's, power-park's and mem-balloon's validate (SDK 1.3). */
START_TEST(plugin_semantics)
{
	char root[256];

	snprintf(root, sizeof(root), "%s", sysfs_tree_create(2, "schedutil"));
	const char *park = write_text("park.conf",
		"plugins = { power-park = { enabled = true; cores = \"0-1\"; sysfs_root = \"%s\"; };\n"
		"  core-parking = { enabled = true;\n"
		"  min_cores = \"150%%\"; }; };\n", root);
	refused(park, 3, "min_cores");
	const char *cores = write_text("cores.conf",
		"plugins = { power-park = { enabled = true; cores = \"0-x\"; sysfs_root = \"%s\"; }; };\n",
		root);
	refused(cores, 1, "cores: \"0-x\": not a cpulist");
	const char *balloon = write_text("balloon.conf",
		"plugins = { mem-balloon = { enabled = true; }; };\n"
		"vms = ( { name = \"v\"; kernel = \"builtin:demo\"; memory = \"64M\";\n"
		"  mem-balloon = { minimum = \"48M\"; maximum = \"32M\"; }; } );\n");
	refused(balloon, 3, "vm v: minimum 50331648 bytes is above maximum 33554432");
	sysfs_tree_destroy(root);
	tmp_dir_remove();
}
END_TEST

/* A console path that is a link planted by someone: refused up front. */
START_TEST(console_symlink)
{
	char keys[400];
	const char *link = tmp_path("console.log");

	ck_assert_int_eq(symlink("/etc/passwd", link), 0);
	snprintf(keys, sizeof(keys), "console = \"%s\";", link);
	refused(vm_conf("a.conf", keys), 3, "is a symbolic link, not a regular file");
	tmp_dir_remove();
}
END_TEST

int main(int argc, char **argv)
{
	int r = hostile_start(argc, argv);
	if (r)
		return r;
	Suite *s = suite_create("check");
	TCase *t = tcase_create("check");
	tcase_set_timeout(t, 120);
	tcase_add_test(t, vcpus_above_the_boot_limit);
	tcase_add_test(t, memory_not_whole_pages);
	tcase_add_test(t, memory_larger_than_the_host);
	tcase_add_test(t, kernel_missing_unreadable_or_not_a_kernel);
	tcase_add_test(t, unknown_cpu_backend);
	tcase_add_test(t, control_socket_settings);
	tcase_add_test(t, plugin_semantics);
	tcase_add_test(t, console_symlink);
	suite_add_tcase(s, t);
	return hostile_run(s);
}
