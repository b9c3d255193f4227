/*
 * The DSDT's content: the platform's legacy devices, one ACPI device per
 * virtio-mmio window, and the S5 (soft-off) sleep type.
 *
 *   Scope (\_SB) {
 *     Device (COM1) { _HID PNP0501, _CRS IO 0x3f8/8, IRQNoFlags {4} }
 *     Device (RTC_) { _HID PNP0B00, _CRS IO 0x70/2, IRQNoFlags {8} }
 *     Device (VR00) { _HID "LNRO0005", _UID 0, _CRS window, Interrupt } ...
 *   }
 *   Name (\_S5, Package (4) { 5, 5, 0, 0 })
 *
 * Why the legacy devices: with a hardware-reduced FADT Linux sets up no
 * legacy PIC and no ISA interrupt defaults, so a UART found only at its
 * old port has no usable IRQ 4 and its interrupt-driven transmit path (the
 * tty: everything userspace prints) never runs.  Described here, the
 * 8250_pnp and rtc_cmos drivers get IRQ 4 and 8 edge-triggered through
 * ACPI, as on QEMU's microvm.  \_S5 plus the FADT's sleep registers is what
 * makes Linux's `poweroff` reach the VMM (acpi_power_off).
 *
 * The virtio-mmio devices, _HID "LNRO0005" with memory window and
 * interrupt, are the way QEMU's microvm describes them.
 *
 * Why: distribution kernels build virtio_mmio as a module and without
 * VIRTIO_MMIO_CMDLINE_DEVICES (Debian's cloud kernel among them), so they
 * ignore "virtio_mmio.device=" and find the transports only through ACPI
 * (or a device tree).  The command-line entries stay for kernels that do
 * read them; a kernel with both binds each window once (the platform
 * device names differ, the memory region is claimed by the first).
 *
 *   Scope (\_SB) {
 *     Device (VR00) {
 *       Name (_HID, "LNRO0005")
 *       Name (_UID, 0)
 *       Name (_CRS, ResourceTemplate () {
 *         Memory32Fixed (ReadWrite, base, size)
 *         Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { irq }
 *       })
 *     } ...
 *   }
 *
 * Edge-triggered because modvm's irqfds pulse the line (no resample fd).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"

#define AML_SCOPE_OP 0x10
#define AML_NAME_OP 0x08
#define AML_BUFFER_OP 0x11
#define AML_STRING_PREFIX 0x0d
#define AML_BYTE_PREFIX 0x0a
#define AML_DWORD_PREFIX 0x0c
#define AML_EXT_PREFIX 0x5b
#define AML_DEVICE_OP 0x82
#define AML_ROOT_CHAR 0x5c
#define AML_PACKAGE_OP 0x12
#define AML_ZERO_OP 0x00

#define RES_IO 0x47		/* small item: I/O port, 7 bytes */
#define RES_IO_DECODE16 0x01
#define RES_IRQ_NOFLAGS 0x22	/* small item: IRQ mask, edge, active high */
#define RES_MEMORY32_FIXED 0x86
#define RES_EXT_INTERRUPT 0x89
#define RES_END_TAG 0x79
#define INT_CONSUMER_EDGE 0x03	/* consumer, edge, active high, exclusive */

#define DEVICE_MAX 64		/* one device's AML, see device() */

/* A growing byte buffer that remembers overflow instead of checking each write. */
struct aml {
	uint8_t *p;
	size_t len, cap;
	bool overflow;
};

static void emit(struct aml *a, const void *bytes, size_t n)
{
	if (a->overflow || n > a->cap - a->len) {
		a->overflow = true;
		return;
	}
	memcpy(a->p + a->len, bytes, n);
	a->len += n;
}

static void emit8(struct aml *a, uint8_t v)
{
	emit(a, &v, 1);
}

static void emit32(struct aml *a, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	emit(a, b, 4);
}

/*
 * PkgLength (ACPI 6.5, 20.2.4) for @body bytes that follow it: the encoded
 * length counts its own bytes too.  One byte up to 63, else two (up to
 * 4095), which is all a DSDT of at most MODVM_BOOT_MAX_MMIO devices needs.
 */
static void emit_pkglength(struct aml *a, size_t body)
{
	if (body + 1 < 64) {
		emit8(a, (uint8_t)(body + 1));
	} else if (body + 2 < 4096) {
		size_t n = body + 2;
		emit8(a, (uint8_t)(0x40 | (n & 0x0f)));
		emit8(a, (uint8_t)(n >> 4));
	} else {
		a->overflow = true;
	}
}

/* Name (@name, value) with a byte or a dword constant. */
static void name_int(struct aml *a, const char *name, uint32_t v)
{
	emit8(a, AML_NAME_OP);
	emit(a, name, 4);
	if (v <= 0xff) {
		emit8(a, AML_BYTE_PREFIX);
		emit8(a, (uint8_t)v);
	} else {
		emit8(a, AML_DWORD_PREFIX);
		emit32(a, v);
	}
}

/*
 * EisaId ("PNPxxxx"): three letters of 5 bits each, then four hex digits,
 * stored so that the bytes read in order are the big-endian value.
 */
static uint32_t eisa_id(const char *id)
{
	uint32_t v = ((uint32_t)(id[0] - '@') << 26) | ((uint32_t)(id[1] - '@') << 21) |
		     ((uint32_t)(id[2] - '@') << 16) | (uint32_t)strtoul(id + 3, NULL, 16);
	return ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >> 8) & 0xff00) | (v >> 24);
}

/*
 * Device (@seg) { _HID (@hid_eisa or the string @hid_str), [_UID @uid],
 * _CRS (the @res resource items, end tag appended) } into @out; its length,
 * or 0 if it did not fit.
 */
static size_t device(uint8_t *out, const char *seg, const char *hid_str, uint32_t hid_eisa,
		     int uid, const uint8_t *res, size_t res_len)
{
	uint8_t body[DEVICE_MAX];
	struct aml b = { body, 0, sizeof(body), false };

	emit(&b, seg, 4);
	if (hid_str) {
		emit8(&b, AML_NAME_OP);
		emit(&b, "_HID", 4);
		emit8(&b, AML_STRING_PREFIX);
		emit(&b, hid_str, strlen(hid_str) + 1);	/* with its NUL */
	} else {
		emit8(&b, AML_NAME_OP);
		emit(&b, "_HID", 4);
		emit8(&b, AML_DWORD_PREFIX);
		emit32(&b, hid_eisa);
	}
	if (uid >= 0)
		name_int(&b, "_UID", (uint32_t)uid);
	emit8(&b, AML_NAME_OP);
	emit(&b, "_CRS", 4);
	emit8(&b, AML_BUFFER_OP);
	emit_pkglength(&b, 2 + res_len + 2);
	emit8(&b, AML_BYTE_PREFIX);
	emit8(&b, (uint8_t)(res_len + 2));
	emit(&b, res, res_len);
	emit8(&b, RES_END_TAG);
	emit8(&b, 0);		/* checksum 0: "treat as correct" */

	struct aml o = { out, 0, DEVICE_MAX + 4, false };
	emit8(&o, AML_EXT_PREFIX);
	emit8(&o, AML_DEVICE_OP);
	emit_pkglength(&o, b.len);
	emit(&o, body, b.len);
	return b.overflow || o.overflow ? 0 : o.len;
}

/* IO (Decode16, @port, @port, 0, @len) and IRQNoFlags () {@irq}. */
static size_t io_irq_resources(uint8_t *res, uint16_t port, uint8_t len, uint8_t irq)
{
	uint16_t mask = (uint16_t)(1u << (irq & 15));
	uint8_t r[] = { RES_IO, RES_IO_DECODE16, (uint8_t)port, (uint8_t)(port >> 8),
			(uint8_t)port, (uint8_t)(port >> 8), 0, len,
			RES_IRQ_NOFLAGS, (uint8_t)mask, (uint8_t)(mask >> 8) };

	memcpy(res, r, sizeof(r));
	return sizeof(r);
}

/* Device (VRnn): a virtio-mmio window with its edge-triggered interrupt. */
static size_t virtio_device(uint8_t *out, uint32_t index, const struct modvm__boot_mmio_dev *d)
{
	uint8_t res[32];
	struct aml r = { res, 0, sizeof(res), false };
	char seg[5];

	snprintf(seg, sizeof(seg), "VR%02X", index & 0xff);
	emit8(&r, RES_MEMORY32_FIXED);
	emit8(&r, 9);		/* length, little-endian u16 */
	emit8(&r, 0);
	emit8(&r, 1);		/* read-write */
	emit32(&r, (uint32_t)d->base);
	emit32(&r, (uint32_t)d->size);
	emit8(&r, RES_EXT_INTERRUPT);
	emit8(&r, 6);
	emit8(&r, 0);
	emit8(&r, INT_CONSUMER_EDGE);
	emit8(&r, 1);		/* one interrupt */
	emit32(&r, d->irq);
	return r.overflow ? 0 : device(out, seg, "LNRO0005", 0, (int)index, res, r.len);
}

/* Name (\_S5, Package (4) { typ, typ, 0, 0 }): SLP_TYPa/b for soft-off. */
static void s5_package(struct aml *a, uint8_t typ)
{
	emit8(a, AML_NAME_OP);
	emit8(a, AML_ROOT_CHAR);
	emit(a, "_S5_", 4);
	emit8(a, AML_PACKAGE_OP);
	emit_pkglength(a, 1 + 2 + 2 + 1 + 1);
	emit8(a, 4);		/* NumElements */
	emit8(a, AML_BYTE_PREFIX);
	emit8(a, typ);
	emit8(a, AML_BYTE_PREFIX);
	emit8(a, typ);
	emit8(a, AML_ZERO_OP);
	emit8(a, AML_ZERO_OP);
}

int modvm__boot_aml_dsdt(uint8_t *out, size_t cap, const struct modvm__boot_platform *plat,
			 const struct modvm__boot_mmio_dev *dev, uint32_t n)
{
	uint8_t devs[(MODVM_BOOT_MAX_MMIO + 2) * (DEVICE_MAX + 4)];
	uint8_t res[16];
	size_t len = 0, l;

	if (n > MODVM_BOOT_MAX_MMIO)
		return -E2BIG;
	if (plat && plat->com1_port) {
		l = device(devs + len, "COM1", NULL, eisa_id("PNP0501"), 1, res,
			   io_irq_resources(res, plat->com1_port, 8, plat->com1_irq));
		if (!l)
			return -E2BIG;
		len += l;
	}
	if (plat && plat->rtc_port) {
		l = device(devs + len, "RTC_", NULL, eisa_id("PNP0B00"), -1, res,
			   io_irq_resources(res, plat->rtc_port, 2, plat->rtc_irq));
		if (!l)
			return -E2BIG;
		len += l;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (dev[i].base > UINT32_MAX || dev[i].size > UINT32_MAX ||
		    dev[i].base + dev[i].size > (1ull << 32))
			return -ERANGE;	/* Memory32Fixed: the window must lie below 4 GiB */
		l = virtio_device(devs + len, i, &dev[i]);
		if (!l)
			return -E2BIG;
		len += l;
	}
	struct aml a = { out, 0, cap, false };
	if (len) {
		emit8(&a, AML_SCOPE_OP);
		emit_pkglength(&a, 5 + len);
		emit8(&a, AML_ROOT_CHAR);
		emit(&a, "_SB_", 4);
		emit(&a, devs, len);
	}
	if (plat && plat->sleep_ctl_port)
		s5_package(&a, plat->s5_typ);
	return a.overflow ? -ENOSPC : (int)a.len;
}
