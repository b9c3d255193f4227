/*
 * core/virtio/ — the virtio library device plugins build on (modvm/virtio.h):
 * split virtqueues with bounded chains (virtio_queue.c), the device state
 * behind a transport (virtio_dev.c), deferred notifications
 * (virtio_later.c) and the virtio-mmio v2 transport (virtio_mmio.c).  This
 * header is what those files share.  Uses only base/.
 * The fuzz target and tests/devices reach the queue internals through it;
 * plugins only see modvm/virtio.h.
 */
#ifndef MODVM_CORE_VIRTIO_H
#define MODVM_CORE_VIRTIO_H

#include <pthread.h>
#include <modvm/virtio.h>

#include "base/base.h"

/*
 * One split virtqueue.  The transport owns an array of them and serialises
 * access through its mutex (@lock); with @lock NULL the caller serialises
 * (the fuzz target).  Register fields hold what the driver programmed; the
 * ring pointers are valid only while @ready.
 */
struct modvm_virtq {
	pthread_mutex_t *lock;
	struct modvm_guest_mem mem;
	const char *name;		/* the device's, for log lines */
	uint16_t index;
	uint16_t max_size;

	/* programmed through the transport */
	uint16_t num;
	uint64_t desc_gpa, avail_gpa, used_gpa;

	bool ready;			/* QueueReady as the driver reads it */
	bool driver_ok;			/* the device may consume buffers */
	bool event_idx;			/* VIRTIO_F_RING_EVENT_IDX negotiated */
	bool indirect;			/* VIRTIO_F_INDIRECT_DESC negotiated */
	bool broken;			/* ring untrustworthy until reset */
	bool warned;			/* first guest error of this setup logged */
	bool renotify;			/* modvm_virtio_renotify asked; reset clears it */
	struct modvm__ratelimit *log_limit;	/* guest errors: the VM's limiter (NULL: none) */

	/* translated rings, whole ranges: 16*num, 6+2*num, 6+8*num bytes */
	uint8_t *desc;
	uint8_t *avail;
	uint8_t *used;

	uint16_t last_avail;		/* next avail ring slot to consume */
	uint16_t used_idx;		/* shadow of used->idx */
	uint16_t signalled_used;	/* used_idx at the last should_notify */
	uint64_t epoch;			/* bumped by every reset: stale chains */

	struct modvm_virtq_stats stats;

	/* Called (under @lock) when the queue is marked broken. */
	void (*on_broken)(void *ctx, struct modvm_virtq *vq);
	void *broken_ctx;
};

/* Zeroes @vq and records its identity and the memory it reaches. */
MODVM_INTERNAL void modvm__virtq_init(struct modvm_virtq *vq, uint16_t index, uint16_t max_size,
				      const struct modvm_guest_mem *mem, pthread_mutex_t *lock,
				      const char *name);
/* Back to the state after init (registers, indexes, ready); bumps the
 * epoch so chains popped earlier are stale.  Stats survive. */
MODVM_INTERNAL void modvm__virtq_reset(struct modvm_virtq *vq);
/* QueueReady=1: validates num (power of two ≤ max) and the ring addresses
 * (alignment, whole ranges in RAM) and translates them.  0, or -EINVAL
 * (logged at WARN, counted) with the queue left not ready. */
MODVM_INTERNAL int modvm__virtq_enable(struct modvm_virtq *vq, bool event_idx, bool indirect);
/* QueueReady=0. */
MODVM_INTERNAL void modvm__virtq_disable(struct modvm_virtq *vq);
/* The unlocked cores of the public calls (callers hold vq->lock). */
MODVM_INTERNAL int modvm__virtq_pop_locked(struct modvm_virtq *vq, struct modvm_virtq_chain **out);
MODVM_INTERNAL bool modvm__virtq_should_notify_locked(struct modvm_virtq *vq);
/* Whether the driver has made chains available that pop has not taken;
 * like a pop, it first publishes avail_event (RING_EVENT_IDX), so when
 * there are none the driver kicks for its next one.  False while the
 * queue is not live or broken. */
MODVM_INTERNAL bool modvm__virtq_pending_locked(struct modvm_virtq *vq);

/* ---- the device state behind a transport (virtio_dev.c) ---- */

struct modvm__virtio_later;

struct modvm_virtio_dev {
	pthread_mutex_t lock;		/* recursive: callbacks may call back in */
	struct modvm_virtio_device_ops ops;
	void *opaque;
	char name[48];
	struct modvm_guest_mem mem;
	void (*raise_irq)(void *ctx);
	void *irq_ctx;

	uint64_t offered;		/* device bits | library bits */
	uint64_t driver_features;
	uint8_t status;
	bool needs_reset;
	uint32_t isr;
	uint32_t config_generation;
	struct modvm_virtq *queues;	/* ops.num_queues of them */
	/* Every line a guest can trigger goes through *log_limit: the VM's
	 * limiter once the device is in a VM, own_limit until then. */
	struct modvm__ratelimit *log_limit;
	struct modvm__ratelimit own_limit;

	/* modvm_virtio_renotify: the transport's executor, the token its
	 * posted call holds (NULL without an executor), whether a call is
	 * posted and not yet run. */
	int (*defer)(void *ctx, void (*fn)(void *arg), void *arg);
	void *defer_ctx;
	struct modvm__virtio_later *later;
	bool later_posted;
};

MODVM_INTERNAL int modvm__virtio_dev_init(struct modvm_virtio_dev *dev, const char *name,
					  const struct modvm_guest_mem *mem,
					  void (*raise_irq)(void *), void *irq_ctx,
					  const struct modvm_virtio_device_ops *ops, void *opaque);
MODVM_INTERNAL void modvm__virtio_dev_fini(struct modvm_virtio_dev *dev);
/* These run with dev->lock held. */
MODVM_INTERNAL void modvm__virtio_dev_write_status(struct modvm_virtio_dev *dev, uint8_t status);
MODVM_INTERNAL uint8_t modvm__virtio_dev_read_status(struct modvm_virtio_dev *dev);
MODVM_INTERNAL void modvm__virtio_dev_reset(struct modvm_virtio_dev *dev);
/* From now on the device's guest-triggered lines share @rl (the VM's);
 * NULL goes back to the device's own. */
MODVM_INTERNAL void modvm__virtio_dev_set_log_limit(struct modvm_virtio_dev *dev,
						    struct modvm__ratelimit *rl);
/* Sets @bits in InterruptStatus and raises the interrupt. */
MODVM_INTERNAL void modvm__virtio_dev_interrupt(struct modvm_virtio_dev *dev, uint32_t bits);

/* ---- deferred notifications (virtio_later.c) ---- */

/* Gives the device an executor for modvm_virtio_renotify (at create,
 * before anyone else sees the device).  0 or -ENOMEM. */
MODVM_INTERNAL int modvm__virtio_later_init(struct modvm_virtio_dev *dev,
					    int (*defer)(void *, void (*)(void *), void *),
					    void *ctx);
/* From its return on, no deferred call reaches the device: one running is
 * waited out, posted ones find it gone.  Without the transport mutex held
 * (a running call holds it).  Idempotent; fini calls it. */
MODVM_INTERNAL void modvm__virtio_later_cancel(struct modvm_virtio_dev *dev);

#endif
