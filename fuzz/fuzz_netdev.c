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

#include "fuzz_driver.h"
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

static struct fd_ram ram = { .size = RAM_SIZE };

/* What the back end holds and does, for one input. */
struct be {
	struct { uint8_t hdr[VNET_HDR_LEN]; size_t len; uint8_t fill; } frames[MAX_FRAMES];
	unsigned head, tail;
	unsigned errors;
	volatile uint8_t sink;
};

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

/* A control command of n bytes (none: the ack alone) and an ack of one byte or none. */
static void ctrl(const struct fd_driver *d, unsigned ctrlq, struct fd_input *in)
{
	struct fd_ring *q = &d->rings[ctrlq];
	uint8_t n = fd_u8(in) % 21, cmd[20];
	uint64_t b = RAM_SIZE - 64, ack = RAM_SIZE - 8;

	for (unsigned i = 0; i < n; i++)
		cmd[i] = fd_u8(in);
	fd_put(&ram, b, cmd, n);
	uint16_t flags[2] = { n ? MODVM_VIRTQ_DESC_F_NEXT : 0, MODVM_VIRTQ_DESC_F_WRITE };
	uint32_t lens[2] = { n, fd_u8(in) & 1 };
	uint64_t addrs[2] = { b, ack };
	/* A table that does not fit in RAM: nothing is made available. */
	for (uint16_t i = 0; i < 2; i++)
		if (!fd_put_desc(&ram, q->desc, i, addrs[i], lens[i], flags[i], 1))
			return;
	fd_make_available(&ram, q, n ? 0 : 1);
	fd_reg_write(d->t, MODVM_VIRTIO_MMIO_QUEUE_NOTIFY, ctrlq);
}

static void inject(struct be *b, struct fd_input *in)
{
	if (b->tail - b->head >= MAX_FRAMES) {
		in->left = in->left > 15 ? in->left - 15 : 0;
		return;
	}
	unsigned i = b->tail++ % MAX_FRAMES;
	for (unsigned k = 0; k < VNET_HDR_LEN; k++)
		b->frames[i].hdr[k] = fd_u8(in);
	uint16_t l = fd_u16(in);
	/* Mostly small; the top bit asks for up to NETDEV_FRAME_MAX + more. */
	b->frames[i].len = (l & 0x8000) ? (size_t)(l & 0x7fff) * 3 : l & 0x7ff;
	b->frames[i].fill = fd_u8(in);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	modvm_log_set_level(MODVM_LOG_ERROR);	/* guest errors are expected here */
	ram.base = fd_map_ram(RAM_SIZE, MAP_PRIVATE);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fd_input in = { data, size };
	struct be b = { 0 };
	struct fd_ring r[MAX_QUEUES] = { { 0 } };
	struct netdev *nd;
	uint8_t dev = fd_u8(&in);
	struct netdev_config cfg = {
		.mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 },
		.pairs = (uint16_t)(dev % 3 + 1),
		.mtu = (dev & 0x80) ? 9000 : 1500,
		.csum = dev & 0x08,
		.tso = (dev & 0x18) == 0x18,
		.ecn = (dev & 0x38) == 0x38,
		.backend = { .tx = be_tx, .rx = be_rx, .set_offloads = be_offloads, .ctx = &b },
	};
	struct modvm_virtio_mmio_config mc = fd_mmio_config("fuzz-net", &ram);

	memset(ram.base, 0, RAM_SIZE);
	if (netdev_create(&mc, &cfg, &nd) < 0)
		abort();
	struct modvm_virtio_mmio *t = netdev_transport(nd);
	struct fd_driver d = { .t = t, .ram = &ram, .rings = r, .nq = MAX_QUEUES };
	for (unsigned op = 0; op < MAX_OPS && in.left; op++) {
		switch (fd_u8(&in) % OP_NR) {
		case OP_NEGOTIATE:
			if (fd_negotiate(&d, &in) & 4)
				(void)fd_reg_read(t, MODVM_VIRTIO_MMIO_STATUS);
			break;
		case OP_STATUS:
			fd_status(&d, &in);
			break;
		case OP_QUEUE:
			fd_queue(&d, &in);
			break;
		case OP_WRITE_RAM:
			fd_write_ram(&d, &in);
			break;
		case OP_POST:
			fd_post(&d, &in);
			break;
		case OP_KICK:
			fd_kick(&d, &in);
			break;
		case OP_CTRL: {
			/* The control queue moves with MQ; the fuzzer picks. */
			unsigned q = (fd_u8(&in) & 1) ? 2u * cfg.pairs : 2;
			ctrl(&d, q, &in);
			break;
		}
		case OP_CONFIG:
			fd_config(&d, &in);
			break;
		case OP_INJECT:
			inject(&b, &in);
			break;
		case OP_POLL: {
			unsigned pair = fd_u8(&in) % (cfg.pairs + 1);
			(void)netdev_rx_poll(nd, pair, fd_u8(&in) % 16);
			break;
		}
		case OP_REG:
			fd_reg(&d, &in);
			break;
		case OP_AVAIL_IDX:
			fd_avail_idx(&d, &in);
			break;
		case OP_BACKEND:
			b.errors = fd_u8(&in);
			break;
		}
	}
	/* Whatever state the guest left: RX and TX once more on every pair. */
	for (unsigned p = 0; p < cfg.pairs; p++) {
		struct netdev_counters c;
		(void)netdev_rx_poll(nd, p, 8);
		fd_reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_NOTIFY, 2 * p + 1);
		netdev_get_counters(nd, p, &c);
	}
	(void)netdev_active_pairs(nd);
	netdev_free(nd);
	return 0;
}
