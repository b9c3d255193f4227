/*
 * blkbench — what bench/run measures inside a Linux guest on a virtio-blk
 * disk, the same program under modvm and under QEMU:
 *
 *   blkbench DEV MIB SECONDS JOBS
 *
 * sequential write then read of MIB MiB in 1 MiB requests (O_DIRECT, so the
 * guest's page cache stays out of it; the write ends with fdatasync, a
 * flush the VMM must complete), then 4 KiB random reads and random writes
 * over the same range for SECONDS each, from JOBS processes with one
 * request in flight each (queue depth JOBS).  Prints
 * "blkbench: NAME VALUE UNIT" lines between "blkbench: start" and
 * "blkbench: done", which bench/run reads off the serial console (and
 * times the host CPU between).  Built static: the initramfs has no libc.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB (1u << 20)
#define BLK 4096u

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *buffer(size_t len)
{
	void *p = NULL;
	if (posix_memalign(&p, 4096, len))
		exit(1);
	memset(p, 0x5a, len);
	return p;
}

static int open_dev(const char *dev)
{
	int fd = open(dev, O_RDWR | O_DIRECT);
	if (fd < 0) {
		perror(dev);
		exit(1);
	}
	return fd;
}

/* Sequential pass over @mib MiB; MiB/s. */
static double sequential(const char *dev, unsigned mib, int write)
{
	int fd = open_dev(dev);
	uint8_t *buf = buffer(MIB);
	double t0 = now();

	for (unsigned i = 0; i < mib; i++) {
		ssize_t n = write ? pwrite(fd, buf, MIB, (off_t)i * MIB)
				  : pread(fd, buf, MIB, (off_t)i * MIB);
		if (n != (ssize_t)MIB) {
			perror(write ? "pwrite" : "pread");
			exit(1);
		}
	}
	if (write && fdatasync(fd) < 0) {
		perror("fdatasync");
		exit(1);
	}
	double t = now() - t0;
	close(fd);
	free(buf);
	return mib / t;
}

/* One job: random 4 KiB requests for @secs; how many. */
static unsigned long random_job(const char *dev, unsigned mib, double secs, int write,
				unsigned seed)
{
	int fd = open_dev(dev);
	uint8_t *buf = buffer(BLK);
	uint64_t blocks = (uint64_t)mib * MIB / BLK, x = seed * 2654435761u + 1;
	unsigned long ops = 0;
	double end = now() + secs;

	while (now() < end) {
		for (int k = 0; k < 16; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			off_t off = (off_t)(x % blocks) * BLK;
			ssize_t n = write ? pwrite(fd, buf, BLK, off) : pread(fd, buf, BLK, off);
			if (n != (ssize_t)BLK) {
				perror(write ? "pwrite" : "pread");
				exit(1);
			}
			ops++;
		}
	}
	close(fd);
	return ops;
}

/* @jobs processes of random_job; total IOPS. */
static double random_io(const char *dev, unsigned mib, double secs, int jobs, int writes)
{
	int p[2];
	unsigned long total = 0;
	double t0 = now();

	if (pipe(p) < 0)
		exit(1);
	for (int j = 0; j < jobs; j++) {
		if (fork() == 0) {
			unsigned long ops = random_job(dev, mib, secs, writes, (unsigned)j + 1);
			if (write(p[1], &ops, sizeof(ops)) != sizeof(ops))
				_exit(1);
			_exit(0);
		}
	}
	close(p[1]);
	for (int j = 0; j < jobs; j++) {
		unsigned long ops = 0;
		if (read(p[0], &ops, sizeof(ops)) == sizeof(ops))
			total += ops;
		wait(NULL);
	}
	close(p[0]);
	return total / (now() - t0);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: blkbench DEV MIB SECONDS JOBS\n");
		return 2;
	}
	const char *dev = argv[1];
	unsigned mib = (unsigned)atoi(argv[2]);
	double secs = atof(argv[3]);
	int jobs = atoi(argv[4]);

	printf("blkbench: start\n");
	fflush(stdout);
	printf("blkbench: seq-write %.1f MiB/s\n", sequential(dev, mib, 1));
	fflush(stdout);
	printf("blkbench: seq-read %.1f MiB/s\n", sequential(dev, mib, 0));
	fflush(stdout);
	double rr = random_io(dev, mib, secs, jobs, 0);
	printf("blkbench: rand-read %.0f IOPS\n", rr);
	fflush(stdout);
	double rw = random_io(dev, mib, secs, jobs, 1);
	printf("blkbench: rand-write %.0f IOPS\n", rw);
	/* What moved, for the host's CPU per GiB. */
	printf("blkbench: moved %.3f GiB\n",
	       (2.0 * mib + (rr + rw) * secs * BLK / MIB) / 1024.0);
	printf("blkbench: done\n");
	fflush(stdout);
	return 0;
}
