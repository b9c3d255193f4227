/*
 * core/host/control_status.h — the state behind `modvm ctl SOCKET status`: the
 * feature plugins' standard events, followed from when it is created (only
 * types registered then), and the reply formatted from them (see
 * control.h for the format).  Loop thread only.
 */
#ifndef MODVM_CORE_CONTROL_STATUS_H
#define MODVM_CORE_CONTROL_STATUS_H

#include <stdint.h>

#include "plugin/plugin.h"

struct modvm__status;

/* Subscribes to the standard events; NULL without memory. */
MODVM_INTERNAL struct modvm__status *modvm__status_new(const struct modvm__host_view *view);
/* Unsubscribes and frees.  NULL is ignored. */
MODVM_INTERNAL void modvm__status_free(struct modvm__status *st);
/* The whole `status` reply ("ok", a line per VM, host lines) into @out. */
MODVM_INTERNAL void modvm__status_format(struct modvm__status *st, char *out, size_t len);
/*
 * The same as one JSON object (`status --json`), sizes in bytes:
 *   {"ok": true, "vms": [{"id": 0, "name": "web", "state": "running",
 *     "memory_bytes": N, "guest_bytes": N, "target_bytes": N,
 *     "stats": {"total_bytes": N, …}, "nic": {"uplink": "eth0"|null, "queue": N,
 *     "dedicated": bool, "cpu": N|null}}, …],
 *    "host": {"memory": {"total_bytes": N, "available_bytes": N,
 *     "psi_some_permille": N, "psi_full_permille": N},
 *     "cores": {"seen": N, "parked": N, "busy_permille": N|null}}}
 * Parts never heard of are left out, as in the text.  -ENOSPC (and an
 * {"ok": false, "error": …} reply) if it does not fit in @len.
 */
MODVM_INTERNAL int modvm__status_format_json(struct modvm__status *st, char *out, size_t len);
/* A size as the config writes it: the largest binary unit dividing it ("64M"),
 * to the KiB below (sizes under 1K in bytes). */
MODVM_INTERNAL const char *modvm__size_text(uint64_t bytes, char *buf, size_t len);

#endif
