/*
 * bench_seccomp — what host.sandbox "strict" adds to one system call of a
 * vCPU thread (issue 18), on this machine's own CPU, no KVM needed:
 *
 *   ioctl(KVM_RUN)  the exit path's call: argument-checked (only vCPU
 *                   threads may KVM_RUN), so every filter of the thread's
 *                   chain runs on every exit;
 *   writev          the TX path's call: allowed whatever its arguments, so
 *                   the kernel's per-call cache skips the filters.
 *
 * Both are made on /dev/null (KVM_RUN fails with ENOTTY there: the filter
 * decides before the file does), in a thread
 *
 *   off     with no filter;
 *   one     with one two-instruction filter that reads an argument (the
 *           least an argument-checking filter costs: its invocation);
 *   vcpu    with what a vCPU thread gets at the lockdown: the vCPU class's
 *           filter alone (its spawner holds it, core/sandbox/threads.c);
 *   two     the vCPU filter after the one-filter case: a chain of two, as
 *           a vCPU thread had when every thread took the union first (and
 *           as I/O threads made after the lockdown still have).
 *
 * Each round runs each case in a fresh child (a filter cannot be removed),
 * in turn; CPU time of the calling thread, median of the rounds.
 *
 *     build/bench/bench_seccomp [calls-per-round]
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

#define ROUNDS 7

enum setup { OFF, ONE, VCPU, TWO, SETUPS };
static const char *const setup_name[SETUPS] = { "off", "one filter", "vcpu (its filter)",
						"two filters (one + vcpu)" };

static double thread_cpu_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int install(enum setup s)
{
	static struct sock_filter reads_arg[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog one = { 2, reads_arg };

	switch (s) {
	case OFF:
		return 0;
	case ONE:
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &one) < 0)
			return -errno;
		return 0;
	case TWO:
	case VCPU:
		if (s == TWO && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
				 syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &one) < 0))
			return -errno;
		/* writev is net-vmq's declaration for vCPU threads */
		if (modvm__sandbox_allow("net-vmq", MODVM_THREAD_VCPU, "writev", -1, 0) < 0)
			return -EINVAL;
		return modvm__sandbox_apply_class_for_test(MODVM__TC_VCPU, NULL);
	default:
		return -EINVAL;
	}
}

/* ns per call of ioctl(KVM_RUN) [0] and writev [1] in a child set up as @s. */
static int measure(enum setup s, long n, double out[2])
{
	int p[2];

	if (pipe(p) < 0)
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		double r[2];
		char byte = 0;
		struct iovec iov = { &byte, 1 };
		int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (fd < 0 || install(s) < 0)
			_exit(1);
		double t0 = thread_cpu_ns();
		for (long i = 0; i < n; i++)
			ioctl(fd, KVM_RUN, 0);
		double t1 = thread_cpu_ns();
		for (long i = 0; i < n; i++)
			if (writev(fd, &iov, 1) != 1)
				_exit(1);
		double t2 = thread_cpu_ns();
		r[0] = (t1 - t0) / (double)n;
		r[1] = (t2 - t1) / (double)n;
		_exit(write(p[1], r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 1);
	}
	close(p[1]);
	int ok = pid > 0 && read(p[0], out, 2 * sizeof(double)) == 2 * (ssize_t)sizeof(double);
	close(p[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return ok ? 0 : -1;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	double v[SETUPS][2][ROUNDS];

	if (n <= 0) {
		fprintf(stderr, "usage: bench_seccomp [calls-per-round]\n");
		return 2;
	}
	printf("one system call on /dev/null, ns of thread CPU time per call, %ld calls, "
	       "median of %d rounds\n", n, ROUNDS);
	for (int r = 0; r < ROUNDS; r++)
		for (int k = 0; k < SETUPS; k++) {
			enum setup s = (enum setup)((k + r) % SETUPS);	/* each first in turn */
			double out[2];
			if (measure(s, n, out) < 0) {
				fprintf(stderr, "bench_seccomp: the %s case failed\n", setup_name[s]);
				return 1;
			}
			v[s][0][r] = out[0];
			v[s][1][r] = out[1];
		}
	double med[SETUPS][2];
	for (int s = 0; s < SETUPS; s++)
		for (int c = 0; c < 2; c++) {
			qsort(v[s][c], ROUNDS, sizeof(double), cmp);
			med[s][c] = v[s][c][ROUNDS / 2];
		}
	printf("   %-26s %16s %10s\n", "", "ioctl(KVM_RUN)", "writev");
	for (int s = 0; s < SETUPS; s++)
		printf("   %-26s %10.1f (%+5.1f) %6.1f (%+5.1f)\n", setup_name[s], med[s][0],
		       med[s][0] - med[OFF][0], med[s][1], med[s][1] - med[OFF][1]);
	printf("   (in brackets: against off; KVM_RUN runs every filter of the chain, writev none)\n");
	return 0;
}
