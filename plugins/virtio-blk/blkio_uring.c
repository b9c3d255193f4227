/*
 * blkio_uring.c — the io_uring engine (liburing).  Submitters share the
 * submission queue under a mutex; one completion thread reaps the
 * completion queue, continues short transfers and calls the completion
 * callback.  The two sides of a ring are independent in liburing, so the
 * reaper never waits for a submitter.
 *
 * The ring is sized for every op the device can have in flight (one per
 * descriptor pair of every queue), so the completion queue cannot
 * overflow even while the reaper waits for the device's transport mutex.
 */
#include <errno.h>
#include <linux/falloc.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/log.h>

#include "blkio.h"

struct uring {
	struct io_uring ring;
	pthread_mutex_t sq_mu;
	pthread_t reaper;
	bool warned;
};

/* user_data of the ring's own entries (never an op's address). */
static const char stop_tag, cancel_tag;

static const int needed_ops[] = {
	IORING_OP_NOP, IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC,
	IORING_OP_FALLOCATE, IORING_OP_TIMEOUT, IORING_OP_TIMEOUT_REMOVE,
};

static const char *hint(int err)
{
	switch (err) {
	case EPERM: return " (kernel.io_uring_disabled, or a seccomp filter)";
	case ENOSYS: return " (a kernel without io_uring, or a seccomp filter)";
	case ENOMEM: return " (RLIMIT_MEMLOCK too small for the ring?)";
	default: return "";
	}
}

bool blkio_uring_usable(char *why, size_t len)
{
	struct io_uring ring;
	struct io_uring_probe *probe;
	int r = io_uring_queue_init(8, &ring, 0);
	bool ok = true;

	if (r < 0) {
		if (why)
			snprintf(why, len, "io_uring_setup: %s%s", strerror(-r), hint(-r));
		return false;
	}
	probe = io_uring_get_probe_ring(&ring);
	for (size_t i = 0; ok && i < sizeof(needed_ops) / sizeof(needed_ops[0]); i++) {
		if (!probe || !io_uring_opcode_supported(probe, needed_ops[i])) {
			if (why)
				snprintf(why, len, "io_uring lacks opcode %d", needed_ops[i]);
			ok = false;
		}
	}
	if (probe)
		io_uring_free_probe(probe);
	io_uring_queue_exit(&ring);
	return ok;
}

/* An entry of the submission queue, flushing the queue when it is full. */
static struct io_uring_sqe *get_sqe(struct uring *u)
{
	struct io_uring_sqe *sqe;

	for (int tries = 0; !(sqe = io_uring_get_sqe(&u->ring)); tries++) {
		io_uring_submit(&u->ring);
		if (tries > 0)
			sched_yield();
	}
	return sqe;
}

/* Hands what is queued to the kernel.  An entry the kernel would not take
 * stays queued and goes with the next submit (the reaper retries too). */
static void flush_locked(struct blkio *io, struct uring *u)
{
	for (int tries = 0; tries < 100; tries++) {
		int r = io_uring_submit(&u->ring);
		if (r >= 0 || (r != -EINTR && r != -EAGAIN && r != -EBUSY)) {
			if (r < 0 && !u->warned) {
				u->warned = true;
				modvm_log(MODVM_LOG_WARN, io->name, "io_uring_submit: %s",
					  strerror(-r));
			}
			return;
		}
		sched_yield();
	}
}

static void prep(struct io_uring_sqe *sqe, struct blkio_op *op)
{
	uint64_t off = op->offset + op->moved;

	switch (op->opcode) {
	case BLKIO_READ:
		io_uring_prep_readv(sqe, op->fd, op->iov, (unsigned)op->iovcnt, off);
		break;
	case BLKIO_WRITE:
		io_uring_prep_writev(sqe, op->fd, op->iov, (unsigned)op->iovcnt, off);
		break;
	case BLKIO_FLUSH:
		io_uring_prep_fsync(sqe, op->fd, IORING_FSYNC_DATASYNC);
		break;
	case BLKIO_DISCARD:
	case BLKIO_ZERO_UNMAP:
		io_uring_prep_fallocate(sqe, op->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					op->offset, op->len);
		break;
	case BLKIO_ZERO:
		io_uring_prep_fallocate(sqe, op->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
					op->offset, op->len);
		break;
	case BLKIO_TIMER:
		/* The timespec lives in the op, which outlives the entry. */
		op->ts.tv_sec = (long long)(op->timer_ns / 1000000000u);
		op->ts.tv_nsec = (long long)(op->timer_ns % 1000000000u);
		io_uring_prep_timeout(sqe, &op->ts, 0, 0);
		break;
	}
	io_uring_sqe_set_data(sqe, op);
}

static void uring_submit(struct blkio *io, struct blkio_op *op)
{
	struct uring *u = io->priv;

	pthread_mutex_lock(&u->sq_mu);
	prep(get_sqe(u), op);
	flush_locked(io, u);
	pthread_mutex_unlock(&u->sq_mu);
}

static void uring_cancel_timer(struct blkio *io, struct blkio_op *op)
{
	struct uring *u = io->priv;
	struct io_uring_sqe *sqe;

	pthread_mutex_lock(&u->sq_mu);
	sqe = get_sqe(u);
	io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)op, 0);
	io_uring_sqe_set_data(sqe, (void *)&cancel_tag);
	flush_locked(io, u);
	pthread_mutex_unlock(&u->sq_mu);
}

/* What a completion means for @op: true when the op is finished (result
 * set), false when it was submitted again for the rest. */
static bool finished(struct blkio *io, struct blkio_op *op, int res)
{
	switch (op->opcode) {
	case BLKIO_READ:
	case BLKIO_WRITE:
		if (res == -EINTR || res == -EAGAIN)
			break;
		if (res < 0) {
			op->result = res;
			return true;
		}
		if (res == 0 && op->moved < op->len) {
			op->result = -EIO;	/* end of file: the image shrank */
			return true;
		}
		if (!blkio__advance(op, (uint64_t)res)) {
			op->result = 0;
			return true;
		}
		break;
	case BLKIO_FLUSH:
		op->result = res;
		return true;
	case BLKIO_DISCARD:
		op->result = res == -EOPNOTSUPP ? 0 : res;
		return true;
	case BLKIO_ZERO:
	case BLKIO_ZERO_UNMAP:
		/* No hole or no zeroing here: zero the range, on this thread. */
		if (res < 0 && blkio__no_holes(-res)) {
			op->opcode = BLKIO_ZERO;
			blkio__run_sync(op);
			return true;
		}
		op->result = res;
		return true;
	case BLKIO_TIMER:
		op->result = res == -ETIME ? 0 : res;
		return true;
	}
	uring_submit(io, op);
	return false;
}

#define BATCH 64

static void *reaper(void *arg)
{
	struct blkio *io = arg;
	struct uring *u = io->priv;
	struct io_uring_cqe *cqe;
	bool stop = false;

	while (!stop) {
		struct { void *data; int res; } got[BATCH];
		unsigned head, n = 0;

		int r = io_uring_wait_cqe(&u->ring, &cqe);
		if (r == -EINTR || r == -EAGAIN)
			continue;
		if (r < 0) {
			modvm_log(MODVM_LOG_ERROR, io->name, "io_uring_wait_cqe: %s", strerror(-r));
			sched_yield();
			continue;
		}
		io_uring_for_each_cqe(&u->ring, head, cqe) {
			got[n].data = io_uring_cqe_get_data(cqe);
			got[n].res = cqe->res;
			if (++n == BATCH)
				break;
		}
		io_uring_cq_advance(&u->ring, n);
		bool any = false;
		for (unsigned i = 0; i < n; i++) {
			if (got[i].data == &stop_tag) {
				stop = true;
			} else if (got[i].data != &cancel_tag && got[i].data) {
				struct blkio_op *op = got[i].data;
				if (finished(io, op, got[i].res)) {
					/* a stable op's fdatasync (rare: a driver
					 * without FLUSH) runs on this thread */
					blkio__finish(io, op);
					any = true;
				}
			}
		}
		/* One interrupt for what completed together. */
		if (any && io->cfg.batch_end)
			io->cfg.batch_end(io->cfg.ctx);
	}
	return NULL;
}

static void uring_destroy(struct blkio *io)
{
	struct uring *u = io->priv;
	struct io_uring_sqe *sqe;

	pthread_mutex_lock(&u->sq_mu);
	sqe = get_sqe(u);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data(sqe, (void *)&stop_tag);
	flush_locked(io, u);
	pthread_mutex_unlock(&u->sq_mu);
	pthread_join(u->reaper, NULL);
	io_uring_queue_exit(&u->ring);
	pthread_mutex_destroy(&u->sq_mu);
	free(u);
}

static const struct blkio_engine uring_engine = {
	.submit = uring_submit,
	.cancel_timer = uring_cancel_timer,
	.destroy = uring_destroy,
};

int blkio__uring_start(struct blkio *io, char *why, size_t len)
{
	struct uring *u = calloc(1, sizeof(*u));
	unsigned entries = 8;
	int r;

	if (!u) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	/* Room for every op in flight plus the ring's own entries (timer
	 * removal, the stop marker). */
	while (entries < io->cfg.depth + 8 && entries < 32768)
		entries *= 2;
	r = io_uring_queue_init(entries, &u->ring, 0);
	if (r < 0) {
		snprintf(why, len, "io_uring_setup: %s%s", strerror(-r), hint(-r));
		free(u);
		return r;
	}
	pthread_mutex_init(&u->sq_mu, NULL);
	io->priv = u;
	io->e = &uring_engine;
	r = -blkio__thread(io, &u->reaper, "blk-uring", reaper, io);
	if (r) {
		snprintf(why, len, "cannot start the io_uring thread: %s", strerror(r));
		io_uring_queue_exit(&u->ring);
		pthread_mutex_destroy(&u->sq_mu);
		free(u);
		io->priv = NULL;
		return -r;
	}
	return 0;
}
