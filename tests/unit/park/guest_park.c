/* guest_park.c — an idle-or-spinning guest for test_live (guest code: no libc). */
#include "guest.h"
#include "guest_park.h"

volatile uint64_t park_guest_mode;
struct park_guest_count park_guest_spins[2];

void park_guest_vcpu(uint64_t vcpu)
{
	for (;;) {
		if (READ_ONCE(park_guest_mode) == PARK_GUEST_IDLE)
			GUEST_SYNC(vcpu);
		else
			park_guest_spins[vcpu & 1].n++;
	}
}
