/*
 * modvm/log.h — the one logging channel of the process.
 *
 * Every message is a single line on stderr: "modvm: LEVEL: [domain: ]text".
 * Plugins log through modvm_plugin_log() (plugin.h) so their name becomes the
 * domain; the functions here are for code that has no plugin context.
 * Logging is thread-safe: a line is written with one write(2).
 */
#ifndef MODVM_LOG_H
#define MODVM_LOG_H

#include <stdarg.h>
#include "common.h"

MODVM_BEGIN_DECLS

enum modvm_log_level {
	MODVM_LOG_ERROR = 0,
	MODVM_LOG_WARN = 1,
	MODVM_LOG_INFO = 2,
	MODVM_LOG_DEBUG = 3,
	MODVM_LOG_TRACE = 4,
};

/* Messages above this level are discarded. Default: MODVM_LOG_WARN. */
MODVM_EXPORT void modvm_log_set_level(enum modvm_log_level level);
MODVM_EXPORT enum modvm_log_level modvm_log_get_level(void);

/* Parses "error", "warn", "info", "debug" or "trace"; -EINVAL otherwise. */
MODVM_EXPORT int modvm_log_level_parse(const char *text, enum modvm_log_level *out);

/*
 * Redirects every line to @sink instead of stderr (tests use this to assert
 * exact messages).  @line has no trailing newline.  Pass NULL to restore
 * stderr.  The sink may be called from any thread.
 */
typedef void (*modvm_log_sink)(enum modvm_log_level level, const char *line, void *userdata);
MODVM_EXPORT void modvm_log_set_sink(modvm_log_sink sink, void *userdata);

/* @domain may be NULL. */
MODVM_EXPORT void modvm_log(enum modvm_log_level level, const char *domain, const char *fmt, ...)
	MODVM_PRINTF(3, 4);
MODVM_EXPORT void modvm_logv(enum modvm_log_level level, const char *domain, const char *fmt,
			     va_list ap) MODVM_PRINTF(3, 0);

MODVM_END_DECLS

#endif
