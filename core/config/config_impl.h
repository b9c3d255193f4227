/*
 * core/config/config_impl.h — what config.c, config_resolve.c and config_values.c
 * share.  Private to those three files; the rest of the core uses internal.h.
 */
#ifndef MODVM_CORE_CONFIG_IMPL_H
#define MODVM_CORE_CONFIG_IMPL_H

#include <libconfig.h>

#include "config/config.h"

/* The hint every "not a size" message ends with. */
#define MODVM__CFG_SIZE_HINT "(use bytes or K/M/G/T, e.g. \"512M\")"

/* Longest key path or "file:line" we print; longer ones are truncated. */
#define MODVM__CFG_TEXT_MAX 512

struct modvm__cfgfile {
	config_t lc;
	char *path;		/* as given to modvm__config_open */
	char *dir;		/* absolute directory of path (include dir, search base) */
	char *given_dir;	/* directory of path as given ("." if none) */
	char **search;		/* plugins.path, resolved */
	size_t nsearch;
	struct modvm__cfgplugin {
		const char *name;	/* owned by lc */
		bool enabled;
		char *where;
		config_setting_t *group;
	} *plugins;
	size_t nplugins;
	config_setting_t **vms;
	size_t nvms;
};

/* A value on its way into a modvm_config; only the field of the type is
 * meaningful.  @s is borrowed (copied when stored). */
struct modvm__cfgval {
	bool b;
	int64_t i;
	uint64_t u;		/* SIZE; LIST: the element count */
	double d;
	const char *s;
	struct modvm_config **elems;	/* LIST: u of them, moved into the config */
};

/* ---- config.c ---- */

/* "file:line" of @s (the file it came from, or the config path). */
void modvm__cfg_where(const struct modvm__cfgfile *cf, const config_setting_t *s, char *buf,
		      size_t len);
/* Logs "WHERE: KEYPATH: what" for setting @s (NULL: the file without a line). */
void modvm__cfg_error(const struct modvm__cfgfile *cf, const config_setting_t *s,
		      const char *keypath, const char *fmt, ...) MODVM_PRINTF(4, 5);
/* "an integer", "a group", … for the type of @s. */
const char *modvm__cfg_type_name(const config_setting_t *s);

/* ---- config_values.c ---- */

size_t modvm__cfg_table_len(const struct modvm_option *table);
/* Converts default/check text for @opt into @v, with the message in @what. */
int modvm__cfg_from_text(const struct modvm_option *opt, const char *text,
			 struct modvm__cfgval *v, char *what, size_t len);
/* Range and choice checks; @shown is how the value is quoted in messages. */
int modvm__cfg_check_range(const struct modvm_option *opt, const struct modvm__cfgval *v,
			   const char *shown, char *what, size_t len);
/* "[64M, 1T]" style text of a size. */
void modvm__cfg_fmt_size(uint64_t bytes, char *buf, size_t len);
/* A config with every option of @table present but unset. NULL on ENOMEM. */
struct modvm_config *modvm__cfg_alloc(const struct modvm_option *table);
/* Stores @v for option @i (copying strings, taking a LIST's elements);
 * @where NULL = "(default)". */
int modvm__cfg_store(struct modvm_config *cfg, size_t i, const struct modvm__cfgval *v,
		     const char *where);
/* Records the key path error lines name the group by (modvm_config_key). */
int modvm__cfg_set_key(struct modvm_config *cfg, const char *key);

/* ---- config_list.c ---- */

/* The index of the outermost LIST option whose element field table[@i] is
 * (a LIST whose name is a dotted prefix of it), or SIZE_MAX. */
size_t modvm__cfg_list_of(const struct modvm_option *table, size_t i);
/* The element table of LIST table[@list]: its fields by their short names
 * (names borrowed from @table), END-terminated; free() it.  NULL on ENOMEM. */
struct modvm_option *modvm__cfg_elem_table(const struct modvm_option *table, size_t list);

#endif
