/*
 * core/boot_ram.c — the loader's only way into guest RAM, and the e820 map
 * derived from the same region list.
 */
#include <errno.h>
#include <string.h>

#include "boot/boot.h"

void *modvm__boot_ram_ptr(const struct modvm__boot_ram *ram, uint64_t gpa, uint64_t len)
{
	if (!ram || len == 0)
		return NULL;
	for (uint32_t i = 0; i < ram->count; i++) {
		const struct modvm_ram_region *r = &ram->region[i];

		/* Written as differences so that no sum can wrap. */
		if (gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		if (len > r->size - (gpa - r->gpa) || !r->hva)
			return NULL;
		return (uint8_t *)r->hva + (gpa - r->gpa);
	}
	return NULL;
}

int modvm__boot_ram_write(const struct modvm__boot_ram *ram, uint64_t gpa, const void *src,
			  uint64_t len)
{
	void *dst;

	if (len == 0)
		return 0;
	dst = modvm__boot_ram_ptr(ram, gpa, len);
	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int modvm__boot_ram_zero(const struct modvm__boot_ram *ram, uint64_t gpa, uint64_t len)
{
	void *dst;

	if (len == 0)
		return 0;
	dst = modvm__boot_ram_ptr(ram, gpa, len);
	if (!dst)
		return -EFAULT;
	memset(dst, 0, len);
	return 0;
}

uint64_t modvm__boot_ram_low_end(const struct modvm__boot_ram *ram)
{
	const uint64_t four_gib = 1ULL << 32;

	for (uint32_t i = 0; ram && i < ram->count; i++) {
		if (ram->region[i].gpa == 0)
			return ram->region[i].size < four_gib ? ram->region[i].size : four_gib;
	}
	return 0;
}

uint8_t modvm__boot_sum8(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return sum;
}

static int e820_add(struct modvm__boot_e820 *out, uint32_t max, uint32_t *n, uint64_t addr,
		    uint64_t end, uint32_t type)
{
	if (end <= addr)
		return 0;
	if (*n >= max)
		return -E2BIG;
	out[*n] = (struct modvm__boot_e820){ .addr = addr, .size = end - addr, .type = type };
	(*n)++;
	return 0;
}

int modvm__boot_e820_build(const struct modvm__boot_ram *ram, struct modvm__boot_e820 *out,
			   uint32_t max)
{
	const uint64_t hole = MODVM_BOOT_EBDA_GPA, hole_end = MODVM_BOOT_HIMEM_GPA;
	bool hole_done = false;
	uint32_t n = 0;
	int rc;

	/* Regions are ascending, so splitting each around the hole keeps the map sorted. */
	for (uint32_t i = 0; i < ram->count; i++) {
		uint64_t a = ram->region[i].gpa, e = a + ram->region[i].size;

		if (!hole_done && a >= hole_end) {
			rc = e820_add(out, max, &n, hole, hole_end, MODVM_BOOT_E820_RESERVED);
			if (rc < 0)
				return rc;
			hole_done = true;
		}
		if (hole_done || e <= hole) {
			rc = e820_add(out, max, &n, a, e, MODVM_BOOT_E820_RAM);
			if (rc < 0)
				return rc;
			continue;
		}
		rc = e820_add(out, max, &n, a, a < hole ? hole : a, MODVM_BOOT_E820_RAM);
		if (rc == 0)
			rc = e820_add(out, max, &n, hole, hole_end, MODVM_BOOT_E820_RESERVED);
		if (rc == 0)
			rc = e820_add(out, max, &n, e > hole_end ? hole_end : e, e,
				      MODVM_BOOT_E820_RAM);
		if (rc < 0)
			return rc;
		hole_done = true;
	}
	if (!hole_done) {
		rc = e820_add(out, max, &n, hole, hole_end, MODVM_BOOT_E820_RESERVED);
		if (rc < 0)
			return rc;
	}
	return (int)n;
}
