/*
 * The Dynamic Memory policy; see policy.h.  Sums are taken in unsigned
 * __int128 where a product of a size and a weight or permille could pass
 * 64 bits on a large host.
 */
#include "policy.h"

typedef unsigned __int128 u128;

void dm_policy_defaults(struct dm_policy_params *p)
{
	*p = (struct dm_policy_params){
		.host_reserve = 256ull << 20,
		.psi_limit_permille = 100,
		.psi_shrink_permille = 50,
		.min_step_bytes = 4ull << 20,
		.min_step_permille = 20,
		.reverse_hold = 3,
	};
}

static uint64_t clamp(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static uint64_t desired(const struct dm_policy_vm *v)
{
	uint64_t want = v->current;

	if (v->have_stats) {
		uint64_t avail = v->available ? v->available : v->free;
		uint64_t used = v->total > avail ? v->total - avail : 0;
		/* Pages in the balloon are "used" in a total that keeps them. */
		uint64_t demand = used > v->in_balloon ? used - v->in_balloon : 0;
		u128 d = (u128)demand * (100u + v->buffer_pct) / 100u;
		want = d > UINT64_MAX ? UINT64_MAX : (uint64_t)d;
	}
	return clamp(want, v->minimum, v->maximum);
}

/*
 * Shares @rest among VMs whose weight class matches (@weighted: weight > 0,
 * by weight; else weight 0, equally), never past what they desire.
 * Water-filling: a VM that would get more than it needs is capped and what
 * it leaves is shared again among the others.  Returns what is left.
 */
static uint64_t share(struct dm_policy_vm *vms, size_t n, uint64_t rest, bool weighted)
{
	while (rest) {
		u128 sum_w = 0;
		for (size_t i = 0; i < n; i++)
			if ((vms[i].weight > 0) == weighted && vms[i].target < vms[i].desired)
				sum_w += weighted ? vms[i].weight : 1;
		if (!sum_w)
			break;
		bool capped = false;
		uint64_t given = 0;
		for (size_t i = 0; i < n; i++) {
			struct dm_policy_vm *v = &vms[i];
			if ((v->weight > 0) != weighted || v->target >= v->desired)
				continue;
			uint64_t need = v->desired - v->target;
			u128 s = (u128)rest * (weighted ? v->weight : 1) / sum_w;
			if (s >= need) {
				v->target += need;
				given += need;
				capped = true;
			}
		}
		if (!capped) {
			for (size_t i = 0; i < n; i++) {
				struct dm_policy_vm *v = &vms[i];
				if ((v->weight > 0) != weighted || v->target >= v->desired)
					continue;
				uint64_t s = (uint64_t)((u128)rest * (weighted ? v->weight : 1) / sum_w);
				v->target += s;
				given += s;
			}
			return rest - given;
		}
		rest -= given;
	}
	return rest;
}

/* Hysteresis: whether moving @v from current to target is worth it. */
static bool worth_moving(const struct dm_policy_params *p, const struct dm_policy_vm *v,
			 bool short_of_memory)
{
	uint64_t cur = v->current, t = v->target;

	if (!cur)
		return true;	/* the first target */
	if (t == cur)
		return false;
	int dir = t > cur ? 1 : -1;
	if (short_of_memory && dir < 0)
		return true;	/* giving the host what it lacks always wins */
	uint64_t delta = dir > 0 ? t - cur : cur - t;
	uint64_t step = (uint64_t)((u128)cur * p->min_step_permille / 1000u);
	if (step < p->min_step_bytes)
		step = p->min_step_bytes;
	if (delta < step)
		return false;
	if (v->last_dir && dir != v->last_dir && v->since_move < p->reverse_hold)
		return false;
	return true;
}

bool dm_policy_run(const struct dm_policy_params *p, const struct dm_policy_host *host,
		   struct dm_policy_vm *vms, size_t n)
{
	u128 held = 0, want = 0, floor = 0;

	for (size_t i = 0; i < n; i++) {
		vms[i].desired = desired(&vms[i]);
		held += vms[i].held && vms[i].held < vms[i].current ? vms[i].held : vms[i].current;
		want += vms[i].desired;
		floor += vms[i].minimum;
	}
	u128 budget = (u128)host->mem_available + held;
	budget = budget > p->host_reserve ? budget - p->host_reserve : 0;
	bool psi = p->psi_limit_permille && host->psi_some_permille >= p->psi_limit_permille;
	if (psi) {
		u128 cut = held - held * p->psi_shrink_permille / 1000u;
		if (cut < budget)
			budget = cut;
	}
	bool short_of_memory = psi || want > budget;

	for (size_t i = 0; i < n; i++)
		vms[i].target = short_of_memory ? vms[i].minimum : vms[i].desired;
	if (short_of_memory && budget > floor) {
		u128 rest = budget - floor;
		uint64_t r = rest > UINT64_MAX ? UINT64_MAX : (uint64_t)rest;
		r = share(vms, n, r, true);
		share(vms, n, r, false);
	}

	for (size_t i = 0; i < n; i++) {
		struct dm_policy_vm *v = &vms[i];
		v->since_move++;
		if (worth_moving(p, v, short_of_memory)) {
			v->changed = v->target != v->current;
			if (v->current)
				v->last_dir = v->target > v->current ? 1 : -1;
			if (v->changed)
				v->since_move = 0;
			v->current = v->target;
		} else {
			v->changed = false;
			v->target = v->current;
		}
	}
	return short_of_memory;
}
