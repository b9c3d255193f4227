/* guest_kvm.c — guest code of test_kvm_live (built into the guest-code library). */
#include "lib/guest.h"
#include "guest_kvm.h"

void guest_cpuid(uint64_t arg)
{
	uint32_t a = (uint32_t)(arg >> 32), b, c = (uint32_t)arg, d;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	GUEST_SYNC(a);
	GUEST_SYNC(b);
	GUEST_SYNC(c);
	GUEST_SYNC(d);
	GUEST_DONE();
}

void guest_write_then_sync(uint64_t arg)
{
	mmio_write32(arg, 1);
	GUEST_SYNC(0);
	GUEST_DONE();
}
