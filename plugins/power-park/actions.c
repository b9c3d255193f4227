/*
 * actions.c — parking actions on sysfs and thread affinity, and their undo.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <modvm/log.h>

#include "actions.h"
#include "statefile.h"

#define DOMAIN "power-park"

static const char *const names[] = { "affinity", "cpufreq", "offline" };

int park_action_parse(const char *text, enum park_action *out)
{
	for (unsigned i = 0; i < 3; i++) {
		if (text && strcmp(text, names[i]) == 0) {
			*out = (enum park_action)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *park_action_name(enum park_action kind)
{
	return (unsigned)kind < 3 ? names[kind] : "unknown";
}

int park_actions_init(struct park_actions *a, enum park_action kind, const char *sysfs_root)
{
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	snprintf(a->root, sizeof(a->root), "%s", sysfs_root);
	if (sched_getaffinity(0, sizeof(a->orig_affinity), &a->orig_affinity) < 0)
		return -errno;
	return 0;
}

void park_actions_set_journal(struct park_actions *a, struct park_state *journal)
{
	a->journal = journal;
}

/* The file parking @cpu writes, as cpu_path() names it. */
static const char *action_leaf(const struct park_actions *a)
{
	return a->kind == PARK_ACTION_CPUFREQ ? "cpufreq/scaling_governor" : "online";
}

static void cpu_path(const struct park_actions *a, unsigned cpu, const char *leaf, char *out,
		     size_t len)
{
	snprintf(out, len, "%s/cpu%u/%s", a->root, cpu, leaf);
}

/* ---- cpufreq policies: cpus that share one governor ---- */

static bool in_policy(const struct park_actions *a, unsigned cpu, unsigned other)
{
	return a->policy[cpu][other / 64] >> (other % 64) & 1;
}

/* Which cpus @cpu's governor is also theirs: cpufreq/affected_cpus ("2 3",
 * the policy's online cpus).  Read once, before the lockdown if the
 * plugin holds the cpu's file (park_actions_hold). */
static void policy_load(struct park_actions *a, unsigned cpu)
{
	char path[300], text[2048];
	ssize_t n;
	int fd;

	if (a->policy_read[cpu])
		return;
	a->policy_read[cpu] = true;
	memset(a->policy[cpu], 0, sizeof(a->policy[cpu]));
	a->policy[cpu][cpu / 64] |= 1ull << (cpu % 64);
	cpu_path(a, cpu, "cpufreq/affected_cpus", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return;		/* not said: a policy of its own */
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	for (char *p = text, *end; *p; p = end) {
		if (*p < '0' || *p > '9') {
			end = p + 1;
			continue;
		}
		unsigned long c = strtoul(p, &end, 10);
		if (c < PARK_MAX_CPUS)
			a->policy[cpu][c / 64] |= 1ull << (c % 64);
	}
}

/* A policy is named by its lowest cpu. */
static unsigned policy_leader(const struct park_actions *a, unsigned cpu)
{
	for (unsigned c = 0; c < PARK_MAX_CPUS; c++)
		if (in_policy(a, cpu, c))
			return c;
	return cpu;
}

static bool policy_all_parked(const struct park_actions *a, unsigned cpu)
{
	for (unsigned c = 0; c < PARK_MAX_CPUS; c++)
		if (in_policy(a, cpu, c) && !a->parked[c])
			return false;
	return true;
}

int park_actions_hold(struct park_actions *a, unsigned cpu)
{
	char path[300];

	if (a->kind == PARK_ACTION_AFFINITY || (a->kind == PARK_ACTION_OFFLINE && cpu == 0) ||
	    cpu >= PARK_MAX_CPUS || a->held[cpu])
		return 0;
	if (a->kind == PARK_ACTION_CPUFREQ)
		policy_load(a, cpu);
	cpu_path(a, cpu, action_leaf(a), path, sizeof(path));
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	a->held[cpu] = fd + 1;
	return 0;
}

void park_actions_release(struct park_actions *a)
{
	for (unsigned cpu = 0; cpu < PARK_MAX_CPUS; cpu++)
		if (a->held[cpu]) {
			close(a->held[cpu] - 1);
			a->held[cpu] = 0;
		}
}

/*
 * @text into @path, or through the descriptor park_actions_hold() keeps
 * for it (@held: fd + 1): held, from offset 0, which is where sysfs takes a
 * whole value, and a fixture tree's regular file is cut to it.
 */
static int write_file(const char *path, const char *text, int held)
{
	int fd = held ? held - 1
		      : open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	size_t len = strlen(text);
	struct stat st;
	ssize_t w;
	int rc = 0;

	if (fd < 0) {
		rc = -errno;
		modvm_log(MODVM_LOG_ERROR, DOMAIN, "%s: cannot open for writing: %s", path,
			  strerror(errno));
		return rc;
	}
	w = held ? pwrite(fd, text, len, 0) : write(fd, text, len);
	if (held && w == (ssize_t)len && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    ftruncate(fd, (off_t)len) < 0)
		w = -1;
	if (w != (ssize_t)len) {
		rc = w < 0 ? -errno : -EIO;
		modvm_log(MODVM_LOG_ERROR, DOMAIN, "%s: cannot write \"%s\": %s", path, text,
			  strerror(-rc));
	}
	if (!held)
		close(fd);
	return rc;
}

/* The first word of @path (or of the descriptor held for it) into @out. */
static int read_word(const char *path, char *out, size_t len, int held)
{
	/* O_NONBLOCK: a fifo planted in a fixture root must not hang the loop. */
	int fd = held ? held - 1 : open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	ssize_t n;
	int rc = 0;

	if (fd < 0) {
		rc = -errno;
		modvm_log(MODVM_LOG_ERROR, DOMAIN, "%s: %s", path, strerror(errno));
		return rc;
	}
	n = held ? pread(fd, out, len - 1, 0) : read(fd, out, len - 1);
	if (n <= 0) {
		rc = n < 0 ? -errno : -EIO;
		modvm_log(MODVM_LOG_ERROR, DOMAIN, "%s: %s", path, n < 0 ? strerror(errno) : "empty");
		n = 0;
	}
	out[n] = '\0';
	out[strcspn(out, " \n")] = '\0';
	if (!held)
		close(fd);
	return rc;
}

/*
 * Writes "powersave" to the governor of @cpu's policy, whose cpus are all
 * parked now, through @cpu's held file: journaled under the leader's path,
 * the governor saved being the journal's if it has one (a value an earlier
 * run left and could not restore), not what the file says now.
 */
static int throttle(struct park_actions *a, unsigned cpu)
{
	unsigned lead = policy_leader(a, cpu);
	char path[300], *gov = a->saved_gov[lead];
	const char *journaled;
	int rc, added = 1;

	cpu_path(a, lead, action_leaf(a), path, sizeof(path));
	rc = read_word(path, gov, sizeof(a->saved_gov[lead]), a->held[cpu]);
	if (rc < 0)
		return rc;
	journaled = a->journal ? park_state_value(a->journal, path) : NULL;
	if (journaled)
		snprintf(gov, sizeof(a->saved_gov[lead]), "%s", journaled);
	if (a->journal && (added = park_state_record(a->journal, path, gov)) < 0)
		return added;
	rc = write_file(path, "powersave", a->held[cpu]);
	if (rc < 0) {
		if (added == 0)
			park_state_forget(a->journal, path);	/* nothing changed after all */
		return rc;
	}
	a->throttled[lead] = true;
	return 0;
}

static int take_offline(struct park_actions *a, unsigned cpu)
{
	char path[300], now[8];
	int rc, added = 1;

	if (cpu == 0) {
		modvm_log(MODVM_LOG_ERROR, DOMAIN, "offline: cpu0 is never taken offline");
		return -EPERM;
	}
	cpu_path(a, cpu, action_leaf(a), path, sizeof(path));
	rc = read_word(path, now, sizeof(now), a->held[cpu]);
	if (rc < 0)
		return rc;
	if (strcmp(now, "0") == 0) {
		/* Someone else took it down (an operator, a machine-check
		 * handler): bringing it back on unpark is not ours to do. */
		if (!a->said_offline[cpu])
			modvm_log(MODVM_LOG_WARN, DOMAIN, "%s: cpu%u is offline already: not parked",
				  path, cpu);
		a->said_offline[cpu] = true;
		return -EALREADY;
	}
	a->said_offline[cpu] = false;
	if (a->journal && (added = park_state_record(a->journal, path, "1")) < 0)
		return added;
	rc = write_file(path, "0", a->held[cpu]);
	if (rc < 0 && added == 0)
		park_state_forget(a->journal, path);	/* still online: nothing to restore */
	return rc;
}

int park_actions_park(struct park_actions *a, unsigned cpu)
{
	int rc;

	if (cpu >= PARK_MAX_CPUS || a->parked[cpu])
		return cpu >= PARK_MAX_CPUS ? -EINVAL : 0;
	switch (a->kind) {
	case PARK_ACTION_CPUFREQ:
		policy_load(a, cpu);
		a->parked[cpu] = true;
		/* The last of its policy to park throttles them all. */
		rc = policy_all_parked(a, cpu) ? throttle(a, cpu) : 0;
		if (rc < 0)
			a->parked[cpu] = false;
		return rc;
	case PARK_ACTION_OFFLINE:
		rc = take_offline(a, cpu);
		break;
	default:
		return 0;
	}
	if (rc == 0)
		a->parked[cpu] = true;
	return rc;
}

int park_actions_unpark(struct park_actions *a, unsigned cpu)
{
	char path[300];
	unsigned lead;
	int rc;

	if (cpu >= PARK_MAX_CPUS || !a->parked[cpu])
		return cpu >= PARK_MAX_CPUS ? -EINVAL : 0;
	switch (a->kind) {
	case PARK_ACTION_CPUFREQ:
		/* The first of its policy to unpark gives them all their governor. */
		lead = policy_leader(a, cpu);
		if (a->throttled[lead]) {
			cpu_path(a, lead, action_leaf(a), path, sizeof(path));
			rc = write_file(path, a->saved_gov[lead], a->held[cpu]);
			if (rc < 0)
				return rc;
			if (a->journal)
				park_state_forget(a->journal, path);	/* logged */
			a->throttled[lead] = false;
		}
		break;
	case PARK_ACTION_OFFLINE:
		cpu_path(a, cpu, action_leaf(a), path, sizeof(path));
		rc = write_file(path, "1", a->held[cpu]);
		if (rc < 0)
			return rc;
		if (a->journal)
			park_state_forget(a->journal, path);	/* logged; recovery would rewrite the same */
		break;
	default:
		return 0;
	}
	a->parked[cpu] = false;
	return 0;
}

static bool skipped(int tid, const int *skip, unsigned nskip)
{
	for (unsigned i = 0; i < nskip; i++)
		if (skip[i] == tid)
			return true;
	return false;
}

int park_actions_pin_threads(struct park_actions *a, const cpu_set_t *set, const int *skip,
			     unsigned nskip)
{
	/* /proc/self/task: only this process's threads, never anyone else's */
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int pinned = 0;

	if (!d) {
		int rc = -errno;
		modvm_log(MODVM_LOG_ERROR, DOMAIN, "/proc/self/task: %s", strerror(errno));
		return rc;
	}
	while ((de = readdir(d))) {
		char *end;
		long tid = strtol(de->d_name, &end, 10);

		if (de->d_name[0] == '.' || *end || tid <= 0 || skipped((int)tid, skip, nskip))
			continue;
		if (sched_setaffinity((pid_t)tid, sizeof(*set), set) == 0)
			pinned++;
		else if (errno != ESRCH)
			modvm_log(MODVM_LOG_WARN, DOMAIN, "thread %ld: sched_setaffinity: %s", tid,
				  strerror(errno));
	}
	closedir(d);
	a->pinned_threads = true;
	return pinned;
}

unsigned park_actions_restore(struct park_actions *a)
{
	unsigned failed = 0;

	for (unsigned cpu = 0; cpu < PARK_MAX_CPUS; cpu++)
		if (a->parked[cpu] && park_actions_unpark(a, cpu) < 0)
			failed++;	/* still parked[]: the caller says so */
	if (a->pinned_threads) {
		park_actions_pin_threads(a, &a->orig_affinity, NULL, 0);
		a->pinned_threads = false;
	}
	return failed;
}

int park_actions_check(const struct park_actions *a, unsigned cpu, char *err, unsigned len)
{
	char path[300];

	if (a->kind == PARK_ACTION_AFFINITY || (a->kind == PARK_ACTION_OFFLINE && cpu == 0))
		return 0;
	if (cpu < PARK_MAX_CPUS && a->held[cpu])
		return 0;
	cpu_path(a, cpu, action_leaf(a), path, sizeof(path));
	if (access(path, W_OK) == 0)
		return 0;
	snprintf(err, len, "action %s: %s: %s", park_action_name(a->kind), path, strerror(errno));
	return -errno;
}

/* cpufreq needs the powersave governor; a kernel that lists its governors must offer it. */
static bool offers_powersave(const char *sysfs_root, unsigned cpu)
{
	char path[300], line[512];
	bool ok = true;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cpu%u/cpufreq/scaling_available_governors", sysfs_root,
		 cpu);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	f = fd >= 0 ? fdopen(fd, "r") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		return true;	/* not listed: the write itself decides */
	}
	if (fgets(line, sizeof(line), f)) {
		char *save = NULL;
		ok = false;
		for (char *w = strtok_r(line, " \n", &save); w && !ok; w = strtok_r(NULL, " \n", &save))
			ok = strcmp(w, "powersave") == 0;
	}
	fclose(f);
	return ok;
}

/*
 * What this host lets us do, checked rather than assumed: affinity needs
 * two cpus this process may run on (else nothing can be packed); cpufreq a
 * writable scaling_governor offering powersave on some cpu; offline a
 * writable online file on some cpu but cpu0.  "none" if nothing.
 */
void park_actions_permitted(const char *sysfs_root, char *out, unsigned len)
{
	bool cpufreq = false, offline = false;
	char path[300];
	cpu_set_t mine;

	out[0] = '\0';
	if (sched_getaffinity(0, sizeof(mine), &mine) == 0 && CPU_COUNT(&mine) >= 2)
		snprintf(out, len, "affinity");
	for (unsigned cpu = 0; cpu < PARK_MAX_CPUS && !(cpufreq && offline); cpu++) {
		snprintf(path, sizeof(path), "%s/cpu%u/cpufreq/scaling_governor", sysfs_root, cpu);
		if (!cpufreq && access(path, W_OK) == 0 && offers_powersave(sysfs_root, cpu))
			cpufreq = true;
		snprintf(path, sizeof(path), "%s/cpu%u/online", sysfs_root, cpu);
		if (!offline && cpu > 0 && access(path, W_OK) == 0)
			offline = true;
	}
	if (cpufreq)
		snprintf(out + strlen(out), len - strlen(out), "%scpufreq", out[0] ? " " : "");
	if (offline)
		snprintf(out + strlen(out), len - strlen(out), "%soffline", out[0] ? " " : "");
	if (!out[0])
		snprintf(out, len, "none");
}
