/*
 * Opening the files a user (or a hostile local user) names: kernels,
 * initrds, configs, plugins, consoles, sockets.  Two rules, each learned
 * the hard way (issue 17):
 *
 *  - open first with O_NONBLOCK, then fstat, then read: a fifo, a device or
 *    a socket named as a kernel must fail with one clear line, never block
 *    the loop thread for ever (the regular-file check used to come after
 *    an open that blocks);
 *  - code and control come only from places nobody else can write, as
 *    OpenSSH's StrictModes has it: the file and its directory owned by root
 *    or us and writable by nobody else, every directory above them too
 *    (or sticky, like /tmp, which stops others from renaming what is ours).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

MODVM_INTERNAL const char *modvm__file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "a regular file";
	case S_IFDIR: return "a directory";
	case S_IFIFO: return "a fifo";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFSOCK: return "a socket";
	case S_IFLNK: return "a symbolic link";
	default: return "not a regular file";
	}
}

MODVM_INTERNAL int modvm__open_regular(const char *path, int extra, struct stat *out,
				       char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | extra);

	if (fd < 0) {
		int rc = -errno;
		if (errno == ELOOP && (extra & O_NOFOLLOW))
			snprintf(err, errlen, "%s: is a symbolic link, which is not followed here",
				 path);
		else
			snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		int rc = -errno;
		snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: is %s, not a regular file", path,
			 modvm__file_kind(st.st_mode));
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}
	/* Regular files never block; readers that loop on EAGAIN need not care. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	if (out)
		*out = st;
	return fd;
}

/* Owned by root or us, and writable by nobody else (unless @sticky_ok and
 * the sticky bit protects what others did not create). */
static int check_one(const char *path, const struct stat *st, bool sticky_ok, char *err,
		     size_t errlen)
{
	uid_t me = geteuid();

	if (st->st_uid != 0 && st->st_uid != me) {
		snprintf(err, errlen, "%s is owned by uid %u, not by root or uid %u", path,
			 (unsigned)st->st_uid, (unsigned)me);
		return -EPERM;
	}
	if (!(st->st_mode & (S_IWGRP | S_IWOTH)))
		return 0;
	if (sticky_ok && S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX))
		return 0;
	snprintf(err, errlen, "%s is writable by %s (mode %04o)", path,
		 (st->st_mode & S_IWOTH) ? "others" : "its group", (unsigned)(st->st_mode & 07777));
	return -EPERM;
}

MODVM_INTERNAL int modvm__path_trusted(const char *path, char *err, size_t errlen)
{
	char real[PATH_MAX];
	struct stat st;
	int rc;

	if (!realpath(path, real)) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	/* The file (or directory) itself and the directory holding it: strict. */
	for (int depth = 0;; depth++) {
		if (lstat(real, &st) < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: %s", real, strerror(errno));
			return rc;
		}
		rc = check_one(real, &st, depth >= 2, err, errlen);
		if (rc < 0 || strcmp(real, "/") == 0)
			return rc;
		char *slash = strrchr(real, '/');
		if (slash == real)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
}

MODVM_INTERNAL int modvm__dir_trusted(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		int rc = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return rc;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", dir);
		return -ENOTDIR;
	}
	return check_one(dir, &st, false, err, errlen);
}
