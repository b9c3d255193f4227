/*
 * The lockdown's per-thread half, for the threads that were already
 * running.  capset(2), PR_SET_NO_NEW_PRIVS, landlock_restrict_self(2) and
 * a seccomp filter change only the calling thread (glibc broadcasts
 * setresuid itself; seccomp's TSYNC would put one filter on every thread,
 * which each would then run ahead of its own).  A thread made before the lockdown
 * — the watchdog, a plugin's I/O threads set up with the first VMs — would
 * otherwise keep root's capabilities and see every file, and the others
 * could no longer even set its affinity (the kernel refuses that towards a
 * thread with more capabilities).
 *
 * So, the way glibc broadcasts setxid: a signal to every other thread,
 * whose handler makes the same calls on itself and installs its class's
 * filter (threads.c).  Then each thread in /proc/self/task is checked:
 * one that still has a capability outside the kept set, or no filter, or
 * that never answered (it blocks the signal), fails the lockdown with its
 * name.  Threads are signalled again until a round finds none new: one
 * made meanwhile by a thread that had not yet taken the lockdown has not
 * inherited it.
 */
#include <dirent.h>
#include <errno.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/sandbox_impl.h"

#define DOMAIN "sandbox"
#define MAX_THREADS 1024
#ifndef __NR_landlock_restrict_self
#define __NR_landlock_restrict_self 446
#endif

static struct {
	bool active;		/* the handler stays installed; it acts only now */
	bool nnp, filters;
	uint64_t keep;
	int ruleset;
	int acks;
	pid_t acked[MAX_THREADS];
	int nsignalled;
	pid_t signalled[MAX_THREADS];
	int err;		/* first errno a handler met */
	pid_t err_tid;
} cu;

MODVM_INTERNAL int modvm__sandbox_catchup_signal(void)
{
	/* Next to the vCPU kick (SIGRTMAX - 1), away from glibc's SIGRTMIN. */
	return SIGRTMAX - 2;
}

/* Only raw system calls: this runs in a signal handler. */
static void on_signal(int sig)
{
	int saved = errno, err = 0;
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { 0 };
	pid_t tid = (pid_t)syscall(SYS_gettid);

	(void)sig;
	/* A signal that was pending in a thread blocking it arrives whenever
	 * that thread unblocks it: by then the filters forbid these calls. */
	if (!__atomic_load_n(&cu.active, __ATOMIC_ACQUIRE))
		return;
	if (syscall(SYS_capget, &h, d) == 0) {
		for (int i = 0; i < 2; i++) {
			uint32_t k = (uint32_t)(cu.keep >> (32 * i));
			d[i].effective &= k;
			d[i].permitted &= k;
			d[i].inheritable = 0;
		}
		if (syscall(SYS_capset, &h, d) < 0)
			err = errno;
	} else {
		err = errno;
	}
	if (!err && cu.nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		err = errno;
	if (!err && cu.ruleset >= 0 && syscall(__NR_landlock_restrict_self, cu.ruleset, 0) < 0)
		err = errno;
	if (!err && cu.filters)
		err = -modvm__sb_thread_take_filter();
	if (err && __atomic_load_n(&cu.err, __ATOMIC_RELAXED) == 0) {
		cu.err_tid = tid;
		__atomic_store_n(&cu.err, err, __ATOMIC_RELAXED);
	}
	int slot = __atomic_fetch_add(&cu.acks, 1, __ATOMIC_ACQ_REL);
	if (slot < MAX_THREADS)
		__atomic_store_n(&cu.acked[slot], tid, __ATOMIC_RELEASE);
	errno = saved;
}

static bool acked(pid_t tid)
{
	int n = __atomic_load_n(&cu.acks, __ATOMIC_ACQUIRE);
	for (int i = 0; i < n && i < MAX_THREADS; i++)
		if (__atomic_load_n(&cu.acked[i], __ATOMIC_ACQUIRE) == tid)
			return true;
	return false;
}

/* CapPrm and the Seccomp mode of thread @tid from /proc; false when it is
 * gone. */
static bool status_of(pid_t tid, uint64_t *prm, int *seccomp, char *comm, size_t len)
{
	char path[64], line[128];
	FILE *f;

	*prm = ~0ull;
	*seccomp = 0;
	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", (int)tid);
	snprintf(comm, len, "?");
	if ((f = fopen(path, "re"))) {
		if (fgets(comm, (int)len, f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	if (!(f = fopen(path, "re")))
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapPrm: %lx", prm) != 1)
			(void)sscanf(line, "Seccomp: %d", seccomp);
	fclose(f);
	return true;
}

/* Calls @fn for every thread of the process but the caller; stops at its
 * first non-zero return. */
static int each_other_thread(int (*fn)(pid_t tid, void *ud), void *ud)
{
	pid_t self = (pid_t)syscall(SYS_gettid);
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int r = 0;

	if (!d)
		return -errno;
	while (r == 0 && (e = readdir(d))) {
		pid_t tid = (pid_t)atoi(e->d_name);
		if (tid > 0 && tid != self)
			r = fn(tid, ud);
	}
	closedir(d);
	return r;
}

/* Signals @tid unless it has answered or was signalled in this lockdown. */
static int signal_one(pid_t tid, void *ud)
{
	int *sent = ud;

	if (acked(tid))
		return 0;
	for (int i = 0; i < cu.nsignalled; i++)
		if (cu.signalled[i] == tid)
			return 0;
	if (cu.nsignalled < MAX_THREADS &&
	    syscall(SYS_tgkill, getpid(), tid, modvm__sandbox_catchup_signal()) == 0) {
		cu.signalled[cu.nsignalled++] = tid;
		(*sent)++;
	}
	return 0;
}

static int check_one(pid_t tid, void *ud)
{
	char comm[32];
	uint64_t prm;
	int seccomp;
	bool landlock = *(bool *)ud;

	if (!status_of(tid, &prm, &seccomp, comm, sizeof(comm)))
		return 0;	/* gone: nothing left to hold */
	if ((prm & ~cu.keep) == 0 && (!landlock || acked(tid)) && (!cu.filters || seccomp == 2))
		return 0;
	modvm_log(MODVM_LOG_ERROR, DOMAIN,
		  "thread %d (\"%s\") was running before the lockdown and did not take it (it "
		  "blocks signal %d, SIGRTMAX-2): it would keep capabilities %#lx%s%s; make threads "
		  "with modvm_thread_create, or leave that signal unblocked",
		  (int)tid, comm, modvm__sandbox_catchup_signal(), (unsigned long)prm,
		  landlock ? " and see every file" : "",
		  cu.filters && seccomp != 2 ? " and make any system call" : "");
	return -EPERM;
}

int modvm__sb_catchup(uint64_t keep, bool nnp, int ruleset, bool filters)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct timespec pause = { 0, 1000000 };
	int sent = 0, r;

	memset(&cu, 0, sizeof(cu));
	cu.keep = keep;
	cu.nnp = nnp;
	cu.ruleset = ruleset;
	cu.filters = filters;
	sigfillset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(modvm__sandbox_catchup_signal(), &sa, NULL) < 0)
		return -errno;
	__atomic_store_n(&cu.active, true, __ATOMIC_RELEASE);
	/* Handlers run as soon as each thread is scheduled: 2 s is plenty
	 * even under emulation; a thread that blocks the signal never runs
	 * it, and the check below names it.  Until a round finds no thread
	 * that was not signalled yet. */
	for (int round = 0, before = -1; round < 8 && sent != before; round++) {
		before = sent;
		each_other_thread(signal_one, &sent);
		for (int i = 0; i < 2000 && __atomic_load_n(&cu.acks, __ATOMIC_ACQUIRE) < sent; i++)
			nanosleep(&pause, NULL);
	}
	__atomic_store_n(&cu.active, false, __ATOMIC_RELEASE);
	if (cu.err) {
		modvm_log(MODVM_LOG_ERROR, DOMAIN, "thread %d: cannot take the lockdown: %s",
			  (int)cu.err_tid, strerror(cu.err));
		return -cu.err;
	}
	bool landlock = ruleset >= 0;
	r = each_other_thread(check_one, &landlock);
	return r;
}
