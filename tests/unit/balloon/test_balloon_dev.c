/*
 * virtio-balloon device tests through the qtest-style driver (bdrv.c):
 * what an inflate gives back is measured as the Rss of the fake RAM's
 * mapping in /proc/self/smaps, the host's own view.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bdrv.h"
#include "event/event.h"

#define F(bit) MODVM_VIRTIO_FEATURE(bit)
#define ALL_F (F(BALLOON_F_MUST_TELL_HOST) | F(BALLOON_F_STATS_VQ) | \
	       F(BALLOON_F_DEFLATE_ON_OOM) | F(BALLOON_F_REPORTING))
#define RAM (32u << 20)
#define PAGE BALLOON_PAGE_SIZE
#define PFN0 (BDRV_PAGES_GPA / PAGE)

static struct bdrv d;

static void start(bool shared, uint64_t want)
{
	bdrv_init(&d, RAM, shared);
	ck_assert_uint_ne(bdrv_start(&d, want) & MODVM_VIRTIO_STATUS_DRIVER_OK, 0);
}

static void touch(uint32_t pfn, uint32_t n, uint8_t byte)
{
	memset(bdrv_gpa(&d, (uint64_t)pfn * PAGE), byte, (size_t)n * PAGE);
}

static struct balloon_counters counters(void)
{
	struct balloon_counters c;
	balloon_dev_get_counters(d.b, &c);
	return c;
}

START_TEST(test_identity)
{
	bdrv_init(&d, RAM, false);
	uint32_t id = 0;
	modvm_virtio_mmio_access(d.t, MODVM_VIRTIO_MMIO_DEVICE_ID, (uint8_t *)&id, 4, false);
	ck_assert_uint_eq(id, MODVM_VIRTIO_ID_BALLOON);
	ck_assert_uint_ne(bdrv_start(&d, ALL_F) & MODVM_VIRTIO_STATUS_FEATURES_OK, 0);
	ck_assert_uint_eq(d.features & ALL_F, ALL_F);
	ck_assert_int_eq(d.qidx[BALLOON_Q_REPORTING], 3);
	bdrv_fini(&d);
}
END_TEST

/* Inflate N pages (in a shuffled order) → Rss drops by exactly N pages. */
static void inflate_drops_rss(bool shared)
{
	enum { N = 512 };
	uint32_t pfn[N];

	start(shared, ALL_F);
	touch(PFN0, N + 64, 0xab);
	size_t before = bdrv_rss(d.ram);
	ck_assert_uint_ge(before, (size_t)(N + 64) * PAGE);
	for (uint32_t i = 0; i < N; i++)
		pfn[i] = PFN0 + (i * 37u) % N;	/* a permutation: 37 and 512 coprime */
	ck_assert(bdrv_pfns(&d, BALLOON_Q_INFLATE, pfn, N));
	size_t after = bdrv_rss(d.ram);
	ck_assert_uint_eq(before - after, (size_t)N * PAGE);
	struct balloon_counters c = counters();
	ck_assert_uint_eq(c.inflated_pages, N);
	ck_assert_uint_eq(c.released_bytes, (uint64_t)N * PAGE);
	ck_assert_uint_eq(c.madvise_calls, 1);	/* sorted into one run */
	ck_assert_uint_eq(c.bad_pfns, 0);
	/* The pages after the ballooned ones kept their contents. */
	ck_assert_uint_eq(*bdrv_gpa(&d, (uint64_t)(PFN0 + N) * PAGE), 0xab);

	/* Deflate: the guest may use them again; writing brings Rss back. */
	ck_assert(bdrv_pfns(&d, BALLOON_Q_DEFLATE, pfn, N));
	ck_assert_uint_eq(counters().deflated_pages, N);
	ck_assert_uint_eq(*bdrv_gpa(&d, (uint64_t)PFN0 * PAGE), 0);	/* given back empty */
	touch(PFN0, N, 0xcd);
	ck_assert_uint_eq(bdrv_rss(d.ram), before);
	ck_assert_uint_eq(*bdrv_gpa(&d, (uint64_t)(PFN0 + N - 1) * PAGE), 0xcd);
	bdrv_fini(&d);
}

START_TEST(test_inflate_private)
{
	inflate_drops_rss(false);
}
END_TEST

START_TEST(test_inflate_shared)
{
	inflate_drops_rss(true);	/* the VM runtime's RAM: MADV_REMOVE */
}
END_TEST

START_TEST(test_bad_pfns)
{
	uint32_t pfn[] = { PFN0, RAM / PAGE, PFN0 + 1, 0xffffffffu, RAM / PAGE - 1 };

	start(false, ALL_F);
	touch(PFN0, 2, 1);
	touch(RAM / PAGE - 1, 1, 1);
	size_t before = bdrv_rss(d.ram);
	ck_assert(bdrv_pfns(&d, BALLOON_Q_INFLATE, pfn, 5));
	struct balloon_counters c = counters();
	ck_assert_uint_eq(c.bad_pfns, 2);
	ck_assert_uint_eq(c.inflated_pages, 3);
	ck_assert_uint_eq(before - bdrv_rss(d.ram), 3u * PAGE);
	ck_assert(bdrv_pfns(&d, BALLOON_Q_DEFLATE, pfn, 5));
	ck_assert_uint_eq(counters().bad_pfns, 4);
	ck_assert_uint_eq(counters().deflated_pages, 3);
	bdrv_fini(&d);
}
END_TEST

/* What the guest has given is what it sent, not what it writes in
 * `actual`: a guest claiming a balloon it never filled gets no credit. */
START_TEST(test_given_is_what_was_sent)
{
	uint32_t pfn[8];

	start(false, ALL_F);
	bdrv_cfg_write(&d, 4, 4000);	/* claims 4000 pages, sent none */
	ck_assert_uint_eq(balloon_dev_actual(d.b), 4000);
	ck_assert_uint_eq(balloon_dev_given(d.b), 0);
	for (uint32_t i = 0; i < 8; i++)
		pfn[i] = PFN0 + i;
	touch(PFN0, 8, 1);
	ck_assert(bdrv_pfns(&d, BALLOON_Q_INFLATE, pfn, 8));
	ck_assert_uint_eq(balloon_dev_given(d.b), 8);
	bdrv_cfg_write(&d, 4, 6);	/* an honest driver says less than it sent */
	ck_assert_uint_eq(balloon_dev_given(d.b), 6);
	bdrv_cfg_write(&d, 4, 8);
	ck_assert(bdrv_pfns(&d, BALLOON_Q_DEFLATE, pfn, 3));
	ck_assert_uint_eq(balloon_dev_given(d.b), 5);
	/* deflating more than was ever inflated stops at nothing */
	ck_assert(bdrv_pfns(&d, BALLOON_Q_DEFLATE, pfn, 8));
	ck_assert(bdrv_pfns(&d, BALLOON_Q_DEFLATE, pfn, 8));
	ck_assert_uint_eq(balloon_dev_given(d.b), 0);
	ck_assert(bdrv_pfns(&d, BALLOON_Q_INFLATE, pfn, 2));
	ck_assert_uint_eq(balloon_dev_given(d.b), 2);
	bdrv_fini(&d);
}
END_TEST

START_TEST(test_malformed_pfn_buffers)
{
	uint32_t id, len;

	start(false, ALL_F);
	touch(PFN0, 4, 1);
	size_t before = bdrv_rss(d.ram);
	/* 6 bytes: one and a half page numbers. */
	uint64_t buf = bdrv_alloc(&d, 8);
	uint32_t pfns[2] = { PFN0, PFN0 + 1 };
	memcpy(bdrv_gpa(&d, buf), pfns, 8);
	struct bdrv_seg odd = { .gpa = buf, .len = 6 };
	bdrv_post(&d, BALLOON_Q_INFLATE, &odd, 1);
	/* Two segments of 2 bytes each: 4 in total, but split inside a PFN. */
	struct bdrv_seg split[2] = { { .gpa = buf, .len = 2 }, { .gpa = buf + 2, .len = 2 } };
	bdrv_post(&d, BALLOON_Q_INFLATE, split, 2);
	/* A device-writable buffer on the inflate queue. */
	struct bdrv_seg wr = { .gpa = buf, .len = 8, .write = true };
	bdrv_post(&d, BALLOON_Q_INFLATE, &wr, 1);
	/* More page numbers than any driver sends in one buffer. */
	struct bdrv_seg big = { .gpa = BDRV_PAGES_GPA, .len = BALLOON_PFN_CHAIN_MAX + 4 };
	bdrv_post(&d, BALLOON_Q_INFLATE, &big, 1);
	bdrv_kick(&d, BALLOON_Q_INFLATE);
	for (int i = 0; i < 4; i++)
		ck_assert(bdrv_get_used(&d, BALLOON_Q_INFLATE, &id, &len));
	struct balloon_counters c = counters();
	ck_assert_uint_eq(c.bad_requests, 4);
	ck_assert_uint_eq(c.inflated_pages, 0);
	ck_assert_uint_eq(c.madvise_calls, 0);
	ck_assert_uint_eq(bdrv_rss(d.ram), before);
	bdrv_fini(&d);
}
END_TEST

static void put_stat(uint8_t *p, uint16_t tag, uint64_t val)
{
	memcpy(p, &tag, 2);
	memcpy(p + 2, &val, 8);
}

START_TEST(test_stats)
{
	struct balloon_guest_stats st;
	uint32_t id, len;

	start(false, ALL_F);
	ck_assert(!balloon_dev_request_stats(d.b));	/* nothing held yet */
	uint64_t buf = bdrv_alloc(&d, 17 * BALLOON_STAT_SIZE);
	uint8_t *p = bdrv_gpa(&d, buf);
	for (uint16_t t = 0; t < BALLOON_S_NR; t++)
		put_stat(p + t * BALLOON_STAT_SIZE, t, 1000u + t);
	put_stat(p + 16 * BALLOON_STAT_SIZE, 99, 7);	/* unknown: ignored */
	struct bdrv_seg s = { .gpa = buf, .len = 17 * BALLOON_STAT_SIZE };
	bdrv_post(&d, BALLOON_Q_STATS, &s, 1);
	bdrv_kick(&d, BALLOON_Q_STATS);
	ck_assert(!bdrv_get_used(&d, BALLOON_Q_STATS, &id, &len));	/* held */
	balloon_dev_get_stats(d.b, &st);
	ck_assert_uint_eq(st.generation, 1);
	ck_assert_uint_eq(st.present, 0xffffu);
	ck_assert_uint_eq(st.val[BALLOON_S_MEMTOT], 1005);
	ck_assert_uint_eq(st.val[BALLOON_S_AVAIL], 1006);
	ck_assert_uint_eq(st.val[BALLOON_S_DIRECT_RECLAIM], 1015);

	/* The host asks for fresh numbers: the buffer goes back... */
	ck_assert(balloon_dev_request_stats(d.b));
	ck_assert(bdrv_get_used(&d, BALLOON_Q_STATS, &id, &len));
	ck_assert_uint_eq(len, 0);
	/* ...and the driver refills it with only two tags. */
	put_stat(p, BALLOON_S_MEMFREE, 4096);
	put_stat(p + BALLOON_STAT_SIZE, BALLOON_S_MEMTOT, 8192);
	s.len = 2 * BALLOON_STAT_SIZE;
	bdrv_post(&d, BALLOON_Q_STATS, &s, 1);
	bdrv_kick(&d, BALLOON_Q_STATS);
	balloon_dev_get_stats(d.b, &st);
	ck_assert_uint_eq(st.generation, 2);
	ck_assert_uint_eq(st.present, (1u << BALLOON_S_MEMFREE) | (1u << BALLOON_S_MEMTOT));
	ck_assert_uint_eq(st.val[BALLOON_S_MEMFREE], 4096);
	ck_assert_uint_eq(st.val[BALLOON_S_AVAIL], 0);
	ck_assert_uint_eq(counters().stats_updates, 2);
	ck_assert_uint_eq(counters().stats_requests, 1);
	bdrv_fini(&d);	/* a held buffer is freed with the device */
}
END_TEST

/* The guest reboots (a reset): the old driver's numbers are nobody's to
 * size it on, and no empty update is announced (the generation stays). */
START_TEST(test_stats_forgotten_at_reset)
{
	struct balloon_guest_stats st;

	start(false, ALL_F);
	uint64_t buf = bdrv_alloc(&d, 2 * BALLOON_STAT_SIZE);
	uint8_t *p = bdrv_gpa(&d, buf);
	put_stat(p, BALLOON_S_MEMFREE, 4096);
	put_stat(p + BALLOON_STAT_SIZE, BALLOON_S_MEMTOT, 8192);
	struct bdrv_seg s = { .gpa = buf, .len = 2 * BALLOON_STAT_SIZE };
	bdrv_post(&d, BALLOON_Q_STATS, &s, 1);
	bdrv_kick(&d, BALLOON_Q_STATS);
	balloon_dev_get_stats(d.b, &st);
	ck_assert_uint_eq(st.generation, 1);
	ck_assert_uint_ne(st.present, 0);
	ck_assert_uint_ne(bdrv_start(&d, ALL_F) & MODVM_VIRTIO_STATUS_DRIVER_OK, 0);
	balloon_dev_get_stats(d.b, &st);
	ck_assert_uint_eq(st.present, 0);
	ck_assert_uint_eq(st.val[BALLOON_S_MEMTOT], 0);
	ck_assert_uint_eq(st.generation, 1);
	bdrv_fini(&d);
}
END_TEST

START_TEST(test_stats_malformed)
{
	struct balloon_guest_stats st;
	uint32_t id, len;

	start(false, ALL_F);
	uint64_t buf = bdrv_alloc(&d, 1024);
	put_stat(bdrv_gpa(&d, buf), BALLOON_S_MEMTOT, 1);
	/* Not a multiple of 10 bytes; then too large; then device-writable. */
	struct bdrv_seg bad[3] = { { .gpa = buf, .len = 15 },
				   { .gpa = buf, .len = (BALLOON_STATS_MAX + 1) * BALLOON_STAT_SIZE },
				   { .gpa = buf, .len = 10, .write = true } };
	for (int i = 0; i < 3; i++) {
		bdrv_post(&d, BALLOON_Q_STATS, &bad[i], 1);
		bdrv_kick(&d, BALLOON_Q_STATS);
	}
	/* Each new buffer returned the one held before it. */
	ck_assert(bdrv_get_used(&d, BALLOON_Q_STATS, &id, &len));
	ck_assert(bdrv_get_used(&d, BALLOON_Q_STATS, &id, &len));
	ck_assert(!bdrv_get_used(&d, BALLOON_Q_STATS, &id, &len));
	ck_assert_uint_eq(counters().bad_stats, 3);
	balloon_dev_get_stats(d.b, &st);
	ck_assert_uint_eq(st.generation, 0);
	/* A driver reset drops the held buffer (ASan would see a leak). */
	uint32_t zero = 0;
	modvm_virtio_mmio_access(d.t, MODVM_VIRTIO_MMIO_STATUS, (uint8_t *)&zero, 4, true);
	ck_assert(!balloon_dev_request_stats(d.b));
	bdrv_fini(&d);
}
END_TEST

START_TEST(test_reporting)
{
	uint32_t id, len;

	start(false, ALL_F);
	uint64_t gpa = 8u << 20;	/* a 2 MiB free block */
	touch((uint32_t)(gpa / PAGE), 512, 3);
	size_t before = bdrv_rss(d.ram);
	struct bdrv_seg s[2] = { { .gpa = gpa, .len = 1u << 20, .write = true },
				 { .gpa = gpa + (1u << 20), .len = 1u << 20, .write = true } };
	bdrv_post(&d, BALLOON_Q_REPORTING, s, 2);
	/* Not page aligned: refused. */
	struct bdrv_seg mis = { .gpa = gpa + 100, .len = PAGE, .write = true };
	bdrv_post(&d, BALLOON_Q_REPORTING, &mis, 1);
	bdrv_kick(&d, BALLOON_Q_REPORTING);
	ck_assert(bdrv_get_used(&d, BALLOON_Q_REPORTING, &id, &len));
	ck_assert(bdrv_get_used(&d, BALLOON_Q_REPORTING, &id, &len));
	ck_assert_uint_eq(before - bdrv_rss(d.ram), 2u << 20);
	struct balloon_counters c = counters();
	ck_assert_uint_eq(c.reported_bytes, 2u << 20);
	ck_assert_uint_eq(c.madvise_calls, 1);
	ck_assert_uint_eq(c.bad_requests, 1);
	bdrv_fini(&d);
}
END_TEST

/* Without STATS_VQ the reporting queue moves to index 2, as in Linux. */
START_TEST(test_roles_without_stats)
{
	uint32_t id, len;

	start(false, F(BALLOON_F_REPORTING));
	ck_assert_int_eq(d.qidx[BALLOON_Q_REPORTING], 2);
	touch(2048, 1, 1);
	size_t before = bdrv_rss(d.ram);
	struct bdrv_seg s = { .gpa = 2048ull * PAGE, .len = PAGE, .write = true };
	bdrv_post(&d, BALLOON_Q_REPORTING, &s, 1);
	bdrv_kick(&d, BALLOON_Q_REPORTING);
	ck_assert(bdrv_get_used(&d, BALLOON_Q_REPORTING, &id, &len));
	ck_assert_uint_eq(before - bdrv_rss(d.ram), PAGE);
	ck_assert_uint_eq(counters().bad_requests, 0);
	bdrv_fini(&d);
}
END_TEST

START_TEST(test_config)
{
	start(false, ALL_F);
	ck_assert_uint_eq(bdrv_cfg_read(&d, 0), 0);
	int irqs = d.irqs;
	balloon_dev_set_target(d.b, 1234);
	ck_assert_uint_eq(bdrv_cfg_read(&d, 0), 1234);
	ck_assert_int_gt(d.irqs, irqs);
	irqs = d.irqs;
	balloon_dev_set_target(d.b, 1234);	/* unchanged: no interrupt */
	ck_assert_int_eq(d.irqs, irqs);
	bdrv_cfg_write(&d, 4, 1000);
	ck_assert_uint_eq(balloon_dev_actual(d.b), 1000);
	ck_assert_uint_eq(bdrv_cfg_read(&d, 4), 1000);
	bdrv_cfg_write(&d, 0, 5);	/* num_pages is the device's: ignored */
	ck_assert_uint_eq(balloon_dev_target(d.b), 1234);
	uint16_t hi = 1;	/* a 2-byte write to the upper half of actual */
	modvm_virtio_mmio_access(d.t, MODVM_VIRTIO_MMIO_CONFIG + 6, (uint8_t *)&hi, 2, true);
	ck_assert_uint_eq(balloon_dev_actual(d.b), 65536 + 1000);
	bdrv_fini(&d);
}
END_TEST

/*
 * More than a queue's worth per kick.  Inflate buffers of one page number
 * each; the driver takes them back and sends the next page in them while
 * the device is still working (from the translations the device makes, as
 * another vCPU would), kicking only when avail_event asks: with EVENT_IDX
 * it never asks then.  The device stops after a queue's worth and must
 * come back by itself (modvm_virtio_renotify, on the loop) until every
 * page is in.
 */
#define MORE_BUFFERS 600u

static uint64_t more_buf[BDRV_QNUM];
static unsigned more_posted, more_taken;
static bool more_kick_asked;

static void more_page(uint16_t head)
{
	uint32_t pfn = PFN0 + more_posted++;

	memcpy(bdrv_gpa(&d, more_buf[head]), &pfn, 4);
}

static void more_driver(struct bdrv *b)
{
	struct bdrv_q *q = &b->q[BALLOON_Q_INFLATE];
	uint32_t id, len;

	while (more_posted < MORE_BUFFERS && bdrv_get_used(b, BALLOON_Q_INFLATE, &id, &len)) {
		uint16_t old = q->avail_idx;

		ck_assert_uint_lt(id, BDRV_QNUM);
		more_taken++;
		more_page((uint16_t)id);
		bdrv_repost(b, BALLOON_Q_INFLATE, (uint16_t)id);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		uint16_t event = bdrv_avail_event(b, BALLOON_Q_INFLATE), nw = q->avail_idx;
		more_kick_asked |= (uint16_t)(nw - event - 1) < (uint16_t)(nw - old);
	}
}

START_TEST(test_more_than_a_queue_per_kick)
{
	struct modvm_loop *loop = modvm__loop_new();
	struct timespec t0, t;
	uint32_t id, len;

	ck_assert_ptr_nonnull(loop);
	bdrv_init_loop(&d, RAM, false, loop);
	ck_assert_uint_ne(bdrv_start(&d, F(MODVM_VIRTIO_F_RING_EVENT_IDX)) &
				  MODVM_VIRTIO_STATUS_DRIVER_OK, 0);
	more_posted = more_taken = 0;
	more_kick_asked = false;
	for (unsigned i = 0; i < BDRV_QNUM; i++) {
		struct bdrv_seg s = { .gpa = bdrv_alloc(&d, 4), .len = 4 };
		uint16_t head = bdrv_post(&d, BALLOON_Q_INFLATE, &s, 1);

		more_buf[head] = s.gpa;
		more_page(head);
	}
	d.on_translate = more_driver;
	bdrv_kick(&d, BALLOON_Q_INFLATE);
	/* a queue's worth went in, and the driver added more meanwhile */
	ck_assert_uint_eq(counters().inflated_pages, BDRV_QNUM);
	ck_assert_uint_gt(more_posted, BDRV_QNUM);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		modvm__loop_run_once(loop);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (counters().inflated_pages < MORE_BUFFERS && t.tv_sec - t0.tv_sec < 3);
	d.on_translate = NULL;
	ck_assert_msg(counters().inflated_pages == MORE_BUFFERS,
		      "%llu of %u pages inflated, %u made available",
		      (unsigned long long)counters().inflated_pages, MORE_BUFFERS, more_posted);
	ck_assert(!more_kick_asked);
	while (bdrv_get_used(&d, BALLOON_Q_INFLATE, &id, &len))
		more_taken++;
	ck_assert_uint_eq(more_taken, MORE_BUFFERS);
	ck_assert_uint_eq(bdrv_avail_event(&d, BALLOON_Q_INFLATE),
			  d.q[BALLOON_Q_INFLATE].avail_idx);
	bdrv_fini(&d);
	modvm__loop_free(loop);
}
END_TEST

/*
 * One notification takes at most BALLOON_PFN_KICK_MAX page numbers (a full
 * ring of Linux's buffers): a guest filling its ring with the largest
 * buffers gets the rest later, on the loop, in turns, instead of holding
 * the device (and its vCPU thread) for seconds.
 */
START_TEST(test_page_numbers_per_kick_bounded)
{
	struct modvm_loop *loop = modvm__loop_new();
	const uint32_t per = BALLOON_PFN_CHAIN_MAX / 4, chains = 8;
	uint32_t id, len, used = 0;

	ck_assert_ptr_nonnull(loop);
	ck_assert_uint_eq(BALLOON_PFN_KICK_MAX % per, 0);
	bdrv_init_loop(&d, RAM, false, loop);
	ck_assert_uint_ne(bdrv_start(&d, 0) & MODVM_VIRTIO_STATUS_DRIVER_OK, 0);
	uint64_t buf = bdrv_alloc(&d, BALLOON_PFN_CHAIN_MAX);
	uint32_t *pfn = (uint32_t *)(void *)bdrv_gpa(&d, buf);
	for (uint32_t i = 0; i < per; i++)
		pfn[i] = PFN0 + i % 512;
	for (uint32_t k = 0; k < chains; k++) {
		struct bdrv_seg s = { .gpa = buf, .len = BALLOON_PFN_CHAIN_MAX };
		bdrv_post(&d, BALLOON_Q_INFLATE, &s, 1);
	}
	bdrv_kick(&d, BALLOON_Q_INFLATE);
	while (bdrv_get_used(&d, BALLOON_Q_INFLATE, &id, &len))
		used++;
	ck_assert_uint_eq(used, BALLOON_PFN_KICK_MAX / per);
	for (int turn = 0; turn < 100 && used < chains; turn++) {
		modvm__loop_run_once(loop);
		while (bdrv_get_used(&d, BALLOON_Q_INFLATE, &id, &len))
			used++;
	}
	ck_assert_uint_eq(used, chains);
	ck_assert_uint_eq(counters().bad_requests, 0);
	bdrv_fini(&d);
	modvm__loop_free(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("balloon_dev");
	TCase *tc = tcase_create("device");

	tcase_add_test(tc, test_identity);
	tcase_add_test(tc, test_inflate_private);
	tcase_add_test(tc, test_inflate_shared);
	tcase_add_test(tc, test_bad_pfns);
	tcase_add_test(tc, test_given_is_what_was_sent);
	tcase_add_test(tc, test_malformed_pfn_buffers);
	tcase_add_test(tc, test_stats);
	tcase_add_test(tc, test_stats_forgotten_at_reset);
	tcase_add_test(tc, test_stats_malformed);
	tcase_add_test(tc, test_reporting);
	tcase_add_test(tc, test_roles_without_stats);
	tcase_add_test(tc, test_config);
	tcase_add_test(tc, test_more_than_a_queue_per_kick);
	tcase_add_test(tc, test_page_numbers_per_kick_bounded);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
