/*
 * netdev_impl.h — what netdev.c, netdev_tx.c and netdev_rx.c share.
 */
#ifndef NET_VMQ_NETDEV_IMPL_H
#define NET_VMQ_NETDEV_IMPL_H

#include "netdev.h"

/* RX state of one pair: touched only by the thread in netdev_rx_poll(). */
struct netdev_rx {
	uint8_t *buf;			/* frame read from the back end, header first */
	size_t len;			/* 0: no pending frame */
	struct modvm_virtq_chain *held[NETDEV_QUEUE_MAX];	/* popped, not yet used */
	unsigned nheld;
	uint64_t held_gen;		/* device generation the held chains are from */
	int stalled;			/* atomic: waiting for a kick */
};

struct netdev {
	struct modvm_virtio_mmio *transport;
	struct modvm_virtio_dev *dev;
	struct netdev_config cfg;
	uint64_t offered;
	/* Atomic: written under the transport mutex by the callbacks, read by
	 * the RX thread. */
	uint64_t features;	/* negotiated (0 before FEATURES_OK) */
	uint64_t gen;		/* bumped by every reset */
	unsigned active;	/* pairs in use */
	bool warned_features;	/* a refused FEATURES_OK was logged at WARN */
	struct netdev_rx rx[NETDEV_MAX_PAIRS];
	struct netdev_counters c[NETDEV_MAX_PAIRS];	/* atomic fields */
};

#define NETDEV_COUNT(nd, pair, field, n) \
	__atomic_add_fetch(&(nd)->c[pair].field, (n), __ATOMIC_RELAXED)

const char *netdev__name(struct netdev *nd);
void netdev__tx(struct netdev *nd, unsigned pair);
/* Frees the chains RX of @pair holds (after a reset, at free). */
void netdev__rx_release(struct netdev *nd, unsigned pair);

#endif
