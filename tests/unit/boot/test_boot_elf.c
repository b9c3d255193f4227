/*
 * ELF vmlinux loading: PT_LOAD placement (bss zeroed), e_entry translation,
 * the PVH note and hvm_start_info, and the exact message for bad ELF files.
 */
#include <check.h>
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "synth.h"

static char err[256];

static int load(struct fake_ram *f, const struct synth_elf *s, enum modvm__boot_entry entry,
		uint64_t initrd_size, struct modvm__boot_info *info, size_t trunc_to,
		void (*patch)(uint8_t *img))
{
	struct modvm__boot_config cfg = fake_config(f, "vmlinux-x", "console=hvc0");
	size_t len;
	uint8_t *img = synth_vmlinux(s, &len);
	uint8_t *initrd = initrd_size ? calloc(1, initrd_size) : NULL;
	int rc;

	if (patch)
		patch(img);
	cfg.entry = entry;
	cfg.initrd = initrd_size ? "initrd-x" : NULL;
	err[0] = '\0';
	rc = modvm__boot_load_image(&cfg, img, trunc_to ? trunc_to : len, initrd, initrd_size,
				    info, err, sizeof(err));
	free(initrd);
	free(img);
	return rc;
}

START_TEST(elf_segments_and_64bit_entry)
{
	struct fake_ram f;
	struct synth_elf s = { .pvh = 4, .pvh_entry = 0x1000850 };
	struct modvm__boot_info info;
	uint8_t *bp;

	fake_ram_init(&f, 128 * MIB, 0);
	/* Garbage where the bss goes proves the loader zeroes it. */
	fake_ram_fill(&f, 0x1200000, 0x4000, 0xcc);
	ck_assert_int_eq(load(&f, &s, MODVM_BOOT_ENTRY_AUTO, 0x2000, &info, 0, NULL), 0);

	ck_assert_int_eq(info.format, MODVM_BOOT_FORMAT_ELF);
	ck_assert_int_eq(info.entry, MODVM_BOOT_ENTRY_64);	/* the default even with a PVH note */
	ck_assert_uint_eq(info.protocol, 0);
	ck_assert_uint_eq(info.entry_gpa, 0x1000040);		/* virtual e_entry, translated */
	ck_assert_uint_eq(info.regs.rip, 0x1000040);
	ck_assert_uint_eq(info.regs.rsi, 0x7000);
	ck_assert_uint_eq(info.kernel_gpa, 0x1000000);
	ck_assert_uint_eq(info.kernel_end, 0x1200000 + SYNTH_DATA_MEMSZ);
	ck_assert_uint_eq(info.sregs.cs.l, 1);

	for (size_t i = 0; i < SYNTH_TEXT_SIZE; i += 101)
		ck_assert_uint_eq(gp(&f, 0x1000000 + i, 1)[0], synth_kernel_byte(i));
	ck_assert_uint_eq(gp(&f, 0x1200000, 1)[0], 0xd0);
	for (uint64_t a = 0x1200000 + SYNTH_DATA_FILESZ; a < 0x1200000 + SYNTH_DATA_MEMSZ; a++)
		ck_assert_uint_eq(gp(&f, a, 1)[0], 0);
	ck_assert_uint_eq(gp(&f, 0x1200000 + SYNTH_DATA_MEMSZ, 1)[0], 0xcc);	/* not beyond memsz */

	/* A zero page that looks like a bzImage's to the kernel. */
	bp = gp(&f, 0x7000, 4096);
	ck_assert_uint_eq(rd16(bp + 0x1fe), 0xaa55);
	ck_assert_mem_eq(bp + 0x202, "HdrS", 4);
	ck_assert_uint_eq(bp[0x210], 0xff);
	ck_assert_uint_eq(rd32(bp + 0x228), 0x20000);
	ck_assert_uint_eq(rd32(bp + 0x238), 2047);
	ck_assert_uint_eq(rd32(bp + 0x218), 128 * MIB - 0x2000);
	ck_assert_uint_eq(rd32(bp + 0x21c), 0x2000);
	ck_assert_uint_eq(bp[0x1e8], 3);
	ck_assert_str_eq((char *)gp(&f, 0x20000, 13), "console=hvc0");
	fake_ram_free(&f);
}
END_TEST

START_TEST(elf_physical_entry)
{
	struct fake_ram f;
	struct synth_elf s = { .entry = 0x1000000 };	/* Debian's vmlinux has a physical e_entry */
	struct modvm__boot_info info;

	fake_ram_init(&f, 64 * MIB, 0);
	ck_assert_int_eq(load(&f, &s, MODVM_BOOT_ENTRY_64, 0, &info, 0, NULL), 0);
	ck_assert_uint_eq(info.regs.rip, 0x1000000);
	s.entry = 0x9000000;
	ck_assert_int_eq(load(&f, &s, MODVM_BOOT_ENTRY_64, 0, &info, 0, NULL), -ENOEXEC);
	ck_assert_str_eq(err, "vmlinux-x: entry point 0x9000000 lies in no PT_LOAD segment");
	fake_ram_free(&f);
}
END_TEST

START_TEST(elf_pvh_entry)
{
	struct fake_ram f;
	struct synth_elf s = { .pvh = 8, .pvh_entry = 0x1000850 };
	struct modvm__boot_info info;
	struct modvm__boot_e820 map[8];
	uint8_t *si, *mod, *mm;
	int n;

	fake_ram_init(&f, 128 * MIB, 0);
	ck_assert_int_eq(load(&f, &s, MODVM_BOOT_ENTRY_PVH, 0x3000, &info, 0, NULL), 0);
	ck_assert_int_eq(info.entry, MODVM_BOOT_ENTRY_PVH);
	ck_assert_uint_eq(info.regs.rip, 0x1000850);
	ck_assert_uint_eq(info.regs.rbx, 0x6000);
	ck_assert_uint_eq(info.info_gpa, 0x6000);
	ck_assert_uint_eq(info.sregs.cr0 & 0x80000001u, 1);	/* protected, no paging */
	ck_assert_uint_eq(info.sregs.cs.db, 1);
	ck_assert_uint_eq(info.sregs.cs.l, 0);
	ck_assert_uint_eq(info.sregs.tr.type, 11);
	ck_assert_uint_eq(info.sregs.tr.limit, 0x67);

	si = gp(&f, 0x6000, 56);
	ck_assert_uint_eq(rd32(si), 0x336ec578);
	ck_assert_uint_eq(rd32(si + 4), 1);
	ck_assert_uint_eq(rd32(si + 12), 1);		/* nr_modules */
	ck_assert_uint_eq(rd64(si + 24), 0x20000);	/* cmdline_paddr */
	ck_assert_uint_eq(rd64(si + 32), 0);		/* rsdp: none */
	mod = gp(&f, rd64(si + 16), 32);
	ck_assert_uint_eq(rd64(mod), 128 * MIB - 0x3000);
	ck_assert_uint_eq(rd64(mod + 8), 0x3000);
	n = modvm__boot_e820_build(&f.ram, map, 8);
	ck_assert_int_eq(rd32(si + 48), n);
	mm = gp(&f, rd64(si + 40), (uint64_t)n * 24);
	for (int i = 0; i < n; i++) {
		ck_assert_uint_eq(rd64(mm + i * 24), map[i].addr);
		ck_assert_uint_eq(rd64(mm + i * 24 + 8), map[i].size);
		ck_assert_uint_eq(rd32(mm + i * 24 + 16), map[i].type);
	}
	fake_ram_free(&f);
}
END_TEST

START_TEST(elf_pvh_note_detection)
{
	struct modvm__vmlinux vm;
	struct synth_elf s = { 0 };
	size_t len;
	uint8_t *img = synth_vmlinux(&s, &len);

	/* Only the decoys: a Xen note of type 5, a GNU note of type 18. */
	ck_assert_int_eq(modvm__boot_elf_parse(img, len, "v", &vm, err, sizeof(err)), 0);
	ck_assert(!vm.has_pvh);
	ck_assert_uint_eq(vm.n_load, 2);
	free(img);
	s.pvh = 4;
	s.pvh_entry = 0x1234567;
	img = synth_vmlinux(&s, &len);
	ck_assert_int_eq(modvm__boot_elf_parse(img, len, "v", &vm, err, sizeof(err)), 0);
	ck_assert(vm.has_pvh);
	ck_assert_uint_eq(vm.pvh_entry, 0x1234567);
	free(img);
}
END_TEST

START_TEST(elf_pvh_missing)
{
	struct fake_ram f;
	struct synth_elf s = { 0 };
	struct modvm__boot_info info;

	fake_ram_init(&f, 64 * MIB, 0);
	ck_assert_int_eq(load(&f, &s, MODVM_BOOT_ENTRY_PVH, 0, &info, 0, NULL), -ENOEXEC);
	ck_assert_str_eq(err, "vmlinux-x: no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)");
	ck_assert_int_eq(load(&f, &s, MODVM_BOOT_ENTRY_32, 0, &info, 0, NULL), -EINVAL);
	ck_assert_str_eq(err, "vmlinux-x: the 32-bit boot protocol needs a bzImage, not an ELF vmlinux");
	fake_ram_free(&f);
}
END_TEST

static void patch_phnum(uint8_t *img)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;

	eh->e_phoff = 0x4000;
	eh->e_phnum = 5;
}

static void patch_class32(uint8_t *img)
{
	img[EI_CLASS] = ELFCLASS32;
}

START_TEST(elf_bad_files)
{
	struct fake_ram f;
	struct synth_elf s = { 0 };
	struct modvm__boot_info info;

	fake_ram_init(&f, 64 * MIB, 0);
	ck_assert_int_eq(load(&f, &s, 0, 0, &info, 0, patch_class32), -ENOEXEC);
	ck_assert_str_eq(err, "vmlinux-x: 32-bit ELF (ELFCLASS32) kernel; need an ELF64 x86-64 vmlinux");

	s.machine = EM_386;
	ck_assert_int_eq(load(&f, &s, 0, 0, &info, 0, NULL), -ENOEXEC);
	ck_assert_str_eq(err, "vmlinux-x: ELF machine 3 (data 1) is not little-endian x86-64");
	s.machine = 0;

	ck_assert_int_eq(load(&f, &s, 0, 0, &info, 40, NULL), -ENOEXEC);
	ck_assert_str_eq(err, "vmlinux-x: truncated: ELF header needs 64 bytes, file has 40");
	ck_assert_int_eq(load(&f, &s, 0, 0, &info, 0, patch_phnum), -ENOEXEC);
	ck_assert_str_eq(err, "vmlinux-x: truncated: ELF header says 5 program headers at offset 0x4000, file has 16640 bytes");
	ck_assert_int_eq(load(&f, &s, 0, 0, &info, 0x2000, NULL), -ENOEXEC);
	ck_assert_str_eq(err, "vmlinux-x: truncated: segment 0 needs file bytes up to 0x4000, file has 8192");

	s.data_paddr = 0x4000000;	/* 64 MiB: just past the end of RAM */
	ck_assert_int_eq(load(&f, &s, 0, 0, &info, 0, NULL), -ENOSPC);
	ck_assert_str_eq(err, "vmlinux-x: segment [0x4000000, 0x4002000) lies outside guest RAM");
	s.data_paddr = 0x3fff000;	/* straddles the end */
	ck_assert_int_eq(load(&f, &s, 0, 0, &info, 0, NULL), -ENOSPC);
	ck_assert_str_eq(err, "vmlinux-x: segment [0x3fff000, 0x4001000) lies outside guest RAM");
	s.data_paddr = 0x90000;
	ck_assert_int_eq(load(&f, &s, 0, 0, &info, 0, NULL), -ENOSPC);
	ck_assert_str_eq(err, "vmlinux-x: segment [0x90000, 0x92000) overlaps the loader's area below 1 MiB");
	s.data_paddr = 0;

	ck_assert_int_eq(load(&f, &s, 0, 62 * MIB, &info, 0, NULL), -ENOSPC);
	ck_assert_str_eq(err, "initrd-x: initrd of 65011712 bytes does not fit below 0x4000000 (above the kernel, which ends at 0x1202000)");

	/* Nothing was written by any of the refused loads. */
	ck_assert_uint_eq(rd64(gp(&f, 0x1000000, 8)), 0);
	ck_assert_uint_eq(rd64(gp(&f, 0x7000, 8)) | rd64(gp(&f, 0x9000, 8)), 0);
	fake_ram_free(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("boot-elf");
	TCase *tc = tcase_create("elf");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, elf_segments_and_64bit_entry);
	tcase_add_test(tc, elf_physical_entry);
	tcase_add_test(tc, elf_pvh_entry);
	tcase_add_test(tc, elf_pvh_note_detection);
	tcase_add_test(tc, elf_pvh_missing);
	tcase_add_test(tc, elf_bad_files);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
