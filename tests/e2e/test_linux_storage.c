/*
 * Debian's Linux with its root file system on a modvm disk, and nothing
 * lost.  Each scenario makes an ext4 image with `mke2fs -d` from a small
 * tree (busybox and an /sbin/init that runs the scenario), boots an
 * initramfs that loads virtio_mmio and virtio_blk, mounts /dev/vda and
 * switch_roots into it, and checks the image on the host afterwards:
 *
 *  - the guest writes a file, syncs, remounts / read-only and powers off:
 *    `e2fsck -fn` finds the file system clean and the file is there;
 *  - the guest writes a file and syncs, and modvm is killed with SIGKILL
 *    the moment `sync` returned: after the journal is replayed the file
 *    system is clean and the file is there, and a second boot reads it;
 *  - a second disk given read-only: the guest sees it read-only, its
 *    writes are refused, the image is unchanged.
 *
 * Needs a KVM with hardware virtualization (natively on VMX/SVM hosts,
 * elsewhere inside the nested test host, scripts/kvm-exec, which must bring
 * mke2fs, e2fsck and debugfs along: MODVM_NESTED_BINS) and e2fsprogs.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/linux_image.h"
#include "guest_suite.h"
#include "run_modvm.h"

static struct linux_kit kit;
static struct run_result res;
static char dir[64];

#define MSG "written by Linux on a modvm disk"

/* The initramfs: virtio-mmio and virtio-blk, then the root file system. */
static const char *const modules[] = { "virtio_mmio", "virtio_blk", NULL };
static const char switch_to_disk[] =
	"for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 1; done\n"
	"echo modvm-guest: disks $(ls /sys/block | grep vd)\n"
	"mkdir -p /newroot\n"
	"if ! mount -t ext4 /dev/vda /newroot; then\n"
	"  echo modvm-guest: cannot mount /dev/vda; poweroff -f\n"
	"fi\n"
	"umount /tmp\n"
	"mount --move /dev /newroot/dev\n"
	"mount --move /proc /newroot/proc\n"
	"mount --move /sys /newroot/sys\n"
	"exec switch_root /newroot /sbin/init\n";

/* What the root file system's /sbin/init does before the scenario. */
static const char init_prologue[] =
	"#!/bin/sh\n"
	"exec </dev/console >/dev/console 2>&1\n"
	"echo \"modvm-guest: root $(awk '$2 == \"/\" { print $1, $3 }' /proc/mounts)\"\n";

static const char *const applets[] = { "sh", "echo", "cat", "mount", "umount", "sync",
				       "poweroff", "sleep", "awk", "dd", "mkdir", "ls", "grep",
				       "tr", "md5sum", "cut", NULL };

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int vrun(const char *fmt, va_list ap)
{
	char cmd[2048];
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run_sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vrun(fmt, ap);
	va_end(ap);
	return r;
}

static void sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vrun(fmt, ap);
	va_end(ap);
	ck_assert_msg(r == 0, "a shell command failed (%d)", r);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(close(fd), 0);
}

/* An ext4 image @name of @mib MiB made with mke2fs -d from a tree holding
 * busybox and an /sbin/init running @scenario. */
static void rootfs(const char *name, unsigned mib, const char *scenario)
{
	char tree[128], p[256];

	snprintf(tree, sizeof(tree), "%s/tree-%s", dir, name);
	sh("mkdir -p %s/bin %s/sbin %s/dev %s/proc %s/sys %s/tmp %s/mnt && cp %s %s/bin/busybox",
	   tree, tree, tree, tree, tree, tree, tree, kit.busybox, tree);
	for (size_t i = 0; applets[i]; i++) {
		snprintf(p, sizeof(p), "%s/bin/%s", tree, applets[i]);
		ck_assert_int_eq(symlink("busybox", p), 0);
	}
	size_t n = strlen(init_prologue) + strlen(scenario) + 1;
	char *init = malloc(n);
	ck_assert_ptr_nonnull(init);
	snprintf(init, n, "%s%s", init_prologue, scenario);
	snprintf(p, sizeof(p), "%s/sbin/init", tree);
	write_file(p, init, 0755);
	free(init);
	sh("mke2fs -q -F -t ext4 -L modvmroot -d %s %s/%s %uM", tree, dir, name, mib);
}

/* A config booting the initramfs with @disks as the VM's disk list. */
static void config(const char *disks)
{
	char initrd[128], conf[128];

	snprintf(initrd, sizeof(initrd), "%s/initrd.cpio", dir);
	if (access(initrd, R_OK) != 0)
		ck_assert_int_eq(linux_image(&kit, initrd, modules, switch_to_disk), 0);
	snprintf(conf, sizeof(conf), "%s/vm.conf", dir);
	FILE *f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"plugins = { cpu-vmx = { enabled = true; }; cpu-svm = { enabled = true; };\n"
		"  virtio-blk = { enabled = true; }; };\n"
		"vms = ( { name = \"linux\"; vcpus = 2; memory = \"256M\";\n"
		"          kernel = \"%s\"; initrd = \"%s\";\n"
		"          cmdline = \"console=ttyS0 rdinit=/init panic=-1\";\n"
		"          virtio-blk = { disks = ( %s ); }; } );\n",
		kit.vmlinuz, initrd, disks);
	ck_assert_int_eq(fclose(f), 0);
}

static const char *conf_path(void)
{
	static char conf[128];
	snprintf(conf, sizeof(conf), "%s/vm.conf", dir);
	return conf;
}

/* Runs until modvm ends by itself; false if it had to be stopped. */
static bool run_to_end(int timeout_s)
{
	const char *const never[] = { "modvm-test: never printed", NULL };
	const char *const args[] = { "run", conf_path(), NULL };
	(void)run_modvm_until(&res, timeout_s, never, args);
	/* SIGTERM at the timeout leaves "stopped" after a signal line; a guest
	 * power-off ends with status 0 well before. */
	return strstr(res.out, "modvm-guest: done") != NULL;
}

/* The value after "modvm-guest: KEY " on the console, or NULL. */
static const char *guest_says(const char *key, char *buf, size_t len)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "modvm-guest: %s ", key);
	const char *p = strstr(res.out, needle);
	if (!p)
		return NULL;
	p += strlen(needle);
	size_t n = strcspn(p, "\r\n");
	snprintf(buf, len, "%.*s", (int)(n < len ? n : len - 1), p);
	return buf;
}

/* The contents of @file in ext4 image @img (debugfs, no mount needed). */
static void image_cat(const char *img, const char *file, char *buf, size_t len)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "debugfs -R 'cat %s' %s/%s 2>/dev/null", file, dir, img);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	size_t n = fread(buf, 1, len - 1, p);
	buf[n] = '\0';
	pclose(p);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/modvm-linux-disk-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	sh("rm -rf %s", dir);
}

START_TEST(root_on_disk_write_sync_poweroff)
{
	char buf[256];

	rootfs("root.img", 64,
	       "echo '" MSG "' > /hello.txt\n"
	       "sync\n"
	       "echo modvm-guest: synced\n"
	       "mount -o remount,ro /\n"
	       "echo modvm-guest: done\n"
	       "poweroff -f\n");
	config("{ path = \"root.img\"; serial = \"root0\"; }");
	/* Relative image paths are the working directory's, like QEMU's. */
	ck_assert_int_eq(chdir(dir), 0);
	bool ended = run_to_end(300);
	ck_assert_msg(ended && res.status == 0, "status %d\nstdout:\n%s\nstderr:\n%s", res.status,
		      run_tail(res.out, 1500), run_tail(res.err, 1500));
	ck_assert_str_eq(guest_says("disks", buf, sizeof(buf)), "vda");
	ck_assert_str_eq(guest_says("root", buf, sizeof(buf)), "/dev/vda ext4");
	ck_assert_ptr_nonnull(strstr(res.out, "modvm-guest: synced"));
	/* On the host: a clean file system, with the file. */
	ck_assert_msg(run_sh("e2fsck -fn %s/root.img >/dev/null 2>&1", dir) == 0,
		      "e2fsck -fn found problems in the image after a clean power-off");
	image_cat("root.img", "/hello.txt", buf, sizeof(buf));
	ck_assert_str_eq(buf, MSG);
	printf("root on /dev/vda: wrote, synced, powered off; e2fsck -fn clean, file there\n");
}
END_TEST

/* kill -9 the moment the guest's sync returned. */
static bool synced_then_kill(int pid, const char *out, void *ud)
{
	(void)ud;
	if (!strstr(out, "modvm-guest: synced"))
		return false;
	kill(pid, SIGKILL);
	return true;
}

START_TEST(root_on_disk_killed_after_sync)
{
	char buf[256];

	rootfs("root.img", 64,
	       "if [ -e /hello.txt ]; then\n"
	       "  echo \"modvm-guest: found $(cat /hello.txt)\"\n"
	       "  echo modvm-guest: done\n"
	       "  poweroff -f\n"
	       "fi\n"
	       "echo '" MSG "' > /hello.txt\n"
	       "sync\n"
	       "echo modvm-guest: synced\n"
	       "sleep 1000\n");
	config("{ path = \"root.img\"; }");
	ck_assert_int_eq(chdir(dir), 0);
	const char *const args[] = { "run", conf_path(), NULL };
	double t = run_modvm_watch(&res, 300, args, synced_then_kill, NULL);
	ck_assert_msg(t >= 0, "the guest never synced\nstdout:\n%s\nstderr:\n%s",
		      run_tail(res.out, 1500), run_tail(res.err, 1500));
	ck_assert_int_eq(res.status, -1);	/* died of SIGKILL */
	/* Unclean (the guest never unmounted): replay the journal, then the
	 * file system must be clean and hold the file. */
	int fix = run_sh("e2fsck -fy %s/root.img >/dev/null 2>&1", dir);
	ck_assert_msg(fix == 0 || fix == 1, "e2fsck -fy exit %d", fix);
	ck_assert_msg(run_sh("e2fsck -fn %s/root.img >/dev/null 2>&1", dir) == 0,
		      "not clean after the journal replay");
	image_cat("root.img", "/hello.txt", buf, sizeof(buf));
	ck_assert_str_eq(buf, MSG);
	/* The lock died with the process: the same image boots again, and the
	 * guest finds its file. */
	ck_assert_msg(run_to_end(300), "second boot\nstdout:\n%s\nstderr:\n%s",
		      run_tail(res.out, 1500), run_tail(res.err, 1500));
	ck_assert_str_eq(guest_says("found", buf, sizeof(buf)), MSG);
	printf("root on /dev/vda: SIGKILL %.1f s after boot, right after sync; journal replayed, "
	       "clean, file there, and the next boot reads it\n", t);
}
END_TEST

START_TEST(read_only_disk_refuses_writes)
{
	char buf[256], before[64], after[64];

	sh("mkdir -p %s/seed && echo seed > %s/seed/seed.txt && "
	   "mke2fs -q -F -t ext4 -d %s/seed %s/seed.img 8M", dir, dir, dir, dir);
	sh("md5sum < %s/seed.img > %s/seed.md5", dir, dir);
	rootfs("root.img", 64,
	       "echo modvm-guest: vdb-ro $(cat /sys/block/vdb/ro)\n"
	       "if dd if=/dev/zero of=/dev/vdb bs=512 count=1 conv=fsync 2>/dev/null; then\n"
	       "  echo modvm-guest: raw-write accepted\n"
	       "else\n"
	       "  echo modvm-guest: raw-write refused\n"
	       "fi\n"
	       "mount -t ext4 /dev/vdb /mnt 2>/dev/null || mount -t ext4 -o ro /dev/vdb /mnt\n"
	       "echo modvm-guest: vdb-mount $(awk '$2 == \"/mnt\" { print $4 }' /proc/mounts | cut -d, -f1)\n"
	       "if echo x > /mnt/new.txt 2>/dev/null; then\n"
	       "  echo modvm-guest: fs-write accepted\n"
	       "else\n"
	       "  echo modvm-guest: fs-write refused\n"
	       "fi\n"
	       "ls /mnt/seed.txt >/dev/null && echo modvm-guest: seed present\n"
	       "umount /mnt\n"
	       "mount -o remount,ro /\n"
	       "echo modvm-guest: done\n"
	       "poweroff -f\n");
	config("{ path = \"root.img\"; }, { path = \"seed.img\"; readonly = true; }");
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_msg(run_to_end(300) && res.status == 0, "status %d\nstdout:\n%s\nstderr:\n%s",
		      res.status, run_tail(res.out, 1500), run_tail(res.err, 1500));
	ck_assert_str_eq(guest_says("disks", buf, sizeof(buf)), "vda vdb");
	ck_assert_str_eq(guest_says("vdb-ro", buf, sizeof(buf)), "1");
	ck_assert_str_eq(guest_says("raw-write", buf, sizeof(buf)), "refused");
	ck_assert_str_eq(guest_says("vdb-mount", buf, sizeof(buf)), "ro");
	ck_assert_str_eq(guest_says("fs-write", buf, sizeof(buf)), "refused");
	ck_assert_str_eq(guest_says("seed", buf, sizeof(buf)), "present");
	/* Not one byte of the read-only image changed. */
	sh("md5sum < %s/seed.img > %s/seed.md5.after", dir, dir);
	snprintf(buf, sizeof(buf), "%s/seed.md5", dir);
	FILE *f = fopen(buf, "r");
	ck_assert_ptr_nonnull(fgets(before, sizeof(before), f));
	fclose(f);
	snprintf(buf, sizeof(buf), "%s/seed.md5.after", dir);
	f = fopen(buf, "r");
	ck_assert_ptr_nonnull(fgets(after, sizeof(after), f));
	fclose(f);
	ck_assert_str_eq(before, after);
	printf("read-only /dev/vdb: ro in the guest, raw and file writes refused, image unchanged\n");
}
END_TEST

static bool have(const char *prog, char *why, size_t len)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	if (system(cmd) == 0)
		return true;
	snprintf(why, len, "no %s here (apt-get install e2fsprogs; through scripts/kvm-exec, "
		 "MODVM_NESTED_BINS must name it)", prog);
	return false;
}

static Suite *make_suite(void)
{
	Suite *s = suite_create("linux-storage");
	TCase *t = tcase_create("storage");
	tcase_set_timeout(t, 900);
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, root_on_disk_write_sync_poweroff);
	tcase_add_test(t, root_on_disk_killed_after_sync);
	tcase_add_test(t, read_only_disk_refuses_writes);
	suite_add_tcase(s, t);
	return s;
}

int main(int argc, char **argv)
{
	char why[256];

	if (argc < 2)
		return 2;
	if (!kvm_hw_usable(why, sizeof(why)) || !linux_kit_find(&kit, why, sizeof(why)) ||
	    !have("mke2fs", why, sizeof(why)) || !have("e2fsck", why, sizeof(why)) ||
	    !have("debugfs", why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	run_modvm_init(argv[1]);
	return guest_suite_run(make_suite);
}
