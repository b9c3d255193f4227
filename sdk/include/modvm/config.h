/*
 * modvm/config.h — declared options and the validated values a plugin gets.
 *
 * A plugin declares its options as a table terminated by MODVM_OPTIONS_END.
 * The core validates the plugin's group in the config file against it before
 * init: unknown keys, wrong types and out-of-range values are refused with
 * "file:line: key: value: allowed ..." and missing keys get their default.
 * The plugin then reads plain values with the accessors below; it never sees
 * libconfig.
 *
 * Value syntax in the config file (libconfig):
 *   BOOL    true / false
 *   INT     integer, checked against [min, max]
 *   SIZE    integer bytes or a string with a binary suffix: "512K", "512M",
 *           "4G", "1T" (powers of 1024), checked against [min, max] bytes
 *   DOUBLE  number, checked against [min, max] unless both are 0
 *   STRING  any string
 *   ENUM    a string that is one of @choices ("a|b|c")
 *   LIST    a list of groups, `disks = ( { path = "a.img"; }, { path = "b.img"; } );`,
 *           between [min, max] elements (both 0: any number)
 * The default is written as text in the same syntax ("20", "512M", "true";
 * a STRING's is the string itself, unquoted: "/proc/meminfo");
 * a LIST's default is "()" (no elements) or NULL (the key is required).
 *
 * Groups.  A dotted name ("offload.csum") is an option inside the group
 * `offload = { csum = true; };`.  Dots after the name of a LIST option
 * declare its element fields instead: with "disks" a LIST, "disks.path" and
 * "disks.readonly" are the keys every element group takes, validated like
 * any table (unknown keys refused, required ones enforced, defaults filled)
 * and read through modvm_config_list_elem() by their short names ("path").
 * Elements may hold groups and lists of their own the same way
 * ("disks.limits.iops", "disks.tags.name" with "disks.tags" a LIST).
 * Errors name the element: "file:12: vms.[0].virtio-blk.disks.[1].path:
 * required key missing".  Since ABI 1.3.
 */
#ifndef MODVM_CONFIG_H
#define MODVM_CONFIG_H

#include "common.h"

MODVM_BEGIN_DECLS

enum modvm_opt_type {
	MODVM_OPT_END = 0,
	MODVM_OPT_BOOL,
	MODVM_OPT_INT,
	MODVM_OPT_SIZE,
	MODVM_OPT_DOUBLE,
	MODVM_OPT_STRING,
	MODVM_OPT_ENUM,
	MODVM_OPT_LIST,		/* since ABI 1.3 */
};

/* One declared option.  ABI: tables are arrays, so this struct never grows
 * within a major; extra metadata goes into a new table type. */
struct modvm_option {
	const char *name;
	enum modvm_opt_type type;
	const char *default_value;	/* text, parsed like the file; NULL = required */
	int64_t min, max;		/* INT, SIZE, DOUBLE, LIST (element count); both 0 = unbounded */
	const char *choices;		/* ENUM: "required|preferred|off" */
	const char *description;	/* one line for `modvm plugins --describe` */
};
#define MODVM_OPTIONS_END { .name = NULL, .type = MODVM_OPT_END }

/* A validated, defaults-filled set of values for one option table. */
struct modvm_config;

/*
 * Accessors.  @name must be declared in the table with the matching type;
 * asking for an undeclared name or the wrong type is a programming error:
 * it logs an error and returns 0 / false / NULL.
 */
MODVM_EXPORT bool modvm_config_bool(const struct modvm_config *cfg, const char *name);
MODVM_EXPORT int64_t modvm_config_int(const struct modvm_config *cfg, const char *name);
MODVM_EXPORT uint64_t modvm_config_size(const struct modvm_config *cfg, const char *name);
MODVM_EXPORT double modvm_config_double(const struct modvm_config *cfg, const char *name);
/* STRING and ENUM. The string lives as long as the config. */
MODVM_EXPORT const char *modvm_config_string(const struct modvm_config *cfg, const char *name);
/* True if the file set @name (false if it came from the default). */
MODVM_EXPORT bool modvm_config_is_set(const struct modvm_config *cfg, const char *name);
/* "file:line" where @name was set, or "(default)". Valid as long as cfg. */
MODVM_EXPORT const char *modvm_config_where(const struct modvm_config *cfg, const char *name);

/*
 * LIST options (since ABI 1.3).  list_count is the number of elements (0 for
 * a list left at its "()" default); list_elem is element @index as a config
 * of its own whose options are the element fields by their short names
 * (modvm_config_string(elem, "path") for the declared "disks.path"), with
 * the accessors above working on it; NULL for an index out of range.
 * Elements live as long as @cfg.  Reading an element field through the
 * parent ("disks.path") is the programming error described above.
 */
MODVM_EXPORT size_t modvm_config_list_count(const struct modvm_config *cfg, const char *name);
MODVM_EXPORT const struct modvm_config *modvm_config_list_elem(const struct modvm_config *cfg,
								const char *name, size_t index);

/*
 * The key path of the group @cfg was resolved from, the way error lines
 * name it: "plugins.net-vmq", "vms.[0].virtio-blk", or for a list element
 * "vms.[0].virtio-blk.disks.[1]" — so a plugin that refuses a value later
 * (a file that cannot be opened) names it like the core would:
 * "%s: %s.path: ...", modvm_config_where(elem, "path"), modvm_config_key(elem).
 * "" for a config of defaults only.  Valid as long as @cfg.  Since ABI 1.3.
 */
MODVM_EXPORT const char *modvm_config_key(const struct modvm_config *cfg);

/*
 * Parses a SIZE text ("4G", "512M", "4096") into bytes.  Returns 0, or
 * -EINVAL (not a size) / -ERANGE (overflows 64 bits).
 */
MODVM_EXPORT int modvm_parse_size(const char *text, uint64_t *out);

MODVM_END_DECLS

#endif
