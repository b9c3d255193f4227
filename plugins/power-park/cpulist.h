/*
 * cpulist.h — kernel-style cpu lists, as sysfs `online` files and the
 * `cores` option write them.
 */
#ifndef POWER_PARK_CPULIST_H
#define POWER_PARK_CPULIST_H

#include <modvm/park.h>

#define PARK_MAX_CPUS MODVM_PARK_MAX_CPUS

/*
 * Parses a kernel-style cpulist ("0-3,6") into ascending, distinct cpu
 * numbers below PARK_MAX_CPUS.  Returns how many, or -EINVAL.
 */
int park_cpulist_parse(const char *text, unsigned *cpus);

#endif
