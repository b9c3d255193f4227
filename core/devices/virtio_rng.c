/*
 * virtio-rng (virtio 1.2, 5.4): one request queue, no features, no config.
 * The guest posts writable buffers; we fill them from getrandom(2) on the
 * vCPU thread that kicked, which is cheap enough for the small requests
 * Linux makes, and bounded per chain (MODVM_VIRTIO_RNG_CHAIN_MAX) and per
 * kick (the queue size) for the large ones a hostile guest could make;
 * what is left after a kick's worth is filled on the loop
 * (modvm_virtio_renotify).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <modvm/vm.h>

#include "devices/devices.h"

struct modvm__virtio_rng {
	struct modvm_virtio_mmio *transport;
	struct modvm_virtio_dev *dev;
	uint64_t bytes;		/* atomic: read from any thread */
};

/* Fills @len bytes; returns how many it managed (getrandom only fails on
 * a fault or an interrupted wait for the initial entropy). */
static size_t fill(void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = getrandom((uint8_t *)buf + done, len - done, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		done += (size_t)n;
	}
	return done;
}

static void rng_queue_notify(void *opaque, uint16_t queue_index)
{
	struct modvm__virtio_rng *rng = opaque;
	struct modvm_virtq *vq = modvm_virtio_queue(rng->dev, queue_index);
	struct modvm_virtq_chain *c;
	uint32_t budget = modvm_virtq_size(vq), n = 0;

	for (; n < budget && modvm_virtq_pop(vq, &c) > 0; n++) {
		uint32_t left = MODVM_VIRTIO_RNG_CHAIN_MAX, written = 0;
		uint32_t first = c->n_readable, end = c->n_readable + c->n_writable;

		for (uint32_t i = first; i < end && left; i++) {
			uint32_t want = c->segs[i].len < left ? c->segs[i].len : left;
			size_t got = fill(c->segs[i].addr, want);
			written += (uint32_t)got;
			left -= (uint32_t)got;
			if (got < want)
				break;
		}
		__atomic_add_fetch(&rng->bytes, written, __ATOMIC_RELAXED);
		modvm_virtq_push(vq, c, written);
	}
	/* Also covers malformed chains pop returned on its own. */
	modvm_virtio_notify_used(rng->dev, queue_index);
	if (budget && n == budget)
		modvm_virtio_renotify(rng->dev, queue_index);
}

static const struct modvm_virtio_device_ops rng_ops = {
	.struct_size = sizeof(struct modvm_virtio_device_ops),
	.device_id = MODVM_VIRTIO_ID_RNG,
	.features = 0,
	.num_queues = 1,
	.queue_max_size = MODVM_VIRTIO_RNG_QUEUE_MAX,
	.config_size = 0,
	.queue_notify = rng_queue_notify,
};

MODVM_INTERNAL int modvm__virtio_rng_create(const struct modvm_virtio_mmio_config *cfg,
					    struct modvm__virtio_rng **out)
{
	struct modvm_virtio_mmio_config c;
	struct modvm__virtio_rng *rng;
	int ret;

	if (!cfg || cfg->struct_size < sizeof(c)) {
		modvm_log(MODVM_LOG_ERROR, NULL, "virtio-rng: config missing or too old");
		return -EINVAL;
	}
	c = *cfg;
	if (!c.name)
		c.name = "virtio-rng";
	rng = calloc(1, sizeof(*rng));
	if (!rng)
		return -ENOMEM;
	ret = modvm_virtio_mmio_create(&c, &rng_ops, rng, &rng->transport);
	if (ret < 0)
		goto free_rng;
	rng->dev = modvm_virtio_mmio_dev(rng->transport);
	*out = rng;
	return 0;
free_rng:
	free(rng);
	return ret;
}

MODVM_INTERNAL struct modvm_virtio_mmio *modvm__virtio_rng_transport(struct modvm__virtio_rng *rng)
{
	return rng->transport;
}

MODVM_INTERNAL uint64_t modvm__virtio_rng_bytes(struct modvm__virtio_rng *rng)
{
	return __atomic_load_n(&rng->bytes, __ATOMIC_RELAXED);
}

MODVM_INTERNAL void modvm__virtio_rng_free(struct modvm__virtio_rng *rng)
{
	if (!rng)
		return;
	modvm_virtio_mmio_destroy(rng->transport);
	free(rng);
}

MODVM_INTERNAL int modvm__virtio_rng_attach(struct modvm_vm *vm, struct modvm__virtio_rng **out)
{
	struct modvm__virtio_rng *rng = calloc(1, sizeof(*rng));
	if (!rng)
		return -ENOMEM;
	int ret = modvm_vm_add_virtio(vm, "virtio-rng", &rng_ops, rng, &rng->transport);
	if (ret < 0) {
		free(rng);
		return ret;
	}
	rng->dev = modvm_virtio_mmio_dev(rng->transport);
	*out = rng;
	return 0;
}

MODVM_INTERNAL void modvm__virtio_rng_detach(struct modvm_vm *vm, struct modvm__virtio_rng *rng)
{
	if (!rng)
		return;
	modvm_vm_remove_virtio(vm, rng->transport);
	free(rng);
}
