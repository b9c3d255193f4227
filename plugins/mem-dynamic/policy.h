/*
 * policy.h — the Dynamic Memory policy as a pure function: no I/O, no
 * clock, so a table of scenarios can pin its behaviour down.
 *
 * Every interval, for each VM:
 *   demand  = guest total − available (free when available is missing),
 *             minus the balloon when the guest's total still counts it;
 *   desired = demand × (1 + buffer/100), clamped to [minimum, maximum].
 * The host can spend budget = MemAvailable − reserve + what the VMs hold
 * now, each VM counted at the smaller of its target and its RAM minus what
 * its balloon really holds: a grow not reached yet is not in MemAvailable's
 * books, and counting it would hand the same memory out twice; a shrink not
 * reached yet has not given anything back.  If the desired sizes don't fit (or memory PSI says the host is
 * stalling, which shrinks the budget by psi_shrink_permille of what the
 * VMs hold), every VM gets its minimum and the rest is shared by weight
 * (water-filling: a VM never gets more than it desires, what it leaves
 * goes to the others by weight; weight-0 VMs only get what weighted ones
 * leave).  Finally hysteresis: a target moves only by at least
 * max(min_step_bytes, current × min_step_permille / 1000), and not against
 * its last move within reverse_hold intervals — except to fit the host's
 * budget when it is short, which always wins.
 */
#ifndef MEM_DYNAMIC_POLICY_H
#define MEM_DYNAMIC_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dm_policy_params {
	uint64_t host_reserve;		/* bytes the host keeps for itself */
	uint32_t psi_limit_permille;	/* "some avg10" × 10 at which the host is short */
	uint32_t psi_shrink_permille;	/* budget cut under PSI, of what VMs hold */
	uint64_t min_step_bytes;	/* hysteresis: 4 MiB */
	uint32_t min_step_permille;	/* hysteresis: 20 (2 %) */
	uint32_t reverse_hold;		/* intervals before a move may reverse */
};
/* The defaults above (reserve 256 MiB, PSI 10 %, shrink 5 %, 4 MiB, 2 %, 3). */
void dm_policy_defaults(struct dm_policy_params *p);

struct dm_policy_host {
	uint64_t mem_total;
	uint64_t mem_available;
	uint32_t psi_some_permille;
	uint32_t psi_full_permille;
};

struct dm_policy_vm {
	/* configuration, bytes (already resolved against the VM's RAM) */
	uint64_t minimum, maximum;
	uint32_t buffer_pct;	/* 5..2000 */
	uint32_t weight;	/* 0..10000 */
	/* guest demand, from the stats queue */
	bool have_stats;
	uint64_t total, free, available;
	uint64_t held;		/* RAM − balloon actual, from the device; 0: unknown */
	/* Balloon bytes the guest's total still counts (Linux keeps MemTotal
	 * when DEFLATE_ON_OOM is negotiated): not demand.  0 otherwise. */
	uint64_t in_balloon;
	/* state carried between calls (zero-initialise once) */
	uint64_t current;	/* the target in force; 0: none yet */
	int last_dir;		/* -1 shrink, +1 grow, 0 none */
	uint32_t since_move;	/* intervals since the last move */
	/* output */
	uint64_t desired;	/* what the VM would get with a roomy host */
	uint64_t target;	/* the new target (== current if it did not move) */
	bool changed;
};

/*
 * Computes targets for @n VMs in place and returns whether the host was
 * short (the budget did not cover the desired sizes or PSI crossed the
 * limit).  A VM without stats desires its current target (its startup
 * size the first time: callers set current = startup before the first
 * call).  Pure.
 */
bool dm_policy_run(const struct dm_policy_params *p, const struct dm_policy_host *host,
		   struct dm_policy_vm *vms, size_t n);

#endif
