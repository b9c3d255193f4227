/*
 * The core's platform devices driven through the VM's I/O bus, without
 * KVM (tests/unit/vm's fake backend): the CMOS RTC answers with the host's
 * wall clock in every mode Linux and hwclock use and keeps a clock the guest
 * sets; the power device turns ACPI S5, the ACPI reset register, the i8042
 * reset line and the PM1a port into the right request, and ignores sleep
 * states it never offered; both leave no port behind when freed.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/devices.h"
#include "vm/vm.h"
#include "vm_test.h"

#define MiB (1ULL << 20)

static uint8_t pio_in(struct modvm_vm *vm, uint16_t port)
{
	uint8_t v = 0;
	modvm__iobus_dispatch(vm->iobus, vm->nvcpus, MODVM_IOBUS_PIO, port, &v, 1, false);
	return v;
}

static void pio_out(struct modvm_vm *vm, uint16_t port, uint8_t v)
{
	modvm__iobus_dispatch(vm->iobus, vm->nvcpus, MODVM_IOBUS_PIO, port, &v, 1, true);
}

static uint8_t cmos(struct modvm_vm *vm, uint8_t reg)
{
	pio_out(vm, 0x70, reg);
	return pio_in(vm, 0x71);
}

static void cmos_set(struct modvm_vm *vm, uint8_t reg, uint8_t v)
{
	pio_out(vm, 0x70, reg);
	pio_out(vm, 0x71, v);
}

static int bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 15);
}

static unsigned pio_ranges(struct modvm_vm *vm)
{
	struct modvm_iobus_stats st;
	ck_assert_int_eq(modvm_iobus_get_stats(vm, MODVM_IOBUS_PIO, &st), 0);
	return (unsigned)st.ranges;
}

/* Seconds since the epoch as the RTC shows it in BCD, 24-hour mode. */
static time_t rtc_time_bcd(struct modvm_vm *vm)
{
	struct tm tm = { 0 };
	tm.tm_sec = bcd(cmos(vm, 0));
	tm.tm_min = bcd(cmos(vm, 2));
	tm.tm_hour = bcd(cmos(vm, 4));
	tm.tm_mday = bcd(cmos(vm, 7));
	tm.tm_mon = bcd(cmos(vm, 8)) - 1;
	tm.tm_year = bcd(cmos(vm, 0x32)) * 100 + bcd(cmos(vm, 9)) - 1900;
	return timegm(&tm);
}

START_TEST(rtc_reads_the_host_clock)
{
	struct fake_backend fb;
	struct modvm__rtc *rtc;

	fake_backend_init(&fb);
	struct modvm_vm *vm = vm_create(&fb, "rtc", 1, MiB);
	ck_assert_int_eq(modvm__rtc_attach(vm, &rtc), 0);

	ck_assert_uint_eq(cmos(vm, 0x0a) & 0x80, 0);	/* never "update in progress" */
	ck_assert_uint_eq(cmos(vm, 0x0b), 0x02);	/* BCD, 24-hour */
	ck_assert_uint_eq(cmos(vm, 0x0d), 0x80);	/* valid RAM and time */
	ck_assert_uint_eq(cmos(vm, 0x0c), 0);		/* no interrupt pending */
	time_t host = time(NULL);
	time_t guest = rtc_time_bcd(vm);
	ck_assert_msg(guest >= host - 1 && guest <= host + 2, "rtc %lld, host %lld",
		      (long long)guest, (long long)host);
	struct tm tm;
	gmtime_r(&host, &tm);
	ck_assert_int_eq(bcd(cmos(vm, 6)), tm.tm_wday + 1);
	/* Bit 7 of the index masks NMIs and selects the same register. */
	ck_assert_uint_eq(cmos(vm, 0x80 | 0x0d), 0x80);

	/* Binary mode: the same date without BCD. */
	cmos_set(vm, 0x0b, 0x02 | 0x04);
	ck_assert_int_eq(cmos(vm, 0x32), (tm.tm_year + 1900) / 100);
	ck_assert_int_eq(cmos(vm, 8), tm.tm_mon + 1);

	/* 12-hour BCD: hour 1-12, bit 7 = PM. */
	cmos_set(vm, 0x0b, 0x00);
	uint8_t h = cmos(vm, 4);
	int h12 = bcd(h & 0x7f);
	ck_assert(h12 >= 1 && h12 <= 12);
	time_t now = time(NULL);
	gmtime_r(&now, &tm);
	ck_assert_int_eq(h12 % 12 + ((h & 0x80) ? 12 : 0), tm.tm_hour);

	/* CMOS RAM keeps what is written; reg C and D are read-only. */
	cmos_set(vm, 0x40, 0xa5);
	ck_assert_uint_eq(cmos(vm, 0x40), 0xa5);
	cmos_set(vm, 0x0d, 0);
	ck_assert_uint_eq(cmos(vm, 0x0d), 0x80);

	modvm__rtc_free(rtc);
	ck_assert_uint_eq(pio_ranges(vm), 0);
	modvm_vm_destroy(vm);
}
END_TEST

START_TEST(rtc_keeps_the_time_the_guest_sets)
{
	struct fake_backend fb;
	struct modvm__rtc *rtc;

	fake_backend_init(&fb);
	struct modvm_vm *vm = vm_create(&fb, "rtc", 1, MiB);
	ck_assert_int_eq(modvm__rtc_attach(vm, &rtc), 0);

	/* hwclock's way: SET, write every register, clear SET. */
	cmos_set(vm, 0x0b, 0x82);
	cmos_set(vm, 0x32, 0x20);
	cmos_set(vm, 9, 0x31);
	cmos_set(vm, 8, 0x12);
	cmos_set(vm, 7, 0x24);
	cmos_set(vm, 4, 0x23);
	cmos_set(vm, 2, 0x59);
	cmos_set(vm, 0, 0x30);
	ck_assert_uint_eq(cmos(vm, 9), 0x31);		/* frozen while SET */
	cmos_set(vm, 0x0b, 0x02);
	struct tm want = { .tm_year = 2031 - 1900, .tm_mon = 11, .tm_mday = 24,
			   .tm_hour = 23, .tm_min = 59, .tm_sec = 30 };
	time_t t = rtc_time_bcd(vm), w = timegm(&want);
	ck_assert_msg(t >= w && t <= w + 2, "rtc %lld, set %lld", (long long)t, (long long)w);
	/* A write outside SET changes nothing. */
	cmos_set(vm, 9, 0x40);
	ck_assert_uint_eq(cmos(vm, 9), 0x31);

	modvm__rtc_free(rtc);
	modvm_vm_destroy(vm);
}
END_TEST

/* One power request per fresh device: which port and value give what. */
static const struct {
	const char *name;
	uint16_t port;
	uint8_t value;
	enum modvm__power_request want;
} power_cases[] = {
	{ "ACPI S5 (SLP_TYP 5 | SLP_EN)", MODVM_ACPI_SLEEP_CTL_PORT, (5 << 2) | 0x20, MODVM_POWER_OFF },
	{ "ACPI S3 never offered", MODVM_ACPI_SLEEP_CTL_PORT, (3 << 2) | 0x20, MODVM_POWER_NONE },
	{ "SLP_TYP 5 without SLP_EN", MODVM_ACPI_SLEEP_CTL_PORT, 5 << 2, MODVM_POWER_NONE },
	{ "ACPI reset register", MODVM_ACPI_RESET_PORT, MODVM_ACPI_RESET_VALUE, MODVM_POWER_RESET },
	{ "reset register, other value", MODVM_ACPI_RESET_PORT, 0x0e, MODVM_POWER_NONE },
	{ "i8042 pulse reset", 0x64, 0xfe, MODVM_POWER_RESET },
	{ "i8042 other command", 0x64, 0xad, MODVM_POWER_NONE },
	{ "sleep status is read-only", MODVM_ACPI_SLEEP_STS_PORT, 0xff, MODVM_POWER_NONE },
};

START_TEST(power_requests)
{
	struct fake_backend fb;
	struct modvm__power *p;

	fake_backend_init(&fb);
	struct modvm_vm *vm = vm_create(&fb, "pwr", 1, MiB);
	ck_assert_int_eq(modvm__power_attach(vm, &p), 0);
	ck_assert_uint_eq(modvm__power_requested(p), MODVM_POWER_NONE);
	errors_start();
	pio_out(vm, power_cases[_i].port, power_cases[_i].value);
	errors_stop();
	ck_assert_msg(modvm__power_requested(p) == power_cases[_i].want, "%s: request %d, want %d",
		      power_cases[_i].name, modvm__power_requested(p), power_cases[_i].want);
	ck_assert_uint_eq(pio_in(vm, MODVM_ACPI_SLEEP_STS_PORT), 0);
	modvm__power_free(p);
	ck_assert_uint_eq(pio_ranges(vm), 0);	/* every port it took, given back */
	modvm_vm_destroy(vm);
}
END_TEST

START_TEST(power_pm1a_port)
{
	struct fake_backend fb;
	struct modvm__power *p;
	uint16_t slp_en = 0x2000;

	fake_backend_init(&fb);
	struct modvm_vm *vm = vm_create(&fb, "pwr", 1, MiB);
	ck_assert_int_eq(modvm__power_attach(vm, &p), 0);
	modvm__iobus_dispatch(vm->iobus, vm->nvcpus, MODVM_IOBUS_PIO, MODVM_POWER_PORT,
			      (uint8_t *)&slp_en, 2, true);
	ck_assert_uint_eq(modvm__power_requested(p), MODVM_POWER_OFF);
	/* The first request wins: a later reset does not turn it into one. */
	pio_out(vm, MODVM_ACPI_RESET_PORT, MODVM_ACPI_RESET_VALUE);
	ck_assert_uint_eq(modvm__power_requested(p), MODVM_POWER_OFF);
	modvm__power_free(p);
	modvm_vm_destroy(vm);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("devices");
	TCase *tc = tcase_create("devices");
	tcase_add_test(tc, rtc_reads_the_host_clock);
	tcase_add_test(tc, rtc_keeps_the_time_the_guest_sets);
	tcase_add_loop_test(tc, power_requests, 0, sizeof(power_cases) / sizeof(power_cases[0]));
	tcase_add_test(tc, power_pm1a_port);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
