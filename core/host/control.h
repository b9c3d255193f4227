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
 * Replies start with "ok" or "error: ".  Sizes in every reply are written
 * as the config writes them: the largest binary unit dividing them, to the
 * KiB ("128M", "124875K", "ok target web 64M").  A "--json" word in the line asks for one
 * JSON object instead, sizes in bytes: status as modvm__status_format_json
 * says, balloon {"ok": true, "vm": NAME, "target_bytes": N}, stop
 * {"ok": true, "stopping": true}, errors {"ok": false, "error": "…"}.
 * `modvm ctl SOCKET COMMAND… [--json]` is the client.
 */
#ifndef MODVM_CORE_CONTROL_H
#define MODVM_CORE_CONTROL_H

#include <stdio.h>
#include <sys/types.h>

#include "plugin/plugin.h"

struct modvm__control;

/* ---- where it lives (control_path.c) ---- */

/* $MODVM_RUNTIME_DIR if set (absolute), else /run/modvm. */
MODVM_INTERNAL const char *modvm__runtime_dir(void);
/*
 * The socket host.control_socket = @setting names for config @config:
 * "auto" is RUNTIME/<config name without .conf>.sock, a bare NAME is
 * RUNTIME/NAME (".sock" appended unless there), anything with a '/' is
 * itself.  -ENOENT for "" (no socket), -ENAMETOOLONG past sun_path.
 */
MODVM_INTERNAL int modvm__control_path(const char *setting, const char *config, char *out,
				       size_t len);
/*
 * Whether @path can be ours: its directory writable only by root or us
 * (the runtime directory is created, 0755, unless @dry_run), not another
 * kind of file, not a socket someone listens on (-EADDRINUSE).  A stale
 * socket is removed (unless @dry_run).  -errno with one line in @err.
 */
MODVM_INTERNAL int modvm__control_prepare(const char *path, bool dry_run, char *err,
					  size_t errlen);
/* Binds and listens: the file is 0600, or 0660 and group @group unless
 * that is (gid_t)-1, whatever the umask.  The fd or -errno (@err). */
MODVM_INTERNAL int modvm__control_bind(const char *path, gid_t group, int backlog, char *err,
				       size_t errlen);

/* ---- serving it (control.c) ---- */

/*
 * Listens on @path (prepared as above: a live socket is refused, a stale
 * one replaced) for root, our uid and members of @group (NULL or "": no
 * group).  0 or -errno, logged.
 */
MODVM_INTERNAL int modvm__control_open(const struct modvm__host_view *view, const char *path,
				       const char *group, struct modvm__control **out);
/* The path it listens on; NULL for NULL. */
MODVM_INTERNAL const char *modvm__control_socket_path(const struct modvm__control *ctl);
/* Closes every connection and the socket, removes the path. NULL is ignored. */
MODVM_INTERNAL void modvm__control_close(struct modvm__control *ctl);

/* The client side: sends @line, prints the reply to @out.  0 if it began with
 * "ok" (or {"ok": true), -EINVAL for an error reply, -errno. */
MODVM_INTERNAL int modvm__control_request(const char *path, const char *line, FILE *out);

#endif
