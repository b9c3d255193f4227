/*
 * Drives one plugin the way the host does, one callback at a time, so the
 * checks can put the calls in any order the ABI allows and time each one.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/cpu.h>

#include "host/host.h"
#include "conform.h"

static char last_log[512];

/* Keeps the loader's own refusal line for the check's detail. */
static void sink(enum modvm_log_level level, const char *line, void *ud)
{
	const char *why = strstr(line, ".so: ");

	(void)ud;
	if (conform_verbose)	/* -v: every line, the plugin's own included */
		fprintf(stderr, "%s\n", line);
	/* "modvm: error: /abs/path/x.so: why" -> "why": the path is known. */
	if (level <= MODVM_LOG_WARN)
		snprintf(last_log, sizeof(last_log), "%s", why ? why + 5 : line);
}

const char *harness_last_log(void)
{
	return last_log;
}

enum verdict conform_raw_desc(const struct conform_opts *o, const struct modvm_plugin **desc,
			      char *detail, size_t n)
{
	char sym[64];
	void *h = dlopen(o->plugin, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		const char *why = dlerror();

		snprintf(detail, n, "not loadable: %s", why ? why : "unknown error");
		return V_SKIP;
	}
	snprintf(sym, sizeof(sym), MODVM_PLUGIN_SYMBOL_NAME "%d", MODVM_ABI_MAJOR);
	*desc = dlsym(h, sym);
	if (!*desc) {
		snprintf(detail, n, "no %s descriptor", sym);
		return V_SKIP;
	}
	/* Deliberately never dlclosed: the child exits right after the check. */
	return V_PASS;
}

/* One callback bracketed like the host does it: the plugin owns the bus calls. */
static int ctx_init(struct modvm_host *host, struct modvm_plugin_ctx *p)
{
	struct modvm_plugin_ctx *prev;
	int r = 0;

	if (p->desc->init) {
		conform_doing(p->name, "init");
		prev = modvm__plugin_enter(p);
		r = p->desc->init(p);
		modvm__plugin_leave(prev);
		conform_doing(NULL, NULL);
	}
	if (r < 0)
		modvm__bus_unsubscribe_owner(modvm__host_bus(host), p->name);
	else
		p->inited = true;
	return r;
}

static void ctx_fini(struct modvm_host *host, struct modvm_plugin_ctx *p)
{
	struct modvm_plugin_ctx *prev;

	if (p->desc->fini) {
		conform_doing(p->name, "fini");
		prev = modvm__plugin_enter(p);
		p->desc->fini(p);
		modvm__plugin_leave(prev);
		conform_doing(NULL, NULL);
	}
	modvm__bus_unsubscribe_owner(modvm__host_bus(host), p->name);
	p->inited = false;
	p->data = NULL;
	p->vm_hooks = NULL;
	p->vm_hooks_ud = NULL;
}

/*
 * Loads what the plugin `requires` (transitively: the list grows while we
 * walk it), from the plugin's own directory first, then the search path.
 */
static enum verdict load_requires(struct harness *h, char *detail, size_t n)
{
	for (size_t i = 0; i < modvm__host_plugin_count(h->host); i++) {
		const struct modvm_plugin *d = modvm__host_plugin(h->host, i)->desc;

		for (size_t k = 0; d->requires && d->requires[k]; k++) {
			if (modvm__host_plugin_by_name(h->host, d->requires[k]))
				continue;
			if (modvm__host_load_one(h->host, d->requires[k], NULL) < 0) {
				snprintf(detail, n, "requires \"%s\", which cannot be loaded: %s",
					 d->requires[k], last_log);
				return V_SKIP;
			}
		}
	}
	return V_PASS;
}

/* Brings every dependency up (init, in `requires` order) around the plugin. */
static enum verdict init_requires(struct harness *h, char *detail, size_t n)
{
	size_t count = modvm__host_plugin_count(h->host);
	struct modvm_plugin_ctx **in = calloc(count, sizeof(*in));
	int r;

	h->deps = calloc(count, sizeof(*h->deps));
	if (!in || !h->deps) {
		free(in);
		snprintf(detail, n, "out of memory");
		return V_FAIL;
	}
	for (size_t i = 0; i < count; i++)
		in[i] = modvm__host_plugin(h->host, i);
	r = modvm__plugins_order(in, count, h->deps);
	free(in);
	if (r < 0) {
		snprintf(detail, n, "requires cannot be ordered: %s", last_log);
		return V_SKIP;
	}
	for (size_t i = 0; i < count; i++) {
		if (h->deps[i] == h->ctx)
			continue;
		r = ctx_init(h->host, h->deps[i]);
		if (r < 0) {
			snprintf(detail, n, "required plugin %s failed init: %s", h->deps[i]->name,
				 modvm_strerror(r));
			return V_SKIP;
		}
		h->n_deps = i + 1;
	}
	return V_PASS;
}

enum verdict harness_open(struct harness *h, const struct conform_opts *o, char *detail,
			  size_t n)
{
	const char *slash = strrchr(o->plugin, '/');
	char dir[4096];
	enum verdict v;
	int r;

	memset(h, 0, sizeof(*h));
	modvm_log_set_sink(sink, NULL);
	h->host = modvm__host_new();
	if (!h->host) {
		snprintf(detail, n, "cannot create a host");
		return V_FAIL;
	}
	if (conform_verbose)	/* the plugin's info lines too, whatever a config says */
		modvm__host_force_log_level(h->host, MODVM_LOG_DEBUG);
	if (o->config && (r = modvm__host_load_config(h->host, o->config)) < 0) {
		snprintf(detail, n, "config refused: %s", last_log);
		return V_FAIL;
	}
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - o->plugin) : 1,
		 slash ? o->plugin : ".");
	modvm__host_add_plugin_dir(h->host, dir);
	r = modvm__host_load_one(h->host, o->plugin, &h->ctx);
	if (r < 0) {
		snprintf(detail, n, "loader refused it: %s", last_log);
		return V_SKIP;
	}
	h->desc = h->ctx->desc;
	v = load_requires(h, detail, n);
	return v == V_PASS ? init_requires(h, detail, n) : v;
}

void harness_close(struct harness *h)
{
	if (h->ctx && h->ctx->inited)
		harness_fini(h);
	for (size_t i = h->n_deps; i-- > 0;)
		if (h->deps[i]->inited)
			ctx_fini(h->host, h->deps[i]);
	free(h->deps);
	modvm__host_free(h->host);
	memset(h, 0, sizeof(*h));
}

int harness_init(struct harness *h)
{
	return ctx_init(h->host, h->ctx);
}

int harness_start(struct harness *h)
{
	struct modvm_plugin_ctx *prev;
	int r = 0;

	if (h->desc->start) {
		conform_doing(h->ctx->name, "start");
		prev = modvm__plugin_enter(h->ctx);
		r = h->desc->start(h->ctx);
		modvm__plugin_leave(prev);
		conform_doing(NULL, NULL);
	}
	h->ctx->started = r >= 0;
	return r;
}

void harness_stop(struct harness *h)
{
	struct modvm_plugin_ctx *prev;

	if (h->desc->stop) {
		conform_doing(h->ctx->name, "stop");
		prev = modvm__plugin_enter(h->ctx);
		h->desc->stop(h->ctx);
		modvm__plugin_leave(prev);
		conform_doing(NULL, NULL);
	}
	h->ctx->started = false;
	/* Deliver what stop queued while the plugin still listens. */
	modvm__loop_run_once(modvm__host_loop(h->host));
	modvm__bus_drain(modvm__host_bus(h->host));
}

void harness_fini(struct harness *h)
{
	ctx_fini(h->host, h->ctx);
}

const void *harness_get_interface(struct harness *h, const char *id)
{
	struct modvm_plugin_ctx *prev;
	const void *v;

	if (!h->desc->get_interface)
		return NULL;
	prev = modvm__plugin_enter(h->ctx);
	v = h->desc->get_interface(h->ctx, id);
	modvm__plugin_leave(prev);
	return v;
}

enum verdict harness_open_cpu_backend(struct harness *h, const struct conform_opts *o,
				      const struct modvm_cpu_backend **be, char *detail, size_t n)
{
	enum verdict v = harness_open(h, o, detail, n);
	int r;

	if (v != V_PASS)
		return v;
	if (h->desc->kind != MODVM_KIND_CPU_BACKEND) {
		harness_close(h);
		snprintf(detail, n, "not a cpu-backend plugin");
		return V_SKIP;
	}
	if ((r = harness_init(h)) < 0) {
		snprintf(detail, n, "init failed: %s", modvm_strerror(r));
		harness_close(h);
		return V_FAIL;
	}
	*be = harness_get_interface(h, MODVM_CPU_BACKEND_IFACE);
	if (!*be || (*be)->struct_size < offsetof(struct modvm_cpu_backend, probe) + sizeof(void *) ||
	    !(*be)->probe) {
		snprintf(detail, n, "cpu-backend plugin without a usable %s", MODVM_CPU_BACKEND_IFACE);
		harness_close(h);
		return V_FAIL;
	}
	return V_PASS;
}
