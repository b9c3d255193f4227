/*
 * The files modvm makes while it is still root and must remove at its end
 * (the control socket), after host.user took over.  The socket's directory
 * is root's (/run/modvm, 0755): host.user may not unlink there, so without
 * help the socket would outlive modvm.
 *
 * The help is one process forked before the switch: uid 0 with no
 * capabilities (uid 0 owns the directory, so plain permissions let it
 * unlink there, and nothing else), all signals blocked, and a seccomp
 * filter of its own that allows read, write, the lstat and unlink it needs
 * and exit.  It waits for end of file on a pipe: modvm closes its end when
 * it ends normally (and waits for the answer, so the file is gone when
 * modvm exits), the kernel does when modvm dies of anything, SIGKILL
 * included.  It then removes each noted file that is still the one modvm
 * made (same device and inode: a newer modvm's socket stays) and exits.
 *
 * After fork() in a threaded process only async-signal-safe calls are
 * allowed: the child makes raw system calls and touches only what was
 * prepared before the fork.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sandbox_impl.h"

#define DOMAIN "sandbox"
#define MAX_NOTED 4

struct noted {
	char path[PATH_MAX];
	char base[NAME_MAX + 1];	/* the name in its directory */
	int dir_fd;			/* O_PATH of the directory: no path walked again */
	dev_t dev;
	ino_t ino;
};

static struct {
	pthread_mutex_t lock;
	struct noted files[MAX_NOTED];
	size_t n;
	pid_t pid;		/* the reaper, 0 when none */
	int go_fd;		/* our end: closed = "remove them now" */
	int done_fd;		/* its answer: a byte, or EOF if it died */
} rp = { .lock = PTHREAD_MUTEX_INITIALIZER, .go_fd = -1, .done_fd = -1 };

MODVM_INTERNAL int modvm__sandbox_remove_at_end(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	struct stat st;
	int r = 0, dfd;

	if (strlen(path) >= PATH_MAX || strlen(base) > NAME_MAX)
		return -ENAMETOOLONG;
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash == path ? 1 : slash - path) : 1,
		 slash ? path : ".");
	/* The directory now, by descriptor: whoever may rename a directory
	 * above it later cannot point the reaper's unlink elsewhere. */
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = -errno;
		close(dfd);
		return r;
	}
	pthread_mutex_lock(&rp.lock);
	if (rp.n == MAX_NOTED) {
		r = -ENOSPC;
		close(dfd);
	} else {
		struct noted *f = &rp.files[rp.n++];
		snprintf(f->path, sizeof(f->path), "%s", path);
		snprintf(f->base, sizeof(f->base), "%s", base);
		f->dir_fd = dfd;
		f->dev = st.st_dev;
		f->ino = st.st_ino;
	}
	pthread_mutex_unlock(&rp.lock);
	return r;
}

MODVM_INTERNAL void modvm__sandbox_forget_at_end(const char *path)
{
	pthread_mutex_lock(&rp.lock);
	for (size_t i = 0; i < rp.n; i++)
		if (strcmp(rp.files[i].path, path) == 0) {
			close(rp.files[i].dir_fd);
			rp.files[i] = rp.files[--rp.n];
			break;
		}
	pthread_mutex_unlock(&rp.lock);
}

#if defined(__x86_64__)
#define ALLOW_NR(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
		     BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
/* read, write, newfstatat, unlinkat, exit: everything the reaper does. */
static struct sock_filter reaper_insns[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	ALLOW_NR(__NR_read),
	ALLOW_NR(__NR_write),
	ALLOW_NR(__NR_newfstatat),
	ALLOW_NR(__NR_unlinkat),
	ALLOW_NR(__NR_exit_group),
	ALLOW_NR(__NR_exit),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
};
#define REAPER_FILTER 1
#else
#define REAPER_FILTER 0	/* another ABI: no filter, the rest holds */
#endif

static bool keep_fd(int fd, int go_fd, int done_fd)
{
	if (fd == go_fd || fd == done_fd)
		return true;
	for (size_t i = 0; i < rp.n; i++)
		if (fd == rp.files[i].dir_fd)
			return true;
	return false;
}

/* Everything but what the reaper uses: above all modvm's ends of the
 * pipes, which would keep the end of file from ever coming (closed first,
 * by name).  One by one up to past the highest kept descriptor, the rest
 * with close_range where the kernel (or a service's filter) allows it. */
static void close_others(int go_fd, int done_fd, int parent_go, int parent_done)
{
	int top = go_fd > done_fd ? go_fd : done_fd;

	syscall(SYS_close, parent_go);
	syscall(SYS_close, parent_done);
	for (size_t i = 0; i < rp.n; i++)
		if (rp.files[i].dir_fd > top)
			top = rp.files[i].dir_fd;
	if (top < 1023)
		top = 1023;
	for (int fd = 0; fd <= top; fd++)
		if (!keep_fd(fd, go_fd, done_fd))
			syscall(SYS_close, fd);
	syscall(SYS_close_range, top + 1, ~0U, 0);
}

static _Noreturn void reaper_main(int go_fd, int done_fd, int parent_go, int parent_done)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct none[2] = { { 0 } };
	sigset_t all;
	char c;

	/* every signal, glibc's own (SIGCANCEL, SIGSETXID) too: sigfillset leaves them out */
	memset(&all, 0xff, sizeof(all));
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, _NSIG / 8);
	close_others(go_fd, done_fd, parent_go, parent_done);
	prctl(PR_SET_NAME, "modvm-reaper", 0, 0, 0);
	if (syscall(SYS_capset, &h, none) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		_exit(1);
#if REAPER_FILTER
	struct sock_fprog prog = { .len = sizeof(reaper_insns) / sizeof(reaper_insns[0]),
				   .filter = reaper_insns };
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		_exit(1);
#endif
	while (syscall(SYS_read, go_fd, &c, 1) < 0 && errno == EINTR)
		;
	for (size_t i = 0; i < rp.n; i++) {
		const struct noted *f = &rp.files[i];
		struct stat st;
		if (syscall(SYS_newfstatat, f->dir_fd, f->base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_dev == f->dev && st.st_ino == f->ino)
			syscall(SYS_unlinkat, f->dir_fd, f->base, 0);
	}
	syscall(SYS_write, done_fd, "x", 1);
	syscall(SYS_exit_group, 0);
	for (;;)
		;
}

int modvm__sb_reaper_start(void)
{
	int go[2], done[2];
	pid_t pid;
	int r = 0;

	pthread_mutex_lock(&rp.lock);
	if (rp.n == 0 || rp.pid > 0)
		goto out;
	if (pipe2(go, O_CLOEXEC) < 0) {
		r = -errno;
		goto out;
	}
	if (pipe2(done, O_CLOEXEC) < 0) {
		r = -errno;
		close(go[0]);
		close(go[1]);
		goto out;
	}
	pid = fork();
	if (pid == 0)
		reaper_main(go[0], done[1], go[1], done[0]);
	if (pid < 0)
		r = -errno;
	close(go[0]);
	close(done[1]);
	if (r < 0) {
		close(go[1]);
		close(done[0]);
		goto out;
	}
	rp.pid = pid;
	rp.go_fd = go[1];
	rp.done_fd = done[0];
out:
	pthread_mutex_unlock(&rp.lock);
	if (r < 0)
		modvm_log(MODVM_LOG_WARN, DOMAIN,
			  "cannot start the helper that removes the control socket at the end (%s): "
			  "it will be left behind for the next run to replace",
			  strerror(-r));
	return r;
}

MODVM_INTERNAL void modvm__sandbox_reaper_finish(void)
{
	char c;
	ssize_t got;

	pthread_mutex_lock(&rp.lock);
	if (rp.pid > 0) {
		close(rp.go_fd);
		while ((got = read(rp.done_fd, &c, 1)) < 0 && errno == EINTR)
			;
		if (got != 1)
			modvm_log(MODVM_LOG_WARN, DOMAIN,
				  "the helper that removes the control socket ended early: %s may be "
				  "left behind",
				  rp.n ? rp.files[0].path : "the socket");
		close(rp.done_fd);
		while (waitpid(rp.pid, NULL, 0) < 0 && errno == EINTR)
			;
		rp.pid = 0;
		rp.go_fd = rp.done_fd = -1;
	}
	pthread_mutex_unlock(&rp.lock);
}
