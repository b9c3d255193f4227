/*
 * core/loader.c — finding plugin files, opening them, ordering them.
 *
 * Everything a plugin file can get wrong is refused here, before any of its
 * code runs, each with one line that starts with the file's real path: a
 * user with a stale or foreign .so must see which file and why.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <modvm/events.h>

#include "plugin/plugin.h"

#ifndef MODVM_PLUGINDIR
#define MODVM_PLUGINDIR "/usr/local/lib/modvm/plugins"
#endif

/* Majors probed to tell "built for another ABI" from "not a plugin". */
#define OTHER_MAJOR_PROBE_MAX 64

/* ---- string vectors ---- */

static int strv_push(char ***v, size_t *n, const char *s, size_t len)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(**v));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[*n] = strndup(s, len);
	if (!nv[*n])
		return -ENOMEM;
	nv[++*n] = NULL;
	return 0;
}

MODVM_INTERNAL void modvm__strv_free(char **strv)
{
	if (!strv)
		return;
	for (char **s = strv; *s; s++)
		free(*s);
	free(strv);
}

MODVM_INTERNAL char *modvm__strv_join(char *const *strv, const char *sep)
{
	size_t len = 1;

	for (char *const *s = strv; s && *s; s++)
		len += strlen(*s) + strlen(sep);
	char *out = malloc(len);

	if (!out)
		return NULL;
	out[0] = '\0';
	for (char *const *s = strv; s && *s; s++) {
		if (s != strv)
			strcat(out, sep);
		strcat(out, *s);
	}
	return out;
}

MODVM_INTERNAL const char *modvm__plugin_install_dir(void)
{
	return MODVM_PLUGINDIR;
}

static bool running_uninstalled(void)
{
	Dl_info info;
	size_t len = strlen(MODVM_BUILD_ROOT);

	if (!dladdr((void *)modvm__plugin_search_path, &info) || !info.dli_fname)
		return false;
	return strncmp(info.dli_fname, MODVM_BUILD_ROOT, len) == 0 && info.dli_fname[len] == '/';
}

MODVM_INTERNAL int modvm__plugin_search_path(const char *const *extra, size_t n_extra,
					     const struct modvm__cfgfile *cf, char ***out)
{
	char **v = calloc(1, sizeof(*v));
	size_t n = 0;
	int r = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n_extra && r == 0; i++)
		r = strv_push(&v, &n, extra[i], strlen(extra[i]));
	for (size_t i = 0; cf && i < modvm__config_search_path_count(cf) && r == 0; i++) {
		const char *dir = modvm__config_search_path(cf, i);

		r = strv_push(&v, &n, dir, strlen(dir));
	}
	/* Empty entries are skipped rather than meaning ".": a stray ':' must
	 * not make the current directory a plugin source. */
	for (const char *p = getenv("MODVM_PLUGIN_PATH"); p && *p && r == 0;) {
		size_t len = strcspn(p, ":");

		if (len)
			r = strv_push(&v, &n, p, len);
		p += len;
		if (*p == ':')
			p++;
	}
	if (r == 0)
		r = strv_push(&v, &n, MODVM_PLUGINDIR, strlen(MODVM_PLUGINDIR));
	/* Running uninstalled (libmodvm loaded from its build tree): the build's
	 * own plugin directories come last, so `build/core/modvm run …` works
	 * from a fresh build without any environment. */
	for (const char *p = running_uninstalled() ? MODVM_BUILD_PLUGIN_PATH : ""; *p && r == 0;) {
		size_t len = strcspn(p, ":");

		if (len)
			r = strv_push(&v, &n, p, len);
		p += len;
		if (*p == ':')
			p++;
	}
	if (r < 0) {
		modvm__strv_free(v);
		return r;
	}
	*out = v;
	return 0;
}

MODVM_INTERNAL int modvm__plugin_find(char *const *dirs, const char *name, char **path_out)
{
	if (!name || !*name || strchr(name, '/'))
		return -EINVAL;
	for (char *const *d = dirs; d && *d; d++) {
		char *path;

		if (asprintf(&path, "%s/%s.so", *d, name) < 0)
			return -ENOMEM;
		if (access(path, F_OK) == 0) {
			*path_out = path;
			return 0;
		}
		free(path);
	}
	return -ENOENT;
}

/* ---- descriptor checks ---- */

/* The file name without directory and ".so": what the plugin must be called. */
static void file_stem(const char *path, char *buf, size_t len)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n > 3 && strcmp(base + n - 3, ".so") == 0)
		n -= 3;
	snprintf(buf, len, "%.*s", (int)n, base);
}

/* No v<our major> symbol: say whether it is a plugin for another major. */
static int refuse_no_symbol(void *handle, const char *path, enum modvm_log_level level)
{
	for (int major = 0; major <= OTHER_MAJOR_PROBE_MAX; major++) {
		char sym[64];

		if (major == MODVM_ABI_MAJOR)
			continue;
		snprintf(sym, sizeof(sym), MODVM_PLUGIN_SYMBOL_NAME "%d", major);
		if (dlsym(handle, sym)) {
			modvm_log(level, NULL, "%s: built for ABI major %d, this modvm is ABI %d",
				  path, major, MODVM_ABI_MAJOR);
			return -ENOEXEC;
		}
	}
	modvm_log(level, NULL, "%s: not a modvm plugin: no symbol " MODVM_PLUGIN_SYMBOL_NAME "%d",
		  path, MODVM_ABI_MAJOR);
	return -ENOEXEC;
}

static int check_events(const char *path, const struct modvm_plugin *d,
			enum modvm_log_level level)
{
	for (size_t i = 0; d->events && d->events[i]; i++) {
		const struct modvm_event_desc *e = d->events[i];

		if (e->struct_size < offsetof(struct modvm_event_desc, id_cache) ||
		    !e->name || !*e->name || !e->payload_size) {
			modvm_log(level, NULL,
				  "%s: declared event #%zu is malformed (needs a name and a payload size)",
				  path, i);
			return -EINVAL;
		}
	}
	return 0;
}

static int check_tables(const char *path, const struct modvm_plugin *d,
			enum modvm_log_level level)
{
	char err[256];

	if (d->options && modvm__config_check_table(d->options, err, sizeof(err)) < 0) {
		modvm_log(level, NULL, "%s: invalid option table: %s", path, err);
		return -EINVAL;
	}
	if (d->vm_options && modvm__config_check_table(d->vm_options, err, sizeof(err)) < 0) {
		modvm_log(level, NULL, "%s: invalid vm option table: %s", path, err);
		return -EINVAL;
	}
	return 0;
}

/* Checks in the order that makes each read safe: the symbol is a large
 * enough object, ABI fields next, the layout size before any other field,
 * then every pointer, then the contents. */
static int check_descriptor(void *handle, const char *path, const struct modvm_plugin *d,
			    enum modvm_log_level level)
{
	char stem[NAME_MAX + 1];

	if (modvm__plugin_check_object(d, path, level) < 0)
		return -ENOEXEC;
	if (d->abi_major != MODVM_ABI_MAJOR) {
		modvm_log(level, NULL, "%s: built for ABI major %u, this modvm is ABI %d", path,
			  (unsigned)d->abi_major, MODVM_ABI_MAJOR);
		return -ENOEXEC;
	}
	if (d->abi_minor > MODVM_ABI_MINOR) {
		modvm_log(level, NULL, "%s: built for ABI %u.%u, this modvm supports up to %d.%d",
			  path, (unsigned)d->abi_major, (unsigned)d->abi_minor, MODVM_ABI_MAJOR,
			  MODVM_ABI_MINOR);
		return -ENOEXEC;
	}
	if (d->struct_size < MODVM_PLUGIN_MIN_SIZE_V1) {
		modvm_log(level, NULL,
			  "%s: descriptor too small: struct_size %u, ABI %d.0 needs at least %zu",
			  path, (unsigned)d->struct_size, MODVM_ABI_MAJOR,
			  (size_t)MODVM_PLUGIN_MIN_SIZE_V1);
		return -ENOEXEC;
	}
	if (modvm__plugin_check_pointers(handle, d, path, level) < 0)
		return -ENOEXEC;
	if (!d->name || !*d->name) {
		modvm_log(level, NULL, "%s: plugin name is empty", path);
		return -EINVAL;
	}
	/* Names travel in fixed-size event fields and bus owner slots. */
	if (strlen(d->name) >= MODVM_NAME_MAX) {
		modvm_log(level, NULL, "%s: plugin name \"%s\" is longer than %d characters", path,
			  d->name, MODVM_NAME_MAX - 1);
		return -EINVAL;
	}
	file_stem(path, stem, sizeof(stem));
	if (strcmp(d->name, stem) != 0) {
		modvm_log(level, NULL, "%s: plugin name \"%s\" does not match its file name \"%s\"",
			  path, d->name, stem);
		return -EINVAL;
	}
	if (d->kind > MODVM_KIND_NIC_DRIVER) {
		modvm_log(level, NULL, "%s: unknown plugin kind %u", path, (unsigned)d->kind);
		return -EINVAL;
	}
	for (size_t i = 0; d->requires && d->requires[i]; i++) {
		if (!*d->requires[i]) {
			modvm_log(level, NULL, "%s: requires entry #%zu is empty", path, i);
			return -EINVAL;
		}
	}
	int r = check_events(path, d, level);

	return r < 0 ? r : check_tables(path, d, level);
}

/*
 * The absolute path with the directory resolved but the file name kept: a
 * plugin installed as a symlink (NAME.so -> NAME.so.1.2) is still NAME.
 */
static int absolute_path(const char *path, char **out)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, (size_t)(slash - path) + 1) : strdup(".");
	char *real = dir ? realpath(dir, NULL) : NULL;
	int r = 0;

	if (!dir)
		return -ENOMEM;
	if (!real)
		r = -errno;
	else if (asprintf(out, "%s/%s", strcmp(real, "/") ? real : "", slash ? slash + 1 : path) < 0)
		r = -ENOMEM;
	else if (access(*out, F_OK) < 0) {
		r = -errno;
		free(*out);
	}
	free(real);
	free(dir);
	return r;
}

/*
 * Before dlopen runs a single constructor of the file: it must be a
 * regular file (opened without blocking: a fifo named NAME.so must not
 * hang the loader), and it and every directory above it must be owned by
 * root or us and writable by nobody else, as OpenSSH's StrictModes asks
 * of authorized_keys (directories above the plugin's own may be sticky,
 * like /tmp).  A config in someone else's directory with
 * plugins.path = ["."] would otherwise make `modvm check`, run as root,
 * run that someone's code.
 */
static int check_file(const char *real, enum modvm_log_level level)
{
	char err[PATH_MAX + 128];
	int fd = modvm__open_regular(real, 0, NULL, err, sizeof(err));

	if (fd < 0) {
		modvm_log(level, NULL, "%s", err);
		return fd == -EINVAL || fd == -EISDIR ? -ENOEXEC : fd;
	}
	close(fd);
	int r = modvm__path_trusted(real, err, sizeof(err));
	if (r < 0) {
		modvm_log(level, NULL,
			  "%s: not loaded: %s; plugins are loaded only from files and directories "
			  "owned by root or uid %u and writable by nobody else",
			  real, err, (unsigned)geteuid());
		return -EPERM;
	}
	return 0;
}

MODVM_INTERNAL int modvm__plugin_open(const char *path, enum modvm_log_level level,
				      char **real_path, void **handle,
				      const struct modvm_plugin **desc)
{
	char sym[64];
	char *real = NULL;
	void *h;
	const struct modvm_plugin *d;
	int r = absolute_path(path, &real);

	if (r < 0) {
		modvm_log(level, NULL, "%s: %s", path, modvm_strerror(r));
		return r;
	}
	r = check_file(real, level);
	if (r < 0)
		goto err_free;
	dlerror();
	h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();
		size_t n = strlen(real);

		/* glibc prefixes the path; do not print it twice. */
		if (why && strncmp(why, real, n) == 0 && strncmp(why + n, ": ", 2) == 0)
			why += n + 2;
		modvm_log(level, NULL, "%s: cannot load: %s", real, why ? why : "unknown error");
		r = -ENOEXEC;
		goto err_free;
	}
	snprintf(sym, sizeof(sym), MODVM_PLUGIN_SYMBOL_NAME "%d", MODVM_ABI_MAJOR);
	d = dlsym(h, sym);
	r = d ? check_descriptor(h, real, d, level) : refuse_no_symbol(h, real, level);
	if (r < 0)
		goto err_close;
	*real_path = real;
	*handle = h;
	*desc = d;
	return 0;

err_close:
	dlclose(h);
err_free:
	free(real);
	return r;
}

MODVM_INTERNAL void modvm__plugin_close(void *handle)
{
	if (handle)
		dlclose(handle);
}

/* ---- requires ordering ---- */

static ssize_t index_of(struct modvm_plugin_ctx *const *in, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(in[i]->name, name) == 0)
			return (ssize_t)i;
	return -1;
}

static bool ready(struct modvm_plugin_ctx *const *in, size_t n, size_t i, const bool *placed)
{
	const char *const *req = in[i]->desc->requires;

	for (size_t k = 0; req && req[k]; k++)
		if (!placed[index_of(in, n, req[k])])
			return false;
	return true;
}

/* Every unplaced plugin waits on an unplaced one, so walking "first unplaced
 * requirement" edges must revisit a plugin: that loop is the cycle. */
static void report_cycle(struct modvm_plugin_ctx *const *in, size_t n, const bool *placed)
{
	size_t *walk = calloc(n + 1, sizeof(*walk));
	size_t len = 0, cur = 0, start = 0;

	if (!walk) {
		modvm_log(MODVM_LOG_ERROR, NULL, "plugins: requires cycle (out of memory)");
		return;
	}
	while (placed[cur])
		cur++;
	for (;;) {
		for (start = 0; start < len && walk[start] != cur; start++)
			;
		if (start < len)
			break;
		walk[len++] = cur;
		const char *const *req = in[cur]->desc->requires;

		for (size_t k = 0; req[k]; k++) {
			ssize_t j = index_of(in, n, req[k]);

			if (!placed[j]) {
				cur = (size_t)j;
				break;
			}
		}
	}
	char line[1024];
	int off = 0;

	for (size_t i = start; i < len && off < (int)sizeof(line); i++)
		off += snprintf(line + off, sizeof(line) - off, "%s -> ", in[walk[i]]->name);
	if (off < (int)sizeof(line))
		snprintf(line + off, sizeof(line) - off, "%s", in[walk[start]]->name);
	modvm_log(MODVM_LOG_ERROR, NULL, "%s: requires cycle: %s", in[walk[start]]->path, line);
	free(walk);
}

MODVM_INTERNAL int modvm__plugins_order(struct modvm_plugin_ctx *const *in, size_t n,
					struct modvm_plugin_ctx **out)
{
	bool *placed;
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		const char *const *req = in[i]->desc->requires;

		for (size_t k = 0; req && req[k]; k++) {
			if (index_of(in, n, req[k]) < 0) {
				modvm_log(MODVM_LOG_ERROR, NULL,
					  "%s: requires plugin \"%s\", which is not enabled",
					  in[i]->path, req[k]);
				r = -ENOENT;
			}
		}
	}
	if (r < 0 || n == 0)
		return r;
	placed = calloc(n, sizeof(*placed));
	if (!placed)
		return -ENOMEM;
	/* Always take the first ready plugin in input order: dependencies move
	 * up only as far as needed, everything else keeps the config order. */
	for (size_t done = 0; done < n; done++) {
		size_t i = 0;

		while (i < n && (placed[i] || !ready(in, n, i, placed)))
			i++;
		if (i == n) {
			report_cycle(in, n, placed);
			r = -ELOOP;
			break;
		}
		placed[i] = true;
		out[done] = in[i];
	}
	free(placed);
	return r;
}
