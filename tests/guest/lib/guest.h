/*
 * guest.h — what guest code may use.  Include it only from sources built
 * into the guest-code library (no sanitizers, no stack protector, no SSE):
 * guest code must call nothing outside that library — no libc.
 *
 *   GUEST_SYNC(v)          stop, the host sees UCALL_SYNC with args[0] = v
 *   GUEST_DONE()           stop, the host sees UCALL_DONE
 *   GUEST_ASSERT(c)        on failure the host sees UCALL_ABORT with file:line
 *   GUEST_ASSERT_EQ(a, b)  … and both values
 *
 * Guest functions have the type guest_fn (one argument, chosen by the host)
 * and may start at CPL0 or CPL3; guest_to_user() drops from CPL0 to CPL3.
 */
#ifndef GTEST_GUEST_H
#define GTEST_GUEST_H

#include <stddef.h>
#include <stdint.h>

#include "gtest_layout.h"

typedef void (*guest_fn)(uint64_t arg);

void __guest_ucall(uint64_t cmd, const char *file, uint64_t line, const char *expr,
		   uint64_t a0, uint64_t a1);

#define GUEST_SYNC(v) __guest_ucall(UCALL_SYNC, __FILE__, __LINE__, NULL, (uint64_t)(v), 0)
#define GUEST_DONE() __guest_ucall(UCALL_DONE, __FILE__, __LINE__, NULL, 0, 0)
#define GUEST_ASSERT(c)                                                                \
	do {                                                                           \
		if (!(c))                                                              \
			__guest_ucall(UCALL_ABORT, __FILE__, __LINE__, #c, 0, 0);      \
	} while (0)
#define GUEST_ASSERT_EQ(a, b)                                                          \
	do {                                                                           \
		uint64_t __a = (uint64_t)(a), __b = (uint64_t)(b);                     \
		if (__a != __b)                                                        \
			__guest_ucall(UCALL_ABORT, __FILE__, __LINE__, #a " == " #b, __a, __b); \
	} while (0)

/* From CPL0: continue in @fn(@arg) at CPL3 on this vCPU's user stack (iretq). */
void guest_to_user(guest_fn fn, uint64_t arg) __attribute__((noreturn));

/* Freestanding helpers: guest code can't call libc. */
void *guest_memset(void *d, int c, size_t n);
void *guest_memcpy(void *d, const void *s, size_t n);
int guest_memcmp(const void *a, const void *b, size_t n);

#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

static inline uint16_t guest_cpl(void)
{
	uint16_t cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	return cs & 3;
}

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline void hlt(void)
{
	__asm__ volatile("hlt" ::: "memory");
}
static inline void mmio_write32(uint64_t addr, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)addr = v;
}
static inline void mmio_write64(uint64_t addr, uint64_t v)
{
	*(volatile uint64_t *)(uintptr_t)addr = v;
}
static inline uint8_t mmio_read8(uint64_t addr)
{
	return *(volatile uint8_t *)(uintptr_t)addr;
}
static inline uint64_t mmio_read64(uint64_t addr)
{
	return *(volatile uint64_t *)(uintptr_t)addr;
}

#endif
