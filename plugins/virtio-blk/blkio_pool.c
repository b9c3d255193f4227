/*
 * blkio_pool.c — the portable engine: a few worker threads running preadv,
 * pwritev, fdatasync and fallocate, fed through one FIFO.  Timers wait on
 * the pool's condition variable, so a cancel wakes them at once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blkio.h"

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct blkio_op *head, *tail;
	bool stop;
	unsigned nthreads;
	pthread_t threads[];
};

static struct blkio_op *take(struct pool *p)
{
	struct blkio_op *op = p->head;

	p->head = op->next;
	if (!p->head)
		p->tail = NULL;
	op->next = NULL;
	return op;
}

/* Waits out a timer on the pool's condition (monotonic), or until cancelled. */
static void run_timer(struct pool *p, struct blkio_op *op)
{
	struct timespec end;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += (time_t)(op->timer_ns / 1000000000u);
	end.tv_nsec += (long)(op->timer_ns % 1000000000u);
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->mu);
	int r = 0;
	while (!op->cancelled && !p->stop && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&p->cv, &p->mu, &end);
	op->result = op->cancelled || p->stop ? -ECANCELED : 0;
	pthread_mutex_unlock(&p->mu);
}

static void *worker(void *arg)
{
	struct blkio *io = arg;
	struct pool *p = io->priv;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->head && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (!p->head)
			break;	/* stopping, nothing left */
		struct blkio_op *op = take(p);
		pthread_mutex_unlock(&p->mu);
		if (op->opcode == BLKIO_TIMER)
			run_timer(p, op);
		else
			blkio__run_sync(op);
		blkio__finish(io, op);
		if (io->cfg.batch_end)
			io->cfg.batch_end(io->cfg.ctx);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void pool_submit(struct blkio *io, struct blkio_op *op)
{
	struct pool *p = io->priv;

	pthread_mutex_lock(&p->mu);
	if (p->tail)
		p->tail->next = op;
	else
		p->head = op;
	p->tail = op;
	/* Broadcast: a worker may be sleeping in a timer on the same condition. */
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void pool_cancel_timer(struct blkio *io, struct blkio_op *op)
{
	struct pool *p = io->priv;

	pthread_mutex_lock(&p->mu);
	op->cancelled = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void stop_workers(struct pool *p, unsigned n)
{
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < n; i++)
		pthread_join(p->threads[i], NULL);
}

static void pool_destroy(struct blkio *io)
{
	struct pool *p = io->priv;

	stop_workers(p, p->nthreads);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

static const struct blkio_engine pool_engine = {
	.submit = pool_submit,
	.cancel_timer = pool_cancel_timer,
	.destroy = pool_destroy,
};

int blkio__pool_start(struct blkio *io, char *why, size_t len)
{
	unsigned n = io->cfg.threads;
	struct pool *p = calloc(1, sizeof(*p) + n * sizeof(p->threads[0]));
	pthread_condattr_t ca;
	int r;

	if (!p) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	io->priv = p;
	io->e = &pool_engine;
	for (unsigned i = 0; i < n; i++) {
		r = -blkio__thread(io, &p->threads[i], "blk-io", worker, io);
		if (r) {
			snprintf(why, len, "cannot start I/O thread: %s", strerror(r));
			stop_workers(p, i);
			pthread_cond_destroy(&p->cv);
			pthread_mutex_destroy(&p->mu);
			free(p);
			io->priv = NULL;
			return -r;
		}
		p->nthreads = i + 1;
	}
	return 0;
}
