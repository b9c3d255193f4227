/*
 * statefile.c — the journal of host files power-park changed (statefile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <modvm/log.h>

#include "statefile.h"

#define DOMAIN "power-park"
#define HEADER "# modvm power-park state\n"
#define END "# end\n"
#define FILE_MAX (64 * 1024)

/* 1 for .../cpuN/online, 2 for .../cpuN/cpufreq/scaling_governor, else 0. */
static int cpu_leaf(const char *file)
{
	static const char *const leaves[] = { "/online", "/cpufreq/scaling_governor" };

	for (unsigned i = 0; i < 2; i++) {
		size_t n = strlen(file), l = strlen(leaves[i]);
		if (n <= l || strcmp(file + n - l, leaves[i]) != 0)
			continue;
		/* what precedes the leaf is ".../cpuN" */
		const char *end = file + n - l, *p = end;
		while (p > file && p[-1] >= '0' && p[-1] <= '9')
			p--;
		if (p == end || p - file < 4 || strncmp(p - 4, "/cpu", 4) != 0)
			continue;
		return (int)i + 1;
	}
	return 0;
}

bool park_state_valid(const char *file, const char *value)
{
	size_t n = strlen(value);

	if (file[0] != '/' || strlen(file) >= sizeof(((struct park_state_entry *)0)->file) ||
	    strstr(file, "/../") || strstr(file, "/./") || strpbrk(file, "\t\n\r"))
		return false;
	int leaf = cpu_leaf(file);
	if (!leaf || n == 0 || n >= sizeof(((struct park_state_entry *)0)->value))
		return false;
	/* parking only ever takes a core offline: its old value is "1" */
	if (leaf == 1 && strcmp(value, "1") != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = value[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* The directory part of @path in @dir; "." if none. */
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

/* The directory must exist (made 0755 if missing) and be writable only by
 * its owner, root or us: otherwise someone else could plant entries. */
static int check_dir(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	struct stat st;

	dir_of(path, dir, sizeof(dir));
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		int rc = -errno;
		snprintf(err, errlen, "%s: cannot create the directory %s: %s", path, dir,
			 strerror(errno));
		return rc;
	}
	if (lstat(dir, &st) < 0) {
		int rc = -errno;
		snprintf(err, errlen, "%s: %s: %s", path, dir, strerror(errno));
		return rc;
	}
	if (!S_ISDIR(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(err, errlen,
			 "%s: the directory %s must be a directory owned by root or uid %u and "
			 "writable by nobody else (it is uid %u, mode %04o)",
			 path, dir, (unsigned)geteuid(), (unsigned)st.st_uid,
			 (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

static int sync_dir(const char *path)
{
	char dir[PATH_MAX];
	int fd, rc = 0;

	dir_of(path, dir, sizeof(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int write_value(const char *file, const char *value)
{
	int fd = open(file, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	ssize_t len = (ssize_t)strlen(value), w;
	int rc = 0;

	if (fd < 0)
		return -errno;
	w = write(fd, value, (size_t)len);
	if (w != len)
		rc = w < 0 ? -errno : -EIO;
	close(fd);
	return rc;
}

/* A journal file to believe: regular, this user's, writable by nobody else. */
static bool trusted(int fd, struct stat *sb)
{
	return fstat(fd, sb) == 0 && S_ISREG(sb->st_mode) && sb->st_uid == geteuid() &&
	       !(sb->st_mode & (S_IWGRP | S_IWOTH));
}

/* Reads the journal into @st (empty if there is none). */
static int load(struct park_state *st, char *err, size_t errlen)
{
	int fd = open(st->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat sb;
	char *buf = NULL;
	ssize_t got;
	int rc = 0;

	st->n = 0;
	if (fd < 0) {
		st->loaded = errno == ENOENT;
		if (errno == ENOENT)
			return 0;
		rc = -errno;
		snprintf(err, errlen, "%s: %s", st->path,
			 errno == ELOOP ? "is a symbolic link" : strerror(errno));
		return rc;
	}
	if (!trusted(fd, &sb) || sb.st_size > FILE_MAX) {
		snprintf(err, errlen,
			 "%s: not a regular file of at most %d bytes, owned by uid %u and "
			 "writable by nobody else: not trusted",
			 st->path, FILE_MAX, (unsigned)geteuid());
		rc = -EPERM;
		goto out;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	got = read(fd, buf, (size_t)sb.st_size);
	if (got < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", st->path, strerror(errno));
		goto out;
	}
	buf[got] = '\0';
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(line, '\t');
		if (strcmp(line, "# end") == 0)
			break;	/* what follows is a longer earlier text (park_state_hold) */
		if (line[0] == '#')
			continue;
		if (!tab) {
			modvm_log(MODVM_LOG_WARN, DOMAIN, "%s: malformed line ignored", st->path);
			continue;
		}
		*tab = '\0';
		if (!park_state_valid(line, tab + 1)) {
			modvm_log(MODVM_LOG_WARN, DOMAIN,
				  "%s: entry for \"%s\" ignored: not a cpu online or governor file",
				  st->path, line);
			continue;
		}
		size_t ul = strlen(st->under);
		bool foreign = ul && (strncmp(line, st->under, ul) != 0 || line[ul] != '/');
		if (foreign)
			modvm_log(MODVM_LOG_WARN, DOMAIN,
				  "%s: entry for \"%s\" kept, not written back: not under %s",
				  st->path, line, st->under);
		if (st->n == PARK_STATE_MAX)
			break;
		snprintf(st->e[st->n].file, sizeof(st->e[st->n].file), "%s", line);
		snprintf(st->e[st->n].value, sizeof(st->e[st->n].value), "%s", tab + 1);
		st->e[st->n].foreign = foreign;
		st->n++;
	}
	st->loaded = true;
out:
	free(buf);
	close(fd);
	return rc;
}

/* The journal's text into @buf (HEADER, the entries, END); its length. */
static size_t render(const struct park_state *st, char *buf, size_t len)
{
	size_t used = (size_t)snprintf(buf, len, "%s", HEADER);

	for (unsigned i = 0; i < st->n && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s\t%s\n", st->e[i].file,
					 st->e[i].value);
	if (used < len)
		used += (size_t)snprintf(buf + used, len - used, "%s", END);
	return used < len ? used : len;
}

/* The journal's whole text into @fd from offset 0, cut to length, fsync'd:
 * a new file beside the journal, or the held journal itself. */
static int write_text(const struct park_state *st, int fd)
{
	size_t cap = sizeof(HEADER) + sizeof(END) + (size_t)st->n * sizeof(st->e[0]) + 2;
	char *buf = malloc(cap);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	size_t len = render(st, buf, cap);
	ssize_t w = pwrite(fd, buf, len, 0);
	if (w != (ssize_t)len)
		rc = w < 0 ? -errno : -EIO;
	else if (ftruncate(fd, (off_t)len) < 0 || fsync(fd) < 0)
		rc = -errno;
	free(buf);
	return rc;
}

int park_state_hold(struct park_state *st, char *err, size_t errlen)
{
	struct stat sb;
	int rc;

	if (st->lock_fd < 0)
		return -EBADF;
	if (st->held_fd >= 0)
		return 0;
	int fd = open(st->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", st->path, strerror(errno));
		return rc;
	}
	if (!trusted(fd, &sb)) {
		snprintf(err, errlen, "%s: not a regular file owned by uid %u and writable by nobody "
			 "else", st->path, (unsigned)geteuid());
		close(fd);
		return -EPERM;
	}
	st->held_fd = fd;
	rc = write_text(st, fd);
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot write the state file: %s", st->path, strerror(-rc));
		close(fd);
		st->held_fd = -1;
	}
	return rc;
}

/* Writes the journal beside it, fsyncs, renames it into place and fsyncs
 * the directory: a crash leaves either the old journal or the new one.
 * Held (park_state_hold): in place instead. */
static int save(struct park_state *st)
{
	char tmp[sizeof(st->path) + 8];
	int fd, rc = 0;

	if (st->held_fd >= 0) {
		rc = write_text(st, st->held_fd);
		goto out;
	}
	if (st->n == 0) {
		if (unlink(st->path) < 0 && errno != ENOENT)
			rc = -errno;
		else
			rc = sync_dir(st->path);
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", st->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = write_text(st, fd);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, st->path) < 0)
		rc = -errno;
	if (rc == 0)
		rc = sync_dir(st->path);
	if (rc < 0)
		unlink(tmp);
out:
	if (rc < 0)
		modvm_log(MODVM_LOG_ERROR, DOMAIN, "%s: cannot write the state file: %s", st->path,
			  strerror(-rc));
	return rc;
}

static int lock(struct park_state *st, char *err, size_t errlen)
{
	char lockpath[sizeof(st->path) + 8], pid[32] = "";
	struct stat sb;
	int fd;

	snprintf(lockpath, sizeof(lockpath), "%s.lock", st->path);
	fd = open(lockpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0) {
		int rc = -errno;
		snprintf(err, errlen, "%s: %s", lockpath,
			 errno == ELOOP ? "is a symbolic link" : strerror(errno));
		return rc;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid()) {
		snprintf(err, errlen, "%s: not a regular file owned by uid %u", lockpath,
			 (unsigned)geteuid());
		close(fd);
		return -EPERM;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		if (rc == -EBUSY)
			snprintf(err, errlen, "%s is in use by another modvm (pid %s)", st->path,
				 pid[0] ? pid : "?");
		else
			snprintf(err, errlen, "%s: flock: %s", lockpath, strerror(-rc));
		close(fd);
		return rc;
	}
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, strlen(pid), 0) < 0) {
		/* only the message of a refused second owner suffers */
	}
	st->lock_fd = fd;
	return 0;
}

int park_state_open(struct park_state *st, const char *path, const char *under,
		    unsigned *restored, unsigned *failed, char *err, size_t errlen)
{
	unsigned ok = 0, bad = 0, keep = 0;
	int rc;

	memset(st, 0, sizeof(*st));
	st->lock_fd = -1;
	st->held_fd = -1;
	if (strlen(path) >= sizeof(st->path) || path[0] != '/') {
		snprintf(err, errlen, "%s: the state file needs an absolute path of at most %zu "
			 "characters", path, sizeof(st->path) - 1);
		return -EINVAL;
	}
	snprintf(st->path, sizeof(st->path), "%s", path);
	snprintf(st->under, sizeof(st->under), "%s", under ? under : "");
	rc = check_dir(path, err, errlen);
	if (rc == 0)
		rc = lock(st, err, errlen);
	if (rc == 0)
		rc = load(st, err, errlen);
	if (rc < 0) {
		park_state_close(st);
		return rc;
	}
	for (unsigned i = 0; i < st->n; i++) {
		if (st->e[i].foreign) {
			st->e[keep++] = st->e[i];
			continue;
		}
		int w = write_value(st->e[i].file, st->e[i].value);
		if (w == 0) {
			modvm_log(MODVM_LOG_WARN, DOMAIN,
				  "%s: restored \"%s\", left changed by an earlier run that did not "
				  "stop cleanly", st->e[i].file, st->e[i].value);
			ok++;
			continue;
		}
		modvm_log(MODVM_LOG_ERROR, DOMAIN,
			  "%s: cannot restore \"%s\" left by an earlier run: %s (kept in %s)",
			  st->e[i].file, st->e[i].value, strerror(-w), st->path);
		st->e[keep++] = st->e[i];
		bad++;
	}
	if (ok) {
		st->n = keep;
		save(st);
	}
	if (restored)
		*restored = ok;
	if (failed)
		*failed = bad;
	return 0;
}

int park_state_record(struct park_state *st, const char *file, const char *value)
{
	unsigned i;

	if (!park_state_valid(file, value)) {
		modvm_log(MODVM_LOG_ERROR, DOMAIN, "%s: \"%s\" cannot be journaled", file, value);
		return -EINVAL;
	}
	for (i = 0; i < st->n && strcmp(st->e[i].file, file) != 0; i++)
		;
	if (i < st->n)
		return 1;	/* the first old value is the one to restore */
	if (st->n == PARK_STATE_MAX)
		return -ENOSPC;
	snprintf(st->e[i].file, sizeof(st->e[i].file), "%s", file);
	snprintf(st->e[i].value, sizeof(st->e[i].value), "%s", value);
	st->n++;
	int rc = save(st);
	if (rc < 0)
		st->n--;
	return rc;
}

const char *park_state_value(const struct park_state *st, const char *file)
{
	for (unsigned i = 0; i < st->n; i++)
		if (!st->e[i].foreign && strcmp(st->e[i].file, file) == 0)
			return st->e[i].value;
	return NULL;
}

int park_state_forget(struct park_state *st, const char *file)
{
	for (unsigned i = 0; i < st->n; i++) {
		if (strcmp(st->e[i].file, file) != 0)
			continue;
		st->e[i] = st->e[--st->n];
		return save(st);
	}
	return 0;
}

void park_state_close(struct park_state *st)
{
	if (st->lock_fd < 0)
		return;
	/* What is still journaled stays for the next open or `modvm recover`;
	 * a journal it did not believe stays exactly as it was. */
	if (!st->loaded) {
		/* nothing to write */
	} else if (st->n == 0 && st->held_fd >= 0) {
		/* as host.user the directory may refuse: cut to nothing, read as empty */
		if (unlink(st->path) < 0 && ftruncate(st->held_fd, 0) == 0)
			fsync(st->held_fd);
	} else if (st->n == 0) {
		save(st);
	}
	if (st->held_fd >= 0)
		close(st->held_fd);
	st->held_fd = -1;
	flock(st->lock_fd, LOCK_UN);
	close(st->lock_fd);
	st->lock_fd = -1;
}

int park_state_recover(const char *path, const char *under, unsigned *restored, char *err,
		       size_t errlen)
{
	struct park_state *st = calloc(1, sizeof(*st));
	unsigned failed = 0;
	int rc;

	if (!st)
		return -ENOMEM;
	rc = park_state_open(st, path, under, restored, &failed, err, errlen);
	if (rc == 0) {
		park_state_close(st);
		if (failed) {
			snprintf(err, errlen, "%s: %u value(s) could not be restored", path, failed);
			rc = -EIO;
		}
	}
	free(st);
	return rc;
}
