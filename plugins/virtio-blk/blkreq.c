/*
 * blkreq.c — one virtio-blk request, from a popped chain to what the device
 * must do: the checks of 5.2.6 and ours, and nothing else.  The chain's
 * segments are host pointers into guest RAM the library translated as
 * whole ranges; everything here stays inside them, and every field the
 * guest wrote is copied before it is checked.
 */
#include <endian.h>
#include <string.h>

#include "blkdev.h"

/* Bytes [@from, @to) of segments [@first, @first + @n) as iovecs; returns
 * how many. */
static int gather(const struct modvm_virtq_chain *c, uint32_t first, uint32_t n, uint64_t from,
		  uint64_t to, struct iovec *iov)
{
	uint64_t pos = 0;
	int k = 0;

	for (uint32_t s = first; s < first + n && pos < to; s++) {
		uint64_t seg_start = pos, start = pos, end = pos + c->segs[s].len;

		pos = end;
		if (end <= from)
			continue;
		if (start < from)
			start = from;
		if (end > to)
			end = to;
		iov[k].iov_base = (uint8_t *)c->segs[s].addr + (start - seg_start);
		iov[k].iov_len = (size_t)(end - start);
		k++;
	}
	return k;
}

/* Copies bytes [@from, @from + @len) of the readable part into @out (the
 * caller checked that the readable part is that long). */
static void copy_readable(const struct modvm_virtq_chain *c, uint64_t from, void *out,
			  size_t len)
{
	uint64_t pos = 0;

	for (uint32_t s = 0; s < c->n_readable && pos < from + len; s++) {
		uint64_t seg_start = pos, start = pos, end = pos + c->segs[s].len;

		pos = end;
		if (end <= from)
			continue;
		if (start < from)
			start = from;
		if (end > from + len)
			end = from + len;
		memcpy((uint8_t *)out + (start - from),
		       (const uint8_t *)c->segs[s].addr + (start - seg_start), (size_t)(end - start));
	}
}

static void done(struct blkreq *r, uint8_t status, const char *why)
{
	r->action = BLKREQ_DONE;
	r->result = status;
	r->why = why;
}

/* Is [@sector, +@nsect) inside a disk of @cap sectors?  No overflow. */
static bool in_range(uint64_t sector, uint64_t nsect, uint64_t cap)
{
	return sector <= cap && nsect <= cap - sector;
}

static void parse_rw(const struct blkreq_limits *lim, const struct modvm_virtq_chain *c,
		     struct iovec *iov, struct blkreq *r)
{
	bool in = r->type == VBLK_T_IN;
	uint64_t len = in ? c->writable_bytes - 1 : c->readable_bytes - VBLK_HDR_LEN;

	r->written = in ? (uint32_t)(len + 1) : 1;
	if (!in && lim->readonly)
		return done(r, VBLK_S_IOERR, "write to a read-only disk");
	if (len % VBLK_SECTOR)
		return done(r, VBLK_S_IOERR, "data length is not a multiple of 512 bytes");
	if (!in_range(r->sector, len / VBLK_SECTOR, lim->capacity))
		return done(r, VBLK_S_IOERR, "sector range outside the disk");
	if (len > BLKDEV_MAX_DATA)
		return done(r, VBLK_S_IOERR, "more data than seg_max * size_max");
	if (lim->align && ((r->sector * VBLK_SECTOR) % lim->align || len % lim->align))
		return done(r, VBLK_S_IOERR, "not aligned to the direct-I/O block size");
	if (len == 0)
		return done(r, VBLK_S_OK, NULL);
	r->action = BLKREQ_IO;
	r->opcode = in ? BLKIO_READ : BLKIO_WRITE;
	r->offset = r->sector * VBLK_SECTOR;
	r->len = len;
	r->iovcnt = in ? gather(c, c->n_readable, c->n_writable, 0, len, iov)
		       : gather(c, 0, c->n_readable, VBLK_HDR_LEN, VBLK_HDR_LEN + len, iov);
}

static void parse_dwz(const struct blkreq_limits *lim, const struct modvm_virtq_chain *c,
		      struct blkreq *r)
{
	bool discard = r->type == VBLK_T_DISCARD;
	uint8_t seg[VBLK_DWZ_LEN];
	uint64_t sector;
	uint32_t num, flags;

	r->written = 1;
	if (discard ? !lim->discard : !lim->write_zeroes)
		return done(r, VBLK_S_UNSUPP, "discard or write-zeroes not negotiated");
	/* One segment, as max_discard_seg and max_write_zeroes_seg say. */
	if (c->readable_bytes != VBLK_HDR_LEN + VBLK_DWZ_LEN)
		return done(r, VBLK_S_UNSUPP, "not exactly one discard/write-zeroes segment");
	copy_readable(c, VBLK_HDR_LEN, seg, sizeof(seg));
	memcpy(&sector, seg, 8);
	memcpy(&num, seg + 8, 4);
	memcpy(&flags, seg + 12, 4);
	sector = le64toh(sector);
	num = le32toh(num);
	flags = le32toh(flags);
	/* 5.2.6.2: unknown flags, and UNMAP on a discard, are unsupported. */
	if (flags & ~(discard ? 0u : VBLK_DWZ_F_UNMAP))
		return done(r, VBLK_S_UNSUPP, "unknown discard/write-zeroes flags");
	if (lim->readonly)
		return done(r, VBLK_S_IOERR, "discard or write-zeroes on a read-only disk");
	if (num > BLKDEV_MAX_DWZ_SECTORS || !in_range(sector, num, lim->capacity))
		return done(r, VBLK_S_IOERR, "sector range outside the disk");
	if (lim->align && ((sector * VBLK_SECTOR) % lim->align ||
			   ((uint64_t)num * VBLK_SECTOR) % lim->align))
		return done(r, VBLK_S_IOERR, "not aligned to the direct-I/O block size");
	if (num == 0)
		return done(r, VBLK_S_OK, NULL);
	r->action = BLKREQ_IO;
	/* Zeroing may deallocate when the driver allows it and discard is on:
	 * a punched hole reads back as zeros, and where none can be punched
	 * the range is zeroed all the same (a discard may just be ignored). */
	r->opcode = discard ? BLKIO_DISCARD
		    : (flags & VBLK_DWZ_F_UNMAP) && lim->unmap ? BLKIO_ZERO_UNMAP
							     : BLKIO_ZERO;
	r->offset = sector * VBLK_SECTOR;
	r->len = (uint64_t)num * VBLK_SECTOR;
}

static void get_id(const struct blkreq_limits *lim, const struct modvm_virtq_chain *c,
		   struct iovec *iov, struct blkreq *r)
{
	uint64_t cap = c->writable_bytes - 1, n = cap < VBLK_ID_BYTES ? cap : VBLK_ID_BYTES;
	int k = gather(c, c->n_readable, c->n_writable, 0, n, iov);
	uint64_t off = 0;

	for (int i = 0; i < k; i++) {
		memcpy(iov[i].iov_base, lim->serial + off, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	r->written = (uint32_t)(n + 1);
	done(r, VBLK_S_OK, NULL);
}

void blkreq_parse(const struct blkreq_limits *lim, const struct modvm_virtq_chain *c,
		  struct iovec *iov, struct blkreq *r)
{
	uint8_t hdr[VBLK_HDR_LEN];
	const struct modvm_virtq_seg *last;

	memset(r, 0, sizeof(*r));
	/* The status byte is the last writable byte; without one the driver
	 * cannot be told anything (5.2.6.1). */
	if (c->n_writable == 0 || c->writable_bytes == 0) {
		r->action = BLKREQ_DROP;
		return;
	}
	last = &c->segs[c->n_readable + c->n_writable - 1];
	r->status = (uint8_t *)last->addr + last->len - 1;
	r->written = 1;
	if (c->readable_bytes < VBLK_HDR_LEN)
		return done(r, VBLK_S_IOERR, "request header shorter than 16 bytes");
	copy_readable(c, 0, hdr, sizeof(hdr));
	memcpy(&r->type, hdr, 4);
	memcpy(&r->sector, hdr + 8, 8);
	r->type = le32toh(r->type);
	r->sector = le64toh(r->sector);
	switch (r->type) {
	case VBLK_T_IN:
	case VBLK_T_OUT:
		return parse_rw(lim, c, iov, r);
	case VBLK_T_FLUSH:
		r->action = BLKREQ_IO;
		r->opcode = BLKIO_FLUSH;
		return;
	case VBLK_T_GET_ID:
		return get_id(lim, c, iov, r);
	case VBLK_T_DISCARD:
	case VBLK_T_WRITE_ZEROES:
		return parse_dwz(lim, c, r);
	default:
		return done(r, VBLK_S_UNSUPP, "unknown request type");
	}
}
