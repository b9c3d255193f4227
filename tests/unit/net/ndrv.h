/*
 * A qtest-style virtio-net driver for the net-vmq tests and bench, on top of
 * tests/devices/virtio_driver.c (fake guest RAM between guard pages, the
 * Linux virtio-mmio programming sequence): it adds what a NIC needs, several
 * queues with their own rings, transmit of one frame, receive buffers and
 * gathering of merged receive buffers.
 *
 * Layout: rings of queue q at 0x1000 + q * 0x4000 (virtio_driver's), data
 * buffers from NDRV_DATA_GPA up to the end of RAM.
 */
#ifndef NET_VMQ_TEST_NDRV_H
#define NET_VMQ_TEST_NDRV_H

#include "netdev.h"
#include "virtio_driver.h"

#define NDRV_MAX_Q 7
#define NDRV_DATA_GPA 0x20000u

struct ndrv_q {
	uint16_t num, avail_idx, last_used, next_desc;
	uint64_t buf_gpa[NETDEV_QUEUE_MAX];	/* by head: the buffer posted there */
};

struct ndrv {
	struct vdrv v;
	struct netdev *nd;
	unsigned nq, pairs;
	struct ndrv_q q[NDRV_MAX_Q];
	uint64_t data_next;
};

struct ndrv_seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* What ndrv_init_opts may change of the transport ndrv_init makes. */
struct ndrv_opts {
	const char *name;		/* NULL: "virtio-net-test" */
	void (*raise_irq)(void *ctx);	/* NULL: vdrv's, counting into v.irqs */
	void *irq_ctx;
	struct modvm_loop *loop;	/* where renotified calls run; NULL: nowhere */
};

/* Maps RAM and creates the device with @cfg. */
void ndrv_init(struct ndrv *d, const struct netdev_config *cfg);
/* The same with @o (NULL: ndrv_init). */
void ndrv_init_opts(struct ndrv *d, const struct netdev_config *cfg, const struct ndrv_opts *o);
void ndrv_fini(struct ndrv *d);
/* Negotiates @want (VERSION_1 added) and returns the status read back. */
uint8_t ndrv_negotiate(struct ndrv *d, uint64_t want);
/* negotiate, @nq queues of @num entries, DRIVER_OK; asserts each step. */
void ndrv_start(struct ndrv *d, uint64_t want, unsigned nq, uint16_t num);

uint64_t ndrv_alloc(struct ndrv *d, uint32_t len);
void ndrv_data_reset(struct ndrv *d);
/* Posts a chain on queue @q; returns its head. */
uint16_t ndrv_post(struct ndrv *d, unsigned q, const struct ndrv_seg *segs, unsigned n);
/* Writes descriptor @i of queue @q as a chain of its own (@seg), without
 * making it available: ndrv_repost does that, as often as wanted. */
void ndrv_set_desc(struct ndrv *d, unsigned q, uint16_t i, const struct ndrv_seg *seg);
/* Makes the chain at @head available again on queue @q (its descriptors
 * as they are), as a driver racing the device would. */
void ndrv_repost(struct ndrv *d, unsigned q, uint16_t head);
void ndrv_kick(struct ndrv *d, unsigned q);
bool ndrv_used(struct ndrv *d, unsigned q, uint32_t *id, uint32_t *len);

/* RING_EVENT_IDX, queue @q: the driver's used_event (0 is how Linux turns
 * interrupts off), the device's avail_event, the used index. */
void ndrv_set_used_event(struct ndrv *d, unsigned q, uint16_t v);
uint16_t ndrv_avail_event(struct ndrv *d, unsigned q);
uint16_t ndrv_used_idx(struct ndrv *d, unsigned q);
/* virtqueue_kick_prepare with RING_EVENT_IDX: a full barrier, then whether
 * avail_event lies among the entries made available since index @old. */
bool ndrv_kick_needed(struct ndrv *d, unsigned q, uint16_t old);

/* Sends @hdr + @frame as one buffer on pair @pair's TX queue, kicks, and
 * asserts the buffer came back. */
void ndrv_tx(struct ndrv *d, unsigned pair, const struct vnet_hdr *hdr, const void *frame,
	     uint32_t len);
/* Posts @n writable buffers of @size bytes on pair @pair's RX queue and kicks. */
void ndrv_rx_fill(struct ndrv *d, unsigned pair, unsigned n, uint32_t size);
/* Takes the next received frame (gathering merged buffers by num_buffers):
 * copies the header into *@hdr and at most @cap frame bytes into @frame;
 * returns the frame length (without header), or -1 when nothing is used. */
long ndrv_rx(struct ndrv *d, unsigned pair, struct vnet_hdr *hdr, void *frame, size_t cap);
/* Sends a control command (class, cmd, data) and returns the ack byte. */
uint8_t ndrv_ctrl(struct ndrv *d, uint8_t cls, uint8_t cmd, const void *data, uint32_t len);

uint32_t ndrv_cfg_read(struct ndrv *d, uint32_t off, uint32_t len);

#endif
