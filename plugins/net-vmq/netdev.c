/*
 * The virtio-net device: features, config space, the control queue and
 * life cycle.  TX is netdev_tx.c, RX netdev_rx.c.  See netdev.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/log.h>

#include "netdev_impl.h"

/* Guest offload bits and the tap flags they become. */
#define GUEST_OFFLOADS                                                                \
	(VNET_BIT(VNET_F_GUEST_CSUM) | VNET_BIT(VNET_F_GUEST_TSO4) |                  \
	 VNET_BIT(VNET_F_GUEST_TSO6) | VNET_BIT(VNET_F_GUEST_ECN) |                   \
	 VNET_BIT(VNET_F_GUEST_UFO))

static const char *const drop_names[NETDEV_DROP_NR] = {
	[NETDEV_DROP_BAD_HDR] = "bad header or buffer layout",
	[NETDEV_DROP_BAD_FLAGS] = "unknown header flags",
	[NETDEV_DROP_BAD_GSO] = "bad gso_type or hdr_len",
	[NETDEV_DROP_GSO_SIZE] = "GSO with gso_size 0",
	[NETDEV_DROP_BAD_CSUM] = "csum_start/csum_offset beyond the frame",
	[NETDEV_DROP_FEATURE] = "offload not negotiated",
	[NETDEV_DROP_SHORT] = "shorter than an Ethernet header",
	[NETDEV_DROP_MTU] = "larger than the MTU",
	[NETDEV_DROP_TOO_BIG] = "larger than the buffers",
	[NETDEV_DROP_BACKEND] = "back end error",
};

const char *netdev_drop_name(enum netdev_drop d)
{
	return d < NETDEV_DROP_NR ? drop_names[d] : "?";
}

const char *netdev__name(struct netdev *nd)
{
	return nd->dev ? modvm_virtio_name(nd->dev) : "virtio-net";
}

static unsigned tun_flags(uint64_t guest)
{
	unsigned f = 0;

	if (guest & VNET_BIT(VNET_F_GUEST_CSUM))
		f |= NETDEV_OFF_CSUM;
	if (guest & VNET_BIT(VNET_F_GUEST_TSO4))
		f |= NETDEV_OFF_TSO4;
	if (guest & VNET_BIT(VNET_F_GUEST_TSO6))
		f |= NETDEV_OFF_TSO6;
	if (guest & VNET_BIT(VNET_F_GUEST_ECN))
		f |= NETDEV_OFF_TSO_ECN;
	return f;
}

static int apply_offloads(struct netdev *nd, uint64_t guest)
{
	if (!nd->cfg.backend.set_offloads)
		return 0;
	return nd->cfg.backend.set_offloads(nd->cfg.backend.ctx, tun_flags(guest));
}

static void set_pairs(struct netdev *nd, unsigned n)
{
	__atomic_store_n(&nd->active, n, __ATOMIC_RELAXED);
	if (nd->cfg.backend.set_pairs)
		nd->cfg.backend.set_pairs(nd->cfg.backend.ctx, n);
}

/* ---- virtio callbacks (transport mutex held) ---- */

static void read_config(void *opaque, uint32_t off, uint8_t *data, uint32_t len)
{
	struct netdev *nd = opaque;
	uint8_t cfg[VNET_CFG_SIZE];
	uint16_t status = VNET_S_LINK_UP, pairs = nd->cfg.pairs, mtu = (uint16_t)nd->cfg.mtu;

	memcpy(cfg + VNET_CFG_MAC, nd->cfg.mac, 6);
	memcpy(cfg + VNET_CFG_STATUS, &status, 2);
	memcpy(cfg + VNET_CFG_MAX_PAIRS, &pairs, 2);
	memcpy(cfg + VNET_CFG_MTU, &mtu, 2);
	memcpy(data, cfg + off, len);
}

/* The feature dependencies of 5.1.3.1 a driver must respect. */
static const char *bad_combination(uint64_t f)
{
	static const struct {
		int bit, needs;
	} deps[] = {
		{ VNET_F_GUEST_TSO4, VNET_F_GUEST_CSUM }, { VNET_F_GUEST_TSO6, VNET_F_GUEST_CSUM },
		{ VNET_F_HOST_TSO4, VNET_F_CSUM },	  { VNET_F_HOST_TSO6, VNET_F_CSUM },
		{ VNET_F_CTRL_GUEST_OFFLOADS, VNET_F_CTRL_VQ },
		{ VNET_F_MQ, VNET_F_CTRL_VQ },
	};
	for (size_t i = 0; i < sizeof(deps) / sizeof(deps[0]); i++)
		if ((f & VNET_BIT(deps[i].bit)) && !(f & VNET_BIT(deps[i].needs)))
			return "a feature without the one it depends on";
	if ((f & VNET_BIT(VNET_F_GUEST_ECN)) &&
	    !(f & (VNET_BIT(VNET_F_GUEST_TSO4) | VNET_BIT(VNET_F_GUEST_TSO6))))
		return "GUEST_ECN without GUEST_TSO4/6";
	if ((f & VNET_BIT(VNET_F_HOST_ECN)) &&
	    !(f & (VNET_BIT(VNET_F_HOST_TSO4) | VNET_BIT(VNET_F_HOST_TSO6))))
		return "HOST_ECN without HOST_TSO4/6";
	return NULL;
}

/* One control command; returns the ack byte. */
static uint8_t ctrl_command(struct netdev *nd, const uint8_t *cmd, uint64_t len)
{
	uint64_t f = __atomic_load_n(&nd->features, __ATOMIC_RELAXED);

	if (len < 2)
		return VNET_CTRL_ERR;
	if (cmd[0] == VNET_CTRL_MQ && cmd[1] == VNET_CTRL_MQ_VQ_PAIRS_SET && len == 4 &&
	    (f & VNET_BIT(VNET_F_MQ))) {
		uint16_t n;
		memcpy(&n, cmd + 2, 2);
		if (n < 1 || n > nd->cfg.pairs)
			return VNET_CTRL_ERR;
		set_pairs(nd, n);
		return VNET_CTRL_OK;
	}
	if (cmd[0] == VNET_CTRL_GUEST_OFFLOADS && cmd[1] == VNET_CTRL_GUEST_OFFLOADS_SET &&
	    len == 10 && (f & VNET_BIT(VNET_F_CTRL_GUEST_OFFLOADS))) {
		uint64_t want;
		memcpy(&want, cmd + 2, 8);
		/* Only offloads negotiated at FEATURES_OK may be turned on, and
		 * only in combinations the spec allows (the tap refuses the
		 * others, and each refusal would be a host log line). */
		if ((want & ~(f & GUEST_OFFLOADS)) || bad_combination(want))
			return VNET_CTRL_ERR;
		return apply_offloads(nd, want) < 0 ? VNET_CTRL_ERR : VNET_CTRL_OK;
	}
	return VNET_CTRL_ERR;
}

static void ctrl(struct netdev *nd, uint16_t qi)
{
	struct modvm_virtq *vq = modvm_virtio_queue(nd->dev, qi);
	struct modvm_virtq_chain *c;
	uint32_t budget = modvm_virtq_size(vq), n = 0;

	for (; n < budget && modvm_virtq_pop(vq, &c) > 0; n++) {
		uint8_t cmd[16], ack = VNET_CTRL_ERR;
		uint64_t len = c->readable_bytes, off = 0;

		if (len <= sizeof(cmd) && c->writable_bytes >= 1) {
			for (uint32_t s = 0; s < c->n_readable; s++) {
				memcpy(cmd + off, c->segs[s].addr, c->segs[s].len);
				off += c->segs[s].len;
			}
			ack = ctrl_command(nd, cmd, len);
		}
		if (c->writable_bytes >= 1) {
			memcpy(c->segs[c->n_readable].addr, &ack, 1);
			modvm_virtq_push(vq, c, 1);
		} else {
			modvm_virtq_push(vq, c, 0);
		}
	}
	modvm_virtio_notify_used(nd->dev, qi);
	if (budget && n == budget)
		modvm_virtio_renotify(nd->dev, qi);	/* as netdev__tx */
}

static void queue_notify(void *opaque, uint16_t qi)
{
	struct netdev *nd = opaque;
	unsigned pair = qi / 2;

	/* Without MQ the control queue is queue 2 (5.1.2) and only pair 0 exists. */
	bool mq = __atomic_load_n(&nd->features, __ATOMIC_RELAXED) & VNET_BIT(VNET_F_MQ);
	if (qi == 2 * (mq ? nd->cfg.pairs : 1)) {
		ctrl(nd, qi);
	} else if (!mq && pair > 0) {
		return;
	} else if (qi & 1) {
		netdev__tx(nd, pair);
	} else if (__atomic_exchange_n(&nd->rx[pair].stalled, 0, __ATOMIC_SEQ_CST) &&
		   nd->cfg.backend.rx_wake) {
		nd->cfg.backend.rx_wake(nd->cfg.backend.wake_ctx, pair);
	}
}

static int set_features_ok(void *opaque, uint64_t features)
{
	struct netdev *nd = opaque;
	const char *why = bad_combination(features);

	if (why) {
		/* Guest-caused: the first at WARN, the rest at DEBUG. */
		bool first = !__atomic_exchange_n(&nd->warned_features, true, __ATOMIC_RELAXED);
		modvm_virtio_log(nd->dev, first ? MODVM_LOG_WARN : MODVM_LOG_DEBUG,
				 "FEATURES_OK refused: %s", why);
		return -EINVAL;
	}
	if (apply_offloads(nd, features & GUEST_OFFLOADS) < 0)
		return -EIO;
	__atomic_store_n(&nd->features, features, __ATOMIC_RELAXED);
	return 0;
}

static void reset(void *opaque)
{
	struct netdev *nd = opaque;

	__atomic_store_n(&nd->features, 0, __ATOMIC_RELAXED);
	/* Stalled flags stay: the driver's first kick after setting up again
	 * must still wake RX. */
	__atomic_add_fetch(&nd->gen, 1, __ATOMIC_RELEASE);
	apply_offloads(nd, 0);
	set_pairs(nd, 1);
}

/* ---- life cycle ---- */

int netdev_config_check(const char *name, const struct netdev_config *cfg)
{
	const char *why = NULL;

	if (!cfg->backend.tx || !cfg->backend.rx)
		why = "back end without tx/rx";
	else if (cfg->pairs < 1 || cfg->pairs > NETDEV_MAX_PAIRS)
		why = "queue pairs not in 1..16";
	else if (cfg->mtu < 68 || cfg->mtu > 65535)
		why = "mtu not in 68..65535";
	else if (cfg->tso && !cfg->csum)
		why = "tso needs csum";
	else if (cfg->ecn && !cfg->tso)
		why = "ecn needs tso";
	else if (cfg->mac[0] & 1)
		why = "multicast mac";
	if (why) {
		modvm_log(MODVM_LOG_ERROR, name, "virtio-net: %s", why);
		return -EINVAL;
	}
	return 0;
}

static void ops_for(const struct netdev_config *cfg, struct modvm_virtio_device_ops *ops)
{
	uint64_t f = VNET_BIT(VNET_F_MAC) | VNET_BIT(VNET_F_STATUS) | VNET_BIT(VNET_F_MTU) |
		     VNET_BIT(VNET_F_MRG_RXBUF) | VNET_BIT(VNET_F_CTRL_VQ) | VNET_BIT(VNET_F_MQ) |
		     VNET_BIT(VNET_F_CTRL_GUEST_OFFLOADS);

	if (cfg->csum)
		f |= VNET_BIT(VNET_F_CSUM) | VNET_BIT(VNET_F_GUEST_CSUM);
	if (cfg->tso)
		f |= VNET_BIT(VNET_F_HOST_TSO4) | VNET_BIT(VNET_F_HOST_TSO6) |
		     VNET_BIT(VNET_F_GUEST_TSO4) | VNET_BIT(VNET_F_GUEST_TSO6);
	if (cfg->ecn)
		f |= VNET_BIT(VNET_F_HOST_ECN) | VNET_BIT(VNET_F_GUEST_ECN);
	*ops = (struct modvm_virtio_device_ops){
		.struct_size = sizeof(*ops),
		.device_id = MODVM_VIRTIO_ID_NET,
		.features = f,
		.num_queues = (uint16_t)(2 * cfg->pairs + 1),
		.queue_max_size = NETDEV_QUEUE_MAX,
		.config_size = VNET_CFG_SIZE,
		.read_config = read_config,
		.queue_notify = queue_notify,
		.set_features_ok = set_features_ok,
		.reset = reset,
	};
}

static struct netdev *alloc_nd(const struct netdev_config *cfg)
{
	struct netdev *nd = calloc(1, sizeof(*nd));

	if (!nd)
		return NULL;
	nd->cfg = *cfg;
	nd->active = 1;
	return nd;
}

static void free_nd(struct netdev *nd)
{
	for (unsigned p = 0; p < NETDEV_MAX_PAIRS; p++) {
		netdev__rx_release(nd, p);
		free(nd->rx[p].buf);
	}
	free(nd);
}

/* What netdev_create and netdev_attach share before and after they make
 * the transport their own way. */
static int prepare(const char *name, const struct netdev_config *cfg,
		   struct modvm_virtio_device_ops *ops, struct netdev **nd)
{
	int ret = netdev_config_check(name, cfg);

	if (ret < 0)
		return ret;
	*nd = alloc_nd(cfg);
	if (!*nd)
		return -ENOMEM;
	ops_for(cfg, ops);
	(*nd)->offered = ops->features;
	return 0;
}

/* @ret: how making the transport went; frees @nd on failure. */
static int finish(struct netdev *nd, int ret, struct netdev **out)
{
	if (ret < 0) {
		free_nd(nd);
		return ret;
	}
	nd->dev = modvm_virtio_mmio_dev(nd->transport);
	*out = nd;
	return 0;
}

int netdev_create(const struct modvm_virtio_mmio_config *mmio, const struct netdev_config *cfg,
		  struct netdev **out)
{
	struct modvm_virtio_mmio_config c;
	struct modvm_virtio_device_ops ops;
	struct netdev *nd;
	int ret;

	if (!mmio || mmio->struct_size < sizeof(c) || !cfg)
		return -EINVAL;
	c = *mmio;
	if (!c.name)
		c.name = "virtio-net";
	ret = prepare(c.name, cfg, &ops, &nd);
	if (ret < 0)
		return ret;
	ret = modvm_virtio_mmio_create(&c, &ops, nd, &nd->transport);
	return finish(nd, ret, out);
}

void netdev_free(struct netdev *nd)
{
	if (!nd)
		return;
	modvm_virtio_mmio_destroy(nd->transport);
	free_nd(nd);
}

int netdev_attach(struct modvm_vm *vm, const struct netdev_config *cfg, struct netdev **out)
{
	struct modvm_virtio_device_ops ops;
	struct netdev *nd;
	int ret;

	ret = prepare(modvm_vm_name(vm), cfg, &ops, &nd);
	if (ret < 0)
		return ret;
	ret = modvm_vm_add_virtio(vm, "virtio-net", &ops, nd, &nd->transport);
	return finish(nd, ret, out);
}

void netdev_detach(struct modvm_vm *vm, struct netdev *nd)
{
	if (!nd)
		return;
	modvm_vm_remove_virtio(vm, nd->transport);
	free_nd(nd);
}

struct modvm_virtio_mmio *netdev_transport(struct netdev *nd)
{
	return nd->transport;
}

unsigned netdev_active_pairs(struct netdev *nd)
{
	return __atomic_load_n(&nd->active, __ATOMIC_RELAXED);
}

void netdev_get_counters(struct netdev *nd, unsigned pair, struct netdev_counters *out)
{
	const uint64_t *src = (const uint64_t *)&nd->c[pair < NETDEV_MAX_PAIRS ? pair : 0];
	uint64_t *dst = (uint64_t *)out;

	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

static uint64_t sum(const uint64_t *v, size_t n)
{
	uint64_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += v[i];
	return s;
}

static void describe_queue(struct netdev *nd, uint16_t qi, char *buf, size_t len)
{
	struct modvm_virtq *vq = modvm_virtio_queue(nd->dev, qi);
	struct modvm_virtq_stats st;

	if (!vq) {
		snprintf(buf, len, "none");
		return;
	}
	modvm_virtq_get_stats(vq, &st);
	snprintf(buf, len,
		 "%" PRIu64 " taken, %" PRIu64 " back, %" PRIu64 " interrupts, %" PRIu64
		 " suppressed",
		 st.popped, st.pushed, st.notifications, st.suppressed);
}

void netdev_describe(struct netdev *nd, unsigned pair, char *buf, size_t len)
{
	struct netdev_counters c;
	const struct netdev_rx *rx;
	char rxq[128], txq[128];

	if (pair >= nd->cfg.pairs) {
		snprintf(buf, len, "no pair %u", pair);
		return;
	}
	rx = &nd->rx[pair];
	netdev_get_counters(nd, pair, &c);
	describe_queue(nd, (uint16_t)(2 * pair), rxq, sizeof(rxq));
	describe_queue(nd, (uint16_t)(2 * pair + 1), txq, sizeof(txq));
	/* The RX fields belong to the loop thread, which is the caller at
	 * stop; racy reads elsewhere only make the line approximate. */
	snprintf(buf, len,
		 "rx %" PRIu64 " frames %" PRIu64 " bytes, %" PRIu64 " dropped, %" PRIu64
		 " waits for buffers%s (%u held, frame %s); tx %" PRIu64 " frames %" PRIu64
		 " bytes, %" PRIu64 " dropped; rx queue %s; tx queue %s",
		 c.rx_packets, c.rx_bytes, sum(c.rx_drops, NETDEV_DROP_NR), c.rx_stalls,
		 __atomic_load_n(&rx->stalled, __ATOMIC_RELAXED) ? ", waiting now" : "",
		 rx->nheld, rx->len ? "pending" : "none", c.tx_packets, c.tx_bytes,
		 sum(c.tx_drops, NETDEV_DROP_NR), rxq, txq);
}
