/*
 * core/host/control_status.h — the state behind `modvm ctl SOCKET status`: the
 * feature plugins' standard events, followed from when it is created (only
 * types registered then), and the reply formatted from them (see
 * control.h for the format).  Loop thread only.
 */
#ifndef MODVM_CORE_CONTROL_STATUS_H
#define MODVM_CORE_CONTROL_STATUS_H

#include "plugin/plugin.h"

struct modvm__status;

/* Subscribes to the standard events; NULL without memory. */
MODVM_INTERNAL struct modvm__status *modvm__status_new(const struct modvm__host_view *view);
/* Unsubscribes and frees.  NULL is ignored. */
MODVM_INTERNAL void modvm__status_free(struct modvm__status *st);
/* The whole `status` reply ("ok", a line per VM, host lines) into @out. */
MODVM_INTERNAL void modvm__status_format(struct modvm__status *st, char *out, size_t len);

#endif
