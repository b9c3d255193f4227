/*
 * plugin.c — power-park: Core Parking for the VMs of this process.
 *
 * Every interval_ms the loop timer reads /proc/stat, publishes host.cpu_load
 * per managed core, adds the vCPU threads' own run time from vcpu.stats
 * (the demand /proc/stat lags behind), feeds the pure policy (policy.c) and, when the unparked
 * set changes, applies the configured action (actions.c) and publishes
 * power.core_state with the reason.  Cores serving a VM's network queue
 * (net.queue_assigned) are never parked.  stop() — also what SIGTERM leads
 * to — undoes every change.  All of it runs on the loop thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <modvm/events.h>
#include <modvm/loop.h>
#include <modvm/plugin.h>
#include <modvm/vm.h>

#include "actions.h"
#include "policy.h"
#include "sampler.h"
#include "statefile.h"

#define PLUGIN_NAME "power-park"
#define MAX_QUEUES 64
#define MAX_VCPUS 256

struct queue_pin {
	uint32_t vm_id, queue;
	int32_t cpu;
};

/* One vCPU thread as vcpu.stats last described it. */
struct vcpu_track {
	uint32_t vm_id, vcpu;
	int32_t tid;
	uint64_t run_ns;	/* thread CPU time at the last sample */
	uint64_t wall_ns;	/* the sample's interval_ns: wall time since the thread began */
	uint64_t seen_ns;	/* CLOCK_MONOTONIC of the last sample */
	uint64_t period_ns;	/* wall time that sample covered */
	uint32_t permille;	/* run time / wall time of that sample */
};

struct park {
	struct modvm_plugin_ctx *ctx;
	struct park_params params;
	unsigned cpus[PARK_MAX_CPUS];
	unsigned ncores;
	uint64_t interval_ns;
	struct park_policy pol;
	struct park_sampler smp;
	struct park_actions act;
	struct park_state *journal;	/* cpufreq/offline: owned from init to fini */
	struct park_sample sample;
	uint32_t permille[PARK_MAX_CPUS];
	bool applied[PARK_MAX_CPUS];	/* unparked state the host was last given */
	struct queue_pin queues[MAX_QUEUES];
	unsigned nqueues;
	struct vcpu_track vcpus[MAX_VCPUS];
	unsigned nvcpus;
	struct modvm_timer *timer;
	int sub_vm, sub_queue, sub_stats;
	bool read_failing;		/* log a failing /proc/stat once, not every tick */
	bool some_parked;
};

static unsigned parked_count(const struct park *pk)
{
	unsigned n = 0;

	for (unsigned i = 0; i < pk->ncores; i++)
		n += !pk->applied[i];
	return n;
}

/* The set threads may use: unparked managed cores plus any core we don't manage. */
static void allowed_set(const struct park *pk, cpu_set_t *set)
{
	*set = pk->act.orig_affinity;
	for (unsigned i = 0; i < pk->ncores; i++)
		if (!pk->applied[i])
			CPU_CLR(pk->cpus[i], set);
}

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
static bool fresh(const struct park *pk, const struct vcpu_track *v, uint64_t now)
{
	uint64_t window = 10 * v->period_ns > 1000000000u ? 10 * v->period_ns : 1000000000u;

	return v->tid > 0 && now - v->seen_ns <= window + pk->interval_ns;
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

		if (!fresh(pk, v, now) || has_tid(tids, ntids, v->tid) || !own_thread(v->tid))
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

/* Brings the host in line with the policy's set; a core whose action failed stays as it was. */
static void apply(struct park *pk, const char *reason)
{
	bool changed = false;

	for (unsigned i = 0; i < pk->ncores; i++) {
		bool want = pk->pol.unparked[i];
		int rc;

		if (want == pk->applied[i])
			continue;
		rc = want ? park_actions_unpark(&pk->act, pk->cpus[i])
			  : park_actions_park(&pk->act, pk->cpus[i]);
		if (rc < 0) {
			pk->pol.unparked[i] = pk->applied[i];
			continue;
		}
		pk->applied[i] = want;
		changed = true;
		publish_state(pk, pk->cpus[i], want, reason);
	}
	pk->some_parked = parked_count(pk) > 0;
	if (changed && pk->act.kind == PARK_ACTION_AFFINITY)
		repin(pk, false);
}

static void on_tick(struct modvm_timer *t, void *ud)
{
	struct park *pk = ud;
	struct park_decision d;
	uint64_t now = now_ns();
	char err[300];
	int rc;

	(void)t;
	rc = park_sampler_read(&pk->smp, pk->permille, err, sizeof(err));
	if (rc < 0) {
		if (!pk->read_failing)
			modvm_plugin_log(pk->ctx, MODVM_LOG_ERROR, "%s", err);
		pk->read_failing = true;
		return;
	}
	pk->read_failing = false;
	memset(pk->sample.pinned, 0, sizeof(pk->sample.pinned));
	pk->sample.vcpu_permille = 0;
	for (unsigned v = 0; v < pk->nvcpus; v++)
		if (fresh(pk, &pk->vcpus[v], now))
			pk->sample.vcpu_permille += pk->vcpus[v].permille;
	for (unsigned i = 0; i < pk->ncores; i++) {
		struct modvm_host_cpu_load ev = { .cpu = pk->cpus[i],
						  .busy_permille = pk->permille[pk->cpus[i]],
						  .interval_ns = pk->interval_ns };
		pk->sample.busy_permille[i] = ev.busy_permille;
		modvm_publish_host_cpu_load(modvm_plugin_bus(pk->ctx), &ev);
		for (unsigned q = 0; q < pk->nqueues; q++)
			if (pk->queues[q].cpu == (int32_t)pk->cpus[i])
				pk->sample.pinned[i] = true;
	}
	park_policy_step(&pk->pol, &pk->sample, &d);
	if (d.changed)
		apply(pk, d.reason);
}

static void on_vm(const struct modvm_vm_lifecycle *ev, void *ud)
{
	struct park *pk = ud;

	/* a VM that starts while cores are parked joins the packed set */
	if ((ev->state == MODVM_VM_STARTING || ev->state == MODVM_VM_RUNNING) &&
	    pk->some_parked && pk->act.kind == PARK_ACTION_AFFINITY)
		repin(pk, false);
	if (ev->state == MODVM_VM_PAUSED)	/* no demand until it runs again */
		for (unsigned v = 0; v < pk->nvcpus; v++)
			if (pk->vcpus[v].vm_id == ev->vm_id)
				pk->vcpus[v].permille = 0;
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

/*
 * vcpu.stats (v2: both clocks count from the thread's start): the run time
 * over the wall time between this sample and the previous one.
 */
static void on_stats(const struct modvm_vcpu_stats *ev, void *ud)
{
	struct park *pk = ud;
	struct vcpu_track *v = NULL;
	uint64_t ran, span;

	for (unsigned i = 0; i < pk->nvcpus && !v; i++)
		if (pk->vcpus[i].vm_id == ev->vm_id && pk->vcpus[i].vcpu == ev->vcpu)
			v = &pk->vcpus[i];
	if (!v) {
		if (pk->nvcpus == MAX_VCPUS)
			return;	/* more vCPUs than we track: /proc/stat still sees them */
		v = &pk->vcpus[pk->nvcpus++];
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
	/* unpark a parked queue core now, not at the next tick */
	for (unsigned i = 0; i < pk->ncores; i++) {
		if ((int32_t)pk->cpus[i] == ev->host_cpu && !pk->pol.unparked[i]) {
			pk->pol.unparked[i] = true;
			apply(pk, "serves a network queue");
		}
	}
}

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

/*
 * The options, checked the way init uses them: the policy's parameters,
 * the managed cores (which reads the online mask) and min_cores against
 * them.  No side effects, so validate runs it too.  Logs each problem.
 */
static int configure(struct park *pk, struct modvm_plugin_ctx *ctx,
		     const struct modvm_config *cfg)
{
	enum park_action kind = PARK_ACTION_AFFINITY;
	const char *state = modvm_config_string(cfg, "state_file");
	char err[200];
	int n, rc;

	pk->ctx = ctx;
	pk->params = (struct park_params){
		.max_cores = (unsigned)modvm_config_int(cfg, "max_cores"),
		.increase_threshold = (unsigned)modvm_config_int(cfg, "increase_threshold"),
		.decrease_threshold = (unsigned)modvm_config_int(cfg, "decrease_threshold"),
		.increase_time = (unsigned)modvm_config_int(cfg, "increase_time"),
		.decrease_time = (unsigned)modvm_config_int(cfg, "decrease_time"),
		.cores_per_step = (unsigned)modvm_config_int(cfg, "cores_per_step"),
	};
	park_action_parse(modvm_config_string(cfg, "action"), &kind);
	pk->params.protect_cpu0 = kind == PARK_ACTION_OFFLINE;
	pk->interval_ns = (uint64_t)modvm_config_int(cfg, "interval_ms") * 1000000u;
	if (state[0] != '/') {
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "%s: state_file: \"%s\": needs an absolute path",
				 modvm_config_where(cfg, "state_file"), state);
		return -EINVAL;
	}

	rc = n = managed_cores(pk, cfg);
	if (rc < 0)
		return rc;
	pk->ncores = (unsigned)n;
	rc = park_min_cores_parse(modvm_config_string(cfg, "min_cores"), pk->ncores,
				  &pk->params.min_cores, err, sizeof(err));
	if (rc < 0) {
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "%s: %s", modvm_config_where(cfg, "min_cores"),
				 err);
		return rc;
	}
	rc = park_policy_init(&pk->pol, &pk->params, pk->cpus, pk->ncores, err, sizeof(err));
	if (rc < 0)
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "%s", err);
	return rc;
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
static int open_journal(struct park *pk, enum park_action kind, const char *path)
{
	char err[300];
	unsigned restored = 0;
	int rc;

	if (kind == PARK_ACTION_AFFINITY) {
		if (access(path, F_OK) != 0)
			return 0;	/* nothing left: no directory or lock file made */
		rc = park_state_recover(path, &restored, err, sizeof(err));
		if (rc < 0 && rc != -EBUSY)
			modvm_plugin_log(pk->ctx, MODVM_LOG_WARN, "%s", err);
		return 0;
	}
	pk->journal = calloc(1, sizeof(*pk->journal));
	if (!pk->journal)
		return -ENOMEM;
	rc = park_state_open(pk->journal, path, &restored, NULL, err, sizeof(err));
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
	rc = open_journal(pk, kind, modvm_config_string(cfg, "state_file"));
	if (rc < 0)
		goto free_state;
	rc = configure(pk, ctx, cfg);
	if (rc < 0)
		goto close_journal;
	absolute_root(modvm_config_string(cfg, "sysfs_root"), root, sizeof(root));
	rc = park_actions_init(&pk->act, kind, root);
	if (rc < 0) {
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "sched_getaffinity: %s", modvm_strerror(rc));
		goto close_journal;
	}
	park_actions_set_journal(&pk->act, pk->journal);
	for (unsigned i = 0; i < pk->ncores; i++)
		pk->applied[i] = true;
	park_sampler_init(&pk->smp, modvm_config_string(cfg, "proc_stat"));
	if ((rc = modvm_bus_register(&modvm_event_host_cpu_load)) < 0 ||
	    (rc = modvm_bus_register(&modvm_event_power_core_state)) < 0)
		goto close_journal;
	rc = modvm_subscribe_vm_lifecycle(modvm_plugin_bus(ctx), MODVM_PRIO_DEFAULT, on_vm, pk);
	if (rc < 0)
		goto close_journal;
	pk->sub_vm = rc;
	rc = modvm_subscribe_net_queue_assigned(modvm_plugin_bus(ctx), MODVM_PRIO_DEFAULT,
						 on_queue, pk);
	if (rc < 0)
		goto unsubscribe_vm;
	pk->sub_queue = rc;
	rc = modvm_subscribe_vcpu_stats(modvm_plugin_bus(ctx), MODVM_PRIO_DEFAULT, on_stats, pk);
	if (rc < 0)
		goto unsubscribe_queue;
	pk->sub_stats = rc;
	modvm_plugin_set_data(ctx, pk);
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
	int rc = park_state_recover(path, &restored, err, sizeof(err));

	if (rc == -EBUSY)
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "%s: nothing recovered while it runs", err);
	else if (rc < 0)
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "%s", err);
	else
		modvm_plugin_log(ctx, MODVM_LOG_INFO, "%s: %u value(s) restored", path, restored);
	return rc;
}

static int park_start(struct modvm_plugin_ctx *ctx)
{
	struct park *pk = modvm_plugin_data(ctx);
	double interval_s = (double)pk->interval_ns / 1e9;
	char err[300], permitted[64];
	int rc;

	/* prime the counters, and refuse a file that is not /proc/stat now */
	rc = park_sampler_read(&pk->smp, pk->permille, err, sizeof(err));
	if (rc < 0) {
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "proc_stat: %s", err);
		return rc;
	}
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
	pk->timer = modvm_timer_start(modvm_plugin_loop(ctx), interval_s, interval_s, on_tick, pk);
	if (!pk->timer)
		return -ENOMEM;
	modvm_plugin_log(ctx, MODVM_LOG_INFO,
			 "managing %u cores, action %s (this host permits: %s), every %llu ms",
			 pk->ncores, park_action_name(pk->act.kind), permitted,
			 (unsigned long long)(pk->interval_ns / 1000000u));
	return 0;
}

static void park_stop(struct modvm_plugin_ctx *ctx)
{
	struct park *pk = modvm_plugin_data(ctx);
	bool pinned = pk->act.pinned_threads;

	modvm_timer_stop(pk->timer);
	pk->timer = NULL;
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
			pk->applied[i] = false;
			continue;
		}
		if (!pk->applied[i])
			publish_state(pk, cpu, true, "stopping: restored");
		pk->applied[i] = true;
	}
	pk->some_parked = false;
	/* a later start begins from every core unparked, like the host now is */
	park_policy_init(&pk->pol, &pk->params, pk->cpus, pk->ncores, (char[8]){ 0 }, 8);
}

static void park_fini(struct modvm_plugin_ctx *ctx)
{
	struct park *pk = modvm_plugin_data(ctx);

	modvm_bus_unsubscribe(modvm_plugin_bus(ctx), pk->sub_stats);
	modvm_bus_unsubscribe(modvm_plugin_bus(ctx), pk->sub_queue);
	modvm_bus_unsubscribe(modvm_plugin_bus(ctx), pk->sub_vm);
	close_journal(pk);
	free(pk);
	modvm_plugin_set_data(ctx, NULL);
}

static const struct modvm_option options[] = {
	{ .name = "min_cores", .type = MODVM_OPT_STRING, .default_value = "1",
	  .description = "cores always kept unparked: a count (2 or \"2\") or a share (\"50%\", quoted)" },
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
	{ .name = "cores", .type = MODVM_OPT_STRING, .default_value = "",
	  .description = "cpulist modvm may park, like \"0-3,6\"; empty = every online core" },
	{ .name = "action", .type = MODVM_OPT_ENUM, .default_value = "affinity",
	  .choices = "affinity|cpufreq|offline",
	  .description = "how a core is parked: re-pin threads, powersave governor, offline" },
	{ .name = "proc_stat", .type = MODVM_OPT_STRING, .default_value = "/proc/stat",
	  .description = "per-core utilisation source" },
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
	return id && strcmp(id, MODVM_CAPS_REPORT_IFACE) == 0 ? &caps_report : NULL;
}

static struct modvm_event_desc *const events[] = { &modvm_event_host_cpu_load,
						    &modvm_event_power_core_state, NULL };

MODVM_PLUGIN(.name = PLUGIN_NAME, .kind = MODVM_KIND_POWER_POLICY, .version = "1.0.0",
	     .license = "MIT",
	     .description = "Core Parking: pack vCPUs onto fewer cores, park the idle ones",
	     .options = options, .events = events, .init = park_init, .start = park_start,
	     .stop = park_stop, .fini = park_fini, .get_interface = park_get_interface,
	     .validate = park_validate, .recover = park_recover);
