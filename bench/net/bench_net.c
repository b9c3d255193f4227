/*
 * net-vmq (issues 6 and 9): transmit and receive throughput and CPU time
 * per GB through the virtio-net device model and a tap, in a private
 * network namespace.  TX first:
 * The qtest-style driver plays the guest: it posts a queue's worth of TX
 * buffers (all pointing at one frame in the fake guest RAM), kicks once,
 * reclaims them, and so on for a fixed time.  CPU is the process's
 * user+sys time (getrusage), which includes the kernel's work for each tap
 * write.  In the main cases the frames go to the tap's IP stack and end at
 * routing (their destination is unrouted), so nothing but the device and
 * the tap is measured; a second pair forwards them out of a veth without
 * offloads, so the host kernel also segments and checksums in software.
 *
 * Pairs measured in the same run, each against its baseline:
 *   TSO: 64 KiB GSO segments (gso_size 1448)  vs  1514-byte frames, mtu 1500
 *   jumbo: 9014-byte frames with mtu 9000     vs  1514-byte frames, mtu 1500
 * and, to choose where TX runs, one frame per kick processed on the kicking
 * (vCPU) thread vs handed to another thread (the loop) through an eventfd,
 * the kicker waiting for it.
 *
 * RX (frames from the host into guest buffers, see run_rx): 1514-byte
 * frames with mtu 1500 and no guest offloads, the baseline of
 *   GUEST_TSO: 64 KiB segments handed whole (GUEST_CSUM + GUEST_TSO4)
 *   jumbo: 9014-byte frames with mtu 9000, no guest offloads
 * and GUEST_TSO with mtu 9000 (64 KiB of 8948-byte segments), against the
 * jumbo case in the ratios printed.
 *
 *   bench_net [seconds per case]   (default 1)
 */
#include <arpa/inet.h>
#include <check.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "event/event.h"
#include "sandbox/sandbox.h"
#include "ndrv.h"
#include "netns.h"
#include "rxloop.h"
#include "tap.h"

#define QNUM 256u
#define BATCH 128u

struct result {
	double gbit_s;		/* payload bits on the wire side per second */
	double cpu_s_per_gb;	/* user+sys seconds per 10^9 frame bytes */
	double frames_s;
	uint64_t drops;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static double secs = 1.0;

static const uint8_t TMAC[6] = { 2, 0, 0, 0, 0, 1 }, GMAC[6] = { 0x52, 0x54, 0, 1, 2, 3 };
static const uint8_t TIP[4] = { 10, 0, 0, 1 }, GIP[4] = { 10, 0, 0, 2 };

/* A TCP/IPv4 frame of @len bytes at @f, with the header a Linux stack with
 * checksum offload (and, for @mss, TSO) hands its NIC: from the guest to
 * @dst, or (@to_guest) from the tap's address to the guest. */
static void build_frame(uint8_t *f, uint32_t len, uint16_t mss, bool to_guest,
			const uint8_t *dst, struct vnet_hdr *h)
{
	const uint8_t *src = to_guest ? TIP : GIP;
	uint32_t ip_len = len - 14, tcp_len = ip_len - 20;

	memcpy(f, to_guest ? GMAC : TMAC, 6);
	memcpy(f + 6, to_guest ? TMAC : GMAC, 6);
	put16(f + 12, 0x0800);
	uint8_t *ip = f + 14;
	memset(ip, 0, 40);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)ip_len);
	put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, src, 4);
	memcpy(ip + 16, dst, 4);
	put16(ip + 10, (uint16_t)~csum_fold(csum_add(0, ip, 20)));
	uint8_t *tcp = ip + 20;
	put16(tcp, 40000);
	put16(tcp + 2, 5001);
	tcp[12] = 5 << 4;
	tcp[13] = 0x10;
	put16(tcp + 14, 65535);
	put16(tcp + 16, csum_fold(csum_pseudo4(src, dst, 6, (uint16_t)tcp_len)));
	memset(tcp + 20, 0x5a, tcp_len - 20);
	*h = (struct vnet_hdr){ .flags = VNET_HDR_F_NEEDS_CSUM, .csum_start = 34,
				.csum_offset = 16 };
	if (mss) {
		h->gso_type = VNET_HDR_GSO_TCPV4;
		h->gso_size = mss;
		h->hdr_len = 54;
	}
}

static void build(uint8_t *f, uint32_t len, bool gso, const uint8_t *dst, struct vnet_hdr *h)
{
	build_frame(f, len, gso ? 1448 : 0, false, dst, h);
}

/* The other way to run TX: the kick only signals a thread (the loop) that
 * does the work, and the kicker waits for it (to measure the hop). */
struct hop {
	struct modvm_virtio_mmio *t;
	int go, done;
	bool stop;
};

static void kick_q(struct modvm_virtio_mmio *t, uint32_t q)
{
	modvm_virtio_mmio_access(t, MODVM_VIRTIO_MMIO_QUEUE_NOTIFY, (uint8_t *)&q, 4, true);
}

static void kick(struct modvm_virtio_mmio *t)
{
	kick_q(t, 1);
}

static void *hop_thread(void *arg)
{
	struct hop *h = arg;
	uint64_t v;

	while (read(h->go, &v, 8) == 8 && !__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE)) {
		kick(h->t);
		v = 1;
		if (write(h->done, &v, 8) != 8)
			break;
	}
	return NULL;
}

/* Off-link and unrouted (dropped at routing), or behind the veth. */
static const uint8_t DROP_DST[4] = { 10, 9, 9, 9 }, FWD_DST[4] = { 10, 0, 1, 2 };

/* The kicking thread locked down as a vCPU thread of host.sandbox
 * "strict" (the vCPU filter, with net-vmq's declarations,
 * no_new_privs): after the setup, which a vCPU thread never does. */
static void lock_down_as_vcpu(void)
{
	int r = modvm__sandbox_allow("net-vmq", MODVM_THREAD_VCPU, "writev", -1, 0);
	/* the bench's own CPU clock */
	if (r == 0)
		r = modvm__sandbox_allow("bench", MODVM_THREAD_VCPU, "getrusage", -1, 0);
	if (r == 0)
		r = modvm__sandbox_apply_class_for_test(MODVM__TC_VCPU, NULL);
	if (r < 0) {
		fprintf(stderr, "bench_net: cannot lock down: %s\n", strerror(-r));
		_exit(1);
	}
}

static struct result run(const char *tapname, unsigned mtu, uint32_t frame_len, bool gso,
			 double seconds, unsigned batch, bool via_thread, const uint8_t *dst,
			 bool strict)
{
	struct tap *tap = NULL;
	struct ndrv d;
	struct vnet_hdr h;
	struct result res = { 0 };

	if (tap_open(tapname, 1, &tap) < 0 || tap_set_mtu(tap, mtu) < 0 ||
	    netns_sh("ip link set %s address 02:00:00:00:00:01", tapname) != 0 ||
	    tap_set_up(tap) < 0 || netns_sh("ip addr add 10.0.0.1/24 dev %s", tapname) != 0) {
		fprintf(stderr, "bench_net: tap setup failed\n");
		exit(1);
	}
	struct netdev_config cfg = { .pairs = 1, .mtu = mtu, .csum = true, .tso = true,
				     .backend = tap_backend(tap),
				     .mac = { 0x52, 0x54, 0, 1, 2, 3 } };
	ndrv_init(&d, &cfg);
	ndrv_start(&d, VNET_BIT(VNET_F_CSUM) | VNET_BIT(VNET_F_HOST_TSO4), 2, QNUM);
	uint64_t buf = ndrv_alloc(&d, VNET_HDR_LEN + frame_len);
	build(gpa(&d.v, buf + VNET_HDR_LEN), frame_len, gso, dst, &h);
	memcpy(gpa(&d.v, buf), &h, VNET_HDR_LEN);
	/* The hot loop touches the rings through plain pointers: the driver's
	 * helpers assert through Check on every access, which would be
	 * measured too. */
	uint64_t ring = DESC_GPA + 0x4000;	/* queue 1 (transmitq0) */
	for (unsigned i = 0; i < QNUM; i++)
		vdrv_set_desc(&d.v, ring, (uint16_t)i, buf, VNET_HDR_LEN + frame_len, 0, 0);
	uint16_t *avail_ring = (uint16_t *)gpa(&d.v, ring + 0x1000 + 4);
	uint16_t *avail_idx = (uint16_t *)gpa(&d.v, ring + 0x1000 + 2);
	uint16_t *used_idx = (uint16_t *)gpa(&d.v, ring + 0x2000 + 2);
	uint16_t next = 0;

	struct hop hop = { .t = d.v.t, .go = eventfd(0, EFD_CLOEXEC), .done = eventfd(0, EFD_CLOEXEC) };
	pthread_t th;
	if (hop.go < 0 || hop.done < 0 ||
	    (via_thread && pthread_create(&th, NULL, hop_thread, &hop) != 0)) {
		fprintf(stderr, "bench_net: cannot start the TX thread\n");
		exit(1);
	}

	uint64_t frames = 0, v;
	if (strict)
		lock_down_as_vcpu();
	double c0 = cpu(), t0 = now(), t;
	do {
		for (unsigned i = 0; i < batch; i++, next++)
			avail_ring[next % QNUM] = (uint16_t)(next % QNUM);
		__atomic_store_n(avail_idx, next, __ATOMIC_RELEASE);
		if (via_thread) {
			v = 1;
			if (write(hop.go, &v, 8) != 8 || read(hop.done, &v, 8) != 8)
				exit(1);
		} else {
			kick(d.v.t);
		}
		if (__atomic_load_n(used_idx, __ATOMIC_ACQUIRE) != next) {
			fprintf(stderr, "bench_net: buffers not returned\n");
			exit(1);
		}
		frames += batch;
		t = now();
	} while (t - t0 < seconds);
	double c = cpu() - c0, wall = t - t0;
	if (via_thread) {
		__atomic_store_n(&hop.stop, true, __ATOMIC_RELEASE);
		v = 1;
		if (write(hop.go, &v, 8) != 8)
			exit(1);
		pthread_join(th, NULL);
	}
	struct netdev_counters nc;
	netdev_get_counters(d.nd, 0, &nc);
	for (int r = 0; r < NETDEV_DROP_NR; r++)
		res.drops += nc.tx_drops[r];
	double bytes = (double)nc.tx_bytes;
	res.gbit_s = bytes * 8 / wall / 1e9;
	res.cpu_s_per_gb = c / (bytes / 1e9);
	res.frames_s = (double)frames / wall;
	if (strict)
		return res;	/* a child that exits now: its filter has no teardown */
	close(hop.go);
	close(hop.done);
	ndrv_fini(&d);
	tap_close(tap);
	return res;
}

/* run() in a fresh child, whose lockdown cannot be undone. */
static struct result run_in_child(const char *tapname, uint32_t frame_len, bool strict)
{
	struct result res = { .gbit_s = -1 };
	int p[2];

	if (pipe(p) < 0)
		return res;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		res = run(tapname, 1500, frame_len, true, secs, BATCH, false, DROP_DST, strict);
		_exit(write(p[1], &res, sizeof(res)) == (ssize_t)sizeof(res) ? 0 : 1);
	}
	close(p[1]);
	if (pid < 0 || read(p[0], &res, sizeof(res)) != (ssize_t)sizeof(res))
		res.gbit_s = -1;
	close(p[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return res;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The TSO TX path with the kicking thread locked down as a vCPU thread
 * (issue 18) against the same path without, interleaved, each going
 * first in turn. */
static void bench_sandbox(uint32_t tso_len)
{
	enum { ROUNDS = 7 };
	double cpu_ratio[ROUNDS], tput_ratio[ROUNDS];

	printf("the TSO TX path, host.sandbox \"strict\" (vCPU thread filter) vs \"off\", "
	       "%d rounds:\n", ROUNDS);
	for (int r = 0; r < ROUNDS; r++) {
		char a[16], b[16];
		snprintf(a, sizeof(a), "mvs%da", r);
		snprintf(b, sizeof(b), "mvs%db", r);
		bool strict_first = r % 2;
		struct result x = run_in_child(a, tso_len, strict_first);
		struct result y = run_in_child(b, tso_len, !strict_first);
		struct result on = strict_first ? x : y, off = strict_first ? y : x;
		if (on.gbit_s <= 0 || off.gbit_s <= 0) {
			fprintf(stderr, "bench_net: sandbox: a round failed (strict %s)\n",
				on.gbit_s <= 0 ? "failed" : "ran");
			exit(1);
		}
		cpu_ratio[r] = on.cpu_s_per_gb / off.cpu_s_per_gb;
		tput_ratio[r] = off.gbit_s / on.gbit_s;
		printf("   round %d: off %6.2f Gbit/s %6.3f CPU s/GB   strict %6.2f Gbit/s "
		       "%6.3f CPU s/GB\n", r + 1, off.gbit_s, off.cpu_s_per_gb, on.gbit_s,
		       on.cpu_s_per_gb);
	}
	qsort(cpu_ratio, ROUNDS, sizeof(double), cmp_double);
	qsort(tput_ratio, ROUNDS, sizeof(double), cmp_double);
	printf("  strict / off (median of per-round ratios): %.3fx the CPU per GB, %.3fx the time "
	       "per GB (issue floor: < 1.02x)\n", cpu_ratio[ROUNDS / 2], tput_ratio[ROUNDS / 2]);
}

static void show(const char *what, struct result r)
{
	printf("  %-34s %7.2f Gbit/s  %7.3f CPU s/GB  %9.0f frames/s%s\n", what, r.gbit_s,
	       r.cpu_s_per_gb, r.frames_s, r.drops ? "  (DROPS!)" : "");
}

/*
 * RX: frames from the host into the guest through the plugin's own receive
 * side (rxloop.c on a modvm loop, netdev_rx.c), the driver posting
 * page-sized MRG_RXBUF buffers and recycling each as soon as it is used.
 *
 * The sender is a packet socket on the tap with PACKET_VNET_HDR, sending
 * 64 KiB TCP/IPv4 GSO packets to the guest.  It drives the tap's receive
 * side harder than any socket could: the packet goes straight to the
 * tap's queue discipline and transmit path (no IP stack, no routing), TCP
 * would need a peer in the guest to ACK (no cwnd growth without one), and
 * UDP cannot produce the TCPv4 GSO packets GUEST_TSO is about.  Not
 * PACKET_QDISC_BYPASS: the direct path drops any packet that would need
 * software segmentation, which is the case without GUEST_TSO.  With GUEST_TSO the tap has TSO and the 64 KiB packet reaches
 * the device whole; without it the kernel segments and checksums it in
 * software into mtu-sized frames before the tap, exactly what the host
 * does for a guest without the offload.  The send is synchronous (the
 * packet is in the tap's queue when sendto returns), so the bench sends
 * a burst that fits the tap's queue (500 frames), then runs the loop and
 * the driver until every frame is in guest buffers: nothing is dropped,
 * and CPU time is all the host's work for those frames, the sender's part
 * (including the kernel's segmentation) measured on its own.
 */
#define RXQ 128u	/* page-sized buffers: 512 KiB of the fake RAM */
#define RXBUF 4096u
#define RX_BURST 8u	/* 64 KiB packets per round: at most 360 frames in the tap */

struct rx_result {
	double gbit_s, cpu_s_per_gb, dev_s_per_gb, frames_s;
	uint64_t drops, lost;
};

static double thread_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct rx_result run_rx(const char *tapname, unsigned mtu, bool offload, double seconds)
{
	struct modvm_loop *loop = modvm__loop_new();
	struct tap *tap = NULL;
	struct rxloop *rl = NULL;
	struct ndrv d;
	struct vnet_hdr h;
	struct rx_result res = { 0 };
	static uint8_t pkt[NETDEV_FRAME_MAX];

	if (!loop || tap_open(tapname, 1, &tap) < 0 || tap_set_mtu(tap, mtu) < 0 ||
	    netns_sh("ip link set %s address 02:00:00:00:00:01", tapname) != 0 ||
	    tap_set_up(tap) < 0 || netns_sh("ip addr add 10.0.0.1/24 dev %s", tapname) != 0 ||
	    rxloop_create(loop, tap, 1, &rl) < 0) {
		fprintf(stderr, "bench_net: RX tap setup failed\n");
		exit(1);
	}
	struct netdev_config cfg = { .pairs = 1, .mtu = mtu, .csum = true, .tso = true,
				     .backend = rxloop_backend(rl),
				     .mac = { 0x52, 0x54, 0, 1, 2, 3 } };
	ndrv_init(&d, &cfg);
	if (rxloop_start(rl, d.nd) < 0) {
		fprintf(stderr, "bench_net: rxloop_start failed\n");
		exit(1);
	}
	uint64_t want = VNET_BIT(VNET_F_MRG_RXBUF);
	if (offload)
		want |= VNET_BIT(VNET_F_GUEST_CSUM) | VNET_BIT(VNET_F_GUEST_TSO4);
	ndrv_start(&d, want, 2, RXQ);

	/* Every descriptor is one buffer for good; the ring only moves heads. */
	uint64_t ring = DESC_GPA;	/* queue 0 (receiveq0) */
	for (unsigned i = 0; i < RXQ; i++)
		vdrv_set_desc(&d.v, ring, (uint16_t)i, ndrv_alloc(&d, RXBUF), RXBUF, F_WRITE, 0);
	uint16_t *avail_ring = (uint16_t *)gpa(&d.v, ring + 0x1000 + 4);
	uint16_t *avail_idx = (uint16_t *)gpa(&d.v, ring + 0x1000 + 2);
	uint16_t *used_idx = (uint16_t *)gpa(&d.v, ring + 0x2000 + 2);
	const uint32_t *used_ring = (const uint32_t *)gpa(&d.v, ring + 0x2000 + 4);
	uint16_t avail = 0, last_used = 0;
	for (; avail < RXQ; avail++)
		avail_ring[avail] = avail;
	__atomic_store_n(avail_idx, avail, __ATOMIC_RELEASE);
	kick_q(d.v.t, 0);

	/* A full 64 KiB packet of mss-sized segments, as a TSO sender makes. */
	uint16_t mss = (uint16_t)(mtu - 52);
	uint32_t nseg = (65535u - 40) / mss, len = 14 + 40 + nseg * mss;
	build_frame(pkt, len, mss, true, GIP, &h);
	uint64_t per_pkt = offload ? 1 : nseg;
	int ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);	/* protocol 0: sends only */
	int one = 1;
	if (ps < 0 || setsockopt(ps, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0) {
		perror("bench_net: packet socket");
		exit(1);
	}
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP),
				   .sll_ifindex = (int)if_nametoindex(tapname), .sll_halen = 6 };
	memcpy(sll.sll_addr, GMAC, 6);
	/* PACKET_VNET_HDR takes the 10-byte header without num_buffers. */
	struct iovec iov[2] = { { &h, 10 }, { pkt, len } };
	struct msghdr mh = { .msg_name = &sll, .msg_namelen = sizeof(sll), .msg_iov = iov,
			     .msg_iovlen = 2 };

	uint64_t expect = 0;
	struct netdev_counters nc;
	double send_cpu = 0, c0 = cpu(), t0 = now(), t;
	do {
		double s0 = thread_cpu();
		for (unsigned i = 0; i < RX_BURST; i++)
			if (sendmsg(ps, &mh, 0) != (ssize_t)(10 + len)) {
				perror("bench_net: RX sendmsg");
				exit(1);
			}
		send_cpu += thread_cpu() - s0;
		expect += RX_BURST * per_pkt;
		double deadline = now() + 1;
		for (;;) {
			modvm__loop_run_once(loop);
			uint16_t u = __atomic_load_n(used_idx, __ATOMIC_ACQUIRE);
			if (u != last_used) {
				for (; last_used != u; last_used++, avail++)
					avail_ring[avail % RXQ] =
						(uint16_t)used_ring[2 * (last_used % RXQ)];
				__atomic_store_n(avail_idx, avail, __ATOMIC_RELEASE);
				kick_q(d.v.t, 0);
			}
			netdev_get_counters(d.nd, 0, &nc);
			if (nc.rx_packets >= expect)
				break;
			if (now() > deadline) {
				/* Lost on the way (the tap's queue overflowed):
				 * count it, never wait for it again. */
				res.lost += expect - nc.rx_packets;
				expect = nc.rx_packets;
				break;
			}
		}
		t = now();
	} while (t - t0 < seconds);
	double c = cpu() - c0, wall = t - t0;

	netdev_get_counters(d.nd, 0, &nc);
	for (int r = 0; r < NETDEV_DROP_NR; r++)
		res.drops += nc.rx_drops[r];
	/* Whole 64 KiB packets or mss-sized frames, nothing else. */
	uint64_t frame = offload ? (uint64_t)len : 54u + mss;
	if (nc.rx_bytes != nc.rx_packets * frame) {
		fprintf(stderr, "bench_net: RX: %llu bytes in %llu frames, expected %llu-byte frames\n",
			(unsigned long long)nc.rx_bytes, (unsigned long long)nc.rx_packets,
			(unsigned long long)frame);
		exit(1);
	}
	double bytes = (double)nc.rx_bytes;
	res.gbit_s = bytes * 8 / wall / 1e9;
	res.cpu_s_per_gb = c / (bytes / 1e9);
	res.dev_s_per_gb = (c - send_cpu) / (bytes / 1e9);
	res.frames_s = (double)nc.rx_packets / wall;
	close(ps);
	rxloop_stop(rl);
	ndrv_fini(&d);
	rxloop_free(rl);
	tap_close(tap);
	modvm__loop_free(loop);
	return res;
}

static void show_rx(const char *what, struct rx_result r)
{
	printf("  %-34s %7.2f Gbit/s  %7.3f CPU s/GB  (device side %6.3f)  %9.0f frames/s%s\n",
	       what, r.gbit_s, r.cpu_s_per_gb, r.dev_s_per_gb, r.frames_s,
	       r.drops || r.lost ? "  (DROPS!)" : "");
}

static void bench(void);

/* The driver's setup helpers assert through Check, so the bench runs as one
 * Check test in this process (CK_NOFORK). */
START_TEST(test_bench)
{
	bench();
}
END_TEST

int main(int argc, char **argv)
{
	secs = argc > 1 ? atof(argv[1]) : 1.0;
	const char *why = netns_unavailable();

	if (secs <= 0 || secs > 60) {
		fprintf(stderr, "usage: bench_net [seconds per case, 0..60]\n");
		return 2;
	}
	if (why) {
		printf("bench_net: skipped: %s\n", why);
		return 77;
	}
	if (netns_enter() < 0) {
		fprintf(stderr, "bench_net: cannot enter a network namespace\n");
		return 1;
	}
	Suite *s = suite_create("bench_net");
	TCase *tc = tcase_create("bench");
	tcase_set_timeout(tc, 0);
	tcase_add_test(tc, test_bench);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_SILENT);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

static void bench(void)
{
	printf("virtio-net TX through the device model into a tap (%.1f s per case):\n", secs);
	const uint32_t tso_len = 14 + 40 + 45 * 1448;
	struct result small = run("mvb0", 1500, 1514, false, secs, BATCH, false, DROP_DST, false);
	struct result tso = run("mvb1", 1500, tso_len, true, secs, BATCH, false, DROP_DST, false);
	struct result jumbo = run("mvb2", 9000, 9014, false, secs, BATCH, false, DROP_DST, false);
	struct result one = run("mvb3", 1500, 1514, false, secs, 1, false, DROP_DST, false);
	struct result one_hop = run("mvb4", 1500, 1514, false, secs, 1, true, DROP_DST, false);
	/* The same frames forwarded out of a veth without TSO, GSO or checksum
	 * offload: the host kernel segments and checksums in software, as for
	 * an uplink without TSO. */
	if (netns_sh("ip link add va type veth peer name vb && ip link set va up && "
		     "ip link set vb up && ip addr add 10.0.1.1/24 dev va && "
		     "ip neigh add 10.0.1.2 lladdr 02:00:00:00:00:02 dev va nud permanent") != 0 ||
	    netns_ethtool("va", ETHTOOL_STSO, false) < 0 ||
	    netns_ethtool("va", ETHTOOL_SGSO, false) < 0 ||
	    netns_ethtool("va", ETHTOOL_STXCSUM, false) < 0 ||
	    netns_sysctl("net/ipv4/ip_forward", "1") < 0 ||
	    netns_sysctl("net/ipv4/conf/vb/forwarding", "0") < 0) {
		fprintf(stderr, "bench_net: veth setup failed\n");
		exit(1);
	}
	struct result fwd_small = run("mvb5", 1500, 1514, false, secs, BATCH, false, FWD_DST, false);
	struct result fwd_tso = run("mvb6", 1500, tso_len, true, secs, BATCH, false, FWD_DST, false);
	show("1514-byte frames, mtu 1500", small);
	show("64 KiB TSO segments, mtu 1500", tso);
	show("9014-byte frames, mtu 9000", jumbo);
	printf("  TSO vs 1500-byte frames: %.1fx the throughput, %.1fx less CPU per GB "
	       "(floor 3x: %s)\n", tso.gbit_s / small.gbit_s, small.cpu_s_per_gb / tso.cpu_s_per_gb,
	       small.cpu_s_per_gb / tso.cpu_s_per_gb >= 3 ? "met" : "NOT met");
	printf("  mtu 9000 vs 1500:        %.1fx the throughput, %.1fx less CPU per GB\n",
	       jumbo.gbit_s / small.gbit_s, small.cpu_s_per_gb / jumbo.cpu_s_per_gb);
	printf("forwarded to a veth without offloads (the kernel segments and checksums):\n");
	show("1514-byte frames", fwd_small);
	show("64 KiB TSO segments", fwd_tso);
	printf("  TSO vs 1500-byte frames: %.1fx the throughput, %.1fx less CPU per GB\n",
	       fwd_tso.gbit_s / fwd_small.gbit_s, fwd_small.cpu_s_per_gb / fwd_tso.cpu_s_per_gb);
	printf("where TX runs, one 1514-byte frame per kick:\n");
	show("on the kicking thread (vCPU)", one);
	show("handed to another thread (loop)", one_hop);
	printf("  the hop costs %.1fx the CPU per frame: TX stays on the vCPU thread\n",
	       one_hop.cpu_s_per_gb / one.cpu_s_per_gb);

	bench_sandbox(tso_len);

	printf("virtio-net RX from a tap into guest buffers (%.1f s per case, MRG_RXBUF, "
	       "4 KiB buffers):\n", secs);
	struct rx_result rx_small = run_rx("mvr0", 1500, false, secs);
	struct rx_result rx_tso = run_rx("mvr1", 1500, true, secs);
	struct rx_result rx_jumbo = run_rx("mvr2", 9000, false, secs);
	struct rx_result rx_jumbo_tso = run_rx("mvr3", 9000, true, secs);
	show_rx("1514-byte frames, mtu 1500", rx_small);
	show_rx("64 KiB GUEST_TSO segments, mtu 1500", rx_tso);
	show_rx("9014-byte frames, mtu 9000", rx_jumbo);
	show_rx("64 KiB GUEST_TSO segments, mtu 9000", rx_jumbo_tso);
	printf("  GUEST_TSO vs 1500-byte frames: %.1fx the throughput, %.1fx less CPU per GB "
	       "(device side %.1fx)\n", rx_tso.gbit_s / rx_small.gbit_s,
	       rx_small.cpu_s_per_gb / rx_tso.cpu_s_per_gb,
	       rx_small.dev_s_per_gb / rx_tso.dev_s_per_gb);
	printf("  mtu 9000 vs 1500:              %.1fx the throughput, %.1fx less CPU per GB "
	       "(device side %.1fx)\n", rx_jumbo.gbit_s / rx_small.gbit_s,
	       rx_small.cpu_s_per_gb / rx_jumbo.cpu_s_per_gb,
	       rx_small.dev_s_per_gb / rx_jumbo.dev_s_per_gb);
	printf("  GUEST_TSO vs 9000-byte frames: %.1fx the throughput, %.1fx less CPU per GB "
	       "(device side %.1fx)\n", rx_jumbo_tso.gbit_s / rx_jumbo.gbit_s,
	       rx_jumbo.cpu_s_per_gb / rx_jumbo_tso.cpu_s_per_gb,
	       rx_jumbo.dev_s_per_gb / rx_jumbo_tso.dev_s_per_gb);
	fflush(stdout);
}
