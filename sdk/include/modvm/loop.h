/*
 * modvm/loop.h — the control-plane event loop (a thin wrapper over libev).
 *
 * Threading rule: every callback registered here runs on the loop thread,
 * one at a time, so plugin state touched only from callbacks and bus
 * handlers needs no locks.  Only modvm_loop_call() and modvm_loop_break()
 * may be called from other threads.  Plugins never include <ev.h>.
 */
#ifndef MODVM_LOOP_H
#define MODVM_LOOP_H

#include "common.h"

MODVM_BEGIN_DECLS

struct modvm_loop;
struct modvm_timer;
struct modvm_io;

typedef void (*modvm_timer_cb)(struct modvm_timer *timer, void *userdata);

/*
 * Starts a timer that fires after @after_s seconds and then every @repeat_s
 * seconds (0: once).  Returns NULL on allocation failure.  A one-shot timer
 * stays allocated after firing until modvm_timer_stop().
 */
MODVM_EXPORT struct modvm_timer *modvm_timer_start(struct modvm_loop *loop, double after_s,
						   double repeat_s, modvm_timer_cb cb,
						   void *userdata);
/* Stops and frees @timer (NULL is ignored). Safe inside its own callback. */
MODVM_EXPORT void modvm_timer_stop(struct modvm_timer *timer);

enum { MODVM_IO_READ = 1, MODVM_IO_WRITE = 2 };
typedef void (*modvm_io_cb)(struct modvm_io *io, int fd, int revents, void *userdata);

/* Watches @fd for MODVM_IO_READ and/or MODVM_IO_WRITE. The fd stays yours. */
MODVM_EXPORT struct modvm_io *modvm_io_start(struct modvm_loop *loop, int fd, int events,
					     modvm_io_cb cb, void *userdata);
/* Stops and frees @io (NULL is ignored). Safe inside its own callback. */
MODVM_EXPORT void modvm_io_stop(struct modvm_io *io);

/*
 * Runs @fn(@userdata) on the loop thread soon, in call order.  Callable from
 * any thread; this is the cross-thread wakeup (libev ev_async underneath).
 * Returns 0 or -ENOMEM.  Calls still queued when the loop is destroyed are
 * run once, on the destroying thread, so nothing they own leaks.
 */
MODVM_EXPORT int modvm_loop_call(struct modvm_loop *loop, void (*fn)(void *userdata),
				 void *userdata);

/* Makes modvm_loop_run() return after the current iteration. Any thread. */
MODVM_EXPORT void modvm_loop_break(struct modvm_loop *loop);

/* Monotonic time in seconds as the loop sees it. */
MODVM_EXPORT double modvm_loop_now(struct modvm_loop *loop);

/* True when the calling thread is the one that runs (or created) @loop. */
MODVM_EXPORT bool modvm_loop_on_thread(struct modvm_loop *loop);

MODVM_END_DECLS

#endif
