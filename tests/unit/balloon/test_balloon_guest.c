/*
 * End to end on KVM: a guest-code balloon driver at CPL3 (guest_balloon.c)
 * programs the device over virtio-mmio exits; the host sets num_pages and
 * watches its own Rss of guest RAM (shared memory, as a VM's) drop by what
 * the guest gave and come back when the guest uses the pages again.  Skips
 * (77) without a usable /dev/kvm.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/harness.h"
#include "bdrv.h"
#include "guest_balloon.h"

static struct gvm *vm;
static uint8_t *ram;
static uint64_t ram_size;

static void ck_hook(const char *msg)
{
	ck_abort_msg("%s", msg);
}

static void *translate(void *ctx, uint64_t gpa, uint64_t len)
{
	(void)ctx;
	if (!len || gpa >= ram_size || len > ram_size - gpa)
		return NULL;
	return ram + gpa;
}

static void no_irq(void *ctx)
{
	(void)ctx;
}

/* Runs the vCPU, serving balloon MMIO, until the next ucall. */
static uint64_t run_to_ucall(struct gvcpu *v, struct modvm_virtio_mmio *t, struct ucall *uc)
{
	char buf[256];

	for (;;) {
		struct modvm_cpu_exit *e = gvcpu_run(v);
		if (e->kind == MODVM_EXIT_MMIO && e->mmio.addr >= GB_MMIO &&
		    e->mmio.addr < GB_MMIO + MODVM_VIRTIO_MMIO_SIZE) {
			modvm_virtio_mmio_access(t, e->mmio.addr - GB_MMIO, e->mmio.data,
						 e->mmio.len, e->mmio.is_write);
			continue;
		}
		uint64_t cmd = __gvcpu_get_ucall(v, e, uc);
		ck_assert_msg(cmd != UCALL_NONE, "unexpected exit: %s", gexit_format(e, buf, sizeof(buf)));
		ck_assert_msg(cmd != UCALL_ABORT && cmd != UCALL_UNHANDLED, "guest: %s",
			      gucall_format(uc, buf, sizeof(buf)));
		return cmd;
	}
}

START_TEST(inflate_and_deflate_from_a_guest)
{
	struct balloon_dev *b;
	struct ucall uc;

	vm = gvm_create(1);
	ram_size = gvm_ram_size(vm);
	ram = gvm_ptr(vm, 0, ram_size);
	struct modvm_virtio_mmio_config cfg = {
		.struct_size = sizeof(cfg), .irq = 5, .base = GB_MMIO, .name = "balloon-e2e",
		.mem = { .translate = translate }, .raise_irq = no_irq,
	};
	ck_assert_int_eq(balloon_dev_create(&cfg, &b), 0);
	struct modvm_virtio_mmio *t = balloon_dev_transport(b);
	uint64_t free_gpa = (gvm_free_gpa(vm) + 0xfff) & ~0xfffull;
	struct gvcpu *v = gvm_vcpu_add(vm, 0, guest_balloon_driver, free_gpa, GTEST_CPL3);

	ck_assert_uint_eq(run_to_ucall(v, t, &uc), UCALL_SYNC);
	ck_assert_uint_eq(uc.args[0], 1);
	size_t before = bdrv_rss(ram);
	balloon_dev_set_target(b, GB_PAGES);

	ck_assert_uint_eq(run_to_ucall(v, t, &uc), UCALL_SYNC);
	ck_assert_uint_eq(uc.args[0], 2);
	size_t after = bdrv_rss(ram);
	ck_assert_uint_eq(balloon_dev_actual(b), GB_PAGES);
	ck_assert_msg(before - after == (size_t)GB_PAGES * 4096, "Rss %zu -> %zu", before, after);
	balloon_dev_set_target(b, 0);

	ck_assert_uint_eq(run_to_ucall(v, t, &uc), UCALL_SYNC);
	ck_assert_uint_eq(uc.args[0], 3);
	ck_assert_uint_eq(balloon_dev_actual(b), 0);
	ck_assert_uint_eq(bdrv_rss(ram), before);
	struct balloon_counters c;
	balloon_dev_get_counters(b, &c);
	ck_assert_uint_eq(c.inflated_pages, GB_PAGES);
	ck_assert_uint_eq(c.deflated_pages, GB_PAGES);
	ck_assert_uint_eq(c.bad_pfns + c.bad_requests, 0);
	ck_assert_uint_eq(run_to_ucall(v, t, &uc), UCALL_DONE);
	balloon_dev_free(b);
	gvm_destroy(vm);
}
END_TEST

int main(void)
{
	gtest_require_kvm();
	gtest_fail_hook = ck_hook;
	Suite *s = suite_create("balloon_guest");
	TCase *tc = tcase_create("guest");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, inflate_and_deflate_from_a_guest);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
