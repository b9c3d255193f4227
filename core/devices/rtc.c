/*
 * The PC's CMOS real-time clock (Motorola MC146818 at ports 0x70/0x71), so
 * that Linux reads the wall clock instead of spinning on an absent chip
 * (an unanswered port reads all ones: "update in progress" forever).
 *
 * The time is the host's CLOCK_REALTIME plus an offset the guest may move
 * by setting the clock (reg B SET, write, clear SET), the way hwclock does.
 * No interrupts: periodic, alarm and update-ended interrupts are accepted
 * in reg B but never raised (hwclock falls back to polling, Linux keeps
 * time with its own clocks).  The rest of the 128 bytes is plain CMOS RAM.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/devices.h"

#define RTC_INDEX_PORT 0x70
#define RTC_DATA_PORT 0x71
#define RTC_INDEX_MASK 0x7f	/* bit 7 of the index port masks NMIs: ignored */

enum {
	REG_SEC = 0x00, REG_MIN = 0x02, REG_HOUR = 0x04, REG_WDAY = 0x06, REG_MDAY = 0x07,
	REG_MON = 0x08, REG_YEAR = 0x09, REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d,
	REG_CENTURY = 0x32,
};
#define REG_A_UIP 0x80
#define REG_B_SET 0x80
#define REG_B_DM_BINARY 0x04
#define REG_B_24H 0x02
#define REG_D_VRT 0x80
#define HOUR_PM 0x80

struct modvm__rtc {
	struct modvm_vm *vm;
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t ram[128];
	int64_t offset;		/* guest time - host time, seconds */
	struct tm set;		/* the time being written while SET is on */
};

static bool binary(const struct modvm__rtc *r)
{
	return r->ram[REG_B] & REG_B_DM_BINARY;
}

static uint8_t encode(const struct modvm__rtc *r, int v)
{
	return binary(r) ? (uint8_t)v : (uint8_t)(((v / 10) << 4) | (v % 10));
}

static int decode(const struct modvm__rtc *r, uint8_t v)
{
	return binary(r) ? v : (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t encode_hour(const struct modvm__rtc *r, int hour)
{
	if (r->ram[REG_B] & REG_B_24H)
		return encode(r, hour);
	int h12 = hour % 12 ? hour % 12 : 12;
	return (uint8_t)(encode(r, h12) | (hour >= 12 ? HOUR_PM : 0));
}

static int decode_hour(const struct modvm__rtc *r, uint8_t v)
{
	if (r->ram[REG_B] & REG_B_24H)
		return decode(r, v);
	int h = decode(r, v & (uint8_t)~HOUR_PM) % 12;
	return h + ((v & HOUR_PM) ? 12 : 0);
}

static void now_tm(const struct modvm__rtc *r, struct tm *tm)
{
	time_t t = time(NULL) + (time_t)r->offset;
	gmtime_r(&t, tm);
}

static uint8_t read_time(const struct modvm__rtc *r, uint8_t reg)
{
	struct tm tm;

	if (r->ram[REG_B] & REG_B_SET)
		tm = r->set;	/* frozen while the guest sets the clock */
	else
		now_tm(r, &tm);
	switch (reg) {
	case REG_SEC:
		return encode(r, tm.tm_sec > 59 ? 59 : tm.tm_sec);
	case REG_MIN:
		return encode(r, tm.tm_min);
	case REG_HOUR:
		return encode_hour(r, tm.tm_hour);
	case REG_WDAY:
		return encode(r, tm.tm_wday + 1);
	case REG_MDAY:
		return encode(r, tm.tm_mday);
	case REG_MON:
		return encode(r, tm.tm_mon + 1);
	case REG_YEAR:
		return encode(r, (tm.tm_year + 1900) % 100);
	default:	/* REG_CENTURY */
		return encode(r, (tm.tm_year + 1900) / 100);
	}
}

static void write_time(struct modvm__rtc *r, uint8_t reg, uint8_t v)
{
	struct tm *tm = &r->set;

	switch (reg) {
	case REG_SEC:
		tm->tm_sec = decode(r, v);
		break;
	case REG_MIN:
		tm->tm_min = decode(r, v);
		break;
	case REG_HOUR:
		tm->tm_hour = decode_hour(r, v);
		break;
	case REG_WDAY:
		break;	/* derived from the date */
	case REG_MDAY:
		tm->tm_mday = decode(r, v);
		break;
	case REG_MON:
		tm->tm_mon = decode(r, v) - 1;
		break;
	case REG_YEAR:
		tm->tm_year = (tm->tm_year + 1900) / 100 * 100 + decode(r, v) - 1900;
		break;
	default:	/* REG_CENTURY */
		tm->tm_year = decode(r, v) * 100 + (tm->tm_year + 1900) % 100 - 1900;
		break;
	}
}

static bool is_time_reg(uint8_t reg)
{
	return reg <= REG_YEAR ? reg % 2 == 0 || reg >= REG_WDAY : reg == REG_CENTURY;
}

static uint8_t read_reg(struct modvm__rtc *r, uint8_t reg)
{
	if (is_time_reg(reg))
		return read_time(r, reg);
	switch (reg) {
	case REG_A:
		return r->ram[REG_A] & (uint8_t)~REG_A_UIP;	/* never mid-update */
	case REG_C:
		return 0;	/* no interrupt ever pending */
	case REG_D:
		return REG_D_VRT;	/* the battery is fine */
	default:
		return r->ram[reg];
	}
}

static void write_reg(struct modvm__rtc *r, uint8_t reg, uint8_t v)
{
	if (is_time_reg(reg)) {
		/* Outside SET a write is ignored by this model, not half-applied. */
		if (r->ram[REG_B] & REG_B_SET)
			write_time(r, reg, v);
		return;
	}
	switch (reg) {
	case REG_A:
		r->ram[REG_A] = v & (uint8_t)~REG_A_UIP;
		return;
	case REG_B:
		if ((v & REG_B_SET) && !(r->ram[REG_B] & REG_B_SET)) {
			now_tm(r, &r->set);
		} else if (!(v & REG_B_SET) && (r->ram[REG_B] & REG_B_SET)) {
			struct tm tm = r->set;
			time_t t = timegm(&tm);
			if (t != (time_t)-1)
				r->offset = (int64_t)t - (int64_t)time(NULL);
		}
		r->ram[REG_B] = v;
		return;
	case REG_C:
	case REG_D:
		return;	/* read-only */
	default:
		r->ram[reg] = v;
	}
}

static void rtc_access(void *ud, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct modvm__rtc *r = ud;

	pthread_mutex_lock(&r->lock);
	if (off == 0) {
		if (is_write)
			r->index = data[0] & RTC_INDEX_MASK;
		else
			memset(data, 0xff, len);	/* the index port is write-only */
	} else if (is_write) {
		write_reg(r, r->index, data[0]);
	} else {
		memset(data, 0, len);
		data[0] = read_reg(r, r->index);
	}
	pthread_mutex_unlock(&r->lock);
}

MODVM_INTERNAL int modvm__rtc_attach(struct modvm_vm *vm, struct modvm__rtc **out)
{
	struct modvm__rtc *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->vm = vm;
	pthread_mutex_init(&r->lock, NULL);
	r->ram[REG_A] = 0x26;			/* 32.768 kHz time base, 1024 Hz rate */
	r->ram[REG_B] = REG_B_24H;		/* BCD, 24-hour: what PC firmware leaves */
	int ret = modvm_iobus_register(vm, MODVM_IOBUS_PIO, RTC_INDEX_PORT, 2, rtc_access, r);
	if (ret < 0) {
		pthread_mutex_destroy(&r->lock);
		free(r);
		return ret;
	}
	*out = r;
	return 0;
}

MODVM_INTERNAL void modvm__rtc_free(struct modvm__rtc *r)
{
	if (!r)
		return;
	modvm_iobus_unregister(r->vm, MODVM_IOBUS_PIO, RTC_INDEX_PORT);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
