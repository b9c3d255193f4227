/*
 * Which policy governs what.  Policies are plugins like any other; the
 * point of naming one in the config is that two of a kind never act on the
 * same VM (memory) or the same cores (power) against each other: the
 * mechanisms (the balloon device, the parking actions) take orders only
 * from the governor this file names, and the operator's own orders
 * (`modvm ctl … balloon`) from the control socket.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "host/govern.h"

static bool per_vm(int kind)
{
	return kind == MODVM_KIND_MEMORY_POLICY;
}

static const char *host_key(int kind)
{
	return kind == MODVM_KIND_MEMORY_POLICY ? "memory_policy" : "power_policy";
}

/* The text in force for @kind (and VM @vm_id), and the config it comes from. */
static const char *setting(const struct modvm__host_view *view, const struct modvm_config *hc,
			   int kind, unsigned vm_id, const struct modvm_config **from)
{
	*from = NULL;
	if (per_vm(kind)) {
		const struct modvm_config *vc = vm_id < view->vm_count(view->host)
							? view->vm_config(view->host, vm_id)
							: NULL;
		const char *own = vc ? modvm_config_string(vc, "memory_policy") : NULL;

		if (own && *own) {
			*from = vc;
			return own;
		}
	}
	*from = hc;
	return hc ? modvm_config_string(hc, host_key(kind)) : "auto";
}

/*
 * @text resolved against the loaded plugins: 0 with *out (NULL for
 * nobody), -ENOENT (no such plugin), -EINVAL (another kind) or -EEXIST
 * ("auto" with several), with what went wrong in @err.
 */
static int resolve(const struct modvm__host_view *view, int kind, const char *text,
		   const char **out, char *err, size_t errlen)
{
	size_t n = view->plugin_count(view->host), found = 0;
	char names[256] = "";

	*out = NULL;
	if (!text || !strcmp(text, "none") || !strcmp(text, "manual"))
		return 0;
	for (size_t i = 0; i < n; i++) {
		struct modvm_plugin_ctx *p = view->plugin(view->host, i);

		if ((int)p->desc->kind == kind) {
			size_t len = strlen(names);

			snprintf(names + len, sizeof(names) - len, "%s%s", len ? ", " : "", p->name);
			found++;
			if (!strcmp(text, "auto"))
				*out = p->name;
		}
		if (strcmp(text, "auto") && !strcmp(p->name, text)) {
			if ((int)p->desc->kind != kind) {
				snprintf(err, errlen, "plugin %s is a %s plugin, not a %s", text,
					 modvm_plugin_kind_name((int)p->desc->kind),
					 modvm_plugin_kind_name(kind));
				return -EINVAL;
			}
			*out = p->name;
			return 0;
		}
	}
	if (!strcmp(text, "auto")) {
		if (found <= 1)
			return 0;
		*out = NULL;
		snprintf(err, errlen, "several %s plugins are enabled (%s): name the one that governs",
			 modvm_plugin_kind_name(kind), names);
		return -EEXIST;
	}
	snprintf(err, errlen, "no enabled %s plugin is named \"%s\" (enabled: %s; or \"none\")",
		 modvm_plugin_kind_name(kind), text, found ? names : "none");
	return -ENOENT;
}

MODVM_INTERNAL const char *modvm__governor(const struct modvm__host_view *view,
					   const struct modvm_config *hc, int kind,
					   unsigned vm_id)
{
	const struct modvm_config *from;
	const char *who = NULL;
	char err[8];

	if (kind != MODVM_KIND_MEMORY_POLICY && kind != MODVM_KIND_POWER_POLICY)
		return NULL;
	if (per_vm(kind) && vm_id >= view->vm_count(view->host))
		return NULL;
	if (resolve(view, kind, setting(view, hc, kind, vm_id, &from), &who, err, sizeof(err)) < 0)
		return NULL;
	return who;
}

static int check_one(const struct modvm__host_view *view, int kind, const char *text,
		     const struct modvm_config *from, const char *key, const char *vm)
{
	const char *who;
	char err[320];
	int r = resolve(view, kind, text, &who, err, sizeof(err));

	if (r == 0)
		return 0;
	modvm_log(MODVM_LOG_ERROR, NULL, "%s: %s%s%s = \"%s\": %s",
		  from ? modvm_config_where(from, key) : "(default)", vm ? "vm " : "host.",
		  vm ? vm : "", vm ? ": memory_policy" : key, text, err);
	return r;
}

MODVM_INTERNAL int modvm__governor_check(const struct modvm__host_view *view,
					 const struct modvm_config *hc)
{
	const char *host_mem = hc ? modvm_config_string(hc, "memory_policy") : "auto";
	const char *host_pow = hc ? modvm_config_string(hc, "power_policy") : "auto";
	bool host_mem_used = strcmp(host_mem, "auto") != 0;
	int r = 0, e;

	e = check_one(view, MODVM_KIND_POWER_POLICY, host_pow, hc, "power_policy", NULL);
	r = r ? r : e;
	for (unsigned i = 0; i < view->vm_count(view->host); i++) {
		const struct modvm_config *from;
		const char *text = setting(view, hc, MODVM_KIND_MEMORY_POLICY, i, &from);

		if (from == hc) {
			host_mem_used = true;	/* checked once, below */
			continue;
		}
		e = check_one(view, MODVM_KIND_MEMORY_POLICY, text, from, "memory_policy",
			      view->vm_name(view->host, i));
		r = r ? r : e;
	}
	if (host_mem_used) {
		e = check_one(view, MODVM_KIND_MEMORY_POLICY, host_mem, hc, "memory_policy", NULL);
		r = r ? r : e;
	}
	return r;
}
