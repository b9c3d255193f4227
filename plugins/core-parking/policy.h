/*
 * policy.h — the core-parking decision, as a pure function.
 *
 * No I/O and no clock: the caller feeds one sample per interval (per-core
 * busy permille of the managed cores and which of them serve a network
 * queue) and gets back which cores stay unparked.  That is what lets the
 * tests replay recorded traces and the bench run a synthetic day.
 *
 * The rule, in the spirit of Windows' core-parking settings:
 *  - load = sum of busy permille over all managed cores (parked cores may
 *    still carry host work, and it is demand all the same), or the vCPU
 *    threads' own run time per interval (vcpu.stats) if that is more:
 *    /proc/stat lags a tick behind and packed vCPUs that wait for a core
 *    do not show up in it, their own clock does;
 *  - unpark when load / unparked > increase_threshold for increase_time
 *    consecutive intervals, by cores_per_step or as many as the load needs
 *    to fall below increase_threshold, whichever is more; a saturated set
 *    (>= 90 %) hides its real demand, so it gets every core back at once;
 *  - park cores_per_step cores when load / (unparked - step) stays below
 *    decrease_threshold for decrease_time consecutive intervals;
 *  - never fewer than min_cores, never more than max_cores, never park a
 *    queue-serving core (it is unparked at once if it was parked), and
 *    never cpu0 when protect_cpu0 is set (the offline action).
 * The gap between the two thresholds and the hold times is the hysteresis:
 * after parking, load / unparked is still below increase_threshold.
 */
#ifndef CORE_PARKING_POLICY_H
#define CORE_PARKING_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include <modvm/park.h>

#define PARK_MAX_CPUS MODVM_PARK_MAX_CPUS

struct park_params {
	unsigned min_cores;		/* >= 1 */
	unsigned max_cores;		/* 0: every managed core */
	unsigned increase_threshold;	/* percent */
	unsigned decrease_threshold;	/* percent, < increase_threshold */
	unsigned increase_time;		/* intervals, >= 1 */
	unsigned decrease_time;		/* intervals, >= 1 */
	unsigned cores_per_step;	/* >= 1 */
	bool protect_cpu0;		/* cpu0 is never parked */
};

struct park_policy {
	struct park_params p;
	unsigned ncores;
	unsigned cpu[PARK_MAX_CPUS];	/* host cpu number of managed core i */
	bool unparked[PARK_MAX_CPUS];	/* by managed index */
	unsigned high_run;		/* consecutive intervals above increase */
	unsigned low_run;		/* consecutive intervals that would fit below decrease */
};

/* One interval, indexed like park_policy.cpu[]. */
struct park_sample {
	uint32_t busy_permille[PARK_MAX_CPUS];
	bool pinned[PARK_MAX_CPUS];	/* serves a network queue */
	uint32_t vcpu_permille;		/* vCPU threads' run time / interval, summed (1000 = a core) */
};

struct park_decision {
	bool changed;
	unsigned unparked_count;
	unsigned load_permille;		/* the sum the decision was made on */
	char reason[64];		/* why the set changed; "" if it did not */
};

/*
 * Checks @p against @ncores and starts with every managed core unparked.
 * -EINVAL (with @err filled: the key and the allowed range) for an
 * inconsistent setting.
 */
int park_policy_init(struct park_policy *pol, const struct park_params *p, const unsigned *cpus,
		     unsigned ncores, char *err, unsigned errlen);

/* Feeds one interval; updates pol->unparked and fills @out. */
void park_policy_step(struct park_policy *pol, const struct park_sample *s,
		      struct park_decision *out);

unsigned park_policy_unparked_count(const struct park_policy *pol);

/*
 * min_cores as written in the config: a count ("2") or a share of the
 * @ncores managed cores ("50%", rounded up, at least 1).  0, or -EINVAL with
 * @err naming the value and what is allowed.
 */
int park_min_cores_parse(const char *text, unsigned ncores, unsigned *out, char *err,
			 unsigned errlen);

#endif
