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
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "internal.h"

#define MAX_TYPES 1024
#define QUEUE_LIMIT (64u << 20)	/* bytes of queued payloads per bus */
#define REFUSED (-2)		/* id_cache value of a desc that failed validation */

struct type_info {
	char *name;
	uint32_t size;
	uint32_t version;
};

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
	char owner[32];
};

struct slot {
	struct sub *subs;
	uint64_t published;	/* atomic */
	uint64_t delivered;
	uint64_t dropped;	/* atomic */
	uint32_t live;
};

/* A queued event: header followed by the payload, padded to 8 bytes. */
struct record {
	uint32_t type;
	uint32_t size;
};

struct queue_buf {
	unsigned char *data;
	size_t len, cap;
};

struct modvm_bus {
	struct modvm_loop *loop;
	struct slot *slots;	/* MAX_TYPES entries */
	int next_sub_id;
	int dispatch_depth;
	bool need_sweep;
	bool trace;
	ev_async wakeup;
	pthread_mutex_t qlock;
	struct queue_buf queue, spare;
};

static __thread const char *tls_owner;

MODVM_INTERNAL void modvm__bus_set_owner(const char *owner)
{
	tls_owner = owner;
}

/* ---- registry ---- */

static int registry_find_locked(const char *name)
{
	for (int i = 0; i < registry_count; i++)
		if (strcmp(registry[i].name, name) == 0)
			return i;
	return -1;
}

/* Returns the type id for @desc, registering it on first use. */
static int resolve_type(struct modvm_event_desc *desc)
{
	int id = __atomic_load_n(&desc->id_cache, __ATOMIC_ACQUIRE);
	if (id >= 0)
		return id;
	if (id == REFUSED)
		return -EPROTO;
	if (desc->struct_size < sizeof(struct modvm_event_desc) - sizeof(int32_t) ||
	    !desc->name || !desc->name[0] || desc->payload_size == 0) {
		modvm_log(MODVM_LOG_ERROR, NULL, "event %s: invalid descriptor",
			  desc->name ? desc->name : "(null)");
		return -EINVAL;
	}

	pthread_mutex_lock(&registry_lock);
	int ret = registry_find_locked(desc->name);
	if (ret >= 0) {
		const struct type_info *t = &registry[ret];
		if (t->size != desc->payload_size || t->version != desc->version) {
			modvm_log(MODVM_LOG_ERROR, NULL,
				  "event %s: payload of %u bytes version %u does not match the "
				  "registered %u bytes version %u (built against another layout?)",
				  desc->name, desc->payload_size, desc->version, t->size,
				  t->version);
			__atomic_store_n(&desc->id_cache, REFUSED, __ATOMIC_RELEASE);
			ret = -EPROTO;
		}
	} else if (registry_count >= MAX_TYPES) {
		modvm_log(MODVM_LOG_ERROR, NULL, "event %s: more than %d event types", desc->name,
			  MAX_TYPES);
		ret = -ENOSPC;
	} else {
		char *name = strdup(desc->name);
		if (!name) {
			ret = -ENOMEM;
		} else {
			ret = registry_count;
			registry[ret] = (struct type_info){ name, desc->payload_size, desc->version };
			__atomic_store_n(&registry_count, ret + 1, __ATOMIC_RELEASE);
		}
	}
	if (ret >= 0)
		__atomic_store_n(&desc->id_cache, ret, __ATOMIC_RELEASE);
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

static void sweep(struct modvm_bus *bus)
{
	int n = __atomic_load_n(&registry_count, __ATOMIC_ACQUIRE);
	for (int t = 0; t < n; t++) {
		struct sub **pp = &bus->slots[t].subs;
		while (*pp) {
			struct sub *s = *pp;
			if (s->dead) {
				*pp = s->next;
				free(s);
			} else {
				pp = &s->next;
			}
		}
	}
	bus->need_sweep = false;
}

static void dispatch(struct modvm_bus *bus, int type, const void *payload)
{
	struct slot *slot = &bus->slots[type];
	bus->dispatch_depth++;
	for (struct sub *s = slot->subs; s; s = s->next) {
		if (s->dead)
			continue;
		if (bus->trace)
			modvm_log(MODVM_LOG_INFO, NULL, "event %s #%llu -> %s (prio %d)",
				  registry[type].name,
				  (unsigned long long)__atomic_load_n(&slot->published,
								      __ATOMIC_RELAXED),
				  s->owner, s->priority);
		slot->delivered++;
		s->trampoline(payload, s->handler, s->userdata);
	}
	if (--bus->dispatch_depth == 0 && bus->need_sweep)
		sweep(bus);
}

static void drain(struct modvm_bus *bus)
{
	pthread_mutex_lock(&bus->qlock);
	struct queue_buf batch = bus->queue;
	bus->queue = bus->spare;
	bus->queue.len = 0;
	bus->spare = (struct queue_buf){ 0 };
	pthread_mutex_unlock(&bus->qlock);

	size_t off = 0;
	while (off < batch.len) {
		const struct record *r = (const void *)(batch.data + off);
		dispatch(bus, (int)r->type, batch.data + off + sizeof(*r));
		off += sizeof(*r) + ((r->size + 7u) & ~7u);
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

static int enqueue(struct modvm_bus *bus, int type, const void *payload, uint32_t size)
{
	size_t need = sizeof(struct record) + ((size + 7u) & ~7u);
	struct slot *slot = &bus->slots[type];

	pthread_mutex_lock(&bus->qlock);
	struct queue_buf *q = &bus->queue;
	if (q->len + need > QUEUE_LIMIT) {
		pthread_mutex_unlock(&bus->qlock);
		__atomic_add_fetch(&slot->dropped, 1, __ATOMIC_RELAXED);
		return -EAGAIN;
	}
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
	struct record *r = (void *)(q->data + q->len);
	r->type = (uint32_t)type;
	r->size = size;
	memcpy(q->data + q->len + sizeof(*r), payload, size);
	q->len += need;
	__atomic_add_fetch(&slot->published, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&bus->qlock);

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
	if (size != registry[type].size) {
		modvm_log(MODVM_LOG_ERROR, NULL, "event %s: published %zu bytes, type has %u",
			  desc->name, size, registry[type].size);
		return -EINVAL;
	}
	if (!modvm_loop_on_thread(bus->loop))
		return enqueue(bus, type, payload, (uint32_t)size);

	__atomic_add_fetch(&bus->slots[type].published, 1, __ATOMIC_RELAXED);
	dispatch(bus, type, payload);
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
	s->id = ++bus->next_sub_id;
	s->priority = priority;
	s->trampoline = trampoline;
	s->handler = handler;
	s->userdata = userdata;
	snprintf(s->owner, sizeof(s->owner), "%s", tls_owner ? tls_owner : "core");

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
	if (!bus || id <= 0)
		return -EINVAL;
	int n = __atomic_load_n(&registry_count, __ATOMIC_ACQUIRE);
	for (int t = 0; t < n; t++) {
		for (struct sub *s = bus->slots[t].subs; s; s = s->next) {
			if (s->id == id && !s->dead) {
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
		off += sizeof(*r) + ((r->size + 7u) & ~7u);
	}
	free(bus->queue.data);
	free(bus->spare.data);

	for (int t = 0; t < MAX_TYPES; t++) {
		struct sub *s = bus->slots[t].subs;
		while (s) {
			struct sub *next = s->next;
			free(s);
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
