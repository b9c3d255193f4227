/*
 * blkio.c — choosing an I/O engine, and what both engines share: running an
 * op synchronously and continuing short transfers.  See blkio.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <modvm/log.h>
#include <modvm/sandbox.h>

#include "blkio.h"

const char *blkio_kind_name(enum blkio_kind kind)
{
	switch (kind) {
	case BLKIO_URING: return "io_uring";
	case BLKIO_THREADS: return "threads";
	case BLKIO_INLINE: return "inline";
	default: return "auto";
	}
}

enum blkio_kind blkio_kind(const struct blkio *io)
{
	return io->kind;
}

bool blkio__advance(struct blkio_op *op, uint64_t n)
{
	op->moved += n;
	while (n > 0 && op->iovcnt > 0) {
		size_t k = n < op->iov->iov_len ? (size_t)n : op->iov->iov_len;

		op->iov->iov_base = (uint8_t *)op->iov->iov_base + k;
		op->iov->iov_len -= k;
		n -= k;
		if (op->iov->iov_len == 0) {
			op->iov++;
			op->iovcnt--;
		}
	}
	/* Skip empty entries so a caller never submits a zero-length vector. */
	while (op->iovcnt > 0 && op->iov->iov_len == 0) {
		op->iov++;
		op->iovcnt--;
	}
	return op->moved < op->len && op->iovcnt > 0;
}

/* A zero buffer for writing zeros where the file system cannot zero a range. */
#define ZERO_CHUNK (256u << 10)

static int64_t write_zeros(int fd, uint64_t off, uint64_t len)
{
	/* Aligned for an O_DIRECT image (cache = "none"), whose writes must
	 * come from memory aligned to its block size. */
	static const uint8_t zeros[ZERO_CHUNK] __attribute__((aligned(4096)));

	while (len > 0) {
		size_t n = len < ZERO_CHUNK ? (size_t)len : ZERO_CHUNK;
		ssize_t w = pwrite(fd, zeros, n, (off_t)off);

		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		off += (uint64_t)w;
		len -= (uint64_t)w;
	}
	return 0;
}

static int64_t run_rw(struct blkio_op *op)
{
	for (;;) {
		ssize_t n = op->opcode == BLKIO_READ
				    ? preadv(op->fd, op->iov, op->iovcnt, (off_t)(op->offset + op->moved))
				    : pwritev(op->fd, op->iov, op->iovcnt,
					      (off_t)(op->offset + op->moved));

		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;	/* end of file: the image shrank */
		if (!blkio__advance(op, (uint64_t)n))
			return 0;
	}
}

bool blkio__no_holes(int err)
{
	return err == EOPNOTSUPP || err == EINVAL || err == ENODEV;
}

void blkio__finish(struct blkio *io, struct blkio_op *op)
{
	bool writes = op->opcode == BLKIO_WRITE || op->opcode == BLKIO_ZERO ||
		      op->opcode == BLKIO_ZERO_UNMAP;

	if (op->stable && writes && op->result == 0)
		op->result = fdatasync(op->fd) < 0 ? -errno : 0;
	io->cfg.complete(io->cfg.ctx, op);
}

void blkio__run_sync(struct blkio_op *op)
{
	int r;

	switch (op->opcode) {
	case BLKIO_READ:
	case BLKIO_WRITE:
		op->result = op->len ? run_rw(op) : 0;
		return;
	case BLKIO_FLUSH:
		op->result = fdatasync(op->fd) < 0 ? -errno : 0;
		return;
	case BLKIO_DISCARD:
		r = fallocate(op->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)op->offset,
			      (off_t)op->len);
		/* Discarding is advice: a file system that cannot punch holes
		 * keeps the data, which is allowed. */
		op->result = r < 0 && errno != EOPNOTSUPP ? -errno : 0;
		return;
	case BLKIO_ZERO_UNMAP:
		r = fallocate(op->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)op->offset,
			      (off_t)op->len);
		if (r == 0 || !blkio__no_holes(errno)) {
			op->result = r < 0 ? -errno : 0;
			return;
		}
		/* the range must read back as zeros all the same */
		__attribute__((fallthrough));
	case BLKIO_ZERO:
		r = fallocate(op->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)op->offset,
			      (off_t)op->len);
		if (r < 0 && blkio__no_holes(errno))
			op->result = write_zeros(op->fd, op->offset, op->len);
		else
			op->result = r < 0 ? -errno : 0;
		return;
	case BLKIO_TIMER:
		op->result = -EINVAL;	/* engines handle timers themselves */
		return;
	}
	op->result = -EINVAL;
}

/* ---- the inline engine ---- */

static void inline_submit(struct blkio *io, struct blkio_op *op)
{
	if (op->opcode == BLKIO_TIMER)
		op->result = -ECANCELED;
	else
		blkio__run_sync(op);
	blkio__finish(io, op);
	if (io->cfg.batch_end)
		io->cfg.batch_end(io->cfg.ctx);
}

static void inline_cancel(struct blkio *io, struct blkio_op *op)
{
	(void)io, (void)op;
}

static void inline_destroy(struct blkio *io)
{
	(void)io;
}

static const struct blkio_engine inline_engine = {
	.submit = inline_submit,
	.cancel_timer = inline_cancel,
	.destroy = inline_destroy,
};

int blkio__thread(struct blkio *io, pthread_t *t, const char *what, void *(*fn)(void *),
		  void *arg)
{
	if (io->cfg.plugin)
		return modvm_thread_create(io->cfg.plugin, t, what, fn, arg);
	return -pthread_create(t, NULL, fn, arg);
}

int blkio_create(const struct blkio_config *cfg, struct blkio **out, char *why, size_t len)
{
	struct blkio *io = calloc(1, sizeof(*io));
	int r;

	*out = NULL;
	if (!io) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	io->cfg = *cfg;
	if (io->cfg.depth == 0)
		io->cfg.depth = 64;
	if (io->cfg.threads < 2)
		io->cfg.threads = 2;
	if (io->cfg.threads > 64)
		io->cfg.threads = 64;
	snprintf(io->name, sizeof(io->name), "%s", cfg->name ? cfg->name : "virtio-blk");
	io->kind = cfg->kind;
	if (io->kind == BLKIO_AUTO)
		io->kind = blkio_uring_usable(NULL, 0) ? BLKIO_URING : BLKIO_THREADS;
	if (io->kind == BLKIO_INLINE) {
		io->e = &inline_engine;
		*out = io;
		return 0;
	}
	r = io->kind == BLKIO_URING ? blkio__uring_start(io, why, len)
				    : blkio__pool_start(io, why, len);
	/* Usable but not at this size (an old kernel charging the ring to
	 * RLIMIT_MEMLOCK): threads, when the choice was ours. */
	if (r < 0 && cfg->kind == BLKIO_AUTO && io->kind == BLKIO_URING) {
		modvm_log(MODVM_LOG_INFO, io->name, "%s: using I/O threads", why);
		io->kind = BLKIO_THREADS;
		r = blkio__pool_start(io, why, len);
	}
	if (r < 0) {
		free(io);
		return r;
	}
	*out = io;
	return 0;
}

void blkio_submit(struct blkio *io, struct blkio_op *op)
{
	op->moved = 0;
	op->result = 0;
	op->cancelled = false;
	op->next = NULL;
	io->e->submit(io, op);
}

void blkio_cancel_timer(struct blkio *io, struct blkio_op *op)
{
	io->e->cancel_timer(io, op);
}

void blkio_destroy(struct blkio *io)
{
	if (!io)
		return;
	io->e->destroy(io);
	free(io);
}
