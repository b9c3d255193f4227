/*
 * What a plugin reaches through its context.
 *
 * The context is the loader's own record of the plugin (plugin.h), so every
 * accessor is a field read or a call through the host's view; the only
 * logic is interface lookup and keeping the bus owner right while plugin
 * code runs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <errno.h>

#include "plugin/plugin.h"

/* Which plugin's code this thread is running, for nested calls. */
static _Thread_local struct modvm_plugin_ctx *current;

MODVM_INTERNAL struct modvm_plugin_ctx *modvm__plugin_enter(struct modvm_plugin_ctx *p)
{
	struct modvm_plugin_ctx *prev = current;

	current = p;
	modvm__bus_set_owner(p ? p->name : NULL);
	return prev;
}

MODVM_INTERNAL void modvm__plugin_leave(struct modvm_plugin_ctx *prev)
{
	current = prev;
	modvm__bus_set_owner(prev ? prev->name : NULL);
}

MODVM_EXPORT const char *modvm_plugin_kind_name(int kind)
{
	static const char *const names[] = {
		[MODVM_KIND_OTHER] = "other",
		[MODVM_KIND_CPU_BACKEND] = "cpu-backend",
		[MODVM_KIND_NET] = "net",
		[MODVM_KIND_MEMORY_POLICY] = "memory-policy",
		[MODVM_KIND_POWER_POLICY] = "power-policy",
		[MODVM_KIND_DEVICE] = "device",
		[MODVM_KIND_NIC_DRIVER] = "nic-driver",
	};

	if (kind < 0 || (size_t)kind >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[kind];
}

MODVM_EXPORT const char *modvm_plugin_name(const struct modvm_plugin_ctx *ctx)
{
	return ctx->name;
}

MODVM_EXPORT struct modvm_bus *modvm_plugin_bus(struct modvm_plugin_ctx *ctx)
{
	return ctx->view->bus;
}

MODVM_EXPORT struct modvm_loop *modvm_plugin_loop(struct modvm_plugin_ctx *ctx)
{
	return ctx->view->loop;
}

MODVM_EXPORT const struct modvm_config *modvm_plugin_config(struct modvm_plugin_ctx *ctx)
{
	return ctx->cfg;
}

MODVM_EXPORT void modvm_plugin_set_data(struct modvm_plugin_ctx *ctx, void *data)
{
	ctx->data = data;
}

MODVM_EXPORT void *modvm_plugin_data(struct modvm_plugin_ctx *ctx)
{
	return ctx->data;
}

MODVM_EXPORT void modvm_plugin_log(struct modvm_plugin_ctx *ctx, enum modvm_log_level level,
				   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	modvm_logv(level, ctx->name, fmt, ap);
	va_end(ap);
}

MODVM_EXPORT unsigned modvm_plugin_vm_count(struct modvm_plugin_ctx *ctx)
{
	return (unsigned)ctx->view->vm_count(ctx->view->host);
}

MODVM_EXPORT const char *modvm_plugin_vm_name(struct modvm_plugin_ctx *ctx, unsigned vm_id)
{
	return ctx->view->vm_name(ctx->view->host, vm_id);
}

MODVM_EXPORT const struct modvm_config *modvm_plugin_vm_config(struct modvm_plugin_ctx *ctx,
								unsigned vm_id)
{
	if (vm_id >= ctx->vm_cfg_count)
		return NULL;
	return ctx->vm_cfg[vm_id];
}

MODVM_EXPORT const void *modvm_plugin_query(struct modvm_plugin_ctx *ctx, const char *id,
					    const char **provider)
{
	const struct modvm__host_view *view = ctx->view;
	const void *vt;

	if (!id)
		return NULL;
	vt = view->core_interface(view->host, id);
	if (vt) {
		if (provider)
			*provider = "core";
		return vt;
	}
	/* Only initialised plugins answer: get_interface is valid between init
	 * and fini, and a half-loaded plugin has nothing to offer yet. */
	for (size_t i = 0; i < view->plugin_count(view->host); i++) {
		struct modvm_plugin_ctx *p = view->plugin(view->host, i);

		if (p == ctx || !p->inited || !p->desc->get_interface)
			continue;
		struct modvm_plugin_ctx *prev = modvm__plugin_enter(p);

		vt = p->desc->get_interface(p, id);
		modvm__plugin_leave(prev);
		if (vt) {
			if (provider)
				*provider = p->name;
			return vt;
		}
	}
	return NULL;
}

MODVM_INTERNAL const void *modvm__view_query_each(const struct modvm__host_view *view,
						 const struct modvm_plugin_ctx *self, const char *id,
						 size_t *cursor, struct modvm_plugin_ctx **provider)
{
	const void *vt;

	if (provider)
		*provider = NULL;
	if (!view || !id || !cursor)
		return NULL;
	/* Position 0 is the core; plugin i is position i + 1. */
	if (*cursor == 0) {
		(*cursor)++;
		vt = view->core_interface(view->host, id);
		if (vt)
			return vt;
	}
	for (; *cursor - 1 < view->plugin_count(view->host); (*cursor)++) {
		struct modvm_plugin_ctx *p = view->plugin(view->host, *cursor - 1);

		if (p == self || !p->inited || !p->desc->get_interface)
			continue;
		struct modvm_plugin_ctx *prev = modvm__plugin_enter(p);

		vt = p->desc->get_interface(p, id);
		modvm__plugin_leave(prev);
		if (vt) {
			(*cursor)++;
			if (provider)
				*provider = p;
			return vt;
		}
	}
	return NULL;
}

MODVM_EXPORT const void *modvm_plugin_query_each(struct modvm_plugin_ctx *ctx, const char *id,
						 size_t *cursor,
						 struct modvm_plugin_ctx **provider)
{
	return modvm__view_query_each(ctx ? ctx->view : NULL, ctx, id, cursor, provider);
}

MODVM_EXPORT struct modvm_vm *modvm_plugin_vm(struct modvm_plugin_ctx *ctx, unsigned vm_id)
{
	return ctx ? ctx->view->vm(ctx->view->host, vm_id) : NULL;
}

MODVM_EXPORT const char *modvm_plugin_governor(struct modvm_plugin_ctx *ctx, int kind,
					       unsigned vm_id)
{
	if (!ctx || !ctx->view->governor)
		return NULL;
	return ctx->view->governor(ctx->view->host, kind, vm_id);
}

MODVM_EXPORT bool modvm_plugin_governs(struct modvm_plugin_ctx *ctx, unsigned vm_id)
{
	int kind = ctx ? (int)ctx->desc->kind : -1;
	const char *who;

	if (kind != MODVM_KIND_MEMORY_POLICY && kind != MODVM_KIND_POWER_POLICY)
		return false;
	who = modvm_plugin_governor(ctx, kind, vm_id);
	return who && strcmp(who, ctx->name) == 0;
}

MODVM_EXPORT int modvm_plugin_set_vm_hooks(struct modvm_plugin_ctx *ctx,
					   const struct modvm_vm_hooks *hooks, void *ud)
{
	if (!ctx || (hooks && hooks->struct_size < sizeof(*hooks)))
		return -EINVAL;
	ctx->vm_hooks = hooks;
	ctx->vm_hooks_ud = ud;
	return 0;
}

MODVM_INTERNAL void modvm__plugin_guard(const struct modvm_plugin_ctx *p, const char *what)
{
	char text[128];
	double timeout = p->view && p->view->plugin_timeout_s > 0 ? p->view->plugin_timeout_s : 30;

	snprintf(text, sizeof(text), "plugin %s: %s", p->name, what);
	modvm__watchdog_arm(text, timeout, MODVM__STOP_GRACE_S);
}
