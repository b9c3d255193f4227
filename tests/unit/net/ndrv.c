#include <string.h>

#include "ndrv.h"

static uint64_t ring_base(unsigned q)
{
	return DESC_GPA + (uint64_t)q * 0x4000;
}

static void put16(struct ndrv *d, uint64_t addr, uint16_t v)
{
	__atomic_store_n((uint16_t *)gpa(&d->v, addr), v, __ATOMIC_RELEASE);
}

static uint16_t get16(struct ndrv *d, uint64_t addr)
{
	return __atomic_load_n((uint16_t *)gpa(&d->v, addr), __ATOMIC_ACQUIRE);
}

void ndrv_init_opts(struct ndrv *d, const struct netdev_config *cfg, const struct ndrv_opts *o)
{
	struct modvm_virtio_mmio_config mc;

	memset(d, 0, sizeof(*d));
	vdrv_init(&d->v, &mc);
	mc.name = o && o->name ? o->name : "virtio-net-test";
	if (o && o->raise_irq) {
		mc.raise_irq = o->raise_irq;
		mc.irq_ctx = o->irq_ctx;
	}
	if (o && o->loop) {
		mc.defer = vdrv_defer_on_loop;
		mc.defer_ctx = o->loop;
	}
	ck_assert_int_eq(netdev_create(&mc, cfg, &d->nd), 0);
	d->v.t = netdev_transport(d->nd);
	d->v.dev = modvm_virtio_mmio_dev(d->v.t);
	d->pairs = cfg->pairs;
	d->data_next = NDRV_DATA_GPA;
}

void ndrv_init(struct ndrv *d, const struct netdev_config *cfg)
{
	ndrv_init_opts(d, cfg, NULL);
}

void ndrv_fini(struct ndrv *d)
{
	netdev_free(d->nd);
	d->v.t = NULL;
	vdrv_fini(&d->v);
}

uint8_t ndrv_negotiate(struct ndrv *d, uint64_t want)
{
	return vdrv_negotiate(&d->v, want | VERSION_1);
}

void ndrv_start(struct ndrv *d, uint64_t want, unsigned nq, uint16_t num)
{
	ck_assert_uint_le(nq, NDRV_MAX_Q);
	ck_assert_uint_ne(ndrv_negotiate(d, want) & MODVM_VIRTIO_STATUS_FEATURES_OK, 0);
	for (unsigned q = 0; q < nq; q++) {
		ck_assert_uint_eq(vdrv_setup_queue(&d->v, (uint16_t)q, num), 1);
		d->q[q] = (struct ndrv_q){ .num = num };
	}
	d->nq = nq;
	vdrv_driver_ok(&d->v);
	ck_assert_uint_ne(mmio_read(&d->v, MODVM_VIRTIO_MMIO_STATUS) &
				  MODVM_VIRTIO_STATUS_DRIVER_OK, 0);
}

uint64_t ndrv_alloc(struct ndrv *d, uint32_t len)
{
	uint64_t a = (d->data_next + 15) & ~15ull;

	ck_assert_uint_le(a + len, RAM_SIZE);
	d->data_next = a + len;
	return a;
}

void ndrv_data_reset(struct ndrv *d)
{
	d->data_next = NDRV_DATA_GPA;
}

uint16_t ndrv_post(struct ndrv *d, unsigned q, const struct ndrv_seg *segs, unsigned n)
{
	struct ndrv_q *s = &d->q[q];
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
	s->buf_gpa[head] = segs[0].gpa;
	put16(d, base + 0x1000 + 4 + 2u * (s->avail_idx % s->num), head);
	s->avail_idx++;
	put16(d, base + 0x1000 + 2, s->avail_idx);
	return head;
}

void ndrv_kick(struct ndrv *d, unsigned q)
{
	vdrv_kick(&d->v, (uint16_t)q);
}

bool ndrv_used(struct ndrv *d, unsigned q, uint32_t *id, uint32_t *len)
{
	struct ndrv_q *s = &d->q[q];
	uint64_t used = ring_base(q) + 0x2000;

	if (get16(d, used + 2) == s->last_used)
		return false;
	uint8_t *e = gpa(&d->v, used + 4 + 8u * (s->last_used % s->num));
	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
	s->last_used++;
	return true;
}

void ndrv_tx(struct ndrv *d, unsigned pair, const struct vnet_hdr *hdr, const void *frame,
	     uint32_t len)
{
	uint64_t b = ndrv_alloc(d, VNET_HDR_LEN + len);
	struct ndrv_seg seg = { .gpa = b, .len = VNET_HDR_LEN + len };
	uint32_t id, l;

	memcpy(gpa(&d->v, b), hdr, VNET_HDR_LEN);
	memcpy(gpa(&d->v, b + VNET_HDR_LEN), frame, len);
	uint16_t head = ndrv_post(d, 2 * pair + 1, &seg, 1);
	ndrv_kick(d, 2 * pair + 1);
	ck_assert(ndrv_used(d, 2 * pair + 1, &id, &l));
	ck_assert_uint_eq(id, head);
	d->data_next = b;	/* the buffer is back: reuse it */
}

void ndrv_rx_fill(struct ndrv *d, unsigned pair, unsigned n, uint32_t size)
{
	for (unsigned i = 0; i < n; i++) {
		struct ndrv_seg seg = { .gpa = ndrv_alloc(d, size), .len = size, .write = true };
		ndrv_post(d, 2 * pair, &seg, 1);
	}
	ndrv_kick(d, 2 * pair);
}

long ndrv_rx(struct ndrv *d, unsigned pair, struct vnet_hdr *hdr, void *frame, size_t cap)
{
	unsigned q = 2 * pair;
	uint32_t id, len;
	size_t off = 0;
	long total;

	if (!ndrv_used(d, q, &id, &len))
		return -1;
	ck_assert_uint_ge(len, VNET_HDR_LEN);
	uint64_t b = d->q[q].buf_gpa[id];
	memcpy(hdr, gpa(&d->v, b), VNET_HDR_LEN);
	total = len - VNET_HDR_LEN;
	size_t n = (size_t)total < cap ? (size_t)total : cap;
	memcpy(frame, gpa(&d->v, b + VNET_HDR_LEN), n);
	off = n;
	ck_assert_uint_ge(hdr->num_buffers, 1);
	for (unsigned i = 1; i < hdr->num_buffers; i++) {
		ck_assert_msg(ndrv_used(d, q, &id, &len), "num_buffers %u, only %u used",
			      hdr->num_buffers, i);
		b = d->q[q].buf_gpa[id];
		n = off + len <= cap ? len : (off < cap ? cap - off : 0);
		memcpy((uint8_t *)frame + off, gpa(&d->v, b), n);
		off += n;
		total += len;
	}
	return total;
}

uint8_t ndrv_ctrl(struct ndrv *d, uint8_t cls, uint8_t cmd, const void *data, uint32_t len)
{
	unsigned q = 2 * d->pairs;
	uint64_t b = ndrv_alloc(d, 2 + len), ack = ndrv_alloc(d, 1);
	struct ndrv_seg segs[2] = { { .gpa = b, .len = 2 + len }, { .gpa = ack, .len = 1, .write = true } };
	uint32_t id, l;

	gpa(&d->v, b)[0] = cls;
	gpa(&d->v, b)[1] = cmd;
	memcpy(gpa(&d->v, b + 2), data, len);
	*gpa(&d->v, ack) = 0xee;
	ndrv_post(d, q, segs, 2);
	ndrv_kick(d, q);
	ck_assert(ndrv_used(d, q, &id, &l));
	ck_assert_uint_eq(l, 1);
	return *gpa(&d->v, ack);
}

uint32_t ndrv_cfg_read(struct ndrv *d, uint32_t off, uint32_t len)
{
	uint32_t v = 0;
	modvm_virtio_mmio_access(d->v.t, MODVM_VIRTIO_MMIO_CONFIG + off, (uint8_t *)&v, len, false);
	return v;
}

void ndrv_repost(struct ndrv *d, unsigned q, uint16_t head)
{
	struct ndrv_q *s = &d->q[q];
	uint64_t base = ring_base(q);

	put16(d, base + 0x1000 + 4 + 2u * (s->avail_idx % s->num), head);
	s->avail_idx++;
	put16(d, base + 0x1000 + 2, s->avail_idx);
}

void ndrv_set_desc(struct ndrv *d, unsigned q, uint16_t i, const struct ndrv_seg *seg)
{
	ck_assert_uint_lt(i, d->q[q].num);
	vdrv_set_desc(&d->v, ring_base(q), i, seg->gpa, seg->len, seg->write ? F_WRITE : 0, 0);
	d->q[q].buf_gpa[i] = seg->gpa;
}

/* avail: flags, idx, ring[num], used_event; used: flags, idx, elems, avail_event */
void ndrv_set_used_event(struct ndrv *d, unsigned q, uint16_t v)
{
	put16(d, ring_base(q) + 0x1000 + 4 + 2u * d->q[q].num, v);
}

uint16_t ndrv_avail_event(struct ndrv *d, unsigned q)
{
	return get16(d, ring_base(q) + 0x2000 + 4 + 8u * d->q[q].num);
}

uint16_t ndrv_used_idx(struct ndrv *d, unsigned q)
{
	return get16(d, ring_base(q) + 0x2000 + 2);
}

bool ndrv_kick_needed(struct ndrv *d, unsigned q, uint16_t old)
{
	uint16_t nw = d->q[q].avail_idx;

	/* The new avail idx must be visible before avail_event is read, or
	 * the device's last look and this one can miss each other. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t event = ndrv_avail_event(d, q);
	/* vring_need_event (virtio 1.2, 2.7.10) */
	return (uint16_t)(nw - event - 1) < (uint16_t)(nw - old);
}
