/*
 * The loop wrapper: timers, io watchers, cross-thread calls and break,
 * what the loop does with calls still queued when it is freed, signals.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "event/event.h"

static struct modvm_loop *new_loop(void)
{
	struct modvm_loop *loop = modvm__loop_new();
	ck_assert_ptr_nonnull(loop);
	return loop;
}

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, fn, arg), 0);
	return t;
}

/* ---- timers ---- */
struct ticks { struct modvm_loop *loop; int n, stop_at; };

static void one_shot(struct modvm_timer *t, void *ud)
{
	(void)t;
	struct ticks *k = ud;
	k->n++;
	modvm_loop_break(k->loop);
}

START_TEST(one_shot_timer_fires_once)
{
	struct modvm_loop *loop = new_loop();
	struct ticks k = { loop, 0, 0 };
	double t0 = modvm_loop_now(loop);
	struct modvm_timer *t = modvm_timer_start(loop, 0.02, 0, one_shot, &k);
	ck_assert_ptr_nonnull(t);
	modvm__loop_run(loop);
	ck_assert_int_eq(k.n, 1);
	ck_assert_double_ge(modvm_loop_now(loop) - t0, 0.015);
	/* It does not fire again; the loop has nothing left and returns. */
	for (int i = 0; i < 3; i++)
		modvm__loop_run_once(loop);
	ck_assert_int_eq(k.n, 1);
	modvm_timer_stop(t);	/* still allocated until stopped (ASan checks) */
	modvm_timer_stop(NULL);
	modvm__loop_free(loop);
}
END_TEST

static void repeating(struct modvm_timer *t, void *ud)
{
	struct ticks *k = ud;
	if (++k->n == k->stop_at) {
		modvm_timer_stop(t);	/* frees t: nothing may touch it after */
		modvm_loop_break(k->loop);
	}
}

START_TEST(repeating_timer_stopped_inside_its_callback)
{
	struct modvm_loop *loop = new_loop();
	struct ticks k = { loop, 0, 5 };
	ck_assert_ptr_nonnull(modvm_timer_start(loop, 0.001, 0.001, repeating, &k));
	modvm__loop_run(loop);
	ck_assert_int_eq(k.n, 5);
	/* Stopped: more iterations bring no more ticks. */
	usleep(5000);
	modvm__loop_run_once(loop);
	ck_assert_int_eq(k.n, 5);
	modvm__loop_free(loop);
}
END_TEST

/* Two timers due in the same iteration; whichever runs first frees both. */
struct pair { struct modvm_loop *loop; struct modvm_timer *t[2]; int fired; };

static void stops_both(struct modvm_timer *t, void *ud)
{
	struct pair *p = ud;
	p->fired++;
	ck_assert(t == p->t[0] || t == p->t[1]);
	modvm_timer_stop(p->t[t == p->t[0] ? 1 : 0]);	/* already pending: must not run */
	modvm_timer_stop(t);
	modvm_loop_break(p->loop);
}

START_TEST(timer_stops_another_due_in_the_same_iteration)
{
	struct modvm_loop *loop = new_loop();
	struct pair p = { loop, { NULL, NULL }, 0 };
	p.t[0] = modvm_timer_start(loop, 0.01, 0, stops_both, &p);
	p.t[1] = modvm_timer_start(loop, 0.01, 0, stops_both, &p);
	ck_assert_ptr_nonnull(p.t[0]);
	ck_assert_ptr_nonnull(p.t[1]);
	usleep(20000);
	modvm__loop_run(loop);
	modvm__loop_run_once(loop);
	ck_assert_int_eq(p.fired, 1);
	modvm__loop_free(loop);
}
END_TEST

/* ---- io ---- */
struct pipe_rx { struct modvm_loop *loop; char got[16]; size_t len; int calls; int revents; };

static void on_readable(struct modvm_io *io, int fd, int revents, void *ud)
{
	struct pipe_rx *rx = ud;
	rx->calls++;
	rx->revents = revents;
	ssize_t n = read(fd, rx->got + rx->len, sizeof(rx->got) - 1 - rx->len);
	ck_assert_int_gt(n, 0);
	rx->len += (size_t)n;
	if (rx->len >= 5) {
		modvm_io_stop(io);	/* inside its own callback */
		modvm_loop_break(rx->loop);
	}
}

struct writer { int fd; };
static void *write_later(void *arg)
{
	struct writer *w = arg;
	usleep(10000);
	ck_assert_int_eq(write(w->fd, "hel", 3), 3);
	usleep(10000);
	ck_assert_int_eq(write(w->fd, "lo", 2), 2);
	return NULL;
}

START_TEST(io_watcher_reads_a_pipe_and_stops_itself)
{
	struct modvm_loop *loop = new_loop();
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	struct pipe_rx rx = { .loop = loop };
	ck_assert_ptr_nonnull(modvm_io_start(loop, fds[0], MODVM_IO_READ, on_readable, &rx));
	struct writer w = { fds[1] };
	pthread_t t = spawn(write_later, &w);
	modvm__loop_run(loop);
	pthread_join(t, NULL);
	ck_assert_str_eq(rx.got, "hello");
	ck_assert_int_ge(rx.calls, 1);
	ck_assert_int_eq(rx.revents, MODVM_IO_READ);
	/* Stopped: a further byte is not read by anyone. */
	ck_assert_int_eq(write(fds[1], "!", 1), 1);
	modvm__loop_run_once(loop);
	ck_assert_str_eq(rx.got, "hello");
	modvm__loop_free(loop);
	close(fds[0]);	/* the fd stayed ours */
	close(fds[1]);
}
END_TEST

static void on_writable(struct modvm_io *io, int fd, int revents, void *ud)
{
	(void)fd;
	*(int *)ud = revents;
	modvm_io_stop(io);
}

START_TEST(io_watcher_for_write_and_bad_arguments)
{
	struct modvm_loop *loop = new_loop();
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	int revents = 0;
	ck_assert_ptr_null(modvm_io_start(loop, -1, MODVM_IO_READ, on_writable, &revents));
	ck_assert_ptr_null(modvm_io_start(loop, fds[1], 0, on_writable, &revents));
	ck_assert_ptr_nonnull(modvm_io_start(loop, fds[1], MODVM_IO_WRITE, on_writable, &revents));
	modvm__loop_run_once(loop);
	ck_assert_int_eq(revents, MODVM_IO_WRITE);
	/* A watcher stopped before it ever fired is freed too (ASan). */
	modvm_io_stop(modvm_io_start(loop, fds[0], MODVM_IO_READ, on_writable, &revents));
	modvm_io_stop(NULL);
	modvm__loop_free(loop);
	close(fds[0]);
	close(fds[1]);
}
END_TEST

/* ---- modvm_loop_call and modvm_loop_break from other threads ---- */
#define CALLS 1000
struct calls {
	struct modvm_loop *loop;
	int next, out_of_order, off_thread;
};
struct call_arg { struct calls *c; int seq; };

static void do_call(void *ud)
{
	struct call_arg *a = ud;
	struct calls *c = a->c;
	if (!modvm_loop_on_thread(c->loop))
		c->off_thread++;
	if (a->seq != c->next)
		c->out_of_order++;
	c->next = a->seq + 1;
	if (c->next == CALLS)
		modvm_loop_break(c->loop);
	free(a);
}

static void *post_calls(void *arg)
{
	struct calls *c = arg;
	ck_assert(!modvm_loop_on_thread(c->loop));
	for (int i = 0; i < CALLS; i++) {
		struct call_arg *a = malloc(sizeof(*a));
		ck_assert_ptr_nonnull(a);
		*a = (struct call_arg){ c, i };
		ck_assert_int_eq(modvm_loop_call(c->loop, do_call, a), 0);
	}
	return NULL;
}

START_TEST(loop_call_from_another_thread_runs_on_loop_in_order)
{
	struct calls c = { .loop = new_loop() };
	ck_assert(modvm_loop_on_thread(c.loop));	/* the creator, until run elsewhere */
	pthread_t t = spawn(post_calls, &c);
	modvm__loop_run(c.loop);
	pthread_join(t, NULL);
	ck_assert_int_eq(c.next, CALLS);
	ck_assert_int_eq(c.out_of_order, 0);
	ck_assert_int_eq(c.off_thread, 0);
	ck_assert_int_eq(modvm_loop_call(c.loop, NULL, NULL), -EINVAL);
	modvm__loop_free(c.loop);
}
END_TEST

static bool broke;	/* atomic */
static void *break_later(void *loop)
{
	usleep(20000);
	__atomic_store_n(&broke, true, __ATOMIC_RELEASE);
	modvm_loop_break(loop);
	return NULL;
}

static void keepalive(struct modvm_timer *t, void *ud)
{
	(void)t;
	(*(int *)ud)++;
}

START_TEST(loop_break_from_another_thread_ends_run)
{
	struct modvm_loop *loop = new_loop();
	int ticks = 0;
	/* A long repeating timer keeps the loop blocked until the break. */
	struct modvm_timer *t = modvm_timer_start(loop, 10, 10, keepalive, &ticks);
	pthread_t th = spawn(break_later, loop);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	modvm__loop_run(loop);
	clock_gettime(CLOCK_MONOTONIC, &b);
	pthread_join(th, NULL);
	double took = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	ck_assert(__atomic_load_n(&broke, __ATOMIC_ACQUIRE));	/* ran until the break */
	ck_assert_double_lt(took, 5.0);
	ck_assert_int_eq(ticks, 0);
	/* A break asked for before run makes the next run return at once. */
	modvm_loop_break(loop);
	modvm__loop_run(loop);
	modvm_timer_stop(t);
	modvm__loop_free(loop);
}
END_TEST

struct on_thread { struct modvm_loop *loop; bool seen_inside; };
static void check_on_thread(void *ud)
{
	struct on_thread *o = ud;
	o->seen_inside = modvm_loop_on_thread(o->loop);
	modvm_loop_break(o->loop);
}

static void *run_elsewhere(void *ud)
{
	struct on_thread *o = ud;
	modvm__loop_run(o->loop);
	return NULL;
}

START_TEST(on_thread_follows_the_running_thread)
{
	struct on_thread o = { new_loop(), false };
	ck_assert(modvm_loop_on_thread(o.loop));
	ck_assert(!modvm_loop_on_thread(NULL));
	ck_assert_int_eq(modvm_loop_call(o.loop, check_on_thread, &o), 0);
	pthread_join(spawn(run_elsewhere, &o), NULL);
	ck_assert(o.seen_inside);
	ck_assert(!modvm_loop_on_thread(o.loop));	/* another thread ran it */
	modvm__loop_free(o.loop);
}
END_TEST

/* ---- free with calls still queued ---- */
struct owned { int *ran; struct modvm_loop *loop; bool requeue; };
static void release(void *ud)
{
	struct owned *o = ud;
	(*o->ran)++;
	if (o->requeue) {
		struct owned *more = malloc(sizeof(*more));
		*more = (struct owned){ o->ran, o->loop, false };
		ck_assert_int_eq(modvm_loop_call(o->loop, release, more), 0);
	}
	free(o);
}

START_TEST(loop_free_runs_queued_calls_once)
{
	struct modvm_loop *loop = new_loop();
	int ran = 0;
	for (int i = 0; i < 3; i++) {
		struct owned *o = malloc(sizeof(*o));
		*o = (struct owned){ &ran, loop, i == 2 };
		ck_assert_int_eq(modvm_loop_call(loop, release, o), 0);
	}
	ck_assert_int_eq(ran, 0);	/* nothing runs before the loop does */
	modvm__loop_free(loop);		/* ASan: every struct owned is freed */
	ck_assert_int_eq(ran, 4);
}
END_TEST

/* ---- SIGINT / SIGTERM ---- */
struct sig { struct modvm_loop *loop; int signo, calls; };
static void on_stop(int signo, void *ud)
{
	struct sig *s = ud;
	s->signo = signo;
	s->calls++;
	modvm_loop_break(s->loop);
}

static char last_line[256];
static void capture(enum modvm_log_level level, const char *line, void *ud)
{
	(void)level;
	(void)ud;
	snprintf(last_line, sizeof(last_line), "%s", line);
}

static void raise_term(struct modvm_timer *t, void *ud)
{
	(void)ud;
	modvm_timer_stop(t);
	raise(SIGTERM);
}

START_TEST(stop_signals_reach_the_callback_on_the_loop)
{
	struct modvm_loop *loop = new_loop();
	struct sig s = { loop, 0, 0 };
	ck_assert_int_eq(modvm__loop_watch_stop_signals(loop, on_stop, &s), 0);
	ck_assert_ptr_nonnull(modvm_timer_start(loop, 0.001, 0, raise_term, NULL));
	modvm__loop_run(loop);
	ck_assert_int_eq(s.calls, 1);
	ck_assert_int_eq(s.signo, SIGTERM);

	/* A second loop may not take the signals over (libev would abort). */
	struct modvm_loop *other = new_loop();
	modvm_log_set_sink(capture, NULL);
	ck_assert_int_eq(modvm__loop_watch_stop_signals(other, on_stop, &s), -EBUSY);
	modvm_log_set_sink(NULL, NULL);
	ck_assert_str_eq(last_line,
			 "modvm: error: loop: SIGINT/SIGTERM are already watched by another loop");
	modvm__loop_free(other);

	raise(SIGINT);
	modvm__loop_run(loop);
	ck_assert_int_eq(s.calls, 2);
	ck_assert_int_eq(s.signo, SIGINT);
	modvm__loop_free(loop);

	/* Freed: the signals are free for another loop. */
	other = new_loop();
	ck_assert_int_eq(modvm__loop_watch_stop_signals(other, on_stop, &s), 0);
	modvm__loop_free(other);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("loop");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, one_shot_timer_fires_once);
	tcase_add_test(tc, repeating_timer_stopped_inside_its_callback);
	tcase_add_test(tc, timer_stops_another_due_in_the_same_iteration);
	tcase_add_test(tc, io_watcher_reads_a_pipe_and_stops_itself);
	tcase_add_test(tc, io_watcher_for_write_and_bad_arguments);
	tcase_add_test(tc, loop_call_from_another_thread_runs_on_loop_in_order);
	tcase_add_test(tc, loop_break_from_another_thread_ends_run);
	tcase_add_test(tc, on_thread_follows_the_running_thread);
	tcase_add_test(tc, loop_free_runs_queued_calls_once);
	tcase_add_test(tc, stop_signals_reach_the_callback_on_the_loop);
	suite_add_tcase(s, tc);

	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
