/*
 * The control socket.  Commands are tiny and answered at once, so each
 * connection is read on the loop thread until its first newline (bounded),
 * answered and closed: no state survives a connection.  Hostile clients
 * are bounded too (issue 17): only root, our uid and the control group
 * get in (file mode and SO_PEERCRED), at most CONN_MAX connections are
 * open (the oldest makes room), one that stays silent is closed after
 * CONN_IDLE_S, and running out of descriptors drops connections instead
 * of spinning the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <modvm/balloon.h>
#include <modvm/config.h>
#include <modvm/events.h>
#include <modvm/vm.h>

#include "host/control.h"
#include "host/control_status.h"
#include "event/event.h"
#include "plugin/plugin.h"
#include "sandbox/sandbox.h"

#define LINE_MAX_BYTES 512
#define REPLY_MAX_BYTES 65536	/* a status of ~200 VMs; JSON is never cut */
#define CONN_MAX 16		/* open connections; the oldest makes room */
#define CONN_IDLE_S 5.0		/* a connection that sends no command is closed */
#define BACKLOG 64
#define CLIENT_TIMEOUT_S 10	/* `modvm ctl` gives up on a silent modvm */
#define RESUME_S 0.1		/* listening pauses this long when no fd is left */

struct conn {
	struct modvm__control *ctl;
	struct modvm_io *io;
	struct modvm_timer *idle;
	int fd;
	size_t len;
	char buf[LINE_MAX_BYTES];
	struct conn *next;
};

struct modvm__control {
	const struct modvm__host_view *view;
	int fd;
	struct modvm_io *io;		/* NULL while paused (no fd left) */
	struct modvm_timer *resume;
	int reserve_fd;			/* given up to drop a connection at EMFILE */
	bool fd_shortage;		/* logged; cleared by the next accept */
	char *path;
	gid_t group;			/* host.control_group, or -1 */
	char group_name[64];
	double refused_at;		/* last refusal logged (loop time) */
	struct conn *conns;		/* newest first */
	unsigned nconns;
	struct modvm__status *status;	/* what the features reported, for `status` */
};

static long find_vm(const struct modvm__host_view *view, const char *what)
{
	char *end;
	long id = strtol(what, &end, 10);
	size_t n = view->vm_count(view->host);
	if (*what && !*end && id >= 0 && (size_t)id < n)
		return id;
	for (size_t i = 0; i < n; i++)
		if (strcmp(view->vm_name(view->host, i), what) == 0)
			return (long)i;
	return -1;
}


/* An error reply, as text ("error: …") or JSON ({"ok": false, "error": "…"}). */
MODVM_PRINTF(4, 5) static void reply_error(bool json, char *out, size_t len, const char *fmt, ...)
{
	char msg[512], *o = out;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!json) {
		snprintf(out, len, "error: %s\n", msg);
		return;
	}
	/* VM names and sizes a client typed end up here: escape for JSON. */
	size_t room = len, n = (size_t)snprintf(o, room, "{\"ok\": false, \"error\": \"");
	for (const char *m = msg; *m && n + 8 < room; m++) {
		unsigned char c = (unsigned char)*m;

		if (c == '"' || c == '\\')
			n += (size_t)snprintf(o + n, room - n, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			n += (size_t)snprintf(o + n, room - n, "\\u%04x", c);
		else
			o[n++] = (char)c;
	}
	snprintf(o + n, room - n, "\"}\n");
}

/* The balloon mechanism ("modvm.balloon/1") a plugin provides, or NULL. */
static const struct modvm_balloon *find_balloon(const struct modvm__host_view *view,
						struct modvm_plugin_ctx **owner)
{
	size_t cursor = 1;	/* plugins only: the core provides none */
	const struct modvm_balloon *b;

	while ((b = modvm__view_query_each(view, NULL, MODVM_BALLOON_IFACE, &cursor, owner)))
		if (b->struct_size >= sizeof(*b) && b->get)
			return b;
	return NULL;
}

/*
 * `balloon VM SIZE`: the operator's order, published as mem.balloon_target
 * (source "operator"; delivered at once, on this thread), then the reply
 * says what the mechanism put in force: the target after clamping, or
 * that the VM has no balloon to take it.
 */
static void balloon(const struct modvm__host_view *view, char **words, size_t n, bool too_many,
		    bool json, char *out, size_t len)
{
	struct modvm_plugin_ctx *owner = NULL;
	const struct modvm_balloon *b = find_balloon(view, &owner);
	long id = n > 1 ? find_vm(view, words[1]) : -1;
	char asked[24], target[24], lo[24], hi[24];
	uint64_t bytes;

	if (n != 3 || too_many) {
		reply_error(json, out, len, "usage: balloon VM SIZE");
		return;
	}
	if (id < 0) {
		reply_error(json, out, len, "no VM named \"%s\"", words[1]);
		return;
	}
	if (modvm_parse_size(words[2], &bytes) < 0) {
		reply_error(json, out, len, "\"%s\" is not a size (e.g. \"512M\")", words[2]);
		return;
	}
	const char *name = view->vm_name(view->host, (size_t)id);
	if (!b) {
		reply_error(json, out, len, "no balloon mechanism is loaded (enable mem-balloon, or "
			    "another plugin providing %s)", MODVM_BALLOON_IFACE);
		return;
	}
	struct modvm_mem_balloon ev = { .vm_id = (uint32_t)id, .guest_bytes = bytes };
	snprintf(ev.source, sizeof(ev.source), "operator");
	int r = modvm_publish_mem_balloon_target(view->bus, &ev);
	if (r < 0) {
		reply_error(json, out, len, "%s", modvm_strerror(r));
		return;
	}
	struct modvm_balloon_info info = { .struct_size = sizeof(info) };
	modvm__plugin_guard(owner, "balloon get");
	struct modvm_plugin_ctx *prev = modvm__plugin_enter(owner);
	r = b->get(owner, (uint32_t)id, &info);
	modvm__plugin_leave(prev);
	modvm__watchdog_disarm();
	if (r == -ENODEV) {
		reply_error(json, out, len, "vm %s has no balloon now (no %s group, or not running): "
			    "nothing changed", name, owner->name);
		return;
	}
	if (r < 0) {
		reply_error(json, out, len, "%s: %s", owner->name, modvm_strerror(r));
		return;
	}
	bool clamped = bytes && info.target != bytes;
	/* VM names are [A-Za-z0-9._-]: nothing to escape. */
	if (json) {
		snprintf(out, len, "{\"ok\": true, \"vm\": \"%s\", \"target_bytes\": %llu, "
			 "\"requested_bytes\": %llu, \"clamped\": %s}\n", name,
			 (unsigned long long)info.target, (unsigned long long)bytes,
			 clamped ? "true" : "false");
		return;
	}
	modvm__size_text(info.target, target, sizeof(target));
	if (!bytes)
		snprintf(out, len, "ok target %s %s, handed back to the policy\n", name, target);
	else if (clamped)
		snprintf(out, len, "ok target %s %s (asked %s: outside %s..%s)\n", name, target,
			 modvm__size_text(bytes, asked, sizeof(asked)),
			 modvm__size_text(info.minimum, lo, sizeof(lo)),
			 modvm__size_text(info.maximum, hi, sizeof(hi)));
	else
		snprintf(out, len, "ok target %s %s\n", name, target);
}

/*
 * Writes the reply for one command line into @out.  A "--json" word
 * anywhere asks for a JSON reply; sizes then are bytes, in the text they
 * are written as the config writes them ("64M"), in every reply.
 */
static void answer(struct modvm__control *ctl, char *line, char *out, size_t len)
{
	char *save = NULL, *words[8];
	const struct modvm__host_view *view = ctl->view;
	size_t n = 0;
	bool json = false, too_many = false;

	for (char *w = strtok_r(line, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save)) {
		if (strcmp(w, "--json") == 0)
			json = true;
		else if (n < sizeof(words) / sizeof(words[0]))
			words[n++] = w;
		else
			too_many = true;
	}
	const char *cmd = n ? words[0] : "";

	if (strcmp(cmd, "status") == 0 && n == 1 && !too_many) {
		if (json)
			modvm__status_format_json(ctl->status, out, len);
		else
			modvm__status_format(ctl->status, out, len);
		return;
	}
	if (strcmp(cmd, "balloon") == 0) {
		balloon(view, words, n, too_many, json, out, len);
		return;
	}
	if (strcmp(cmd, "stop") == 0 && n == 1 && !too_many) {
		modvm_loop_break(view->loop);
		snprintf(out, len, json ? "{\"ok\": true, \"stopping\": true}\n" : "ok stopping\n");
		return;
	}
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "stop") == 0)
		reply_error(json, out, len, "usage: %s takes no arguments", cmd);
	else
		reply_error(json, out, len, "unknown command \"%s\" (status, balloon VM SIZE, stop)",
			    cmd);
}

static void conn_close(struct conn *c)
{
	struct conn **pp = &c->ctl->conns;
	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	c->ctl->nconns--;
	modvm_timer_stop(c->idle);
	modvm_io_stop(c->io);
	close(c->fd);
	free(c);
}

static void on_conn(struct modvm_io *io, int fd, int revents, void *ud);

/* A client that connects and says nothing holds a slot for CONN_IDLE_S. */
static void on_idle(struct modvm_timer *t, void *ud)
{
	struct conn *c = ud;
	char peek[LINE_MAX_BYTES];
	(void)t;
	/* After the loop stalled (a slow plugin hook), this timer can run
	 * before the read event of a command that came in time: answer it
	 * (on_conn then closes the connection). */
	ssize_t n = recv(c->fd, peek, sizeof(c->buf) - 1 - c->len, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0 && memchr(peek, '\n', (size_t)n)) {
		on_conn(c->io, c->fd, 0, c);
		return;
	}
	conn_close(c);
}

static void on_conn(struct modvm_io *io, int fd, int revents, void *ud)
{
	struct conn *c = ud;
	(void)io;
	(void)revents;
	ssize_t n = read(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		c->len += (size_t)n;
	c->buf[c->len] = '\0';
	bool complete = memchr(c->buf, '\n', c->len) || n == 0;
	if (!complete && c->len < sizeof(c->buf) - 1 && n > 0)
		return;
	if (n < 0) {
		conn_close(c);
		return;
	}
	char reply[REPLY_MAX_BYTES];
	if (!complete)
		snprintf(reply, sizeof(reply), "error: command longer than %d bytes\n",
			 LINE_MAX_BYTES - 1);
	else
		answer(c->ctl, c->buf, reply, sizeof(reply));
	/* Replies are small and the socket buffer empty: one send suffices.
	 * MSG_NOSIGNAL: a client that hung up is its own business, never a
	 * SIGPIPE for the process serving every VM. */
	ssize_t w = send(fd, reply, strlen(reply), MSG_NOSIGNAL);
	(void)w;
	conn_close(c);
}

/* Whether @gid is among @pid's supplementary groups (/proc, no NSS). */
static bool in_groups(pid_t pid, gid_t gid)
{
	char path[64], line[4096];
	bool found = false;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		char *save = NULL;
		for (char *w = strtok_r(line + 7, " \t\n", &save); w && !found;
		     w = strtok_r(NULL, " \t\n", &save))
			found = strtoul(w, NULL, 10) == gid;
		break;
	}
	fclose(f);
	return found;
}

/*
 * The socket file's mode already keeps others out; the kernel's word on
 * who connected (SO_PEERCRED) is checked as well, so a socket made
 * reachable by mistake (a chmod, a bind mount) still serves only root, our
 * own uid and host.control_group.
 */
static bool peer_allowed(struct modvm__control *ctl, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	if (cred.uid == 0 || cred.uid == geteuid())
		return true;
	if (ctl->group != (gid_t)-1 && (cred.gid == ctl->group || in_groups(cred.pid, ctl->group)))
		return true;
	double now = modvm_loop_now(ctl->view->loop);
	if (now - ctl->refused_at >= 10.0) {
		ctl->refused_at = now;
		modvm_log(MODVM_LOG_WARN, NULL,
			  "control socket %s: refused uid %u (pid %d): only root, uid %u%s%s may "
			  "use it", ctl->path, (unsigned)cred.uid, (int)cred.pid,
			  (unsigned)geteuid(), ctl->group != (gid_t)-1 ? " and group " : "",
			  ctl->group != (gid_t)-1 ? ctl->group_name : "");
	}
	return false;
}

static void on_listen(struct modvm_io *io, int fd, int revents, void *ud);

static void resume_listen(struct modvm_timer *t, void *ud)
{
	struct modvm__control *ctl = ud;
	(void)t;
	ctl->resume = NULL;
	ctl->io = modvm_io_start(ctl->view->loop, ctl->fd, MODVM_IO_READ, on_listen, ctl);
}

/*
 * Out of file descriptors (EMFILE/ENFILE): the pending connection would
 * make the listening socket readable for ever and the loop spin.  Use the
 * reserved descriptor to accept and drop it; if even that fails, stop
 * listening for a moment.  Logged once per shortage.
 */
static void shed(struct modvm__control *ctl, int err)
{
	bool dropped = false;

	if (ctl->reserve_fd >= 0) {
		close(ctl->reserve_fd);
		int cfd = accept4(ctl->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (cfd >= 0) {
			close(cfd);
			dropped = true;
		}
		ctl->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (!ctl->fd_shortage)
		modvm_log(MODVM_LOG_WARN, NULL,
			  "control socket %s: out of file descriptors (%s): connections are "
			  "dropped until some are free", ctl->path, strerror(err));
	ctl->fd_shortage = true;
	if (!dropped && !ctl->resume) {
		modvm_io_stop(ctl->io);
		ctl->io = NULL;
		ctl->resume = modvm_timer_start(ctl->view->loop, RESUME_S, 0, resume_listen, ctl);
	}
}

static void on_listen(struct modvm_io *io, int fd, int revents, void *ud)
{
	struct modvm__control *ctl = ud;
	(void)io;
	(void)revents;
	int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			shed(ctl, errno);
		return;
	}
	ctl->fd_shortage = false;
	if (!peer_allowed(ctl, cfd)) {
		static const char no[] = "error: permission denied\n";
		ssize_t w = send(cfd, no, sizeof(no) - 1, MSG_NOSIGNAL);
		(void)w;
		close(cfd);
		return;
	}
	/* At the limit the oldest connection makes room: idle clients cannot
	 * lock the operator out, and a command takes milliseconds. */
	if (ctl->nconns >= CONN_MAX) {
		struct conn *oldest = ctl->conns;
		while (oldest->next)
			oldest = oldest->next;
		conn_close(oldest);
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(cfd);
		return;
	}
	c->ctl = ctl;
	c->fd = cfd;
	c->io = modvm_io_start(ctl->view->loop, cfd, MODVM_IO_READ, on_conn, c);
	c->idle = modvm_timer_start(ctl->view->loop, CONN_IDLE_S, 0, on_idle, c);
	if (!c->io || !c->idle) {
		modvm_io_stop(c->io);
		modvm_timer_stop(c->idle);
		close(cfd);
		free(c);
		return;
	}
	c->next = ctl->conns;
	ctl->conns = c;
	ctl->nconns++;
}

MODVM_INTERNAL int modvm__control_open(const struct modvm__host_view *view, const char *path,
				       const char *group, struct modvm__control **out)
{
	char err[PATH_MAX + 256];
	gid_t gid = (gid_t)-1;
	int ret;

	if (group && *group) {
		struct group *gr = getgrnam(group);
		if (!gr) {
			modvm_log(MODVM_LOG_ERROR, NULL, "host.control_group: no group named \"%s\"",
				  group);
			return -ENOENT;
		}
		gid = gr->gr_gid;
	}
	ret = modvm__control_prepare(path, false, err, sizeof(err));
	if (ret < 0) {
		modvm_log(MODVM_LOG_ERROR, NULL, "%s", err);
		return ret;
	}
	struct modvm__control *ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->view = view;
	ctl->fd = -1;
	ctl->group = gid;
	snprintf(ctl->group_name, sizeof(ctl->group_name), "%s", group ? group : "");
	ctl->refused_at = -1e9;
	ctl->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ctl->status = modvm__status_new(view);
	ctl->path = strdup(path);
	if (!ctl->status || !ctl->path) {
		ret = -ENOMEM;
		goto err;
	}
	ctl->fd = modvm__control_bind(path, gid, BACKLOG, err, sizeof(err));
	if (ctl->fd < 0) {
		ret = ctl->fd;
		modvm_log(MODVM_LOG_ERROR, NULL, "%s", err);
		goto err;
	}
	ctl->io = modvm_io_start(view->loop, ctl->fd, MODVM_IO_READ, on_listen, ctl);
	if (!ctl->io) {
		ret = -ENOMEM;
		unlink(path);
		goto err;
	}
	/* Removed at the end even after a switch to host.user (reaper.c); a
	 * run that stays who it is removes it itself, so a failure to note it
	 * costs nothing then. */
	modvm__sandbox_remove_at_end(path);
	*out = ctl;
	return 0;

err:
	if (ctl->fd >= 0)
		close(ctl->fd);
	if (ctl->reserve_fd >= 0)
		close(ctl->reserve_fd);
	free(ctl->path);
	modvm__status_free(ctl->status);
	free(ctl);
	return ret;
}

MODVM_INTERNAL const char *modvm__control_socket_path(const struct modvm__control *ctl)
{
	return ctl ? ctl->path : NULL;
}

MODVM_INTERNAL void modvm__control_close(struct modvm__control *ctl)
{
	if (!ctl)
		return;
	while (ctl->conns)
		conn_close(ctl->conns);
	modvm__status_free(ctl->status);
	modvm_io_stop(ctl->io);
	modvm_timer_stop(ctl->resume);
	close(ctl->fd);
	if (ctl->reserve_fd >= 0)
		close(ctl->reserve_fd);
	/* After a switch to host.user this unlink is refused: the helper
	 * removes the socket instead; either way it is done and reaped here. */
	unlink(ctl->path);
	modvm__sandbox_reaper_finish();
	modvm__sandbox_forget_at_end(ctl->path);
	free(ctl->path);
	free(ctl);
}

static int client_address(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, strlen(path));
	return 0;
}

MODVM_INTERNAL int modvm__control_request(const char *path, const char *line, FILE *out)
{
	struct sockaddr_un sa;
	if (client_address(path, &sa) < 0) {
		modvm_log(MODVM_LOG_ERROR, NULL, "ctl: %s: path too long", path);
		return -ENAMETOOLONG;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;
		modvm_log(MODVM_LOG_ERROR, NULL, "ctl: %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return err;
	}
	char reply[REPLY_MAX_BYTES];
	size_t got = 0;
	ssize_t n = 0;
	int ret = 0;
	/* A modvm stopped (SIGSTOP) or stuck must not hang its operator too. */
	struct timeval tv = { .tv_sec = CLIENT_TIMEOUT_S };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	char msg[LINE_MAX_BYTES + 1];
	int len = snprintf(msg, sizeof(msg), "%s\n", line);
	if (len < 0 || (size_t)len >= sizeof(msg)) {
		ret = -E2BIG;
		modvm_log(MODVM_LOG_ERROR, NULL, "ctl: %s: command longer than %d bytes", path,
			  LINE_MAX_BYTES - 1);
		goto out;
	}
	if (send(fd, msg, (size_t)len, MSG_NOSIGNAL) < 0) {
		ret = -errno;
		modvm_log(MODVM_LOG_ERROR, NULL, "ctl: %s: cannot send the command: %s", path,
			  strerror(errno));
		goto out;
	}
	while (got < sizeof(reply) - 1 && (n = read(fd, reply + got, sizeof(reply) - 1 - got)) > 0)
		got += (size_t)n;
	reply[got] = '\0';
	if (got == 0) {
		ret = n < 0 ? -errno : -ECONNRESET;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			modvm_log(MODVM_LOG_ERROR, NULL, "ctl: %s: no reply within %d s", path,
				  CLIENT_TIMEOUT_S);
		else
			modvm_log(MODVM_LOG_ERROR, NULL, "ctl: %s: connection closed without a reply%s%s",
				  path, n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
		goto out;
	}
	fputs(reply, out);
	ret = strncmp(reply, "ok", 2) == 0 || strncmp(reply, "{\"ok\": true", strlen("{\"ok\": true")) == 0 ? 0 : -EINVAL;
out:
	close(fd);
	return ret;
}
