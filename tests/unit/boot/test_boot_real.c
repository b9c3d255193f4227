/*
 * The loader against Debian's real cloud kernel, fetched beforehand by
 * scripts/fetch-test-kernel.sh into $MODVM_KERNEL_CACHE (default
 * /var/cache/modvm-test-kernel).  Never downloads: without the cache the
 * whole program skips (exit 77) and says why; without an extracted vmlinux
 * the ELF tests are left out, also with a printed reason.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "synth.h"

static char vmlinuz[4096], vmlinux[4096];
static char err[256];

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf;
	long n;

	ck_assert_msg(fp != NULL, "%s: cannot open", path);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)n);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

START_TEST(real_bzimage_header)
{
	struct modvm__bzimage bz;
	size_t len;
	uint8_t *img = slurp(vmlinuz, &len);

	ck_assert_msg(modvm__boot_bzimage_parse(img, len, vmlinuz, &bz, err, sizeof(err)) == 0,
		      "%s", err);
	printf("%s: protocol %u.%02u setup_sects %u loadflags 0x%02x xloadflags 0x%04x "
	       "relocatable %u kernel_alignment 0x%x pref_address 0x%llx init_size 0x%x "
	       "cmdline_size %u initrd_addr_max 0x%x kernel %llu bytes\n",
	       vmlinuz, bz.version >> 8, bz.version & 0xff, bz.setup_sects, bz.loadflags,
	       bz.xloadflags, bz.relocatable, bz.kernel_alignment,
	       (unsigned long long)bz.pref_address, bz.init_size, bz.cmdline_size,
	       bz.initrd_addr_max, (unsigned long long)bz.kernel_size);
	ck_assert_uint_ge(bz.version, 0x020c);
	ck_assert_uint_eq(bz.xloadflags & 1, 1);	/* XLF_KERNEL_64 */
	ck_assert_uint_eq(bz.loadflags & 1, 1);
	ck_assert_uint_eq(bz.relocatable, 1);
	ck_assert_uint_eq(bz.kernel_alignment & (bz.kernel_alignment - 1), 0);
	ck_assert_uint_ge(bz.pref_address, 0x100000);
	ck_assert_uint_gt(bz.init_size, bz.kernel_size);
	ck_assert_uint_ge(bz.cmdline_size, 255);
	free(img);
}
END_TEST

START_TEST(real_bzimage_load)
{
	const struct modvm__boot_mmio_dev dev = { .base = 0xd0000000, .size = 0x1000, .irq = 5 };
	struct fake_ram f;
	struct modvm__boot_config cfg;
	struct modvm__boot_info info;
	struct modvm__bzimage bz;
	size_t len;
	uint8_t *img = slurp(vmlinuz, &len);
	uint8_t *bp;

	ck_assert_int_eq(modvm__boot_bzimage_parse(img, len, vmlinuz, &bz, err, sizeof(err)), 0);
	fake_ram_init(&f, 256 * MIB, 0);
	cfg = fake_config(&f, vmlinuz, "console=ttyS0 earlyprintk=serial");
	cfg.vcpus = 2;
	cfg.mmio = &dev;
	cfg.n_mmio = 1;
	ck_assert_msg(modvm__boot_load(&cfg, &info, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(info.entry, MODVM_BOOT_ENTRY_64);
	ck_assert_uint_eq(info.kernel_gpa, bz.pref_address);
	ck_assert_uint_eq(info.regs.rip, bz.pref_address + 0x200);
	ck_assert_uint_eq(info.kernel_end, bz.pref_address + bz.init_size);
	ck_assert_mem_eq(gp(&f, info.kernel_gpa, bz.kernel_size), img + bz.setup_size,
			 bz.kernel_size);
	bp = gp(&f, 0x7000, 4096);
	/* The file's header, except the fields a loader writes (0x210-0x22b). */
	ck_assert_mem_eq(bp + 0x1f1, img + 0x1f1, 0x210 - 0x1f1);
	ck_assert_mem_eq(bp + 0x22c, img + 0x22c, bz.hdr_end - 0x22c);
	ck_assert_uint_eq(rd32(bp + 0x214), info.kernel_gpa);
	ck_assert_uint_eq(rd32(bp + 0x228), 0x20000);
	ck_assert_uint_eq(bp[0x210], 0xff);
	ck_assert_str_eq((char *)gp(&f, 0x20000, 70),
			 "console=ttyS0 earlyprintk=serial virtio_mmio.device=4K@0xd0000000:5");
	printf("%s: loaded at 0x%llx, entry 0x%llx, runs up to 0x%llx\n", vmlinuz,
	       (unsigned long long)info.kernel_gpa, (unsigned long long)info.regs.rip,
	       (unsigned long long)info.kernel_end);
	fake_ram_free(&f);
	free(img);
}
END_TEST

START_TEST(real_vmlinux)
{
	struct fake_ram f;
	struct modvm__boot_config cfg;
	struct modvm__boot_info info;
	struct modvm__vmlinux vm;
	size_t len;
	uint8_t *img = slurp(vmlinux, &len);

	ck_assert_msg(modvm__boot_elf_parse(img, len, vmlinux, &vm, err, sizeof(err)) == 0, "%s", err);
	printf("%s: %u PT_LOAD segments [0x%llx, 0x%llx), 64-bit entry 0x%llx, PVH entry %s0x%x\n",
	       vmlinux, vm.n_load, (unsigned long long)vm.start, (unsigned long long)vm.end,
	       (unsigned long long)vm.entry64, vm.has_pvh ? "" : "(none) ", vm.pvh_entry);
	ck_assert_uint_ge(vm.n_load, 2);
	ck_assert_uint_ge(vm.start, 0x100000);
	ck_assert(vm.entry64 >= vm.start && vm.entry64 < vm.end);
	ck_assert(vm.has_pvh);
	ck_assert(vm.pvh_entry >= vm.start && vm.pvh_entry < vm.end);

	fake_ram_init(&f, 256 * MIB, 0);
	cfg = fake_config(&f, vmlinux, "console=ttyS0");
	ck_assert_msg(modvm__boot_load(&cfg, &info, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(info.entry, MODVM_BOOT_ENTRY_64);
	ck_assert_uint_eq(info.regs.rip, vm.entry64);
	for (uint32_t i = 0; i < vm.n_load; i++)
		ck_assert_mem_eq(gp(&f, vm.load[i].paddr, vm.load[i].filesz),
				 img + vm.load[i].offset, vm.load[i].filesz);
	cfg.entry = MODVM_BOOT_ENTRY_PVH;
	ck_assert_msg(modvm__boot_load(&cfg, &info, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(info.regs.rip, vm.pvh_entry);
	ck_assert_uint_eq(rd32(gp(&f, info.regs.rbx, 4)), 0x336ec578);
	fake_ram_free(&f);
	free(img);
}
END_TEST

int main(void)
{
	const char *cache = getenv("MODVM_KERNEL_CACHE");
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	if (!cache || !*cache)
		cache = "/var/cache/modvm-test-kernel";
	snprintf(vmlinuz, sizeof(vmlinuz), "%s/vmlinuz", cache);
	snprintf(vmlinux, sizeof(vmlinux), "%s/vmlinux", cache);
	if (access(vmlinuz, R_OK) != 0) {
		printf("SKIP: no test kernel at %s (run scripts/fetch-test-kernel.sh first)\n", vmlinuz);
		return 77;
	}
	s = suite_create("boot-real");
	tc = tcase_create("real");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, real_bzimage_header);
	tcase_add_test(tc, real_bzimage_load);
	if (access(vmlinux, R_OK) == 0)
		tcase_add_test(tc, real_vmlinux);
	else
		printf("SKIP real_vmlinux: no %s (fetch-test-kernel.sh could not extract it)\n", vmlinux);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
