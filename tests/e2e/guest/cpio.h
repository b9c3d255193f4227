/*
 * A "newc" cpio writer for the initramfs images the Linux tests build:
 * directories, files (copied from the host or from memory) and symlinks.
 * Parent directories of a path are created on first use, as the kernel's
 * unpacker needs them before the files inside.  No Check dependency.
 */
#ifndef MODVM_TESTS_CPIO_H
#define MODVM_TESTS_CPIO_H

#include <stddef.h>

struct cpio;

/* NULL (errno set) if @path cannot be created. */
struct cpio *cpio_open(const char *path);
/* Each returns 0, or -1 with a message on stderr; paths have no leading '/'. */
int cpio_dir(struct cpio *c, const char *path);
int cpio_data(struct cpio *c, const char *path, unsigned mode, const void *data, size_t len);
/* Copies host file @src (mode 0755 if executable there, else 0644). */
int cpio_file(struct cpio *c, const char *path, const char *src);
int cpio_symlink(struct cpio *c, const char *path, const char *target);
/* Writes the trailer and closes; 0 or -1.  Frees @c either way. */
int cpio_close(struct cpio *c);

#endif
