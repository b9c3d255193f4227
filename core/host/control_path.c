/*
 * Where the control socket lives and how it is made (control.h): the path
 * a setting names, the directory it may be in, a live socket never taken
 * over, the file created 0600 (0660 with a group) whatever the umask.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "host/control.h"

#define RUNTIME_DIR_DEFAULT "/run/modvm"

MODVM_INTERNAL const char *modvm__runtime_dir(void)
{
	const char *env = getenv("MODVM_RUNTIME_DIR");

	return env && env[0] == '/' ? env : RUNTIME_DIR_DEFAULT;
}

/* The config's file name without directory and ".conf". */
static void config_stem(const char *config, char *out, size_t len)
{
	const char *base = config ? strrchr(config, '/') : NULL;
	size_t n;

	base = base ? base + 1 : config ? config : "modvm";
	n = strlen(base);
	if (n > 5 && strcmp(base + n - 5, ".conf") == 0)
		n -= 5;
	snprintf(out, len, "%.*s", (int)n, base);
}

MODVM_INTERNAL int modvm__control_path(const char *setting, const char *config, char *out,
				       size_t len)
{
	char stem[NAME_MAX + 1];
	int n;

	if (!setting || !*setting)
		return -ENOENT;
	if (strcmp(setting, "auto") == 0) {
		config_stem(config, stem, sizeof(stem));
		n = snprintf(out, len, "%s/%s.sock", modvm__runtime_dir(), stem);
	} else if (!strchr(setting, '/')) {
		size_t l = strlen(setting);
		bool has_ext = l > 5 && strcmp(setting + l - 5, ".sock") == 0;
		n = snprintf(out, len, "%s/%s%s", modvm__runtime_dir(), setting,
			     has_ext ? "" : ".sock");
	} else {
		n = snprintf(out, len, "%s", setting);
	}
	if (n < 0 || (size_t)n >= len ||
	    (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

static void dir_of(const char *path, char *dir, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(dir, len, ".");
	else if (slash == path)
		snprintf(dir, len, "/");
	else
		snprintf(dir, len, "%.*s", (int)(slash - path), path);
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

/* 0 if nobody listens on @path (a stale socket), -EADDRINUSE if someone does. */
static int probe_live(const char *path, const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int rc = 0;

	(void)path;
	if (fd < 0)
		return -errno;
	/* Non-blocking: a listener with a full backlog answers EAGAIN — alive. */
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN ||
	    errno == EINPROGRESS)
		rc = -EADDRINUSE;
	else if (errno != ECONNREFUSED)
		rc = -errno;
	close(fd);
	return rc;
}

MODVM_INTERNAL int modvm__control_prepare(const char *path, bool dry_run, char *err,
					  size_t errlen)
{
	char dir[PATH_MAX], why[PATH_MAX + 128];
	struct sockaddr_un sa;
	struct stat st;
	int rc;

	if (make_address(path, &sa) < 0) {
		snprintf(err, errlen, "control socket %s: path longer than %zu bytes", path,
			 sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	dir_of(path, dir, sizeof(dir));
	/* The runtime directory is ours to make (root's /run is). */
	if (strcmp(dir, modvm__runtime_dir()) == 0 && !dry_run && mkdir(dir, 0755) < 0 &&
	    errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: cannot create %s: %s (set "
			 "MODVM_RUNTIME_DIR or host.control_socket to a directory you own)",
			 path, dir, strerror(errno));
		return rc;
	}
	rc = modvm__dir_trusted(dir, why, sizeof(why));
	if (rc == -ENOENT && dry_run && strcmp(dir, modvm__runtime_dir()) == 0)
		return 0;	/* `run` would create it */
	if (rc < 0) {
		snprintf(err, errlen, "control socket %s: %s: the socket's directory must be "
			 "writable only by root or uid %u (\"auto\" puts it in %s)", path, why,
			 (unsigned)geteuid(), modvm__runtime_dir());
		return rc;
	}
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "control socket %s: exists and is %s, not a socket", path,
			 modvm__file_kind(st.st_mode));
		return -EEXIST;
	}
	rc = probe_live(path, &sa);
	if (rc == -EADDRINUSE) {
		snprintf(err, errlen, "control socket %s: in use (another modvm, or another "
			 "program, listens there): refusing to take it over", path);
		return rc;
	}
	if (rc < 0) {
		snprintf(err, errlen, "control socket %s: cannot tell whether it is in use: %s",
			 path, strerror(-rc));
		return rc;
	}
	/* Stale: a modvm that died without removing it.  Replace it. */
	if (!dry_run && unlink(path) < 0 && errno != ENOENT) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: cannot remove the stale socket: %s",
			 path, strerror(errno));
		return rc;
	}
	return 0;
}

MODVM_INTERNAL int modvm__control_bind(const char *path, gid_t group, int backlog, char *err,
				       size_t errlen)
{
	mode_t mode = group == (gid_t)-1 ? 0600 : 0660;
	struct sockaddr_un sa;
	int fd, rc;

	if (make_address(path, &sa) < 0)
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: socket: %s", sa.sun_path, strerror(-rc));
		return rc;
	}
	/* bind creates the file with the umask's permissions: narrow the umask
	 * around it (it only ever narrows what another thread creates at that
	 * instant), then set the mode exactly.  Peers are checked anyway. */
	mode_t old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: bind: %s", sa.sun_path, strerror(-rc));
		close(fd);
		return rc;
	}
	if (chmod(sa.sun_path, mode) < 0 ||
	    (group != (gid_t)-1 && chown(sa.sun_path, (uid_t)-1, group) < 0) ||
	    listen(fd, backlog) < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: %s", sa.sun_path, strerror(-rc));
		unlink(sa.sun_path);
		close(fd);
		return rc;
	}
	return fd;
}
