/*
 * Where a VM's serial console goes (devices.h): stdout, nowhere, or a file.
 * A guest writes as much as it likes and root opens the file, so (issue
 * 17, item 8): the file is created 0600 and never through a symlink; an
 * existing one must be a regular file of ours (a fifo, another user's
 * file or a link planted in /tmp is refused, and nothing is truncated
 * before that is known); it is truncated or appended to as configured and
 * capped at console_max bytes, after which output is dropped and that is
 * said once.  A reader that went away (EPIPE, with SIGPIPE ignored) stops
 * the output too, said once, instead of killing the process.  A reader
 * that stays but stops reading holds the writing vCPU back, as a serial
 * line's flow control would, until a kick: then the chunk is dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/devices.h"

struct modvm__console {
	int fd;			/* -1: none */
	bool own;		/* a file we opened */
	bool stopped;		/* full, or the reader is gone: said once */
	uint64_t max;		/* 0: no cap */
	uint64_t written;	/* bytes in the file (appending: from its old size) */
	char vm[32];
	char what[PATH_MAX];	/* "stdout" or the path, for messages */
};

static bool is_file(const char *spec)
{
	return spec && strcmp(spec, "stdout") != 0 && strcmp(spec, "none") != 0;
}

/* The checks of an existing console file, shared with `check`. */
static int check_existing(const char *path, const struct stat *st, char *err, size_t errlen)
{
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "console %s: is %s, not a regular file", path,
			 modvm__file_kind(st->st_mode));
		return S_ISLNK(st->st_mode) ? -ELOOP : -EINVAL;
	}
	if (st->st_uid != geteuid()) {
		snprintf(err, errlen, "console %s: exists and belongs to uid %u, not to uid %u: "
			 "refusing to write guest output into someone else's file", path,
			 (unsigned)st->st_uid, (unsigned)geteuid());
		return -EPERM;
	}
	return 0;
}

MODVM_INTERNAL int modvm__console_check(const char *spec, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	struct stat st;

	if (!is_file(spec))
		return 0;
	if (lstat(spec, &st) == 0)
		return check_existing(spec, &st, err, errlen);
	if (errno != ENOENT) {
		int rc = -errno;
		snprintf(err, errlen, "console %s: %s", spec, strerror(errno));
		return rc;
	}
	const char *slash = strrchr(spec, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - spec) : 1,
		 slash ? (slash == spec ? "/" : spec) : ".");
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "console %s: the directory %s does not exist", spec, dir);
		return -ENOENT;
	}
	return 0;
}

MODVM_INTERNAL int modvm__console_open(const char *vm, const char *spec, bool append,
				       uint64_t max, struct modvm__console **out)
{
	struct modvm__console *c = calloc(1, sizeof(*c));
	char err[PATH_MAX + 160];
	struct stat st;
	int rc;

	if (!c)
		return -ENOMEM;
	c->fd = -1;
	snprintf(c->vm, sizeof(c->vm), "%s", vm ? vm : "vm");
	snprintf(c->what, sizeof(c->what), "%s", spec ? spec : "stdout");
	if (!spec || strcmp(spec, "stdout") == 0) {
		c->fd = STDOUT_FILENO;
		goto done;
	}
	if (strcmp(spec, "none") == 0)
		goto done;
	/* No O_TRUNC yet: nothing is cut before the file is known to be ours.
	 * O_NONBLOCK: a fifo must not block the open (it is refused below). */
	c->fd = open(spec, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
				   (append ? O_APPEND : 0), 0600);
	if (c->fd < 0) {
		rc = -errno;
		if (errno == ELOOP)
			snprintf(err, sizeof(err), "console %s: is a symbolic link, which is not "
				 "followed", spec);
		else
			snprintf(err, sizeof(err), "console %s: %s", spec, strerror(errno));
		goto fail;
	}
	c->own = true;
	if (fstat(c->fd, &st) < 0) {
		rc = -errno;
		snprintf(err, sizeof(err), "console %s: %s", spec, strerror(errno));
		goto fail;
	}
	rc = check_existing(spec, &st, err, sizeof(err));
	if (rc < 0)
		goto fail;
	if (!append && ftruncate(c->fd, 0) < 0) {
		rc = -errno;
		snprintf(err, sizeof(err), "console %s: cannot truncate: %s", spec, strerror(errno));
		goto fail;
	}
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
	c->max = max;
	c->written = append ? (uint64_t)st.st_size : 0;
done:
	*out = c;
	return 0;
fail:
	modvm_log(MODVM_LOG_ERROR, NULL, "vm %s: %s", c->vm, err);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	return rc;
}

static void stop(struct modvm__console *c, const char *why)
{
	if (c->stopped)
		return;
	c->stopped = true;
	modvm_log(MODVM_LOG_WARN, NULL, "vm %s: console %s: %s; further console output is dropped",
		  c->vm, c->what, why);
}

MODVM_INTERNAL void modvm__console_write(struct modvm__console *c, const void *buf, size_t len)
{
	const char *p = buf;

	if (!c || c->fd < 0 || c->stopped)
		return;
	if (c->max && c->own) {
		if (c->written >= c->max) {
			char why[96];
			snprintf(why, sizeof(why), "reached console_max (%llu bytes)",
				 (unsigned long long)c->max);
			stop(c, why);
			return;
		}
		if (len > c->max - c->written)
			len = (size_t)(c->max - c->written);
	}
	while (len > 0) {
		ssize_t n = write(c->fd, p, len);
		/* A signal here is the VM's kick (stop, pause) reaching a vCPU
		 * blocked on a reader that stopped reading: trying again would
		 * block the stop for as long as that reader sleeps. */
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			return;		/* this chunk is lost, not the VM */
		if (n <= 0) {
			stop(c, n < 0 ? strerror(errno) : "short write");
			return;
		}
		p += n;
		len -= (size_t)n;
		c->written += (uint64_t)n;
	}
	if (c->max && c->own && c->written >= c->max) {
		char why[96];
		snprintf(why, sizeof(why), "reached console_max (%llu bytes)",
			 (unsigned long long)c->max);
		stop(c, why);
	}
}

MODVM_INTERNAL uint64_t modvm__console_written(const struct modvm__console *c)
{
	return c ? c->written : 0;
}

MODVM_INTERNAL void modvm__console_free(struct modvm__console *c)
{
	if (!c)
		return;
	if (c->own)
		close(c->fd);
	free(c);
}
