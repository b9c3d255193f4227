/*
 * Debian's Linux to userspace and back out under modvm, with its own
 * drivers: the guest's userspace prints through the console tty (the
 * 16550's interrupt path), sees every vCPU, reads the wall clock from our
 * RTC and random bytes from our virtio-rng through /dev/hwrng; `poweroff`
 * ends modvm with 0, `reboot` restarts the VM or stops it as on_reboot
 * says, `halt` ends it instead of hanging.  Both entries: the bzImage's
 * 64-bit boot protocol and the ELF vmlinux's PVH note.
 *
 * Needs a KVM with hardware virtualization: natively on VMX/SVM hosts,
 * elsewhere inside the nested SVM test host (scripts/kvm-exec).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guest/linux_image.h"
#include "guest_suite.h"
#include "run_modvm.h"

static struct linux_kit kit;
static struct run_result res;

/* The drivers every scenario loads: virtio-mmio and the virtio-rng. */
static const char *const base_modules[] = { "virtio_mmio", "virtio_rng", NULL };

struct guest {
	char dir[64];
	char initrd[128];
	char conf[128];
};

/* An initramfs with @script and a config booting it; @extra goes into the VM group. */
static void guest_make(struct guest *g, const char *kernel, const char *script,
		       const char *extra)
{
	snprintf(g->dir, sizeof(g->dir), "/tmp/modvm-linux-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(g->dir));
	snprintf(g->initrd, sizeof(g->initrd), "%s/initrd.cpio", g->dir);
	ck_assert_int_eq(linux_image(&kit, g->initrd, base_modules, script), 0);
	snprintf(g->conf, sizeof(g->conf), "%s/vm.conf", g->dir);
	FILE *f = fopen(g->conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"plugins = { cpu-vmx = { enabled = true; }; cpu-svm = { enabled = true; }; };\n"
		"vms = ( { name = \"linux\"; vcpus = 2; memory = \"256M\";\n"
		"          kernel = \"%s\"; initrd = \"%s\";\n"
		"          cmdline = \"console=ttyS0 rdinit=/init panic=-1\";\n"
		"          %s } );\n",
		kernel, g->initrd, extra ? extra : "");
	ck_assert_int_eq(fclose(f), 0);
}

static void guest_remove(struct guest *g)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g->dir);
	ck_assert_int_eq(system(cmd), 0);
}

#define OUT run_tail(res.out, 2500)
#define ERR run_tail(res.err, 1000)

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

static const char probe_script[] =
	"echo modvm-guest: cpus $(grep -c ^processor /proc/cpuinfo)\n"
	"echo modvm-guest: online $(cat /sys/devices/system/cpu/online)\n"
	"echo modvm-guest: rtc $(cat /sys/class/rtc/rtc0/since_epoch)\n"
	"echo modvm-guest: hwrng $(cat /sys/class/misc/hw_random/rng_current)\n"
	"echo modvm-guest: random $(dd if=/dev/hwrng bs=16 count=1 2>/dev/null | od -An -tx1 | tr -d ' \\n')\n"
	"poweroff -f\n";

/* What every probe run must show; @entry names the boot path for messages. */
static void check_probe(const char *entry, double t)
{
	char buf[128];
	time_t now = time(NULL);

	ck_assert_msg(t >= 0, "%s: modvm did not end by itself after poweroff\nstdout:\n%s\nstderr:\n%s",
		      entry, OUT, ERR);
	ck_assert_msg(res.status == 0, "%s: exit %d\n%s", entry, res.status, ERR);
	ck_assert_ptr_nonnull(strstr(res.out, "modvm-guest: up"));
	ck_assert_ptr_null(strstr(res.out, "insmod"));
	ck_assert_str_eq(guest_says("cpus", buf, sizeof(buf)), "2");
	ck_assert_str_eq(guest_says("online", buf, sizeof(buf)), "0-1");
	ck_assert_ptr_nonnull(guest_says("rtc", buf, sizeof(buf)));
	long rtc = atol(buf);
	ck_assert_msg(rtc > now - 600 && rtc <= now + 5, "%s: guest RTC %ld, host %ld", entry, rtc,
		      (long)now);
	ck_assert_str_eq(guest_says("hwrng", buf, sizeof(buf)), "virtio_rng.0");
	ck_assert_ptr_nonnull(guest_says("random", buf, sizeof(buf)));
	ck_assert_uint_eq(strlen(buf), 32);
	ck_assert_str_ne(buf, "00000000000000000000000000000000");
}

/* Runs until modvm ends by itself (the guest powered off), at most @timeout_s. */
static double run_to_end(const char *conf, int timeout_s)
{
	const char *const never[] = { "modvm-test: never printed", NULL };
	const char *const args[] = { "run", conf, NULL };
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	double seen = run_modvm_until(&res, timeout_s, never, args);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double t = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	(void)seen;
	return t < timeout_s - 1 ? t : -1;	/* SIGTERM at the timeout: it did not end */
}

START_TEST(bzimage_userspace_devices_poweroff)
{
	struct guest g;
	guest_make(&g, kit.vmlinuz, probe_script, NULL);
	double t = run_to_end(g.conf, 240);
	guest_remove(&g);
	check_probe("bzImage", t);
	printf("bzImage: userspace, 2 CPUs, RTC, virtio-rng, poweroff in %.1f s\n", t);
}
END_TEST

START_TEST(pvh_vmlinux_userspace_poweroff)
{
	struct guest g;
	if (access(kit.vmlinux, R_OK) != 0) {
		printf("pvh: no ELF vmlinux extracted in the kernel cache: not run\n");
		return;
	}
	guest_make(&g, kit.vmlinux, probe_script, "boot_entry = \"pvh\";");
	double t = run_to_end(g.conf, 240);
	guest_remove(&g);
	check_probe("ELF vmlinux, PVH entry", t);
	printf("vmlinux (PVH): userspace, 2 CPUs, RTC, virtio-rng, poweroff in %.1f s\n", t);
}
END_TEST

START_TEST(reboot_with_on_reboot_stop)
{
	struct guest g;
	guest_make(&g, kit.vmlinuz, "echo modvm-guest: rebooting\nreboot -f\n",
		   "on_reboot = \"stop\";");
	double t = run_to_end(g.conf, 120);
	guest_remove(&g);
	ck_assert_msg(t >= 0, "reboot did not end modvm\n%s\n%s", OUT, ERR);
	ck_assert_msg(res.status == 0, "exit %d\n%s", res.status, ERR);
	ck_assert_ptr_nonnull(strstr(res.out, "modvm-guest: rebooting"));
	ck_assert_ptr_nonnull(strstr(res.out, "reboot: Restarting system"));
}
END_TEST

static bool booted_twice(int pid, const char *out, void *ud)
{
	(void)pid;
	(void)ud;
	const char *first = strstr(out, "modvm-guest: up");
	return first && strstr(first + 1, "modvm-guest: up");
}

START_TEST(reboot_restarts_the_vm)
{
	struct guest g;
	guest_make(&g, kit.vmlinuz, "echo modvm-guest: rebooting\nreboot -f\n", NULL);
	const char *const args[] = { "run", g.conf, NULL };
	double t = run_modvm_watch(&res, 300, args, booted_twice, NULL);
	guest_remove(&g);
	ck_assert_msg(t >= 0, "no second boot after the guest's reboot\n%s\n%s", OUT, ERR);
	ck_assert_msg(res.status == 0, "exit %d after SIGTERM\n%s", res.status, ERR);
	printf("reboot: the VM came back (second userspace) after %.1f s\n", t);
}
END_TEST

START_TEST(halt_ends_the_vm)
{
	struct guest g;
	guest_make(&g, kit.vmlinuz, "echo modvm-guest: halting\nhalt -f\n", NULL);
	double t = run_to_end(g.conf, 240);
	guest_remove(&g);
	ck_assert_msg(t >= 0, "a halted guest kept modvm running\n%s\n%s", OUT, ERR);
	ck_assert_msg(res.status == 0, "exit %d after the guest's halt\n%s\n%s", res.status, OUT,
		      ERR);
	ck_assert_ptr_nonnull(strstr(res.out, "reboot: System halted"));
	ck_assert_ptr_nonnull(strstr(res.err, "every vCPU halted with interrupts disabled"));
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("linux-guest");
	TCase *boot = tcase_create("boot");	/* CK_RUN_CASE=boot runs these only */
	tcase_set_timeout(boot, 400);
	tcase_add_test(boot, bzimage_userspace_devices_poweroff);
	tcase_add_test(boot, pvh_vmlinux_userspace_poweroff);
	suite_add_tcase(s, boot);
	TCase *power = tcase_create("power");
	tcase_set_timeout(power, 400);
	tcase_add_test(power, reboot_with_on_reboot_stop);
	tcase_add_test(power, reboot_restarts_the_vm);
	tcase_add_test(power, halt_ends_the_vm);
	suite_add_tcase(s, power);
	return s;
}

int main(int argc, char **argv)
{
	char why[256];

	if (argc < 2)
		return 2;
	if (!kvm_hw_usable(why, sizeof(why)) || !linux_kit_find(&kit, why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	run_modvm_init(argv[1]);
	return guest_suite_run(make_suite);
}
