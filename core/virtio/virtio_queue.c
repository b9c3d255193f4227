/*
 * Split virtqueues (virtio 1.2, 2.7), device side.  Everything the guest
 * wrote is untrusted: ring fields are read once into locals before they are
 * checked, every buffer is translated as a whole range, and every walk is
 * bounded by the queue (or indirect table) size, so a hostile ring costs at
 * most O(queue size) work per chain and never a wild access.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtio.h"

/* struct virtq_desc: le64 addr, le32 len, le16 flags, le16 next */
#define DESC_SIZE 16u

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static void lock(struct modvm_virtq *vq)
{
	if (vq->lock)
		pthread_mutex_lock(vq->lock);
}

static void unlock(struct modvm_virtq *vq)
{
	if (vq->lock)
		pthread_mutex_unlock(vq->lock);
}

/* Guest-shared fields: the index words are read and written atomically so
 * the ordering against the ring entries holds (acquire on avail->idx,
 * release on used->idx); plain fields go through memcpy, which never
 * assumes alignment. */
static uint16_t load16(const uint8_t *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE));
}

static void store16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, htole16(v), __ATOMIC_RELEASE);
}

static void read_desc(const uint8_t *table, uint32_t i, struct desc *d)
{
	uint8_t raw[DESC_SIZE];
	memcpy(raw, table + (size_t)i * DESC_SIZE, DESC_SIZE);
	memcpy(&d->addr, raw, 8);
	memcpy(&d->len, raw + 8, 4);
	memcpy(&d->flags, raw + 12, 2);
	memcpy(&d->next, raw + 14, 2);
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

/* avail: le16 flags, le16 idx, le16 ring[num], le16 used_event */
static uint16_t avail_flags(struct modvm_virtq *vq) { return load16(vq->avail); }
static uint16_t avail_idx(struct modvm_virtq *vq) { return load16(vq->avail + 2); }
static uint16_t avail_ring(struct modvm_virtq *vq, uint16_t slot)
{
	return load16(vq->avail + 4 + 2u * slot);
}
static uint16_t used_event(struct modvm_virtq *vq) { return load16(vq->avail + 4 + 2u * vq->num); }

/* used: le16 flags, le16 idx, {le32 id, le32 len}[num], le16 avail_event */
static void set_avail_event(struct modvm_virtq *vq, uint16_t v)
{
	store16(vq->used + 4 + 8u * vq->num, v);
}

/* The first guest error of a queue setup is a WARN, the rest DEBUG: one
 * clear line for the operator; all of them go through the VM's limiter,
 * so a guest resetting its queues in a loop cannot flood the log either. */
static void MODVM_PRINTF(2, 3) guest_error(struct modvm_virtq *vq, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	modvm__log_limited(vq->log_limit, vq->warned ? MODVM_LOG_DEBUG : MODVM_LOG_WARN, vq->name,
			   "queue %u: %s", vq->index, msg);
	vq->warned = true;
}

static void mark_broken(struct modvm_virtq *vq)
{
	if (vq->broken)
		return;
	vq->broken = true;
	vq->stats.broken++;
	if (vq->on_broken)
		vq->on_broken(vq->broken_ctx, vq);
}

MODVM_INTERNAL void modvm__virtq_init(struct modvm_virtq *vq, uint16_t index, uint16_t max_size,
				      const struct modvm_guest_mem *mem, pthread_mutex_t *lock,
				      const char *name)
{
	memset(vq, 0, sizeof(*vq));
	vq->index = index;
	vq->max_size = max_size;
	vq->mem = *mem;
	vq->lock = lock;
	vq->name = name;
}

MODVM_INTERNAL void modvm__virtq_reset(struct modvm_virtq *vq)
{
	vq->num = 0;
	vq->desc_gpa = vq->avail_gpa = vq->used_gpa = 0;
	vq->ready = vq->driver_ok = vq->event_idx = vq->indirect = false;
	vq->broken = vq->warned = vq->renotify = false;
	vq->desc = vq->avail = vq->used = NULL;
	vq->last_avail = vq->used_idx = vq->signalled_used = 0;
	vq->epoch++;
}

/* Translates [gpa, gpa+len) and checks the host pointer keeps the ring's
 * alignment (the atomic index accesses rely on it). */
static uint8_t *map_ring(struct modvm_virtq *vq, const char *what, uint64_t gpa, uint64_t len,
			 uint64_t align)
{
	uint8_t *p;

	if (gpa & (align - 1)) {
		guest_error(vq, "%s ring at 0x%" PRIx64 " is not %" PRIu64 "-byte aligned", what,
			    gpa, align);
		return NULL;
	}
	p = vq->mem.translate(vq->mem.ctx, gpa, len);
	if (!p) {
		guest_error(vq, "%s ring [0x%" PRIx64 ", +%" PRIu64 ") is not guest RAM", what,
			    gpa, len);
		return NULL;
	}
	if ((uintptr_t)p & (align - 1)) {
		guest_error(vq, "%s ring at 0x%" PRIx64 " maps to a misaligned host address",
			    what, gpa);
		return NULL;
	}
	return p;
}

MODVM_INTERNAL int modvm__virtq_enable(struct modvm_virtq *vq, bool event_idx, bool indirect)
{
	uint32_t num = vq->num;

	if (vq->ready)
		return 0;
	if (num == 0 || num > vq->max_size || (num & (num - 1))) {
		guest_error(vq, "size %u is not a power of two in 1..%u", num, vq->max_size);
		goto refuse;
	}
	vq->desc = map_ring(vq, "descriptor", vq->desc_gpa, (uint64_t)DESC_SIZE * num, 16);
	vq->avail = map_ring(vq, "available", vq->avail_gpa, 6 + 2ull * num, 2);
	vq->used = map_ring(vq, "used", vq->used_gpa, 6 + 8ull * num, 4);
	if (!vq->desc || !vq->avail || !vq->used)
		goto refuse;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	vq->last_avail = vq->used_idx = vq->signalled_used = 0;
	vq->broken = false;
	vq->ready = true;
	return 0;
refuse:
	vq->desc = vq->avail = vq->used = NULL;
	vq->stats.setup_refused++;
	return -EINVAL;
}

MODVM_INTERNAL void modvm__virtq_disable(struct modvm_virtq *vq)
{
	vq->ready = vq->renotify = false;
	vq->desc = vq->avail = vq->used = NULL;
	vq->epoch++;
}

static int chain_add(struct modvm_virtq_chain **chain, uint32_t *cap, void *addr, uint32_t len)
{
	struct modvm_virtq_chain *c = *chain;
	uint32_t n = c->n_readable + c->n_writable;

	if (n == *cap) {
		uint32_t ncap = *cap * 2;
		c = realloc(c, sizeof(*c) + (size_t)ncap * sizeof(c->segs[0]));
		if (!c)
			return -ENOMEM;
		*chain = c;
		*cap = ncap;
	}
	c->segs[n] = (struct modvm_virtq_seg){ .addr = addr, .len = len };
	return 0;
}

/*
 * Walks the chain at @head into a new chain.  -EINVAL for a malformed chain
 * (logged), -ENOMEM.  At most num descriptors of the ring and at most the
 * table's entries of one indirect table are visited: more means a loop.
 */
static int walk(struct modvm_virtq *vq, uint16_t head, struct modvm_virtq_chain **out)
{
	const uint8_t *table = vq->desc;
	uint32_t table_len = vq->num, budget = vq->num, i = head, cap = 8;
	bool in_indirect = false;
	uint64_t total = 0;
	struct modvm_virtq_chain *c;
	struct desc d;
	int ret;

	c = calloc(1, sizeof(*c) + cap * sizeof(c->segs[0]));
	if (!c)
		return -ENOMEM;
	c->head = head;
	c->queue_index = vq->index;
	c->epoch = vq->epoch;
	for (;;) {
		if (budget == 0) {
			guest_error(vq, "chain at head %u loops or is longer than its %s (%u)",
				    head, in_indirect ? "indirect table" : "queue", table_len);
			goto bad;
		}
		budget--;
		read_desc(table, i, &d);
		if (d.flags & MODVM_VIRTQ_DESC_F_INDIRECT) {
			const char *why = NULL;
			if (!vq->indirect)
				why = "indirect descriptor without VIRTIO_F_INDIRECT_DESC";
			else if (in_indirect)
				why = "indirect table inside an indirect table";
			else if (d.flags & MODVM_VIRTQ_DESC_F_NEXT)
				why = "indirect descriptor with NEXT set";
			else if (d.len == 0 || d.len % DESC_SIZE || d.len / DESC_SIZE > vq->num)
				why = "indirect table length is not a multiple of 16 up to 16*queue size";
			if (why) {
				guest_error(vq, "chain at head %u: %s (len %u)", head, why, d.len);
				goto bad;
			}
			table = vq->mem.translate(vq->mem.ctx, d.addr, d.len);
			if (!table) {
				guest_error(vq, "chain at head %u: indirect table [0x%" PRIx64
					    ", +%u) is not guest RAM", head, d.addr, d.len);
				goto bad;
			}
			table_len = budget = d.len / DESC_SIZE;
			in_indirect = true;
			i = 0;
			continue;
		}
		if (d.len) {
			bool writable = d.flags & MODVM_VIRTQ_DESC_F_WRITE;
			void *p;

			if (!writable && c->n_writable) {
				guest_error(vq, "chain at head %u: readable buffer after a writable one",
					    head);
				goto bad;
			}
			total += d.len;	/* ≤ 2 * 32768 * 4 GiB: cannot wrap 64 bits */
			if (total > MODVM_VIRTQ_CHAIN_MAX_BYTES) {
				guest_error(vq, "chain at head %u describes more than %llu bytes",
					    head, (unsigned long long)MODVM_VIRTQ_CHAIN_MAX_BYTES);
				goto bad;
			}
			p = vq->mem.translate(vq->mem.ctx, d.addr, d.len);
			if (!p) {
				guest_error(vq, "chain at head %u: buffer [0x%" PRIx64
					    ", +%u) is not guest RAM", head, d.addr, d.len);
				goto bad;
			}
			ret = chain_add(&c, &cap, p, d.len);
			if (ret < 0)
				goto fail;
			if (writable) {
				c->n_writable++;
				c->writable_bytes += d.len;
			} else {
				c->n_readable++;
				c->readable_bytes += d.len;
			}
		}
		if (!(d.flags & MODVM_VIRTQ_DESC_F_NEXT))
			break;
		i = d.next;
		if (i >= table_len) {
			guest_error(vq, "chain at head %u: next index %u is beyond the %s (%u)",
				    head, i, in_indirect ? "indirect table" : "queue", table_len);
			goto bad;
		}
	}
	*out = c;
	return 0;
bad:
	ret = -EINVAL;
fail:
	free(c);
	return ret;
}

static void put_used(struct modvm_virtq *vq, uint16_t id, uint32_t len)
{
	uint8_t *elem = vq->used + 4 + 8u * (vq->used_idx & (vq->num - 1));
	uint32_t le_id = htole32(id), le_len = htole32(len);

	memcpy(elem, &le_id, 4);
	memcpy(elem + 4, &le_len, 4);
	vq->used_idx++;
	store16(vq->used + 2, vq->used_idx);	/* release: the element is visible first */
	vq->stats.pushed++;
}

MODVM_INTERNAL int modvm__virtq_pop_locked(struct modvm_virtq *vq, struct modvm_virtq_chain **out)
{
	/* A guest that overlaps its used ring with avail->idx makes every
	 * used entry look like a new available one: without this bound one
	 * pop would never return. */
	for (uint32_t skipped = 0;; skipped++) {
		uint16_t idx, pending, head;
		int ret;

		if (!vq->ready || !vq->driver_ok)
			return 0;
		if (vq->broken)
			return -EIO;
		if (skipped == vq->num) {
			guest_error(vq, "%u malformed chains in a row; pausing until the next pop",
				    skipped);
			return 0;
		}
		if (vq->event_idx) {
			/* Ask for a kick on the next new entry; the fence orders
			 * this store before the idx load, or a kick is lost. */
			set_avail_event(vq, vq->last_avail);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
		}
		idx = avail_idx(vq);
		pending = (uint16_t)(idx - vq->last_avail);
		if (pending == 0)
			return 0;
		if (pending > vq->num) {
			guest_error(vq, "available index jumped from %u to %u, more than the "
				    "queue size %u: queue broken", vq->last_avail, idx, vq->num);
			mark_broken(vq);
			return -EIO;
		}
		head = avail_ring(vq, vq->last_avail & (vq->num - 1));
		if (head >= vq->num) {
			guest_error(vq, "available ring slot %u names descriptor %u beyond the "
				    "queue size %u: queue broken", vq->last_avail, head, vq->num);
			mark_broken(vq);
			return -EIO;
		}
		ret = walk(vq, head, out);
		if (ret == -ENOMEM)
			return ret;	/* nothing consumed: retried on the next pop */
		vq->last_avail++;
		if (ret == 0) {
			vq->stats.popped++;
			return 1;
		}
		vq->stats.bad_chains++;
		put_used(vq, head, 0);
	}
}

MODVM_INTERNAL bool modvm__virtq_pending_locked(struct modvm_virtq *vq)
{
	if (!vq->ready || !vq->driver_ok || vq->broken)
		return false;
	if (vq->event_idx) {
		/* What a pop finding nothing leaves behind: a kick asked for
		 * the next entry, ordered before the idx load. */
		set_avail_event(vq, vq->last_avail);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
	return avail_idx(vq) != vq->last_avail;
}

MODVM_EXPORT int modvm_virtq_pop(struct modvm_virtq *vq, struct modvm_virtq_chain **out)
{
	int ret;

	lock(vq);
	ret = modvm__virtq_pop_locked(vq, out);
	unlock(vq);
	return ret;
}

MODVM_EXPORT void modvm_virtq_chain_free(struct modvm_virtq_chain *chain)
{
	free(chain);
}

MODVM_EXPORT int modvm_virtq_push(struct modvm_virtq *vq, struct modvm_virtq_chain *chain,
				  uint32_t written)
{
	int ret = 0;

	lock(vq);
	if (!vq->ready || chain->epoch != vq->epoch) {
		ret = -ESTALE;
		goto out;
	}
	if (written > chain->writable_bytes)
		written = (uint32_t)chain->writable_bytes;
	put_used(vq, chain->head, written);
out:
	unlock(vq);
	free(chain);
	return ret;
}

/* virtio 1.2, 2.7.10: was used_event passed between old and new? */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

MODVM_INTERNAL bool modvm__virtq_should_notify_locked(struct modvm_virtq *vq)
{
	uint16_t old = vq->signalled_used, new_idx = vq->used_idx;
	bool notify;

	if (!vq->ready || old == new_idx)
		return false;
	vq->signalled_used = new_idx;
	/* The used idx store must be visible before we read the driver's
	 * suppression state, or both sides can miss each other. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx)
		notify = need_event(used_event(vq), new_idx, old);
	else
		notify = !(avail_flags(vq) & MODVM_VIRTQ_AVAIL_F_NO_INTERRUPT);
	if (notify)
		vq->stats.notifications++;
	else
		vq->stats.suppressed++;
	return notify;
}

MODVM_EXPORT bool modvm_virtq_should_notify(struct modvm_virtq *vq)
{
	bool ret;

	lock(vq);
	ret = modvm__virtq_should_notify_locked(vq);
	unlock(vq);
	return ret;
}

MODVM_EXPORT uint16_t modvm_virtq_size(struct modvm_virtq *vq)
{
	uint16_t n;

	lock(vq);
	n = vq->ready ? vq->num : 0;
	unlock(vq);
	return n;
}

MODVM_EXPORT bool modvm_virtq_is_ready(struct modvm_virtq *vq)
{
	bool r;

	lock(vq);
	r = vq->ready;
	unlock(vq);
	return r;
}

MODVM_EXPORT void modvm_virtq_get_stats(struct modvm_virtq *vq, struct modvm_virtq_stats *out)
{
	lock(vq);
	*out = vq->stats;
	unlock(vq);
}
