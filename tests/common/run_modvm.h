/*
 * Runs the built `modvm` binary as a user would and captures what it says.
 * Shared by the CLI and end-to-end tests.
 */
#ifndef MODVM_TESTS_RUN_MODVM_H
#define MODVM_TESTS_RUN_MODVM_H

#include <stdbool.h>

struct run_result {
	int status;		/* exit code, or -1 if it died of a signal */
	char out[65536];
	char err[16384];
};

/* The binary to run (argv[1] of the test) and the source root (env MODVM_SOURCE_ROOT). */
void run_modvm_init(const char *exe);
/* The binary given to run_modvm_init. */
const char *run_modvm_exe(void);
/* Runs modvm with the NULL-terminated arguments; kills it after @timeout_s. */
void run_modvm(struct run_result *res, int timeout_s, ...);
/*
 * Like run_modvm, but once stdout contains every text in @until (NULL-
 * terminated) — or after @timeout_s — sends SIGTERM, as an operator would,
 * and waits for the clean stop.  Returns the seconds until the texts were
 * all seen, or -1 if they never were.
 */
double run_modvm_until(struct run_result *res, int timeout_s, const char *const *until,
		       const char *const *argv);
/*
 * The general form: runs modvm with @argv and, every few milliseconds while
 * it runs, calls @done with its pid and the stdout so far; once @done
 * returns true — or after @timeout_s — sends SIGTERM and waits for the clean
 * stop.  Returns the seconds until @done said yes, or -1.
 */
double run_modvm_watch(struct run_result *res, int timeout_s, const char *const *argv,
		       bool (*done)(int pid, const char *out, void *ud), void *ud);
/* Asserts the exit status and that stdout/stderr contain the given texts (NULL: any). */
void run_expect(const struct run_result *res, int status, const char *out_has, const char *err_has);
/* Path of a config: "modvm.conf" is etc/modvm.conf, anything else tests/fixtures/configs/NAME. */
const char *run_conf(const char *name);
/* The last @n bytes of @text.  For failure messages: Check refuses one
 * over its limit (~4 KiB) and the test child then exits 2 with
 * "Message string too long", losing the message. */
const char *run_tail(const char *text, size_t n);
/* "/dev/kvm is usable", else false with @why filled (for a printed skip). */
bool kvm_usable(char *why, unsigned long len);
/* The same, and the CPU shows VMX or SVM: ring 0 runs in hardware. */
bool kvm_hw_usable(char *why, unsigned long len);

#endif
