/*
 * The control socket.  Commands are tiny and answered at once, so each
 * connection is read on the loop thread until its first newline (bounded),
 * answered and closed: no state survives a connection.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <modvm/config.h>
#include <modvm/events.h>
#include <modvm/vm.h>

#include "host/control.h"
#include "host/control_status.h"

#define LINE_MAX_BYTES 512
#define REPLY_MAX_BYTES 16384

struct conn {
	struct modvm__control *ctl;
	struct modvm_io *io;
	int fd;
	size_t len;
	char buf[LINE_MAX_BYTES];
	struct conn *next;
};

struct modvm__control {
	const struct modvm__host_view *view;
	int fd;
	struct modvm_io *io;
	char *path;
	struct conn *conns;
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


/* Writes the reply for one command line into @out. */
static void answer(struct modvm__control *ctl, char *line, char *out, size_t len)
{
	char *save = NULL, *cmd = strtok_r(line, " \t\r\n", &save);
	const struct modvm__host_view *view = ctl->view;

	if (cmd && strcmp(cmd, "status") == 0) {
		modvm__status_format(ctl->status, out, len);
		return;
	}
	if (cmd && strcmp(cmd, "balloon") == 0) {
		char *vm_arg = strtok_r(NULL, " \t\r\n", &save);
		char *size_arg = strtok_r(NULL, " \t\r\n", &save);
		uint64_t bytes;
		long id = vm_arg ? find_vm(view, vm_arg) : -1;
		if (!vm_arg || !size_arg || strtok_r(NULL, " \t\r\n", &save)) {
			snprintf(out, len, "error: usage: balloon VM SIZE\n");
		} else if (id < 0) {
			snprintf(out, len, "error: no VM named \"%s\"\n", vm_arg);
		} else if (modvm_parse_size(size_arg, &bytes) < 0) {
			snprintf(out, len, "error: \"%s\" is not a size (e.g. \"512M\")\n", size_arg);
		} else {
			struct modvm_mem_balloon ev = { .vm_id = (uint32_t)id, .guest_bytes = bytes };
			snprintf(ev.source, sizeof(ev.source), "operator");
			int r = modvm_publish_mem_balloon_target(view->bus, &ev);
			if (r < 0)
				snprintf(out, len, "error: %s\n", modvm_strerror(r));
			else
				snprintf(out, len, "ok target %s %llu\n", view->vm_name(view->host, (size_t)id),
					 (unsigned long long)bytes);
		}
		return;
	}
	if (cmd && strcmp(cmd, "stop") == 0) {
		modvm_loop_break(view->loop);
		snprintf(out, len, "ok stopping\n");
		return;
	}
	snprintf(out, len, "error: unknown command \"%s\" (status, balloon VM SIZE, stop)\n",
		 cmd ? cmd : "");
}

static void conn_close(struct conn *c)
{
	struct conn **pp = &c->ctl->conns;
	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	modvm_io_stop(c->io);
	close(c->fd);
	free(c);
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

static void on_listen(struct modvm_io *io, int fd, int revents, void *ud)
{
	struct modvm__control *ctl = ud;
	(void)io;
	(void)revents;
	int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd < 0)
		return;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(cfd);
		return;
	}
	c->ctl = ctl;
	c->fd = cfd;
	c->io = modvm_io_start(ctl->view->loop, cfd, MODVM_IO_READ, on_conn, c);
	if (!c->io) {
		close(cfd);
		free(c);
		return;
	}
	c->next = ctl->conns;
	ctl->conns = c;
}

static int make_address(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, strlen(path));
	return 0;
}

MODVM_INTERNAL int modvm__control_open(const struct modvm__host_view *view, const char *path,
				       struct modvm__control **out)
{
	struct sockaddr_un sa;
	struct stat st;
	int ret = make_address(path, &sa);
	if (ret < 0) {
		modvm_log(MODVM_LOG_ERROR, NULL, "control socket %s: path too long", path);
		return ret;
	}
	/* Replace a stale socket, never any other kind of file. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			modvm_log(MODVM_LOG_ERROR, NULL, "control socket %s: exists and is not a socket",
				  path);
			return -EEXIST;
		}
		unlink(path);
	}
	struct modvm__control *ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->view = view;
	ctl->status = modvm__status_new(view);
	if (!ctl->status) {
		free(ctl);
		return -ENOMEM;
	}
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ctl->path = strdup(path);
	if (ctl->fd < 0 || !ctl->path || bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(ctl->fd, 8) < 0) {
		ret = ctl->path ? -errno : -ENOMEM;
		modvm_log(MODVM_LOG_ERROR, NULL, "control socket %s: %s", path, strerror(-ret));
		goto err;
	}
	ctl->io = modvm_io_start(view->loop, ctl->fd, MODVM_IO_READ, on_listen, ctl);
	if (!ctl->io) {
		ret = -ENOMEM;
		unlink(path);
		goto err;
	}
	*out = ctl;
	return 0;

err:
	if (ctl->fd >= 0)
		close(ctl->fd);
	free(ctl->path);
	modvm__status_free(ctl->status);
	free(ctl);
	return ret;
}

MODVM_INTERNAL void modvm__control_close(struct modvm__control *ctl)
{
	if (!ctl)
		return;
	while (ctl->conns)
		conn_close(ctl->conns);
	modvm__status_free(ctl->status);
	modvm_io_stop(ctl->io);
	close(ctl->fd);
	unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}

MODVM_INTERNAL int modvm__control_request(const char *path, const char *line, FILE *out)
{
	struct sockaddr_un sa;
	if (make_address(path, &sa) < 0) {
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
	ssize_t n;
	int ret = 0;
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0 ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
		ret = -errno;
		goto out;
	}
	while (got < sizeof(reply) - 1 && (n = read(fd, reply + got, sizeof(reply) - 1 - got)) > 0)
		got += (size_t)n;
	reply[got] = '\0';
	fputs(reply, out);
	ret = strncmp(reply, "ok", 2) == 0 ? 0 : -EINVAL;
out:
	close(fd);
	return ret;
}
