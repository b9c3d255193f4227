/*
 * core/internal.h — interfaces shared between libmodvm's own files.
 *
 * Nothing here is SDK: plugins never include it.  Symbols are prefixed
 * modvm__ and exported (MODVM_INTERNAL) only so the in-tree tests and the
 * modvm executable can reach them; the ABI check ignores the modvm__ prefix.
 */
#ifndef MODVM_CORE_INTERNAL_H
#define MODVM_CORE_INTERNAL_H

#include <modvm/common.h>
#include <modvm/log.h>
#include <modvm/loop.h>
#include <modvm/bus.h>
#include <modvm/config.h>
#include <modvm/plugin.h>

#define MODVM_INTERNAL MODVM_EXPORT

struct ev_loop;

/* ---- loop.c ---- */

/* Creates a loop; the creating thread counts as the loop thread until
 * modvm__loop_run() is called from another one. NULL on failure (logged). */
MODVM_INTERNAL struct modvm_loop *modvm__loop_new(void);
/* Runs queued modvm_loop_call()s once, then frees. Watchers must be stopped. */
MODVM_INTERNAL void modvm__loop_free(struct modvm_loop *loop);
/* Runs until modvm_loop_break(); makes the caller the loop thread. */
MODVM_INTERNAL void modvm__loop_run(struct modvm_loop *loop);
/* Runs one non-blocking iteration (tests use it to deliver pending work). */
MODVM_INTERNAL void modvm__loop_run_once(struct modvm_loop *loop);
/* Calls @cb(signo, ud) on the loop thread for SIGINT and SIGTERM while the
 * loop runs. Only one loop per process may watch signals. 0 or -errno. */
MODVM_INTERNAL int modvm__loop_watch_stop_signals(struct modvm_loop *loop,
						  void (*cb)(int signo, void *ud), void *ud);
MODVM_INTERNAL struct ev_loop *modvm__loop_ev(struct modvm_loop *loop);

/* ---- bus.c ---- */

MODVM_INTERNAL struct modvm_bus *modvm__bus_new(struct modvm_loop *loop);
/* Events still queued are discarded (and counted as dropped). */
MODVM_INTERNAL void modvm__bus_free(struct modvm_bus *bus);
/* Log every delivery at INFO: "event NAME #SEQ -> OWNER (prio P)". */
MODVM_INTERNAL void modvm__bus_set_trace(struct modvm_bus *bus, bool on);
/* The owner name recorded for subscriptions made by this thread from now on
 * (the loader sets the plugin name around init/start; NULL = "core"). */
MODVM_INTERNAL void modvm__bus_set_owner(const char *owner);
/* Removes every subscription whose owner is @owner. Returns how many. */
MODVM_INTERNAL int modvm__bus_unsubscribe_owner(struct modvm_bus *bus, const char *owner);
/* Delivers everything queued by other threads now (must be on the loop thread). */
MODVM_INTERNAL void modvm__bus_drain(struct modvm_bus *bus);
/* Calls @fn for every event type registered in this process, by name order. */
MODVM_INTERNAL void modvm__bus_foreach_type(void (*fn)(const char *name, uint32_t size,
						       uint32_t version, void *ud),
					    void *ud);

/* ---- config.c ---- */

/* A parsed config file (libconfig underneath). */
struct modvm__cfgfile;

/*
 * Parses @path.  On failure logs one line "PATH:LINE: what" (or
 * "PATH: strerror" if it can't be read) and returns -ENOENT / -EINVAL.
 * Checks the top level: only `host`, `vms` (a list of groups) and `plugins`
 * (a group: `path` = list of directory strings, then one group per plugin
 * with at least `enabled`) are allowed.
 */
MODVM_INTERNAL int modvm__config_open(const char *path, struct modvm__cfgfile **out);
MODVM_INTERNAL void modvm__config_close(struct modvm__cfgfile *cf);
MODVM_INTERNAL const char *modvm__config_path(const struct modvm__cfgfile *cf);

/* plugins.path entries, in file order; relative entries are resolved
 * against the config file's directory. */
MODVM_INTERNAL size_t modvm__config_search_path_count(const struct modvm__cfgfile *cf);
MODVM_INTERNAL const char *modvm__config_search_path(const struct modvm__cfgfile *cf, size_t i);

/* The plugin groups under `plugins`, in file order. */
MODVM_INTERNAL size_t modvm__config_plugin_count(const struct modvm__cfgfile *cf);
MODVM_INTERNAL const char *modvm__config_plugin_name(const struct modvm__cfgfile *cf, size_t i);
MODVM_INTERNAL bool modvm__config_plugin_enabled(const struct modvm__cfgfile *cf, size_t i);
/* "file:line" of the plugin's group. */
MODVM_INTERNAL const char *modvm__config_plugin_where(const struct modvm__cfgfile *cf, size_t i);

/*
 * Validates a group against @table and returns the resolved values.
 * Option names may be dotted ("cpu.backend") to reach nested groups.
 * Every error is logged as one line "FILE:LINE: KEYPATH: what (allowed …)"
 * and the function returns -EINVAL after reporting all errors of the group.
 *   host:    the top-level `host` group (absent = all defaults)
 *   plugin:  plugins.NAME without its `enabled` key
 *   vm:      vms.[I] without the sub-groups named in @plugin_groups
 *            (NULL-terminated; any other sub-group is an error)
 *   vm_plugin: vms.[I].NAME; *out = NULL (and 0) if the VM has no such group
 */
MODVM_INTERNAL int modvm__config_resolve_host(const struct modvm__cfgfile *cf,
					      const struct modvm_option *table,
					      struct modvm_config **out);
MODVM_INTERNAL int modvm__config_resolve_plugin(const struct modvm__cfgfile *cf, size_t i,
						const struct modvm_option *table,
						struct modvm_config **out);
MODVM_INTERNAL size_t modvm__config_vm_count(const struct modvm__cfgfile *cf);
MODVM_INTERNAL int modvm__config_resolve_vm(const struct modvm__cfgfile *cf, size_t i,
					    const struct modvm_option *table,
					    const char *const *plugin_groups,
					    struct modvm_config **out);
MODVM_INTERNAL int modvm__config_resolve_vm_plugin(const struct modvm__cfgfile *cf, size_t i,
						   const char *plugin,
						   const struct modvm_option *table,
						   struct modvm_config **out);

/* All defaults of @table (for --describe and the conformance kit). */
MODVM_INTERNAL int modvm__config_defaults(const struct modvm_option *table,
					  struct modvm_config **out);
/*
 * Validates text @value for @opt exactly as the file parser would (used by
 * the conformance kit to feed bad values). 0 or -EINVAL with @err filled.
 */
MODVM_INTERNAL int modvm__config_check_value(const struct modvm_option *opt, const char *value,
					     char *err, size_t errlen);
/*
 * Checks a declared table itself: names unique and non-empty, known types,
 * each default parses and lies in range, ENUM choices non-empty.  0 or
 * -EINVAL with the first problem in @err.
 */
MODVM_INTERNAL int modvm__config_check_table(const struct modvm_option *table, char *err,
					     size_t errlen);
MODVM_INTERNAL void modvm__config_free(struct modvm_config *cfg);

#endif
