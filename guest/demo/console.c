/* The 16550A console and the few string helpers the demo guest needs. */
#include "demo.h"

void putc_serial(char c)
{
	if (c == '\n')
		putc_serial('\r');
	while (!(inb(COM1 + 5) & 0x20))	/* THR empty */
		;
	outb(COM1, (uint8_t)c);
}

void puts_serial(const char *s)
{
	while (*s)
		putc_serial(*s++);
}

void put_hex(uint64_t v, int digits)
{
	for (int i = digits - 1; i >= 0; i--)
		putc_serial("0123456789abcdef"[(v >> (i * 4)) & 0xf]);
}

void put_dec(uint64_t v)
{
	char buf[21];
	int i = 0;
	do {
		buf[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		putc_serial(buf[--i]);
}

bool starts_with(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return false;
	return true;
}

const char *cmdline_value(const char *cmdline, const char *key)
{
	for (const char *p = cmdline; *p; p++) {
		if ((p == cmdline || p[-1] == ' ') && starts_with(p, key)) {
			const char *k = key;
			while (*k)
				k++, p++;
			if (*p == '=')
				return p + 1;
		}
	}
	return NULL;
}

uint64_t parse_size(const char *p, const char **end)
{
	uint64_t v = 0;
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (uint64_t)(*p++ - '0');
	switch (*p) {
	case 'K': v <<= 10; p++; break;
	case 'M': v <<= 20; p++; break;
	case 'G': v <<= 30; p++; break;
	default: break;
	}
	*end = p;
	return v;
}
