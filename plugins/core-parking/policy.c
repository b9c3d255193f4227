/*
 * policy.c — the pure core-parking rule (see policy.h for the rule itself).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

unsigned park_policy_unparked_count(const struct park_policy *pol)
{
	unsigned n = 0;

	for (unsigned i = 0; i < pol->ncores; i++)
		n += pol->unparked[i];
	return n;
}

static unsigned ceiling_of(const struct park_policy *pol)
{
	unsigned max = pol->p.max_cores;

	return max == 0 || max > pol->ncores ? pol->ncores : max;
}

static unsigned floor_of(const struct park_policy *pol)
{
	return pol->p.min_cores > pol->ncores ? pol->ncores : pol->p.min_cores;
}

int park_policy_init(struct park_policy *pol, const struct park_params *p, const unsigned *cpus,
		     unsigned ncores, char *err, unsigned errlen)
{
	memset(pol, 0, sizeof(*pol));
	if (ncores == 0 || ncores > PARK_MAX_CPUS) {
		snprintf(err, errlen, "cores: %u managed cores, allowed 1..%u", ncores,
			 PARK_MAX_CPUS);
		return -EINVAL;
	}
	if (p->min_cores < 1 || p->min_cores > ncores) {
		snprintf(err, errlen, "min_cores: %u, allowed 1..%u (the managed cores)",
			 p->min_cores, ncores);
		return -EINVAL;
	}
	if (p->max_cores != 0 && p->max_cores < p->min_cores) {
		snprintf(err, errlen, "max_cores: %u, allowed 0 (all) or %u..%u", p->max_cores,
			 p->min_cores, ncores);
		return -EINVAL;
	}
	if (p->decrease_threshold >= p->increase_threshold || p->increase_threshold > 100) {
		snprintf(err, errlen,
			 "decrease_threshold: %u, allowed below increase_threshold (%u) <= 100",
			 p->decrease_threshold, p->increase_threshold);
		return -EINVAL;
	}
	if (p->increase_time < 1 || p->decrease_time < 1 || p->cores_per_step < 1) {
		snprintf(err, errlen, "increase_time/decrease_time/cores_per_step: must be >= 1");
		return -EINVAL;
	}
	pol->p = *p;
	pol->ncores = ncores;
	for (unsigned i = 0; i < ncores; i++) {
		pol->cpu[i] = cpus[i];
		pol->unparked[i] = true;
	}
	return 0;
}

static bool parkable(const struct park_policy *pol, const struct park_sample *s, unsigned i)
{
	return pol->unparked[i] && !s->pinned[i] && !(pol->p.protect_cpu0 && pol->cpu[i] == 0);
}

/* Unparks the lowest-numbered parked cores until @target are unparked. */
static void unpark_to(struct park_policy *pol, unsigned target)
{
	unsigned n = park_policy_unparked_count(pol);

	for (unsigned i = 0; i < pol->ncores && n < target; i++) {
		if (!pol->unparked[i]) {
			pol->unparked[i] = true;
			n++;
		}
	}
}

/* Parks the highest-numbered parkable cores until @target remain (or none can go). */
static bool park_to(struct park_policy *pol, const struct park_sample *s, unsigned target)
{
	unsigned n = park_policy_unparked_count(pol);
	bool any = false;

	for (unsigned i = pol->ncores; i-- > 0 && n > target;) {
		if (parkable(pol, s, i)) {
			pol->unparked[i] = false;
			n--;
			any = true;
		}
	}
	return any;
}

void park_policy_step(struct park_policy *pol, const struct park_sample *s,
		      struct park_decision *out)
{
	const struct park_params *p = &pol->p;
	unsigned load = 0, n, avg, target, lo = floor_of(pol), hi = ceiling_of(pol);
	const char *what = "load";

	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < pol->ncores; i++)
		load += s->busy_permille[i] > 1000 ? 1000 : s->busy_permille[i];
	if (s->vcpu_permille > load) {
		load = s->vcpu_permille > pol->ncores * 1000 ? pol->ncores * 1000 : s->vcpu_permille;
		what = "vCPU load";
	}
	out->load_permille = load;

	/* Constraints first: they are not load decisions and need no hold time. */
	for (unsigned i = 0; i < pol->ncores; i++) {
		if (s->pinned[i] && !pol->unparked[i]) {
			pol->unparked[i] = true;
			out->changed = true;
			snprintf(out->reason, sizeof(out->reason), "serves a network queue");
		}
	}
	n = park_policy_unparked_count(pol);
	if (n < lo) {
		unpark_to(pol, lo);
		out->changed = true;
		snprintf(out->reason, sizeof(out->reason), "min_cores %u", lo);
	} else if (n > hi && park_to(pol, s, hi)) {
		out->changed = true;
		snprintf(out->reason, sizeof(out->reason), "max_cores %u", hi);
	}
	n = park_policy_unparked_count(pol);
	avg = load / n;

	if (avg > p->increase_threshold * 10) {
		pol->low_run = 0;
		if (++pol->high_run >= p->increase_time && n < hi) {
			unsigned need = (load + p->increase_threshold * 10 - 1) /
					(p->increase_threshold * 10);
			target = n + p->cores_per_step;
			if (need > target)
				target = need;
			if (avg >= 900)
				target = hi;
			if (target > hi)
				target = hi;
			unpark_to(pol, target);
			pol->high_run = 0;
			out->changed = true;
			snprintf(out->reason, sizeof(out->reason),
				 "%s %u.%u%% on %u cores above %u%%", what, avg / 10, avg % 10, n,
				 p->increase_threshold);
		}
	} else {
		pol->high_run = 0;
		target = n > p->cores_per_step ? n - p->cores_per_step : 0;
		if (target < lo)
			target = lo;
		if (target < n && load < p->decrease_threshold * 10 * target) {
			if (++pol->low_run >= p->decrease_time) {
				pol->low_run = 0;
				if (park_to(pol, s, target)) {
					out->changed = true;
					snprintf(out->reason, sizeof(out->reason),
						 "%s %u.%u%% fits in %u cores below %u%%",
						 what, load / 10, load % 10,
						 park_policy_unparked_count(pol),
						 p->decrease_threshold);
				}
			}
		} else {
			pol->low_run = 0;
		}
	}
	out->unparked_count = park_policy_unparked_count(pol);
}

int park_min_cores_parse(const char *text, unsigned ncores, unsigned *out, char *err,
			 unsigned errlen)
{
	const char *t = text ? text : "";
	char *end = NULL;
	unsigned long v;

	while (*t == ' ')
		t++;
	if (*t < '0' || *t > '9')
		goto bad;
	v = strtoul(t, &end, 10);
	if (v > 100000)
		goto bad;
	if (*end == '%') {
		end++;
		if (v > 100)
			goto bad;
		/* a share of the managed cores, rounded up: "50%" of 3 keeps 2 */
		v = (v * ncores + 99) / 100;
		if (v < 1)
			v = 1;
	}
	while (*end == ' ')
		end++;
	if (*end)
		goto bad;
	if (v < 1 || v > ncores) {
		snprintf(err, errlen, "min_cores: \"%s\" is %lu cores, allowed 1..%u (the managed cores)",
			 text, v, ncores);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
bad:
	snprintf(err, errlen, "min_cores: \"%s\": not a count like \"2\" or a percent like \"50%%\"",
		 t);
	return -EINVAL;
}
