/*
 * core/host/govern.h — which policy plugin governs what (govern.c): the
 * operator names one memory policy per VM (`memory_policy`, else
 * `host.memory_policy`) and one power policy for the host
 * (`host.power_policy`); "auto" is the one enabled plugin of the kind,
 * "none" (or "manual") nobody.  Plugins ask through
 * modvm_plugin_governor(); `check` and `run` refuse a setting that names
 * no enabled plugin of the kind, or an "auto" with several to choose from.
 */
#ifndef MODVM_CORE_HOST_GOVERN_H
#define MODVM_CORE_HOST_GOVERN_H

#include "plugin/plugin.h"

/*
 * The name of the loaded plugin that governs @kind (MODVM_KIND_MEMORY_POLICY
 * for VM @vm_id, MODVM_KIND_POWER_POLICY for the host), or NULL for nobody
 * (also when the setting is one check refuses).  @hc: the host options, NULL
 * for a host without a config (every setting "auto").
 */
MODVM_INTERNAL const char *modvm__governor(const struct modvm__host_view *view,
					   const struct modvm_config *hc, int kind,
					   unsigned vm_id);

/* Logs (file:line) every setting that names no fitting plugin; the first error or 0. */
MODVM_INTERNAL int modvm__governor_check(const struct modvm__host_view *view,
					 const struct modvm_config *hc);

#endif
