/*
 * gtest_layout.h — the guest's memory map and the ucall ABI, shared by the
 * host side of the harness (harness.c) and the guest side (guest_lib.c).
 *
 * Guest-virtual equals guest-physical everywhere (identity paging of the
 * low 4 GiB with 2 MiB pages, U/W at every level so CPL3 code reaches it
 * all), and inside the test binary guest-virtual also equals host-virtual:
 * the harness copies the non-PIE test binary's loaded segments into guest
 * RAM at their link addresses, so a guest function is called by its C
 * address and a guest global is found at &global in guest RAM (a snapshot
 * taken when the VM is created; gvm_ptr() reaches the guest's copy).
 *
 *   0x00001000  GDT: null, kernel code/data, user data/code, one TSS per vCPU
 *   0x00002000  IDT: 256 gates; 0-31 go to guest_exc_stubs
 *   0x00003000  TSS array, GTEST_TSS_STRIDE apart
 *   0x00010000  PML4, PDPT, then 4 page directories (4 GiB of 2 MiB pages)
 *   0x00100000  stacks: 128 KiB per vCPU, user half below, kernel half above
 *   0x00400000  the test binary (non-PIE), then free RAM up to ram_size
 *   0xc0000000  nothing: accesses exit to the host as MMIO (tests use it)
 *   0xd0000000  the ucall doorbell (MMIO): works at CPL0 and CPL3
 */
#ifndef GTEST_LAYOUT_H
#define GTEST_LAYOUT_H

#include <stdint.h>

#define GTEST_GDT 0x1000ull
#define GTEST_IDT 0x2000ull
#define GTEST_TSS 0x3000ull
#define GTEST_TSS_STRIDE 128ull
#define GTEST_PML4 0x10000ull
#define GTEST_PDPT 0x11000ull
#define GTEST_PD 0x12000ull
#define GTEST_STACKS 0x100000ull
#define GTEST_STACK_AREA 0x20000ull	/* per vCPU; aligned to its own size */
#define GTEST_USER_STACK 0x10000ull	/* user stack top = area base + this */
#define GTEST_MAX_VCPUS 8
#define GTEST_IMAGE_MIN 0x400000ull
#define GTEST_NO_RAM_GPA 0xc0000000ull
#define GTEST_UCALL_GPA 0xd0000000ull

#define GTEST_SEL_KCODE 0x08
#define GTEST_SEL_KDATA 0x10
#define GTEST_SEL_UDATA 0x18	/* used with RPL 3: 0x1b */
#define GTEST_SEL_UCODE 0x20	/* used with RPL 3: 0x23 */
#define GTEST_SEL_TSS(i) (0x28 + 16 * (i))

enum gtest_ucall_cmd {
	UCALL_NONE = 0,
	UCALL_SYNC,
	UCALL_DONE,
	UCALL_ABORT,		/* GUEST_ASSERT failed, or the guest function returned */
	UCALL_UNHANDLED,	/* an exception: args = vector, error code, rip, cr2 */
};

/*
 * Lives on the guest's stack; the guest writes its address to the doorbell.
 * file and expr point into the test binary's .rodata, which the host can
 * read at the same address in its own copy.
 */
struct ucall {
	uint64_t cmd;
	uint64_t line;
	const char *file;
	const char *expr;
	uint64_t args[4];
};

#endif
