/*
 * The virtio-net device model on a real multi-queue tap, in a private
 * network namespace per test (unshare in Check's forked child): ARP and
 * ICMP answered by the kernel, a 64 KiB TSO segment leaving as MTU-sized
 * segments with correct checksums (seen from a veth peer with a packet
 * socket), jumbo frames, and the tap's own checks.  Skips (77) without
 * /dev/net/tun or unshare.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "event/event.h"
#include "ndrv.h"
#include "netns.h"
#include "rxloop.h"
#include "tap.h"

#define F(b) VNET_BIT(VNET_F_##b)
#define TAPNAME "mvt0"

static const uint8_t GMAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t TMAC[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t GIP[4] = { 10, 0, 0, 2 }, TIP[4] = { 10, 0, 0, 1 };
static const uint8_t PEERIP[4] = { 10, 0, 1, 2 };

static struct tap *tap;
static struct ndrv d;

static struct modvm_loop *loop;
static struct rxloop *rl;

/* Enters a namespace, creates the tap (10.0.0.1/24) and the device, whose
 * back end is the tap itself or, with a @loop, the plugin's RX loop. */
static unsigned npairs = 1;

static void setup_on(unsigned mtu, bool csum, bool tso, struct modvm_loop *lp)
{
	ck_assert_int_eq(netns_enter(), 0);
	ck_assert_int_eq(tap_open(TAPNAME, npairs, &tap), 0);
	ck_assert_int_eq(tap_set_mtu(tap, mtu), 0);
	ck_assert_int_eq(netns_sh("ip link set " TAPNAME " address 02:00:00:00:00:01"), 0);
	ck_assert_int_eq(tap_set_up(tap), 0);
	ck_assert_int_eq(netns_sh("ip addr add 10.0.0.1/24 dev " TAPNAME), 0);
	struct netdev_config cfg = { .pairs = (uint16_t)npairs, .mtu = mtu, .csum = csum, .tso = tso,
				     .backend = tap_backend(tap) };
	loop = lp;
	if (loop) {
		ck_assert_int_eq(rxloop_create(loop, tap, 1, &rl), 0);
		cfg.backend = rxloop_backend(rl);
	}
	memcpy(cfg.mac, GMAC, 6);
	ndrv_init(&d, &cfg);
	if (loop)
		ck_assert_int_eq(rxloop_start(rl, d.nd), 0);
}

static void setup(unsigned mtu, bool csum, bool tso)
{
	setup_on(mtu, csum, tso, NULL);
}

static void teardown(void)
{
	if (loop)
		rxloop_stop(rl);
	ndrv_fini(&d);
	if (loop)
		rxloop_free(rl);
	tap_close(tap);
	rl = NULL;
	loop = NULL;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	put16(f + 12, type);
}

/* An IPv4 header at @ip (20 bytes) with a correct checksum. */
static void ipv4(uint8_t *ip, uint16_t tot_len, uint8_t proto, const uint8_t *src,
		 const uint8_t *dst)
{
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, tot_len);
	put16(ip + 4, 0x4242);
	put16(ip + 6, 0x4000);	/* DF */
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, src, 4);
	memcpy(ip + 16, dst, 4);
	put16(ip + 10, (uint16_t)~csum_fold(csum_add(0, ip, 20)));
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Receives frames for up to @ms until one of ethertype @type arrives;
 * returns its length (or -1).  Other frames are skipped.
 */
static long rx_wait(uint16_t type, uint8_t *buf, size_t cap, int ms)
{
	double end = now() + ms / 1000.0;
	struct vnet_hdr h;

	for (;;) {
		long n;
		while ((n = ndrv_rx(&d, 0, &h, buf, cap)) >= 0)
			if (n >= 14 && get16(buf + 12) == type)
				return n;
		double left = end - now();
		if (left <= 0)
			return -1;
		struct pollfd p = { .fd = tap_fd(tap, 0), .events = POLLIN };
		poll(&p, 1, (int)(left * 1000) + 1);
		ck_assert_int_ge(netdev_rx_poll(d.nd, 0, 64), 0);
	}
}

static size_t icmp_echo(uint8_t *f, size_t ip_len)
{
	eth(f, TMAC, GMAC, ETHERTYPE_IP);
	ipv4(f + 14, (uint16_t)ip_len, IPPROTO_ICMP, GIP, TIP);
	uint8_t *icmp = f + 34;
	size_t ilen = ip_len - 20;
	memset(icmp, 0, 8);
	icmp[0] = 8;
	put16(icmp + 4, 0x1234);
	put16(icmp + 6, 1);
	for (size_t i = 8; i < ilen; i++)
		icmp[i] = (uint8_t)i;
	put16(icmp + 2, (uint16_t)~csum_fold(csum_add(0, icmp, ilen)));
	return 14 + ip_len;
}

/* Checks @f is the echo reply to icmp_echo(ip_len). */
static void check_echo_reply(const uint8_t *f, long n, size_t ip_len)
{
	ck_assert_int_eq(n, (long)(14 + ip_len));
	ck_assert_int_eq(memcmp(f, GMAC, 6), 0);
	ck_assert_uint_eq(f[14 + 9], IPPROTO_ICMP);
	ck_assert_int_eq(memcmp(f + 14 + 12, TIP, 4), 0);
	ck_assert_uint_eq(csum_fold(csum_add(0, f + 14, 20)), 0xffff);
	const uint8_t *icmp = f + 34;
	ck_assert_uint_eq(icmp[0], 0);	/* echo reply */
	ck_assert_uint_eq(get16(icmp + 4), 0x1234);
	ck_assert_uint_eq(csum_fold(csum_add(0, icmp, ip_len - 20)), 0xffff);
	for (size_t i = 8; i < ip_len - 20; i++)
		ck_assert_uint_eq(icmp[i], (uint8_t)i);
}

START_TEST(test_arp_and_ping)
{
	static uint8_t f[2048], r[2048];
	struct vnet_hdr h = { 0 };

	setup(1500, true, true);
	ndrv_start(&d, F(MRG_RXBUF), 2, 64);
	ndrv_rx_fill(&d, 0, 32, 2048);

	/* who-has 10.0.0.1 tell 10.0.0.2 */
	memset(f, 0, 60);
	eth(f, (const uint8_t[6]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, GMAC, ETHERTYPE_ARP);
	uint8_t *a = f + 14;
	put16(a, 1);
	put16(a + 2, ETHERTYPE_IP);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 1);
	memcpy(a + 8, GMAC, 6);
	memcpy(a + 14, GIP, 4);
	memcpy(a + 24, TIP, 4);
	ndrv_tx(&d, 0, &h, f, 60);
	long n = rx_wait(ETHERTYPE_ARP, r, sizeof(r), 2000);
	ck_assert_msg(n >= 42, "no ARP reply from the kernel");
	ck_assert_uint_eq(get16(r + 14 + 6), 2);	/* reply */
	ck_assert_int_eq(memcmp(r + 14 + 8, TMAC, 6), 0);
	ck_assert_int_eq(memcmp(r + 14 + 14, TIP, 4), 0);
	ck_assert_int_eq(memcmp(r + 14 + 18, GMAC, 6), 0);
	ck_assert_int_eq(memcmp(r + 14 + 24, GIP, 4), 0);

	size_t len = icmp_echo(f, 84);
	ndrv_tx(&d, 0, &h, f, (uint32_t)len);
	n = rx_wait(ETHERTYPE_IP, r, sizeof(r), 2000);
	ck_assert_msg(n > 0, "no echo reply from the kernel");
	check_echo_reply(r, n, 84);

	struct netdev_counters c;
	netdev_get_counters(d.nd, 0, &c);
	ck_assert_uint_eq(c.tx_packets, 2);
	ck_assert_uint_ge(c.rx_packets, 2);
	teardown();
}
END_TEST

/* A 9000-byte IP packet: answered with mtu 9000, dropped with 1500. */
static void jumbo(unsigned mtu)
{
	static uint8_t f[9100], r[9100];
	struct vnet_hdr h = { 0 };

	setup(mtu, true, true);
	ck_assert_int_eq(netns_sh("ip neigh add 10.0.0.2 lladdr 52:54:00:12:34:56 dev " TAPNAME
				  " nud permanent"), 0);
	ndrv_start(&d, F(MRG_RXBUF), 2, 64);
	ndrv_rx_fill(&d, 0, 32, 2048);
	size_t len = icmp_echo(f, 9000);
	ck_assert_uint_eq(len, 9014);
	ndrv_tx(&d, 0, &h, f, (uint32_t)len);
	long n = rx_wait(ETHERTYPE_IP, r, sizeof(r), mtu == 9000 ? 2000 : 300);
	struct netdev_counters c;
	netdev_get_counters(d.nd, 0, &c);
	if (mtu == 9000) {
		ck_assert_msg(n > 0, "no jumbo echo reply");
		check_echo_reply(r, n, 9000);
		ck_assert_uint_eq(c.tx_packets, 1);
		ck_assert_uint_eq(c.tx_bytes, 9014);
		ck_assert_uint_eq(c.tx_drops[NETDEV_DROP_MTU], 0);
	} else {
		ck_assert_int_eq(n, -1);
		ck_assert_uint_eq(c.tx_packets, 0);
		ck_assert_uint_eq(c.tx_drops[NETDEV_DROP_MTU], 1);
	}
	teardown();
}

START_TEST(test_jumbo_mtu_9000)
{
	jumbo(9000);
}
END_TEST

START_TEST(test_jumbo_mtu_1500)
{
	jumbo(1500);
}
END_TEST

#define MSS 1448u
#define NSEG 45u
#define PAYLOAD (MSS * NSEG)	/* 65160 bytes: one 64 KiB TSO segment */

/*
 * tap (10.0.0.1) → forwarding → va (10.0.1.1, TSO/GSO/checksum offload
 * off) → veth → vb, where a packet socket (vb's GRO off) sees what left:
 * the kernel must segment the guest's GSO frame in software and compute
 * every checksum.
 */
START_TEST(test_tso_segmentation)
{
	static uint8_t f[14 + 40 + PAYLOAD], got[PAYLOAD], r[2048];
	bool seen[NSEG] = { 0 };

	setup(1500, true, true);
	ck_assert_int_eq(netns_sh("ip link add va type veth peer name vb"), 0);
	ck_assert_int_eq(netns_sh("ip link set vb address 02:00:00:00:00:02"), 0);
	ck_assert_int_eq(netns_ethtool("va", ETHTOOL_STSO, false), 0);
	ck_assert_int_eq(netns_ethtool("va", ETHTOOL_SGSO, false), 0);
	ck_assert_int_eq(netns_ethtool("va", ETHTOOL_STXCSUM, false), 0);
	ck_assert_int_eq(netns_ethtool("vb", ETHTOOL_SGRO, false), 0);
	ck_assert_int_eq(netns_sh("ip link set va up && ip link set vb up && "
				  "ip addr add 10.0.1.1/24 dev va && "
				  "ip neigh add 10.0.1.2 lladdr 02:00:00:00:00:02 dev va nud permanent"),
			 0);
	ck_assert_int_eq(netns_sysctl("net/ipv4/ip_forward", "1"), 0);
	/* What reaches vb must end there, not be forwarded back. */
	ck_assert_int_eq(netns_sysctl("net/ipv4/conf/vb/forwarding", "0"), 0);

	int ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_IP));
	ck_assert_int_ge(ps, 0);
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP),
				   .sll_ifindex = (int)if_nametoindex("vb") };
	ck_assert_int_eq(bind(ps, (struct sockaddr *)&sll, sizeof(sll)), 0);

	ndrv_start(&d, F(CSUM) | F(HOST_TSO4), 2, 64);
	uint16_t tcp_len = 20 + PAYLOAD;
	eth(f, TMAC, GMAC, ETHERTYPE_IP);
	ipv4(f + 14, (uint16_t)(20 + tcp_len), IPPROTO_TCP, GIP, PEERIP);
	uint8_t *tcp = f + 34;
	memset(tcp, 0, 20);
	put16(tcp, 40000);
	put16(tcp + 2, 5001);
	tcp[4] = 0x10;	/* seq 0x10000000 */
	tcp[12] = 5 << 4;
	tcp[13] = 0x18;	/* PSH ACK */
	put16(tcp + 14, 65535);
	for (uint32_t i = 0; i < PAYLOAD; i++)
		tcp[20 + i] = (uint8_t)(i * 13 + i / 256);
	/* NEEDS_CSUM: the field holds the pseudo-header sum, as Linux's
	 * tcp_v4_send_check leaves it for the device. */
	put16(tcp + 16, csum_fold(csum_pseudo4(GIP, PEERIP, IPPROTO_TCP, tcp_len)));
	struct vnet_hdr h = { .flags = VNET_HDR_F_NEEDS_CSUM, .gso_type = VNET_HDR_GSO_TCPV4,
			      .hdr_len = 54, .gso_size = MSS, .csum_start = 34, .csum_offset = 16 };
	ndrv_tx(&d, 0, &h, f, 14 + 40 + PAYLOAD);
	struct netdev_counters c;
	netdev_get_counters(d.nd, 0, &c);
	ck_assert_uint_eq(c.tx_packets, 1);

	unsigned segs = 0, bytes = 0;
	double end = now() + 3;
	while (bytes < PAYLOAD && now() < end) {
		struct pollfd p = { .fd = ps, .events = POLLIN };
		if (poll(&p, 1, 200) <= 0)
			continue;
		ssize_t n = recv(ps, r, sizeof(r), 0);
		ck_assert_int_ge(n, 20);
		const uint8_t *ip = r;	/* SOCK_RAW on a packet socket includes Ethernet */
		ck_assert_uint_eq(get16(r + 12), ETHERTYPE_IP);
		ip = r + 14;
		if (ip[9] != IPPROTO_TCP || get16(ip + 20 + 2) != 5001)
			continue;
		uint16_t tot = get16(ip + 2);
		ck_assert_uint_le(tot, 1500);
		ck_assert_int_eq(n, 14 + tot);
		ck_assert_uint_eq(ip[8], 63);	/* forwarded once */
		ck_assert_msg(csum_fold(csum_add(0, ip, 20)) == 0xffff, "bad IP checksum");
		const uint8_t *t = ip + 20;
		uint16_t tl = (uint16_t)(tot - 20);
		uint32_t sum = csum_pseudo4(ip + 12, ip + 16, IPPROTO_TCP, tl);
		ck_assert_msg(csum_fold(csum_add(sum, t, tl)) == 0xffff, "bad TCP checksum");
		uint32_t seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
		uint32_t off = seq - 0x10000000u, plen = tl - 20u;
		ck_assert_uint_eq(plen, MSS);
		ck_assert_uint_eq(off % MSS, 0);
		ck_assert_uint_lt(off / MSS, NSEG);
		ck_assert(!seen[off / MSS]);
		seen[off / MSS] = true;
		memcpy(got + off, t + 20, plen);
		segs++;
		bytes += plen;
	}
	close(ps);
	ck_assert_uint_eq(segs, NSEG);
	ck_assert_uint_eq(bytes, PAYLOAD);
	ck_assert_int_eq(memcmp(got, tcp + 20, PAYLOAD), 0);
	teardown();
}
END_TEST

static void tick(struct modvm_timer *t, void *ud)
{
	(void)t;
	(void)ud;
}

/* Runs the loop until a frame of @type is used on RX (or @ms pass). */
static long loop_rx(uint16_t type, uint8_t *buf, size_t cap, int ms)
{
	double end = now() + ms / 1000.0;
	struct vnet_hdr h;
	long n;

	while (now() < end) {
		while ((n = ndrv_rx(&d, 0, &h, buf, cap)) >= 0)
			if (n >= 14 && get16(buf + 12) == type)
				return n;
		modvm__loop_run_once(loop);
	}
	return -1;
}

/*
 * The plugin's RX side (rxloop.c) on a real loop: frames arrive through the
 * tap watcher; with no guest buffers the watcher stops, and the guest's RX
 * kick re-arms it through the eventfd and delivers what waited.
 */
START_TEST(test_loop_rx_stall_and_wake)
{
	static uint8_t f[2048], r[2048];
	struct vnet_hdr h = { 0 };
	struct modvm_loop *lp = modvm__loop_new();

	ck_assert_ptr_nonnull(lp);
	struct modvm_timer *t = modvm_timer_start(lp, 0.01, 0.01, tick, NULL);
	setup_on(1500, true, true, lp);
	ck_assert_int_eq(netns_sh("ip neigh add 10.0.0.2 lladdr 52:54:00:12:34:56 dev " TAPNAME
				  " nud permanent"), 0);
	ndrv_start(&d, F(MRG_RXBUF), 2, 64);
	ndrv_rx_fill(&d, 0, 1, 2048);
	size_t len = icmp_echo(f, 84);
	ndrv_tx(&d, 0, &h, f, (uint32_t)len);
	long n = loop_rx(ETHERTYPE_IP, r, sizeof(r), 2000);
	ck_assert_msg(n > 0, "no echo reply through the loop");
	check_echo_reply(r, n, 84);
	ck_assert(rxloop_watching(rl, 0));

	/* No buffers left: the next reply waits and the watcher stops. */
	ndrv_tx(&d, 0, &h, f, (uint32_t)len);
	double end = now() + 2;
	while (rxloop_watching(rl, 0) && now() < end)
		modvm__loop_run_once(loop);
	ck_assert(!rxloop_watching(rl, 0));
	struct netdev_counters c;
	netdev_get_counters(d.nd, 0, &c);
	ck_assert_uint_ge(c.rx_stalls, 1);
	ck_assert_uint_eq(c.rx_packets, 1);

	/* The guest posts buffers and kicks: the reply comes, RX watches again. */
	ndrv_rx_fill(&d, 0, 4, 2048);
	n = loop_rx(ETHERTYPE_IP, r, sizeof(r), 2000);
	ck_assert_msg(n > 0, "the waiting reply was not delivered after the kick");
	check_echo_reply(r, n, 84);
	ck_assert(rxloop_watching(rl, 0));
	teardown();
	modvm_timer_stop(t);
	modvm__loop_free(lp);
}
END_TEST

/*
 * Two queue pairs: after VQ_PAIRS_SET 2 a frame sent on the second TX queue
 * reaches the kernel through the tap's second queue, and its answer comes
 * back on one of the RX queues (tun steers it by flow).
 */
START_TEST(test_two_queue_pairs)
{
	static uint8_t f[2048], r[2048];
	struct vnet_hdr h = { 0 };
	uint16_t two = 2;

	npairs = 2;
	setup(1500, true, true);
	ck_assert_int_eq(netns_sh("ip neigh add 10.0.0.2 lladdr 52:54:00:12:34:56 dev " TAPNAME
				  " nud permanent"), 0);
	ndrv_start(&d, F(MRG_RXBUF) | F(CTRL_VQ) | F(MQ), 5, 64);
	ck_assert_uint_eq(ndrv_ctrl(&d, VNET_CTRL_MQ, VNET_CTRL_MQ_VQ_PAIRS_SET, &two, 2),
			  VNET_CTRL_OK);
	ndrv_rx_fill(&d, 0, 8, 2048);
	ndrv_rx_fill(&d, 1, 8, 2048);
	size_t len = icmp_echo(f, 84);
	ndrv_tx(&d, 1, &h, f, (uint32_t)len);
	struct netdev_counters c0, c1;
	netdev_get_counters(d.nd, 0, &c0);
	netdev_get_counters(d.nd, 1, &c1);
	ck_assert_uint_eq(c0.tx_packets, 0);
	ck_assert_uint_eq(c1.tx_packets, 1);
	ck_assert_uint_eq(c1.tx_drops[NETDEV_DROP_BACKEND], 0);

	long n = -1;
	double end = now() + 2;
	while (n < 0 && now() < end) {
		struct pollfd p[2] = { { .fd = tap_fd(tap, 0), .events = POLLIN },
				       { .fd = tap_fd(tap, 1), .events = POLLIN } };
		poll(p, 2, 100);
		for (unsigned q = 0; q < 2 && n < 0; q++) {
			ck_assert_int_ge(netdev_rx_poll(d.nd, q, 64), 0);
			n = ndrv_rx(&d, q, &h, r, sizeof(r));
		}
	}
	ck_assert_msg(n > 0, "no echo reply on either queue");
	check_echo_reply(r, n, 84);
	teardown();
}
END_TEST

START_TEST(test_tap_queues_and_offloads)
{
	ck_assert_int_eq(netns_enter(), 0);
	ck_assert_int_eq(tap_open("mvtq%d", 4, &tap), 0);
	ck_assert_uint_eq(tap_queues(tap), 4);
	ck_assert_int_eq(strncmp(tap_name(tap), "mvtq", 4), 0);
	ck_assert_int_eq(tap_check_offloads(tap, NETDEV_OFF_CSUM | NETDEV_OFF_TSO4 |
						 NETDEV_OFF_TSO6 | NETDEV_OFF_TSO_ECN), 0);
	ck_assert_int_eq(tap_set_mtu(tap, 9000), 0);
	ck_assert_int_eq(tap_set_mtu(tap, 70000), -EINVAL);
	ck_assert_int_eq(tap_set_queue_enabled(tap, 3, false), 0);
	ck_assert_int_eq(tap_set_queue_enabled(tap, 3, true), 0);
	tap_close(tap);
	struct tap *t2;
	ck_assert_int_eq(tap_open("mvtq0", 0, &t2), -EINVAL);
	ck_assert_int_eq(tap_open("a-name-much-too-long", 1, &t2), -EINVAL);
}
END_TEST

int main(void)
{
	const char *why = netns_unavailable();

	if (why) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	Suite *s = suite_create("net-tap");
	TCase *tc = tcase_create("tap");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_tap_queues_and_offloads);
	tcase_add_test(tc, test_arp_and_ping);
	tcase_add_test(tc, test_jumbo_mtu_9000);
	tcase_add_test(tc, test_jumbo_mtu_1500);
	tcase_add_test(tc, test_tso_segmentation);
	tcase_add_test(tc, test_loop_rx_stall_and_wake);
	tcase_add_test(tc, test_two_queue_pairs);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
