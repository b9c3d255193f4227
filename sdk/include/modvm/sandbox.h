/*
 * modvm/sandbox.h — what a plugin tells the sandbox (ABI 1.4).
 *
 * With host.sandbox = "strict" (the default; "off" turns it off)
 * modvm locks itself down after setup and before the first guest
 * instruction: every thread runs under a seccomp allowlist for its class,
 * the process has switched to host.user/host.group (if set) with only the
 * capabilities still needed, no_new_privs is set, and Landlock (where the
 * kernel has it) limits file access to the paths the config names.  A
 * system call outside a thread's allowlist kills modvm with one line
 * naming the call and the thread.  With "off" only host.user/host.group
 * apply.
 *
 * The allowlists cover what the core and its event loop do.  A plugin
 * that needs more declares it here, in its init (or start): the system
 * calls per thread class, the paths it will open after setup, the
 * capabilities it keeps.  Declarations are dropped at fini.  After the
 * lockdown every function here returns -EPERM (the filters are fixed).
 * `modvm-conform` runs each plugin under its filters (check "sandbox")
 * and fails it with the name of the first undeclared call.
 *
 * Thread classes, as sdk/README.md's threading rules name them:
 *   MODVM_THREAD_LOOP  the loop thread: init…fini, handlers, timers, I/O
 *                      watchers, loop calls and the per-VM hooks;
 *   MODVM_THREAD_VCPU  vCPU threads: PIO/MMIO handlers (and everything
 *                      they call: virtqueue notify, TX paths; a virtio
 *                      device's queue_notify also runs on the loop when
 *                      modvm_virtio_renotify asks: declare it for both);
 *   MODVM_THREAD_IO    the plugin's own threads, made with
 *                      modvm_thread_create() (each plugin's I/O threads
 *                      get the core's I/O list plus what that plugin
 *                      declared for MODVM_THREAD_IO, nobody else's).
 */
#ifndef MODVM_SANDBOX_H
#define MODVM_SANDBOX_H

#include <pthread.h>
#include <sys/types.h>

#include "common.h"

MODVM_BEGIN_DECLS

struct modvm_plugin_ctx;

#define MODVM_THREAD_LOOP 0x1u
#define MODVM_THREAD_VCPU 0x2u
#define MODVM_THREAD_IO 0x4u
#define MODVM_THREAD_ALL (MODVM_THREAD_LOOP | MODVM_THREAD_VCPU | MODVM_THREAD_IO)

/*
 * Allows @syscall (its name as in <sys/syscall.h> without SYS_, e.g.
 * "fallocate") on the threads of @threads (MODVM_THREAD_* bits), with any
 * arguments.  0, -EINVAL (a name this architecture does not know, no
 * thread bit), -EPERM (after the lockdown); logged.
 */
MODVM_EXPORT int modvm_sandbox_allow(struct modvm_plugin_ctx *ctx, unsigned threads,
				     const char *syscall);

/*
 * Like modvm_sandbox_allow, but only when argument @arg (0-5) of the call
 * equals @value in its low 32 bits — for the int-typed arguments that say
 * what a multiplexing call does: an ioctl request (arg 1: SIOCETHTOOL), a
 * socket family (arg 0: AF_INET), madvise advice (arg 2), an fcntl or
 * prctl command.  Call it once per value.  A call allowed with any
 * arguments stays so.
 */
MODVM_EXPORT int modvm_sandbox_allow_arg(struct modvm_plugin_ctx *ctx, unsigned threads,
					 const char *syscall, unsigned arg, uint64_t value);

/* Access to a path and what is beneath it (Landlock). */
#define MODVM_SANDBOX_READ 0x1u		/* read files, list directories */
#define MODVM_SANDBOX_WRITE 0x2u	/* write and truncate files, ioctl on devices */
#define MODVM_SANDBOX_CREATE 0x4u	/* make and remove files and directories beneath */

/*
 * Declares that the plugin opens @path (a file, a device or a directory
 * and everything beneath it) after setup — in a per-VM hook, a handler or
 * a timer — with @access (MODVM_SANDBOX_* bits).  A path that does not
 * exist yet is declared through the directory that will hold it.
 * Paths the core itself names (kernels, initrds, console files) and read
 * access to /proc and /sys need no declaration.  0, -EINVAL, -EPERM.
 */
MODVM_EXPORT int modvm_sandbox_allow_path(struct modvm_plugin_ctx *ctx, const char *path,
					  unsigned access);

/*
 * Keeps capability @cap (a CAP_* number of <linux/capability.h>, e.g.
 * CAP_NET_ADMIN) after modvm switches to host.user, or drops everything
 * else when it stays root.  Only what is declared survives the lockdown.
 * 0, -EINVAL (not a capability), -EPERM.
 */
MODVM_EXPORT int modvm_sandbox_keep_cap(struct modvm_plugin_ctx *ctx, int cap);

/*
 * The uid and gid modvm runs as after setup (host.user/host.group, or
 * the current ones): a plugin that makes a directory it will write later
 * (a state journal) hands it to them.  Never fails.
 */
MODVM_EXPORT void modvm_sandbox_owner(struct modvm_plugin_ctx *ctx, uid_t *uid, gid_t *gid);

/*
 * Starts a thread of class MODVM_THREAD_IO for the plugin: @fn(@arg),
 * named @name (at most 15 characters shown, like pthread_setname_np).
 * Any time between init and fini, on the loop thread: after the lockdown
 * (when the loop thread itself may not create threads) the core's
 * spawner makes it, and the thread installs the plugin's I/O filter
 * before @fn runs.  Join it with pthread_join().  0 or a negative errno.
 * Threads made with pthread_create() directly run under the loop's
 * filter plus nothing (before the lockdown: the union of all classes).
 */
MODVM_EXPORT int modvm_thread_create(struct modvm_plugin_ctx *ctx, pthread_t *thread,
				     const char *name, void *(*fn)(void *), void *arg);

MODVM_END_DECLS

#endif
