/*
 * A qtest-style virtio-balloon driver for tests and the bench: fake guest
 * RAM in an anonymous mapping we control (so its Rss in /proc/self/smaps is
 * the host's view of guest memory), the rings of all four queues laid out
 * in it, and the virtio-mmio programming sequence Linux uses, all through
 * modvm_virtio_mmio_access.  It aborts on a driver-side impossibility
 * rather than depending on Check, so the bench can link it too.
 *
 * Layout: rings of queue q at 0x1000 + q * 0x4000 (desc, +0x1000 avail,
 * +0x2000 used); data buffers from BDRV_DATA_GPA up to BDRV_PAGES_GPA;
 * pages to balloon from BDRV_PAGES_GPA to the end.
 */
#ifndef MEM_BALLOON_TEST_BDRV_H
#define MEM_BALLOON_TEST_BDRV_H

#include "balloon_dev.h"

#define BDRV_DATA_GPA 0x20000u
#define BDRV_PAGES_GPA 0x400000u
#define BDRV_QNUM 256u

struct bdrv_q {
	uint64_t desc, avail, used;
	uint16_t num, avail_idx, last_used, next_desc;
};

struct bdrv {
	uint8_t *ram;
	size_t ram_size;
	struct balloon_dev *b;
	struct modvm_virtio_mmio *t;
	uint64_t features;
	int irqs;
	int qidx[BALLOON_Q_NR];	/* queue index of each role, -1 if absent */
	struct bdrv_q q[BALLOON_Q_NR];
	uint64_t data_next;	/* bump allocator in the data area */
	/* Called at every translation of a guest address, i.e. while the
	 * device walks a chain or reads its page numbers: a driver adding
	 * buffers there races the device deterministically.  NULL: none. */
	void (*on_translate)(struct bdrv *d);
};

struct bdrv_seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* Maps @ram_size bytes (private or shared anonymous) and creates the device. */
void bdrv_init(struct bdrv *d, size_t ram_size, bool shared);
/* The same, its renotified calls (modvm_virtio_renotify) run by @loop. */
void bdrv_init_loop(struct bdrv *d, size_t ram_size, bool shared, struct modvm_loop *loop);
void bdrv_fini(struct bdrv *d);
/* Negotiates @want (plus VERSION_1), sets up the queues of the accepted
 * roles, DRIVER_OK.  Returns the status byte. */
uint8_t bdrv_start(struct bdrv *d, uint64_t want);

uint8_t *bdrv_gpa(struct bdrv *d, uint64_t gpa);
/* Allocates @len bytes of the data area (reset with bdrv_data_reset). */
uint64_t bdrv_alloc(struct bdrv *d, uint32_t len);
void bdrv_data_reset(struct bdrv *d);

/* Posts a chain of @n segments on role @role's queue; returns its head. */
uint16_t bdrv_post(struct bdrv *d, int role, const struct bdrv_seg *segs, unsigned n);
/* Makes the chain at @head available again on @role's queue, as it is. */
void bdrv_repost(struct bdrv *d, int role, uint16_t head);
/* The device's avail_event on @role's queue (RING_EVENT_IDX). */
uint16_t bdrv_avail_event(struct bdrv *d, int role);
void bdrv_kick(struct bdrv *d, int role);
bool bdrv_get_used(struct bdrv *d, int role, uint32_t *id, uint32_t *len);
/* Posts @n PFNs as one buffer on @role (inflate/deflate) and kicks; returns
 * whether the buffer came back used. */
bool bdrv_pfns(struct bdrv *d, int role, const uint32_t *pfn, uint32_t n);

uint32_t bdrv_cfg_read(struct bdrv *d, uint32_t off);
void bdrv_cfg_write(struct bdrv *d, uint32_t off, uint32_t v);

/* Rss in bytes of the mapping that starts at @addr (from /proc/self/smaps). */
size_t bdrv_rss(const void *addr);

#endif
