/*
 * blkdev.h — the virtio-blk device model (virtio 1.2, 5.2) of the
 * virtio-blk plugin, on the libmodvm virtio library (modvm/virtio.h).
 *
 * Requests (5.2.6): a 16-byte header (le32 type, le32 reserved, le64
 * sector) in the device-readable part of a chain, data (readable for
 * writes, writable for reads), and one status byte, the last byte of the
 * writable part.  Every request is checked before any byte moves: the
 * header and status byte are where they must be, the sector range lies
 * inside the image (without overflow), the disk is writable for writes,
 * discards and zeroing, the type is known (else VIRTIO_BLK_S_UNSUPP) and
 * the data fits the limits the config space advertises.  A chain without a
 * status byte is returned used with length 0 and counted.
 *
 * Threads.  Requests are parsed and submitted in queue_notify, on the vCPU
 * thread that kicked (or on the loop thread, for what was left after a
 * queue's worth: modvm_virtio_renotify), with the transport mutex held;
 * the I/O runs in the kernel (io_uring) or on I/O threads (blkio.h), never
 * on the vCPU thread.
 * Completions write the status byte and push the chain on the engine's
 * thread, under the transport mutex, and interrupt the driver.  A device
 * reset drops requests that have not completed yet (their chains are never
 * pushed) and waits (at most 5 s) for those the engine holds, so none
 * lands after it; blkdev_free waits for every request the engine holds.
 *
 * Flushes: VIRTIO_BLK_T_FLUSH completes only after fdatasync() of the image
 * returned, so an acknowledged flush means the data written before it is
 * on stable storage (5.2.6.2).  Once a flush failed, every later one fails
 * too: the kernel reports a lost writeback once per file.  A driver that
 * did not accept VIRTIO_BLK_F_FLUSH takes a completed write for a stable
 * one: each write is followed by fdatasync before it completes.
 * Write-zeroes with UNMAP punches a hole, and where none can be punched
 * zeroes the range: it must read back as zeros (a discard may be ignored).
 */
#ifndef VIRTIO_BLK_BLKDEV_H
#define VIRTIO_BLK_BLKDEV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <modvm/virtio.h>
#include <modvm/vm.h>

#include "blkio.h"

#define VIRTIO_ID_BLOCK 2

/* Feature bits (5.2.3). */
#define VBLK_F_SIZE_MAX 1
#define VBLK_F_SEG_MAX 2
#define VBLK_F_GEOMETRY 4
#define VBLK_F_RO 5
#define VBLK_F_BLK_SIZE 6
#define VBLK_F_FLUSH 9
#define VBLK_F_TOPOLOGY 10
#define VBLK_F_CONFIG_WCE 11
#define VBLK_F_MQ 12
#define VBLK_F_DISCARD 13
#define VBLK_F_WRITE_ZEROES 14
#define VBLK_BIT(b) (1ULL << (b))

/* Request types and status values (5.2.6). */
#define VBLK_T_IN 0
#define VBLK_T_OUT 1
#define VBLK_T_FLUSH 4
#define VBLK_T_GET_ID 8
#define VBLK_T_GET_LIFETIME 10
#define VBLK_T_DISCARD 11
#define VBLK_T_WRITE_ZEROES 13
#define VBLK_T_SECURE_ERASE 14
#define VBLK_S_OK 0
#define VBLK_S_IOERR 1
#define VBLK_S_UNSUPP 2

#define VBLK_SECTOR 512u
#define VBLK_HDR_LEN 16u
#define VBLK_ID_BYTES 20u
/* struct virtio_blk_discard_write_zeroes: le64 sector, le32 num_sectors, le32 flags */
#define VBLK_DWZ_LEN 16u
#define VBLK_DWZ_F_UNMAP 1u

/* Config space (5.2.4), offsets of the fields we fill. */
#define VBLK_CFG_CAPACITY 0		/* le64, 512-byte sectors */
#define VBLK_CFG_SIZE_MAX 8		/* le32 */
#define VBLK_CFG_SEG_MAX 12		/* le32 */
#define VBLK_CFG_BLK_SIZE 20		/* le32 */
#define VBLK_CFG_NUM_QUEUES 34		/* le16 */
#define VBLK_CFG_MAX_DISCARD_SECTORS 36	/* le32 */
#define VBLK_CFG_MAX_DISCARD_SEG 40	/* le32 */
#define VBLK_CFG_DISCARD_ALIGN 44	/* le32, sectors */
#define VBLK_CFG_MAX_WZ_SECTORS 48	/* le32 */
#define VBLK_CFG_MAX_WZ_SEG 52		/* le32 */
#define VBLK_CFG_WZ_MAY_UNMAP 56	/* u8 */
#define VBLK_CFG_SIZE 60u

/* What the device offers. */
#define BLKDEV_QUEUE_MAX 256
#define BLKDEV_MAX_QUEUES 64
#define BLKDEV_SEG_MAX (BLKDEV_QUEUE_MAX - 2)	/* header and status take two */
#define BLKDEV_SIZE_MAX (1u << 20)		/* bytes per data segment */
#define BLKDEV_MAX_DATA ((uint64_t)BLKDEV_SEG_MAX * BLKDEV_SIZE_MAX)
#define BLKDEV_MAX_DWZ_SECTORS 4194303u		/* (2^31 - 1) / 512, as QEMU */
/* Bytes of bounce buffers in flight per disk (O_DIRECT, misaligned guest
 * buffers); a request beyond it gets IOERR. */
#define BLKDEV_BOUNCE_BUDGET (64u << 20)

struct blkdev_config {
	int fd;			/* the image, opened by the caller (image.h) */
	uint64_t size;		/* bytes; the disk has size / 512 sectors */
	bool readonly;		/* VIRTIO_BLK_F_RO, every write refused */
	bool direct;		/* @fd has O_DIRECT: offsets aligned, buffers bounced */
	uint32_t dio_offset_align;	/* direct: offsets and lengths */
	uint32_t dio_mem_align;		/* direct: buffer addresses */
	bool discard;		/* VIRTIO_BLK_F_DISCARD (punch holes) */
	bool write_zeroes;	/* VIRTIO_BLK_F_WRITE_ZEROES */
	uint32_t block_size;	/* logical block size told to the guest, 512..4096 */
	uint16_t num_queues;	/* 1..BLKDEV_MAX_QUEUES */
	char serial[VBLK_ID_BYTES + 1];	/* GET_ID, NUL-padded */
	/* Token buckets (ratelimit.h); 0 rates: unlimited, 0 bursts: a second's worth. */
	uint64_t rate_bytes, burst_bytes, rate_ops, burst_ops;
	enum blkio_kind io;	/* AUTO, URING, THREADS (or INLINE for the fuzzer) */
	unsigned io_threads;	/* the thread pool's size */
	/* The plugin whose I/O threads these are: made with
	 * modvm_thread_create, so the sandbox gives them its I/O class and
	 * they can be made after the lockdown (a guest's reboot).  NULL (unit
	 * tests, fuzzer, bench): plain pthreads. */
	struct modvm_plugin_ctx *plugin;
};

/* Counters since create; readable from any thread. */
struct blkdev_stats {
	uint64_t reads, writes, flushes, discards, write_zeroes, get_ids;
	uint64_t read_bytes, write_bytes;
	uint64_t ioerr;		/* requests answered VIRTIO_BLK_S_IOERR */
	uint64_t unsupp;	/* requests answered VIRTIO_BLK_S_UNSUPP */
	uint64_t bad_chains;	/* chains with no status byte: used with length 0 */
	uint64_t host_errors;	/* I/O errors of the host file */
	uint64_t throttled;	/* requests the rate limiter held back */
	uint64_t bounced;	/* requests through a bounce buffer (O_DIRECT) */
	uint64_t stale;		/* completions dropped because the driver reset */
};

struct blkdev;

/* Checks @cfg; -EINVAL naming the bad value (logged under @name). */
int blkdev_config_check(const char *name, const struct blkdev_config *cfg);

/* A device on a transport of its own (tests, fuzzer, bench), @mmio as for
 * modvm_virtio_mmio_create.  0, -EINVAL, -ENOMEM, the engine's error. */
int blkdev_create(const struct modvm_virtio_mmio_config *mmio, const struct blkdev_config *cfg,
		  struct blkdev **out);
/* Waits for the requests in flight, stops the engine, frees.  The fd stays
 * the caller's. */
void blkdev_free(struct blkdev *bd);
/* A device added to @vm (owner thread, before start) / removed (vCPUs stopped). */
int blkdev_attach(struct modvm_vm *vm, const char *name, const struct blkdev_config *cfg,
		  struct blkdev **out);
void blkdev_detach(struct modvm_vm *vm, struct blkdev *bd);

struct modvm_virtio_mmio *blkdev_transport(struct blkdev *bd);
/* The engine the device got (io_uring or threads). */
enum blkio_kind blkdev_io_kind(const struct blkdev *bd);
void blkdev_get_stats(struct blkdev *bd, struct blkdev_stats *out);
/* Waits until no request is with the engine (tests); 0 or -ETIMEDOUT.  Not
 * with the transport mutex held. */
int blkdev_quiesce(struct blkdev *bd, int timeout_ms);

/* ---- parsing a request (blkreq.c), pure: the fuzzer and tests call it too ---- */

struct blkreq_limits {
	uint64_t capacity;	/* sectors */
	bool readonly;
	bool discard;		/* negotiated */
	bool write_zeroes;	/* negotiated */
	bool unmap;		/* WRITE_ZEROES with UNMAP may punch holes */
	uint32_t align;		/* direct I/O: offsets and lengths (0: any) */
	const char *serial;	/* VBLK_ID_BYTES, NUL-padded */
};

enum blkreq_action {
	BLKREQ_DROP,		/* no status byte: push with length 0 */
	BLKREQ_DONE,		/* answered without I/O: write @status, push */
	BLKREQ_IO,		/* submit @opcode on [@offset, +@len) with the iov */
};

struct blkreq {
	enum blkreq_action action;
	uint32_t type;
	uint64_t sector;
	uint8_t *status;	/* the guest's status byte (NULL for DROP) */
	uint8_t result;		/* DONE: the status to write */
	const char *why;	/* DONE with an error: the reason, for the debug log */
	uint32_t written;	/* the used length when it completes */
	enum blkio_opcode opcode;
	uint64_t offset, len;	/* bytes */
	int iovcnt;		/* data buffers written to the caller's iov */
};

/*
 * Parses chain @c into @r, writing the data buffers (guest memory, already
 * translated by the library) to @iov, which has room for every segment of
 * the chain.  GET_ID is answered here (the serial is copied into its
 * buffer).  Never touches memory outside the chain's segments.
 */
void blkreq_parse(const struct blkreq_limits *lim, const struct modvm_virtq_chain *c,
		  struct iovec *iov, struct blkreq *r);

#endif
