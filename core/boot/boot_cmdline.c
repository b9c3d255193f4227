/*
 * What the loader adds to the kernel command line: virtio-mmio devices, in
 * the syntax drivers/virtio/virtio_mmio.c parses (virtio_mmio.device=
 * <size>@<baseaddr>:<irq>, <size> read by memparse()), and the platform's
 * reboot method.  Parameters go before a " -- ", after which the words
 * are init's arguments.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Where kernel parameters end: at a " -- " (or a leading "-- ") that
 * starts init's arguments, else at the end of @buf. */
static size_t params_end(const char *buf)
{
	if (strncmp(buf, "-- ", 3) == 0 || strcmp(buf, "--") == 0)
		return 0;
	for (const char *p = strstr(buf, " --"); p; p = strstr(p + 1, " --"))
		if (p[3] == ' ' || p[3] == '\0')
			return (size_t)(p - buf);
	return strlen(buf);
}

int modvm__boot_cmdline_add_param(char *buf, size_t bufsz, const char *param)
{
	size_t len = strnlen(buf, bufsz), at, add = strlen(param);

	if (len == bufsz)
		return -ENOSPC;
	at = params_end(buf);
	bool space_before = at > 0, space_after = at == 0 && len > 0;
	size_t need = len + add + space_before + space_after + 1;
	if (need > bufsz)
		return -ENOSPC;
	/* Move init's arguments (or nothing) right, then write the parameter. */
	memmove(buf + at + space_before + add + space_after, buf + at, len - at + 1);
	if (space_before)
		buf[at] = ' ';
	memcpy(buf + at + space_before, param, add);
	if (space_after)
		buf[at + add] = ' ';
	return 0;
}

bool modvm__boot_cmdline_has_param(const char *buf, const char *name)
{
	size_t n = strlen(name), end = params_end(buf);

	for (const char *p = buf; (p = strstr(p, name)) && (size_t)(p - buf) < end; p++)
		if ((p == buf || p[-1] == ' ') && (p[n] == '=' || p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

int modvm__boot_cmdline_add_virtio_mmio(char *buf, size_t bufsz,
					const struct modvm__boot_mmio_dev *dev, uint32_t n)
{
	size_t len = strnlen(buf, bufsz);
	char *saved;

	if (len == bufsz)
		return -ENOSPC;
	saved = strdup(buf);
	if (!saved)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		char size[32], arg[96];

		modvm__boot_memparse_format(dev[i].size, size, sizeof(size));
		snprintf(arg, sizeof(arg), "virtio_mmio.device=%s@0x%" PRIx64 ":%u", size,
			 dev[i].base, dev[i].irq);
		if (modvm__boot_cmdline_add_param(buf, bufsz, arg) < 0) {
			memcpy(buf, saved, len + 1);	/* all or nothing */
			free(saved);
			return -ENOSPC;
		}
	}
	free(saved);
	return 0;
}
