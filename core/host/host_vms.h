/*
 * core/host_vms.h — the VMs a config defines: their core options table,
 * validation (unique names, known sub-groups) and the resolved values.
 * The VM runtime (fleet.c) turns them into running VMs.
 */
#ifndef MODVM_CORE_HOST_VMS_H
#define MODVM_CORE_HOST_VMS_H

#include "config/config.h"

struct modvm__vmdefs;

/*
 * Resolves every entry of the config's `vms` list against the core VM
 * options; sub-groups must name enabled plugins.  Reports every problem
 * (one line each) before returning the first error; *out only on success.
 */
MODVM_INTERNAL int modvm__vmdefs_load(const struct modvm__cfgfile *cf,
				      struct modvm__vmdefs **out);
MODVM_INTERNAL void modvm__vmdefs_free(struct modvm__vmdefs *defs);
MODVM_INTERNAL size_t modvm__vmdefs_count(const struct modvm__vmdefs *defs);
/* NULL if @i is out of range. */
MODVM_INTERNAL const char *modvm__vmdefs_name(const struct modvm__vmdefs *defs, size_t i);
MODVM_INTERNAL const struct modvm_config *modvm__vmdefs_config(const struct modvm__vmdefs *defs,
								size_t i);

#endif
