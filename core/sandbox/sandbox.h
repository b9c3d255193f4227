/*
 * core/sandbox/ — what modvm may still do once a guest can reach it
 * (issue 18): a seccomp-BPF allowlist per thread class, the user, group
 * and capabilities modvm keeps, no_new_privs, and Landlock over the files
 * the config names.  Uses base/ only, so every folder above it (event/
 * for the watchdog, kvm/ for /dev/kvm, vm/ for vCPU threads, host/ for the
 * lockdown) may reach it.
 *
 * The life of the sandbox, once per process:
 *
 *   declarations (modvm__sandbox_allow / _allow_path / _keep_cap; plugins
 *   through the SDK's modvm/sandbox.h, during init or start)
 *     → modvm__sandbox_lockdown: the filters are compiled, privileged
 *       things opened (/dev/kvm), the user switched, capabilities trimmed,
 *       no_new_privs set, Landlock applied to the calling (loop) thread,
 *       the thread spawners started, every other thread made to take the
 *       same and its own class's filter (catchup.c; the union for a
 *       thread the core did not make), then the loop's own filter
 *     → threads made afterwards with modvm__thread_spawn come from a
 *       spawner and have their class's filter before their first line.
 *
 * A thread's filter stacks on what it inherited: the spawner holds the
 * union, so a thread it makes ends up with exactly its class, in two
 * filters; the vCPU spawner holds the vCPU filter, so a vCPU thread runs
 * one filter per exit (threads.c).  The loop thread cannot create threads
 * itself (no clone), which is why the spawners exist: a VM restarted
 * after a guest reboot gets its vCPU and I/O threads from them, as the
 * first boot did.
 *
 * A forbidden call traps (SECCOMP_RET_TRAP): the SIGSYS handler writes one
 * line naming the thread, its class and the system call (async-signal-safe
 * writes only) and the process dies of SIGSYS (sigsys.c).
 */
#ifndef MODVM_CORE_SANDBOX_H
#define MODVM_CORE_SANDBOX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <modvm/sandbox.h>

#include "base/base.h"

/* The classes a thread may belong to (MODVM_THREAD_* are the SDK's bits). */
enum modvm__thread_class {
	MODVM__TC_NONE = 0,	/* a thread the core did not make: the union only */
	MODVM__TC_LOOP,		/* the loop thread (the one that locks down) */
	MODVM__TC_VCPU,		/* KVM_RUN and the PIO/MMIO handlers */
	MODVM__TC_IO,		/* device I/O threads (modvm_thread_create) */
	MODVM__TC_WATCHDOG,	/* event/watchdog.c */
	MODVM__TC_SPAWNER,	/* makes threads once the loop may not */
	MODVM__TC_COUNT,
};

/* "loop", "vcpu", "io", "watchdog", "spawner", "other". */
MODVM_INTERNAL const char *modvm__thread_class_name(enum modvm__thread_class c);
/* The signal that makes threads already running take the lockdown's
 * per-thread part (catchup.c): a thread made before it must not block it. */
MODVM_INTERNAL int modvm__sandbox_catchup_signal(void);

/* ---- declarations (sandbox.c), before the lockdown ---- */

/*
 * Allows @syscall (a name, "fallocate") on the threads of @classes
 * (MODVM_THREAD_* bits) — for @owner's I/O threads only where @classes
 * has MODVM_THREAD_IO (NULL owner: the core's).  @arg < 0: any arguments;
 * else only when argument @arg (0-5) has @value in its low 32 bits (the
 * int-typed arguments: an ioctl request, a socket family, madvise advice).
 * -EINVAL (unknown name, bad arg), -EPERM after the lockdown, -ENOMEM.
 * Logged with @owner's name.
 */
MODVM_INTERNAL int modvm__sandbox_allow(const char *owner, unsigned classes, const char *syscall,
					int arg, uint64_t value);
/* Landlock: @path (and what is beneath it) with MODVM_SANDBOX_* @access. */
MODVM_INTERNAL int modvm__sandbox_allow_path(const char *owner, const char *path,
					     unsigned access);
/* A capability (CAP_NET_ADMIN, …) the process keeps after the lockdown. */
MODVM_INTERNAL int modvm__sandbox_keep_cap(const char *owner, int cap);
/* Drops everything @owner declared (its fini), unless locked already. */
MODVM_INTERNAL void modvm__sandbox_forget(const char *owner);

/* ---- the lockdown (sandbox.c) ---- */

struct modvm__sandbox_config {
	bool strict;		/* seccomp, Landlock, capabilities, no_new_privs */
	const char *user;	/* host.user: a name or a number; NULL/"" none */
	const char *group;	/* host.group: likewise; "" = the user's group */
	const char *where_user;	/* file:line of host.user, for messages */
	const char *where_group;
};

/*
 * Locks this process down as @cfg says, from the loop thread, after
 * everything that needs privilege is open.  Idempotent: a second call
 * returns 0 and changes nothing (the first lockdown holds for the life of
 * the process).  0, or -errno with one line logged (an unknown user, a
 * filter the kernel refuses) — the caller must not start guests then.
 */
MODVM_INTERNAL int modvm__sandbox_lockdown(const struct modvm__sandbox_config *cfg);
/* True once modvm__sandbox_lockdown has succeeded with strict set. */
MODVM_INTERNAL bool modvm__sandbox_locked(void);

/*
 * After the lockdown, the uid and gid the process runs as; before it,
 * those it will run as (host.user resolved at modvm__sandbox_set_user).
 */
MODVM_INTERNAL void modvm__sandbox_owner(uid_t *uid, gid_t *gid);
/* Resolves host.user/group ahead of the lockdown (for modvm_sandbox_owner
 * in plugins' start and for `check`).  0 or -EINVAL, logged. */
MODVM_INTERNAL int modvm__sandbox_set_user(const char *user, const char *group,
					   const char *where_user, const char *where_group);

/*
 * /dev/kvm as opened before the privileges went: a new descriptor of it
 * (F_DUPFD_CLOEXEC), or -ENOENT when none is held (open it yourself).
 */
MODVM_INTERNAL int modvm__sandbox_kvm_fd(void);

/*
 * Files made while privileged that modvm must remove at its end (the
 * control socket), when a switch to host.user would leave it unable to
 * (reaper.c).  Noting records the file's inode; forgetting drops it.
 * At most 4.  0, -errno of lstat, -ENOSPC.
 */
MODVM_INTERNAL int modvm__sandbox_remove_at_end(const char *path);
MODVM_INTERNAL void modvm__sandbox_forget_at_end(const char *path);
/* Removes every noted file through the helper, if one runs, waits for it
 * and reaps it: where a noted file's own removal is (the control socket's
 * close), which after the switch may be refused. */
MODVM_INTERNAL void modvm__sandbox_reaper_finish(void);

/* Called on the loop thread at the end of each lockdown (the watchdog
 * wakes its thread so it narrows itself).  At most 4. */
MODVM_INTERNAL void modvm__sandbox_on_lockdown(void (*fn)(void));

/* ---- threads (threads.c) ---- */

/*
 * Makes a thread of class @c running @fn(@arg), named @name (15 chars),
 * owned by @owner (a plugin's name; NULL: the core).  Before the lockdown
 * it is a plain pthread_create; after it the spawner makes the thread,
 * which installs @c's filter before calling @fn.  @detached: no join.
 * 0 or -errno.
 */
MODVM_INTERNAL int modvm__thread_spawn(pthread_t *thread, enum modvm__thread_class c,
				       const char *owner, const char *name, bool detached,
				       void *(*fn)(void *), void *arg);
/*
 * The calling thread becomes class @c: installs @c's filter now if the
 * process is locked down and this thread has not got one yet (the
 * watchdog calls it at each wake-up).  Cheap when nothing is to do.
 */
MODVM_INTERNAL void modvm__thread_enter(enum modvm__thread_class c, const char *owner);
/* The calling thread's class (MODVM__TC_NONE if none was set). */
MODVM_INTERNAL enum modvm__thread_class modvm__thread_class(void);

/* ---- reporting (sigsys.c) ---- */

/*
 * Called from the SIGSYS handler with the violation line (no newline)
 * before the process dies: the conformance kit turns it into the check's
 * verdict.  Must be async-signal-safe.
 */
MODVM_INTERNAL void modvm__sandbox_set_violation_hook(void (*fn)(const char *line));

/* ---- what was built, for logs, `caps`, the README and tests ---- */

struct modvm__sandbox_stats {
	bool strict, landlock;
	int landlock_abi;		/* 0: not available */
	unsigned syscalls[MODVM__TC_COUNT];	/* distinct syscalls allowed */
	unsigned arg_limited[MODVM__TC_COUNT];	/* of which only with some arguments */
	unsigned bpf_len[MODVM__TC_COUNT];	/* instructions of the class's filter */
	unsigned union_syscalls, union_bpf_len;
	uid_t uid;
	gid_t gid;
	uint64_t caps;			/* kept, bit n = capability n */
};
MODVM_INTERNAL void modvm__sandbox_get_stats(struct modvm__sandbox_stats *out);

/*
 * Builds the filters from the current declarations without installing
 * anything (tests, `modvm caps`, the size table in the README): fills
 * @out's counts.  0 or -errno.
 */
MODVM_INTERNAL int modvm__sandbox_dry_run(struct modvm__sandbox_stats *out);

/*
 * Tests and benchmarks: installs on this thread only the chain a thread
 * of class @c gets after the lockdown (loop, vCPU: its filter alone;
 * others: the union, then theirs), without switching users or Landlock.
 * 0 or -errno.
 */
MODVM_INTERNAL int modvm__sandbox_apply_class_for_test(enum modvm__thread_class c,
						       const char *owner);

/*
 * The conformance kit: from now on, a plugin's I/O thread (class IO, made
 * through modvm_thread_create) installs its filter as in a locked-down
 * process (modvm__sandbox_apply_class_for_test) before its code runs, so
 * that the kit sees its calls without a lockdown: as a VM's devices made
 * after the lockdown (a guest's reboot) get theirs, with everything the
 * plugin declared in init and start.  After start, then.  A thread that
 * cannot install it aborts.  For a process that runs nothing else.
 */
MODVM_INTERNAL void modvm__sandbox_filter_io_threads_for_test(bool on);

/* The system calls the lockdown itself makes before its filters are in
 * place (seccomp, landlock_*, capset, …): NULL-terminated. */
MODVM_INTERNAL const char *const *modvm__sandbox_lockdown_calls(void);
/* The syscall names of class @c's allowlist (MODVM__TC_NONE: the union),
 * one per call of @fn, in number order, @limited when only some arguments
 * pass; as a build without sanitizers has it (their runtime's lists left
 * out).  For tests/dist/sandbox_calls.c. */
MODVM_INTERNAL int modvm__sandbox_foreach_allowed(enum modvm__thread_class c, const char *owner,
						  void (*fn)(const char *name, bool limited,
							     void *ud),
						  void *ud);

#endif
