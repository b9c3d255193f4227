/*
 * The DSDT (core/boot/boot_aml.c) and the FADT's registers: the tables are
 * sound byte by byte, and ACPICA's own disassembler (iasl, from Debian's
 * acpica-tools) reads back exactly the COM1 and RTC devices, LNRO0005
 * windows, interrupts and \_S5 we meant, and recompiles them without a
 * complaint.  Skips (77)
 * without iasl.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "synth.h"

static char err[256];
static const struct modvm__boot_mmio_dev three[] = {
	{ 0xd0000000, 0x1000, 5 }, { 0xd0001000, 0x1000, 6 }, { 0xd0002000, 0x1000, 7 },
};

/* The DSDT the FADT points at, checksum verified. */
static const uint8_t *dsdt_of(struct fake_ram *f)
{
	const uint8_t *rsdp = gp(f, 0xe0000, 36);
	const uint8_t *xsdt = gp(f, rd64(rsdp + 24), 36);
	for (uint32_t off = 36; off < rd32(xsdt + 4); off += 8) {
		const uint8_t *t = gp(f, rd64(xsdt + off), 36);
		if (memcmp(t, "FACP", 4) == 0) {
			const uint8_t *d = gp(f, rd64(t + 140), 36);
			ck_assert_mem_eq(d, "DSDT", 4);
			d = gp(f, rd64(t + 140), rd32(d + 4));
			ck_assert_uint_eq(modvm__boot_sum8(d, rd32(d + 4)), 0);
			return d;
		}
	}
	ck_abort_msg("no FADT");
	return NULL;
}

static unsigned count(const uint8_t *p, size_t len, const char *what)
{
	unsigned n = 0;
	for (size_t i = 0; i + strlen(what) <= len; i++)
		n += memcmp(p + i, what, strlen(what)) == 0;
	return n;
}

START_TEST(no_windows_empty_dsdt)
{
	struct fake_ram f;
	fake_ram_init(&f, 16 << 20, 0);
	ck_assert_int_eq(modvm__boot_acpi_write(&f.ram, 1, NULL, NULL, 0, err, sizeof(err)), 0);
	ck_assert_uint_eq(rd32(dsdt_of(&f) + 4), 36);
	fake_ram_free(&f);
}
END_TEST

START_TEST(one_device_per_window)
{
	struct fake_ram f;
	fake_ram_init(&f, 16 << 20, 0);
	ck_assert_int_eq(modvm__boot_acpi_write(&f.ram, 2, NULL, three, 3, err, sizeof(err)), 0);
	const uint8_t *d = dsdt_of(&f);
	uint32_t len = rd32(d + 4);
	ck_assert_uint_eq(count(d, len, "LNRO0005"), 3);
	ck_assert_uint_eq(count(d, len, "VR02"), 1);
	/* Scope (\_SB) spans exactly the rest of the table (2-byte PkgLength). */
	ck_assert_uint_eq(d[36], 0x10);
	ck_assert_uint_eq(d[37] >> 6, 1);
	ck_assert_uint_eq((uint32_t)((d[37] & 0x0f) | d[38] << 4), len - 37);
	ck_assert_mem_eq(d + 39, "\\_SB_", 5);
	fake_ram_free(&f);
}
END_TEST

START_TEST(refusals)
{
	struct fake_ram f;
	struct modvm__boot_mmio_dev many[MODVM_BOOT_MAX_MMIO + 1];
	for (uint32_t i = 0; i <= MODVM_BOOT_MAX_MMIO; i++)
		many[i] = (struct modvm__boot_mmio_dev){ 0xd0000000 + 0x1000ull * i, 0x1000, 5 };
	const struct modvm__boot_mmio_dev high = { 0x100000000ull, 0x1000, 5 };
	uint8_t buf[64];

	fake_ram_init(&f, 16 << 20, 0);
	ck_assert_int_eq(modvm__boot_acpi_write(&f.ram, 1, NULL, many, MODVM_BOOT_MAX_MMIO, err,
						sizeof(err)), 0);
	ck_assert_int_eq(modvm__boot_acpi_write(&f.ram, 1, NULL, many, MODVM_BOOT_MAX_MMIO + 1, err,
						sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "33 virtio-mmio windows"));
	ck_assert_int_eq(modvm__boot_acpi_write(&f.ram, 1, NULL, &high, 1, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(modvm__boot_aml_dsdt(buf, sizeof(buf), NULL, three, 3), -ENOSPC);
	fake_ram_free(&f);
}
END_TEST

static char *slurp(const char *path)
{
	static char buf[65536];
	FILE *fp = fopen(path, "r");
	ck_assert_msg(fp != NULL, "%s missing", path);
	size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/*
 * Disassembles the DSDT of @f with iasl, checks that ACPICA's compiler
 * takes the disassembly back with no error or warning, and returns the
 * disassembly (static buffer).
 */
static const char *iasl_round_trip(struct fake_ram *f)
{
	char dir[] = "/tmp/modvm-dsdt-XXXXXX", path[128], cmd[512];
	const uint8_t *d = dsdt_of(f);

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dsdt.dat", dir);
	FILE *fp = fopen(path, "wb");
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(d, 1, rd32(d + 4), fp), rd32(d + 4));
	ck_assert_int_eq(fclose(fp), 0);

	snprintf(cmd, sizeof(cmd), "cd %s && iasl -d dsdt.dat >iasl-d.log 2>&1", dir);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/dsdt.dsl", dir);
	static char dsl[65536];
	snprintf(dsl, sizeof(dsl), "%s", slurp(path));
	snprintf(cmd, sizeof(cmd), "cd %s && iasl -p re dsdt.dsl >iasl.log 2>&1", dir);
	int rc = system(cmd);
	snprintf(path, sizeof(path), "%s/iasl.log", dir);
	const char *log = slurp(path);
	ck_assert_msg(rc == 0 && strstr(log, "0 Errors, 0 Warnings"), "iasl: %s", log);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	return dsl;
}

static void expect_all(const char *dsl, const char *const *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(strstr(dsl, want[i]), "disassembly lacks \"%s\":\n%s", want[i], dsl);
}

START_TEST(iasl_reads_back_what_we_meant)
{
	struct fake_ram f;

	fake_ram_init(&f, 16 << 20, 0);
	ck_assert_int_eq(modvm__boot_acpi_write(&f.ram, 2, NULL, three, 3, err, sizeof(err)), 0);
	const char *dsl = iasl_round_trip(&f);
	fake_ram_free(&f);
	const char *want[] = { "Scope (\\_SB)", "Device (VR00)", "Device (VR01)", "Device (VR02)",
			       "Name (_HID, \"LNRO0005\")",
			       "Memory32Fixed (ReadWrite,\n                    0xD0000000,",
			       "0xD0002000,", "0x00001000,",
			       "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )",
			       "0x00000005,", "0x00000006,", "0x00000007," };
	expect_all(dsl, want, sizeof(want) / sizeof(want[0]));
	ck_assert_ptr_null(strstr(dsl, "_S5"));
}
END_TEST

/* What modvm's machine announces: COM1 and the RTC with their ISA IRQs,
 * \_S5, and the FADT's sleep and reset registers. */
static const struct modvm__boot_platform pc = {
	.com1_port = 0x3f8, .com1_irq = 4, .rtc_port = 0x70, .rtc_irq = 8,
	.sleep_ctl_port = 0x600, .sleep_sts_port = 0x601, .s5_typ = 5,
	.reset_port = 0x602, .reset_value = 1,
};

static const uint8_t *fadt_of(struct fake_ram *f)
{
	const uint8_t *rsdp = gp(f, 0xe0000, 36);
	const uint8_t *xsdt = gp(f, rd64(rsdp + 24), 36);
	for (uint32_t off = 36; off < rd32(xsdt + 4); off += 8) {
		const uint8_t *t = gp(f, rd64(xsdt + off), 276);
		if (memcmp(t, "FACP", 4) == 0) {
			ck_assert_uint_eq(modvm__boot_sum8(t, rd32(t + 4)), 0);
			return t;
		}
	}
	ck_abort_msg("no FADT");
	return NULL;
}

START_TEST(fadt_sleep_and_reset_registers)
{
	struct fake_ram f;

	fake_ram_init(&f, 16 << 20, 0);
	ck_assert_int_eq(modvm__boot_acpi_write(&f.ram, 1, &pc, three, 3, err, sizeof(err)), 0);
	const uint8_t *t = fadt_of(&f);
	uint32_t flags = rd32(t + 112);
	ck_assert_uint_eq(flags & (1u << 20), 1u << 20);	/* HW_REDUCED_ACPI */
	ck_assert_uint_eq(flags & (1u << 10), 1u << 10);	/* RESET_REG_SUP */
	/* RESET_REG: System I/O, 8 bits at offset 0, byte access, port 0x602 */
	ck_assert_uint_eq(t[116], 1);
	ck_assert_uint_eq(t[117], 8);
	ck_assert_uint_eq(t[119], 1);
	ck_assert_uint_eq(rd64(t + 120), 0x602);
	ck_assert_uint_eq(t[128], 1);
	ck_assert_uint_eq(t[244], 1);	/* SLEEP_CONTROL_REG */
	ck_assert_uint_eq(rd64(t + 248), 0x600);
	ck_assert_uint_eq(t[256], 1);	/* SLEEP_STATUS_REG */
	ck_assert_uint_eq(rd64(t + 260), 0x601);
	/* Without a platform: none of them, as before. */
	ck_assert_int_eq(modvm__boot_acpi_write(&f.ram, 1, NULL, NULL, 0, err, sizeof(err)), 0);
	t = fadt_of(&f);
	ck_assert_uint_eq(rd32(t + 112), 1u << 20);
	ck_assert_uint_eq(rd64(t + 248), 0);
	fake_ram_free(&f);
}
END_TEST

START_TEST(iasl_reads_back_the_platform)
{
	struct fake_ram f;

	fake_ram_init(&f, 16 << 20, 0);
	ck_assert_int_eq(modvm__boot_acpi_write(&f.ram, 2, &pc, three, 3, err, sizeof(err)), 0);
	const char *dsl = iasl_round_trip(&f);
	fake_ram_free(&f);
	const char *want[] = {
		"Device (COM1)", "Name (_HID, EisaId (\"PNP0501\")",
		"IO (Decode16,\n                    0x03F8,", "IRQNoFlags ()\n                    {4}",
		"Device (RTC)", "Name (_HID, EisaId (\"PNP0B00\")",
		"IO (Decode16,\n                    0x0070,", "IRQNoFlags ()\n                    {8}",
		"Device (VR02)", "Name (\\_S5, Package (0x04)", "0x05, ",
	};
	expect_all(dsl, want, sizeof(want) / sizeof(want[0]));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("boot_dsdt");
	TCase *tc = tcase_create("dsdt");
	tcase_add_test(tc, no_windows_empty_dsdt);
	tcase_add_test(tc, one_device_per_window);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, fadt_sleep_and_reset_registers);
	if (system("command -v iasl >/dev/null 2>&1") == 0) {
		tcase_add_test(tc, iasl_reads_back_what_we_meant);
		tcase_add_test(tc, iasl_reads_back_the_platform);
	} else
		printf("iasl_reads_back_what_we_meant: SKIP: no iasl (apt-get install acpica-tools)\n");
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
