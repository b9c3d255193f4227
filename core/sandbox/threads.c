/*
 * Threads and their classes.  Every thread the core makes (vCPUs, the
 * watchdog, plugins' I/O threads through modvm_thread_create) goes
 * through modvm__thread_spawn, whose trampoline names the thread, labels
 * it for the SIGSYS report and — once the process is locked down —
 * installs its class's filter before the thread's own code runs.
 *
 * After the lockdown the loop thread may not clone (its filter has no
 * clone: a device model that goes wrong on the loop cannot start
 * threads), so the spawner, a thread started at the lockdown and holding
 * only the union of the classes, makes them: a request queue, one at a
 * time.  A thread it makes inherits the union and adds its class, which
 * leaves it with exactly its class.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/sandbox_impl.h"

static _Thread_local enum modvm__thread_class my_class;
static _Thread_local bool my_filtered;
static bool io_filters_for_test;	/* modvm__sandbox_filter_io_threads_for_test */

MODVM_INTERNAL void modvm__sandbox_filter_io_threads_for_test(bool on)
{
	__atomic_store_n(&io_filters_for_test, on, __ATOMIC_RELEASE);
}

struct start {
	enum modvm__thread_class c;
	char owner[32];
	bool has_owner;
	char name[16];
	void *(*fn)(void *);
	void *arg;
	/* The mask of the thread that asked: a thread the spawner makes
	 * would inherit the spawner's (everything blocked), and a vCPU that
	 * cannot get its kick signal never leaves KVM_RUN. */
	sigset_t mask;
};

MODVM_INTERNAL enum modvm__thread_class modvm__thread_class(void)
{
	return my_class;
}

static void name_self(const char *name)
{
	if (name && *name) {
		char n[16];
		snprintf(n, sizeof(n), "%s", name);
		pthread_setname_np(pthread_self(), n);
	}
}

MODVM_INTERNAL void modvm__thread_enter(enum modvm__thread_class c, const char *owner)
{
	const struct sock_fprog *f;

	if (my_class != c) {
		my_class = c;
		modvm__sb_thread_label(NULL, c);
	}
	if (my_filtered || !(f = modvm__sb_filter(c, owner)))
		return;
	long r = modvm__sb_install(f, 0);
	if (r != 0) {
		/* A thread that cannot narrow itself keeps the union, which
		 * is still a sandbox; say so once. */
		modvm_log(MODVM_LOG_WARN, "sandbox", "%s thread: cannot install its filter: %s",
			  modvm__thread_class_name(c), strerror((int)-r));
	}
	my_filtered = true;
}

static void *trampoline(void *p)
{
	struct start s = *(struct start *)p;
	sigset_t set;

	free(p);
	name_self(s.name);
	modvm__sb_thread_label(s.name, s.c);
	pthread_sigmask(SIG_SETMASK, &s.mask, NULL);
	/* The report needs SIGSYS, and the lockdown its catch-up signal,
	 * whatever mask the creator had. */
	sigemptyset(&set);
	sigaddset(&set, SIGSYS);
	sigaddset(&set, modvm__sandbox_catchup_signal());
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	/* The spawner keeps the union for good (the threads it makes narrow
	 * from it to their class); whether it starts before or after the
	 * lockdown's TSYNC must not matter. */
	if (s.c != MODVM__TC_SPAWNER)
		modvm__thread_enter(s.c, s.has_owner ? s.owner : NULL);
	if (s.c == MODVM__TC_IO && !my_filtered &&
	    __atomic_load_n(&io_filters_for_test, __ATOMIC_ACQUIRE)) {
		int r = modvm__sandbox_apply_class_for_test(s.c, s.has_owner ? s.owner : NULL);
		if (r < 0) {
			/* unfiltered, the kit would pass what it did not see */
			modvm_log(MODVM_LOG_ERROR, "sandbox", "%s: cannot install the I/O filter: %s",
				  s.name, strerror(-r));
			abort();
		}
		my_filtered = true;
	}
	modvm__sb_thread_label(s.name, s.c);
	return s.fn(s.arg);
}

/* ---- the spawner ---- */

struct request {
	struct start *start;
	bool detached;
	pthread_t thread;
	int result;
	bool done;
	struct request *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool running;
	struct request *head, **tail;
} sp = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static int create(pthread_t *t, bool detached, struct start *s)
{
	pthread_attr_t attr;
	int r;

	pthread_attr_init(&attr);
	if (detached)
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = -pthread_create(t, &attr, trampoline, s);
	pthread_attr_destroy(&attr);
	return r;
}

static void *spawner(void *ud)
{
	(void)ud;
	pthread_mutex_lock(&sp.lock);
	for (;;) {
		while (!sp.head)
			pthread_cond_wait(&sp.cond, &sp.lock);
		struct request *rq = sp.head;
		sp.head = rq->next;
		if (!sp.head)
			sp.tail = &sp.head;
		pthread_mutex_unlock(&sp.lock);
		rq->result = create(&rq->thread, rq->detached, rq->start);
		pthread_mutex_lock(&sp.lock);
		rq->done = true;
		pthread_cond_broadcast(&sp.cond);
	}
	return NULL;
}

int modvm__sb_spawner_start(void)
{
	pthread_t t;
	struct start *s;
	sigset_t all, old;
	int r;

	pthread_mutex_lock(&sp.lock);
	if (sp.running) {
		pthread_mutex_unlock(&sp.lock);
		return 0;
	}
	sp.tail = &sp.head;
	pthread_mutex_unlock(&sp.lock);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	*s = (struct start){ .c = MODVM__TC_SPAWNER, .fn = spawner };
	snprintf(s->name, sizeof(s->name), "modvm-spawner");
	/* SIGINT/SIGTERM and the like belong to the loop (event/signals.c);
	 * the threads it makes get their requester's mask (struct start). */
	sigfillset(&all);
	sigdelset(&all, SIGSYS);
	sigdelset(&all, modvm__sandbox_catchup_signal());
	s->mask = all;
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = create(&t, true, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		free(s);
		return r;
	}
	pthread_mutex_lock(&sp.lock);
	sp.running = true;
	pthread_mutex_unlock(&sp.lock);
	return 0;
}

MODVM_INTERNAL int modvm__thread_spawn(pthread_t *thread, enum modvm__thread_class c,
				       const char *owner, const char *name, bool detached,
				       void *(*fn)(void *), void *arg)
{
	struct start *s = calloc(1, sizeof(*s));
	pthread_t t;
	int r;

	if (!s)
		return -ENOMEM;
	*s = (struct start){ .c = c, .fn = fn, .arg = arg, .has_owner = owner != NULL };
	if (owner)
		snprintf(s->owner, sizeof(s->owner), "%s", owner);
	if (name)
		snprintf(s->name, sizeof(s->name), "%s", name);
	pthread_sigmask(SIG_BLOCK, NULL, &s->mask);

	pthread_mutex_lock(&sp.lock);
	bool via_spawner = sp.running && modvm__sandbox_locked() &&
			   modvm__thread_class() != MODVM__TC_SPAWNER;
	pthread_mutex_unlock(&sp.lock);
	if (!via_spawner) {
		r = create(&t, detached, s);
	} else {
		struct request rq = { .start = s, .detached = detached };
		pthread_mutex_lock(&sp.lock);
		*sp.tail = &rq;
		sp.tail = &rq.next;
		pthread_cond_broadcast(&sp.cond);
		while (!rq.done)
			pthread_cond_wait(&sp.cond, &sp.lock);
		pthread_mutex_unlock(&sp.lock);
		r = rq.result;
		t = rq.thread;
	}
	if (r < 0) {
		free(s);
		return r;
	}
	if (thread)
		*thread = t;
	return 0;
}
