/*
 * The SDK's modvm/sandbox.h: a plugin's declarations go to core/sandbox/
 * under the plugin's name, which is what ties its I/O threads to its own
 * list and drops its declarations at fini.
 */
#include <errno.h>
#include <stdio.h>

#include "plugin/plugin.h"

MODVM_EXPORT int modvm_sandbox_allow(struct modvm_plugin_ctx *ctx, unsigned threads,
				     const char *syscall)
{
	return modvm__sandbox_allow(ctx->name, threads, syscall, -1, 0);
}

MODVM_EXPORT int modvm_sandbox_allow_arg(struct modvm_plugin_ctx *ctx, unsigned threads,
					 const char *syscall, unsigned arg, uint64_t value)
{
	if (arg > 5) {
		modvm_log(MODVM_LOG_ERROR, ctx->name, "sandbox: \"%s\": argument %u: arguments are "
			  "numbered 0-5", syscall ? syscall : "(null)", arg);
		return -EINVAL;
	}
	return modvm__sandbox_allow(ctx->name, threads, syscall, (int)arg, value);
}

MODVM_EXPORT int modvm_sandbox_allow_path(struct modvm_plugin_ctx *ctx, const char *path,
					  unsigned access)
{
	int r = modvm__sandbox_allow_path(ctx->name, path, access);

	if (r == -EINVAL)
		modvm_log(MODVM_LOG_ERROR, ctx->name, "sandbox: path \"%s\": empty, or access 0x%x "
			  "is not MODVM_SANDBOX_READ|WRITE|CREATE", path ? path : "(null)", access);
	else if (r == -EPERM)
		modvm_log(MODVM_LOG_ERROR, ctx->name, "sandbox: path \"%s\" declared after the "
			  "lockdown (declare in init or start)", path);
	return r;
}

MODVM_EXPORT int modvm_sandbox_keep_cap(struct modvm_plugin_ctx *ctx, int cap)
{
	int r = modvm__sandbox_keep_cap(ctx->name, cap);

	if (r == -EINVAL)
		modvm_log(MODVM_LOG_ERROR, ctx->name, "sandbox: %d is not a capability", cap);
	else if (r == -EPERM)
		modvm_log(MODVM_LOG_ERROR, ctx->name, "sandbox: capability %d declared after the "
			  "lockdown (declare in init or start)", cap);
	return r;
}

MODVM_EXPORT void modvm_sandbox_owner(struct modvm_plugin_ctx *ctx, uid_t *uid, gid_t *gid)
{
	(void)ctx;
	modvm__sandbox_owner(uid, gid);
}

MODVM_EXPORT int modvm_thread_create(struct modvm_plugin_ctx *ctx, pthread_t *thread,
				     const char *name, void *(*fn)(void *), void *arg)
{
	if (!thread || !fn)
		return -EINVAL;
	return modvm__thread_spawn(thread, MODVM__TC_IO, ctx->name, name ? name : ctx->name, false,
				   fn, arg);
}
