/*
 * plugin.c — mem-balloon: Dynamic Memory for the VMs of this process.
 *
 * Each VM with a `mem-balloon` group gets a virtio-balloon device (the
 * setup hook, before the kernel is loaded so the device is announced on
 * its command line).  Every interval_ms the loop timer reads the host's
 * pressure (hostmem.c) and each guest's balloon statistics, publishes
 * host.mem_pressure, mem.guest_stats and mem.balloon_actual, runs the pure
 * policy (policy.c) and moves the targets that changed, publishing
 * mem.balloon_target with source "mem-balloon".
 *
 * Setting a target by hand: publish mem.balloon_target with another source
 * (an operator tool, another policy plugin).  That VM then keeps the given
 * size (clamped to its minimum/maximum) and leaves the automatic policy
 * until a target of 0 bytes for it hands it back.
 *
 * Everything here runs on the loop thread; the device does its own locking.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/events.h>
#include <modvm/loop.h>
#include <modvm/plugin.h>
#include <modvm/vm.h>

#include "balloon_dev.h"
#include "hostmem.h"
#include "policy.h"

#define PLUGIN_NAME "mem-balloon"

struct mb_vm {
	bool enabled;
	bool free_page_reporting;	/* offer VIRTIO_BALLOON_F_REPORTING */
	uint64_t cfg_min, cfg_max, cfg_startup;	/* as configured; 0 = default */
	struct modvm_vm *vm;
	struct balloon_dev *dev;
	uint64_t ram;
	uint64_t manual;	/* a target set by hand; 0: the policy decides */
	uint64_t stats_gen;	/* last guest stats generation published */
	uint64_t actual_bytes;	/* last mem.balloon_actual published (+1: none yet) */
	struct mb_policy_vm pol;
};

struct mb {
	struct modvm_plugin_ctx *ctx;
	struct mb_policy_params params;
	double interval_s;
	const char *meminfo, *psi;
	unsigned nvms;
	struct mb_vm *vms;
	struct mb_policy_vm *scratch;	/* the policy's input, nvms entries */
	unsigned *scratch_id;
	struct modvm_timer *timer;
	int sub_target;
	bool read_failing;	/* log a failing host read once, not every tick */
	bool psi_missing_logged;
};

static struct modvm_bus *bus(struct mb *m)
{
	return modvm_plugin_bus(m->ctx);
}

static void publish_balloon(struct mb *m, unsigned vm_id, uint64_t bytes, bool target)
{
	struct modvm_mem_balloon ev = { .vm_id = vm_id, .guest_bytes = bytes };

	snprintf(ev.source, sizeof(ev.source), "%s", PLUGIN_NAME);
	if (target)
		modvm_publish_mem_balloon_target(bus(m), &ev);
	else
		modvm_publish_mem_balloon_actual(bus(m), &ev);
}

/* Guest memory @bytes → the balloon's num_pages (what the guest gives back). */
static void apply_target(struct mb_vm *v, uint64_t bytes)
{
	uint64_t pages = (v->ram - (bytes < v->ram ? bytes : v->ram)) / BALLOON_PAGE_SIZE;
	balloon_dev_set_target(v->dev, pages > UINT32_MAX ? UINT32_MAX : (uint32_t)pages);
}

/* ---- the interval ---- */

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
		v->pol.have_stats = st.present & (1u << BALLOON_S_MEMTOT);
		v->pol.total = ev.total;
		v->pol.free = ev.free;
		v->pol.available = ev.available;
		modvm_publish_mem_guest_stats(bus(m), &ev);
	}
	/* Ask for fresh numbers for the next interval. */
	balloon_dev_request_stats(v->dev);

	uint64_t given = (uint64_t)balloon_dev_actual(v->dev) * BALLOON_PAGE_SIZE;
	uint64_t has = v->ram > given ? v->ram - given : 0;
	v->pol.held = has;
	v->pol.in_balloon = balloon_dev_total_counts_balloon(v->dev) ? given : 0;
	if (has + 1 != v->actual_bytes) {
		v->actual_bytes = has + 1;
		publish_balloon(m, id, has, false);
	}
}

static void on_tick(struct modvm_timer *t, void *ud)
{
	struct mb *m = ud;
	struct mb_host_sample hs;
	char err[320];

	(void)t;
	int r = mb_host_read(m->meminfo, m->psi, &hs, err, sizeof(err));
	if (r < 0) {
		if (!m->read_failing)
			modvm_plugin_log(m->ctx, MODVM_LOG_ERROR, "%s (targets frozen)", err);
		m->read_failing = true;
		return;
	}
	m->read_failing = false;
	if (!hs.have_psi && !m->psi_missing_logged) {
		modvm_plugin_log(m->ctx, MODVM_LOG_INFO, "%s: missing, deciding on MemAvailable only",
				 m->psi);
		m->psi_missing_logged = true;
	}
	struct modvm_mem_pressure p = { .mem_total = hs.mem_total,
					.mem_available = hs.mem_available,
					.psi_some_avg10_permille = hs.psi_some_permille,
					.psi_full_avg10_permille = hs.psi_full_permille };
	modvm_publish_mem_pressure(bus(m), &p);

	struct mb_policy_vm *pol = m->scratch;
	unsigned *idx = m->scratch_id, n = 0;
	for (unsigned i = 0; i < m->nvms; i++) {
		struct mb_vm *v = &m->vms[i];
		if (!v->dev)
			continue;
		read_guest(m, i, v);
		if (v->manual)
			continue;
		idx[n] = i;
		pol[n++] = v->pol;
	}
	struct mb_policy_host host = { .mem_total = hs.mem_total,
				       .mem_available = hs.mem_available,
				       .psi_some_permille = hs.psi_some_permille,
				       .psi_full_permille = hs.psi_full_permille };
	mb_policy_run(&m->params, &host, pol, n);
	for (unsigned k = 0; k < n; k++) {
		struct mb_vm *v = &m->vms[idx[k]];
		v->pol = pol[k];
		if (!pol[k].changed)
			continue;
		apply_target(v, pol[k].target);
		publish_balloon(m, idx[k], pol[k].target, true);
		modvm_plugin_log(m->ctx, MODVM_LOG_DEBUG, "vm %u: target %llu MiB", idx[k],
				 (unsigned long long)(pol[k].target >> 20));
	}
}

/* A target from someone else: hold the VM at it (0 hands it back). */
static void on_target(const struct modvm_mem_balloon *ev, void *ud)
{
	struct mb *m = ud;

	if (!strncmp(ev->source, PLUGIN_NAME, sizeof(ev->source)))
		return;
	if (ev->vm_id >= m->nvms || !m->vms[ev->vm_id].enabled) {
		modvm_plugin_log(m->ctx, MODVM_LOG_WARN,
				 "mem.balloon_target from %.*s: vm %u has no balloon (ignored)",
				 (int)sizeof(ev->source), ev->source, ev->vm_id);
		return;
	}
	struct mb_vm *v = &m->vms[ev->vm_id];
	if (!ev->guest_bytes) {
		v->manual = 0;
		modvm_plugin_log(m->ctx, MODVM_LOG_INFO, "vm %u: back to the automatic policy",
				 ev->vm_id);
		return;
	}
	uint64_t want = ev->guest_bytes;
	if (v->ram) {
		if (want < v->pol.minimum)
			want = v->pol.minimum;
		if (want > v->pol.maximum)
			want = v->pol.maximum;
	}
	v->manual = want;
	v->pol.current = want;
	v->pol.last_dir = 0;
	modvm_plugin_log(m->ctx, MODVM_LOG_INFO, "vm %u: target %llu MiB set by %.*s", ev->vm_id,
			 (unsigned long long)(want >> 20), (int)sizeof(ev->source), ev->source);
	if (v->dev)
		apply_target(v, want);
}

/* ---- per-VM hooks ---- */

static uint64_t clampu(uint64_t x, uint64_t lo, uint64_t hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

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
	uint64_t max = v->cfg_max ? clampu(v->cfg_max, 0, v->ram) : v->ram;
	uint64_t min = v->cfg_min ? v->cfg_min : v->ram / 8;
	if (min > max)
		min = max;
	uint64_t startup = v->cfg_startup ? clampu(v->cfg_startup, min, max) : max;
	v->pol.minimum = min;
	v->pol.maximum = max;
	v->pol.current = v->manual ? clampu(v->manual, min, max) : startup;
	v->pol.last_dir = 0;
	v->pol.since_move = 0;
	v->stats_gen = 0;
	v->actual_bytes = 0;
	apply_target(v, v->pol.current);
	modvm_plugin_log(ctx, MODVM_LOG_INFO,
			 "vm %s: balloon on %s, memory %llu MiB, minimum %llu, maximum %llu, "
			 "startup %llu MiB",
			 modvm_vm_name(vm), modvm_virtio_name(modvm_virtio_mmio_dev(
						    balloon_dev_transport(v->dev))),
			 (unsigned long long)(v->ram >> 20), (unsigned long long)(min >> 20),
			 (unsigned long long)(max >> 20), (unsigned long long)(startup >> 20));
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
	v->pol.buffer_pct = (uint32_t)modvm_config_int(c, "buffer");
	v->pol.weight = (uint32_t)modvm_config_int(c, "weight");
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
	mb_policy_defaults(&m->params);
	m->params.host_reserve = modvm_config_size(cfg, "host_reserve");
	m->params.psi_limit_permille = (uint32_t)modvm_config_int(cfg, "psi_limit");
	m->interval_s = (double)modvm_config_int(cfg, "interval_ms") / 1000.0;
	m->meminfo = modvm_config_string(cfg, "meminfo");
	m->psi = modvm_config_string(cfg, "psi");
	m->nvms = modvm_plugin_vm_count(ctx);
	m->vms = calloc(m->nvms ? m->nvms : 1, sizeof(*m->vms));
	m->scratch = calloc(m->nvms ? m->nvms : 1, sizeof(*m->scratch));
	m->scratch_id = calloc(m->nvms ? m->nvms : 1, sizeof(*m->scratch_id));
	rc = -ENOMEM;
	if (!m->vms || !m->scratch || !m->scratch_id)
		goto free_vms;
	for (unsigned i = 0; i < m->nvms; i++)
		if ((rc = vm_configure(m, i)) < 0)
			goto free_vms;
	if ((rc = modvm_bus_register(&modvm_event_mem_pressure)) < 0 ||
	    (rc = modvm_bus_register(&modvm_event_mem_guest_stats)) < 0 ||
	    (rc = modvm_bus_register(&modvm_event_mem_balloon_target)) < 0 ||
	    (rc = modvm_bus_register(&modvm_event_mem_balloon_actual)) < 0)
		goto free_vms;
	rc = modvm_subscribe_mem_balloon_target(bus(m), MODVM_PRIO_DEFAULT, on_target, m);
	if (rc < 0)
		goto free_vms;
	m->sub_target = rc;
	rc = modvm_plugin_set_vm_hooks(ctx, &hooks, m);
	if (rc < 0)
		goto unsubscribe;
	modvm_plugin_set_data(ctx, m);
	return 0;

unsubscribe:
	modvm_bus_unsubscribe(bus(m), m->sub_target);
free_vms:
	free(m->scratch_id);
	free(m->scratch);
	free(m->vms);
	free(m);
	return rc;
}

/* What init and start would refuse, with nothing started (`modvm check`):
 * every VM's limits, and a meminfo that cannot be read. */
static int mb_validate(struct modvm_plugin_ctx *ctx)
{
	const struct modvm_config *cfg = modvm_plugin_config(ctx);
	struct mb_host_sample hs;
	char err[320];
	int rc = 0;

	for (unsigned i = 0; i < modvm_plugin_vm_count(ctx); i++) {
		int e = check_limits(ctx, i);
		rc = rc ? rc : e;
	}
	int e = mb_host_read(modvm_config_string(cfg, "meminfo"), modvm_config_string(cfg, "psi"),
			     &hs, err, sizeof(err));
	if (e < 0)
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "%s: meminfo: %s",
				 modvm_config_where(cfg, "meminfo"), err);
	return rc ? rc : e;
}

static int mb_start(struct modvm_plugin_ctx *ctx)
{
	struct mb *m = modvm_plugin_data(ctx);
	struct mb_host_sample hs;
	char err[320];

	/* Refuse a meminfo path that can't be read now, not at the first tick. */
	int rc = mb_host_read(m->meminfo, m->psi, &hs, err, sizeof(err));
	if (rc < 0) {
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "%s", err);
		return rc;
	}
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
	free(m->scratch_id);
	free(m->scratch);
	free(m->vms);
	free(m);
	modvm_plugin_set_data(ctx, NULL);
}

static const struct modvm_option options[] = {
	{ .name = "interval_ms", .type = MODVM_OPT_INT, .default_value = "1000", .min = 50,
	  .max = 600000, .description = "how often pressure and guest stats are read (ms)" },
	{ .name = "meminfo", .type = MODVM_OPT_STRING, .default_value = "/proc/meminfo",
	  .description = "source of MemTotal and MemAvailable" },
	{ .name = "psi", .type = MODVM_OPT_STRING, .default_value = "/proc/pressure/memory",
	  .description = "memory pressure stall information (missing: MemAvailable only)" },
	{ .name = "host_reserve", .type = MODVM_OPT_SIZE, .default_value = "256M", .min = 0,
	  .max = 0, .description = "memory never handed to guests" },
	{ .name = "psi_limit", .type = MODVM_OPT_INT, .default_value = "100", .min = 0,
	  .max = 1000,
	  .description = "PSI some avg10 (per mille) at which guests are squeezed; 0 = never" },
	MODVM_OPTIONS_END,
};

static const struct modvm_option vm_options[] = {
	{ .name = "enabled", .type = MODVM_OPT_BOOL, .default_value = "true",
	  .description = "give this VM a balloon and Dynamic Memory" },
	{ .name = "startup", .type = MODVM_OPT_SIZE, .default_value = "0",
	  .description = "memory the guest starts with; 0 = maximum" },
	{ .name = "minimum", .type = MODVM_OPT_SIZE, .default_value = "0",
	  .description = "never less than this; 0 = an eighth of the VM's memory" },
	{ .name = "maximum", .type = MODVM_OPT_SIZE, .default_value = "0",
	  .description = "never more than this; 0 (or above memory) = the VM's memory" },
	{ .name = "buffer", .type = MODVM_OPT_INT, .default_value = "20", .min = 5, .max = 2000,
	  .description = "memory kept free above demand, in percent of demand" },
	{ .name = "weight", .type = MODVM_OPT_INT, .default_value = "5000", .min = 0,
	  .max = 10000, .description = "share of memory when the host is short" },
	{ .name = "free_page_reporting", .type = MODVM_OPT_BOOL, .default_value = "true",
	  .description = "let the guest hand pages it freed back to the host at once "
			 "(VIRTIO_BALLOON_F_REPORTING), besides inflating" },
	MODVM_OPTIONS_END,
};

static struct modvm_event_desc *const events[] = {
	&modvm_event_mem_pressure, &modvm_event_mem_guest_stats,
	&modvm_event_mem_balloon_target, &modvm_event_mem_balloon_actual, NULL
};

MODVM_PLUGIN(.name = PLUGIN_NAME, .kind = MODVM_KIND_MEMORY_POLICY, .version = "1.0.0",
	     .license = "MIT",
	     .description = "Dynamic Memory: virtio-balloon and a weighted memory policy",
	     .options = options, .vm_options = vm_options, .events = events, .init = mb_init,
	     .start = mb_start, .stop = mb_stop, .fini = mb_fini, .validate = mb_validate);
