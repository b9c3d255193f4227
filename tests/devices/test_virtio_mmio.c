/*
 * The virtio-mmio transport's registers, feature negotiation, queue setup
 * validation, config space and reset, with a small echo device (two queues,
 * an 8-byte config space) defined here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "virtio_driver.h"

#define ECHO_ID 42
#define ECHO_F_A MODVM_VIRTIO_FEATURE(0)
#define ECHO_F_NEEDS_A MODVM_VIRTIO_FEATURE(5)	/* refused without A */

struct echo {
	struct modvm_virtio_dev *dev;
	uint8_t config[8];
	int resets;
	int notifies;
	uint64_t features_seen;
	struct modvm_virtq_chain *held;	/* popped, not yet pushed */
};

static struct vdrv d;
static struct echo echo;

static void echo_read_config(void *opaque, uint32_t off, uint8_t *data, uint32_t len)
{
	struct echo *e = opaque;
	memcpy(data, e->config + off, len);
}

static void echo_write_config(void *opaque, uint32_t off, const uint8_t *data, uint32_t len)
{
	struct echo *e = opaque;
	memcpy(e->config + off, data, len);
}

/* Copies the readable bytes into the writable ones; holds chains when
 * config[7] is set (to test stale chains across a reset). */
static void echo_notify(void *opaque, uint16_t q)
{
	struct echo *e = opaque;
	struct modvm_virtq *vq = modvm_virtio_queue(e->dev, q);
	struct modvm_virtq_chain *c;

	e->notifies++;
	while (modvm_virtq_pop(vq, &c) > 0) {
		uint32_t n = 0, w = c->n_readable;
		uint32_t wo = 0;

		if (e->config[7]) {
			e->held = c;
			return;
		}
		for (uint32_t r = 0; r < c->n_readable; r++) {
			for (uint32_t i = 0; i < c->segs[r].len && w < c->n_readable + c->n_writable;
			     i++) {
				((uint8_t *)c->segs[w].addr)[wo++] = ((uint8_t *)c->segs[r].addr)[i];
				n++;
				if (wo == c->segs[w].len) {
					w++;
					wo = 0;
				}
			}
		}
		modvm_virtq_push(vq, c, n);
	}
	modvm_virtio_notify_used(e->dev, q);
}

static int echo_features_ok(void *opaque, uint64_t f)
{
	struct echo *e = opaque;
	e->features_seen = f;
	return (f & ECHO_F_NEEDS_A) && !(f & ECHO_F_A) ? -EINVAL : 0;
}

static void echo_reset(void *opaque)
{
	((struct echo *)opaque)->resets++;
}

static const struct modvm_virtio_device_ops echo_ops = {
	.struct_size = sizeof(struct modvm_virtio_device_ops),
	.device_id = ECHO_ID,
	.features = ECHO_F_A | ECHO_F_NEEDS_A | MODVM_VIRTIO_FEATURE(50),
	.num_queues = 2,
	.queue_max_size = 16,
	.config_size = 8,
	.read_config = echo_read_config,
	.write_config = echo_write_config,
	.queue_notify = echo_notify,
	.set_features_ok = echo_features_ok,
	.reset = echo_reset,
};

static void setup(void)
{
	struct modvm_virtio_mmio_config cfg;

	vdrv_init(&d, &cfg);
	memset(&echo, 0, sizeof(echo));
	cfg.name = "echo0";
	ck_assert_int_eq(modvm_virtio_mmio_create(&cfg, &echo_ops, &echo, &d.t), 0);
	d.dev = echo.dev = modvm_virtio_mmio_dev(d.t);
	modvm_log_set_level(MODVM_LOG_ERROR);
	memcpy(echo.config, "\x01\x02\x03\x04\x05\x06\x07\x00", 8);
}

static void teardown(void)
{
	modvm_virtq_chain_free(echo.held);
	modvm_virtio_mmio_destroy(d.t);
	vdrv_fini(&d);
}

START_TEST(identity_registers)
{
	char line[64];

	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_VERSION), 2);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_DEVICE_ID), ECHO_ID);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_VENDOR_ID), MODVM_VIRTIO_VENDOR_ID);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_QUEUE_NUM_MAX), 16);
	mmio_write(&d, MODVM_VIRTIO_MMIO_QUEUE_SEL, 2);	/* no such queue */
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	mmio_write(&d, MODVM_VIRTIO_MMIO_SHM_SEL, 0);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_SHM_LEN_HIGH), 0xffffffff);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_QUEUE_RESET), 0);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_CONFIG_GENERATION), 0);

	ck_assert_uint_eq(modvm_virtio_mmio_base(d.t), 0xd0000000);
	ck_assert_uint_eq(modvm_virtio_mmio_size(d.t), 0x1000);
	ck_assert_uint_eq(modvm_virtio_mmio_irq(d.t), 5);
	ck_assert_int_eq(modvm_virtio_mmio_cmdline(d.t, line, sizeof(line)),
			 (int)strlen("virtio_mmio.device=4K@0xd0000000:5"));
	ck_assert_str_eq(line, "virtio_mmio.device=4K@0xd0000000:5");
	ck_assert_str_eq(modvm_virtio_name(d.dev), "echo0");
}
END_TEST

START_TEST(wrong_width_ignored)
{
	uint8_t b[8];
	uint64_t q = 0;

	memset(b, 0xff, sizeof(b));
	modvm_virtio_mmio_access(d.t, MODVM_VIRTIO_MMIO_MAGIC_VALUE, b, 1, false);
	ck_assert_uint_eq(b[0], 0);
	modvm_virtio_mmio_access(d.t, MODVM_VIRTIO_MMIO_MAGIC_VALUE, (uint8_t *)&q, 8, false);
	ck_assert_uint_eq(q, 0);
	memset(b, 0xff, sizeof(b));
	modvm_virtio_mmio_access(d.t, MODVM_VIRTIO_MMIO_VERSION + 1, b, 4, false);
	ck_assert(b[0] == 0 && b[3] == 0);
	/* a 2-byte Status write and a misaligned one change nothing */
	b[0] = MODVM_VIRTIO_STATUS_ACKNOWLEDGE;
	b[1] = 0;
	modvm_virtio_mmio_access(d.t, MODVM_VIRTIO_MMIO_STATUS, b, 2, true);
	modvm_virtio_mmio_access(d.t, MODVM_VIRTIO_MMIO_STATUS + 2, b, 4, true);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_STATUS), 0);
	/* outside the window, zero and oversize lengths */
	modvm_virtio_mmio_access(d.t, 0x1000, b, 4, false);
	modvm_virtio_mmio_access(d.t, 0xffe, b, 4, true);
	modvm_virtio_mmio_access(d.t, UINT64_MAX - 1, b, 4, true);
	modvm_virtio_mmio_access(d.t, 0, b, 0, false);
	/* read-only register written, write-only register read */
	mmio_write(&d, MODVM_VIRTIO_MMIO_MAGIC_VALUE, 1);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_QUEUE_NOTIFY), 0);
	ck_assert_uint_eq(mmio_read(&d, 0x0f0), 0);	/* unknown */
}
END_TEST

START_TEST(features_offered)
{
	uint64_t f;

	mmio_write(&d, MODVM_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	f = mmio_read(&d, MODVM_VIRTIO_MMIO_DEVICE_FEATURES);
	mmio_write(&d, MODVM_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	f |= (uint64_t)mmio_read(&d, MODVM_VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	mmio_write(&d, MODVM_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_DEVICE_FEATURES), 0);
	ck_assert_uint_eq(f, echo_ops.features | VERSION_1 | EVENT_IDX | INDIRECT);
	ck_assert_uint_eq(f & MODVM_VIRTIO_FEATURE(MODVM_VIRTIO_F_ACCESS_PLATFORM), 0);
}
END_TEST

START_TEST(negotiation_accepts)
{
	uint8_t s = vdrv_negotiate(&d, VERSION_1 | ECHO_F_A | ECHO_F_NEEDS_A | EVENT_IDX);

	ck_assert_uint_ne(s & MODVM_VIRTIO_STATUS_FEATURES_OK, 0);
	ck_assert_uint_eq(echo.features_seen, VERSION_1 | ECHO_F_A | ECHO_F_NEEDS_A | EVENT_IDX);
	ck_assert_uint_eq(modvm_virtio_driver_features(d.dev), echo.features_seen);
	/* frozen after FEATURES_OK */
	mmio_write(&d, MODVM_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mmio_write(&d, MODVM_VIRTIO_MMIO_DRIVER_FEATURES, 0);
	ck_assert_uint_eq(modvm_virtio_driver_features(d.dev), echo.features_seen);
}
END_TEST

START_TEST(negotiation_refuses_legacy)
{
	uint8_t s = vdrv_negotiate(&d, ECHO_F_A);	/* no VERSION_1 */

	ck_assert_uint_eq(s & MODVM_VIRTIO_STATUS_FEATURES_OK, 0);
	ck_assert_uint_eq(echo.features_seen, 0);	/* the device was not even asked */
	ck_assert_uint_eq(modvm_virtio_driver_features(d.dev), 0);
	/* nor can it go on: queues and DRIVER_OK are refused */
	ck_assert_uint_eq(vdrv_setup_queue(&d, 0, 8), 0);
	vdrv_driver_ok(&d);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_STATUS) &
				  MODVM_VIRTIO_STATUS_DRIVER_OK, 0);
	ck_assert_uint_eq(vdrv_stats(&d, 0).setup_refused, 1);
}
END_TEST

START_TEST(negotiation_refused_by_device)
{
	uint8_t s = vdrv_negotiate(&d, VERSION_1 | ECHO_F_NEEDS_A);

	ck_assert_uint_eq(s & MODVM_VIRTIO_STATUS_FEATURES_OK, 0);
	ck_assert_uint_eq(echo.features_seen, VERSION_1 | ECHO_F_NEEDS_A);
}
END_TEST

START_TEST(negotiation_refuses_unoffered)
{
	mmio_write(&d, MODVM_VIRTIO_MMIO_STATUS, MODVM_VIRTIO_STATUS_ACKNOWLEDGE |
						 MODVM_VIRTIO_STATUS_DRIVER);
	mmio_write(&d, MODVM_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mmio_write(&d, MODVM_VIRTIO_MMIO_DRIVER_FEATURES, 1 | 2);	/* VERSION_1, ACCESS_PLATFORM */
	mmio_write(&d, MODVM_VIRTIO_MMIO_STATUS, MODVM_VIRTIO_STATUS_ACKNOWLEDGE |
						 MODVM_VIRTIO_STATUS_DRIVER |
						 MODVM_VIRTIO_STATUS_FEATURES_OK);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_STATUS) &
				  MODVM_VIRTIO_STATUS_FEATURES_OK, 0);
}
END_TEST

START_TEST(queue_setup_validation)
{
	ck_assert_uint_ne(vdrv_negotiate(&d, VERSION_1) & MODVM_VIRTIO_STATUS_FEATURES_OK, 0);
	ck_assert_uint_eq(vdrv_setup_queue(&d, 0, 12), 0);	/* not a power of two */
	ck_assert_uint_eq(vdrv_setup_queue(&d, 0, 32), 0);	/* above QueueNumMax 16 */
	ck_assert_uint_eq(vdrv_setup_queue(&d, 0, 0), 0);
	ck_assert_uint_eq(vdrv_setup_queue_at(&d, 0, 16, DESC_GPA + 8, AVAIL_GPA, USED_GPA), 0);
	ck_assert_uint_eq(vdrv_setup_queue_at(&d, 0, 16, DESC_GPA, AVAIL_GPA + 1, USED_GPA), 0);
	ck_assert_uint_eq(vdrv_setup_queue_at(&d, 0, 16, DESC_GPA, AVAIL_GPA, USED_GPA + 2), 0);
	/* the used ring would end 6 + 8*16 bytes past RAM_SIZE - 64 */
	ck_assert_uint_eq(vdrv_setup_queue_at(&d, 0, 16, DESC_GPA, AVAIL_GPA, RAM_SIZE - 64), 0);
	ck_assert_uint_eq(vdrv_setup_queue_at(&d, 0, 16, 0x100000000ull, AVAIL_GPA, USED_GPA), 0);
	ck_assert_uint_eq(vdrv_stats(&d, 0).setup_refused, 8);
	ck_assert(!modvm_virtq_is_ready(modvm_virtio_queue(d.dev, 0)));

	ck_assert_uint_eq(vdrv_setup_queue(&d, 0, 16), 1);
	ck_assert_uint_eq(modvm_virtq_size(modvm_virtio_queue(d.dev, 0)), 16);
	ck_assert_uint_eq(vdrv_setup_queue(&d, 1, 4), 1);
	/* registers of a ready queue are frozen */
	mmio_write(&d, MODVM_VIRTIO_MMIO_QUEUE_SEL, 0);
	mmio_write(&d, MODVM_VIRTIO_MMIO_QUEUE_NUM, 4);
	ck_assert_uint_eq(modvm_virtq_size(modvm_virtio_queue(d.dev, 0)), 16);
	/* QueueReady=0 disables */
	mmio_write(&d, MODVM_VIRTIO_MMIO_QUEUE_READY, 0);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_QUEUE_READY), 0);
	ck_assert_ptr_null(modvm_virtio_queue(d.dev, 2));
}
END_TEST

START_TEST(echo_readable_and_writable)
{
	vdrv_start(&d, VERSION_1, 16);
	/* DRIVER_OK looks at the ready queue once (nothing there yet). */
	ck_assert_int_eq(echo.notifies, 1);
	echo.notifies = 0;
	memcpy(gpa(&d, BUF_GPA), "hello, virtio", 13);
	memset(gpa(&d, BUF_GPA + 0x100), 0, 32);
	vdrv_set_desc(&d, DESC_GPA, 0, BUF_GPA, 5, F_NEXT, 1);
	vdrv_set_desc(&d, DESC_GPA, 1, BUF_GPA + 5, 8, F_NEXT, 2);
	vdrv_set_desc(&d, DESC_GPA, 2, BUF_GPA + 0x100, 4, F_NEXT | F_WRITE, 3);
	vdrv_set_desc(&d, DESC_GPA, 3, BUF_GPA + 0x104, 28, F_WRITE, 0);
	vdrv_post(&d, 0);
	vdrv_kick(&d, 0);
	{
		uint32_t id, len;
		ck_assert(vdrv_get_used(&d, &id, &len));
		ck_assert_uint_eq(id, 0);
		ck_assert_uint_eq(len, 13);
	}
	ck_assert_mem_eq(gpa(&d, BUF_GPA + 0x100), "hello, virtio", 13);
	ck_assert_int_eq(d.irqs, 1);
	/* queue 1 is not set up: its kick is ignored */
	vdrv_kick(&d, 1);
	vdrv_kick(&d, 7);
	ck_assert_int_eq(echo.notifies, 1);
}
END_TEST

/* A driver that posts and kicks before DRIVER_OK (Linux's virtio_balloon
 * primes its stats queue so): the kick is ignored, and the buffer is
 * served when DRIVER_OK comes. */
START_TEST(buffers_posted_before_driver_ok_are_served)
{
	ck_assert_uint_ne(vdrv_negotiate(&d, VERSION_1) & MODVM_VIRTIO_STATUS_FEATURES_OK, 0);
	ck_assert_uint_eq(vdrv_setup_queue(&d, 0, 16), 1);
	memcpy(gpa(&d, BUF_GPA), "early", 5);
	vdrv_set_desc(&d, DESC_GPA, 0, BUF_GPA, 5, F_NEXT, 1);
	vdrv_set_desc(&d, DESC_GPA, 1, BUF_GPA + 0x100, 5, F_WRITE, 0);
	vdrv_post(&d, 0);
	vdrv_kick(&d, 0);
	ck_assert_int_eq(echo.notifies, 0);
	vdrv_driver_ok(&d);
	ck_assert_int_eq(echo.notifies, 1);
	uint32_t id, len;
	ck_assert(vdrv_get_used(&d, &id, &len));
	ck_assert_uint_eq(len, 5);
	ck_assert_mem_eq(gpa(&d, BUF_GPA + 0x100), "early", 5);
}
END_TEST

START_TEST(notify_before_driver_ok_ignored)
{
	ck_assert_uint_ne(vdrv_negotiate(&d, VERSION_1) & MODVM_VIRTIO_STATUS_FEATURES_OK, 0);
	ck_assert_uint_eq(vdrv_setup_queue(&d, 0, 8), 1);
	vdrv_set_desc(&d, DESC_GPA, 0, BUF_GPA, 4, F_WRITE, 0);
	vdrv_post(&d, 0);
	vdrv_kick(&d, 0);
	ck_assert_int_eq(echo.notifies, 0);
	ck_assert_uint_eq(vdrv_used_idx(&d), 0);
}
END_TEST

START_TEST(config_space)
{
	uint8_t b[8];
	uint64_t q;
	uint32_t gen;

	modvm_virtio_mmio_access(d.t, 0x100, b, 1, false);
	ck_assert_uint_eq(b[0], 1);
	modvm_virtio_mmio_access(d.t, 0x102, b, 2, false);
	ck_assert(b[0] == 3 && b[1] == 4);
	modvm_virtio_mmio_access(d.t, 0x100, (uint8_t *)&q, 8, false);
	ck_assert_uint_eq(q, 0x0007060504030201ull);
	/* beyond config_size: zeros, and writes dropped */
	memset(b, 0xff, 4);
	modvm_virtio_mmio_access(d.t, 0x106, b, 4, false);
	ck_assert(b[0] == 0 && b[3] == 0);
	modvm_virtio_mmio_access(d.t, 0x106, b, 4, true);
	modvm_virtio_mmio_access(d.t, 0x101, b, 3, false);	/* odd width */
	b[0] = 0x99;
	modvm_virtio_mmio_access(d.t, 0x104, b, 1, true);
	ck_assert_uint_eq(echo.config[4], 0x99);
	ck_assert_uint_eq(echo.config[6], 7);

	/* before DRIVER_OK only the generation moves */
	gen = mmio_read(&d, MODVM_VIRTIO_MMIO_CONFIG_GENERATION);
	modvm_virtio_config_changed(d.dev);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_CONFIG_GENERATION), gen + 1);
	ck_assert_int_eq(d.irqs, 0);
	vdrv_start(&d, VERSION_1, 8);
	modvm_virtio_config_changed(d.dev);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_CONFIG_GENERATION), gen + 2);
	ck_assert_int_eq(d.irqs, 1);
	ck_assert_uint_eq(vdrv_ack(&d), MODVM_VIRTIO_INT_CONFIG);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_INTERRUPT_STATUS), 0);
}
END_TEST

START_TEST(reset_clears_state)
{
	struct modvm_virtq *vq = modvm_virtio_queue(d.dev, 0);
	uint32_t id, len;

	vdrv_start(&d, VERSION_1 | EVENT_IDX, 8);
	echo.config[7] = 1;	/* hold the next chain */
	vdrv_set_desc(&d, DESC_GPA, 0, BUF_GPA, 4, F_WRITE, 0);
	vdrv_post(&d, 0);
	vdrv_kick(&d, 0);
	ck_assert_ptr_nonnull(echo.held);
	modvm_virtio_set_needs_reset(d.dev, "test");
	ck_assert_uint_ne(mmio_read(&d, MODVM_VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	mmio_write(&d, MODVM_VIRTIO_MMIO_QUEUE_SEL, 1);

	mmio_write(&d, MODVM_VIRTIO_MMIO_STATUS, 0);
	ck_assert_int_eq(echo.resets, 2);	/* vdrv_negotiate reset once too */
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_STATUS), 0);
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	ck_assert_uint_eq(modvm_virtio_driver_features(d.dev), 0);
	ck_assert(!modvm_virtq_is_ready(vq));
	ck_assert_uint_eq(mmio_read(&d, MODVM_VIRTIO_MMIO_QUEUE_READY), 0);	/* sel back to 0 */
	/* the chain popped before the reset must not reach the ring */
	ck_assert_int_eq(modvm_virtq_push(vq, echo.held, 4), -ESTALE);
	echo.held = NULL;
	ck_assert_uint_eq(vdrv_used_idx(&d), 0);

	/* and the device works again after a fresh start */
	echo.config[7] = 0;
	vdrv_start(&d, VERSION_1, 8);
	vdrv_set_desc(&d, DESC_GPA, 0, BUF_GPA, 4, F_WRITE, 0);
	vdrv_post(&d, 0);
	vdrv_kick(&d, 0);
	ck_assert(vdrv_get_used(&d, &id, &len));
	ck_assert_uint_eq(len, 0);	/* nothing readable to echo */
}
END_TEST

START_TEST(create_refuses_bad_ops)
{
	struct modvm_virtio_mmio_config cfg;
	struct modvm_virtio_device_ops ops = echo_ops;
	struct modvm_virtio_mmio *t = NULL;
	struct vdrv other;

	vdrv_init(&other, &cfg);
	ops.queue_max_size = 12;
	ck_assert_int_eq(modvm_virtio_mmio_create(&cfg, &ops, NULL, &t), -EINVAL);
	ops = echo_ops;
	ops.features |= MODVM_VIRTIO_FEATURE(MODVM_VIRTIO_F_ACCESS_PLATFORM);
	ck_assert_int_eq(modvm_virtio_mmio_create(&cfg, &ops, NULL, &t), -EINVAL);
	ops = echo_ops;
	ops.device_id = 0;
	ck_assert_int_eq(modvm_virtio_mmio_create(&cfg, &ops, NULL, &t), -EINVAL);
	ops = echo_ops;
	ops.config_size = 4096;
	ck_assert_int_eq(modvm_virtio_mmio_create(&cfg, &ops, NULL, &t), -EINVAL);
	ops = echo_ops;
	ops.num_queues = 0;
	ck_assert_int_eq(modvm_virtio_mmio_create(&cfg, &ops, NULL, &t), -EINVAL);
	cfg.base = 0xd0000800;
	ck_assert_int_eq(modvm_virtio_mmio_create(&cfg, &echo_ops, NULL, &t), -EINVAL);
	cfg.base = 0xd0000000;
	cfg.mem.translate = NULL;
	ck_assert_int_eq(modvm_virtio_mmio_create(&cfg, &echo_ops, NULL, &t), -EINVAL);
	ck_assert_ptr_null(t);
	vdrv_fini(&other);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("virtio-mmio");
	TCase *tc = tcase_create("transport");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, identity_registers);
	tcase_add_test(tc, wrong_width_ignored);
	tcase_add_test(tc, features_offered);
	tcase_add_test(tc, negotiation_accepts);
	tcase_add_test(tc, negotiation_refuses_legacy);
	tcase_add_test(tc, negotiation_refused_by_device);
	tcase_add_test(tc, negotiation_refuses_unoffered);
	tcase_add_test(tc, queue_setup_validation);
	tcase_add_test(tc, echo_readable_and_writable);
	tcase_add_test(tc, buffers_posted_before_driver_ok_are_served);
	tcase_add_test(tc, notify_before_driver_ok_ignored);
	tcase_add_test(tc, config_space);
	tcase_add_test(tc, reset_clears_state);
	tcase_add_test(tc, create_refuses_bad_ops);
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
