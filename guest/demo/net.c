/*
 * A virtio-net driver (virtio 1.2, 5.1) for the demo guest, just enough to
 * prove frames go both ways through a running VM: with
 * "modvm.demo.net=GUEST_IP,PEER_IP" it asks who has PEER_IP (ARP), then
 * pings it (ICMP echo) and prints what came back.  No offloads, one queue
 * pair, no merged buffers: every frame is the 12-byte virtio 1 header and
 * the Ethernet frame.  Waits sleep in HLT between interrupts.
 */
#include "demo.h"

#define F_MAC 5
#define HDR 12			/* struct virtio_net_hdr with num_buffers (VERSION_1) */
#define RX_BUFS 4
#define BUF 2048
#define MAX_WAKEUPS 2000	/* bounded: a silent peer must not hang the demo for ever */

enum { Q_RX, Q_TX };

static struct vq rxq, txq;
static uint8_t rxbuf[RX_BUFS][BUF] __attribute__((aligned(16)));
static uint8_t txbuf[BUF] __attribute__((aligned(16)));
static uint8_t *rx_slot[QSIZE];	/* which buffer each descriptor slot holds */
static uint8_t mac[6], peer_mac[6];
static uint8_t ip[4], peer_ip[4];

static const char *parse_ip(const char *p, uint8_t out[4])
{
	for (int i = 0; i < 4; i++) {
		unsigned v = 0;
		while (*p >= '0' && *p <= '9')
			v = v * 10 + (unsigned)(*p++ - '0');
		out[i] = (uint8_t)v;
		if (i < 3 && *p++ != '.')
			return NULL;
	}
	return p;
}

static void put_ip(const uint8_t a[4])
{
	for (int i = 0; i < 4; i++) {
		put_dec(a[i]);
		if (i < 3)
			putc_serial('.');
	}
}

static void put_mac(const uint8_t m[6])
{
	for (int i = 0; i < 6; i++) {
		put_hex(m[i], 2);
		if (i < 5)
			putc_serial(':');
	}
}

static void copy(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	while (n--)
		*d++ = *s++;
}

static bool same(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	while (n--)
		if (*x++ != *y++)
			return false;
	return true;
}

static void be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Queues one frame of @len bytes (already in txbuf after the header). */
static void send(size_t len)
{
	for (int i = 0; i < HDR; i++)
		txbuf[i] = 0;
	vq_add1(&txq, txbuf, (uint32_t)(HDR + len), false);
}

static void send_arp_request(void)
{
	uint8_t *f = txbuf + HDR;
	for (int i = 0; i < 6; i++)
		f[i] = 0xff;
	copy(f + 6, mac, 6);
	be16(f + 12, 0x0806);
	uint8_t *a = f + 14;
	be16(a, 1);		/* Ethernet */
	be16(a + 2, 0x0800);	/* IPv4 */
	a[4] = 6;
	a[5] = 4;
	be16(a + 6, 1);		/* request */
	copy(a + 8, mac, 6);
	copy(a + 14, ip, 4);
	for (int i = 0; i < 6; i++)
		a[18 + i] = 0;
	copy(a + 24, peer_ip, 4);
	send(14 + 28);
}

#define PING_DATA 32

static void send_echo_request(void)
{
	uint8_t *f = txbuf + HDR;
	copy(f, peer_mac, 6);
	copy(f + 6, mac, 6);
	be16(f + 12, 0x0800);
	uint8_t *iph = f + 14, *icmp = iph + 20;
	size_t total = 20 + 8 + PING_DATA;
	iph[0] = 0x45;
	iph[1] = 0;
	be16(iph + 2, (uint16_t)total);
	be16(iph + 4, 1);	/* id */
	be16(iph + 6, 0x4000);	/* DF */
	iph[8] = 64;
	iph[9] = 1;		/* ICMP */
	be16(iph + 10, 0);
	copy(iph + 12, ip, 4);
	copy(iph + 16, peer_ip, 4);
	be16(iph + 10, csum(iph, 20));
	icmp[0] = 8;		/* echo request */
	icmp[1] = 0;
	be16(icmp + 2, 0);
	be16(icmp + 4, 0x6d76);	/* "mv" */
	be16(icmp + 6, 1);
	for (int i = 0; i < PING_DATA; i++)
		icmp[8 + i] = (uint8_t)('a' + i % 26);
	be16(icmp + 2, csum(icmp, 8 + PING_DATA));
	send(14 + total);
}

/* What a received frame was, for the waits below. */
enum got { GOT_OTHER, GOT_ARP_REPLY, GOT_ECHO_REPLY };

static enum got classify(const uint8_t *f, uint32_t len)
{
	if (len >= 14 + 28 && f[12] == 0x08 && f[13] == 0x06) {
		const uint8_t *a = f + 14;
		if (a[6] == 0 && a[7] == 2 && same(a + 14, peer_ip, 4) && same(a + 24, ip, 4)) {
			copy(peer_mac, a + 8, 6);
			return GOT_ARP_REPLY;
		}
	}
	if (len >= 14 + 20 + 8 && f[12] == 0x08 && f[13] == 0x00) {
		const uint8_t *iph = f + 14;
		uint32_t ihl = (uint32_t)(iph[0] & 0x0f) * 4;
		if (ihl < 20 || 14 + ihl + 8 > len)
			return GOT_OTHER;
		const uint8_t *icmp = iph + ihl;
		if (iph[9] == 1 && same(iph + 12, peer_ip, 4) && icmp[0] == 0 &&
		    csum(icmp, len - 14 - ihl) == 0)
			return GOT_ECHO_REPLY;
	}
	return GOT_OTHER;
}

static void post_rx(uint8_t *b)
{
	rx_slot[rxq.avail.idx % QSIZE] = b;
	vq_add1(&rxq, b, BUF, true);
}

/* Sleeps until a frame of kind @want arrives; false after MAX_WAKEUPS. */
static bool wait_for(uint64_t base, enum got want)
{
	for (int wakeups = 0; wakeups < MAX_WAKEUPS; wakeups++) {
		uint32_t s = mmio_read32(base + VM_INT_STATUS);
		if (s)
			mmio_write32(base + VM_INT_ACK, s);
		while (vq_take_used(&txq))
			;
		while (rxq.seen != *(volatile uint16_t *)&rxq.used.idx) {
			struct vring_used_elem e = rxq.used.ring[rxq.seen % QSIZE];
			rxq.seen++;
			uint8_t *b = rx_slot[e.id % QSIZE];
			if (!b)
				continue;	/* a device naming a slot we never filled */
			uint32_t len = e.len < BUF ? e.len : BUF;
			enum got g = len > HDR ? classify(b + HDR, len - HDR) : GOT_OTHER;
			post_rx(b);
			if (g == want)
				return true;
		}
		wait_for_interrupt();
	}
	return false;
}

void drive_net(uint64_t base, uint32_t irq, const char *cmdline)
{
	const char *v = cmdline_value(cmdline, "modvm.demo.net");
	if (!v || !(v = parse_ip(v, ip)) || *v++ != ',' || !parse_ip(v, peer_ip))
		return;
	if (!virtio_negotiate(base, 1u << F_MAC, "  virtio-net") || !vq_setup(base, Q_RX, &rxq) ||
	    !vq_setup(base, Q_TX, &txq)) {
		mmio_write32(base + VM_STATUS, S_FAILED);
		puts_serial("  virtio-net: setup refused\n");
		return;
	}
	irq_init(irq);
	mmio_write32(base + VM_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	for (int i = 0; i < 6; i++)
		mac[i] = mmio_read8(base + VM_CONFIG + (uint64_t)i);
	for (int i = 0; i < RX_BUFS; i++)
		post_rx(rxbuf[i]);

	puts_serial("demo-net: ");
	put_mac(mac);
	puts_serial(" ");
	put_ip(ip);
	puts_serial(" asks who has ");
	put_ip(peer_ip);
	putc_serial('\n');
	send_arp_request();
	if (!wait_for(base, GOT_ARP_REPLY)) {
		puts_serial("demo-net: no ARP reply\n");
		goto out;
	}
	puts_serial("demo-net: ");
	put_ip(peer_ip);
	puts_serial(" is at ");
	put_mac(peer_mac);
	putc_serial('\n');
	send_echo_request();
	if (!wait_for(base, GOT_ECHO_REPLY)) {
		puts_serial("demo-net: no echo reply\n");
		goto out;
	}
	puts_serial("demo-net: echo reply from ");
	put_ip(peer_ip);
	puts_serial(", 32 bytes\n");
out:
	mmio_write32(base + VM_STATUS, 0);	/* reset: leave the device as we found it */
}
