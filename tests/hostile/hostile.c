/*
 * Helpers of the hostile tests (hostile.h).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostile.h"
#include "run_modvm.h"

static char run_dir[64], dir[96];

void hostile_begin(void)
{
	snprintf(run_dir, sizeof(run_dir), "/tmp/modvm-hostile-XXXXXX");
	if (!mkdtemp(run_dir) || chmod(run_dir, 0755) < 0) {
		perror("mkdtemp");
		exit(2);
	}
}

void hostile_end(void)
{
	char cmd[256];

	/* Everything the tests made, even those a failed assertion left. */
	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx %s 2>/dev/null; rm -rf %s", run_dir, run_dir);
	if (run_dir[0] && system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", run_dir);
}

const char *tmp_dir(void)
{
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "%s/t-XXXXXX", run_dir[0] ? run_dir : "/tmp");
		ck_assert_ptr_nonnull(mkdtemp(dir));
		setenv("MODVM_RUNTIME_DIR", dir, 1);
	}
	return dir;
}

void tmp_dir_remove(void)
{
	char cmd[256];

	if (!dir[0])
		return;
	/* Files a test made read-only or fifos still go. */
	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx %s 2>/dev/null; rm -rf %s", dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	dir[0] = '\0';
}

const char *tmp_path(const char *name)
{
	static char ring[8][256];
	static unsigned k;
	char *p = ring[k++ % 8];

	snprintf(p, 256, "%s/%s", tmp_dir(), name);
	return p;
}

const char *write_text(const char *name, const char *fmt, ...)
{
	const char *path = name[0] == '/' ? name : tmp_path(name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	char buf[8192];
	va_list ap;

	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ck_assert(n >= 0 && (size_t)n < sizeof(buf));
	ck_assert_int_eq(write(fd, buf, (size_t)n), n);
	close(fd);
	return path;
}

pid_t modvm_spawn(const char *conf, int out_fd, int err_fd, void (*prep)(void),
		  const char *const *args)
{
	const char *argv[16] = { run_modvm_exe() };
	size_t n = 1;

	for (; args && *args && n < 12; args++)
		argv[n++] = *args;
	argv[n++] = "run";
	argv[n++] = conf;
	tmp_dir();	/* MODVM_RUNTIME_DIR for the child */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(out_fd >= 0 ? out_fd : null, 1);
		dup2(err_fd >= 0 ? err_fd : null, 2);
		if (prep)
			prep();
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

bool wait_for_path(const char *path, int ms)
{
	for (int i = 0; i < ms / 5; i++) {
		if (access(path, F_OK) == 0)
			return true;
		usleep(5000);
	}
	return access(path, F_OK) == 0;
}

int wait_exit(pid_t pid, int ms)
{
	int status;

	for (int i = 0; i <= ms / 5; i++) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(5000);
	}
	return -1;
}

void kill_hard(pid_t pid)
{
	if (pid > 0 && kill(pid, SIGKILL) == 0)
		waitpid(pid, NULL, 0);
}

int ctl_raw(const char *sock, const char *line, char *reply, size_t len, int ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t got = 0;

	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	char msg[600];
	snprintf(msg, sizeof(msg), "%s\n", line);
	/* A server that refuses may answer and close before the command is
	 * sent (EPIPE): its answer is still there to read. */
	if (send(fd, msg, strlen(msg), MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET) {
		int err = -errno;
		close(fd);
		return err;
	}
	reply[0] = '\0';
	struct pollfd p = { .fd = fd, .events = POLLIN };
	while (got + 1 < len && poll(&p, 1, ms) > 0) {
		ssize_t n = read(fd, reply + got, len - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	reply[got] = '\0';
	close(fd);
	return 0;
}

const char *read_text(const char *path)
{
	static char buf[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	return buf;
}

bool wait_for_ctl(const char *sock, int ms)
{
	char reply[256];

	for (int i = 0; i < ms / 10; i++) {
		if (ctl_raw(sock, "status", reply, sizeof(reply), 1000) == 0 &&
		    strncmp(reply, "ok", 2) == 0)
			return true;
		usleep(10000);
	}
	return false;
}

int hostile_start(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s MODVM_EXE\n", argv[0]);
		return 2;
	}
	run_modvm_init(argv[1]);
	hostile_begin();
	return 0;
}

int hostile_run(Suite *suite)
{
	SRunner *sr = srunner_create(suite);

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	hostile_end();
	return failed ? 1 : 0;
}

/* The value of @key in /proc/@pid/task/@tid/status (@tid "": the process's), or "" */
const char *proc_status(pid_t pid, const char *tid, const char *key, char *out, size_t len)
{
	char path[96], line[256];
	size_t klen = strlen(key);
	FILE *f;

	if (*tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%s/status", (int)pid, tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	out[0] = '\0';
	if (!(f = fopen(path, "re")))
		return out;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			const char *v = line + klen + 1;
			v += strspn(v, " \t");
			snprintf(out, len, "%.*s", (int)strcspn(v, "\n"), v);
			break;
		}
	fclose(f);
	return out;
}
