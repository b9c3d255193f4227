/*
 * journal.c — what nic-ethtool changed on the host, kept on disk (ntuple.h).
 *
 * A run killed before its queues were freed (SIGKILL, a crash, the start
 * watchdog) leaves its steering rules on the NIC and its queue IRQs pinned
 * to one core.  So each process keeps a journal of its own, DIR/PID.state,
 * locked (flock) while it lives: before a rule is inserted or an IRQ's
 * affinity changed, a line says so; once it is undone, the line goes, and
 * an empty journal is no file.  When modvm will run as host.user, which may
 * not make files in root's directory, the file is made at init and held
 * open (emptied, not removed, when nothing is left).  Whoever starts next
 * (any modvm with this driver, or `modvm recover`) takes the journals no
 * live process holds and undoes what they
 * say: deletes the rules that still match exactly (interface, MAC, VLAN,
 * ring: never one somebody put there since) and writes the IRQs' affinity
 * back, newest first, then removes the file.
 *
 * Lines: "rule IF MAC VLAN RING" and "irq N LIST".  Only what parses
 * strictly is acted on, so a journal a compromised host.user wrote can make
 * root delete such a rule or set an IRQ's affinity, nothing else.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <modvm/log.h>

#include "ntuple.h"

#define LINE_MAX_LEN 320	/* an IRQ's affinity list is up to 255 */
#define FILE_MAX (64 * 1024)

struct nt_journal {
	char path[PATH_MAX];
	int fd;			/* -1 while there is no file */
	int dir_fd;		/* the directory: flocked while a ring is chosen */
	bool held;		/* made at open and kept (a switch to host.user comes) */
	char (*line)[LINE_MAX_LEN];
	size_t n, cap;
};

/* Makes this process's file, locked (never over another's: one a dead run
 * with our pid left is recovered first, or refused here). */
static int create(struct nt_journal *j)
{
	j->fd = open(j->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (j->fd >= 0 && flock(j->fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	int rc = -errno;
	if (j->fd >= 0) {
		unlink(j->path);
		close(j->fd);
	}
	j->fd = -1;
	return rc;
}

static int write_all(struct nt_journal *j)
{
	size_t len = 0;
	char *text;
	int rc = 0;

	if (j->n == 0 && !j->held) {
		/* nothing to undo: no file (it is made again when needed) */
		if (j->fd >= 0) {
			unlink(j->path);
			close(j->fd);
		}
		j->fd = -1;
		return 0;
	}
	if (j->fd < 0 && (rc = create(j)) < 0) {
		modvm_log(MODVM_LOG_ERROR, NT_LOG, "%s: cannot make the journal: %s", j->path,
			  strerror(-rc));
		return rc;
	}
	text = malloc(j->n * LINE_MAX_LEN + 1);
	if (!text)
		return -ENOMEM;
	for (size_t i = 0; i < j->n; i++)
		len += (size_t)sprintf(text + len, "%s\n", j->line[i]);
	errno = 0;
	if (pwrite(j->fd, text, len, 0) != (ssize_t)len || ftruncate(j->fd, (off_t)len) < 0 ||
	    fsync(j->fd) < 0)
		rc = errno ? -errno : -EIO;
	free(text);
	if (rc)
		modvm_log(MODVM_LOG_ERROR, NT_LOG, "%s: cannot write the journal: %s", j->path,
			  strerror(-rc));
	return rc;
}

int nt_journal_add(struct nt_journal *j, const char *line)
{
	if (!j)
		return 0;
	if (strlen(line) >= LINE_MAX_LEN)
		return -EINVAL;
	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 16;
		void *v = realloc(j->line, cap * sizeof(*j->line));

		if (!v)
			return -ENOMEM;
		j->line = v;
		j->cap = cap;
	}
	snprintf(j->line[j->n++], LINE_MAX_LEN, "%s", line);
	int rc = write_all(j);
	if (rc)
		j->n--;
	return rc;
}

void nt_journal_drop(struct nt_journal *j, const char *line)
{
	if (!j)
		return;
	for (size_t i = j->n; i-- > 0;) {
		if (strcmp(j->line[i], line) != 0)
			continue;
		memmove(j->line[i], j->line[i + 1], (j->n - i - 1) * sizeof(*j->line));
		j->n--;
		write_all(j);	/* logged; the next recovery would find it undone */
		return;
	}
}

static int make_dir(const char *dir)
{
	char up[PATH_MAX], *slash;

	if (mkdir(dir, 0700) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -errno;
	snprintf(up, sizeof(up), "%s", dir);
	slash = strrchr(up, '/');
	if (!slash || slash == up)
		return -ENOENT;
	*slash = '\0';
	if (mkdir(up, 0755) < 0 && errno != EEXIST)
		return -errno;
	return mkdir(dir, 0700) == 0 || errno == EEXIST ? 0 : -errno;
}

int nt_journal_open(struct nt_journal **out, const char *dir, bool hold, char *err,
		    size_t len)
{
	struct nt_journal *j = calloc(1, sizeof(*j));
	int rc;

	*out = NULL;
	if (!j)
		return -ENOMEM;
	j->fd = -1;
	j->dir_fd = -1;
	rc = make_dir(dir);
	if (rc == 0) {
		j->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		rc = j->dir_fd < 0 ? -errno : 0;
	}
	if (rc == 0 && (size_t)snprintf(j->path, sizeof(j->path), "%s/%ld.state", dir,
					(long)getpid()) >= sizeof(j->path))
		rc = -ENAMETOOLONG;
	j->held = hold;
	if (rc == 0 && hold)
		rc = create(j);
	if (rc) {
		snprintf(err, len, "%s: %s", j->path[0] ? j->path : dir, strerror(-rc));
		if (j->dir_fd >= 0)
			close(j->dir_fd);
		free(j);
		return rc;
	}
	*out = j;
	return 0;
}

int nt_journal_lock(struct nt_journal *j)
{
	if (!j)
		return 0;
	/* Another modvm holds it only from reading a NIC's rules to inserting
	 * its own: milliseconds.  Polled, so a stuck one costs a bounded wait. */
	for (int waited = 0; flock(j->dir_fd, LOCK_EX | LOCK_NB) < 0; waited += 10) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		if (waited >= NT_LOCK_WAIT_MS)
			return -EBUSY;
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
	return 0;
}

void nt_journal_unlock(struct nt_journal *j)
{
	if (j)
		flock(j->dir_fd, LOCK_UN);
}

void nt_journal_close(struct nt_journal *j)
{
	if (!j)
		return;
	/* Lines still here were not undone: they stay for the next recovery. */
	if (j->fd >= 0 && j->n == 0 && unlink(j->path) < 0 && ftruncate(j->fd, 0) == 0)
		fsync(j->fd);	/* as host.user: an empty journal, read as nothing */
	if (j->fd >= 0)
		close(j->fd);
	close(j->dir_fd);
	free(j->line);
	free(j);
}

/* ---- recovery ---- */

static bool ifname_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= 16)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			return false;
	return true;
}

static bool cpulist_ok(const char *s)
{
	if (!*s || strlen(s) > 255)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || *s == ',' || *s == '-'))
			return false;
	return true;
}

/* Deletes every rule on @ifname that is exactly the one described. */
static unsigned undo_rule(const struct nt_ethtool_ops *ops, void *ud, const char *ifname,
			  const uint8_t mac[6], uint16_t vlan, uint32_t ring)
{
	struct nt_rule *r;
	size_t n;
	unsigned done = 0;

	if (nt_rules_read(ops, ud, ifname, &r, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (nt_rule_is(&r[i], mac, vlan, ring) &&
		    nt_rule_delete(ops, ud, ifname, r[i].loc) == 0)
			done++;
	free(r);
	return done;
}

/* Undoes one dead process's journal, newest line first. */
static unsigned undo_file(int fd, const char *path, const struct nt_ethtool_ops *ops, void *ud,
			  const char *proc_root)
{
	char *text = malloc(FILE_MAX + 1), *lines[1024];
	size_t n = 0;
	unsigned done = 0;
	ssize_t got;

	if (!text)
		return 0;
	got = pread(fd, text, FILE_MAX, 0);
	text[got > 0 ? got : 0] = '\0';
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && n < 1024;
	     l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	while (n-- > 0) {
		char ifname[32], list[272];
		unsigned m[6], vlan, ring;
		int irq, end = 0;

		if (sscanf(lines[n], "rule %31s %2x:%2x:%2x:%2x:%2x:%2x %u %u%n", ifname, &m[0],
			   &m[1], &m[2], &m[3], &m[4], &m[5], &vlan, &ring, &end) == 9 &&
		    !lines[n][end] && ifname_ok(ifname) && vlan <= 4094 && ring < 65536) {
			uint8_t mac[6];
			for (int i = 0; i < 6; i++)
				mac[i] = (uint8_t)m[i];
			done += undo_rule(ops, ud, ifname, mac, (uint16_t)vlan, ring);
		} else if (sscanf(lines[n], "irq %d %271s%n", &irq, list, &end) == 2 &&
			   !lines[n][end] && irq >= 0 && irq < 1000000 && cpulist_ok(list)) {
			done += nt_irq_set_affinity(proc_root, irq, list) == 0;
		} else {
			modvm_log(MODVM_LOG_WARN, NT_LOG, "%s: line ignored: %.60s", path, lines[n]);
		}
	}
	free(text);
	return done;
}

int nt_journal_recover(const char *dir, const struct nt_ethtool_ops *ops, void *ud,
		       const char *proc_root, unsigned *undone)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	*undone = 0;
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	if (!ops)
		ops = &nt_ethtool_live;
	while ((e = readdir(d))) {
		char path[PATH_MAX];
		size_t len = strlen(e->d_name);
		struct stat st;

		if (len < 7 || strcmp(e->d_name + len - 6, ".state") != 0 ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path))
			continue;
		int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			continue;
		/* this user's, written by nobody else, and no live owner */
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
		    (st.st_mode & (S_IWGRP | S_IWOTH)) || st.st_size > FILE_MAX ||
		    flock(fd, LOCK_EX | LOCK_NB) < 0) {
			close(fd);
			continue;
		}
		*undone += undo_file(fd, path, ops, ud, proc_root);
		unlink(path);
		close(fd);
	}
	closedir(d);
	return 0;
}
