/*
 * core/host/control.h — the operator's control socket: a Unix stream socket
 * served on the loop thread, one text command per connection, one reply.
 *
 *   status               "ok", then per VM "ID NAME STATE memory SIZE" plus
 *                        " guest SIZE target SIZE" (mem.balloon_actual/_target)
 *                        and indented "  stats …" (mem.guest_stats) and
 *                        "  nic uplink IF queue N dedicated|tap-queue cpu C"
 *                        (net.queue_assigned) lines; then "host memory …"
 *                        (host.mem_pressure) and "host cores N parked P busy X%"
 *                        (power.core_state, host.cpu_load).  Only event types
 *                        registered when the socket opens (their plugin loaded)
 *                        are followed; parts never heard of are left out.
 *   balloon VM SIZE      publishes mem.balloon_target for VM (name or id),
 *                        source "operator"; SIZE like "512M"
 *   stop                 stops modvm as SIGTERM would
 *
 * Replies start with "ok" or "error: ". `modvm ctl SOCKET COMMAND…` is the
 * client.
 */
#ifndef MODVM_CORE_CONTROL_H
#define MODVM_CORE_CONTROL_H

#include "plugin/plugin.h"

struct modvm__control;

/* Listens on @path (a stale socket there is replaced). 0 or -errno, logged. */
MODVM_INTERNAL int modvm__control_open(const struct modvm__host_view *view, const char *path,
				       struct modvm__control **out);
/* Closes every connection and the socket, removes the path. NULL is ignored. */
MODVM_INTERNAL void modvm__control_close(struct modvm__control *ctl);

/* The client side: sends @line, prints the reply to @out. 0 if it began with "ok". */
MODVM_INTERNAL int modvm__control_request(const char *path, const char *line, FILE *out);

#endif
