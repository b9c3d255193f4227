/*
 * The virtio-blk device: features, config space, reset and teardown.  A
 * request's life (parse, throttle, submit, complete) is blkdev_queue.c,
 * parsing blkreq.c, the I/O engines blkio*.c.  See blkdev.h.
 *
 * Locking.  Everything the queues touch — the throttled lists, the rate
 * limiter, the negotiated features, the reset generation — is used only
 * with the transport mutex held (the library's callbacks, or
 * modvm_virtio_lock on an engine thread).  bd->mu guards the count of
 * requests the device holds and the error-log state; it is never held
 * while calling into the virtio library.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <modvm/log.h>

#include "blkdev_impl.h"

/* ---- virtio callbacks (transport mutex held) ---- */

static void read_config(void *opaque, uint32_t off, uint8_t *data, uint32_t len)
{
	struct blkdev *bd = opaque;
	uint8_t cfg[VBLK_CFG_SIZE] = { 0 };
	uint64_t cap = htole64(bd->cfg.size / VBLK_SECTOR);
	uint32_t v;
	uint16_t nq = htole16(bd->cfg.num_queues);
	bool rw = !bd->cfg.readonly;

	memcpy(cfg + VBLK_CFG_CAPACITY, &cap, 8);
#define PUT32(o, x) (v = htole32(x), memcpy(cfg + (o), &v, 4))
	PUT32(VBLK_CFG_SIZE_MAX, BLKDEV_SIZE_MAX);
	PUT32(VBLK_CFG_SEG_MAX, BLKDEV_SEG_MAX);
	PUT32(VBLK_CFG_BLK_SIZE, bd->cfg.block_size);
	memcpy(cfg + VBLK_CFG_NUM_QUEUES, &nq, 2);
	if (rw && bd->cfg.discard) {
		PUT32(VBLK_CFG_MAX_DISCARD_SECTORS, BLKDEV_MAX_DWZ_SECTORS);
		PUT32(VBLK_CFG_MAX_DISCARD_SEG, 1);
		PUT32(VBLK_CFG_DISCARD_ALIGN, bd->cfg.block_size / VBLK_SECTOR);
	}
	if (rw && bd->cfg.write_zeroes) {
		PUT32(VBLK_CFG_MAX_WZ_SECTORS, BLKDEV_MAX_DWZ_SECTORS);
		PUT32(VBLK_CFG_MAX_WZ_SEG, 1);
		cfg[VBLK_CFG_WZ_MAY_UNMAP] = bd->cfg.discard;
	}
#undef PUT32
	memcpy(data, cfg + off, len);
}

static void queue_notify(void *opaque, uint16_t qi)
{
	struct blkdev *bd = opaque;

	/* Without MQ the driver has one queue (5.2.2). */
	if (qi > 0 && !(bd->features & VBLK_BIT(VBLK_F_MQ)))
		return;
	blkdev__process(bd, qi);
}

static int set_features_ok(void *opaque, uint64_t features)
{
	struct blkdev *bd = opaque;

	bd->features = features;
	return 0;
}

/* How long a reset waits for the requests the engine holds. */
#define RESET_WAIT_MS 5000

static void reset(void *opaque)
{
	struct blkdev *bd = opaque;

	/* Requests still with the engine complete later and find another
	 * generation: their chains are dropped, never pushed. */
	bd->gen++;
	bd->features = 0;
	blkdev__drop_throttled(bd);
	if (bd->timer_armed) {
		bd->timer_cancelled = true;
		blkio_cancel_timer(bd->io, &bd->timer);
	}
	/* And they finish before the reset does: a read would land in pages
	 * the next driver owns, a write after that driver's own write to the
	 * same sectors.  Their completions take the transport mutex, so it is
	 * let go meanwhile; bounded, so a stuck disk cannot hold the guest's
	 * vCPU for good. */
	modvm_virtio_unlock(bd->dev);
	int r = blkdev_quiesce(bd, RESET_WAIT_MS);
	modvm_virtio_lock(bd->dev);
	if (r < 0)
		modvm_log(MODVM_LOG_WARN, bd->name,
			  "reset: requests the host still runs after %d ms; the driver goes on, "
			  "their results are dropped", RESET_WAIT_MS);
}

/* ---- life cycle ---- */

int blkdev_config_check(const char *name, const struct blkdev_config *cfg)
{
	const char *why = NULL;
	uint32_t bs = cfg->block_size;

	if (cfg->fd < 0)
		why = "no image";
	else if (cfg->size < VBLK_SECTOR)
		why = "an image smaller than one sector";
	else if (bs < 512 || bs > 4096 || (bs & (bs - 1)))
		why = "block size not a power of two in 512..4096";
	else if (cfg->num_queues < 1 || cfg->num_queues > BLKDEV_MAX_QUEUES)
		why = "queues not in 1..64";
	else if (cfg->direct && (!cfg->dio_offset_align || bs % cfg->dio_offset_align))
		why = "direct I/O needs a block size that is a multiple of the image's alignment";
	if (why) {
		modvm_log(MODVM_LOG_ERROR, name, "virtio-blk: %s", why);
		return -EINVAL;
	}
	return 0;
}

static void ops_for(const struct blkdev_config *cfg, struct modvm_virtio_device_ops *ops)
{
	uint64_t f = VBLK_BIT(VBLK_F_SIZE_MAX) | VBLK_BIT(VBLK_F_SEG_MAX) |
		     VBLK_BIT(VBLK_F_BLK_SIZE) | VBLK_BIT(VBLK_F_FLUSH) | VBLK_BIT(VBLK_F_MQ);

	if (cfg->readonly)
		f |= VBLK_BIT(VBLK_F_RO);
	if (!cfg->readonly && cfg->discard)
		f |= VBLK_BIT(VBLK_F_DISCARD);
	if (!cfg->readonly && cfg->write_zeroes)
		f |= VBLK_BIT(VBLK_F_WRITE_ZEROES);
	*ops = (struct modvm_virtio_device_ops){
		.struct_size = sizeof(*ops),
		.device_id = VIRTIO_ID_BLOCK,
		.features = f,
		.num_queues = cfg->num_queues,
		.queue_max_size = BLKDEV_QUEUE_MAX,
		.config_size = VBLK_CFG_SIZE,
		.read_config = read_config,
		.queue_notify = queue_notify,
		.set_features_ok = set_features_ok,
		.reset = reset,
	};
}

static void free_bd(struct blkdev *bd)
{
	blkio_destroy(bd->io);
	pthread_cond_destroy(&bd->idle);
	pthread_mutex_destroy(&bd->mu);
	free(bd);
}

/* Checks, allocates and starts the engine; the caller makes the transport. */
static int prepare(const char *name, const struct blkdev_config *cfg,
		   struct modvm_virtio_device_ops *ops, struct blkdev **out)
{
	char why[256];
	struct blkdev *bd;
	int r = blkdev_config_check(name, cfg);

	if (r < 0)
		return r;
	bd = calloc(1, sizeof(*bd));
	if (!bd)
		return -ENOMEM;
	bd->cfg = *cfg;
	snprintf(bd->name, sizeof(bd->name), "%s", name);
	pthread_mutex_init(&bd->mu, NULL);
	pthread_cond_init(&bd->idle, NULL);
	ratelimit_init(&bd->rl, cfg->rate_bytes, cfg->burst_bytes, cfg->rate_ops, cfg->burst_ops,
		       blkdev__now_ns());
	struct blkio_config io = {
		.kind = cfg->io,
		/* One op per request, and a request takes at least two
		 * descriptors: header and status. */
		.depth = (unsigned)cfg->num_queues * BLKDEV_QUEUE_MAX / 2 + 1,
		.threads = cfg->io_threads,
		.name = bd->name,
		.complete = blkdev__complete,
		.batch_end = blkdev__batch_end,
		.ctx = bd,
		.plugin = cfg->plugin,
	};
	r = blkio_create(&io, &bd->io, why, sizeof(why));
	if (r < 0) {
		modvm_log(MODVM_LOG_ERROR, name, "virtio-blk: no I/O engine: %s", why);
		pthread_cond_destroy(&bd->idle);
		pthread_mutex_destroy(&bd->mu);
		free(bd);
		return r;
	}
	ops_for(cfg, ops);
	bd->offered = ops->features;
	*out = bd;
	return 0;
}

static int finish(struct blkdev *bd, int r, struct blkdev **out)
{
	if (r < 0) {
		free_bd(bd);
		return r;
	}
	bd->dev = modvm_virtio_mmio_dev(bd->transport);
	*out = bd;
	return 0;
}

int blkdev_create(const struct modvm_virtio_mmio_config *mmio, const struct blkdev_config *cfg,
		  struct blkdev **out)
{
	struct modvm_virtio_mmio_config c;
	struct modvm_virtio_device_ops ops;
	struct blkdev *bd;
	int r;

	if (!mmio || mmio->struct_size < sizeof(c) || !cfg)
		return -EINVAL;
	c = *mmio;
	if (!c.name)
		c.name = "virtio-blk";
	r = prepare(c.name, cfg, &ops, &bd);
	if (r < 0)
		return r;
	r = modvm_virtio_mmio_create(&c, &ops, bd, &bd->transport);
	return finish(bd, r, out);
}

int blkdev_attach(struct modvm_vm *vm, const char *name, const struct blkdev_config *cfg,
		  struct blkdev **out)
{
	struct modvm_virtio_device_ops ops;
	struct blkdev *bd;
	int r = prepare(name, cfg, &ops, &bd);

	if (r < 0)
		return r;
	r = modvm_vm_add_virtio(vm, name, &ops, bd, &bd->transport);
	return finish(bd, r, out);
}

/* No new work, the throttled requests dropped, and every request the
 * engine holds finished (they push under the mutex we no longer hold). */
static void quiesce_for_good(struct blkdev *bd)
{
	modvm_virtio_lock(bd->dev);
	bd->dying = true;
	blkdev__drop_throttled(bd);
	if (bd->timer_armed)
		blkio_cancel_timer(bd->io, &bd->timer);
	modvm_virtio_unlock(bd->dev);
	pthread_mutex_lock(&bd->mu);
	while (bd->held)
		pthread_cond_wait(&bd->idle, &bd->mu);
	pthread_mutex_unlock(&bd->mu);
}

/* The engine goes before the transport: its threads may still be in a
 * batch end, under the transport mutex, after the last request finished. */
void blkdev_free(struct blkdev *bd)
{
	if (!bd)
		return;
	quiesce_for_good(bd);
	blkio_destroy(bd->io);
	bd->io = NULL;
	modvm_virtio_mmio_destroy(bd->transport);
	free_bd(bd);
}

void blkdev_detach(struct modvm_vm *vm, struct blkdev *bd)
{
	if (!bd)
		return;
	quiesce_for_good(bd);
	blkio_destroy(bd->io);
	bd->io = NULL;
	modvm_vm_remove_virtio(vm, bd->transport);
	free_bd(bd);
}

int blkdev_quiesce(struct blkdev *bd, int timeout_ms)
{
	struct timespec end;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += timeout_ms / 1000;
	end.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&bd->mu);
	while (bd->held && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&bd->idle, &bd->mu, &end);
	r = bd->held ? -ETIMEDOUT : 0;
	pthread_mutex_unlock(&bd->mu);
	return r;
}

struct modvm_virtio_mmio *blkdev_transport(struct blkdev *bd)
{
	return bd->transport;
}

enum blkio_kind blkdev_io_kind(const struct blkdev *bd)
{
	return blkio_kind(bd->io);
}

void blkdev_get_stats(struct blkdev *bd, struct blkdev_stats *out)
{
	const uint64_t *src = (const uint64_t *)&bd->st;
	uint64_t *dst = (uint64_t *)out;

	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
