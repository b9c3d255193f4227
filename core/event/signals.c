/*
 * The stop signals for the whole process: SIGINT and SIGTERM, and SIGHUP
 * and SIGQUIT, whose default actions (the terminal of a foreground `modvm
 * run` closed; Ctrl-\) would kill modvm with cores parked, rules on the
 * NIC and the control socket left behind.  The handler only records the
 * signal and writes its number into a pipe (both async-signal-safe); the
 * loop that watches the pipe (modvm__loop_watch_stop_signals) calls its
 * callback on the loop thread, and anything else — the watchdog bounding
 * a plugin's start (watchdog.c) — reads modvm__stop_signal_pending(),
 * which stays set until the loop has read every signal: a signal the loop
 * never got to (it is stuck in a plugin) is what the watchdog acts on.
 * libev's own signal watchers could not do the second part: they tell
 * only the loop, and a loop thread stuck in a plugin never looks.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "event/event.h"

static volatile sig_atomic_t pending;
static int pipe_fd[2] = { -1, -1 };
static bool installed;
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define NSTOP (sizeof(stop_signals) / sizeof(stop_signals[0]))

static void on_signal(int signo)
{
	int saved = errno;
	unsigned char b = (unsigned char)signo;

	pending = signo;
	/* A full pipe (hundreds of signals nobody read) loses nothing that
	 * matters: pending is set and the loop is already woken. */
	ssize_t w = write(pipe_fd[1], &b, 1);
	(void)w;
	errno = saved;
}

MODVM_INTERNAL int modvm__stop_signals_install(void)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	int rc = 0;

	pthread_mutex_lock(&install_lock);
	if (installed)
		goto out;
	if (pipe_fd[0] < 0 && pipe2(pipe_fd, O_CLOEXEC | O_NONBLOCK) < 0) {
		rc = -errno;
		goto out;
	}
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NSTOP; i++) {
		if (sigaction(stop_signals[i], &sa, NULL) < 0) {
			rc = -errno;
			while (i-- > 0)
				signal(stop_signals[i], SIG_DFL);
			goto out;
		}
	}
	installed = true;
out:
	pthread_mutex_unlock(&install_lock);
	return rc;
}

MODVM_INTERNAL void modvm__stop_signals_uninstall(void)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };

	pthread_mutex_lock(&install_lock);
	if (installed) {
		sigemptyset(&sa.sa_mask);
		for (size_t i = 0; i < NSTOP; i++)
			sigaction(stop_signals[i], &sa, NULL);
		installed = false;
		pending = 0;
		/* The pipe stays: a handler running on another thread right now
		 * may still write to it.  Drain what is there. */
		unsigned char buf[64];
		while (read(pipe_fd[0], buf, sizeof(buf)) > 0)
			;
	}
	pthread_mutex_unlock(&install_lock);
}

MODVM_INTERNAL int modvm__stop_signal_pending(void)
{
	return pending;
}

MODVM_INTERNAL int modvm__stop_signal_fd(void)
{
	return pipe_fd[0];
}

MODVM_INTERNAL int modvm__stop_signal_take(void)
{
	unsigned char b;

	if (read(pipe_fd[0], &b, 1) == 1)
		return b;
	/* Drained: the loop has it in hand, so a graceful stop follows and the
	 * watchdog goes back to its normal deadline; a further signal (a
	 * second SIGTERM while a plugin's stop hangs) sets it again. */
	pending = 0;
	return 0;
}
