/*
 * The DSDT's virtio-mmio devices (core/boot_aml.c): the table is sound
 * byte by byte, and ACPICA's own disassembler (iasl, from Debian's
 * acpica-tools) reads back exactly the LNRO0005 devices, windows and
 * interrupts we meant, and recompiles them without a complaint.  Skips (77)
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
	ck_assert_int_eq(modvm__boot_acpi_write(&f.ram, 1, NULL, 0, err, sizeof(err)), 0);
	ck_assert_uint_eq(rd32(dsdt_of(&f) + 4), 36);
	fake_ram_free(&f);
}
END_TEST

START_TEST(one_device_per_window)
{
	struct fake_ram f;
	fake_ram_init(&f, 16 << 20, 0);
	ck_assert_int_eq(modvm__boot_acpi_write(&f.ram, 2, three, 3, err, sizeof(err)), 0);
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
	ck_assert_int_eq(modvm__boot_acpi_write(&f.ram, 1, many, MODVM_BOOT_MAX_MMIO, err,
						sizeof(err)), 0);
	ck_assert_int_eq(modvm__boot_acpi_write(&f.ram, 1, many, MODVM_BOOT_MAX_MMIO + 1, err,
						sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "33 virtio-mmio windows"));
	ck_assert_int_eq(modvm__boot_acpi_write(&f.ram, 1, &high, 1, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(modvm__boot_aml_virtio_mmio(buf, sizeof(buf), three, 3), -ENOSPC);
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

START_TEST(iasl_reads_back_what_we_meant)
{
	struct fake_ram f;
	char dir[] = "/tmp/modvm-dsdt-XXXXXX", path[128], cmd[512];

	fake_ram_init(&f, 16 << 20, 0);
	ck_assert_int_eq(modvm__boot_acpi_write(&f.ram, 2, three, 3, err, sizeof(err)), 0);
	const uint8_t *d = dsdt_of(&f);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dsdt.dat", dir);
	FILE *fp = fopen(path, "wb");
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(d, 1, rd32(d + 4), fp), rd32(d + 4));
	ck_assert_int_eq(fclose(fp), 0);
	fake_ram_free(&f);

	snprintf(cmd, sizeof(cmd), "cd %s && iasl -d dsdt.dat >iasl-d.log 2>&1", dir);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/dsdt.dsl", dir);
	const char *dsl = slurp(path);
	const char *want[] = { "Scope (\\_SB)", "Device (VR00)", "Device (VR01)", "Device (VR02)",
			       "Name (_HID, \"LNRO0005\")",
			       "Memory32Fixed (ReadWrite,\n                    0xD0000000,",
			       "0xD0002000,", "0x00001000,",
			       "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )",
			       "0x00000005,", "0x00000006,", "0x00000007," };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(strstr(dsl, want[i]), "disassembly lacks \"%s\":\n%s", want[i], dsl);
	/* and ACPICA's compiler takes it back with no error or warning */
	snprintf(cmd, sizeof(cmd), "cd %s && iasl -p re dsdt.dsl >iasl.log 2>&1", dir);
	int rc = system(cmd);
	snprintf(path, sizeof(path), "%s/iasl.log", dir);
	const char *log = slurp(path);
	ck_assert_msg(rc == 0 && strstr(log, "0 Errors, 0 Warnings"), "iasl: %s", log);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("boot_dsdt");
	TCase *tc = tcase_create("dsdt");
	tcase_add_test(tc, no_windows_empty_dsdt);
	tcase_add_test(tc, one_device_per_window);
	tcase_add_test(tc, refusals);
	if (system("command -v iasl >/dev/null 2>&1") == 0)
		tcase_add_test(tc, iasl_reads_back_what_we_meant);
	else
		printf("iasl_reads_back_what_we_meant: SKIP: no iasl (apt-get install acpica-tools)\n");
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
