/*
 * guest_lib.c — the guest side of the harness: ucalls, the exception
 * stubs the IDT points at, the CPL0→CPL3 drop and freestanding string
 * helpers.  Built without sanitizers, stack protector or SSE (see
 * tests/guest/meson.build): this code runs inside the VM, where CPL0 code
 * is emulated and knows no SSE, and there is no libc.
 */
#include "guest.h"

void __guest_ucall(uint64_t cmd, const char *file, uint64_t line, const char *expr,
		   uint64_t a0, uint64_t a1)
{
	struct ucall uc;
	uc.cmd = cmd;
	uc.line = line;
	uc.file = file;
	uc.expr = expr;
	uc.args[0] = a0;
	uc.args[1] = a1;
	uc.args[2] = 0;
	uc.args[3] = 0;
	/* The struct must be in memory before the doorbell, which the host reads. */
	__asm__ volatile("" : : "r"(&uc) : "memory");
	*(volatile uint64_t *)(uintptr_t)GTEST_UCALL_GPA = (uint64_t)(uintptr_t)&uc;
	__asm__ volatile("" : : : "memory");
}

/* Called by the stubs below with the frame: vector, error code, rip, cs, rflags, rsp, ss. */
void guest_exception(uint64_t *frame) __attribute__((noreturn, used));
void guest_exception(uint64_t *frame)
{
	uint64_t cr2;
	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	struct ucall uc;
	uc.cmd = UCALL_UNHANDLED;
	uc.line = 0;
	uc.file = "guest exception";
	uc.expr = NULL;
	uc.args[0] = frame[0];
	uc.args[1] = frame[1];
	uc.args[2] = frame[2];
	uc.args[3] = cr2;
	/* Nothing to return to: report again if the host insists on running. */
	for (;;) {
		__asm__ volatile("" : : "r"(&uc) : "memory");
		*(volatile uint64_t *)(uintptr_t)GTEST_UCALL_GPA = (uint64_t)(uintptr_t)&uc;
	}
}

void guest_returned(void) __attribute__((noreturn, used));
void guest_returned(void)
{
	for (;;)
		__guest_ucall(UCALL_ABORT, "guest", 0,
			      "the guest function returned (end it with GUEST_DONE)", 0, 0);
}

/*
 * 32 stubs, 16 bytes apart, so the host computes stub i's address as
 * guest_exc_stubs + 16 * i.  Vectors without a CPU-pushed error code push
 * a zero so the frame looks the same for all.
 */
#define EXC_ERR_MASK ((1u << 8) | (1u << 10) | (1u << 11) | (1u << 12) | (1u << 13) | \
		      (1u << 14) | (1u << 17) | (1u << 21) | (1u << 29) | (1u << 30))
__asm__(".text\n"
	".globl guest_exc_stubs\n"
	".p2align 4\n"
	"guest_exc_stubs:\n"
	".altmacro\n"
	".macro gtest_stub vec, err\n"
	"  .p2align 4\n"
	"  .if \\err == 0\n"
	"  pushq $0\n"
	"  .endif\n"
	"  pushq $\\vec\n"
	"  jmp guest_exc_common\n"
	".endm\n"
	".set v, 0\n"
	".rept 32\n"
	"  gtest_stub %v, %((0x60227d00 >> v) & 1)\n"
	"  .set v, v + 1\n"
	".endr\n"
	".noaltmacro\n"
	".p2align 4\n"
	"guest_exc_common:\n"
	"  mov %rsp, %rdi\n"
	"  and $-16, %rsp\n"
	"  call guest_exception\n"
	"  ud2\n"
	/* The return address under every guest function: report, never return. */
	".globl guest_returned_stub\n"
	"guest_returned_stub:\n"
	"  and $-16, %rsp\n"
	"  call guest_returned\n"
	"  ud2\n"
	/* guest_to_user(fn = rdi, arg = rsi): iretq to CPL3 on this vCPU's user stack. */
	".globl guest_to_user\n"
	"guest_to_user:\n"
	"  mov %rsp, %rax\n"
	"  and $-0x20000, %rax\n"	/* GTEST_STACK_AREA */
	"  add $0x10000, %rax\n"	/* GTEST_USER_STACK */
	"  lea -8(%rax), %rcx\n"
	"  lea guest_returned_stub(%rip), %rdx\n"
	"  mov %rdx, (%rcx)\n"
	"  pushq $0x1b\n"		/* ss: user data, RPL 3 */
	"  pushq %rcx\n"
	"  pushq $2\n"			/* rflags: IF clear */
	"  pushq $0x23\n"		/* cs: user code, RPL 3 */
	"  pushq %rdi\n"
	"  mov %rsi, %rdi\n"
	"  iretq\n");

_Static_assert(EXC_ERR_MASK == 0x60227d00, "the stub table's error-code mask is stale");

void *guest_memset(void *d, int c, size_t n)
{
	volatile uint8_t *p = d;
	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

void *guest_memcpy(void *d, const void *s, size_t n)
{
	volatile uint8_t *p = d;
	const uint8_t *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

int guest_memcmp(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *p = a, *q = b;
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p < *q ? -1 : 1;
	return 0;
}
