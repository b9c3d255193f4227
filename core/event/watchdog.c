/*
 * The watchdog: a deadline on calls into plugin code that the loop thread
 * cannot interrupt (init, start, stop, fini, validate, recover, a VM
 * hook).  A plugin whose start blocks — on a fifo, a lock, a sleep — used
 * to hang modvm for good, SIGTERM included, because the loop never got
 * back to look at the signal.
 *
 * One thread per process, made at the first arm, waits while nothing is
 * armed and polls ten times a second while something is.  When the call
 * outlives its timeout, or a stop signal arrived and the call has not
 * returned within the grace period since, it writes one line naming the
 * call and ends the process with _exit(1).  Nothing else is safe then: the
 * loop thread is inside the plugin, holding whatever it holds, so no stop
 * or fini runs and no lock is taken (not even the log's: the line is one
 * write(2)).  What the plugin left changed on the host is for the next
 * start or `modvm recover` (SDK: the descriptor's recover); the control
 * socket left behind is replaced as stale by the next start.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "event/event.h"
#include "sandbox/sandbox.h"

#define POLL_NS 100000000L	/* 100 ms */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool started;
	pthread_t first;	/* made before the lockdown: joined when replaced */
	bool first_running;
	unsigned generation;	/* a thread of an older one leaves */
	unsigned depth;		/* nested arms: only the outermost counts */
	char what[160];
	double timeout_s, grace_s;
	struct timespec armed_at;
} wd = { .lock = PTHREAD_MUTEX_INITIALIZER };

static double since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void expire(double elapsed, int signo)
{
	char line[320];
	int n;

	if (signo)
		n = snprintf(line, sizeof(line),
			     "modvm: error: %s: still running %.0f s after signal %d (%s): exiting "
			     "without stopping it\n", wd.what, elapsed, signo, strsignal(signo));
	else
		n = snprintf(line, sizeof(line),
			     "modvm: error: %s: did not return within %.0f s (host.plugin_timeout): "
			     "exiting without stopping it\n", wd.what, wd.timeout_s);
	ssize_t w = write(STDERR_FILENO, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n
										: strlen(line));
	(void)w;
	_exit(1);
}

static void *run(void *ud)
{
	unsigned generation = (unsigned)(uintptr_t)ud;
	struct timespec signal_at = { 0 };
	int seen_signo = 0;

	pthread_mutex_lock(&wd.lock);
	while (generation == wd.generation) {
		if (wd.depth == 0) {
			seen_signo = 0;
			pthread_cond_wait(&wd.cond, &wd.lock);
			continue;
		}
		/* The grace runs from the signal for as long as it is pending: a
		 * signal the loop has taken means a graceful stop is under way. */
		int signo = modvm__stop_signal_pending();
		if (!signo)
			seen_signo = 0;
		if (signo && !seen_signo) {
			seen_signo = signo;
			clock_gettime(CLOCK_MONOTONIC, &signal_at);
		}
		double elapsed = since(&wd.armed_at);
		if (elapsed >= wd.timeout_s) {
			expire(elapsed, 0);
			continue;
		}
		if (seen_signo && since(&signal_at) >= wd.grace_s) {
			expire(since(&signal_at), seen_signo);
			continue;
		}
		struct timespec until = modvm__deadline_after(CLOCK_REALTIME, POLL_NS);
		pthread_cond_timedwait(&wd.cond, &wd.lock, &until);
	}
	pthread_mutex_unlock(&wd.lock);
	return NULL;
}

/* Starts a watchdog thread of the current generation (wd.lock held);
 * @keep: joinable, its id in *@keep. */
static bool start_thread(pthread_t *keep)
{
	pthread_t t;
	sigset_t all, old;

	/* The thread takes no signal: the handler's pipe write belongs to
	 * whichever thread the kernel picks, and never this one.  SIGSYS
	 * stays open (the sandbox reports a forbidden call with it), and so
	 * does the lockdown's catch-up signal. */
	sigfillset(&all);
	sigdelset(&all, SIGSYS);
	sigdelset(&all, modvm__sandbox_catchup_signal());
	pthread_sigmask(SIG_BLOCK, &all, &old);
	bool ok = modvm__thread_spawn(&t, MODVM__TC_WATCHDOG, NULL, "modvm-watchdog", !keep, run,
				      (void *)(uintptr_t)wd.generation) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ok && keep)
		*keep = t;
	return ok;
}

/*
 * The lockdown's hook, on the loop thread: a new watchdog, made through
 * the spawner, replaces the one made before it.  The old one took the
 * lockdown through the catch-up signal, but as a Landlock domain of its
 * own: a sibling of the loop's, which the loop's children (LeakSanitizer's
 * exit check) may not ptrace.  The new one starts inside the loop's domain
 * with the watchdog's filter, like every thread made after the lockdown.
 */
static void wake_for_lockdown(void)
{
	pthread_mutex_lock(&wd.lock);
	bool had = wd.first_running;
	wd.first_running = false;
	wd.generation++;
	if (!start_thread(NULL))
		modvm_log(MODVM_LOG_WARN, "watchdog", "cannot restart the watchdog after the "
						      "lockdown: plugin calls have no deadline");
	pthread_cond_broadcast(&wd.cond);
	pthread_mutex_unlock(&wd.lock);
	/* Gone before we go on: still exiting when a short run ends, it was
	 * a thread LeakSanitizer's exit check could not stop ("Running thread
	 * N was not suspended", CI's cli test). */
	if (had)
		pthread_join(wd.first, NULL);
}

static void start_locked(void)
{
	if (!wd.started) {
		pthread_cond_init(&wd.cond, NULL);
		wd.started = wd.first_running = start_thread(&wd.first);
		modvm__sandbox_on_lockdown(wake_for_lockdown);
	}
}

MODVM_INTERNAL void modvm__watchdog_prepare(void)
{
	pthread_mutex_lock(&wd.lock);
	start_locked();
	pthread_mutex_unlock(&wd.lock);
}

MODVM_INTERNAL void modvm__watchdog_arm(const char *what, double timeout_s, double grace_s)
{
	pthread_mutex_lock(&wd.lock);
	start_locked();
	if (wd.depth++ == 0) {
		snprintf(wd.what, sizeof(wd.what), "%s", what);
		wd.timeout_s = timeout_s;
		wd.grace_s = grace_s;
		clock_gettime(CLOCK_MONOTONIC, &wd.armed_at);
		pthread_cond_signal(&wd.cond);
	}
	pthread_mutex_unlock(&wd.lock);
}

MODVM_INTERNAL void modvm__watchdog_disarm(void)
{
	pthread_mutex_lock(&wd.lock);
	if (wd.depth > 0)
		wd.depth--;
	pthread_mutex_unlock(&wd.lock);
}
