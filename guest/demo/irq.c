/*
 * Interrupts for the demo guest, so a driver can sleep in HLT instead of
 * spinning: on hosts that emulate ring 0 (kvm_pvm) a spinning guest costs
 * a whole host core.  One IDT (exceptions to fault_stub, which reports and
 * powers off; everything else to irq_stub, which EOIs), the local APIC
 * software-enabled, the 8259s and LINT0 masked, and IOAPIC pins routed edge-triggered to vector 0x30 on
 * APIC 0.  KVM's in-kernel irqchip answers all of these MMIO accesses.
 */
#include "demo.h"

#define LAPIC_BASE 0xfee00000ull
#define LAPIC_TPR 0x080
#define LAPIC_SVR 0x0f0
#define LAPIC_LVT_LINT0 0x350
#define LVT_MASKED 0x10000u
#define IOAPIC_BASE 0xfec00000ull
#define IOAPIC_WINDOW 0x10
#define IOAPIC_REDTBL(pin) (0x10u + 2u * (pin))
#define DEMO_VECTOR 0x30
#define KERNEL_CS 0x10		/* the boot protocol's __BOOT_CS */

struct idt_gate {
	uint16_t off_lo, selector;
	uint8_t ist, type;
	uint16_t off_mid;
	uint32_t off_hi, zero;
} __attribute__((packed));

static struct idt_gate idt[256] __attribute__((aligned(16)));
extern char irq_stub[], fault_stub[];

static void set_gate(unsigned vector, const void *handler)
{
	uint64_t a = (uint64_t)(uintptr_t)handler;
	idt[vector] = (struct idt_gate){ .off_lo = (uint16_t)a, .selector = KERNEL_CS,
					 .type = 0x8e /* present, DPL0, interrupt gate */,
					 .off_mid = (uint16_t)(a >> 16), .off_hi = (uint32_t)(a >> 32) };
}

void irq_route(uint32_t gsi)
{
	mmio_write32(IOAPIC_BASE, IOAPIC_REDTBL(gsi) + 1);
	mmio_write32(IOAPIC_BASE + IOAPIC_WINDOW, 0);	/* destination: APIC ID 0 */
	mmio_write32(IOAPIC_BASE, IOAPIC_REDTBL(gsi));
	/* fixed delivery, physical, active high, edge, unmasked */
	mmio_write32(IOAPIC_BASE + IOAPIC_WINDOW, DEMO_VECTOR);
}

void irq_init(uint32_t gsi)
{
	for (unsigned v = 0; v < 256; v++)
		set_gate(v, v < 32 ? fault_stub : irq_stub);
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) desc = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
	__asm__ volatile("lidt %0" ::"m"(desc));
	/* KVM resets the BSP with LINT0 in virtual-wire mode and the 8259s
	 * unmasked with vector base 0: every legacy line (the UART's IRQ 4,
	 * the virtio pins) would arrive as an exception vector.  Mask both. */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	mmio_write32(LAPIC_BASE + LAPIC_LVT_LINT0, LVT_MASKED);
	mmio_write32(LAPIC_BASE + LAPIC_TPR, 0);
	mmio_write32(LAPIC_BASE + LAPIC_SVR, 0x100 | 0xff);	/* enabled, spurious vector 0xff */
	irq_route(gsi);
}

void wait_for_interrupt(void)
{
	__asm__ volatile("sti; hlt; cli" ::: "memory");
}
