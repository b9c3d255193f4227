/* guest_bench.c — guest loops for bench/bench_exit.c: one exit per iteration. */
#include "lib/guest.h"
#include "guest_bench.h"

void guest_bench_pio(uint64_t arg)
{
	(void)arg;
	for (;;)
		outb(BENCH_PIO_PORT, 0);
}

void guest_bench_mmio(uint64_t arg)
{
	(void)arg;
	for (;;)
		mmio_write32(BENCH_MMIO_GPA, 0);
}
