/*
 * The transport-independent half of a virtio device: status and feature
 * negotiation (virtio 1.2, 3.1), reset, interrupt status, the config
 * generation, and the device-facing calls of modvm/virtio.h.  The
 * virtio-mmio register decoder (virtio_mmio.c) drives it; a future
 * virtio-pci transport would too.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtio.h"

/* What the library implements on behalf of every device. */
#define LIBRARY_FEATURES                                                                  \
	(MODVM_VIRTIO_FEATURE(MODVM_VIRTIO_F_VERSION_1) |                                 \
	 MODVM_VIRTIO_FEATURE(MODVM_VIRTIO_F_RING_EVENT_IDX) |                            \
	 MODVM_VIRTIO_FEATURE(MODVM_VIRTIO_F_INDIRECT_DESC))
/* Bits 24..40 are the transport's (6): a device may not offer them. */
#define TRANSPORT_BITS (((1ULL << 41) - 1) & ~((1ULL << 24) - 1))

static void on_queue_broken(void *ctx, struct modvm_virtq *vq)
{
	struct modvm_virtio_dev *dev = ctx;

	(void)vq;
	dev->needs_reset = true;
	if (dev->status & MODVM_VIRTIO_STATUS_DRIVER_OK)
		modvm__virtio_dev_interrupt(dev, MODVM_VIRTIO_INT_CONFIG);
}

static int check_ops(const char *name, const struct modvm_virtio_device_ops *ops)
{
	const char *why = NULL;
	uint32_t m = ops->queue_max_size;

	if (ops->struct_size < offsetof(struct modvm_virtio_device_ops, reset) + sizeof(ops->reset))
		why = "struct_size too small";
	else if (ops->device_id == 0)
		why = "device_id is 0";
	else if (ops->features & TRANSPORT_BITS)
		why = "features include transport bits 24..40";
	else if (ops->num_queues == 0 || ops->num_queues > MODVM_VIRTIO_MAX_QUEUES)
		why = "num_queues is not in 1..1024";
	else if (m == 0 || m > MODVM_VIRTQ_MAX_SIZE || (m & (m - 1)))
		why = "queue_max_size is not a power of two in 1..32768";
	else if (ops->config_size > MODVM_VIRTIO_MMIO_CONFIG_MAX)
		why = "config_size exceeds 3840 bytes";
	if (why) {
		modvm_log(MODVM_LOG_ERROR, NULL, "virtio device '%s': %s", name, why);
		return -EINVAL;
	}
	return 0;
}

MODVM_INTERNAL int modvm__virtio_dev_init(struct modvm_virtio_dev *dev, const char *name,
					  const struct modvm_guest_mem *mem,
					  void (*raise_irq)(void *), void *irq_ctx,
					  const struct modvm_virtio_device_ops *ops, void *opaque)
{
	pthread_mutexattr_t attr;
	int ret;

	memset(dev, 0, sizeof(*dev));
	if (name)
		snprintf(dev->name, sizeof(dev->name), "%s", name);
	else
		snprintf(dev->name, sizeof(dev->name), "virtio-%u", ops ? ops->device_id : 0);
	if (!ops || !mem || !mem->translate) {
		modvm_log(MODVM_LOG_ERROR, NULL, "virtio device '%s': no %s", dev->name,
			  ops ? "guest memory translation" : "device ops");
		return -EINVAL;
	}
	ret = check_ops(dev->name, ops);
	if (ret < 0)
		return ret;
	/* Its own limiter until a VM hands it the VM's (vm_devices.c). */
	char who[64];
	snprintf(who, sizeof(who), "virtio device '%s'", dev->name);
	modvm__ratelimit_init(&dev->own_limit, who, MODVM__GUEST_LOG_BURST,
			      MODVM__GUEST_LOG_WINDOW_NS);
	dev->log_limit = &dev->own_limit;
	memcpy(&dev->ops, ops, ops->struct_size < sizeof(dev->ops) ? ops->struct_size
								   : sizeof(dev->ops));
	dev->ops.struct_size = sizeof(dev->ops);
	dev->opaque = opaque;
	dev->mem = *mem;
	dev->raise_irq = raise_irq;
	dev->irq_ctx = irq_ctx;
	dev->offered = ops->features | LIBRARY_FEATURES;

	dev->queues = calloc(ops->num_queues, sizeof(*dev->queues));
	if (!dev->queues)
		return -ENOMEM;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	ret = -pthread_mutex_init(&dev->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	if (ret < 0)
		goto free_queues;
	for (uint16_t i = 0; i < ops->num_queues; i++) {
		struct modvm_virtq *vq = &dev->queues[i];
		modvm__virtq_init(vq, i, ops->queue_max_size, mem, &dev->lock, dev->name);
		vq->log_limit = dev->log_limit;
		vq->on_broken = on_queue_broken;
		vq->broken_ctx = dev;
	}
	return 0;
free_queues:
	free(dev->queues);
	dev->queues = NULL;
	modvm__ratelimit_fini(&dev->own_limit);
	return ret;
}

MODVM_INTERNAL void modvm__virtio_dev_fini(struct modvm_virtio_dev *dev)
{
	if (!dev->queues)
		return;
	modvm__virtio_later_cancel(dev);
	pthread_mutex_destroy(&dev->lock);
	free(dev->queues);
	dev->queues = NULL;
	modvm__ratelimit_fini(&dev->own_limit);
}

MODVM_INTERNAL void modvm__virtio_dev_set_log_limit(struct modvm_virtio_dev *dev,
						    struct modvm__ratelimit *rl)
{
	pthread_mutex_lock(&dev->lock);
	dev->log_limit = rl ? rl : &dev->own_limit;
	for (uint16_t i = 0; i < dev->ops.num_queues; i++)
		dev->queues[i].log_limit = dev->log_limit;
	pthread_mutex_unlock(&dev->lock);
}

MODVM_EXPORT void modvm_virtio_log(struct modvm_virtio_dev *dev, enum modvm_log_level level,
				   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	modvm__log_limitedv(dev ? dev->log_limit : NULL, level, dev ? dev->name : NULL, fmt, ap);
	va_end(ap);
}

MODVM_INTERNAL void modvm__virtio_dev_interrupt(struct modvm_virtio_dev *dev, uint32_t bits)
{
	dev->isr |= bits;
	if (dev->raise_irq)
		dev->raise_irq(dev->irq_ctx);
}

MODVM_INTERNAL void modvm__virtio_dev_reset(struct modvm_virtio_dev *dev)
{
	dev->status = 0;
	dev->needs_reset = false;
	dev->driver_features = 0;
	dev->isr = 0;
	for (uint16_t i = 0; i < dev->ops.num_queues; i++)
		modvm__virtq_reset(&dev->queues[i]);
	if (dev->ops.reset)
		dev->ops.reset(dev->opaque);
}

/* FEATURES_OK (3.1.1 step 5): the device re-checks the driver's choice. */
static bool features_acceptable(struct modvm_virtio_dev *dev)
{
	uint64_t f = dev->driver_features;

	if (f & ~dev->offered) {
		modvm__log_limited(dev->log_limit, MODVM_LOG_WARN, dev->name,
			  "driver accepted features 0x%" PRIx64 " the device did not offer",
			  f & ~dev->offered);
		return false;
	}
	if (!(f & MODVM_VIRTIO_FEATURE(MODVM_VIRTIO_F_VERSION_1))) {
		modvm__log_limited(dev->log_limit, MODVM_LOG_WARN, dev->name,
			  "driver did not accept VIRTIO_F_VERSION_1 (legacy drivers are not "
			  "supported): FEATURES_OK refused");
		return false;
	}
	if (dev->ops.set_features_ok && dev->ops.set_features_ok(dev->opaque, f) != 0) {
		modvm__log_limited(dev->log_limit, MODVM_LOG_WARN, dev->name,
			  "device refused features 0x%" PRIx64 ": FEATURES_OK refused", f);
		return false;
	}
	return true;
}

MODVM_INTERNAL void modvm__virtio_dev_write_status(struct modvm_virtio_dev *dev, uint8_t status)
{
	uint8_t old = dev->status;
	bool driver_ok;

	if (status == 0) {
		modvm__virtio_dev_reset(dev);
		return;
	}
	/* NEEDS_RESET is the device's bit; the driver only ever reads it. */
	status &= (uint8_t)~MODVM_VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	if ((status & MODVM_VIRTIO_STATUS_FEATURES_OK) && !(old & MODVM_VIRTIO_STATUS_FEATURES_OK) &&
	    !features_acceptable(dev))
		status &= (uint8_t)~MODVM_VIRTIO_STATUS_FEATURES_OK;
	if ((status & MODVM_VIRTIO_STATUS_DRIVER_OK) &&
	    !(status & MODVM_VIRTIO_STATUS_FEATURES_OK)) {
		modvm__log_limited(dev->log_limit, MODVM_LOG_WARN, dev->name,
				   "driver set DRIVER_OK without FEATURES_OK");
		status &= (uint8_t)~MODVM_VIRTIO_STATUS_DRIVER_OK;
	}
	dev->status = status;
	driver_ok = status & MODVM_VIRTIO_STATUS_DRIVER_OK;
	for (uint16_t i = 0; i < dev->ops.num_queues; i++)
		dev->queues[i].driver_ok = driver_ok;
}

MODVM_INTERNAL uint8_t modvm__virtio_dev_read_status(struct modvm_virtio_dev *dev)
{
	return dev->status | (dev->needs_reset ? MODVM_VIRTIO_STATUS_DEVICE_NEEDS_RESET : 0);
}

/* ---- the device-facing API ---- */

MODVM_EXPORT struct modvm_virtq *modvm_virtio_queue(struct modvm_virtio_dev *dev, uint16_t index)
{
	return index < dev->ops.num_queues ? &dev->queues[index] : NULL;
}

MODVM_EXPORT bool modvm_virtio_notify_used(struct modvm_virtio_dev *dev, uint16_t index)
{
	bool notify = false;

	if (index >= dev->ops.num_queues)
		return false;
	pthread_mutex_lock(&dev->lock);
	if (modvm__virtq_should_notify_locked(&dev->queues[index])) {
		modvm__virtio_dev_interrupt(dev, MODVM_VIRTIO_INT_USED_BUFFER);
		notify = true;
	}
	pthread_mutex_unlock(&dev->lock);
	return notify;
}

MODVM_EXPORT void modvm_virtio_config_changed(struct modvm_virtio_dev *dev)
{
	pthread_mutex_lock(&dev->lock);
	dev->config_generation++;
	if (dev->status & MODVM_VIRTIO_STATUS_DRIVER_OK)
		modvm__virtio_dev_interrupt(dev, MODVM_VIRTIO_INT_CONFIG);
	pthread_mutex_unlock(&dev->lock);
}

MODVM_EXPORT void modvm_virtio_set_needs_reset(struct modvm_virtio_dev *dev, const char *why)
{
	pthread_mutex_lock(&dev->lock);
	modvm__log_limited(dev->log_limit, MODVM_LOG_WARN, dev->name, "device needs reset: %s",
			   why ? why : "(no reason)");
	if (!dev->needs_reset) {
		dev->needs_reset = true;
		if (dev->status & MODVM_VIRTIO_STATUS_DRIVER_OK)
			modvm__virtio_dev_interrupt(dev, MODVM_VIRTIO_INT_CONFIG);
	}
	pthread_mutex_unlock(&dev->lock);
}

MODVM_EXPORT uint64_t modvm_virtio_driver_features(struct modvm_virtio_dev *dev)
{
	uint64_t f;

	pthread_mutex_lock(&dev->lock);
	f = (dev->status & MODVM_VIRTIO_STATUS_FEATURES_OK) ? dev->driver_features : 0;
	pthread_mutex_unlock(&dev->lock);
	return f;
}

MODVM_EXPORT uint8_t modvm_virtio_status(struct modvm_virtio_dev *dev)
{
	uint8_t s;

	pthread_mutex_lock(&dev->lock);
	s = modvm__virtio_dev_read_status(dev);
	pthread_mutex_unlock(&dev->lock);
	return s;
}

MODVM_EXPORT const char *modvm_virtio_name(struct modvm_virtio_dev *dev)
{
	return dev->name;
}

MODVM_EXPORT void modvm_virtio_lock(struct modvm_virtio_dev *dev)
{
	pthread_mutex_lock(&dev->lock);
}

MODVM_EXPORT void modvm_virtio_unlock(struct modvm_virtio_dev *dev)
{
	pthread_mutex_unlock(&dev->lock);
}
