/*
 * core/host/host_check.h — what `run` would refuse, found by `check`
 * (host_check.c): guest memory against the host's RAM, the kernel, initrd
 * and console files, the CPU backend named, the control socket and group.
 */
#ifndef MODVM_CORE_HOST_CHECK_H
#define MODVM_CORE_HOST_CHECK_H

#include "plugin/plugin.h"

/*
 * Checks the host options @hc of config file @config and the VMs and
 * plugins of @view.  Logs every problem (one line, file:line) and returns
 * the first error, or 0.  Opens files, creates nothing.
 */
MODVM_INTERNAL int modvm__host_check(const struct modvm__host_view *view,
				     const struct modvm_config *hc, const char *config);

#endif
