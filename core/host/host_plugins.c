/*
 * The host's plugins: finding and loading them with their config groups,
 * validating and recovering, and their lifecycle.
 *
 * Order is the whole point: plugins init and start dependencies first, stop
 * and fini in exactly the reverse order, and every failure undoes what was
 * done so far.  Every call into plugin code is bracketed by
 * modvm__plugin_enter/leave so subscriptions are owned by the right plugin
 * and can be removed when it goes, and guarded by the watchdog so a call
 * that never returns is named and ends modvm.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/govern.h"
#include "host/host_check.h"
#include "host/host_impl.h"

/* Used for plugins that declare no table: their group must then be empty. */
static const struct modvm_option no_options[] = { MODVM_OPTIONS_END };

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
	modvm__host_cfg_free(p->cfg);
	for (size_t i = 0; i < p->vm_cfg_count; i++)
		modvm__host_cfg_free(p->vm_cfg[i]);
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
			modvm__host_cfg_free(p->vm_cfg[i]);
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
	int e = modvm__governor_check(&host->view, host->cfg);

	r = r ? r : e;
	e = modvm__host_validate_plugins(host);
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
	/* Its sandbox declarations go with it (a no-op once locked down). */
	modvm__sandbox_forget(p->name);
	p->inited = false;
	p->data = NULL;
	p->vm_hooks = NULL;
	p->vm_hooks_ud = NULL;
}

static int plugin_init(struct modvm_host *host, struct modvm_plugin_ctx *p)
{
	/* A positive return is not success either (plugin_hook says so). */
	int r = p->desc->init ? plugin_hook(p, p->desc->init, "init") : 0;

	if (r < 0) {
		modvm_log(MODVM_LOG_ERROR, NULL, "%s: init failed: %s", p->path, modvm_strerror(r));
		modvm__bus_unsubscribe_owner(host->bus, p->name);
		modvm__sandbox_forget(p->name);
		plugin_remove(host, p);
		plugin_free(p);
		return r;
	}
	p->inited = true;
	return 0;
}

static int plugin_start(struct modvm_plugin_ctx *p)
{
	int r = p->desc->start ? plugin_hook(p, p->desc->start, "start") : 0;

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

void modvm__host_stop_plugins(struct modvm_host *host)
{
	for (size_t k = host->plugin_count; k-- > 0;)
		plugin_stop(host->order[k]);
}

void modvm__host_fini_plugins(struct modvm_host *host)
{
	for (size_t k = host->plugin_count; k-- > 0;)
		plugin_fini(host, host->order[k]);
}

void modvm__host_free_plugins(struct modvm_host *host)
{
	for (size_t i = host->plugin_count; i-- > 0;)
		plugin_free(host->plugins[i]);
}
