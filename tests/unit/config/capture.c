/*
 * Captures log lines so tests can assert exact messages.  Check forks each
 * test, so the static buffer is private to one test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <modvm/log.h>

#include "capture.h"

static struct {
	int n;
	char lines[CAPTURE_MAX][1024];
} cap;

static void sink(enum modvm_log_level level, const char *line, void *ud)
{
	(void)ud;
	if (level != MODVM_LOG_ERROR || cap.n >= CAPTURE_MAX)
		return;
	snprintf(cap.lines[cap.n++], sizeof(cap.lines[0]), "%s", line);
}

void capture_start(void)
{
	cap.n = 0;
	modvm_log_set_sink(sink, NULL);
}

void capture_stop(void)
{
	modvm_log_set_sink(NULL, NULL);
}

int capture_count(void)
{
	return cap.n;
}

const char *capture_line(int i)
{
	return i < cap.n ? cap.lines[i] : "(no line)";
}

/* The sink may get the "modvm: error: " prefix; the message is the tail. */
bool capture_is(int i, const char *expected)
{
	const char *line = capture_line(i);
	size_t n = strlen(line), m = strlen(expected);

	return i < cap.n && n >= m && !strcmp(line + n - m, expected) &&
	       (n == m || line[n - m - 1] == ' ');
}

void capture_dump(void)
{
	for (int i = 0; i < cap.n; i++)
		fprintf(stderr, "captured[%d]: %s\n", i, cap.lines[i]);
}

const char *fixture_dir(void)
{
	static char dir[4096];
	const char *root = getenv("MODVM_SOURCE_ROOT");

	snprintf(dir, sizeof(dir), "%s/tests/fixtures/configs", root ? root : ".");
	return dir;
}
