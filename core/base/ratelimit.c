/*
 * Rate-limited log lines for what a guest can trigger (issue 17, item 9):
 * a hostile guest wrote 2,517 warnings in 0.27 s of guest time.  A limiter
 * lets @burst lines through per window; the rest are counted, and the
 * first line of a later window (or the limiter's end) says
 * "WHO: suppressed N similar messages".  One limiter per VM, shared by its
 * devices and the core's and plugins' device models, so a guest's budget
 * does not grow with the number of devices it has.  Any thread.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/base.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

MODVM_INTERNAL void modvm__ratelimit_init(struct modvm__ratelimit *rl, const char *who,
					  unsigned burst, uint64_t interval_ns)
{
	memset(rl, 0, sizeof(*rl));
	pthread_mutex_init(&rl->lock, NULL);
	snprintf(rl->who, sizeof(rl->who), "%s", who ? who : "guest");
	rl->burst = burst;
	rl->interval_ns = interval_ns;
	rl->now = mono_ns;
	rl->window_start = rl->now();
}

/* Says how many were suppressed, if any; with rl->lock held. */
static void flush_locked(struct modvm__ratelimit *rl)
{
	if (rl->suppressed == 0)
		return;
	modvm_log(MODVM_LOG_WARN, NULL, "%s: suppressed %llu similar messages", rl->who,
		  (unsigned long long)rl->suppressed);
	rl->suppressed = 0;
}

MODVM_INTERNAL void modvm__ratelimit_fini(struct modvm__ratelimit *rl)
{
	pthread_mutex_lock(&rl->lock);
	flush_locked(rl);
	pthread_mutex_unlock(&rl->lock);
	pthread_mutex_destroy(&rl->lock);
}

MODVM_INTERNAL bool modvm__ratelimit_allow(struct modvm__ratelimit *rl)
{
	bool ok;

	pthread_mutex_lock(&rl->lock);
	uint64_t now = rl->now();
	if (now - rl->window_start >= rl->interval_ns) {
		flush_locked(rl);
		rl->window_start = now;
		rl->used = 0;
	}
	ok = rl->used < rl->burst;
	if (ok)
		rl->used++;
	else
		rl->suppressed++;
	pthread_mutex_unlock(&rl->lock);
	return ok;
}

MODVM_INTERNAL void modvm__log_limitedv(struct modvm__ratelimit *rl, enum modvm_log_level level,
					const char *domain, const char *fmt, va_list ap)
{
	/* Lines the level filters out cost nothing and count nothing. */
	if (level > modvm_log_get_level())
		return;
	if (rl && !modvm__ratelimit_allow(rl))
		return;
	modvm_logv(level, domain, fmt, ap);
}

MODVM_INTERNAL void modvm__log_limited(struct modvm__ratelimit *rl, enum modvm_log_level level,
				       const char *domain, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	modvm__log_limitedv(rl, level, domain, fmt, ap);
	va_end(ap);
}
