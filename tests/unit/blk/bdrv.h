/*
 * A qtest-style virtio-blk driver for the virtio-blk tests and bench, on top
 * of tests/devices/virtio_driver.c (fake guest RAM between guard pages, the
 * Linux virtio-mmio programming sequence): several queues with their own
 * rings, requests laid out the way Linux's virtio_blk lays them out (header,
 * data, status in separate descriptors) or any other way, and waiting for
 * completions, which arrive on the I/O engine's thread.
 *
 * Layout: rings of queue q at 0x1000 + q * 0x4000, data from BDRV_DATA_GPA
 * up to the end of RAM (1 MiB).
 */
#ifndef VIRTIO_BLK_TEST_BDRV_H
#define VIRTIO_BLK_TEST_BDRV_H

#include "blkdev.h"
#include "virtio_driver.h"

#define BDRV_MAX_Q 4
#define BDRV_DATA_GPA 0x20000u

struct bdrv_q {
	uint16_t num, avail_idx, last_used, next_desc;
};

struct bdrv {
	struct vdrv v;
	struct blkdev *bd;
	unsigned nq;
	struct bdrv_q q[BDRV_MAX_Q];
	uint64_t data_next;
};

struct bseg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* Maps RAM and creates the device with @cfg. */
void bdrv_init(struct bdrv *d, const struct blkdev_config *cfg);
/* The same, its renotified calls (modvm_virtio_renotify) run by @loop. */
void bdrv_init_loop(struct bdrv *d, const struct blkdev_config *cfg, struct modvm_loop *loop);
/* Frees the device (waiting for its requests) and unmaps RAM. */
void bdrv_fini(struct bdrv *d);
/* Negotiates @want (VERSION_1 added), @nq queues of @num entries, DRIVER_OK. */
void bdrv_start(struct bdrv *d, uint64_t want, unsigned nq, uint16_t num);
uint64_t bdrv_offered(struct bdrv *d);
uint32_t bdrv_cfg_read(struct bdrv *d, uint32_t off, uint32_t len);
uint64_t bdrv_cfg_read64(struct bdrv *d, uint32_t off);

/* A buffer of @len bytes in RAM, aligned to @align (a power of two). */
uint64_t bdrv_alloc(struct bdrv *d, uint32_t len, uint32_t align);
void bdrv_data_reset(struct bdrv *d);
/* Writes a request header (type, sector) at @gpa. */
void bdrv_hdr(struct bdrv *d, uint64_t gpa, uint32_t type, uint64_t sector);
/* Posts a chain on queue @q; returns its head. */
uint16_t bdrv_post(struct bdrv *d, unsigned q, const struct bseg *segs, unsigned n);
/* Makes the chain at @head available again on queue @q, as it is. */
void bdrv_repost(struct bdrv *d, unsigned q, uint16_t head);
void bdrv_kick(struct bdrv *d, unsigned q);
bool bdrv_used(struct bdrv *d, unsigned q, uint32_t *id, uint32_t *len);
/* Waits up to 5 s for the next used entry of @q. */
bool bdrv_wait_used(struct bdrv *d, unsigned q, uint32_t *id, uint32_t *len);
/* Waits until the device holds no request (asserts it happens within 5 s). */
void bdrv_settle(struct bdrv *d);

/*
 * One request the way Linux sends it: a 16-byte header, @len data bytes at
 * @data (device-writable for IN and GET_ID), a status byte; posted on @q,
 * kicked, waited for.  Returns the status byte (0xee if the device never
 * wrote it); *@used gets the used length (NULL: not wanted).
 */
uint8_t bdrv_req(struct bdrv *d, unsigned q, uint32_t type, uint64_t sector, uint64_t data,
		 uint32_t len, uint32_t *used);

/* A temporary raw image of @size bytes, byte i = pattern(i); returns the fd
 * (O_RDWR, plus @flags) and writes its path into @path (64 bytes). */
int bdrv_image(char *path, uint64_t size, int flags);
uint8_t bdrv_pattern(uint64_t i);
/* A config for @fd of @size bytes, one queue, threads or io_uring as @io. */
struct blkdev_config bdrv_config(int fd, uint64_t size, enum blkio_kind io);

#endif
