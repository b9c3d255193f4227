/*
 * park-unused — an out-of-tree power policy (kind MODVM_KIND_POWER_POLICY)
 * written against the installed SDK only: every `interval_ms` it parks the
 * managed cores on which no vCPU ran since the last decision (vcpu.stats
 * says which core each vCPU thread last ran on), through the parking
 * mechanism's "modvm.park/1" (modvm/park.h).
 *
 * What it shows:
 *  - only the host's governing power policy (host.power_policy) takes the
 *    grant; anyone else leaves the host alone;
 *  - the policy never asks for a protected core (a NIC queue's, cpu0 when
 *    the mechanism takes cores offline) and reads what apply() refused;
 *  - release() in stop: nothing stays parked after us (the mechanism also
 *    unparks on its own stop, SIGTERM or a crash's recovery).
 *
 * Use it instead of core-parking:
 *     host = { power_policy = "park-unused"; };
 *     plugins = { power-park = { enabled = true; };
 *                 park-unused = { enabled = true; interval_ms = 2000; }; };
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/events.h>
#include <modvm/loop.h>
#include <modvm/park.h>
#include <modvm/plugin.h>

struct pu {
	struct modvm_plugin_ctx *ctx;
	double interval_s;
	const struct modvm_park *park;	/* held with the grant, start..stop only */
	struct modvm_timer *timer;
	int sub;			/* vcpu.stats, -1 when not subscribed */
	struct modvm_cpus used;		/* cores a vCPU ran on since the last decision */
};

static void on_stats(const struct modvm_vcpu_stats *s, void *ud)
{
	struct pu *p = ud;

	if (s->host_cpu >= 0)
		modvm_cpus_add(&p->used, (unsigned)s->host_cpu);
}

static void decide(struct modvm_timer *timer, void *ud)
{
	struct pu *p = ud;
	struct modvm_park_state st = { .struct_size = sizeof(st) };
	struct modvm_cpus park = { { 0 } }, refused;

	(void)timer;
	if (!p->park || p->park->get_state(p->ctx, &st) < 0)
		return;
	for (unsigned cpu = 0; cpu < MODVM_PARK_MAX_CPUS; cpu++)
		if (modvm_cpus_has(&st.managed, cpu) && !modvm_cpus_has(&st.protected_cpus, cpu) &&
		    !modvm_cpus_has(&p->used, cpu))
			modvm_cpus_add(&park, cpu);
	/* Keep one managed core for the vCPUs to move to. */
	if (modvm_cpus_count(&park) && modvm_cpus_count(&park) == modvm_cpus_count(&st.managed))
		for (unsigned cpu = 0; cpu < MODVM_PARK_MAX_CPUS; cpu++)
			if (modvm_cpus_has(&park, cpu)) {
				modvm_cpus_del(&park, cpu);
				break;
			}
	if (p->park->apply(p->ctx, &park, "no vCPU ran there", &refused) == 0 &&
	    modvm_cpus_count(&refused))
		modvm_plugin_log(p->ctx, MODVM_LOG_INFO, "%u core(s) refused by the mechanism",
				 modvm_cpus_count(&refused));
	memset(&p->used, 0, sizeof(p->used));
}

static int pu_init(struct modvm_plugin_ctx *ctx)
{
	struct pu *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->ctx = ctx;
	p->sub = -1;
	p->interval_s = (double)modvm_config_int(modvm_plugin_config(ctx), "interval_ms") / 1000.0;
	modvm_plugin_set_data(ctx, p);
	return 0;
}

static void pu_stop(struct modvm_plugin_ctx *ctx);

static int pu_start(struct modvm_plugin_ctx *ctx)
{
	struct pu *p = modvm_plugin_data(ctx);
	const char *provider = NULL;
	int r;

	if (!modvm_plugin_governs(ctx, 0)) {
		const char *gov = modvm_plugin_governor(ctx, MODVM_KIND_POWER_POLICY, 0);

		modvm_plugin_log(ctx, MODVM_LOG_INFO, "the host's power policy is %s: not parking",
				 gov ? gov : "none");
		return 0;
	}
	p->park = modvm_plugin_query(ctx, MODVM_PARK_IFACE, &provider);
	if (!p->park || p->park->struct_size < sizeof(*p->park)) {
		modvm_plugin_log(ctx, MODVM_LOG_WARN, "no plugin provides %s (enable power-park): "
				 "nothing to park", MODVM_PARK_IFACE);
		p->park = NULL;
		return 0;
	}
	if ((r = p->park->acquire(ctx)) < 0) {
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "%s refused the grant: %s",
				 provider ? provider : "the core", modvm_strerror(r));
		p->park = NULL;
		return r;
	}
	r = modvm_subscribe_vcpu_stats(modvm_plugin_bus(ctx), MODVM_PRIO_DEFAULT, on_stats, p);
	if (r >= 0) {
		p->sub = r;
		p->timer = modvm_timer_start(modvm_plugin_loop(ctx), p->interval_s, p->interval_s,
					     decide, p);
		r = p->timer ? 0 : -ENOMEM;
	}
	if (r < 0)
		pu_stop(ctx);
	return r;
}

static void pu_stop(struct modvm_plugin_ctx *ctx)
{
	struct pu *p = modvm_plugin_data(ctx);

	modvm_timer_stop(p->timer);
	p->timer = NULL;
	if (p->sub >= 0)
		modvm_bus_unsubscribe(modvm_plugin_bus(ctx), p->sub);
	p->sub = -1;
	if (p->park)
		p->park->release(ctx);	/* every core we parked comes back */
	p->park = NULL;
}

static void pu_fini(struct modvm_plugin_ctx *ctx)
{
	free(modvm_plugin_data(ctx));
	modvm_plugin_set_data(ctx, NULL);
}

static const struct modvm_option options[] = {
	{ .name = "interval_ms", .type = MODVM_OPT_INT, .default_value = "2000", .min = 100,
	  .max = 600000, .description = "how often the parked set is decided (ms)" },
	MODVM_OPTIONS_END,
};

MODVM_PLUGIN(.name = "park-unused", .kind = MODVM_KIND_POWER_POLICY, .version = "1.0.0",
	     .license = "MIT",
	     .description = "example power policy: parks the managed cores no vCPU ran on",
	     .options = options, .init = pu_init, .start = pu_start, .stop = pu_stop,
	     .fini = pu_fini);
