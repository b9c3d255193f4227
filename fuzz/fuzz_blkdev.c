/*
 * libFuzzer target for the virtio-blk device model (plugins/virtio-blk
 * blkdev.c, blkreq.c): the input is a script of at most MAX_OPS driver
 * operations against one device on a 64 KiB image in a memfd, the way a
 * hostile guest would drive it.  Guest RAM sits between PROT_NONE guard
 * pages, so any access the device makes outside it faults.  The device
 * runs on the inline I/O engine (ops complete inside the kick, timers are
 * cancelled at once), so a run is deterministic and fast.
 *
 * Input: byte 0 picks the device (queues 1..3, read-only, discard,
 * write-zeroes, a rate limit, direct-I/O alignment checks and bounce
 * buffers, a failing image); then ops, each an opcode byte followed by its
 * arguments (little-endian; a short tail reads as zeros).  See the OP_*
 * list.  Seeds: scripts/run-fuzz.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <modvm/log.h>
#include <modvm/virtio.h>

#include "blkdev.h"

#define RAM_SIZE 0x10000u
#define IMG_SIZE (0x10000u + 100)	/* 128 sectors and a tail that is no sector */
#define MAX_OPS 64
#define MAX_QUEUES 3

enum {
	OP_NEGOTIATE,	/* u8 flags (1: VERSION_1, 2: skip DRIVER), u64 features */
	OP_STATUS,	/* u8 status written raw (0 resets) */
	OP_QUEUE,	/* u8 q, u16 num, u16 desc, u16 avail, u16 used, u8 ready */
	OP_WRITE_RAM,	/* u16 gpa, u8 len, len bytes */
	OP_POST,	/* u8 q, u8 head, u8 n (1..4), n x (u16 gpa, u16 len, u8 flags, u8 next) */
	OP_KICK,	/* u8 q */
	OP_REQ,		/* u8 q, u32 type, u64 sector, u16 len, u8 layout, u8 head */
	OP_CONFIG,	/* u8 off, u8 len selector, u8 write, u64 value */
	OP_REG,		/* u8 off / 4, u32 value, u8 write */
	OP_AVAIL_IDX,	/* u8 q, u16 idx */
	OP_NR,
};

struct input {
	const uint8_t *p;
	size_t left;
};

static uint8_t *ram;		/* RAM_SIZE bytes between two guard pages */
static int img_fd = -1, bad_fd = -1;

struct rings {
	uint64_t desc, avail;
	uint16_t num, idx;
};

static uint8_t u8(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static uint16_t u16(struct input *in)
{
	uint16_t lo = u8(in);
	return (uint16_t)(lo | u8(in) << 8);
}

static uint32_t u32(struct input *in)
{
	uint32_t lo = u16(in);
	return lo | (uint32_t)u16(in) << 16;
}

static uint64_t u64(struct input *in)
{
	uint64_t lo = u32(in);
	return lo | (uint64_t)u32(in) << 32;
}

static void *translate(void *ctx, uint64_t gpa, uint64_t len)
{
	(void)ctx;
	if (len == 0 || gpa >= RAM_SIZE || len > RAM_SIZE - gpa)
		return NULL;
	return ram + gpa;
}

static void no_irq(void *ctx)
{
	(void)ctx;
}

static void reg_write(struct modvm_virtio_mmio *t, uint64_t off, uint32_t v)
{
	modvm_virtio_mmio_access(t, off, (uint8_t *)&v, 4, true);
}

static uint32_t reg_read(struct modvm_virtio_mmio *t, uint64_t off)
{
	uint32_t v = 0;
	modvm_virtio_mmio_access(t, off, (uint8_t *)&v, 4, false);
	return v;
}

static void put16(uint64_t gpa, uint16_t v)
{
	if (gpa + 2 <= RAM_SIZE)
		memcpy(ram + gpa, &v, 2);
}

static void put_desc(uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint64_t at = table + 16ull * i;

	if (at + 16 > RAM_SIZE)
		return;
	memcpy(ram + at, &addr, 8);
	memcpy(ram + at + 8, &len, 4);
	memcpy(ram + at + 12, &flags, 2);
	memcpy(ram + at + 14, &next, 2);
}

static void make_available(struct rings *q, uint16_t head)
{
	if (q->num)
		put16(q->avail + 4 + 2ull * (q->idx % q->num), head);
	q->idx++;
	put16(q->avail + 2, q->idx);
}

static void negotiate(struct modvm_virtio_mmio *t, struct input *in)
{
	uint8_t flags = u8(in);
	uint64_t f = u64(in);
	uint32_t s = MODVM_VIRTIO_STATUS_ACKNOWLEDGE;

	if (flags & 1)
		f |= MODVM_VIRTIO_FEATURE(MODVM_VIRTIO_F_VERSION_1);
	reg_write(t, MODVM_VIRTIO_MMIO_STATUS, 0);
	reg_write(t, MODVM_VIRTIO_MMIO_STATUS, s);
	if (!(flags & 2))
		s |= MODVM_VIRTIO_STATUS_DRIVER;
	reg_write(t, MODVM_VIRTIO_MMIO_STATUS, s);
	reg_write(t, MODVM_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	reg_write(t, MODVM_VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
	reg_write(t, MODVM_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	reg_write(t, MODVM_VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	reg_write(t, MODVM_VIRTIO_MMIO_STATUS, s | MODVM_VIRTIO_STATUS_FEATURES_OK);
}

static void queue_setup(struct modvm_virtio_mmio *t, struct rings *r, struct input *in)
{
	uint8_t q = u8(in) % (MAX_QUEUES + 1);
	uint16_t num = u16(in);
	uint64_t desc = u16(in), avail = u16(in), used = u16(in);
	uint8_t ready = u8(in);

	reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_SEL, q);
	reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_NUM, num);
	reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_DESC_HIGH, ready & 0x80 ? 1 : 0);
	reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
	reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
	reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
	reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
	reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_READY, ready & 1);
	if (q < MAX_QUEUES)
		r[q] = (struct rings){ .desc = desc, .avail = avail, .num = num };
}

static void post(struct rings *r, struct input *in)
{
	struct rings *q = &r[u8(in) % MAX_QUEUES];
	uint16_t head = u8(in), n = (uint16_t)(u8(in) % 4 + 1);

	for (uint16_t i = 0; i < n; i++) {
		uint64_t addr = u16(in);
		uint32_t len = u16(in);
		uint16_t flags = u8(in) & 7, next = u8(in);
		put_desc(q->desc, (uint16_t)(head + i), addr, len, flags, next);
	}
	make_available(q, head);
}

/*
 * A request shaped like Linux's (header, data, status), with fuzzed type,
 * sector and length and a layout byte that splits, merges and misplaces
 * the pieces: 1 data writable, 2 header split in two, 4 status merged into
 * the data, 8 no status, 16 data misaligned by 8, 32 short header, 64 the
 * data ends at the end of RAM.
 */
static void request(struct modvm_virtio_mmio *t, struct rings *r, struct input *in)
{
	unsigned qi = u8(in) % MAX_QUEUES;
	struct rings *q = &r[qi];
	uint32_t type = u32(in);
	uint64_t sector = u64(in);
	uint32_t len = u16(in) % 0x4000;
	uint8_t lay = u8(in);
	uint16_t head = u8(in), i = head;
	uint64_t hdr = 0x8000, data = 0x9000 + ((lay & 16) ? 8 : 0), st = 0xff00;
	uint16_t data_flags = (lay & 1) ? MODVM_VIRTQ_DESC_F_WRITE : 0;

	if (lay & 64)
		data = RAM_SIZE - len - ((lay & 4) ? 1 : 0);
	memcpy(ram + hdr, &type, 4);
	memset(ram + hdr + 4, 0, 4);
	memcpy(ram + hdr + 8, &sector, 8);
	uint32_t hlen = (lay & 32) ? 12 : VBLK_HDR_LEN;
	if (lay & 2) {
		put_desc(q->desc, i, hdr, 5, MODVM_VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
		i++;
		put_desc(q->desc, i, hdr + 5, hlen - 5, MODVM_VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
	} else {
		put_desc(q->desc, i, hdr, hlen, MODVM_VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
	}
	bool tail = !(lay & 8);
	if (len || (lay & 4)) {
		i++;
		bool merged = (lay & 4) && tail;
		put_desc(q->desc, i, data, len + (merged ? 1 : 0),
			 (uint16_t)(data_flags | (merged ? MODVM_VIRTQ_DESC_F_WRITE : 0) |
				    (tail && !merged ? MODVM_VIRTQ_DESC_F_NEXT : 0)),
			 (uint16_t)(i + 1));
		tail = tail && !merged;
	}
	if (tail) {
		i++;
		put_desc(q->desc, i, st, 1, MODVM_VIRTQ_DESC_F_WRITE, 0);
	}
	make_available(q, head);
	reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_NOTIFY, qi);
}

static void config(struct modvm_virtio_mmio *t, struct input *in)
{
	static const uint32_t lens[] = { 1, 2, 4, 8, 3, 0 };
	uint32_t off = u8(in);
	uint32_t len = lens[u8(in) % 6];
	bool write = u8(in) & 1;
	uint64_t v = u64(in);

	modvm_virtio_mmio_access(t, MODVM_VIRTIO_MMIO_CONFIG + off, (uint8_t *)&v, len, write);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *map;

	(void)argc;
	(void)argv;
	modvm_log_set_level(MODVM_LOG_ERROR);	/* guest errors are expected here */
	map = mmap(NULL, RAM_SIZE + 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		abort();
	ram = map + page;
	if (mprotect(ram, RAM_SIZE, PROT_READ | PROT_WRITE) < 0)
		abort();
	img_fd = memfd_create("fuzz-blk", MFD_CLOEXEC);
	bad_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);	/* every I/O fails */
	if (img_fd < 0 || bad_fd < 0 || ftruncate(img_fd, IMG_SIZE) < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct rings r[MAX_QUEUES] = { { 0 } };
	struct blkdev *bd;
	uint8_t dev = u8(&in);
	struct blkdev_config cfg = {
		.fd = (dev & 0x80) ? bad_fd : img_fd,
		.size = IMG_SIZE,
		.readonly = dev & 0x04,
		.discard = dev & 0x08,
		.write_zeroes = dev & 0x10,
		.block_size = (dev & 0x40) ? 4096 : 512,
		.num_queues = (uint16_t)(dev % 3 + 1),
		.serial = "fuzz-serial",
		/* The inline engine cancels timers: a limited disk stalls
		 * until the next kick, as it would wait for tokens. */
		.rate_ops = (dev & 0x20) ? 4 : 0,
		.burst_ops = 2,
		.io = BLKIO_INLINE,
	};
	struct modvm_virtio_mmio_config mc = {
		.struct_size = sizeof(mc),
		.irq = 5,
		.base = 0xd0000000,
		.name = "fuzz-blk",
		.mem = { .translate = translate },
		.raise_irq = no_irq,
	};

	/* Direct-I/O checks and bounce buffers without O_DIRECT (a memfd has
	 * none): the device only looks at the alignments. */
	if (dev & 0x40) {
		cfg.direct = true;
		cfg.dio_offset_align = 4096;
		cfg.dio_mem_align = 512;
	}
	memset(ram, 0, RAM_SIZE);
	if (blkdev_create(&mc, &cfg, &bd) < 0)
		abort();
	struct modvm_virtio_mmio *t = blkdev_transport(bd);
	for (unsigned op = 0; op < MAX_OPS && in.left; op++) {
		switch (u8(&in) % OP_NR) {
		case OP_NEGOTIATE:
			negotiate(t, &in);
			break;
		case OP_STATUS:
			reg_write(t, MODVM_VIRTIO_MMIO_STATUS, u8(&in));
			break;
		case OP_QUEUE:
			queue_setup(t, r, &in);
			break;
		case OP_WRITE_RAM: {
			uint64_t a = u16(&in);
			uint8_t n = u8(&in);
			for (unsigned i = 0; i < n; i++) {
				uint8_t v = u8(&in);
				if (a + i < RAM_SIZE)
					ram[a + i] = v;
			}
			break;
		}
		case OP_POST:
			post(r, &in);
			break;
		case OP_KICK:
			reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_NOTIFY, u8(&in) % (MAX_QUEUES + 2));
			break;
		case OP_REQ:
			request(t, r, &in);
			break;
		case OP_CONFIG:
			config(t, &in);
			break;
		case OP_REG: {
			uint64_t off = (uint64_t)(u8(&in) % 64) * 4;
			uint32_t v = u32(&in);
			if (u8(&in) & 1)
				reg_write(t, off, v);
			else
				(void)reg_read(t, off);
			break;
		}
		case OP_AVAIL_IDX: {
			struct rings *q = &r[u8(&in) % MAX_QUEUES];
			q->idx = u16(&in);
			put16(q->avail + 2, q->idx);
			break;
		}
		}
	}
	/* Whatever state the guest left: every queue kicked once more. */
	for (unsigned q = 0; q < MAX_QUEUES; q++)
		reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_NOTIFY, q);
	/* A device that moved no byte outside its disk: the memfd keeps its size... */
	blkdev_free(bd);
	uint8_t tail[IMG_SIZE % VBLK_SECTOR];
	if (lseek(img_fd, 0, SEEK_END) != IMG_SIZE ||
	    pread(img_fd, tail, sizeof(tail), IMG_SIZE - sizeof(tail)) != (ssize_t)sizeof(tail))
		abort();
	/* ...and never wrote the bytes after its last whole sector. */
	for (size_t i = 0; i < sizeof(tail); i++)
		if (tail[i])
			abort();
	return 0;
}
