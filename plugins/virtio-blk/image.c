/* Disk images on the host: open, size, lock (see image.h). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "image.h"

#define SECTOR 512u

/* The logical block size of the device a file lives on, from sysfs. */
static uint32_t sysfs_block_size(dev_t dev)
{
	char path[96];
	unsigned v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/queue/logical_block_size", major(dev),
		 minor(dev));
	f = fopen(path, "r");
	if (!f) {	/* a partition: the queue is its parent's */
		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/../queue/logical_block_size",
			 major(dev), minor(dev));
		f = fopen(path, "r");
	}
	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v >= SECTOR && v <= 65536 && !(v & (v - 1)) ? v : 0;
}

/* Direct I/O alignment: statx(STATX_DIOALIGN) where the kernel and file
 * system say it, else the device's logical block size, else 4 KiB. */
static void dio_alignment(struct blk_image *img)
{
	struct statx sx;
	uint32_t bs = 0;

	if (statx(img->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
	    (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align) {
		img->dio_offset_align = sx.stx_dio_offset_align;
		img->dio_mem_align = sx.stx_dio_mem_align ? sx.stx_dio_mem_align : SECTOR;
		return;
	}
	if (img->is_bdev) {
		int ssz = 0;
		if (ioctl(img->fd, BLKSSZGET, &ssz) == 0 && ssz >= (int)SECTOR)
			bs = (uint32_t)ssz;
	} else {
		bs = sysfs_block_size(img->dev);
	}
	img->dio_offset_align = bs ? bs : 4096;
	img->dio_mem_align = img->dio_offset_align;
}

/* "modvm run a.conf" from /proc/PID/cmdline, at most @len bytes. */
static void cmdline_of(long pid, char *buf, size_t len)
{
	char path[64];
	size_t n = 0;
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	f = fopen(path, "r");
	if (!f)
		return;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\0' || !isprint((unsigned char)buf[i]))
			buf[i] = ' ';
}

/* The lock mode an open file of @pid holds ("writing", "reading"), from its
 * fdinfo "lock:" lines; NULL if it holds none. */
static const char *fd_lock_mode(long pid, const char *fd)
{
	char path[320], line[256];
	const char *mode = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/fdinfo/%s", pid, fd);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "lock:", 5))
			continue;
		if (strstr(line, " WRITE "))
			mode = "writing";
		else if (strstr(line, " READ ") && !mode)
			mode = "reading";
	}
	fclose(f);
	return mode;
}

bool blk_image_holder(dev_t dev, ino_t ino, char *buf, size_t len)
{
	DIR *proc = opendir("/proc");
	struct dirent *p;
	bool found = false;

	while (proc && !found && (p = readdir(proc))) {
		char path[300], cmd[160];
		DIR *fds;
		struct dirent *e;
		long pid;

		if (!isdigit((unsigned char)p->d_name[0]))
			continue;
		pid = strtol(p->d_name, NULL, 10);
		snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
		fds = opendir(path);
		while (fds && !found && (e = readdir(fds))) {
			struct stat st;
			const char *mode;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%ld/fd/%s", pid, e->d_name);
			if (stat(path, &st) || st.st_dev != dev || st.st_ino != ino)
				continue;
			mode = fd_lock_mode(pid, e->d_name);
			if (!mode)
				continue;
			cmdline_of(pid, cmd, sizeof(cmd));
			snprintf(buf, len, "pid %ld%s (%s), for %s", pid,
				 pid == (long)getpid() ? ", this modvm" : "", cmd[0] ? cmd : "?",
				 mode);
			found = true;
		}
		if (fds)
			closedir(fds);
	}
	if (proc)
		closedir(proc);
	return found;
}

static int lock_image(struct blk_image *img, char *why, size_t len)
{
	struct flock fl = {
		.l_type = img->readonly ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = 0,
		.l_len = 0,	/* the whole file, however it grows */
	};
	char holder[256];

	if (fcntl(img->fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	int err = errno;
	if (err != EAGAIN && err != EACCES) {
		snprintf(why, len, "cannot lock it: %s", strerror(err));
		return -err;
	}
	if (blk_image_holder(img->dev, img->ino, holder, sizeof(holder)))
		snprintf(why, len, "in use: locked by %s; %s", holder,
			 img->readonly ? "a read-only disk cannot share it with a writer"
				       : "a writable disk needs it to itself");
	else
		snprintf(why, len, "in use: another process holds a lock on it; %s",
			 img->readonly ? "a read-only disk cannot share it with a writer"
				       : "a writable disk needs it to itself");
	return -EAGAIN;
}

int blk_image_open(const char *path, bool readonly, bool direct, struct blk_image *img,
		   char *why, size_t len)
{
	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (direct ? O_DIRECT : 0);
	struct stat st;
	int r;

	memset(img, 0, sizeof(*img));
	img->fd = -1;
	img->readonly = readonly;
	img->direct = direct;
	if (!path || !*path) {
		snprintf(why, len, "no path");
		return -EINVAL;
	}
	img->fd = open(path, flags);
	if (img->fd < 0) {
		r = -errno;
		if (direct && r == -EINVAL)
			snprintf(why, len, "its file system refuses O_DIRECT (cache = \"none\"); "
					   "use cache = \"writeback\"");
		else
			snprintf(why, len, "cannot open it %s: %s",
				 readonly ? "read-only" : "read-write", strerror(-r));
		return r;
	}
	if (fstat(img->fd, &st) < 0) {
		r = -errno;
		snprintf(why, len, "fstat: %s", strerror(-r));
		goto close;
	}
	img->dev = st.st_dev;
	img->ino = st.st_ino;
	img->is_bdev = S_ISBLK(st.st_mode);
	if (S_ISREG(st.st_mode)) {
		img->size = (uint64_t)st.st_size;
	} else if (img->is_bdev) {
		if (ioctl(img->fd, BLKGETSIZE64, &img->size) < 0) {
			r = -errno;
			snprintf(why, len, "BLKGETSIZE64: %s", strerror(-r));
			goto close;
		}
	} else {
		snprintf(why, len, "not a regular file or a block device");
		r = -EINVAL;
		goto close;
	}
	if (img->size < SECTOR) {
		snprintf(why, len, "%llu bytes, less than one 512-byte sector",
			 (unsigned long long)img->size);
		r = -EINVAL;
		goto close;
	}
	if (direct)
		dio_alignment(img);
	r = lock_image(img, why, len);
	if (r < 0)
		goto close;
	return 0;
close:
	close(img->fd);
	img->fd = -1;
	return r;
}

void blk_image_close(struct blk_image *img)
{
	if (img->fd >= 0)
		close(img->fd);	/* releases the OFD lock */
	img->fd = -1;
}
