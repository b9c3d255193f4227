/*
 * virtio-net under concurrency, the way a Linux guest drives it: a driver
 * thread with RING_EVENT_IDX and MRG_RXBUF behaving like virtio_net's NAPI
 * (interrupts off while it polls, used_event re-armed with a re-check,
 * buffers re-posted with a kick only when avail_event asks for one) and a
 * device thread doing what net-vmq's loop does (poll the back end, stop
 * when the guest has no buffers, resume on the wake its kick sends), and
 * in the same run a TX driver thread kicking from a second "vCPU".  Every
 * frame must arrive, in order and intact, and no side may wait for the
 * other for long: a lost kick, a lost interrupt or a lost wake stalls the
 * run, which then fails naming the state each side was in.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ndrv.h"

#define F(b) VNET_BIT(VNET_F_##b)
#define NUM 256u		/* ring size of each queue */
#define BUF 2048u		/* one RX buffer (MRG_RXBUF: frames span several) */
#define FRAMES 60000u		/* RX frames per run */
#define TX_FRAMES 20000u
#define STALL_MS 3000		/* no progress this long: a lost notification */

static struct ndrv d;

/* ---- the "interrupt" and the device's wake ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static unsigned irqs, wakes;	/* under mu */

static void raise_irq(void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&mu);
	irqs++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* ---- the back end: numbered frames of varying length ---- */

static unsigned produced, tx_seen;	/* atomic */
static bool tx_bad;

static size_t frame_len(unsigned seq)
{
	return 60 + (seq * 2654435761u) % 9000;	/* up to MTU 9000 + header */
}

static ssize_t be_rx(void *ctx, unsigned pair, void *buf, size_t len)
{
	(void)ctx;
	(void)pair;
	unsigned seq = __atomic_load_n(&produced, __ATOMIC_RELAXED);
	if (seq >= FRAMES)
		return -EAGAIN;
	size_t n = frame_len(seq);
	ck_assert_uint_ge(len, VNET_HDR_LEN + n);
	uint8_t *p = buf;
	memset(p, 0, VNET_HDR_LEN);
	p += VNET_HDR_LEN;
	memset(p, 0xff, 12);
	p[12] = 0x08;
	p[13] = 0x00;
	memcpy(p + 14, &seq, 4);
	for (size_t i = 18; i < n; i++)
		p[i] = (uint8_t)(seq + i);
	__atomic_store_n(&produced, seq + 1, __ATOMIC_RELAXED);
	return (ssize_t)(VNET_HDR_LEN + n);
}

static ssize_t be_tx(void *ctx, unsigned pair, const struct iovec *iov, int cnt)
{
	(void)ctx;
	(void)pair;
	/* header, then the frame whose bytes 14..17 carry its number */
	unsigned seq;
	if (cnt < 2 || iov[1].iov_len < 18)
		tx_bad = true;
	else {
		memcpy(&seq, (uint8_t *)iov[1].iov_base + 14, 4);
		if (seq != __atomic_load_n(&tx_seen, __ATOMIC_RELAXED))
			tx_bad = true;
	}
	__atomic_add_fetch(&tx_seen, 1, __ATOMIC_RELAXED);
	return 0;
}

static int be_set_offloads(void *ctx, unsigned flags)
{
	(void)ctx;
	(void)flags;
	return 0;
}

static void be_set_pairs(void *ctx, unsigned active)
{
	(void)ctx;
	(void)active;
}

static void be_rx_wake(void *ctx, unsigned pair)
{
	(void)ctx;
	(void)pair;
	pthread_mutex_lock(&mu);
	wakes++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* ---- the driver's side of a queue (ndrv's rings) ---- */

struct drv_q {
	unsigned q;
	uint16_t added;		/* since the last kick decision */
	uint64_t kicks;
};

static void add(struct drv_q *s, uint16_t head)
{
	ndrv_repost(&d, s->q, head);
	s->added++;
}

/* Kicks only when avail_event asks for it, as Linux's driver does. */
static void kick_if_asked(struct drv_q *s)
{
	uint16_t old = (uint16_t)(d.q[s->q].avail_idx - s->added);

	s->added = 0;
	if (ndrv_kick_needed(&d, s->q, old)) {
		s->kicks++;
		ndrv_kick(&d, s->q);
	}
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Waits up to @ms for *@counter to move past @seen; false on timeout. */
static bool wait_past(unsigned *counter, unsigned seen, int ms)
{
	struct timespec dl;
	bool moved;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_nsec += (long)(ms % 1000) * 1000000L;
	dl.tv_sec += ms / 1000 + dl.tv_nsec / 1000000000L;
	dl.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&mu);
	while (*counter == seen && pthread_cond_timedwait(&cv, &mu, &dl) != ETIMEDOUT)
		;
	moved = *counter != seen;
	pthread_mutex_unlock(&mu);
	return moved;
}

static unsigned load(unsigned *c)
{
	pthread_mutex_lock(&mu);
	unsigned x = *c;
	pthread_mutex_unlock(&mu);
	return x;
}

/* ---- the device's loop thread (what rxloop.c does) ---- */

static bool dev_done;
static char dev_err[256];

static void *device(void *arg)
{
	(void)arg;
	double last = now_ms();
	unsigned was = 0;

	while (!__atomic_load_n(&dev_done, __ATOMIC_ACQUIRE)) {
		unsigned w = load(&wakes);
		int r = netdev_rx_poll(d.nd, 0, 64);
		ck_assert_int_ge(r, 0);
		unsigned p = __atomic_load_n(&produced, __ATOMIC_RELAXED);
		if (p != was) {
			was = p;
			last = now_ms();
		}
		if (r == NETDEV_RX_STALLED) {
			/* watcher off until the guest's kick wakes us */
			if (!wait_past(&wakes, w, STALL_MS) &&
			    !__atomic_load_n(&dev_done, __ATOMIC_ACQUIRE)) {
				snprintf(dev_err, sizeof(dev_err),
					 "device: waited %d ms for a wake after frame %u", STALL_MS,
					 p);
				return NULL;
			}
		} else if (p >= FRAMES) {
			usleep(1000);	/* drained; the driver ends the run */
		} else if (now_ms() - last > STALL_MS) {
			snprintf(dev_err, sizeof(dev_err), "device: no progress at frame %u", p);
			return NULL;
		}
	}
	return NULL;
}

/* ---- the TX driver, a second vCPU ---- */

static struct drv_q txq = { .q = 1 };
static char tx_err[256];

static void *tx_driver(void *arg)
{
	(void)arg;
	uint64_t base = NDRV_DATA_GPA + NUM * BUF;	/* after the RX buffers */
	unsigned sent = 0, inflight = 0;
	double last = now_ms();

	for (unsigned i = 0; i < NUM; i++) {
		struct ndrv_seg seg = { .gpa = base + (uint64_t)i * 64, .len = 64 };
		ndrv_set_desc(&d, 1, (uint16_t)i, &seg);
	}
	while (sent < TX_FRAMES || inflight) {
		uint32_t id, len;
		unsigned seen = load(&irqs);
		while (ndrv_used(&d, 1, &id, &len)) {
			inflight--;
			last = now_ms();
		}
		unsigned batch = 0;
		while (sent < TX_FRAMES && inflight < NUM && batch < 32) {
			uint16_t head = (uint16_t)(sent % NUM);
			uint8_t *p = gpa(&d.v, base + (uint64_t)head * 64);
			memset(p, 0, 64);
			p[VNET_HDR_LEN + 12] = 0x08;
			memcpy(p + VNET_HDR_LEN + 14, &sent, 4);
			add(&txq, head);
			sent++;
			inflight++;
			batch++;
		}
		if (batch)
			kick_if_asked(&txq);
		if (inflight == NUM || (sent == TX_FRAMES && inflight)) {
			/* queue full: ask for an interrupt at the next used
			 * entry, re-check, then wait for it */
			uint16_t last = d.q[1].last_used;
			ndrv_set_used_event(&d, 1, last);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (ndrv_used_idx(&d, 1) == last && !wait_past(&irqs, seen, STALL_MS) &&
			    ndrv_used_idx(&d, 1) == last) {
				snprintf(tx_err, sizeof(tx_err),
					 "tx: %u in flight, none back for %d ms (sent %u, kicks %lu)",
					 inflight, STALL_MS, sent, (unsigned long)txq.kicks);
				return NULL;
			}
		}
		if (now_ms() - last > 10.0 * STALL_MS) {
			snprintf(tx_err, sizeof(tx_err), "tx: no progress (sent %u)", sent);
			return NULL;
		}
	}
	return NULL;
}

START_TEST(test_rx_tx_concurrent_event_idx)
{
	struct netdev_config cfg = { .pairs = 1, .mtu = 9000, .csum = true, .tso = true };
	struct ndrv_opts o = { .name = "virtio-net-race", .raise_irq = raise_irq };
	struct drv_q rxq = { .q = 0 };
	static uint8_t frame[NETDEV_FRAME_MAX];

	cfg.backend = (struct netdev_backend){ .rx = be_rx, .tx = be_tx,
					       .set_offloads = be_set_offloads,
					       .set_pairs = be_set_pairs, .rx_wake = be_rx_wake };
	ndrv_init_opts(&d, &cfg, &o);
	ndrv_start(&d, EVENT_IDX | F(MRG_RXBUF) | F(MTU), 2, NUM);
	ck_assert_int_eq(RAM_SIZE >= NDRV_DATA_GPA + NUM * BUF + NUM * 64, 1);

	/* RX buffers: descriptor i is buffer i, for good */
	for (unsigned i = 0; i < NUM; i++) {
		struct ndrv_seg seg = { .gpa = NDRV_DATA_GPA + (uint64_t)i * BUF, .len = BUF,
					.write = true };
		ndrv_set_desc(&d, 0, (uint16_t)i, &seg);
		add(&rxq, (uint16_t)i);
	}
	kick_if_asked(&rxq);

	pthread_t dt, tt;
	ck_assert_int_eq(pthread_create(&dt, NULL, device, NULL), 0);
	ck_assert_int_eq(pthread_create(&tt, NULL, tx_driver, NULL), 0);

	/* The RX driver: NAPI-like polling of the used ring. */
	unsigned next = 0, naps = 0;
	char err[512] = "";
	while (next < FRAMES && !*err) {
		unsigned seen = load(&irqs);
		ndrv_set_used_event(&d, 0, 0);	/* virtqueue_disable_cb */
		uint32_t id, len;
		unsigned got = 0;
		while (next < FRAMES && ndrv_used(&d, 0, &id, &len)) {
			/* a frame: its header says how many buffers */
			ck_assert_uint_lt(id, NUM);
			const uint8_t *b = gpa(&d.v, NDRV_DATA_GPA + (uint64_t)id * BUF);
			uint16_t nb;
			memcpy(&nb, b + 10, 2);
			ck_assert_uint_ge(len, VNET_HDR_LEN);
			size_t off = len - VNET_HDR_LEN;
			memcpy(frame, b + VNET_HDR_LEN, off);
			add(&rxq, (uint16_t)id);
			for (unsigned k = 1; k < nb; k++) {
				double t0 = now_ms();
				while (!ndrv_used(&d, 0, &id, &len)) {
					ck_assert_msg(now_ms() - t0 < STALL_MS,
						      "frame %u: buffer %u of %u never came", next, k,
						      nb);
				}
				memcpy(frame + off, gpa(&d.v, NDRV_DATA_GPA + (uint64_t)id * BUF), len);
				off += len;
				add(&rxq, (uint16_t)id);
			}
			ck_assert_uint_eq(off, frame_len(next));
			unsigned seq;
			memcpy(&seq, frame + 14, 4);
			ck_assert_uint_eq(seq, next);
			ck_assert_uint_eq(frame[off - 1], (uint8_t)(next + off - 1));
			next++;
			got++;
		}
		if (rxq.added)
			kick_if_asked(&rxq);
		if (next >= FRAMES)
			break;
		/* virtqueue_enable_cb_prepare + virtqueue_poll */
		uint16_t last = d.q[0].last_used;
		ndrv_set_used_event(&d, 0, last);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (ndrv_used_idx(&d, 0) != last)
			continue;
		naps++;
		if (!wait_past(&irqs, seen, STALL_MS) && ndrv_used_idx(&d, 0) == last)
			snprintf(err, sizeof(err),
				 "rx: no interrupt for %d ms after frame %u (produced %u, avail %u, "
				 "kicks %lu, wakes %u; %s)",
				 STALL_MS, next, __atomic_load_n(&produced, __ATOMIC_RELAXED),
				 d.q[0].avail_idx, (unsigned long)rxq.kicks, load(&wakes), dev_err);
	}
	__atomic_store_n(&dev_done, true, __ATOMIC_RELEASE);
	be_rx_wake(NULL, 0);
	pthread_join(dt, NULL);
	pthread_join(tt, NULL);
	ck_assert_msg(!*err, "%s", err);
	ck_assert_msg(!*dev_err, "%s", dev_err);
	ck_assert_msg(!*tx_err, "%s", tx_err);
	ck_assert_uint_eq(next, FRAMES);
	ck_assert_uint_eq(__atomic_load_n(&tx_seen, __ATOMIC_RELAXED), TX_FRAMES);
	ck_assert(!tx_bad);
	struct netdev_counters c;
	netdev_get_counters(d.nd, 0, &c);
	ck_assert_uint_eq(c.rx_packets, FRAMES);
	ck_assert_uint_eq(c.tx_packets, TX_FRAMES);
	/* the run had to wait for buffers and interrupts, or it proved little */
	ck_assert_uint_gt(c.rx_stalls, 0);
	ck_assert_uint_gt(naps, 0);
	ndrv_fini(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("net-race");
	TCase *tc = tcase_create("race");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_rx_tx_concurrent_event_idx);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
