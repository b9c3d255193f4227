/*
 * A virtio-balloon driver (virtio 1.2, 5.5) for the demo guest, so Dynamic
 * Memory can be shown end to end on hosts that emulate ring 0.
 *
 * Memory model, kept contiguous so no page lists are needed: the pool is
 * [end of the image, pool_end).  The working set grows up from the bottom
 * (each page written once, so the host really backs it); the balloon grows
 * down from the top.  The working set's size follows a script on the
 * command line, "modvm.demo.work=160M,4M@15": 160 MiB from the start, 4 MiB
 * from the 15th statistics request on (the host asks once per policy
 * interval, so rounds are the guest's clock).  When the balloon leaves too
 * little room the working set stops short of its goal and the statistics
 * say so (nothing available): the policy then grows the guest, as Linux's
 * numbers would make it.  Shrinking the working set only forgets pages; the
 * host gets them back when the balloon takes them.  A balloon target that
 * needs pages the working set holds takes them anyway (Linux would reclaim
 * or swap them out): counted as swapped out, and the working set regrows
 * when memory comes back.
 *
 * The driver sleeps in HLT between interrupts (config change: a new
 * num_pages; used buffers: a statistics request or a finished
 * inflate/deflate) and prints one line whenever the balloon settles on a
 * target or the working set reaches its goal; tests read those lines.
 */
#include "demo.h"

#define PAGE 4096ull
#define F_STATS_VQ 1
#define BATCH 1024u		/* PFNs per inflate/deflate request */
#define MAX_PHASES 4

enum { Q_INFLATE, Q_DEFLATE, Q_STATS };
enum { TAG_SWAP_OUT = 1, TAG_MEMFREE = 4, TAG_MEMTOT = 5, TAG_AVAIL = 6 };

struct stat_entry {
	uint16_t tag;
	uint64_t val;
} __attribute__((packed));

struct phase {
	uint64_t bytes;
	uint32_t from_round;
};

extern char _end[];

static struct vq queues[3];
static uint32_t pfns[BATCH];
static struct stat_entry stats[4];

static struct {
	uint64_t base;
	uint64_t lo, hi;	/* the pool */
	uint64_t usable;	/* e820 usable bytes */
	uint64_t work;		/* bytes of the working set, from lo */
	uint64_t goal;		/* what the script asks for now */
	uint32_t balloon;	/* pages, from hi down */
	uint32_t reported;	/* balloon size last printed (+1; 0 none) */
	uint64_t reported_work;
	uint32_t round;
	uint64_t swapped_out;	/* bytes of working set the balloon took */
	struct phase phases[MAX_PHASES];
	unsigned nphases;
} b;

static void parse_script(const char *v)
{
	while (v && *v && *v != ' ' && b.nphases < MAX_PHASES) {
		const char *p;
		struct phase ph = { parse_size(v, &p), 0 };
		if (*p == '@')
			ph.from_round = (uint32_t)parse_size(p + 1, &p);
		b.phases[b.nphases++] = ph;
		if (*p != ',')
			break;
		v = p + 1;
	}
}

static uint64_t script_goal(void)
{
	uint64_t goal = 0;
	for (unsigned i = 0; i < b.nphases; i++)
		if (b.round >= b.phases[i].from_round)
			goal = b.phases[i].bytes;
	return goal;
}

static uint64_t balloon_bytes(void)
{
	return (uint64_t)b.balloon * PAGE;
}

/* Bytes of the pool neither in the working set nor in the balloon. */
static uint64_t pool_free(void)
{
	return b.hi - b.lo - b.work - balloon_bytes();
}

static void ack_interrupts(void)
{
	uint32_t s = mmio_read32(b.base + VM_INT_STATUS);
	if (s)
		mmio_write32(b.base + VM_INT_ACK, s);
}

/* Waits for @q to hand a buffer back, sleeping between interrupts. */
static void wait_used(struct vq *q)
{
	while (!vq_take_used(q)) {
		ack_interrupts();
		if (vq_take_used(q))
			break;
		wait_for_interrupt();
	}
}

/* Writes (or forgets) working-set pages towards the goal, at most 16 MiB a
 * call so the balloon is served in between. */
static bool move_working_set(void)
{
	if (b.work > b.goal) {
		b.work = b.goal;
		return true;
	}
	uint64_t room = b.work + pool_free();
	uint64_t want = b.goal < room ? b.goal : room;
	if (want > b.work + (16ull << 20))
		want = b.work + (16ull << 20);
	want &= ~(PAGE - 1);
	if (want <= b.work)
		return false;
	for (uint64_t a = b.lo + b.work; a < b.lo + want; a += PAGE)
		*(volatile uint64_t *)(uintptr_t)a = a;
	b.work = want;
	return true;
}

static void send_stats(void)
{
	uint64_t total = b.usable - balloon_bytes();
	uint64_t free = pool_free();

	stats[0] = (struct stat_entry){ TAG_MEMTOT, total };
	stats[1] = (struct stat_entry){ TAG_MEMFREE, free };
	stats[2] = (struct stat_entry){ TAG_AVAIL, free };
	stats[3] = (struct stat_entry){ TAG_SWAP_OUT, b.swapped_out };
	vq_add1(&queues[Q_STATS], stats, sizeof(stats), false);
}

/* One inflate or deflate request towards @target pages; false if none. */
static bool move_balloon(uint32_t target)
{
	uint32_t k;
	struct vq *q;

	if (b.balloon < target) {
		k = target - b.balloon;
		if (k > BATCH)
			k = BATCH;
		uint64_t can = pool_free() / PAGE;
		if (k > can) {
			uint64_t take = ((uint64_t)k - can) * PAGE;
			if (take > b.work)
				take = b.work & ~(PAGE - 1);
			b.work -= take;
			b.swapped_out += take;
			k = (uint32_t)(can + take / PAGE);
		}
		if (!k)
			return false;
		for (uint32_t i = 0; i < k; i++)
			pfns[i] = (uint32_t)((b.hi - (b.balloon + i + 1) * PAGE) / PAGE);
		q = &queues[Q_INFLATE];
	} else if (b.balloon > target) {
		k = b.balloon - target;
		if (k > BATCH)
			k = BATCH;
		for (uint32_t i = 0; i < k; i++)
			pfns[i] = (uint32_t)((b.hi - (uint64_t)(b.balloon - i) * PAGE) / PAGE);
		q = &queues[Q_DEFLATE];
	} else {
		return false;
	}
	vq_add1(q, pfns, k * (uint32_t)sizeof(pfns[0]), false);
	wait_used(q);
	b.balloon = q == &queues[Q_INFLATE] ? b.balloon + k : b.balloon - k;
	mmio_write32(b.base + VM_CONFIG + 4, b.balloon);	/* actual */
	return true;
}

static void report(uint32_t target)
{
	if (b.balloon == target && b.reported != b.balloon + 1) {
		b.reported = b.balloon + 1;
		puts_serial("demo-balloon: guest has ");
		put_dec((b.usable - balloon_bytes()) >> 20);
		puts_serial(" MiB, balloon ");
		put_dec(b.balloon);
		puts_serial(" pages\n");
	}
	if (b.work == b.goal && b.reported_work != b.work + 1) {
		b.reported_work = b.work + 1;
		puts_serial("demo-balloon: working set ");
		put_dec(b.work >> 20);
		puts_serial(" MiB\n");
	}
}

void drive_balloon(uint64_t base, uint32_t irq, const char *cmdline, uint64_t usable,
		   uint64_t pool_end)
{
	b.base = base;
	b.lo = ((uint64_t)(uintptr_t)_end + (1ull << 20) - 1) & ~((1ull << 20) - 1);
	b.hi = pool_end & ~(PAGE - 1);
	b.usable = usable;
	parse_script(cmdline_value(cmdline, "modvm.demo.work"));
	if (b.hi <= b.lo || !virtio_negotiate(base, 1u << F_STATS_VQ, "  virtio-balloon"))
		return;
	for (uint16_t i = 0; i < 3; i++)
		if (!vq_setup(base, i, &queues[i])) {
			mmio_write32(base + VM_STATUS, S_FAILED);
			puts_serial("  virtio-balloon: queue setup refused\n");
			return;
		}
	irq_init(irq);
	mmio_write32(base + VM_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	puts_serial("demo-balloon: pool ");
	put_dec((b.hi - b.lo) >> 20);
	puts_serial(" MiB, driving the balloon\n");
	b.goal = script_goal();
	send_stats();
	for (;;) {
		ack_interrupts();
		if (vq_take_used(&queues[Q_STATS])) {
			b.round++;
			b.goal = script_goal();
			while (move_working_set())
				;
			send_stats();
		}
		if (move_working_set())
			continue;
		uint32_t target = mmio_read32(base + VM_CONFIG);	/* num_pages */
		if (move_balloon(target))
			continue;
		report(target);
		wait_for_interrupt();
	}
}
