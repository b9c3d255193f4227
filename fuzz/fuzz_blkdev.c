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
#include "fuzz_driver.h"

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

static struct fd_ram ram = { .size = RAM_SIZE };
static int img_fd = -1, bad_fd = -1;

/*
 * A request shaped like Linux's (header, data, status), with fuzzed type,
 * sector and length and a layout byte that splits, merges and misplaces
 * the pieces: 1 data writable, 2 header split in two, 4 status merged into
 * the data, 8 no status, 16 data misaligned by 8, 32 short header, 64 the
 * data ends at the end of RAM.
 */
static void request(const struct fd_driver *d, struct fd_input *in)
{
	unsigned qi = fd_u8(in) % MAX_QUEUES;
	struct fd_ring *q = &d->rings[qi];
	uint32_t type = fd_u32(in);
	uint64_t sector = fd_u64(in);
	uint32_t len = fd_u16(in) % 0x4000;
	uint8_t lay = fd_u8(in);
	uint16_t head = fd_u8(in), i = head;
	uint64_t hdr = 0x8000, data = 0x9000 + ((lay & 16) ? 8 : 0), st = 0xff00;
	uint16_t data_flags = (lay & 1) ? MODVM_VIRTQ_DESC_F_WRITE : 0;
	uint8_t h[VBLK_HDR_LEN] = { 0 };

	if (lay & 64)
		data = RAM_SIZE - len - ((lay & 4) ? 1 : 0);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
	fd_put(&ram, hdr, h, sizeof(h));
	uint32_t hlen = (lay & 32) ? 12 : VBLK_HDR_LEN;
	if (lay & 2) {
		fd_put_desc(&ram, q->desc, i, hdr, 5, MODVM_VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
		i++;
		fd_put_desc(&ram, q->desc, i, hdr + 5, hlen - 5, MODVM_VIRTQ_DESC_F_NEXT,
			    (uint16_t)(i + 1));
	} else {
		fd_put_desc(&ram, q->desc, i, hdr, hlen, MODVM_VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
	}
	bool tail = !(lay & 8);
	if (len || (lay & 4)) {
		i++;
		bool merged = (lay & 4) && tail;
		fd_put_desc(&ram, q->desc, i, data, len + (merged ? 1 : 0),
			    (uint16_t)(data_flags | (merged ? MODVM_VIRTQ_DESC_F_WRITE : 0) |
				       (tail && !merged ? MODVM_VIRTQ_DESC_F_NEXT : 0)),
			    (uint16_t)(i + 1));
		tail = tail && !merged;
	}
	if (tail) {
		i++;
		fd_put_desc(&ram, q->desc, i, st, 1, MODVM_VIRTQ_DESC_F_WRITE, 0);
	}
	fd_make_available(&ram, q, head);
	fd_reg_write(d->t, MODVM_VIRTIO_MMIO_QUEUE_NOTIFY, qi);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	modvm_log_set_level(MODVM_LOG_ERROR);	/* guest errors are expected here */
	ram.base = fd_map_ram(RAM_SIZE, MAP_PRIVATE);
	img_fd = memfd_create("fuzz-blk", MFD_CLOEXEC);
	bad_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);	/* every I/O fails */
	if (img_fd < 0 || bad_fd < 0 || ftruncate(img_fd, IMG_SIZE) < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fd_input in = { data, size };
	struct fd_ring r[MAX_QUEUES] = { { 0 } };
	struct blkdev *bd;
	uint8_t dev = fd_u8(&in);
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
	struct modvm_virtio_mmio_config mc = fd_mmio_config("fuzz-blk", &ram);

	/* Direct-I/O checks and bounce buffers without O_DIRECT (a memfd has
	 * none): the device only looks at the alignments. */
	if (dev & 0x40) {
		cfg.direct = true;
		cfg.dio_offset_align = 4096;
		cfg.dio_mem_align = 512;
	}
	memset(ram.base, 0, RAM_SIZE);
	if (blkdev_create(&mc, &cfg, &bd) < 0)
		abort();
	struct modvm_virtio_mmio *t = blkdev_transport(bd);
	struct fd_driver d = { .t = t, .ram = &ram, .rings = r, .nq = MAX_QUEUES };
	for (unsigned op = 0; op < MAX_OPS && in.left; op++) {
		switch (fd_u8(&in) % OP_NR) {
		case OP_NEGOTIATE:
			fd_negotiate(&d, &in);
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
		case OP_REQ:
			request(&d, &in);
			break;
		case OP_CONFIG:
			fd_config(&d, &in);
			break;
		case OP_REG:
			fd_reg(&d, &in);
			break;
		case OP_AVAIL_IDX:
			fd_avail_idx(&d, &in);
			break;
		}
	}
	/* Whatever state the guest left: every queue kicked once more. */
	for (unsigned q = 0; q < MAX_QUEUES; q++)
		fd_reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_NOTIFY, q);
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
