/*
 * Checks for device plugins: the kit plays a hostile guest driver against
 * every virtio-mmio window the plugin's setup hook adds (devvm.c).
 *
 *  mmio-fuzz   seeded random register reads and writes (offsets, lengths
 *              1/2/4/8, values), with a proper handshake now and then so the
 *              accesses also reach a live device with queues in random RAM;
 *  virtqueues  a correct handshake, then rings and descriptors that point
 *              outside RAM, loop, claim huge lengths, wrap indexes, nest
 *              indirect tables, overlap, and short buffers flush against the
 *              end of RAM (a device writing more than it was given hits the
 *              guard page), each kicked.
 *
 * Either fails on a crash, a sanitizer report, a hang (the timeout), or a
 * teardown that leaves the VM holding the plugin's windows.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <modvm/virtio.h>
#include <modvm/vm.h>

#include "sandbox/sandbox.h"
#include "conform.h"

#define ACCESSES_PER_STRICTNESS 2000
#define QSIZE 8			/* small rings: every index wraps quickly */
#define RING_AREA 0x100000ull	/* queue q's rings at RING_AREA + q * 0x1000 */
#define BUF_AREA 0x180000ull	/* ordinary buffers */
#define MAX_QUEUES 16
#define F_NEXT 1u
#define F_WRITE 2u
#define F_INDIRECT 4u

/* The registers a driver touches, for biased offsets. */
static const uint16_t regs[] = {
	MODVM_VIRTIO_MMIO_MAGIC_VALUE, MODVM_VIRTIO_MMIO_VERSION, MODVM_VIRTIO_MMIO_DEVICE_ID,
	MODVM_VIRTIO_MMIO_VENDOR_ID, MODVM_VIRTIO_MMIO_DEVICE_FEATURES,
	MODVM_VIRTIO_MMIO_DEVICE_FEATURES_SEL, MODVM_VIRTIO_MMIO_DRIVER_FEATURES,
	MODVM_VIRTIO_MMIO_DRIVER_FEATURES_SEL, MODVM_VIRTIO_MMIO_QUEUE_SEL,
	MODVM_VIRTIO_MMIO_QUEUE_NUM_MAX, MODVM_VIRTIO_MMIO_QUEUE_NUM, MODVM_VIRTIO_MMIO_QUEUE_READY,
	MODVM_VIRTIO_MMIO_QUEUE_NOTIFY, MODVM_VIRTIO_MMIO_INTERRUPT_STATUS,
	MODVM_VIRTIO_MMIO_INTERRUPT_ACK, MODVM_VIRTIO_MMIO_STATUS,
	MODVM_VIRTIO_MMIO_QUEUE_DESC_LOW, MODVM_VIRTIO_MMIO_QUEUE_DESC_HIGH,
	MODVM_VIRTIO_MMIO_QUEUE_DRIVER_LOW, MODVM_VIRTIO_MMIO_QUEUE_DRIVER_HIGH,
	MODVM_VIRTIO_MMIO_QUEUE_DEVICE_LOW, MODVM_VIRTIO_MMIO_QUEUE_DEVICE_HIGH,
	MODVM_VIRTIO_MMIO_SHM_SEL, MODVM_VIRTIO_MMIO_QUEUE_RESET,
	MODVM_VIRTIO_MMIO_CONFIG_GENERATION,
};

/* One queue as the fake driver sees it. */
struct vq {
	struct devvm *d;
	unsigned w;
	uint16_t q, size, idx;
	uint64_t desc, avail, used;
	uint64_t *rng;
	uint64_t end;		/* first gpa past region 0 */
};

static uint8_t *hva(struct vq *v, uint64_t gpa)
{
	return v->d->ram + gpa;
}

static void put16(uint8_t *p, uint16_t x)
{
	memcpy(p, &x, 2);	/* x86 is little-endian, like the guest */
}

static void put_desc(struct vq *v, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint8_t *p = hva(v, v->desc + 16ull * (i % v->size));

	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	put16(p + 12, flags);
	put16(p + 14, next);
}

/* Makes chain @head available (avail ring entry, then the index). */
static void offer(struct vq *v, uint16_t head)
{
	put16(hva(v, v->avail + 4 + 2ull * (v->idx % v->size)), head);
	v->idx++;
	put16(hva(v, v->avail + 2), v->idx);
}

static void kick(struct vq *v, uint32_t queue)
{
	devvm_write32(v->d, v->w, MODVM_VIRTIO_MMIO_QUEUE_NOTIFY, queue);
	/* The transport acks nothing for us: a level device would storm. */
	devvm_write32(v->d, v->w, MODVM_VIRTIO_MMIO_INTERRUPT_ACK,
		      devvm_read32(v->d, v->w, MODVM_VIRTIO_MMIO_INTERRUPT_STATUS));
}

static void random_bytes(uint64_t *rng, uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)conform_rand(rng);
}

static void set_addr(struct devvm *d, unsigned w, uint32_t lo_reg, uint64_t gpa)
{
	devvm_write32(d, w, lo_reg, (uint32_t)gpa);
	devvm_write32(d, w, lo_reg + 4, (uint32_t)(gpa >> 32));
}

static void set_queue(struct devvm *d, unsigned w, uint16_t q, uint32_t num, uint64_t desc,
		      uint64_t avail, uint64_t used)
{
	devvm_write32(d, w, MODVM_VIRTIO_MMIO_QUEUE_SEL, q);
	devvm_write32(d, w, MODVM_VIRTIO_MMIO_QUEUE_NUM, num);
	set_addr(d, w, MODVM_VIRTIO_MMIO_QUEUE_DESC_LOW, desc);
	set_addr(d, w, MODVM_VIRTIO_MMIO_QUEUE_DRIVER_LOW, avail);
	set_addr(d, w, MODVM_VIRTIO_MMIO_QUEUE_DEVICE_LOW, used);
	devvm_write32(d, w, MODVM_VIRTIO_MMIO_QUEUE_READY, 1);
}

/*
 * Reset, ACKNOWLEDGE, DRIVER, accept every offered feature, FEATURES_OK,
 * queues (@place picks their rings), DRIVER_OK, as a Linux driver does.
 * Returns the number of queues the device has (QueueNumMax != 0).
 */
typedef void (*place_fn)(struct vq *v, uint16_t q, uint16_t max);

static void place_std(struct vq *v, uint16_t q, uint16_t max)
{
	uint16_t num = max < QSIZE ? max : QSIZE;
	uint64_t base = RING_AREA + 0x1000ull * q;

	memset(hva(v, base), 0, 0x1000);
	set_queue(v->d, v->w, q, num, base, base + 0x100, base + 0x200);
	if (q == v->q) {
		v->size = num;
		v->desc = base;
		v->avail = base + 0x100;
		v->used = base + 0x200;
		v->idx = 0;
	}
}

static unsigned handshake(struct vq *v, place_fn place)
{
	struct devvm *d = v->d;
	unsigned w = v->w, nq = 0;
	uint32_t status = MODVM_VIRTIO_STATUS_ACKNOWLEDGE;

	devvm_write32(d, w, MODVM_VIRTIO_MMIO_STATUS, 0);
	devvm_write32(d, w, MODVM_VIRTIO_MMIO_STATUS, status);
	status |= MODVM_VIRTIO_STATUS_DRIVER;
	devvm_write32(d, w, MODVM_VIRTIO_MMIO_STATUS, status);
	for (uint32_t sel = 0; sel < 2; sel++) {
		devvm_write32(d, w, MODVM_VIRTIO_MMIO_DEVICE_FEATURES_SEL, sel);
		uint32_t f = devvm_read32(d, w, MODVM_VIRTIO_MMIO_DEVICE_FEATURES);
		devvm_write32(d, w, MODVM_VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
		devvm_write32(d, w, MODVM_VIRTIO_MMIO_DRIVER_FEATURES, f);
	}
	status |= MODVM_VIRTIO_STATUS_FEATURES_OK;
	devvm_write32(d, w, MODVM_VIRTIO_MMIO_STATUS, status);
	for (uint16_t q = 0; q < MAX_QUEUES; q++) {
		devvm_write32(d, w, MODVM_VIRTIO_MMIO_QUEUE_SEL, q);
		uint32_t max = devvm_read32(d, w, MODVM_VIRTIO_MMIO_QUEUE_NUM_MAX);
		if (!max)
			break;
		place(v, q, (uint16_t)(max > 32768 ? 32768 : max));
		nq++;
	}
	status |= MODVM_VIRTIO_STATUS_DRIVER_OK;
	devvm_write32(d, w, MODVM_VIRTIO_MMIO_STATUS, status);
	return nq;
}

/* ---- mmio-fuzz ---- */

static uint64_t fuzz_value(uint64_t *rng, uint64_t ram)
{
	uint64_t r = conform_rand(rng), x = conform_rand(rng);

	switch (r % 8) {
	case 0: case 1: return 0;
	case 2: return x % 16;
	case 3: return ~0ull;
	case 4: return 1ull << (x % 64);
	case 5: case 6: return (x % ram) & ~0xfull;	/* a plausible ring address */
	default: return x;
	}
}

static uint64_t fuzz_offset(uint64_t *rng, uint32_t len)
{
	uint64_t r = conform_rand(rng), x = conform_rand(rng), off;

	if (r % 10 < 4)
		off = regs[x % (sizeof(regs) / sizeof(regs[0]))];
	else if (r % 10 < 7)
		off = MODVM_VIRTIO_MMIO_CONFIG + (x % 64);
	else
		off = x % MODVM_VIRTIO_MMIO_SIZE;
	if (r % 5 != 0)
		off &= ~(uint64_t)(len - 1);	/* mostly aligned, sometimes not */
	if (off + len > MODVM_VIRTIO_MMIO_SIZE)
		off = MODVM_VIRTIO_MMIO_SIZE - len;
	return off;
}

/* A live device with every queue's rings at random places in random RAM. */
static void place_random(struct vq *v, uint16_t q, uint16_t max)
{
	uint64_t span = v->end < (2ull << 20) ? v->end : (2ull << 20);
	uint16_t num = (uint16_t)(1u << (conform_rand(v->rng) % 5));

	if (num > max)
		num = max;
	set_queue(v->d, v->w, q, num, conform_rand(v->rng) % span & ~0xfull,
		  conform_rand(v->rng) % span & ~1ull, conform_rand(v->rng) % span & ~3ull);
}

enum verdict conform_check_mmio_fuzz(const struct conform_opts *o, char *detail, size_t n)
{
	static const uint32_t lens[] = { 1, 2, 4, 4, 4, 8 };
	uint64_t rng = o->seed ^ 0x6d6d696full;
	unsigned per_window = ACCESSES_PER_STRICTNESS * (unsigned)o->strictness;
	struct devvm d;
	enum verdict v = devvm_open(&d, o, detail, n);

	devvm_step.check = "mmio-fuzz";
	if (v != V_PASS)
		return v;
	for (unsigned w = 0; w < d.nwin; w++) {
		struct vq vq = { .d = &d, .w = w, .q = 0xffff, .rng = &rng, .end = d.ram_size };

		for (unsigned i = 0; i < per_window; i++) {
			uint8_t data[8];
			uint32_t len = lens[conform_rand(&rng) % 6];
			uint64_t off = fuzz_offset(&rng, len), val = fuzz_value(&rng, d.ram_size);
			bool write = conform_rand(&rng) & 1;

			devvm_step.index = i;
			devvm_step.window = w;
			if (conform_rand(&rng) % 200 == 0) {
				handshake(&vq, place_random);
				continue;
			}
			memcpy(data, &val, sizeof(data));
			devvm_access(&d, w, off, data, len, write);
			if (i % 64 == 0)
				devvm_settle(&d);
		}
	}
	v = devvm_close(&d, detail, n);
	if (v == V_PASS)
		snprintf(detail, n, "%u window(s) x %u accesses, seed %llu", d.nwin, per_window,
			 (unsigned long long)o->seed);
	return v;
}

/* ---- virtqueues ---- */

/* Offers @count chains built by @fn(v, k) and kicks. */
static void chains(struct vq *v, unsigned count, uint16_t (*fn)(struct vq *v, unsigned k))
{
	for (unsigned k = 0; k < count; k++)
		offer(v, fn(v, k));
	kick(v, v->q);
}

static uint64_t buf(struct vq *v, unsigned k, uint32_t len)
{
	uint64_t gpa = BUF_AREA + 0x1000ull * (k % 16);

	random_bytes(v->rng, hva(v, gpa), len);
	return gpa;
}

static uint16_t c_good(struct vq *v, unsigned k)
{
	uint16_t h = (uint16_t)(2 * k % v->size);

	put_desc(v, h, buf(v, k, 64), 64, F_NEXT, (uint16_t)(h + 1));
	put_desc(v, (uint16_t)(h + 1), buf(v, k + 8, 256), 256, F_WRITE, 0);
	return h;
}

/* A request, then a 1..8-byte writable buffer ending exactly at the end of RAM. */
static uint16_t c_short_write(struct vq *v, unsigned k)
{
	uint16_t h = (uint16_t)(2 * k % v->size);
	uint32_t len = 1 + k % 8;

	put_desc(v, h, buf(v, k, 64), 64, F_NEXT, (uint16_t)(h + 1));
	put_desc(v, (uint16_t)(h + 1), v->end - len, len, F_WRITE, 0);
	return h;
}

static uint16_t c_only_short_write(struct vq *v, unsigned k)
{
	uint16_t h = (uint16_t)(k % v->size);
	uint32_t len = 1 + k % 8;

	put_desc(v, h, v->end - len, len, F_WRITE, 0);
	return h;
}

/* A 1..8-byte readable buffer ending at the end of RAM, then room to answer. */
static uint16_t c_short_read(struct vq *v, unsigned k)
{
	uint16_t h = (uint16_t)(2 * k % v->size);
	uint32_t len = 1 + k % 8;

	random_bytes(v->rng, hva(v, v->end - len), len);
	put_desc(v, h, v->end - len, len, F_NEXT, (uint16_t)(h + 1));
	put_desc(v, (uint16_t)(h + 1), buf(v, k, 256), 256, F_WRITE, 0);
	return h;
}

static uint16_t c_only_read(struct vq *v, unsigned k)
{
	uint16_t h = (uint16_t)(k % v->size);

	put_desc(v, h, buf(v, k, 32), 32, 0, 0);
	return h;
}

static uint16_t c_outside(struct vq *v, unsigned k)
{
	static const uint64_t addr[] = { 0, ~0xfffull, MODVM_GPA_MMIO_HOLE_START,
					 0xd0000000ull, 0 };
	static const uint32_t len[] = { 4096, 0x2000, 16, 4, 0xffff };
	uint16_t h = (uint16_t)(k % v->size);
	uint64_t a = k % 5 == 0 ? v->end - 4 : k % 5 == 4 ? v->end : addr[k % 5];

	put_desc(v, h, a, len[k % 5], k & 1 ? F_WRITE : 0, 0);
	return h;
}

static uint16_t c_loop(struct vq *v, unsigned k)
{
	if (k % 2 == 0) {
		put_desc(v, 0, buf(v, k, 16), 16, F_NEXT, 0);
		return 0;
	}
	put_desc(v, 1, buf(v, k, 16), 16, F_NEXT, 2);
	put_desc(v, 2, buf(v, k + 1, 16), 16, F_NEXT | F_WRITE, 1);
	return 1;
}

static uint16_t c_huge(struct vq *v, unsigned k)
{
	if (k % 2 == 0) {
		put_desc(v, 0, buf(v, k, 16), 0xffffffffu, F_NEXT, 1);
		put_desc(v, 1, buf(v, k + 1, 16), 0xffffffffu, F_WRITE, 0);
		return 0;
	}
	put_desc(v, 2, 0, 0x80000000u, F_NEXT | F_WRITE, 3);
	put_desc(v, 3, 0, 0x80000000u, F_WRITE, 0);
	return 2;
}

static uint16_t c_bad_next(struct vq *v, unsigned k)
{
	uint16_t h = (uint16_t)(k % v->size);

	put_desc(v, h, buf(v, k, 16), 16, F_NEXT, k & 1 ? 0xffff : v->size);
	return h;
}

static uint16_t c_bad_head(struct vq *v, unsigned k)
{
	return k & 1 ? 0xffff : v->size;
}

static uint16_t c_write_then_read(struct vq *v, unsigned k)
{
	(void)k;
	put_desc(v, 0, buf(v, 0, 64), 64, F_WRITE | F_NEXT, 1);
	put_desc(v, 1, buf(v, 1, 64), 64, 0, 0);
	return 0;
}

/* Indirect tables: bad sizes, outside RAM, nested, looping, with NEXT. */
static uint16_t c_indirect(struct vq *v, unsigned k)
{
	uint64_t table = BUF_AREA + 0x20000ull;
	uint8_t *t = hva(v, table);
	uint16_t h = (uint16_t)(k % v->size);
	struct {
		uint64_t addr;
		uint32_t len;
		uint16_t flags, next;
	} e[4] = {
		{ buf(v, k, 16), 16, F_NEXT, 1 },
		{ buf(v, k + 1, 16), 16, F_WRITE | F_NEXT, 0 },	/* loops back */
		{ table, 64, F_INDIRECT, 0 },			/* nested */
		{ v->end - 2, 16, F_WRITE, 0 },			/* half outside */
	};

	memcpy(t, e, sizeof(e));
	switch (k % 7) {
	case 0: put_desc(v, h, table, 0, F_INDIRECT, 0); break;
	case 1: put_desc(v, h, table, 15, F_INDIRECT, 0); break;
	case 2: put_desc(v, h, table, 0xfffffff0u, F_INDIRECT, 0); break;
	case 3: put_desc(v, h, ~0xfffull, 64, F_INDIRECT, 0); break;
	case 4: put_desc(v, h, table, 32, F_INDIRECT, 0); break;	/* e[0] <-> e[1] loop */
	case 5: put_desc(v, h, table + 32, 16, F_INDIRECT, 0); break;	/* nested */
	default: put_desc(v, h, table, 64, F_INDIRECT | F_NEXT, h); break;
	}
	return h;
}

static void s_random(struct vq *v)
{
	random_bytes(v->rng, hva(v, v->desc), 16ull * v->size);
	random_bytes(v->rng, hva(v, v->avail), 6 + 2ull * v->size);
	kick(v, v->q);
}

static void s_idx_jump(struct vq *v)
{
	for (unsigned k = 0; k < v->size; k++)
		c_good(v, k);
	put16(hva(v, v->avail + 2), 0x8000);
	kick(v, v->q);
	put16(hva(v, v->avail + 2), 0xffff);
	kick(v, v->q);
	put16(hva(v, v->avail + 2), 1);	/* backwards */
	kick(v, v->q);
}

/* Rings partly or wholly outside RAM, or on the device's own window. */
static void place_outside(struct vq *v, uint16_t q, uint16_t max)
{
	uint64_t where[] = { v->end - 16, ~0xfffull, MODVM_GPA_MMIO_HOLE_START,
			     v->d->win_base[v->w] };
	uint16_t num = max < QSIZE ? max : QSIZE;

	set_queue(v->d, v->w, q, num, where[q % 4], where[(q + 1) % 4], where[(q + 2) % 4]);
}

/* All three rings at one address. */
static void place_overlap(struct vq *v, uint16_t q, uint16_t max)
{
	uint64_t base = RING_AREA + 0x1000ull * q;

	place_std(v, q, max);
	set_queue(v->d, v->w, q, max < QSIZE ? max : QSIZE, base, base, base);
	if (q == v->q)
		v->avail = v->used = base;
}

/* Sizes that are zero, not a power of two, or above QueueNumMax. */
static void place_bad_size(struct vq *v, uint16_t q, uint16_t max)
{
	static const uint32_t bad[] = { 0, 3, 0x10000, 0xffffffffu };
	uint64_t base = RING_AREA + 0x1000ull * q;

	memset(hva(v, base), 0, 0x1000);
	set_queue(v->d, v->w, q, bad[q % 4], base, base + 0x100, base + 0x200);
	devvm_write32(v->d, v->w, MODVM_VIRTIO_MMIO_QUEUE_NUM, (uint32_t)max * 2);
	devvm_write32(v->d, v->w, MODVM_VIRTIO_MMIO_QUEUE_READY, 1);
}

static void s_kick_absent(struct vq *v)
{
	kick(v, 0xffff);
	kick(v, MAX_QUEUES);
	kick(v, 0xffffffffu);
}

/* Buffers in flight when the driver resets, then kicks the dead queue. */
static void s_reset_in_flight(struct vq *v)
{
	chains(v, v->size, c_good);
	devvm_write32(v->d, v->w, MODVM_VIRTIO_MMIO_STATUS, 0);
	kick(v, v->q);
	devvm_settle(v->d);
}

struct scenario {
	const char *name;
	place_fn place;				/* NULL: place_std */
	uint16_t (*chain)(struct vq *v, unsigned k);	/* offered size times */
	void (*run)(struct vq *v);		/* or a whole script */
};

static const struct scenario scenarios[] = {
	{ "well-formed chains", NULL, c_good, NULL },
	{ "short writable buffer at the end of RAM", NULL, c_short_write, NULL },
	{ "only a short writable buffer at the end of RAM", NULL, c_only_short_write, NULL },
	{ "short readable buffer at the end of RAM", NULL, c_short_read, NULL },
	{ "no writable buffer", NULL, c_only_read, NULL },
	{ "buffers outside RAM", NULL, c_outside, NULL },
	{ "descriptor loops", NULL, c_loop, NULL },
	{ "huge lengths", NULL, c_huge, NULL },
	{ "next index out of range", NULL, c_bad_next, NULL },
	{ "head index out of range", NULL, c_bad_head, NULL },
	{ "readable after writable", NULL, c_write_then_read, NULL },
	{ "malformed indirect tables", NULL, c_indirect, NULL },
	{ "avail index jumps and wraps", NULL, NULL, s_idx_jump },
	{ "random descriptors", NULL, NULL, s_random },
	{ "rings outside RAM", place_outside, c_good, NULL },
	{ "rings overlapping", place_overlap, c_good, NULL },
	{ "bad queue sizes", place_bad_size, c_good, NULL },
	{ "kicks for absent queues", NULL, NULL, s_kick_absent },
	{ "reset with buffers in flight", NULL, NULL, s_reset_in_flight },
};
#define N_SCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

/* Used entries the device returned in the scenario (0 if the rings moved). */
static unsigned run_scenario(struct vq *v, const struct scenario *s)
{
	uint16_t used;

	devvm_step.scenario = s->name;
	devvm_step.queue = v->q;
	v->size = 0;
	handshake(v, s->place ? s->place : place_std);
	if (!v->size) {		/* custom placement: keep a usable view for the chains */
		uint64_t base = RING_AREA + 0x1000ull * v->q;

		v->size = QSIZE;
		v->desc = base;
		v->avail = base + 0x100;
		v->used = base + 0x200;
		v->idx = 0;
	}
	if (s->chain)
		chains(v, v->size, s->chain);
	else
		s->run(v);
	devvm_settle(v->d);
	if (v->used + 4 > v->end)
		return 0;
	memcpy(&used, hva(v, v->used + 2), 2);
	return used;
}

enum verdict conform_check_virtqueues(const struct conform_opts *o, char *detail, size_t n)
{
	uint64_t rng = o->seed ^ 0x76717565ull;
	unsigned total = 0, used = 0;
	struct devvm d;
	enum verdict v = devvm_open(&d, o, detail, n);

	devvm_step.check = "virtqueues";
	if (v != V_PASS)
		return v;
	for (unsigned w = 0; w < d.nwin; w++) {
		struct vq vq = { .d = &d, .w = w, .rng = &rng, .end = d.ram_size };
		unsigned nq;

		devvm_step.window = w;
		devvm_step.scenario = "handshake";
		nq = handshake(&vq, place_std);
		/* Strictness repeats everything with new random contents. */
		for (int rep = 0; rep < o->strictness; rep++) {
			for (uint16_t q = 0; q < nq; q++) {
				vq.q = q;
				for (size_t s = 0; s < N_SCENARIOS; s++) {
					if (rep && s != 0 && !scenarios[s].run)
						continue;	/* fixed shapes: once is enough */
					devvm_step.index = s;
					used += run_scenario(&vq, &scenarios[s]);
					total++;
				}
			}
		}
		devvm_write32(&d, w, MODVM_VIRTIO_MMIO_STATUS, 0);
	}
	v = devvm_close(&d, detail, n);
	if (v == V_PASS)
		snprintf(detail, n,
			 "%u window(s), %u queue scenarios, %u buffers used by the device, seed %llu",
			 d.nwin, total, used, (unsigned long long)o->seed);
	return v;
}

/* ---- sandbox-vcpu ---- */

/*
 * The device's MMIO handlers under a vCPU thread's seccomp filter, as in
 * `modvm run` with host.sandbox = "strict": the handshake and well-formed
 * chains on every queue, the guest's accesses made on a thread narrowed to
 * the vCPU class (with the plugin's declarations for vCPU threads), the
 * plugin's own I/O threads (modvm_thread_create) under the I/O class's
 * filter with its declarations for them, from their first line, the loop
 * under its own filter.  An undeclared call fails the check with its
 * name (the SIGSYS report).  Well-formed traffic only: malformed rings are
 * "virtqueues"'s, and a device that faults on them would hide the calls.
 */
enum verdict conform_check_sandbox_vcpu(const struct conform_opts *o, char *detail, size_t n)
{
	uint64_t rng = o->seed ^ 0x73627863ull;
	struct modvm__sandbox_stats st;
	unsigned used = 0, queues = 0;
	struct devvm d;
	enum verdict v;
	int r;

	/* I/O threads the device makes in its VM setup hook are filtered from
	 * their first line (devvm_open turns it on after start). */
	modvm__sandbox_set_violation_hook(conform_sandbox_violation);
	devvm_filter_io_threads = true;
	v = devvm_open(&d, o, detail, n);
	devvm_step.check = "sandbox-vcpu";
	if (v != V_PASS)
		return v;
	/* The counts include what the plugin declared in init and start. */
	r = modvm__sandbox_dry_run(&st);
	if (r == 0)
		r = devvm_vcpu_start(&d);
	if (r == 0)
		r = modvm__sandbox_apply_class_for_test(MODVM__TC_LOOP, NULL);
	if (r < 0) {
		char why[256];
		snprintf(why, sizeof(why), "cannot install the vCPU and loop filters: %s",
			 modvm_strerror(r));
		devvm_close(&d, detail, n);
		snprintf(detail, n, "%s", why);
		return r == -ENOSYS || r == -EINVAL ? V_SKIP : V_FAIL;
	}
	/* Then again with the kicks on the loop thread: a device that stops on
	 * its budget gets queue_notify there (modvm_virtio_renotify), so what
	 * it calls must be declared for both. */
	for (int pass = 0; pass < 2; pass++) {
		d.kicks_on_loop = pass == 1;
		for (unsigned w = 0; w < d.nwin; w++) {
			struct vq vq = { .d = &d, .w = w, .rng = &rng, .end = d.ram_size };

			devvm_step.window = w;
			devvm_step.scenario = pass ? "handshake, kicks on the loop" : "handshake";
			unsigned nq = handshake(&vq, place_std);
			for (uint16_t q = 0; q < nq; q++) {
				vq.q = q;
				/* well-formed chains */
				used += run_scenario(&vq, &scenarios[0]);
				queues += pass == 0;
			}
			devvm_write32(&d, w, MODVM_VIRTIO_MMIO_STATUS, 0);
		}
	}
	v = devvm_close(&d, detail, n);
	if (v == V_PASS)
		snprintf(detail, n,
			 "%u window(s), %u queue(s), %u buffers used: MMIO handlers under the vCPU "
			 "thread's filter (%u system calls allowed), kicks also under the loop's "
			 "(%u), I/O threads under theirs (%u)",
			 d.nwin, queues, used, st.syscalls[MODVM__TC_VCPU],
			 st.syscalls[MODVM__TC_LOOP], st.syscalls[MODVM__TC_IO]);
	return v;
}
