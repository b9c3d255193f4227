/*
 * The VMs of one host at run time.  The core never knows a vendor: it asks
 * every CPU-backend plugin to probe, picks one by score and policy, and
 * hands its vtable to the VM runtime.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <modvm/events.h>

#include "host/caps.h"
#include "host/fleet.h"
#include "machine/machine.h"

#define MAX_BACKENDS 8
/* More guest reboots than this within REBOOT_WINDOW_S is a reboot loop. */
#define REBOOT_LIMIT 10
#define REBOOT_WINDOW_S 60

/* One launched VM: its config entry and the machine running it now. */
struct fleet_vm {
	struct modvm__fleet *fleet;
	uint32_t vm_id;
	struct modvm__machine *m;	/* NULL once ended and released */
	bool failed;			/* ended in failure, or could not restart */
	bool ended;			/* for good: no restart follows */
	unsigned reboots;		/* within the window starting at window_start */
	time_t window_start;
};

struct modvm__fleet {
	const struct modvm__host_view *view;
	const struct modvm_cpu_backend *backend;	/* the chosen one, for restarts */
	struct modvm_plugin_ctx *backend_ctx;
	struct fleet_vm *vms;
	size_t count;
	unsigned running;
	/* Calls queued on the loop hold the fleet: freed while any is, it is
	 * only marked dead, and the last of them frees it. */
	unsigned queued;
	bool dead;
};

static int fleet_call(struct fleet_vm *fv, void (*fn)(void *ud))
{
	int r = modvm_loop_call(fv->fleet->view->loop, fn, fv);

	if (r == 0)
		fv->fleet->queued++;
	return r;
}

static void fleet_release(struct modvm__fleet *fleet)
{
	free(fleet->vms);
	free(fleet);
}

/* At the start of a queued call: false if the fleet was freed meanwhile
 * (then the call must do nothing; the last one frees what is left). */
static bool fleet_call_begin(struct modvm__fleet *fleet)
{
	fleet->queued--;
	if (!fleet->dead)
		return true;
	if (fleet->queued == 0)
		fleet_release(fleet);
	return false;
}

MODVM_INTERNAL size_t modvm__backends_probe(const struct modvm__host_view *view,
					    struct modvm__backend_probe *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < view->plugin_count(view->host) && n < max; i++) {
		struct modvm_plugin_ctx *p = view->plugin(view->host, i);
		if (!p->inited || p->desc->kind != MODVM_KIND_CPU_BACKEND || !p->desc->get_interface)
			continue;
		struct modvm_plugin_ctx *prev = modvm__plugin_enter(p);
		const struct modvm_cpu_backend *be = p->desc->get_interface(p, MODVM_CPU_BACKEND_IFACE);
		struct modvm__backend_probe *bp = &out[n];
		memset(bp, 0, sizeof(*bp));
		bp->probe.struct_size = sizeof(bp->probe);
		int r = (be && be->struct_size >= sizeof(*be) && be->probe) ? be->probe(p, &bp->probe)
									      : -ENOTSUP;
		modvm__plugin_leave(prev);
		if (r < 0) {
			modvm_log(MODVM_LOG_WARN, p->name, "probe failed: %s", modvm_strerror(r));
			continue;
		}
		bp->plugin = p;
		bp->backend = be;
		snprintf(bp->probe.caps.backend, sizeof(bp->probe.caps.backend), "%s", p->name);
		n++;
	}
	return n;
}

static const char *slat_name(uint32_t slat)
{
	return slat == MODVM_SLAT_EPT ? "EPT" : slat == MODVM_SLAT_NPT ? "NPT" : "none (shadow paging)";
}

static const char *slat_remedy(const struct modvm_cpu_probe *p)
{
	for (uint32_t i = 0; i < p->n_advice && i < MODVM_CPU_MAX_ADVICE; i++)
		if (strcmp(p->advice[i].feature, "SLAT") == 0 ||
		    strcmp(p->advice[i].feature, "EPT") == 0 ||
		    strcmp(p->advice[i].feature, "NPT") == 0)
			return p->advice[i].remedy;
	return "use a host whose CPU and KVM module provide EPT or NPT";
}

/* With SLAT preferred, having it beats any score; otherwise the score decides. */
static bool outranks(const struct modvm_cpu_probe *a, const struct modvm_cpu_probe *b,
		     bool prefer_slat)
{
	bool a_slat = a->caps.slat != MODVM_SLAT_NONE, b_slat = b->caps.slat != MODVM_SLAT_NONE;
	if (prefer_slat && a_slat != b_slat)
		return a_slat;
	return a->score > b->score;
}

MODVM_INTERNAL int modvm__backends_select(const struct modvm__backend_probe *probes, size_t n,
					  const char *want, const char *slat, const char *where)
{
	/* Prefixes the messages about a setting with the file:line it came from. */
	const char *at = where && strcmp(where, "(default)") != 0 ? where : NULL;
	char prefix[320];
	snprintf(prefix, sizeof(prefix), "%s%s", at ? at : "", at ? ": " : "");
	bool any = strcmp(want, "auto") == 0;
	bool need_slat = strcmp(slat, "required") == 0;
	bool prefer_slat = strcmp(slat, "preferred") == 0;
	int best = -1, no_slat = -1;

	if (n == 0) {
		modvm_log(MODVM_LOG_ERROR, NULL,
			  "no CPU backend plugin enabled (enable cpu-vmx or cpu-svm under plugins)");
		return -ENOENT;
	}
	for (size_t i = 0; i < n; i++) {
		const struct modvm_cpu_probe *p = &probes[i].probe;
		if (!any && strcmp(probes[i].plugin->name, want) != 0)
			continue;
		if (p->score <= 0) {
			if (!any) {
				/* "no CPU backend can run guests here. NAME: why; to fix: …" */
				static const char lead[] = "no CPU backend can run guests here. ";
				char why[1800];

				modvm__backends_explain(p, 1, why, sizeof(why));
				bool led = strncmp(why, lead, sizeof(lead) - 1) == 0;
				modvm_log(MODVM_LOG_ERROR, NULL,
					  "%shost.cpu.backend = \"%s\": cannot run here: %s", prefix,
					  want, led ? why + sizeof(lead) - 1 : p->summary);
				return -ENODEV;
			}
			continue;
		}
		/* Ruled out, not fatal: another backend (with SLAT) may run.  If
		 * none does, the best-scoring one's remedy is the one to give. */
		if (need_slat && p->caps.slat == MODVM_SLAT_NONE) {
			if (no_slat < 0 || p->score > probes[no_slat].probe.score)
				no_slat = (int)i;
			continue;
		}
		if (best < 0 || outranks(p, &probes[best].probe, prefer_slat))
			best = (int)i;
	}
	if (best >= 0)
		return best;
	if (no_slat >= 0) {
		const struct modvm_cpu_probe *p = &probes[no_slat].probe;

		modvm_log(MODVM_LOG_ERROR, NULL,
			  "host.cpu.slat = \"required\", but %s reports SLAT: %s (%s); %s",
			  probes[no_slat].plugin->name, slat_name(p->caps.slat), p->summary,
			  slat_remedy(p));
		return -EOPNOTSUPP;
	}
	if (!any) {
		modvm_log(MODVM_LOG_ERROR, NULL,
			  "%shost.cpu.backend = \"%s\": no such CPU backend plugin is enabled", prefix,
			  want);
		return -ENOENT;
	}
	/* Every backend's reason, this CPU's vendor first, each with its fix:
	 * the first backend's alone is often the wrong vendor's. */
	struct modvm_cpu_probe list[MAX_BACKENDS];
	char why[1800];
	size_t m = n < MAX_BACKENDS ? n : MAX_BACKENDS;

	for (size_t i = 0; i < m; i++)
		list[i] = probes[i].probe;
	modvm__backends_explain(list, m, why, sizeof(why));
	modvm_log(MODVM_LOG_ERROR, NULL, "%s", why);
	return -ENODEV;
}

/* Plugins' teardown hooks for plugins [0, @end), last first. */
static void teardown_until(const struct modvm__host_view *view, size_t end, struct modvm_vm *vm,
			   uint32_t vm_id)
{
	while (end-- > 0) {
		struct modvm_plugin_ctx *p = view->plugin(view->host, end);
		if (!p->inited || !p->vm_hooks || !p->vm_hooks->teardown)
			continue;
		modvm__plugin_guard(p, "vm teardown");
		struct modvm_plugin_ctx *prev = modvm__plugin_enter(p);
		p->vm_hooks->teardown(p, vm, vm_id, p->vm_hooks_ud);
		modvm__plugin_leave(prev);
		modvm__watchdog_disarm();
	}
}

/* Each plugin's setup hook, in load order; a failure tears down the ones before. */
static int attach_devices(struct modvm_vm *vm, uint32_t vm_id, void *ud)
{
	const struct modvm__host_view *view = ud;
	size_t n = view->plugin_count(view->host);
	for (size_t i = 0; i < n; i++) {
		struct modvm_plugin_ctx *p = view->plugin(view->host, i);
		if (!p->inited || !p->vm_hooks || !p->vm_hooks->setup)
			continue;
		modvm__plugin_guard(p, "vm setup");
		struct modvm_plugin_ctx *prev = modvm__plugin_enter(p);
		int r = p->vm_hooks->setup(p, vm, vm_id, p->vm_hooks_ud);
		modvm__plugin_leave(prev);
		modvm__watchdog_disarm();
		if (r < 0) {
			modvm_log(MODVM_LOG_ERROR, p->name, "vm %s: setup failed: %s",
				  modvm_vm_name(vm), modvm_strerror(r));
			teardown_until(view, i, vm, vm_id);
			return r;
		}
	}
	return 0;
}

static void detach_devices(struct modvm_vm *vm, uint32_t vm_id, void *ud)
{
	const struct modvm__host_view *view = ud;
	teardown_until(view, view->plugin_count(view->host), vm, vm_id);
}

static void machine_config_from(const struct modvm__host_view *view, size_t i,
				struct modvm__machine_config *vc)
{
	const struct modvm_config *c = view->vm_config(view->host, i);
	*vc = (struct modvm__machine_config){
		.vm_id = (uint32_t)i,
		.name = view->vm_name(view->host, i),
		.vcpus = (uint32_t)modvm_config_int(c, "vcpus"),
		.memory = modvm_config_size(c, "memory"),
		.kernel = modvm_config_string(c, "kernel"),
		.initrd = modvm_config_string(c, "initrd"),
		.cmdline = modvm_config_string(c, "cmdline"),
		.boot_entry = modvm_config_string(c, "boot_entry"),
		.console = modvm_config_string(c, "console"),
		.console_append = strcmp(modvm_config_string(c, "console_mode"), "append") == 0,
		.console_max = modvm_config_size(c, "console_max"),
		.rng = modvm_config_bool(c, "rng"),
		.stats_interval_ms = (uint32_t)modvm_config_int(c, "stats_interval_ms"),
		.bus = view->bus,
		.loop = view->loop,
		.attach = attach_devices,
		.detach = detach_devices,
		.hooks_ud = (void *)view,
	};
}

static void on_vm_done(struct modvm_vm *vm, void *ud);

/* Creates and starts @fv's machine from its config entry. */
static int launch_one(struct fleet_vm *fv)
{
	struct modvm__fleet *fleet = fv->fleet;
	struct modvm__machine_config vc;

	machine_config_from(fleet->view, fv->vm_id, &vc);
	int r = modvm__machine_create(fleet->backend, fleet->backend_ctx, &vc, &fv->m);
	if (r < 0) {
		fv->m = NULL;
		return r;
	}
	r = modvm__machine_start(fv->m, on_vm_done, fv);
	if (r < 0) {
		modvm__machine_free(fv->m);
		fv->m = NULL;
	}
	return r;
}

static void vm_ended(struct fleet_vm *fv)
{
	struct modvm__fleet *fleet = fv->fleet;

	if (fleet->running > 0 && --fleet->running == 0)
		modvm_loop_break(fleet->view->loop);
}

/* True if @fv may restart once more; counts the reboot. */
static bool reboot_allowed(struct fleet_vm *fv, const char *name)
{
	time_t now = time(NULL);

	if (now - fv->window_start >= REBOOT_WINDOW_S) {
		fv->window_start = now;
		fv->reboots = 0;
	}
	if (++fv->reboots <= REBOOT_LIMIT)
		return true;
	modvm_log(MODVM_LOG_ERROR, name,
		  "rebooted more than %d times within %d s: a reboot loop; the VM is stopped",
		  REBOOT_LIMIT, REBOOT_WINDOW_S);
	return false;
}

/* A guest reboot with on_reboot = "restart": the same VM afresh. */
static void restart_vm(void *ud)
{
	struct fleet_vm *fv = ud;

	if (!fleet_call_begin(fv->fleet))
		return;
	const char *name = fv->fleet->view->vm_name(fv->fleet->view->host, fv->vm_id);

	modvm__machine_free(fv->m);
	fv->m = NULL;
	int r = launch_one(fv);
	if (r < 0) {
		modvm_log(MODVM_LOG_ERROR, name, "cannot start again after the guest's reboot: %s",
			  modvm_strerror(r));
		fv->failed = true;
		fv->ended = true;
		vm_ended(fv);
	}
}

/* A VM that ended for good gives back its RAM, its KVM VM and its devices
 * now, not when the last VM of the host ends. */
static void release_vm(void *ud)
{
	struct fleet_vm *fv = ud;

	if (!fleet_call_begin(fv->fleet))
		return;
	modvm__machine_free(fv->m);
	fv->m = NULL;
}

static void on_vm_done(struct modvm_vm *vm, void *ud)
{
	struct fleet_vm *fv = ud;
	const struct modvm__host_view *view = fv->fleet->view;
	const char *on_reboot = modvm_config_string(view->vm_config(view->host, fv->vm_id),
						    "on_reboot");

	bool restart = modvm__machine_reset_requested(fv->m) && strcmp(on_reboot, "restart") == 0;

	if (restart && reboot_allowed(fv, modvm_vm_name(vm))) {
		modvm_log(MODVM_LOG_INFO, modvm_vm_name(vm), "the guest rebooted: starting it afresh");
		/* Not from inside the VM's own completion: on the next loop turn. */
		if (fleet_call(fv, restart_vm) == 0)
			return;
	}
	/* A restart that could not happen is a failure; on_reboot = "stop" is not. */
	fv->failed = modvm__machine_failed(fv->m) || restart;
	fv->ended = true;
	modvm_log(MODVM_LOG_INFO, modvm_vm_name(vm), "ended");
	/* Without the memory for the call, the VM is released with the fleet. */
	(void)fleet_call(fv, release_vm);
	vm_ended(fv);
}

MODVM_INTERNAL int modvm__fleet_prepare(const struct modvm__host_view *view,
					const struct modvm_config *hc, struct modvm__fleet **out)
{
	size_t nvm = view->vm_count(view->host), autostart = 0;
	for (size_t i = 0; i < nvm; i++)
		autostart += modvm_config_bool(view->vm_config(view->host, i), "autostart");

	struct modvm__fleet *fleet = calloc(1, sizeof(*fleet));
	if (!fleet)
		return -ENOMEM;
	fleet->view = view;
	*out = fleet;
	if (autostart == 0)
		return 0;

	struct modvm__backend_probe probes[MAX_BACKENDS];
	size_t n = modvm__backends_probe(view, probes, MAX_BACKENDS);
	int sel = modvm__backends_select(probes, n, modvm_config_string(hc, "cpu.backend"),
					 modvm_config_string(hc, "cpu.slat"),
					 modvm_config_where(hc, "cpu.backend"));
	if (sel < 0)
		goto err;
	const struct modvm__backend_probe *chosen = &probes[sel];
	modvm_log(MODVM_LOG_INFO, NULL, "CPU backend %s: %s", chosen->plugin->name,
		  chosen->probe.summary);
	modvm_publish_cpu_caps(view->bus, &chosen->probe.caps);

	fleet->backend = chosen->backend;
	fleet->backend_ctx = chosen->plugin;
	fleet->vms = calloc(nvm, sizeof(*fleet->vms));
	if (!fleet->vms) {
		sel = -ENOMEM;
		goto err;
	}
	return 0;

err:
	modvm__fleet_free(fleet);
	*out = NULL;
	return sel;
}

MODVM_INTERNAL int modvm__fleet_start(struct modvm__fleet **fleetp)
{
	struct modvm__fleet *fleet = *fleetp;
	const struct modvm__host_view *view = fleet->view;
	size_t nvm = view->vm_count(view->host);
	int r = 0;

	if (!fleet->vms)
		return 0;	/* nothing to autostart */
	/* All machines first, so that a bad kernel in the last VM starts none. */
	for (size_t i = 0; i < nvm; i++) {
		if (!modvm_config_bool(view->vm_config(view->host, i), "autostart"))
			continue;
		struct fleet_vm *fv = &fleet->vms[fleet->count];
		struct modvm__machine_config vc;
		*fv = (struct fleet_vm){ .fleet = fleet, .vm_id = (uint32_t)i,
					 .window_start = time(NULL) };
		machine_config_from(view, i, &vc);
		r = modvm__machine_create(fleet->backend, fleet->backend_ctx, &vc, &fv->m);
		if (r < 0)
			goto err;
		fleet->count++;
	}
	for (size_t i = 0; i < fleet->count; i++) {
		fleet->running++;
		r = modvm__machine_start(fleet->vms[i].m, on_vm_done, &fleet->vms[i]);
		if (r < 0) {
			fleet->running--;
			goto err;
		}
	}
	return 0;

err:
	modvm__fleet_free(fleet);
	*fleetp = NULL;
	return r;
}

MODVM_INTERNAL int modvm__fleet_launch(const struct modvm__host_view *view,
				       const struct modvm_config *hc, struct modvm__fleet **out)
{
	int r = modvm__fleet_prepare(view, hc, out);

	return r < 0 ? r : modvm__fleet_start(out);
}

MODVM_INTERNAL unsigned modvm__fleet_running(const struct modvm__fleet *fleet)
{
	return fleet ? fleet->running : 0;
}

MODVM_INTERNAL unsigned modvm__fleet_launched(const struct modvm__fleet *fleet)
{
	return fleet ? (unsigned)fleet->count : 0;
}

MODVM_INTERNAL unsigned modvm__fleet_failed(const struct modvm__fleet *fleet)
{
	unsigned failed = 0;
	for (size_t i = 0; fleet && i < fleet->count; i++)
		failed += fleet->vms[i].failed ||
			  (fleet->vms[i].m && modvm__machine_failed(fleet->vms[i].m));
	return failed;
}

MODVM_INTERNAL struct modvm_vm *modvm__fleet_vm(struct modvm__fleet *fleet, unsigned vm_id)
{
	for (size_t i = 0; fleet && i < fleet->count; i++)
		if (fleet->vms[i].vm_id == vm_id && fleet->vms[i].m)
			return modvm__machine_vm(fleet->vms[i].m);
	return NULL;
}

MODVM_INTERNAL int modvm__fleet_ended(const struct modvm__fleet *fleet, unsigned vm_id)
{
	for (size_t i = 0; fleet && i < fleet->count; i++)
		if (fleet->vms[i].vm_id == vm_id && fleet->vms[i].ended)
			return fleet->vms[i].failed ? MODVM_VM_FAILED : MODVM_VM_STOPPED;
	return 0;
}

MODVM_INTERNAL void modvm__fleet_free(struct modvm__fleet *fleet)
{
	if (!fleet)
		return;
	for (size_t i = fleet->count; i-- > 0;) {
		modvm__machine_free(fleet->vms[i].m);
		fleet->vms[i].m = NULL;
	}
	if (fleet->queued > 0)
		fleet->dead = true;	/* the last queued call frees it */
	else
		fleet_release(fleet);
}
