/* guest_bench.h — guest loops for bench/bench_exit.c. */
#ifndef GUEST_BENCH_H
#define GUEST_BENCH_H

#include <stdint.h>

#define BENCH_PIO_PORT 0x80
#define BENCH_MMIO_GPA 0xc0000000ull

/* CPL0: outb to BENCH_PIO_PORT forever. */
void guest_bench_pio(uint64_t arg);
/* CPL3: 4-byte writes to BENCH_MMIO_GPA forever. */
void guest_bench_mmio(uint64_t arg);

#endif
