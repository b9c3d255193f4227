/*
 * libFuzzer target for the virtio-net device model (plugins/net-vmq
 * netdev*.c): the input is a script of at most MAX_OPS driver operations
 * against one device on an in-memory back end, the way a hostile guest
 * would drive it.  Guest RAM sits between PROT_NONE guard pages, so any
 * access the device makes outside it faults, and the back end reads every
 * byte it is handed for the same reason.  Budgets (queue sizes, poll
 * budgets, frame counts) are small so one input stays well under a
 * millisecond.
 *
 * Input: byte 0 picks the device (pairs 1..3, offloads, MTU); then ops,
 * each an opcode byte followed by its arguments (little-endian; a short
 * tail reads as zeros).  See the OP_* list.  Seeds: scripts/run-fuzz.sh.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <modvm/log.h>
#include <modvm/virtio.h>

#include "netdev.h"

#define RAM_SIZE 0x10000u
#define MAX_OPS 64
#define MAX_FRAMES 4
#define MAX_QUEUES (2 * 3 + 1)

enum {
	OP_NEGOTIATE,	/* u8 flags (1: VERSION_1, 2: skip DRIVER, 4: status read back), u64 features */
	OP_STATUS,	/* u8 status written raw (0 resets) */
	OP_QUEUE,	/* u8 q, u16 num, u16 desc, u16 avail, u16 used, u8 ready */
	OP_WRITE_RAM,	/* u16 gpa, u8 len, len bytes */
	OP_POST,	/* u8 q, u8 head, u8 n (1..4), n x (u16 gpa, u16 len, u8 flags, u8 next) */
	OP_KICK,	/* u8 q */
	OP_CTRL,	/* u8 n (<= 20), n bytes command, u8 ack writable */
	OP_CONFIG,	/* u8 off, u8 len selector, u8 write, u64 value */
	OP_INJECT,	/* 12 bytes header, u16 length, u8 fill */
	OP_POLL,	/* u8 pair, u8 budget */
	OP_REG,		/* u8 off / 4, u32 value, u8 write */
	OP_AVAIL_IDX,	/* u8 q, u16 idx */
	OP_BACKEND,	/* u8 error flags: 1 rx, 2 tx, 4 set_offloads */
	OP_NR,
};

struct input {
	const uint8_t *p;
	size_t left;
};

static uint8_t *ram;		/* RAM_SIZE bytes between two guard pages */

/* What the back end holds and does, for one input. */
struct be {
	struct { uint8_t hdr[VNET_HDR_LEN]; size_t len; uint8_t fill; } frames[MAX_FRAMES];
	unsigned head, tail;
	unsigned errors;
	volatile uint8_t sink;
};

/* Where the driver put each queue's rings (for OP_POST). */
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

static ssize_t be_tx(void *ctx, unsigned pair, const struct iovec *iov, int cnt)
{
	struct be *b = ctx;
	size_t n = 0;

	(void)pair;
	/* Every byte handed over must be readable: a pointer outside RAM
	 * hits a guard page or ASan. */
	for (int i = 0; i < cnt; i++) {
		const uint8_t *p = iov[i].iov_base;
		for (size_t j = 0; j < iov[i].iov_len; j++)
			b->sink ^= p[j];
		n += iov[i].iov_len;
	}
	return (b->errors & 2) ? -ENOBUFS : (ssize_t)n;
}

static ssize_t be_rx(void *ctx, unsigned pair, void *buf, size_t len)
{
	struct be *b = ctx;

	(void)pair;
	if (b->errors & 1)
		return -EIO;
	if (b->head == b->tail)
		return -EAGAIN;
	unsigned i = b->head++ % MAX_FRAMES;
	size_t n = b->frames[i].len < len ? b->frames[i].len : len;
	memset(buf, b->frames[i].fill, n);
	memcpy(buf, b->frames[i].hdr, n < VNET_HDR_LEN ? n : VNET_HDR_LEN);
	return (ssize_t)n;
}

static int be_offloads(void *ctx, unsigned flags)
{
	(void)flags;
	return (((struct be *)ctx)->errors & 4) ? -EINVAL : 0;
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
	if (flags & 4)
		(void)reg_read(t, MODVM_VIRTIO_MMIO_STATUS);
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

/* Writes @n descriptors from @head on and makes @head available. */
static void post(struct rings *r, struct input *in)
{
	struct rings *q = &r[u8(in) % MAX_QUEUES];
	uint16_t head = u8(in), n = (uint16_t)(u8(in) % 4 + 1);

	for (uint16_t i = 0; i < n; i++) {
		uint64_t addr = u16(in);
		uint32_t len = u16(in);
		uint16_t flags = u8(in) & 7, next = u8(in);
		uint64_t at = q->desc + 16ull * (uint16_t)(head + i);
		if (at + 16 > RAM_SIZE)
			continue;
		memcpy(ram + at, &addr, 8);
		memcpy(ram + at + 8, &len, 4);
		memcpy(ram + at + 12, &flags, 2);
		memcpy(ram + at + 14, &next, 2);
	}
	if (q->num)
		put16(q->avail + 4 + 2ull * (q->idx % q->num), head);
	q->idx++;
	put16(q->avail + 2, q->idx);
}

static void ctrl(struct modvm_virtio_mmio *t, unsigned ctrlq, struct rings *r,
		 struct input *in)
{
	struct rings *q = &r[ctrlq];
	uint8_t n = u8(in) % 21, cmd[20];
	uint64_t b = RAM_SIZE - 64, ack = RAM_SIZE - 8;

	for (unsigned i = 0; i < n; i++)
		cmd[i] = u8(in);
	memcpy(ram + b, cmd, n);
	uint16_t flags[2] = { n ? MODVM_VIRTQ_DESC_F_NEXT : 0, MODVM_VIRTQ_DESC_F_WRITE };
	uint32_t lens[2] = { n, u8(in) & 1 };
	uint64_t addrs[2] = { b, ack };
	for (unsigned i = 0; i < 2; i++) {
		uint64_t at = q->desc + 16ull * i;
		uint16_t next = 1;
		if (at + 16 > RAM_SIZE)
			return;
		memcpy(ram + at, &addrs[i], 8);
		memcpy(ram + at + 8, &lens[i], 4);
		memcpy(ram + at + 12, &flags[i], 2);
		memcpy(ram + at + 14, &next, 2);
	}
	if (q->num)
		put16(q->avail + 4 + 2ull * (q->idx % q->num), n ? 0 : 1);
	q->idx++;
	put16(q->avail + 2, q->idx);
	reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_NOTIFY, ctrlq);
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

static void inject(struct be *b, struct input *in)
{
	if (b->tail - b->head >= MAX_FRAMES) {
		in->left = in->left > 15 ? in->left - 15 : 0;
		return;
	}
	unsigned i = b->tail++ % MAX_FRAMES;
	for (unsigned k = 0; k < VNET_HDR_LEN; k++)
		b->frames[i].hdr[k] = u8(in);
	uint16_t l = u16(in);
	/* Mostly small; the top bit asks for up to NETDEV_FRAME_MAX + more. */
	b->frames[i].len = (l & 0x8000) ? (size_t)(l & 0x7fff) * 3 : l & 0x7ff;
	b->frames[i].fill = u8(in);
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
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct be b = { 0 };
	struct rings r[MAX_QUEUES] = { { 0 } };
	struct netdev *nd;
	uint8_t dev = u8(&in);
	struct netdev_config cfg = {
		.mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 },
		.pairs = (uint16_t)(dev % 3 + 1),
		.mtu = (dev & 0x80) ? 9000 : 1500,
		.csum = dev & 0x08,
		.tso = (dev & 0x18) == 0x18,
		.ecn = (dev & 0x38) == 0x38,
		.backend = { .tx = be_tx, .rx = be_rx, .set_offloads = be_offloads, .ctx = &b },
	};
	struct modvm_virtio_mmio_config mc = {
		.struct_size = sizeof(mc),
		.irq = 5,
		.base = 0xd0000000,
		.name = "fuzz-net",
		.mem = { .translate = translate },
		.raise_irq = no_irq,
	};

	memset(ram, 0, RAM_SIZE);
	if (netdev_create(&mc, &cfg, &nd) < 0)
		abort();
	struct modvm_virtio_mmio *t = netdev_transport(nd);
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
		case OP_CTRL: {
			/* The control queue moves with MQ; the fuzzer picks. */
			unsigned q = (u8(&in) & 1) ? 2u * cfg.pairs : 2;
			ctrl(t, q, r, &in);
			break;
		}
		case OP_CONFIG:
			config(t, &in);
			break;
		case OP_INJECT:
			inject(&b, &in);
			break;
		case OP_POLL: {
			unsigned pair = u8(&in) % (cfg.pairs + 1);
			(void)netdev_rx_poll(nd, pair, u8(&in) % 16);
			break;
		}
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
		case OP_BACKEND:
			b.errors = u8(&in);
			break;
		}
	}
	/* Whatever state the guest left: RX and TX once more on every pair. */
	for (unsigned p = 0; p < cfg.pairs; p++) {
		struct netdev_counters c;
		(void)netdev_rx_poll(nd, p, 8);
		reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_NOTIFY, 2 * p + 1);
		netdev_get_counters(nd, p, &c);
	}
	(void)netdev_active_pairs(nd);
	netdev_free(nd);
	return 0;
}
