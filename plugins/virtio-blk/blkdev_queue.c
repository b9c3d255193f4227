/*
 * A virtio-blk request's life: popped and parsed (blkreq.c) on the vCPU
 * thread that kicked, held back by the rate limiter or submitted to the
 * I/O engine, completed on the engine's thread (status byte, used ring,
 * interrupt).  See blkdev.c for the locking rules.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <modvm/log.h>

#include "blkdev_impl.h"

uint64_t blkdev__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void hold(struct blkdev *bd)
{
	pthread_mutex_lock(&bd->mu);
	bd->held++;
	pthread_mutex_unlock(&bd->mu);
}

/* The last thing a finished request does: blkdev_free may go on. */
static void release(struct blkdev *bd)
{
	pthread_mutex_lock(&bd->mu);
	if (--bd->held == 0)
		pthread_cond_broadcast(&bd->idle);
	pthread_mutex_unlock(&bd->mu);
}

/* ---- logging ---- */

static const char *op_name(enum blkio_opcode op)
{
	static const char *const names[] = { "read", "write", "flush", "discard", "write-zeroes",
					     "timer", "write-zeroes" };
	return op <= BLKIO_ZERO_UNMAP ? names[op] : "?";
}

/* Host I/O errors: the first at once, then at most one line a second
 * counting the ones in between, so a failing disk cannot flood the log. */
static void host_error(struct blkdev *bd, const struct breq *q, int64_t err)
{
	uint64_t now = blkdev__now_ns(), suppressed = 0;
	bool say = false;

	COUNT(bd, host_errors, 1);
	pthread_mutex_lock(&bd->mu);
	if (bd->err_last_ns == 0 || now - bd->err_last_ns >= 1000000000u) {
		say = true;
		suppressed = bd->err_suppressed;
		bd->err_suppressed = 0;
		bd->err_last_ns = now;
	} else {
		bd->err_suppressed++;
	}
	pthread_mutex_unlock(&bd->mu);
	if (!say)
		return;
	if (q->r.opcode == BLKIO_FLUSH)
		modvm_log(MODVM_LOG_ERROR, bd->name, "flush failed: %s; the guest gets IOERR%s",
			  strerror((int)-err), __atomic_load_n(&bd->flush_failed, __ATOMIC_ACQUIRE)
			  ? ", and so does every flush until the disk is opened again (writes the "
			    "host could not write back may be lost)" : "");
	else
		modvm_log(MODVM_LOG_ERROR, bd->name,
			  "%s of %" PRIu64 " bytes at sector %" PRIu64 " failed: %s; the guest gets "
			  "IOERR", op_name(q->r.opcode), q->r.len, q->r.offset / VBLK_SECTOR,
			  strerror((int)-err));
	if (suppressed)
		modvm_log(MODVM_LOG_ERROR, bd->name, "%" PRIu64 " more I/O errors in the last second",
			  suppressed);
}

/* Guest mistakes: the first at WARN, the rest at DEBUG. */
static void guest_error(struct blkdev *bd, const struct blkreq *r, const char *what)
{
	enum modvm_log_level level = bd->warned_guest ? MODVM_LOG_DEBUG : MODVM_LOG_WARN;

	bd->warned_guest = true;
	if (r)
		modvm_log(level, bd->name, "request type %u at sector %" PRIu64 ": %s", r->type,
			  r->sector, what);
	else
		modvm_log(level, bd->name, "%s", what);
}

/* ---- completing ---- */

static void count_result(struct blkdev *bd, uint8_t status)
{
	if (status == VBLK_S_IOERR)
		COUNT(bd, ioerr, 1);
	else if (status == VBLK_S_UNSUPP)
		COUNT(bd, unsupp, 1);
}

static void free_req(struct breq *q)
{
	if (q->bounce) {
		free(q->bounce);
		pthread_mutex_lock(&q->bd->mu);
		q->bd->bounce_bytes -= q->r.len;
		pthread_mutex_unlock(&q->bd->mu);
	}
	free(q);
}

static void copy_out(const struct breq *q)
{
	uint64_t off = 0;

	for (int i = 0; i < q->r.iovcnt; i++) {
		memcpy(q->iov[i].iov_base, q->bounce + off, q->iov[i].iov_len);
		off += q->iov[i].iov_len;
	}
}

static void timer_done(struct blkdev *bd)
{
	modvm_virtio_lock(bd->dev);
	bd->timer_armed = false;
	/* Fired, or cancelled by a reset after which requests may wait again
	 * (they asked for no timer while this one was armed).  A timer the
	 * engine cancelled on its own (the fuzzer's) leaves the next kick to
	 * go on. */
	if (!bd->dying && (bd->timer.result == 0 || bd->timer_cancelled)) {
		uint16_t n = bd->features & VBLK_BIT(VBLK_F_MQ) ? bd->cfg.num_queues : 1;
		/* Each queue first in turn: the first takes the tokens that came
		 * back, and a busy queue 0 would starve the others for good. */
		uint16_t first = (uint16_t)(bd->next_first++ % n);
		for (uint16_t i = 0; i < n; i++)
			blkdev__process(bd, (uint16_t)((first + i) % n));
	}
	bd->timer_cancelled = false;
	modvm_virtio_unlock(bd->dev);
	release(bd);
}

/* The engine finished an op (its thread; rarely inside blkio_submit). */
void blkdev__complete(void *ctx, struct blkio_op *op)
{
	struct blkdev *bd = ctx;
	struct breq *q;
	uint8_t status = VBLK_S_OK;

	if (op == &bd->timer) {
		timer_done(bd);
		return;
	}
	q = (struct breq *)((char *)op - offsetof(struct breq, op));
	if (op->result < 0) {
		status = VBLK_S_IOERR;
		if (q->r.opcode == BLKIO_FLUSH)
			__atomic_store_n(&bd->flush_failed, true, __ATOMIC_RELEASE);
		host_error(bd, q, op->result);
	} else if (q->r.opcode == BLKIO_FLUSH &&
		   __atomic_load_n(&bd->flush_failed, __ATOMIC_ACQUIRE)) {
		/* This fdatasync succeeded only because the kernel had already
		 * reported (and forgotten) the writes it lost. */
		status = VBLK_S_IOERR;
		host_error(bd, q, -EIO);
	}
	count_result(bd, status);
	modvm_virtio_lock(bd->dev);
	if (q->gen == bd->gen) {
		struct modvm_virtq *vq = modvm_virtio_queue(bd->dev, q->qi);

		if (q->bounce && q->r.opcode == BLKIO_READ && status == VBLK_S_OK)
			copy_out(q);
		*q->r.status = status;
		modvm_virtq_push(vq, q->chain, q->r.written);
		bd->to_notify |= 1ull << q->qi;	/* interrupt at the batch's end */
	} else {
		/* The driver reset the device meanwhile: its buffers are not ours. */
		modvm_virtq_chain_free(q->chain);
		COUNT(bd, stale, 1);
	}
	modvm_virtio_unlock(bd->dev);
	free_req(q);
	release(bd);
}

/* After a batch of completions: one interrupt per queue that got some. */
void blkdev__batch_end(void *ctx)
{
	struct blkdev *bd = ctx;

	modvm_virtio_lock(bd->dev);
	for (uint16_t qi = 0; bd->to_notify && qi < bd->cfg.num_queues; qi++)
		if (bd->to_notify & (1ull << qi)) {
			bd->to_notify &= ~(1ull << qi);
			modvm_virtio_notify_used(bd->dev, qi);
		}
	modvm_virtio_unlock(bd->dev);
}

/* ---- submitting ---- */

static bool aligned_buffers(const struct blkdev *bd, const struct breq *q)
{
	uint64_t m = bd->cfg.dio_mem_align ? bd->cfg.dio_mem_align : 1;

	for (int i = 0; i < q->r.iovcnt; i++)
		if ((uintptr_t)q->iov[i].iov_base % m || q->iov[i].iov_len % m)
			return false;
	return true;
}

/* O_DIRECT wants aligned buffers; a guest's may not be.  0, or -ENOMEM
 * (also beyond the bounce budget). */
static int bounce(struct blkdev *bd, struct breq *q)
{
	size_t align = bd->cfg.dio_mem_align > 512 ? bd->cfg.dio_mem_align : 512;
	bool ok;
	void *p = NULL;

	pthread_mutex_lock(&bd->mu);
	ok = bd->bounce_bytes + q->r.len <= BLKDEV_BOUNCE_BUDGET;
	if (ok)
		bd->bounce_bytes += q->r.len;
	pthread_mutex_unlock(&bd->mu);
	if (!ok || posix_memalign(&p, align, q->r.len)) {
		if (ok) {
			pthread_mutex_lock(&bd->mu);
			bd->bounce_bytes -= q->r.len;
			pthread_mutex_unlock(&bd->mu);
		}
		return -ENOMEM;
	}
	q->bounce = p;
	if (q->r.opcode == BLKIO_WRITE) {
		uint64_t off = 0;
		for (int i = 0; i < q->r.iovcnt; i++) {
			memcpy(q->bounce + off, q->iov[i].iov_base, q->iov[i].iov_len);
			off += q->iov[i].iov_len;
		}
	}
	q->bounce_iov = (struct iovec){ .iov_base = q->bounce, .iov_len = q->r.len };
	COUNT(bd, bounced, 1);
	return 0;
}

/* Answers @q at once (no I/O) and frees it; the caller notifies. */
static void answer(struct blkdev *bd, struct breq *q, uint8_t status)
{
	struct modvm_virtq *vq = modvm_virtio_queue(bd->dev, q->qi);

	count_result(bd, status);
	*q->r.status = status;
	modvm_virtq_push(vq, q->chain, q->r.written);
	free_req(q);
}

static void submit(struct blkdev *bd, struct breq *q)
{
	bool rw = q->r.opcode == BLKIO_READ || q->r.opcode == BLKIO_WRITE;

	q->op = (struct blkio_op){
		.opcode = q->r.opcode,
		.fd = bd->cfg.fd,
		.offset = q->r.offset,
		.len = q->r.len,
		.iov = q->iov,
		.iovcnt = q->r.iovcnt,
		.stable = !(bd->features & VBLK_BIT(VBLK_F_FLUSH)),
	};
	if (rw && bd->cfg.direct && !aligned_buffers(bd, q)) {
		if (bounce(bd, q) < 0) {
			modvm_log(MODVM_LOG_WARN, bd->name,
				  "no bounce buffer for an unaligned %" PRIu64 "-byte request "
				  "(budget %u MiB): IOERR", q->r.len, BLKDEV_BOUNCE_BUDGET >> 20);
			uint16_t qi = q->qi;	/* answer() frees q */
			answer(bd, q, VBLK_S_IOERR);
			modvm_virtio_notify_used(bd->dev, qi);
			release(bd);
			return;
		}
		q->op.iov = &q->bounce_iov;
		q->op.iovcnt = 1;
	}
	switch (q->r.opcode) {
	case BLKIO_READ: COUNT(bd, reads, 1); COUNT(bd, read_bytes, q->r.len); break;
	case BLKIO_WRITE: COUNT(bd, writes, 1); COUNT(bd, write_bytes, q->r.len); break;
	case BLKIO_FLUSH: COUNT(bd, flushes, 1); break;
	case BLKIO_DISCARD: COUNT(bd, discards, 1); break;
	case BLKIO_ZERO:
	case BLKIO_ZERO_UNMAP: COUNT(bd, write_zeroes, 1); break;
	default: break;
	}
	blkio_submit(bd->io, &q->op);	/* @q may be gone when this returns */
}

static void arm_timer(struct blkdev *bd, uint64_t ns)
{
	if (bd->timer_armed)
		return;
	bd->timer_armed = true;
	hold(bd);
	bd->timer = (struct blkio_op){ .opcode = BLKIO_TIMER, .fd = -1, .timer_ns = ns };
	blkio_submit(bd->io, &bd->timer);
}

/* Takes tokens for @q, or arms the timer and says no. */
static bool may_go(struct blkdev *bd, const struct breq *q)
{
	uint64_t bytes = q->r.opcode == BLKIO_READ || q->r.opcode == BLKIO_WRITE ? q->r.len : 0;
	uint64_t wait;

	if (!ratelimit_enabled(&bd->rl))
		return true;
	wait = ratelimit_take(&bd->rl, bytes, blkdev__now_ns());
	if (wait == 0)
		return true;
	arm_timer(bd, wait);
	return false;
}

/* Submits the throttled requests of @qi that may go; false if some wait. */
static bool drain_throttled(struct blkdev *bd, uint16_t qi)
{
	struct bqueue *b = &bd->q[qi];

	while (b->head) {
		struct breq *q = b->head;
		if (!may_go(bd, q))
			return false;
		b->head = q->next;
		if (!b->head)
			b->tail = NULL;
		submit(bd, q);
	}
	return true;
}

static void throttle(struct blkdev *bd, struct breq *q)
{
	struct bqueue *b = &bd->q[q->qi];

	COUNT(bd, throttled, 1);
	q->next = NULL;
	if (b->tail)
		b->tail->next = q;
	else
		b->head = q;
	b->tail = q;
}

static struct blkreq_limits limits(const struct blkdev *bd)
{
	return (struct blkreq_limits){
		.capacity = bd->cfg.size / VBLK_SECTOR,
		.readonly = bd->cfg.readonly,
		.discard = bd->features & VBLK_BIT(VBLK_F_DISCARD),
		.write_zeroes = bd->features & VBLK_BIT(VBLK_F_WRITE_ZEROES),
		.unmap = bd->cfg.discard,
		.align = bd->cfg.direct ? bd->cfg.dio_offset_align : 0,
		.serial = bd->cfg.serial,
	};
}

/* Pops and starts what queue @qi holds: at most its size per call (a
 * guest can make a ring look endless; what is left is picked up through
 * modvm_virtio_renotify), stopping when the rate limiter says wait (its
 * timer resumes).  Transport mutex held. */
void blkdev__process(struct blkdev *bd, uint16_t qi)
{
	struct modvm_virtq *vq = modvm_virtio_queue(bd->dev, qi);
	struct blkreq_limits lim = limits(bd);
	struct modvm_virtq_chain *c;
	bool answered = false;
	uint32_t size, budget;

	if (!vq || bd->dying || !drain_throttled(bd, qi))
		return;
	/* Ends at 0 only when the budget ran out: every other way out breaks. */
	size = modvm_virtq_size(vq);
	for (budget = size; budget > 0; budget--) {
		if (modvm_virtq_pop(vq, &c) <= 0)
			break;
		struct breq *q = malloc(sizeof(*q) + (c->n_readable + c->n_writable) *
							     sizeof(q->iov[0]));
		if (!q) {
			modvm_virtq_push(vq, c, 0);	/* the driver sees an error */
			answered = true;
			continue;
		}
		*q = (struct breq){ .bd = bd, .qi = qi, .gen = bd->gen, .chain = c };
		blkreq_parse(&lim, c, q->iov, &q->r);
		if (q->r.action == BLKREQ_DROP) {
			COUNT(bd, bad_chains, 1);
			guest_error(bd, NULL, "a chain without a writable status byte: returned "
					      "unanswered (length 0)");
			modvm_virtq_push(vq, c, 0);
			free(q);
			answered = true;
			continue;
		}
		if (q->r.action == BLKREQ_DONE) {
			if (q->r.why)
				guest_error(bd, &q->r, q->r.why);
			if (q->r.type == VBLK_T_GET_ID && q->r.result == VBLK_S_OK)
				COUNT(bd, get_ids, 1);
			answer(bd, q, q->r.result);
			answered = true;
			continue;
		}
		hold(bd);
		if (!may_go(bd, q)) {
			throttle(bd, q);
			break;	/* the rest waits in the ring, in order */
		}
		submit(bd, q);
	}
	if (answered)
		modvm_virtio_notify_used(bd->dev, qi);
	if (size && budget == 0)
		modvm_virtio_renotify(bd->dev, qi);
}

/* Frees the throttled requests (reset, teardown).  Transport mutex held. */
void blkdev__drop_throttled(struct blkdev *bd)
{
	for (uint16_t i = 0; i < bd->cfg.num_queues; i++) {
		while (bd->q[i].head) {
			struct breq *q = bd->q[i].head;
			bd->q[i].head = q->next;
			modvm_virtq_chain_free(q->chain);
			free_req(q);
			release(bd);
		}
		bd->q[i].tail = NULL;
	}
}
