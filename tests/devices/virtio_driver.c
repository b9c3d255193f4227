#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <modvm/loop.h>

#include "virtio_driver.h"

static void *translate(void *ctx, uint64_t addr, uint64_t len)
{
	struct vdrv *d = ctx;

	if (d->on_translate)
		d->on_translate(d);
	if (len == 0)
		return NULL;
	if (addr < RAM_SIZE && len <= RAM_SIZE - addr)
		return d->ram + addr;
	if (d->huge && addr >= HUGE_GPA && addr - HUGE_GPA < HUGE_SIZE &&
	    len <= HUGE_SIZE - (addr - HUGE_GPA))
		return d->huge + (addr - HUGE_GPA);
	return NULL;
}

static void count_irq(void *ctx)
{
	((struct vdrv *)ctx)->irqs++;
}

void vdrv_init(struct vdrv *d, struct modvm_virtio_mmio_config *cfg)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	memset(d, 0, sizeof(*d));
	d->map_len = RAM_SIZE + 2 * page;
	d->map = mmap(NULL, d->map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(d->map, MAP_FAILED);
	d->ram = d->map + page;
	ck_assert_int_eq(mprotect(d->ram, RAM_SIZE, PROT_READ | PROT_WRITE), 0);
	d->huge = mmap(NULL, HUGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	if (d->huge == MAP_FAILED)
		d->huge = NULL;
	d->mem = (struct modvm_guest_mem){ .translate = translate, .ctx = d };
	*cfg = (struct modvm_virtio_mmio_config){
		.struct_size = sizeof(*cfg),
		.irq = 5,
		.base = 0xd0000000,
		.mem = d->mem,
		.raise_irq = count_irq,
		.irq_ctx = d,
	};
}

int vdrv_defer_on_loop(void *loop, void (*fn)(void *), void *arg)
{
	return modvm_loop_call(loop, fn, arg);
}

void vdrv_fini(struct vdrv *d)
{
	if (d->huge)
		munmap(d->huge, HUGE_SIZE);
	munmap(d->map, d->map_len);
}

uint8_t *gpa(struct vdrv *d, uint64_t addr)
{
	ck_assert_uint_lt(addr, RAM_SIZE);
	return d->ram + addr;
}

uint32_t mmio_read(struct vdrv *d, uint64_t off)
{
	uint32_t v = 0xdeadbeef;
	modvm_virtio_mmio_access(d->t, off, (uint8_t *)&v, 4, false);
	return v;
}

void mmio_write(struct vdrv *d, uint64_t off, uint32_t v)
{
	modvm_virtio_mmio_access(d->t, off, (uint8_t *)&v, 4, true);
}

uint8_t vdrv_negotiate(struct vdrv *d, uint64_t want)
{
	uint64_t offered;
	uint8_t s = MODVM_VIRTIO_STATUS_ACKNOWLEDGE;

	mmio_write(d, MODVM_VIRTIO_MMIO_STATUS, 0);
	mmio_write(d, MODVM_VIRTIO_MMIO_STATUS, s);
	s |= MODVM_VIRTIO_STATUS_DRIVER;
	mmio_write(d, MODVM_VIRTIO_MMIO_STATUS, s);
	mmio_write(d, MODVM_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	offered = (uint64_t)mmio_read(d, MODVM_VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	mmio_write(d, MODVM_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	offered |= mmio_read(d, MODVM_VIRTIO_MMIO_DEVICE_FEATURES);
	d->features = want & offered;
	mmio_write(d, MODVM_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mmio_write(d, MODVM_VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(d->features >> 32));
	mmio_write(d, MODVM_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mmio_write(d, MODVM_VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)d->features);
	s |= MODVM_VIRTIO_STATUS_FEATURES_OK;
	mmio_write(d, MODVM_VIRTIO_MMIO_STATUS, s);
	return (uint8_t)mmio_read(d, MODVM_VIRTIO_MMIO_STATUS);
}

/* Zeroes what of [addr, addr+len) is RAM, like a driver's fresh allocation. */
static void zero(struct vdrv *d, uint64_t addr, uint64_t len)
{
	if (addr < RAM_SIZE)
		memset(d->ram + addr, 0, len < RAM_SIZE - addr ? len : RAM_SIZE - addr);
}

uint32_t vdrv_setup_queue_at(struct vdrv *d, uint16_t q, uint16_t num, uint64_t desc,
			     uint64_t avail, uint64_t used)
{
	zero(d, desc, 16u * num);
	zero(d, avail, 6 + 2u * num);
	zero(d, used, 6 + 8u * num);
	mmio_write(d, MODVM_VIRTIO_MMIO_QUEUE_SEL, q);
	ck_assert_uint_eq(mmio_read(d, MODVM_VIRTIO_MMIO_QUEUE_READY), 0);
	ck_assert_uint_ne(mmio_read(d, MODVM_VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	mmio_write(d, MODVM_VIRTIO_MMIO_QUEUE_NUM, num);
	mmio_write(d, MODVM_VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	mmio_write(d, MODVM_VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	mmio_write(d, MODVM_VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
	mmio_write(d, MODVM_VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
	mmio_write(d, MODVM_VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
	mmio_write(d, MODVM_VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
	mmio_write(d, MODVM_VIRTIO_MMIO_QUEUE_READY, 1);
	if (q == 0) {
		d->num = num;
		d->avail_idx = d->last_used = 0;
	}
	return mmio_read(d, MODVM_VIRTIO_MMIO_QUEUE_READY);
}

uint32_t vdrv_setup_queue(struct vdrv *d, uint16_t q, uint16_t num)
{
	uint64_t shift = (uint64_t)q * 0x4000;
	return vdrv_setup_queue_at(d, q, num, DESC_GPA + shift, AVAIL_GPA + shift,
				   USED_GPA + shift);
}

void vdrv_driver_ok(struct vdrv *d)
{
	uint32_t s = mmio_read(d, MODVM_VIRTIO_MMIO_STATUS);
	mmio_write(d, MODVM_VIRTIO_MMIO_STATUS, s | MODVM_VIRTIO_STATUS_DRIVER_OK);
}

void vdrv_start(struct vdrv *d, uint64_t want, uint16_t num)
{
	ck_assert_uint_ne(vdrv_negotiate(d, want) & MODVM_VIRTIO_STATUS_FEATURES_OK, 0);
	ck_assert_uint_eq(vdrv_setup_queue(d, 0, num), 1);
	vdrv_driver_ok(d);
	ck_assert_uint_ne(mmio_read(d, MODVM_VIRTIO_MMIO_STATUS) & MODVM_VIRTIO_STATUS_DRIVER_OK,
			  0);
}

void vdrv_set_desc(struct vdrv *d, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
		   uint16_t flags, uint16_t next)
{
	uint8_t *p = gpa(d, table + 16ull * i);
	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

static void put16(struct vdrv *d, uint64_t addr, uint16_t v)
{
	__atomic_store_n((uint16_t *)gpa(d, addr), v, __ATOMIC_RELEASE);
}

static uint16_t get16(struct vdrv *d, uint64_t addr)
{
	return __atomic_load_n((uint16_t *)gpa(d, addr), __ATOMIC_ACQUIRE);
}

void vdrv_post(struct vdrv *d, uint16_t head)
{
	put16(d, AVAIL_GPA + 4 + 2u * (d->avail_idx % d->num), head);
	d->avail_idx++;
	put16(d, AVAIL_GPA + 2, d->avail_idx);
}

void vdrv_set_avail_idx(struct vdrv *d, uint16_t idx)
{
	put16(d, AVAIL_GPA + 2, idx);
}

void vdrv_set_avail_flags(struct vdrv *d, uint16_t flags)
{
	put16(d, AVAIL_GPA, flags);
}

void vdrv_set_used_event(struct vdrv *d, uint16_t v)
{
	put16(d, AVAIL_GPA + 4 + 2u * d->num, v);
}

uint16_t vdrv_avail_event(struct vdrv *d)
{
	return get16(d, USED_GPA + 4 + 8u * d->num);
}

void vdrv_kick(struct vdrv *d, uint16_t q)
{
	mmio_write(d, MODVM_VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

uint16_t vdrv_used_idx(struct vdrv *d)
{
	return get16(d, USED_GPA + 2);
}

bool vdrv_get_used(struct vdrv *d, uint32_t *id, uint32_t *len)
{
	uint8_t *e;

	if (vdrv_used_idx(d) == d->last_used)
		return false;
	e = gpa(d, USED_GPA + 4 + 8u * (d->last_used % d->num));
	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
	d->last_used++;
	return true;
}

uint32_t vdrv_ack(struct vdrv *d)
{
	uint32_t isr = mmio_read(d, MODVM_VIRTIO_MMIO_INTERRUPT_STATUS);
	mmio_write(d, MODVM_VIRTIO_MMIO_INTERRUPT_ACK, isr);
	return isr;
}

struct modvm_virtq_stats vdrv_stats(struct vdrv *d, uint16_t q)
{
	struct modvm_virtq_stats st;
	struct modvm_virtq *vq = modvm_virtio_queue(d->dev, q);

	ck_assert_ptr_nonnull(vq);
	modvm_virtq_get_stats(vq, &st);
	return st;
}

bool vdrv_all(struct vdrv *d, uint64_t addr, size_t len, uint8_t byte)
{
	const uint8_t *p = gpa(d, addr);
	for (size_t i = 0; i < len; i++)
		if (p[i] != byte)
			return false;
	return true;
}
