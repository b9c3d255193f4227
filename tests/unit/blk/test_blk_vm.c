/*
 * Disks in running VMs, through the built `modvm` and its demo guest,
 * whose own virtio-blk driver reports each disk and, with
 * "modvm.demo.blk=TEXT", writes TEXT to sector 1, flushes and reads it
 * back: the bytes land in the image on the host; a read-only disk refuses
 * the write; two VMs naming one writable image, or an image another
 * process has locked, are refused with an error naming both sides; two
 * readers share an image.  Needs /dev/kvm (exit 77 without it).
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guest_suite.h"
#include "run_modvm.h"

static struct run_result res;
static char dir[64], conf[128];

#define PLUGINS                                                                        \
	"host = { log_level = \"info\"; };\n"                                          \
	"plugins = { cpu-vmx = { enabled = true; }; cpu-svm = { enabled = true; };\n"  \
	"  virtio-blk = { enabled = true; io_engine = \"%s\"; }; };\n"
#define VM(name, text) \
	"  { name = \"" name "\"; memory = \"64M\"; kernel = \"builtin:demo\";\n" \
	"    cmdline = \"console=ttyS0 modvm.demo.blk=" text "\";\n"

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/modvm-blkvm-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/vm.conf", dir);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* An image of @mib MiB whose sector 0 starts with @label. */
static void image(const char *name, unsigned mib, const char *label)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_CREAT | O_RDWR | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)mib << 20), 0);
	ck_assert_int_eq(pwrite(fd, label, strlen(label), 0), (ssize_t)strlen(label));
	close(fd);
}

/* Sector 1 of image @name, as text. */
static const char *sector1(const char *name, char *buf, size_t len)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ssize_t n = pread(fd, buf, len - 1, 512);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* Writes the config (a printf format with the directory as every %1$s). */
static void write_conf(const char *engine, const char *vms)
{
	FILE *f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, PLUGINS, engine);
	fprintf(f, vms, dir);
	ck_assert_int_eq(fclose(f), 0);
}

static void run(void)
{
	run_modvm(&res, 120, "run", conf, NULL);
}

static const char *const engines[] = { "io_uring", "threads" };

START_TEST(guest_writes_flushes_and_reads_back)
{
	char buf[64];

	/* One engine only, for narrowing down (docs/nested-kvm.md: the L1 wedge). */
	const char *only = getenv("MODVM_TEST_BLK_ENGINE");
	if (only && strcmp(only, engines[_i]) != 0) {
		printf("%s variant not run: MODVM_TEST_BLK_ENGINE=%s\n", engines[_i], only);
		return;
	}
	image("data.img", 16, "modvm data disk");
	image("seed.img", 1, "modvm seed disk");
	write_conf(engines[_i],
		   "vms = (\n" VM("db", "written-by-the-guest")
		   "    virtio-blk = { disks = (\n"
		   "      { path = \"%1$s/data.img\"; serial = \"data0\"; discard = true; },\n"
		   "      { path = \"%1$s/seed.img\"; readonly = true; } ); }; } );\n");
	run();
	if (res.status != 0 && strstr(res.err, "io_engine = \"io_uring\", but")) {
		printf("io_uring variant not run: %s", strstr(res.err, "but"));
		return;
	}
	ck_assert_msg(res.status == 0, "status %d\n%s\n%s", res.status, res.out, res.err);
	const char *want[] = {
		"virtio-mmio at 0xd0001000: block",
		"demo-blk: disk0: 16 MiB, read-write, serial data0",
		"demo-blk: disk0: sector 0: modvm data disk",
		"demo-blk: disk0: wrote sector 1, flushed, read it back: written-by-the-guest",
		"demo-blk: disk1: 1 MiB, read-only",
		"demo-blk: disk1: sector 0: modvm seed disk",
		"demo-blk: disk1: write to sector 1 refused: IOERR",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(strstr(res.out, want[i]), "no \"%s\" in:\n%s", want[i], res.out);
	ck_assert_str_eq(sector1("data.img", buf, 21), "written-by-the-guest");
	ck_assert_str_eq(sector1("seed.img", buf, 8), "");
	char engine_line[64];
	snprintf(engine_line, sizeof(engine_line), "queue(s), %s I/O", engines[_i]);
	ck_assert_msg(strstr(res.err, engine_line), "%s", res.err);
}
END_TEST

/* Two VMs of one config naming one writable image: the second is refused,
 * naming both, and no VM runs (all machines are built before any starts). */
START_TEST(two_vms_one_writable_image)
{
	image("shared.img", 4, "shared");
	write_conf("auto",
		   "vms = (\n" VM("first", "x")
		   "    virtio-blk = { disks = ( { path = \"%1$s/shared.img\"; } ); }; },\n"
		   VM("second", "y")
		   "    virtio-blk = { disks = ( { path = \"%1$s/shared.img\"; } ); }; } );\n");
	run();
	ck_assert_msg(res.status != 0, "both VMs ran:\n%s", res.out);
	const char *want[] = { ":10: vms.[1].virtio-blk.disks.[0].path: \"",
			       "shared.img\": in use: VM \"first\" of this modvm has it open "
			       "read-write (vms.[0].virtio-blk.disks.[0]); a writable disk needs it "
			       "to itself (VM \"second\")" };
	for (size_t i = 0; i < 2; i++)
		ck_assert_msg(strstr(res.err, want[i]), "no \"%s\" in:\n%s", want[i], res.err);
	ck_assert_ptr_null(strstr(res.out, "Hello from the modvm demo guest"));
}
END_TEST

/* Readers share an image; a writer next to a reader is refused. */
START_TEST(readers_share_an_image)
{
	image("ro.img", 4, "read-only shared");
	write_conf("auto",
		   "vms = (\n" VM("r1", "x")
		   "    virtio-blk = { disks = ( { path = \"%1$s/ro.img\"; readonly = true; } ); }; },\n"
		   VM("r2", "y")
		   "    virtio-blk = { disks = ( { path = \"%1$s/ro.img\"; readonly = true; } ); }; } );\n");
	run();
	ck_assert_msg(res.status == 0, "status %d\n%s", res.status, res.err);
	ck_assert_ptr_nonnull(strstr(res.out, "demo-blk: disk0: sector 0: read-only shared"));

	write_conf("auto",
		   "vms = (\n" VM("w", "x")
		   "    virtio-blk = { disks = ( { path = \"%1$s/ro.img\"; } ); }; },\n"
		   VM("r", "y")
		   "    virtio-blk = { disks = ( { path = \"%1$s/ro.img\"; readonly = true; } ); }; } );\n");
	run();
	ck_assert_int_ne(res.status, 0);
	ck_assert_msg(strstr(res.err, "in use: VM \"w\" of this modvm has it open read-write "
				      "(vms.[0].virtio-blk.disks.[0]); a read-only disk cannot share "
				      "it with a writer (VM \"r\")"), "%s", res.err);
}
END_TEST

/* Another process (here: this test) holds the image: modvm names it. */
START_TEST(image_locked_by_another_process)
{
	char p[128], want[64];
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	image("busy.img", 4, "busy");
	snprintf(p, sizeof(p), "%s/busy.img", dir);
	/* O_CLOEXEC: modvm must not inherit the locked open file, or it
	 * would hold the lock itself. */
	int fd = open(p, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fcntl(fd, F_OFD_SETLK, &fl), 0);
	write_conf("auto", "vms = (\n" VM("late", "x")
			   "    virtio-blk = { disks = ( { path = \"%1$s/busy.img\"; } ); }; } );\n");
	run();
	ck_assert_int_ne(res.status, 0);
	if (strstr(res.err, "sandbox: strict")) {
		/* Without capabilities modvm cannot look into another root
		 * process's files: it says so, without a name. */
		ck_assert_msg(strstr(res.err, "in use: another process holds a lock on it; a "
					      "writable disk needs it to itself (VM \"late\")"),
			      "%s", res.err);
	} else {
		snprintf(want, sizeof(want), "in use: locked by pid %d (", (int)getpid());
		ck_assert_msg(strstr(res.err, want) && strstr(res.err, "test_blk_vm") &&
				      strstr(res.err, "for writing; a writable disk needs it to "
						      "itself (VM \"late\")"), "%s", res.err);
	}
	/* The holder gone, the same config runs. */
	close(fd);
	run();
	ck_assert_msg(res.status == 0, "%s", res.err);
	char buf[8];
	ck_assert_str_eq(sector1("busy.img", buf, 2), "x");
}
END_TEST

START_TEST(missing_image_named)
{
	write_conf("auto", "vms = (\n" VM("lost", "x")
			   "    virtio-blk = { disks = ( { path = \"%1$s/nowhere.img\"; } ); }; } );\n");
	run();
	ck_assert_int_ne(res.status, 0);
	ck_assert_msg(strstr(res.err, ":7: vms.[0].virtio-blk.disks.[0].path: \"") &&
			      strstr(res.err, "nowhere.img\": cannot open it read-write: No such "
					      "file or directory (VM \"lost\")"), "%s", res.err);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("blk_vm");
	guest_suite_add_loop(s, guest_writes_flushes_and_reads_back, 0, 2, 300, setup, teardown);
	const TTest *tests[] = { two_vms_one_writable_image, readers_share_an_image,
				 image_locked_by_another_process, missing_image_named };
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		guest_suite_add(s, tests[i], 300, setup, teardown);
	return s;
}

int main(int argc, char **argv)
{
	char why[256];

	if (argc < 2) {
		fprintf(stderr, "usage: %s MODVM_BINARY\n", argv[0]);
		return 2;
	}
	if (!kvm_usable(why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	run_modvm_init(argv[1]);
	return guest_suite_run(make_suite);
}
