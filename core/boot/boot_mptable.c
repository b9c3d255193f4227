/*
 * core/boot_mptable.c — an Intel MultiProcessor Specification 1.4 table, the
 * smallest thing that makes Linux bring up every vCPU without ACPI.  Linux
 * finds the floating pointer by scanning 0xf0000-0xfffff (smp_scan_config).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "boot/boot.h"

#define MPF_SIZE 16
#define MPC_HEADER_SIZE 44
#define MP_PROCESSOR_SIZE 20
#define MP_ENTRY_SIZE 8		/* bus, IOAPIC, IO and local interrupt entries */
#define MP_SPEC_REV 4		/* 1.4 */

#define MP_PROCESSOR 0
#define MP_BUS 1
#define MP_IOAPIC 2
#define MP_INTSRC 3
#define MP_LINTSRC 4

#define MP_INT 0
#define MP_NMI 1
#define MP_EXTINT 3

#define CPU_ENABLED 0x01
#define CPU_BOOTPROCESSOR 0x02

#define LAPIC_GPA 0xfee00000u
#define LAPIC_VERSION 0x14	/* what KVM's LAPIC reports */
#define IOAPIC_GPA 0xfec00000u
#define IOAPIC_VERSION 0x11	/* what KVM's IOAPIC reports */
#define ISA_IRQS 16

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

/* An 8-byte interrupt assignment entry (types 3 and 4 share the layout). */
static uint8_t *put_irq(uint8_t *p, uint8_t type, uint8_t irqtype, uint8_t src_irq,
			uint8_t dst_id, uint8_t dst_pin)
{
	p[0] = type;
	p[1] = irqtype;
	put16(p + 2, 0);	/* polarity and trigger conform to the bus (ISA: high, edge) */
	p[4] = 0;		/* source bus: ISA */
	p[5] = src_irq;
	p[6] = dst_id;
	p[7] = dst_pin;
	return p + MP_ENTRY_SIZE;
}

int modvm__boot_mptable_write(const struct modvm__boot_ram *ram, uint32_t vcpus, char *err,
			      size_t errlen)
{
	const uint64_t mpc_gpa = MODVM_BOOT_MPTABLE_GPA + MPF_SIZE;
	uint8_t *base, *mpf, *mpc, *p;
	uint8_t ioapic_id = (uint8_t)vcpus;
	uint16_t entries = 0;
	size_t len;

	if (vcpus == 0 || vcpus > MODVM_BOOT_MAX_VCPUS) {
		snprintf(err, errlen, "vcpus %u: the MP table describes 1 to %d vCPUs", vcpus,
			 MODVM_BOOT_MAX_VCPUS);
		return -EINVAL;
	}
	base = modvm__boot_ram_ptr(ram, MODVM_BOOT_MPTABLE_GPA, MODVM_BOOT_MPTABLE_MAX);
	if (!base) {
		snprintf(err, errlen, "guest RAM: no RAM at 0x%llx for the MP table",
			 (unsigned long long)MODVM_BOOT_MPTABLE_GPA);
		return -EFAULT;
	}
	/* Clear the whole BIOS area: a stale "_MP_" from an earlier boot must not be found. */
	memset(base, 0, MODVM_BOOT_MPTABLE_MAX);
	mpf = base;
	mpc = base + MPF_SIZE;
	p = mpc + MPC_HEADER_SIZE;

	for (uint32_t i = 0; i < vcpus; i++, entries++) {
		p[0] = MP_PROCESSOR;
		p[1] = (uint8_t)i;	/* APIC id */
		p[2] = LAPIC_VERSION;
		p[3] = CPU_ENABLED | (i == 0 ? CPU_BOOTPROCESSOR : 0);
		put32(p + 4, 0x600);	/* family 6 signature */
		put32(p + 8, 0x201);	/* FPU | APIC */
		p += MP_PROCESSOR_SIZE;
	}
	p[0] = MP_BUS;
	memcpy(p + 2, "ISA   ", 6);
	p += MP_ENTRY_SIZE, entries++;

	p[0] = MP_IOAPIC;
	p[1] = ioapic_id;
	p[2] = IOAPIC_VERSION;
	p[3] = 1;		/* enabled */
	put32(p + 4, IOAPIC_GPA);
	p += MP_ENTRY_SIZE, entries++;

	/* ISA IRQ n on IOAPIC pin n: KVM's default GSI routing, as kvmtool declares it. */
	for (uint8_t irq = 0; irq < ISA_IRQS; irq++, entries++)
		p = put_irq(p, MP_INTSRC, MP_INT, irq, ioapic_id, irq);
	p = put_irq(p, MP_LINTSRC, MP_EXTINT, 0, 0xff, 0), entries++;
	p = put_irq(p, MP_LINTSRC, MP_NMI, 0, 0xff, 1), entries++;
	len = (size_t)(p - mpc);

	memcpy(mpc, "PCMP", 4);
	put16(mpc + 4, (uint16_t)len);
	mpc[6] = MP_SPEC_REV;
	memcpy(mpc + 8, "MODVM   ", 8);
	memcpy(mpc + 16, "MODVM-X86-64", 12);
	put16(mpc + 34, entries);
	put32(mpc + 36, LAPIC_GPA);
	mpc[7] = (uint8_t)-modvm__boot_sum8(mpc, len);

	memcpy(mpf, "_MP_", 4);
	put32(mpf + 4, (uint32_t)mpc_gpa);
	mpf[8] = 1;		/* length in 16-byte units */
	mpf[9] = MP_SPEC_REV;
	/* feature bytes 0: a configuration table is present, virtual-wire mode */
	mpf[10] = (uint8_t)-modvm__boot_sum8(mpf, MPF_SIZE);
	return 0;
}
