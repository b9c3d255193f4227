/*
 * sampler.h — per-core utilisation from /proc/stat (path configurable).
 *
 * Each read parses the "cpuN" lines and turns the jiffies since the
 * previous read into busy permille (everything but idle and iowait).  The
 * first read only primes the counters.  A file without cpuN lines, or with
 * a malformed one, is refused with one clear line naming the path and line.
 */
#ifndef CORE_PARKING_SAMPLER_H
#define CORE_PARKING_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"

struct park_sampler {
	char path[256];
	uint64_t busy[PARK_MAX_CPUS];	/* by host cpu number */
	uint64_t total[PARK_MAX_CPUS];
	bool seen[PARK_MAX_CPUS];	/* present in the last read */
	bool primed;
};

void park_sampler_init(struct park_sampler *s, const char *path);

/*
 * Reads the file once.  @permille (indexed by host cpu, PARK_MAX_CPUS long)
 * receives the busy share since the previous read (0 on the first read or
 * for a cpu without new jiffies).  Returns the number of cpuN lines, or
 * -errno (-EINVAL for a file that is not /proc/stat), with @err filled.
 */
int park_sampler_read(struct park_sampler *s, uint32_t *permille, char *err, unsigned errlen);

#endif
