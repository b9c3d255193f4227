/* guest_basic.c — guest code of test_guest_basic (built into the guest-code library). */
#include "lib/guest.h"
#include "guest_basic.h"

uint8_t guest_buf[64];
volatile uint64_t host_to_guest;
volatile uint64_t assert_line;

/* Writes a pattern the host checks, then reports what the host wrote. */
void guest_memory(uint64_t arg)
{
	for (unsigned i = 0; i < sizeof(guest_buf); i++)
		WRITE_ONCE(guest_buf[i], (uint8_t)(arg + i));
	GUEST_SYNC(1);
	GUEST_SYNC(host_to_guest);
	GUEST_DONE();
}

/* CPL0 only: the guest can't do port I/O at CPL3 (IOPL 0). */
void guest_pio(uint64_t arg)
{
	(void)arg;
	outl(PIO_OUT_PORT, PIO_OUT_VALUE);
	uint8_t v = inb(PIO_IN_PORT);
	GUEST_SYNC(v);
	GUEST_DONE();
}

void guest_mmio(uint64_t arg)
{
	mmio_write32(MMIO_ADDR, MMIO_WRITE_VALUE);
	uint64_t v = mmio_read64(MMIO_ADDR + 8);
	GUEST_ASSERT_EQ(v, MMIO_READ_VALUE);
	GUEST_SYNC(guest_cpl() == arg);
	GUEST_DONE();
}

/* Beyond RAM and far from every device: still an MMIO exit, not a crash. */
void guest_no_ram(uint64_t arg)
{
	GUEST_SYNC(mmio_read8(arg));
	GUEST_DONE();
}

/* CPL0: the kvm_pvm emulator knows no SSE arithmetic (addps %xmm1, %xmm0). */
void guest_sse(uint64_t arg)
{
	(void)arg;
	__asm__ volatile(".byte 0x0f, 0x58, 0xc1" ::: "memory");
	GUEST_DONE();
}

void guest_hlt(uint64_t arg)
{
	(void)arg;
	hlt();
	GUEST_DONE();
}

void guest_assert_fails(uint64_t arg)
{
	assert_line = __LINE__ + 1;
	GUEST_ASSERT_EQ(arg, 42);
	GUEST_DONE();
}

void guest_ud2(uint64_t arg)
{
	(void)arg;
	__asm__ volatile("ud2");
	GUEST_DONE();
}

void guest_report_cpl(uint64_t arg)
{
	(void)arg;
	GUEST_SYNC(guest_cpl());
	GUEST_DONE();
}

static void user_part(uint64_t arg)
{
	GUEST_SYNC(arg);
	GUEST_SYNC(guest_cpl());
	GUEST_DONE();
}

void guest_drop_to_user(uint64_t arg)
{
	GUEST_SYNC(guest_cpl());
	guest_to_user(user_part, arg);
}

void guest_returns(uint64_t arg)
{
	(void)arg;
}
