/*
 * core/config/ — the configuration file: parsing (libconfig), validating a
 * group against an option table, and the resolved values plugins read
 * through modvm/config.h.  config_impl.h is private to this folder.  Uses
 * only base/.
 */
#ifndef MODVM_CORE_CONFIG_H
#define MODVM_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <modvm/config.h>

#include "base/base.h"

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
