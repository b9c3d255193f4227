/*
 * statefile.h — what power-park has changed on the host, kept on disk.
 *
 * Before a parking action writes a host file (a cpu's `online` or its
 * `scaling_governor`) it records the file and the value it had, in a small
 * state file that is fsync'd and atomically replaced (written beside it,
 * renamed over it); when the old value is written back, the entry goes,
 * and an empty journal removes the file.  A run that crashes or is killed
 * (SIGKILL, the start watchdog, a power cut) leaves its entries behind; the
 * next open — power-park's init, or `modvm recover` from the service
 * manager's ExecStopPost — writes the old values back before anything
 * else, so a governor left at powersave is never saved as "the original"
 * and an offlined core, missing from the online mask, is not forgotten.
 *
 * The owner holds flock on STATE.lock (a file that is never replaced, so
 * the lock stays on one inode; it holds the owner's pid for messages) from
 * open to close: a second modvm using the same state file is refused, and
 * recovery never undoes a live run's changes.
 *
 * The file is "# modvm power-park state\n" then one "PATH\tVALUE\n" per
 * changed file.  It is read only if it is a regular file (never through a
 * symlink) owned by this user and writable by nobody else, and only entries
 * whose PATH is absolute and ends in /cpuN/online (VALUE "1": a core is
 * only ever brought back online) or /cpuN/cpufreq/scaling_governor (VALUE
 * of [A-Za-z0-9_-]), under the configured sysfs root, are ever recorded or
 * written back: a tampered file cannot make modvm write anywhere else, nor
 * take a core offline.
 *
 * Before modvm switches to host.user, whose rights do not reach the
 * journal's directory (root's /run/modvm), the owner holds the journal
 * open (park_state_hold): it is made now if missing and from then on
 * written in place through that descriptor — the whole text from offset 0,
 * then cut to length, fsync'd — ending with a "# end" line, after which a
 * reader ignores anything.  The file stays root's, so root's `modvm
 * recover` reads it, with the rules above: a process running as host.user
 * that holds it can make root bring a core under the sysfs root online or
 * set a governor there, nothing else.  A write longer than a page that a
 * SIGKILL cuts short can join a new line and an old one into one entry
 * naming another core: the same rules hold for it.  An empty journal that
 * can no longer be removed is cut to nothing, which reads as empty.  Nothing here knows about parking policy — it is a journal
 * of (file, old value), ready to move behind an SDK interface.
 */
#ifndef POWER_PARK_STATEFILE_H
#define POWER_PARK_STATEFILE_H

#include <stdbool.h>
#include <stddef.h>

#define PARK_STATE_MAX 512
#define PARK_STATE_DEFAULT "/run/modvm/power-park.state"

struct park_state_entry {
	char file[256];
	char value[32];
	/* Under another sysfs root (a run with another config shares the
	 * file): kept as it is for that run's owner, never written back here. */
	bool foreign;
};

struct park_state {
	char path[232];
	char under[232];		/* only entries under it are read ("": any) */
	int lock_fd;			/* >= 0 while this process owns the journal */
	int held_fd;			/* >= 0: written in place through it (hold) */
	bool loaded;			/* read and believed: ours to rewrite or remove */
	unsigned n;
	struct park_state_entry e[PARK_STATE_MAX];
};

/* True if @file and @value may be journaled (see above). */
bool park_state_valid(const char *file, const char *value);

/*
 * Takes ownership of the journal at @path (creating its directory, mode
 * 0755, if missing): locks it, writes back every leftover entry of an
 * earlier run for a file under @under (the sysfs root; NULL: any), each
 * one logged, and starts empty.  Entries that could not be written back
 * stay journaled (and *@failed counts them), and so do entries under
 * another root (logged, not counted).  A journal it refuses (not trusted,
 * unreadable) is left as it is.  0, -EBUSY (another live process owns it;
 * @err names its pid) or -errno with @err filled.  @restored and @failed
 * may be NULL.
 */
int park_state_open(struct park_state *st, const char *path, const char *under,
		    unsigned *restored, unsigned *failed, char *err, size_t errlen);

/* Holds the journal open from now on (above).  0 or -errno with @err. */
int park_state_hold(struct park_state *st, char *err, size_t errlen);

/* Journals @file's old @value before it is changed: fsync'd and renamed
 * into place before this returns.  0, 1 if @file was journaled already
 * (its first old value stays: park_state_value), or -errno (logged); then
 * do not change the file. */
int park_state_record(struct park_state *st, const char *file, const char *value);

/* The old value journaled for @file (one that could not be written back
 * at open, say), or NULL. */
const char *park_state_value(const struct park_state *st, const char *file);

/* Drops @file's entry once its old value is back.  0 or -errno (logged). */
int park_state_forget(struct park_state *st, const char *file);

/* Releases the journal; the file is removed when no entry is left. */
void park_state_close(struct park_state *st);

/*
 * `modvm recover`: open then close.  0 (nothing left, or everything
 * written back), -EBUSY if a live process owns it (nothing touched), -EIO
 * if some value could not be written back (logged; still journaled).
 */
int park_state_recover(const char *path, const char *under, unsigned *restored, char *err,
		       size_t errlen);

#endif
