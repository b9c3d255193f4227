/*
 * core/base/ — the floor every other part of libmodvm stands on: logging,
 * version and error text (the SDK's modvm/log.h and modvm/common.h), and
 * the MODVM_INTERNAL marker.  It depends on nothing else in core/.
 *
 * Nothing here is SDK: plugins never include core headers.  Symbols shared
 * between core files are prefixed modvm__ and exported (MODVM_INTERNAL)
 * only so the in-tree tests and the modvm executable can reach them; the
 * ABI check ignores the modvm__ prefix.
 *
 * Each folder of core/ has one header named after it (event/event.h,
 * vm/vm.h, …) that is its interface to the rest of core; a folder uses
 * only the folders below it (docs/architecture.md has the map).
 */
#ifndef MODVM_CORE_BASE_H
#define MODVM_CORE_BASE_H

#include <modvm/common.h>
#include <modvm/log.h>

#define MODVM_INTERNAL MODVM_EXPORT

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct stat;

/* ---- files.c: opening what a user names ---- */

/*
 * Opens @path O_RDONLY|O_CLOEXEC|O_NONBLOCK|@extra (e.g. O_NOFOLLOW) — so
 * a fifo, device or socket cannot block — and checks with fstat that it is
 * a regular file.  The fd (O_NONBLOCK cleared again), or -errno with one
 * line "PATH: why" in @err ("…: is a fifo, not a regular file").  @st
 * (optional) receives the fstat.
 */
MODVM_INTERNAL int modvm__open_regular(const char *path, int extra, struct stat *st,
				       char *err, size_t errlen);
/* "a fifo", "a directory", … for messages. */
MODVM_INTERNAL const char *modvm__file_kind(mode_t mode);
/*
 * StrictModes: @path (resolved with realpath) and the directory holding
 * it are owned by root or the effective uid and writable by nobody else;
 * every directory above them is owned by root or us and either not
 * writable by others or sticky (/tmp).  0, or -EPERM (-errno) with
 * "DIR is writable by its group (mode 0775)" style text in @err.
 */
MODVM_INTERNAL int modvm__path_trusted(const char *path, char *err, size_t errlen);
/* The same for one directory alone (no sticky exception): where a socket
 * or a journal is created. */
MODVM_INTERNAL int modvm__dir_trusted(const char *dir, char *err, size_t errlen);

/* ---- ratelimit.c: what a guest can make us log ---- */

/* Per VM: at most this many guest-triggered lines per window. */
#define MODVM__GUEST_LOG_BURST 10
#define MODVM__GUEST_LOG_WINDOW_NS (5ULL * 1000000000ULL)

struct modvm__ratelimit {
	pthread_mutex_t lock;
	char who[48];			/* "vm NAME", for the suppressed line */
	unsigned burst, used;
	uint64_t interval_ns, window_start;
	uint64_t suppressed;		/* in this window, not yet reported */
	uint64_t (*now)(void);		/* CLOCK_MONOTONIC ns; tests may replace it */
};

/* @burst lines per @interval_ns; @who prefixes the suppressed line. */
MODVM_INTERNAL void modvm__ratelimit_init(struct modvm__ratelimit *rl, const char *who,
					  unsigned burst, uint64_t interval_ns);
/* Says what is still suppressed, then destroys the lock. */
MODVM_INTERNAL void modvm__ratelimit_fini(struct modvm__ratelimit *rl);
/* True if one more line may go now (a new window first reports what the
 * last one suppressed: "WHO: suppressed N similar messages"). */
MODVM_INTERNAL bool modvm__ratelimit_allow(struct modvm__ratelimit *rl);
/* modvm_log through @rl (NULL: not limited); filtered lines are not counted. */
MODVM_INTERNAL void modvm__log_limited(struct modvm__ratelimit *rl, enum modvm_log_level level,
				       const char *domain, const char *fmt, ...) MODVM_PRINTF(4, 5);
MODVM_INTERNAL void modvm__log_limitedv(struct modvm__ratelimit *rl, enum modvm_log_level level,
					const char *domain, const char *fmt, va_list ap)
	MODVM_PRINTF(4, 0);

/* ---- clock.c ---- */

/* Now on @clk plus @ns, normalised: an absolute deadline. */
MODVM_INTERNAL struct timespec modvm__deadline_after(clockid_t clk, uint64_t ns);

#endif
