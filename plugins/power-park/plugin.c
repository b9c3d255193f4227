/*
 * plugin.c — power-park: the core-parking mechanism behind "modvm.park/1"
 * (modvm/park.h).
 *
 * It parks and unparks the managed `cores` the way `action` says
 * (actions.c: re-pin modvm's threads, powersave governor, offline),
 * journals every sysfs change before making it (statefile.c) so a crashed
 * run is undone by the next start or `modvm recover`, and undoes
 * everything in stop() — also what SIGTERM leads to.  It never parks a
 * core that serves a VM's network queue (net.queue_assigned: unparked at
 * once if it was parked) nor, with offline, cpu0.  It decides nothing:
 * the host's power policy (host.power_policy; core-parking in tree) takes
 * the grant with acquire() and says which cores to park with apply().
 * Every change is published as power.core_state, with the policy's reason.
 *
 * With the affinity action, every running VM's vCPU threads (through the
 * VM API, plus the threads vcpu.stats names that are this process's) and
 * modvm's other threads are pinned to the unparked cores, again when a VM
 * starts while cores are parked.  All of it runs on the loop thread.
 */
#include <errno.h>
#include <libgen.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <modvm/events.h>
#include <modvm/loop.h>
#include <modvm/park.h>
#include <modvm/plugin.h>
#include <modvm/sandbox.h>
#include <modvm/vm.h>

#include "actions.h"
#include "cpulist.h"
#include "statefile.h"

#define PLUGIN_NAME "power-park"
#define MAX_QUEUES 64
#define MAX_VCPUS 256

struct queue_pin {
	uint32_t vm_id, queue;
	int32_t cpu;
};

/* One vCPU thread as vcpu.stats last described it (for re-pinning). */
struct vcpu_track {
	uint32_t vm_id, vcpu;
	int32_t tid;
	uint64_t wall_ns;	/* the sample's interval_ns: wall time since the thread began */
	uint64_t seen_ns;	/* CLOCK_MONOTONIC of the last sample */
	uint64_t period_ns;	/* wall time between its last two samples */
};

struct park {
	struct modvm_plugin_ctx *ctx;
	unsigned cpus[PARK_MAX_CPUS];	/* the managed cores, ascending */
	unsigned ncores;
	struct park_actions act;
	struct park_state *journal;	/* cpufreq/offline: owned from init to fini */
	struct modvm_cpus parked;	/* parked now, by us */
	struct queue_pin queues[MAX_QUEUES];
	unsigned nqueues;
	struct vcpu_track vcpus[MAX_VCPUS];
	unsigned nvcpus;
	char holder[MODVM_NAME_MAX];	/* the policy with the grant, "" none */
	char refused_logged[MODVM_NAME_MAX];	/* last plugin told it does not govern */
	int sub_vm, sub_queue, sub_stats;
};

/* The one instance: the vtable's calls name their caller, not us. */
static struct park *self;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool managed(const struct park *pk, unsigned cpu)
{
	for (unsigned i = 0; i < pk->ncores; i++)
		if (pk->cpus[i] == cpu)
			return true;
	return false;
}

/* Never parked: a NIC queue's core, and cpu0 when parking takes cores offline. */
static bool protected_cpu(const struct park *pk, unsigned cpu)
{
	if (cpu == 0 && pk->act.kind == PARK_ACTION_OFFLINE)
		return true;
	for (unsigned q = 0; q < pk->nqueues; q++)
		if (pk->queues[q].cpu == (int32_t)cpu)
			return true;
	return false;
}

/* The set threads may use: the process's own minus the parked cores. */
static void allowed_set(const struct park *pk, cpu_set_t *set)
{
	*set = pk->act.orig_affinity;
	for (unsigned i = 0; i < pk->ncores; i++)
		if (modvm_cpus_has(&pk->parked, pk->cpus[i]))
			CPU_CLR(pk->cpus[i], set);
}

/*
 * A vCPU's thread stays a candidate until its VM stops, or until a long
 * silence (ten periods, at least 1 s): a late sample is no sign the thread
 * ended — a busy host delays the stats timer most.
 */
static bool fresh(const struct vcpu_track *v, uint64_t now)
{
	uint64_t window = 10 * v->period_ns > 1000000000u ? 10 * v->period_ns : 1000000000u;

	return v->tid > 0 && now - v->seen_ns <= window + 1000000000u;
}

static bool has_tid(const int *tids, unsigned n, int tid)
{
	for (unsigned i = 0; i < n; i++)
		if (tids[i] == tid)
			return true;
	return false;
}

/* Only a thread of this process is ever pinned, whatever an event claims. */
static bool own_thread(int tid)
{
	char path[48];

	snprintf(path, sizeof(path), "/proc/self/task/%d", tid);
	return access(path, F_OK) == 0;
}

/*
 * affinity: every running VM's vCPUs (through the VM API, plus the threads
 * vcpu.stats names that the API did not), then our other threads.
 */
static void repin(struct park *pk, bool restore)
{
	unsigned nvms = modvm_plugin_vm_count(pk->ctx), ntids = 0;
	uint64_t now = now_ns();
	int tids[512];
	cpu_set_t set;

	allowed_set(pk, &set);
	for (unsigned v = 0; v < nvms; v++) {
		struct modvm_vm *vm = modvm_plugin_vm(pk->ctx, v);
		if (!vm)
			continue;
		for (uint32_t i = 0; i < modvm_vm_vcpu_count(vm); i++) {
			int tid = modvm_vm_vcpu_tid(vm, i);
			modvm_vcpu_set_affinity(vm, i, restore ? NULL : &set);
			if (tid > 0 && ntids < sizeof(tids) / sizeof(tids[0]))
				tids[ntids++] = tid;
		}
	}
	for (unsigned i = 0; i < pk->nvcpus && ntids < sizeof(tids) / sizeof(tids[0]); i++) {
		const struct vcpu_track *v = &pk->vcpus[i];

		if (!fresh(v, now) || has_tid(tids, ntids, v->tid) || !own_thread(v->tid))
			continue;
		if (sched_setaffinity(v->tid, sizeof(set), restore ? &pk->act.orig_affinity : &set))
			continue;	/* ended meanwhile */
		tids[ntids++] = v->tid;
	}
	if (!restore) {
		int others = park_actions_pin_threads(&pk->act, &set, tids, ntids);
		modvm_plugin_log(pk->ctx, MODVM_LOG_INFO,
				 "re-pinned %u vCPU threads and %d other threads onto %d cpus",
				 ntids, others, CPU_COUNT(&set));
	}
}

static void publish_state(struct park *pk, unsigned cpu, bool unparked, const char *reason)
{
	struct modvm_power_core_state ev = { .cpu = cpu };

	ev.state = unparked ? MODVM_CORE_UNPARKED : MODVM_CORE_PARKED;
	snprintf(ev.reason, sizeof(ev.reason), "%s", reason);
	modvm_publish_power_core_state(modvm_plugin_bus(pk->ctx), &ev);
	modvm_plugin_log(pk->ctx, MODVM_LOG_INFO, "cpu%u %s: %s", cpu,
			 unparked ? "unparked" : "parked", reason);
}

/*
 * Brings the managed cores in line with @want (parked), never parking a
 * protected one; what it must not or could not do goes into @refused.
 * Returns whether anything changed (threads are then re-pinned).
 */
static bool bring(struct park *pk, const struct modvm_cpus *want, const char *reason,
		  struct modvm_cpus *refused)
{
	bool changed = false;

	for (unsigned cpu = 0; cpu < PARK_MAX_CPUS; cpu++)
		if (modvm_cpus_has(want, cpu) && (!managed(pk, cpu) || protected_cpu(pk, cpu)))
			modvm_cpus_add(refused, cpu);
	for (unsigned i = 0; i < pk->ncores; i++) {
		unsigned cpu = pk->cpus[i];
		bool park = modvm_cpus_has(want, cpu) && !protected_cpu(pk, cpu);
		int rc;

		if (park == modvm_cpus_has(&pk->parked, cpu))
			continue;
		rc = park ? park_actions_park(&pk->act, cpu) : park_actions_unpark(&pk->act, cpu);
		if (rc < 0) {
			if (park)
				modvm_cpus_add(refused, cpu);
			continue;	/* stays as it was */
		}
		if (park)
			modvm_cpus_add(&pk->parked, cpu);
		else
			modvm_cpus_del(&pk->parked, cpu);
		changed = true;
		publish_state(pk, cpu, !park, reason && *reason ? reason : "(no reason given)");
	}
	if (changed && pk->act.kind == PARK_ACTION_AFFINITY)
		repin(pk, false);
	return changed;
}

/* ---- what others tell us ---- */

static void on_vm(const struct modvm_vm_lifecycle *ev, void *ud)
{
	struct park *pk = ud;

	/* a VM that starts while cores are parked joins the packed set */
	if ((ev->state == MODVM_VM_STARTING || ev->state == MODVM_VM_RUNNING) &&
	    modvm_cpus_count(&pk->parked) && pk->act.kind == PARK_ACTION_AFFINITY)
		repin(pk, false);
	if (ev->state == MODVM_VM_STOPPING || ev->state == MODVM_VM_STOPPED ||
	    ev->state == MODVM_VM_FAILED) {
		unsigned w = 0;
		for (unsigned q = 0; q < pk->nqueues; q++)
			if (pk->queues[q].vm_id != ev->vm_id)
				pk->queues[w++] = pk->queues[q];
		pk->nqueues = w;
		w = 0;
		for (unsigned v = 0; v < pk->nvcpus; v++)
			if (pk->vcpus[v].vm_id != ev->vm_id)
				pk->vcpus[w++] = pk->vcpus[v];
		pk->nvcpus = w;
	}
}

/* vcpu.stats (v2): which thread runs a vCPU, and how often it reports. */
static void on_stats(const struct modvm_vcpu_stats *ev, void *ud)
{
	struct park *pk = ud;
	struct vcpu_track *v = NULL;

	for (unsigned i = 0; i < pk->nvcpus && !v; i++)
		if (pk->vcpus[i].vm_id == ev->vm_id && pk->vcpus[i].vcpu == ev->vcpu)
			v = &pk->vcpus[i];
	if (!v) {
		if (pk->nvcpus == MAX_VCPUS)
			return;	/* more vCPUs than we track: the VM API still names them */
		v = &pk->vcpus[pk->nvcpus++];
		*v = (struct vcpu_track){ .vm_id = ev->vm_id, .vcpu = ev->vcpu };
	}
	if (v->tid != ev->tid || ev->interval_ns < v->wall_ns)
		v->wall_ns = 0;	/* a new thread: its clock starts at 0 */
	v->period_ns = ev->interval_ns - v->wall_ns;
	v->wall_ns = ev->interval_ns;
	v->tid = ev->tid;
	v->seen_ns = now_ns();
}

static void on_queue(const struct modvm_net_queue_assigned *ev, void *ud)
{
	struct park *pk = ud;
	unsigned q;

	for (q = 0; q < pk->nqueues; q++)
		if (pk->queues[q].vm_id == ev->vm_id && pk->queues[q].queue == ev->queue)
			break;
	if (q == pk->nqueues) {
		if (q == MAX_QUEUES) {
			modvm_plugin_log(pk->ctx, MODVM_LOG_WARN,
					 "more than %d queues: vm %u queue %u not tracked",
					 MAX_QUEUES, ev->vm_id, ev->queue);
			return;
		}
		pk->nqueues++;
	}
	pk->queues[q] = (struct queue_pin){ ev->vm_id, ev->queue, ev->host_cpu };
	/* unpark a parked queue core now, not at the policy's next step */
	if (ev->host_cpu >= 0 && modvm_cpus_has(&pk->parked, (unsigned)ev->host_cpu)) {
		struct modvm_cpus want = pk->parked, refused = { { 0 } };

		modvm_cpus_del(&want, (unsigned)ev->host_cpu);
		bring(pk, &want, "serves a network queue", &refused);
	}
}

/* ---- "modvm.park/1" ---- */

static int pp_acquire(struct modvm_plugin_ctx *policy)
{
	struct park *pk = self;
	const char *name = policy ? modvm_plugin_name(policy) : NULL;

	if (!pk || !name)
		return -EINVAL;
	if (!modvm_plugin_governs(policy, 0)) {
		if (strcmp(pk->refused_logged, name) != 0) {
			const char *gov = modvm_plugin_governor(pk->ctx, MODVM_KIND_POWER_POLICY, 0);
			modvm_plugin_log(pk->ctx, MODVM_LOG_WARN,
					 "%s asked to park cores, but %s governs the host's power "
					 "(host.power_policy): refused", name, gov ? gov : "nobody");
			snprintf(pk->refused_logged, sizeof(pk->refused_logged), "%s", name);
		}
		return -EPERM;
	}
	if (pk->holder[0] && strcmp(pk->holder, name) != 0)
		return -EBUSY;
	snprintf(pk->holder, sizeof(pk->holder), "%s", name);
	return 0;
}

static bool holds(const struct park *pk, struct modvm_plugin_ctx *policy)
{
	return pk && policy && pk->holder[0] && strcmp(pk->holder, modvm_plugin_name(policy)) == 0;
}

static void pp_release(struct modvm_plugin_ctx *policy)
{
	struct park *pk = self;
	struct modvm_cpus none = { { 0 } }, refused = { { 0 } };

	if (!holds(pk, policy))
		return;
	bring(pk, &none, "released: restored", &refused);
	pk->holder[0] = '\0';
}

static int pp_get_state(struct modvm_plugin_ctx *caller, struct modvm_park_state *out)
{
	struct park *pk = self;

	(void)caller;
	if (!pk || !out || out->struct_size < sizeof(*out))
		return -EINVAL;
	*out = (struct modvm_park_state){ .struct_size = sizeof(*out),
					  .action = (uint32_t)pk->act.kind,
					  .parked = pk->parked };
	for (unsigned i = 0; i < pk->ncores; i++) {
		modvm_cpus_add(&out->managed, pk->cpus[i]);
		if (protected_cpu(pk, pk->cpus[i]))
			modvm_cpus_add(&out->protected_cpus, pk->cpus[i]);
	}
	snprintf(out->holder, sizeof(out->holder), "%s", pk->holder);
	return 0;
}

static int pp_apply(struct modvm_plugin_ctx *policy, const struct modvm_cpus *parked,
		    const char *reason, struct modvm_cpus *refused)
{
	struct park *pk = self;
	struct modvm_cpus mine = { { 0 } };

	if (refused)
		memset(refused, 0, sizeof(*refused));
	if (!pk || !parked)
		return -EINVAL;
	if (!holds(pk, policy))
		return -EPERM;
	bring(pk, parked, reason, refused ? refused : &mine);
	return 0;
}

static const struct modvm_park park_iface = {
	.struct_size = sizeof(struct modvm_park),
	.acquire = pp_acquire,
	.release = pp_release,
	.get_state = pp_get_state,
	.apply = pp_apply,
};

/* ---- configuration ---- */

static int managed_cores(struct park *pk, const struct modvm_config *cfg)
{
	const char *cores = modvm_config_string(cfg, "cores");
	const char *root = modvm_config_string(cfg, "sysfs_root");
	char path[300], text[256] = "";
	int n;

	if (cores && *cores) {
		n = park_cpulist_parse(cores, pk->cpus);
		if (n < 0)
			modvm_plugin_log(pk->ctx, MODVM_LOG_ERROR,
					 "%s: cores: \"%s\": not a cpulist like \"0-3,6\" (cpus < %d)",
					 modvm_config_where(cfg, "cores"), cores, PARK_MAX_CPUS);
		return n;
	}
	/* default: every online cpu, from sysfs_root/online (or sysconf without it) */
	snprintf(path, sizeof(path), "%s/online", root);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0) {
		ssize_t got = read(fd, text, sizeof(text) - 1);
		text[got > 0 ? got : 0] = '\0';
		close(fd);
	}
	n = text[0] ? park_cpulist_parse(text, pk->cpus) : -EINVAL;
	if (n < 0) {
		long onln = sysconf(_SC_NPROCESSORS_ONLN);
		n = onln < 1 ? 1 : onln > PARK_MAX_CPUS ? PARK_MAX_CPUS : (int)onln;
		for (int i = 0; i < n; i++)
			pk->cpus[i] = (unsigned)i;
	}
	return n;
}

/* The options, checked the way init uses them; no side effects (validate runs it too). */
static int configure(struct park *pk, struct modvm_plugin_ctx *ctx,
		     const struct modvm_config *cfg)
{
	const char *state = modvm_config_string(cfg, "state_file");
	int n;

	pk->ctx = ctx;
	if (state[0] != '/') {
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "%s: state_file: \"%s\": needs an absolute path",
				 modvm_config_where(cfg, "state_file"), state);
		return -EINVAL;
	}
	n = managed_cores(pk, cfg);
	if (n < 0)
		return n;
	pk->ncores = (unsigned)n;
	return 0;
}

static int park_validate(struct modvm_plugin_ctx *ctx)
{
	struct park *pk = calloc(1, sizeof(*pk));
	int rc;

	if (!pk)
		return -ENOMEM;
	rc = configure(pk, ctx, modvm_plugin_config(ctx));
	free(pk);
	return rc;
}

/* sysfs_root as an absolute path: journal entries must mean the same file
 * to `modvm recover` run from anywhere. */
static void absolute_root(const char *root, char *out, size_t len)
{
	char real[PATH_MAX];

	if (root[0] != '/' && realpath(root, real))
		snprintf(out, len, "%s", real);
	else
		snprintf(out, len, "%s", root);
}

/*
 * The journal comes first: an earlier run's leftovers are written back
 * before the online mask and the governors are read, so an offlined core is
 * managed again and a powersave governor is not mistaken for the original.
 * The cpufreq and offline actions keep it (locked) until fini; with
 * affinity, which changes nothing that outlives the process, leftovers
 * are recovered if no live modvm owns them.
 */
static int open_journal(struct park *pk, enum park_action kind, const char *path,
			const char *root)
{
	char err[300];
	unsigned restored = 0;
	int rc;

	if (kind == PARK_ACTION_AFFINITY) {
		if (access(path, F_OK) != 0)
			return 0;	/* nothing left: no directory or lock file made */
		rc = park_state_recover(path, root, &restored, err, sizeof(err));
		if (rc < 0 && rc != -EBUSY)
			modvm_plugin_log(pk->ctx, MODVM_LOG_WARN, "%s", err);
		return 0;
	}
	pk->journal = calloc(1, sizeof(*pk->journal));
	if (!pk->journal)
		return -ENOMEM;
	rc = park_state_open(pk->journal, path, root, &restored, NULL, err, sizeof(err));
	if (rc < 0) {
		modvm_plugin_log(pk->ctx, MODVM_LOG_ERROR, "state_file: %s%s", err,
				 rc == -EBUSY ? ": two modvm processes must not park the same cores"
					      : "");
		free(pk->journal);
		pk->journal = NULL;
		return rc;
	}
	return 0;
}

static void close_journal(struct park *pk)
{
	if (!pk->journal)
		return;
	park_state_close(pk->journal);
	free(pk->journal);
	pk->journal = NULL;
}

/* ---- lifecycle ---- */

/*
 * What parking needs after the lockdown: affinity of our own threads is
 * in the loop's list; cpufreq and offline write under the sysfs root and
 * journal each change beside the state file first (a new file renamed
 * into place).
 */
static int declare_sandbox(struct park *pk, const char *root, const char *state_file)
{
	char dir[PATH_MAX];
	int r;

	if (!pk->journal)
		return 0;
	r = modvm_sandbox_allow_path(pk->ctx, root, MODVM_SANDBOX_READ | MODVM_SANDBOX_WRITE);
	snprintf(dir, sizeof(dir), "%s", state_file);
	if (r == 0)
		r = modvm_sandbox_allow_path(pk->ctx, dirname(dir),
					     MODVM_SANDBOX_READ | MODVM_SANDBOX_WRITE |
						     MODVM_SANDBOX_CREATE);
	return r;
}

static int park_init(struct modvm_plugin_ctx *ctx)
{
	const struct modvm_config *cfg = modvm_plugin_config(ctx);
	struct park *pk = calloc(1, sizeof(*pk));
	enum park_action kind = PARK_ACTION_AFFINITY;
	char root[PATH_MAX];
	int rc;

	if (!pk)
		return -ENOMEM;
	pk->ctx = ctx;
	park_action_parse(modvm_config_string(cfg, "action"), &kind);
	absolute_root(modvm_config_string(cfg, "sysfs_root"), root, sizeof(root));
	rc = open_journal(pk, kind, modvm_config_string(cfg, "state_file"), root);
	if (rc < 0)
		goto free_state;
	rc = configure(pk, ctx, cfg);
	if (rc < 0)
		goto close_journal;
	rc = park_actions_init(&pk->act, kind, root);
	if (rc < 0) {
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "sched_getaffinity: %s", modvm_strerror(rc));
		goto close_journal;
	}
	park_actions_set_journal(&pk->act, pk->journal);
	rc = declare_sandbox(pk, root, modvm_config_string(cfg, "state_file"));
	if (rc < 0)
		goto close_journal;
	if ((rc = modvm_bus_register(&modvm_event_power_core_state)) < 0)
		goto close_journal;
	rc = modvm_subscribe_vm_lifecycle(modvm_plugin_bus(ctx), MODVM_PRIO_DEFAULT, on_vm, pk);
	if (rc < 0)
		goto close_journal;
	pk->sub_vm = rc;
	/* before the policies: a queue core is protected when they next ask */
	rc = modvm_subscribe_net_queue_assigned(modvm_plugin_bus(ctx), MODVM_PRIO_EARLY, on_queue,
						 pk);
	if (rc < 0)
		goto unsubscribe_vm;
	pk->sub_queue = rc;
	rc = modvm_subscribe_vcpu_stats(modvm_plugin_bus(ctx), MODVM_PRIO_DEFAULT, on_stats, pk);
	if (rc < 0)
		goto unsubscribe_queue;
	pk->sub_stats = rc;
	modvm_plugin_set_data(ctx, pk);
	self = pk;
	return 0;

unsubscribe_queue:
	modvm_bus_unsubscribe(modvm_plugin_bus(ctx), pk->sub_queue);
unsubscribe_vm:
	modvm_bus_unsubscribe(modvm_plugin_bus(ctx), pk->sub_vm);
close_journal:
	close_journal(pk);
free_state:
	free(pk);
	return rc;
}

/* `modvm recover`: what an earlier run left parked goes back, unless a
 * live modvm owns the journal. */
static int park_recover(struct modvm_plugin_ctx *ctx)
{
	const char *path = modvm_config_string(modvm_plugin_config(ctx), "state_file");
	unsigned restored = 0;
	char err[300];
	char root[PATH_MAX];
	absolute_root(modvm_config_string(modvm_plugin_config(ctx), "sysfs_root"), root,
		      sizeof(root));
	int rc = park_state_recover(path, root, &restored, err, sizeof(err));

	if (rc == -EBUSY)
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "%s: nothing recovered while it runs", err);
	else if (rc < 0)
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "%s", err);
	else
		modvm_plugin_log(ctx, MODVM_LOG_INFO, "%s: %u value(s) restored", path, restored);
	return rc;
}

/*
 * The files parking writes, opened now, while modvm may: once it runs as
 * host.user (the packaged unit's `modvm` user) it may not open root's
 * sysfs files or write in the journal's directory, but what is open stays
 * writable.  The journal is held only when that switch is coming.
 */
static int hold_files(struct park *pk)
{
	char err[300];
	uid_t uid;
	gid_t gid;
	int rc;

	for (unsigned i = 0; i < pk->ncores; i++) {
		rc = park_actions_hold(&pk->act, pk->cpus[i]);
		if (rc < 0) {
			modvm_plugin_log(pk->ctx, MODVM_LOG_ERROR, "cpu%u: cannot open the file action "
					 "%s writes: %s", pk->cpus[i], park_action_name(pk->act.kind),
					 strerror(-rc));
			park_actions_release(&pk->act);
			return rc;
		}
	}
	modvm_sandbox_owner(pk->ctx, &uid, &gid);
	if (!pk->journal || uid == geteuid())
		return 0;
	rc = park_state_hold(pk->journal, err, sizeof(err));
	if (rc < 0) {
		modvm_plugin_log(pk->ctx, MODVM_LOG_ERROR, "state_file: %s", err);
		park_actions_release(&pk->act);
	}
	return rc;
}

static int park_start(struct modvm_plugin_ctx *ctx)
{
	struct park *pk = modvm_plugin_data(ctx);
	char err[300], permitted[64];
	int rc;

	park_actions_permitted(pk->act.root, permitted, sizeof(permitted));
	/* refuse an action this host cannot do now, rather than fail at every park */
	for (unsigned i = 0; i < pk->ncores; i++) {
		rc = park_actions_check(&pk->act, pk->cpus[i], err, sizeof(err));
		if (rc < 0) {
			modvm_plugin_log(ctx, MODVM_LOG_ERROR, "%s (this host permits: %s)", err,
					 permitted);
			return rc;
		}
	}
	rc = hold_files(pk);
	if (rc < 0)
		return rc;
	modvm_plugin_log(ctx, MODVM_LOG_INFO,
			 "managing %u cores, action %s (this host permits: %s), for %s", pk->ncores,
			 park_action_name(pk->act.kind), permitted,
			 modvm_plugin_governor(ctx, MODVM_KIND_POWER_POLICY, 0)
				 ? modvm_plugin_governor(ctx, MODVM_KIND_POWER_POLICY, 0)
				 : "no power policy (host.power_policy none)");
	return 0;
}

static void park_stop(struct modvm_plugin_ctx *ctx)
{
	struct park *pk = modvm_plugin_data(ctx);
	bool pinned = pk->act.pinned_threads;

	/* The grant ends here: whatever a policy parked comes back. */
	pk->holder[0] = '\0';
	/* Cores it could not restore stay parked[]: said below, not published. */
	park_actions_restore(&pk->act);
	if (pinned)
		repin(pk, true);
	for (unsigned i = 0; i < pk->ncores; i++) {
		unsigned cpu = pk->cpus[i];
		if (cpu < PARK_MAX_CPUS && pk->act.parked[cpu]) {
			modvm_plugin_log(ctx, MODVM_LOG_ERROR,
					 "cpu%u: could not be unparked (action %s): the host is left "
					 "changed",
					 cpu, park_action_name(pk->act.kind));
			continue;
		}
		if (modvm_cpus_has(&pk->parked, cpu))
			publish_state(pk, cpu, true, "stopping: restored");
		modvm_cpus_del(&pk->parked, cpu);
	}
}

static void park_fini(struct modvm_plugin_ctx *ctx)
{
	struct park *pk = modvm_plugin_data(ctx);

	modvm_bus_unsubscribe(modvm_plugin_bus(ctx), pk->sub_stats);
	modvm_bus_unsubscribe(modvm_plugin_bus(ctx), pk->sub_queue);
	modvm_bus_unsubscribe(modvm_plugin_bus(ctx), pk->sub_vm);
	park_actions_release(&pk->act);
	close_journal(pk);
	if (self == pk)
		self = NULL;
	free(pk);
	modvm_plugin_set_data(ctx, NULL);
}

static const struct modvm_option options[] = {
	{ .name = "cores", .type = MODVM_OPT_STRING, .default_value = "",
	  .description = "cpulist modvm may park, like \"0-3,6\"; empty = every online core" },
	{ .name = "action", .type = MODVM_OPT_ENUM, .default_value = "affinity",
	  .choices = "affinity|cpufreq|offline",
	  .description = "how a core is parked: re-pin threads, powersave governor, offline" },
	{ .name = "sysfs_root", .type = MODVM_OPT_STRING,
	  .default_value = "/sys/devices/system/cpu",
	  .description = "where cpuN/online and cpuN/cpufreq live" },
	{ .name = "state_file", .type = MODVM_OPT_STRING, .default_value = PARK_STATE_DEFAULT,
	  .description = "journal of what cpufreq/offline changed, written before each change; "
			 "a crashed run's leftovers are restored at the next start or by "
			 "`modvm recover`" },
	MODVM_OPTIONS_END,
};

static int park_caps(struct modvm_plugin_ctx *ctx, char *buf, size_t len)
{
	struct park *pk = modvm_plugin_data(ctx);
	char permitted[64];

	park_actions_permitted(pk ? pk->act.root : "/sys/devices/system/cpu", permitted,
			       sizeof(permitted));
	return snprintf(buf, len, "parking actions this host permits: %s", permitted);
}

static const struct modvm_caps_report caps_report = {
	.struct_size = sizeof(struct modvm_caps_report),
	.report = park_caps,
};

static const void *park_get_interface(struct modvm_plugin_ctx *ctx, const char *id)
{
	(void)ctx;
	if (!id)
		return NULL;
	if (strcmp(id, MODVM_CAPS_REPORT_IFACE) == 0)
		return &caps_report;
	return strcmp(id, MODVM_PARK_IFACE) == 0 ? &park_iface : NULL;
}

static struct modvm_event_desc *const events[] = { &modvm_event_power_core_state, NULL };

MODVM_PLUGIN(.name = PLUGIN_NAME, .kind = MODVM_KIND_OTHER, .version = "2.0.0",
	     .license = "MIT",
	     .description = "core parking mechanism (modvm.park/1): affinity, cpufreq or offline, "
			    "journaled and undone on stop, for the host's power policy",
	     .options = options, .events = events, .init = park_init, .start = park_start,
	     .stop = park_stop, .fini = park_fini, .get_interface = park_get_interface,
	     .validate = park_validate, .recover = park_recover);
