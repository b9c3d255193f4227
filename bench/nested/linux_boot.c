/*
 * bench_linux_boot — start → "Run /init" and start → the first userspace
 * line of the same Linux kernel and initramfs under modvm and under QEMU
 * (-M microvm -enable-kvm), rounds interleaved, one JSON line per boot.
 * Meant to run where both see the same KVM: inside the nested AMD-V test
 * host (bench/run --only nested runs it there), or on a VMX/SVM host.
 *
 *   bench_linux_boot MODVM QEMU KERNEL ROUNDS WORKDIR
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "linux_image.h"

#define CMDLINE "console=ttyS0 rdinit=/init panic=-1"
#define TIMEOUT_S 300
#define OUT_MAX (1 << 20)

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Runs @argv; the seconds until each of @marks appeared on its stdout
 * (-1: never), then waits for it to end (killing it after TIMEOUT_S). */
static int boot(char *const *argv, const char *const *marks, double *at, int nmarks)
{
	int fds[2];
	static char out[OUT_MAX];
	size_t len = 0;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	double t0 = now_s();
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(fds[1], 1);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	for (int i = 0; i < nmarks; i++)
		at[i] = -1;
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		if (now_s() - t0 > TIMEOUT_S) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&p, 1, 1000) <= 0)
			continue;
		ssize_t n = read(fds[0], out + len, OUT_MAX - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		out[len] = '\0';
		for (int i = 0; i < nmarks; i++)
			if (at[i] < 0 && strstr(out, marks[i]))
				at[i] = now_s() - t0;
	}
	close(fds[0]);
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(int argc, char **argv)
{
	struct linux_kit kit;
	char why[256], initrd[512], conf[512];

	if (argc != 6) {
		fprintf(stderr, "usage: %s MODVM QEMU KERNEL ROUNDS WORKDIR\n", argv[0]);
		return 2;
	}
	if (!linux_kit_find(&kit, why, sizeof(why))) {
		fprintf(stderr, "bench_linux_boot: %s\n", why);
		return 77;
	}
	snprintf(initrd, sizeof(initrd), "%s/initrd.cpio", argv[5]);
	if (linux_image(&kit, initrd, NULL, "echo modvm-guest: hello\npoweroff -f\n") < 0)
		return 1;
	snprintf(conf, sizeof(conf), "%s/vm.conf", argv[5]);
	FILE *f = fopen(conf, "w");
	if (!f)
		return 1;
	fprintf(f,
		"plugins = { cpu-vmx = { enabled = true; }; cpu-svm = { enabled = true; }; };\n"
		"vms = ( { name = \"boot\"; vcpus = 1; memory = \"256M\"; rng = false;\n"
		"          kernel = \"%s\"; initrd = \"%s\"; cmdline = \"" CMDLINE "\"; } );\n",
		argv[3], initrd);
	fclose(f);

	char *modvm[] = { argv[1], "run", conf, NULL };
	char *qemu[] = { argv[2], "-M", "microvm", "-enable-kvm", "-cpu", "host", "-m", "256M",
			 "-smp", "1", "-nodefaults", "-no-user-config", "-nographic", "-serial",
			 "stdio", "-no-reboot", "-kernel", argv[3], "-initrd", initrd, "-append",
			 CMDLINE, NULL };
	const char *const marks[] = { "Run /init as init process", "modvm-guest: hello" };
	int rounds = atoi(argv[4]);
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < 2; k++) {
			bool use_modvm = (r + k) % 2 == 0;	/* who goes first alternates */
			double at[2];
			int rc = boot(use_modvm ? modvm : qemu, marks, at, 2);
			printf("{\"vmm\": \"%s\", \"round\": %d, \"exit\": %d, \"init_s\": %.3f, "
			       "\"user_s\": %.3f}\n", use_modvm ? "modvm" : "qemu", r, rc, at[0], at[1]);
			fflush(stdout);
		}
	}
	return 0;
}
