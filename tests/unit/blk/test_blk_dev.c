/*
 * The virtio-blk device model through the qtest-style driver on a fake
 * guest RAM between guard pages, on a real image file: feature
 * negotiation and config space, reads and writes in any descriptor
 * layout, flush, discard and write-zeroes, GET_ID, every refused request
 * (out of range, overflowing sectors, read-only, unknown types, short
 * headers, missing status bytes), host I/O errors, several queues, the
 * rate limiter, reset with requests held, O_DIRECT with bounce buffers.
 * Every test runs on both engines: io_uring and the thread pool.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/falloc.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <modvm/log.h>

#include "bdrv.h"
#include "event/event.h"

#define F(b) VBLK_BIT(VBLK_F_##b)
#define IMG_SIZE (1u << 20)		/* 2048 sectors */
#define CAP (IMG_SIZE / VBLK_SECTOR)

static const enum blkio_kind engines[] = { BLKIO_URING, BLKIO_THREADS };
static enum blkio_kind engine;
static char path[64];
static int fd = -1;
static struct bdrv d;

/* False (and the test returns) when this host has no io_uring. */
static bool pick_engine(int i)
{
	char why[256];

	engine = engines[i];
	if (engine == BLKIO_URING && !blkio_uring_usable(why, sizeof(why))) {
		printf("io_uring variant not run: %s\n", why);
		return false;
	}
	return true;
}

static void make_cfg(struct blkdev_config *cfg)
{
	fd = bdrv_image(path, IMG_SIZE, 0);
	*cfg = bdrv_config(fd, IMG_SIZE, engine);
}

static void make(void)
{
	struct blkdev_config cfg;

	make_cfg(&cfg);
	bdrv_init(&d, &cfg);
}

static void destroy(void)
{
	bdrv_fini(&d);
	close(fd);
	unlink(path);
	fd = -1;
}

static struct blkdev_stats stats(void)
{
	struct blkdev_stats s;
	blkdev_get_stats(d.bd, &s);
	return s;
}

/* The image holds its original pattern in [off, off + len). */
static bool host_untouched(uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len);
	bool same = pread(fd, buf, len, (off_t)off) == (ssize_t)len;
	for (size_t i = 0; same && i < len; i++)
		same = buf[i] == bdrv_pattern(off + i);
	free(buf);
	return same;
}

#define SKIP_UNLESS_ENGINE()                                                             \
	do {                                                                             \
		if (!pick_engine(_i))                                                    \
			return;                                                          \
	} while (0)

START_TEST(test_features_and_config)
{
	SKIP_UNLESS_ENGINE();
	struct blkdev_config cfg;

	make_cfg(&cfg);
	cfg.num_queues = 3;
	cfg.block_size = 4096;
	cfg.discard = true;
	bdrv_init(&d, &cfg);
	uint64_t f = bdrv_offered(&d);
	uint64_t must = F(SIZE_MAX) | F(SEG_MAX) | F(BLK_SIZE) | F(FLUSH) | F(MQ) | F(DISCARD) |
			F(WRITE_ZEROES) | VERSION_1;
	ck_assert_uint_eq(f & must, must);
	ck_assert_uint_eq(f & F(RO), 0);
	ck_assert_uint_eq(mmio_read(&d.v, MODVM_VIRTIO_MMIO_DEVICE_ID), 2);
	ck_assert_uint_eq(bdrv_cfg_read64(&d, VBLK_CFG_CAPACITY), CAP);
	ck_assert_uint_eq(bdrv_cfg_read(&d, VBLK_CFG_SIZE_MAX, 4), BLKDEV_SIZE_MAX);
	ck_assert_uint_eq(bdrv_cfg_read(&d, VBLK_CFG_SEG_MAX, 4), BLKDEV_SEG_MAX);
	ck_assert_uint_eq(bdrv_cfg_read(&d, VBLK_CFG_BLK_SIZE, 4), 4096);
	ck_assert_uint_eq(bdrv_cfg_read(&d, VBLK_CFG_NUM_QUEUES, 2), 3);
	ck_assert_uint_eq(bdrv_cfg_read(&d, VBLK_CFG_MAX_DISCARD_SECTORS, 4),
			  BLKDEV_MAX_DWZ_SECTORS);
	ck_assert_uint_eq(bdrv_cfg_read(&d, VBLK_CFG_MAX_DISCARD_SEG, 4), 1);
	ck_assert_uint_eq(bdrv_cfg_read(&d, VBLK_CFG_DISCARD_ALIGN, 4), 8);
	ck_assert_uint_eq(bdrv_cfg_read(&d, VBLK_CFG_MAX_WZ_SEG, 4), 1);
	ck_assert_uint_eq(bdrv_cfg_read(&d, VBLK_CFG_WZ_MAY_UNMAP, 1), 1);
	/* The capacity read in two halves, as a 32-bit driver does. */
	ck_assert_uint_eq(bdrv_cfg_read(&d, VBLK_CFG_CAPACITY, 4), CAP);
	ck_assert_uint_eq(bdrv_cfg_read(&d, VBLK_CFG_CAPACITY + 4, 4), 0);
	destroy();

	make_cfg(&cfg);
	cfg.readonly = true;
	cfg.discard = true;
	bdrv_init(&d, &cfg);
	f = bdrv_offered(&d);
	ck_assert_uint_ne(f & F(RO), 0);
	/* A read-only disk offers nothing that writes. */
	ck_assert_uint_eq(f & (F(DISCARD) | F(WRITE_ZEROES)), 0);
	ck_assert_uint_eq(bdrv_cfg_read(&d, VBLK_CFG_MAX_DISCARD_SECTORS, 4), 0);
	destroy();
}
END_TEST

START_TEST(test_read_write_roundtrip)
{
	SKIP_UNLESS_ENGINE();
	uint32_t used;

	make();
	bdrv_start(&d, F(FLUSH), 1, 64);
	/* Read 8 sectors at sector 10: the image's bytes. */
	uint64_t buf = bdrv_alloc(&d, 4096, 512);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_IN, 10, buf, 4096, &used), VBLK_S_OK);
	ck_assert_uint_eq(used, 4096 + 1);
	for (unsigned i = 0; i < 4096; i++)
		ck_assert_uint_eq(gpa(&d.v, buf)[i], bdrv_pattern(10 * 512 + i));
	/* Write 2 sectors at sector 100 and find them in the file. */
	for (unsigned i = 0; i < 1024; i++)
		gpa(&d.v, buf)[i] = (uint8_t)(i ^ 0x5a);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_OUT, 100, buf, 1024, &used), VBLK_S_OK);
	ck_assert_uint_eq(used, 1);
	uint8_t host[1024];
	ck_assert_int_eq(pread(fd, host, sizeof(host), 100 * 512), (ssize_t)sizeof(host));
	for (unsigned i = 0; i < 1024; i++)
		ck_assert_uint_eq(host[i], (uint8_t)(i ^ 0x5a));
	ck_assert(host_untouched(99 * 512, 512));
	ck_assert(host_untouched(102 * 512, 512));
	/* The last sector is inside the disk. */
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_IN, CAP - 1, buf, 512, NULL), VBLK_S_OK);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_FLUSH, 0, 0, 0, NULL), VBLK_S_OK);
	struct blkdev_stats s = stats();
	ck_assert_uint_eq(s.reads, 2);
	ck_assert_uint_eq(s.writes, 1);
	ck_assert_uint_eq(s.flushes, 1);
	ck_assert_uint_eq(s.write_bytes, 1024);
	ck_assert_uint_gt(d.v.irqs, 0);
	destroy();
}
END_TEST

/* Virtio 1 has no framing rules: header, data and status may share and
 * split descriptors any way (2.6.4). */
START_TEST(test_any_layout)
{
	SKIP_UNLESS_ENGINE();
	uint32_t id, len;

	make();
	bdrv_start(&d, 0, 1, 64);
	/* A write whose header and data are one buffer, split oddly. */
	uint64_t a = bdrv_alloc(&d, VBLK_HDR_LEN + 1024, 16), st = bdrv_alloc(&d, 1, 1);
	bdrv_hdr(&d, a, VBLK_T_OUT, 4);
	for (unsigned i = 0; i < 1024; i++)
		gpa(&d.v, a + VBLK_HDR_LEN)[i] = (uint8_t)(i * 3);
	struct bseg w[] = { { a, 5, false }, { a + 5, 300, false },
			    { a + 305, VBLK_HDR_LEN + 1024 - 305, false }, { st, 1, true } };
	*gpa(&d.v, st) = 0xee;
	bdrv_post(&d, 0, w, 4);
	bdrv_kick(&d, 0);
	ck_assert(bdrv_wait_used(&d, 0, &id, &len));
	ck_assert_uint_eq(*gpa(&d.v, st), VBLK_S_OK);
	/* A read into data and status sharing one writable buffer, in three pieces. */
	uint64_t h = bdrv_alloc(&d, VBLK_HDR_LEN, 16), r = bdrv_alloc(&d, 1025, 1);
	bdrv_hdr(&d, h, VBLK_T_IN, 4);
	memset(gpa(&d.v, r), 0, 1025);
	struct bseg rd[] = { { h, VBLK_HDR_LEN, false }, { r, 100, true }, { r + 100, 900, true },
			     { r + 1000, 25, true } };
	bdrv_post(&d, 0, rd, 4);
	bdrv_kick(&d, 0);
	ck_assert(bdrv_wait_used(&d, 0, &id, &len));
	ck_assert_uint_eq(len, 1025);
	ck_assert_uint_eq(gpa(&d.v, r)[1024], VBLK_S_OK);
	for (unsigned i = 0; i < 1024; i++)
		ck_assert_uint_eq(gpa(&d.v, r)[i], (uint8_t)(i * 3));
	destroy();
}
END_TEST

static const struct {
	const char *name;
	uint32_t type;
	uint64_t sector;
	uint32_t len;
	uint8_t status;
} refusals[] = {
	{ "read past the end", VBLK_T_IN, CAP, 512, VBLK_S_IOERR },
	{ "write past the end", VBLK_T_OUT, CAP, 512, VBLK_S_IOERR },
	{ "read across the end", VBLK_T_IN, CAP - 1, 1024, VBLK_S_IOERR },
	{ "write across the end", VBLK_T_OUT, CAP - 1, 1024, VBLK_S_IOERR },
	{ "sector near 2^64 (overflow)", VBLK_T_OUT, UINT64_MAX - 1, 2048, VBLK_S_IOERR },
	{ "sector 2^55 (bytes overflow)", VBLK_T_IN, 1ULL << 55, 512, VBLK_S_IOERR },
	{ "length not a multiple of 512", VBLK_T_OUT, 0, 100, VBLK_S_IOERR },
	{ "read length not a multiple of 512", VBLK_T_IN, 0, 513, VBLK_S_IOERR },
	{ "zero-length read at the end", VBLK_T_IN, CAP, 0, VBLK_S_OK },
	{ "zero-length write beyond the end", VBLK_T_OUT, CAP + 1, 0, VBLK_S_IOERR },
	{ "type 2 (unknown)", 2, 0, 512, VBLK_S_UNSUPP },
	{ "type 3 (unknown)", 3, 0, 0, VBLK_S_UNSUPP },
	{ "GET_LIFETIME", VBLK_T_GET_LIFETIME, 0, 16, VBLK_S_UNSUPP },
	{ "SECURE_ERASE", VBLK_T_SECURE_ERASE, 0, 16, VBLK_S_UNSUPP },
	{ "type 0xffffffff", 0xffffffffu, 0, 0, VBLK_S_UNSUPP },
	{ "discard not negotiated", VBLK_T_DISCARD, 0, 16, VBLK_S_UNSUPP },
	{ "write-zeroes not negotiated", VBLK_T_WRITE_ZEROES, 0, 16, VBLK_S_UNSUPP },
};

/* Refused requests get their status and move no byte: neither in the
 * image nor in the guest's buffer. */
START_TEST(test_refused_requests)
{
	unsigned k = (unsigned)_i % (sizeof(refusals) / sizeof(refusals[0]));
	if (!pick_engine(_i / (int)(sizeof(refusals) / sizeof(refusals[0]))))
		return;
	make();
	bdrv_start(&d, 0, 1, 64);
	uint64_t buf = bdrv_alloc(&d, 4096, 512);
	memset(gpa(&d.v, buf), 0x77, 4096);
	uint8_t s = bdrv_req(&d, 0, refusals[k].type, refusals[k].sector, buf, refusals[k].len, NULL);
	ck_assert_msg(s == refusals[k].status, "%s: status %u, want %u", refusals[k].name, s,
		      refusals[k].status);
	ck_assert_msg(vdrv_all(&d.v, buf, 4096, 0x77), "%s: guest buffer written", refusals[k].name);
	ck_assert_msg(host_untouched(0, IMG_SIZE), "%s: image changed", refusals[k].name);
	struct blkdev_stats st = stats();
	ck_assert_uint_eq(st.reads + st.writes, 0);
	destroy();
}
END_TEST

START_TEST(test_readonly_disk)
{
	SKIP_UNLESS_ENGINE();
	struct blkdev_config cfg;

	make_cfg(&cfg);
	cfg.readonly = true;
	bdrv_init(&d, &cfg);
	bdrv_start(&d, F(RO), 1, 64);
	uint64_t buf = bdrv_alloc(&d, 1024, 512), seg = bdrv_alloc(&d, 16, 16);
	memset(gpa(&d.v, buf), 0x11, 1024);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_OUT, 0, buf, 1024, NULL), VBLK_S_IOERR);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_IN, 0, buf, 1024, NULL), VBLK_S_OK);
	ck_assert_uint_eq(gpa(&d.v, buf)[1], bdrv_pattern(1));
	/* Even a driver that asks to discard or zero gets no write. */
	uint64_t dwz[2] = { 0, 8 };
	memcpy(gpa(&d.v, seg), dwz, 16);
	ck_assert_uint_ne(bdrv_req(&d, 0, VBLK_T_DISCARD, 0, seg, 16, NULL), VBLK_S_OK);
	ck_assert_uint_ne(bdrv_req(&d, 0, VBLK_T_WRITE_ZEROES, 0, seg, 16, NULL), VBLK_S_OK);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_FLUSH, 0, 0, 0, NULL), VBLK_S_OK);
	ck_assert(host_untouched(0, IMG_SIZE));
	destroy();
}
END_TEST

START_TEST(test_get_id)
{
	SKIP_UNLESS_ENGINE();
	struct blkdev_config cfg;
	uint32_t used;

	make_cfg(&cfg);
	memcpy(cfg.serial, "0123456789abcdefghij", 20);	/* 20 bytes: no NUL */
	bdrv_init(&d, &cfg);
	bdrv_start(&d, 0, 1, 64);
	uint64_t buf = bdrv_alloc(&d, 64, 16);
	memset(gpa(&d.v, buf), 0xff, 64);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_GET_ID, 0, buf, 64, &used), VBLK_S_OK);
	ck_assert_uint_eq(used, 21);
	ck_assert_int_eq(memcmp(gpa(&d.v, buf), "0123456789abcdefghij", 20), 0);
	ck_assert(vdrv_all(&d.v, buf + 20, 44, 0xff));
	/* A short buffer gets what fits and nothing beyond. */
	memset(gpa(&d.v, buf), 0xff, 64);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_GET_ID, 0, buf, 5, &used), VBLK_S_OK);
	ck_assert_int_eq(memcmp(gpa(&d.v, buf), "01234", 5), 0);
	ck_assert(vdrv_all(&d.v, buf + 5, 59, 0xff));
	ck_assert_uint_eq(stats().get_ids, 2);
	destroy();
}
END_TEST

/* Chains that break 5.2.6: the guest learns nothing from a chain without a
 * status byte (used length 0), an IOERR from one with a short header. */
START_TEST(test_malformed_chains)
{
	SKIP_UNLESS_ENGINE();
	uint32_t id, len;

	make();
	bdrv_start(&d, 0, 1, 64);
	uint64_t h = bdrv_alloc(&d, 64, 16), st = bdrv_alloc(&d, 1, 1);
	bdrv_hdr(&d, h, VBLK_T_IN, 0);
	/* No writable descriptor at all. */
	struct bseg only_hdr[] = { { h, VBLK_HDR_LEN, false } };
	bdrv_post(&d, 0, only_hdr, 1);
	bdrv_kick(&d, 0);
	ck_assert(bdrv_wait_used(&d, 0, &id, &len));
	ck_assert_uint_eq(len, 0);
	ck_assert_uint_eq(stats().bad_chains, 1);
	/* A status byte but no header. */
	*gpa(&d.v, st) = 0xee;
	struct bseg only_status[] = { { st, 1, true } };
	bdrv_post(&d, 0, only_status, 1);
	bdrv_kick(&d, 0);
	ck_assert(bdrv_wait_used(&d, 0, &id, &len));
	ck_assert_uint_eq(*gpa(&d.v, st), VBLK_S_IOERR);
	/* An 8-byte header. */
	*gpa(&d.v, st) = 0xee;
	struct bseg short_hdr[] = { { h, 8, false }, { st, 1, true } };
	bdrv_post(&d, 0, short_hdr, 2);
	bdrv_kick(&d, 0);
	ck_assert(bdrv_wait_used(&d, 0, &id, &len));
	ck_assert_uint_eq(*gpa(&d.v, st), VBLK_S_IOERR);
	/* A 16-byte header in four pieces works. */
	*gpa(&d.v, st) = 0xee;
	struct bseg split[] = { { h, 3, false }, { h + 3, 5, false }, { h + 8, 7, false },
				{ h + 15, 1, false }, { st, 1, true } };
	bdrv_post(&d, 0, split, 5);
	bdrv_kick(&d, 0);
	ck_assert(bdrv_wait_used(&d, 0, &id, &len));
	ck_assert_uint_eq(*gpa(&d.v, st), VBLK_S_OK);
	/* A status byte that is the last byte of guest RAM: written, and
	 * nothing past it (the guard page would fault). */
	uint64_t last = RAM_SIZE - 1;
	*gpa(&d.v, last) = 0xee;
	struct bseg at_end[] = { { h, VBLK_HDR_LEN, false }, { last, 1, true } };
	bdrv_post(&d, 0, at_end, 2);
	bdrv_kick(&d, 0);
	ck_assert(bdrv_wait_used(&d, 0, &id, &len));
	ck_assert_uint_eq(*gpa(&d.v, last), VBLK_S_OK);
	/* A read whose data would end at the end of RAM. */
	bdrv_hdr(&d, h, VBLK_T_IN, 2);
	struct bseg data_end[] = { { h, VBLK_HDR_LEN, false }, { RAM_SIZE - 513, 513, true } };
	bdrv_post(&d, 0, data_end, 2);
	bdrv_kick(&d, 0);
	ck_assert(bdrv_wait_used(&d, 0, &id, &len));
	ck_assert_uint_eq(*gpa(&d.v, RAM_SIZE - 1), VBLK_S_OK);
	ck_assert_uint_eq(gpa(&d.v, RAM_SIZE - 513)[0], bdrv_pattern(1024));
	ck_assert(host_untouched(0, IMG_SIZE));
	destroy();
}
END_TEST

static void put_dwz(uint64_t at, uint64_t sector, uint32_t num, uint32_t flags)
{
	uint8_t *p = gpa(&d.v, at);
	memcpy(p, &sector, 8);
	memcpy(p + 8, &num, 4);
	memcpy(p + 12, &flags, 4);
}

static bool image_zero(uint64_t off, size_t len)
{
	uint8_t buf[4096];
	ck_assert_uint_le(len, sizeof(buf));
	ck_assert_int_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			return false;
	return true;
}

START_TEST(test_discard_and_write_zeroes)
{
	SKIP_UNLESS_ENGINE();
	struct blkdev_config cfg;
	struct stat before, after;

	make_cfg(&cfg);
	cfg.discard = true;
	bdrv_init(&d, &cfg);
	bdrv_start(&d, F(DISCARD) | F(WRITE_ZEROES), 1, 64);
	uint64_t seg = bdrv_alloc(&d, 32, 16);
	/* Discard 64 KiB: the file gets a hole that reads back as zeros. */
	ck_assert_int_eq(fstat(fd, &before), 0);
	put_dwz(seg, 256, 128, 0);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_DISCARD, 0, seg, 16, NULL), VBLK_S_OK);
	ck_assert_int_eq(fstat(fd, &after), 0);
	ck_assert_int_lt(after.st_blocks, before.st_blocks);
	ck_assert(image_zero(256 * 512, 4096));
	ck_assert(host_untouched(255 * 512, 512));
	ck_assert(host_untouched(384 * 512, 512));
	/* Write-zeroes, with and without UNMAP. */
	put_dwz(seg, 8, 8, 0);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_WRITE_ZEROES, 0, seg, 16, NULL), VBLK_S_OK);
	ck_assert(image_zero(8 * 512, 4096));
	put_dwz(seg, 40, 8, VBLK_DWZ_F_UNMAP);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_WRITE_ZEROES, 0, seg, 16, NULL), VBLK_S_OK);
	ck_assert(image_zero(40 * 512, 4096));
	ck_assert(host_untouched(48 * 512, 512));
	/* 5.2.6.2: UNMAP on a discard, unknown flags, two segments: unsupported. */
	put_dwz(seg, 0, 8, VBLK_DWZ_F_UNMAP);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_DISCARD, 0, seg, 16, NULL), VBLK_S_UNSUPP);
	put_dwz(seg, 0, 8, 2);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_WRITE_ZEROES, 0, seg, 16, NULL), VBLK_S_UNSUPP);
	put_dwz(seg, 0, 8, 0);
	put_dwz(seg + 16, 16, 8, 0);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_DISCARD, 0, seg, 32, NULL), VBLK_S_UNSUPP);
	/* Ranges outside the disk, and ones that overflow. */
	put_dwz(seg, CAP - 4, 8, 0);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_DISCARD, 0, seg, 16, NULL), VBLK_S_IOERR);
	put_dwz(seg, UINT64_MAX - 2, 8, 0);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_WRITE_ZEROES, 0, seg, 16, NULL), VBLK_S_IOERR);
	put_dwz(seg, 0, BLKDEV_MAX_DWZ_SECTORS + 1, 0);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_WRITE_ZEROES, 0, seg, 16, NULL), VBLK_S_IOERR);
	ck_assert(host_untouched(CAP * 512 - 4096, 4096));
	ck_assert(host_untouched(0, 8 * 512));
	struct blkdev_stats s = stats();
	ck_assert_uint_eq(s.discards, 1);
	ck_assert_uint_eq(s.write_zeroes, 2);
	destroy();
}
END_TEST

/* A log sink counting what a failing disk says. */
static int log_lines;
static void count_lines(enum modvm_log_level level, const char *line, void *ud)
{
	(void)ud;
	if (level <= MODVM_LOG_WARN && strstr(line, "virtio-blk-test"))
		log_lines++;
}

/* Host I/O errors reach the guest as IOERR and the log as a few lines,
 * however many requests fail; the device keeps working. */
START_TEST(test_host_io_errors)
{
	SKIP_UNLESS_ENGINE();
	struct blkdev_config cfg;
	int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
	int rd = -1;

	ck_assert_int_ge(dir, 0);
	modvm_log_set_sink(count_lines, NULL);
	/* Reads of a directory fail with EISDIR. */
	cfg = bdrv_config(dir, IMG_SIZE, engine);
	bdrv_init(&d, &cfg);
	bdrv_start(&d, 0, 1, 64);
	uint64_t buf = bdrv_alloc(&d, 512, 512);
	for (int i = 0; i < 50; i++)
		ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_IN, (uint64_t)i, buf, 512, NULL),
				  VBLK_S_IOERR);
	ck_assert_uint_eq(stats().host_errors, 50);
	ck_assert_uint_eq(stats().ioerr, 50);
	ck_assert_int_le(log_lines, 3);
	ck_assert_int_ge(log_lines, 1);
	bdrv_fini(&d);

	/* Writes to a file opened read-only fail with EBADF; so does the flush's
	 * fdatasync of a pipe (EINVAL). */
	char p[64];
	rd = bdrv_image(p, IMG_SIZE, 0);
	close(rd);
	rd = open(p, O_RDONLY);
	cfg = bdrv_config(rd, IMG_SIZE, engine);
	bdrv_init(&d, &cfg);
	bdrv_start(&d, 0, 1, 64);
	buf = bdrv_alloc(&d, 512, 512);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_OUT, 0, buf, 512, NULL), VBLK_S_IOERR);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_IN, 0, buf, 512, NULL), VBLK_S_OK);
	bdrv_fini(&d);
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	cfg = bdrv_config(pfd[0], IMG_SIZE, engine);
	bdrv_init(&d, &cfg);
	bdrv_start(&d, 0, 1, 64);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_FLUSH, 0, 0, 0, NULL), VBLK_S_IOERR);
	bdrv_fini(&d);
	modvm_log_set_sink(NULL, NULL);
	close(pfd[0]);
	close(pfd[1]);
	close(rd);
	unlink(p);
	close(dir);
}
END_TEST

/*
 * A failed flush stays failed.  The kernel reports a writeback error once
 * per file and then marks the pages clean: the next fdatasync succeeds
 * though the writes are gone.  Made here by putting a pipe where the
 * image's descriptor was (fdatasync: EINVAL), then the image back.
 */
START_TEST(test_failed_flush_stays_failed)
{
	SKIP_UNLESS_ENGINE();
	int pfd[2], keep;

	make();
	bdrv_start(&d, F(FLUSH), 1, 64);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_FLUSH, 0, 0, 0, NULL), VBLK_S_OK);
	keep = dup(fd);
	ck_assert_int_eq(pipe(pfd), 0);
	ck_assert_int_eq(dup2(pfd[0], fd), fd);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_FLUSH, 0, 0, 0, NULL), VBLK_S_IOERR);
	ck_assert_int_eq(dup2(keep, fd), fd);
	ck_assert_int_eq(fdatasync(fd), 0);	/* as the kernel would say now */
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_FLUSH, 0, 0, 0, NULL), VBLK_S_IOERR);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_FLUSH, 0, 0, 0, NULL), VBLK_S_IOERR);
	/* reads and writes go on */
	uint64_t b = bdrv_alloc(&d, 512, 512);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_OUT, 3, b, 512, NULL), VBLK_S_OK);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_IN, 3, b, 512, NULL), VBLK_S_OK);
	close(keep);
	close(pfd[0]);
	close(pfd[1]);
	destroy();
}
END_TEST

/*
 * Makes system call @nr fail with @err in this test's process, only when
 * its second argument is @arg1 (ANY_ARG: whatever it is): the host
 * refusing something no fixture can make it refuse.  The thread pool
 * only: what io_uring does itself does not pass through seccomp.
 */
#define ANY_ARG UINT64_MAX
static void refuse_call(int nr, uint64_t arg1, int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)arg1, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (uint32_t)err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (arg1 == ANY_ARG)	/* straight to the refusal */
		f[2] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0);
	engine = BLKIO_THREADS;
	ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	ck_assert_int_eq(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC,
				 &prog), 0);
}

/*
 * A write-zeroes the driver lets unmap punches a hole; where no hole can
 * be punched (a block device without write-zeroes, most SATA SSDs and LVM
 * on them; a file system without holes) the kernel says EOPNOTSUPP and
 * the range must be zeroed all the same.  A discard is advice: ignored.
 */
START_TEST(test_write_zeroes_where_no_hole_can_be_punched)
{
	struct blkdev_config cfg;

	refuse_call(__NR_fallocate, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, EOPNOTSUPP);
	make_cfg(&cfg);
	cfg.discard = true;
	bdrv_init(&d, &cfg);
	bdrv_start(&d, F(DISCARD) | F(WRITE_ZEROES), 1, 64);
	uint64_t seg = bdrv_alloc(&d, 32, 16);
	ck_assert(host_untouched(40 * 512, 4096));
	put_dwz(seg, 40, 8, VBLK_DWZ_F_UNMAP);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_WRITE_ZEROES, 0, seg, 16, NULL), VBLK_S_OK);
	ck_assert(image_zero(40 * 512, 4096));
	ck_assert(host_untouched(48 * 512, 512));
	put_dwz(seg, 80, 8, 0);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_DISCARD, 0, seg, 16, NULL), VBLK_S_OK);
	ck_assert(host_untouched(80 * 512, 4096));
	destroy();
}
END_TEST

static void post_reads(unsigned n);

/*
 * A driver that does not accept VIRTIO_BLK_F_FLUSH takes a completed write
 * for a stable one (5.2.6.2): each write is followed by fdatasync, and
 * fails if that does, which is made visible by failing every fdatasync.
 */
START_TEST(test_writes_stable_without_flush)
{
	refuse_call(__NR_fdatasync, ANY_ARG, EIO);
	make();
	bdrv_start(&d, 0, 1, 64);
	uint64_t b = bdrv_alloc(&d, 512, 512);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_OUT, 3, b, 512, NULL), VBLK_S_IOERR);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_IN, 3, b, 512, NULL), VBLK_S_OK);
	/* with FLUSH the page cache is the driver's to flush */
	bdrv_data_reset(&d);
	bdrv_start(&d, F(FLUSH), 1, 64);
	b = bdrv_alloc(&d, 512, 512);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_OUT, 3, b, 512, NULL), VBLK_S_OK);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_FLUSH, 0, 0, 0, NULL), VBLK_S_IOERR);
	destroy();
}
END_TEST

/*
 * Rate-limited queues are served in turn when tokens come back: 12 reads
 * on queue 0, then one on queue 1, at 20 a second.  Queue 1's comes long
 * before queue 0's backlog is gone (it waited for all of it before).
 */
START_TEST(test_rate_limit_serves_queues_in_turn)
{
	SKIP_UNLESS_ENGINE();
	struct blkdev_config cfg;
	uint32_t id, len;
	unsigned before = 0;

	make_cfg(&cfg);
	cfg.num_queues = 2;
	cfg.rate_ops = 20;
	cfg.burst_ops = 1;
	bdrv_init(&d, &cfg);
	bdrv_start(&d, F(MQ), 2, 32);
	post_reads(12);
	uint64_t h = bdrv_alloc(&d, 16, 16), b = bdrv_alloc(&d, 512, 512);
	uint64_t st = bdrv_alloc(&d, 1, 1);
	bdrv_hdr(&d, h, VBLK_T_IN, 100);
	struct bseg s[] = { { h, 16, false }, { b, 512, true }, { st, 1, true } };
	bdrv_post(&d, 1, s, 3);
	bdrv_kick(&d, 1);
	ck_assert(bdrv_wait_used(&d, 1, &id, &len));
	while (bdrv_used(&d, 0, &id, &len))
		before++;
	ck_assert_msg(before <= 4, "queue 1 waited for %u of queue 0's 12 reads", before);
	for (unsigned k = before; k < 12; k++)
		ck_assert(bdrv_wait_used(&d, 0, &id, &len));
	destroy();
}
END_TEST

/* Each queue's requests complete on that queue. */
START_TEST(test_multiqueue)
{
	SKIP_UNLESS_ENGINE();
	struct blkdev_config cfg;
	uint32_t id, len;

	make_cfg(&cfg);
	cfg.num_queues = 4;
	bdrv_init(&d, &cfg);
	bdrv_start(&d, F(MQ), 4, 32);
	uint16_t heads[4][8];
	for (unsigned q = 0; q < 4; q++) {
		for (unsigned k = 0; k < 8; k++) {
			uint64_t h = bdrv_alloc(&d, 16, 16), b = bdrv_alloc(&d, 512, 512);
			uint64_t st = bdrv_alloc(&d, 1, 1);
			bdrv_hdr(&d, h, VBLK_T_IN, q * 8 + k);
			struct bseg s[] = { { h, 16, false }, { b, 512, true }, { st, 1, true } };
			heads[q][k] = bdrv_post(&d, q, s, 3);
		}
		bdrv_kick(&d, q);
	}
	bdrv_settle(&d);
	for (unsigned q = 0; q < 4; q++) {
		unsigned got = 0;
		while (bdrv_used(&d, q, &id, &len)) {
			bool mine = false;
			for (unsigned k = 0; k < 8; k++)
				mine = mine || id == heads[q][k];
			ck_assert(mine);
			ck_assert_uint_eq(len, 513);
			got++;
		}
		ck_assert_uint_eq(got, 8);
	}
	ck_assert_uint_eq(stats().reads, 32);
	destroy();
}
END_TEST

/* Without MQ negotiated, kicks of other queues are not served. */
START_TEST(test_no_mq_one_queue)
{
	SKIP_UNLESS_ENGINE();
	struct blkdev_config cfg;
	uint32_t id, len;

	make_cfg(&cfg);
	cfg.num_queues = 2;
	bdrv_init(&d, &cfg);
	bdrv_start(&d, 0, 2, 32);
	uint64_t h = bdrv_alloc(&d, 16, 16), st = bdrv_alloc(&d, 1, 1);
	bdrv_hdr(&d, h, VBLK_T_FLUSH, 0);
	struct bseg s[] = { { h, 16, false }, { st, 1, true } };
	bdrv_post(&d, 1, s, 2);
	bdrv_kick(&d, 1);
	bdrv_settle(&d);
	ck_assert(!bdrv_used(&d, 1, &id, &len));
	ck_assert_uint_eq(stats().flushes, 0);
	destroy();
}
END_TEST

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Posts @n 4 KiB reads on queue 0 and kicks once; returns the heads' count. */
static void post_reads(unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		uint64_t h = bdrv_alloc(&d, 16, 16), b = bdrv_alloc(&d, 4096, 512);
		uint64_t st = bdrv_alloc(&d, 1, 1);
		bdrv_hdr(&d, h, VBLK_T_IN, k * 8);
		struct bseg s[] = { { h, 16, false }, { b, 4096, true }, { st, 1, true } };
		bdrv_post(&d, 0, s, 3);
	}
	bdrv_kick(&d, 0);
}

/* 20 requests a second with a burst of 2: 6 requests take about 0.2 s,
 * and all arrive without another kick.  Each exactly once, in any order:
 * the pool engine's workers may finish the burst's two the other way
 * round (virtio-blk promises no order), which failed CI under load. */
START_TEST(test_rate_limit_ops)
{
	SKIP_UNLESS_ENGINE();
	struct blkdev_config cfg;
	uint32_t id, len;

	make_cfg(&cfg);
	cfg.rate_ops = 20;
	cfg.burst_ops = 2;
	bdrv_init(&d, &cfg);
	bdrv_start(&d, 0, 1, 64);
	double t0 = now_s();
	bool seen[6] = { false };
	post_reads(6);
	for (unsigned k = 0; k < 6; k++) {
		ck_assert(bdrv_wait_used(&d, 0, &id, &len));
		ck_assert_msg(id % 3 == 0 && id / 3 < 6 && !seen[id / 3], "head %u: not one of "
			      "the 6 requests' heads, or twice", id);
		seen[id / 3] = true;
	}
	double t = now_s() - t0;
	ck_assert_msg(t >= 0.17 && t < 2.0, "6 requests at 20/s after a burst of 2 took %.3f s", t);
	ck_assert_uint_ge(stats().throttled, 1);
	destroy();
}
END_TEST

/* 64 KiB/s: 8 reads of 4 KiB after a 16 KiB burst take about 0.25 s. */
START_TEST(test_rate_limit_bytes)
{
	SKIP_UNLESS_ENGINE();
	struct blkdev_config cfg;
	uint32_t id, len;

	make_cfg(&cfg);
	cfg.rate_bytes = 64 << 10;
	cfg.burst_bytes = 16 << 10;
	bdrv_init(&d, &cfg);
	bdrv_start(&d, 0, 1, 64);
	double t0 = now_s();
	post_reads(8);
	for (unsigned k = 0; k < 8; k++)
		ck_assert(bdrv_wait_used(&d, 0, &id, &len));
	double t = now_s() - t0;
	ck_assert_msg(t >= 0.22 && t < 2.0, "32 KiB at 64 KiB/s after 16 KiB took %.3f s", t);
	destroy();
}
END_TEST

/* A reset drops what the device holds: requests waiting for the rate
 * limiter are never answered, nothing is written after the reset, and the
 * device works again after the driver sets it up anew. */
START_TEST(test_reset_with_requests_held)
{
	SKIP_UNLESS_ENGINE();
	struct blkdev_config cfg;
	uint32_t id, len;

	make_cfg(&cfg);
	cfg.rate_ops = 2;
	cfg.burst_ops = 1;
	bdrv_init(&d, &cfg);
	bdrv_start(&d, 0, 1, 64);
	post_reads(5);
	ck_assert(bdrv_wait_used(&d, 0, &id, &len));	/* the burst; the rest waits */
	mmio_write(&d.v, MODVM_VIRTIO_MMIO_STATUS, 0);
	uint16_t used_idx = *(uint16_t *)gpa(&d.v, USED_GPA + 2);
	ck_assert_int_eq(blkdev_quiesce(d.bd, 5000), 0);
	nanosleep(&(struct timespec){ .tv_nsec = 700000000 }, NULL);
	ck_assert_uint_eq(*(uint16_t *)gpa(&d.v, USED_GPA + 2), used_idx);
	ck_assert_uint_eq(stats().reads, 1);
	bdrv_data_reset(&d);
	bdrv_start(&d, 0, 1, 64);
	uint64_t b = bdrv_alloc(&d, 512, 512);
	nanosleep(&(struct timespec){ .tv_nsec = 500000000 }, NULL);	/* a token */
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_IN, 0, b, 512, NULL), VBLK_S_OK);
	destroy();
}
END_TEST

/* Keeps a page missing (userfaultfd) until @ms after something touched
 * it: a read into it is a request the engine holds that long. */
struct missing_page {
	int uffd;
	unsigned ms;
	bool touched;
};

static void *resolve_later(void *p)
{
	struct missing_page *m = p;
	struct pollfd pfd = { .fd = m->uffd, .events = POLLIN };
	struct uffd_msg msg;

	if (poll(&pfd, 1, 10000) != 1 || read(m->uffd, &msg, sizeof(msg)) != sizeof(msg))
		return NULL;
	__atomic_store_n(&m->touched, true, __ATOMIC_RELEASE);
	nanosleep(&(struct timespec){ .tv_nsec = (long)m->ms * 1000000L }, NULL);
	struct uffdio_zeropage z = { .range = { .start = msg.arg.pagefault.address & ~4095ull,
						.len = 4096 } };
	if (ioctl(m->uffd, UFFDIO_ZEROPAGE, &z) < 0)
		fprintf(stderr, "UFFDIO_ZEROPAGE: %s\n", strerror(errno));
	return NULL;
}

/*
 * A reset waits for what the engine holds: a read still running would
 * land in pages the next driver owns, a write after that driver's own.
 * Its buffer is a page userfaultfd keeps missing for 300 ms.  The thread
 * pool only: io_uring's workers do not wait on userfaultfd (the read
 * finishes at once), and the wait is the engines' common counter.
 */
START_TEST(test_reset_waits_for_requests_in_flight)
{
	struct missing_page m = { .ms = 300 };
	pthread_t t;

	engine = BLKIO_THREADS;
	make();
	bdrv_start(&d, 0, 1, 64);
	uint64_t h = bdrv_alloc(&d, 16, 16), b = bdrv_alloc(&d, 4096, 4096);
	uint64_t st = bdrv_alloc(&d, 1, 1);
	uint8_t *page = gpa(&d.v, b);
	m.uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (m.uffd < 0) {
		printf("reset-in-flight variant not run: userfaultfd: %s\n", strerror(errno));
		destroy();
		return;
	}
	struct uffdio_api api = { .api = UFFD_API };
	ck_assert_int_eq(ioctl(m.uffd, UFFDIO_API, &api), 0);
	ck_assert_int_eq(madvise(page, 4096, MADV_DONTNEED), 0);
	struct uffdio_register reg = { .range = { .start = (uintptr_t)page, .len = 4096 },
				       .mode = UFFDIO_REGISTER_MODE_MISSING };
	ck_assert_int_eq(ioctl(m.uffd, UFFDIO_REGISTER, &reg), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, resolve_later, &m), 0);
	bdrv_hdr(&d, h, VBLK_T_IN, 8);
	struct bseg s[] = { { h, 16, false }, { b, 4096, true }, { st, 1, true } };
	bdrv_post(&d, 0, s, 3);
	bdrv_kick(&d, 0);
	for (int i = 0; i < 500 && !__atomic_load_n(&m.touched, __ATOMIC_ACQUIRE); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);
	ck_assert_msg(m.touched, "the read never reached its buffer");
	double t0 = now_s();
	mmio_write(&d.v, MODVM_VIRTIO_MMIO_STATUS, 0);
	double waited = now_s() - t0;
	ck_assert_msg(waited >= 0.15, "the reset returned after %.3f s, the read still running",
		      waited);
	ck_assert_uint_eq(stats().stale, 1);	/* finished, dropped, before the reset returned */
	pthread_join(t, NULL);
	close(m.uffd);
	destroy();
}
END_TEST

/* cache = "none" on an image of @size bytes: O_DIRECT, 4 KiB blocks and
 * offsets, 512-byte buffer alignment; one queue of @num. */
static void make_direct(uint64_t size, uint16_t num)
{
	struct blkdev_config cfg;

	fd = bdrv_image(path, size, O_DIRECT);
	cfg = bdrv_config(fd, size, engine);
	cfg.direct = true;
	cfg.dio_offset_align = 4096;
	cfg.dio_mem_align = 512;
	cfg.block_size = 4096;
	bdrv_init(&d, &cfg);
	bdrv_start(&d, F(BLK_SIZE), 1, num);
}

/* cache = "none": O_DIRECT with aligned guest buffers goes straight to the
 * file; unaligned ones go through a bounce buffer and still read and write
 * the right bytes; offsets off the direct-I/O block are refused. */
START_TEST(test_direct_io_bounce)
{
	SKIP_UNLESS_ENGINE();
	uint32_t used;

	make_direct(IMG_SIZE, 64);
	uint64_t aligned = bdrv_alloc(&d, 8192, 4096);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_IN, 8, aligned, 8192, &used), VBLK_S_OK);
	ck_assert_uint_eq(gpa(&d.v, aligned)[5], bdrv_pattern(4096 + 5));
	ck_assert_uint_eq(stats().bounced, 0);
	uint64_t odd = bdrv_alloc(&d, 4096 + 8, 16) + 8;
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_IN, 16, odd, 4096, &used), VBLK_S_OK);
	for (unsigned i = 0; i < 4096; i++)
		ck_assert_uint_eq(gpa(&d.v, odd)[i], bdrv_pattern(16 * 512 + i));
	for (unsigned i = 0; i < 4096; i++)
		gpa(&d.v, odd)[i] = (uint8_t)~i;
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_OUT, 24, odd, 4096, &used), VBLK_S_OK);
	ck_assert_uint_eq(stats().bounced, 2);
	uint8_t host[4096];
	int plain = open(path, O_RDONLY);
	ck_assert_int_eq(pread(plain, host, 4096, 24 * 512), 4096);
	close(plain);
	ck_assert_uint_eq(host[7], (uint8_t)~7u);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_IN, 1, aligned, 4096, NULL), VBLK_S_IOERR);
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_IN, 0, aligned, 512, NULL), VBLK_S_IOERR);
	destroy();
}
END_TEST

/* cache = "none" and a guest whose misaligned buffers add up to more
 * bounce memory than a disk may have in flight (64 MiB): the request gets
 * IOERR, the device goes on, and nothing is touched after it is answered
 * (the IOERR path once read the freed request: ASan's use-after-free). */
START_TEST(test_direct_io_bounce_budget)
{
	SKIP_UNLESS_ENGINE();
	enum { SEG = 512u << 10, NSEG = (int)(BLKDEV_BOUNCE_BUDGET / SEG) + 1 };
	static struct bseg segs[NSEG + 2];
	uint32_t id, len;

	make_direct((uint64_t)NSEG * SEG + 4096, 256);
	uint64_t hdr = bdrv_alloc(&d, VBLK_HDR_LEN, 16), st = bdrv_alloc(&d, 1, 1);
	/* every segment the same misaligned 512 KiB of guest RAM */
	uint64_t odd = bdrv_alloc(&d, SEG + 8, 16) + 8;
	bdrv_hdr(&d, hdr, VBLK_T_IN, 0);
	*gpa(&d.v, st) = 0xee;
	segs[0] = (struct bseg){ hdr, VBLK_HDR_LEN, false };
	for (int i = 1; i <= NSEG; i++)
		segs[i] = (struct bseg){ odd, SEG, true };
	segs[NSEG + 1] = (struct bseg){ st, 1, true };
	uint16_t head = bdrv_post(&d, 0, segs, NSEG + 2);
	bdrv_kick(&d, 0);
	ck_assert(bdrv_wait_used(&d, 0, &id, &len));
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(*gpa(&d.v, st), VBLK_S_IOERR);
	ck_assert_uint_eq(stats().bounced, 0);
	/* the disk still serves the next request, bounced within the budget */
	ck_assert_uint_eq(bdrv_req(&d, 0, VBLK_T_IN, 8, odd, 4096, NULL), VBLK_S_OK);
	ck_assert_uint_eq(stats().bounced, 1);
	destroy();
}
END_TEST

/* A request chain waiting for the limiter holds no engine op: freeing the
 * device then must not wait for the limiter. */
START_TEST(test_free_with_throttled_requests)
{
	SKIP_UNLESS_ENGINE();
	struct blkdev_config cfg;

	make_cfg(&cfg);
	cfg.rate_ops = 1;
	cfg.burst_ops = 1;
	bdrv_init(&d, &cfg);
	bdrv_start(&d, 0, 1, 64);
	post_reads(4);
	double t0 = now_s();
	destroy();
	ck_assert_double_lt(now_s() - t0, 0.5);
}
END_TEST

/*
 * More than a queue's worth per kick.  Reads of 512 bytes, three
 * descriptors each, so five fit a ring of 16; the engine runs them inside
 * submit, so they are used at once.  The driver takes them back and
 * reuses their descriptors for the next read while the device is still
 * working (from the translation of each chain the device walks, as
 * another vCPU would), kicking only when avail_event asks: with EVENT_IDX
 * it never asks then.  The device stops after a queue's worth and must
 * come back by itself (modvm_virtio_renotify, on the loop) until every
 * read is answered.
 */
#define MORE_NUM 16u
#define MORE_CHAINS 5u
#define MORE_READS 40u

static struct {
	uint64_t hdr, data, st;
	unsigned seq;
} more[MORE_NUM];
static unsigned more_posted, more_done;
static bool more_kick_asked, more_bad;

/* Read number @seq (of sector @seq) into the chain at @head. */
static void more_read(uint16_t head, unsigned seq)
{
	bdrv_hdr(&d, more[head].hdr, VBLK_T_IN, seq);
	memset(gpa(&d.v, more[head].data), 0, 512);
	*gpa(&d.v, more[head].st) = 0xee;
	more[head].seq = seq;
}

/* One answered read: its status and its bytes. */
static void more_check(uint32_t head, uint32_t len)
{
	const uint8_t *p = gpa(&d.v, more[head].data);

	more_bad |= head >= MORE_NUM || len != 513 || *gpa(&d.v, more[head].st) != VBLK_S_OK;
	for (unsigned i = 0; i < 512 && !more_bad; i++)
		more_bad |= p[i] != bdrv_pattern((uint64_t)more[head].seq * 512 + i);
	more_done++;
}

static void more_driver(struct vdrv *v)
{
	uint32_t id, len;

	(void)v;
	while (more_posted < MORE_READS && bdrv_used(&d, 0, &id, &len)) {
		uint16_t old = d.q[0].avail_idx;

		more_check(id, len);
		more_read((uint16_t)id, more_posted++);
		bdrv_repost(&d, 0, (uint16_t)id);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		uint16_t event = vdrv_avail_event(&d.v), nw = d.q[0].avail_idx;
		more_kick_asked |= (uint16_t)(nw - event - 1) < (uint16_t)(nw - old);
	}
}

START_TEST(test_more_than_a_queue_per_kick)
{
	struct modvm_loop *loop = modvm__loop_new();
	struct blkdev_config cfg;
	struct timespec t0, t;
	uint32_t id, len;

	ck_assert_ptr_nonnull(loop);
	engine = BLKIO_INLINE;
	make_cfg(&cfg);
	bdrv_init_loop(&d, &cfg, loop);
	bdrv_start(&d, EVENT_IDX, 1, MORE_NUM);
	more_posted = more_done = 0;
	more_kick_asked = more_bad = false;
	for (unsigned i = 0; i < MORE_CHAINS; i++) {
		uint64_t hdr = bdrv_alloc(&d, VBLK_HDR_LEN, 16), data = bdrv_alloc(&d, 512, 512);
		uint64_t st = bdrv_alloc(&d, 1, 1);
		struct bseg segs[3] = { { hdr, VBLK_HDR_LEN, false }, { data, 512, true },
					{ st, 1, true } };
		uint16_t head = bdrv_post(&d, 0, segs, 3);

		ck_assert_uint_lt(head, MORE_NUM);
		more[head].hdr = hdr;
		more[head].data = data;
		more[head].st = st;
		more_read(head, more_posted++);
	}
	d.v.on_translate = more_driver;
	bdrv_kick(&d, 0);
	/* a queue's worth answered, and the driver added more meanwhile */
	ck_assert_uint_eq(more_posted, MORE_NUM + MORE_CHAINS - 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		modvm__loop_run_once(loop);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (more_posted < MORE_READS && t.tv_sec - t0.tv_sec < 3);
	d.v.on_translate = NULL;
	while (bdrv_used(&d, 0, &id, &len))
		more_check(id, len);
	ck_assert_msg(more_done == MORE_READS, "%u of %u reads answered, %u made available",
		      more_done, MORE_READS, more_posted);
	ck_assert(!more_bad);
	ck_assert(!more_kick_asked);
	ck_assert_uint_eq(vdrv_avail_event(&d.v), d.q[0].avail_idx);
	destroy();
	modvm__loop_free(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("blk-dev");
	TCase *t = tcase_create("device");
	int n = (int)(sizeof(engines) / sizeof(engines[0]));
	int nref = (int)(sizeof(refusals) / sizeof(refusals[0]));

	tcase_set_timeout(t, 30);
	tcase_add_loop_test(t, test_features_and_config, 0, n);
	tcase_add_loop_test(t, test_read_write_roundtrip, 0, n);
	tcase_add_loop_test(t, test_any_layout, 0, n);
	tcase_add_loop_test(t, test_refused_requests, 0, n * nref);
	tcase_add_loop_test(t, test_readonly_disk, 0, n);
	tcase_add_loop_test(t, test_get_id, 0, n);
	tcase_add_loop_test(t, test_malformed_chains, 0, n);
	tcase_add_loop_test(t, test_discard_and_write_zeroes, 0, n);
	tcase_add_loop_test(t, test_host_io_errors, 0, n);
	tcase_add_loop_test(t, test_failed_flush_stays_failed, 0, n);
	tcase_add_test(t, test_write_zeroes_where_no_hole_can_be_punched);
	tcase_add_test(t, test_writes_stable_without_flush);
	tcase_add_loop_test(t, test_rate_limit_serves_queues_in_turn, 0, n);
	tcase_add_loop_test(t, test_multiqueue, 0, n);
	tcase_add_loop_test(t, test_no_mq_one_queue, 0, n);
	tcase_add_loop_test(t, test_rate_limit_ops, 0, n);
	tcase_add_loop_test(t, test_rate_limit_bytes, 0, n);
	tcase_add_loop_test(t, test_reset_with_requests_held, 0, n);
	tcase_add_test(t, test_reset_waits_for_requests_in_flight);
	tcase_add_loop_test(t, test_direct_io_bounce, 0, n);
	tcase_add_loop_test(t, test_direct_io_bounce_budget, 0, n);
	tcase_add_loop_test(t, test_free_with_throttled_requests, 0, n);
	tcase_add_test(t, test_more_than_a_queue_per_kick);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
