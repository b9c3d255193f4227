/*
 * core/host/ — the host: one process's loop, bus, config, plugins and VMs,
 * and what runs them: the plugin lifecycle (host.c), the VMs a config
 * defines (host_vms.c), choosing a CPU backend and launching the VMs
 * (fleet.c), the operator's control socket (control.c, control_status.c)
 * and the `modvm caps` report (caps.c).  The top of core/: it uses every
 * other folder; main.c and the tests use it.
 *
 * host.c is the top of this folder; the other files get what they read
 * of the host through struct modvm__host_view (plugin/plugin.h), so none
 * of them calls back into host.c.
 *
 * The life of a host, each step undoable by the ones after it:
 *
 *     modvm__host_new → modvm__host_load_config → modvm__host_load_plugins
 *       → modvm__host_start (init + start, in `requires` order)
 *       → modvm__host_run → modvm__host_stop (stop + fini, in reverse)
 *       → modvm__host_free (dlclose)
 *
 * start/stop may be repeated on one host: every cycle is a full init→fini
 * of every plugin.  Plugins stay dlopen'd until modvm__host_free (or until
 * their init fails), so an address a plugin handed out never dangles while
 * the host lives.
 */
#ifndef MODVM_CORE_HOST_H
#define MODVM_CORE_HOST_H

#include "plugin/plugin.h"

struct modvm_host;

/* ---- host.c ---- */

/* NULL on failure (logged). */
MODVM_INTERNAL struct modvm_host *modvm__host_new(void);
/* Stops if started, finis, unloads every plugin, frees. NULL is ignored. */
MODVM_INTERNAL void modvm__host_free(struct modvm_host *host);

/* Extra plugin directories searched before everything else (`--path`). */
MODVM_INTERNAL int modvm__host_add_plugin_dir(struct modvm_host *host, const char *dir);
/*
 * `modvm run --user U --group G`: the user and group to run as, over
 * host.user and host.group (the packaged unit says --user modvm).  NULL
 * leaves the config's.  The strings must outlive @host.  Before
 * modvm__host_load_config.
 */
MODVM_INTERNAL void modvm__host_force_user(struct modvm_host *host, const char *user,
					   const char *group);
/* Keeps host.log_level of the config from changing the level (-v / -q). */
MODVM_INTERNAL void modvm__host_force_log_level(struct modvm_host *host,
						enum modvm_log_level level);

/*
 * Parses the config: host options (applied: log_level) and the VMs.  Must
 * come before any plugin is loaded.  -ENOENT (file missing), -EINVAL
 * (syntax or value error), -EBUSY (a config or plugin is already there);
 * every problem logged.
 */
MODVM_INTERNAL int modvm__host_load_config(struct modvm_host *host, const char *path);

/*
 * Loads every enabled plugin of the config, in file order, validates its
 * option group and its per-VM groups, then checks `requires`.  Reports
 * every problem before returning the first error.
 */
MODVM_INTERNAL int modvm__host_load_plugins(struct modvm_host *host);

/*
 * Loads one plugin: a path if @path_or_name contains '/', else NAME.so from
 * the search path.  Its options come from plugins.NAME if the config has
 * that group, else the defaults.  Refuses a duplicate name.  `requires` is
 * checked later (modvm__host_resolve / start).  *out (optional) receives
 * the record.
 */
MODVM_INTERNAL int modvm__host_load_one(struct modvm_host *host, const char *path_or_name,
					struct modvm_plugin_ctx **out);

/*
 * Everything `run` would refuse, before anything runs (`check` stops
 * here): the core's checks (host_check.c: memory against the host, the
 * kernel, initrd and console files, the CPU backend, the control socket)
 * and every plugin's validate.  Reports all problems, returns the first.
 */
MODVM_INTERNAL int modvm__host_validate(struct modvm_host *host);

/*
 * Every loaded plugin's validate (ABI 1.3, optional), in load order: the
 * cross-field checks only a plugin knows, with nothing started.  Reports
 * every plugin's problems before returning the first error.
 */
MODVM_INTERNAL int modvm__host_validate_plugins(struct modvm_host *host);

/*
 * `modvm recover`: every loaded plugin's recover (ABI 1.3, optional) —
 * undo what an earlier run left changed on the host.  No init or start.
 * 0, or the first error (-EBUSY: a live modvm owns it); all are tried.
 */
MODVM_INTERNAL int modvm__host_recover(struct modvm_host *host);

/* Checks `requires` and computes the init order (also done by start). */
MODVM_INTERNAL int modvm__host_resolve(struct modvm_host *host);

/*
 * init, then start, every plugin in `requires` order; then publishes
 * vm.lifecycle CREATED for each VM.  A failing init unloads that plugin
 * (subscriptions, config, dlclose) and finis the ones before it; a failing
 * start stops the started ones in reverse and finis all.  -EALREADY if
 * started.
 */
MODVM_INTERNAL int modvm__host_start(struct modvm_host *host);
/*
 * Runs the loop until SIGINT/SIGTERM or until no VM is running.  With no
 * running VM it delivers what is pending and returns at once.  -EIO if a
 * VM failed.
 */
MODVM_INTERNAL int modvm__host_run(struct modvm_host *host);
/*
 * SIGINT/SIGTERM stop the host from now on (modvm__host_run does it too):
 * the modvm binary calls it before starting plugins and launching VMs, so
 * a signal during setup cannot take the default action and leave a
 * plugin's host changes (parked cores, NIC rules) behind.  Process-wide,
 * so embedders and tools that run several hosts leave it to host_run.
 */
MODVM_INTERNAL int modvm__host_watch_stop_signals(struct modvm_host *host);
/*
 * One modvm per config: takes an exclusive flock on the config file, held
 * until modvm__host_free.  -EBUSY (logged: another modvm runs this config)
 * if another process holds it.  `run` and `recover` take it; `check` does
 * not.
 */
MODVM_INTERNAL int modvm__host_claim(struct modvm_host *host);
/*
 * Launches the configured VMs with autostart (choosing the CPU backend).
 * After modvm__host_start.  0 or -errno, logged; nothing left running.
 */
MODVM_INTERNAL int modvm__host_launch(struct modvm_host *host);
/* Stops the VMs, then stops and finis the plugins in reverse order. */
MODVM_INTERNAL void modvm__host_stop(struct modvm_host *host);
/* The control socket's path while it listens (after launch), else NULL. */
MODVM_INTERNAL const char *modvm__host_control_socket(const struct modvm_host *host);

MODVM_INTERNAL void modvm__host_set_trace_events(struct modvm_host *host, bool on);

/*
 * Registers a core interface for modvm_plugin_query (the core's answers come
 * before any plugin's).  @id is copied; @vtable must outlive the host.
 * -EEXIST if @id is already provided.
 */
MODVM_INTERNAL int modvm__host_provide_interface(struct modvm_host *host, const char *id,
						 const void *vtable);
MODVM_INTERNAL const void *modvm__host_core_interface(const struct modvm_host *host,
						      const char *id);

/* The view plugin contexts, the fleet and the control socket read. */
MODVM_INTERNAL const struct modvm__host_view *modvm__host_view(struct modvm_host *host);

/* Accessors for main.c and tests. */
MODVM_INTERNAL struct modvm_loop *modvm__host_loop(struct modvm_host *host);
/* The running VMs, NULL before modvm__host_launch. */
MODVM_INTERNAL struct modvm__fleet *modvm__host_fleet(struct modvm_host *host);
MODVM_INTERNAL struct modvm_bus *modvm__host_bus(struct modvm_host *host);
MODVM_INTERNAL size_t modvm__host_plugin_count(const struct modvm_host *host);
/* In load order (i < count); by name; NULL if absent. */
MODVM_INTERNAL struct modvm_plugin_ctx *modvm__host_plugin(struct modvm_host *host, size_t i);
MODVM_INTERNAL struct modvm_plugin_ctx *modvm__host_plugin_by_name(struct modvm_host *host,
								   const char *name);
MODVM_INTERNAL size_t modvm__host_vm_count(const struct modvm_host *host);
/* Resolved host options and VM @i's options (NULL if out of range). */
MODVM_INTERNAL const struct modvm_config *modvm__host_config(const struct modvm_host *host);
MODVM_INTERNAL const struct modvm_config *modvm__host_vm_config(const struct modvm_host *host,
								size_t i);
MODVM_INTERNAL const char *modvm__host_vm_name(const struct modvm_host *host, size_t i);
/* Search path of this host (--path dirs, config, env, install dir). */
MODVM_INTERNAL int modvm__host_search_path(const struct modvm_host *host, char ***out);

/* The host's own option tables (for docs and table self-checks). */
MODVM_INTERNAL const struct modvm_option *modvm__host_options(void);
MODVM_INTERNAL const struct modvm_option *modvm__host_vm_options(void);

#endif
