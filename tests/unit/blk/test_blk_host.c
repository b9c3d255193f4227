/*
 * The host side of virtio-blk on its own: opening, sizing and locking
 * images (a writable image belongs to one user, in this process or another,
 * and the refusal names the holder), the I/O engines (every op, end of
 * file, timers, io_uring refused by seccomp falling back to threads), and
 * the token-bucket arithmetic of the rate limiter.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bdrv.h"
#include "blkio.h"
#include "image.h"
#include "ratelimit.h"

static char path[64];

static void make_image(uint64_t size)
{
	close(bdrv_image(path, size, 0));
}

static void drop_image(void)
{
	unlink(path);
}

/* ---- images ---- */

START_TEST(test_open_sizes_and_closes)
{
	struct blk_image img;
	char why[512];

	make_image((3u << 20) + 100);
	ck_assert_int_eq(blk_image_open(path, false, false, &img, why, sizeof(why)), 0);
	ck_assert_uint_eq(img.size, (3u << 20) + 100);
	ck_assert(!img.is_bdev);
	blk_image_close(&img);
	ck_assert_int_eq(img.fd, -1);
	/* Closed means unlocked: it opens again. */
	ck_assert_int_eq(blk_image_open(path, false, false, &img, why, sizeof(why)), 0);
	blk_image_close(&img);
	ck_assert_int_eq(blk_image_open(path, false, true, &img, why, sizeof(why)), 0);
	ck_assert_uint_ge(img.dio_offset_align, 512);
	ck_assert_uint_eq(img.dio_offset_align & (img.dio_offset_align - 1), 0);
	ck_assert_uint_ge(img.dio_mem_align, 1);
	ck_assert_int_ne(fcntl(img.fd, F_GETFL) & O_DIRECT, 0);
	blk_image_close(&img);
	drop_image();
}
END_TEST

START_TEST(test_lock_in_one_process)
{
	struct blk_image a, b;
	char why[512];

	make_image(1u << 20);
	ck_assert_int_eq(blk_image_open(path, false, false, &a, why, sizeof(why)), 0);
	/* A second writer, and a reader, are refused while it is open writable. */
	ck_assert_int_eq(blk_image_open(path, false, false, &b, why, sizeof(why)), -EAGAIN);
	ck_assert_int_eq(b.fd, -1);
	ck_assert_msg(strstr(why, "in use: locked by pid ") && strstr(why, "this modvm") &&
			      strstr(why, "for writing") && strstr(why, "needs it to itself"),
		      "%s", why);
	ck_assert_int_eq(blk_image_open(path, true, false, &b, why, sizeof(why)), -EAGAIN);
	ck_assert_msg(strstr(why, "cannot share it with a writer"), "%s", why);
	blk_image_close(&a);
	/* Readers share; a writer waits for them all. */
	ck_assert_int_eq(blk_image_open(path, true, false, &a, why, sizeof(why)), 0);
	ck_assert_int_eq(blk_image_open(path, true, false, &b, why, sizeof(why)), 0);
	struct blk_image c;
	ck_assert_int_eq(blk_image_open(path, false, false, &c, why, sizeof(why)), -EAGAIN);
	ck_assert_msg(strstr(why, "for reading"), "%s", why);
	blk_image_close(&a);
	blk_image_close(&b);
	drop_image();
}
END_TEST

/* Another process (a second modvm) holds the image: the refusal names its
 * pid and command line, and the lock dies with it, even by SIGKILL. */
START_TEST(test_lock_across_processes)
{
	struct blk_image img;
	char why[512], want[32];
	int sync[2];
	char c;

	make_image(1u << 20);
	ck_assert_int_eq(pipe(sync), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct blk_image mine;
		if (blk_image_open(path, false, false, &mine, why, sizeof(why)) < 0)
			_exit(1);
		ck_assert_int_eq(write(sync[1], "x", 1), 1);
		pause();
		_exit(0);
	}
	ck_assert_int_eq(read(sync[0], &c, 1), 1);
	ck_assert_int_eq(blk_image_open(path, false, false, &img, why, sizeof(why)), -EAGAIN);
	snprintf(want, sizeof(want), "pid %d (", (int)pid);
	ck_assert_msg(strstr(why, want) && strstr(why, "test_blk_host") &&
			      strstr(why, "for writing") && !strstr(why, "this modvm"),
		      "%s", why);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ck_assert_int_eq(blk_image_open(path, false, false, &img, why, sizeof(why)), 0);
	blk_image_close(&img);
	close(sync[0]);
	close(sync[1]);
	drop_image();
}
END_TEST

static const struct {
	const char *path;	/* NULL: a 100-byte file */
	int err;
	const char *why;
} refused[] = {
	{ "/nonexistent/disk.img", -ENOENT, "cannot open it read-write: No such file or directory" },
	{ "/dev/null", -EINVAL, "not a regular file or a block device" },
	{ "/tmp", -EISDIR, "cannot open it read-write: Is a directory" },
	{ "", -EINVAL, "no path" },
	{ NULL, -EINVAL, "100 bytes, less than one 512-byte sector" },
};

START_TEST(test_open_refused)
{
	struct blk_image img;
	char why[512];
	const char *p = refused[_i].path;

	if (!p) {
		make_image(100);
		p = path;
	}
	ck_assert_int_eq(blk_image_open(p, false, false, &img, why, sizeof(why)), refused[_i].err);
	ck_assert_str_eq(why, refused[_i].why);
	ck_assert_int_eq(img.fd, -1);
	if (!refused[_i].path)
		drop_image();
}
END_TEST

/* ---- engines ---- */

struct done {
	int n;
	struct blkio_op *last;
};

static void on_done(void *ctx, struct blkio_op *op)
{
	struct done *d = ctx;
	d->last = op;
	__atomic_add_fetch(&d->n, 1, __ATOMIC_RELEASE);
}

static void wait_n(struct done *d, int n)
{
	for (int i = 0; i < 5000 && __atomic_load_n(&d->n, __ATOMIC_ACQUIRE) < n; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	ck_assert_int_eq(__atomic_load_n(&d->n, __ATOMIC_ACQUIRE), n);
}

static const enum blkio_kind kinds[] = { BLKIO_URING, BLKIO_THREADS, BLKIO_INLINE };

static struct blkio *engine(struct done *d, int i)
{
	struct blkio_config cfg = { .kind = kinds[i], .depth = 8, .threads = 2, .name = "t",
				    .complete = on_done, .ctx = d };
	struct blkio *io;
	char why[256];

	if (kinds[i] == BLKIO_URING && !blkio_uring_usable(why, sizeof(why))) {
		printf("io_uring not usable here: %s\n", why);
		return NULL;
	}
	ck_assert_int_eq(blkio_create(&cfg, &io, why, sizeof(why)), 0);
	ck_assert_int_eq(blkio_kind(io), kinds[i]);
	return io;
}

START_TEST(test_engine_ops)
{
	struct done d = { 0 };
	struct blkio *io = engine(&d, _i);
	uint8_t a[3000], b[5192];
	int n = 0;

	if (!io)
		return;
	int fd = bdrv_image(path, 1u << 20, 0);
	/* A read into three buffers. */
	struct iovec iov[3] = { { a, 3000 }, { b, 5192 }, { NULL, 0 } };
	struct blkio_op op = { .opcode = BLKIO_READ, .fd = fd, .offset = 4096, .len = 8192,
			       .iov = iov, .iovcnt = 2 };
	blkio_submit(io, &op);
	wait_n(&d, ++n);
	ck_assert_int_eq(op.result, 0);
	ck_assert_uint_eq(a[0], bdrv_pattern(4096));
	ck_assert_uint_eq(b[5191], bdrv_pattern(4096 + 8191));
	/* Writes, flush, zeroing, discard. */
	memset(a, 0xab, sizeof(a));
	iov[0] = (struct iovec){ a, 512 };
	op = (struct blkio_op){ .opcode = BLKIO_WRITE, .fd = fd, .offset = 0, .len = 512,
				.iov = iov, .iovcnt = 1 };
	blkio_submit(io, &op);
	wait_n(&d, ++n);
	ck_assert_int_eq(op.result, 0);
	ck_assert_int_eq(pread(fd, b, 512, 0), 512);
	ck_assert_uint_eq(b[511], 0xab);
	enum blkio_opcode more[] = { BLKIO_FLUSH, BLKIO_ZERO, BLKIO_DISCARD };
	for (size_t k = 0; k < 3; k++) {
		op = (struct blkio_op){ .opcode = more[k], .fd = fd, .offset = 8192 * (k + 1),
					.len = 8192 };
		blkio_submit(io, &op);
		wait_n(&d, ++n);
		ck_assert_int_eq(op.result, 0);
	}
	ck_assert_int_eq(pread(fd, b, sizeof(b), 16384), (ssize_t)sizeof(b));
	for (size_t k = 0; k < sizeof(b); k++)
		ck_assert_uint_eq(b[k], 0);
	/* A read running into the end of the file (an image that shrank). */
	ck_assert_int_eq(ftruncate(fd, 6000), 0);
	iov[0] = (struct iovec){ b, 4096 };
	op = (struct blkio_op){ .opcode = BLKIO_READ, .fd = fd, .offset = 4096, .len = 4096,
				.iov = iov, .iovcnt = 1 };
	blkio_submit(io, &op);
	wait_n(&d, ++n);
	ck_assert_int_eq(op.result, -EIO);
	/* A host error comes back as -errno. */
	op = (struct blkio_op){ .opcode = BLKIO_FLUSH, .fd = -1 };
	blkio_submit(io, &op);
	wait_n(&d, ++n);
	ck_assert_int_eq(op.result, -EBADF);
	blkio_destroy(io);
	close(fd);
	drop_image();
}
END_TEST

START_TEST(test_engine_timers)
{
	struct done d = { 0 };
	struct blkio *io = engine(&d, _i);
	struct timespec t0, t1;

	if (!io)
		return;
	struct blkio_op t = { .opcode = BLKIO_TIMER, .fd = -1, .timer_ns = 50000000 };
	clock_gettime(CLOCK_MONOTONIC, &t0);
	blkio_submit(io, &t);
	wait_n(&d, 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (kinds[_i] == BLKIO_INLINE) {
		ck_assert_int_eq(t.result, -ECANCELED);	/* the fuzzer's engine has no time */
	} else {
		ck_assert_int_eq(t.result, 0);
		ck_assert_msg(dt >= 0.045 && dt < 2, "a 50 ms timer took %.3f s", dt);
		/* A cancelled timer comes back at once. */
		t = (struct blkio_op){ .opcode = BLKIO_TIMER, .fd = -1, .timer_ns = 10000000000ull };
		blkio_submit(io, &t);
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
		blkio_cancel_timer(io, &t);
		wait_n(&d, 2);
		ck_assert_int_eq(t.result, -ECANCELED);
	}
	blkio_destroy(io);
}
END_TEST

/* A container runtime's seccomp filter refusing io_uring: the probe says
 * why, "auto" falls back to the thread pool, "io_uring" is refused. */
START_TEST(test_uring_refused_falls_back)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = 4, .filter = f };
	struct done d = { 0 };
	struct blkio *io = NULL;
	char why[256];

	/* Check runs each test in a child: the filter stays there. */
	ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	ck_assert_int_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
	ck_assert(!blkio_uring_usable(why, sizeof(why)));
	ck_assert_msg(strstr(why, "Operation not permitted") && strstr(why, "seccomp"), "%s", why);
	struct blkio_config cfg = { .kind = BLKIO_AUTO, .depth = 8, .threads = 2, .name = "t",
				    .complete = on_done, .ctx = &d };
	ck_assert_int_eq(blkio_create(&cfg, &io, why, sizeof(why)), 0);
	ck_assert_int_eq(blkio_kind(io), BLKIO_THREADS);
	blkio_destroy(io);
	cfg.kind = BLKIO_URING;
	ck_assert_int_eq(blkio_create(&cfg, &io, why, sizeof(why)), -EPERM);
	ck_assert_ptr_null(io);
}
END_TEST

/* ---- token buckets ---- */

#define MS 1000000ull

START_TEST(test_ratelimit_ops)
{
	struct ratelimit rl;

	ratelimit_init(&rl, 0, 0, 10, 2, 0);
	ck_assert(ratelimit_enabled(&rl));
	ck_assert_uint_eq(ratelimit_take(&rl, 1 << 20, 0), 0);
	ck_assert_uint_eq(ratelimit_take(&rl, 1 << 20, 0), 0);
	uint64_t w = ratelimit_take(&rl, 0, 0);
	ck_assert_uint_ge(w, 99 * MS);
	ck_assert_uint_le(w, 101 * MS);
	ck_assert_uint_gt(ratelimit_take(&rl, 0, 50 * MS), 0);	/* nothing taken meanwhile */
	ck_assert_uint_eq(ratelimit_take(&rl, 0, 100 * MS), 0);
	/* Idle time refills no further than the burst. */
	ck_assert_uint_eq(ratelimit_take(&rl, 0, 10000 * MS), 0);
	ck_assert_uint_eq(ratelimit_take(&rl, 0, 10000 * MS), 0);
	ck_assert_uint_gt(ratelimit_take(&rl, 0, 10000 * MS), 0);
}
END_TEST

START_TEST(test_ratelimit_bytes)
{
	struct ratelimit rl;

	ratelimit_init(&rl, 1000, 0, 0, 0, 0);	/* burst 0: a second's worth */
	ck_assert_uint_eq(ratelimit_take(&rl, 600, 0), 0);
	uint64_t w = ratelimit_take(&rl, 600, 0);
	ck_assert_uint_ge(w, 199 * MS);
	ck_assert_uint_le(w, 201 * MS);
	ck_assert_uint_eq(ratelimit_take(&rl, 600, 200 * MS), 0);
	/* More than a bucketful goes once the bucket is full, and leaves debt. */
	ck_assert_uint_eq(ratelimit_take(&rl, 5000, 2000 * MS), 0);
	w = ratelimit_take(&rl, 1, 2000 * MS);
	ck_assert_uint_ge(w, 4000 * MS);
	ck_assert_uint_le(w, 4002 * MS);
}
END_TEST

START_TEST(test_ratelimit_unlimited)
{
	struct ratelimit rl;

	ratelimit_init(&rl, 0, 0, 0, 0, 0);
	ck_assert(!ratelimit_enabled(&rl));
	for (int i = 0; i < 1000; i++)
		ck_assert_uint_eq(ratelimit_take(&rl, UINT64_MAX, 0), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("blk-host");
	TCase *img = tcase_create("image");
	TCase *io = tcase_create("engines");
	TCase *rl = tcase_create("ratelimit");
	int nk = (int)(sizeof(kinds) / sizeof(kinds[0]));

	tcase_add_test(img, test_open_sizes_and_closes);
	tcase_add_test(img, test_lock_in_one_process);
	tcase_add_test(img, test_lock_across_processes);
	tcase_add_loop_test(img, test_open_refused, 0, sizeof(refused) / sizeof(refused[0]));
	suite_add_tcase(s, img);
	tcase_set_timeout(io, 30);
	tcase_add_loop_test(io, test_engine_ops, 0, nk);
	tcase_add_loop_test(io, test_engine_timers, 0, nk);
	tcase_add_test(io, test_uring_refused_falls_back);
	suite_add_tcase(s, io);
	tcase_add_test(rl, test_ratelimit_ops);
	tcase_add_test(rl, test_ratelimit_bytes);
	tcase_add_test(rl, test_ratelimit_unlimited);
	suite_add_tcase(s, rl);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
