/*
 * One process's host: loop, bus, config, VMs and plugins, and
 * the plugin lifecycle that ties them together.
 *
 * Order is the whole point: plugins init and start dependencies first, stop
 * and fini in exactly the reverse order, and every failure undoes what was
 * done so far.  Every call into plugin code is bracketed by
 * modvm__plugin_enter/leave so subscriptions are owned by the right plugin
 * and can be removed when it goes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <modvm/events.h>

#include "host/control.h"
#include "host/fleet.h"
#include "host/host.h"
#include "host/host_check.h"
#include "host/host_vms.h"

struct host_iface {
	char *id;
	const void *vtable;
};

struct modvm_host {
	struct modvm__host_view view;	/* what plugins, fleet and control read */
	struct modvm_loop *loop;
	struct modvm_bus *bus;
	struct modvm__cfgfile *cf;
	struct modvm_config *cfg;	/* host options */
	struct modvm__vmdefs *vms;	/* the config's VMs (host_vms.c) */
	size_t vm_count;		/* modvm__vmdefs_count(vms), for the plugin tables */
	char **extra_dirs;
	size_t extra_dir_count;
	struct modvm_plugin_ctx **plugins;	/* load order */
	struct modvm_plugin_ctx **order;	/* init order, valid if ordered */
	size_t plugin_count;
	bool ordered;
	struct host_iface *ifaces;
	size_t iface_count;
	bool log_forced;
	bool started;
	struct modvm__fleet *fleet;	/* the VMs, once launched */
	struct modvm__control *control;	/* host.control_socket, while running */
	int claim_fd;			/* flock on the config: one modvm per config */
};

/* Adding a host-wide knob is one line here; main.c and the docs read it. */
static const struct modvm_option host_options[] = {
	{ .name = "log_level", .type = MODVM_OPT_ENUM, .default_value = "warn",
	  .choices = "error|warn|info|debug|trace",
	  .description = "messages above this level are discarded (-v/-q override it)" },
	{ .name = "control_socket", .type = MODVM_OPT_STRING, .default_value = "",
	  .description = "Unix socket for `modvm ctl` (status, balloon VM SIZE, stop): \"\" for "
			 "none, \"auto\" for /run/modvm/CONFIG.sock, a NAME for /run/modvm/NAME.sock, "
			 "or a path in a directory only root (or modvm's user) can write; created 0600; "
			 "with it and no VM to start, `modvm run` runs until stopped" },
	{ .name = "control_group", .type = MODVM_OPT_STRING, .default_value = "",
	  .description = "a group whose members may also use the control socket (then 0660)" },
	{ .name = "plugin_timeout", .type = MODVM_OPT_INT, .default_value = "30", .min = 1,
	  .max = 3600,
	  .description = "seconds a plugin's init, start, stop, fini or VM hook may take; then "
			 "modvm names it and exits with status 1 (after SIGINT/SIGTERM: 3 s)" },
	{ .name = "memory_overcommit", .type = MODVM_OPT_BOOL, .default_value = "false",
	  .description = "allow a VM more memory than the host has RAM (refused otherwise); "
			 "the balloon's sharing of the host among VMs needs no such permission" },
	{ .name = "cpu.backend", .type = MODVM_OPT_STRING, .default_value = "auto",
	  .description = "CPU backend plugin to run guests with; \"auto\" takes the best probe" },
	{ .name = "cpu.slat", .type = MODVM_OPT_ENUM, .default_value = "preferred",
	  .choices = "required|preferred|off",
	  .description = "second-level address translation (EPT/NPT): refuse to run without it, "
			 "prefer a backend with it, or ignore it" },
	MODVM_OPTIONS_END,
};


/* Used for plugins that declare no table: their group must then be empty. */
static const struct modvm_option no_options[] = { MODVM_OPTIONS_END };

/* NULL-safe, so every cleanup path can call it unconditionally. */
static void cfg_free(struct modvm_config *cfg)
{
	if (cfg)
		modvm__config_free(cfg);
}

MODVM_INTERNAL const struct modvm_option *modvm__host_options(void)
{
	return host_options;
}


/* ---- the view others read (plugin/plugin.h) ---- */

static size_t view_vm_count(void *host)
{
	return modvm__host_vm_count(host);
}

static const char *view_vm_name(void *host, size_t vm_id)
{
	return modvm__host_vm_name(host, vm_id);
}

static const struct modvm_config *view_vm_config(void *host, size_t vm_id)
{
	return modvm__host_vm_config(host, vm_id);
}

static struct modvm_vm *view_vm(void *host, unsigned vm_id)
{
	return modvm__fleet_vm(((struct modvm_host *)host)->fleet, vm_id);
}

static size_t view_plugin_count(void *host)
{
	return modvm__host_plugin_count(host);
}

static struct modvm_plugin_ctx *view_plugin(void *host, size_t i)
{
	return modvm__host_plugin(host, i);
}

static const void *view_core_interface(void *host, const char *id)
{
	return modvm__host_core_interface(host, id);
}

MODVM_INTERNAL const struct modvm__host_view *modvm__host_view(struct modvm_host *host)
{
	return &host->view;
}

/* ---- creation and accessors ---- */

MODVM_INTERNAL struct modvm_host *modvm__host_new(void)
{
	struct modvm_host *host = calloc(1, sizeof(*host));

	if (!host) {
		modvm_log(MODVM_LOG_ERROR, NULL, "host: out of memory");
		return NULL;
	}
	host->claim_fd = -1;
	host->loop = modvm__loop_new();
	if (!host->loop)
		goto err_free;
	host->bus = modvm__bus_new(host->loop);
	if (!host->bus)
		goto err_loop;
	/* The core publishes vm.lifecycle: list it even before the first VM. */
	if (modvm_bus_register(&modvm_event_vm_lifecycle) < 0)
		goto err_bus;
	host->view = (struct modvm__host_view){
		.bus = host->bus,
		.loop = host->loop,
		.host = host,
		.vm_count = view_vm_count,
		.vm_name = view_vm_name,
		.vm_config = view_vm_config,
		.vm = view_vm,
		.plugin_count = view_plugin_count,
		.plugin = view_plugin,
		.core_interface = view_core_interface,
		.plugin_timeout_s = 30,
	};
	return host;

err_bus:
	modvm__bus_free(host->bus);
err_loop:
	modvm__loop_free(host->loop);
err_free:
	free(host);
	return NULL;
}

MODVM_INTERNAL struct modvm_loop *modvm__host_loop(struct modvm_host *host)
{
	return host->loop;
}

MODVM_INTERNAL struct modvm__fleet *modvm__host_fleet(struct modvm_host *host)
{
	return host->fleet;
}

MODVM_INTERNAL struct modvm_bus *modvm__host_bus(struct modvm_host *host)
{
	return host->bus;
}

MODVM_INTERNAL size_t modvm__host_plugin_count(const struct modvm_host *host)
{
	return host->plugin_count;
}

MODVM_INTERNAL struct modvm_plugin_ctx *modvm__host_plugin(struct modvm_host *host, size_t i)
{
	return i < host->plugin_count ? host->plugins[i] : NULL;
}

MODVM_INTERNAL struct modvm_plugin_ctx *modvm__host_plugin_by_name(struct modvm_host *host,
								   const char *name)
{
	for (size_t i = 0; i < host->plugin_count; i++)
		if (strcmp(host->plugins[i]->name, name) == 0)
			return host->plugins[i];
	return NULL;
}

MODVM_INTERNAL size_t modvm__host_vm_count(const struct modvm_host *host)
{
	return host->vm_count;
}

MODVM_INTERNAL const char *modvm__host_vm_name(const struct modvm_host *host, size_t i)
{
	return modvm__vmdefs_name(host->vms, i);
}

MODVM_INTERNAL const struct modvm_config *modvm__host_config(const struct modvm_host *host)
{
	return host->cfg;
}

MODVM_INTERNAL const struct modvm_config *modvm__host_vm_config(const struct modvm_host *host,
								size_t i)
{
	return modvm__vmdefs_config(host->vms, i);
}

MODVM_INTERNAL void modvm__host_set_trace_events(struct modvm_host *host, bool on)
{
	modvm__bus_set_trace(host->bus, on);
}

MODVM_INTERNAL void modvm__host_force_log_level(struct modvm_host *host,
						enum modvm_log_level level)
{
	host->log_forced = true;
	modvm_log_set_level(level);
}

MODVM_INTERNAL int modvm__host_add_plugin_dir(struct modvm_host *host, const char *dir)
{
	char **v = realloc(host->extra_dirs, (host->extra_dir_count + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	host->extra_dirs = v;
	v[host->extra_dir_count] = strdup(dir);
	if (!v[host->extra_dir_count])
		return -ENOMEM;
	host->extra_dir_count++;
	return 0;
}

MODVM_INTERNAL int modvm__host_search_path(const struct modvm_host *host, char ***out)
{
	return modvm__plugin_search_path((const char *const *)host->extra_dirs,
					 host->extra_dir_count, host->cf, out);
}

MODVM_INTERNAL int modvm__host_provide_interface(struct modvm_host *host, const char *id,
						 const void *vtable)
{
	struct host_iface *v;

	if (!id || !*id || !vtable)
		return -EINVAL;
	if (modvm__host_core_interface(host, id))
		return -EEXIST;
	v = realloc(host->ifaces, (host->iface_count + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	host->ifaces = v;
	v[host->iface_count].id = strdup(id);
	if (!v[host->iface_count].id)
		return -ENOMEM;
	v[host->iface_count++].vtable = vtable;
	return 0;
}

MODVM_INTERNAL const void *modvm__host_core_interface(const struct modvm_host *host,
						      const char *id)
{
	for (size_t i = 0; i < host->iface_count; i++)
		if (strcmp(host->ifaces[i].id, id) == 0)
			return host->ifaces[i].vtable;
	return NULL;
}

/* ---- config ---- */

MODVM_INTERNAL int modvm__host_load_config(struct modvm_host *host, const char *path)
{
	enum modvm_log_level level;
	int r;

	if (host->cf || host->plugin_count)
		return -EBUSY;
	r = modvm__config_open(path, &host->cf);
	if (r < 0)
		return r;
	r = modvm__config_resolve_host(host->cf, host_options, &host->cfg);
	if (r < 0)
		goto err_close;
	if (!host->log_forced &&
	    modvm_log_level_parse(modvm_config_string(host->cfg, "log_level"), &level) == 0)
		modvm_log_set_level(level);
	host->view.plugin_timeout_s = (double)modvm_config_int(host->cfg, "plugin_timeout");
	r = modvm__vmdefs_load(host->cf, &host->vms);
	if (r < 0)
		goto err_vms;
	host->vm_count = modvm__vmdefs_count(host->vms);
	return 0;

err_vms:
	modvm__vmdefs_free(host->vms);
	host->vms = NULL;
	cfg_free(host->cfg);
	host->cfg = NULL;
err_close:
	modvm__config_close(host->cf);
	host->cf = NULL;
	return r;
}

/* ---- loading ---- */

static ssize_t config_index(const struct modvm__cfgfile *cf, const char *name)
{
	for (size_t i = 0; cf && i < modvm__config_plugin_count(cf); i++)
		if (strcmp(modvm__config_plugin_name(cf, i), name) == 0)
			return (ssize_t)i;
	return -1;
}

/* Frees everything of a record that is not (or no longer) initialised. */
static void plugin_free(struct modvm_plugin_ctx *p)
{
	if (!p)
		return;
	cfg_free(p->cfg);
	for (size_t i = 0; i < p->vm_cfg_count; i++)
		cfg_free(p->vm_cfg[i]);
	free(p->vm_cfg);
	modvm__plugin_close(p->handle);
	free(p->name);
	free(p->path);
	free(p);
}

/* The plugin's host-wide group and its group in each VM, validated. */
static int plugin_configure(struct modvm_host *host, struct modvm_plugin_ctx *p)
{
	const struct modvm_plugin *d = p->desc;
	const struct modvm_option *opts = d->options ? d->options : no_options;
	const struct modvm_option *vm_opts = d->vm_options ? d->vm_options : no_options;
	ssize_t idx = config_index(host->cf, p->name);
	int r = 0;

	if (idx >= 0)
		r = modvm__config_resolve_plugin(host->cf, (size_t)idx, opts, &p->cfg);
	else
		r = modvm__config_defaults(opts, &p->cfg);
	if (r < 0)
		return r;
	p->vm_cfg = calloc(host->vm_count ? host->vm_count : 1, sizeof(*p->vm_cfg));
	if (!p->vm_cfg)
		return -ENOMEM;
	p->vm_cfg_count = host->vm_count;
	for (size_t i = 0; i < host->vm_count; i++) {
		int e = modvm__config_resolve_vm_plugin(host->cf, i, p->name, vm_opts,
							&p->vm_cfg[i]);

		r = r ? r : e;
		/* A plugin without vm_options gets NULL, as plugin.h promises. */
		if (!d->vm_options) {
			cfg_free(p->vm_cfg[i]);
			p->vm_cfg[i] = NULL;
		}
	}
	return r;
}

static int plugin_append(struct modvm_host *host, struct modvm_plugin_ctx *p)
{
	size_t n = host->plugin_count + 1;
	struct modvm_plugin_ctx **v = realloc(host->plugins, n * sizeof(*v));

	if (!v)
		return -ENOMEM;
	host->plugins = v;
	v = realloc(host->order, n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	host->order = v;
	host->plugins[host->plugin_count++] = p;
	host->ordered = false;
	return 0;
}

static void plugin_remove(struct modvm_host *host, struct modvm_plugin_ctx *p)
{
	size_t i = 0;

	while (i < host->plugin_count && host->plugins[i] != p)
		i++;
	if (i == host->plugin_count)
		return;
	memmove(&host->plugins[i], &host->plugins[i + 1],
		(host->plugin_count - i - 1) * sizeof(*host->plugins));
	host->plugin_count--;
	host->ordered = false;
}

static int open_path(struct modvm_host *host, const char *path_or_name, char **path_out)
{
	char **dirs;
	int r;

	if (strchr(path_or_name, '/')) {
		*path_out = strdup(path_or_name);
		return *path_out ? 0 : -ENOMEM;
	}
	r = modvm__host_search_path(host, &dirs);
	if (r < 0)
		return r;
	r = modvm__plugin_find(dirs, path_or_name, path_out);
	if (r == -ENOENT || r == -EINVAL) {
		char *joined = modvm__strv_join(dirs, ":");
		ssize_t idx = config_index(host->cf, path_or_name);

		modvm_log(MODVM_LOG_ERROR, NULL, "%s%splugin %s: not found (searched %s)",
			  idx >= 0 ? modvm__config_plugin_where(host->cf, (size_t)idx) : "",
			  idx >= 0 ? ": " : "", path_or_name, joined ? joined : "?");
		free(joined);
		r = -ENOENT;
	}
	modvm__strv_free(dirs);
	return r;
}

MODVM_INTERNAL int modvm__host_load_one(struct modvm_host *host, const char *path_or_name,
					struct modvm_plugin_ctx **out)
{
	struct modvm_plugin_ctx *p, *other;
	char *path;
	int r;

	if (host->started)
		return -EBUSY;
	r = open_path(host, path_or_name, &path);
	if (r < 0)
		return r;
	p = calloc(1, sizeof(*p));
	if (!p) {
		free(path);
		return -ENOMEM;
	}
	p->view = &host->view;
	r = modvm__plugin_open(path, MODVM_LOG_ERROR, &p->path, &p->handle, &p->desc);
	free(path);
	if (r < 0)
		goto err_free;
	other = modvm__host_plugin_by_name(host, p->desc->name);
	if (other) {
		modvm_log(MODVM_LOG_ERROR, NULL,
			  "%s: duplicate plugin name \"%s\" (already loaded from %s)", p->path,
			  p->desc->name, other->path);
		r = -EEXIST;
		goto err_free;
	}
	p->name = strdup(p->desc->name);
	r = p->name ? plugin_configure(host, p) : -ENOMEM;
	if (r == 0)
		r = plugin_append(host, p);
	if (r < 0)
		goto err_free;
	modvm_log(MODVM_LOG_INFO, NULL, "%s: loaded %s %s (%s)", p->path, p->name,
		  p->desc->version ? p->desc->version : "?", modvm_plugin_kind_name((int)p->desc->kind));
	if (out)
		*out = p;
	return 0;

err_free:
	plugin_free(p);
	return r;
}

MODVM_INTERNAL int modvm__host_load_plugins(struct modvm_host *host)
{
	int r = 0;

	if (!host->cf)
		return -EINVAL;
	for (size_t i = 0; i < modvm__config_plugin_count(host->cf); i++) {
		if (!modvm__config_plugin_enabled(host->cf, i))
			continue;
		int e = modvm__host_load_one(host, modvm__config_plugin_name(host->cf, i), NULL);

		r = r ? r : e;
	}
	if (r < 0)
		return r;
	return modvm__host_resolve(host);
}

/* A plugin's optional validate or recover, bracketed like every call in. */
static int plugin_hook(struct modvm_plugin_ctx *p, int (*fn)(struct modvm_plugin_ctx *),
		       const char *what)
{
	modvm__plugin_guard(p, what);
	struct modvm_plugin_ctx *prev = modvm__plugin_enter(p);
	int r = fn(p);

	modvm__plugin_leave(prev);
	modvm__watchdog_disarm();
	if (r > 0) {
		modvm_log(MODVM_LOG_ERROR, NULL, "%s: %s returned %d, not 0 or -errno", p->path,
			  what, r);
		r = -EPROTO;
	}
	return r;
}

MODVM_INTERNAL int modvm__host_validate(struct modvm_host *host)
{
	int r = modvm__host_check(&host->view, host->cfg, host->cf ? modvm__config_path(host->cf)
								    : NULL);
	int e = modvm__host_validate_plugins(host);

	return r ? r : e;
}

MODVM_INTERNAL int modvm__host_validate_plugins(struct modvm_host *host)
{
	int r = 0;

	for (size_t i = 0; i < host->plugin_count; i++) {
		struct modvm_plugin_ctx *p = host->plugins[i];

		if (!MODVM_PLUGIN_HAS(p->desc, validate) || !p->desc->validate)
			continue;
		int e = plugin_hook(p, p->desc->validate, "validate");
		r = r ? r : e;
	}
	return r;
}

MODVM_INTERNAL int modvm__host_recover(struct modvm_host *host)
{
	int r = 0;

	if (host->started)
		return -EBUSY;
	for (size_t i = 0; i < host->plugin_count; i++) {
		struct modvm_plugin_ctx *p = host->plugins[i];

		if (!MODVM_PLUGIN_HAS(p->desc, recover) || !p->desc->recover)
			continue;
		int e = plugin_hook(p, p->desc->recover, "recover");
		r = r ? r : e;
	}
	return r;
}

MODVM_INTERNAL int modvm__host_resolve(struct modvm_host *host)
{
	int r;

	if (host->ordered)
		return 0;
	r = modvm__plugins_order(host->plugins, host->plugin_count, host->order);
	host->ordered = r == 0;
	return r;
}

/* ---- lifecycle ---- */

static void plugin_fini(struct modvm_host *host, struct modvm_plugin_ctx *p)
{
	if (!p->inited)
		return;
	if (p->desc->fini) {
		modvm__plugin_guard(p, "fini");
		struct modvm_plugin_ctx *prev = modvm__plugin_enter(p);

		p->desc->fini(p);
		modvm__plugin_leave(prev);
		modvm__watchdog_disarm();
	}
	/* The core removes what fini forgot, so no handler outlives its code. */
	modvm__bus_unsubscribe_owner(host->bus, p->name);
	p->inited = false;
	p->data = NULL;
	p->vm_hooks = NULL;
	p->vm_hooks_ud = NULL;
}

static int plugin_init(struct modvm_host *host, struct modvm_plugin_ctx *p)
{
	int r = 0;

	if (p->desc->init) {
		modvm__plugin_guard(p, "init");
		struct modvm_plugin_ctx *prev = modvm__plugin_enter(p);

		r = p->desc->init(p);
		modvm__plugin_leave(prev);
		modvm__watchdog_disarm();
	}
	if (r < 0) {
		modvm_log(MODVM_LOG_ERROR, NULL, "%s: init failed: %s", p->path, modvm_strerror(r));
		modvm__bus_unsubscribe_owner(host->bus, p->name);
		plugin_remove(host, p);
		plugin_free(p);
		return r;
	}
	p->inited = true;
	return 0;
}

static int plugin_start(struct modvm_plugin_ctx *p)
{
	int r = 0;

	if (p->desc->start) {
		modvm__plugin_guard(p, "start");
		struct modvm_plugin_ctx *prev = modvm__plugin_enter(p);

		r = p->desc->start(p);
		modvm__plugin_leave(prev);
		modvm__watchdog_disarm();
	}
	if (r < 0) {
		modvm_log(MODVM_LOG_ERROR, NULL, "%s: start failed: %s", p->path, modvm_strerror(r));
		return r;
	}
	p->started = true;
	return 0;
}

static void plugin_stop(struct modvm_plugin_ctx *p)
{
	if (!p->started)
		return;
	if (p->desc->stop) {
		modvm__plugin_guard(p, "stop");
		struct modvm_plugin_ctx *prev = modvm__plugin_enter(p);

		p->desc->stop(p);
		modvm__plugin_leave(prev);
		modvm__watchdog_disarm();
	}
	p->started = false;
}

MODVM_INTERNAL int modvm__host_start(struct modvm_host *host)
{
	size_t n, k;
	int r;

	if (host->started)
		return -EALREADY;
	r = modvm__host_resolve(host);
	if (r < 0)
		return r;
	n = host->plugin_count;
	for (k = 0; k < n; k++) {
		r = plugin_init(host, host->order[k]);
		if (r < 0)
			goto err_fini;	/* the failed one is already gone */
	}
	for (k = 0; k < n; k++) {
		r = plugin_start(host->order[k]);
		if (r < 0)
			goto err_stop;
	}
	host->started = true;
	return 0;

err_stop:
	while (k-- > 0)
		plugin_stop(host->order[k]);
	modvm__bus_drain(host->bus);
	k = n;
err_fini:
	while (k-- > 0)
		plugin_fini(host, host->order[k]);
	host->ordered = false;	/* a failed init removed a plugin */
	return r;
}

static void on_stop_signal(int signo, void *ud)
{
	struct modvm_host *host = ud;

	modvm_log(MODVM_LOG_INFO, NULL, "signal %d: stopping", signo);
	modvm_loop_break(host->loop);
}

MODVM_INTERNAL int modvm__host_watch_stop_signals(struct modvm_host *host)
{
	return modvm__loop_watch_stop_signals(host->loop, on_stop_signal, host);
}

MODVM_INTERNAL int modvm__host_launch(struct modvm_host *host)
{
	if (!host->started || host->fleet)
		return -EINVAL;
	const char *sock = host->cfg ? modvm_config_string(host->cfg, "control_socket") : NULL;
	char path[PATH_MAX];
	int r = modvm__control_path(sock, host->cf ? modvm__config_path(host->cf) : NULL, path,
				    sizeof(path));
	if (r == -ENAMETOOLONG) {
		modvm_log(MODVM_LOG_ERROR, NULL, "%s: control_socket: \"%s\": path too long",
			  modvm_config_where(host->cfg, "control_socket"), sock);
		return r;
	}
	if (r == 0) {
		r = modvm__control_open(&host->view, path,
					modvm_config_string(host->cfg, "control_group"),
					&host->control);
		if (r < 0)
			return r;
	}
	return modvm__fleet_launch(&host->view, host->cfg, &host->fleet);
}

MODVM_INTERNAL int modvm__host_run(struct modvm_host *host)
{
	int r;

	if (!host->started)
		return -EINVAL;
	/* SIGINT/SIGTERM are ours before the first loop step: plugin timers
	 * may act on the host there (power-park parks cores), and a signal
	 * taking the default action then would leave it changed.  A signal
	 * during that step only sets break_requested; modvm__loop_run returns
	 * at once and host_stop undoes everything. */
	r = modvm__loop_watch_stop_signals(host->loop, on_stop_signal, host);
	if (r < 0)
		return r;
	modvm__bus_drain(host->bus);
	modvm__loop_run_once(host->loop);
	/* Run while VMs run; with none launched, a control socket makes modvm
	 * a daemon that runs until told to stop. */
	if (modvm__fleet_running(host->fleet) > 0 ||
	    (host->control && modvm__fleet_launched(host->fleet) == 0))
		modvm__loop_run(host->loop);
	return modvm__fleet_failed(host->fleet) ? -EIO : 0;
}

MODVM_INTERNAL void modvm__host_stop(struct modvm_host *host)
{
	size_t n = host->plugin_count;

	if (!host->started)
		return;
	/* VMs go before the plugins: the CPU backend's vtable runs them. Their
	 * last lifecycle events are delivered while subscribers still exist. */
	modvm__control_close(host->control);
	host->control = NULL;
	modvm__fleet_free(host->fleet);
	host->fleet = NULL;
	modvm__loop_run_once(host->loop);
	modvm__bus_drain(host->bus);
	for (size_t k = n; k-- > 0;)
		plugin_stop(host->order[k]);
	/* Nothing queued may reach a plugin after its fini. */
	modvm__loop_run_once(host->loop);
	modvm__bus_drain(host->bus);
	for (size_t k = n; k-- > 0;)
		plugin_fini(host, host->order[k]);
	host->started = false;
}

MODVM_INTERNAL int modvm__host_claim(struct modvm_host *host)
{
	const char *path = host->cf ? modvm__config_path(host->cf) : NULL;
	int fd;

	if (!path)
		return -EINVAL;
	if (host->claim_fd >= 0)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int r = -errno;
		modvm_log(MODVM_LOG_ERROR, NULL, "%s: %s", path, strerror(errno));
		return r;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (r == -EBUSY)
			modvm_log(MODVM_LOG_ERROR, NULL,
				  "%s: another modvm is running this config (stop it first; a "
				  "second one is refused, and so is recovering under it)", path);
		else
			modvm_log(MODVM_LOG_ERROR, NULL, "%s: flock: %s", path, strerror(-r));
		close(fd);
		return r;
	}
	host->claim_fd = fd;
	return 0;
}

MODVM_INTERNAL void modvm__host_free(struct modvm_host *host)
{
	if (!host)
		return;
	modvm__host_stop(host);
	/* Calls still queued on the loop (a VM's last lifecycle event) may
	 * publish on the bus: run them while the bus exists. */
	modvm__loop_run_once(host->loop);
	/* Bus and loop go first: anything they still hold (a queued call, a
	 * queued event) may point into plugin code that dlclose unmaps. */
	modvm__bus_free(host->bus);
	modvm__loop_free(host->loop);
	for (size_t i = host->plugin_count; i-- > 0;)
		plugin_free(host->plugins[i]);
	free(host->plugins);
	free(host->order);
	modvm__vmdefs_free(host->vms);
	cfg_free(host->cfg);
	if (host->cf)
		modvm__config_close(host->cf);
	for (size_t i = 0; i < host->iface_count; i++)
		free(host->ifaces[i].id);
	free(host->ifaces);
	for (size_t i = 0; i < host->extra_dir_count; i++)
		free(host->extra_dirs[i]);
	free(host->extra_dirs);
	if (host->claim_fd >= 0)
		close(host->claim_fd);	/* releases the flock */
	free(host);
}
