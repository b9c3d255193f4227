/*
 * Deferred notifications (modvm_virtio_renotify): a device that stopped on
 * its own budget with chains still available gets queue_notify again from
 * the transport's executor, since the driver will not kick for them.
 *
 * The posted call may outlive the transport (a loop runs it whenever it
 * gets there), so it holds a small refcounted token rather than the
 * device: the transport clears the token's device pointer at destroy,
 * under the token's mutex, which a running call holds, so destroy waits
 * a running call out and a later one finds nothing.  Lock order: token,
 * then transport mutex; nothing takes the token's mutex under the
 * transport's.
 */
#include <errno.h>
#include <stdlib.h>

#include "virtio/virtio.h"

struct modvm__virtio_later {
	pthread_mutex_t mu;
	struct modvm_virtio_dev *dev;	/* NULL once cancelled (under mu) */
	unsigned refs;			/* atomic: the device's, the posted call's */
};

static void later_put(struct modvm__virtio_later *l)
{
	if (__atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		pthread_mutex_destroy(&l->mu);
		free(l);
	}
}

/* The executor's call: every queue that asked, as a kick would do it. */
static void later_run(void *arg)
{
	struct modvm__virtio_later *l = arg;
	struct modvm_virtio_dev *dev;

	pthread_mutex_lock(&l->mu);
	dev = l->dev;
	if (dev) {
		pthread_mutex_lock(&dev->lock);
		/* First, so a queue_notify that stops on its budget again can
		 * post the next call. */
		dev->later_posted = false;
		for (uint16_t i = 0; i < dev->ops.num_queues; i++) {
			struct modvm_virtq *vq = &dev->queues[i];

			if (!vq->renotify)
				continue;
			vq->renotify = false;
			/* A reset or QueueReady=0 cleared the flag; this is what
			 * write_queue_notify checks for a kick. */
			if ((dev->status & MODVM_VIRTIO_STATUS_DRIVER_OK) && vq->ready &&
			    dev->ops.queue_notify)
				dev->ops.queue_notify(dev->opaque, i);
		}
		pthread_mutex_unlock(&dev->lock);
	}
	pthread_mutex_unlock(&l->mu);
	later_put(l);
}

MODVM_INTERNAL int modvm__virtio_later_init(struct modvm_virtio_dev *dev,
					    int (*defer)(void *, void (*)(void *), void *),
					    void *ctx)
{
	struct modvm__virtio_later *l;

	if (!defer)
		return 0;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	pthread_mutex_init(&l->mu, NULL);
	l->dev = dev;
	l->refs = 1;
	dev->later = l;
	dev->defer = defer;
	dev->defer_ctx = ctx;
	return 0;
}

MODVM_INTERNAL void modvm__virtio_later_cancel(struct modvm_virtio_dev *dev)
{
	struct modvm__virtio_later *l;

	pthread_mutex_lock(&dev->lock);
	l = dev->later;
	dev->later = NULL;	/* no new posts */
	pthread_mutex_unlock(&dev->lock);
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	l->dev = NULL;
	pthread_mutex_unlock(&l->mu);
	later_put(l);
}

MODVM_EXPORT int modvm_virtio_renotify(struct modvm_virtio_dev *dev, uint16_t index)
{
	struct modvm_virtq *vq;
	int ret = 1;

	if (index >= dev->ops.num_queues)
		return -EINVAL;
	vq = &dev->queues[index];
	pthread_mutex_lock(&dev->lock);
	if (!modvm__virtq_pending_locked(vq)) {
		ret = 0;
		goto out;
	}
	if (!dev->later) {
		ret = -ENOTSUP;
		goto out;
	}
	vq->renotify = true;
	if (dev->later_posted)
		goto out;	/* that call will see the flag */
	__atomic_add_fetch(&dev->later->refs, 1, __ATOMIC_RELAXED);
	ret = dev->defer(dev->defer_ctx, later_run, dev->later);
	if (ret < 0) {
		later_put(dev->later);	/* the device still holds one */
		vq->renotify = false;
		if (ret != -ESHUTDOWN)
			modvm__log_limited(dev->log_limit, MODVM_LOG_WARN, dev->name,
					   "queue %u: cannot defer its next notification (%s); "
					   "it waits for the driver's next kick",
					   index, modvm_strerror(ret));
		goto out;
	}
	dev->later_posted = true;
	ret = 1;
out:
	pthread_mutex_unlock(&dev->lock);
	return ret;
}
