/*
 * core/host/host_impl.h — the host's own record, shared by host.c (the
 * host, its config, VMs and run) and host_plugins.c (its plugins' loading
 * and lifecycle).  Private to those two files: the rest of core/ uses
 * host.h, and what plugins, the fleet and the control socket read goes
 * through struct modvm__host_view.
 */
#ifndef MODVM_CORE_HOST_IMPL_H
#define MODVM_CORE_HOST_IMPL_H

#include "host/host.h"
#include "sandbox/sandbox.h"

struct host_iface {
	char *id;
	const void *vtable;
};

struct modvm_host {
	struct modvm__host_view view;	/* what plugins, fleet and control read */
	struct modvm_loop *loop;
	struct modvm_bus *bus;
	struct modvm__cfgfile *cf;
	struct modvm_config *cfg;	/* host options */
	struct modvm__vmdefs *vms;	/* the config's VMs (host_vms.c) */
	size_t vm_count;		/* modvm__vmdefs_count(vms), for the plugin tables */
	char **extra_dirs;
	size_t extra_dir_count;
	struct modvm_plugin_ctx **plugins;	/* load order */
	struct modvm_plugin_ctx **order;	/* init order, valid if ordered */
	size_t plugin_count;
	bool ordered;
	struct host_iface *ifaces;
	size_t iface_count;
	bool log_forced;
	const char *user_forced;	/* --user, over host.user (not owned) */
	const char *group_forced;	/* --group, over host.group */
	bool started;
	struct modvm__fleet *fleet;	/* the VMs, once launched */
	struct modvm__control *control;	/* host.control_socket, while running */
	int claim_fd;			/* flock on the config: one modvm per config */
};

/* NULL-safe, so every cleanup path can call it unconditionally. */
static inline void modvm__host_cfg_free(struct modvm_config *cfg)
{
	if (cfg)
		modvm__config_free(cfg);
}

/* host_sandbox.c: the paths the config names, then the lockdown as
 * host.sandbox, host.user and host.group say.  0 or -errno (logged). */
int modvm__host_lockdown(struct modvm_host *host);

/* host_plugins.c: stop (reverse init order), fini (the same), free every record. */
void modvm__host_stop_plugins(struct modvm_host *host);
void modvm__host_fini_plugins(struct modvm_host *host);
void modvm__host_free_plugins(struct modvm_host *host);

/* Who to run as, and where that was said: --user/--group over host.user/host.group. */
MODVM_INTERNAL void modvm__host_sandbox_who(const struct modvm_host *host,
					    struct modvm__sandbox_config *sc);

#endif
