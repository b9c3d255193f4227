/*
 * core/plugin/ — plugins as files and as contexts: finding, dlopen-ing and
 * checking a plugin's descriptor, ordering plugins by `requires`
 * (loader.c), and everything a plugin reaches through its context
 * (plugin_ctx.c).  Uses base/, event/ and config/; it knows the host only
 * through struct modvm__host_view, which the host (host/) fills in, so
 * host/ sits above plugin/ and never the other way round.
 */
#ifndef MODVM_CORE_PLUGIN_H
#define MODVM_CORE_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>

#include <modvm/plugin.h>

#include "config/config.h"
#include "event/event.h"
#include "sandbox/sandbox.h"

struct modvm_vm;
struct modvm_plugin_ctx;

/*
 * What plugin contexts, the fleet and the control socket read of the host:
 * a narrow view the host fills in and owns.  Every callback gets @host
 * back and runs on the loop thread.
 */
struct modvm__host_view {
	struct modvm_bus *bus;
	struct modvm_loop *loop;
	void *host;
	/* The VMs the config defines (vm_id = index), their names and options. */
	size_t (*vm_count)(void *host);
	const char *(*vm_name)(void *host, size_t vm_id);
	const struct modvm_config *(*vm_config)(void *host, size_t vm_id);
	/* The VM of config entry @vm_id while it runs (created, not yet freed). */
	struct modvm_vm *(*vm)(void *host, unsigned vm_id);
	/* How it ended once freed: MODVM_VM_STOPPED, MODVM_VM_FAILED; else 0. */
	int (*vm_ended)(void *host, unsigned vm_id);
	/* The loaded plugins, in load order. */
	size_t (*plugin_count)(void *host);
	struct modvm_plugin_ctx *(*plugin)(void *host, size_t i);
	/* An interface the core itself provides, or NULL. */
	const void *(*core_interface)(void *host, const char *id);
	/* The plugin governing @kind (for VM @vm_id, for per-VM kinds), or
	 * NULL for nobody: host/govern.c (modvm_plugin_governor). */
	const char *(*governor)(void *host, int kind, unsigned vm_id);
	/* host.plugin_timeout: the watchdog's deadline on each call into a
	 * plugin's lifecycle or VM hooks (event/watchdog.c). */
	double plugin_timeout_s;
};

/* After a stop signal, a plugin call still running gets this long. */
#define MODVM__STOP_GRACE_S 3.0

/* modvm_plugin_query_each over @view, for the core too (@self NULL):
 * position 0 is the core's own interface, plugin i is i + 1. */
MODVM_INTERNAL const void *modvm__view_query_each(const struct modvm__host_view *view,
						 const struct modvm_plugin_ctx *self, const char *id,
						 size_t *cursor, struct modvm_plugin_ctx **provider);

/* Arms the watchdog (event/event.h) for "plugin NAME: WHAT". */
MODVM_INTERNAL void modvm__plugin_guard(const struct modvm_plugin_ctx *p, const char *what);

/*
 * One loaded plugin.  The SDK's opaque struct modvm_plugin_ctx is this
 * record, so the accessors in plugin_ctx.c need no lookup.
 */
struct modvm_plugin_ctx {
	const struct modvm__host_view *view;	/* the host that loaded it */
	char *path;			/* absolute path of the .so */
	char *name;			/* our copy: valid after dlclose, used as bus owner */
	void *handle;			/* dlopen handle */
	const struct modvm_plugin *desc;
	struct modvm_config *cfg;	/* validated options, never NULL once loaded */
	struct modvm_config **vm_cfg;	/* one per VM of the host; NULL entries allowed */
	size_t vm_cfg_count;
	void *data;			/* modvm_plugin_set_data */
	const struct modvm_vm_hooks *vm_hooks;	/* modvm_plugin_set_vm_hooks, reset at fini */
	void *vm_hooks_ud;
	bool inited, started;
};

/* ---- loader.c: files, descriptors, ordering ---- */

/*
 * Builds the plugin search path: @extra (e.g. `--path` dirs), then the
 * config's plugins.path (@cf may be NULL), then $MODVM_PLUGIN_PATH
 * (colon-separated), then MODVM_PLUGINDIR.  *out is NULL-terminated; free it
 * with modvm__strv_free.  0 or -ENOMEM.
 */
MODVM_INTERNAL int modvm__plugin_search_path(const char *const *extra, size_t n_extra,
					     const struct modvm__cfgfile *cf, char ***out);
MODVM_INTERNAL void modvm__strv_free(char **strv);
/* MODVM_PLUGINDIR, the last directory searched. */
MODVM_INTERNAL const char *modvm__plugin_install_dir(void);
/* "a:b:c", for messages. Caller frees; NULL on allocation failure. */
MODVM_INTERNAL char *modvm__strv_join(char *const *strv, const char *sep);

/* Finds NAME.so in @dirs; *path_out is malloc'd. -ENOENT (not logged). */
MODVM_INTERNAL int modvm__plugin_find(char *const *dirs, const char *name, char **path_out);

/*
 * dlopens @path and checks its descriptor: entry symbol, ABI major/minor,
 * struct_size, name (non-empty, equal to the file name), kind, requires
 * entries, declared events and both option tables.  A refusal is logged at
 * @level as one line "PATH: why" and returns a negative errno.  PATH is
 * absolute, its directory resolved, its file name kept (a symlinked
 * NAME.so is still NAME).  On success *real_path (that PATH, malloc'd),
 * *handle and *desc are set; close with modvm__plugin_close.
 */
MODVM_INTERNAL int modvm__plugin_open(const char *path, enum modvm_log_level level,
				      char **real_path, void **handle,
				      const struct modvm_plugin **desc);
MODVM_INTERNAL void modvm__plugin_close(void *handle);

/* ---- descriptor.c: reading a descriptor safely ---- */

/*
 * The exported descriptor @d is an object (not a function) of at least
 * the ABI 1.0 size, and its struct_size claims no more than the object
 * has.  Before any other field is read.  0 or -ENOEXEC (logged at @level).
 */
MODVM_INTERNAL int modvm__plugin_check_object(const struct modvm_plugin *d, const char *path,
					      enum modvm_log_level level);
/*
 * Every pointer of @d (strings, requires, events, option tables and their
 * strings) lies in a readable segment of the plugin @handle (or of
 * libmodvm), every string ends inside it, every function pointer is in
 * the plugin's code.  After the ABI checks, before the contents.
 */
MODVM_INTERNAL int modvm__plugin_check_pointers(void *handle, const struct modvm_plugin *d,
						const char *path, enum modvm_log_level level);

/*
 * Orders @in (n plugins, in config/load order) so that each comes after
 * everything it requires, keeping the input order where `requires` allows.
 * Logs every unmet `requires` ("PATH: requires plugin "X", which is not
 * enabled", -ENOENT) or one cycle ("PATH: requires cycle: a -> b -> a",
 * -ELOOP).  @out has room for n entries.
 */
MODVM_INTERNAL int modvm__plugins_order(struct modvm_plugin_ctx *const *in, size_t n,
					struct modvm_plugin_ctx **out);

/* ---- plugin_ctx.c ---- */

/*
 * Brackets every call into plugin code: makes @p the bus owner of this
 * thread (NULL = "core") and returns the previous one, which the caller
 * hands back to modvm__plugin_leave.  Nests (a plugin's init may query
 * another plugin's interface).
 */
MODVM_INTERNAL struct modvm_plugin_ctx *modvm__plugin_enter(struct modvm_plugin_ctx *p);
MODVM_INTERNAL void modvm__plugin_leave(struct modvm_plugin_ctx *prev);

#endif
