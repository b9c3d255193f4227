/* Guest RAM: layout around the MMIO hole and bounds-checked access. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm_test.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

START_TEST(gpa_bounds)
{
	struct fake_backend fb;
	struct modvm_vm *vm;
	const struct modvm_ram_region *rg;
	uint8_t *hva;
	uint8_t buf[16], back[16];

	fake_backend_init(&fb);
	vm = vm_create(&fb, "bounds", 1, 64 * MiB);
	ck_assert_uint_eq(modvm_vm_ram_region_count(vm), 1);
	rg = modvm_vm_ram_region(vm, 0);
	ck_assert_uint_eq(rg->gpa, 0);
	ck_assert_uint_eq(rg->size, 64 * MiB);
	ck_assert_ptr_null(modvm_vm_ram_region(vm, 1));
	hva = rg->hva;

	/* inside, and flush against both ends */
	ck_assert_ptr_eq(modvm_gpa_to_hva(vm, 0x1000, 16), hva + 0x1000);
	ck_assert_ptr_eq(modvm_gpa_to_hva(vm, 0, 64 * MiB), hva);
	ck_assert_ptr_eq(modvm_gpa_to_hva(vm, 64 * MiB - 16, 16), hva + 64 * MiB - 16);
	/* straddling the end, past the end */
	ck_assert_ptr_null(modvm_gpa_to_hva(vm, 64 * MiB - 8, 16));
	ck_assert_ptr_null(modvm_gpa_to_hva(vm, 64 * MiB, 1));
	ck_assert_ptr_null(modvm_gpa_to_hva(vm, 0, 64 * MiB + 1));
	/* gpa + len wraps around 2^64 */
	ck_assert_ptr_null(modvm_gpa_to_hva(vm, UINT64_MAX - 3, 8));
	ck_assert_ptr_null(modvm_gpa_to_hva(vm, 0x1000, UINT64_MAX));
	ck_assert_ptr_null(modvm_gpa_to_hva(vm, 0x1000, UINT64_MAX - 0xfff + 1));
	ck_assert_ptr_null(modvm_gpa_to_hva(vm, UINT64_MAX, UINT64_MAX));
	/* zero length names no memory */
	ck_assert_ptr_null(modvm_gpa_to_hva(vm, 0x1000, 0));

	for (int i = 0; i < 16; i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	ck_assert_int_eq(modvm_gpa_write(vm, 0x2000, buf, sizeof(buf)), 0);
	ck_assert_mem_eq(hva + 0x2000, buf, sizeof(buf));
	memset(back, 0, sizeof(back));
	ck_assert_int_eq(modvm_gpa_read(vm, 0x2000, back, sizeof(back)), 0);
	ck_assert_mem_eq(back, buf, sizeof(buf));
	/* refused accesses copy nothing */
	memset(back, 0x55, sizeof(back));
	ck_assert_int_eq(modvm_gpa_read(vm, 64 * MiB - 8, back, sizeof(back)), -EFAULT);
	ck_assert_uint_eq(back[0], 0x55);
	ck_assert_int_eq(modvm_gpa_write(vm, UINT64_MAX - 3, buf, 8), -EFAULT);
	ck_assert_int_eq(modvm_gpa_read(vm, 0x1000, back, 0), 0);
	ck_assert_int_eq(modvm_gpa_write(vm, UINT64_MAX, buf, 0), 0);

	/* the backend got exactly the one slot */
	ck_assert(fb.slots[0].used);
	ck_assert_uint_eq(fb.slots[0].gpa, 0);
	ck_assert_uint_eq(fb.slots[0].size, 64 * MiB);
	ck_assert_ptr_eq(fb.slots[0].hva, hva);
	ck_assert(!fb.slots[1].used);

	modvm_vm_destroy(vm);
	ck_assert_int_eq(fb.vm_destroys, 1);
	ck_assert(!fb.slots[0].used);	/* slot removed before the VM went */
}
END_TEST

/* More than 3 GiB: RAM continues at 4 GiB.  NORESERVE: nothing is touched. */
/* Permissions of the mapping holding @addr in /proc/self/maps ("" if none). */
static void perms_at(const void *addr, char perms[5])
{
	char line[512];
	unsigned long lo, hi, a = (unsigned long)addr;
	FILE *f = fopen("/proc/self/maps", "r");
	perms[0] = '\0';
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 && a >= lo && a < hi)
			break;
		else
			perms[0] = '\0';
	fclose(f);
}

/* Private RAM between two PROT_NONE guard pages: an overrun faults, and two
 * VMs' RAM never merges into one mapping. */
START_TEST(ram_private_between_guard_pages)
{
	struct fake_backend fb;
	char perms[5];

	fake_backend_init(&fb);
	struct modvm_vm *a = vm_create(&fb, "a", 1, 16 * MiB);
	struct modvm_vm *b = vm_create(&fb, "b", 1, 16 * MiB);
	uint8_t *ha = modvm_vm_ram_region(a, 0)->hva, *hb = modvm_vm_ram_region(b, 0)->hva;
	perms_at(ha, perms);
	ck_assert_str_eq(perms, "rw-p");
	perms_at(ha + 16 * MiB - 1, perms);
	ck_assert_str_eq(perms, "rw-p");
	perms_at(ha - 1, perms);
	ck_assert_str_eq(perms, "---p");
	perms_at(ha + 16 * MiB, perms);
	ck_assert_str_eq(perms, "---p");
	perms_at(hb + 16 * MiB, perms);
	ck_assert_str_eq(perms, "---p");
	modvm_vm_destroy(b);
	modvm_vm_destroy(a);
}
END_TEST

START_TEST(ram_split_around_mmio_hole)
{
	struct fake_backend fb;
	struct modvm_vm *vm;
	const struct modvm_ram_region *lo, *hi;

	fake_backend_init(&fb);
	vm = vm_create(&fb, "big", 1, 5 * GiB);
	ck_assert_uint_eq(modvm_vm_memory_bytes(vm), 5 * GiB);
	ck_assert_uint_eq(modvm_vm_ram_region_count(vm), 2);
	lo = modvm_vm_ram_region(vm, 0);
	hi = modvm_vm_ram_region(vm, 1);
	ck_assert_uint_eq(lo->gpa, 0);
	ck_assert_uint_eq(lo->size, 3 * GiB);
	ck_assert_uint_eq(lo->slot, 0);
	ck_assert_uint_eq(hi->gpa, 4 * GiB);
	ck_assert_uint_eq(hi->size, 2 * GiB);
	ck_assert_uint_eq(hi->slot, 1);
	ck_assert_ptr_eq(hi->hva, (uint8_t *)lo->hva + 3 * GiB);
	ck_assert(fb.slots[0].used && fb.slots[1].used);
	ck_assert_uint_eq(fb.slots[1].gpa, 4 * GiB);
	ck_assert_uint_eq(fb.slots[1].size, 2 * GiB);

	/* the hole is not RAM, and nothing bridges it */
	ck_assert_ptr_null(modvm_gpa_to_hva(vm, 3 * GiB, 1));
	ck_assert_ptr_null(modvm_gpa_to_hva(vm, 4 * GiB - 1, 1));
	ck_assert_ptr_null(modvm_gpa_to_hva(vm, 3 * GiB - 4, 8));
	ck_assert_ptr_null(modvm_gpa_to_hva(vm, 3 * GiB - 4, 1 * GiB + 8));
	ck_assert_ptr_eq(modvm_gpa_to_hva(vm, 3 * GiB - 4, 4), (uint8_t *)lo->hva + 3 * GiB - 4);
	ck_assert_ptr_eq(modvm_gpa_to_hva(vm, 4 * GiB, 2 * GiB), hi->hva);
	ck_assert_ptr_eq(modvm_gpa_to_hva(vm, 6 * GiB - 8, 8), (uint8_t *)hi->hva + 2 * GiB - 8);
	ck_assert_ptr_null(modvm_gpa_to_hva(vm, 6 * GiB - 8, 9));
	ck_assert_ptr_null(modvm_gpa_to_hva(vm, 6 * GiB, 1));
	modvm_vm_destroy(vm);
	ck_assert(!fb.slots[0].used && !fb.slots[1].used);
}
END_TEST

START_TEST(ram_exactly_3g_is_one_region)
{
	struct fake_backend fb;
	struct modvm_vm *vm;

	fake_backend_init(&fb);
	vm = vm_create(&fb, "three", 1, 3 * GiB);
	ck_assert_uint_eq(modvm_vm_ram_region_count(vm), 1);
	ck_assert_uint_eq(modvm_vm_ram_region(vm, 0)->size, 3 * GiB);
	ck_assert(!fb.slots[1].used);
	modvm_vm_destroy(vm);
}
END_TEST

static int try_create(struct fake_backend *fb, const char *name, uint32_t vcpus, uint64_t mem)
{
	struct modvm_vm_config cfg = {
		.struct_size = sizeof(cfg), .name = name, .vcpus = vcpus, .memory_bytes = mem,
	};
	struct modvm_vm *vm = NULL;
	int r = __modvm_vm_create(&fb->vt, fake_ctx(fb), &cfg, &vm);

	ck_assert_ptr_null(vm);
	return r;
}

START_TEST(create_refusals)
{
	struct fake_backend fb;

	fake_backend_init(&fb);
	errors_start();
	ck_assert_int_eq(try_create(&fb, "zero", 1, 0), -EINVAL);
	ck_assert(errors_is(0, "vm 'zero': memory 0 bytes is not a positive multiple of 4096"));
	ck_assert_int_eq(try_create(&fb, "odd", 1, 4097), -EINVAL);
	ck_assert(errors_is(1, "vm 'odd': memory 4097 bytes is not a positive multiple of 4096"));
	ck_assert_int_eq(try_create(&fb, "novcpu", 0, MiB), -EINVAL);
	ck_assert(errors_is(2, "vm 'novcpu': vcpus 0 out of range (1..256)"));

	fb.fail_vm_create = -ENODEV;
	ck_assert_int_eq(try_create(&fb, "nobackend", 1, MiB), -ENODEV);
	ck_assert(errors_is(3, "vm 'nobackend': the cpu backend cannot create it: No such device"));
	fb.fail_vm_create = 0;

	fb.fail_set_memory_slot = 1;
	ck_assert_int_eq(try_create(&fb, "slot", 1, 4 * GiB), -ENOSPC);
	ck_assert(errors_is(4, "vm 'slot': backend refused memslot 1 (gpa 0x100000000, 1024 MiB): "
			       "No space left on device"));
	ck_assert(!fb.slots[0].used);	/* slot 0 undone */
	ck_assert_int_eq(fb.vm_creates, fb.vm_destroys);

	fb.vt.vcpu_kick = NULL;
	ck_assert_int_eq(try_create(&fb, "nokick", 1, MiB), -EINVAL);
	ck_assert(errors_is(5, "vm 'nokick': cpu backend lacks vcpu_create/vcpu_destroy/vcpu_run/vcpu_kick"));
	ck_assert_int_eq(errors_count(), 6);
	errors_stop();
}
END_TEST

START_TEST(name_defaults_to_id)
{
	struct fake_backend fb;
	struct modvm_vm_config cfg = { .vm_id = 7, .vcpus = 2, .memory_bytes = MiB };
	struct modvm_vm *vm;

	fake_backend_init(&fb);
	vm = vm_create_cfg(&fb, &cfg);
	ck_assert_str_eq(modvm_vm_name(vm), "vm7");
	ck_assert_uint_eq(modvm_vm_id(vm), 7);
	ck_assert_uint_eq(modvm_vm_vcpu_count(vm), 2);
	ck_assert_int_eq(modvm_vm_state(vm), MODVM_VM_CREATED);
	ck_assert_str_eq(modvm_vm_error(vm), "");
	modvm_vm_destroy(vm);
	modvm_vm_destroy(NULL);
}
END_TEST

/* Huge pages: 2 MiB granularity, and a clear line when none are reserved. */
START_TEST(hugepages)
{
	struct fake_backend fb;
	struct modvm_vm_config cfg = {
		.struct_size = sizeof(cfg), .name = "huge", .vcpus = 1, .memory_bytes = 3 * MiB,
		.hugepages = true,
	};
	struct modvm_vm *vm = NULL;
	int r;

	fake_backend_init(&fb);
	errors_start();
	ck_assert_int_eq(__modvm_vm_create(&fb.vt, fake_ctx(&fb), &cfg, &vm), -EINVAL);
	ck_assert(errors_is(0, "vm 'huge': memory 3145728 bytes is not a positive multiple of "
			       "2097152 (huge pages)"));
	cfg.memory_bytes = 4 * MiB;
	r = __modvm_vm_create(&fb.vt, fake_ctx(&fb), &cfg, &vm);
	if (r == 0) {
		/* this host has huge pages reserved */
		ck_assert_uint_eq(modvm_vm_ram_region(vm, 0)->size, 4 * MiB);
		modvm_vm_destroy(vm);
	} else {
		ck_assert_ptr_null(vm);
		ck_assert_int_eq(errors_count(), 2);
		ck_assert_msg(strstr(errors_line(1), "vm 'huge': cannot map 4 MiB of guest RAM with "
					     "huge pages: ") != NULL, "%s", errors_line(1));
		ck_assert(strstr(errors_line(1), "/proc/sys/vm/nr_hugepages") != NULL);
	}
	errors_stop();
	ck_assert_int_eq(fb.vm_creates, fb.vm_destroys);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vm-guest-mem");
	TCase *tc = tcase_create("guest_mem");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, gpa_bounds);
	tcase_add_test(tc, ram_private_between_guard_pages);
	tcase_add_test(tc, ram_split_around_mmio_hole);
	tcase_add_test(tc, ram_exactly_3g_is_one_region);
	tcase_add_test(tc, create_refusals);
	tcase_add_test(tc, name_defaults_to_id);
	tcase_add_test(tc, hugepages);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
