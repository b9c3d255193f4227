/*
 * Prints, one per line, every system call modvm's sandbox may make: what
 * its lockdown calls before its filters are in place, then the union of
 * the thread classes' allowlists.  check-unit.sh holds the systemd unit's
 * SystemCallFilter= to it: a call the unit forbids fails with EPERM in the
 * service, where host.sandbox = "strict" (the default) needs it.
 */
#include <stdio.h>

#include "sandbox/sandbox.h"

static void print(const char *name, bool limited, void *ud)
{
	(void)limited;
	(void)ud;
	printf("%s\n", name);
}

int main(void)
{
	for (const char *const *c = modvm__sandbox_lockdown_calls(); *c; c++)
		printf("%s\n", *c);
	return modvm__sandbox_foreach_allowed(MODVM__TC_NONE, NULL, print, NULL) == 0 ? 0 : 1;
}
