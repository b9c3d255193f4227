/*
 * The smallest ACPI table set that lets Linux enumerate every vCPU, find
 * the platform devices and the virtio-mmio windows, and power off and
 * reboot through ACPI: RSDP -> XSDT -> {FADT, MADT}, FADT -> DSDT
 * (boot_aml.c).
 *
 * Why not just the MP table: distribution kernels (Debian's cloud kernel
 * among them) are built without CONFIG_X86_MPPARSE and never read it.  The
 * FADT says "hardware-reduced ACPI", as Firecracker's does: without a FADT,
 * Linux would route a phantom SCI onto IRQ 0 (the timer) while parsing the
 * MADT, and hardware-reduced mode needs no PM blocks, GPEs or FACS.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "boot/boot.h"

#define HDR_SIZE 36
#define RSDP_SIZE 36
#define FADT_SIZE 276		/* ACPI 6.x */
#define OFF_XSDT (MODVM_BOOT_ACPI_GPA + 0x40)
#define OFF_FADT (MODVM_BOOT_ACPI_GPA + 0x100)
#define OFF_DSDT (MODVM_BOOT_ACPI_GPA + 0x1000)	/* after the largest MADT */
#define DSDT_MAX 0x2000
#define OFF_MADT (MODVM_BOOT_ACPI_GPA + 0x400)

#define FADT_HW_REDUCED_ACPI (1u << 20)
#define FADT_RESET_REG_SUP (1u << 10)
#define FADT_BOOT_NO_VGA (1u << 2)	/* IAPC_BOOT_ARCH: don't probe for VGA */
/* FADT offsets (ACPI 6.5, table 5.9) */
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_SLEEP_CONTROL_REG 244
#define FADT_SLEEP_STATUS_REG 256
#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1
#define MADT_PCAT_COMPAT 1u
#define MADT_LOCAL_APIC 0
#define MADT_IO_APIC 1
#define MADT_LOCAL_APIC_NMI 4

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

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* The common description header; the checksum is set last by seal(). */
static void header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, "MODVM ", 6);
	memcpy(t + 16, "MODVMACP", 8);
	put32(t + 24, 1);
	memcpy(t + 28, "MDVM", 4);
	put32(t + 32, 1);
}

static void seal(uint8_t *t, uint32_t len)
{
	t[9] = 0;
	t[9] = (uint8_t)-modvm__boot_sum8(t, len);
}

/* A Generic Address Structure for one byte-wide I/O port. */
static void gas_io8(uint8_t *g, uint16_t port)
{
	g[0] = GAS_SYSTEM_IO;
	g[1] = 8;		/* bit width */
	g[2] = 0;		/* bit offset */
	g[3] = GAS_ACCESS_BYTE;
	put64(g + 4, port);
}

static void write_fadt(uint8_t *t, const struct modvm__boot_platform *plat)
{
	uint32_t flags = FADT_HW_REDUCED_ACPI;

	header(t, "FACP", FADT_SIZE, 6);
	put32(t + 40, (uint32_t)OFF_DSDT);
	put16(t + FADT_IAPC_BOOT_ARCH, FADT_BOOT_NO_VGA);
	if (plat && plat->reset_port) {
		flags |= FADT_RESET_REG_SUP;
		gas_io8(t + FADT_RESET_REG, plat->reset_port);
		t[FADT_RESET_VALUE] = plat->reset_value;
	}
	put32(t + FADT_FLAGS, flags);
	t[131] = 5;		/* minor version: 6.5 */
	put64(t + 140, OFF_DSDT);	/* X_DSDT */
	if (plat && plat->sleep_ctl_port) {
		gas_io8(t + FADT_SLEEP_CONTROL_REG, plat->sleep_ctl_port);
		gas_io8(t + FADT_SLEEP_STATUS_REG, plat->sleep_sts_port);
	}
	seal(t, FADT_SIZE);
}

static void write_madt(uint8_t *t, uint32_t vcpus)
{
	uint8_t *p = t + HDR_SIZE + 8;
	uint32_t len;

	put32(t + HDR_SIZE, 0xfee00000u);	/* local APIC address */
	put32(t + HDR_SIZE + 4, MADT_PCAT_COMPAT);
	for (uint32_t i = 0; i < vcpus; i++, p += 8) {
		p[0] = MADT_LOCAL_APIC;
		p[1] = 8;
		p[2] = (uint8_t)i;	/* ACPI processor UID */
		p[3] = (uint8_t)i;	/* APIC id, as in the MP table */
		put32(p + 4, 1);	/* enabled */
	}
	p[0] = MADT_IO_APIC;
	p[1] = 12;
	p[2] = (uint8_t)vcpus;	/* IOAPIC id, as in the MP table */
	put32(p + 4, 0xfec00000u);
	put32(p + 8, 0);	/* GSI base; ISA IRQs map 1:1 (KVM's routing), no overrides */
	p += 12;
	p[0] = MADT_LOCAL_APIC_NMI;
	p[1] = 6;
	p[2] = 0xff;		/* all processors */
	put16(p + 3, 0);
	p[5] = 1;		/* LINT1 */
	p += 6;
	len = (uint32_t)(p - t);
	header(t, "APIC", len, 5);
	seal(t, len);
}

int modvm__boot_acpi_write(const struct modvm__boot_ram *ram, uint32_t vcpus,
			   const struct modvm__boot_platform *plat,
			   const struct modvm__boot_mmio_dev *mmio, uint32_t n_mmio, char *err,
			   size_t errlen)
{
	uint8_t *base, *rsdp, *xsdt, *fadt, *dsdt, *madt;

	if (vcpus == 0 || vcpus > MODVM_BOOT_MAX_VCPUS) {
		snprintf(err, errlen, "vcpus %u: the ACPI tables describe 1 to %d vCPUs", vcpus,
			 MODVM_BOOT_MAX_VCPUS);
		return -EINVAL;
	}
	base = modvm__boot_ram_ptr(ram, MODVM_BOOT_ACPI_GPA, MODVM_BOOT_ACPI_MAX);
	if (!base) {
		snprintf(err, errlen, "guest RAM: no RAM at 0x%llx for the ACPI tables",
			 (unsigned long long)MODVM_BOOT_ACPI_GPA);
		return -EFAULT;
	}
	_Static_assert(OFF_MADT + 44 + 8 * MODVM_BOOT_MAX_VCPUS + 18 <= OFF_DSDT,
		       "MADT overflows into the DSDT");
	_Static_assert(OFF_DSDT + DSDT_MAX <= MODVM_BOOT_ACPI_GPA + MODVM_BOOT_ACPI_MAX,
		       "DSDT overflows the ACPI area");
	memset(base, 0, MODVM_BOOT_ACPI_MAX);
	rsdp = base;
	xsdt = base + (OFF_XSDT - MODVM_BOOT_ACPI_GPA);
	fadt = base + (OFF_FADT - MODVM_BOOT_ACPI_GPA);
	dsdt = base + (OFF_DSDT - MODVM_BOOT_ACPI_GPA);
	madt = base + (OFF_MADT - MODVM_BOOT_ACPI_GPA);

	int aml = modvm__boot_aml_dsdt(dsdt + HDR_SIZE, DSDT_MAX - HDR_SIZE, plat, mmio, n_mmio);
	if (aml < 0) {
		snprintf(err, errlen, "%u virtio-mmio windows: the DSDT cannot describe them (%s)",
			 n_mmio, strerror(-aml));
		return -EINVAL;
	}
	header(dsdt, "DSDT", HDR_SIZE + (uint32_t)aml, 2);
	seal(dsdt, HDR_SIZE + (uint32_t)aml);

	write_fadt(fadt, plat);

	write_madt(madt, vcpus);

	header(xsdt, "XSDT", HDR_SIZE + 16, 1);
	put64(xsdt + HDR_SIZE, OFF_FADT);
	put64(xsdt + HDR_SIZE + 8, OFF_MADT);
	seal(xsdt, HDR_SIZE + 16);

	memcpy(rsdp, "RSD PTR ", 8);
	memcpy(rsdp + 9, "MODVM ", 6);
	rsdp[15] = 2;		/* revision: ACPI 2.0+, use the XSDT */
	put32(rsdp + 20, RSDP_SIZE);
	put64(rsdp + 24, OFF_XSDT);
	rsdp[8] = (uint8_t)-modvm__boot_sum8(rsdp, 20);
	rsdp[32] = (uint8_t)-modvm__boot_sum8(rsdp, RSDP_SIZE);
	return 0;
}
