/*
 * core/boot_aml.c — the DSDT's only content: one ACPI device per virtio-mmio
 * window, _HID "LNRO0005" with its memory window and interrupt, the way
 * QEMU's microvm describes them.
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

/* Device (VRnn) { _HID, _UID, _CRS } into @out; returns its length. */
static size_t device(uint8_t *out, uint32_t index, const struct modvm__boot_mmio_dev *d)
{
	uint8_t body[DEVICE_MAX];
	struct aml b = { body, 0, sizeof(body), false };
	char seg[5];

	snprintf(seg, sizeof(seg), "VR%02X", index & 0xff);
	emit(&b, seg, 4);
	emit8(&b, AML_NAME_OP);
	emit(&b, "_HID", 4);
	emit8(&b, AML_STRING_PREFIX);
	emit(&b, "LNRO0005", 9);	/* with its NUL */
	emit8(&b, AML_NAME_OP);
	emit(&b, "_UID", 4);
	emit8(&b, AML_BYTE_PREFIX);
	emit8(&b, (uint8_t)index);

	uint8_t res[32];
	struct aml r = { res, 0, sizeof(res), false };
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
	emit8(&r, RES_END_TAG);
	emit8(&r, 0);		/* checksum 0: "treat as correct" */

	emit8(&b, AML_NAME_OP);
	emit(&b, "_CRS", 4);
	emit8(&b, AML_BUFFER_OP);
	emit_pkglength(&b, 2 + r.len);
	emit8(&b, AML_BYTE_PREFIX);
	emit8(&b, (uint8_t)r.len);
	emit(&b, res, r.len);

	struct aml o = { out, 0, DEVICE_MAX + 4, false };
	emit8(&o, AML_EXT_PREFIX);
	emit8(&o, AML_DEVICE_OP);
	emit_pkglength(&o, b.len);
	emit(&o, body, b.len);
	return b.overflow || o.overflow ? 0 : o.len;
}

int modvm__boot_aml_virtio_mmio(uint8_t *out, size_t cap,
				const struct modvm__boot_mmio_dev *dev, uint32_t n)
{
	uint8_t devs[MODVM_BOOT_MAX_MMIO * (DEVICE_MAX + 4)];
	size_t len = 0;

	if (n == 0)
		return 0;
	if (n > MODVM_BOOT_MAX_MMIO)
		return -E2BIG;
	for (uint32_t i = 0; i < n; i++) {
		if (dev[i].base > UINT32_MAX || dev[i].size > UINT32_MAX ||
		    dev[i].base + dev[i].size > (1ull << 32))
			return -ERANGE;	/* Memory32Fixed: the window must lie below 4 GiB */
		size_t l = device(devs + len, i, &dev[i]);
		if (!l)
			return -E2BIG;
		len += l;
	}
	struct aml a = { out, 0, cap, false };
	emit8(&a, AML_SCOPE_OP);
	emit_pkglength(&a, 5 + len);
	emit8(&a, AML_ROOT_CHAR);
	emit(&a, "_SB_", 4);
	emit(&a, devs, len);
	return a.overflow ? -ENOSPC : (int)a.len;
}
