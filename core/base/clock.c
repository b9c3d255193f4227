/*
 * A deadline @ns from now on @clk, for pthread_cond_timedwait and
 * pthread_timedjoin_np, which take absolute times (and the first
 * CLOCK_REALTIME unless its condvar says otherwise).
 */
#include "base/base.h"

MODVM_INTERNAL struct timespec modvm__deadline_after(clockid_t clk, uint64_t ns)
{
	struct timespec t;

	clock_gettime(clk, &t);
	t.tv_sec += (time_t)(ns / 1000000000u);
	t.tv_nsec += (long)(ns % 1000000000u);
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}
