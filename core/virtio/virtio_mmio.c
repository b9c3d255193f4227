/*
 * The virtio-mmio transport, version 2 register layout (virtio 1.2,
 * 4.2.2).  It only decodes registers: negotiation and reset live in
 * virtio_dev.c, ring handling in virtio_queue.c.  Guests may poke any
 * offset with any width; nothing they do here can crash us, it is at worst
 * ignored and logged at DEBUG.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtio.h"

struct modvm_virtio_mmio {
	struct modvm_virtio_dev dev;
	uint64_t base;
	uint32_t irq;
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	uint32_t shm_sel;
};

MODVM_EXPORT int modvm_virtio_mmio_create(const struct modvm_virtio_mmio_config *cfg,
					  const struct modvm_virtio_device_ops *ops, void *opaque,
					  struct modvm_virtio_mmio **out)
{
	struct modvm_virtio_mmio *t;
	int ret;

	if (!cfg || cfg->struct_size < offsetof(struct modvm_virtio_mmio_config, irq_ctx) +
					       sizeof(cfg->irq_ctx)) {
		modvm_log(MODVM_LOG_ERROR, NULL,
			  "virtio-mmio: config missing or struct_size too small");
		return -EINVAL;
	}
	if (cfg->base & (MODVM_VIRTIO_MMIO_SIZE - 1)) {
		modvm_log(MODVM_LOG_ERROR, NULL,
			  "virtio-mmio '%s': base 0x%" PRIx64 " is not 4 KiB aligned",
			  cfg->name ? cfg->name : "?", cfg->base);
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	ret = modvm__virtio_dev_init(&t->dev, cfg->name, &cfg->mem, cfg->raise_irq, cfg->irq_ctx,
				     ops, opaque);
	if (ret < 0)
		goto free_t;
	/* ABI 1.5's defer only where the caller's struct has it. */
	if (cfg->struct_size >= offsetof(struct modvm_virtio_mmio_config, defer_ctx) +
				       sizeof(cfg->defer_ctx)) {
		ret = modvm__virtio_later_init(&t->dev, cfg->defer, cfg->defer_ctx);
		if (ret < 0)
			goto fini_dev;
	}
	t->base = cfg->base;
	t->irq = cfg->irq;
	*out = t;
	return 0;
fini_dev:
	modvm__virtio_dev_fini(&t->dev);
free_t:
	free(t);
	return ret;
}

MODVM_EXPORT void modvm_virtio_mmio_destroy(struct modvm_virtio_mmio *t)
{
	if (!t)
		return;
	modvm__virtio_dev_fini(&t->dev);
	free(t);
}

MODVM_EXPORT struct modvm_virtio_dev *modvm_virtio_mmio_dev(struct modvm_virtio_mmio *t)
{
	return &t->dev;
}

MODVM_EXPORT uint64_t modvm_virtio_mmio_base(const struct modvm_virtio_mmio *t)
{
	return t->base;
}

MODVM_EXPORT uint64_t modvm_virtio_mmio_size(const struct modvm_virtio_mmio *t)
{
	(void)t;
	return MODVM_VIRTIO_MMIO_SIZE;
}

MODVM_EXPORT uint32_t modvm_virtio_mmio_irq(const struct modvm_virtio_mmio *t)
{
	return t->irq;
}

MODVM_EXPORT int modvm_virtio_mmio_cmdline(const struct modvm_virtio_mmio *t, char *buf,
					   size_t size)
{
	return snprintf(buf, size, "virtio_mmio.device=4K@0x%" PRIx64 ":%u", t->base, t->irq);
}

static struct modvm_virtq *selected_queue(struct modvm_virtio_mmio *t)
{
	return t->queue_sel < t->dev.ops.num_queues ? &t->dev.queues[t->queue_sel] : NULL;
}

static uint32_t read_reg(struct modvm_virtio_mmio *t, uint64_t off)
{
	struct modvm_virtio_dev *dev = &t->dev;
	struct modvm_virtq *vq = selected_queue(t);

	switch (off) {
	case MODVM_VIRTIO_MMIO_MAGIC_VALUE:
		return MODVM_VIRTIO_MMIO_MAGIC;
	case MODVM_VIRTIO_MMIO_VERSION:
		return MODVM_VIRTIO_MMIO_VERSION_2;
	case MODVM_VIRTIO_MMIO_DEVICE_ID:
		return dev->ops.device_id;
	case MODVM_VIRTIO_MMIO_VENDOR_ID:
		return MODVM_VIRTIO_VENDOR_ID;
	case MODVM_VIRTIO_MMIO_DEVICE_FEATURES:
		if (t->device_features_sel > 1)
			return 0;
		return (uint32_t)(dev->offered >> (32 * t->device_features_sel));
	case MODVM_VIRTIO_MMIO_QUEUE_NUM_MAX:
		return vq ? vq->max_size : 0;
	case MODVM_VIRTIO_MMIO_QUEUE_READY:
		return vq ? vq->ready : 0;
	case MODVM_VIRTIO_MMIO_INTERRUPT_STATUS:
		return dev->isr;
	case MODVM_VIRTIO_MMIO_STATUS:
		return modvm__virtio_dev_read_status(dev);
	case MODVM_VIRTIO_MMIO_SHM_LEN_LOW:
	case MODVM_VIRTIO_MMIO_SHM_LEN_HIGH:
	case MODVM_VIRTIO_MMIO_SHM_BASE_LOW:
	case MODVM_VIRTIO_MMIO_SHM_BASE_HIGH:
		return 0xffffffffu;	/* 4.2.2: length all-ones = no such region */
	case MODVM_VIRTIO_MMIO_QUEUE_RESET:
		return 0;
	case MODVM_VIRTIO_MMIO_CONFIG_GENERATION:
		return dev->config_generation;
	default:
		modvm__log_limited(dev->log_limit, MODVM_LOG_DEBUG, dev->name, "read of unknown or write-only register 0x%03"
			  PRIx64 " ignored", off);
		return 0;
	}
}

/* Queue registers change only while the queue is not ready (4.2.3.2). */
static bool queue_writable(struct modvm_virtio_mmio *t, struct modvm_virtq *vq, uint64_t off)
{
	if (vq && !vq->ready)
		return true;
	modvm__log_limited(t->dev.log_limit, MODVM_LOG_DEBUG, t->dev.name, "write to register 0x%03" PRIx64 " of %s queue %u "
		  "ignored", off, vq ? "ready" : "nonexistent", t->queue_sel);
	return false;
}

static void set_half(uint64_t *field, bool high, uint32_t v)
{
	if (high)
		*field = (*field & 0xffffffffull) | ((uint64_t)v << 32);
	else
		*field = (*field & ~0xffffffffull) | v;
}

static void write_queue_ready(struct modvm_virtio_mmio *t, struct modvm_virtq *vq, uint32_t v)
{
	struct modvm_virtio_dev *dev = &t->dev;
	uint64_t f = dev->driver_features;

	if (!vq) {
		modvm__log_limited(dev->log_limit, MODVM_LOG_DEBUG, dev->name, "QueueReady for nonexistent queue %u ignored",
			  t->queue_sel);
		return;
	}
	if (v == 0) {
		modvm__virtq_disable(vq);
		return;
	}
	if (vq->ready)
		return;
	if (!(dev->status & MODVM_VIRTIO_STATUS_FEATURES_OK)) {
		modvm__log_limited(dev->log_limit, MODVM_LOG_WARN, dev->name, "queue %u: QueueReady before FEATURES_OK "
			  "refused", vq->index);
		vq->stats.setup_refused++;
		return;
	}
	if (modvm__virtq_enable(vq, f & MODVM_VIRTIO_FEATURE(MODVM_VIRTIO_F_RING_EVENT_IDX),
				f & MODVM_VIRTIO_FEATURE(MODVM_VIRTIO_F_INDIRECT_DESC)) == 0)
		vq->driver_ok = dev->status & MODVM_VIRTIO_STATUS_DRIVER_OK;
}

static void write_queue_notify(struct modvm_virtio_mmio *t, uint32_t v)
{
	struct modvm_virtio_dev *dev = &t->dev;

	if (!(dev->status & MODVM_VIRTIO_STATUS_DRIVER_OK) || v >= dev->ops.num_queues ||
	    !dev->queues[v].ready) {
		modvm__log_limited(dev->log_limit, MODVM_LOG_DEBUG, dev->name, "notify for queue %u ignored (not live)", v);
		return;
	}
	if (dev->ops.queue_notify)
		dev->ops.queue_notify(dev->opaque, (uint16_t)v);
}

static void write_reg(struct modvm_virtio_mmio *t, uint64_t off, uint32_t v)
{
	struct modvm_virtio_dev *dev = &t->dev;
	struct modvm_virtq *vq = selected_queue(t);

	switch (off) {
	case MODVM_VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t->device_features_sel = v;
		return;
	case MODVM_VIRTIO_MMIO_DRIVER_FEATURES:
		/* The choice is frozen once FEATURES_OK is set (3.1.1). */
		if (t->driver_features_sel > 1 || (dev->status & MODVM_VIRTIO_STATUS_FEATURES_OK)) {
			modvm__log_limited(dev->log_limit, MODVM_LOG_DEBUG, dev->name, "DriverFeatures write (sel %u) ignored",
				  t->driver_features_sel);
			return;
		}
		set_half(&dev->driver_features, t->driver_features_sel == 1, v);
		return;
	case MODVM_VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		t->driver_features_sel = v;
		return;
	case MODVM_VIRTIO_MMIO_QUEUE_SEL:
		t->queue_sel = v;
		return;
	case MODVM_VIRTIO_MMIO_QUEUE_NUM:
		if (queue_writable(t, vq, off))
			vq->num = v > 0xffff ? 0 : (uint16_t)v;	/* 0: refused at QueueReady */
		return;
	case MODVM_VIRTIO_MMIO_QUEUE_READY:
		write_queue_ready(t, vq, v);
		return;
	case MODVM_VIRTIO_MMIO_QUEUE_NOTIFY:
		write_queue_notify(t, v);
		return;
	case MODVM_VIRTIO_MMIO_INTERRUPT_ACK:
		dev->isr &= ~v;
		return;
	case MODVM_VIRTIO_MMIO_STATUS:
		if (v > 0xff) {
			modvm__log_limited(dev->log_limit, MODVM_LOG_DEBUG, dev->name, "Status write 0x%x ignored", v);
			return;
		}
	{
		bool was_ok = dev->status & MODVM_VIRTIO_STATUS_DRIVER_OK;
		modvm__virtio_dev_write_status(dev, (uint8_t)v);
		if (v == 0)
			t->device_features_sel = t->driver_features_sel = t->queue_sel =
				t->shm_sel = 0;
		/* Drivers may make buffers available and kick before DRIVER_OK
		 * (Linux's virtio_balloon primes its stats queue so); those kicks
		 * were ignored, so look at every live queue now. */
		if (!was_ok && (dev->status & MODVM_VIRTIO_STATUS_DRIVER_OK))
			for (uint16_t i = 0; i < dev->ops.num_queues; i++)
				if (dev->queues[i].ready)
					write_queue_notify(t, i);
		return;
	}
	case MODVM_VIRTIO_MMIO_QUEUE_DESC_LOW:
	case MODVM_VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if (queue_writable(t, vq, off))
			set_half(&vq->desc_gpa, off == MODVM_VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
		return;
	case MODVM_VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case MODVM_VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		if (queue_writable(t, vq, off))
			set_half(&vq->avail_gpa, off == MODVM_VIRTIO_MMIO_QUEUE_DRIVER_HIGH, v);
		return;
	case MODVM_VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case MODVM_VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		if (queue_writable(t, vq, off))
			set_half(&vq->used_gpa, off == MODVM_VIRTIO_MMIO_QUEUE_DEVICE_HIGH, v);
		return;
	case MODVM_VIRTIO_MMIO_SHM_SEL:
		t->shm_sel = v;
		return;
	default:
		modvm__log_limited(dev->log_limit, MODVM_LOG_DEBUG, dev->name, "write of 0x%x to unknown or read-only "
			  "register 0x%03" PRIx64 " ignored", v, off);
		return;
	}
}

static void config_access(struct modvm_virtio_mmio *t, uint32_t off, uint8_t *data, uint32_t len,
			  bool is_write)
{
	struct modvm_virtio_dev *dev = &t->dev;
	bool ok = (len == 1 || len == 2 || len == 4 || len == 8) &&
		  (uint64_t)off + len <= dev->ops.config_size;

	if (!ok) {
		modvm__log_limited(dev->log_limit, MODVM_LOG_DEBUG, dev->name, "config %s of %u bytes at 0x%x outside its "
			  "%u bytes ignored", is_write ? "write" : "read", len, off,
			  dev->ops.config_size);
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	if (is_write) {
		if (dev->ops.write_config)
			dev->ops.write_config(dev->opaque, off, data, len);
	} else {
		memset(data, 0, len);
		if (dev->ops.read_config)
			dev->ops.read_config(dev->opaque, off, data, len);
	}
}

MODVM_EXPORT void modvm_virtio_mmio_access(struct modvm_virtio_mmio *t, uint64_t offset,
					   uint8_t *data, uint32_t len, bool is_write)
{
	struct modvm_virtio_dev *dev = &t->dev;
	uint32_t v;

	if (len == 0 || len > 8 || offset >= MODVM_VIRTIO_MMIO_SIZE ||
	    offset + len > MODVM_VIRTIO_MMIO_SIZE) {
		modvm__log_limited(dev->log_limit, MODVM_LOG_DEBUG, dev->name, "access of %u bytes at 0x%" PRIx64
			  " outside the window ignored", len, offset);
		if (!is_write && len <= 8)
			memset(data, 0, len);
		return;
	}
	pthread_mutex_lock(&dev->lock);
	if (offset >= MODVM_VIRTIO_MMIO_CONFIG) {
		config_access(t, (uint32_t)(offset - MODVM_VIRTIO_MMIO_CONFIG), data, len, is_write);
	} else if (len != 4 || (offset & 3)) {
		/* 4.2.2: registers take aligned 32-bit accesses only. */
		modvm__log_limited(dev->log_limit, MODVM_LOG_DEBUG, dev->name, "%u-byte %s of register 0x%03" PRIx64
			  " ignored (registers are 32-bit)", len, is_write ? "write" : "read",
			  offset);
		if (!is_write)
			memset(data, 0, len);
	} else if (is_write) {
		memcpy(&v, data, 4);
		write_reg(t, offset, le32toh(v));
	} else {
		v = htole32(read_reg(t, offset));
		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&dev->lock);
}

MODVM_EXPORT void modvm_virtio_mmio_bus_handler(void *userdata, uint64_t offset, uint8_t *data,
						uint32_t len, bool is_write)
{
	modvm_virtio_mmio_access(userdata, offset, data, len, is_write);
}
