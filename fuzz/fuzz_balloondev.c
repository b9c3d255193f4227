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
#include "fuzz_driver.h"

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

struct seg {
	uint64_t gpa;
	uint32_t len;
	uint16_t flags;
};

/* Private and shared RAM, each between guard pages; ram.base is this run's.
 * Buffers may run off the end of RAM: what is inside it is written. */
static uint8_t *ram_private, *ram_shared;
static struct fd_ram ram = { .size = RAM_SIZE, .clip = true };
static uint64_t translated;

/*
 * A driver on another vCPU making @head available again on @q while the
 * device works (every @every translations, @left more times): what makes
 * a kick find more than a queue's worth and defer the rest, deterministic.
 */
static struct race {
	struct fd_ring *q;
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
	uintptr_t a = (uintptr_t)addr, lo = (uintptr_t)ram.base;

	/* Outside a run (nobody else calls it, but be exact): not ours. */
	if (!ram.base)
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

static void *translate(void *ctx, uint64_t gpa, uint64_t len)
{
	(void)ctx;
	if (race.left && ++race.count % race.every == 0) {
		race.left--;
		fd_make_available(&ram, race.q, race.head);
	}
	void *p = fd_ram_at(&ram, gpa, len);
	if (!p || translated + len > TRANSLATE_BUDGET)
		return NULL;
	translated += len;
	return p;
}

/* Descriptor @i of a ring of @num, wrapping as a driver would (a bad num:
 * as it comes, which the device has refused anyway). */
static uint16_t slot(const struct fd_ring *q, unsigned i)
{
	if (q->num && !(q->num & (q->num - 1)))
		return (uint16_t)(i % q->num);
	return (uint16_t)i;
}

/*
 * Posts @n segments as one chain from @head, directly in the ring or
 * through an indirect table at @table, and kicks @qi unless told not to.
 */
static void chain(const struct fd_driver *d, unsigned qi, uint16_t head, const struct seg *s,
		  unsigned n, uint64_t table, uint8_t layout)
{
	struct fd_ring *q = &d->rings[qi];

	if (!n)
		return;
	if (layout & L_INDIRECT) {
		for (unsigned i = 0; i < n; i++)
			fd_put_desc(&ram, table, (uint16_t)i, s[i].gpa, s[i].len,
				    (uint16_t)(s[i].flags | (i + 1 < n ? MODVM_VIRTQ_DESC_F_NEXT : 0)),
				    (uint16_t)(i + 1));
		fd_put_desc(&ram, q->desc, slot(q, head), table, 16 * n, MODVM_VIRTQ_DESC_F_INDIRECT,
			    0);
	} else {
		for (unsigned i = 0; i < n; i++)
			fd_put_desc(&ram, q->desc, slot(q, head + i), s[i].gpa, s[i].len,
				    (uint16_t)(s[i].flags | (i + 1 < n ? MODVM_VIRTQ_DESC_F_NEXT : 0)),
				    slot(q, head + i + 1));
	}
	fd_make_available(&ram, q, slot(q, head));
	if (!(layout & L_NO_KICK))
		fd_reg_write(d->t, MODVM_VIRTIO_MMIO_QUEUE_NOTIFY, qi);
}

/*
 * One page number: mostly the pages of RAM and just past it (16 is the
 * guard page after RAM), else a value where arithmetic goes wrong, else
 * raw.
 */
static uint32_t pfn(struct fd_input *in)
{
	static const uint32_t edge[] = {
		RAM_PAGES - 1, RAM_PAGES, 0xfffff, 0x100000, 0x7fffffff, 0x80000000,
		0xfffffffe, 0xffffffff,
	};
	uint8_t sel = fd_u8(in);

	if (sel < 0x80)
		return sel % (RAM_PAGES + 4);
	if (sel < 0xc0)
		return edge[sel % 8];
	return fd_u32(in);
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

static void pfns(const struct fd_driver *d, struct fd_input *in)
{
	unsigned qi = fd_u8(in) % BALLOON_Q_NR;
	uint16_t head = fd_u8(in);
	uint64_t gpa = fd_u16(in);
	uint8_t n = fd_u8(in), layout = fd_u8(in);
	uint32_t v[UINT8_MAX + 1];
	struct seg s[MAX_SEGS];
	unsigned ns;

	for (unsigned i = 0; i < n; i++)
		v[i] = pfn(in);
	/* Past PFN_BATCH (1024) the device works in batches. */
	uint32_t count = (layout & L_BATCH) && n ? 1024 + n : n;
	for (uint32_t i = 0; i < count; i++)
		fd_put(&ram, gpa + 4ull * i, &v[i % n], 4);
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
	chain(d, qi, head, s, ns, (gpa + len + 15) & ~15ull, layout);
}

static void stats(const struct fd_driver *d, struct fd_input *in)
{
	unsigned qi = fd_u8(in) % BALLOON_Q_NR;
	uint16_t head = fd_u8(in);
	uint64_t gpa = fd_u16(in);
	uint8_t n = fd_u8(in) % (BALLOON_STATS_MAX + 8), layout = fd_u8(in);
	struct seg s[2];

	for (unsigned i = 0; i < n; i++) {
		uint8_t tag8 = fd_u8(in);
		uint16_t tag = tag8 == 0xff ? 0xffff : tag8;
		uint64_t val = fd_u64(in);
		fd_put(&ram, gpa + BALLOON_STAT_SIZE * i, &tag, 2);
		fd_put(&ram, gpa + BALLOON_STAT_SIZE * i + 2, &val, 8);
	}
	uint32_t len = BALLOON_STAT_SIZE * n + ((layout & L_TAIL) ? 1 : 0);
	unsigned ns = split(s, gpa, len, BALLOON_STAT_SIZE, layout);
	/* An empty buffer is a descriptor of length 0, which walks to nothing. */
	chain(d, qi, head, s, ns, (gpa + len + 15) & ~15ull, layout);
}

/* Free page reports: writable whole pages, or misaligned, partial, readable. */
static void report(const struct fd_driver *d, struct fd_input *in)
{
	unsigned qi = fd_u8(in) % BALLOON_Q_NR;
	uint16_t head = fd_u8(in);
	unsigned n = fd_u8(in) % 4 + 1;
	uint8_t layout = fd_u8(in);
	struct seg s[4];

	for (unsigned i = 0; i < n; i++) {
		uint64_t page = fd_u8(in) % (RAM_PAGES + 4);
		uint32_t pages = fd_u8(in) % (RAM_PAGES + 1);
		uint8_t f = fd_u8(in);
		s[i] = (struct seg){
			.gpa = page * BALLOON_PAGE_SIZE + ((f & 1) ? 8 * (f >> 4) + 8 : 0),
			.len = pages * BALLOON_PAGE_SIZE + ((f & 2) ? 512 : 0),
			.flags = (f & 4) ? 0 : MODVM_VIRTQ_DESC_F_WRITE,
		};
	}
	/* The indirect table in the last page of RAM: reports may free it
	 * under the device, which is the guest's business. */
	chain(d, qi, head, s, n, RAM_SIZE - 16 * 4, layout);
}

/* Config space; num_pages is the host's: whatever the guest wrote, a read
 * of it gives back the last target. */
static void config(const struct fd_driver *d, struct fd_input *in, uint32_t target)
{
	struct fd_config_access a = fd_config(d, in);

	if (!a.write && a.off == 0 && (a.len == 4 || a.len == 8) && (uint32_t)a.v != target)
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

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	modvm_log_set_level(MODVM_LOG_ERROR);	/* guest errors are expected here */
	ram_private = fd_map_ram(RAM_SIZE, MAP_PRIVATE);
	ram_shared = fd_map_ram(RAM_SIZE, MAP_SHARED);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fd_input in = { data, size };
	struct fd_ring r[BALLOON_Q_NR] = { { 0 } };
	struct balloon_dev *b;
	uint8_t dev = fd_u8(&in);
	uint32_t target = 0;
	struct modvm_virtio_mmio_config mc = fd_mmio_config("fuzz-balloon", &ram);

	mc.mem.translate = translate;	/* with the race and the budget */
	mc.defer = defer;
	ram.base = (dev & 1) ? ram_shared : ram_private;
	memset(ram.base, 0, RAM_SIZE);
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
	struct fd_driver d = { .t = t, .ram = &ram, .rings = r, .nq = BALLOON_Q_NR };
	for (unsigned op = 0; op < MAX_OPS && in.left; op++) {
		switch (fd_u8(&in) % OP_NR) {
		case OP_NEGOTIATE:
			if (fd_negotiate(&d, &in) & 4)
				(void)fd_reg_read(t, MODVM_VIRTIO_MMIO_STATUS);
			break;
		case OP_STATUS:
			fd_status(&d, &in);
			break;
		case OP_QUEUE:
			fd_queue(&d, &in);
			break;
		case OP_WRITE_RAM:
			fd_write_ram(&d, &in);
			break;
		case OP_POST:
			fd_post(&d, &in);
			break;
		case OP_KICK:
			fd_kick(&d, &in);
			break;
		case OP_PFNS:
			pfns(&d, &in);
			break;
		case OP_STATS:
			stats(&d, &in);
			break;
		case OP_REPORT:
			report(&d, &in);
			break;
		case OP_CONFIG:
			config(&d, &in, target);
			break;
		case OP_TARGET:
			target = fd_u32(&in);
			balloon_dev_set_target(b, target);
			break;
		case OP_REQUEST:
			host_poll(b);
			break;
		case OP_LOOP:
			for (unsigned n = fd_u8(&in) % 4 + 1; n; n--)
				run_later();
			break;
		case OP_REG:
			fd_reg(&d, &in);
			break;
		case OP_AVAIL_IDX:
			fd_avail_idx(&d, &in);
			break;
		case OP_RACE:
			race.q = &r[fd_u8(&in) % BALLOON_Q_NR];
			race.head = fd_u8(&in);
			race.every = fd_u8(&in) % 16 + 1;
			race.count = 0;
			race.left = fd_u8(&in);
			break;
		}
	}
	/* Whatever state the guest left: every queue kicked once more, the
	 * host asks for stats, and the loop runs what was deferred. */
	for (unsigned q = 0; q < BALLOON_Q_NR; q++)
		fd_reg_write(t, MODVM_VIRTIO_MMIO_QUEUE_NOTIFY, q);
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
	ram.base = NULL;
	return 0;
}
