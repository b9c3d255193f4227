/*
 * One logging channel for the whole process: a line per message, written
 * with a single write(2) so lines from vCPU threads never interleave.
 * The sink is called under a lock so that modvm_log_set_sink() returning
 * means no thread is still inside the old sink (tests free their buffers
 * right after); a sink therefore must not log itself.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"

static enum modvm_log_level current_level = MODVM_LOG_WARN;
static modvm_log_sink current_sink;
static void *current_sink_data;
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "error", "warn", "info", "debug", "trace" };

MODVM_EXPORT void modvm_log_set_level(enum modvm_log_level level)
{
	if (level > MODVM_LOG_TRACE)
		level = MODVM_LOG_TRACE;
	__atomic_store_n(&current_level, level, __ATOMIC_RELAXED);
}

MODVM_EXPORT enum modvm_log_level modvm_log_get_level(void)
{
	return __atomic_load_n(&current_level, __ATOMIC_RELAXED);
}

MODVM_EXPORT int modvm_log_level_parse(const char *text, enum modvm_log_level *out)
{
	for (size_t i = 0; text && i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(text, level_names[i]) == 0) {
			*out = (enum modvm_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

MODVM_EXPORT void modvm_log_set_sink(modvm_log_sink sink, void *userdata)
{
	pthread_mutex_lock(&sink_lock);
	current_sink = sink;
	current_sink_data = userdata;
	pthread_mutex_unlock(&sink_lock);
}

MODVM_EXPORT void modvm_logv(enum modvm_log_level level, const char *domain, const char *fmt,
			     va_list ap)
{
	if (level > modvm_log_get_level())
		return;
	if (level > MODVM_LOG_TRACE)
		level = MODVM_LOG_TRACE;

	char line[2048];
	int n;
	if (domain)
		n = snprintf(line, sizeof(line), "modvm: %s: %s: ", level_names[level], domain);
	else
		n = snprintf(line, sizeof(line), "modvm: %s: ", level_names[level]);
	if (n < 0)
		return;
	size_t used = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	int m = vsnprintf(line + used, sizeof(line) - used, fmt, ap);
	if (m > 0 && (size_t)m >= sizeof(line) - used) {
		/* Say that the line was cut rather than silently lose its end. */
		used = sizeof(line) - 1;
		memcpy(line + used - 3, "...", 3);
	} else if (m > 0) {
		used += (size_t)m;
	}
	/* One message is one line, whatever the caller passed. */
	while (used > 0 && line[used - 1] == '\n')
		line[--used] = '\0';
	for (size_t i = 0; i < used; i++)
		if (line[i] == '\n')
			line[i] = ' ';

	pthread_mutex_lock(&sink_lock);
	modvm_log_sink sink = current_sink;
	void *data = current_sink_data;
	if (sink) {
		sink(level, line, data);
	} else {
		line[used] = '\n';
		ssize_t r = write(STDERR_FILENO, line, used + 1);
		(void)r;
	}
	pthread_mutex_unlock(&sink_lock);
}

MODVM_EXPORT void modvm_log(enum modvm_log_level level, const char *domain, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	modvm_logv(level, domain, fmt, ap);
	va_end(ap);
}
