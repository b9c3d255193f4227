/*
 * core/sandbox/sandbox_impl.h — what the files of core/sandbox/ share:
 * the allowlist tables (allow.c), the compiled filters (sandbox.c), the
 * SIGSYS report (sigsys.c), privileges (privs.c), Landlock (landlock.c)
 * and threads (threads.c).  Private to this folder.
 */
#ifndef MODVM_CORE_SANDBOX_IMPL_H
#define MODVM_CORE_SANDBOX_IMPL_H

#include <linux/filter.h>

#include "sandbox/sandbox.h"

/* Sanitizer runtimes make calls of their own (sandbox.c, allow.c). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MODVM__SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MODVM__SANITIZER_BUILD 1
#endif
#endif
#ifndef MODVM__SANITIZER_BUILD
#define MODVM__SANITIZER_BUILD 0
#endif

/*
 * One allowlist entry: a system call by name, with any arguments (arg <
 * 0) or only when (argument @arg & @mask) == @value.  Tables end with a
 * NULL name.
 */
struct modvm__sb_rule {
	const char *name;
	int arg;
	uint64_t mask, value;
};

/* allow.c: the measured allowlists (see the comment there). */
extern const struct modvm__sb_rule modvm__sb_common[];	/* every class */
extern const struct modvm__sb_rule modvm__sb_loop[];
extern const struct modvm__sb_rule modvm__sb_vcpu[];
extern const struct modvm__sb_rule modvm__sb_io[];
extern const struct modvm__sb_rule modvm__sb_watchdog[];
extern const struct modvm__sb_rule modvm__sb_spawner[];
extern const struct modvm__sb_rule modvm__sb_thread_start[];	/* spawners, vCPUs */
extern const char *const modvm__sb_lockdown_calls[];
/* Sanitizer builds: what the runtime needs to report (every class) and
 * to check leaks at exit (the thread that exits: the loop). */
extern const struct modvm__sb_rule modvm__sb_sanitizer_report[];
extern const struct modvm__sb_rule modvm__sb_sanitizer_exit[];

/* sandbox.c: the filter of class @c (and @owner for I/O threads); NULL
 * before the lockdown (or when not strict).  _built: as soon as the
 * lockdown has compiled them (for its catch-up).  Async-signal-safe. */
const struct sock_fprog *modvm__sb_filter(enum modvm__thread_class c, const char *owner);
const struct sock_fprog *modvm__sb_filter_built(enum modvm__thread_class c, const char *owner);
/* Installs @prog on the calling thread alone.  0 or -errno. */
int modvm__sb_install(const struct sock_fprog *prog);

/* sigsys.c */
int modvm__sb_sigsys_install(void);
void modvm__sb_names_build(void);
/* The calling thread's name and class for the report (threads.c sets). */
void modvm__sb_thread_label(const char *name, enum modvm__thread_class c);

/* privs.c: switch to @uid/@gid with @groups, keep the capabilities of
 * @keep (bit n = CAP n), no_new_privs.  0 or -errno (logged). */
int modvm__sb_resolve_user(const char *user, const char *group, const char *where_user,
			   const char *where_group, uid_t *uid, gid_t *gid, bool *switch_user);
int modvm__sb_drop_privileges(bool switch_user, uid_t uid, gid_t gid, const char *user_name,
			      uint64_t keep, bool strict);
const char *modvm__sb_cap_name(int cap);
/* reaper.c: forks the helper that removes the noted files at the end, if
 * any are noted.  Before the switch away from root.  0 or -errno (logged). */
int modvm__sb_reaper_start(void);
/* "CAP_A,CAP_B" for the bits of @caps, "none", cut with "..." at @len. */
void modvm__sb_cap_list(uint64_t caps, char *out, size_t len);

/* landlock.c: restricts the calling thread (and its future children) to
 * @n paths.  0 (also when the kernel has no Landlock: *abi = 0), -errno.
 * @ruleset gets the ruleset's fd for catchup (the caller closes it), or -1. */
struct modvm__sb_path {
	char *owner;
	char *path;
	unsigned access;
};
int modvm__sb_landlock(const struct modvm__sb_path *paths, size_t n, int *abi, int *ruleset);

/* catchup.c: the lockdown's per-thread half (capabilities to @keep,
 * no_new_privs, Landlock @ruleset unless -1, and with @filters the
 * thread's seccomp filter) on every thread already running, through a
 * signal; -EPERM naming a thread that did not take it. */
int modvm__sb_catchup(uint64_t keep, bool nnp, int ruleset, bool filters);

/* threads.c: starts the spawners (after the lockdown's Landlock, whose
 * domain they inherit, before the catch-up, which gives them their
 * filters).  0 or -errno. */
int modvm__sb_spawner_start(void);
/* threads.c, from the catch-up handler: installs the calling thread's
 * filter (its class's alone; the union for a thread without a class).
 * 0 or -errno.  Async-signal-safe. */
int modvm__sb_thread_take_filter(void);

#endif
