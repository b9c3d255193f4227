/* guest_park.h — guest code of test_live (built like the guest-code library). */
#ifndef PARK_GUEST_PARK_H
#define PARK_GUEST_PARK_H

#include <stdint.h>

enum { PARK_GUEST_IDLE = 0, PARK_GUEST_SPIN = 1 };

/* Set by the host: what every vCPU does. */
extern volatile uint64_t park_guest_mode;

/* One cache line per vCPU: iterations of its spin loop. */
struct park_guest_count {
	volatile uint64_t n;
	uint64_t pad[7];
};
extern struct park_guest_count park_guest_spins[2];

/*
 * CPL3, forever: while the mode is IDLE it gives the thread back to the
 * host with a ucall (UCALL_SYNC, args[0] = @vcpu) — the host then sleeps
 * as a halted vCPU would; while it is SPIN it loops without exits.
 */
void park_guest_vcpu(uint64_t vcpu);

#endif
