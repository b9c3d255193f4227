/*
 * plugin.c — core-parking: Core Parking, the in-tree power policy.
 *
 * Every interval_ms the loop timer reads /proc/stat (sampler.c) and
 * publishes host.cpu_load for every core the parking mechanism manages,
 * adds the vCPU threads' own run time from vcpu.stats (the demand
 * /proc/stat lags behind), feeds the pure policy (policy.c) and, when the
 * set of unparked cores changes, tells the mechanism ("modvm.park/1",
 * power-park in tree) which cores to park, with the reason.  The mechanism
 * does the parking, journals it, publishes power.core_state, protects the
 * cores that serve NIC queues and undoes it all on stop.  It is a plugin
 * like any third party's: it only uses the SDK, and acts only if the config
 * makes it the host's power policy (host.power_policy).  All of it runs on
 * the loop thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <modvm/events.h>
#include <modvm/loop.h>
#include <modvm/park.h>
#include <modvm/plugin.h>

#include "policy.h"
#include "sampler.h"

#define PLUGIN_NAME "core-parking"
#define MAX_VCPUS 256

/* One vCPU thread as vcpu.stats last described it. */
struct vcpu_track {
	uint32_t vm_id, vcpu;
	int32_t tid;
	uint64_t run_ns;	/* thread CPU time at the last sample */
	uint64_t wall_ns;	/* the sample's interval_ns: wall time since the thread began */
	uint64_t seen_ns;	/* CLOCK_MONOTONIC of the last sample */
	uint64_t period_ns;	/* wall time between the last two samples */
	uint32_t permille;	/* run time / wall time between them */
};

struct cp {
	struct modvm_plugin_ctx *ctx;
	struct park_params params;
	const char *min_cores;		/* as written: resolved against the managed cores */
	uint64_t interval_ns;
	const struct modvm_park *park;	/* the mechanism, from start to stop */
	bool granted;
	unsigned cpus[PARK_MAX_CPUS];	/* the managed cores */
	unsigned ncores;
	struct park_policy pol;
	struct park_sampler smp;
	struct park_sample sample;
	uint32_t permille[PARK_MAX_CPUS];
	struct vcpu_track vcpus[MAX_VCPUS];
	unsigned nvcpus;
	struct modvm_timer *timer;
	int sub_vm, sub_stats;
	bool read_failing;		/* log a failing /proc/stat once, not every tick */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * A vCPU's last rate holds until its VM stops or pauses (vm.lifecycle).  A
 * late sample is no sign of idleness — a busy host delays the stats timer
 * most — so only a long silence (ten periods, at least 1 s) drops it.
 */
static bool fresh(const struct cp *c, const struct vcpu_track *v, uint64_t now)
{
	uint64_t window = 10 * v->period_ns > 1000000000u ? 10 * v->period_ns : 1000000000u;

	return v->tid > 0 && now - v->seen_ns <= window + c->interval_ns;
}

/* Which managed cores are parked and protected now, per the mechanism. */
static int sync_state(struct cp *c, struct modvm_park_state *st)
{
	st->struct_size = sizeof(*st);
	int rc = c->park->get_state(c->ctx, st);

	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < c->ncores; i++) {
		c->pol.unparked[i] = !modvm_cpus_has(&st->parked, c->cpus[i]);
		c->sample.pinned[i] = modvm_cpus_has(&st->protected_cpus, c->cpus[i]);
	}
	return 0;
}

static void on_tick(struct modvm_timer *t, void *ud)
{
	struct cp *c = ud;
	struct modvm_park_state st;
	struct park_decision d;
	uint64_t now = now_ns();
	char err[300];
	int rc;

	(void)t;
	rc = park_sampler_read(&c->smp, c->permille, err, sizeof(err));
	if (rc < 0) {
		if (!c->read_failing)
			modvm_plugin_log(c->ctx, MODVM_LOG_ERROR, "%s", err);
		c->read_failing = true;
		return;
	}
	c->read_failing = false;
	c->sample.vcpu_permille = 0;
	for (unsigned v = 0; v < c->nvcpus; v++)
		if (fresh(c, &c->vcpus[v], now))
			c->sample.vcpu_permille += c->vcpus[v].permille;
	for (unsigned i = 0; i < c->ncores; i++) {
		struct modvm_host_cpu_load ev = { .cpu = c->cpus[i],
						  .busy_permille = c->permille[c->cpus[i]],
						  .interval_ns = c->interval_ns };
		c->sample.busy_permille[i] = ev.busy_permille;
		modvm_publish_host_cpu_load(modvm_plugin_bus(c->ctx), &ev);
	}
	if (!c->granted || sync_state(c, &st) < 0)
		return;
	park_policy_step(&c->pol, &c->sample, &d);
	if (!d.changed)
		return;
	struct modvm_cpus parked = { { 0 } }, refused;
	for (unsigned i = 0; i < c->ncores; i++)
		if (!c->pol.unparked[i])
			modvm_cpus_add(&parked, c->cpus[i]);
	if (c->park->apply(c->ctx, &parked, d.reason, &refused) < 0) {
		c->granted = false;	/* the mechanism stopped: the grant is gone */
		return;
	}
	for (unsigned i = 0; i < c->ncores; i++)
		if (modvm_cpus_has(&refused, c->cpus[i]))
			c->pol.unparked[i] = true;
}

static void on_vm(const struct modvm_vm_lifecycle *ev, void *ud)
{
	struct cp *c = ud;

	if (ev->state == MODVM_VM_PAUSED)	/* no demand until it runs again */
		for (unsigned v = 0; v < c->nvcpus; v++)
			if (c->vcpus[v].vm_id == ev->vm_id)
				c->vcpus[v].permille = 0;
	if (ev->state == MODVM_VM_STOPPING || ev->state == MODVM_VM_STOPPED ||
	    ev->state == MODVM_VM_FAILED) {
		unsigned w = 0;
		for (unsigned v = 0; v < c->nvcpus; v++)
			if (c->vcpus[v].vm_id != ev->vm_id)
				c->vcpus[w++] = c->vcpus[v];
		c->nvcpus = w;
	}
}

/*
 * vcpu.stats (v2: both clocks count from the thread's start): the run time
 * over the wall time between this sample and the previous one.
 */
static void on_stats(const struct modvm_vcpu_stats *ev, void *ud)
{
	struct cp *c = ud;
	struct vcpu_track *v = NULL;
	uint64_t ran, span;

	for (unsigned i = 0; i < c->nvcpus && !v; i++)
		if (c->vcpus[i].vm_id == ev->vm_id && c->vcpus[i].vcpu == ev->vcpu)
			v = &c->vcpus[i];
	if (!v) {
		if (c->nvcpus == MAX_VCPUS)
			return;	/* more vCPUs than we track: /proc/stat still sees them */
		v = &c->vcpus[c->nvcpus++];
		*v = (struct vcpu_track){ .vm_id = ev->vm_id, .vcpu = ev->vcpu };
	}
	if (v->tid != ev->tid || ev->run_ns < v->run_ns || ev->interval_ns < v->wall_ns) {
		v->run_ns = 0;	/* a new thread: its clocks start at 0 */
		v->wall_ns = 0;
	}
	ran = ev->run_ns - v->run_ns;
	span = ev->interval_ns - v->wall_ns;
	v->tid = ev->tid;
	v->run_ns = ev->run_ns;
	v->wall_ns = ev->interval_ns;
	v->seen_ns = now_ns();
	v->period_ns = span;
	v->permille = span ? (uint32_t)(ran > UINT64_MAX / 1000 ? 1000 : ran * 1000 / span) : 0;
	if (v->permille > 1000)
		v->permille = 1000;
}

/* ---- configuration ---- */

static int read_params(struct cp *c, struct modvm_plugin_ctx *ctx,
		       const struct modvm_config *cfg)
{
	c->ctx = ctx;
	c->params = (struct park_params){
		.max_cores = (unsigned)modvm_config_int(cfg, "max_cores"),
		.increase_threshold = (unsigned)modvm_config_int(cfg, "increase_threshold"),
		.decrease_threshold = (unsigned)modvm_config_int(cfg, "decrease_threshold"),
		.increase_time = (unsigned)modvm_config_int(cfg, "increase_time"),
		.decrease_time = (unsigned)modvm_config_int(cfg, "decrease_time"),
		.cores_per_step = (unsigned)modvm_config_int(cfg, "cores_per_step"),
	};
	c->min_cores = modvm_config_string(cfg, "min_cores");
	c->interval_ns = (uint64_t)modvm_config_int(cfg, "interval_ms") * 1000000u;
	return 0;
}

/*
 * The parameters against @ncores managed cores (the mechanism's, at start;
 * as many as there may be, in validate: then only the rules that need no
 * host are checked).  Logs each problem with its file:line.
 */
static int resolve(struct cp *c, const struct modvm_config *cfg, const unsigned *cpus,
		   unsigned ncores)
{
	char err[200];
	int rc = park_min_cores_parse(c->min_cores, ncores, &c->params.min_cores, err, sizeof(err));

	if (rc < 0) {
		modvm_plugin_log(c->ctx, MODVM_LOG_ERROR, "%s: %s",
				 modvm_config_where(cfg, "min_cores"), err);
		return rc;
	}
	rc = park_policy_init(&c->pol, &c->params, cpus, ncores, err, sizeof(err));
	if (rc < 0)
		modvm_plugin_log(c->ctx, MODVM_LOG_ERROR, "%s", err);
	return rc;
}

static int cp_validate(struct modvm_plugin_ctx *ctx)
{
	const struct modvm_config *cfg = modvm_plugin_config(ctx);
	struct cp *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	for (unsigned i = 0; i < PARK_MAX_CPUS; i++)
		c->cpus[i] = i;
	read_params(c, ctx, cfg);
	rc = resolve(c, cfg, c->cpus, PARK_MAX_CPUS);
	free(c);
	return rc;
}

/* ---- lifecycle ---- */

static int cp_init(struct modvm_plugin_ctx *ctx)
{
	const struct modvm_config *cfg = modvm_plugin_config(ctx);
	struct cp *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	read_params(c, ctx, cfg);
	park_sampler_init(&c->smp, modvm_config_string(cfg, "proc_stat"));
	if ((rc = modvm_bus_register(&modvm_event_host_cpu_load)) < 0)
		goto free_state;
	rc = modvm_subscribe_vm_lifecycle(modvm_plugin_bus(ctx), MODVM_PRIO_DEFAULT, on_vm, c);
	if (rc < 0)
		goto free_state;
	c->sub_vm = rc;
	rc = modvm_subscribe_vcpu_stats(modvm_plugin_bus(ctx), MODVM_PRIO_DEFAULT, on_stats, c);
	if (rc < 0)
		goto unsubscribe_vm;
	c->sub_stats = rc;
	modvm_plugin_set_data(ctx, c);
	return 0;

unsubscribe_vm:
	modvm_bus_unsubscribe(modvm_plugin_bus(ctx), c->sub_vm);
free_state:
	free(c);
	return rc;
}

/* The mechanism, the grant and the managed cores; 0 if there is nothing to decide. */
static int take_mechanism(struct cp *c, const struct modvm_config *cfg)
{
	struct modvm_park_state st = { .struct_size = sizeof(st) };
	const char *provider = NULL;
	int rc;

	c->park = modvm_plugin_query(c->ctx, MODVM_PARK_IFACE, &provider);
	if (!c->park || c->park->struct_size < sizeof(*c->park)) {
		modvm_plugin_log(c->ctx, MODVM_LOG_WARN,
				 "no plugin provides %s (enable power-park): nothing to park",
				 MODVM_PARK_IFACE);
		c->park = NULL;
		return 0;
	}
	rc = c->park->acquire(c->ctx);
	if (rc < 0) {
		modvm_plugin_log(c->ctx, MODVM_LOG_ERROR, "%s (%s) refused the grant: %s", provider,
				 MODVM_PARK_IFACE, modvm_strerror(rc));
		c->park = NULL;
		return rc;
	}
	c->granted = true;
	rc = c->park->get_state(c->ctx, &st);
	c->ncores = 0;
	for (unsigned cpu = 0; rc == 0 && cpu < PARK_MAX_CPUS; cpu++)
		if (modvm_cpus_has(&st.managed, cpu))
			c->cpus[c->ncores++] = cpu;
	if (rc == 0 && c->ncores == 0)
		rc = -ENODEV;
	if (rc == 0)
		rc = resolve(c, cfg, c->cpus, c->ncores);
	if (rc < 0) {
		c->park->release(c->ctx);
		c->park = NULL;
		c->granted = false;
		return rc;
	}
	modvm_plugin_log(c->ctx, MODVM_LOG_INFO, "parking through %s: %u cores, every %llu ms",
			 provider, c->ncores, (unsigned long long)(c->interval_ns / 1000000u));
	return 0;
}

static int cp_start(struct modvm_plugin_ctx *ctx)
{
	struct cp *c = modvm_plugin_data(ctx);
	double interval_s = (double)c->interval_ns / 1e9;
	char err[300];
	int rc;

	/* prime the counters, and refuse a file that is not /proc/stat now */
	rc = park_sampler_read(&c->smp, c->permille, err, sizeof(err));
	if (rc < 0) {
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "proc_stat: %s", err);
		return rc;
	}
	if (!modvm_plugin_governs(ctx, 0)) {
		const char *gov = modvm_plugin_governor(ctx, MODVM_KIND_POWER_POLICY, 0);
		modvm_plugin_log(ctx, MODVM_LOG_INFO,
				 "the host's power policy is %s (host.power_policy): not parking",
				 gov ? gov : "none");
		return 0;
	}
	rc = take_mechanism(c, modvm_plugin_config(ctx));
	if (rc < 0)
		return rc;
	c->timer = modvm_timer_start(modvm_plugin_loop(ctx), interval_s, interval_s, on_tick, c);
	if (!c->timer) {
		if (c->park)
			c->park->release(ctx);
		c->park = NULL;
		c->granted = false;
		return -ENOMEM;
	}
	return 0;
}

static void cp_stop(struct modvm_plugin_ctx *ctx)
{
	struct cp *c = modvm_plugin_data(ctx);

	modvm_timer_stop(c->timer);
	c->timer = NULL;
	if (c->park && c->granted)
		c->park->release(ctx);
	c->park = NULL;
	c->granted = false;
}

static void cp_fini(struct modvm_plugin_ctx *ctx)
{
	struct cp *c = modvm_plugin_data(ctx);

	modvm_bus_unsubscribe(modvm_plugin_bus(ctx), c->sub_stats);
	modvm_bus_unsubscribe(modvm_plugin_bus(ctx), c->sub_vm);
	free(c);
	modvm_plugin_set_data(ctx, NULL);
}

static const struct modvm_option options[] = {
	{ .name = "min_cores", .type = MODVM_OPT_STRING, .default_value = "1",
	  .description = "cores always kept unparked: a count (2 or \"2\") or a share of the "
			 "managed cores (\"50%\", quoted)" },
	{ .name = "max_cores", .type = MODVM_OPT_INT, .default_value = "0", .min = 0,
	  .max = PARK_MAX_CPUS, .description = "most cores unparked; 0 = every managed core" },
	{ .name = "increase_threshold", .type = MODVM_OPT_INT, .default_value = "60", .min = 1,
	  .max = 100, .description = "unpark when unparked cores are busier than this (%)" },
	{ .name = "decrease_threshold", .type = MODVM_OPT_INT, .default_value = "20", .min = 0,
	  .max = 99, .description = "park when the load fits in fewer cores below this (%)" },
	{ .name = "increase_time", .type = MODVM_OPT_INT, .default_value = "1", .min = 1,
	  .max = 1000, .description = "intervals the increase condition must hold" },
	{ .name = "decrease_time", .type = MODVM_OPT_INT, .default_value = "3", .min = 1,
	  .max = 1000, .description = "intervals the decrease condition must hold" },
	{ .name = "cores_per_step", .type = MODVM_OPT_INT, .default_value = "1", .min = 1,
	  .max = PARK_MAX_CPUS, .description = "cores parked or (at least) unparked per step" },
	{ .name = "interval_ms", .type = MODVM_OPT_INT, .default_value = "1000", .min = 10,
	  .max = 60000, .description = "sampling and decision period (ms)" },
	{ .name = "proc_stat", .type = MODVM_OPT_STRING, .default_value = "/proc/stat",
	  .description = "per-core utilisation source" },
	MODVM_OPTIONS_END,
};

static struct modvm_event_desc *const events[] = { &modvm_event_host_cpu_load, NULL };

MODVM_PLUGIN(.name = PLUGIN_NAME, .kind = MODVM_KIND_POWER_POLICY, .version = "1.0.0",
	     .license = "MIT",
	     .description = "Core Parking: pack vCPUs onto fewer cores, park the idle ones (a "
			    "power policy on modvm.park/1)",
	     .options = options, .events = events, .init = cp_init, .start = cp_start,
	     .stop = cp_stop, .fini = cp_fini, .validate = cp_validate);
