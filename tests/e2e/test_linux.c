/*
 * A real Linux kernel under modvm: Debian's cloud kernel, fetched by
 * scripts/fetch-test-kernel.sh into a cache outside the repo.  On every host
 * the kernel's own banner, the command line it received and the e820 map we
 * gave must appear on our serial console.  Hosts whose KVM emulates ring 0
 * (kvm_pvm) stop the kernel a little later; booting to the initramfs's init
 * needs hardware VMX/SVM and is skipped elsewhere with the reason printed;
 * there it must see the virtio-rng device modvm announces (device id 4).
 */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run_modvm.h"

static char kernel_dir[PATH_MAX];
static const char *initrd;	/* the bzimage mode's initramfs (argv[3]) */
static struct run_result res;

static const char *write_config(const char *kernel, unsigned vcpus, const char *initramfs)
{
	static char path[] = "/tmp/modvm-linux-XXXXXX.conf";
	strcpy(path, "/tmp/modvm-linux-XXXXXX.conf");
	int fd = mkstemps(path, 5);
	ck_assert_int_ge(fd, 0);
	FILE *f = fdopen(fd, "w");
	fprintf(f,
		"plugins = { cpu-vmx = { enabled = true; }; cpu-svm = { enabled = true; }; };\n"
		"vms = ( { name = \"linux\"; vcpus = %u; memory = \"256M\"; rng = false;\n"
		"          kernel = \"%s/%s\";\n",
		vcpus, kernel_dir, kernel);
	if (initramfs)
		fprintf(f, "          initrd = \"%s\";\n"
			   "          cmdline = \"console=ttyS0 earlyprintk=ttyS0 rdinit=/init\"; } );\n", initramfs);
	else
		fprintf(f, "          cmdline = \"console=ttyS0 earlyprintk=ttyS0 modvm.test=banner\"; } );\n");
	fclose(f);
	return path;
}

START_TEST(vmlinux_prints_banner_cmdline_and_our_e820)
{
	const char *conf = write_config("vmlinux", 2, NULL);
	const char *const until[] = { "Linux version ", "Command line: console=ttyS0 earlyprintk=ttyS0 modvm.test=banner",
				      "BIOS-e820: [mem 0x0000000000100000-0x000000000fffffff] usable", NULL };
	const char *const args[] = { "run", conf, NULL };
	double t = run_modvm_until(&res, 60, until, args);
	unlink(conf);
	ck_assert_msg(t >= 0, "banner not seen within 60 s\nstdout:\n%s\nstderr:\n%s", res.out, res.err);
	ck_assert_ptr_nonnull(strstr(res.out, "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable"));
	ck_assert_ptr_nonnull(strstr(res.out, "BIOS-e820: [mem 0x000000000009fc00-0x00000000000fffff] reserved"));
	/* SIGTERM (or the kernel reaching an instruction this KVM can't run)
	 * ends the run; either way the process must stop cleanly. */
	ck_assert_msg(res.status == 0 || res.status == 1, "exit %d\n%s", res.status, res.err);
	printf("linux banner + e820 after %.2f s\n", t);
}
END_TEST

START_TEST(bzimage_boots_to_init)
{
	const char *conf = write_config("vmlinuz", 2, initrd);
	/* Debian's cloud kernel builds virtio and virtio_mmio as modules and
	 * without VIRTIO_MMIO_CMDLINE_DEVICES, so it cannot see our
	 * virtio_mmio.device= devices from this module-less initramfs: the
	 * test asserts reaching /init and prints what init found. */
	const char *const until[] = { "Linux version ", "smp: Brought up 1 node, 2 CPUs", "modvm-init: hello from init",
				      "modvm-init: virtio devices: ", NULL };
	const char *const args[] = { "run", conf, NULL };
	double t = run_modvm_until(&res, 60, until, args);
	unlink(conf);
	ck_assert_msg(t >= 0, "bzImage did not reach /init with 2 CPUs within 60 s\n%s", res.out);
	printf("bzImage: /init reached after %.2f s\n", t);
}
END_TEST

/* VMX or SVM in /proc/cpuinfo: ring 0 runs in hardware, not emulated. */
static bool hardware_virt(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	bool found = false;
	while (f && !found && fgets(line, sizeof(line), f))
		found = strncmp(line, "flags", 5) == 0 && (strstr(line, " vmx") || strstr(line, " svm"));
	if (f)
		fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	char why[256];
	const char *cache = getenv("MODVM_KERNEL_CACHE");
	bool bzimage = argc > 2 && strcmp(argv[2], "bzimage") == 0;
	if (argc < 2 || (bzimage && argc < 4))
		return 2;
	if (bzimage)
		initrd = argv[3];
	if (bzimage && !hardware_virt()) {
		/* Decompressing a bzImage in ring 0 takes minutes under emulation. */
		printf("SKIP: bzImage boot needs hardware VMX/SVM; this CPU shows neither (KVM emulates ring 0)\n");
		return 77;
	}
	if (!kvm_usable(why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	snprintf(kernel_dir, sizeof(kernel_dir), "%s", cache ? cache : "/var/cache/modvm-test-kernel");
	char probe[PATH_MAX + 16];
	snprintf(probe, sizeof(probe), "%s/vmlinux", kernel_dir);
	if (access(probe, R_OK) != 0) {
		printf("SKIP: no test kernel in %s (run scripts/fetch-test-kernel.sh)\n", kernel_dir);
		return 77;
	}
	run_modvm_init(argv[1]);
	Suite *s = suite_create("e2e-linux");
	TCase *t = tcase_create("linux");
	tcase_set_timeout(t, 150);
	if (bzimage)
		tcase_add_test(t, bzimage_boots_to_init);
	else
		tcase_add_test(t, vmlinux_prints_banner_cmdline_and_our_e820);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
