/*
 * What `modvm ctl SOCKET status` reports beyond VM states: the standard
 * events of the feature plugins (balloon sizes, guest stats, NIC queues,
 * host memory pressure, parked cores), recorded as they are published on
 * the loop thread, where the control socket answers too.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/config.h>
#include <modvm/events.h>
#include <modvm/vm.h>

#include "host/control_status.h"

#define CPU_LIMIT 4096	/* host cores beyond this are not tracked */

/* What the standard events last said about one VM (for `status`). */
struct vm_seen {
	bool has_target, has_actual, has_stats, has_nic, has_state;
	uint64_t target, actual;
	struct modvm_mem_balloon_state state;	/* the mechanism's word, when it has one */
	struct modvm_mem_guest_stats stats;
	struct modvm_net_queue_assigned nic;
};

/* One host core: -1 where no event said anything yet. */
struct core_seen {
	int8_t parked;
	int32_t busy_permille;
};

enum { SUB_TARGET, SUB_ACTUAL, SUB_STATS, SUB_NIC, SUB_PRESSURE, SUB_CORE, SUB_LOAD, SUB_STATE,
       SUB_COUNT };

struct modvm__status {
	const struct modvm__host_view *view;
	int subs[SUB_COUNT];	/* subscription ids, 0 where the type is not registered */
	size_t nvms;
	struct vm_seen *vms;
	bool has_pressure;
	struct modvm_mem_pressure pressure;
	size_t ncores;
	struct core_seen *cores;
};

static const char *state_name(enum modvm_vm_state s)
{
	static const char *const names[] = { "?",	 "created",  "starting", "running",
					     "paused", "stopping", "stopped",  "failed" };
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

/* A VM's state: its own while it exists; how it ended once released; or
 * "defined" for one never launched. */
static const char *vm_state_text(const struct modvm__host_view *view, struct modvm_vm *vm,
				 size_t i)
{
	int ended = view->vm_ended ? view->vm_ended(view->host, (unsigned)i) : 0;

	return vm ? state_name(modvm_vm_state(vm)) : ended ? state_name(ended) : "defined";
}

/* ---- what the features say: the standard events, kept for `status` ---- */

static struct vm_seen *seen_vm(struct modvm__status *ctl, uint32_t vm_id)
{
	return vm_id < ctl->nvms ? &ctl->vms[vm_id] : NULL;
}

static void on_target(const struct modvm_mem_balloon *ev, void *ud)
{
	struct vm_seen *v = seen_vm(ud, ev->vm_id);
	if (v) {
		v->has_target = true;
		v->target = ev->guest_bytes;
	}
}

/* The balloon mechanism's own account: the target in force after its
 * limits (an operator's request of mem.balloon_target is only a request),
 * who governs the VM and whether the operator holds it. */
static void on_state(const struct modvm_mem_balloon_state *ev, void *ud)
{
	struct vm_seen *v = seen_vm(ud, ev->vm_id);
	if (v) {
		v->has_state = true;
		v->state = *ev;
	}
}

static void on_actual(const struct modvm_mem_balloon *ev, void *ud)
{
	struct vm_seen *v = seen_vm(ud, ev->vm_id);
	if (v) {
		v->has_actual = true;
		v->actual = ev->guest_bytes;
	}
}

static void on_guest_stats(const struct modvm_mem_guest_stats *ev, void *ud)
{
	struct vm_seen *v = seen_vm(ud, ev->vm_id);
	if (v) {
		v->has_stats = true;
		v->stats = *ev;
	}
}

static void on_queue(const struct modvm_net_queue_assigned *ev, void *ud)
{
	struct vm_seen *v = seen_vm(ud, ev->vm_id);
	if (v) {
		v->has_nic = true;
		v->nic = *ev;
	}
}

static void on_pressure(const struct modvm_mem_pressure *ev, void *ud)
{
	struct modvm__status *ctl = ud;
	ctl->has_pressure = true;
	ctl->pressure = *ev;
}

/* The slot of host core @cpu, grown on first sight; NULL beyond CPU_LIMIT or without memory. */
static struct core_seen *seen_core(struct modvm__status *ctl, uint32_t cpu)
{
	if (cpu >= CPU_LIMIT)
		return NULL;
	if (cpu >= ctl->ncores) {
		size_t n = (size_t)cpu + 1;
		struct core_seen *c = realloc(ctl->cores, n * sizeof(*c));
		if (!c)
			return NULL;
		for (size_t i = ctl->ncores; i < n; i++)
			c[i] = (struct core_seen){ .parked = -1, .busy_permille = -1 };
		ctl->cores = c;
		ctl->ncores = n;
	}
	return &ctl->cores[cpu];
}

static void on_core_state(const struct modvm_power_core_state *ev, void *ud)
{
	struct core_seen *c = seen_core(ud, ev->cpu);
	if (c)
		c->parked = ev->state == MODVM_CORE_PARKED;
}

static void on_cpu_load(const struct modvm_host_cpu_load *ev, void *ud)
{
	struct core_seen *c = seen_core(ud, ev->cpu);
	if (c)
		c->busy_permille = ev->busy_permille > 1000 ? 1000 : (int32_t)ev->busy_permille;
}

/* Registered means a loaded plugin (or the core) declared it; anything else
 * has nobody behind it, so `status` stays silent about it. */
static bool registered(struct modvm_bus *bus, const char *name)
{
	struct modvm_bus_stats st;
	return modvm_bus_get_stats(bus, name, &st) == 0;
}

static void subscribe_all(struct modvm__status *ctl)
{
	struct modvm_bus *bus = ctl->view->bus;
	int *s = ctl->subs;
	/*
	 * FIRST: we keep the last value, and a handler may publish the same
	 * event again while it runs (a memory policy answering
	 * mem.balloon_state with set_target(), which publishes the new state;
	 * mem-balloon answering the operator's mem.balloon_target with the
	 * clamped one).  The bus delivers that newer payload to everyone at
	 * once, then goes on with the older one: recorded after the handler,
	 * the older one would overwrite it (`status` showed sdk/examples
	 * mem-fixed's VM at its old 256M target while 128M was in force).
	 */
	if (registered(bus, modvm_event_mem_balloon_target.name))
		s[SUB_TARGET] = modvm_subscribe_mem_balloon_target(bus, MODVM_PRIO_FIRST, on_target, ctl);
	if (registered(bus, modvm_event_mem_balloon_state.name))
		s[SUB_STATE] = modvm_subscribe_mem_balloon_state(bus, MODVM_PRIO_FIRST, on_state, ctl);
	if (registered(bus, modvm_event_mem_balloon_actual.name))
		s[SUB_ACTUAL] = modvm_subscribe_mem_balloon_actual(bus, MODVM_PRIO_FIRST, on_actual, ctl);
	if (registered(bus, modvm_event_mem_guest_stats.name))
		s[SUB_STATS] = modvm_subscribe_mem_guest_stats(bus, MODVM_PRIO_FIRST, on_guest_stats,
							       ctl);
	if (registered(bus, modvm_event_net_queue_assigned.name))
		s[SUB_NIC] = modvm_subscribe_net_queue_assigned(bus, MODVM_PRIO_FIRST, on_queue, ctl);
	if (registered(bus, modvm_event_mem_pressure.name))
		s[SUB_PRESSURE] = modvm_subscribe_mem_pressure(bus, MODVM_PRIO_FIRST, on_pressure, ctl);
	if (registered(bus, modvm_event_power_core_state.name))
		s[SUB_CORE] = modvm_subscribe_power_core_state(bus, MODVM_PRIO_FIRST, on_core_state,
							       ctl);
	if (registered(bus, modvm_event_host_cpu_load.name))
		s[SUB_LOAD] = modvm_subscribe_host_cpu_load(bus, MODVM_PRIO_FIRST, on_cpu_load, ctl);
	/* A refused subscription (another layout registered) only costs its lines. */
	for (int i = 0; i < SUB_COUNT; i++)
		if (s[i] < 0) {
			modvm_log(MODVM_LOG_DEBUG, NULL, "control socket: status without event %d: %s",
				  i, modvm_strerror(s[i]));
			s[i] = 0;
		}
}

static void unsubscribe_all(struct modvm__status *ctl)
{
	for (int i = 0; i < SUB_COUNT; i++)
		if (ctl->subs[i] > 0)
			modvm_bus_unsubscribe(ctl->view->bus, ctl->subs[i]);
}

/* Appends to a reply; once it is full, the rest is silently cut. */
struct reply {
	char *buf;
	size_t len, used;
};

MODVM_PRINTF(2, 3) static void put(struct reply *r, const char *fmt, ...)
{
	if (r->used >= r->len)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(r->buf + r->used, r->len - r->used, fmt, ap);
	va_end(ap);
	r->used = n < 0 ? r->len : r->used + (size_t)n;
}

MODVM_INTERNAL const char *modvm__size_text(uint64_t b, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int u = -1;

	/* A policy's target need not be a whole KiB (the balloon moves 4 KiB
	 * pages anyway): to the KiB below, so the text never falls back to
	 * raw bytes beside "128M".  --json has the exact bytes. */
	if (b >= 1024)
		b -= b % 1024;
	while (b && u < 3 && b % 1024 == 0) {
		b /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%llu", (unsigned long long)b);
	else
		snprintf(buf, len, "%llu%c", (unsigned long long)b, units[u]);
	return buf;
}

#define SZ(b) modvm__size_text((b), (char[24]){ 0 }, 24)

static void status_vm(struct modvm__status *ctl, size_t i, struct reply *r)
{
	const struct modvm__host_view *view = ctl->view;
	struct modvm_vm *vm = view->vm(view->host, (unsigned)i);
	const struct modvm_config *cfg = view->vm_config(view->host, i);
	uint64_t mem = vm ? modvm_vm_memory_bytes(vm) : cfg ? modvm_config_size(cfg, "memory") : 0;
	const struct vm_seen *v = &ctl->vms[i];

	put(r, "%zu %s %s memory %s", i, view->vm_name(view->host, i),
	    vm_state_text(view, vm, i), SZ(mem));
	if (v->has_actual)
		put(r, " guest %s", SZ(v->actual));
	if (v->has_state && (v->state.flags & MODVM_BALLOON_PRESENT))
		put(r, " target %s", SZ(v->state.target));
	else if (v->has_target && !v->has_state)
		put(r, " target %s", SZ(v->target));
	if (v->has_state) {
		char gov[sizeof(v->state.governor) + 1];
		memcpy(gov, v->state.governor, sizeof(v->state.governor));
		gov[sizeof(v->state.governor)] = '\0';
		put(r, " policy %s%s%s", v->state.flags & MODVM_BALLOON_OPERATOR ? "operator" : "",
		    v->state.flags & MODVM_BALLOON_OPERATOR ? " (then " : "",
		    gov[0] ? gov : "none");
		if (v->state.flags & MODVM_BALLOON_OPERATOR)
			put(r, ")");
	}
	put(r, "\n");
	if (v->has_stats)
		put(r, "  stats total %s free %s available %s caches %s swap_in %llu swap_out %llu"
		       " major_faults %llu minor_faults %llu\n",
		    SZ(v->stats.total), SZ(v->stats.free), SZ(v->stats.available),
		    SZ(v->stats.caches), (unsigned long long)v->stats.swap_in,
		    (unsigned long long)v->stats.swap_out, (unsigned long long)v->stats.major_faults,
		    (unsigned long long)v->stats.minor_faults);
	if (v->has_nic) {
		char uplink[sizeof(v->nic.uplink) + 1];
		memcpy(uplink, v->nic.uplink, sizeof(v->nic.uplink));
		uplink[sizeof(v->nic.uplink)] = '\0';
		put(r, "  nic uplink %s queue %u %s cpu ", uplink[0] ? uplink : "-", v->nic.queue,
		    v->nic.dedicated ? "dedicated" : "tap-queue");
		if (v->nic.host_cpu >= 0)
			put(r, "%d\n", v->nic.host_cpu);
		else
			put(r, "-\n");
	}
}

static void status_host(struct modvm__status *ctl, struct reply *r)
{
	if (ctl->has_pressure) {
		const struct modvm_mem_pressure *p = &ctl->pressure;
		put(r, "host memory total %s available %s psi_some %u.%u%% psi_full %u.%u%%\n",
		    SZ(p->mem_total), SZ(p->mem_available), p->psi_some_avg10_permille / 10,
		    p->psi_some_avg10_permille % 10, p->psi_full_avg10_permille / 10,
		    p->psi_full_avg10_permille % 10);
	}
	size_t seen = 0, parked = 0, loaded = 0;
	uint64_t busy = 0;
	for (size_t c = 0; c < ctl->ncores; c++) {
		const struct core_seen *k = &ctl->cores[c];
		if (k->parked < 0 && k->busy_permille < 0)
			continue;
		seen++;
		parked += k->parked > 0;
		if (k->busy_permille >= 0) {
			loaded++;
			busy += (uint64_t)k->busy_permille;
		}
	}
	if (!seen)
		return;
	put(r, "host cores %zu parked %zu", seen, parked);
	if (loaded)
		put(r, " busy %llu.%llu%%", (unsigned long long)(busy / loaded / 10),
		    (unsigned long long)(busy / loaded % 10));
	put(r, "\n");
}

/* ---- the same as JSON (`status --json`): sizes in bytes ---- */

/* A JSON string; names here are short and tame, but escape all the same. */
static void put_json_str(struct reply *r, const char *s, size_t max)
{
	put(r, "\"");
	for (size_t i = 0; i < max && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			put(r, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			put(r, "\\u%04x", c);
		else
			put(r, "%c", c);
	}
	put(r, "\"");
}

static void json_vm(struct modvm__status *ctl, size_t i, struct reply *r)
{
	const struct modvm__host_view *view = ctl->view;
	struct modvm_vm *vm = view->vm(view->host, (unsigned)i);
	const struct modvm_config *cfg = view->vm_config(view->host, i);
	uint64_t mem = vm ? modvm_vm_memory_bytes(vm) : cfg ? modvm_config_size(cfg, "memory") : 0;
	const struct vm_seen *v = &ctl->vms[i];
	const char *name = view->vm_name(view->host, i);

	put(r, "%s{\"id\": %zu, \"name\": ", i ? ", " : "", i);
	put_json_str(r, name, strlen(name));
	put(r, ", \"state\": \"%s\", \"memory_bytes\": %llu",
	    vm_state_text(view, vm, i), (unsigned long long)mem);
	if (v->has_actual)
		put(r, ", \"guest_bytes\": %llu", (unsigned long long)v->actual);
	if (v->has_target)
		put(r, ", \"target_bytes\": %llu", (unsigned long long)v->target);
	if (v->has_stats)
		put(r, ", \"stats\": {\"total_bytes\": %llu, \"free_bytes\": %llu, "
		       "\"available_bytes\": %llu, \"caches_bytes\": %llu, \"swap_in\": %llu, "
		       "\"swap_out\": %llu, \"major_faults\": %llu, \"minor_faults\": %llu}",
		    (unsigned long long)v->stats.total, (unsigned long long)v->stats.free,
		    (unsigned long long)v->stats.available, (unsigned long long)v->stats.caches,
		    (unsigned long long)v->stats.swap_in, (unsigned long long)v->stats.swap_out,
		    (unsigned long long)v->stats.major_faults,
		    (unsigned long long)v->stats.minor_faults);
	if (v->has_nic) {
		put(r, ", \"nic\": {\"uplink\": ");
		if (v->nic.uplink[0])
			put_json_str(r, v->nic.uplink, sizeof(v->nic.uplink));
		else
			put(r, "null");
		put(r, ", \"queue\": %u, \"dedicated\": %s, \"cpu\": ", v->nic.queue,
		    v->nic.dedicated ? "true" : "false");
		if (v->nic.host_cpu >= 0)
			put(r, "%d}", v->nic.host_cpu);
		else
			put(r, "null}");
	}
	put(r, "}");
}

static void json_host(struct modvm__status *ctl, struct reply *r)
{
	size_t seen = 0, parked = 0, loaded = 0;
	uint64_t busy = 0;
	bool any = false;

	put(r, "\"host\": {");
	if (ctl->has_pressure) {
		const struct modvm_mem_pressure *p = &ctl->pressure;
		put(r, "\"memory\": {\"total_bytes\": %llu, \"available_bytes\": %llu, "
		       "\"psi_some_permille\": %u, \"psi_full_permille\": %u}",
		    (unsigned long long)p->mem_total, (unsigned long long)p->mem_available,
		    p->psi_some_avg10_permille, p->psi_full_avg10_permille);
		any = true;
	}
	for (size_t c = 0; c < ctl->ncores; c++) {
		const struct core_seen *k = &ctl->cores[c];
		if (k->parked < 0 && k->busy_permille < 0)
			continue;
		seen++;
		parked += k->parked > 0;
		if (k->busy_permille >= 0) {
			loaded++;
			busy += (uint64_t)k->busy_permille;
		}
	}
	if (seen) {
		put(r, "%s\"cores\": {\"seen\": %zu, \"parked\": %zu, \"busy_permille\": ",
		    any ? ", " : "", seen, parked);
		if (loaded)
			put(r, "%llu}", (unsigned long long)(busy / loaded));
		else
			put(r, "null}");
	}
	put(r, "}");
}

MODVM_INTERNAL int modvm__status_format_json(struct modvm__status *st, char *out, size_t len)
{
	struct reply r = { .buf = out, .len = len };

	put(&r, "{\"ok\": true, \"vms\": [");
	for (size_t i = 0; i < st->nvms; i++)
		json_vm(st, i, &r);
	put(&r, "], ");
	json_host(st, &r);
	put(&r, "}\n");
	/* Cut JSON is no JSON: say so instead. */
	if (r.used >= r.len) {
		snprintf(out, len, "{\"ok\": false, \"error\": \"status is longer than %zu bytes\"}\n",
			 len);
		return -ENOSPC;
	}
	return 0;
}

struct modvm__status *modvm__status_new(const struct modvm__host_view *view)
{
	struct modvm__status *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->view = view;
	st->nvms = view->vm_count(view->host);
	st->vms = calloc(st->nvms ? st->nvms : 1, sizeof(*st->vms));
	if (!st->vms) {
		free(st);
		return NULL;
	}
	subscribe_all(st);
	return st;
}

void modvm__status_free(struct modvm__status *st)
{
	if (!st)
		return;
	unsubscribe_all(st);
	free(st->vms);
	free(st->cores);
	free(st);
}

void modvm__status_format(struct modvm__status *st, char *out, size_t len)
{
	struct reply r = { .buf = out, .len = len };
	put(&r, "ok\n");
	for (size_t i = 0; i < st->nvms; i++)
		status_vm(st, i, &r);
	status_host(st, &r);
}
