/*
 * core/boot_cpu.c — the BSP's state at the kernel entry: a GDT with the
 * selectors boot.rst names (__BOOT_CS 0x10, __BOOT_DS 0x18), identity page
 * tables for long mode, and register files that match them.
 */
#include <errno.h>
#include <string.h>

#include "boot/boot.h"

/* Descriptor flags as in Linux's GDT_ENTRY(): G D/B L AVL ... P DPL S TYPE. */
#define SEG_CODE64 0xa09b
#define SEG_CODE32 0xc09b
#define SEG_DATA 0xc093
#define SEG_TSS 0x008b		/* 32-bit TSS, busy: what TR must hold */

#define CR0_PE 0x00000001ULL
#define CR0_ET 0x00000010ULL
#define CR0_PG 0x80000000ULL
#define CR4_PAE 0x00000020ULL
#define EFER_LME 0x00000100ULL
#define EFER_LMA 0x00000400ULL
#define APIC_BASE_BSP 0xfee00900ULL	/* 0xfee00000 | enabled | BSP */

#define PTE_PRESENT 0x01ULL
#define PTE_RW 0x02ULL
#define PTE_PS 0x80ULL		/* 2 MiB page in a PD entry */

#define TSS_LIMIT 0x67

static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
	       (limit & 0xffffu) | ((uint64_t)(limit & 0xf0000u) << 32) |
	       ((uint64_t)(flags & 0xf0ffu) << 40);
}

/* The sregs view of a descriptor, so the two can never disagree. */
static struct modvm_segment segment(uint16_t selector, uint16_t flags, uint32_t base,
				    uint32_t limit)
{
	bool g = flags >> 15 & 1;

	return (struct modvm_segment){
		.base = base,
		.limit = g ? (limit << 12) | 0xfff : limit,
		.selector = selector,
		.type = flags & 0xf,
		.s = flags >> 4 & 1,
		.dpl = flags >> 5 & 3,
		.present = flags >> 7 & 1,
		.avl = flags >> 12 & 1,
		.l = flags >> 13 & 1,
		.db = flags >> 14 & 1,
		.g = g,
	};
}

static int write_gdt(const struct modvm__boot_ram *ram, uint16_t code)
{
	uint64_t gdt[MODVM_BOOT_GDT_ENTRIES] = {
		[MODVM_BOOT_SEL_CS / 8] = gdt_entry(code, 0, 0xfffff),
		[MODVM_BOOT_SEL_DS / 8] = gdt_entry(SEG_DATA, 0, 0xfffff),
		[MODVM_BOOT_SEL_TSS / 8] = gdt_entry(SEG_TSS, 0, TSS_LIMIT),
	};

	/* Little-endian host and guest: the array is the descriptor table's bytes. */
	return modvm__boot_ram_write(ram, MODVM_BOOT_GDT_GPA, gdt, sizeof(gdt));
}

/* Flat segments from the GDT, interrupts off, no IDT (a fault then resets the guest). */
static void flat_state(uint16_t code, uint64_t rip, struct modvm_regs *regs,
		       struct modvm_sregs *sregs)
{
	struct modvm_segment data = segment(MODVM_BOOT_SEL_DS, SEG_DATA, 0, 0xfffff);

	memset(regs, 0, sizeof(*regs));
	memset(sregs, 0, sizeof(*sregs));
	regs->rip = rip;
	regs->rflags = 0x2;	/* bit 1 is reserved-one; IF clear */
	regs->rsp = MODVM_BOOT_STACK_GPA;
	sregs->cs = segment(MODVM_BOOT_SEL_CS, code, 0, 0xfffff);
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
	sregs->tr = segment(MODVM_BOOT_SEL_TSS, SEG_TSS, 0, TSS_LIMIT);
	sregs->ldt = (struct modvm_segment){ .limit = 0xffff, .type = 2, .present = 1 };
	sregs->gdt = (struct modvm_dtable){ .base = MODVM_BOOT_GDT_GPA,
					    .limit = MODVM_BOOT_GDT_ENTRIES * 8 - 1 };
	sregs->idt = (struct modvm_dtable){ 0 };
	sregs->cr0 = CR0_PE | CR0_ET;
	sregs->apic_base = APIC_BASE_BSP;
}

/* PML4 -> one PDPT -> four PDs of 2 MiB pages: [0, 4 GiB) maps to itself. */
static int write_page_tables(const struct modvm__boot_ram *ram)
{
	uint64_t *pml4 = modvm__boot_ram_ptr(ram, MODVM_BOOT_PML4_GPA, 4096);
	uint64_t *pdpt = modvm__boot_ram_ptr(ram, MODVM_BOOT_PDPT_GPA, 4096);
	uint64_t *pd = modvm__boot_ram_ptr(ram, MODVM_BOOT_PD_GPA, 4 * 4096);

	if (!pml4 || !pdpt || !pd)
		return -EFAULT;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = MODVM_BOOT_PDPT_GPA | PTE_PRESENT | PTE_RW;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (MODVM_BOOT_PD_GPA + i * 4096) | PTE_PRESENT | PTE_RW;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_PRESENT | PTE_RW | PTE_PS;
	return 0;
}

int modvm__boot_cpu_long_mode(const struct modvm__boot_ram *ram, uint64_t rip, uint64_t rsi,
			      struct modvm_regs *regs, struct modvm_sregs *sregs)
{
	int rc = write_gdt(ram, SEG_CODE64);

	if (rc == 0)
		rc = write_page_tables(ram);
	if (rc < 0)
		return rc;
	flat_state(SEG_CODE64, rip, regs, sregs);
	regs->rsi = rsi;
	sregs->cr0 |= CR0_PG;
	sregs->cr3 = MODVM_BOOT_PML4_GPA;
	sregs->cr4 = CR4_PAE;
	sregs->efer = EFER_LME | EFER_LMA;
	return 0;
}

int modvm__boot_cpu_protected(const struct modvm__boot_ram *ram, uint32_t eip,
			      struct modvm_regs *regs, struct modvm_sregs *sregs)
{
	int rc = write_gdt(ram, SEG_CODE32);

	if (rc < 0)
		return rc;
	flat_state(SEG_CODE32, eip, regs, sregs);
	return 0;
}
