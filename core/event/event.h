/*
 * core/event/ — the loop thread and the typed event bus: the libev loop
 * wrapper (loop.c: timers, fds, cross-thread calls, stop signals) and the
 * bus (bus.c: typed events delivered on the loop thread, queued from any
 * other).  Uses only base/.
 */
#ifndef MODVM_CORE_EVENT_H
#define MODVM_CORE_EVENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <modvm/bus.h>
#include <modvm/loop.h>

#include "base/base.h"

struct ev_loop;

/* ---- loop.c ---- */

/* Creates a loop; the creating thread counts as the loop thread until
 * modvm__loop_run() is called from another one. NULL on failure (logged). */
MODVM_INTERNAL struct modvm_loop *modvm__loop_new(void);
/* Runs queued modvm_loop_call()s once, then frees. Watchers must be stopped. */
MODVM_INTERNAL void modvm__loop_free(struct modvm_loop *loop);
/* Runs until modvm_loop_break(); makes the caller the loop thread. */
MODVM_INTERNAL void modvm__loop_run(struct modvm_loop *loop);
/* Runs one non-blocking iteration (tests use it to deliver pending work). */
MODVM_INTERNAL void modvm__loop_run_once(struct modvm_loop *loop);
/* Calls @cb(signo, ud) on the loop thread for SIGINT and SIGTERM while the
 * loop runs. Only one loop per process may watch signals. 0 or -errno. */
MODVM_INTERNAL int modvm__loop_watch_stop_signals(struct modvm_loop *loop,
						  void (*cb)(int signo, void *ud), void *ud);
MODVM_INTERNAL struct ev_loop *modvm__loop_ev(struct modvm_loop *loop);

/* ---- signals.c: SIGINT/SIGTERM, process-wide ---- */

/*
 * Installs the stop-signal handler (idempotent): it records the signal and
 * writes its number to a pipe, nothing else.  0 or -errno.
 */
MODVM_INTERNAL int modvm__stop_signals_install(void);
/* Back to the default action (the loop that watched them is gone). */
MODVM_INTERNAL void modvm__stop_signals_uninstall(void);
/* The last stop signal received and not yet read by the loop, 0 if none
 * (any thread). */
MODVM_INTERNAL int modvm__stop_signal_pending(void);
/* The pipe's read end (non-blocking) and one signal number read from it
 * (0: none left, which also clears the pending signal). */
MODVM_INTERNAL int modvm__stop_signal_fd(void);
MODVM_INTERNAL int modvm__stop_signal_take(void);

/* ---- watchdog.c: a deadline on calls into plugin code ---- */

/*
 * Arms the watchdog for the call @what ("plugin X: start"): if it has not
 * been disarmed within @timeout_s, or within @grace_s of a stop signal, one
 * line naming @what goes to stderr and the process ends with _exit(1) —
 * nothing else is safe with the loop thread stuck in a plugin.  Nests:
 * only the outermost arm counts.  Any thread.
 */
MODVM_INTERNAL void modvm__watchdog_arm(const char *what, double timeout_s, double grace_s);
/* Makes the watchdog's thread now, before a lockdown: the first arm may
 * come after it (an event handler's), when no thread may be made. */
MODVM_INTERNAL void modvm__watchdog_prepare(void);
MODVM_INTERNAL void modvm__watchdog_disarm(void);

/* ---- bus.c ---- */

MODVM_INTERNAL struct modvm_bus *modvm__bus_new(struct modvm_loop *loop);
/* Events still queued are discarded (and counted as dropped). */
MODVM_INTERNAL void modvm__bus_free(struct modvm_bus *bus);
/* Log every delivery at INFO: "event NAME #SEQ -> OWNER (prio P)". */
MODVM_INTERNAL void modvm__bus_set_trace(struct modvm_bus *bus, bool on);
/* The owner name recorded for subscriptions made by this thread from now on
 * (the loader sets the plugin name around init/start; NULL = "core"). */
MODVM_INTERNAL void modvm__bus_set_owner(const char *owner);
/* This thread's owner now: the plugin being called (a lifecycle call, a VM
 * hook, an event handler), NULL for the core.  Async-signal-safe. */
MODVM_INTERNAL const char *modvm__bus_owner(void);
/* Puts plugins' event handlers under the watchdog: @timeout_s each (0:
 * not), @grace_s after a stop signal (watchdog.c). */
MODVM_INTERNAL void modvm__bus_set_handler_timeout(struct modvm_bus *bus, double timeout_s,
						   double grace_s);
/* The SDK's standard events (events.h), NULL-terminated (std_events.c). */
MODVM_INTERNAL extern struct modvm_event_desc *const modvm__std_events[];
/* Registers them all, so their layout is the SDK's whoever comes first.
 * 0, or the first registration's -errno. */
MODVM_INTERNAL int modvm__std_events_register(void);
/* Removes every subscription whose owner is @owner. Returns how many. */
MODVM_INTERNAL int modvm__bus_unsubscribe_owner(struct modvm_bus *bus, const char *owner);
/* Delivers everything queued by other threads now (must be on the loop thread). */
MODVM_INTERNAL void modvm__bus_drain(struct modvm_bus *bus);
/*
 * How many descriptors, publishes and subscriptions the bus refused in this
 * process (another size, version or layout than the registered one, a bad
 * member list, a publish of the wrong size); the last one's line, with the
 * plugin that made the call, into @last.  For the conformance kit.
 */
MODVM_INTERNAL unsigned modvm__bus_refusals(char *last, size_t len);
/* Calls @fn for every event type registered in this process, by name order. */
MODVM_INTERNAL void modvm__bus_foreach_type(void (*fn)(const char *name, uint32_t size,
						       uint32_t version, void *ud),
					    void *ud);

#endif
