/*
 * core/iobus.c — routing PIO/MMIO exits to device handlers.
 *
 * Every exit looks up a range, so the read side takes no lock: each space
 * publishes an immutable sorted snapshot through an atomic pointer and
 * readers binary-search it.  Writers (rare: device setup) copy, insert and
 * swap under a mutex.  An old snapshot may only be freed once no reader can
 * still hold it, so every reader slot (one per vCPU) carries a sequence
 * number that is odd while the slot is inside a lookup+handler; a writer
 * waits for odd slots to move on (a tiny RCU grace period).  The cost on
 * the read path is one exchange and one store on a cache line no one else
 * writes.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/vm.h"

struct entry {
	uint64_t base;
	uint64_t last;		/* inclusive, so a range may end at 2^64 */
	modvm_iobus_handler fn;
	void *ud;
};

struct snapshot {
	struct snapshot *retired_next;
	uint32_t n;
	struct entry e[];
};

struct space {
	struct snapshot *_Atomic snap;
	_Atomic uint64_t unhandled_reads;
	_Atomic uint64_t unhandled_writes;
};

/* One per reader thread, alone on its cache line. */
struct reader {
	_Alignas(64) _Atomic uint64_t seq;
};

struct modvm__iobus {
	char owner[MODVM_NAME_MAX];
	pthread_mutex_t lock;	/* writers */
	struct space space[2];
	unsigned nreaders;
	struct reader *readers;
	struct snapshot *retired;	/* freed at the end; see del() */
};

/* The slot this thread is dispatching through (a handler calling del()). */
static _Thread_local struct reader *active_reader;

static const char *const space_name[] = { "pio", "mmio" };

static bool space_ok(enum modvm_iobus_space s)
{
	return s == MODVM_IOBUS_PIO || s == MODVM_IOBUS_MMIO;
}

MODVM_INTERNAL struct modvm__iobus *modvm__iobus_new(const char *owner, unsigned nreaders)
{
	struct modvm__iobus *bus = calloc(1, sizeof(*bus));

	if (!bus)
		return NULL;
	bus->readers = aligned_alloc(_Alignof(struct reader), sizeof(struct reader) * nreaders);
	if (!bus->readers) {
		free(bus);
		return NULL;
	}
	for (unsigned i = 0; i < nreaders; i++)
		atomic_init(&bus->readers[i].seq, 0);
	bus->nreaders = nreaders;
	snprintf(bus->owner, sizeof(bus->owner), "%s", owner);
	pthread_mutex_init(&bus->lock, NULL);
	return bus;
}

MODVM_INTERNAL void modvm__iobus_free(struct modvm__iobus *bus)
{
	if (!bus)
		return;
	for (int s = 0; s < 2; s++)
		free(atomic_load(&bus->space[s].snap));
	while (bus->retired) {
		struct snapshot *next = bus->retired->retired_next;

		free(bus->retired);
		bus->retired = next;
	}
	pthread_mutex_destroy(&bus->lock);
	free(bus->readers);
	free(bus);
}

/* Index of the last entry with base <= addr, or -1. */
static long find(const struct snapshot *snap, uint64_t addr)
{
	long lo = 0, hi = (long)snap->n - 1, found = -1;

	while (lo <= hi) {
		long mid = lo + (hi - lo) / 2;

		if (snap->e[mid].base <= addr) {
			found = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return found;
}

/*
 * Publishes @next for @sp and frees @old once no other reader can hold it.
 * A handler replacing the table from inside itself still runs on @old's
 * entry, so then @old is kept until the bus is freed.  (Two handlers on two
 * vCPUs unregistering at the same moment would wait for each other: device
 * code unregisters from the owner thread.)
 */
static void replace(struct modvm__iobus *bus, struct space *sp, struct snapshot *old,
		    struct snapshot *next)
{
	atomic_store(&sp->snap, next);
	for (unsigned i = 0; i < bus->nreaders; i++) {
		struct reader *r = &bus->readers[i];
		/* seq_cst, pairing with dispatch(): it sees @next or we see it odd. */
		uint64_t seq = atomic_load(&r->seq);

		if (r == active_reader || !(seq & 1))
			continue;
		while (atomic_load_explicit(&r->seq, memory_order_acquire) == seq)
			sched_yield();
	}
	if (!old)
		return;
	if (active_reader) {
		old->retired_next = bus->retired;
		bus->retired = old;
	} else {
		free(old);
	}
}

MODVM_INTERNAL int modvm__iobus_add(struct modvm__iobus *bus, enum modvm_iobus_space space,
				    uint64_t base, uint64_t len, modvm_iobus_handler fn, void *ud)
{
	uint64_t limit = space == MODVM_IOBUS_PIO ? 0xffff : UINT64_MAX;
	struct snapshot *old, *next;
	struct space *sp;
	uint64_t last;
	long at;

	if (!space_ok(space) || !fn || len == 0 || base > limit || len - 1 > limit - base) {
		modvm_log(MODVM_LOG_ERROR, NULL,
			  "vm '%s': invalid %s range base 0x%llx len 0x%llx%s", bus->owner,
			  space_ok(space) ? space_name[space] : "(unknown space)",
			  (unsigned long long)base, (unsigned long long)len,
			  fn ? "" : " (no handler)");
		return -EINVAL;
	}
	last = base + (len - 1);
	sp = &bus->space[space];

	pthread_mutex_lock(&bus->lock);
	old = atomic_load(&sp->snap);
	at = old ? find(old, last) : -1;
	/* Only the last range starting at or below @last can reach into us. */
	if (at >= 0 && old->e[at].last >= base) {
		modvm_log(MODVM_LOG_ERROR, NULL,
			  "vm '%s': %s range 0x%llx-0x%llx overlaps registered range 0x%llx-0x%llx; refused",
			  bus->owner, space_name[space], (unsigned long long)base,
			  (unsigned long long)last, (unsigned long long)old->e[at].base,
			  (unsigned long long)old->e[at].last);
		pthread_mutex_unlock(&bus->lock);
		return -EBUSY;
	}
	uint32_t n = old ? old->n : 0;

	next = malloc(sizeof(*next) + sizeof(struct entry) * (n + 1));
	if (!next) {
		pthread_mutex_unlock(&bus->lock);
		return -ENOMEM;
	}
	next->n = n + 1;
	next->retired_next = NULL;
	/* Insert after @at, keeping the array sorted by base. */
	size_t head = (size_t)(at + 1);

	if (head)
		memcpy(next->e, old->e, head * sizeof(struct entry));
	next->e[head] = (struct entry){ .base = base, .last = last, .fn = fn, .ud = ud };
	if (n > head)
		memcpy(&next->e[head + 1], &old->e[head], (n - head) * sizeof(struct entry));
	replace(bus, sp, old, next);
	pthread_mutex_unlock(&bus->lock);
	return 0;
}

MODVM_INTERNAL int modvm__iobus_del(struct modvm__iobus *bus, enum modvm_iobus_space space,
				    uint64_t base)
{
	struct snapshot *old, *next = NULL;
	struct space *sp;
	long at;

	if (!space_ok(space))
		return -EINVAL;
	sp = &bus->space[space];
	pthread_mutex_lock(&bus->lock);
	old = atomic_load(&sp->snap);
	at = old ? find(old, base) : -1;
	if (at < 0 || old->e[at].base != base) {
		pthread_mutex_unlock(&bus->lock);
		return -ENOENT;
	}
	if (old->n > 1) {
		next = malloc(sizeof(*next) + sizeof(struct entry) * (old->n - 1));
		if (!next) {
			pthread_mutex_unlock(&bus->lock);
			return -ENOMEM;
		}
		next->n = old->n - 1;
		next->retired_next = NULL;
		memcpy(next->e, old->e, (size_t)at * sizeof(struct entry));
		memcpy(&next->e[at], &old->e[at + 1], (old->n - (size_t)at - 1) * sizeof(struct entry));
	}
	replace(bus, sp, old, next);
	pthread_mutex_unlock(&bus->lock);
	return 0;
}

/* Debug lines for unhandled accesses at counts 1, 2, 4, 8, …: a guest probing
 * absent devices in a loop must not flood the log. */
static void count_unhandled(struct modvm__iobus *bus, enum modvm_iobus_space space,
			    uint64_t addr, uint32_t len, bool is_write)
{
	struct space *sp = &bus->space[space];
	uint64_t n = atomic_fetch_add_explicit(is_write ? &sp->unhandled_writes
							: &sp->unhandled_reads,
					       1, memory_order_relaxed) + 1;

	if ((n & (n - 1)) == 0 && modvm_log_get_level() >= MODVM_LOG_DEBUG)
		modvm_log(MODVM_LOG_DEBUG, NULL,
			  "vm '%s': unhandled %s %s at 0x%llx len %u (%llu so far)", bus->owner,
			  space_name[space], is_write ? "write" : "read", (unsigned long long)addr,
			  len, (unsigned long long)n);
}

MODVM_INTERNAL bool modvm__iobus_dispatch(struct modvm__iobus *bus, unsigned reader,
					  enum modvm_iobus_space space, uint64_t addr,
					  uint8_t *data, uint32_t len, bool is_write)
{
	struct reader *r = &bus->readers[reader];
	uint64_t seq = atomic_load_explicit(&r->seq, memory_order_relaxed);
	struct reader *outer = active_reader;
	const struct snapshot *snap;
	bool handled = false;
	long at;

	/*
	 * seq_cst exchange then seq_cst load, against the writer's seq_cst store
	 * then load: in the single total order either the writer sees us odd or
	 * we see its new table.  (An xchg is cheaper than store + mfence.)
	 */
	atomic_exchange(&r->seq, seq + 1);
	snap = atomic_load(&bus->space[space].snap);
	at = snap && len ? find(snap, addr) : -1;
	if (at >= 0 && addr <= snap->e[at].last && len - 1 <= snap->e[at].last - addr) {
		const struct entry *e = &snap->e[at];

		active_reader = r;
		e->fn(e->ud, addr - e->base, data, len, is_write);
		active_reader = outer;
		handled = true;
	}
	atomic_store_explicit(&r->seq, seq + 2, memory_order_release);

	if (!handled) {
		if (!is_write)
			memset(data, 0xff, len);
		count_unhandled(bus, space, addr, len, is_write);
	}
	return handled;
}

MODVM_INTERNAL int modvm__iobus_stats(struct modvm__iobus *bus, enum modvm_iobus_space space,
				      struct modvm_iobus_stats *out)
{
	struct snapshot *snap;

	if (!space_ok(space))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->unhandled_reads = atomic_load(&bus->space[space].unhandled_reads);
	out->unhandled_writes = atomic_load(&bus->space[space].unhandled_writes);
	pthread_mutex_lock(&bus->lock);
	snap = atomic_load(&bus->space[space].snap);
	out->ranges = snap ? snap->n : 0;
	pthread_mutex_unlock(&bus->lock);
	return 0;
}

/* ---- public wrappers ---- */

MODVM_EXPORT int modvm_iobus_register(struct modvm_vm *vm, enum modvm_iobus_space space,
				      uint64_t base, uint64_t len, modvm_iobus_handler handler,
				      void *userdata)
{
	return modvm__iobus_add(vm->iobus, space, base, len, handler, userdata);
}

MODVM_EXPORT int modvm_iobus_unregister(struct modvm_vm *vm, enum modvm_iobus_space space,
					uint64_t base)
{
	return modvm__iobus_del(vm->iobus, space, base);
}

MODVM_EXPORT int modvm_iobus_get_stats(struct modvm_vm *vm, enum modvm_iobus_space space,
				       struct modvm_iobus_stats *out)
{
	return modvm__iobus_stats(vm->iobus, space, out);
}
