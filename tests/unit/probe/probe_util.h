/* Helpers shared by the probe tests: fixtures, captured log lines, a runner. */
#ifndef PROBE_UTIL_H
#define PROBE_UTIL_H

#include <check.h>
#include <modvm/cpu.h>
#include <modvm/hostfacts.h>

/* Directory of tests/fixtures/hosts (argv[1]). */
extern const char *fixture_dir;

/* FIXTURE_DIR/NAME in a static buffer. */
const char *fixture_path(const char *name);
/* Loads a fixture, failing the test if it doesn't load. */
void load_host(const char *name, struct modvm_host_facts *f);
/* Finds a recorded MSR entry (fails the test if absent). */
struct modvm_host_msr *host_msr(struct modvm_host_facts *f, uint32_t index);

/* Captures every log line (joined with '\n') until capture_stop(). */
void capture_start(void);
const char *capture_text(void);
void capture_stop(void);

/* A fresh temporary directory (mkdtemp under $TMPDIR or /tmp), static buffer. */
const char *temp_dir(void);
/* Removes @dir and everything under it (best effort). */
void remove_tree(const char *dir);
/* Writes @text to @path, failing the test on error. */
void write_file(const char *path, const char *text);

/* Runs @s; argv[1] is the fixture directory. Returns the exit status. */
int run_suite(Suite *s, int argc, char **argv);

#endif
