/* The PIO/MMIO bus: registration rules, routing, unhandled accesses, and
 * unregistering while vCPUs dispatch. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vm/vm.h"
#include "vm_test.h"

#define MiB (1ULL << 20)

START_TEST(overlap_refused_adjacent_allowed)
{
	struct fake_backend fb;
	struct modvm_vm *vm;
	struct dev d;
	struct modvm_iobus_stats st;

	fake_backend_init(&fb);
	dev_init(&d, 0);
	vm = vm_create(&fb, "ovl", 1, MiB);
	errors_start();
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_MMIO, 0xd0001000, 0x1000, dev_handler, &d), 0);
	/* overlapping the tail, the head, inside, around */
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_MMIO, 0xd0001800, 0x1000, dev_handler, &d), -EBUSY);
	ck_assert(errors_is(0, "vm 'ovl': mmio range 0xd0001800-0xd00027ff overlaps registered range "
			       "0xd0001000-0xd0001fff; refused"));
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_MMIO, 0xd0000800, 0x1000, dev_handler, &d), -EBUSY);
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_MMIO, 0xd0001100, 0x10, dev_handler, &d), -EBUSY);
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_MMIO, 0xd0000000, 0x10000, dev_handler, &d), -EBUSY);
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_MMIO, 0xd0001fff, 1, dev_handler, &d), -EBUSY);
	ck_assert_int_eq(errors_count(), 5);
	/* adjacent on both sides */
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_MMIO, 0xd0002000, 0x1000, dev_handler, &d), 0);
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_MMIO, 0xd0000000, 0x1000, dev_handler, &d), 0);
	/* the same range in the other space is another range */
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_PIO, 0x1000, 0x1000, dev_handler, &d), 0);
	/* bad ranges */
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_PIO, 0xfff0, 0x11, dev_handler, &d), -EINVAL);
	ck_assert(errors_is(5, "vm 'ovl': invalid pio range base 0xfff0 len 0x11"));
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_PIO, 0xfff0, 0x10, dev_handler, &d), 0);
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_MMIO, 0x5000, 0, dev_handler, &d), -EINVAL);
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_MMIO, UINT64_MAX - 0xf, 0x20, dev_handler, &d), -EINVAL);
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_MMIO, UINT64_MAX - 0xf, 0x10, dev_handler, &d), 0);
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_MMIO, 0x6000, 0x10, NULL, &d), -EINVAL);
	ck_assert_int_eq(modvm_iobus_register(vm, (enum modvm_iobus_space)7, 0x6000, 0x10, dev_handler, &d), -EINVAL);
	errors_stop();

	ck_assert_int_eq(modvm_iobus_get_stats(vm, MODVM_IOBUS_MMIO, &st), 0);
	ck_assert_uint_eq(st.ranges, 4);
	ck_assert_int_eq(modvm_iobus_get_stats(vm, MODVM_IOBUS_PIO, &st), 0);
	ck_assert_uint_eq(st.ranges, 2);

	/* unregister by exact base; then the space is free again */
	ck_assert_int_eq(modvm_iobus_unregister(vm, MODVM_IOBUS_MMIO, 0xd0001800), -ENOENT);
	ck_assert_int_eq(modvm_iobus_unregister(vm, MODVM_IOBUS_MMIO, 0xd0001000), 0);
	ck_assert_int_eq(modvm_iobus_unregister(vm, MODVM_IOBUS_MMIO, 0xd0001000), -ENOENT);
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_MMIO, 0xd0001800, 0x800, dev_handler, &d), 0);
	ck_assert_int_eq(modvm_iobus_get_stats(vm, MODVM_IOBUS_MMIO, &st), 0);
	ck_assert_uint_eq(st.ranges, 4);
	modvm_vm_destroy(vm);
}
END_TEST

/* Routing through the spare read-side slot, without vCPU threads. */
static bool dispatch(struct modvm_vm *vm, enum modvm_iobus_space sp, uint64_t addr, void *data,
		     uint32_t len, bool is_write)
{
	return modvm__iobus_dispatch(vm->iobus, vm->nvcpus, sp, addr, data, len, is_write);
}

START_TEST(dispatch_routes_with_offset)
{
	struct fake_backend fb;
	struct modvm_vm *vm;
	struct dev a, b, c;
	struct modvm_iobus_stats st;
	uint32_t v32 = 0xdeadbeef;
	uint64_t v64 = 0;
	uint8_t v8 = 0;

	fake_backend_init(&fb);
	dev_init(&a, 0x11);
	dev_init(&b, 0x1122334455667788ULL);
	dev_init(&c, 0x33);
	vm = vm_create(&fb, "route", 1, MiB);
	/* registered out of order: the table must sort them */
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_MMIO, 0xd0002000, 0x100, dev_handler, &b), 0);
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_MMIO, 0xd0000000, 0x100, dev_handler, &a), 0);
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_PIO, 0x3f8, 8, dev_handler, &c), 0);

	ck_assert(dispatch(vm, MODVM_IOBUS_MMIO, 0xd0000010, &v32, 4, true));
	ck_assert_uint_eq(a.n, 1);
	ck_assert_uint_eq(a.log[0].off, 0x10);
	ck_assert_uint_eq(a.log[0].len, 4);
	ck_assert(a.log[0].is_write);
	ck_assert_mem_eq(a.log[0].data, &v32, 4);

	ck_assert(dispatch(vm, MODVM_IOBUS_MMIO, 0xd00020f8, &v64, 8, false));
	ck_assert_uint_eq(b.n, 1);
	ck_assert_uint_eq(b.log[0].off, 0xf8);
	ck_assert_uint_eq(v64, 0x1122334455667788ULL);

	ck_assert(dispatch(vm, MODVM_IOBUS_PIO, 0x3fd, &v8, 1, false));
	ck_assert_uint_eq(c.log[0].off, 5);
	ck_assert_uint_eq(v8, 0x33);
	ck_assert_uint_eq(a.n, 1);	/* nobody else was called */

	/* an access running past a range's end is nobody's */
	v64 = 0;
	ck_assert(!dispatch(vm, MODVM_IOBUS_MMIO, 0xd00020fc, &v64, 8, false));
	ck_assert_uint_eq(v64, UINT64_MAX);
	ck_assert_uint_eq(b.n, 1);
	/* the gap between devices, and PIO nobody owns */
	v32 = 0;
	ck_assert(!dispatch(vm, MODVM_IOBUS_MMIO, 0xd0001000, &v32, 4, false));
	ck_assert_uint_eq(v32, 0xffffffff);
	ck_assert(!dispatch(vm, MODVM_IOBUS_MMIO, 0xd0001000, &v32, 4, true));
	ck_assert(!dispatch(vm, MODVM_IOBUS_PIO, 0x80, &v8, 1, true));
	ck_assert(!dispatch(vm, MODVM_IOBUS_PIO, 0x3f7, &v8, 1, false));
	ck_assert_uint_eq(v8, 0xff);

	ck_assert_int_eq(modvm_iobus_get_stats(vm, MODVM_IOBUS_MMIO, &st), 0);
	ck_assert_uint_eq(st.unhandled_reads, 2);
	ck_assert_uint_eq(st.unhandled_writes, 1);
	ck_assert_int_eq(modvm_iobus_get_stats(vm, MODVM_IOBUS_PIO, &st), 0);
	ck_assert_uint_eq(st.unhandled_reads, 1);
	ck_assert_uint_eq(st.unhandled_writes, 1);
	ck_assert_int_eq(modvm_iobus_get_stats(vm, (enum modvm_iobus_space)3, &st), -EINVAL);
	modvm_vm_destroy(vm);
}
END_TEST

/* A handler may unregister its own range (e.g. a device switching off). */
struct self_removing {
	struct modvm_vm *vm;
	unsigned calls;
};

static void remove_self(void *ud, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct self_removing *s = ud;

	(void)off, (void)data, (void)len, (void)is_write;
	s->calls++;
	ck_assert_int_eq(modvm_iobus_unregister(s->vm, MODVM_IOBUS_PIO, 0x70), 0);
}

START_TEST(handler_unregisters_itself)
{
	struct fake_backend fb;
	struct self_removing s = { 0 };
	uint8_t v = 1;

	fake_backend_init(&fb);
	s.vm = vm_create(&fb, "selfrm", 1, MiB);
	ck_assert_int_eq(modvm_iobus_register(s.vm, MODVM_IOBUS_PIO, 0x70, 2, remove_self, &s), 0);
	ck_assert(dispatch(s.vm, MODVM_IOBUS_PIO, 0x71, &v, 1, true));
	ck_assert(!dispatch(s.vm, MODVM_IOBUS_PIO, 0x71, &v, 1, true));
	ck_assert_uint_eq(s.calls, 1);
	modvm_vm_destroy(s.vm);
}
END_TEST

/*
 * Two vCPUs hammer a device while the test thread registers and
 * unregisters it.  Each round frees the device's state right after
 * unregister returns: ASan catches any handler still running on it.
 */
struct churn_dev {
	_Atomic uint64_t *hits;
};

static void churn_handler(void *ud, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct churn_dev *c = ud;

	(void)off, (void)data, (void)len, (void)is_write;
	atomic_fetch_add(c->hits, 1);
}

START_TEST(unregister_while_vcpus_dispatch)
{
	struct fake_backend fb;
	struct modvm_vm *vm;
	_Atomic uint64_t hits = 0;
	struct modvm_vcpu_stats st;
	struct timespec t0;
	unsigned rounds = 0;

	fake_backend_init(&fb);
	for (unsigned v = 0; v < 2; v++) {
		fake_mmio(&fb, v, 0xd0000000 + v * 8, 4, true, 1);
		fake_mmio(&fb, v, 0xd0000004, 4, false, 0);
		fb.script[v].repeat = 100000000;	/* until stopped */
	}
	vm = vm_create(&fb, "churn", 2, MiB);
	ck_assert_int_eq(modvm_vm_start(vm), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms_since(&t0) < 300) {
		struct churn_dev *c = malloc(sizeof(*c));

		c->hits = &hits;
		ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_MMIO, 0xd0000000, 0x10,
						      churn_handler, c), 0);
		for (volatile int spin = 0; spin < 2000; spin++)
			;
		ck_assert_int_eq(modvm_iobus_unregister(vm, MODVM_IOBUS_MMIO, 0xd0000000), 0);
		free(c);
		rounds++;
	}
	ck_assert_int_eq(modvm_vm_stop(vm), 0);
	ck_assert_int_eq(modvm_vm_state(vm), MODVM_VM_STOPPED);
	modvm_vcpu_get_stats(vm, 0, &st);
	ck_assert_uint_gt(st.exits[MODVM_EXIT_REASON_MMIO], 1000);
	ck_assert_uint_gt(rounds, 100);
	ck_assert_uint_gt(hits, 0);
	modvm_vm_destroy(vm);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vm-iobus");
	TCase *tc = tcase_create("iobus");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, overlap_refused_adjacent_allowed);
	tcase_add_test(tc, dispatch_routes_with_offset);
	tcase_add_test(tc, handler_unregisters_itself);
	tcase_add_test(tc, unregister_while_vcpus_dispatch);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
