/*
 * cpulist.c — kernel-style cpu lists ("0-3,6"), for the managed cores.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "cpulist.h"

int park_cpulist_parse(const char *text, unsigned *cpus)
{
	bool in[PARK_MAX_CPUS] = { false };
	const char *p = text;
	int n = 0;

	while (*p) {
		char *end;
		unsigned long a = strtoul(p, &end, 10), b;

		if (end == p || a >= PARK_MAX_CPUS)
			return -EINVAL;
		b = a;
		p = end;
		if (*p == '-') {
			b = strtoul(p + 1, &end, 10);
			if (end == p + 1 || b >= PARK_MAX_CPUS || b < a)
				return -EINVAL;
			p = end;
		}
		for (unsigned long c = a; c <= b; c++)
			in[c] = true;
		if (*p == ',')
			p++;
		else if (*p && *p != '\n')
			return -EINVAL;
		else if (*p == '\n')
			break;
	}
	for (unsigned c = 0; c < PARK_MAX_CPUS; c++)
		if (in[c])
			cpus[n++] = c;
	return n ? n : -EINVAL;
}
