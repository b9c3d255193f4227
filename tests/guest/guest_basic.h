/* guest_basic.h — the guest functions of test_guest_basic and what they share with it. */
#ifndef GUEST_BASIC_H
#define GUEST_BASIC_H

#include <stdint.h>

#define PIO_OUT_PORT 0x1234
#define PIO_OUT_VALUE 0xdeadbeefu
#define PIO_IN_PORT 0x71
#define MMIO_ADDR (GTEST_NO_RAM_GPA + 0x1000)
#define MMIO_WRITE_VALUE 0x11223344u
#define MMIO_READ_VALUE 0x0123456789abcdefull
#define HOST_PATTERN 0x5eed5eed5eed5eedull

extern uint8_t guest_buf[64];
extern volatile uint64_t host_to_guest;
extern volatile uint64_t assert_line;

void guest_memory(uint64_t arg);
void guest_pio(uint64_t arg);
void guest_mmio(uint64_t arg);
void guest_no_ram(uint64_t arg);
void guest_sse(uint64_t arg);
void guest_hlt(uint64_t arg);
void guest_assert_fails(uint64_t arg);
void guest_ud2(uint64_t arg);
void guest_report_cpl(uint64_t arg);
void guest_drop_to_user(uint64_t arg);
void guest_returns(uint64_t arg);

#endif
