/*
 * The driver side the device fuzz targets (fuzz_blkdev, fuzz_netdev,
 * fuzz_balloondev) have in common: reading the fuzz input, guest RAM
 * between guard pages, register access, queue setup and descriptors made
 * available.  One copy, so a fix to how a hostile driver is played reaches
 * every device; each target keeps its own opcodes and its device's own
 * operations.
 *
 * What the readers and the fd_* operations take from the input is the seed
 * format of all three targets (seeds: scripts/run-fuzz.sh): change it and
 * every corpus means something else.
 */
#ifndef FUZZ_DRIVER_H
#define FUZZ_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <modvm/virtio.h>

/* The fuzz input, read front to back; past its end every read gives 0. */
struct fd_input {
	const uint8_t *p;
	size_t left;
};

uint8_t fd_u8(struct fd_input *in);
uint16_t fd_u16(struct fd_input *in);	/* little-endian, as are the next two */
uint32_t fd_u32(struct fd_input *in);
uint64_t fd_u64(struct fd_input *in);

/* Guest RAM: @size bytes from gpa 0, between two PROT_NONE guard pages. */
struct fd_ram {
	uint8_t *base;
	uint64_t size;
	/* A write that runs past the end of RAM: with clip the bytes inside
	 * it land, without none do.  fuzz_balloondev lays buffers off the end
	 * on purpose; the others drop such writes whole, as their corpora
	 * expect. */
	bool clip;
};

/* Where the driver put one queue's rings, and its next avail index. */
struct fd_ring {
	uint64_t desc, avail;
	uint16_t num, idx;
};

/* One device as the driver sees it: @nq queues tracked in @rings. */
struct fd_driver {
	struct modvm_virtio_mmio *t;
	const struct fd_ram *ram;
	struct fd_ring *rings;
	unsigned nq;
};

/* @size bytes between guard pages (@flags: MAP_PRIVATE or MAP_SHARED); aborts. */
uint8_t *fd_map_ram(uint64_t size, int flags);
/* The host address of [gpa, gpa + len), NULL unless all of it is RAM. */
void *fd_ram_at(const struct fd_ram *ram, uint64_t gpa, uint64_t len);
/* A transport config that translates through fd_ram_at(@ram) and drops
 * interrupts; a target may swap in its own translate or add a defer. */
struct modvm_virtio_mmio_config fd_mmio_config(const char *name, struct fd_ram *ram);

/* A guest write (ram->clip says what happens at the end of RAM); false
 * when it did not all fit. */
bool fd_put(const struct fd_ram *ram, uint64_t gpa, const void *p, size_t len);
bool fd_put_desc(const struct fd_ram *ram, uint64_t table, uint16_t i, uint64_t addr,
		 uint32_t len, uint16_t flags, uint16_t next);
void fd_make_available(const struct fd_ram *ram, struct fd_ring *q, uint16_t head);

void fd_reg_write(struct modvm_virtio_mmio *t, uint64_t off, uint32_t v);
uint32_t fd_reg_read(struct modvm_virtio_mmio *t, uint64_t off);

/*
 * The operations every target has: each reads its arguments from @in, in
 * the order given, and drives @d.
 */
/* u8 flags (1: VERSION_1, 2: no DRIVER), u64 features.  Returns the flags:
 * the other bits are the target's to give a meaning. */
uint8_t fd_negotiate(const struct fd_driver *d, struct fd_input *in);
/* u8 status, written raw (0 resets). */
void fd_status(const struct fd_driver *d, struct fd_input *in);
/* u8 q, u16 num, u16 desc, u16 avail, u16 used, u8 ready (bit 7: desc above 4 GiB). */
void fd_queue(const struct fd_driver *d, struct fd_input *in);
/* u16 gpa, u8 n, n bytes (what falls outside RAM is dropped). */
void fd_write_ram(const struct fd_driver *d, struct fd_input *in);
/* u8 q, u8 head, u8 n (1..4), n x (u16 gpa, u16 len, u8 flags, u8 next);
 * makes head available. */
void fd_post(const struct fd_driver *d, struct fd_input *in);
/* u8 q, up to two past the last queue. */
void fd_kick(const struct fd_driver *d, struct fd_input *in);
/* u8 off / 4, u32 value, u8 write: any register, read or written. */
void fd_reg(const struct fd_driver *d, struct fd_input *in);
/* u8 q, u16 idx: the avail index set to anything. */
void fd_avail_idx(const struct fd_driver *d, struct fd_input *in);

/* One config space access (u8 off, u8 len selector, u8 write, u64 value);
 * what it did, and read, for a target that checks the answer. */
struct fd_config_access {
	uint32_t off, len;
	bool write;
	uint64_t v;
};
struct fd_config_access fd_config(const struct fd_driver *d, struct fd_input *in);

#endif
