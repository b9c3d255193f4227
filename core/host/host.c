/*
 * One process's host: loop, bus, config, VMs and plugins.  This file makes
 * and frees the host, reads its config, launches and runs its VMs and
 * stops it all; the plugins' loading and lifecycle are host_plugins.c.
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
#include "host/host_impl.h"
#include "host/host_vms.h"
#include "host/govern.h"

/* core/meson.build passes it (-Dsandbox_default). */
#ifndef MODVM_SANDBOX_DEFAULT
#define MODVM_SANDBOX_DEFAULT "strict"
#endif

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
	/* "strict" by default (issue 18): the in-tree plugins declare what
	 * they need and the whole suite runs so; meson -Dsandbox_default=off
	 * builds the other default. */
	{ .name = "sandbox", .type = MODVM_OPT_ENUM, .default_value = MODVM_SANDBOX_DEFAULT,
	  .choices = "strict|off",
	  .description = "after setup and before the first guest instruction: a seccomp allowlist "
			 "per thread class, only the capabilities plugins declared, no_new_privs, "
			 "Landlock on the files the config names (\"strict\"); or none of it "
			 "(\"off\"; host.user and host.group apply either way)" },
	{ .name = "user", .type = MODVM_OPT_STRING, .default_value = "",
	  .description = "switch to this user (a name or a uid) after opening what needs root "
			 "(/dev/kvm, taps, the control socket); \"\" stays who started modvm" },
	{ .name = "group", .type = MODVM_OPT_STRING, .default_value = "",
	  .description = "and to this group (name or gid); \"\" is host.user's own group" },
	{ .name = "memory_policy", .type = MODVM_OPT_STRING, .default_value = "auto",
	  .description = "the memory-policy plugin that sets the VMs' balloon targets (a VM's own "
			 "memory_policy wins): a plugin name, \"auto\" (the one enabled, if only "
			 "one is) or \"none\" (targets stay at startup unless `modvm ctl … balloon`)" },
	{ .name = "power_policy", .type = MODVM_OPT_STRING, .default_value = "auto",
	  .description = "the power-policy plugin that parks host cores: a plugin name, \"auto\" "
			 "(the one enabled, if only one is) or \"none\"" },
	{ .name = "cpu.backend", .type = MODVM_OPT_STRING, .default_value = "auto",
	  .description = "CPU backend plugin to run guests with; \"auto\" takes the best probe" },
	{ .name = "cpu.slat", .type = MODVM_OPT_ENUM, .default_value = "preferred",
	  .choices = "required|preferred|off",
	  .description = "second-level address translation (EPT/NPT): refuse to run without it, "
			 "prefer a backend with it, or ignore it" },
	MODVM_OPTIONS_END,
};


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

static int view_vm_ended(void *host, unsigned vm_id)
{
	return modvm__fleet_ended(((struct modvm_host *)host)->fleet, vm_id);
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

static const char *view_governor(void *host, int kind, unsigned vm_id)
{
	struct modvm_host *h = host;

	return modvm__governor(&h->view, h->cfg, kind, vm_id);
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
	/* The SDK's own events, with the SDK's layouts, before any plugin:
	 * vm.lifecycle is listed before the first VM, and a plugin built
	 * against a changed copy of one is refused, not the others. */
	if (modvm__std_events_register() < 0)
		goto err_bus;
	host->view = (struct modvm__host_view){
		.bus = host->bus,
		.loop = host->loop,
		.host = host,
		.vm_count = view_vm_count,
		.vm_name = view_vm_name,
		.vm_config = view_vm_config,
		.vm = view_vm,
		.vm_ended = view_vm_ended,
		.plugin_count = view_plugin_count,
		.plugin = view_plugin,
		.core_interface = view_core_interface,
		.governor = view_governor,
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

MODVM_INTERNAL void modvm__host_force_user(struct modvm_host *host, const char *user,
					   const char *group)
{
	host->user_forced = user;
	host->group_forced = group;
}

MODVM_INTERNAL void modvm__host_sandbox_who(const struct modvm_host *host,
				       struct modvm__sandbox_config *sc)
{
	const struct modvm_config *c = host->cfg;

	sc->user = host->user_forced ? host->user_forced : c ? modvm_config_string(c, "user") : NULL;
	sc->where_user = host->user_forced ? "--user" : c ? modvm_config_where(c, "user") : NULL;
	sc->group = host->group_forced ? host->group_forced
				       : c ? modvm_config_string(c, "group") : NULL;
	sc->where_group = host->group_forced ? "--group" : c ? modvm_config_where(c, "group") : NULL;
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
	modvm__bus_set_handler_timeout(host->bus, host->view.plugin_timeout_s, MODVM__STOP_GRACE_S);
	/* Known before any plugin starts: modvm_sandbox_owner() answers it. */
	struct modvm__sandbox_config who = { .strict = false };
	modvm__host_sandbox_who(host, &who);
	r = modvm__sandbox_set_user(who.user, who.group, who.where_user, who.where_group);
	if (r < 0)
		goto err_vms_none;
	r = modvm__vmdefs_load(host->cf, &host->vms);
	if (r < 0)
		goto err_vms;
	host->vm_count = modvm__vmdefs_count(host->vms);
	return 0;

err_vms:
	modvm__vmdefs_free(host->vms);
	host->vms = NULL;
err_vms_none:
	modvm__host_cfg_free(host->cfg);
	host->cfg = NULL;
err_close:
	modvm__config_close(host->cf);
	host->cf = NULL;
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
	r = modvm__fleet_prepare(&host->view, host->cfg, &host->fleet);
	if (r < 0)
		return r;
	/* Everything that needs privilege is open (the control socket,
	 * /dev/kvm through the probe, what plugins opened in start); the VMs
	 * are made under the sandbox, as a guest's reboot remakes them. */
	r = modvm__host_lockdown(host);
	if (r < 0) {
		modvm__fleet_free(host->fleet);
		host->fleet = NULL;
		return r;
	}
	return modvm__fleet_start(&host->fleet);
}

MODVM_INTERNAL const char *modvm__host_control_socket(const struct modvm_host *host)
{
	return modvm__control_socket_path(host->control);
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
	modvm__host_stop_plugins(host);
	/* Nothing queued may reach a plugin after its fini. */
	modvm__loop_run_once(host->loop);
	modvm__bus_drain(host->bus);
	modvm__host_fini_plugins(host);
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
	modvm__host_free_plugins(host);
	free(host->plugins);
	free(host->order);
	modvm__vmdefs_free(host->vms);
	modvm__host_cfg_free(host->cfg);
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
