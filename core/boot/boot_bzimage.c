/*
 * core/boot_bzimage.c — the bzImage setup header (Documentation/x86/boot.rst):
 * what it promises, whether the file keeps the promise, and where the
 * protected-mode kernel goes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "boot/boot.h"

/* Offsets in the file (= in struct boot_params) of the header fields used. */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_SYSSIZE 0x1f4
#define HDR_JUMP 0x200
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_LOADFLAGS 0x211
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define HDR_MAX_END 0x290	/* struct boot_params reserves the header up to here */

#define LOADED_HIGH 0x01
#define XLF_KERNEL_64 0x01

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

int modvm__boot_bzimage_parse(const uint8_t *img, size_t len, const char *name,
			      struct modvm__bzimage *out, char *err, size_t errlen)
{
	struct modvm__bzimage bz = { 0 };
	uint32_t syssize;

	if (len < HDR_MAGIC + 4 || memcmp(img + HDR_MAGIC, "HdrS", 4) != 0) {
		snprintf(err, errlen, "%s: not a bzImage or ELF vmlinux (no \"HdrS\" at 0x202, no ELF magic)",
			 name);
		return -ENOEXEC;
	}
	bz.setup_sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4;
	bz.setup_size = ((uint64_t)bz.setup_sects + 1) * 512;
	/* Every field below lives inside the setup sectors, so this guards the reads. */
	if (bz.setup_size > len) {
		snprintf(err, errlen, "%s: truncated: header says %u setup sectors, file has %zu bytes",
			 name, bz.setup_sects, len);
		return -ENOEXEC;
	}
	bz.version = get16(img + HDR_VERSION);
	if (bz.version < 0x0206) {
		snprintf(err, errlen, "%s: boot protocol %u.%02u too old, need >= 2.06", name,
			 bz.version >> 8, bz.version & 0xff);
		return -ENOEXEC;
	}
	bz.hdr_end = HDR_MAGIC + img[HDR_JUMP + 1];
	if (bz.hdr_end > HDR_MAX_END)
		bz.hdr_end = HDR_MAX_END;
	bz.loadflags = img[HDR_LOADFLAGS];
	if (!(bz.loadflags & LOADED_HIGH)) {
		snprintf(err, errlen, "%s: zImage (loadflags 0x%02x lacks LOADED_HIGH) is not supported",
			 name, bz.loadflags);
		return -ENOEXEC;
	}
	syssize = get32(img + HDR_SYSSIZE);
	bz.kernel_size = len - bz.setup_size;
	if ((uint64_t)syssize * 16 > bz.kernel_size || bz.kernel_size == 0) {
		snprintf(err, errlen,
			 "%s: truncated: header says syssize 0x%x (%llu bytes of kernel), file has %llu after the setup sectors",
			 name, syssize, (unsigned long long)syssize * 16,
			 (unsigned long long)bz.kernel_size);
		return -ENOEXEC;
	}
	if (bz.version >= 0x020c) {
		bz.xloadflags = get16(img + HDR_XLOADFLAGS);
		if (!(bz.xloadflags & XLF_KERNEL_64)) {
			snprintf(err, errlen,
				 "%s: 32-bit-only kernel (xloadflags 0x%04x lacks XLF_KERNEL_64)", name,
				 bz.xloadflags);
			return -ENOEXEC;
		}
	}
	bz.initrd_addr_max = get32(img + HDR_INITRD_ADDR_MAX);
	bz.kernel_alignment = get32(img + HDR_KERNEL_ALIGNMENT);
	bz.relocatable = img[HDR_RELOCATABLE];
	if (bz.relocatable &&
	    (bz.kernel_alignment == 0 || (bz.kernel_alignment & (bz.kernel_alignment - 1)))) {
		snprintf(err, errlen, "%s: relocatable kernel with kernel_alignment 0x%x (not a power of two)",
			 name, bz.kernel_alignment);
		return -ENOEXEC;
	}
	bz.cmdline_size = get32(img + HDR_CMDLINE_SIZE);
	if (bz.version >= 0x020a) {
		bz.pref_address = get64(img + HDR_PREF_ADDRESS);
		bz.init_size = get32(img + HDR_INIT_SIZE);
	} else {
		bz.pref_address = MODVM_BOOT_HIMEM_GPA;
	}
	*out = bz;
	return 0;
}

int modvm__boot_bzimage_place(const struct modvm__bzimage *bz, const char *name,
			      uint64_t low_end, uint64_t *load, uint64_t *end, char *err,
			      size_t errlen)
{
	uint64_t at = bz->pref_address;
	uint64_t need = bz->init_size > bz->kernel_size ? bz->init_size : bz->kernel_size;

	/*
	 * pref_address is where a relocatable kernel would move itself anyway
	 * (it never runs below LOAD_PHYSICAL_ADDR), so loading elsewhere saves
	 * nothing; only its alignment can need fixing.
	 */
	if (bz->relocatable)
		at = (at + bz->kernel_alignment - 1) & ~((uint64_t)bz->kernel_alignment - 1);
	if (at < MODVM_BOOT_HIMEM_GPA) {
		snprintf(err, errlen, "%s: pref_address 0x%llx lies below 1 MiB", name,
			 (unsigned long long)at);
		return -ENOEXEC;
	}
	if (at >= low_end || need > low_end - at) {
		snprintf(err, errlen,
			 "%s: kernel does not fit in RAM: needs [0x%llx, 0x%llx) (%s 0x%llx), low RAM ends at 0x%llx",
			 name, (unsigned long long)at, (unsigned long long)(at + need),
			 bz->init_size > bz->kernel_size ? "init_size" : "image size",
			 (unsigned long long)need, (unsigned long long)low_end);
		return -ENOSPC;
	}
	*load = at;
	*end = at + need;
	return 0;
}

void modvm__boot_bzimage_header(const struct modvm__bzimage *bz, const uint8_t *img,
				uint8_t *bp)
{
	memset(bp, 0, 4096);
	memcpy(bp + HDR_SETUP_SECTS, img + HDR_SETUP_SECTS, bz->hdr_end - HDR_SETUP_SECTS);
}
