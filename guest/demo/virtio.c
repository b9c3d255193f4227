/* Just enough of a virtio-mmio driver for the demo guest's devices. */
#include "demo.h"

bool virtio_negotiate(uint64_t base, uint32_t features, const char *who)
{
	mmio_write32(base + VM_STATUS, 0);
	mmio_write32(base + VM_STATUS, S_ACK | S_DRIVER);
	mmio_write32(base + VM_DEV_FEATURES_SEL, 1);
	if (!(mmio_read32(base + VM_DEV_FEATURES) & 1)) {
		puts_serial(who);
		puts_serial(": device lacks VERSION_1\n");
		return false;
	}
	mmio_write32(base + VM_DEV_FEATURES_SEL, 0);
	features &= mmio_read32(base + VM_DEV_FEATURES);
	mmio_write32(base + VM_DRV_FEATURES_SEL, 0);
	mmio_write32(base + VM_DRV_FEATURES, features);
	mmio_write32(base + VM_DRV_FEATURES_SEL, 1);
	mmio_write32(base + VM_DRV_FEATURES, 1);
	mmio_write32(base + VM_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(mmio_read32(base + VM_STATUS) & S_FEATURES_OK)) {
		mmio_write32(base + VM_STATUS, S_FAILED);
		puts_serial(who);
		puts_serial(": features refused\n");
		return false;
	}
	return true;
}

bool vq_setup(uint64_t base, uint16_t index, struct vq *q)
{
	mmio_write32(base + VM_QUEUE_SEL, index);
	uint32_t max = mmio_read32(base + VM_QUEUE_NUM_MAX);
	if (max < QSIZE)
		return false;
	q->base = base;
	q->index = index;
	q->seen = 0;
	mmio_write32(base + VM_QUEUE_NUM, QSIZE);
	mmio_write32(base + VM_DESC_LO, (uint32_t)(uintptr_t)q->desc);
	mmio_write32(base + VM_DESC_HI, 0);
	mmio_write32(base + VM_DRIVER_LO, (uint32_t)(uintptr_t)&q->avail);
	mmio_write32(base + VM_DRIVER_HI, 0);
	mmio_write32(base + VM_DEVICE_LO, (uint32_t)(uintptr_t)&q->used);
	mmio_write32(base + VM_DEVICE_HI, 0);
	mmio_write32(base + VM_QUEUE_READY, 1);
	return mmio_read32(base + VM_QUEUE_READY) == 1;
}

void vq_add1(struct vq *q, const void *buf, uint32_t len, bool device_writes)
{
	uint16_t slot = q->avail.idx % QSIZE;
	q->desc[slot] = (struct vring_desc){ (uint64_t)(uintptr_t)buf, len,
					     device_writes ? VRING_DESC_F_WRITE : 0, 0 };
	q->avail.ring[slot] = slot;
	barrier();
	q->avail.idx++;
	barrier();
	mmio_write32(q->base + VM_QUEUE_NOTIFY, q->index);
}

bool vq_take_used(struct vq *q)
{
	if (*(volatile uint16_t *)&q->used.idx == q->seen)
		return false;
	q->seen++;
	return true;
}
