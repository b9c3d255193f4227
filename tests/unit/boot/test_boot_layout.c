/*
 * The pieces around the kernel: bounds-checked RAM access, the e820 map
 * (128 MiB VM, and a VM with RAM above the 3-4 GiB MMIO hole), the MP table,
 * the ACPI tables, the identity page tables and GDT, and the virtio_mmio.device=
 * helper.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "synth.h"

static char err[256];

START_TEST(ram_bounds)
{
	uint8_t a[0x2000], b[0x1000];
	struct modvm_ram_region r[2] = {
		{ .gpa = 0, .size = sizeof(a), .hva = a },
		{ .gpa = 0x10000, .size = sizeof(b), .hva = b },
	};
	struct modvm__boot_ram ram = { .region = r, .count = 2 };
	uint8_t x[16] = { 1 };

	ck_assert_ptr_eq(modvm__boot_ram_ptr(&ram, 0x1ff0, 0x10), a + 0x1ff0);
	ck_assert_ptr_null(modvm__boot_ram_ptr(&ram, 0x1ff0, 0x11));	/* crosses the end */
	ck_assert_ptr_null(modvm__boot_ram_ptr(&ram, 0x2000, 1));	/* in the gap */
	ck_assert_ptr_eq(modvm__boot_ram_ptr(&ram, 0x10fff, 1), b + 0xfff);
	ck_assert_ptr_null(modvm__boot_ram_ptr(&ram, 0x10000, UINT64_MAX));	/* no wrap */
	ck_assert_ptr_null(modvm__boot_ram_ptr(&ram, UINT64_MAX, 2));
	ck_assert_ptr_null(modvm__boot_ram_ptr(&ram, 0, 0));		/* names no memory */
	ck_assert_int_eq(modvm__boot_ram_write(&ram, 0x1ff8, x, sizeof(x)), -EFAULT);
	ck_assert_int_eq(modvm__boot_ram_zero(&ram, 0xfff0, 0x20), -EFAULT);
	ck_assert_int_eq(modvm__boot_ram_write(&ram, 0x10ff0, x, sizeof(x)), 0);
	ck_assert_uint_eq(b[0xff0], 1);
	ck_assert_uint_eq(modvm__boot_ram_low_end(&ram), sizeof(a));
	r[0].gpa = 0x1000;
	ck_assert_uint_eq(modvm__boot_ram_low_end(&ram), 0);
}
END_TEST

START_TEST(e820_128m)
{
	struct modvm_ram_region r = { .gpa = 0, .size = 128 * MIB };
	struct modvm__boot_ram ram = { .region = &r, .count = 1 };
	struct modvm__boot_e820 m[8];

	ck_assert_int_eq(modvm__boot_e820_build(&ram, m, 8), 3);
	ck_assert_uint_eq(m[0].addr, 0);
	ck_assert_uint_eq(m[0].size, 0x9fc00);
	ck_assert_uint_eq(m[0].type, MODVM_BOOT_E820_RAM);
	ck_assert_uint_eq(m[1].addr, 0x9fc00);
	ck_assert_uint_eq(m[1].size, 0x100000 - 0x9fc00);
	ck_assert_uint_eq(m[1].type, MODVM_BOOT_E820_RESERVED);
	ck_assert_uint_eq(m[2].addr, 0x100000);
	ck_assert_uint_eq(m[2].size, 127 * MIB);
	ck_assert_uint_eq(m[2].type, MODVM_BOOT_E820_RAM);
	ck_assert_int_eq(modvm__boot_e820_build(&ram, m, 2), -E2BIG);
}
END_TEST

/* 4 GiB of RAM: 3 GiB below the MMIO hole, 1 GiB from 4 GiB; read back from boot_params. */
START_TEST(e820_above_4g_in_boot_params)
{
	struct fake_ram f;
	struct synth_bz s = synth_bz_modern();
	struct modvm__boot_config cfg;
	struct modvm__boot_info info;
	const uint64_t want[][3] = {
		{ 0, 0x9fc00, 1 },
		{ 0x9fc00, 0x60400, 2 },
		{ 0x100000, 3 * GIB - MIB, 1 },
		{ 4 * GIB, 1 * GIB, 1 },
	};
	uint8_t *bp;
	size_t len;
	uint8_t *img = synth_bzimage(&s, &len);

	fake_ram_init(&f, 3 * GIB, 1 * GIB);
	cfg = fake_config(&f, "vmlinuz", "");
	ck_assert_int_eq(modvm__boot_load_image(&cfg, img, len, NULL, 4096, &info, err, sizeof(err)), 0);
	bp = gp(&f, 0x7000, 4096);
	ck_assert_uint_eq(bp[0x1e8], 4);
	for (int i = 0; i < 4; i++) {
		const uint8_t *e = bp + 0x2d0 + i * 20;

		ck_assert_uint_eq(rd64(e), want[i][0]);
		ck_assert_uint_eq(rd64(e + 8), want[i][1]);
		ck_assert_uint_eq(rd32(e + 16), want[i][2]);
	}
	ck_assert_uint_eq(rd64(bp + 0x2d0 + 4 * 20), 0);
	/* The initrd stays below initrd_addr_max (2 GiB), not in high RAM. */
	ck_assert_uint_eq(info.place.initrd_gpa, 0x80000000 - 4096);
	free(img);
	fake_ram_free(&f);
}
END_TEST

/* Walks the guest's page tables like the MMU (4-level, 2 MiB pages). */
static uint64_t walk(struct fake_ram *f, uint64_t cr3, uint64_t va, int *ok)
{
	uint64_t e = rd64(gp(f, (cr3 & ~0xfffULL) + ((va >> 39) & 511) * 8, 8));

	*ok = 0;
	if (!(e & 1))
		return 0;
	e = rd64(gp(f, (e & 0xffffffffff000ULL) + ((va >> 30) & 511) * 8, 8));
	if (!(e & 1))
		return 0;
	e = rd64(gp(f, (e & 0xffffffffff000ULL) + ((va >> 21) & 511) * 8, 8));
	if (!(e & 1) || !(e & 0x80) || !(e & 2))
		return 0;
	*ok = 1;
	return (e & 0xfffffffe00000ULL) | (va & 0x1fffff);
}

START_TEST(long_mode_state_and_identity_map)
{
	struct fake_ram f;
	struct modvm_regs regs;
	struct modvm_sregs sregs;
	const uint64_t probe[] = { 0, 0x7000, 0x1000200, 0x20000, 0xbfffffff, 0xfec00000,
				   0xffffffff };
	uint64_t cs, ds;
	int ok;

	fake_ram_init(&f, 64 * MIB, 0);
	fake_ram_fill(&f, 0x9000, 0x6000, 0xee);	/* stale tables must be overwritten */
	ck_assert_int_eq(modvm__boot_cpu_long_mode(&f.ram, 0x1000200, 0x7000, &regs, &sregs), 0);
	for (size_t i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
		ck_assert_uint_eq(walk(&f, sregs.cr3, probe[i], &ok), probe[i]);
		ck_assert_int_eq(ok, 1);
	}
	walk(&f, sregs.cr3, 0x100000000ULL, &ok);
	ck_assert_int_eq(ok, 0);
	walk(&f, sregs.cr3, 0x8000000000ULL, &ok);	/* PML4 slot 1 */
	ck_assert_int_eq(ok, 0);

	ck_assert_uint_eq(regs.rip, 0x1000200);
	ck_assert_uint_eq(regs.rsi, 0x7000);
	ck_assert_uint_eq(regs.rflags & 0x200, 0);	/* IF off */
	ck_assert_uint_eq(regs.rflags & 2, 2);
	ck_assert_uint_eq(sregs.cr3, 0x9000);
	ck_assert_uint_eq(sregs.cr0 & 0x80000001u, 0x80000001u);
	ck_assert_uint_eq(sregs.cr4 & 0x20, 0x20);
	ck_assert_uint_eq(sregs.efer & 0x500, 0x500);
	ck_assert_uint_eq(sregs.cs.selector, 0x10);
	ck_assert_uint_eq(sregs.cs.l, 1);
	ck_assert_uint_eq(sregs.cs.db, 0);
	ck_assert_uint_eq(sregs.cs.present, 1);
	ck_assert_uint_eq(sregs.ds.selector, 0x18);
	ck_assert_uint_eq(sregs.ss.selector, 0x18);
	ck_assert_uint_eq(sregs.es.limit, 0xffffffff);
	ck_assert_uint_eq(sregs.gdt.base, 0x500);
	ck_assert_uint_eq(sregs.gdt.limit, 39);

	/* The GDT in RAM agrees with the sregs (decode the descriptors by hand). */
	cs = rd64(gp(&f, 0x500 + 0x10, 8));
	ds = rd64(gp(&f, 0x500 + 0x18, 8));
	ck_assert_uint_eq(rd64(gp(&f, 0x500, 8)), 0);
	ck_assert_uint_eq((cs >> 40) & 0xff, 0x9b);	/* present, code, exec/read, accessed */
	ck_assert_uint_eq((cs >> 53) & 1, 1);		/* L */
	ck_assert_uint_eq((cs >> 54) & 1, 0);		/* D must be 0 with L */
	ck_assert_uint_eq((ds >> 40) & 0xff, 0x93);
	ck_assert_uint_eq((ds >> 55) & 1, 1);		/* G */
	ck_assert_uint_eq(ds & 0xffff, 0xffff);
	fake_ram_free(&f);
}
END_TEST

START_TEST(protected_mode_state)
{
	struct fake_ram f;
	struct modvm_regs regs;
	struct modvm_sregs sregs;
	uint64_t cs;

	fake_ram_init(&f, 16 * MIB, 0);
	ck_assert_int_eq(modvm__boot_cpu_protected(&f.ram, 0x1000850, &regs, &sregs), 0);
	ck_assert_uint_eq(regs.rip, 0x1000850);
	ck_assert_uint_eq(sregs.cr0 & 0x80000001u, 1);
	ck_assert_uint_eq(sregs.cr4, 0);
	ck_assert_uint_eq(sregs.efer, 0);
	ck_assert_uint_eq(sregs.cs.db, 1);
	ck_assert_uint_eq(sregs.cs.l, 0);
	ck_assert_uint_eq(sregs.cs.limit, 0xffffffff);
	cs = rd64(gp(&f, 0x510, 8));
	ck_assert_uint_eq((cs >> 53) & 3, 2);	/* D=1, L=0 */
	fake_ram_free(&f);
}
END_TEST

/* Parses the MP table the way Linux's smp_scan_config/smp_read_mpc do. */
static void check_mptable(struct fake_ram *f, uint32_t vcpus)
{
	uint8_t *mpf = NULL, *mpc, *p;
	uint32_t cpus = 0, bsps = 0, buses = 0, ioapics = 0, irqs = 0, lints = 0;
	uint16_t count;

	for (uint64_t a = 0xf0000; a < 0x100000; a += 16) {
		if (memcmp(gp(f, a, 4), "_MP_", 4) == 0) {
			mpf = gp(f, a, 16);
			break;
		}
	}
	ck_assert_ptr_nonnull(mpf);
	ck_assert_uint_eq(modvm__boot_sum8(mpf, 16), 0);
	ck_assert_uint_eq(mpf[8], 1);
	ck_assert_uint_eq(mpf[9], 4);
	ck_assert_uint_eq(mpf[11], 0);	/* a config table follows, no default config */
	mpc = gp(f, rd32(mpf + 4), 44);
	ck_assert_mem_eq(mpc, "PCMP", 4);
	mpc = gp(f, rd32(mpf + 4), rd16(mpc + 4));
	ck_assert_uint_eq(modvm__boot_sum8(mpc, rd16(mpc + 4)), 0);
	ck_assert_uint_eq(mpc[6], 4);
	ck_assert_uint_eq(rd32(mpc + 36), 0xfee00000);
	count = rd16(mpc + 34);
	p = mpc + 44;
	for (uint16_t i = 0; i < count; i++) {
		switch (p[0]) {
		case 0:
			ck_assert_uint_eq(p[1], cpus);	/* APIC ids 0..n-1 in order */
			ck_assert_uint_eq(p[3] & 1, 1);
			bsps += (p[3] >> 1) & 1;
			ck_assert_uint_eq((p[3] >> 1) & 1, cpus == 0);
			cpus++;
			p += 20;
			continue;
		case 1:
			ck_assert_mem_eq(p + 2, "ISA   ", 6);
			buses++;
			break;
		case 2:
			ck_assert_uint_eq(rd32(p + 4), 0xfec00000);
			ck_assert_uint_eq(p[1], vcpus);
			ck_assert_uint_eq(p[3] & 1, 1);
			ioapics++;
			break;
		case 3:
			ck_assert_uint_eq(p[5], irqs);	/* ISA IRQ n -> pin n */
			ck_assert_uint_eq(p[7], irqs);
			ck_assert_uint_eq(p[6], vcpus);
			irqs++;
			break;
		case 4:
			lints++;
			break;
		default:
			ck_abort_msg("unknown MP entry type %u", p[0]);
		}
		p += 8;
	}
	ck_assert_uint_eq((size_t)(p - mpc), rd16(mpc + 4));
	ck_assert_uint_eq(cpus, vcpus);
	ck_assert_uint_eq(bsps, 1);
	ck_assert_uint_eq(buses, 1);
	ck_assert_uint_eq(ioapics, 1);
	ck_assert_uint_eq(irqs, 16);
	ck_assert_uint_eq(lints, 2);
}

START_TEST(mptable_cpus)
{
	struct fake_ram f;
	const uint32_t counts[] = { 1, 2, 4, 64, 254, 3 };

	fake_ram_init(&f, 16 * MIB, 0);
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		ck_assert_int_eq(modvm__boot_mptable_write(&f.ram, counts[i], err, sizeof(err)), 0);
		check_mptable(&f, counts[i]);
	}
	ck_assert_int_eq(modvm__boot_mptable_write(&f.ram, 0, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "vcpus 0: the MP table describes 1 to 254 vCPUs");
	fake_ram_free(&f);
}
END_TEST

START_TEST(mptable_needs_ram)
{
	uint8_t low[0x1000];
	struct modvm_ram_region r = { .gpa = 0, .size = sizeof(low), .hva = low };
	struct modvm__boot_ram ram = { .region = &r, .count = 1 };

	ck_assert_int_eq(modvm__boot_mptable_write(&ram, 2, err, sizeof(err)), -EFAULT);
	ck_assert_str_eq(err, "guest RAM: no RAM at 0xf0000 for the MP table");
}
END_TEST

/* Follows RSDP -> XSDT -> FADT/MADT as ACPICA does, checking every checksum. */
static const uint8_t *acpi_table(struct fake_ram *f, uint64_t gpa, const char *sig)
{
	const uint8_t *t = gp(f, gpa, 36);

	ck_assert_mem_eq(t, sig, 4);
	t = gp(f, gpa, rd32(t + 4));
	ck_assert_uint_eq(modvm__boot_sum8(t, rd32(t + 4)), 0);
	return t;
}

START_TEST(acpi_tables)
{
	struct fake_ram f;
	const uint32_t counts[] = { 1, 2, 254 };

	fake_ram_init(&f, 16 * MIB, 0);
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		uint32_t n = counts[c], cpus = 0, ioapics = 0;
		const uint8_t *rsdp, *xsdt, *fadt = NULL, *madt = NULL, *p, *end;

		ck_assert_int_eq(modvm__boot_acpi_write(&f.ram, n, NULL, NULL, 0, err, sizeof(err)), 0);
		rsdp = gp(&f, 0xe0000, 36);	/* 16-byte aligned in 0xe0000-0xfffff: Linux finds it */
		ck_assert_mem_eq(rsdp, "RSD PTR ", 8);
		ck_assert_uint_eq(modvm__boot_sum8(rsdp, 20), 0);
		ck_assert_uint_eq(modvm__boot_sum8(rsdp, 36), 0);
		ck_assert_uint_eq(rsdp[15], 2);
		xsdt = acpi_table(&f, rd64(rsdp + 24), "XSDT");
		for (uint32_t off = 36; off < rd32(xsdt + 4); off += 8) {
			uint64_t a = rd64(xsdt + off);

			if (memcmp(gp(&f, a, 4), "FACP", 4) == 0)
				fadt = acpi_table(&f, a, "FACP");
			else
				madt = acpi_table(&f, a, "APIC");
		}
		ck_assert_ptr_nonnull(fadt);
		ck_assert_ptr_nonnull(madt);
		ck_assert_uint_eq(rd32(fadt + 112) & (1u << 20), 1u << 20);	/* HW_REDUCED_ACPI */
		acpi_table(&f, rd64(fadt + 140), "DSDT");
		ck_assert_uint_eq(rd32(madt + 36), 0xfee00000);
		p = madt + 44;
		end = madt + rd32(madt + 4);
		while (p < end) {
			ck_assert_uint_gt(p[1], 0);
			if (p[0] == 0) {
				ck_assert_uint_eq(p[3], cpus);
				ck_assert_uint_eq(rd32(p + 4) & 1, 1);
				cpus++;
			} else if (p[0] == 1) {
				ck_assert_uint_eq(rd32(p + 4), 0xfec00000);
				ck_assert_uint_eq(p[2], n);
				ck_assert_uint_eq(rd32(p + 8), 0);
				ioapics++;
			}
			p += p[1];
		}
		ck_assert_ptr_eq(p, end);
		ck_assert_uint_eq(cpus, n);
		ck_assert_uint_eq(ioapics, 1);
	}
	ck_assert_int_eq(modvm__boot_acpi_write(&f.ram, 255, NULL, NULL, 0, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "vcpus 255: the ACPI tables describe 1 to 254 vCPUs");
	fake_ram_free(&f);
}
END_TEST

START_TEST(memparse_format)
{
	char b[32];

	modvm__boot_memparse_format(0x1000, b, sizeof(b));
	ck_assert_str_eq(b, "4K");
	modvm__boot_memparse_format(0x1800, b, sizeof(b));
	ck_assert_str_eq(b, "6K");
	modvm__boot_memparse_format(0x200, b, sizeof(b));
	ck_assert_str_eq(b, "0x200");
	modvm__boot_memparse_format(MIB, b, sizeof(b));
	ck_assert_str_eq(b, "1M");
	modvm__boot_memparse_format(2 * GIB, b, sizeof(b));
	ck_assert_str_eq(b, "2G");
	modvm__boot_memparse_format(0, b, sizeof(b));
	ck_assert_str_eq(b, "0x0");
}
END_TEST

/* Kernel parameters go before " -- ", after which words are init's. */
static const struct {
	const char *cmdline, *param, *want;
} param_cases[] = {
	{ "", "reboot=acpi", "reboot=acpi" },
	{ "console=ttyS0", "reboot=acpi", "console=ttyS0 reboot=acpi" },
	{ "console=ttyS0 -- single", "reboot=acpi", "console=ttyS0 reboot=acpi -- single" },
	{ "-- single", "reboot=acpi", "reboot=acpi -- single" },
	{ "console=ttyS0 --", "x=1", "console=ttyS0 x=1 --" },
	{ "a=--b", "x=1", "a=--b x=1" },		/* not a separator */
	{ "a --b", "x=1", "a --b x=1" },
};

START_TEST(cmdline_param_before_init_args)
{
	char buf[96];

	snprintf(buf, sizeof(buf), "%s", param_cases[_i].cmdline);
	ck_assert_int_eq(modvm__boot_cmdline_add_param(buf, sizeof(buf), param_cases[_i].param), 0);
	ck_assert_msg(strcmp(buf, param_cases[_i].want) == 0, "case \"%s\": got \"%s\"",
		      param_cases[_i].cmdline, buf);
}
END_TEST

START_TEST(cmdline_has_param)
{
	ck_assert(modvm__boot_cmdline_has_param("console=ttyS0 reboot=k", "reboot"));
	ck_assert(modvm__boot_cmdline_has_param("reboot=t,a quiet", "reboot"));
	ck_assert(!modvm__boot_cmdline_has_param("noreboot=1 xreboot", "reboot"));
	ck_assert(!modvm__boot_cmdline_has_param("quiet -- reboot=k", "reboot"));	/* init's */
	char small[16] = "root=/dev/vda";
	ck_assert_int_eq(modvm__boot_cmdline_add_param(small, sizeof(small), "reboot=acpi"), -ENOSPC);
	ck_assert_str_eq(small, "root=/dev/vda");
}
END_TEST

START_TEST(virtio_mmio_cmdline)
{
	const struct modvm__boot_mmio_dev dev[2] = {
		{ .base = 0xd0000000, .size = 0x1000, .irq = 5 },
		{ .base = 0xd0001000, .size = 0x200, .irq = 12 },
	};
	char buf[128] = "console=ttyS0";
	char small[40] = "root=/dev/vda";

	ck_assert_int_eq(modvm__boot_cmdline_add_virtio_mmio(buf, sizeof(buf), dev, 2), 0);
	ck_assert_str_eq(buf, "console=ttyS0 virtio_mmio.device=4K@0xd0000000:5 "
			      "virtio_mmio.device=0x200@0xd0001000:12");
	buf[0] = '\0';
	ck_assert_int_eq(modvm__boot_cmdline_add_virtio_mmio(buf, sizeof(buf), dev, 1), 0);
	ck_assert_str_eq(buf, "virtio_mmio.device=4K@0xd0000000:5");
	/* All or nothing when it does not fit. */
	ck_assert_int_eq(modvm__boot_cmdline_add_virtio_mmio(small, sizeof(small), dev, 2), -ENOSPC);
	ck_assert_str_eq(small, "root=/dev/vda");
	/* Exactly fitting (length 13 + 35 = 48, plus the NUL). */
	char exact[49] = "root=/dev/vda";
	ck_assert_int_eq(modvm__boot_cmdline_add_virtio_mmio(exact, sizeof(exact), dev, 1), 0);
	ck_assert_uint_eq(strlen(exact), 48);
	exact[13] = '\0';
	ck_assert_int_eq(modvm__boot_cmdline_add_virtio_mmio(exact, sizeof(exact) - 1, dev, 1), -ENOSPC);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("boot-layout");
	TCase *tc = tcase_create("layout");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, ram_bounds);
	tcase_add_test(tc, e820_128m);
	tcase_add_test(tc, e820_above_4g_in_boot_params);
	tcase_add_test(tc, long_mode_state_and_identity_map);
	tcase_add_test(tc, protected_mode_state);
	tcase_add_test(tc, mptable_cpus);
	tcase_add_test(tc, mptable_needs_ram);
	tcase_add_test(tc, acpi_tables);
	tcase_add_test(tc, memparse_format);
	tcase_add_test(tc, virtio_mmio_cmdline);
	tcase_add_loop_test(tc, cmdline_param_before_init_args, 0,
			    sizeof(param_cases) / sizeof(param_cases[0]));
	tcase_add_test(tc, cmdline_has_param);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
