/*
 * The typed event bus.
 *
 * Types live in a process-wide registry (names are unique per process and a
 * name keeps the payload layout it was first registered with).  Each bus
 * keeps, per type, a priority-sorted list of subscriptions and counters.
 * Publishing on the loop thread delivers synchronously; other threads append
 * a copy to a queue that an ev_async drains on the loop thread, in order.
 *
 * The per-bus slot array is sized for the registry's maximum up front so it
 * is never reallocated: other threads may bump counters in it concurrently.
 *
 * Subscribing, unsubscribing and delivery happen on the loop thread only, so
 * the subscriber lists need no lock; the synchronous publish path takes no
 * lock and allocates nothing (the type comes from desc->id_cache).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "event/event.h"

#define MAX_TYPES 1024
#define QUEUE_LIMIT (64u << 20)	/* bytes waiting for the loop thread, per bus */
#define REFUSED (-2)		/* id_cache of a desc refused for its layout */

struct type_info {
	char *name;
	uint32_t size;
	uint32_t version;
	struct modvm_event_field *fields;	/* a copy (names too), NULL if none yet */
	uint32_t nfields;
};

/* The last refusal of a descriptor or a publish, for the conformance kit. */
static struct {
	unsigned count;
	char last[480];
} refusals;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct type_info registry[MAX_TYPES];
static int registry_count;	/* atomic reads outside the lock */

struct sub {
	struct sub *next;
	int id;
	int priority;
	bool dead;
	modvm_bus_trampoline trampoline;
	modvm_fn handler;
	void *userdata;
	char *owner;	/* a copy: unsubscribe_owner compares it with full names */
};

struct slot {
	struct sub *subs;
	uint64_t published;	/* atomic */
	uint64_t delivered;
	uint64_t dropped;	/* atomic */
	uint32_t live;
};

/* A queued event: header followed by the payload, padded to 8 bytes.  The
 * sequence number is taken at publish time so a trace names the event the
 * publisher sent, not whatever the counter reads at delivery. */
struct record {
	uint32_t type;
	uint32_t size;
	uint64_t seq;
};

static size_t record_len(uint32_t size)
{
	return sizeof(struct record) + ((size + 7u) & ~(size_t)7u);
}

struct queue_buf {
	unsigned char *data;
	size_t len, cap;
};

struct modvm_bus {
	struct modvm_loop *loop;
	struct slot *slots;	/* MAX_TYPES entries */
	/* The watchdog's deadline on a plugin's handler (0: none), and its
	 * grace after a stop signal (modvm__bus_set_handler_timeout). */
	double handler_timeout_s, handler_grace_s;
	int next_sub_id;
	int dispatch_depth;
	bool need_sweep;
	bool trace;
	bool draining;
	ev_async wakeup;
	pthread_mutex_t qlock;
	struct queue_buf queue, spare;	/* under qlock */
	bool full_warned;		/* under qlock; one warning per full episode */
};

/* initial-exec: the SIGSYS handler reads it (modvm__bus_owner), and that
 * model never allocates on access. */
static __thread const char *tls_owner __attribute__((tls_model("initial-exec")));

MODVM_INTERNAL void modvm__bus_set_owner(const char *owner)
{
	tls_owner = owner;
}

MODVM_INTERNAL const char *modvm__bus_owner(void)
{
	return tls_owner;
}

MODVM_INTERNAL void modvm__bus_set_handler_timeout(struct modvm_bus *bus, double timeout_s,
						   double grace_s)
{
	bus->handler_timeout_s = timeout_s;
	bus->handler_grace_s = grace_s;
	if (timeout_s > 0)
		modvm__watchdog_prepare();
}

/* ---- registry ---- */

static int register_type(struct modvm_event_desc *desc);

/*
 * Returns the type id for @desc; after the first use, one load and no lock.
 * id_cache holds the slot plus one, so a hand-built desc that leaves it 0
 * (instead of MODVM_EVENT's -1) is registered, not taken for slot 0.
 */
static inline int resolve_type(struct modvm_event_desc *desc)
{
	int cached = __atomic_load_n(&desc->id_cache, __ATOMIC_ACQUIRE);
	if (__builtin_expect(cached > 0, 1))
		return cached - 1;
	return register_type(desc);
}

static int registry_find_locked(const char *name)
{
	for (int i = 0; i < registry_count; i++)
		if (strcmp(registry[i].name, name) == 0)
			return i;
	return -1;
}

/* Logs @fmt as one error line and keeps it as the last refusal.  Locked
 * or not: the record is only read by the kit, from the loop thread. */
MODVM_PRINTF(1, 2) static void refuse(const char *fmt, ...)
{
	char line[400];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	modvm_log(MODVM_LOG_ERROR, NULL, "%s", line);
	__atomic_add_fetch(&refusals.count, 1, __ATOMIC_RELAXED);
	n = snprintf(refusals.last, sizeof(refusals.last), "%.400s (by %.64s)", line,
		     tls_owner ? tls_owner : "core");
	(void)n;
}

MODVM_INTERNAL unsigned modvm__bus_refusals(char *last, size_t len)
{
	if (last && len)
		snprintf(last, len, "%s", refusals.last);
	return __atomic_load_n(&refusals.count, __ATOMIC_RELAXED);
}

/* The member list of @desc, if its ABI has one and it gave one. */
static bool has_fields(const struct modvm_event_desc *desc)
{
	return desc->struct_size >= offsetof(struct modvm_event_desc, nfields) + sizeof(uint32_t) &&
	       desc->fields && desc->nfields;
}

static bool new_abi(const struct modvm_event_desc *desc)
{
	return desc->struct_size >= offsetof(struct modvm_event_desc, nfields) + sizeof(uint32_t);
}

static int by_offset(const void *a, const void *b)
{
	const struct modvm_event_field *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

#define MAX_FIELDS 256
#define PADDING_MAX 8	/* a gap this large is a forgotten member, not padding */

/* "name@offset+size ..." of a list, cut to @len. */
static void layout_text(const struct modvm_event_field *f, uint32_t n, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < n && used < len; i++) {
		int w = snprintf(buf + used, len - used, "%s%s@%u+%u", i ? " " : "", f[i].name,
				 f[i].offset, f[i].size);
		used += w > 0 ? (size_t)w : 0;
	}
}

/*
 * A member list must name real members: inside the payload, none on top
 * of another, no gap of PADDING_MAX or more (a forgotten member).  The
 * list is checked sorted by offset, in @sorted (nfields entries).
 */
static int check_fields(const struct modvm_event_desc *desc, struct modvm_event_field *sorted)
{
	uint32_t n = desc->nfields, end = 0;

	if (n > MAX_FIELDS) {
		refuse("event %s: %u members listed (at most %d)", desc->name, n, MAX_FIELDS);
		return -EINVAL;
	}
	memcpy(sorted, desc->fields, n * sizeof(*sorted));
	for (uint32_t i = 0; i < n; i++) {
		if (!sorted[i].name || !sorted[i].name[0] || sorted[i].size == 0 ||
		    sorted[i].offset > desc->payload_size ||
		    sorted[i].size > desc->payload_size - sorted[i].offset) {
			refuse("event %s: member #%u (%s) lies outside the %u-byte payload",
			       desc->name, i, sorted[i].name ? sorted[i].name : "(no name)",
			       desc->payload_size);
			return -EINVAL;
		}
	}
	qsort(sorted, n, sizeof(*sorted), by_offset);
	for (uint32_t i = 0; i < n; i++) {
		if (sorted[i].offset < end) {
			refuse("event %s: member %s at %u overlaps the one before", desc->name,
			       sorted[i].name, sorted[i].offset);
			return -EINVAL;
		}
		if (sorted[i].offset - end >= PADDING_MAX) {
			refuse("event %s: bytes %u..%u are in no listed member (one forgotten?)",
			       desc->name, end, sorted[i].offset);
			return -EINVAL;
		}
		end = sorted[i].offset + sorted[i].size;
	}
	if (desc->payload_size - end >= PADDING_MAX) {
		refuse("event %s: bytes %u..%u are in no listed member (one forgotten?)",
		       desc->name, end, desc->payload_size);
		return -EINVAL;
	}
	return 0;
}

static bool same_fields(const struct modvm_event_field *a, const struct modvm_event_field *b,
			uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (a[i].offset != b[i].offset || a[i].size != b[i].size ||
		    strcmp(a[i].name, b[i].name) != 0)
			return false;
	return true;
}

/* A registry copy of a sorted list (names duplicated); NULL on ENOMEM. */
static struct modvm_event_field *copy_fields(const struct modvm_event_field *f, uint32_t n)
{
	struct modvm_event_field *c = calloc(n, sizeof(*c));

	for (uint32_t i = 0; c && i < n; i++) {
		c[i] = f[i];
		c[i].name = strdup(f[i].name);
		if (!c[i].name) {
			while (i-- > 0)
				free((char *)c[i].name);
			free(c);
			return NULL;
		}
	}
	return c;
}

/* Compares the layout of @desc (sorted in @mine) with registered @t. */
static int match_layout(const struct modvm_event_desc *desc, const struct modvm_event_field *mine,
			struct type_info *t)
{
	char a[200], b[200];

	if (!t->fields) {
		/* The first list for this name: from now on it is the reference. */
		if (mine && (t->fields = copy_fields(mine, desc->nfields)))
			t->nfields = desc->nfields;
		return 0;
	}
	if (!mine) {
		if (!new_abi(desc))
			return 0;	/* built before layouts existed: size and version only */
		refuse("event %s: declared without its member list (MODVM_EVENT), but it is "
		       "registered with one: declare it with MODVM_EVENT_FIELDS, or use its "
		       "SDK header", desc->name);
		return -EPROTO;
	}
	if (desc->nfields == t->nfields && same_fields(mine, t->fields, t->nfields))
		return 0;
	layout_text(mine, desc->nfields, a, sizeof(a));
	layout_text(t->fields, t->nfields, b, sizeof(b));
	refuse("event %s v%u: members %s do not match the registered %s (built against another "
	       "layout?)", desc->name, desc->version, a, b);
	return -EPROTO;
}

/* The first use of a desc: validate it, find or add its name, cache the slot. */
static __attribute__((noinline)) int register_type(struct modvm_event_desc *desc)
{
	static struct modvm_event_field sorted[MAX_FIELDS];	/* under registry_lock */
	if (__atomic_load_n(&desc->id_cache, __ATOMIC_ACQUIRE) == REFUSED)
		return -EPROTO;
	/* struct_size is checked before the fields after it are trusted. */
	if (desc->struct_size < offsetof(struct modvm_event_desc, id_cache) + sizeof(int32_t)) {
		modvm_log(MODVM_LOG_ERROR, NULL,
			  "event descriptor of %u bytes is too small (need %zu)", desc->struct_size,
			  offsetof(struct modvm_event_desc, id_cache) + sizeof(int32_t));
		return -EINVAL;
	}
	if (!desc->name || !desc->name[0] || desc->payload_size == 0) {
		modvm_log(MODVM_LOG_ERROR, NULL, "event %s: invalid descriptor (%s)",
			  desc->name && desc->name[0] ? desc->name : "(no name)",
			  desc->payload_size == 0 ? "payload size 0" : "empty name");
		return -EINVAL;
	}

	pthread_mutex_lock(&registry_lock);
	const struct modvm_event_field *mine = NULL;
	int ret = 0;
	if (has_fields(desc)) {
		ret = check_fields(desc, sorted);
		mine = sorted;
	}
	if (ret < 0) {
		__atomic_store_n(&desc->id_cache, REFUSED, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&registry_lock);
		return ret;
	}
	ret = registry_find_locked(desc->name);
	if (ret >= 0) {
		struct type_info *t = &registry[ret];
		int e = 0;
		if (t->size != desc->payload_size || t->version != desc->version) {
			refuse("event %s: payload of %u bytes version %u does not match the "
			       "registered %u bytes version %u (built against another layout?)",
			       desc->name, desc->payload_size, desc->version, t->size, t->version);
			e = -EPROTO;
		} else {
			e = match_layout(desc, mine, t);
		}
		if (e < 0) {
			__atomic_store_n(&desc->id_cache, REFUSED, __ATOMIC_RELEASE);
			ret = e;
		}
	} else if (registry_count >= MAX_TYPES) {
		modvm_log(MODVM_LOG_ERROR, NULL, "event %s: more than %d event types", desc->name,
			  MAX_TYPES);
		ret = -ENOSPC;
	} else {
		char *name = strdup(desc->name);
		struct modvm_event_field *f = mine ? copy_fields(mine, desc->nfields) : NULL;
		if (!name || (mine && !f)) {
			free(name);
			free(f);
			ret = -ENOMEM;
		} else {
			ret = registry_count;
			registry[ret] = (struct type_info){ name, desc->payload_size, desc->version, f,
							    f ? desc->nfields : 0 };
			__atomic_store_n(&registry_count, ret + 1, __ATOMIC_RELEASE);
		}
	}
	if (ret >= 0)
		__atomic_store_n(&desc->id_cache, ret + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&registry_lock);
	return ret;
}

MODVM_EXPORT int modvm_bus_register(struct modvm_event_desc *desc)
{
	if (!desc)
		return -EINVAL;
	int id = resolve_type(desc);
	return id < 0 ? id : 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(registry[*(const int *)a].name, registry[*(const int *)b].name);
}

MODVM_INTERNAL void modvm__bus_foreach_type(void (*fn)(const char *name, uint32_t size,
						       uint32_t version, void *ud),
					    void *ud)
{
	int order[MAX_TYPES];
	pthread_mutex_lock(&registry_lock);
	int n = registry_count;
	for (int i = 0; i < n; i++)
		order[i] = i;
	qsort(order, (size_t)n, sizeof(order[0]), cmp_names);
	pthread_mutex_unlock(&registry_lock);
	/* Entries are never removed or changed, so reading them unlocked is safe. */
	for (int i = 0; i < n; i++)
		fn(registry[order[i]].name, registry[order[i]].size, registry[order[i]].version, ud);
}

/* ---- delivery ---- */

static void free_sub(struct sub *s)
{
	free(s->owner);
	free(s);
}

static void sweep(struct modvm_bus *bus)
{
	int n = __atomic_load_n(&registry_count, __ATOMIC_ACQUIRE);
	for (int t = 0; t < n; t++) {
		struct sub **pp = &bus->slots[t].subs;
		while (*pp) {
			struct sub *s = *pp;
			if (s->dead) {
				*pp = s->next;
				free_sub(s);
			} else {
				pp = &s->next;
			}
		}
	}
	bus->need_sweep = false;
}

/*
 * Walking on after a handler ran is safe: an unsubscribed entry is only
 * marked dead while any dispatch is on the stack, and entries subscribed
 * meanwhile are linked in without moving the others.
 */
static void dispatch(struct modvm_bus *bus, int type, const void *payload, uint64_t seq)
{
	struct slot *slot = &bus->slots[type];
	bus->dispatch_depth++;
	for (struct sub *s = slot->subs; s; s = s->next) {
		if (s->dead)
			continue;
		if (bus->trace)
			modvm_log(MODVM_LOG_INFO, NULL, "event %s #%llu -> %s (prio %d)",
				  registry[type].name, (unsigned long long)seq, s->owner,
				  s->priority);
		slot->delivered++;
		/* The handler runs as its subscriber: what it subscribes is that
		 * plugin's (removed with it), what the bus refuses names it. */
		const char *caller = tls_owner;
		tls_owner = strcmp(s->owner, "core") != 0 ? s->owner : NULL;
		/* A plugin's handler that never returns holds the loop thread, and
		 * with it every stop signal: the watchdog bounds it as it does a
		 * lifecycle call (one already armed outside keeps its deadline). */
		bool guarded = tls_owner && bus->handler_timeout_s > 0;
		if (guarded) {
			char what[160];
			snprintf(what, sizeof(what), "plugin %s: handler of %s", s->owner,
				 registry[type].name);
			modvm__watchdog_arm(what, bus->handler_timeout_s, bus->handler_grace_s);
		}
		s->trampoline(payload, s->handler, s->userdata);
		if (guarded)
			modvm__watchdog_disarm();
		tls_owner = caller;
	}
	if (--bus->dispatch_depth == 0 && bus->need_sweep)
		sweep(bus);
}

/*
 * Takes the whole queue in one swap, so producers hold the lock only for a
 * memcpy and the loop thread delivers a batch without touching the lock.
 * A nested drain (a handler running the loop) returns at once: delivering
 * newer events before the outer batch is done would break publish order.
 */
static void drain(struct modvm_bus *bus)
{
	if (bus->draining)
		return;
	bus->draining = true;
	pthread_mutex_lock(&bus->qlock);
	struct queue_buf batch = bus->queue;
	bus->queue = bus->spare;
	bus->queue.len = 0;
	bus->spare = (struct queue_buf){ 0 };
	bus->full_warned = false;
	pthread_mutex_unlock(&bus->qlock);

	size_t off = 0;
	while (off < batch.len) {
		const struct record *r = (const void *)(batch.data + off);
		dispatch(bus, (int)r->type, batch.data + off + sizeof(*r), r->seq);
		off += record_len(r->size);
	}

	/* Keep the drained buffer as the next spare so steady state never mallocs. */
	pthread_mutex_lock(&bus->qlock);
	if (!bus->spare.data) {
		batch.len = 0;
		bus->spare = batch;
		batch.data = NULL;
	}
	pthread_mutex_unlock(&bus->qlock);
	free(batch.data);
	bus->draining = false;
}

static void on_wakeup(struct ev_loop *ev, ev_async *w, int revents)
{
	(void)ev;
	(void)revents;
	drain(w->data);
}

MODVM_INTERNAL void modvm__bus_drain(struct modvm_bus *bus)
{
	drain(bus);
}

static int queue_full(struct modvm_bus *bus, int type)
{
	bool warn = !bus->full_warned;
	bus->full_warned = true;
	pthread_mutex_unlock(&bus->qlock);
	__atomic_add_fetch(&bus->slots[type].dropped, 1, __ATOMIC_RELAXED);
	if (warn)
		modvm_log(MODVM_LOG_WARN, NULL,
			  "event %s: cross-thread queue full (%u MiB waiting for the loop "
			  "thread), dropping events until it catches up",
			  registry[type].name, QUEUE_LIMIT >> 20);
	return -EAGAIN;
}

static int enqueue(struct modvm_bus *bus, int type, const void *payload, uint32_t size)
{
	size_t need = record_len(size);
	struct slot *slot = &bus->slots[type];

	pthread_mutex_lock(&bus->qlock);
	struct queue_buf *q = &bus->queue;
	if (q->len + need > QUEUE_LIMIT)
		return queue_full(bus, type);	/* unlocks */
	if (q->len + need > q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64 * 1024;
		while (cap < q->len + need)
			cap *= 2;
		unsigned char *data = realloc(q->data, cap);
		if (!data) {
			pthread_mutex_unlock(&bus->qlock);
			__atomic_add_fetch(&slot->dropped, 1, __ATOMIC_RELAXED);
			return -ENOMEM;
		}
		q->data = data;
		q->cap = cap;
	}
	/* Only the push that makes the queue non-empty wakes the loop: the
	 * drain it triggers swaps out everything pushed after it too, and
	 * ev_async_send costs a full fence plus a shared cache line. */
	bool wake = q->len == 0;
	struct record *r = (void *)(q->data + q->len);
	r->type = (uint32_t)type;
	r->size = size;
	/* Taken under qlock, so sequence order is queue order. */
	r->seq = __atomic_add_fetch(&slot->published, 1, __ATOMIC_RELAXED);
	memcpy(q->data + q->len + sizeof(*r), payload, size);
	q->len += need;
	pthread_mutex_unlock(&bus->qlock);

	if (wake)
		ev_async_send(modvm__loop_ev(bus->loop), &bus->wakeup);
	return 0;
}

MODVM_EXPORT int modvm_bus_publish(struct modvm_bus *bus, struct modvm_event_desc *desc,
				   const void *payload, size_t size)
{
	if (!bus || !desc || !payload)
		return -EINVAL;
	int type = resolve_type(desc);
	if (type < 0)
		return type;
	if (size != desc->payload_size) {
		refuse("event %s: published %zu bytes, type has %u", desc->name, size,
		       desc->payload_size);
		return -EINVAL;
	}
	if (!modvm_loop_on_thread(bus->loop))
		return enqueue(bus, type, payload, (uint32_t)size);

	uint64_t seq = __atomic_add_fetch(&bus->slots[type].published, 1, __ATOMIC_RELAXED);
	dispatch(bus, type, payload, seq);
	return 0;
}

MODVM_EXPORT int modvm_bus_subscribe(struct modvm_bus *bus, struct modvm_event_desc *desc,
				     int priority, modvm_bus_trampoline trampoline,
				     modvm_fn handler, void *userdata)
{
	if (!bus || !desc || !trampoline || !handler)
		return -EINVAL;
	int type = resolve_type(desc);
	if (type < 0)
		return type;
	struct sub *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->owner = strdup(tls_owner ? tls_owner : "core");
	if (!s->owner) {
		free(s);
		return -ENOMEM;
	}
	s->id = ++bus->next_sub_id;
	s->priority = priority;
	s->trampoline = trampoline;
	s->handler = handler;
	s->userdata = userdata;

	/* Insert after every subscription of equal or higher priority. */
	struct sub **pp = &bus->slots[type].subs;
	while (*pp && (*pp)->priority >= priority)
		pp = &(*pp)->next;
	s->next = *pp;
	*pp = s;
	bus->slots[type].live++;
	return s->id;
}

static void kill_sub(struct modvm_bus *bus, int type, struct sub *s)
{
	s->dead = true;
	bus->slots[type].live--;
	bus->need_sweep = true;
}

MODVM_EXPORT int modvm_bus_unsubscribe(struct modvm_bus *bus, int id)
{
	if (!bus)
		return -EINVAL;
	int n = __atomic_load_n(&registry_count, __ATOMIC_ACQUIRE);
	for (int t = 0; t < n; t++) {
		for (struct sub *s = bus->slots[t].subs; s; s = s->next) {
			if (s->id == id && !s->dead) {
				/* A plugin removes its own subscriptions only; the
				 * core (no plugin on the stack) any. */
				if (tls_owner && strcmp(tls_owner, s->owner) != 0) {
					refuse("bus: %s may not unsubscribe #%d, %s's subscription "
					       "to %s", tls_owner, id, s->owner, registry[t].name);
					return -EPERM;
				}
				kill_sub(bus, t, s);
				if (bus->dispatch_depth == 0)
					sweep(bus);
				return 0;
			}
		}
	}
	return -ENOENT;
}

MODVM_INTERNAL int modvm__bus_unsubscribe_owner(struct modvm_bus *bus, const char *owner)
{
	int removed = 0;
	int n = __atomic_load_n(&registry_count, __ATOMIC_ACQUIRE);
	for (int t = 0; t < n; t++)
		for (struct sub *s = bus->slots[t].subs; s; s = s->next)
			if (!s->dead && strcmp(s->owner, owner ? owner : "core") == 0) {
				kill_sub(bus, t, s);
				removed++;
			}
	if (removed && bus->dispatch_depth == 0)
		sweep(bus);
	return removed;
}

MODVM_EXPORT int modvm_bus_get_stats(struct modvm_bus *bus, const char *name,
				     struct modvm_bus_stats *out)
{
	if (!bus || !name || !out)
		return -EINVAL;
	pthread_mutex_lock(&registry_lock);
	int type = registry_find_locked(name);
	pthread_mutex_unlock(&registry_lock);
	if (type < 0)
		return -ENOENT;
	const struct slot *slot = &bus->slots[type];
	out->published = __atomic_load_n(&slot->published, __ATOMIC_RELAXED);
	out->delivered = slot->delivered;
	out->dropped = __atomic_load_n(&slot->dropped, __ATOMIC_RELAXED);
	out->subscribers = slot->live;
	return 0;
}

/* ---- lifetime ---- */

MODVM_INTERNAL struct modvm_bus *modvm__bus_new(struct modvm_loop *loop)
{
	if (!loop)
		return NULL;
	struct modvm_bus *bus = calloc(1, sizeof(*bus));
	if (!bus)
		return NULL;
	bus->slots = calloc(MAX_TYPES, sizeof(*bus->slots));
	if (!bus->slots) {
		free(bus);
		return NULL;
	}
	bus->loop = loop;
	pthread_mutex_init(&bus->qlock, NULL);
	ev_async_init(&bus->wakeup, on_wakeup);
	bus->wakeup.data = bus;
	ev_async_start(modvm__loop_ev(loop), &bus->wakeup);
	/* The bus alone must not keep the loop running. */
	ev_unref(modvm__loop_ev(loop));
	return bus;
}

MODVM_INTERNAL void modvm__bus_free(struct modvm_bus *bus)
{
	if (!bus)
		return;
	ev_ref(modvm__loop_ev(bus->loop));
	ev_async_stop(modvm__loop_ev(bus->loop), &bus->wakeup);

	size_t off = 0;
	while (off < bus->queue.len) {
		const struct record *r = (const void *)(bus->queue.data + off);
		__atomic_add_fetch(&bus->slots[r->type].dropped, 1, __ATOMIC_RELAXED);
		off += record_len(r->size);
	}
	free(bus->queue.data);
	free(bus->spare.data);

	for (int t = 0; t < MAX_TYPES; t++) {
		struct sub *s = bus->slots[t].subs;
		while (s) {
			struct sub *next = s->next;
			free_sub(s);
			s = next;
		}
	}
	free(bus->slots);
	pthread_mutex_destroy(&bus->qlock);
	free(bus);
}

MODVM_INTERNAL void modvm__bus_set_trace(struct modvm_bus *bus, bool on)
{
	bus->trace = on;
}
