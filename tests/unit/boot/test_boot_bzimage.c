/*
 * bzImage loading: boot_params contents for protocol 2.06, 2.10 and 2.15
 * headers, kernel and initrd placement, the command-line limit, and the
 * exact message for every kind of bad file.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "synth.h"

#define BP 0x7000

static char err[256];

/* Loads @s into @f with @initrd_size bytes of initrd (content 0x5a), asserting success. */
static struct modvm__boot_info load_ok(struct fake_ram *f, const struct synth_bz *s,
				       const char *cmdline, uint64_t initrd_size)
{
	struct modvm__boot_config cfg = fake_config(f, "vmlinuz-test", cmdline);
	struct modvm__boot_info info;
	uint8_t *initrd = NULL;
	size_t len;
	uint8_t *img = synth_bzimage(s, &len);
	int rc;

	if (initrd_size) {
		initrd = malloc(initrd_size);
		memset(initrd, 0x5a, initrd_size);
		cfg.initrd = "initrd-test";
	}
	err[0] = '\0';
	rc = modvm__boot_load_image(&cfg, img, len, initrd, initrd_size, &info, err, sizeof(err));
	ck_assert_msg(rc == 0, "load failed: %d %s", rc, err);
	free(initrd);
	free(img);
	return info;
}

/* Loads @s expecting failure @want_rc and the single message @want. */
static void load_fails(struct fake_ram *f, const struct synth_bz *s, size_t trunc_to,
		       const char *cmdline, uint64_t initrd_size, int want_rc, const char *want)
{
	struct modvm__boot_config cfg = fake_config(f, "vmlinuz-x", cmdline);
	struct modvm__boot_info info;
	size_t len;
	uint8_t *img = synth_bzimage(s, &len);
	int rc;

	if (initrd_size)
		cfg.initrd = "initrd-x";
	err[0] = '\0';
	rc = modvm__boot_load_image(&cfg, img, trunc_to ? trunc_to : len, NULL, initrd_size,
				    &info, err, sizeof(err));
	ck_assert_int_eq(rc, want_rc);
	ck_assert_str_eq(err, want);
	free(img);
}

START_TEST(bz_215_boot_params)
{
	struct fake_ram f;
	struct synth_bz s = synth_bz_modern();
	struct modvm__boot_info info;
	const uint64_t isize = MIB + 123;
	uint8_t *bp;

	fake_ram_init(&f, 128 * MIB, 0);
	info = load_ok(&f, &s, "console=ttyS0 root=/dev/vda", isize);
	bp = gp(&f, BP, 4096);

	ck_assert_int_eq(info.format, MODVM_BOOT_FORMAT_BZIMAGE);
	ck_assert_int_eq(info.entry, MODVM_BOOT_ENTRY_64);
	ck_assert_uint_eq(info.protocol, 0x020f);
	ck_assert_uint_eq(info.kernel_gpa, 0x1000000);
	ck_assert_uint_eq(info.kernel_end, 0x1800000);	/* + init_size */
	ck_assert_uint_eq(info.entry_gpa, 0x1000200);
	ck_assert_uint_eq(info.regs.rip, 0x1000200);
	ck_assert_uint_eq(info.regs.rsi, BP);
	ck_assert_uint_eq(info.info_gpa, BP);

	/* The setup header is the file's... */
	ck_assert_uint_eq(bp[0x1f1], 4);
	ck_assert_uint_eq(rd16(bp + 0x1fe), 0xaa55);
	ck_assert_mem_eq(bp + 0x202, "HdrS", 4);
	ck_assert_uint_eq(rd16(bp + 0x206), 0x020f);
	ck_assert_uint_eq(rd32(bp + 0x230), 0x200000);
	ck_assert_uint_eq(bp[0x234], 1);
	ck_assert_uint_eq(rd16(bp + 0x236), 3);
	ck_assert_uint_eq(rd32(bp + 0x238), 2047);
	ck_assert_uint_eq(rd32(bp + 0x260), 0x800000);
	/* ...plus what the loader fills in. */
	ck_assert_uint_eq(bp[0x210], 0xff);
	ck_assert_uint_eq(rd32(bp + 0x214), 0x1000000);
	ck_assert_uint_eq(rd32(bp + 0x228), 0x20000);
	ck_assert_uint_eq(rd32(bp + 0x0c8), 0);
	ck_assert_uint_eq(rd32(bp + 0x218), (128 * MIB - isize) & ~0xfffULL);
	ck_assert_uint_eq(rd32(bp + 0x21c), isize);
	ck_assert_uint_eq(rd32(bp + 0x0c0), 0);
	ck_assert_uint_eq(rd32(bp + 0x0c4), 0);
	ck_assert_uint_eq(bp[0x1ef], 0);	/* sentinel */
	/* Past the header nothing leaks from the file's setup code. */
	ck_assert_uint_eq(bp[0x26c], 0);

	ck_assert_str_eq((char *)gp(&f, 0x20000, 28), "console=ttyS0 root=/dev/vda");
	ck_assert_uint_eq(info.cmdline_len, 27);
	for (size_t i = 0; i < s.kernel_bytes; i += 997)
		ck_assert_uint_eq(gp(&f, 0x1000000 + i, 1)[0], synth_kernel_byte(i));
	ck_assert_uint_eq(gp(&f, info.place.initrd_gpa, isize)[isize - 1], 0x5a);
	/* A full load also describes the vCPUs, both ways. */
	ck_assert_mem_eq(gp(&f, 0xf0000, 4), "_MP_", 4);
	ck_assert_mem_eq(gp(&f, 0xe0000, 8), "RSD PTR ", 8);
	fake_ram_free(&f);
}
END_TEST

START_TEST(bz_210_nonrelocatable_uses_32bit_entry)
{
	struct fake_ram f;
	struct synth_bz s = synth_bz_modern();
	struct modvm__boot_info info;
	uint8_t *bp;

	s.version = 0x020a;
	s.relocatable = 0;
	s.pref_address = 0x300000;	/* not 2 MiB aligned: fine when not relocatable */
	s.initrd_addr_max = 0x37ffffff;
	fake_ram_init(&f, 128 * MIB, 0);
	info = load_ok(&f, &s, "quiet", 0);
	bp = gp(&f, BP, 4096);

	/* No xloadflags before 2.12: the 32-bit boot protocol. */
	ck_assert_int_eq(info.entry, MODVM_BOOT_ENTRY_32);
	ck_assert_uint_eq(info.kernel_gpa, 0x300000);
	ck_assert_uint_eq(info.regs.rip, 0x300000);
	ck_assert_uint_eq(info.regs.rsi, BP);
	ck_assert_uint_eq(info.regs.rbx | info.regs.rdi | info.regs.rbp, 0);
	ck_assert_uint_eq(info.sregs.cr0 & 0x80000001u, 1);	/* PE, no PG */
	ck_assert_uint_eq(info.sregs.efer, 0);
	ck_assert_uint_eq(info.sregs.cs.selector, 0x10);
	ck_assert_uint_eq(info.sregs.cs.db, 1);
	ck_assert_uint_eq(info.sregs.cs.l, 0);
	ck_assert_uint_eq(rd16(bp + 0x206), 0x020a);
	ck_assert_uint_eq(rd32(bp + 0x214), 0x300000);
	/* The 2.10 header ends at 0x264: the xloadflags slot stays zero. */
	ck_assert_uint_eq(rd16(bp + 0x236), 0);
	ck_assert_uint_eq(rd32(bp + 0x218), 0);
	ck_assert_uint_eq(rd32(bp + 0x21c), 0);
	fake_ram_free(&f);
}
END_TEST

START_TEST(bz_210_relocatable_aligns_pref_address)
{
	struct fake_ram f;
	struct synth_bz s = synth_bz_modern();
	struct modvm__boot_info info;

	s.version = 0x020a;
	s.pref_address = 0x1100000;
	s.kernel_alignment = 0x400000;
	fake_ram_init(&f, 128 * MIB, 0);
	info = load_ok(&f, &s, "", 0);
	ck_assert_uint_eq(info.kernel_gpa, 0x1400000);
	ck_assert_uint_eq(info.kernel_end, 0x1c00000);
	ck_assert_uint_eq(rd32(gp(&f, BP + 0x214, 4)), 0x1400000);
	ck_assert_uint_eq(gp(&f, 0x1400000, 1)[0], synth_kernel_byte(0));
	fake_ram_free(&f);
}
END_TEST

START_TEST(bz_206_load_addresses)
{
	struct fake_ram f;
	struct synth_bz s = synth_bz_modern();
	struct modvm__boot_info info;

	/* 2.06 has no pref_address/init_size: 1 MiB, footprint = the image. */
	s.version = 0x0206;
	s.relocatable = 0;
	s.pref_address = 0x5000000;	/* not written for 2.06: must be ignored */
	fake_ram_init(&f, 64 * MIB, 0);
	info = load_ok(&f, &s, "", 0);
	ck_assert_int_eq(info.entry, MODVM_BOOT_ENTRY_32);
	ck_assert_uint_eq(info.kernel_gpa, 0x100000);
	ck_assert_uint_eq(info.kernel_end, 0x100000 + s.kernel_bytes);
	ck_assert_uint_eq(info.protocol, 0x0206);

	s.relocatable = 1;
	s.kernel_alignment = 0x400000;
	info = load_ok(&f, &s, "", 0);
	ck_assert_uint_eq(info.kernel_gpa, 0x400000);
	ck_assert_uint_eq(rd32(gp(&f, BP + 0x214, 4)), 0x400000);
	fake_ram_free(&f);
}
END_TEST

START_TEST(bz_initrd_addr_max)
{
	struct fake_ram f;
	struct synth_bz s = synth_bz_modern();
	struct modvm__boot_info info;
	const uint64_t isize = 3 * MIB + 1;

	fake_ram_init(&f, 2 * GIB, 0);
	/* Below initrd_addr_max + 1 when RAM reaches further... */
	s.initrd_addr_max = 0x37ffffff;
	info = load_ok(&f, &s, "", isize);
	ck_assert_uint_eq(info.place.initrd_gpa, (0x38000000 - isize) & ~0xfffULL);
	ck_assert_uint_eq(info.place.initrd_gpa % 4096, 0);
	ck_assert_uint_le(info.place.initrd_gpa + isize - 1, 0x37ffffff);
	/* ...and below the end of RAM otherwise. */
	s.initrd_addr_max = 0xffffffff;
	info = load_ok(&f, &s, "", isize);
	ck_assert_uint_eq(info.place.initrd_gpa, (2 * GIB - isize) & ~0xfffULL);
	ck_assert_uint_eq(rd32(gp(&f, BP + 0x218, 4)), info.place.initrd_gpa);
	fake_ram_free(&f);
}
END_TEST

START_TEST(bz_initrd_place_rules)
{
	uint64_t gpa = 0;

	ck_assert_int_eq(modvm__boot_initrd_place(0x1800, 0x7fffffff, 0x8000000, 0x2000000, &gpa), 0);
	ck_assert_uint_eq(gpa, 0x7ffe000);
	ck_assert_int_eq(modvm__boot_initrd_place(0x1000, 0x4fff, 0x8000000, 0, &gpa), 0);
	ck_assert_uint_eq(gpa, 0x4000);
	/* Exactly filling the space above the kernel fits; one more byte does not. */
	ck_assert_int_eq(modvm__boot_initrd_place(0x1000000, 0xffffffff, 0x3000000, 0x2000000, &gpa), 0);
	ck_assert_uint_eq(gpa, 0x2000000);
	ck_assert_int_eq(modvm__boot_initrd_place(0x1000001, 0xffffffff, 0x3000000, 0x2000000, &gpa),
			 -ENOSPC);
	ck_assert_int_eq(modvm__boot_initrd_place(0x10, UINT64_MAX, 0x3000000, 0, &gpa), 0);
	ck_assert_uint_eq(gpa, 0x2fff000);
}
END_TEST

START_TEST(bz_cmdline_limit)
{
	struct fake_ram f;
	struct synth_bz s = synth_bz_modern();
	struct modvm__boot_info info;
	struct modvm__boot_mmio_dev dev = { .base = 0xd0000000, .size = 0x1000, .irq = 5 };
	struct modvm__boot_config cfg;
	size_t len;
	uint8_t *img;

	s.cmdline_size = 16;
	fake_ram_init(&f, 128 * MIB, 0);
	info = load_ok(&f, &s, "0123456789abcdef", 0);
	ck_assert_uint_eq(info.cmdline_len, 16);
	ck_assert_str_eq((char *)gp(&f, 0x20000, 17), "0123456789abcdef");
	load_fails(&f, &s, 0, "0123456789abcdefg", 0, -E2BIG,
		   "vmlinuz-x: command line is 17 bytes, the kernel takes at most 16 (cmdline_size)");

	/* The virtio-mmio arguments count against the same limit. */
	s.cmdline_size = 64;
	img = synth_bzimage(&s, &len);
	cfg = fake_config(&f, "vmlinuz-x", "console=ttyS0");
	cfg.mmio = &dev;
	cfg.n_mmio = 1;
	ck_assert_int_eq(modvm__boot_load_image(&cfg, img, len, NULL, 0, &info, err, sizeof(err)), 0);
	ck_assert_str_eq((char *)gp(&f, 0x20000, 64),
			 "console=ttyS0 virtio_mmio.device=4K@0xd0000000:5");
	cfg.cmdline = "console=ttyS0 loglevel=8 earlyprintk=serial";
	ck_assert_int_eq(modvm__boot_load_image(&cfg, img, len, NULL, 0, &info, err, sizeof(err)),
			 -E2BIG);
	ck_assert_str_eq(err, "vmlinuz-x: command line is 78 bytes, the kernel takes at most 64 (cmdline_size)");
	free(img);
	fake_ram_free(&f);
}
END_TEST

START_TEST(bz_bad_headers)
{
	struct fake_ram f;
	struct synth_bz s;

	fake_ram_init(&f, 128 * MIB, 0);

	s = synth_bz_modern();
	s.setup_sects = 5;
	load_fails(&f, &s, 1024, "", 0, -ENOEXEC,
		   "vmlinuz-x: truncated: header says 5 setup sectors, file has 1024 bytes");

	s = synth_bz_modern();
	load_fails(&f, &s, 5 * 512 + 0x1000, "", 0, -ENOEXEC,
		   "vmlinuz-x: truncated: header says syssize 0x400 (16384 bytes of kernel), file has 4096 after the setup sectors");

	s = synth_bz_modern();
	s.version = 0x0205;
	load_fails(&f, &s, 0, "", 0, -ENOEXEC, "vmlinuz-x: boot protocol 2.05 too old, need >= 2.06");

	s = synth_bz_modern();
	s.xloadflags = 0x0002;
	load_fails(&f, &s, 0, "", 0, -ENOEXEC,
		   "vmlinuz-x: 32-bit-only kernel (xloadflags 0x0002 lacks XLF_KERNEL_64)");

	s = synth_bz_modern();
	s.loadflags = 0;
	load_fails(&f, &s, 0, "", 0, -ENOEXEC,
		   "vmlinuz-x: zImage (loadflags 0x00 lacks LOADED_HIGH) is not supported");

	s = synth_bz_modern();
	s.kernel_alignment = 0x300000;
	load_fails(&f, &s, 0, "", 0, -ENOEXEC,
		   "vmlinuz-x: relocatable kernel with kernel_alignment 0x300000 (not a power of two)");

	s = synth_bz_modern();
	s.relocatable = 0;
	s.pref_address = 0x80000;
	load_fails(&f, &s, 0, "", 0, -ENOEXEC, "vmlinuz-x: pref_address 0x80000 lies below 1 MiB");

	/* Not a kernel at all: no "HdrS", no ELF magic; also a file too short to tell. */
	s = synth_bz_modern();
	s.version = 0x020f;
	load_fails(&f, &s, 0x200, "", 0, -ENOEXEC,
		   "vmlinuz-x: not a bzImage or ELF vmlinux (no \"HdrS\" at 0x202, no ELF magic)");
	fake_ram_free(&f);
}
END_TEST

START_TEST(bz_wrong_magic)
{
	struct fake_ram f;
	struct modvm__boot_config cfg;
	struct modvm__boot_info info;
	size_t len;
	struct synth_bz s = synth_bz_modern();
	uint8_t *img = synth_bzimage(&s, &len);

	fake_ram_init(&f, 128 * MIB, 0);
	cfg = fake_config(&f, "vmlinuz-x", "");
	memcpy(img + 0x202, "HdrZ", 4);
	ck_assert_int_eq(modvm__boot_load_image(&cfg, img, len, NULL, 0, &info, err, sizeof(err)),
			 -ENOEXEC);
	ck_assert_str_eq(err, "vmlinuz-x: not a bzImage or ELF vmlinux (no \"HdrS\" at 0x202, no ELF magic)");
	free(img);
	fake_ram_free(&f);
}
END_TEST

START_TEST(bz_does_not_fit)
{
	struct fake_ram f;
	struct synth_bz s = synth_bz_modern();

	s.init_size = 0x3378000;
	fake_ram_init(&f, 32 * MIB, 0);
	load_fails(&f, &s, 0, "", 0, -ENOSPC,
		   "vmlinuz-x: kernel does not fit in RAM: needs [0x1000000, 0x4378000) (init_size 0x3378000), low RAM ends at 0x2000000");

	s = synth_bz_modern();
	load_fails(&f, &s, 0, "", 8 * MIB + 1, -ENOSPC,
		   "initrd-x: initrd of 8388609 bytes does not fit below 0x2000000 (above the kernel, which ends at 0x1800000)");

	/* Refused kernels leave guest RAM untouched. */
	for (uint64_t a = 0; a < 2 * MIB; a += 4096)
		ck_assert_uint_eq(rd64(gp(&f, a, 8)), 0);
	ck_assert_uint_eq(rd64(gp(&f, 0x1000000, 8)), 0);
	fake_ram_free(&f);
}
END_TEST

START_TEST(bz_bad_layout_and_vcpus)
{
	struct fake_ram f;
	struct synth_bz s = synth_bz_modern();
	struct modvm__boot_config cfg;
	struct modvm__boot_info info;
	size_t len;
	uint8_t *img = synth_bzimage(&s, &len);

	fake_ram_init(&f, 128 * MIB, 0);
	cfg = fake_config(&f, "vmlinuz-x", "");
	cfg.vcpus = 255;
	ck_assert_int_eq(modvm__boot_load_image(&cfg, img, len, NULL, 0, &info, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "vcpus 255: the MP table describes 1 to 254 vCPUs");
	cfg.vcpus = 1;
	cfg.entry = MODVM_BOOT_ENTRY_PVH;
	ck_assert_int_eq(modvm__boot_load_image(&cfg, img, len, NULL, 0, &info, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "vmlinuz-x: the PVH entry needs an ELF vmlinux, not a bzImage");
	/* RAM that does not start at 0 cannot hold the zero page. */
	f.region[0].gpa = 0x100000;
	cfg.entry = MODVM_BOOT_ENTRY_AUTO;
	ck_assert_int_eq(modvm__boot_load_image(&cfg, img, len, NULL, 0, &info, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "guest RAM: the loader needs RAM at [0, 0x100000)");
	f.region[0].gpa = 0;
	free(img);
	fake_ram_free(&f);
}
END_TEST

START_TEST(bz_64bit_entry_needs_212)
{
	struct fake_ram f;
	struct synth_bz s = synth_bz_modern();
	struct modvm__boot_config cfg;
	struct modvm__boot_info info;
	size_t len;
	uint8_t *img;

	s.version = 0x020b;
	img = synth_bzimage(&s, &len);
	fake_ram_init(&f, 128 * MIB, 0);
	cfg = fake_config(&f, "vmlinuz-x", "");
	cfg.entry = MODVM_BOOT_ENTRY_64;
	ck_assert_int_eq(modvm__boot_load_image(&cfg, img, len, NULL, 0, &info, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "vmlinuz-x: boot protocol 2.11 has no xloadflags, so no known 64-bit entry (need >= 2.12)");
	free(img);
	fake_ram_free(&f);
}
END_TEST

/* Through real files: the initrd is read straight into guest RAM. */
START_TEST(bz_from_files)
{
	char dir[] = "/tmp/modvm-boot-XXXXXX";
	char kpath[64], ipath[64], missing[64];
	struct synth_bz s = synth_bz_modern();
	struct modvm__boot_config cfg;
	struct modvm__boot_info info;
	struct fake_ram f;
	uint8_t initrd[5000];
	size_t len;
	uint8_t *img = synth_bzimage(&s, &len);
	FILE *fp;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(kpath, sizeof(kpath), "%s/vmlinuz", dir);
	snprintf(ipath, sizeof(ipath), "%s/initrd.img", dir);
	snprintf(missing, sizeof(missing), "%s/nope", dir);
	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i * 13);
	fp = fopen(kpath, "wb");
	ck_assert_uint_eq(fwrite(img, 1, len, fp), len);
	fclose(fp);
	fp = fopen(ipath, "wb");
	ck_assert_uint_eq(fwrite(initrd, 1, sizeof(initrd), fp), sizeof(initrd));
	fclose(fp);

	fake_ram_init(&f, 128 * MIB, 0);
	cfg = fake_config(&f, kpath, "ro");
	cfg.initrd = ipath;
	cfg.vcpus = 2;
	ck_assert_int_eq(modvm__boot_load(&cfg, &info, err, sizeof(err)), 0);
	ck_assert_uint_eq(info.place.initrd_gpa, (128 * MIB - sizeof(initrd)) & ~0xfffULL);
	ck_assert_mem_eq(gp(&f, info.place.initrd_gpa, sizeof(initrd)), initrd, sizeof(initrd));
	ck_assert_uint_eq(rd32(gp(&f, BP + 0x21c, 4)), sizeof(initrd));

	cfg.initrd = missing;
	ck_assert_int_eq(modvm__boot_load(&cfg, &info, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strcmp(err + strlen(dir), "/nope: cannot open: No such file or directory") == 0,
		      "got %s", err);
	cfg.initrd = NULL;
	cfg.kernel = missing;
	ck_assert_int_eq(modvm__boot_load(&cfg, &info, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strcmp(err + strlen(dir), "/nope: cannot open: No such file or directory") == 0,
		      "got %s", err);
	cfg.kernel = dir;
	ck_assert_int_eq(modvm__boot_load(&cfg, &info, err, sizeof(err)), -EISDIR);
	ck_assert_msg(strcmp(err + strlen(dir), ": is a directory, not a regular file") == 0,
		      "got %s", err);

	unlink(kpath);
	unlink(ipath);
	rmdir(dir);
	free(img);
	fake_ram_free(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("boot-bzimage");
	TCase *tc = tcase_create("bzimage");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, bz_215_boot_params);
	tcase_add_test(tc, bz_210_nonrelocatable_uses_32bit_entry);
	tcase_add_test(tc, bz_210_relocatable_aligns_pref_address);
	tcase_add_test(tc, bz_206_load_addresses);
	tcase_add_test(tc, bz_initrd_addr_max);
	tcase_add_test(tc, bz_initrd_place_rules);
	tcase_add_test(tc, bz_cmdline_limit);
	tcase_add_test(tc, bz_bad_headers);
	tcase_add_test(tc, bz_wrong_magic);
	tcase_add_test(tc, bz_does_not_fit);
	tcase_add_test(tc, bz_bad_layout_and_vcpus);
	tcase_add_test(tc, bz_64bit_entry_needs_212);
	tcase_add_test(tc, bz_from_files);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
