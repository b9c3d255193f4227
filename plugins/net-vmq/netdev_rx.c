/*
 * virtio-net receive: a frame is read from the back end into a bounce
 * buffer (its size is only known once read), then copied into as many
 * guest buffers as it needs (MRG_RXBUF) or into one.  Chains popped for a
 * frame that did not fit yet are held, with the frame, until the guest
 * posts more: nothing is ever handed back half-filled.
 *
 * RX runs on the loop thread, resets on vCPU threads: each frame is
 * delivered under the transport lock, after checking the reset
 * generation, so a driver that reset the device never finds a buffer it
 * took back written afterwards, and a frame read under the old features
 * is never handed to the new driver.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/log.h>

#include "netdev_impl.h"

#define RX_BUF_SIZE (VNET_HDR_LEN + NETDEV_FRAME_MAX)

static void rx_drop(struct netdev *nd, unsigned pair, enum netdev_drop why)
{
	if (__atomic_fetch_add(&nd->c[pair].rx_drops[why], 1, __ATOMIC_RELAXED) == 0)
		modvm_virtio_log(nd->dev, MODVM_LOG_WARN, "rx queue %u: frame dropped: %s", pair,
				 netdev_drop_name(why));
}

void netdev__rx_release(struct netdev *nd, unsigned pair)
{
	struct netdev_rx *rx = &nd->rx[pair];

	for (unsigned i = 0; i < rx->nheld; i++)
		modvm_virtq_chain_free(rx->held[i]);
	rx->nheld = 0;
}

static uint64_t held_bytes(const struct netdev_rx *rx)
{
	uint64_t sum = 0;
	for (unsigned i = 0; i < rx->nheld; i++)
		sum += rx->held[i]->writable_bytes;
	return sum;
}

/* Copies @len bytes into chain @c's writable buffers; returns the count. */
static uint32_t fill(struct modvm_virtq_chain *c, const uint8_t *src, uint64_t len)
{
	uint64_t done = 0;

	for (uint32_t s = c->n_readable; s < c->n_readable + c->n_writable && done < len; s++) {
		uint64_t n = c->segs[s].len < len - done ? c->segs[s].len : len - done;
		memcpy(c->segs[s].addr, src + done, n);
		done += n;
	}
	return (uint32_t)done;
}

/*
 * Delivers the pending frame.  Returns 1 when it went (or was dropped), 0
 * when the guest has no buffers for it yet (stalled).
 */
static int deliver(struct netdev *nd, unsigned pair, struct modvm_virtq *vq, bool mrg)
{
	struct netdev_rx *rx = &nd->rx[pair];
	struct modvm_virtq_chain *c;
	uint64_t len = rx->len;
	/* At most a queue's worth of buffers per frame, and at most a queue's
	 * worth of pops: a guest re-posting chains that are no RX buffers
	 * must not keep the loop thread here. */
	unsigned cap = modvm_virtq_size(vq), pops = 0;
	if (cap > NETDEV_QUEUE_MAX)
		cap = NETDEV_QUEUE_MAX;
	if (!cap)
		cap = 1;

	for (;;) {
		uint64_t have = held_bytes(rx);
		if (rx->nheld && (!mrg || have >= len))
			break;
		if (rx->nheld >= cap || pops++ >= cap) {
			/* A whole queue of buffers cannot hold it: drop the
			 * frame, keep the buffers for the next. */
			rx_drop(nd, pair, NETDEV_DROP_TOO_BIG);
			rx->len = 0;
			return 1;
		}
		int r = modvm_virtq_pop(vq, &c);
		if (r <= 0) {
			/* Say we wait before looking again, so a kick between
			 * the two is never lost. */
			__atomic_store_n(&rx->stalled, 1, __ATOMIC_SEQ_CST);
			r = modvm_virtq_pop(vq, &c);
			if (r <= 0)
				return 0;
			__atomic_store_n(&rx->stalled, 0, __ATOMIC_SEQ_CST);
		}
		if (!c->n_writable || c->n_readable) {
			modvm_virtq_push(vq, c, 0);	/* not an RX buffer */
			rx_drop(nd, pair, NETDEV_DROP_BAD_HDR);
			continue;
		}
		rx->held[rx->nheld++] = c;
	}
	if (!mrg && rx->held[0]->writable_bytes < len) {
		rx_drop(nd, pair, NETDEV_DROP_TOO_BIG);
		rx->len = 0;
		return 1;
	}
	/* num_buffers: the tap leaves those two bytes alone. */
	unsigned used = 0;
	uint64_t off = 0;
	while (off < len) {
		uint64_t room = rx->held[used]->writable_bytes;
		off += room < len - off ? room : len - off;
		used++;
	}
	uint16_t nb = (uint16_t)used;
	memcpy(rx->buf + 10, &nb, 2);
	off = 0;
	for (unsigned i = 0; i < used; i++) {
		uint32_t n = fill(rx->held[i], rx->buf + off, len - off);
		off += n;
		modvm_virtq_push(vq, rx->held[i], n);
	}
	memmove(rx->held, rx->held + used, (rx->nheld - used) * sizeof(rx->held[0]));
	rx->nheld -= used;
	NETDEV_COUNT(nd, pair, rx_packets, 1);
	NETDEV_COUNT(nd, pair, rx_bytes, len - VNET_HDR_LEN);
	rx->len = 0;
	return 1;
}

/*
 * What the back end says about a frame must fit what the driver accepted
 * (5.1.6.3.1): without GUEST_CSUM the flags are zero (DATA_VALID is only
 * a hint, dropped), and a GSO frame needs the matching GUEST_TSO.  The tap
 * follows the offloads we set, so this only catches a back end that lags
 * a change of them.
 */
static bool rx_hdr_ok(struct netdev *nd, uint8_t *hdr)
{
	uint64_t f = __atomic_load_n(&nd->features, __ATOMIC_RELAXED);
	uint8_t gso = hdr[1] & ~VNET_HDR_GSO_ECN;

	if (!(f & VNET_BIT(VNET_F_GUEST_CSUM))) {
		if (hdr[0] & VNET_HDR_F_NEEDS_CSUM)
			return false;
		hdr[0] = 0;
	}
	if (gso == VNET_HDR_GSO_NONE)
		return !(hdr[1] & VNET_HDR_GSO_ECN);
	if ((hdr[1] & VNET_HDR_GSO_ECN) && !(f & VNET_BIT(VNET_F_GUEST_ECN)))
		return false;
	if (gso == VNET_HDR_GSO_TCPV4)
		return f & VNET_BIT(VNET_F_GUEST_TSO4);
	if (gso == VNET_HDR_GSO_TCPV6)
		return f & VNET_BIT(VNET_F_GUEST_TSO6);
	return false;
}

int netdev_rx_poll(struct netdev *nd, unsigned pair, unsigned budget)
{
	struct netdev_rx *rx;
	struct modvm_virtq *vq;
	int ret = NETDEV_RX_IDLE;

	if (pair >= nd->cfg.pairs)
		return -EINVAL;
	rx = &nd->rx[pair];
	if (!rx->buf) {
		rx->buf = malloc(RX_BUF_SIZE);
		if (!rx->buf)
			return -ENOMEM;
	}
	vq = modvm_virtio_queue(nd->dev, (uint16_t)(2 * pair));
	unsigned pushed = 0;
	while (budget-- > 0) {
		if (!rx->len) {
			ssize_t n = nd->cfg.backend.rx(nd->cfg.backend.ctx, pair, rx->buf,
						       RX_BUF_SIZE);
			if (n == -EAGAIN || n == -EWOULDBLOCK)
				break;
			if (n < 0) {
				rx_drop(nd, pair, NETDEV_DROP_BACKEND);
				break;
			}
			if ((size_t)n < VNET_HDR_LEN + 14) {
				rx_drop(nd, pair, NETDEV_DROP_SHORT);
				continue;
			}
			rx->len = (size_t)n;
		}
		/* Under the lock a reset (which bumps gen) cannot come between
		 * the checks and the copy into the driver's buffers. */
		modvm_virtio_lock(nd->dev);
		uint64_t gen = __atomic_load_n(&nd->gen, __ATOMIC_ACQUIRE);
		if (rx->held_gen != gen) {
			/* The driver reset the device: held buffers are no longer
			 * its; the pending frame is checked against its new
			 * features below. */
			netdev__rx_release(nd, pair);
			rx->held_gen = gen;
		}
		int d = 1;
		if (!rx_hdr_ok(nd, rx->buf)) {
			rx_drop(nd, pair, NETDEV_DROP_FEATURE);
			rx->len = 0;
		} else {
			bool mrg = __atomic_load_n(&nd->features, __ATOMIC_RELAXED) &
				   VNET_BIT(VNET_F_MRG_RXBUF);
			d = deliver(nd, pair, vq, mrg);
			pushed += d;
		}
		modvm_virtio_unlock(nd->dev);
		if (!d) {
			NETDEV_COUNT(nd, pair, rx_stalls, 1);
			ret = NETDEV_RX_STALLED;
			break;
		}
	}
	if (pushed)
		modvm_virtio_notify_used(nd->dev, (uint16_t)(2 * pair));
	return ret;
}
