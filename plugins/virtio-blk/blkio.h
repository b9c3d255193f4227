/*
 * blkio.h — asynchronous file I/O for the virtio-blk device, off the vCPU
 * threads: io_uring (liburing) where the kernel lets this process use it, a
 * small pool of preadv/pwritev threads otherwise.  The choice is made at
 * run time (io_uring may be compiled out, disabled by the
 * kernel.io_uring_disabled sysctl, or refused by a seccomp filter, as
 * container runtimes do) and reported by `modvm caps`.
 *
 * An engine serves one disk.  Ops are submitted from any thread (the
 * device submits with its transport mutex held) and complete exactly once
 * through the complete callback, on the engine's own thread, with no engine
 * lock held: so the callback may take the transport mutex.  batch_end
 * follows each batch of completions on the same thread.  Rarely (the
 * kernel refused to queue the op) it completes inside blkio_submit instead.
 *
 * An op either moves all its bytes or fails: short transfers are continued
 * by the engine, EINTR/EAGAIN retried, end of file before the end of a read
 * or write (an image that shrank under us) is -EIO.
 */
#ifndef VIRTIO_BLK_BLKIO_H
#define VIRTIO_BLK_BLKIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <linux/time_types.h>

struct modvm_plugin_ctx;

enum blkio_kind {
	BLKIO_AUTO = 0,		/* io_uring if usable, else threads */
	BLKIO_URING,
	BLKIO_THREADS,
	BLKIO_INLINE,		/* the fuzzer's: ops run inside submit, timers are
				 * cancelled at once; deterministic, never for guests */
};

enum blkio_opcode {
	BLKIO_READ,		/* preadv(fd, iov, offset) */
	BLKIO_WRITE,		/* pwritev(fd, iov, offset) */
	BLKIO_FLUSH,		/* fdatasync(fd) */
	BLKIO_DISCARD,		/* fallocate(PUNCH_HOLE | KEEP_SIZE, offset, len) */
	BLKIO_ZERO,		/* fallocate(ZERO_RANGE | KEEP_SIZE), else zeros written */
	BLKIO_TIMER,		/* completes after timer_ns, or -ECANCELED */
	/* Zeroes that may deallocate: fallocate(PUNCH_HOLE | KEEP_SIZE), and
	 * where no hole can be punched (a device without write-zeroes, a file
	 * system without holes) as BLKIO_ZERO: unlike a discard, it must. */
	BLKIO_ZERO_UNMAP,
};

struct blkio_op {
	enum blkio_opcode opcode;
	int fd;
	uint64_t offset, len;	/* bytes; READ/WRITE: len is the sum of the iov */
	struct iovec *iov;	/* READ/WRITE; the engine advances it on short transfers */
	int iovcnt;
	uint64_t timer_ns;	/* TIMER */
	/* WRITE and the zeroing ops: on stable storage (fdatasync) before
	 * they complete, for a driver that did not accept VIRTIO_BLK_F_FLUSH
	 * and so takes a completed write for a stable one (5.2.6.2). */
	bool stable;
	int64_t result;		/* on completion: 0, or -errno */
	/* engine-private */
	uint64_t moved;
	bool cancelled;
	struct __kernel_timespec ts;
	struct blkio_op *next;
};

struct blkio;

struct blkio_config {
	enum blkio_kind kind;
	unsigned depth;		/* most ops in flight at once (sizes the ring) */
	unsigned threads;	/* pool workers (2..64) */
	const char *name;	/* for log lines */
	void (*complete)(void *ctx, struct blkio_op *op);
	/* Optional: after a batch of completions (every completion the engine
	 * had at hand), so the device interrupts the guest once per batch. */
	void (*batch_end)(void *ctx);
	void *ctx;
	/* Threads through modvm_thread_create for this plugin, or NULL:
	 * plain pthread_create (blkdev_config's plugin). */
	struct modvm_plugin_ctx *plugin;
};

/*
 * Starts an engine of @cfg->kind (AUTO: io_uring if blkio_uring_usable(),
 * else threads).  0, or -errno with @why filled (io_uring asked for and
 * refused, no memory, no threads).
 */
int blkio_create(const struct blkio_config *cfg, struct blkio **out, char *why, size_t len);
/* Stops the engine.  Every submitted op must have completed. */
void blkio_destroy(struct blkio *io);
void blkio_submit(struct blkio *io, struct blkio_op *op);
/* A TIMER op submitted earlier completes soon with -ECANCELED (or has
 * fired already).  Any thread. */
void blkio_cancel_timer(struct blkio *io, struct blkio_op *op);
enum blkio_kind blkio_kind(const struct blkio *io);
const char *blkio_kind_name(enum blkio_kind kind);

/*
 * Whether io_uring works in this process with every opcode the engine
 * needs; false with the reason ("io_uring_setup: Operation not permitted
 * (kernel.io_uring_disabled or a seccomp filter)") otherwise.
 */
bool blkio_uring_usable(char *why, size_t len);

/* ---- the two engines (blkio_uring.c, blkio_pool.c) ---- */

/* Starts an engine thread named @what: 0 or -errno. */
int blkio__thread(struct blkio *io, pthread_t *t, const char *what, void *(*fn)(void *),
		  void *arg);

struct blkio_engine {
	void (*submit)(struct blkio *io, struct blkio_op *op);
	void (*cancel_timer)(struct blkio *io, struct blkio_op *op);
	void (*destroy)(struct blkio *io);
};

struct blkio {
	const struct blkio_engine *e;
	enum blkio_kind kind;
	struct blkio_config cfg;
	char name[64];
	void *priv;
};

int blkio__uring_start(struct blkio *io, char *why, size_t len);
int blkio__pool_start(struct blkio *io, char *why, size_t len);
/* Runs @op synchronously on this thread (the pool's workers; the ring's
 * fallback for zeroing); sets op->result. */
void blkio__run_sync(struct blkio_op *op);
/* Completes @op to the device, first making it stable if it asked to be
 * (@op->stable): every engine ends an op here so none forgets that step. */
void blkio__finish(struct blkio *io, struct blkio_op *op);
/* Whether a failed deallocation (-@err) means "cannot here", not a failure. */
bool blkio__no_holes(int err);
/* Continues @op after @n more bytes moved: advances the iov; true when
 * bytes are left. */
bool blkio__advance(struct blkio_op *op, uint64_t n);

#endif
