/*
 * The benchmark guest (bench/bench_vmm.c): one tiny program whose behaviour
 * the kernel command line picks, so every measurement boots the same binary
 * the same way.  "modvm.bench=pio" writes port 0x500 forever (one exit per
 * iteration), "spin" loops without exits (a running guest for RSS), "hello"
 * prints one byte (a newline) on the serial console and powers off (start
 * latency).  Anything else powers off at once.  It runs at CPL0, which some
 * hosts (kvm_pvm) emulate, so each loop is a handful of instructions.
 */
#include <stdint.h>

#define COM1 0x3f8
#define BENCH_PORT 0x500
#define POWER_PORT 0x604
#define POWER_OFF 0x2000
#define BP_CMD_LINE_PTR 0x228
/* A newline: modvm's UART is line-buffered, so it reaches stdout at once. */
#define HELLO_BYTE '\n'

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* True if the word at @s (ending at a space or NUL) is exactly @word. */
static int word_is(const char *s, const char *word)
{
	while (*word)
		if (*s++ != *word++)
			return 0;
	return *s == '\0' || *s == ' ';
}

/* The value of "modvm.bench=" on the command line, or "". */
static const char *bench_mode(const char *cmdline)
{
	static const char key[] = "modvm.bench=";
	for (const char *p = cmdline; *p; p++) {
		if (p != cmdline && p[-1] != ' ')
			continue;
		const char *k = key, *q = p;
		while (*k && *q == *k)
			k++, q++;
		if (!*k)
			return q;
	}
	return "";
}

void bench_main(uint64_t boot_params);
void bench_main(uint64_t boot_params)
{
	const uint8_t *bp = (const uint8_t *)(uintptr_t)boot_params;
	const char *cmdline = (const char *)(uintptr_t)*(const uint32_t *)(bp + BP_CMD_LINE_PTR);
	const char *mode = bench_mode(cmdline);

	if (word_is(mode, "pio")) {
		for (;;)
			outb(BENCH_PORT, 0);
	} else if (word_is(mode, "spin")) {
		for (;;)
			__asm__ volatile("" ::: "memory");
	} else if (word_is(mode, "hello")) {
		while (!(inb(COM1 + 5) & 0x20))	/* THR empty */
			;
		outb(COM1, HELLO_BYTE);
	}
	outw(POWER_PORT, POWER_OFF);
}
