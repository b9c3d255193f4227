/*
 * core/config.c — reading a config file and checking its top level.
 *
 * The file is parsed once by libconfig; the top level (host, vms, plugins)
 * is checked here so every later step can trust its shape.  Groups are
 * validated against option tables in config_resolve.c.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config_impl.h"

const char *modvm__cfg_type_name(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP: return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a float";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "a boolean";
	case CONFIG_TYPE_ARRAY: return "an array";
	case CONFIG_TYPE_LIST: return "a list";
	default: return "nothing";
	}
}

/* libconfig names an @include'd file as written, i.e. relative to our
 * directory; show it relative to where the user is, like the main path. */
static void file_name(const struct modvm__cfgfile *cf, const char *file, char *buf, size_t len)
{
	if (!file || !strcmp(file, cf->path))
		snprintf(buf, len, "%s", cf->path);
	else if (file[0] == '/' || !strcmp(cf->given_dir, "."))
		snprintf(buf, len, "%s", file);
	else
		snprintf(buf, len, "%s/%s", cf->given_dir, file);
}

void modvm__cfg_where(const struct modvm__cfgfile *cf, const config_setting_t *s, char *buf,
		      size_t len)
{
	char file[MODVM__CFG_TEXT_MAX];

	file_name(cf, s ? config_setting_source_file(s) : NULL, file, sizeof(file));
	/* Truncation is acceptable for absurdly long paths. */
	if (snprintf(buf, len, "%s:%u", file, s ? config_setting_source_line(s) : 0) < 0)
		buf[0] = '\0';
}

void modvm__cfg_error(const struct modvm__cfgfile *cf, const config_setting_t *s,
		      const char *keypath, const char *fmt, ...)
{
	char what[MODVM__CFG_TEXT_MAX], where[MODVM__CFG_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (s)
		modvm__cfg_where(cf, s, where, sizeof(where));
	else
		snprintf(where, sizeof(where), "%s", cf->path);
	modvm_log(MODVM_LOG_ERROR, NULL, "%s: %s: %s", where, keypath, what);
}

/* The directory of @path; absolute if @abs, so search paths survive a chdir. */
static char *dir_of(const char *path, bool abs)
{
	char *copy = strdup(path), *dir = NULL;
	const char *given;

	if (!copy)
		return NULL;
	given = dirname(copy);
	if (abs)
		dir = realpath(given, NULL);
	if (!dir)
		dir = strdup(given);
	free(copy);
	return dir;
}

static int add_search_dir(struct modvm__cfgfile *cf, const char *dir)
{
	char *full;

	if (dir[0] == '/')
		full = strdup(dir);
	else if (asprintf(&full, "%s/%s", cf->dir, dir) < 0)
		full = NULL;
	if (!full)
		return -ENOMEM;
	cf->search[cf->nsearch++] = full;
	return 0;
}

static int check_search_path(struct modvm__cfgfile *cf, config_setting_t *path)
{
	int n = config_setting_length(path), errors = 0;
	char key[64];

	if (config_setting_type(path) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(path) != CONFIG_TYPE_LIST) {
		modvm__cfg_error(cf, path, "plugins.path", "expected a list of directory strings, got %s",
				 modvm__cfg_type_name(path));
		return 1;
	}
	cf->search = calloc((size_t)n + 1, sizeof(*cf->search));
	if (!cf->search)
		return -ENOMEM;
	for (int k = 0; k < n; k++) {
		config_setting_t *e = config_setting_get_elem(path, (unsigned)k);
		const char *dir = config_setting_get_string(e);

		snprintf(key, sizeof(key), "plugins.path.[%d]", k);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			modvm__cfg_error(cf, e, key, "expected a string, got %s", modvm__cfg_type_name(e));
			errors++;
		} else if (!*dir) {
			modvm__cfg_error(cf, e, key, "empty directory name");
			errors++;
		} else if (add_search_dir(cf, dir)) {
			return -ENOMEM;
		}
	}
	return errors;
}

static int check_plugin(struct modvm__cfgfile *cf, config_setting_t *g)
{
	struct modvm__cfgplugin *p = &cf->plugins[cf->nplugins];
	char key[MODVM__CFG_TEXT_MAX], enkey[MODVM__CFG_TEXT_MAX], where[MODVM__CFG_TEXT_MAX];
	config_setting_t *en;

	snprintf(key, sizeof(key), "plugins.%s", config_setting_name(g));
	if (snprintf(enkey, sizeof(enkey), "%s.enabled", key) < 0)
		enkey[0] = '\0';
	if (!config_setting_is_group(g)) {
		modvm__cfg_error(cf, g, key, "expected a group, got %s", modvm__cfg_type_name(g));
		return 1;
	}
	en = config_setting_get_member(g, "enabled");
	/* No silent default: a plugin group says whether it runs. */
	if (!en) {
		modvm__cfg_error(cf, g, enkey, "required key missing");
		return 1;
	}
	if (config_setting_type(en) != CONFIG_TYPE_BOOL) {
		modvm__cfg_error(cf, en, enkey, "expected a boolean, got %s",
				 modvm__cfg_type_name(en));
		return 1;
	}
	modvm__cfg_where(cf, g, where, sizeof(where));
	p->where = strdup(where);
	if (!p->where)
		return -ENOMEM;
	p->name = config_setting_name(g);
	p->enabled = config_setting_get_bool(en);
	p->group = g;
	cf->nplugins++;
	return 0;
}

static int check_plugins(struct modvm__cfgfile *cf, config_setting_t *plugins)
{
	int n = config_setting_length(plugins), errors = 0, r;

	if (!config_setting_is_group(plugins)) {
		modvm__cfg_error(cf, plugins, "plugins", "expected a group, got %s",
				 modvm__cfg_type_name(plugins));
		return 1;
	}
	cf->plugins = calloc((size_t)n + 1, sizeof(*cf->plugins));
	if (!cf->plugins)
		return -ENOMEM;
	for (int k = 0; k < n; k++) {
		config_setting_t *m = config_setting_get_elem(plugins, (unsigned)k);

		if (!strcmp(config_setting_name(m), "path"))
			r = check_search_path(cf, m);
		else
			r = check_plugin(cf, m);
		if (r < 0)
			return r;
		errors += r;
	}
	return errors;
}

static int check_vms(struct modvm__cfgfile *cf, config_setting_t *vms)
{
	int n = config_setting_length(vms), errors = 0;
	char key[32];

	/* `vms = ()` is a list; an empty `[]` is an array and means the same. */
	if (!config_setting_is_list(vms) && !(config_setting_is_array(vms) && n == 0)) {
		modvm__cfg_error(cf, vms, "vms", "expected a list of groups, got %s",
				 modvm__cfg_type_name(vms));
		return 1;
	}
	cf->vms = calloc((size_t)n + 1, sizeof(*cf->vms));
	if (!cf->vms)
		return -ENOMEM;
	for (int k = 0; k < n; k++) {
		config_setting_t *vm = config_setting_get_elem(vms, (unsigned)k);

		if (!config_setting_is_group(vm)) {
			snprintf(key, sizeof(key), "vms.[%d]", k);
			modvm__cfg_error(cf, vm, key, "expected a group, got %s",
					 modvm__cfg_type_name(vm));
			errors++;
			continue;
		}
		cf->vms[cf->nvms++] = vm;
	}
	return errors;
}

static int check_top(struct modvm__cfgfile *cf)
{
	config_setting_t *root = config_root_setting(&cf->lc);
	int n = config_setting_length(root), errors = 0, r;

	for (int k = 0; k < n; k++) {
		config_setting_t *m = config_setting_get_elem(root, (unsigned)k);
		const char *name = config_setting_name(m);

		if (!strcmp(name, "host")) {
			r = 0;
			if (!config_setting_is_group(m)) {
				modvm__cfg_error(cf, m, name, "expected a group, got %s",
						 modvm__cfg_type_name(m));
				r = 1;
			}
		} else if (!strcmp(name, "vms")) {
			r = check_vms(cf, m);
		} else if (!strcmp(name, "plugins")) {
			r = check_plugins(cf, m);
		} else {
			modvm__cfg_error(cf, m, name, "unknown key (known: host, vms, plugins)");
			r = 1;
		}
		if (r < 0)
			return r;
		errors += r;
	}
	return errors ? -EINVAL : 0;
}

/* How deep @include may nest before we call it a loop. */
#define INCLUDE_DEPTH_MAX 10

/*
 * libconfig 1.5 opens the main file and every @include itself, with a
 * blocking fopen: a fifo named there would hang modvm before it could say
 * anything.  So each file is first opened here without blocking and
 * checked to be a regular file, its @include lines followed the same way
 * (resolved against the config's directory, as libconfig does), and only
 * then handed to libconfig.
 */
static int check_file(struct modvm__cfgfile *cf, const char *path, int depth)
{
	char err[MODVM__CFG_TEXT_MAX + 64];
	struct stat st;
	int fd = modvm__open_regular(path, 0, &st, err, sizeof(err));
	int r = 0;

	if (fd < 0) {
		/* "is a fifo, not a regular file"; the system's words otherwise. */
		if (fd == -EINVAL)
			modvm_log(MODVM_LOG_ERROR, NULL, "%s", err);
		else
			modvm_log(MODVM_LOG_ERROR, NULL, "%s: %s", path, strerror(-fd));
		return fd;
	}
	FILE *f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;
	while (r == 0 && (n = getline(&line, &cap, f)) > 0) {
		const char *p = line + strspn(line, " \t");
		lineno++;
		/* A config is text.  libconfig's scanner reads a NUL as the end of
		 * a string, and a directive it cannot read (an @include naming
		 * "" or a directory) makes it exit() the process. */
		if (strlen(line) != (size_t)n) {
			modvm_log(MODVM_LOG_ERROR, NULL, "%s:%u: a NUL byte: not a text file", path,
				  lineno);
			r = -EINVAL;
			break;
		}
		if (strncmp(p, "@include", 8) != 0)
			continue;
		p += 8 + strspn(p + 8, " \t");
		const char *end = *p == '"' ? strchr(p + 1, '"') : NULL;
		if (!end || end == p + 1) {
			modvm_log(MODVM_LOG_ERROR, NULL, "%s:%u: @include needs a file name in quotes",
				  path, lineno);
			r = -EINVAL;
			break;
		}
		if (depth >= INCLUDE_DEPTH_MAX) {
			modvm_log(MODVM_LOG_ERROR, NULL, "%s:%u: @include nested more than %d deep",
				  path, lineno, INCLUDE_DEPTH_MAX);
			r = -ELOOP;
			break;
		}
		char inc[PATH_MAX];
		int n = (int)(end - p - 1);
		if (p[1] == '/')
			snprintf(inc, sizeof(inc), "%.*s", n, p + 1);
		else
			snprintf(inc, sizeof(inc), "%s/%.*s", cf->dir, n, p + 1);
		r = check_file(cf, inc, depth + 1);
		if (r < 0)
			modvm_log(MODVM_LOG_ERROR, NULL, "%s:%u: included from here", path, lineno);
	}
	free(line);
	fclose(f);
	return r;
}

static int read_file(struct modvm__cfgfile *cf)
{
	char file[MODVM__CFG_TEXT_MAX];
	int r = check_file(cf, cf->path, 0);

	if (r < 0)
		return r == -EISDIR || r == -ENOENT || r == -EACCES ? r : -EINVAL;
	if (config_read_file(&cf->lc, cf->path))
		return 0;
	file_name(cf, config_error_file(&cf->lc), file, sizeof(file));
	if (config_error_type(&cf->lc) == CONFIG_ERR_FILE_IO) {
		modvm_log(MODVM_LOG_ERROR, NULL, "%s: %s", file, config_error_text(&cf->lc));
		return -EIO;
	}
	modvm_log(MODVM_LOG_ERROR, NULL, "%s:%d: %s", file, config_error_line(&cf->lc),
		  config_error_text(&cf->lc));
	return -EINVAL;
}

MODVM_INTERNAL void modvm__config_close(struct modvm__cfgfile *cf)
{
	if (!cf)
		return;
	config_destroy(&cf->lc);
	for (size_t i = 0; i < cf->nsearch; i++)
		free(cf->search[i]);
	free(cf->search);
	for (size_t i = 0; i < cf->nplugins; i++)
		free(cf->plugins[i].where);
	free(cf->plugins);
	free(cf->vms);
	free(cf->dir);
	free(cf->given_dir);
	free(cf->path);
	free(cf);
}

MODVM_INTERNAL int modvm__config_open(const char *path, struct modvm__cfgfile **out)
{
	struct modvm__cfgfile *cf;
	int r;

	*out = NULL;
	if (!path || !*path) {
		modvm_log(MODVM_LOG_ERROR, NULL, "config: no file name");
		return -EINVAL;
	}
	cf = calloc(1, sizeof(*cf));
	if (!cf)
		return -ENOMEM;
	config_init(&cf->lc);
	cf->path = strdup(path);
	cf->dir = cf->path ? dir_of(path, true) : NULL;
	cf->given_dir = cf->path ? dir_of(path, false) : NULL;
	if (!cf->dir || !cf->given_dir) {
		r = -ENOMEM;
		goto close;
	}
	/* @include "x.conf" means next to this file, not the cwd. */
	config_set_include_dir(&cf->lc, cf->dir);
	r = read_file(cf);
	if (r)
		goto close;
	r = check_top(cf);
	if (r)
		goto close;
	*out = cf;
	return 0;
close:
	modvm__config_close(cf);
	return r;
}

MODVM_INTERNAL const char *modvm__config_path(const struct modvm__cfgfile *cf)
{
	return cf->path;
}

MODVM_INTERNAL size_t modvm__config_search_path_count(const struct modvm__cfgfile *cf)
{
	return cf->nsearch;
}

MODVM_INTERNAL const char *modvm__config_search_path(const struct modvm__cfgfile *cf, size_t i)
{
	return i < cf->nsearch ? cf->search[i] : NULL;
}

MODVM_INTERNAL size_t modvm__config_plugin_count(const struct modvm__cfgfile *cf)
{
	return cf->nplugins;
}

MODVM_INTERNAL const char *modvm__config_plugin_name(const struct modvm__cfgfile *cf, size_t i)
{
	return i < cf->nplugins ? cf->plugins[i].name : NULL;
}

MODVM_INTERNAL bool modvm__config_plugin_enabled(const struct modvm__cfgfile *cf, size_t i)
{
	return i < cf->nplugins && cf->plugins[i].enabled;
}

MODVM_INTERNAL const char *modvm__config_plugin_where(const struct modvm__cfgfile *cf, size_t i)
{
	return i < cf->nplugins ? cf->plugins[i].where : NULL;
}

MODVM_INTERNAL size_t modvm__config_vm_count(const struct modvm__cfgfile *cf)
{
	return cf->nvms;
}
