/*
 * The control-plane loop: libev underneath, six verbs on top (timer, io,
 * call, break, now, on_thread).  Cross-thread work enters only through
 * modvm_loop_call(), a mutex-protected FIFO drained by an ev_async.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include <ev.h>

#include "event/event.h"

struct loop_call {
	void (*fn)(void *ud);
	void *ud;
	struct loop_call *next;
};

struct modvm_loop {
	struct ev_loop *ev;
	pthread_t thread;	/* atomic: other threads read it in on_thread */
	ev_async wakeup;
	pthread_mutex_t lock;
	struct loop_call *head, *tail;
	int break_requested;	/* atomic */
	ev_io signals;		/* the stop-signal pipe (signals.c) */
	bool signals_on;
	void (*signal_cb)(int signo, void *ud);
	void *signal_ud;
};

struct modvm_timer {
	ev_timer w;
	modvm_timer_cb cb;
	void *ud;
	struct modvm_loop *loop;
	bool in_cb, dead;
};

struct modvm_io {
	ev_io w;
	modvm_io_cb cb;
	void *ud;
	struct modvm_loop *loop;
	bool in_cb, dead;
};

/* One loop handles the process's stop signals; refuse a second politely. */
static struct modvm_loop *signal_owner;	/* atomic */

static struct loop_call *take_calls(struct modvm_loop *loop)
{
	pthread_mutex_lock(&loop->lock);
	struct loop_call *list = loop->head;
	loop->head = loop->tail = NULL;
	pthread_mutex_unlock(&loop->lock);
	return list;
}

static void run_calls(struct loop_call *list)
{
	while (list) {
		struct loop_call *next = list->next;
		list->fn(list->ud);
		free(list);
		list = next;
	}
}

static void on_wakeup(struct ev_loop *ev, ev_async *w, int revents)
{
	(void)revents;
	struct modvm_loop *loop = w->data;
	run_calls(take_calls(loop));
	if (__atomic_exchange_n(&loop->break_requested, 0, __ATOMIC_ACQ_REL))
		ev_break(ev, EVBREAK_ALL);
}

MODVM_INTERNAL struct modvm_loop *modvm__loop_new(void)
{
	struct modvm_loop *loop = calloc(1, sizeof(*loop));
	if (!loop) {
		modvm_log(MODVM_LOG_ERROR, NULL, "loop: out of memory");
		return NULL;
	}
	/* Not the default loop: tests create many loops, and libev's default
	 * loop would install a SIGCHLD handler behind our back. */
	loop->ev = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (!loop->ev) {
		modvm_log(MODVM_LOG_ERROR, NULL, "loop: libev could not create a loop");
		free(loop);
		return NULL;
	}
	pthread_mutex_init(&loop->lock, NULL);
	__atomic_store_n(&loop->thread, pthread_self(), __ATOMIC_RELEASE);
	ev_async_init(&loop->wakeup, on_wakeup);
	loop->wakeup.data = loop;
	ev_async_start(loop->ev, &loop->wakeup);
	return loop;
}

MODVM_INTERNAL void modvm__loop_free(struct modvm_loop *loop)
{
	if (!loop)
		return;
	/* Queued calls may own memory: run them rather than leak it. Calls they
	 * queue in turn are run too. */
	struct loop_call *list;
	while ((list = take_calls(loop)))
		run_calls(list);
	if (loop->signals_on) {
		/* Undo the ev_unref() of watch_stop_signals, as libev asks. */
		ev_ref(loop->ev);
		ev_io_stop(loop->ev, &loop->signals);
		modvm__stop_signals_uninstall();
		__atomic_store_n(&signal_owner, NULL, __ATOMIC_RELEASE);
	}
	ev_async_stop(loop->ev, &loop->wakeup);
	ev_loop_destroy(loop->ev);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}

MODVM_INTERNAL void modvm__loop_run(struct modvm_loop *loop)
{
	__atomic_store_n(&loop->thread, pthread_self(), __ATOMIC_RELEASE);
	if (__atomic_exchange_n(&loop->break_requested, 0, __ATOMIC_ACQ_REL))
		return;
	ev_run(loop->ev, 0);
}

MODVM_INTERNAL void modvm__loop_run_once(struct modvm_loop *loop)
{
	__atomic_store_n(&loop->thread, pthread_self(), __ATOMIC_RELEASE);
	ev_run(loop->ev, EVRUN_NOWAIT);
}

MODVM_INTERNAL struct ev_loop *modvm__loop_ev(struct modvm_loop *loop)
{
	return loop->ev;
}

static void on_signal(struct ev_loop *ev, ev_io *w, int revents)
{
	(void)ev;
	(void)revents;
	struct modvm_loop *loop = w->data;
	int signo;
	while ((signo = modvm__stop_signal_take()) > 0)
		if (loop->signal_cb)
			loop->signal_cb(signo, loop->signal_ud);
}

MODVM_INTERNAL int modvm__loop_watch_stop_signals(struct modvm_loop *loop,
						  void (*cb)(int signo, void *ud), void *ud)
{
	struct modvm_loop *expected = NULL;
	if (!loop->signals_on &&
	    !__atomic_compare_exchange_n(&signal_owner, &expected, loop, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		modvm_log(MODVM_LOG_ERROR, NULL,
			  "loop: SIGINT/SIGTERM are already watched by another loop");
		return -EBUSY;
	}
	loop->signal_cb = cb;
	loop->signal_ud = ud;
	if (loop->signals_on)
		return 0;
	int rc = modvm__stop_signals_install();
	if (rc < 0) {
		__atomic_store_n(&signal_owner, NULL, __ATOMIC_RELEASE);
		return rc;
	}
	ev_io_init(&loop->signals, on_signal, modvm__stop_signal_fd(), EV_READ);
	loop->signals.data = loop;
	ev_io_start(loop->ev, &loop->signals);
	/* The signal watcher must not keep a finished loop alive. */
	ev_unref(loop->ev);
	loop->signals_on = true;
	return 0;
}

/* ---- public API ---- */

static void on_timer(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)revents;
	struct modvm_timer *t = w->data;
	t->in_cb = true;
	t->cb(t, t->ud);
	t->in_cb = false;
	if (t->dead)
		free(t);
}

MODVM_EXPORT struct modvm_timer *modvm_timer_start(struct modvm_loop *loop, double after_s,
						   double repeat_s, modvm_timer_cb cb,
						   void *userdata)
{
	if (!loop || !cb)
		return NULL;
	struct modvm_timer *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->cb = cb;
	t->ud = userdata;
	t->loop = loop;
	ev_timer_init(&t->w, on_timer, after_s < 0 ? 0 : after_s, repeat_s < 0 ? 0 : repeat_s);
	t->w.data = t;
	ev_timer_start(loop->ev, &t->w);
	return t;
}

MODVM_EXPORT void modvm_timer_stop(struct modvm_timer *timer)
{
	if (!timer)
		return;
	ev_timer_stop(timer->loop->ev, &timer->w);
	if (timer->in_cb)
		timer->dead = true;	/* freed when the callback returns */
	else
		free(timer);
}

static void on_io(struct ev_loop *ev, ev_io *w, int revents)
{
	(void)ev;
	struct modvm_io *io = w->data;
	int ev_mask = ((revents & EV_READ) ? MODVM_IO_READ : 0) |
		      ((revents & EV_WRITE) ? MODVM_IO_WRITE : 0);
	io->in_cb = true;
	io->cb(io, w->fd, ev_mask, io->ud);
	io->in_cb = false;
	if (io->dead)
		free(io);
}

MODVM_EXPORT struct modvm_io *modvm_io_start(struct modvm_loop *loop, int fd, int events,
					     modvm_io_cb cb, void *userdata)
{
	if (!loop || !cb || fd < 0 || !(events & (MODVM_IO_READ | MODVM_IO_WRITE)))
		return NULL;
	struct modvm_io *io = calloc(1, sizeof(*io));
	if (!io)
		return NULL;
	io->cb = cb;
	io->ud = userdata;
	io->loop = loop;
	ev_io_init(&io->w, on_io, fd,
		   ((events & MODVM_IO_READ) ? EV_READ : 0) | ((events & MODVM_IO_WRITE) ? EV_WRITE : 0));
	io->w.data = io;
	ev_io_start(loop->ev, &io->w);
	return io;
}

MODVM_EXPORT void modvm_io_stop(struct modvm_io *io)
{
	if (!io)
		return;
	ev_io_stop(io->loop->ev, &io->w);
	if (io->in_cb)
		io->dead = true;
	else
		free(io);
}

MODVM_EXPORT int modvm_loop_call(struct modvm_loop *loop, void (*fn)(void *userdata),
				 void *userdata)
{
	if (!loop || !fn)
		return -EINVAL;
	struct loop_call *c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fn = fn;
	c->ud = userdata;
	c->next = NULL;
	pthread_mutex_lock(&loop->lock);
	if (loop->tail)
		loop->tail->next = c;
	else
		loop->head = c;
	loop->tail = c;
	pthread_mutex_unlock(&loop->lock);
	ev_async_send(loop->ev, &loop->wakeup);
	return 0;
}

MODVM_EXPORT void modvm_loop_break(struct modvm_loop *loop)
{
	if (!loop)
		return;
	__atomic_store_n(&loop->break_requested, 1, __ATOMIC_RELEASE);
	ev_async_send(loop->ev, &loop->wakeup);
}

MODVM_EXPORT double modvm_loop_now(struct modvm_loop *loop)
{
	return ev_now(loop->ev);
}

MODVM_EXPORT bool modvm_loop_on_thread(struct modvm_loop *loop)
{
	return loop && pthread_equal(pthread_self(),
				     __atomic_load_n(&loop->thread, __ATOMIC_ACQUIRE));
}
