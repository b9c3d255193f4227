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

#include "guest_suite.h"
#include "run_modvm.h"

static char kernel_dir[PATH_MAX];
static const char *init_exe;	/* the bzimage mode's /init (argv[3]) */
static const char *mkcpio;	/* and the archiver that packs it (argv[4]) */
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
		"vms = ( { name = \"linux\"; vcpus = %u; memory = \"256M\"; rng = true;\n"
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
	ck_assert_msg(t >= 0, "banner not seen within 60 s\nstdout:\n%s\nstderr:\n%s",
		      run_tail(res.out, 2500), run_tail(res.err, 1000));
	ck_assert_ptr_nonnull(strstr(res.out, "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable"));
	ck_assert_ptr_nonnull(strstr(res.out, "BIOS-e820: [mem 0x000000000009fc00-0x00000000000fffff] reserved"));
	/* SIGTERM (or the kernel reaching an instruction this KVM can't run)
	 * ends the run; either way the process must stop cleanly. */
	ck_assert_msg(res.status == 0 || res.status == 1, "exit %d\n%s", res.status,
		      run_tail(res.err, 2000));
	printf("linux banner + e820 after %.2f s\n", t);
}
END_TEST

/* The virtio modules Debian's cloud kernel needs to see a virtio-rng on
 * virtio-mmio (it builds them as modules), in load order: virtio.ko needs
 * virtio_ring's symbols (checked under QEMU TCG, which reported "virtio:
 * Unknown symbol virtio_break_device" the other way round). */
static const char *const modules[] = {
	"kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/virtio/virtio.ko",
	"kernel/drivers/virtio/virtio_mmio.ko", "kernel/drivers/char/hw_random/virtio-rng.ko",
};
#define N_MODULES (sizeof(modules) / sizeof(modules[0]))

/* Packs /init and, when the kernel cache has them, the virtio modules plus
 * /modules.load into @out.  Returns whether the modules are in. */
static bool pack_initramfs(const char *dir, char *out, size_t outlen)
{
	char moddir[PATH_MAX + 64], list[PATH_MAX + 64], cmd[8192], path[PATH_MAX + 256];
	bool have = false;

	snprintf(out, outlen, "%s/initramfs.cpio", dir);
	snprintf(list, sizeof(list), "%s/modules.load", dir);
	snprintf(cmd, sizeof(cmd), "ls -d %s/root/lib/modules/*/ 2>/dev/null | head -1", kernel_dir);
	FILE *p = popen(cmd, "r");
	moddir[0] = '\0';
	if (p && fgets(moddir, sizeof(moddir), p))
		moddir[strcspn(moddir, "\n")] = '\0';
	if (p)
		pclose(p);
	int n = snprintf(cmd, sizeof(cmd), "%s %s %s", mkcpio, init_exe, out);
	if (moddir[0]) {
		FILE *l = fopen(list, "w");
		ck_assert_ptr_nonnull(l);
		have = true;
		for (size_t i = 0; i < N_MODULES; i++) {
			const char *base = strrchr(modules[i], '/') + 1;
			snprintf(path, sizeof(path), "%s%s", moddir, modules[i]);
			have = have && access(path, R_OK) == 0;
			fprintf(l, "%s\n", base);
			n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, " %s=%s", base, path);
		}
		ck_assert_int_eq(fclose(l), 0);
		if (have)
			snprintf(cmd + n, sizeof(cmd) - (size_t)n, " modules.load=%s", list);
	}
	if (!have)
		snprintf(cmd, sizeof(cmd), "%s %s %s", mkcpio, init_exe, out);
	ck_assert_int_eq(system(cmd), 0);
	return have;
}

START_TEST(bzimage_boots_to_init)
{
	char dir[] = "/tmp/modvm-initramfs-XXXXXX", cpio[64], cmd[128];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	bool modules_in = pack_initramfs(dir, cpio, sizeof(cpio));
	const char *conf = write_config("vmlinuz", 2, cpio);
	/* With the modules, the kernel finds the virtio-mmio window through
	 * the DSDT's LNRO0005 device (it ignores virtio_mmio.device=) and binds
	 * the virtio-rng (device id 4). */
	const char *const with[] = { "Linux version ", "smp: Brought up 1 node, 2 CPUs",
				     "modvm-init: hello from init", "modvm-init: loaded virtio_mmio.ko",
				     "device 0x0004", "modvm-init: virtio devices: 1", NULL };
	const char *const without[] = { "Linux version ", "smp: Brought up 1 node, 2 CPUs",
					"modvm-init: hello from init", "modvm-init: virtio devices: ",
					NULL };
	const char *const args[] = { "run", conf, NULL };
	double t = run_modvm_until(&res, 60, modules_in ? with : without, args);
	unlink(conf);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_msg(t >= 0, "bzImage did not reach /init%s with 2 CPUs within 60 s\n%s",
		      modules_in ? " and its virtio-rng" : "", run_tail(res.out, 3000));
	printf("bzImage: /init reached after %.2f s%s\n", t,
	       modules_in ? ", virtio-rng found through the DSDT"
			  : " (no virtio modules in the kernel cache: devices not checked)");
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

static Suite *make_vmlinux_suite(void)
{
	Suite *s = suite_create("e2e-linux");
	guest_suite_add(s, vmlinux_prints_banner_cmdline_and_our_e820, 150, NULL, NULL);
	return s;
}

static Suite *make_bzimage_suite(void)
{
	Suite *s = suite_create("e2e-linux");
	guest_suite_add(s, bzimage_boots_to_init, 150, NULL, NULL);
	return s;
}

int main(int argc, char **argv)
{
	char why[256];
	const char *cache = getenv("MODVM_KERNEL_CACHE");
	bool bzimage = argc > 2 && strcmp(argv[2], "bzimage") == 0;
	if (argc < 2 || (bzimage && argc < 5))
		return 2;
	if (bzimage) {
		init_exe = argv[3];
		mkcpio = argv[4];
	}
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
	return guest_suite_run(bzimage ? make_bzimage_suite : make_vmlinux_suite);
}
