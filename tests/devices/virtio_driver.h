/*
 * A qtest-style virtio driver for tests: fake guest RAM between guard pages
 * (so a stray access by the library faults the test), split rings laid out
 * in it, and the virtio-mmio programming sequence a Linux driver uses
 * (virtio_mmio.c: vm_probe, vm_setup_vq), all through
 * modvm_virtio_mmio_access.
 */
#ifndef MODVM_TEST_VIRTIO_DRIVER_H
#define MODVM_TEST_VIRTIO_DRIVER_H

#include <check.h>
#include <modvm/virtio.h>

#include "virtio/virtio.h"

#define RAM_SIZE (1u << 20)
/* A reserved, inaccessible 6 GiB window the translation also accepts, for
 * chains whose lengths only a huge VM could hold: anything touching it
 * faults. */
#define HUGE_GPA 0x400000000ULL
#define HUGE_SIZE (6ULL << 30)

/* Default ring layout of queue 0 (queue q is shifted by q * 0x4000). */
#define DESC_GPA 0x1000u
#define AVAIL_GPA 0x2000u
#define USED_GPA 0x3000u
#define INDIRECT_GPA 0x8000u
#define BUF_GPA 0x10000u

struct vdrv {
	uint8_t *map;		/* guard page, RAM, guard page */
	size_t map_len;
	uint8_t *ram;
	uint8_t *huge;		/* PROT_NONE reservation backing HUGE_GPA */
	struct modvm_guest_mem mem;
	struct modvm_virtio_mmio *t;
	struct modvm_virtio_dev *dev;
	int irqs;		/* raise_irq calls */
	uint64_t features;	/* accepted by the driver */
	/* queue 0 as the driver sees it */
	uint16_t num;
	uint16_t avail_idx;	/* driver's next avail slot */
	uint16_t last_used;	/* driver's consumed used entries */
	/* Called at every translation of a guest address, i.e. while the
	 * device walks a chain or reads a buffer: a driver adding buffers
	 * there races the device deterministically.  NULL: none. */
	void (*on_translate)(struct vdrv *d);
};

/* Maps RAM and fills a transport config whose raise_irq counts into d. */
void vdrv_init(struct vdrv *d, struct modvm_virtio_mmio_config *cfg);
/* Destroys the transport (if any) and unmaps RAM. */
void vdrv_fini(struct vdrv *d);
/* A transport config's defer (modvm_virtio_renotify) with @loop as
 * defer_ctx: modvm_loop_call. */
int vdrv_defer_on_loop(void *loop, void (*fn)(void *), void *arg);

uint8_t *gpa(struct vdrv *d, uint64_t addr);
uint32_t mmio_read(struct vdrv *d, uint64_t off);
void mmio_write(struct vdrv *d, uint64_t off, uint32_t v);

/* ACKNOWLEDGE, DRIVER, DriverFeatures = @want & offered, FEATURES_OK;
 * returns the status read back (FEATURES_OK is set iff accepted). */
uint8_t vdrv_negotiate(struct vdrv *d, uint64_t want);
/* QueueSel, QueueNum, the three rings at the default layout + q*0x4000,
 * QueueReady=1; returns QueueReady read back.  Zeroes the rings first. */
uint32_t vdrv_setup_queue_at(struct vdrv *d, uint16_t q, uint16_t num, uint64_t desc,
			     uint64_t avail, uint64_t used);
uint32_t vdrv_setup_queue(struct vdrv *d, uint16_t q, uint16_t num);
void vdrv_driver_ok(struct vdrv *d);
/* negotiate(@want) + queue 0 of @num + DRIVER_OK, asserting each step. */
void vdrv_start(struct vdrv *d, uint64_t want, uint16_t num);

void vdrv_set_desc(struct vdrv *d, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
		   uint16_t flags, uint16_t next);
/* Makes @head available on queue 0 (ring slot, then idx). */
void vdrv_post(struct vdrv *d, uint16_t head);
/* Writes avail->idx directly (for malformed-ring tests). */
void vdrv_set_avail_idx(struct vdrv *d, uint16_t idx);
void vdrv_set_avail_flags(struct vdrv *d, uint16_t flags);
void vdrv_set_used_event(struct vdrv *d, uint16_t v);
uint16_t vdrv_avail_event(struct vdrv *d);
void vdrv_kick(struct vdrv *d, uint16_t q);
uint16_t vdrv_used_idx(struct vdrv *d);
/* Takes the next used entry of queue 0; false if none. */
bool vdrv_get_used(struct vdrv *d, uint32_t *id, uint32_t *len);
/* Reads and acknowledges InterruptStatus; returns what it read. */
uint32_t vdrv_ack(struct vdrv *d);

struct modvm_virtq_stats vdrv_stats(struct vdrv *d, uint16_t q);

/* Whether [gpa, gpa+len) still holds @byte everywhere. */
bool vdrv_all(struct vdrv *d, uint64_t addr, size_t len, uint8_t byte);

#define VERSION_1 MODVM_VIRTIO_FEATURE(MODVM_VIRTIO_F_VERSION_1)
#define EVENT_IDX MODVM_VIRTIO_FEATURE(MODVM_VIRTIO_F_RING_EVENT_IDX)
#define INDIRECT MODVM_VIRTIO_FEATURE(MODVM_VIRTIO_F_INDIRECT_DESC)
#define F_NEXT MODVM_VIRTQ_DESC_F_NEXT
#define F_WRITE MODVM_VIRTQ_DESC_F_WRITE
#define F_INDIRECT MODVM_VIRTQ_DESC_F_INDIRECT

#endif
