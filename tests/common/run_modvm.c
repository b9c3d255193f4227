#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run_modvm.h"

static const char *modvm_exe;

void run_modvm_init(const char *exe)
{
	modvm_exe = exe;
}

const char *run_modvm_exe(void)
{
	return modvm_exe;
}

static void slurp(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	close(fd);
}

/* Starts modvm with @argv (argv[0] is filled in), stdout and stderr into
 * unlinked temporary files whose fds are returned. */
struct child {
	pid_t pid;
	int out, err;
};

static struct child spawn(const char **argv)
{
	char out_path[] = "/tmp/modvm-test-out-XXXXXX", err_path[] = "/tmp/modvm-test-err-XXXXXX";
	struct child c = { -1, mkstemp(out_path), mkstemp(err_path) };

	ck_assert(modvm_exe && c.out >= 0 && c.err >= 0);
	unlink(out_path);
	unlink(err_path);
	argv[0] = modvm_exe;
	c.pid = fork();
	ck_assert_int_ge(c.pid, 0);
	if (c.pid == 0) {
		dup2(c.out, 1);
		dup2(c.err, 2);
		execv(modvm_exe, (char *const *)argv);
		_exit(127);
	}
	return c;
}

static void collect(struct run_result *res, const struct child *c, int status)
{
	res->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	slurp(c->out, res->out, sizeof(res->out));
	slurp(c->err, res->err, sizeof(res->err));
}

void run_modvm(struct run_result *res, int timeout_s, ...)
{
	const char *argv[16] = { NULL };
	size_t argc = 1;
	int status = 0;
	va_list ap;

	va_start(ap, timeout_s);
	for (const char *a; argc < 15 && (a = va_arg(ap, const char *));)
		argv[argc++] = a;
	va_end(ap);
	struct child c = spawn(argv);
	/* Bounded: a hung modvm is killed and reported, never waited on forever. */
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		pid_t r = waitpid(c.pid, &status, WNOHANG);
		ck_assert_int_ge(r, 0);
		if (r == c.pid)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= timeout_s) {
			kill(c.pid, SIGKILL);
			waitpid(c.pid, &status, 0);
			ck_abort_msg("modvm did not finish within %d s", timeout_s);
		}
		usleep(2000);
	}
	collect(res, &c, status);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

double run_modvm_watch(struct run_result *res, int timeout_s, const char *const *args,
		       bool (*done)(int pid, const char *out, void *ud), void *ud)
{
	const char *argv[16] = { NULL };
	size_t argc = 1;
	int status = 0;
	double seen = -1;

	for (; args && *args && argc < 15; args++)
		argv[argc++] = *args;
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	struct child c = spawn(argv);
	bool termed = false;
	for (;;) {
		pid_t r = waitpid(c.pid, &status, WNOHANG);
		ck_assert_int_ge(r, 0);
		if (r == c.pid)
			break;
		if (!termed && seen < 0) {
			ssize_t n = pread(c.out, res->out, sizeof(res->out) - 1, 0);
			res->out[n > 0 ? n : 0] = '\0';
			if (done(c.pid, res->out, ud))
				seen = seconds_since(&start);
		}
		if (!termed && (seen >= 0 || seconds_since(&start) >= timeout_s)) {
			kill(c.pid, SIGTERM);
			termed = true;
		}
		if (termed && seconds_since(&start) >= timeout_s + 10.0) {
			kill(c.pid, SIGKILL);	/* SIGTERM must stop it; this only bounds the test */
			waitpid(c.pid, &status, 0);
			ck_abort_msg("modvm ignored SIGTERM for 10 s");
		}
		usleep(5000);
	}
	collect(res, &c, status);
	return seen;
}

static bool all_seen(int pid, const char *out, void *ud)
{
	(void)pid;
	for (const char *const *until = ud; *until; until++)
		if (!strstr(out, *until))
			return false;
	return true;
}

double run_modvm_until(struct run_result *res, int timeout_s, const char *const *until,
		       const char *const *args)
{
	return run_modvm_watch(res, timeout_s, args, all_seen, (void *)until);
}

void run_expect(const struct run_result *res, int status, const char *out_has, const char *err_has)
{
	ck_assert_msg(res->status == status, "exit %d, want %d\nstdout:\n%s\nstderr:\n%s",
		      res->status, status, res->out, res->err);
	if (out_has)
		ck_assert_msg(strstr(res->out, out_has), "stdout lacks \"%s\":\n%s", out_has,
			      res->out);
	if (err_has)
		ck_assert_msg(strstr(res->err, err_has), "stderr lacks \"%s\":\n%s", err_has,
			      res->err);
}

const char *run_conf(const char *name)
{
	static char path[2][PATH_MAX + 64];
	static int k;
	const char *root = getenv("MODVM_SOURCE_ROOT");

	k ^= 1;
	if (!root)
		root = ".";
	if (strcmp(name, "modvm.conf") == 0)
		snprintf(path[k], sizeof(path[k]), "%s/etc/modvm.conf", root);
	else
		snprintf(path[k], sizeof(path[k]), "%s/tests/fixtures/configs/%s", root, name);
	return path[k];
}

bool kvm_usable(char *why, unsigned long len)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, len, "/dev/kvm: %s", strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

bool kvm_hw_usable(char *why, unsigned long len)
{
	if (!kvm_usable(why, len))
		return false;
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	bool found = false;
	while (f && !found && fgets(line, sizeof(line), f))
		found = strncmp(line, "flags", 5) == 0 && (strstr(line, " vmx") || strstr(line, " svm"));
	if (f)
		fclose(f);
	if (!found)
		snprintf(why, len, "this CPU shows neither VMX nor SVM: KVM here emulates ring 0, "
			 "too slow for a Linux guest (run the test through scripts/kvm-exec)");
	return found;
}

const char *run_tail(const char *text, size_t n)
{
	size_t len = strlen(text);
	return len > n ? text + len - n : text;
}
