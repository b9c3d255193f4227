/*
 * The virtio-balloon device model.  See balloon_dev.h for the contract.
 *
 * Page numbers are copied out of guest RAM in batches before they are
 * looked at (the guest may change them meanwhile), sorted when they are
 * not already ascending so contiguous pages meet, and released in one
 * madvise per contiguous run: that is what makes a 1 GiB inflate cost a
 * handful of system calls instead of 262144.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <modvm/log.h>

#include "balloon_dev.h"

#define CONFIG_SIZE 16u		/* num_pages, actual, free_page_hint_cmd_id, poison_val */
#define PFN_BATCH 1024u
#define ROLE_NONE 0xffu

struct balloon_dev {
	struct modvm_virtio_mmio *transport;
	struct modvm_virtio_dev *dev;
	struct modvm_guest_mem mem;
	bool own_transport;
	/* Set at FEATURES_OK under the transport mutex, read by queue_notify
	 * under it: no lock of ours needed. */
	uint8_t role[BALLOON_Q_NR];
	/* MADV_REMOVE until the mapping refuses it (private RAM), then
	 * MADV_DONTNEED; only queue_notify touches it, under the transport
	 * mutex. */
	int advice;
	uint32_t num_pages;	/* atomic */
	uint32_t actual;	/* atomic */
	/* Pages inflated and not deflated since the driver's reset, as the
	 * device counted them: what `actual` may claim at most (atomic). */
	uint64_t balloon_pages;
	struct balloon_counters c;	/* atomic fields */

	pthread_mutex_t lock;	/* guards the two below */
	struct modvm_virtq_chain *stats_chain;	/* the held stats buffer */
	struct balloon_guest_stats stats;
};

#define COUNT(b, field, n) __atomic_add_fetch(&(b)->c.field, (n), __ATOMIC_RELAXED)

/* ---- releasing pages ---- */

/* One contiguous host range to give back. */
struct run {
	uint8_t *start;
	size_t len;
};

static void release(struct balloon_dev *b, struct run *r)
{
	if (!r->len)
		return;
	int ret = madvise(r->start, r->len, b->advice);
	if (ret < 0 && errno == EINVAL && b->advice == MADV_REMOVE) {
		/* Private anonymous memory cannot be punched; dropping the
		 * pages is what returns them there. */
		b->advice = MADV_DONTNEED;
		ret = madvise(r->start, r->len, b->advice);
	}
	COUNT(b, madvise_calls, 1);
	if (ret < 0) {
		if (__atomic_add_fetch(&b->c.madvise_errors, 1, __ATOMIC_RELAXED) == 1)
			modvm_virtio_log(b->dev, MODVM_LOG_WARN, "madvise(%p, %zu): %s",
					 (void *)r->start, r->len, strerror(errno));
	} else {
		COUNT(b, released_bytes, r->len);
	}
	r->len = 0;
}

/* Adds [p, p+len) to the run, flushing it first if not contiguous. */
static void run_add(struct balloon_dev *b, struct run *r, uint8_t *p, size_t len)
{
	if (r->len && r->start + r->len == p) {
		r->len += len;
		return;
	}
	release(b, r);
	r->start = p;
	r->len = len;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* Deflating what was never inflated takes the count to 0, not below. */
static void balloon_pages_sub(struct balloon_dev *b, uint64_t n)
{
	uint64_t v = __atomic_load_n(&b->balloon_pages, __ATOMIC_RELAXED);

	while (!__atomic_compare_exchange_n(&b->balloon_pages, &v, v > n ? v - n : 0, true,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* Validates (and for inflate, releases) @n PFNs copied out of the guest. */
static void do_pfns(struct balloon_dev *b, uint32_t *pfn, size_t n, bool inflate,
		    struct run *r)
{
	uint64_t good = 0, bad = 0;
	bool sorted = true;

	for (size_t i = 1; i < n && sorted; i++)
		sorted = pfn[i - 1] <= pfn[i];
	if (inflate && !sorted)
		qsort(pfn, n, sizeof(*pfn), cmp_u32);
	uint64_t unique = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t gpa = (uint64_t)pfn[i] << BALLOON_PFN_SHIFT;
		uint8_t *p = b->mem.translate(b->mem.ctx, gpa, BALLOON_PAGE_SIZE);
		if (!p) {
			bad++;
			continue;
		}
		good++;
		if (inflate && !(i > 0 && pfn[i] == pfn[i - 1])) {
			run_add(b, r, p, BALLOON_PAGE_SIZE);
			unique++;
		}
	}
	if (inflate)
		__atomic_add_fetch(&b->balloon_pages, unique, __ATOMIC_RELAXED);
	else
		balloon_pages_sub(b, good);
	if (bad && __atomic_fetch_add(&b->c.bad_pfns, bad, __ATOMIC_RELAXED) == 0)
		modvm_virtio_log(b->dev, MODVM_LOG_WARN, "%s: page numbers outside guest RAM ignored",
				 inflate ? "inflate" : "deflate");
	if (inflate)
		COUNT(b, inflated_pages, good);
	else
		COUNT(b, deflated_pages, good);
}

static void bad_request(struct balloon_dev *b, const char *what)
{
	if (__atomic_fetch_add(&b->c.bad_requests, 1, __ATOMIC_RELAXED) == 0)
		modvm_virtio_log(b->dev, MODVM_LOG_WARN, "malformed %s buffer ignored", what);
}

/* An inflate or deflate buffer: readable le32 PFNs only.  Pages join @r;
 * the caller releases it before handing the buffer back. */
static void do_pfn_chain(struct balloon_dev *b, struct modvm_virtq_chain *c, bool inflate,
			 struct run *r)
{
	uint32_t batch[PFN_BATCH];

	if (c->n_writable || c->readable_bytes % 4 || c->readable_bytes > BALLOON_PFN_CHAIN_MAX) {
		bad_request(b, inflate ? "inflate" : "deflate");
		return;
	}
	for (uint32_t s = 0; s < c->n_readable; s++)
		if (c->segs[s].len % 4) {
			bad_request(b, inflate ? "inflate" : "deflate");
			return;
		}
	for (uint32_t s = 0; s < c->n_readable; s++) {
		const uint8_t *src = c->segs[s].addr;
		size_t left = c->segs[s].len / 4;
		while (left) {
			size_t n = left < PFN_BATCH ? left : PFN_BATCH;
			memcpy(batch, src, n * 4);	/* little-endian host, as the guest */
			do_pfns(b, batch, n, inflate, r);
			src += n * 4;
			left -= n;
		}
	}
}

/* A reporting buffer: device-writable ranges that are free guest pages. */
static void do_report_chain(struct balloon_dev *b, struct modvm_virtq_chain *c, struct run *r)
{
	if (c->n_readable) {
		bad_request(b, "reporting");
		return;
	}
	for (uint32_t s = c->n_readable; s < c->n_readable + c->n_writable; s++) {
		uintptr_t p = (uintptr_t)c->segs[s].addr, len = c->segs[s].len;
		/* RAM regions are page aligned in both spaces, so host alignment
		 * is guest alignment; only whole pages are given back. */
		if (p % BALLOON_PAGE_SIZE || len % BALLOON_PAGE_SIZE) {
			bad_request(b, "reporting");
			continue;
		}
		run_add(b, r, (uint8_t *)p, len);
		COUNT(b, reported_bytes, len);
	}
}

/* ---- statistics ---- */

static void parse_stats(struct balloon_dev *b, struct modvm_virtq_chain *c)
{
	uint8_t buf[BALLOON_STATS_MAX * BALLOON_STAT_SIZE];
	struct balloon_guest_stats st = { 0 };
	size_t off = 0;

	if (c->n_writable || !c->readable_bytes || c->readable_bytes % BALLOON_STAT_SIZE ||
	    c->readable_bytes > sizeof(buf)) {
		if (__atomic_fetch_add(&b->c.bad_stats, 1, __ATOMIC_RELAXED) == 0)
			modvm_virtio_log(b->dev, MODVM_LOG_WARN,
					 "stats buffer of %llu bytes ignored (a multiple of %u, at most "
					 "%u)", (unsigned long long)c->readable_bytes,
					 BALLOON_STAT_SIZE, BALLOON_STATS_MAX * BALLOON_STAT_SIZE);
		return;
	}
	for (uint32_t s = 0; s < c->n_readable; s++) {
		memcpy(buf + off, c->segs[s].addr, c->segs[s].len);
		off += c->segs[s].len;
	}
	for (size_t i = 0; i < off; i += BALLOON_STAT_SIZE) {
		uint16_t tag;
		uint64_t val;
		memcpy(&tag, buf + i, 2);
		memcpy(&val, buf + i + 2, 8);
		if (tag >= BALLOON_S_NR)
			continue;	/* unknown tags are ignored (5.5.6.3.1) */
		st.val[tag] = val;
		st.present |= 1u << tag;
	}
	pthread_mutex_lock(&b->lock);
	st.generation = b->stats.generation + 1;
	b->stats = st;
	pthread_mutex_unlock(&b->lock);
	COUNT(b, stats_updates, 1);
}

/* Keeps @c as the held buffer; an older one goes back to the driver. */
static void hold_stats(struct balloon_dev *b, struct modvm_virtq *vq, struct modvm_virtq_chain *c)
{
	pthread_mutex_lock(&b->lock);
	struct modvm_virtq_chain *old = b->stats_chain;
	b->stats_chain = c;
	pthread_mutex_unlock(&b->lock);
	if (old)
		modvm_virtq_push(vq, old, 0);
}

/* ---- virtio callbacks ---- */

/*
 * Buffers are taken CHAIN_BATCH at a time and handed back only after the
 * pages of all of them were released, so runs grow across buffers (Linux
 * sends 256 pages a buffer) and no buffer is acknowledged before its pages
 * are gone: a driver without MUST_TELL_HOST may reuse a page right after.
 */
#define CHAIN_BATCH 64

static void queue_notify(void *opaque, uint16_t qi)
{
	struct balloon_dev *b = opaque;
	struct modvm_virtq *vq = modvm_virtio_queue(b->dev, qi);
	struct modvm_virtq_chain *done[CHAIN_BATCH], *c;
	uint8_t role = qi < BALLOON_Q_NR ? b->role[qi] : ROLE_NONE;
	unsigned n = 0;
	struct run r = { 0 };
	int got;
	/* One kick handles at most a queue's worth: a guest whose used ring
	 * overlaps avail->idx would otherwise make every push a new entry and
	 * keep this vCPU thread here forever.  The rest comes back through
	 * modvm_virtio_renotify. */
	uint32_t budget = modvm_virtq_size(vq), taken = 0, pfns = 0;

	do {
		got = taken < budget && pfns < BALLOON_PFN_KICK_MAX ? modvm_virtq_pop(vq, &c) : 0;
		if (got > 0) {
			taken++;
			switch (role) {
			case BALLOON_Q_INFLATE:
			case BALLOON_Q_DEFLATE:
				do_pfn_chain(b, c, role == BALLOON_Q_INFLATE, &r);
				pfns += c->readable_bytes / 4 < BALLOON_PFN_KICK_MAX
						? (uint32_t)(c->readable_bytes / 4)
						: BALLOON_PFN_KICK_MAX;
				break;
			case BALLOON_Q_STATS:
				parse_stats(b, c);
				hold_stats(b, vq, c);
				continue;
			case BALLOON_Q_REPORTING:
				do_report_chain(b, c, &r);
				break;
			default:
				bad_request(b, "unused queue");
				break;
			}
			done[n++] = c;
		}
		if (n == CHAIN_BATCH || (got <= 0 && n)) {
			release(b, &r);
			for (unsigned i = 0; i < n; i++)
				modvm_virtq_push(vq, done[i], 0);
			n = 0;
		}
	} while (got > 0);
	modvm_virtio_notify_used(b->dev, qi);
	if (budget && (taken == budget || pfns >= BALLOON_PFN_KICK_MAX))
		modvm_virtio_renotify(b->dev, qi);
}

static int set_features_ok(void *opaque, uint64_t features)
{
	struct balloon_dev *b = opaque;
	uint8_t next = 0;

	memset(b->role, ROLE_NONE, sizeof(b->role));
	b->role[next++] = BALLOON_Q_INFLATE;
	b->role[next++] = BALLOON_Q_DEFLATE;
	if (features & MODVM_VIRTIO_FEATURE(BALLOON_F_STATS_VQ))
		b->role[next++] = BALLOON_Q_STATS;
	if (features & MODVM_VIRTIO_FEATURE(BALLOON_F_REPORTING))
		b->role[next++] = BALLOON_Q_REPORTING;
	return 0;
}

static void read_config(void *opaque, uint32_t off, uint8_t *data, uint32_t len)
{
	struct balloon_dev *b = opaque;
	uint32_t cfg[CONFIG_SIZE / 4] = {
		__atomic_load_n(&b->num_pages, __ATOMIC_RELAXED),
		__atomic_load_n(&b->actual, __ATOMIC_RELAXED),
	};
	memcpy(data, (uint8_t *)cfg + off, len);
}

static void write_config(void *opaque, uint32_t off, const uint8_t *data, uint32_t len)
{
	struct balloon_dev *b = opaque;

	/* Only `actual` (bytes 4..7) is the driver's; partial writes merge. */
	if (off < 4 || off >= 8)
		return;
	uint32_t v = __atomic_load_n(&b->actual, __ATOMIC_RELAXED);
	uint32_t n = len < 8 - off ? len : 8 - off;
	memcpy((uint8_t *)&v + (off - 4), data, n);
	__atomic_store_n(&b->actual, v, __ATOMIC_RELAXED);
	COUNT(b, actual_writes, 1);
}

static void reset(void *opaque)
{
	struct balloon_dev *b = opaque;

	pthread_mutex_lock(&b->lock);
	struct modvm_virtq_chain *old = b->stats_chain;
	b->stats_chain = NULL;
	/* The last statistics were the old driver's (the boot before a
	 * reboot): nobody sizes the guest on them.  The generation stays, so
	 * no empty update is announced. */
	b->stats.present = 0;
	memset(b->stats.val, 0, sizeof(b->stats.val));
	pthread_mutex_unlock(&b->lock);
	modvm_virtq_chain_free(old);
	memset(b->role, ROLE_NONE, sizeof(b->role));
	/* A reset driver has given nothing back yet. */
	__atomic_store_n(&b->actual, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&b->balloon_pages, 0, __ATOMIC_RELAXED);
}

static const struct modvm_virtio_device_ops balloon_ops = {
	.struct_size = sizeof(struct modvm_virtio_device_ops),
	.device_id = MODVM_VIRTIO_ID_BALLOON,
	.features = MODVM_VIRTIO_FEATURE(BALLOON_F_MUST_TELL_HOST) |
		    MODVM_VIRTIO_FEATURE(BALLOON_F_STATS_VQ) |
		    MODVM_VIRTIO_FEATURE(BALLOON_F_DEFLATE_ON_OOM) |
		    MODVM_VIRTIO_FEATURE(BALLOON_F_REPORTING),
	.num_queues = BALLOON_Q_NR,
	.queue_max_size = BALLOON_QUEUE_MAX,
	.config_size = CONFIG_SIZE,
	.read_config = read_config,
	.write_config = write_config,
	.queue_notify = queue_notify,
	.set_features_ok = set_features_ok,
	.reset = reset,
};

/* ---- life cycle ---- */

static struct balloon_dev *alloc_dev(void)
{
	struct balloon_dev *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	pthread_mutex_init(&b->lock, NULL);
	memset(b->role, ROLE_NONE, sizeof(b->role));
	b->advice = MADV_REMOVE;
	return b;
}

static void free_dev(struct balloon_dev *b)
{
	modvm_virtq_chain_free(b->stats_chain);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

int balloon_dev_create(const struct modvm_virtio_mmio_config *cfg, struct balloon_dev **out)
{
	struct modvm_virtio_mmio_config c;
	struct balloon_dev *b;
	int ret;

	if (!cfg || cfg->struct_size < sizeof(c) || !cfg->mem.translate) {
		modvm_log(MODVM_LOG_ERROR, NULL, "virtio-balloon: config missing or incomplete");
		return -EINVAL;
	}
	c = *cfg;
	if (!c.name)
		c.name = "virtio-balloon";
	b = alloc_dev();
	if (!b)
		return -ENOMEM;
	b->mem = c.mem;
	ret = modvm_virtio_mmio_create(&c, &balloon_ops, b, &b->transport);
	if (ret < 0)
		goto free_b;
	b->dev = modvm_virtio_mmio_dev(b->transport);
	b->own_transport = true;
	*out = b;
	return 0;
free_b:
	free_dev(b);
	return ret;
}

void balloon_dev_free(struct balloon_dev *b)
{
	if (!b)
		return;
	modvm_virtio_mmio_destroy(b->transport);
	free_dev(b);
}

static void *vm_translate(void *ctx, uint64_t gpa, uint64_t len)
{
	return modvm_gpa_to_hva(ctx, gpa, len);
}

int balloon_dev_attach(struct modvm_vm *vm, bool free_page_reporting, struct balloon_dev **out)
{
	struct balloon_dev *b = alloc_dev();
	struct modvm_virtio_device_ops ops = balloon_ops;
	int ret;

	if (!b)
		return -ENOMEM;
	if (!free_page_reporting)
		ops.features &= ~MODVM_VIRTIO_FEATURE(BALLOON_F_REPORTING);
	b->mem = (struct modvm_guest_mem){ .translate = vm_translate, .ctx = vm };
	ret = modvm_vm_add_virtio(vm, "virtio-balloon", &ops, b, &b->transport);
	if (ret < 0)
		goto free_b;
	b->dev = modvm_virtio_mmio_dev(b->transport);
	*out = b;
	return 0;
free_b:
	free_dev(b);
	return ret;
}

void balloon_dev_detach(struct modvm_vm *vm, struct balloon_dev *b)
{
	if (!b)
		return;
	modvm_vm_remove_virtio(vm, b->transport);
	free_dev(b);
}

struct modvm_virtio_mmio *balloon_dev_transport(struct balloon_dev *b)
{
	return b->transport;
}

/* ---- host side ---- */

void balloon_dev_set_target(struct balloon_dev *b, uint32_t num_pages)
{
	if (__atomic_exchange_n(&b->num_pages, num_pages, __ATOMIC_RELAXED) != num_pages)
		modvm_virtio_config_changed(b->dev);
}

uint32_t balloon_dev_target(struct balloon_dev *b)
{
	return __atomic_load_n(&b->num_pages, __ATOMIC_RELAXED);
}

uint32_t balloon_dev_actual(struct balloon_dev *b)
{
	return __atomic_load_n(&b->actual, __ATOMIC_RELAXED);
}

uint32_t balloon_dev_given(struct balloon_dev *b)
{
	uint32_t actual = balloon_dev_actual(b);
	uint64_t counted = __atomic_load_n(&b->balloon_pages, __ATOMIC_RELAXED);

	return counted < actual ? (uint32_t)counted : actual;
}

bool balloon_dev_total_counts_balloon(struct balloon_dev *b)
{
	return modvm_virtio_driver_features(b->dev) &
	       MODVM_VIRTIO_FEATURE(BALLOON_F_DEFLATE_ON_OOM);
}

bool balloon_dev_request_stats(struct balloon_dev *b)
{
	pthread_mutex_lock(&b->lock);
	struct modvm_virtq_chain *c = b->stats_chain;
	b->stats_chain = NULL;
	pthread_mutex_unlock(&b->lock);
	if (!c)
		return false;
	uint16_t qi = c->queue_index;	/* push frees the chain */
	modvm_virtq_push(modvm_virtio_queue(b->dev, qi), c, 0);
	modvm_virtio_notify_used(b->dev, qi);
	COUNT(b, stats_requests, 1);
	return true;
}

void balloon_dev_get_stats(struct balloon_dev *b, struct balloon_guest_stats *out)
{
	pthread_mutex_lock(&b->lock);
	*out = b->stats;
	pthread_mutex_unlock(&b->lock);
}

void balloon_dev_get_counters(struct balloon_dev *b, struct balloon_counters *out)
{
	const uint64_t *src = (const uint64_t *)&b->c;
	uint64_t *dst = (uint64_t *)out;

	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
