/*
 * Malformed rings, driven through virtio-rng: every one must be refused
 * without a crash (RAM sits between guard pages; the huge window is
 * PROT_NONE), without writing outside the posted buffers, and counted.
 * A malformed chain comes back used with length 0; a ring that cannot be
 * trusted breaks the queue and asks for a reset.
 */
#include <stdlib.h>
#include <string.h>

#include "virtio_driver.h"
#include "devices/devices.h"

static struct vdrv d;
static struct modvm__virtio_rng *rng;

static void setup(void)
{
	struct modvm_virtio_mmio_config cfg;

	vdrv_init(&d, &cfg);
	ck_assert_int_eq(modvm__virtio_rng_create(&cfg, &rng), 0);
	d.t = modvm__virtio_rng_transport(rng);
	d.dev = modvm_virtio_mmio_dev(d.t);
	modvm_log_set_level(MODVM_LOG_ERROR);	/* the WARN lines are expected */
	vdrv_start(&d, VERSION_1 | INDIRECT | EVENT_IDX, 8);
	memset(gpa(&d, BUF_GPA), 0x5a, RAM_SIZE - BUF_GPA);
}

static void teardown(void)
{
	modvm__virtio_rng_free(rng);
	vdrv_fini(&d);
}

/* Posts @head, kicks, and checks it came back with length 0, counted, and
 * that the buffer area is untouched; then checks the queue still works. */
static void expect_refused(uint16_t head)
{
	uint32_t id, len;
	uint64_t bad = vdrv_stats(&d, 0).bad_chains;

	vdrv_post(&d, head);
	vdrv_kick(&d, 0);
	ck_assert(vdrv_get_used(&d, &id, &len));
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(len, 0);
	ck_assert_uint_eq(vdrv_stats(&d, 0).bad_chains, bad + 1);
	ck_assert_uint_eq(modvm__virtio_rng_bytes(rng), 0);
	ck_assert(vdrv_all(&d, BUF_GPA, RAM_SIZE - BUF_GPA, 0x5a));
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_STATUS) &
				  MODVM_VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);

	/* the next good chain goes through */
	vdrv_set_desc(&d, DESC_GPA, 7, 0x9000, 16, F_WRITE, 0);
	vdrv_post(&d, 7);
	vdrv_kick(&d, 0);
	ck_assert(vdrv_get_used(&d, &id, &len));
	ck_assert_uint_eq(id, 7);
	ck_assert_uint_eq(len, 16);
}

START_TEST(descriptor_loop)
{
	vdrv_set_desc(&d, DESC_GPA, 0, BUF_GPA, 16, F_WRITE | F_NEXT, 1);
	vdrv_set_desc(&d, DESC_GPA, 1, BUF_GPA + 16, 16, F_WRITE | F_NEXT, 0);
	expect_refused(0);
}
END_TEST

START_TEST(self_loop_zero_length)
{
	/* no buffer at all, so only the walk bound stops it */
	vdrv_set_desc(&d, DESC_GPA, 3, 0, 0, F_NEXT, 3);
	expect_refused(3);
}
END_TEST

START_TEST(chain_longer_than_indirect_table)
{
	/* a 4-entry table whose last entry points back to its first */
	for (uint16_t i = 0; i < 4; i++)
		vdrv_set_desc(&d, INDIRECT_GPA, i, BUF_GPA + 16u * i, 16, F_WRITE | F_NEXT,
			      (uint16_t)((i + 1) % 4));
	vdrv_set_desc(&d, DESC_GPA, 0, INDIRECT_GPA, 64, F_INDIRECT, 0);
	expect_refused(0);
}
END_TEST

START_TEST(indirect_table_too_long)
{
	/* 9 entries on a queue of 8 */
	vdrv_set_desc(&d, DESC_GPA, 0, INDIRECT_GPA, 9 * 16, F_INDIRECT, 0);
	expect_refused(0);
}
END_TEST

START_TEST(indirect_length_not_multiple)
{
	vdrv_set_desc(&d, DESC_GPA, 0, INDIRECT_GPA, 24, F_INDIRECT, 0);
	expect_refused(0);
}
END_TEST

START_TEST(next_out_of_range)
{
	vdrv_set_desc(&d, DESC_GPA, 0, BUF_GPA, 16, F_WRITE | F_NEXT, 200);
	expect_refused(0);
}
END_TEST

START_TEST(out_of_ram)
{
	vdrv_set_desc(&d, DESC_GPA, 0, 0x80000000ull, 16, F_WRITE, 0);
	expect_refused(0);
}
END_TEST

START_TEST(straddles_end_of_ram)
{
	vdrv_set_desc(&d, DESC_GPA, 0, RAM_SIZE - 16, 64, F_WRITE, 0);
	expect_refused(0);
}
END_TEST

START_TEST(address_wraps)
{
	vdrv_set_desc(&d, DESC_GPA, 0, 0xfffffffffffff000ull, 0x2000, F_WRITE, 0);
	expect_refused(0);
}
END_TEST

START_TEST(total_length_overflow)
{
	/* Two 3 GiB writable buffers in a window the translation accepts but
	 * that faults on any access: 6 GiB is over the per-chain cap, so the
	 * device must never see it. */
	if (!d.huge)
		return;	/* no 6 GiB of address space: nothing to prove */
	vdrv_set_desc(&d, DESC_GPA, 0, HUGE_GPA, 0xc0000000u, F_WRITE | F_NEXT, 1);
	vdrv_set_desc(&d, DESC_GPA, 1, HUGE_GPA + 0xc0000000ull, 0xc0000000u, F_WRITE, 0);
	expect_refused(0);
}
END_TEST

START_TEST(indirect_inside_indirect)
{
	vdrv_set_desc(&d, INDIRECT_GPA + 0x100, 0, BUF_GPA, 16, F_WRITE, 0);
	vdrv_set_desc(&d, INDIRECT_GPA, 0, INDIRECT_GPA + 0x100, 16, F_INDIRECT, 0);
	vdrv_set_desc(&d, DESC_GPA, 0, INDIRECT_GPA, 16, F_INDIRECT, 0);
	expect_refused(0);
}
END_TEST

START_TEST(indirect_with_next)
{
	vdrv_set_desc(&d, INDIRECT_GPA, 0, BUF_GPA, 16, F_WRITE, 0);
	vdrv_set_desc(&d, DESC_GPA, 0, INDIRECT_GPA, 16, F_INDIRECT | F_NEXT, 1);
	vdrv_set_desc(&d, DESC_GPA, 1, BUF_GPA + 16, 16, F_WRITE, 0);
	expect_refused(0);
}
END_TEST

START_TEST(indirect_table_outside_ram)
{
	vdrv_set_desc(&d, DESC_GPA, 0, RAM_SIZE - 16, 32, F_INDIRECT, 0);
	expect_refused(0);
}
END_TEST

START_TEST(readable_after_writable)
{
	vdrv_set_desc(&d, DESC_GPA, 0, BUF_GPA, 16, F_WRITE | F_NEXT, 1);
	vdrv_set_desc(&d, DESC_GPA, 1, BUF_GPA + 16, 16, F_NEXT, 2);
	vdrv_set_desc(&d, DESC_GPA, 2, BUF_GPA + 32, 16, F_WRITE, 0);
	expect_refused(0);
}
END_TEST

START_TEST(indirect_without_feature)
{
	/* renegotiate without INDIRECT_DESC */
	vdrv_start(&d, VERSION_1, 8);
	vdrv_set_desc(&d, INDIRECT_GPA, 0, BUF_GPA, 16, F_WRITE, 0);
	vdrv_set_desc(&d, DESC_GPA, 0, INDIRECT_GPA, 16, F_INDIRECT, 0);
	expect_refused(0);
}
END_TEST

/* The queue is broken: NEEDS_RESET, a config interrupt, no more service. */
static void expect_broken(void)
{
	uint32_t id, len;

	ck_assert_uint_eq(vdrv_stats(&d, 0).broken, 1);
	ck_assert_uint_ne(mmio_read(&d, MODVM_VIRTIO_MMIO_STATUS) &
				  MODVM_VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	ck_assert_uint_ne(vdrv_ack(&d) & MODVM_VIRTIO_INT_CONFIG, 0);
	ck_assert(!vdrv_get_used(&d, &id, &len));
	ck_assert_uint_eq(modvm__virtio_rng_bytes(rng), 0);
	ck_assert(vdrv_all(&d, BUF_GPA, RAM_SIZE - BUF_GPA, 0x5a));

	/* a reset and a fresh setup bring it back */
	vdrv_start(&d, VERSION_1, 8);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_STATUS) &
				  MODVM_VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	vdrv_set_desc(&d, DESC_GPA, 0, BUF_GPA, 16, F_WRITE, 0);
	vdrv_post(&d, 0);
	vdrv_kick(&d, 0);
	ck_assert(vdrv_get_used(&d, &id, &len));
	ck_assert_uint_eq(len, 16);
}

START_TEST(avail_idx_jump)
{
	vdrv_set_desc(&d, DESC_GPA, 0, BUF_GPA, 16, F_WRITE, 0);
	vdrv_set_avail_idx(&d, 9);	/* 9 new entries on a queue of 8 */
	vdrv_kick(&d, 0);
	expect_broken();
}
END_TEST

START_TEST(avail_idx_backwards)
{
	vdrv_set_avail_idx(&d, 0xffff);	/* "65535 new entries" */
	vdrv_kick(&d, 0);
	vdrv_kick(&d, 0);	/* a broken queue stays quiet */
	expect_broken();
}
END_TEST

START_TEST(head_out_of_range)
{
	vdrv_post(&d, 8);
	vdrv_kick(&d, 0);
	expect_broken();
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("virtqueue");
	TCase *tc = tcase_create("malformed");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, descriptor_loop);
	tcase_add_test(tc, self_loop_zero_length);
	tcase_add_test(tc, chain_longer_than_indirect_table);
	tcase_add_test(tc, indirect_table_too_long);
	tcase_add_test(tc, indirect_length_not_multiple);
	tcase_add_test(tc, next_out_of_range);
	tcase_add_test(tc, out_of_ram);
	tcase_add_test(tc, straddles_end_of_ram);
	tcase_add_test(tc, address_wraps);
	tcase_add_test(tc, total_length_overflow);
	tcase_add_test(tc, indirect_inside_indirect);
	tcase_add_test(tc, indirect_with_next);
	tcase_add_test(tc, indirect_table_outside_ram);
	tcase_add_test(tc, readable_after_writable);
	tcase_add_test(tc, indirect_without_feature);
	tcase_add_test(tc, avail_idx_jump);
	tcase_add_test(tc, avail_idx_backwards);
	tcase_add_test(tc, head_out_of_range);
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
