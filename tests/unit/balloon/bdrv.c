#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <modvm/loop.h>

#include "bdrv.h"

#define DIE(...)                                                                    \
	do {                                                                        \
		fprintf(stderr, "bdrv: " __VA_ARGS__);                              \
		fputc('\n', stderr);                                                \
		abort();                                                            \
	} while (0)

#define GUARD 4096u

static void *translate(void *ctx, uint64_t gpa, uint64_t len)
{
	struct bdrv *d = ctx;

	if (d->on_translate)
		d->on_translate(d);
	if (len == 0 || gpa >= d->ram_size || len > d->ram_size - gpa)
		return NULL;
	return d->ram + gpa;
}

static void count_irq(void *ctx)
{
	((struct bdrv *)ctx)->irqs++;
}

static int defer_on_loop(void *loop, void (*fn)(void *), void *arg)
{
	return modvm_loop_call(loop, fn, arg);
}

void bdrv_init_loop(struct bdrv *d, size_t ram_size, bool shared, struct modvm_loop *loop)
{
	memset(d, 0, sizeof(*d));
	d->ram_size = ram_size;
	/* Guard pages of another protection on both sides keep the kernel from
	 * merging RAM with a neighbour, so its VMA's Rss is RAM's alone. */
	uint8_t *map = mmap(NULL, ram_size + 2 * GUARD, PROT_NONE,
			    (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_NORESERVE,
			    -1, 0);
	if (map == MAP_FAILED)
		DIE("mmap %zu bytes failed", ram_size);
	d->ram = map + GUARD;
	if (mprotect(d->ram, ram_size, PROT_READ | PROT_WRITE) < 0)
		DIE("mprotect failed");
	/* 4 KiB pages only, so Rss moves by exactly what the balloon did. */
	madvise(d->ram, ram_size, MADV_NOHUGEPAGE);
	/* Rings and buffers are resident from the start, so only balloon
	 * pages move Rss afterwards. */
	memset(d->ram, 0, BDRV_PAGES_GPA < ram_size ? BDRV_PAGES_GPA : ram_size);
	struct modvm_virtio_mmio_config cfg = {
		.struct_size = sizeof(cfg),
		.irq = 5,
		.base = 0xd0000000,
		.name = "virtio-balloon-test",
		.mem = { .translate = translate, .ctx = d },
		.raise_irq = count_irq,
		.irq_ctx = d,
		.defer = loop ? defer_on_loop : NULL,
		.defer_ctx = loop,
	};
	if (balloon_dev_create(&cfg, &d->b) < 0)
		DIE("balloon_dev_create failed");
	d->t = balloon_dev_transport(d->b);
	d->data_next = BDRV_DATA_GPA;
}

void bdrv_init(struct bdrv *d, size_t ram_size, bool shared)
{
	bdrv_init_loop(d, ram_size, shared, NULL);
}

void bdrv_fini(struct bdrv *d)
{
	balloon_dev_free(d->b);
	munmap(d->ram - GUARD, d->ram_size + 2 * GUARD);
}

uint8_t *bdrv_gpa(struct bdrv *d, uint64_t gpa)
{
	if (gpa >= d->ram_size)
		DIE("gpa 0x%" PRIx64 " outside RAM", gpa);
	return d->ram + gpa;
}

static uint32_t rd(struct bdrv *d, uint64_t off)
{
	uint32_t v = 0;
	modvm_virtio_mmio_access(d->t, off, (uint8_t *)&v, 4, false);
	return v;
}

static void wr(struct bdrv *d, uint64_t off, uint32_t v)
{
	modvm_virtio_mmio_access(d->t, off, (uint8_t *)&v, 4, true);
}

static void setup_queue(struct bdrv *d, int role, int qi)
{
	struct bdrv_q *q = &d->q[role];
	uint64_t base = 0x1000 + (uint64_t)qi * 0x4000;

	*q = (struct bdrv_q){ .desc = base, .avail = base + 0x1000, .used = base + 0x2000,
			      .num = BDRV_QNUM };
	memset(d->ram + base, 0, 0x3000);
	wr(d, MODVM_VIRTIO_MMIO_QUEUE_SEL, (uint32_t)qi);
	wr(d, MODVM_VIRTIO_MMIO_QUEUE_NUM, q->num);
	wr(d, MODVM_VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)q->desc);
	wr(d, MODVM_VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	wr(d, MODVM_VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)q->avail);
	wr(d, MODVM_VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
	wr(d, MODVM_VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)q->used);
	wr(d, MODVM_VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
	wr(d, MODVM_VIRTIO_MMIO_QUEUE_READY, 1);
	if (rd(d, MODVM_VIRTIO_MMIO_QUEUE_READY) != 1)
		DIE("queue %d refused", qi);
}

uint8_t bdrv_start(struct bdrv *d, uint64_t want)
{
	uint32_t s = MODVM_VIRTIO_STATUS_ACKNOWLEDGE;
	uint64_t offered;
	int next = 0;

	if (rd(d, MODVM_VIRTIO_MMIO_MAGIC_VALUE) != MODVM_VIRTIO_MMIO_MAGIC ||
	    rd(d, MODVM_VIRTIO_MMIO_DEVICE_ID) != MODVM_VIRTIO_ID_BALLOON)
		DIE("not a balloon");
	wr(d, MODVM_VIRTIO_MMIO_STATUS, 0);
	wr(d, MODVM_VIRTIO_MMIO_STATUS, s);
	s |= MODVM_VIRTIO_STATUS_DRIVER;
	wr(d, MODVM_VIRTIO_MMIO_STATUS, s);
	wr(d, MODVM_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	offered = (uint64_t)rd(d, MODVM_VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	wr(d, MODVM_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	offered |= rd(d, MODVM_VIRTIO_MMIO_DEVICE_FEATURES);
	d->features = (want | MODVM_VIRTIO_FEATURE(MODVM_VIRTIO_F_VERSION_1)) & offered;
	wr(d, MODVM_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(d, MODVM_VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(d->features >> 32));
	wr(d, MODVM_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(d, MODVM_VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)d->features);
	s |= MODVM_VIRTIO_STATUS_FEATURES_OK;
	wr(d, MODVM_VIRTIO_MMIO_STATUS, s);
	if (!(rd(d, MODVM_VIRTIO_MMIO_STATUS) & MODVM_VIRTIO_STATUS_FEATURES_OK))
		return (uint8_t)rd(d, MODVM_VIRTIO_MMIO_STATUS);
	for (int r = 0; r < BALLOON_Q_NR; r++)
		d->qidx[r] = -1;
	d->qidx[BALLOON_Q_INFLATE] = next++;
	d->qidx[BALLOON_Q_DEFLATE] = next++;
	if (d->features & MODVM_VIRTIO_FEATURE(BALLOON_F_STATS_VQ))
		d->qidx[BALLOON_Q_STATS] = next++;
	if (d->features & MODVM_VIRTIO_FEATURE(BALLOON_F_REPORTING))
		d->qidx[BALLOON_Q_REPORTING] = next++;
	for (int r = 0; r < BALLOON_Q_NR; r++)
		if (d->qidx[r] >= 0)
			setup_queue(d, r, d->qidx[r]);
	wr(d, MODVM_VIRTIO_MMIO_STATUS, s | MODVM_VIRTIO_STATUS_DRIVER_OK);
	return (uint8_t)rd(d, MODVM_VIRTIO_MMIO_STATUS);
}

uint64_t bdrv_alloc(struct bdrv *d, uint32_t len)
{
	uint64_t p = d->data_next;
	d->data_next = (d->data_next + len + 15) & ~15ull;
	if (d->data_next > BDRV_PAGES_GPA)
		DIE("data area exhausted");
	return p;
}

void bdrv_data_reset(struct bdrv *d)
{
	d->data_next = BDRV_DATA_GPA;
}

static void put16(struct bdrv *d, uint64_t gpa, uint16_t v)
{
	__atomic_store_n((uint16_t *)bdrv_gpa(d, gpa), v, __ATOMIC_RELEASE);
}

uint16_t bdrv_post(struct bdrv *d, int role, const struct bdrv_seg *segs, unsigned n)
{
	struct bdrv_q *q = &d->q[role];
	uint16_t head = q->next_desc;

	if (d->qidx[role] < 0 || !n)
		DIE("post on absent role %d", role);
	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % q->num);
		uint16_t next = (uint16_t)((head + i + 1) % q->num);
		uint16_t flags = (uint16_t)((segs[i].write ? MODVM_VIRTQ_DESC_F_WRITE : 0) |
					    (i + 1 < n ? MODVM_VIRTQ_DESC_F_NEXT : 0));
		uint8_t *p = bdrv_gpa(d, q->desc + 16ull * idx);
		memcpy(p, &segs[i].gpa, 8);
		memcpy(p + 8, &segs[i].len, 4);
		memcpy(p + 12, &flags, 2);
		memcpy(p + 14, &next, 2);
	}
	q->next_desc = (uint16_t)((head + n) % q->num);
	put16(d, q->avail + 4 + 2u * (q->avail_idx % q->num), head);
	q->avail_idx++;
	put16(d, q->avail + 2, q->avail_idx);
	return head;
}

void bdrv_repost(struct bdrv *d, int role, uint16_t head)
{
	struct bdrv_q *q = &d->q[role];

	put16(d, q->avail + 4 + 2u * (q->avail_idx % q->num), head);
	q->avail_idx++;
	put16(d, q->avail + 2, q->avail_idx);
}

uint16_t bdrv_avail_event(struct bdrv *d, int role)
{
	struct bdrv_q *q = &d->q[role];

	return __atomic_load_n((uint16_t *)bdrv_gpa(d, q->used + 4 + 8u * q->num),
			       __ATOMIC_ACQUIRE);
}

void bdrv_kick(struct bdrv *d, int role)
{
	wr(d, MODVM_VIRTIO_MMIO_QUEUE_NOTIFY, (uint32_t)d->qidx[role]);
}

bool bdrv_get_used(struct bdrv *d, int role, uint32_t *id, uint32_t *len)
{
	struct bdrv_q *q = &d->q[role];
	uint16_t idx = __atomic_load_n((uint16_t *)bdrv_gpa(d, q->used + 2), __ATOMIC_ACQUIRE);

	if (idx == q->last_used)
		return false;
	uint8_t *e = bdrv_gpa(d, q->used + 4 + 8u * (q->last_used % q->num));
	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
	q->last_used++;
	return true;
}

bool bdrv_pfns(struct bdrv *d, int role, const uint32_t *pfn, uint32_t n)
{
	uint64_t buf = bdrv_alloc(d, n * 4);
	struct bdrv_seg s = { .gpa = buf, .len = n * 4 };
	uint32_t id, len;

	memcpy(bdrv_gpa(d, buf), pfn, n * 4ull);
	uint16_t head = bdrv_post(d, role, &s, 1);
	bdrv_kick(d, role);
	bdrv_data_reset(d);
	return bdrv_get_used(d, role, &id, &len) && id == head;
}

uint32_t bdrv_cfg_read(struct bdrv *d, uint32_t off)
{
	return rd(d, MODVM_VIRTIO_MMIO_CONFIG + off);
}

void bdrv_cfg_write(struct bdrv *d, uint32_t off, uint32_t v)
{
	wr(d, MODVM_VIRTIO_MMIO_CONFIG + off, v);
}

size_t bdrv_rss(const void *addr)
{
	char want[32], line[256];
	bool in = false;
	size_t kb = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		DIE("cannot open /proc/self/smaps");
	snprintf(want, sizeof(want), "%" PRIxPTR "-", (uintptr_t)addr);
	while (fgets(line, sizeof(line), f)) {
		uintptr_t lo, hi;
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &lo, &hi) == 2) {
			/* a VMA header line: "start-end perms ..." */
			if (strncmp(line, want, strlen(want)) == 0)
				in = true;
			else if (in)
				break;
			continue;
		}
		if (in && sscanf(line, "Rss: %zu kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb * 1024;
}
