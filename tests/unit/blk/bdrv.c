#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bdrv.h"

static uint64_t ring_base(unsigned q)
{
	return DESC_GPA + (uint64_t)q * 0x4000;
}

static void put16(struct bdrv *d, uint64_t addr, uint16_t v)
{
	__atomic_store_n((uint16_t *)gpa(&d->v, addr), v, __ATOMIC_RELEASE);
}

static uint16_t get16(struct bdrv *d, uint64_t addr)
{
	return __atomic_load_n((uint16_t *)gpa(&d->v, addr), __ATOMIC_ACQUIRE);
}

void bdrv_init_loop(struct bdrv *d, const struct blkdev_config *cfg, struct modvm_loop *loop)
{
	struct modvm_virtio_mmio_config mc;

	memset(d, 0, sizeof(*d));
	vdrv_init(&d->v, &mc);
	mc.name = "virtio-blk-test";
	if (loop) {
		mc.defer = vdrv_defer_on_loop;
		mc.defer_ctx = loop;
	}
	ck_assert_int_eq(blkdev_create(&mc, cfg, &d->bd), 0);
	ck_assert(cfg->io == BLKIO_AUTO || blkdev_io_kind(d->bd) == cfg->io);
	d->v.t = blkdev_transport(d->bd);
	d->v.dev = modvm_virtio_mmio_dev(d->v.t);
	d->data_next = BDRV_DATA_GPA;
}

void bdrv_init(struct bdrv *d, const struct blkdev_config *cfg)
{
	bdrv_init_loop(d, cfg, NULL);
}

void bdrv_fini(struct bdrv *d)
{
	blkdev_free(d->bd);
	d->v.t = NULL;
	vdrv_fini(&d->v);
}

void bdrv_start(struct bdrv *d, uint64_t want, unsigned nq, uint16_t num)
{
	ck_assert_uint_le(nq, BDRV_MAX_Q);
	ck_assert_uint_ne(vdrv_negotiate(&d->v, want | VERSION_1) & MODVM_VIRTIO_STATUS_FEATURES_OK,
			  0);
	for (unsigned q = 0; q < nq; q++) {
		ck_assert_uint_eq(vdrv_setup_queue(&d->v, (uint16_t)q, num), 1);
		d->q[q] = (struct bdrv_q){ .num = num };
	}
	d->nq = nq;
	vdrv_driver_ok(&d->v);
	ck_assert_uint_ne(mmio_read(&d->v, MODVM_VIRTIO_MMIO_STATUS) &
				  MODVM_VIRTIO_STATUS_DRIVER_OK, 0);
}

uint64_t bdrv_offered(struct bdrv *d)
{
	mmio_write(&d->v, MODVM_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	uint64_t f = (uint64_t)mmio_read(&d->v, MODVM_VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	mmio_write(&d->v, MODVM_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	return f | mmio_read(&d->v, MODVM_VIRTIO_MMIO_DEVICE_FEATURES);
}

uint32_t bdrv_cfg_read(struct bdrv *d, uint32_t off, uint32_t len)
{
	uint32_t v = 0;
	modvm_virtio_mmio_access(d->v.t, MODVM_VIRTIO_MMIO_CONFIG + off, (uint8_t *)&v, len, false);
	return v;
}

uint64_t bdrv_cfg_read64(struct bdrv *d, uint32_t off)
{
	uint64_t v = 0;
	modvm_virtio_mmio_access(d->v.t, MODVM_VIRTIO_MMIO_CONFIG + off, (uint8_t *)&v, 8, false);
	return v;
}

uint64_t bdrv_alloc(struct bdrv *d, uint32_t len, uint32_t align)
{
	uint64_t a = (d->data_next + align - 1) & ~((uint64_t)align - 1);

	ck_assert_uint_le(a + len, RAM_SIZE);
	d->data_next = a + len;
	return a;
}

void bdrv_data_reset(struct bdrv *d)
{
	d->data_next = BDRV_DATA_GPA;
}

void bdrv_hdr(struct bdrv *d, uint64_t at, uint32_t type, uint64_t sector)
{
	uint8_t *p = gpa(&d->v, at);
	uint32_t zero = 0;

	memcpy(p, &type, 4);
	memcpy(p + 4, &zero, 4);
	memcpy(p + 8, &sector, 8);
}

uint16_t bdrv_post(struct bdrv *d, unsigned q, const struct bseg *segs, unsigned n)
{
	struct bdrv_q *s = &d->q[q];
	uint64_t base = ring_base(q);
	uint16_t head = s->next_desc;

	ck_assert_uint_lt(q, d->nq);
	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % s->num);
		uint16_t next = (uint16_t)((idx + 1) % s->num);
		uint16_t flags = (segs[i].write ? F_WRITE : 0) | (i + 1 < n ? F_NEXT : 0);
		vdrv_set_desc(&d->v, base, idx, segs[i].gpa, segs[i].len, flags, next);
	}
	s->next_desc = (uint16_t)((head + n) % s->num);
	put16(d, base + 0x1000 + 4 + 2u * (s->avail_idx % s->num), head);
	s->avail_idx++;
	put16(d, base + 0x1000 + 2, s->avail_idx);
	return head;
}

void bdrv_repost(struct bdrv *d, unsigned q, uint16_t head)
{
	struct bdrv_q *s = &d->q[q];
	uint64_t base = ring_base(q);

	put16(d, base + 0x1000 + 4 + 2u * (s->avail_idx % s->num), head);
	s->avail_idx++;
	put16(d, base + 0x1000 + 2, s->avail_idx);
}

void bdrv_kick(struct bdrv *d, unsigned q)
{
	vdrv_kick(&d->v, (uint16_t)q);
}

bool bdrv_used(struct bdrv *d, unsigned q, uint32_t *id, uint32_t *len)
{
	struct bdrv_q *s = &d->q[q];
	uint64_t used = ring_base(q) + 0x2000;

	if (get16(d, used + 2) == s->last_used)
		return false;
	uint8_t *e = gpa(&d->v, used + 4 + 8u * (s->last_used % s->num));
	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
	s->last_used++;
	return true;
}

bool bdrv_wait_used(struct bdrv *d, unsigned q, uint32_t *id, uint32_t *len)
{
	for (int i = 0; i < 5000; i++) {
		if (bdrv_used(d, q, id, len))
			return true;
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	return false;
}

void bdrv_settle(struct bdrv *d)
{
	ck_assert_int_eq(blkdev_quiesce(d->bd, 5000), 0);
}

uint8_t bdrv_req(struct bdrv *d, unsigned q, uint32_t type, uint64_t sector, uint64_t data,
		 uint32_t len, uint32_t *used)
{
	uint64_t hdr = bdrv_alloc(d, VBLK_HDR_LEN, 16), st = bdrv_alloc(d, 1, 1);
	bool in = type == VBLK_T_IN || type == VBLK_T_GET_ID;
	struct bseg segs[3] = { { hdr, VBLK_HDR_LEN, false } };
	unsigned n = 1;
	uint32_t id, l;

	bdrv_hdr(d, hdr, type, sector);
	*gpa(&d->v, st) = 0xee;
	if (len)
		segs[n++] = (struct bseg){ data, len, in };
	segs[n++] = (struct bseg){ st, 1, true };
	uint16_t head = bdrv_post(d, q, segs, n);
	bdrv_kick(d, q);
	ck_assert_msg(bdrv_wait_used(d, q, &id, &l), "request type %u never completed", type);
	ck_assert_uint_eq(id, head);
	if (used)
		*used = l;
	return *gpa(&d->v, st);
}

uint8_t bdrv_pattern(uint64_t i)
{
	return (uint8_t)(i * 31 + (i >> 9) * 7 + 1);
}

int bdrv_image(char *path, uint64_t size, int flags)
{
	uint8_t buf[4096];

	strcpy(path, "/tmp/modvm-blk-XXXXXX");
	int fd = mkostemp(path, O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	for (uint64_t off = 0; off < size; off += sizeof(buf)) {
		size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = bdrv_pattern(off + i);
		ck_assert_int_eq(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
	}
	if (flags) {
		close(fd);
		fd = open(path, O_RDWR | O_CLOEXEC | flags);
		ck_assert_int_ge(fd, 0);
	}
	return fd;
}

struct blkdev_config bdrv_config(int fd, uint64_t size, enum blkio_kind io)
{
	return (struct blkdev_config){
		.fd = fd,
		.size = size,
		.write_zeroes = true,
		.block_size = 512,
		.num_queues = 1,
		.io = io,
		.io_threads = 2,
	};
}
