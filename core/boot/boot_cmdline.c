/*
 * core/boot_cmdline.c — announcing virtio-mmio devices on the kernel
 * command line, in the syntax drivers/virtio/virtio_mmio.c parses:
 * virtio_mmio.device=<size>@<baseaddr>:<irq>, <size> read by memparse().
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "boot/boot.h"

int modvm__boot_memparse_format(uint64_t size, char *out, size_t outlen)
{
	static const char suffix[] = "KMGTPE";
	int shift = 0;

	/* memparse() multiplies by 1024 per suffix step; use the largest exact one. */
	while (size && shift < 6 && (size & 1023) == 0) {
		size >>= 10;
		shift++;
	}
	if (shift == 0)
		return snprintf(out, outlen, "0x%" PRIx64, size);
	return snprintf(out, outlen, "%" PRIu64 "%c", size, suffix[shift - 1]);
}

int modvm__boot_cmdline_add_virtio_mmio(char *buf, size_t bufsz,
					const struct modvm__boot_mmio_dev *dev, uint32_t n)
{
	size_t len = strnlen(buf, bufsz);
	size_t start = len;

	if (len == bufsz)
		return -ENOSPC;
	for (uint32_t i = 0; i < n; i++) {
		char size[32];
		int w;

		modvm__boot_memparse_format(dev[i].size, size, sizeof(size));
		w = snprintf(buf + len, bufsz - len, "%svirtio_mmio.device=%s@0x%" PRIx64 ":%u",
			     len ? " " : "", size, dev[i].base, dev[i].irq);
		if (w < 0 || (size_t)w >= bufsz - len) {
			buf[start] = '\0';	/* all or nothing */
			return -ENOSPC;
		}
		len += (size_t)w;
	}
	return 0;
}
