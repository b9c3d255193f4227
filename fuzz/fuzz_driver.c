/*
 * The driver side shared by the device fuzz targets.  fuzz_driver.h says
 * why it exists, and why what a function reads from the input must not
 * change.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_driver.h"

uint8_t fd_u8(struct fd_input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

uint16_t fd_u16(struct fd_input *in)
{
	uint16_t lo = fd_u8(in);
	return (uint16_t)(lo | fd_u8(in) << 8);
}

uint32_t fd_u32(struct fd_input *in)
{
	uint32_t lo = fd_u16(in);
	return lo | (uint32_t)fd_u16(in) << 16;
}

uint64_t fd_u64(struct fd_input *in)
{
	uint64_t lo = fd_u32(in);
	return lo | (uint64_t)fd_u32(in) << 32;
}

uint8_t *fd_map_ram(uint64_t size, int flags)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *map = mmap(NULL, size + 2 * page, PROT_NONE, flags | MAP_ANONYMOUS, -1, 0);

	if (map == MAP_FAILED || mprotect(map + page, size, PROT_READ | PROT_WRITE) < 0)
		abort();
	return map + page;
}

void *fd_ram_at(const struct fd_ram *ram, uint64_t gpa, uint64_t len)
{
	if (len == 0 || gpa >= ram->size || len > ram->size - gpa)
		return NULL;
	return ram->base + gpa;
}

static void *translate(void *ctx, uint64_t gpa, uint64_t len)
{
	return fd_ram_at(ctx, gpa, len);
}

static void no_irq(void *ctx)
{
	(void)ctx;
}

struct modvm_virtio_mmio_config fd_mmio_config(const char *name, struct fd_ram *ram)
{
	return (struct modvm_virtio_mmio_config){
		.struct_size = sizeof(struct modvm_virtio_mmio_config),
		.irq = 5,
		.base = 0xd0000000,
		.name = name,
		.mem = { .translate = translate, .ctx = ram },
		.raise_irq = no_irq,
	};
}

/* The part of the write that is RAM. */
static void put_clipped(const struct fd_ram *ram, uint64_t gpa, const void *p, size_t len)
{
	if (gpa >= ram->size)
		return;
	if (len > ram->size - gpa)
		len = (size_t)(ram->size - gpa);
	memcpy(ram->base + gpa, p, len);
}

bool fd_put(const struct fd_ram *ram, uint64_t gpa, const void *p, size_t len)
{
	bool fits = len <= ram->size && gpa <= ram->size - len;

	if (fits || ram->clip)
		put_clipped(ram, gpa, p, len);
	return fits;
}

static void put16(const struct fd_ram *ram, uint64_t gpa, uint16_t v)
{
	fd_put(ram, gpa, &v, 2);
}

bool fd_put_desc(const struct fd_ram *ram, uint64_t table, uint16_t i, uint64_t addr,
		 uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t d[16];

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	return fd_put(ram, table + 16ull * i, d, sizeof(d));
}

/* A ring of no size still gets its index bumped: the device must cope. */
void fd_make_available(const struct fd_ram *ram, struct fd_ring *q, uint16_t head)
{
	if (q->num)
		put16(ram, q->avail + 4 + 2ull * (q->idx % q->num), head);
	q->idx++;
	put16(ram, q->avail + 2, q->idx);
}

void fd_reg_write(struct modvm_virtio_mmio *t, uint64_t off, uint32_t v)
{
	modvm_virtio_mmio_access(t, off, (uint8_t *)&v, 4, true);
}

uint32_t fd_reg_read(struct modvm_virtio_mmio *t, uint64_t off)
{
	uint32_t v = 0;

	modvm_virtio_mmio_access(t, off, (uint8_t *)&v, 4, false);
	return v;
}

uint8_t fd_negotiate(const struct fd_driver *d, struct fd_input *in)
{
	uint8_t flags = fd_u8(in);
	uint64_t f = fd_u64(in);
	uint32_t s = MODVM_VIRTIO_STATUS_ACKNOWLEDGE;

	if (flags & 1)
		f |= MODVM_VIRTIO_FEATURE(MODVM_VIRTIO_F_VERSION_1);
	fd_reg_write(d->t, MODVM_VIRTIO_MMIO_STATUS, 0);
	fd_reg_write(d->t, MODVM_VIRTIO_MMIO_STATUS, s);
	if (!(flags & 2))
		s |= MODVM_VIRTIO_STATUS_DRIVER;
	fd_reg_write(d->t, MODVM_VIRTIO_MMIO_STATUS, s);
	fd_reg_write(d->t, MODVM_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	fd_reg_write(d->t, MODVM_VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
	fd_reg_write(d->t, MODVM_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	fd_reg_write(d->t, MODVM_VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	fd_reg_write(d->t, MODVM_VIRTIO_MMIO_STATUS, s | MODVM_VIRTIO_STATUS_FEATURES_OK);
	return flags;
}

void fd_status(const struct fd_driver *d, struct fd_input *in)
{
	fd_reg_write(d->t, MODVM_VIRTIO_MMIO_STATUS, fd_u8(in));
}

/* q may be nq, past any queue the device can have: written, not tracked. */
void fd_queue(const struct fd_driver *d, struct fd_input *in)
{
	uint8_t q = fd_u8(in) % (d->nq + 1);
	uint16_t num = fd_u16(in);
	uint64_t desc = fd_u16(in), avail = fd_u16(in), used = fd_u16(in);
	uint8_t ready = fd_u8(in);

	fd_reg_write(d->t, MODVM_VIRTIO_MMIO_QUEUE_SEL, q);
	fd_reg_write(d->t, MODVM_VIRTIO_MMIO_QUEUE_NUM, num);
	fd_reg_write(d->t, MODVM_VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	fd_reg_write(d->t, MODVM_VIRTIO_MMIO_QUEUE_DESC_HIGH, ready & 0x80 ? 1 : 0);
	fd_reg_write(d->t, MODVM_VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
	fd_reg_write(d->t, MODVM_VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
	fd_reg_write(d->t, MODVM_VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
	fd_reg_write(d->t, MODVM_VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
	fd_reg_write(d->t, MODVM_VIRTIO_MMIO_QUEUE_READY, ready & 1);
	if (q < d->nq)
		d->rings[q] = (struct fd_ring){ .desc = desc, .avail = avail, .num = num };
}

void fd_write_ram(const struct fd_driver *d, struct fd_input *in)
{
	uint64_t gpa = fd_u16(in);
	uint8_t n = fd_u8(in), v[UINT8_MAX];

	for (unsigned i = 0; i < n; i++)
		v[i] = fd_u8(in);
	put_clipped(d->ram, gpa, v, n);
}

/* Raw descriptors, any flags and links: the chain is whatever the input says. */
void fd_post(const struct fd_driver *d, struct fd_input *in)
{
	struct fd_ring *q = &d->rings[fd_u8(in) % d->nq];
	uint16_t head = fd_u8(in), n = (uint16_t)(fd_u8(in) % 4 + 1);

	for (uint16_t i = 0; i < n; i++) {
		uint64_t addr = fd_u16(in);
		uint32_t len = fd_u16(in);
		uint16_t flags = fd_u8(in) & 7, next = fd_u8(in);
		fd_put_desc(d->ram, q->desc, (uint16_t)(head + i), addr, len, flags, next);
	}
	fd_make_available(d->ram, q, head);
}

void fd_kick(const struct fd_driver *d, struct fd_input *in)
{
	fd_reg_write(d->t, MODVM_VIRTIO_MMIO_QUEUE_NOTIFY, fd_u8(in) % (d->nq + 2));
}

void fd_reg(const struct fd_driver *d, struct fd_input *in)
{
	uint64_t off = (uint64_t)(fd_u8(in) % 64) * 4;
	uint32_t v = fd_u32(in);

	if (fd_u8(in) & 1)
		fd_reg_write(d->t, off, v);
	else
		(void)fd_reg_read(d->t, off);
}

void fd_avail_idx(const struct fd_driver *d, struct fd_input *in)
{
	struct fd_ring *q = &d->rings[fd_u8(in) % d->nq];

	q->idx = fd_u16(in);
	put16(d->ram, q->avail + 2, q->idx);
}

/* Lengths 3 and 0 are ones no driver uses: the transport must refuse them. */
struct fd_config_access fd_config(const struct fd_driver *d, struct fd_input *in)
{
	static const uint32_t lens[] = { 1, 2, 4, 8, 3, 0 };
	struct fd_config_access a;

	a.off = fd_u8(in);
	a.len = lens[fd_u8(in) % 6];
	a.write = fd_u8(in) & 1;
	a.v = fd_u64(in);
	modvm_virtio_mmio_access(d->t, MODVM_VIRTIO_MMIO_CONFIG + a.off, (uint8_t *)&a.v, a.len,
				 a.write);
	return a;
}
