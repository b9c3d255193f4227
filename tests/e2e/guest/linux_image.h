/*
 * Real Linux guests for the tests: Debian's cloud kernel from the test
 * kernel cache (scripts/fetch-test-kernel.sh), and initramfs images made on
 * the fly of busybox (Debian's busybox-static), the kernel modules a test
 * names (with their dependencies, in load order) and an /init script.
 *
 * /init mounts proc, sys, dev and tmp, installs busybox's applets, loads
 * the modules (a line "modvm-guest: insmod NAME failed" for each that does
 * not load), prints "modvm-guest: up" and runs the test's script, whose
 * output goes through the console tty (the 16550's interrupt-driven
 * path, not the kernel's polled console).  No Check dependency.
 */
#ifndef MODVM_TESTS_LINUX_IMAGE_H
#define MODVM_TESTS_LINUX_IMAGE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct linux_kit {
	char vmlinuz[PATH_MAX];	/* bzImage */
	char vmlinux[PATH_MAX];	/* ELF, may not exist */
	char moddir[PATH_MAX];	/* .../lib/modules/VERSION */
	char busybox[PATH_MAX];
};

/* Finds the kernel, its modules and busybox; false with @why filled if one is missing. */
bool linux_kit_find(struct linux_kit *kit, char *why, size_t whylen);

/*
 * Writes an initramfs to @out holding busybox, the modules @mods (module
 * names, NULL-terminated, dependencies added) and /init ending in @script
 * (sh).  0, or -1 with a message on stderr.
 */
int linux_image(const struct linux_kit *kit, const char *out, const char *const *mods,
		const char *script);

#endif
