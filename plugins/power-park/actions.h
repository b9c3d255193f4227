/*
 * actions.h — what parking does to the host, and how it is undone.
 *
 *  affinity  re-pin this process's threads (the plugin pins vCPU threads
 *            itself, through modvm_vcpu_set_affinity) onto the unparked set;
 *  cpufreq   write "powersave" to a parked core's scaling_governor, keeping
 *            the governor it had, and write that back on unpark.  Cores
 *            that share one cpufreq policy (cpuN/cpufreq/affected_cpus: one
 *            governor for all of them) are throttled together, once every
 *            one of them is parked, and given back their governor as soon
 *            as one is unparked: parking one never slows a sibling that
 *            still runs, and the governor saved is never "powersave";
 *  offline   write 0 to a parked core's cpuN/online and 1 on unpark; cpu0 is
 *            refused, and so is a core already offline (someone else took
 *            it down: it is not ours to bring back).
 * sysfs paths are under a configurable root so tests run on a fixture tree.
 * park_actions_restore() undoes everything still changed; it is what stop()
 * (and so SIGTERM) calls.
 */
#ifndef POWER_PARK_ACTIONS_H
#define POWER_PARK_ACTIONS_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "cpulist.h"

struct park_state;

enum park_action { PARK_ACTION_AFFINITY, PARK_ACTION_CPUFREQ, PARK_ACTION_OFFLINE };

struct park_actions {
	enum park_action kind;
	char root[200];
	bool parked[PARK_MAX_CPUS];		/* cpufreq/offline: parked by us */
	/* cpufreq, indexed by a policy's lowest cpu (its leader): */
	char saved_gov[PARK_MAX_CPUS][32];	/* its governor before parking */
	bool throttled[PARK_MAX_CPUS];		/* powersave written by us */
	/* cpufreq: the cpus of @cpu's policy, @cpu included (read once, at
	 * hold or first park; a cpu alone when sysfs does not say). */
	uint64_t policy[PARK_MAX_CPUS][(PARK_MAX_CPUS + 63) / 64];
	bool policy_read[PARK_MAX_CPUS];
	bool said_offline[PARK_MAX_CPUS];	/* offline: "offline already" logged */
	cpu_set_t orig_affinity;		/* affinity: the process's at init */
	bool pinned_threads;			/* affinity: threads re-pinned */
	struct park_state *journal;		/* cpufreq/offline: NULL = not journaled */
	int held[PARK_MAX_CPUS];		/* fd + 1 of the file parking writes, 0 = none */
};

/* Parses "affinity" | "cpufreq" | "offline"; -EINVAL otherwise. */
int park_action_parse(const char *text, enum park_action *out);
const char *park_action_name(enum park_action kind);

/* Remembers the process affinity (restored later).  0 or -errno. */
int park_actions_init(struct park_actions *a, enum park_action kind, const char *sysfs_root);

/*
 * From now on every sysfs write is journaled first (statefile.h): the old
 * value is on disk before the new one is written, and its entry goes once
 * the old value is back.  NULL stops journaling (the unit tests).
 */
void park_actions_set_journal(struct park_actions *a, struct park_state *journal);

/*
 * cpufreq / offline: opens the file parking @cpu writes (its
 * scaling_governor or online) now and keeps it, so that parking still
 * works once modvm runs as host.user, which may not open it (permission is
 * checked at open).  0 (also for affinity and offline's cpu0), or -errno.
 * park_actions_release() closes them all.
 */
int park_actions_hold(struct park_actions *a, unsigned cpu);
void park_actions_release(struct park_actions *a);

/*
 * cpufreq / offline: park or unpark host cpu @cpu.  0 or -errno (logged
 * with the path; -EALREADY: offline already).  Unparking a cpu this module
 * did not park does nothing.  The affinity action ignores these calls.
 */
int park_actions_park(struct park_actions *a, unsigned cpu);
int park_actions_unpark(struct park_actions *a, unsigned cpu);

/*
 * affinity: pins every thread in /proc/self/task (this process only) except
 * the @nskip tids in @skip onto @set.  A thread that ended meanwhile is
 * skipped.  Returns the number of threads pinned, or -errno.
 */
int park_actions_pin_threads(struct park_actions *a, const cpu_set_t *set, const int *skip,
			     unsigned nskip);

/*
 * Whether the action can act on @cpu here: the sysfs file it writes exists
 * and is writable (always true for affinity; cpu0 is skipped for offline).
 * 0, or -errno with @err naming the file.
 */
int park_actions_check(const struct park_actions *a, unsigned cpu, char *err, unsigned len);

/* Undoes everything: governors written back, cpus online, threads unpinned. */
/* Returns how many cores could not be restored (they stay parked[]). */
unsigned park_actions_restore(struct park_actions *a);

/* "cpufreq offline" style: the actions this host permits (for logs / caps). */
void park_actions_permitted(const char *sysfs_root, char *out, unsigned len);

#endif
