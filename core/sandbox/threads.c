/*
 * Threads and their classes.  Every thread the core makes (vCPUs, the
 * watchdog, plugins' I/O threads through modvm_thread_create) goes
 * through modvm__thread_spawn, whose trampoline names the thread, labels
 * it for the SIGSYS report and — once the process is locked down —
 * installs its class's filter before the thread's own code runs.
 *
 * After the lockdown the loop thread may not clone (its filter has no
 * clone: a device model that goes wrong on the loop cannot start
 * threads), so spawners make them: a request queue each, one thread at a
 * time.  A filter is inherited and can never be taken off, and every
 * filter of a thread's chain runs on each of its calls that the kernel
 * cannot answer from its cache (KVM_RUN's ioctl, checked by request
 * number, is one):
 *
 *   - the spawner holds the union of the classes; a thread it makes adds
 *     its class (two filters, exactly its class's calls): I/O threads and
 *     the watchdog made after the lockdown;
 *   - the vCPU spawner holds the vCPU filter itself (which therefore lets
 *     a vCPU thread make threads, and nothing else more), and a vCPU thread
 *     it makes adds nothing: one filter on every exit.
 *
 * Threads running at the lockdown take their class's filter alone from the
 * catch-up signal (catchup.c, modvm__sb_thread_take_filter); one the core
 * did not make takes the union.
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
static _Thread_local const char *my_owner;
/* Set from the catch-up handler too: volatile, so the trampoline rereads. */
static _Thread_local volatile sig_atomic_t my_filtered;	/* has its class's filter */
static _Thread_local volatile sig_atomic_t my_union;	/* has the union, may narrow */
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
	/* Made by the vCPU spawner: it has its filter from its creator. */
	bool inherited;
	bool is_spawner;
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
		my_owner = owner;
		modvm__sb_thread_label(NULL, c);
	}
	if (my_filtered)
		return;
	/* A thread the catch-up reached before it knew its class has the
	 * union: it narrows as soon as the filters exist. */
	f = my_union ? modvm__sb_filter_built(c, owner) : modvm__sb_filter(c, owner);
	if (!f)
		return;
	int r = modvm__sb_install(f);
	if (r != 0) {
		/* A thread that cannot narrow itself keeps the union, which
		 * is still a sandbox; say so once. */
		modvm_log(MODVM_LOG_WARN, "sandbox", "%s thread: cannot install its filter: %s",
			  modvm__thread_class_name(c), strerror(-r));
	}
	my_filtered = true;
}

int modvm__sb_thread_take_filter(void)
{
	enum modvm__thread_class c = my_class;
	/* The spawner keeps the union for good (the threads it makes narrow
	 * from it); a thread not labelled yet takes it and narrows later. */
	bool own = c != MODVM__TC_NONE && c != MODVM__TC_SPAWNER;
	const struct sock_fprog *f;
	int r;

	if (my_filtered || my_union)
		return 0;
	f = modvm__sb_filter_built(own ? c : MODVM__TC_NONE, own ? my_owner : NULL);
	if (!f)
		return -ENOENT;
	r = modvm__sb_install(f);
	if (r != 0)
		return r;
	if (own || c == MODVM__TC_SPAWNER)
		my_filtered = 1;
	else
		my_union = 1;
	return 0;
}

static void *trampoline(void *p)
{
	struct start s = *(struct start *)p;
	sigset_t set;

	free(p);
	name_self(s.name);
	my_owner = s.has_owner ? s.owner : NULL;
	my_class = s.c;
	if (s.inherited)
		my_filtered = 1;
	modvm__sb_thread_label(s.name, s.c);
	pthread_sigmask(SIG_SETMASK, &s.mask, NULL);
	/* The report needs SIGSYS, and the lockdown its catch-up signal,
	 * whatever mask the creator had. */
	sigemptyset(&set);
	sigaddset(&set, SIGSYS);
	sigaddset(&set, modvm__sandbox_catchup_signal());
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	/* A spawner takes its filter from the lockdown's catch-up. */
	if (!s.is_spawner)
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

/* ---- the spawners ---- */

struct request {
	struct start *start;
	bool detached;
	pthread_t thread;
	int result;
	bool done;
	struct request *next;
};

struct spawner {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum modvm__thread_class c;
	const char *name;
	bool running, ready;
	struct request *head, **tail;
};

static struct spawner sp_any = { .lock = PTHREAD_MUTEX_INITIALIZER,
				 .cond = PTHREAD_COND_INITIALIZER,
				 .c = MODVM__TC_SPAWNER,
				 .name = "modvm-spawner" };
static struct spawner sp_vcpu = { .lock = PTHREAD_MUTEX_INITIALIZER,
				  .cond = PTHREAD_COND_INITIALIZER,
				  .c = MODVM__TC_VCPU,
				  .name = "vcpu-spawner" };
static _Thread_local struct spawner *my_spawner;	/* the one this thread is */

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
	struct spawner *sp = ud;

	my_spawner = sp;
	pthread_mutex_lock(&sp->lock);
	/* Labelled: the catch-up may come now and find its class. */
	sp->ready = true;
	pthread_cond_broadcast(&sp->cond);
	for (;;) {
		while (!sp->head)
			pthread_cond_wait(&sp->cond, &sp->lock);
		struct request *rq = sp->head;
		sp->head = rq->next;
		if (!sp->head)
			sp->tail = &sp->head;
		pthread_mutex_unlock(&sp->lock);
		rq->start->inherited = sp == &sp_vcpu;
		rq->result = create(&rq->thread, rq->detached, rq->start);
		pthread_mutex_lock(&sp->lock);
		rq->done = true;
		pthread_cond_broadcast(&sp->cond);
	}
	return NULL;
}

/* Starts @sp and waits until it has labelled itself. */
static int spawner_start(struct spawner *sp)
{
	pthread_t t;
	struct start *s;
	sigset_t all, old;
	int r;

	pthread_mutex_lock(&sp->lock);
	if (sp->running) {
		pthread_mutex_unlock(&sp->lock);
		return 0;
	}
	sp->tail = &sp->head;
	pthread_mutex_unlock(&sp->lock);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	*s = (struct start){ .c = sp->c, .fn = spawner, .arg = sp, .is_spawner = true };
	snprintf(s->name, sizeof(s->name), "%s", sp->name);
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
	pthread_mutex_lock(&sp->lock);
	sp->running = true;
	while (!sp->ready)
		pthread_cond_wait(&sp->cond, &sp->lock);
	pthread_mutex_unlock(&sp->lock);
	return 0;
}

int modvm__sb_spawner_start(void)
{
	int r = spawner_start(&sp_any);

	return r < 0 ? r : spawner_start(&sp_vcpu);
}

MODVM_INTERNAL int modvm__thread_spawn(pthread_t *thread, enum modvm__thread_class c,
				       const char *owner, const char *name, bool detached,
				       void *(*fn)(void *), void *arg)
{
	struct spawner *sp = c == MODVM__TC_VCPU ? &sp_vcpu : &sp_any;
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

	pthread_mutex_lock(&sp->lock);
	/* A spawner asking itself would wait for ever. */
	bool via_spawner = sp->running && modvm__sandbox_locked() && my_spawner != sp;
	pthread_mutex_unlock(&sp->lock);
	if (!via_spawner) {
		r = create(&t, detached, s);
	} else {
		struct request rq = { .start = s, .detached = detached };
		pthread_mutex_lock(&sp->lock);
		*sp->tail = &rq;
		sp->tail = &rq.next;
		pthread_cond_broadcast(&sp->cond);
		while (!rq.done)
			pthread_cond_wait(&sp->cond, &sp->lock);
		pthread_mutex_unlock(&sp->lock);
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
