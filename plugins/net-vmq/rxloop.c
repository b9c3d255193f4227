/*
 * The loop-thread receive side.  See rxloop.h.  Watchers are level
 * triggered, so a queue with frames left over after its budget simply
 * fires again on the next loop iteration.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <modvm/log.h>

#include "rxloop.h"

struct rxloop {
	struct modvm_loop *loop;
	struct tap *tap;
	struct netdev_backend tb;	/* the tap's own */
	struct netdev *nd;
	unsigned pairs;
	int wake_fd;
	struct modvm_io *wake_io;
	struct modvm_io *rx_io[NETDEV_MAX_PAIRS];
	uint32_t wake_pairs;	/* atomic: pairs to look at again */
};

/* ---- the back end (any thread) ---- */

static void signal_wake(struct rxloop *rl, uint32_t pairs)
{
	uint64_t one = 1;

	__atomic_or_fetch(&rl->wake_pairs, pairs, __ATOMIC_SEQ_CST);
	if (write(rl->wake_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, the loop will look anyway. */
	}
}

static ssize_t be_tx(void *ctx, unsigned pair, const struct iovec *iov, int cnt)
{
	struct rxloop *rl = ctx;
	return rl->tb.tx(rl->tb.ctx, pair, iov, cnt);
}

static ssize_t be_rx(void *ctx, unsigned pair, void *buf, size_t len)
{
	struct rxloop *rl = ctx;
	return rl->tb.rx(rl->tb.ctx, pair, buf, len);
}

static int be_set_offloads(void *ctx, unsigned flags)
{
	struct rxloop *rl = ctx;
	return rl->tb.set_offloads(rl->tb.ctx, flags);
}

/* The tap follows the guest's pair count; the loop re-arms the watchers. */
static void be_set_pairs(void *ctx, unsigned active)
{
	struct rxloop *rl = ctx;

	rl->tb.set_pairs(rl->tb.ctx, active);
	signal_wake(rl, (uint32_t)((1ull << active) - 1));
}

static void be_rx_wake(void *ctx, unsigned pair)
{
	signal_wake(ctx, 1u << pair);
}

struct netdev_backend rxloop_backend(struct rxloop *rl)
{
	return (struct netdev_backend){ .tx = be_tx, .rx = be_rx,
					.set_offloads = be_set_offloads,
					.set_pairs = be_set_pairs, .rx_wake = be_rx_wake,
					.ctx = rl, .wake_ctx = rl };
}

/* ---- the loop side ---- */

static void on_rx(struct modvm_io *io, int fd, int revents, void *ud);

static void unwatch(struct rxloop *rl, unsigned pair)
{
	modvm_io_stop(rl->rx_io[pair]);
	rl->rx_io[pair] = NULL;
}

static void rx_pair(struct rxloop *rl, unsigned pair)
{
	if (pair >= netdev_active_pairs(rl->nd)) {
		/* A detached tap queue polls as an error: stop watching it. */
		unwatch(rl, pair);
		return;
	}
	int r = netdev_rx_poll(rl->nd, pair, RXLOOP_BUDGET);
	if (r == NETDEV_RX_STALLED || r < 0) {
		unwatch(rl, pair);
	} else if (!rl->rx_io[pair]) {
		rl->rx_io[pair] = modvm_io_start(rl->loop, tap_fd(rl->tap, pair), MODVM_IO_READ,
						 on_rx, rl);
		if (!rl->rx_io[pair])
			modvm_log(MODVM_LOG_ERROR, "net-vmq",
				  "tap %s: rx queue %u: cannot watch the tap (out of memory)",
				  tap_name(rl->tap), pair);
	}
}

static void on_rx(struct modvm_io *io, int fd, int revents, void *ud)
{
	struct rxloop *rl = ud;

	(void)revents;
	for (unsigned p = 0; p < rl->pairs; p++)
		if (rl->rx_io[p] == io && tap_fd(rl->tap, p) == fd) {
			rx_pair(rl, p);
			return;
		}
}

static void on_wake(struct modvm_io *io, int fd, int revents, void *ud)
{
	struct rxloop *rl = ud;
	uint64_t cnt;

	(void)io;
	(void)revents;
	if (read(fd, &cnt, sizeof(cnt)) < 0) {
		/* EAGAIN: an earlier callback already took the count. */
	}
	uint32_t pairs = __atomic_exchange_n(&rl->wake_pairs, 0, __ATOMIC_SEQ_CST);
	/* A pending frame may be waiting in the device with the tap empty:
	 * poll now rather than wait for the fd. */
	for (unsigned p = 0; p < rl->pairs; p++)
		if (pairs & (1u << p))
			rx_pair(rl, p);
}

int rxloop_create(struct modvm_loop *loop, struct tap *tap, unsigned pairs, struct rxloop **out)
{
	struct rxloop *rl;

	if (pairs == 0 || pairs > NETDEV_MAX_PAIRS || pairs > tap_queues(tap))
		return -EINVAL;
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return -ENOMEM;
	rl->loop = loop;
	rl->tap = tap;
	rl->tb = tap_backend(tap);
	rl->pairs = pairs;
	rl->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (rl->wake_fd < 0) {
		int e = errno;
		modvm_log(MODVM_LOG_ERROR, "net-vmq", "tap %s: eventfd: %s", tap_name(tap),
			  strerror(e));
		free(rl);
		return -e;
	}
	/* Only pair 0 until the guest asks for more. */
	rl->tb.set_pairs(rl->tb.ctx, 1);
	*out = rl;
	return 0;
}

int rxloop_start(struct rxloop *rl, struct netdev *nd)
{
	rl->nd = nd;
	rl->wake_io = modvm_io_start(rl->loop, rl->wake_fd, MODVM_IO_READ, on_wake, rl);
	rl->rx_io[0] = modvm_io_start(rl->loop, tap_fd(rl->tap, 0), MODVM_IO_READ, on_rx, rl);
	if (!rl->wake_io || !rl->rx_io[0]) {
		rxloop_stop(rl);
		return -ENOMEM;
	}
	return 0;
}

void rxloop_stop(struct rxloop *rl)
{
	if (!rl)
		return;
	for (unsigned p = 0; p < NETDEV_MAX_PAIRS; p++)
		unwatch(rl, p);
	modvm_io_stop(rl->wake_io);
	rl->wake_io = NULL;
	rl->nd = NULL;
}

void rxloop_free(struct rxloop *rl)
{
	if (!rl)
		return;
	rxloop_stop(rl);
	close(rl->wake_fd);
	free(rl);
}

bool rxloop_watching(struct rxloop *rl, unsigned pair)
{
	return pair < NETDEV_MAX_PAIRS && rl->rx_io[pair];
}
