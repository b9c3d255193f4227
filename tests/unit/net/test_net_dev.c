/*
 * The virtio-net device model through the qtest-style driver on a fake
 * guest RAM, with an in-memory back end: feature negotiation, config space,
 * the control queue, TX and RX paths, the MTU, and malformed buffers.
 */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "event/event.h"
#include "fakebe.h"
#include "ndrv.h"

#define F(b) VNET_BIT(VNET_F_##b)
static const uint8_t MAC[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

static struct fakebe *fb;
static struct ndrv d;

static void make(unsigned pairs, unsigned mtu, bool csum, bool tso, bool ecn)
{
	struct netdev_config cfg = { .pairs = (uint16_t)pairs, .mtu = mtu, .csum = csum,
				     .tso = tso, .ecn = ecn };
	memcpy(cfg.mac, MAC, 6);
	fb = fakebe_new();
	cfg.backend = fakebe_backend(fb);
	ndrv_init(&d, &cfg);
}

static void destroy(void)
{
	ndrv_fini(&d);
	free(fb);
}

static uint64_t offered(void)
{
	mmio_write(&d.v, MODVM_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	uint64_t f = (uint64_t)mmio_read(&d.v, MODVM_VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	mmio_write(&d.v, MODVM_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	return f | mmio_read(&d.v, MODVM_VIRTIO_MMIO_DEVICE_FEATURES);
}

static struct netdev_counters counters(unsigned pair)
{
	struct netdev_counters c;
	netdev_get_counters(d.nd, pair, &c);
	return c;
}

/* An Ethernet frame of @len bytes with a recognisable payload. */
static uint8_t *frame(size_t len)
{
	uint8_t *f = malloc(len);
	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < len; i++)
		f[i] = (uint8_t)(i * 7 + 3);
	memcpy(f, MAC, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	return f;
}

START_TEST(test_features_offered)
{
	make(2, 1500, true, true, false);
	uint64_t f = offered();
	uint64_t must = F(MAC) | F(STATUS) | F(MTU) | F(CSUM) | F(GUEST_CSUM) | F(HOST_TSO4) |
			F(HOST_TSO6) | F(GUEST_TSO4) | F(GUEST_TSO6) | F(MRG_RXBUF) | F(CTRL_VQ) |
			F(MQ) | F(CTRL_GUEST_OFFLOADS) | VERSION_1;
	ck_assert_uint_eq(f & must, must);
	ck_assert_uint_eq(f & (F(HOST_ECN) | F(GUEST_ECN) | F(GUEST_UFO) | F(HOST_UFO)), 0);
	ck_assert_uint_eq(mmio_read(&d.v, MODVM_VIRTIO_MMIO_DEVICE_ID), MODVM_VIRTIO_ID_NET);
	destroy();

	make(1, 1500, true, true, true);
	ck_assert_uint_eq(offered() & (F(HOST_ECN) | F(GUEST_ECN)), F(HOST_ECN) | F(GUEST_ECN));
	destroy();

	make(1, 1500, false, false, false);
	f = offered();
	ck_assert_uint_eq(f & (F(CSUM) | F(GUEST_CSUM) | F(HOST_TSO4) | F(GUEST_TSO4)), 0);
	ck_assert_uint_ne(f & F(MRG_RXBUF), 0);
	destroy();
}
END_TEST

START_TEST(test_features_ok_checks_dependencies)
{
	make(2, 1500, true, true, true);
	/* 5.1.3.1: TSO needs the checksum feature, MQ the control queue. */
	ck_assert_uint_eq(ndrv_negotiate(&d, F(GUEST_TSO4)) & MODVM_VIRTIO_STATUS_FEATURES_OK, 0);
	ck_assert_uint_eq(ndrv_negotiate(&d, F(HOST_TSO6)) & MODVM_VIRTIO_STATUS_FEATURES_OK, 0);
	ck_assert_uint_eq(ndrv_negotiate(&d, F(MQ)) & MODVM_VIRTIO_STATUS_FEATURES_OK, 0);
	ck_assert_uint_eq(ndrv_negotiate(&d, F(GUEST_CSUM) | F(GUEST_ECN)) &
				  MODVM_VIRTIO_STATUS_FEATURES_OK, 0);
	ck_assert_uint_ne(ndrv_negotiate(&d, F(GUEST_CSUM) | F(GUEST_TSO4) | F(GUEST_ECN)) &
				  MODVM_VIRTIO_STATUS_FEATURES_OK, 0);
	/* ...and the accepted guest offloads reach the tap. */
	ck_assert_uint_eq(fb->offloads, NETDEV_OFF_CSUM | NETDEV_OFF_TSO4 | NETDEV_OFF_TSO_ECN);
	/* A reset takes them back. */
	mmio_write(&d.v, MODVM_VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(fb->offloads, 0);
	/* A back end that refuses the offloads refuses FEATURES_OK. */
	fb->offload_error = -EOPNOTSUPP;
	ck_assert_uint_eq(ndrv_negotiate(&d, F(GUEST_CSUM)) & MODVM_VIRTIO_STATUS_FEATURES_OK, 0);
	destroy();
}
END_TEST

START_TEST(test_config_space)
{
	make(3, 9000, true, true, false);
	for (int i = 0; i < 6; i++)
		ck_assert_uint_eq(ndrv_cfg_read(&d, VNET_CFG_MAC + i, 1), MAC[i]);
	ck_assert_uint_eq(ndrv_cfg_read(&d, VNET_CFG_STATUS, 2), VNET_S_LINK_UP);
	ck_assert_uint_eq(ndrv_cfg_read(&d, VNET_CFG_MAX_PAIRS, 2), 3);
	ck_assert_uint_eq(ndrv_cfg_read(&d, VNET_CFG_MTU, 2), 9000);
	/* A 4-byte read across fields, as a driver may do. */
	ck_assert_uint_eq(ndrv_cfg_read(&d, 8, 4), 3u | (9000u << 16));
	destroy();
}
END_TEST

START_TEST(test_ctrl_mq)
{
	uint16_t n;

	make(2, 1500, true, true, false);
	ndrv_start(&d, F(CTRL_VQ) | F(MQ), 5, 64);
	ck_assert_uint_eq(netdev_active_pairs(d.nd), 1);
	n = 2;
	ck_assert_uint_eq(ndrv_ctrl(&d, VNET_CTRL_MQ, VNET_CTRL_MQ_VQ_PAIRS_SET, &n, 2),
			  VNET_CTRL_OK);
	ck_assert_uint_eq(netdev_active_pairs(d.nd), 2);
	ck_assert_uint_eq(fb->pairs, 2);
	n = 0;
	ck_assert_uint_eq(ndrv_ctrl(&d, VNET_CTRL_MQ, VNET_CTRL_MQ_VQ_PAIRS_SET, &n, 2),
			  VNET_CTRL_ERR);
	n = 3;
	ck_assert_uint_eq(ndrv_ctrl(&d, VNET_CTRL_MQ, VNET_CTRL_MQ_VQ_PAIRS_SET, &n, 2),
			  VNET_CTRL_ERR);
	ck_assert_uint_eq(netdev_active_pairs(d.nd), 2);
	/* Truncated command, unknown class. */
	ck_assert_uint_eq(ndrv_ctrl(&d, VNET_CTRL_MQ, VNET_CTRL_MQ_VQ_PAIRS_SET, &n, 1),
			  VNET_CTRL_ERR);
	ck_assert_uint_eq(ndrv_ctrl(&d, 99, 0, &n, 2), VNET_CTRL_ERR);
	/* Offloads without CTRL_GUEST_OFFLOADS negotiated. */
	uint64_t off = F(GUEST_CSUM);
	ck_assert_uint_eq(ndrv_ctrl(&d, VNET_CTRL_GUEST_OFFLOADS, 0, &off, 8), VNET_CTRL_ERR);
	/* A reset goes back to one pair. */
	mmio_write(&d.v, MODVM_VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(netdev_active_pairs(d.nd), 1);
	ck_assert_uint_eq(fb->pairs, 1);
	destroy();
}
END_TEST

START_TEST(test_ctrl_guest_offloads)
{
	uint64_t off;

	make(1, 1500, true, true, false);
	ndrv_start(&d, F(CTRL_VQ) | F(CTRL_GUEST_OFFLOADS) | F(GUEST_CSUM) | F(GUEST_TSO4), 3, 64);
	ck_assert_uint_eq(fb->offloads, NETDEV_OFF_CSUM | NETDEV_OFF_TSO4);
	off = F(GUEST_CSUM);
	ck_assert_uint_eq(ndrv_ctrl(&d, VNET_CTRL_GUEST_OFFLOADS, 0, &off, 8), VNET_CTRL_OK);
	ck_assert_uint_eq(fb->offloads, NETDEV_OFF_CSUM);
	off = 0;
	ck_assert_uint_eq(ndrv_ctrl(&d, VNET_CTRL_GUEST_OFFLOADS, 0, &off, 8), VNET_CTRL_OK);
	ck_assert_uint_eq(fb->offloads, 0);
	/* Not negotiated: refused, nothing changes. */
	off = F(GUEST_CSUM) | F(GUEST_TSO6);
	ck_assert_uint_eq(ndrv_ctrl(&d, VNET_CTRL_GUEST_OFFLOADS, 0, &off, 8), VNET_CTRL_ERR);
	ck_assert_uint_eq(fb->offloads, 0);
	/* Negotiated, but TSO without checksum offload: refused (5.1.3.1). */
	off = F(GUEST_TSO4);
	ck_assert_uint_eq(ndrv_ctrl(&d, VNET_CTRL_GUEST_OFFLOADS, 0, &off, 8), VNET_CTRL_ERR);
	ck_assert_uint_eq(fb->offloads, 0);
	destroy();
}
END_TEST

/* Without MQ the control queue is queue 2 (5.1.2), whatever the device's
 * pair count: a driver that takes CTRL_VQ but not MQ must be answered. */
START_TEST(test_ctrl_queue_without_mq)
{
	uint64_t off = F(GUEST_CSUM);

	make(2, 1500, true, true, false);
	ndrv_start(&d, F(CTRL_VQ) | F(CTRL_GUEST_OFFLOADS) | F(GUEST_CSUM), 3, 64);
	d.pairs = 1;	/* what this driver sees: one pair, control at 2 */
	ck_assert_uint_eq(ndrv_ctrl(&d, VNET_CTRL_GUEST_OFFLOADS, 0, &off, 8), VNET_CTRL_OK);
	ck_assert_uint_eq(fb->offloads, NETDEV_OFF_CSUM);
	destroy();
}
END_TEST

START_TEST(test_tx_frame)
{
	struct vnet_hdr h = { .flags = VNET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 16 };
	uint8_t *f = frame(600);

	make(1, 1500, true, true, false);
	ndrv_start(&d, F(CSUM), 2, 64);
	ndrv_tx(&d, 0, &h, f, 600);
	ck_assert_int_eq(fb->tx_count, 1);
	ck_assert_uint_eq(fb->tx_len, VNET_HDR_LEN + 600);
	ck_assert_int_eq(memcmp(fb->tx, &h, 10), 0);
	ck_assert_int_eq(memcmp(fb->tx + VNET_HDR_LEN, f, 600), 0);
	struct netdev_counters c = counters(0);
	ck_assert_uint_eq(c.tx_packets, 1);
	ck_assert_uint_eq(c.tx_bytes, 600);

	/* The header split over descriptors, the frame over two more. */
	uint64_t b = ndrv_alloc(&d, VNET_HDR_LEN + 600);
	memcpy(gpa(&d.v, b), &h, VNET_HDR_LEN);
	memcpy(gpa(&d.v, b + VNET_HDR_LEN), f, 600);
	struct ndrv_seg segs[4] = { { b, 5, false }, { b + 5, 7, false }, { b + 12, 100, false },
				    { b + 112, 500, false } };
	ndrv_post(&d, 1, segs, 4);
	ndrv_kick(&d, 1);
	ck_assert_int_eq(fb->tx_count, 2);
	ck_assert_int_eq(memcmp(fb->tx + VNET_HDR_LEN, f, 600), 0);
	free(f);
	destroy();
}
END_TEST

START_TEST(test_rx_mergeable)
{
	struct vnet_hdr h;
	uint8_t *f = frame(3000), got[4000];

	make(1, 1500, true, true, false);
	ndrv_start(&d, F(MRG_RXBUF), 2, 64);
	ndrv_rx_fill(&d, 0, 4, 1024);
	fakebe_inject(fb, f, 3000);
	ck_assert_int_eq(netdev_rx_poll(d.nd, 0, 16), NETDEV_RX_IDLE);
	ck_assert_int_eq(ndrv_rx(&d, 0, &h, got, sizeof(got)), 3000);
	ck_assert_uint_eq(h.num_buffers, 3);	/* 1012 + 1024 + 964 bytes */
	ck_assert_int_eq(memcmp(got, f, 3000), 0);
	struct netdev_counters c = counters(0);
	ck_assert_uint_eq(c.rx_packets, 1);
	ck_assert_uint_eq(c.rx_bytes, 3000);
	free(f);
	destroy();
}
END_TEST

START_TEST(test_rx_stall_and_wake)
{
	struct vnet_hdr h;
	uint8_t *f = frame(1000), got[1600];

	make(1, 1500, true, true, false);
	ndrv_start(&d, 0, 2, 64);
	fakebe_inject(fb, f, 1000);
	ck_assert_int_eq(netdev_rx_poll(d.nd, 0, 16), NETDEV_RX_STALLED);
	ck_assert_int_eq(fb->wakes, 0);
	ck_assert_uint_eq(counters(0).rx_stalls, 1);
	/* The guest posts buffers: its kick wakes RX, once. */
	ndrv_rx_fill(&d, 0, 1, 1600);
	ck_assert_int_eq(fb->wakes, 1);
	ndrv_kick(&d, 0);
	ck_assert_int_eq(fb->wakes, 1);
	ck_assert_int_eq(netdev_rx_poll(d.nd, 0, 16), NETDEV_RX_IDLE);
	ck_assert_int_eq(ndrv_rx(&d, 0, &h, got, sizeof(got)), 1000);
	ck_assert_uint_eq(h.num_buffers, 1);
	ck_assert_int_eq(memcmp(got, f, 1000), 0);
	/* Without MRG_RXBUF a frame must fit one buffer. */
	ndrv_rx_fill(&d, 0, 1, 600);
	fakebe_inject(fb, f, 1000);
	ck_assert_int_eq(netdev_rx_poll(d.nd, 0, 16), NETDEV_RX_IDLE);
	ck_assert_uint_eq(counters(0).rx_drops[NETDEV_DROP_TOO_BIG], 1);
	ck_assert_int_eq(ndrv_rx(&d, 0, &h, got, sizeof(got)), -1);
	free(f);
	destroy();
}
END_TEST

/* The line logged at stop says where traffic stopped: here RX waits for
 * buffers with a frame pending, after one frame each way. */
START_TEST(test_describe_at_stop)
{
	struct vnet_hdr h = { 0 };
	uint8_t *f = frame(1000), got[1600];
	char line[512];

	make(1, 1500, true, true, false);
	ndrv_start(&d, 0, 2, 64);
	ndrv_tx(&d, 0, &h, f, 600);
	ndrv_rx_fill(&d, 0, 1, 1600);
	fakebe_inject(fb, f, 1000);
	ck_assert_int_eq(netdev_rx_poll(d.nd, 0, 16), NETDEV_RX_IDLE);
	ck_assert_int_eq(ndrv_rx(&d, 0, &h, got, sizeof(got)), 1000);
	fakebe_inject(fb, f, 1000);
	ck_assert_int_eq(netdev_rx_poll(d.nd, 0, 16), NETDEV_RX_STALLED);
	netdev_describe(d.nd, 0, line, sizeof(line));
	ck_assert_msg(strstr(line, "rx 1 frames 1000 bytes, 0 dropped, 1 waits for buffers, "
				   "waiting now (0 held, frame pending); tx 1 frames 600 bytes"),
		      "%s", line);
	ck_assert_msg(strstr(line, "rx queue 1 taken, 1 back,"), "%s", line);
	ck_assert_msg(strstr(line, "tx queue 1 taken, 1 back,"), "%s", line);
	netdev_describe(d.nd, 1, line, sizeof(line));
	ck_assert_str_eq(line, "no pair 1");
	free(f);
	destroy();
}
END_TEST

/* What the back end hands over must fit the guest's offloads (5.1.6.3.1). */
START_TEST(test_rx_header_follows_guest_offloads)
{
	struct vnet_hdr h, gso = { .flags = VNET_HDR_F_NEEDS_CSUM, .gso_type = VNET_HDR_GSO_TCPV4,
				   .hdr_len = 54, .gso_size = 1448, .csum_start = 34,
				   .csum_offset = 16 };
	struct vnet_hdr valid = { .flags = VNET_HDR_F_DATA_VALID };
	uint8_t *f = frame(3000), got[3100];

	make(1, 1500, true, true, false);
	ndrv_start(&d, F(MRG_RXBUF), 2, 64);
	ndrv_rx_fill(&d, 0, 8, 1024);
	fakebe_inject_hdr(fb, &gso, f, 3000);
	fakebe_inject_hdr(fb, &valid, f, 100);
	ck_assert_int_eq(netdev_rx_poll(d.nd, 0, 16), NETDEV_RX_IDLE);
	ck_assert_uint_eq(counters(0).rx_drops[NETDEV_DROP_FEATURE], 1);
	ck_assert_int_eq(ndrv_rx(&d, 0, &h, got, sizeof(got)), 100);
	ck_assert_uint_eq(h.flags, 0);	/* no GUEST_CSUM: no flags */
	destroy();

	make(1, 1500, true, true, false);
	ndrv_start(&d, F(MRG_RXBUF) | F(GUEST_CSUM) | F(GUEST_TSO4), 2, 64);
	ndrv_rx_fill(&d, 0, 8, 1024);
	fakebe_inject_hdr(fb, &gso, f, 3000);
	gso.gso_type |= VNET_HDR_GSO_ECN;	/* GUEST_ECN not negotiated */
	fakebe_inject_hdr(fb, &gso, f, 3000);
	ck_assert_int_eq(netdev_rx_poll(d.nd, 0, 16), NETDEV_RX_IDLE);
	ck_assert_int_eq(ndrv_rx(&d, 0, &h, got, sizeof(got)), 3000);
	ck_assert_uint_eq(h.gso_type, VNET_HDR_GSO_TCPV4);
	ck_assert_uint_eq(h.gso_size, 1448);
	ck_assert_uint_eq(h.flags, VNET_HDR_F_NEEDS_CSUM);
	ck_assert_int_eq(memcmp(got, f, 3000), 0);
	ck_assert_uint_eq(counters(0).rx_drops[NETDEV_DROP_FEATURE], 1);
	ck_assert_int_eq(ndrv_rx(&d, 0, &h, got, sizeof(got)), -1);
	free(f);
	destroy();
}
END_TEST

/* Non-GSO frames above mtu + 14 (+ 4 for an 802.1Q tag the guest put in)
 * are dropped, at the limit they pass. */
START_TEST(test_tx_mtu)
{
	struct vnet_hdr h = { 0 };
	uint8_t *f = frame(9019);

	make(1, 1500, true, true, false);
	ndrv_start(&d, 0, 2, 64);
	ndrv_tx(&d, 0, &h, f, 1514);
	ndrv_tx(&d, 0, &h, f, 1518);	/* full-size and VLAN-tagged */
	ndrv_tx(&d, 0, &h, f, 1519);
	ndrv_tx(&d, 0, &h, f, 9014);
	ck_assert_int_eq(fb->tx_count, 2);
	ck_assert_uint_eq(counters(0).tx_drops[NETDEV_DROP_MTU], 2);
	destroy();

	make(1, 9000, true, true, false);
	ndrv_start(&d, 0, 2, 64);
	ndrv_tx(&d, 0, &h, f, 9018);
	ndrv_tx(&d, 0, &h, f, 9019);
	ck_assert_int_eq(fb->tx_count, 1);
	ck_assert_uint_eq(fb->tx_len, VNET_HDR_LEN + 9018);
	ck_assert_uint_eq(counters(0).tx_drops[NETDEV_DROP_MTU], 1);
	free(f);
	destroy();
}
END_TEST

struct bad_case {
	const char *what;
	struct vnet_hdr h;
	uint32_t len;
	enum netdev_drop why;
};

START_TEST(test_tx_malformed)
{
	const struct bad_case cases[] = {
		{ "unknown flags", { .flags = 0x40 }, 100, NETDEV_DROP_BAD_FLAGS },
		{ "DATA_VALID on TX", { .flags = VNET_HDR_F_DATA_VALID }, 100, NETDEV_DROP_BAD_FLAGS },
		{ "UDP GSO (not offered)",
		  { .flags = 1, .gso_type = VNET_HDR_GSO_UDP, .gso_size = 1000, .csum_start = 34,
		    .csum_offset = 6 }, 3000, NETDEV_DROP_BAD_GSO },
		{ "gso_type 7", { .gso_type = 7 }, 100, NETDEV_DROP_BAD_GSO },
		{ "GSO without NEEDS_CSUM", { .gso_type = VNET_HDR_GSO_TCPV4, .gso_size = 1448 },
		  3000, NETDEV_DROP_BAD_GSO },
		{ "gso_size 0",
		  { .flags = 1, .gso_type = VNET_HDR_GSO_TCPV4, .csum_start = 34, .csum_offset = 16 },
		  3000, NETDEV_DROP_GSO_SIZE },
		{ "csum_start beyond the frame", { .flags = 1, .csum_start = 200, .csum_offset = 16 },
		  100, NETDEV_DROP_BAD_CSUM },
		{ "csum_offset beyond the frame", { .flags = 1, .csum_start = 34, .csum_offset = 65 },
		  100, NETDEV_DROP_BAD_CSUM },
		{ "TSO6 not negotiated",
		  { .flags = 1, .gso_type = VNET_HDR_GSO_TCPV6, .gso_size = 1000, .csum_start = 54,
		    .csum_offset = 16 }, 3000, NETDEV_DROP_FEATURE },
		{ "ECN not negotiated",
		  { .flags = 1, .gso_type = VNET_HDR_GSO_TCPV4 | VNET_HDR_GSO_ECN, .gso_size = 1000,
		    .csum_start = 34, .csum_offset = 16 }, 3000, NETDEV_DROP_FEATURE },
		{ "ECN bit without GSO", { .gso_type = VNET_HDR_GSO_ECN }, 100, NETDEV_DROP_BAD_GSO },
		{ "runt", { 0 }, 10, NETDEV_DROP_SHORT },
		{ "non-GSO above the MTU", { 0 }, 1600, NETDEV_DROP_MTU },
		{ "hdr_len beyond the frame",
		  { .flags = 1, .gso_type = VNET_HDR_GSO_TCPV4, .gso_size = 1000, .hdr_len = 5000,
		    .csum_start = 34, .csum_offset = 16 }, 3000, NETDEV_DROP_BAD_GSO },
	};
	uint8_t *f = frame(3000);
	uint64_t expect[NETDEV_DROP_NR] = { 0 };

	make(1, 1500, true, true, false);
	/* CSUM and HOST_TSO4 only: TSO6 and ECN are not negotiated. */
	ndrv_start(&d, F(CSUM) | F(HOST_TSO4), 2, 64);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ndrv_tx(&d, 0, &cases[i].h, f, cases[i].len);
		expect[cases[i].why]++;
		struct netdev_counters c = counters(0);
		for (int r = 0; r < NETDEV_DROP_NR; r++)
			ck_assert_msg(c.tx_drops[r] == expect[r], "%s: drops[%s] = %llu, want %llu",
				      cases[i].what, netdev_drop_name(r),
				      (unsigned long long)c.tx_drops[r],
				      (unsigned long long)expect[r]);
	}
	ck_assert_int_eq(fb->tx_count, 0);

	/* A chain shorter than the header, and one with a writable buffer. */
	uint64_t b = ndrv_alloc(&d, 64);
	struct ndrv_seg shorty = { b, 8, false };
	ndrv_post(&d, 1, &shorty, 1);
	struct ndrv_seg wr[2] = { { b, 40, false }, { b + 40, 20, true } };
	ndrv_post(&d, 1, wr, 2);
	/* Chains beyond RAM: the library hands them back unused. */
	struct ndrv_seg beyond = { RAM_SIZE - 16, 64, false };
	ndrv_post(&d, 1, &beyond, 1);
	struct ndrv_seg wrap = { UINT64_MAX - 8, 64, false };
	ndrv_post(&d, 1, &wrap, 1);
	struct ndrv_seg huge = { HUGE_GPA, 0xffffffffu, false };
	ndrv_post(&d, 1, &huge, 1);
	ndrv_kick(&d, 1);
	uint32_t id, len;
	int back = 0;
	while (ndrv_used(&d, 1, &id, &len))
		back++;
	ck_assert_int_eq(back, 5);
	ck_assert_uint_eq(counters(0).tx_drops[NETDEV_DROP_BAD_HDR], 2);
	ck_assert_uint_eq(vdrv_stats(&d.v, 1).bad_chains, 2);
	/* The huge one is inside the translation's window but far beyond
	 * any frame: dropped by size, never read. */
	ck_assert_uint_eq(counters(0).tx_drops[NETDEV_DROP_TOO_BIG], 1);
	ck_assert_int_eq(fb->tx_count, 0);

	/* The device still works. */
	struct vnet_hdr ok = { .flags = 1, .gso_type = VNET_HDR_GSO_TCPV4, .gso_size = 1448,
			       .hdr_len = 54, .csum_start = 34, .csum_offset = 16 };
	ndrv_tx(&d, 0, &ok, f, 3000);
	ck_assert_int_eq(fb->tx_count, 1);
	ck_assert_uint_eq(counters(0).tx_packets, 1);
	free(f);
	destroy();
}
END_TEST

/* Guest RX buffers that are not writable or lie beyond RAM never get data. */
START_TEST(test_rx_malformed)
{
	struct vnet_hdr h;
	uint8_t *f = frame(500), got[600];

	make(1, 1500, true, true, false);
	ndrv_start(&d, F(MRG_RXBUF), 2, 64);
	uint64_t b = ndrv_alloc(&d, 2048);
	struct ndrv_seg ro = { b, 1024, false };
	ndrv_post(&d, 0, &ro, 1);
	struct ndrv_seg beyond = { RAM_SIZE - 100, 1024, true };
	ndrv_post(&d, 0, &beyond, 1);
	struct ndrv_seg good = { b + 1024, 1024, true };
	ndrv_post(&d, 0, &good, 1);
	ndrv_kick(&d, 0);
	fakebe_inject(fb, f, 500);
	ck_assert_int_eq(netdev_rx_poll(d.nd, 0, 16), NETDEV_RX_IDLE);
	uint32_t id, len;
	ck_assert(ndrv_used(&d, 0, &id, &len));	/* the read-only one, back empty */
	ck_assert_uint_eq(len, 0);
	ck_assert(ndrv_used(&d, 0, &id, &len));	/* the one beyond RAM, from the library */
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(ndrv_rx(&d, 0, &h, got, sizeof(got)), 500);
	ck_assert_int_eq(memcmp(got, f, 500), 0);
	ck_assert_uint_eq(counters(0).rx_drops[NETDEV_DROP_BAD_HDR], 1);
	ck_assert_uint_eq(vdrv_stats(&d.v, 0).bad_chains, 1);
	free(f);
	destroy();
}
END_TEST

/*
 * A guest that re-posts every chain the moment the device hands it back,
 * faster than the device can drop it: modvm_virtq_push is wrapped (this
 * executable's definition wins over libmodvm's) so the "guest" makes a
 * pushed non-RX chain available again before pop looks at the ring.  This
 * is what a used ring overlapping avail->idx or a racing vCPU does.
 */
static bool repost_on_push;
static unsigned repost_pushes;

int modvm_virtq_push(struct modvm_virtq *vq, struct modvm_virtq_chain *chain, uint32_t written)
{
	static int (*real)(struct modvm_virtq *, struct modvm_virtq_chain *, uint32_t);
	bool again = repost_on_push && chain->queue_index == 0 && !chain->n_writable;
	uint16_t head = chain->head;

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "modvm_virtq_push");
	ck_assert_ptr_nonnull(real);
	int r = real(vq, chain, written);
	if (again) {
		repost_pushes++;
		ck_assert_uint_lt(repost_pushes, 100000);	/* the loop never ended */
		ndrv_repost(&d, 0, head);
	}
	return r;
}

/* RX pops at most a queue's worth of chains per frame: readable-only
 * chains re-posted forever cost one drop each, then the frame goes. */
START_TEST(test_rx_reposted_non_rx_chains_bounded)
{
	uint8_t *f = frame(100);

	make(1, 1500, true, true, false);
	ndrv_start(&d, F(MRG_RXBUF), 2, 8);
	uint64_t b = ndrv_alloc(&d, 256);
	struct ndrv_seg ro = { b, 256, false };
	ndrv_post(&d, 0, &ro, 1);
	ndrv_kick(&d, 0);
	fakebe_inject(fb, f, 100);
	repost_on_push = true;
	repost_pushes = 0;
	ck_assert_int_eq(netdev_rx_poll(d.nd, 0, 4), NETDEV_RX_IDLE);
	repost_on_push = false;
	struct netdev_counters c = counters(0);
	ck_assert_uint_ge(c.rx_drops[NETDEV_DROP_BAD_HDR], 1);
	ck_assert_uint_le(c.rx_drops[NETDEV_DROP_BAD_HDR], 8);	/* the queue size */
	ck_assert_uint_eq(c.rx_drops[NETDEV_DROP_TOO_BIG], 1);
	ck_assert_uint_eq(c.rx_packets, 0);
	ck_assert_uint_eq(repost_pushes, c.rx_drops[NETDEV_DROP_BAD_HDR]);
	free(f);
	destroy();
}
END_TEST

/*
 * More than a queue's worth per kick.  The driver takes back what the
 * device used and sends the next frame in that buffer while the device is
 * still working (from the translation of each chain the device walks, as
 * another vCPU would), kicking only when avail_event asks: with EVENT_IDX
 * it never asks then.  The device stops after a queue's worth and must
 * come back by itself (modvm_virtio_renotify, on the loop) until every
 * frame is out.
 */
#define MORE_NUM 16u
#define MORE_FRAMES 50u
#define MORE_LEN 60u

static unsigned more_posted, more_sent, more_taken;
static bool more_kick_asked, more_bad;

static void more_frame(uint16_t head, unsigned seq)
{
	uint8_t *p = gpa(&d.v, d.q[1].buf_gpa[head]);

	memset(p, 0, VNET_HDR_LEN + MORE_LEN);
	memcpy(p + VNET_HDR_LEN, MAC, 6);
	p[VNET_HDR_LEN + 12] = 0x08;
	memcpy(p + VNET_HDR_LEN + 14, &seq, 4);
}

static void more_driver(struct vdrv *v)
{
	uint32_t id, len;

	(void)v;
	while (more_posted < MORE_FRAMES && ndrv_used(&d, 1, &id, &len)) {
		uint16_t old = d.q[1].avail_idx;

		more_taken++;
		more_frame((uint16_t)id, more_posted++);
		ndrv_repost(&d, 1, (uint16_t)id);
		more_kick_asked |= ndrv_kick_needed(&d, 1, old);
	}
}

static ssize_t more_tx(void *ctx, unsigned pair, const struct iovec *iov, int cnt)
{
	unsigned seq;

	(void)ctx;
	(void)pair;
	if (cnt != 2 || iov[1].iov_len != MORE_LEN)
		more_bad = true;
	else {
		memcpy(&seq, (uint8_t *)iov[1].iov_base + 14, 4);
		more_bad |= seq != more_sent;
	}
	more_sent++;
	return (ssize_t)(VNET_HDR_LEN + MORE_LEN);
}

START_TEST(test_tx_more_than_a_queue_per_kick)
{
	struct modvm_loop *loop = modvm__loop_new();
	struct netdev_config cfg = { .pairs = 1, .mtu = 1500 };
	struct ndrv_opts o = { .loop = loop };
	struct timespec t0, t;
	uint32_t id, len;

	ck_assert_ptr_nonnull(loop);
	memcpy(cfg.mac, MAC, 6);
	fb = fakebe_new();
	cfg.backend = fakebe_backend(fb);
	cfg.backend.tx = more_tx;
	ndrv_init_opts(&d, &cfg, &o);
	ndrv_start(&d, EVENT_IDX, 2, MORE_NUM);
	more_posted = more_sent = more_taken = 0;
	more_kick_asked = more_bad = false;
	for (unsigned i = 0; i < MORE_NUM; i++) {
		struct ndrv_seg seg = { ndrv_alloc(&d, VNET_HDR_LEN + MORE_LEN),
					VNET_HDR_LEN + MORE_LEN, false };
		uint16_t head = ndrv_post(&d, 1, &seg, 1);
		more_frame(head, more_posted++);
	}
	ck_assert(ndrv_kick_needed(&d, 1, 0));
	d.v.on_translate = more_driver;
	ndrv_kick(&d, 1);
	/* a queue's worth went, and the driver added more meanwhile */
	ck_assert_uint_eq(more_sent, MORE_NUM);
	ck_assert_uint_gt(more_posted, MORE_NUM);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		modvm__loop_run_once(loop);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (more_sent < MORE_FRAMES && t.tv_sec - t0.tv_sec < 3);
	d.v.on_translate = NULL;
	ck_assert_msg(more_sent == MORE_FRAMES, "%u of %u frames sent, %u made available",
		      more_sent, MORE_FRAMES, more_posted);
	ck_assert(!more_bad);
	ck_assert(!more_kick_asked);
	while (ndrv_used(&d, 1, &id, &len))
		more_taken++;
	ck_assert_uint_eq(more_taken, MORE_FRAMES);
	/* and the driver's next frame gets its kick */
	ck_assert_uint_eq(ndrv_avail_event(&d, 1), d.q[1].avail_idx);
	destroy();
	modvm__loop_free(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("net-dev");
	TCase *tc = tcase_create("device");

	tcase_add_test(tc, test_features_offered);
	tcase_add_test(tc, test_describe_at_stop);
	tcase_add_test(tc, test_features_ok_checks_dependencies);
	tcase_add_test(tc, test_config_space);
	tcase_add_test(tc, test_ctrl_mq);
	tcase_add_test(tc, test_ctrl_guest_offloads);
	tcase_add_test(tc, test_ctrl_queue_without_mq);
	tcase_add_test(tc, test_tx_frame);
	tcase_add_test(tc, test_rx_mergeable);
	tcase_add_test(tc, test_rx_stall_and_wake);
	tcase_add_test(tc, test_rx_header_follows_guest_offloads);
	tcase_add_test(tc, test_tx_mtu);
	tcase_add_test(tc, test_tx_malformed);
	tcase_add_test(tc, test_rx_malformed);
	tcase_add_test(tc, test_rx_reposted_non_rx_chains_bounded);
	tcase_add_test(tc, test_tx_more_than_a_queue_per_kick);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
