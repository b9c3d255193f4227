/*
 * libFuzzer target for the virtio-balloon device model (plugins/mem-balloon
 * balloon_dev.c): the input is a script of at most MAX_OPS operations
 * against one device, the driver's as a hostile guest would make them and
 * the host's as the plugin makes them (a new target, a stats request, the
 * getters).  Guest RAM is 16 pages between PROT_NONE guard pages, so any
 * access the device makes outside it faults; page numbers the guest sends
 * may name anything, the guard page after RAM and 2^32-1 included.
 *
 * Released pages really are given back (madvise on our own mapping, private
 * or shared so both MADV_REMOVE and the MADV_DONTNEED fallback run), but
 * madvise does not fault on a guard page or on ASan's heap: the link wraps
 * it (-Wl,--wrap=madvise) so every call is checked to cover whole pages of
 * RAM only, and errors can be injected.  At the end the bytes the device
 * counts as released must be the bytes madvise released, and a read of
 * config num_pages always gives the host's last target.  Calls the device
 * defers to a loop (modvm_virtio_renotify) are queued here and run by
 * OP_LOOP and at the end, and OP_RACE stands in for a driver adding
 * buffers while the device works, so a run is deterministic.
 *
 * Input: byte 0 picks the device (bit 0 shared RAM, bits 1-2 the defer:
 * queued, none, failing, shut down; bits 3-4 madvise errors: none, EINVAL,
 * EAGAIN, every other call); then ops, each an opcode byte followed by its
 * arguments (little-endian; a short tail reads as zeros).  See the OP_*
 * list.  Seeds: scripts/run-fuzz.sh.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <modvm/log.h>
#include <modvm/virtio.h>

#include "balloon_dev.h"

#define RAM_SIZE 0x10000u
#define RAM_PAGES (RAM_SIZE / BALLOON_PAGE_SIZE)
#define MAX_OPS 64
#define MAX_SEGS 24
#define MAX_LATER 4
/*
 * Kicks, deferred calls and races together can make a run translate a lot
 * of page numbers (one kick: up to BALLOON_PFN_KICK_MAX and a buffer).
 * After this many bytes translated in a run, translate refuses everything
 * (as for addresses outside RAM, which the device must survive anyway) so
 * a unit stays fast; well-formed scripts stay far below it.
 */
#define TRANSLATE_BUDGET (16u << 20)

enum {
	OP_NEGOTIATE,	/* u8 flags (1: VERSION_1, 2: no DRIVER, 4: read back), u64 features */
	OP_STATUS,	/* u8 status written raw (0 resets) */
	OP_QUEUE,	/* u8 q, u16 num, u16 desc, u16 avail, u16 used, u8 ready */
	OP_WRITE_RAM,	/* u16 gpa, u8 len, len bytes */
	OP_POST,	/* u8 q, u8 head, u8 n (1..4), n x (u16 gpa, u16 len, u8 flags, u8 next) */
	OP_KICK,	/* u8 q */
	OP_PFNS,	/* u8 q, u8 head, u16 gpa, u8 n, u8 layout, n x pfn (see pfn()) */
	OP_STATS,	/* u8 q, u8 head, u16 gpa, u8 n (< 72), u8 layout, n x (u8 tag, u64) */
	OP_REPORT,	/* u8 q, u8 head, u8 n (1..4), u8 layout, n x (u8 page, pages, flags) */
	OP_CONFIG,	/* u8 off, u8 len selector, u8 write, u64 value */
	OP_TARGET,	/* u32 num_pages: balloon_dev_set_target */
	OP_REQUEST,	/* balloon_dev_request_stats and the getters */
	OP_LOOP,	/* u8 n: run up to n % 4 + 1 deferred calls */
	OP_REG,		/* u8 off / 4, u32 value, u8 write */
	OP_AVAIL_IDX,	/* u8 q, u16 idx */
	OP_RACE,	/* u8 q, u8 head, u8 every (% 16 + 1), u8 times: see struct race */
	OP_NR,
};

/* Layout bits of OP_PFNS and OP_STATS buffers (OP_REPORT: INDIRECT, NO_KICK). */
enum {
	L_SPLIT = 1,		/* two descriptors, split at an entry boundary */
	L_SPLIT_ODD = 2,	/* two descriptors, split inside an entry */
	L_WRITABLE = 4,		/* device-writable (malformed for these queues) */
	L_TAIL = 8,		/* 1..3 stray bytes after the entries */
	L_INDIRECT = 16,	/* through an indirect table after the data */
	L_BATCH = 32,		/* PFNs: tiled to PFN_BATCH + n entries */
	L_REPEAT = 64,		/* PFNs: MAX_SEGS descriptors from gpa to the end of RAM */
	L_NO_KICK = 128,
};

struct input {
	const uint8_t *p;
	size_t left;
};

struct rings {
	uint64_t desc, avail;
	uint16_t num, idx;
};

struct seg {
	uint64_t gpa;
	uint32_t len;
	uint16_t flags;
};

/* Private and shared RAM, each between guard pages; ram is this run's. */
static uint8_t *ram_private, *ram_shared, *ram;
static uint64_t translated;

/*
 * A driver on another vCPU making @head available again on @q while the
 * device works (every @every translations, @left more times): what makes
 * a kick find more than a queue's worth and defer the rest, deterministic.
 */
static struct race {
	struct rings *q;
	uint16_t head;
	unsigned every, count, left;
} race;

/* What madvise saw this run (the wrapper's side of released_bytes). */
static struct {
	int inject;		/* 0 none, 1 EINVAL, 2 EAGAIN, 3 EINVAL every other call */
	unsigned calls;
	uint64_t released;
} madv;

/* The device's deferred calls, run in order by OP_LOOP and at the end. */
static struct {
	int mode;		/* 0 queued, 1 no defer, 2 -EAGAIN, 3 -ESHUTDOWN */
	unsigned n;
	struct { void (*fn)(void *); void *arg; } q[MAX_LATER];
} later;

int __real_madvise(void *addr, size_t len, int advice);
int __wrap_madvise(void *addr, size_t len, int advice);

int __wrap_madvise(void *addr, size_t len, int advice)
{
	uintptr_t a = (uintptr_t)addr, lo = (uintptr_t)ram;

	/* Outside a run (nobody else calls it, but be exact): not ours. */
	if (!ram)
		return __real_madvise(addr, len, advice);
	if (!len || a % BALLOON_PAGE_SIZE || len % BALLOON_PAGE_SIZE || a < lo ||
	    a - lo > RAM_SIZE || len > RAM_SIZE - (a - lo) ||
	    (advice != MADV_REMOVE && advice != MADV_DONTNEED))
		abort();	/* the device gave back something that is not guest RAM */
	madv.calls++;
	if (madv.inject == 1 || (madv.inject == 3 && madv.calls % 2 == 0)) {
		errno = EINVAL;
		return -1;
	}
	if (madv.inject == 2) {
		errno = EAGAIN;
		return -1;
	}
	int ret = __real_madvise(addr, len, advice);
	if (ret == 0)
		madv.released += len;
	return ret;
}

static int defer(void *ctx, void (*fn)(void *), void *arg)
{
	(void)ctx;
	if (later.mode == 2)
		return -EAGAIN;
	if (later.mode == 3)
		return -ESHUTDOWN;
	if (later.n == MAX_LATER)
		return -EAGAIN;	/* the device posts one at a time: never here */
	later.q[later.n].fn = fn;
	later.q[later.n].arg = arg;
	later.n++;
	return 0;
}

static void run_later(void)
{
	if (!later.n)
		return;
	void (*fn)(void *) = later.q[0].fn;
	void *arg = later.q[0].arg;
	/* Out of the queue first: fn may post the next call. */
	later.n--;
	memmove(&later.q[0], &later.q[1], later.n * sizeof(later.q[0]));
	fn(arg);
}

static uint8_t u8(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static uint16_t u16(struct input *in)
{
	uint16_t lo = u8(in);
	return (uint16_t)(lo | u8(in) << 8);
}

static uint32_t u32(struct input *in)
{
	uint32_t lo = u16(in);
	return lo | (uint32_t)u16(in) << 16;
}

static uint64_t u64(struct input *in)
{
	uint64_t lo = u32(in);
	return lo | (uint64_t)u32(in) << 32;
}

static void reg_write(struct modvm_virtio_mmio *t, uint64_t off, uint32_t v)
{
	modvm_virtio_mmio_access(t, off, (uint8_t *)&v, 4, true);
}

static uint32_t reg_read(struct modvm_virtio_mmio *t, uint64_t off)
{
	uint32_t v = 0;
	modvm_virtio_mmio_access(t, off, (uint8_t *)&v, 4, false);
	return v;
}

/* Guest writes clipped to RAM: what lies past the end is simply not written. */
static void put(uint64_t gpa, const void *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (gpa + i < RAM_SIZE)
			ram[gpa + i] = ((const uint8_t *)p)[i];
}

static void put16(uint64_t gpa, uint16_t v)
{
	put(gpa, &v, 2);
}

static void put_desc(uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint8_t d[16];

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	put(table + 16ull * i, d, sizeof(d));
}

static void make_available(struct rings *q, uint16_t head)
{
	if (q->num)
		put16(q->avail + 4 + 2ull * (q->idx % q->num), head);
	q->idx++;
	put16(q->avail + 2, q->idx);
}

static void *translate(void *ctx, uint64_t gpa, uint64_t len)
{
	(void)ctx;
	if (race.left && ++race.count % race.every == 0) {
		race.left--;
		make_available(race.q, race.head);
	}
	if (len == 0 || gpa >= RAM_SIZE || len > RAM_SIZE - gpa)
		return NULL;
	if (translated + len > TRANSLATE_BUDGET)
		return NULL;
	translated += len;
	return ram + gpa;
}

static void no_irq(void *ctx)
{
	(void)ctx;
}

/* Descriptor @i of a ring of @num, wrapping as a driver would (a bad num:
 * as it comes, which the device has refused anyway). */
static uint16_t slot(const struct rings *q, unsigned i)
{
	if (q->num && !(q->num & (q->num - 1)))
		return (uint16_t)(i % q->num);
	return (uint16_t)i;
}

/*
 * Posts @n segments as one chain from @head, directly in the ring or
 * through an indirect table at @table, and kicks @qi unless told not to.
 */
static void chain(struct modvm_virtio_mmio *t, struct rings *r, unsigned qi, uint16_t head,
		  const struct seg *s, unsigned n, uint64_t table, uint8_t layout)
{
	struct rings *q = &r[qi];

	if (!n)
		return;
	if (layout & L_INDIRECT) {
		for (unsigned i = 0; i < n; i++)
			put_desc(table, (uint16_t)i, s[i].gpa, s[i].len,
				 (uint16_t)(s[i].flags | (i + 1 < n ? MODVM_VIRTQ_DESC_F_NEXT : 0)),
				 (uint16_t)(i + 1));
		put_desc(q->desc, slot(q, head), table, 16 * n, MODVM_VIRTQ_DESC_F_INDIRECT, 0);
	} else {
		for (unsigned i = 0; i < n; i++)
			put_desc(q->desc, slot(q, head + i), s[i].gpa, s[i].len,
				 (uint16_t)(s[i].flags | (i + 1 < n ? MODVM_VIRTQ_DESC_F_NEXT : 0)),
				 slot(q, head + i + 1));
	}
	make_available(q, slot(q, head));
	if (!(layout & L_NO_KICK))
		reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_NOTIFY, qi);
}

/*
 * One page number: mostly the pages of RAM and just past it (16 is the
 * guard page after RAM), else a value where arithmetic goes wrong, else
 * raw.
 */
static uint32_t pfn(struct input *in)
{
	static const uint32_t edge[] = {
		RAM_PAGES - 1, RAM_PAGES, 0xfffff, 0x100000, 0x7fffffff, 0x80000000,
		0xfffffffe, 0xffffffff,
	};
	uint8_t sel = u8(in);

	if (sel < 0x80)
		return sel % (RAM_PAGES + 4);
	if (sel < 0xc0)
		return edge[sel % 8];
	return u32(in);
}

/* Splits [gpa, gpa + len) as the layout says into @s; returns the count. */
static unsigned split(struct seg *s, uint64_t gpa, uint32_t len, uint32_t entry, uint8_t layout)
{
	uint16_t flags = (layout & L_WRITABLE) ? MODVM_VIRTQ_DESC_F_WRITE : 0;
	uint32_t at = 0;

	if (layout & L_SPLIT)
		at = len / entry / 2 * entry;
	else if (layout & L_SPLIT_ODD)
		at = len / 2 | 1;
	if (at && at < len) {
		s[0] = (struct seg){ gpa, at, flags };
		s[1] = (struct seg){ gpa + at, len - at, flags };
		return 2;
	}
	s[0] = (struct seg){ gpa, len, flags };
	return 1;
}

static void pfns(struct modvm_virtio_mmio *t, struct rings *r, struct input *in)
{
	unsigned qi = u8(in) % BALLOON_Q_NR;
	uint16_t head = u8(in);
	uint64_t gpa = u16(in);
	uint8_t n = u8(in), layout = u8(in);
	uint32_t v[UINT8_MAX + 1];
	struct seg s[MAX_SEGS];
	unsigned ns;

	for (unsigned i = 0; i < n; i++)
		v[i] = pfn(in);
	/* Past PFN_BATCH (1024) the device works in batches. */
	uint32_t count = (layout & L_BATCH) && n ? 1024 + n : n;
	for (uint32_t i = 0; i < count; i++)
		put(gpa + 4ull * i, &v[i % n], 4);
	uint32_t len = 4 * count + ((layout & L_TAIL) ? n % 3 + 1 : 0);
	if (layout & L_REPEAT) {
		/* The rest of RAM, again and again: below gpa 0x5000 just more
		 * than the device takes in one buffer (BALLOON_PFN_CHAIN_MAX),
		 * above it just less. */
		uint32_t rest = gpa < RAM_SIZE ? (RAM_SIZE - (uint32_t)gpa) & ~3u : 0;
		ns = rest ? BALLOON_PFN_CHAIN_MAX / rest : 0;
		if (gpa < 0x5000)
			ns++;
		ns = ns < 1 ? 1 : ns > MAX_SEGS ? MAX_SEGS : ns;
		for (unsigned k = 0; k < ns; k++)
			s[k] = (struct seg){ gpa, rest, 0 };
	} else {
		ns = split(s, gpa, len, 4, layout);
	}
	chain(t, r, qi, head, s, ns, (gpa + len + 15) & ~15ull, layout);
}

static void stats(struct modvm_virtio_mmio *t, struct rings *r, struct input *in)
{
	unsigned qi = u8(in) % BALLOON_Q_NR;
	uint16_t head = u8(in);
	uint64_t gpa = u16(in);
	uint8_t n = u8(in) % (BALLOON_STATS_MAX + 8), layout = u8(in);
	struct seg s[2];

	for (unsigned i = 0; i < n; i++) {
		uint8_t tag8 = u8(in);
		uint16_t tag = tag8 == 0xff ? 0xffff : tag8;
		uint64_t val = u64(in);
		put(gpa + BALLOON_STAT_SIZE * i, &tag, 2);
		put(gpa + BALLOON_STAT_SIZE * i + 2, &val, 8);
	}
	uint32_t len = BALLOON_STAT_SIZE * n + ((layout & L_TAIL) ? 1 : 0);
	unsigned ns = split(s, gpa, len, BALLOON_STAT_SIZE, layout);
	/* An empty buffer is a descriptor of length 0, which walks to nothing. */
	chain(t, r, qi, head, s, ns, (gpa + len + 15) & ~15ull, layout);
}

/* Free page reports: writable whole pages, or misaligned, partial, readable. */
static void report(struct modvm_virtio_mmio *t, struct rings *r, struct input *in)
{
	unsigned qi = u8(in) % BALLOON_Q_NR;
	uint16_t head = u8(in);
	unsigned n = u8(in) % 4 + 1;
	uint8_t layout = u8(in);
	struct seg s[4];

	for (unsigned i = 0; i < n; i++) {
		uint64_t page = u8(in) % (RAM_PAGES + 4);
		uint32_t pages = u8(in) % (RAM_PAGES + 1);
		uint8_t f = u8(in);
		s[i] = (struct seg){
			.gpa = page * BALLOON_PAGE_SIZE + ((f & 1) ? 8 * (f >> 4) + 8 : 0),
			.len = pages * BALLOON_PAGE_SIZE + ((f & 2) ? 512 : 0),
			.flags = (f & 4) ? 0 : MODVM_VIRTQ_DESC_F_WRITE,
		};
	}
	/* The indirect table in the last page of RAM: reports may free it
	 * under the device, which is the guest's business. */
	chain(t, r, qi, head, s, n, RAM_SIZE - 16 * 4, layout);
}

static void queue_setup(struct modvm_virtio_mmio *t, struct rings *r, struct input *in)
{
	uint8_t q = u8(in) % (BALLOON_Q_NR + 1);
	uint16_t num = u16(in);
	uint64_t desc = u16(in), avail = u16(in), used = u16(in);
	uint8_t ready = u8(in);

	reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_SEL, q);
	reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_NUM, num);
	reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_DESC_HIGH, ready & 0x80 ? 1 : 0);
	reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
	reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
	reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
	reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
	reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_READY, ready & 1);
	if (q < BALLOON_Q_NR)
		r[q] = (struct rings){ .desc = desc, .avail = avail, .num = num };
}

static void post(struct rings *r, struct input *in)
{
	struct rings *q = &r[u8(in) % BALLOON_Q_NR];
	uint16_t head = u8(in), n = (uint16_t)(u8(in) % 4 + 1);

	for (uint16_t i = 0; i < n; i++) {
		uint64_t addr = u16(in);
		uint32_t len = u16(in);
		uint16_t flags = u8(in) & 7, next = u8(in);
		put_desc(q->desc, (uint16_t)(head + i), addr, len, flags, next);
	}
	make_available(q, head);
}

static void negotiate(struct modvm_virtio_mmio *t, struct input *in)
{
	uint8_t flags = u8(in);
	uint64_t f = u64(in);
	uint32_t s = MODVM_VIRTIO_STATUS_ACKNOWLEDGE;

	if (flags & 1)
		f |= MODVM_VIRTIO_FEATURE(MODVM_VIRTIO_F_VERSION_1);
	reg_write(t, MODVM_VIRTIO_MMIO_STATUS, 0);
	reg_write(t, MODVM_VIRTIO_MMIO_STATUS, s);
	if (!(flags & 2))
		s |= MODVM_VIRTIO_STATUS_DRIVER;
	reg_write(t, MODVM_VIRTIO_MMIO_STATUS, s);
	reg_write(t, MODVM_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	reg_write(t, MODVM_VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
	reg_write(t, MODVM_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	reg_write(t, MODVM_VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	reg_write(t, MODVM_VIRTIO_MMIO_STATUS, s | MODVM_VIRTIO_STATUS_FEATURES_OK);
	if (flags & 4)
		(void)reg_read(t, MODVM_VIRTIO_MMIO_STATUS);
}

/* Config space; num_pages is the host's: whatever the guest wrote, a read
 * of it gives back the last target. */
static void config(struct modvm_virtio_mmio *t, struct input *in, uint32_t target)
{
	static const uint32_t lens[] = { 1, 2, 4, 8, 3, 0 };
	uint32_t off = u8(in);
	uint32_t len = lens[u8(in) % 6];
	bool write = u8(in) & 1;
	uint64_t v = u64(in);

	modvm_virtio_mmio_access(t, MODVM_VIRTIO_MMIO_CONFIG + off, (uint8_t *)&v, len, write);
	if (!write && off == 0 && (len == 4 || len == 8) && (uint32_t)v != target)
		abort();
}

/* The plugin's side: a stats request, then what it reads back. */
static void host_poll(struct balloon_dev *b)
{
	struct balloon_guest_stats st;
	struct balloon_counters c;

	(void)balloon_dev_request_stats(b);
	balloon_dev_get_stats(b, &st);
	balloon_dev_get_counters(b, &c);
	(void)balloon_dev_actual(b);
	(void)balloon_dev_total_counts_balloon(b);
	if (st.present >> BALLOON_S_NR || (st.present && !st.generation))
		abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *map_ram(int flags)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *map = mmap(NULL, RAM_SIZE + 2 * page, PROT_NONE, flags | MAP_ANONYMOUS, -1, 0);

	if (map == MAP_FAILED || mprotect(map + page, RAM_SIZE, PROT_READ | PROT_WRITE) < 0)
		abort();
	return map + page;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	modvm_log_set_level(MODVM_LOG_ERROR);	/* guest errors are expected here */
	ram_private = map_ram(MAP_PRIVATE);
	ram_shared = map_ram(MAP_SHARED);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct rings r[BALLOON_Q_NR] = { { 0 } };
	struct balloon_dev *b;
	uint8_t dev = u8(&in);
	uint32_t target = 0;
	struct modvm_virtio_mmio_config mc = {
		.struct_size = sizeof(mc),
		.irq = 5,
		.base = 0xd0000000,
		.name = "fuzz-balloon",
		.mem = { .translate = translate },
		.raise_irq = no_irq,
		.defer = defer,
	};

	ram = (dev & 1) ? ram_shared : ram_private;
	memset(ram, 0, RAM_SIZE);
	translated = 0;
	madv.inject = dev >> 3 & 3;
	madv.calls = 0;
	madv.released = 0;
	race.left = 0;
	later.mode = dev >> 1 & 3;
	later.n = 0;
	if (later.mode == 1)
		mc.defer = NULL;
	if (balloon_dev_create(&mc, &b) < 0)
		abort();
	struct modvm_virtio_mmio *t = balloon_dev_transport(b);
	for (unsigned op = 0; op < MAX_OPS && in.left; op++) {
		switch (u8(&in) % OP_NR) {
		case OP_NEGOTIATE:
			negotiate(t, &in);
			break;
		case OP_STATUS:
			reg_write(t, MODVM_VIRTIO_MMIO_STATUS, u8(&in));
			break;
		case OP_QUEUE:
			queue_setup(t, r, &in);
			break;
		case OP_WRITE_RAM: {
			uint64_t a = u16(&in);
			uint8_t n = u8(&in);
			for (unsigned i = 0; i < n; i++) {
				uint8_t v = u8(&in);
				put(a + i, &v, 1);
			}
			break;
		}
		case OP_POST:
			post(r, &in);
			break;
		case OP_KICK:
			reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_NOTIFY, u8(&in) % (BALLOON_Q_NR + 2));
			break;
		case OP_PFNS:
			pfns(t, r, &in);
			break;
		case OP_STATS:
			stats(t, r, &in);
			break;
		case OP_REPORT:
			report(t, r, &in);
			break;
		case OP_CONFIG:
			config(t, &in, target);
			break;
		case OP_TARGET:
			target = u32(&in);
			balloon_dev_set_target(b, target);
			break;
		case OP_REQUEST:
			host_poll(b);
			break;
		case OP_LOOP:
			for (unsigned n = u8(&in) % 4 + 1; n; n--)
				run_later();
			break;
		case OP_REG: {
			uint64_t off = (uint64_t)(u8(&in) % 64) * 4;
			uint32_t v = u32(&in);
			if (u8(&in) & 1)
				reg_write(t, off, v);
			else
				(void)reg_read(t, off);
			break;
		}
		case OP_AVAIL_IDX: {
			struct rings *q = &r[u8(&in) % BALLOON_Q_NR];
			q->idx = u16(&in);
			put16(q->avail + 2, q->idx);
			break;
		}
		case OP_RACE:
			race.q = &r[u8(&in) % BALLOON_Q_NR];
			race.head = u8(&in);
			race.every = u8(&in) % 16 + 1;
			race.count = 0;
			race.left = u8(&in);
			break;
		}
	}
	/* Whatever state the guest left: every queue kicked once more, the
	 * host asks for stats, and the loop runs what was deferred. */
	for (unsigned q = 0; q < BALLOON_Q_NR; q++)
		reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_NOTIFY, q);
	host_poll(b);
	for (unsigned i = 0; i < 8 && later.n; i++)
		run_later();

	struct balloon_counters c;
	balloon_dev_get_counters(b, &c);
	/* Every byte the device says it released, madvise released. */
	if (c.released_bytes != madv.released || c.madvise_calls > madv.calls ||
	    balloon_dev_target(b) != target)
		abort();
	balloon_dev_free(b);
	/* A call still queued outlives the device, as on a real loop: it must
	 * find nothing and free its token. */
	while (later.n)
		run_later();
	race.left = 0;
	ram = NULL;
	return 0;
}
