/*
 * What a forbidden system call does: the filter traps it
 * (SECCOMP_RET_TRAP), the kernel sends SIGSYS to the thread that made it,
 * and this handler writes one line —
 *
 *   modvm: error: sandbox: thread "vcpu0" (vcpu, tid 4242) made system
 *   call socket (41) with arguments 17, 3, 0x300, …: not allowed for this
 *   thread; modvm is killed
 *
 * — then makes the same call again.  SIGSYS is blocked inside its own
 * handler, and the kernel answers a trap it cannot deliver by resetting
 * the handler and killing the process with SIGSYS: the exit status says
 * what happened, the line says where.  Chosen over SECCOMP_RET_KILL_PROCESS
 * because that one leaves only an audit record, which most hosts never
 * show the operator; over a handler that returns an error because a
 * process that reached a forbidden call is no longer trusted to go on.
 *
 * Everything here is async-signal-safe: the names of the system calls are
 * looked up once, at the lockdown, into a static table; the thread's name
 * and class are thread-local, set when the thread got its filter.
 */
#include <errno.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "event/event.h"
#include "sandbox/sandbox_impl.h"

#define MAX_NR 512

static const char *names[MAX_NR];
static bool names_built;
static void (*violation_hook)(const char *line);
static _Thread_local char label_name[16];
static _Thread_local enum modvm__thread_class label_class;
static _Thread_local bool labelled;

void modvm__sb_names_build(void)
{
	/* The kit's I/O threads may get here at once: one builds. */
	static pthread_mutex_t once = PTHREAD_MUTEX_INITIALIZER;

	if (__atomic_load_n(&names_built, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&once);
	if (!__atomic_load_n(&names_built, __ATOMIC_ACQUIRE)) {
		for (int nr = 0; nr < MAX_NR; nr++)
			names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		/* Kept for the life of the process: the handler reads them. */
		__atomic_store_n(&names_built, true, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&once);
}

void modvm__sb_thread_label(const char *name, enum modvm__thread_class c)
{
	label_class = c;
	if (name) {
		size_t n = strlen(name);
		if (n > sizeof(label_name) - 1)
			n = sizeof(label_name) - 1;
		memcpy(label_name, name, n);
		label_name[n] = '\0';
	} else {
		label_name[0] = '\0';
	}
	labelled = true;
}

MODVM_INTERNAL void modvm__sandbox_set_violation_hook(void (*fn)(const char *line))
{
	__atomic_store_n(&violation_hook, fn, __ATOMIC_RELEASE);
}

/* ---- async-signal-safe formatting ---- */

struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const char *s)
{
	while (*s && b->len + 1 < b->cap)
		b->p[b->len++] = *s++;
	b->p[b->len] = '\0';
}

static void put_num(struct buf *b, unsigned long long v, bool hex)
{
	char tmp[24];
	int i = (int)sizeof(tmp) - 1;

	tmp[i] = '\0';
	do {
		unsigned d = (unsigned)(v % (hex ? 16 : 10));
		tmp[--i] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
		v /= hex ? 16 : 10;
	} while (v && i > 2);
	if (hex) {
		tmp[--i] = 'x';
		tmp[--i] = '0';
	}
	put(b, tmp + i);
}

/* Small values in decimal, the rest (pointers, requests) in hex. */
static void put_arg(struct buf *b, unsigned long long v)
{
	put_num(b, v, v >= 4096);
}

static void on_sigsys(int signo, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	char line[512];
	struct buf b = { line, 0, sizeof(line) };
	char comm[17] = "";
	int nr = si->si_syscall;
	const char *name = nr >= 0 && nr < MAX_NR && names_built ? names[nr] : NULL;
	unsigned long long a[6] = {
		(unsigned long long)uc->uc_mcontext.gregs[REG_RDI],
		(unsigned long long)uc->uc_mcontext.gregs[REG_RSI],
		(unsigned long long)uc->uc_mcontext.gregs[REG_RDX],
		(unsigned long long)uc->uc_mcontext.gregs[REG_R10],
		(unsigned long long)uc->uc_mcontext.gregs[REG_R8],
		(unsigned long long)uc->uc_mcontext.gregs[REG_R9],
	};

	(void)signo;
	if (labelled && label_name[0]) {
		memcpy(comm, label_name, sizeof(label_name));
	} else {
		/* A thread the core did not make: its own name. */
		if (syscall(SYS_prctl, PR_GET_NAME, comm, 0, 0, 0) < 0)
			comm[0] = '\0';
		comm[16] = '\0';
	}
	put(&b, "modvm: error: sandbox: thread \"");
	put(&b, comm[0] ? comm : "?");
	put(&b, "\" (");
	put(&b, modvm__thread_class_name(labelled ? label_class : MODVM__TC_NONE));
	put(&b, ", tid ");
	put_num(&b, (unsigned long long)syscall(SYS_gettid), false);
	put(&b, ") made system call ");
	put(&b, name ? name : "?");
	put(&b, " (");
	put_num(&b, (unsigned long long)nr, false);
	put(&b, ")");
	/* Whose code asked: several plugins share the loop thread. */
	const char *owner = modvm__bus_owner();
	if (owner) {
		put(&b, " in plugin ");
		put(&b, owner);
	}
	put(&b, " with arguments ");
	for (int i = 0; i < 6; i++) {
		if (i)
			put(&b, ", ");
		put_arg(&b, a[i]);
	}
	put(&b, ": not allowed for this thread; modvm is killed");
	void (*hook)(const char *) = __atomic_load_n(&violation_hook, __ATOMIC_ACQUIRE);
	if (hook)
		hook(line);
	put(&b, "\n");
	ssize_t w = write(STDERR_FILENO, line, b.len);
	(void)w;
	/*
	 * The same call again, with SIGSYS blocked (we are in its handler):
	 * the filter traps it again and the kernel, unable to deliver, resets
	 * SIGSYS to its default action and kills the process with it.
	 */
	syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	/* Not reached; should the call ever pass, still do not return. */
	syscall(SYS_exit_group, 128 + SIGSYS);
}

int modvm__sb_sigsys_install(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
	sigset_t set;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	/* A thread that blocks SIGSYS would die without the line. */
	sigemptyset(&set);
	sigaddset(&set, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	return 0;
}
