/*
 * virtio-net transmit: validate the guest's net header, hand the frame to
 * the back end.  The header is copied out of guest RAM once and the copy is
 * both checked and sent, so a guest rewriting it meanwhile changes nothing;
 * the payload goes straight from guest RAM (the kernel checks it again).
 */
#include <errno.h>
#include <string.h>

#include <modvm/log.h>

#include "netdev_impl.h"

#define ETH_HLEN 14u
/* A chain has at most a queue's worth of descriptors (plus one indirect
 * table no longer than the queue), and one iovec for our header copy. */
#define TX_IOV_MAX (NETDEV_QUEUE_MAX + 2)

static void drop(struct netdev *nd, unsigned pair, enum netdev_drop why)
{
	if (__atomic_fetch_add(&nd->c[pair].tx_drops[why], 1, __ATOMIC_RELAXED) == 0)
		modvm_virtio_log(nd->dev, MODVM_LOG_WARN, "tx queue %u: frame dropped: %s", pair,
				 netdev_drop_name(why));
}

/* Copies the first VNET_HDR_LEN readable bytes; false if fewer. */
static bool copy_hdr(const struct modvm_virtq_chain *c, struct vnet_hdr *h)
{
	uint8_t raw[VNET_HDR_LEN];
	uint32_t got = 0;

	for (uint32_t s = 0; s < c->n_readable && got < VNET_HDR_LEN; s++) {
		uint32_t n = c->segs[s].len < VNET_HDR_LEN - got ? c->segs[s].len
								  : VNET_HDR_LEN - got;
		memcpy(raw + got, c->segs[s].addr, n);
		got += n;
	}
	if (got < VNET_HDR_LEN)
		return false;
	memcpy(h, raw, sizeof(*h));	/* little-endian host, as the guest */
	return true;
}

/* The header's verdict for a frame of @len bytes, or NETDEV_DROP_NR. */
static enum netdev_drop check_hdr(const struct netdev *nd, uint64_t features,
				  const struct vnet_hdr *h, uint64_t len)
{
	uint8_t gso = h->gso_type & ~VNET_HDR_GSO_ECN;
	bool csum = h->flags & VNET_HDR_F_NEEDS_CSUM;

	if (len < ETH_HLEN)
		return NETDEV_DROP_SHORT;
	if (len > NETDEV_FRAME_MAX)
		return NETDEV_DROP_TOO_BIG;
	if (h->flags & ~VNET_HDR_F_NEEDS_CSUM)
		return NETDEV_DROP_BAD_FLAGS;
	if (csum && !(features & VNET_BIT(VNET_F_CSUM)))
		return NETDEV_DROP_FEATURE;
	if (csum && (uint32_t)h->csum_start + h->csum_offset + 2 > len)
		return NETDEV_DROP_BAD_CSUM;
	if (gso == VNET_HDR_GSO_NONE) {
		if (h->gso_type & VNET_HDR_GSO_ECN)
			return NETDEV_DROP_BAD_GSO;
		/* + 4: an 802.1Q tag, which the guest inserts itself (no VLAN
		 * offload is offered), rides on top of a full-size frame. */
		if (len > (uint64_t)nd->cfg.mtu + ETH_HLEN + 4)
			return NETDEV_DROP_MTU;
		return NETDEV_DROP_NR;
	}
	if (gso != VNET_HDR_GSO_TCPV4 && gso != VNET_HDR_GSO_TCPV6)
		return NETDEV_DROP_BAD_GSO;
	if (!csum || h->hdr_len > len)
		return NETDEV_DROP_BAD_GSO;
	if (h->gso_size == 0)
		return NETDEV_DROP_GSO_SIZE;
	if (!(features & VNET_BIT(gso == VNET_HDR_GSO_TCPV4 ? VNET_F_HOST_TSO4
							       : VNET_F_HOST_TSO6)))
		return NETDEV_DROP_FEATURE;
	if ((h->gso_type & VNET_HDR_GSO_ECN) && !(features & VNET_BIT(VNET_F_HOST_ECN)))
		return NETDEV_DROP_FEATURE;
	return NETDEV_DROP_NR;
}

/* Sends one chain; returns the verdict (NETDEV_DROP_NR: sent). */
static enum netdev_drop send_chain(struct netdev *nd, unsigned pair, uint64_t features,
				   const struct modvm_virtq_chain *c)
{
	struct iovec iov[TX_IOV_MAX];
	struct vnet_hdr h;
	int n = 1;

	if (c->n_writable || c->n_readable + 1 > TX_IOV_MAX || c->readable_bytes < VNET_HDR_LEN)
		return NETDEV_DROP_BAD_HDR;
	uint64_t len = c->readable_bytes - VNET_HDR_LEN;
	/* Sized before anything is read: no frame is that long. */
	if (len > NETDEV_FRAME_MAX)
		return NETDEV_DROP_TOO_BIG;
	if (!copy_hdr(c, &h))
		return NETDEV_DROP_BAD_HDR;
	enum netdev_drop why = check_hdr(nd, features, &h, len);
	if (why != NETDEV_DROP_NR)
		return why;
	h.num_buffers = 0;
	iov[0] = (struct iovec){ .iov_base = &h, .iov_len = VNET_HDR_LEN };
	uint32_t skip = VNET_HDR_LEN;
	for (uint32_t s = 0; s < c->n_readable; s++) {
		uint32_t l = c->segs[s].len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		iov[n++] = (struct iovec){ .iov_base = (uint8_t *)c->segs[s].addr + skip,
					   .iov_len = l - skip };
		skip = 0;
	}
	ssize_t w = nd->cfg.backend.tx(nd->cfg.backend.ctx, pair, iov, n);
	if (w < 0)
		return NETDEV_DROP_BACKEND;
	NETDEV_COUNT(nd, pair, tx_packets, 1);
	NETDEV_COUNT(nd, pair, tx_bytes, len);
	return NETDEV_DROP_NR;
}

void netdev__tx(struct netdev *nd, unsigned pair)
{
	uint16_t qi = (uint16_t)(2 * pair + 1);
	struct modvm_virtq *vq = modvm_virtio_queue(nd->dev, qi);
	uint64_t features = __atomic_load_n(&nd->features, __ATOMIC_RELAXED);
	struct modvm_virtq_chain *c;
	/* A kick handles at most a queue's worth (see modvm_virtq_pop). */
	uint32_t budget = modvm_virtq_size(vq), n = 0;

	for (; n < budget && modvm_virtq_pop(vq, &c) > 0; n++) {
		enum netdev_drop why = send_chain(nd, pair, features, c);
		if (why != NETDEV_DROP_NR)
			drop(nd, pair, why);
		modvm_virtq_push(vq, c, 0);
	}
	modvm_virtio_notify_used(nd->dev, qi);
	/* The driver may have added more meanwhile and, with EVENT_IDX, will
	 * not kick for them: come back on the loop. */
	if (budget && n == budget)
		modvm_virtio_renotify(nd->dev, qi);
}
