/* guest_smp.c — guest code of test_guest_smp (built into the guest-code library). */
#include "lib/guest.h"
#include "guest_smp.h"

struct guest_counter guest_counters[8];

void guest_count(uint64_t arg)
{
	for (;;)
		guest_counters[arg].n++;
}
