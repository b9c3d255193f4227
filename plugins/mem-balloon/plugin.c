/*
 * plugin.c — mem-balloon: the balloon mechanism.  A virtio-balloon device
 * for each VM with a `mem-balloon` group, driven through
 * "modvm.balloon/1" (modvm/balloon.h) by the memory policy that governs
 * the VM, and by the operator.
 *
 * The device is added in the setup hook, before the kernel is loaded, so
 * it is announced on the guest's command line.  Every interval_ms the loop
 * timer reads each guest's balloon statistics and asks for fresh ones,
 * and publishes mem.guest_stats and mem.balloon_actual when they change.
 * Nothing here decides a size: a memory policy (mem-dynamic in tree, or a
 * third party's) asks through set_target(); the operator's `modvm ctl …
 * balloon VM SIZE` (mem.balloon_target, source "operator") holds a VM at a
 * size until a size of 0 hands it back.  Either way the target is clamped
 * into the VM's [minimum, maximum], put in force, and published as
 * mem.balloon_target (the effective size, with who asked) and
 * mem.balloon_state (which also says CLAMPED, and which VMs have a
 * balloon).  Only the policy that governs a VM (host.memory_policy, the
 * VM's memory_policy) is obeyed.
 *
 * Everything here runs on the loop thread; the device does its own locking.
 */
#include <errno.h>
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/balloon.h>
#include <modvm/events.h>
#include <modvm/loop.h>
#include <modvm/plugin.h>
#include <modvm/sandbox.h>
#include <modvm/vm.h>

#include "balloon_dev.h"

#define PLUGIN_NAME "mem-balloon"
#define OPERATOR "operator"

struct mb_vm {
	bool enabled;
	bool free_page_reporting;	/* offer VIRTIO_BALLOON_F_REPORTING */
	uint64_t cfg_min, cfg_max, cfg_startup;	/* as configured; 0 = default */
	struct modvm_vm *vm;
	struct balloon_dev *dev;
	/* resolved against the VM's RAM at setup */
	uint64_t ram, minimum, maximum, startup;
	/* what is asked and what is in force */
	uint64_t requested;	/* the last request before clamping; 0: none */
	uint64_t target;	/* in force; 0 before the first setup */
	char source[MODVM_NAME_MAX];
	bool hold;		/* the operator's target holds: policies wait */
	bool clamped;
	uint64_t stats_gen;	/* last guest stats generation published */
	uint64_t actual_bytes;	/* last mem.balloon_actual published (+1: none yet) */
	bool told_no_balloon;	/* "has no balloon" logged once */
	bool told_not_governor;	/* a refused caller logged once */
	struct modvm_mem_balloon_state sent;	/* the last mem.balloon_state published */
	bool state_sent;
};

struct mb {
	struct modvm_plugin_ctx *ctx;
	double interval_s;
	unsigned nvms;
	struct mb_vm *vms;
	struct modvm_timer *timer;
	int sub_target;
	bool publishing;	/* our own mem.balloon_target is on its way round */
	unsigned nested;	/* requests made in answer to one still being published */
	bool told_nested;
};

/* A subscriber that answers each state or target it is sent with a new
 * request nests inside our publication (the bus delivers at once, on
 * this thread): deeper than this, it is refused, not followed until the
 * stack runs out. */
#define MAX_NESTED_REQUESTS 4

/* The one instance: the vtable's calls name their caller, not us. */
static struct mb *self;

static struct modvm_bus *bus(struct mb *m)
{
	return modvm_plugin_bus(m->ctx);
}

static uint64_t clampu(uint64_t x, uint64_t lo, uint64_t hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

static const char *vm_name(struct mb *m, unsigned id)
{
	const char *n = modvm_plugin_vm_name(m->ctx, id);
	return n ? n : "?";
}

static void publish_balloon(struct mb *m, unsigned vm_id, uint64_t bytes, const char *source,
			    bool target)
{
	struct modvm_mem_balloon ev = { .vm_id = vm_id, .guest_bytes = bytes };

	snprintf(ev.source, sizeof(ev.source), "%s", source);
	if (!target) {
		modvm_publish_mem_balloon_actual(bus(m), &ev);
		return;
	}
	m->publishing = true;
	modvm_publish_mem_balloon_target(bus(m), &ev);
	m->publishing = false;
}

static uint32_t flags_of(const struct mb_vm *v)
{
	struct balloon_guest_stats st;
	uint32_t f = 0;

	if (v->dev) {
		f |= MODVM_BALLOON_PRESENT;
		balloon_dev_get_stats(v->dev, &st);
		if (st.generation && (st.present & (1u << BALLOON_S_MEMTOT)))
			f |= MODVM_BALLOON_STATS;
		if (balloon_dev_total_counts_balloon(v->dev))
			f |= MODVM_BALLOON_COUNTED;
	}
	if (v->hold)
		f |= MODVM_BALLOON_OPERATOR;
	if (v->clamped)
		f |= MODVM_BALLOON_CLAMPED;
	return f;
}

/* Publishes the VM's state if it differs from the last one published: a
 * policy that answers every state with the same request then ends. */
static void publish_state(struct mb *m, unsigned id)
{
	struct mb_vm *v = &m->vms[id];
	struct modvm_mem_balloon_state ev;
	const char *gov = modvm_plugin_governor(m->ctx, MODVM_KIND_MEMORY_POLICY, id);

	memset(&ev, 0, sizeof(ev));	/* compared whole, padding included */
	ev.vm_id = id;
	ev.flags = flags_of(v);
	ev.ram = v->ram;
	ev.minimum = v->minimum;
	ev.maximum = v->maximum;
	ev.requested = v->requested;
	ev.target = v->target;
	snprintf(ev.source, sizeof(ev.source), "%s", v->source);
	snprintf(ev.governor, sizeof(ev.governor), "%s", gov ? gov : "");
	if (v->state_sent && memcmp(&ev, &v->sent, sizeof(ev)) == 0)
		return;
	v->sent = ev;
	v->state_sent = true;
	modvm_publish_mem_balloon_state(bus(m), &ev);
}

/* Guest memory @bytes → the balloon's num_pages (what the guest gives back). */
static void apply_target(struct mb_vm *v, uint64_t bytes)
{
	uint64_t pages = (v->ram - (bytes < v->ram ? bytes : v->ram)) / BALLOON_PAGE_SIZE;
	balloon_dev_set_target(v->dev, pages > UINT32_MAX ? UINT32_MAX : (uint32_t)pages);
}

/*
 * Puts a request in force: clamped into the limits once the VM's RAM is
 * known (before its setup the request waits for it), published with who
 * asked.  Returns the target in force.
 */
static uint64_t put_in_force(struct mb *m, unsigned id, uint64_t bytes, const char *source)
{
	struct mb_vm *v = &m->vms[id];
	uint64_t was = v->target;

	v->requested = bytes;
	snprintf(v->source, sizeof(v->source), "%s", source);
	if (!v->dev) {
		v->clamped = false;
		publish_state(m, id);
		return 0;	/* applied (and clamped) by the setup hook */
	}
	v->target = clampu(bytes, v->minimum, v->maximum);
	v->clamped = v->target != bytes;
	apply_target(v, v->target);
	if (v->clamped)
		modvm_plugin_log(m->ctx, MODVM_LOG_INFO,
				 "vm %s: %s asked for %llu MiB, outside [%llu, %llu] MiB: target %llu MiB",
				 vm_name(m, id), source, (unsigned long long)(bytes >> 20),
				 (unsigned long long)(v->minimum >> 20),
				 (unsigned long long)(v->maximum >> 20),
				 (unsigned long long)(v->target >> 20));
	if (v->target != was || v->clamped)
		publish_balloon(m, id, v->target, source, true);
	publish_state(m, id);
	return v->target;
}

/* put_in_force(), unless it nests too deep (-EBUSY): 0 with *@in_force. */
static int take_request(struct mb *m, unsigned id, uint64_t bytes, const char *source,
			uint64_t *in_force)
{
	*in_force = m->vms[id].target;
	if (m->nested >= MAX_NESTED_REQUESTS) {
		if (!m->told_nested)
			modvm_plugin_log(m->ctx, MODVM_LOG_WARN,
					 "vm %s: %s asked for a target in answer to one still being "
					 "published, %u deep: refused (a policy must not answer every "
					 "mem.balloon_state or mem.balloon_target with a new request)",
					 vm_name(m, id), source, m->nested);
		m->told_nested = true;
		return -EBUSY;
	}
	m->nested++;
	*in_force = put_in_force(m, id, bytes, source);
	m->nested--;
	return 0;
}

/* ---- the interval: what the guests report ---- */

static void read_guest(struct mb *m, unsigned id, struct mb_vm *v)
{
	struct balloon_guest_stats st;

	balloon_dev_get_stats(v->dev, &st);
	if (st.generation != v->stats_gen) {
		struct modvm_mem_guest_stats ev = {
			.vm_id = id,
			.total = st.val[BALLOON_S_MEMTOT],
			.free = st.val[BALLOON_S_MEMFREE],
			.available = st.val[BALLOON_S_AVAIL],
			.caches = st.val[BALLOON_S_CACHES],
			.swap_in = st.val[BALLOON_S_SWAP_IN],
			.swap_out = st.val[BALLOON_S_SWAP_OUT],
			.major_faults = st.val[BALLOON_S_MAJFLT],
			.minor_faults = st.val[BALLOON_S_MINFLT],
		};
		v->stats_gen = st.generation;
		modvm_publish_mem_guest_stats(bus(m), &ev);
	}
	/* Ask for fresh numbers for the next interval. */
	balloon_dev_request_stats(v->dev);

	uint64_t given = (uint64_t)balloon_dev_given(v->dev) * BALLOON_PAGE_SIZE;
	uint64_t has = v->ram > given ? v->ram - given : 0;
	if (has + 1 != v->actual_bytes) {
		v->actual_bytes = has + 1;
		publish_balloon(m, id, has, PLUGIN_NAME, false);
	}
}

static void on_tick(struct modvm_timer *t, void *ud)
{
	struct mb *m = ud;

	(void)t;
	for (unsigned i = 0; i < m->nvms; i++)
		if (m->vms[i].dev)
			read_guest(m, i, &m->vms[i]);
}

/* ---- orders by event: the operator, or a policy without the interface ---- */

static void on_target(const struct modvm_mem_balloon *ev, void *ud)
{
	struct mb *m = ud;
	char src[MODVM_NAME_MAX];

	if (m->publishing)
		return;	/* the target we just put in force, on its way round */
	snprintf(src, sizeof(src), "%.*s", (int)sizeof(ev->source), ev->source);
	if (ev->vm_id >= m->nvms || !m->vms[ev->vm_id].enabled) {
		modvm_plugin_log(m->ctx, MODVM_LOG_WARN,
				 "mem.balloon_target from %s: vm %u has no balloon (ignored)", src,
				 ev->vm_id);
		return;
	}
	struct mb_vm *v = &m->vms[ev->vm_id];
	if (strcmp(src, OPERATOR) == 0) {
		if (!ev->guest_bytes) {
			const char *gov = modvm_plugin_governor(m->ctx, MODVM_KIND_MEMORY_POLICY,
								ev->vm_id);
			v->hold = false;
			modvm_plugin_log(m->ctx, MODVM_LOG_INFO, "vm %u: handed back to %s",
					 ev->vm_id, gov ? gov : "no policy (memory_policy none)");
			publish_state(m, ev->vm_id);
			return;
		}
		v->hold = true;
		uint64_t t;
		if (take_request(m, ev->vm_id, ev->guest_bytes, OPERATOR, &t) < 0)
			return;
		modvm_plugin_log(m->ctx, MODVM_LOG_INFO, "vm %u: target %llu MiB set by operator",
				 ev->vm_id, (unsigned long long)((t ? t : ev->guest_bytes) >> 20));
		return;
	}
	/* A policy publishing instead of calling set_target: the same rules. */
	const char *gov = modvm_plugin_governor(m->ctx, MODVM_KIND_MEMORY_POLICY, ev->vm_id);
	if (!gov || strcmp(gov, src) != 0) {
		if (!v->told_not_governor)
			modvm_plugin_log(m->ctx, MODVM_LOG_WARN,
					 "mem.balloon_target from %s for vm %u ignored: %s governs its "
					 "memory (memory_policy)", src, ev->vm_id, gov ? gov : "nobody");
		v->told_not_governor = true;
		return;
	}
	if (v->hold || !ev->guest_bytes || !v->dev)
		return;
	uint64_t t;
	take_request(m, ev->vm_id, ev->guest_bytes, src, &t);	/* refusal logged */
}

/* ---- "modvm.balloon/1" ---- */

static int bl_get(struct modvm_plugin_ctx *caller, uint32_t vm_id, struct modvm_balloon_info *out)
{
	struct mb *m = self;
	struct balloon_guest_stats st;

	if (!m || !out || out->struct_size < sizeof(*out))
		return -EINVAL;
	if (vm_id >= m->nvms)
		return -ENOENT;
	const struct mb_vm *v = &m->vms[vm_id];
	*out = (struct modvm_balloon_info){
		.struct_size = sizeof(*out), .vm_id = vm_id, .flags = flags_of(v), .ram = v->ram,
		.minimum = v->minimum, .maximum = v->maximum, .startup = v->startup,
		.requested = v->requested, .target = v->target,
	};
	snprintf(out->source, sizeof(out->source), "%s", v->source);
	out->stats.vm_id = vm_id;
	if (!v->dev) {
		if (!v->told_no_balloon && caller)
			modvm_plugin_log(m->ctx, MODVM_LOG_INFO,
					 "vm %s has no balloon (%s): %s cannot size it", vm_name(m, vm_id),
					 v->enabled ? "not running" : "no mem-balloon group",
					 modvm_plugin_name(caller));
		m->vms[vm_id].told_no_balloon = true;	/* again after its next setup/teardown */
		return -ENODEV;
	}
	uint64_t given = (uint64_t)balloon_dev_given(v->dev) * BALLOON_PAGE_SIZE;
	out->actual = v->ram > given ? v->ram - given : 0;
	out->in_balloon = balloon_dev_total_counts_balloon(v->dev) ? given : 0;
	balloon_dev_get_stats(v->dev, &st);
	out->stats_generation = st.generation;
	out->stats.total = st.val[BALLOON_S_MEMTOT];
	out->stats.free = st.val[BALLOON_S_MEMFREE];
	out->stats.available = st.val[BALLOON_S_AVAIL];
	out->stats.caches = st.val[BALLOON_S_CACHES];
	out->stats.swap_in = st.val[BALLOON_S_SWAP_IN];
	out->stats.swap_out = st.val[BALLOON_S_SWAP_OUT];
	out->stats.major_faults = st.val[BALLOON_S_MAJFLT];
	out->stats.minor_faults = st.val[BALLOON_S_MINFLT];
	return 0;
}

static int bl_set_target(struct modvm_plugin_ctx *caller, uint32_t vm_id, uint64_t bytes,
			 uint64_t *effective)
{
	struct mb *m = self;

	if (!m || !caller)
		return -EINVAL;
	if (vm_id >= m->nvms)
		return -ENOENT;
	if (!bytes)
		return -EINVAL;
	struct mb_vm *v = &m->vms[vm_id];
	if (!modvm_plugin_governs(caller, vm_id)) {
		if (!v->told_not_governor) {
			const char *gov = modvm_plugin_governor(m->ctx, MODVM_KIND_MEMORY_POLICY,
								vm_id);
			modvm_plugin_log(m->ctx, MODVM_LOG_WARN,
					 "vm %s: %s asked for a target, but %s governs its memory "
					 "(memory_policy): refused", vm_name(m, vm_id),
					 modvm_plugin_name(caller), gov ? gov : "nobody");
		}
		v->told_not_governor = true;
		return -EPERM;
	}
	if (!v->dev)
		return -ENODEV;
	if (v->hold)
		return -EBUSY;
	uint64_t t;
	int r = take_request(m, vm_id, bytes, modvm_plugin_name(caller), &t);
	if (effective)
		*effective = t;
	return r;
}

static int bl_request_stats(struct modvm_plugin_ctx *caller, uint32_t vm_id)
{
	struct mb *m = self;

	(void)caller;
	if (!m)
		return -EINVAL;
	if (vm_id >= m->nvms)
		return -ENOENT;
	if (!m->vms[vm_id].dev)
		return -ENODEV;
	balloon_dev_request_stats(m->vms[vm_id].dev);
	return 0;
}

static const struct modvm_balloon balloon_iface = {
	.struct_size = sizeof(struct modvm_balloon),
	.get = bl_get,
	.set_target = bl_set_target,
	.request_stats = bl_request_stats,
};

static const void *mb_get_interface(struct modvm_plugin_ctx *ctx, const char *id)
{
	(void)ctx;
	return id && strcmp(id, MODVM_BALLOON_IFACE) == 0 ? &balloon_iface : NULL;
}

/* ---- per-VM hooks ---- */

static int vm_setup(struct modvm_plugin_ctx *ctx, struct modvm_vm *vm, unsigned id, void *ud)
{
	struct mb *m = ud;

	if (id >= m->nvms || !m->vms[id].enabled)
		return 0;
	struct mb_vm *v = &m->vms[id];
	int r = balloon_dev_attach(vm, v->free_page_reporting, &v->dev);
	if (r < 0) {
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "vm %s: cannot add virtio-balloon: %s",
				 modvm_vm_name(vm), modvm_strerror(r));
		return r;
	}
	v->vm = vm;
	v->ram = modvm_vm_memory_bytes(vm);
	v->maximum = v->cfg_max ? clampu(v->cfg_max, 0, v->ram) : v->ram;
	v->minimum = v->cfg_min ? v->cfg_min : v->ram / 8;
	if (v->minimum > v->maximum)
		v->minimum = v->maximum;
	v->startup = v->cfg_startup ? clampu(v->cfg_startup, v->minimum, v->maximum) : v->maximum;
	v->stats_gen = 0;
	v->actual_bytes = 0;
	v->told_no_balloon = false;
	/* The operator's size holds across a restart; a policy starts afresh. */
	if (v->hold) {
		v->target = clampu(v->requested, v->minimum, v->maximum);
		v->clamped = v->target != v->requested;
	} else {
		v->target = v->startup;
		v->requested = 0;
		v->clamped = false;
		snprintf(v->source, sizeof(v->source), "startup");
	}
	apply_target(v, v->target);
	modvm_plugin_log(ctx, MODVM_LOG_INFO,
			 "vm %s: balloon on %s, memory %llu MiB, minimum %llu, maximum %llu, "
			 "startup %llu MiB",
			 modvm_vm_name(vm), modvm_virtio_name(modvm_virtio_mmio_dev(
						    balloon_dev_transport(v->dev))),
			 (unsigned long long)(v->ram >> 20), (unsigned long long)(v->minimum >> 20),
			 (unsigned long long)(v->maximum >> 20),
			 (unsigned long long)(v->startup >> 20));
	publish_state(m, id);
	return 0;
}

static void vm_teardown(struct modvm_plugin_ctx *ctx, struct modvm_vm *vm, unsigned id, void *ud)
{
	struct mb *m = ud;

	(void)ctx;
	if (id >= m->nvms || !m->vms[id].dev)
		return;
	balloon_dev_detach(vm, m->vms[id].dev);
	m->vms[id].dev = NULL;
	m->vms[id].vm = NULL;
	m->vms[id].told_no_balloon = false;
	publish_state(m, id);
}

static const struct modvm_vm_hooks hooks = {
	.struct_size = sizeof(struct modvm_vm_hooks),
	.setup = vm_setup,
	.teardown = vm_teardown,
};

/* minimum above maximum (both set): nothing could satisfy both. */
static int check_limits(struct modvm_plugin_ctx *ctx, unsigned id)
{
	const struct modvm_config *c = modvm_plugin_vm_config(ctx, id);

	if (!c || !modvm_config_bool(c, "enabled"))
		return 0;
	uint64_t min = modvm_config_size(c, "minimum"), max = modvm_config_size(c, "maximum");
	if (!min || !max || min <= max)
		return 0;
	modvm_plugin_log(ctx, MODVM_LOG_ERROR, "%s: vm %s: minimum %llu bytes is above maximum %llu (%s)",
			 modvm_config_where(c, "minimum"), modvm_plugin_vm_name(ctx, id),
			 (unsigned long long)min, (unsigned long long)max,
			 modvm_config_where(c, "maximum"));
	return -EINVAL;
}

/* ---- lifecycle ---- */

static int vm_configure(struct mb *m, unsigned id)
{
	const struct modvm_config *c = modvm_plugin_vm_config(m->ctx, id);
	struct mb_vm *v = &m->vms[id];

	if (!c || !modvm_config_bool(c, "enabled"))
		return 0;
	v->enabled = true;
	v->free_page_reporting = modvm_config_bool(c, "free_page_reporting");
	v->cfg_min = modvm_config_size(c, "minimum");
	v->cfg_max = modvm_config_size(c, "maximum");
	v->cfg_startup = modvm_config_size(c, "startup");
	return check_limits(m->ctx, id);
}

static int mb_init(struct modvm_plugin_ctx *ctx)
{
	const struct modvm_config *cfg = modvm_plugin_config(ctx);
	struct mb *m = calloc(1, sizeof(*m));
	int rc;

	if (!m)
		return -ENOMEM;
	m->ctx = ctx;
	m->interval_s = (double)modvm_config_int(cfg, "interval_ms") / 1000.0;
	m->nvms = modvm_plugin_vm_count(ctx);
	m->vms = calloc(m->nvms ? m->nvms : 1, sizeof(*m->vms));
	rc = -ENOMEM;
	if (!m->vms)
		goto free_vms;
	for (unsigned i = 0; i < m->nvms; i++)
		if ((rc = vm_configure(m, i)) < 0)
			goto free_vms;
	/* Inflating hands pages back on the vCPU thread that notified
	 * (balloon_dev.c): MADV_REMOVE, MADV_DONTNEED (every class has it)
	 * once the mapping refuses the first.  The loop, which takes over
	 * after a kick's queue's worth, has both from the core. */
	if ((rc = modvm_sandbox_allow_arg(ctx, MODVM_THREAD_VCPU, "madvise", 2, MADV_REMOVE)) < 0)
		goto free_vms;
	if ((rc = modvm_bus_register(&modvm_event_mem_guest_stats)) < 0 ||
	    (rc = modvm_bus_register(&modvm_event_mem_balloon_target)) < 0 ||
	    (rc = modvm_bus_register(&modvm_event_mem_balloon_actual)) < 0 ||
	    (rc = modvm_bus_register(&modvm_event_mem_balloon_state)) < 0)
		goto free_vms;
	rc = modvm_subscribe_mem_balloon_target(bus(m), MODVM_PRIO_DEFAULT, on_target, m);
	if (rc < 0)
		goto free_vms;
	m->sub_target = rc;
	rc = modvm_plugin_set_vm_hooks(ctx, &hooks, m);
	if (rc < 0)
		goto unsubscribe;
	modvm_plugin_set_data(ctx, m);
	self = m;
	return 0;

unsubscribe:
	modvm_bus_unsubscribe(bus(m), m->sub_target);
free_vms:
	free(m->vms);
	free(m);
	return rc;
}

/* What init would refuse, with nothing started (`modvm check`): every VM's limits. */
static int mb_validate(struct modvm_plugin_ctx *ctx)
{
	int rc = 0;

	for (unsigned i = 0; i < modvm_plugin_vm_count(ctx); i++) {
		int e = check_limits(ctx, i);
		rc = rc ? rc : e;
	}
	return rc;
}

static int mb_start(struct modvm_plugin_ctx *ctx)
{
	struct mb *m = modvm_plugin_data(ctx);

	m->timer = modvm_timer_start(modvm_plugin_loop(ctx), m->interval_s, m->interval_s, on_tick,
				     m);
	return m->timer ? 0 : -ENOMEM;
}

static void mb_stop(struct modvm_plugin_ctx *ctx)
{
	struct mb *m = modvm_plugin_data(ctx);

	modvm_timer_stop(m->timer);
	m->timer = NULL;
}

static void mb_fini(struct modvm_plugin_ctx *ctx)
{
	struct mb *m = modvm_plugin_data(ctx);

	modvm_plugin_set_vm_hooks(ctx, NULL, NULL);
	modvm_bus_unsubscribe(bus(m), m->sub_target);
	/* Devices of VMs still alive would outlive us: the core tears VMs down
	 * (our teardown hook) before fini, so none should be left. */
	for (unsigned i = 0; i < m->nvms; i++)
		if (m->vms[i].dev)
			balloon_dev_detach(m->vms[i].vm, m->vms[i].dev);
	if (self == m)
		self = NULL;
	free(m->vms);
	free(m);
	modvm_plugin_set_data(ctx, NULL);
}

static const struct modvm_option options[] = {
	{ .name = "interval_ms", .type = MODVM_OPT_INT, .default_value = "1000", .min = 50,
	  .max = 600000, .description = "how often guest stats and balloon sizes are read (ms)" },
	MODVM_OPTIONS_END,
};

static const struct modvm_option vm_options[] = {
	{ .name = "enabled", .type = MODVM_OPT_BOOL, .default_value = "true",
	  .description = "give this VM a balloon (sized by its memory policy and the operator)" },
	{ .name = "startup", .type = MODVM_OPT_SIZE, .default_value = "0",
	  .description = "memory the guest starts with; 0 = maximum" },
	{ .name = "minimum", .type = MODVM_OPT_SIZE, .default_value = "0",
	  .description = "never less than this; 0 = an eighth of the VM's memory" },
	{ .name = "maximum", .type = MODVM_OPT_SIZE, .default_value = "0",
	  .description = "never more than this; 0 (or above memory) = the VM's memory" },
	{ .name = "free_page_reporting", .type = MODVM_OPT_BOOL, .default_value = "true",
	  .description = "let the guest hand pages it freed back to the host at once "
			 "(VIRTIO_BALLOON_F_REPORTING), besides inflating" },
	MODVM_OPTIONS_END,
};

static struct modvm_event_desc *const events[] = {
	&modvm_event_mem_guest_stats, &modvm_event_mem_balloon_target,
	&modvm_event_mem_balloon_actual, &modvm_event_mem_balloon_state, NULL
};

MODVM_PLUGIN(.name = PLUGIN_NAME, .kind = MODVM_KIND_DEVICE, .version = "2.0.0",
	     .license = "MIT",
	     .description = "virtio-balloon per VM, sized through modvm.balloon/1 by a memory "
			    "policy and by the operator",
	     .options = options, .vm_options = vm_options, .events = events, .init = mb_init,
	     .start = mb_start, .stop = mb_stop, .fini = mb_fini,
	     .get_interface = mb_get_interface, .validate = mb_validate);
