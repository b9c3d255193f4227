/*
 * plugin.c — mem-dynamic: Dynamic Memory, the in-tree memory policy.
 *
 * Every interval_ms it reads the host's memory (modvm_host_mem_read:
 * MemAvailable and memory PSI) and publishes host.mem_pressure, reads the
 * balloon of every VM it governs through "modvm.balloon/1" (its limits,
 * the target in force, what the guest holds and reports), runs the pure
 * policy (policy.c: demand plus a buffer, shared by weight when the host is
 * short, with hysteresis) and asks the mechanism for the targets that
 * changed.  It is a plugin like any third party's: it uses only the SDK, it
 * governs only the VMs the config gives it (host.memory_policy, a VM's
 * memory_policy), it leaves alone a VM the operator holds
 * (MODVM_BALLOON_OPERATOR) until it is handed back, and a VM that has no
 * balloon or has stopped.
 *
 * Everything here runs on the loop thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/balloon.h>
#include <modvm/events.h>
#include <modvm/hostmem.h>
#include <modvm/loop.h>
#include <modvm/plugin.h>

#include "policy.h"

#define PLUGIN_NAME "mem-dynamic"

struct dm_vm {
	struct dm_policy_vm pol;	/* carried between intervals while `known` */
	bool known;			/* the policy has state for the VM's balloon */
	bool told_no_balloon;
	/* Its vm.lifecycle said STOPPING (or STOPPED, FAILED) and no start
	 * since: left alone, although its balloon answers until teardown. */
	bool stopped;
};

struct dm {
	struct modvm_plugin_ctx *ctx;
	struct dm_policy_params params;
	double interval_s;
	const char *meminfo, *psi;
	unsigned nvms;
	struct dm_vm *vms;
	struct dm_policy_vm *scratch;	/* the policy's input, nvms entries */
	unsigned *scratch_id;
	const struct modvm_balloon *bl;	/* the mechanism, found at start */
	struct modvm_timer *timer;
	int sub_vm;
	bool read_failing;	/* log a failing host read once, not every tick */
	bool psi_missing_logged;
	bool no_mechanism_logged;
};

static const char *vm_name(struct dm *d, unsigned id)
{
	const char *n = modvm_plugin_vm_name(d->ctx, id);
	return n ? n : "?";
}

/* The mechanism, looked up again until one answers (it may come later). */
static const struct modvm_balloon *mechanism(struct dm *d)
{
	const char *provider = NULL;

	if (d->bl)
		return d->bl;
	d->bl = modvm_plugin_query(d->ctx, MODVM_BALLOON_IFACE, &provider);
	if (d->bl && d->bl->struct_size < sizeof(*d->bl))
		d->bl = NULL;
	if (d->bl)
		modvm_plugin_log(d->ctx, MODVM_LOG_INFO, "balloons through %s (%s)", provider,
				 MODVM_BALLOON_IFACE);
	else if (!d->no_mechanism_logged)
		modvm_plugin_log(d->ctx, MODVM_LOG_WARN,
				 "no plugin provides %s (enable mem-balloon): nothing to size",
				 MODVM_BALLOON_IFACE);
	d->no_mechanism_logged = !d->bl;
	return d->bl;
}

/*
 * VM @id as the policy sees it now, from the mechanism.  False if the
 * policy must leave it alone this interval: not ours, no balloon, or held
 * by the operator (whose size then becomes the policy's starting point).
 */
static bool observe(struct dm *d, unsigned id, const struct modvm_balloon *bl)
{
	struct dm_vm *v = &d->vms[id];
	struct modvm_balloon_info info = { .struct_size = sizeof(info) };
	const struct modvm_config *c = modvm_plugin_vm_config(d->ctx, id);

	if (!modvm_plugin_governs(d->ctx, id) || v->stopped) {
		v->known = false;
		return false;
	}
	int r = bl->get(d->ctx, id, &info);
	if (r < 0) {
		if (r == -ENODEV && !v->told_no_balloon)
			modvm_plugin_log(d->ctx, MODVM_LOG_INFO, "vm %s: no balloon (yet): not sized",
					 vm_name(d, id));
		v->told_no_balloon = r == -ENODEV;
		v->known = false;
		return false;
	}
	v->told_no_balloon = false;
	if (!v->known || (info.flags & MODVM_BALLOON_OPERATOR)) {
		v->pol = (struct dm_policy_vm){ .current = info.target };
		v->known = true;
	}
	if (info.flags & MODVM_BALLOON_OPERATOR)
		return false;
	v->pol.minimum = info.minimum;
	v->pol.maximum = info.maximum;
	v->pol.buffer_pct = c ? (uint32_t)modvm_config_int(c, "buffer") : 20;
	v->pol.weight = c ? (uint32_t)modvm_config_int(c, "weight") : 5000;
	v->pol.have_stats = (info.flags & MODVM_BALLOON_STATS) != 0;
	v->pol.total = info.stats.total;
	v->pol.free = info.stats.free;
	v->pol.available = info.stats.available;
	v->pol.held = info.actual;
	v->pol.in_balloon = (info.flags & MODVM_BALLOON_COUNTED) ? info.in_balloon : 0;
	return true;
}

static void on_tick(struct modvm_timer *t, void *ud)
{
	struct dm *d = ud;
	struct modvm_mem_pressure p;
	bool have_psi;
	char err[320];

	(void)t;
	int r = modvm_host_mem_read(d->meminfo, d->psi, &p, &have_psi, err, sizeof(err));
	if (r < 0) {
		if (!d->read_failing)
			modvm_plugin_log(d->ctx, MODVM_LOG_ERROR, "%s (targets frozen)", err);
		d->read_failing = true;
		return;
	}
	d->read_failing = false;
	if (!have_psi && !d->psi_missing_logged) {
		modvm_plugin_log(d->ctx, MODVM_LOG_INFO, "%s: missing, deciding on MemAvailable only",
				 d->psi);
		d->psi_missing_logged = true;
	}
	modvm_publish_mem_pressure(modvm_plugin_bus(d->ctx), &p);

	const struct modvm_balloon *bl = mechanism(d);
	if (!bl)
		return;
	unsigned n = 0;
	for (unsigned i = 0; i < d->nvms; i++) {
		if (!observe(d, i, bl))
			continue;
		d->scratch_id[n] = i;
		d->scratch[n++] = d->vms[i].pol;
	}
	struct dm_policy_host host = { .mem_total = p.mem_total,
				       .mem_available = p.mem_available,
				       .psi_some_permille = p.psi_some_avg10_permille,
				       .psi_full_permille = p.psi_full_avg10_permille };
	dm_policy_run(&d->params, &host, d->scratch, n);
	for (unsigned k = 0; k < n; k++) {
		unsigned id = d->scratch_id[k];
		struct dm_vm *v = &d->vms[id];
		uint64_t effective = 0;

		v->pol = d->scratch[k];
		if (!v->pol.changed)
			continue;
		r = bl->set_target(d->ctx, id, v->pol.target, &effective);
		if (r < 0) {
			/* the operator took it, or its balloon went: next interval says */
			v->known = false;
			continue;
		}
		v->pol.current = effective;
		modvm_plugin_log(d->ctx, MODVM_LOG_DEBUG, "vm %u: target %llu MiB", id,
				 (unsigned long long)(effective >> 20));
	}
}

/* A VM that stops is left alone at once and until it starts again (its
 * balloon still answers until the VM is torn down); the next start begins
 * afresh. */
static void on_vm(const struct modvm_vm_lifecycle *ev, void *ud)
{
	struct dm *d = ud;

	if (ev->vm_id >= d->nvms)
		return;
	if (ev->state == MODVM_VM_STOPPING || ev->state == MODVM_VM_STOPPED ||
	    ev->state == MODVM_VM_FAILED) {
		d->vms[ev->vm_id].known = false;
		d->vms[ev->vm_id].stopped = true;
	} else if (ev->state == MODVM_VM_CREATED || ev->state == MODVM_VM_STARTING ||
		   ev->state == MODVM_VM_RUNNING) {
		d->vms[ev->vm_id].stopped = false;
	}
}

/* ---- lifecycle ---- */

static int check_host(struct modvm_plugin_ctx *ctx, const struct modvm_config *cfg)
{
	struct modvm_mem_pressure p;
	char err[320];
	int r = modvm_host_mem_read(modvm_config_string(cfg, "meminfo"),
				    modvm_config_string(cfg, "psi"), &p, NULL, err, sizeof(err));

	if (r < 0)
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "%s: meminfo: %s",
				 modvm_config_where(cfg, "meminfo"), err);
	return r;
}

static int dm_init(struct modvm_plugin_ctx *ctx)
{
	const struct modvm_config *cfg = modvm_plugin_config(ctx);
	struct dm *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return -ENOMEM;
	d->ctx = ctx;
	dm_policy_defaults(&d->params);
	d->params.host_reserve = modvm_config_size(cfg, "host_reserve");
	d->params.psi_limit_permille = (uint32_t)modvm_config_int(cfg, "psi_limit");
	d->interval_s = (double)modvm_config_int(cfg, "interval_ms") / 1000.0;
	d->meminfo = modvm_config_string(cfg, "meminfo");
	d->psi = modvm_config_string(cfg, "psi");
	d->nvms = modvm_plugin_vm_count(ctx);
	d->vms = calloc(d->nvms ? d->nvms : 1, sizeof(*d->vms));
	d->scratch = calloc(d->nvms ? d->nvms : 1, sizeof(*d->scratch));
	d->scratch_id = calloc(d->nvms ? d->nvms : 1, sizeof(*d->scratch_id));
	rc = -ENOMEM;
	if (!d->vms || !d->scratch || !d->scratch_id)
		goto free_all;
	if ((rc = modvm_bus_register(&modvm_event_mem_pressure)) < 0)
		goto free_all;
	rc = modvm_subscribe_vm_lifecycle(modvm_plugin_bus(ctx), MODVM_PRIO_DEFAULT, on_vm, d);
	if (rc < 0)
		goto free_all;
	d->sub_vm = rc;
	modvm_plugin_set_data(ctx, d);
	return 0;

free_all:
	free(d->scratch_id);
	free(d->scratch);
	free(d->vms);
	free(d);
	return rc;
}

/* What start would refuse, with nothing started (`modvm check`). */
static int dm_validate(struct modvm_plugin_ctx *ctx)
{
	return check_host(ctx, modvm_plugin_config(ctx));
}

static int dm_start(struct modvm_plugin_ctx *ctx)
{
	struct dm *d = modvm_plugin_data(ctx);
	struct modvm_mem_pressure p;
	char err[320];

	/* Refuse a meminfo path that can't be read now, not at the first tick. */
	int rc = modvm_host_mem_read(d->meminfo, d->psi, &p, NULL, err, sizeof(err));
	if (rc < 0) {
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "%s", err);
		return rc;
	}
	for (unsigned i = 0; i < d->nvms; i++)
		d->vms[i].known = false;
	d->bl = NULL;
	d->no_mechanism_logged = false;
	d->timer = modvm_timer_start(modvm_plugin_loop(ctx), d->interval_s, d->interval_s, on_tick,
				     d);
	return d->timer ? 0 : -ENOMEM;
}

static void dm_stop(struct modvm_plugin_ctx *ctx)
{
	struct dm *d = modvm_plugin_data(ctx);

	modvm_timer_stop(d->timer);
	d->timer = NULL;
	d->bl = NULL;	/* only used between start and stop */
}

static void dm_fini(struct modvm_plugin_ctx *ctx)
{
	struct dm *d = modvm_plugin_data(ctx);

	modvm_bus_unsubscribe(modvm_plugin_bus(ctx), d->sub_vm);
	free(d->scratch_id);
	free(d->scratch);
	free(d->vms);
	free(d);
	modvm_plugin_set_data(ctx, NULL);
}

static const struct modvm_option options[] = {
	{ .name = "interval_ms", .type = MODVM_OPT_INT, .default_value = "1000", .min = 50,
	  .max = 600000, .description = "how often the host and the guests are weighed (ms)" },
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
	{ .name = "buffer", .type = MODVM_OPT_INT, .default_value = "20", .min = 5, .max = 2000,
	  .description = "memory kept free above demand, in percent of demand" },
	{ .name = "weight", .type = MODVM_OPT_INT, .default_value = "5000", .min = 0,
	  .max = 10000, .description = "share of memory when the host is short" },
	MODVM_OPTIONS_END,
};

static struct modvm_event_desc *const events[] = { &modvm_event_mem_pressure, NULL };

MODVM_PLUGIN(.name = PLUGIN_NAME, .kind = MODVM_KIND_MEMORY_POLICY, .version = "1.0.0",
	     .license = "MIT",
	     .description = "Dynamic Memory: guests sized by demand, shared by weight when the "
			    "host is short (a memory policy on modvm.balloon/1)",
	     .options = options, .vm_options = vm_options, .events = events, .init = dm_init,
	     .start = dm_start, .stop = dm_stop, .fini = dm_fini, .validate = dm_validate);
