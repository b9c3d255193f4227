/* guest_smp.h — guest functions of test_guest_smp. */
#ifndef GUEST_SMP_H
#define GUEST_SMP_H

#include <stdint.h>

/* One cache line per vCPU, so the counters don't share one. */
struct guest_counter {
	volatile uint64_t n;
	uint64_t pad[7];
};
extern struct guest_counter guest_counters[8];

/* CPL3: counts in guest_counters[arg] forever. */
void guest_count(uint64_t arg);

#endif
