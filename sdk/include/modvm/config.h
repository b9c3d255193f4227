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
 * The default is written as text in the same syntax ("20", "512M", "true").
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
};

/* One declared option.  ABI: tables are arrays, so this struct never grows
 * within a major; extra metadata goes into a new table type. */
struct modvm_option {
	const char *name;
	enum modvm_opt_type type;
	const char *default_value;	/* text, parsed like the file; NULL = required */
	int64_t min, max;		/* INT, SIZE, DOUBLE; both 0 = unbounded */
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
 * Parses a SIZE text ("4G", "512M", "4096") into bytes.  Returns 0, or
 * -EINVAL (not a size) / -ERANGE (overflows 64 bits).
 */
MODVM_EXPORT int modvm_parse_size(const char *text, uint64_t *out);

MODVM_END_DECLS

#endif
