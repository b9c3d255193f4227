/*
 * virtio-rng end to end through the transport: the driver posts writable
 * buffers and kicks, the device fills them from getrandom and interrupts.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/devices.h"
#include "event/event.h"
#include "virtio_driver.h"

static struct vdrv d;
static struct modvm__virtio_rng *rng;

static void setup(void)
{
	struct modvm_virtio_mmio_config cfg;

	vdrv_init(&d, &cfg);
	ck_assert_int_eq(modvm__virtio_rng_create(&cfg, &rng), 0);
	d.t = modvm__virtio_rng_transport(rng);
	d.dev = modvm_virtio_mmio_dev(d.t);
}

static void teardown(void)
{
	modvm__virtio_rng_free(rng);
	vdrv_fini(&d);
}

static uint32_t take_one(uint32_t expect_id)
{
	uint32_t id, len;
	ck_assert(vdrv_get_used(&d, &id, &len));
	ck_assert_uint_eq(id, expect_id);
	return len;
}

START_TEST(identity)
{
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_DEVICE_ID), MODVM_VIRTIO_ID_RNG);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_QUEUE_NUM_MAX), MODVM_VIRTIO_RNG_QUEUE_MAX);
	ck_assert_str_eq(modvm_virtio_name(d.dev), "virtio-rng");
}
END_TEST

START_TEST(fills_writable_buffer)
{
	vdrv_start(&d, VERSION_1, 8);
	memset(gpa(&d, BUF_GPA), 0, 256);
	vdrv_set_desc(&d, DESC_GPA, 3, BUF_GPA, 64, F_WRITE, 0);
	vdrv_post(&d, 3);
	vdrv_kick(&d, 0);

	ck_assert_uint_eq(take_one(3), 64);
	ck_assert(!vdrv_all(&d, BUF_GPA, 64, 0));	/* 2^-512 to fail by chance */
	ck_assert(vdrv_all(&d, BUF_GPA + 64, 192, 0));	/* nothing past the buffer */
	ck_assert_uint_eq(modvm__virtio_rng_bytes(rng), 64);
	ck_assert_int_eq(d.irqs, 1);
	ck_assert_uint_eq(vdrv_ack(&d), MODVM_VIRTIO_INT_USED_BUFFER);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	ck_assert_uint_eq(vdrv_stats(&d, 0).popped, 1);
	ck_assert_uint_eq(vdrv_stats(&d, 0).pushed, 1);
}
END_TEST

START_TEST(multi_segment_and_readable_prefix)
{
	vdrv_start(&d, VERSION_1, 8);
	memset(gpa(&d, BUF_GPA), 0xaa, 0x3000);
	/* readable header (the rng ignores it), then three writable pieces */
	vdrv_set_desc(&d, DESC_GPA, 0, BUF_GPA, 16, F_NEXT, 5);
	vdrv_set_desc(&d, DESC_GPA, 5, BUF_GPA + 0x1000, 100, F_NEXT | F_WRITE, 2);
	vdrv_set_desc(&d, DESC_GPA, 2, BUF_GPA + 0x2000, 28, F_NEXT | F_WRITE, 7);
	vdrv_set_desc(&d, DESC_GPA, 7, BUF_GPA + 0x2800, 0, F_WRITE, 0);	/* empty: skipped */
	vdrv_post(&d, 0);
	vdrv_kick(&d, 0);
	ck_assert_uint_eq(take_one(0), 128);
	ck_assert(vdrv_all(&d, BUF_GPA, 16, 0xaa));	/* readable left alone */
	ck_assert(vdrv_all(&d, BUF_GPA + 0x1000 + 100, 64, 0xaa));
	ck_assert(vdrv_all(&d, BUF_GPA + 0x2000 + 28, 64, 0xaa));
}
END_TEST

START_TEST(large_chain_capped)
{
	vdrv_start(&d, VERSION_1, 8);
	vdrv_set_desc(&d, DESC_GPA, 1, BUF_GPA, 0x30000, F_NEXT | F_WRITE, 2);
	vdrv_set_desc(&d, DESC_GPA, 2, BUF_GPA + 0x30000, 0x30000, F_WRITE, 0);
	vdrv_post(&d, 1);
	vdrv_kick(&d, 0);
	ck_assert_uint_eq(take_one(1), MODVM_VIRTIO_RNG_CHAIN_MAX);
}
END_TEST

START_TEST(several_buffers_one_interrupt)
{
	vdrv_start(&d, VERSION_1, 8);
	for (uint16_t i = 0; i < 8; i++) {
		vdrv_set_desc(&d, DESC_GPA, i, BUF_GPA + 64u * i, 32, F_WRITE, 0);
		vdrv_post(&d, i);
	}
	vdrv_kick(&d, 0);
	for (uint16_t i = 0; i < 8; i++)
		ck_assert_uint_eq(take_one(i), 32);
	ck_assert_int_eq(d.irqs, 1);
	/* a kick with nothing new interrupts nobody */
	vdrv_kick(&d, 0);
	ck_assert_int_eq(d.irqs, 1);
}
END_TEST

START_TEST(no_interrupt_flag)
{
	vdrv_start(&d, VERSION_1, 8);
	vdrv_set_desc(&d, DESC_GPA, 0, BUF_GPA, 8, F_WRITE, 0);
	vdrv_set_avail_flags(&d, MODVM_VIRTQ_AVAIL_F_NO_INTERRUPT);
	vdrv_post(&d, 0);
	vdrv_kick(&d, 0);
	ck_assert_uint_eq(take_one(0), 8);
	ck_assert_int_eq(d.irqs, 0);
	ck_assert_uint_eq(vdrv_stats(&d, 0).suppressed, 1);
	vdrv_set_avail_flags(&d, 0);
	vdrv_post(&d, 0);
	vdrv_kick(&d, 0);
	ck_assert_uint_eq(take_one(0), 8);
	ck_assert_int_eq(d.irqs, 1);
}
END_TEST

START_TEST(event_idx_suppression)
{
	vdrv_start(&d, VERSION_1 | EVENT_IDX, 8);
	ck_assert_uint_ne(modvm_virtio_driver_features(d.dev) & EVENT_IDX, 0);
	vdrv_set_desc(&d, DESC_GPA, 0, BUF_GPA, 8, F_WRITE, 0);
	/* the driver wants an interrupt only once used idx passes 2 */
	vdrv_set_used_event(&d, 2);
	for (int i = 0; i < 2; i++) {
		vdrv_post(&d, 0);
		vdrv_kick(&d, 0);
		ck_assert_int_eq(d.irqs, 0);
		/* the device asks to be kicked for the next new entry */
		ck_assert_uint_eq(vdrv_avail_event(&d), d.avail_idx);
	}
	vdrv_post(&d, 0);
	vdrv_kick(&d, 0);	/* used idx 2 → 3 crosses used_event 2 */
	ck_assert_int_eq(d.irqs, 1);
	ck_assert_uint_eq(vdrv_used_idx(&d), 3);
	ck_assert_uint_eq(vdrv_stats(&d, 0).suppressed, 2);
	ck_assert_uint_eq(vdrv_stats(&d, 0).notifications, 1);
}
END_TEST

START_TEST(indirect_descriptors)
{
	vdrv_start(&d, VERSION_1 | INDIRECT, 8);
	memset(gpa(&d, BUF_GPA), 0, 0x2000);
	vdrv_set_desc(&d, INDIRECT_GPA, 0, BUF_GPA, 40, F_NEXT | F_WRITE, 1);
	vdrv_set_desc(&d, INDIRECT_GPA, 1, BUF_GPA + 0x1000, 24, F_WRITE, 0);
	vdrv_set_desc(&d, DESC_GPA, 4, INDIRECT_GPA, 32, F_INDIRECT, 0);
	vdrv_post(&d, 4);
	vdrv_kick(&d, 0);
	ck_assert_uint_eq(take_one(4), 64);
	ck_assert(vdrv_all(&d, BUF_GPA + 40, 64, 0));
	ck_assert(vdrv_all(&d, BUF_GPA + 0x1000 + 24, 64, 0));
	ck_assert_uint_eq(vdrv_stats(&d, 0).bad_chains, 0);
}
END_TEST

START_TEST(index_wrap)
{
	const uint16_t num = 64;
	uint32_t total = 0;

	vdrv_start(&d, VERSION_1, num);
	for (uint16_t i = 0; i < num; i++)
		vdrv_set_desc(&d, DESC_GPA, i, BUF_GPA + 16u * i, 1, F_WRITE, 0);
	/* 65536 + 128 buffers: both ring indexes wrap 65535 → 0 */
	for (int round = 0; round < 65536 / num + 2; round++) {
		for (uint16_t i = 0; i < num; i++)
			vdrv_post(&d, i);
		vdrv_kick(&d, 0);
		for (uint16_t i = 0; i < num; i++) {
			ck_assert_uint_eq(take_one(i), 1);
			total++;
		}
	}
	ck_assert_uint_eq(total, 65536 + 2 * num);
	ck_assert_uint_eq(vdrv_used_idx(&d), 2 * num);
	ck_assert_uint_eq(vdrv_stats(&d, 0).popped, total);
	ck_assert_uint_eq(vdrv_stats(&d, 0).broken, 0);
}
END_TEST

/*
 * More than a queue's worth per kick: the driver takes filled buffers back
 * and posts them again while the device is still working (from the
 * translation of each chain it walks, as another vCPU would), without a
 * kick, since with EVENT_IDX avail_event never asks for one then.  The
 * device stops after a queue's worth and must come back by itself
 * (modvm_virtio_renotify, on the loop) until every buffer is filled.
 */
#define MORE_NUM 8u
#define MORE_BUFFERS 30u

static unsigned more_posted, more_taken;
static bool more_kick_asked;

static void more_driver(struct vdrv *v)
{
	uint32_t id, len;

	while (more_posted < MORE_BUFFERS && vdrv_get_used(v, &id, &len)) {
		uint16_t old = v->avail_idx;

		ck_assert_uint_eq(len, 32);
		more_taken++;
		vdrv_post(v, (uint16_t)id);
		more_posted++;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		uint16_t event = vdrv_avail_event(v), nw = v->avail_idx;
		more_kick_asked |= (uint16_t)(nw - event - 1) < (uint16_t)(nw - old);
	}
}

START_TEST(more_than_a_queue_per_kick)
{
	struct modvm_loop *loop = modvm__loop_new();
	struct modvm_virtio_mmio_config cfg;
	struct timespec t0, t;
	uint32_t id, len;

	ck_assert_ptr_nonnull(loop);
	vdrv_init(&d, &cfg);
	cfg.defer = vdrv_defer_on_loop;
	cfg.defer_ctx = loop;
	ck_assert_int_eq(modvm__virtio_rng_create(&cfg, &rng), 0);
	d.t = modvm__virtio_rng_transport(rng);
	d.dev = modvm_virtio_mmio_dev(d.t);
	vdrv_start(&d, VERSION_1 | EVENT_IDX, MORE_NUM);
	more_posted = more_taken = 0;
	more_kick_asked = false;
	for (uint16_t i = 0; i < MORE_NUM; i++) {
		vdrv_set_desc(&d, DESC_GPA, i, BUF_GPA + 32u * i, 32, F_WRITE, 0);
		vdrv_post(&d, i);
		more_posted++;
	}
	d.on_translate = more_driver;
	vdrv_kick(&d, 0);
	ck_assert_uint_eq(modvm__virtio_rng_bytes(rng), 32 * MORE_NUM);
	ck_assert_uint_gt(more_posted, MORE_NUM);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		modvm__loop_run_once(loop);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (modvm__virtio_rng_bytes(rng) < 32 * MORE_BUFFERS && t.tv_sec - t0.tv_sec < 3);
	d.on_translate = NULL;
	ck_assert_msg(modvm__virtio_rng_bytes(rng) == 32 * MORE_BUFFERS,
		      "%llu of %u bytes filled, %u buffers made available",
		      (unsigned long long)modvm__virtio_rng_bytes(rng), 32 * MORE_BUFFERS,
		      more_posted);
	ck_assert(!more_kick_asked);
	while (vdrv_get_used(&d, &id, &len))
		more_taken++;
	ck_assert_uint_eq(more_taken, MORE_BUFFERS);
	ck_assert_uint_eq(vdrv_avail_event(&d), d.avail_idx);
	modvm__virtio_rng_free(rng);
	vdrv_fini(&d);
	modvm__loop_free(loop);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("virtio-rng");
	TCase *tc = tcase_create("rng");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, identity);
	tcase_add_test(tc, fills_writable_buffer);
	tcase_add_test(tc, multi_segment_and_readable_prefix);
	tcase_add_test(tc, large_chain_capped);
	tcase_add_test(tc, several_buffers_one_interrupt);
	tcase_add_test(tc, no_interrupt_flag);
	tcase_add_test(tc, event_idx_suppression);
	tcase_add_test(tc, indirect_descriptors);
	tcase_add_test(tc, index_wrap);
	suite_add_tcase(s, tc);
	tc = tcase_create("renotify");	/* its own device, on a loop */
	tcase_add_test(tc, more_than_a_queue_per_kick);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
