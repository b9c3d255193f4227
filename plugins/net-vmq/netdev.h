/*
 * netdev.h — the virtio-net device model (virtio 1.2, 5.1) of the net-vmq
 * plugin, on the libmodvm virtio library (modvm/virtio.h).
 *
 * Queues: receiveq0, transmitq0, ..., receiveqN-1, transmitqN-1, controlq
 * (N = max_virtqueue_pairs).  Every buffer starts with the 12-byte virtio 1
 * net header (num_buffers included; the library always negotiates
 * VERSION_1).
 *
 * The device talks to a frame back end (struct netdev_backend), one sink and
 * source per queue pair: the tap in the plugin, a fake in tests.
 *
 * Threads.  TX runs in queue_notify, on the vCPU thread that kicked (a
 * write into the tap never blocks, so the frame leaves with no thread
 * hop); a kick takes at most a queue's worth of frames, and what the
 * driver added meanwhile is sent from the loop thread
 * (modvm_virtio_renotify).  RX runs where netdev_rx_poll() is called (the
 * loop thread in the plugin): it copies frames from the back end into
 * guest buffers and, when the guest has none left, reports
 * NETDEV_RX_STALLED and calls backend.rx_wake at the guest's next RX kick.
 * Counters are atomic and readable from any thread.
 */
#ifndef NET_VMQ_NETDEV_H
#define NET_VMQ_NETDEV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <modvm/virtio.h>
#include <modvm/vm.h>

/* Feature bits (5.1.3). */
#define VNET_F_CSUM 0
#define VNET_F_GUEST_CSUM 1
#define VNET_F_CTRL_GUEST_OFFLOADS 2
#define VNET_F_MTU 3
#define VNET_F_MAC 5
#define VNET_F_GUEST_TSO4 7
#define VNET_F_GUEST_TSO6 8
#define VNET_F_GUEST_ECN 9
#define VNET_F_GUEST_UFO 10
#define VNET_F_HOST_TSO4 11
#define VNET_F_HOST_TSO6 12
#define VNET_F_HOST_ECN 13
#define VNET_F_HOST_UFO 14
#define VNET_F_MRG_RXBUF 15
#define VNET_F_STATUS 16
#define VNET_F_CTRL_VQ 17
#define VNET_F_MQ 22
#define VNET_BIT(b) (1ULL << (b))

/* struct virtio_net_hdr (5.1.6), 12 bytes with num_buffers. */
struct vnet_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};
#define VNET_HDR_LEN 12u
#define VNET_HDR_F_NEEDS_CSUM 1u
#define VNET_HDR_F_DATA_VALID 2u
#define VNET_HDR_GSO_NONE 0u
#define VNET_HDR_GSO_TCPV4 1u
#define VNET_HDR_GSO_UDP 3u
#define VNET_HDR_GSO_TCPV6 4u
#define VNET_HDR_GSO_ECN 0x80u

/* Config space (5.1.4): mac[6], le16 status, le16 max_virtqueue_pairs,
 * le16 mtu. */
#define VNET_CFG_MAC 0
#define VNET_CFG_STATUS 6
#define VNET_CFG_MAX_PAIRS 8
#define VNET_CFG_MTU 10
#define VNET_CFG_SIZE 12u
#define VNET_S_LINK_UP 1u

/* Control queue (5.1.6.5). */
#define VNET_CTRL_OK 0
#define VNET_CTRL_ERR 1
#define VNET_CTRL_MQ 4
#define VNET_CTRL_MQ_VQ_PAIRS_SET 0
#define VNET_CTRL_GUEST_OFFLOADS 5
#define VNET_CTRL_GUEST_OFFLOADS_SET 0

/* The tap's TUN_F_* offload bits (linux/if_tun.h), what the back end
 * receives in set_offloads. */
#define NETDEV_OFF_CSUM 0x01u
#define NETDEV_OFF_TSO4 0x02u
#define NETDEV_OFF_TSO6 0x04u
#define NETDEV_OFF_TSO_ECN 0x08u

#define NETDEV_MAX_PAIRS 16
#define NETDEV_QUEUE_MAX 256
/* The largest frame either way: a 64 KiB GSO packet plus Ethernet and VLAN. */
#define NETDEV_FRAME_MAX (65535u + 14u + 4u)

/*
 * Where frames go and come from, per queue pair.  All callbacks may be NULL
 * except tx and rx.  Frames are handed over with the 12-byte header first.
 */
struct netdev_backend {
	/* Sends one frame; bytes written or -errno.  A vCPU thread, or the
	 * loop thread for a renotified queue; under the transport mutex. */
	ssize_t (*tx)(void *ctx, unsigned pair, const struct iovec *iov, int iovcnt);
	/* Reads one frame into @buf; its length, or -EAGAIN when there is none. */
	ssize_t (*rx)(void *ctx, unsigned pair, void *buf, size_t len);
	/* The guest's offloads changed (FEATURES_OK, control queue, reset):
	 * NETDEV_OFF_* bits.  0 or -errno (the request is then refused). */
	int (*set_offloads)(void *ctx, unsigned flags);
	/* The guest uses pairs [0, @active) from now on. */
	void (*set_pairs)(void *ctx, unsigned active);
	/* The guest posted RX buffers on @pair after netdev_rx_poll() said
	 * NETDEV_RX_STALLED: poll it again (any thread; under the transport
	 * mutex, so only signal, never call back into the device here). */
	void (*rx_wake)(void *wake_ctx, unsigned pair);
	void *ctx;
	void *wake_ctx;
};

struct netdev_config {
	uint8_t mac[6];
	uint16_t pairs;		/* 1..NETDEV_MAX_PAIRS */
	uint32_t mtu;		/* 68..65535 */
	bool csum, tso, ecn;	/* offloads to offer (tso needs csum, ecn needs tso) */
	struct netdev_backend backend;
};

/* Why a frame was dropped. */
enum netdev_drop {
	NETDEV_DROP_BAD_HDR,	/* chain shorter than the header, writable TX buffers */
	NETDEV_DROP_BAD_FLAGS,	/* unknown header flags */
	NETDEV_DROP_BAD_GSO,	/* unknown gso_type, GSO without NEEDS_CSUM, bad hdr_len */
	NETDEV_DROP_GSO_SIZE,	/* GSO with gso_size 0 */
	NETDEV_DROP_BAD_CSUM,	/* csum_start/csum_offset beyond the frame */
	NETDEV_DROP_FEATURE,	/* an offload the driver did not negotiate */
	NETDEV_DROP_SHORT,	/* shorter than an Ethernet header */
	NETDEV_DROP_MTU,	/* non-GSO frame above mtu + 14 */
	NETDEV_DROP_TOO_BIG,	/* above NETDEV_FRAME_MAX / guest buffers */
	NETDEV_DROP_BACKEND,	/* the back end refused it */
	NETDEV_DROP_NR,
};
const char *netdev_drop_name(enum netdev_drop d);

/* Per queue pair, since create. */
struct netdev_counters {
	uint64_t tx_packets, tx_bytes;
	uint64_t rx_packets, rx_bytes;
	uint64_t rx_stalls;	/* times RX waited for guest buffers */
	uint64_t tx_drops[NETDEV_DROP_NR];
	uint64_t rx_drops[NETDEV_DROP_NR];
};

struct netdev;

/* Checks @cfg; -EINVAL naming the bad value (logged under @name). */
int netdev_config_check(const char *name, const struct netdev_config *cfg);

/* A device on a transport of its own (tests, bench): @mmio as for
 * modvm_virtio_mmio_create.  0, -EINVAL, -ENOMEM. */
int netdev_create(const struct modvm_virtio_mmio_config *mmio, const struct netdev_config *cfg,
		  struct netdev **out);
void netdev_free(struct netdev *nd);
/* A device added to @vm (owner thread, before start) / removed (vCPUs
 * stopped). */
int netdev_attach(struct modvm_vm *vm, const struct netdev_config *cfg, struct netdev **out);
void netdev_detach(struct modvm_vm *vm, struct netdev *nd);

struct modvm_virtio_mmio *netdev_transport(struct netdev *nd);

enum { NETDEV_RX_IDLE = 0, NETDEV_RX_STALLED = 1 };
/*
 * Moves frames from the back end of @pair into its receive queue, at most
 * @budget frames.  NETDEV_RX_IDLE: the back end is empty (or the budget
 * ran out: poll again when it is readable); NETDEV_RX_STALLED: the guest
 * has no buffers, rx_wake will come.  One thread at a time per device.
 */
int netdev_rx_poll(struct netdev *nd, unsigned pair, unsigned budget);

/* Pairs the guest uses now (1 until VQ_PAIRS_SET). */
unsigned netdev_active_pairs(struct netdev *nd);
void netdev_get_counters(struct netdev *nd, unsigned pair, struct netdev_counters *out);
/*
 * One line on pair @pair for the log at stop: packets, bytes, drops and
 * stalls each way, whether RX waits for guest buffers (and holds a frame
 * or buffers), and each queue's chains taken, handed back and interrupts
 * sent or suppressed.  A transfer that stalled shows where it stopped.
 */
void netdev_describe(struct netdev *nd, unsigned pair, char *buf, size_t len);

#endif
