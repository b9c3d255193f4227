/*
 * image.h — the host side of a disk: a raw image file or a block device,
 * opened, sized and locked the way QEMU locks its images.
 *
 * Locks are open file description locks (fcntl F_OFD_SETLK) on the whole
 * file: exclusive for a writable disk, shared for a read-only one.  So a
 * second VM — in this modvm or another, or any program that takes OFD or
 * POSIX locks, such as another QEMU — cannot open an image writable while
 * it is in use, nor read-only while someone writes it.  OFD locks belong to
 * the open file, not the process: two VMs of one process conflict too, and
 * the lock goes away with the file descriptor (also when modvm is killed).
 */
#ifndef VIRTIO_BLK_IMAGE_H
#define VIRTIO_BLK_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct blk_image {
	int fd;
	bool readonly;
	bool direct;		/* O_DIRECT: cache = "none" */
	bool is_bdev;
	uint64_t size;		/* bytes */
	uint32_t dio_offset_align;	/* direct: file offsets and lengths */
	uint32_t dio_mem_align;		/* direct: buffer addresses */
	dev_t dev;		/* identity, to name who else has it open */
	ino_t ino;
};

/*
 * Opens @path read-only or read-write, with O_DIRECT if @direct, checks it
 * is a regular file or a block device of at least one sector, reads its
 * size and direct-I/O alignment and takes the lock.  0, or -errno with
 * @why filled with the reason in words; -EAGAIN when another open file
 * holds a conflicting lock (@why then names the holding process where
 * /proc tells: "locked for writing by pid 4242 (modvm run a.conf)").
 */
int blk_image_open(const char *path, bool readonly, bool direct, struct blk_image *img,
		   char *why, size_t len);
void blk_image_close(struct blk_image *img);

/*
 * Finds a process holding an OFD or POSIX lock on the file (@dev, @ino)
 * through /proc/PID/fdinfo (best effort: processes of other users are not
 * readable) and describes it: "pid 4242 (modvm run a.conf), for writing".
 * False if none was found.
 */
bool blk_image_holder(dev_t dev, ino_t ino, char *buf, size_t len);

#endif
