/*
 * tests/hostile — issue 17: hostile clients, files, plugins and crashes.
 * Each test reproduces one attack against the built `modvm` binary (or an
 * in-process host) and asserts that modvm keeps running, refuses clearly
 * and leaves nothing behind.  None needs /dev/kvm.
 *
 * These helpers are what the tests share: a private temporary directory
 * per test, files written into it, a `modvm run` daemon started on a
 * config with a control socket, and a bare client for that socket.
 */
#ifndef MODVM_TESTS_HOSTILE_H
#define MODVM_TESTS_HOSTILE_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* main() brackets the run: a directory under /tmp holding every test's
 * own, removed at the end even when a failed assertion skipped a test's
 * cleanup. */
void hostile_begin(void);
/* A hostile test's main(): MODVM_EXE from argv[1] (usage and 2 without
 * it), then hostile_begin(); 0 to go on. */
int hostile_start(int argc, char **argv);
/* Runs @s, then hostile_end(): 0 if every test passed. */
int hostile_run(Suite *s);
void hostile_end(void);
/* A fresh 0700 directory in the run's (static buffer); also exported as
 * MODVM_RUNTIME_DIR so nothing a test starts touches /run/modvm. */
const char *tmp_dir(void);
/* Removes the directory of tmp_dir() and everything in it. */
void tmp_dir_remove(void);
/* DIR/NAME in a static ring of buffers. */
const char *tmp_path(const char *name);
/* Writes a file (created 0600) with printf-style contents; returns its path. */
const char *write_text(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Starts `modvm [ARGS…] run CONF` with stdout/stderr into @out_fd/@err_fd
 * (-1: /dev/null).  @prep, if set, runs in the child before exec (limits).
 */
pid_t modvm_spawn(const char *conf, int out_fd, int err_fd, void (*prep)(void),
		  const char *const *args);
/* Waits up to @ms for @path to exist. */
bool wait_for_path(const char *path, int ms);
/* Waits up to @ms for @pid; its exit code, 128+signal if killed, -1 on timeout. */
int wait_exit(pid_t pid, int ms);
/* SIGKILLs and reaps @pid if it still runs. */
void kill_hard(pid_t pid);

/*
 * A bare control-socket client: connects, sends @line and a newline, reads
 * the reply into @reply until EOF or @ms.  Returns 0, or -errno of connect.
 */
int ctl_raw(const char *sock, const char *line, char *reply, size_t len, int ms);

/* Waits up to @ms until a modvm answers "ok" on @sock (a stale socket
 * file from a killed run does not count). */
bool wait_for_ctl(const char *sock, int ms);

/* A temporary file's contents read whole (static buffer, "" if absent). */
const char *read_text(const char *path);

/* The value of @key ("Uid", "Seccomp", …) in /proc/@pid/task/@tid/status
 * (@tid "": the process's) into @out, "" if absent; returns @out. */
const char *proc_status(pid_t pid, const char *tid, const char *key, char *out, size_t len);

#endif
