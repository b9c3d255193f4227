/*
 * blkdev_impl.h — what blkdev.c (the device: config space, callbacks, life
 * cycle) and blkdev_queue.c (a request's life: parse, throttle, submit,
 * complete) share.  See blkdev.c for the locking rules.
 */
#ifndef VIRTIO_BLK_BLKDEV_IMPL_H
#define VIRTIO_BLK_BLKDEV_IMPL_H

#include <pthread.h>

#include "blkdev.h"
#include "ratelimit.h"

struct breq {
	struct blkdev *bd;
	uint16_t qi;
	uint64_t gen;			/* the device generation it was popped in */
	struct modvm_virtq_chain *chain;
	struct blkreq r;
	struct blkio_op op;
	uint8_t *bounce;		/* O_DIRECT with unaligned guest buffers */
	struct iovec bounce_iov;
	struct breq *next;		/* throttled list */
	struct iovec iov[];		/* the guest's data buffers */
};

struct bqueue {
	struct breq *head, *tail;	/* popped, waiting for the rate limiter */
};

struct blkdev {
	struct modvm_virtio_mmio *transport;
	struct modvm_virtio_dev *dev;
	struct blkdev_config cfg;
	char name[64];
	struct blkio *io;
	uint64_t offered;

	/* under the transport mutex */
	uint64_t features;
	uint64_t gen;
	bool dying;
	struct ratelimit rl;
	struct blkio_op timer;
	bool timer_armed;
	bool timer_cancelled;		/* by a reset, not by the engine */
	bool warned_guest;
	uint64_t to_notify;		/* queues pushed to since the last batch end */
	uint16_t next_first;		/* the queue the rate limiter's timer serves first */
	struct bqueue q[BLKDEV_MAX_QUEUES];

	/* under mu */
	pthread_mutex_t mu;
	pthread_cond_t idle;
	unsigned held;			/* requests popped and not finished, plus the timer */
	uint64_t bounce_bytes;
	uint64_t err_last_ns, err_suppressed;

	/* A flush failed: the kernel may have dropped writes it could not
	 * write back and reports that once per file, so every later flush
	 * fails too (atomic). */
	bool flush_failed;

	struct blkdev_stats st;		/* atomic fields */
};

#define COUNT(bd, field, n) __atomic_add_fetch(&(bd)->st.field, (n), __ATOMIC_RELAXED)

/* Pops and starts what queue @qi holds.  Transport mutex held. */
void blkdev__process(struct blkdev *bd, uint16_t qi);
/* Frees the requests waiting for the rate limiter (reset, teardown).
 * Transport mutex held. */
void blkdev__drop_throttled(struct blkdev *bd);
/* The engine's callbacks (struct blkio_config complete and batch_end). */
void blkdev__complete(void *ctx, struct blkio_op *op);
void blkdev__batch_end(void *ctx);
uint64_t blkdev__now_ns(void);

#endif
