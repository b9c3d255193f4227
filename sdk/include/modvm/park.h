/*
 * modvm/park.h — the core-parking mechanism, "modvm.park/1" (ABI 1.4): what
 * a power policy uses to park host cores.
 *
 * Mechanism and policy are two plugins.  The mechanism (in tree:
 * power-park) owns everything that touches the host: which cores modvm may
 * park at all (its `cores`), how a core is parked (its `action`: re-pinning
 * modvm's threads away from it, the powersave cpufreq governor, taking it
 * offline), the journal that lets a crashed run's changes be undone by the
 * next start or `modvm recover`, undoing everything when it stops (also
 * on SIGTERM), and never parking a core that serves a VM's NIC queue
 * (net.queue_assigned) or, with offline, cpu0.  It provides this vtable
 * from get_interface(MODVM_PARK_IFACE) and publishes power.core_state for
 * every core it parks or unparks.
 *
 * A power policy (kind MODVM_KIND_POWER_POLICY; in tree: core-parking)
 * decides which cores to park from whatever it measures (host.cpu_load,
 * vcpu.stats, its own sampler).  It finds the mechanism in its start with
 * modvm_plugin_query(), takes the grant with acquire() — which only the
 * host's governing power policy gets (`host.power_policy`, see
 * modvm_plugin_governs), one at a time — and from then on says which cores
 * should be parked with apply().  release(), or its stop, gives everything
 * back unparked.
 *
 * The contract (modvm-conform's power-policy check holds every power
 * policy to the policy's side — never a protected or unmanaged core, apply
 * only with the grant, nothing parked and the grant back after its stop —
 * against a mechanism the kit plays; the unit tests of power-park check
 * the mechanism's side):
 *  - only the holder of the grant changes anything; anyone else gets -EPERM;
 *  - a protected core (a NIC queue's, cpu0 with offline) or one outside
 *    `managed` is never parked: apply() leaves it unparked and says so in
 *    its @refused set; a policy reads `protected_cpus` and does not ask;
 *  - a core whose action failed stays as it was (and is in @refused);
 *  - after release() or the mechanism's stop nothing is left parked.
 *
 * Threading: every call on the loop thread, between the mechanism's init
 * and fini.  ABI: this vtable and these structs never change; a breaking
 * change is "modvm.park/2".
 */
#ifndef MODVM_PARK_H
#define MODVM_PARK_H

#include "common.h"
#include "events.h"

MODVM_BEGIN_DECLS

#define MODVM_PARK_IFACE "modvm.park/1"
#define MODVM_PARK_MAX_CPUS 256

struct modvm_plugin_ctx;

/* A set of host cpus 0..MODVM_PARK_MAX_CPUS-1 (plain data, copyable). */
struct modvm_cpus {
	uint64_t bits[MODVM_PARK_MAX_CPUS / 64];
};

static inline void modvm_cpus_add(struct modvm_cpus *s, unsigned cpu)
{
	if (cpu < MODVM_PARK_MAX_CPUS)
		s->bits[cpu / 64] |= UINT64_C(1) << (cpu % 64);
}

static inline void modvm_cpus_del(struct modvm_cpus *s, unsigned cpu)
{
	if (cpu < MODVM_PARK_MAX_CPUS)
		s->bits[cpu / 64] &= ~(UINT64_C(1) << (cpu % 64));
}

static inline bool modvm_cpus_has(const struct modvm_cpus *s, unsigned cpu)
{
	return cpu < MODVM_PARK_MAX_CPUS && (s->bits[cpu / 64] >> (cpu % 64)) & 1;
}

static inline unsigned modvm_cpus_count(const struct modvm_cpus *s)
{
	unsigned n = 0;

	for (unsigned i = 0; i < MODVM_PARK_MAX_CPUS / 64; i++)
		n += (unsigned)__builtin_popcountll(s->bits[i]);
	return n;
}

/* How the mechanism parks a core (its `action`). */
enum modvm_park_action {
	MODVM_PARK_AFFINITY = 0,	/* modvm's threads are re-pinned away from it */
	MODVM_PARK_CPUFREQ = 1,		/* its scaling_governor is powersave */
	MODVM_PARK_OFFLINE = 2,		/* it is offline */
};

struct modvm_park_state {
	uint32_t struct_size;		/* set by the caller: sizeof(struct modvm_park_state) */
	uint32_t action;		/* enum modvm_park_action */
	struct modvm_cpus managed;	/* the cores modvm may park at all */
	struct modvm_cpus parked;	/* parked now */
	struct modvm_cpus protected_cpus;	/* never parked: NIC queue cores, cpu0 with offline */
	char holder[MODVM_NAME_MAX];	/* the policy holding the grant, "" for none */
};

struct modvm_park {
	uint32_t struct_size;

	/*
	 * Takes the grant for @policy: 0 (also if it holds it already);
	 * -EPERM if @policy is not the host's governing power policy;
	 * -EBUSY if another plugin holds it.
	 */
	int (*acquire)(struct modvm_plugin_ctx *policy);

	/* Unparks every core @policy parked and gives the grant back. */
	void (*release)(struct modvm_plugin_ctx *policy);

	/* Fills @out (set out->struct_size first).  0 or -EINVAL. */
	int (*get_state)(struct modvm_plugin_ctx *caller, struct modvm_park_state *out);

	/*
	 * Makes exactly the cores of @parked (those that are managed and not
	 * protected) parked and every other managed core unparked, publishing
	 * power.core_state with @reason (one line, may be NULL) for each core
	 * that changed.  Cores it could not or must not park are added to
	 * @refused (may be NULL; it is cleared first).  0; -EPERM if @policy
	 * does not hold the grant; -EINVAL.
	 */
	int (*apply)(struct modvm_plugin_ctx *policy, const struct modvm_cpus *parked,
		     const char *reason, struct modvm_cpus *refused);
};

MODVM_END_DECLS

#endif
