/*
 * The virtio-blk plugin as a user meets it, through the built `modvm`,
 * without KVM: its options are described (the disks list and its fields),
 * the example config validates, refused configs name the file, the line
 * and the list element, and `modvm caps` says which I/O engine disks get.
 * (Disks in running VMs: test_blk_vm.c, which needs KVM.)
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run_modvm.h"

static struct run_result res;

#define PLUGINS                                                                        \
	"plugins = { cpu-vmx = { enabled = true; }; cpu-svm = { enabled = true; };\n"  \
	"  virtio-blk = { enabled = true; }; };\n"
/* VM "a", left open for its virtio-blk group, which starts on line 4.  It
 * does not start by itself, so `modvm run` gets as far as the plugins'
 * init, which checks what the tables cannot, without needing KVM. */
#define VM_A "vms = ( { name = \"a\"; memory = \"64M\"; autostart = false;\n"

static void run_text(const char *cmd, const char *text)
{
	char path[64];

	snprintf(path, sizeof(path), "/tmp/virtio-blk-XXXXXX.conf");
	int fd = mkstemps(path, 5);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	run_modvm(&res, 30, cmd, path, NULL);
	unlink(path);
}

START_TEST(describe_lists_options)
{
	run_modvm(&res, 30, "plugins", "--describe", "virtio-blk", NULL);
	run_expect(&res, 0, "kind         device", NULL);
	const char *want[] = { "vm options (vms.[].virtio-blk):", "disks ", "list",
			       "default ()  0..8 elements", "disks.path", "required",
			       "disks.readonly", "disks.serial", "disks.cache",
			       "choices writeback|none", "disks.discard", "disks.write_zeroes",
			       "disks.queues", "disks.block_size", "disks.limit.bytes_per_sec",
			       "disks.limit.ops_per_sec", "io_engine",
			       "choices auto|io_uring|threads", "io_threads" };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(strstr(res.out, want[i]), "missing %s in:\n%s", want[i], res.out);
}
END_TEST

START_TEST(example_config_validates)
{
	char path[4096];
	const char *root = getenv("MODVM_SOURCE_ROOT");

	snprintf(path, sizeof(path), "%s/etc/storage.conf", root ? root : ".");
	run_modvm(&res, 30, "check", path, NULL);
	run_expect(&res, 0, "OK (3 plugins, 1 VM)", NULL);
}
END_TEST

/* `modvm run` refuses what the option tables rule out (status 2) and what
 * the plugin checks in its init (status 1), each naming file:line, the list
 * element and the key. */
static const struct refusal {
	const char *name;
	const char *group;	/* the VM's virtio-blk group, from line 4 */
	const char *says[2];	/* each must be in stderr; NULL ends */
} refusals[] = {
	{ "disks not a list", "  virtio-blk = { disks = { path = \"a.img\"; }; }; } );\n",
	  { ":4: vms.[0].virtio-blk.disks: expected a list of groups", NULL } },
	{ "element without a path",
	  "  virtio-blk = { disks = ( { path = \"a.img\"; },\n    { readonly = true; } ); }; } );\n",
	  { ":5: vms.[0].virtio-blk.disks.[1].path: required key missing", NULL } },
	{ "unknown key in an element",
	  "  virtio-blk = { disks = ( { path = \"a.img\"; colour = \"red\"; } ); }; } );\n",
	  { ":4: vms.[0].virtio-blk.disks.[0].colour: unknown key (known: path, readonly", NULL } },
	{ "bad cache",
	  "  virtio-blk = { disks = ( { path = \"a\"; },\n { path = \"b\"; cache = \"unsafe\"; } ); }; } );\n",
	  { ":5: vms.[0].virtio-blk.disks.[1].cache: \"unsafe\" is not one of writeback|none", NULL } },
	{ "queues out of range",
	  "  virtio-blk = { disks = ( { path = \"a\"; queues = 65; } ); }; } );\n",
	  { ":4: vms.[0].virtio-blk.disks.[0].queues: 65 is out of range [0, 64]", NULL } },
	{ "a limit that is no size",
	  "  virtio-blk = { disks = ( { path = \"a\"; limit = { bytes_per_sec = \"fast\"; }; } ); }; } );\n",
	  { ":4: vms.[0].virtio-blk.disks.[0].limit.bytes_per_sec: \"fast\" is not a size", NULL } },
	{ "nine disks",
	  "  virtio-blk = { disks = ( {path=\"1\";},{path=\"2\";},{path=\"3\";},{path=\"4\";},\n"
	  "    {path=\"5\";},{path=\"6\";},{path=\"7\";},{path=\"8\";},{path=\"9\";} ); }; } );\n",
	  { ":4: vms.[0].virtio-blk.disks: 9 elements, allowed [0, 8]", NULL } },
	{ "serial longer than 20 bytes",
	  "  virtio-blk = { disks = ( { path = \"a\"; },\n"
	  "    { path = \"b\"; serial = \"123456789012345678901\"; } ); }; } );\n",
	  { ":5: vms.[0].virtio-blk.disks.[1].serial: \"123456789012345678901\": longer than 20",
	    NULL } },
	{ "block size not a power of two",
	  "  virtio-blk = { disks = ( { path = \"a\"; block_size = 1000; } ); }; } );\n",
	  { ":4: vms.[0].virtio-blk.disks.[0].block_size: 1000: not a power of two", NULL } },
	{ "empty path", "  virtio-blk = { disks = ( { path = \"\"; } ); }; } );\n",
	  { ":4: vms.[0].virtio-blk.disks.[0].path: empty path", NULL } },
};

START_TEST(bad_config_refused)
{
	const struct refusal *rf = &refusals[_i];
	char text[1024];

	snprintf(text, sizeof(text), PLUGINS VM_A "%s", rf->group);
	run_text("run", text);
	ck_assert_msg(res.status != 0, "case %s: status 0, stderr: %s", rf->name, res.err);
	for (size_t i = 0; i < sizeof(rf->says) / sizeof(rf->says[0]) && rf->says[i]; i++)
		ck_assert_msg(strstr(res.err, rf->says[i]), "case %s: no \"%s\" in stderr: %s",
			      rf->name, rf->says[i], res.err);
}
END_TEST

START_TEST(bad_engine_refused)
{
	run_text("check", "plugins = { virtio-blk = { enabled = true;\n  io_engine = \"aio\"; }; };\n");
	ck_assert_int_eq(res.status, 2);
	ck_assert_msg(strstr(res.err, ":2: plugins.virtio-blk.io_engine: \"aio\" is not one of "
				      "auto|io_uring|threads"), "%s", res.err);
}
END_TEST

START_TEST(caps_names_the_engine)
{
	run_modvm(&res, 60, "caps", NULL);
	const char *blk = strstr(res.out, "\nvirtio-blk:\n");
	ck_assert_msg(blk, "no virtio-blk section in:\n%s", res.out);
	ck_assert_msg(strstr(blk, "I/O engine: io_uring") || strstr(blk, "I/O engine: threads"),
		      "%s", blk);
	ck_assert_ptr_nonnull(strstr(blk, "io_uring: "));
	ck_assert_ptr_nonnull(strstr(blk, "image locks: OFD"));
}
END_TEST

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s MODVM_BINARY\n", argv[0]);
		return 2;
	}
	run_modvm_init(argv[1]);
	Suite *s = suite_create("blk_plugin");
	TCase *tc = tcase_create("plugin");
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, describe_lists_options);
	tcase_add_test(tc, example_config_validates);
	tcase_add_loop_test(tc, bad_config_refused, 0, sizeof(refusals) / sizeof(refusals[0]));
	tcase_add_test(tc, bad_engine_refused);
	tcase_add_test(tc, caps_names_the_engine);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
