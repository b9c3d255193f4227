/*
 * The sandbox (issue 18), without KVM: the lockdown in a child process,
 * driven through the scripted fake CPU backend and the event bus.
 *
 *  - a forbidden system call from a vCPU thread (a PIO handler) and from
 *    a plugin's bus handler on the loop thread kills the process with
 *    SIGSYS and one line naming the call and the thread;
 *  - a call a plugin declared for its I/O threads passes there;
 *  - /proc/PID/status of the locked-down process shows Seccomp: 2 (one
 *    filter on a vCPU thread, which runs its whole chain on each exit) and
 *    NoNewPrivs: 1 on every thread, no capabilities left, while its vCPU
 *    threads run;
 *  - host.user/host.group switch the uid and gid (root only), strict or
 *    not.
 *
 * Each scenario runs in a fork of its own: a lockdown holds for the life
 * of the process.  The parent reads the child's stderr and status.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/netlink.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bus_fixture.h"
#include "sandbox/sandbox.h"
#include "vm/vm.h"
#include "vm_test.h"

#define MiB (1ULL << 20)

/* What a child left: its wait status and everything it wrote to stderr. */
struct child {
	pid_t pid;
	int status;
	char err[8192];
	int ready_fd;	/* the child writes one byte here when it is ready */
	int go_fd;	/* ... and waits for one byte here before it ends */
	int err_fd;
};

/* Forks; the child runs @fn with the pipes' other ends and exits with
 * what it returns.  Returns in the parent with the pipes open. */
static void child_start(struct child *c, int (*fn)(int ready, int go))
{
	int errp[2], readyp[2], gop[2];

	ck_assert_int_eq(pipe(errp), 0);
	ck_assert_int_eq(pipe(readyp), 0);
	ck_assert_int_eq(pipe(gop), 0);
	fflush(NULL);
	c->pid = fork();
	ck_assert_int_ge(c->pid, 0);
	if (c->pid == 0) {
		dup2(errp[1], STDERR_FILENO);
		close(errp[0]);
		close(readyp[0]);
		close(gop[1]);
		/* exit, not _exit: a sanitizer build's leak check runs at exit,
		 * under the loop's filter, as in modvm. */
		exit(fn(readyp[1], gop[0]));
	}
	close(errp[1]);
	close(readyp[1]);
	close(gop[0]);
	c->ready_fd = readyp[0];
	c->go_fd = gop[1];
	c->err[0] = '\0';
	/* Read in child_end: the children write a few lines at most. */
	c->err_fd = errp[0];
}

static void child_end(struct child *c)
{
	int errfd = c->err_fd;
	size_t used = 0;
	ssize_t n;

	close(c->go_fd);
	while ((n = read(errfd, c->err + used, sizeof(c->err) - 1 - used)) > 0)
		used += (size_t)n;
	c->err[used] = '\0';
	close(errfd);
	close(c->ready_fd);
	ck_assert_int_eq(waitpid(c->pid, &c->status, 0), c->pid);
}

static void child_run(struct child *c, int (*fn)(int ready, int go))
{
	child_start(c, fn);
	child_end(c);
}

/* The child's side of the handshake. */
static void say_ready(int ready)
{
	char b = 1;
	ssize_t w = write(ready, &b, 1);
	(void)w;
}

static void wait_go(int go)
{
	char b;
	ssize_t r = read(go, &b, 1);
	(void)r;
}

static int lockdown(bool strict, const char *user, const char *group)
{
	struct modvm__sandbox_config sc = { .strict = strict, .user = user, .group = group };

	return modvm__sandbox_lockdown(&sc);
}

static bool killed_by_sigsys(const struct child *c)
{
	return WIFSIGNALED(c->status) && WTERMSIG(c->status) == SIGSYS;
}

/* A call no thread class allows: a netlink socket. */
static long forbidden_call(void)
{
	return syscall(SYS_socket, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
}

/* ---- a vCPU thread ---- */

static void evil_pio(void *ud, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	(void)ud;
	(void)off;
	(void)data;
	(void)len;
	(void)is_write;
	forbidden_call();
}

static void good_pio(void *ud, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	(void)off;
	(void)len;
	if (!is_write)
		data[0] = 0x42;
	(*(int *)ud)++;
}

static int vcpu_child(bool evil)
{
	static struct fake_backend fb;
	static int calls;
	struct modvm_vm *vm = NULL;
	struct modvm_vm_config cfg = { .struct_size = sizeof(cfg), .name = "sbx", .vcpus = 1,
				       .memory_bytes = MiB };

	if (lockdown(true, NULL, NULL) != 0)
		return 10;
	if (!modvm__sandbox_locked())
		return 11;
	fake_backend_init(&fb);
	fake_pio(&fb, 0, 0x3f8, 1, true, 'A');
	fake_pio(&fb, 0, 0x3fd, 1, false, 0);
	if (__modvm_vm_create(&fb.vt, fake_ctx(&fb), &cfg, &vm) != 0)
		return 12;
	if (modvm_iobus_register(vm, MODVM_IOBUS_PIO, 0x3f8, 8, evil ? evil_pio : good_pio,
				 &calls) != 0)
		return 13;
	if (modvm_vm_start(vm) != 0)
		return 14;
	if (modvm_vm_wait(vm, 10000) != 0)
		return 15;
	if (calls != 2)
		return 16;
	modvm_vm_stop(vm);
	modvm_vm_destroy(vm);
	return 0;
}

static int vcpu_evil(int ready, int go)
{
	(void)ready;
	(void)go;
	return vcpu_child(true);
}

static int vcpu_good(int ready, int go)
{
	(void)ready;
	(void)go;
	return vcpu_child(false);
}

START_TEST(vcpu_runs_a_guest_under_its_filter)
{
	struct child c;

	child_run(&c, vcpu_good);
	ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
		      "status 0x%x, stderr:\n%s", c.status, c.err);
	ck_assert_ptr_null(strstr(c.err, "not allowed"));
}
END_TEST

START_TEST(vcpu_forbidden_call_kills_naming_it)
{
	struct child c;

	child_run(&c, vcpu_evil);
	ck_assert_msg(killed_by_sigsys(&c), "status 0x%x, stderr:\n%s", c.status, c.err);
	ck_assert_msg(strstr(c.err, "sandbox: thread \"vcpu0\" (vcpu, tid "), "%s", c.err);
	ck_assert_msg(strstr(c.err, "made system call socket (41) with arguments 16, "), "%s",
		      c.err);
	ck_assert_msg(strstr(c.err, "not allowed for this thread; modvm is killed"), "%s", c.err);
}
END_TEST

/* ---- KVM_RUN: vCPU threads only, by its request number ---- */

/* @c's filter, then KVM_RUN on a file that is no KVM vCPU (ENOTTY when
 * the filter lets it through), then KVM_CREATE_VM, which only the loop
 * may issue. */
static int kvm_run_as(enum modvm__thread_class c)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0 || modvm__sandbox_apply_class_for_test(c, NULL) != 0)
		return 10;
	if (ioctl(fd, KVM_RUN, 0) != -1 || errno != ENOTTY)
		return 11;
	/* the request's high word is not part of it (the kernel takes an
	 * unsigned int), as libseccomp's rule masks it too */
	if (ioctl(fd, (unsigned long)KVM_RUN | (1ul << 32), 0) != -1 || errno != ENOTTY)
		return 12;
	fprintf(stderr, "KVM_RUN passed\n");
	ioctl(fd, KVM_CREATE_VM, 0);
	return 0;
}

static int kvm_run_vcpu(int ready, int go)
{
	(void)ready;
	(void)go;
	return kvm_run_as(MODVM__TC_VCPU);
}

static int kvm_run_loop(int ready, int go)
{
	(void)ready;
	(void)go;
	return kvm_run_as(MODVM__TC_LOOP);
}

START_TEST(kvm_run_only_on_vcpu_threads_by_its_request_number)
{
	struct child c;

	child_run(&c, kvm_run_vcpu);
	ck_assert_msg(killed_by_sigsys(&c), "status 0x%x, stderr:\n%s", c.status, c.err);
	ck_assert_msg(strstr(c.err, "KVM_RUN passed"), "%s", c.err);
	ck_assert_msg(strstr(c.err, "(vcpu, tid "), "%s", c.err);
	ck_assert_msg(strstr(c.err, "made system call ioctl (16)"), "%s", c.err);
	/* the loop may not KVM_RUN */
	child_run(&c, kvm_run_loop);
	ck_assert_msg(killed_by_sigsys(&c), "status 0x%x, stderr:\n%s", c.status, c.err);
	ck_assert_msg(!strstr(c.err, "KVM_RUN passed"), "%s", c.err);
	ck_assert_msg(strstr(c.err, "(loop, tid "), "%s", c.err);
	ck_assert_msg(strstr(c.err, "made system call ioctl (16)"), "%s", c.err);
}
END_TEST

/* ---- a plugin's bus handler on the loop thread ---- */

static void evil_handler(const struct ping *p, void *ud)
{
	(void)p;
	(void)ud;
	forbidden_call();
}

static int loop_evil(int ready, int go)
{
	struct fixture f = make();
	struct ping p = { .seq = 1 };

	(void)ready;
	(void)go;
	modvm__bus_set_owner("evil-plugin");
	if (modvm_subscribe_ping(f.bus, 0, evil_handler, NULL) <= 0)
		return 10;
	modvm__bus_set_owner(NULL);
	if (lockdown(true, NULL, NULL) != 0)
		return 11;
	modvm_publish_ping(f.bus, &p);
	return 0;
}

START_TEST(plugin_handler_forbidden_call_kills_naming_it)
{
	struct child c;

	child_run(&c, loop_evil);
	ck_assert_msg(killed_by_sigsys(&c), "status 0x%x, stderr:\n%s", c.status, c.err);
	ck_assert_msg(strstr(c.err, "(loop, tid "), "%s", c.err);
	/* the handler's plugin named: several share the loop thread */
	ck_assert_msg(strstr(c.err, "made system call socket (41) in plugin evil-plugin with "),
		      "%s", c.err);
}
END_TEST

/* ---- declarations: a plugin's I/O thread ---- */

static void *io_declared(void *ud)
{
	/* getppid: declared by "blk-like" below, in no list of an I/O
	 * thread (any build).  It answers our parent, the test. */
	long r = syscall(SYS_getppid);
	return (void *)(intptr_t)(r == *(pid_t *)ud ? 0 : 1);
}

static int io_child(bool declare)
{
	static pid_t parent;
	pthread_t t;
	void *res = (void *)(intptr_t)7;

	parent = getppid();
	if (declare && modvm__sandbox_allow("blk-like", MODVM_THREAD_IO, "getppid", -1, 0) != 0)
		return 10;
	/* Someone else's declaration does not reach this plugin's thread. */
	if (!declare && modvm__sandbox_allow("other", MODVM_THREAD_IO, "getppid", -1, 0) != 0)
		return 11;
	if (lockdown(true, NULL, NULL) != 0)
		return 12;
	if (modvm__thread_spawn(&t, MODVM__TC_IO, "blk-like", "blk-io", false, io_declared,
				&parent) != 0)
		return 13;
	pthread_join(t, &res);
	return (int)(intptr_t)res;
}

static int io_with_decl(int ready, int go)
{
	(void)ready;
	(void)go;
	return io_child(true);
}

static int io_without_decl(int ready, int go)
{
	(void)ready;
	(void)go;
	return io_child(false);
}

START_TEST(declared_call_passes_on_the_plugins_io_thread)
{
	struct child c;

	child_run(&c, io_with_decl);
	ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
		      "status 0x%x, stderr:\n%s", c.status, c.err);
}
END_TEST

START_TEST(undeclared_call_kills_the_io_thread)
{
	struct child c;

	child_run(&c, io_without_decl);
	ck_assert_msg(killed_by_sigsys(&c), "status 0x%x, stderr:\n%s", c.status, c.err);
	ck_assert_msg(strstr(c.err, "thread \"blk-io\" (io, tid "), "%s", c.err);
	ck_assert_msg(strstr(c.err, "made system call getppid"), "%s", c.err);
}
END_TEST

/* ---- /proc/PID/status of a running, locked-down process ---- */

/* The value after "@key:\t" in /proc/@pid/task/@tid/status ("" if none). */
static void status_field(pid_t pid, const char *tid, const char *key, char *out, size_t len)
{
	char path[300], line[256];
	size_t klen = strlen(key);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%s/status", (int)pid, tid);
	out[0] = '\0';
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			const char *v = line + klen + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			snprintf(out, len, "%s", v);
			out[strcspn(out, "\n")] = '\0';
		}
	}
	fclose(f);
}

static void thread_comm(pid_t pid, const char *tid, char *out, size_t len)
{
	char path[300];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)pid, tid);
	out[0] = '\0';
	if ((f = fopen(path, "r"))) {
		if (fgets(out, (int)len, f))
			out[strcspn(out, "\n")] = '\0';
		fclose(f);
	}
}

/* Checks every thread of @pid; returns how many there were. */
static int check_threads(pid_t pid, const char *uid, bool strict)
{
	char path[64], v[128];
	struct dirent *e;
	int n = 0, vcpus = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		n++;
		status_field(pid, e->d_name, "Seccomp", v, sizeof(v));
		ck_assert_msg(strcmp(v, strict ? "2" : "0") == 0, "task %s: Seccomp: %s", e->d_name, v);
		if (strict) {
			/* Every filter of a chain runs on each KVM_RUN: a vCPU
			 * thread (and the loop) has one; the others two at most. */
			char comm[32], n[128];
			thread_comm(pid, e->d_name, comm, sizeof(comm));
			status_field(pid, e->d_name, "Seccomp_filters", n, sizeof(n));
			bool one = strncmp(comm, "vcpu", 4) == 0 || atoi(e->d_name) == (int)pid;
			ck_assert_msg(one ? strcmp(n, "1") == 0 : (atoi(n) >= 1 && atoi(n) <= 2),
				      "task %s (%s): Seccomp_filters: %s", e->d_name, comm, n);
			vcpus += strncmp(comm, "vcpu", 4) == 0 && strcmp(comm, "vcpu-spawner") != 0;
		}
		status_field(pid, e->d_name, "NoNewPrivs", v, sizeof(v));
		ck_assert_msg(strcmp(v, strict ? "1" : "0") == 0, "task %s: NoNewPrivs: %s",
			      e->d_name, v);
		if (strict || uid) {
			status_field(pid, e->d_name, "CapEff", v, sizeof(v));
			ck_assert_msg(strcmp(v, "0000000000000000") == 0, "task %s: CapEff: %s",
				      e->d_name, v);
			status_field(pid, e->d_name, "CapPrm", v, sizeof(v));
			ck_assert_msg(strcmp(v, "0000000000000000") == 0, "task %s: CapPrm: %s",
				      e->d_name, v);
		}
		if (uid) {
			char want[64];
			snprintf(want, sizeof(want), "%s\t%s\t%s\t%s", uid, uid, uid, uid);
			status_field(pid, e->d_name, "Uid", v, sizeof(v));
			ck_assert_msg(strcmp(v, want) == 0, "task %s: Uid: %s", e->d_name, v);
			status_field(pid, e->d_name, "Gid", v, sizeof(v));
			ck_assert_msg(strcmp(v, want) == 0, "task %s: Gid: %s", e->d_name, v);
		}
	}
	closedir(d);
	if (strict)
		ck_assert_int_eq(vcpus, 2);
	return n;
}

/* Two vCPUs spinning until the parent has looked, then stopped. */
static int running_child(int ready, int go, bool strict, const char *user, const char *group)
{
	static struct fake_backend fb;
	struct modvm_vm *vm = NULL;
	struct modvm_vm_config cfg = { .struct_size = sizeof(cfg), .name = "sbx", .vcpus = 2,
				       .memory_bytes = MiB };

	if (lockdown(strict, user, group) != 0)
		return 10;
	fake_backend_init(&fb);
	fake_add(&fb, 0, FAKE_SPIN);
	fake_add(&fb, 1, FAKE_SPIN);
	if (__modvm_vm_create(&fb.vt, fake_ctx(&fb), &cfg, &vm) != 0)
		return 12;
	if (modvm_vm_start(vm) != 0)
		return 14;
	/* Both vCPU threads are in their run loop once each has run once. */
	for (int i = 0; i < 500 && (fb.run_tid[0] == 0 || fb.run_tid[1] == 0); i++)
		usleep(10000);
	say_ready(ready);
	wait_go(go);
	modvm_vm_stop(vm);
	modvm_vm_destroy(vm);
	return 0;
}

static int running_strict(int ready, int go)
{
	return running_child(ready, go, true, NULL, NULL);
}

static int running_strict_nobody(int ready, int go)
{
	return running_child(ready, go, true, "nobody", "nogroup");
}

static int running_off_nobody(int ready, int go)
{
	return running_child(ready, go, false, "65534", "65534");
}

static void check_running(int (*fn)(int, int), const char *uid, bool strict)
{
	struct child c;
	char b;

	child_start(&c, fn);
	if (read(c.ready_fd, &b, 1) != 1) {
		child_end(&c);
		ck_abort_msg("the child ended before it was ready: status 0x%x, stderr:\n%s",
			     c.status, c.err);
	}
	/* loop + spawner (strict) + two vCPUs, at least */
	ck_assert_int_ge(check_threads(c.pid, uid, strict), 3);
	child_end(&c);
	ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
		      "status 0x%x, stderr:\n%s", c.status, c.err);
}

START_TEST(status_shows_seccomp_on_every_thread)
{
	check_running(running_strict, NULL, true);
}
END_TEST

START_TEST(host_user_switches_uid_under_strict)
{
	if (geteuid() != 0) {
		printf("SKIP: switching users needs root\n");
		return;
	}
	check_running(running_strict_nobody, "65534", true);
}
END_TEST

START_TEST(host_user_switches_uid_with_sandbox_off)
{
	if (geteuid() != 0) {
		printf("SKIP: switching users needs root\n");
		return;
	}
	check_running(running_off_nobody, "65534", false);
}
END_TEST

/* ---- the numbers the README's table gives ---- */

START_TEST(dry_run_counts_every_class)
{
	struct modvm__sandbox_stats st;

	ck_assert_int_eq(modvm__sandbox_dry_run(&st), 0);
	for (int c = MODVM__TC_LOOP; c < MODVM__TC_COUNT; c++) {
		ck_assert_uint_gt(st.syscalls[c], 0);
		ck_assert_uint_gt(st.bpf_len[c], st.syscalls[c]);
		ck_assert_uint_le(st.syscalls[c], st.union_syscalls);
	}
	/* the vCPU class is narrower than the loop's */
	ck_assert_uint_lt(st.syscalls[MODVM__TC_VCPU], st.syscalls[MODVM__TC_LOOP]);
	printf("allowlists: loop %u, vcpu %u, io %u, watchdog %u, spawner %u, union %u\n",
	       st.syscalls[MODVM__TC_LOOP], st.syscalls[MODVM__TC_VCPU], st.syscalls[MODVM__TC_IO],
	       st.syscalls[MODVM__TC_WATCHDOG], st.syscalls[MODVM__TC_SPAWNER], st.union_syscalls);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, vcpu_runs_a_guest_under_its_filter);
	tcase_add_test(tc, vcpu_forbidden_call_kills_naming_it);
	tcase_add_test(tc, kvm_run_only_on_vcpu_threads_by_its_request_number);
	tcase_add_test(tc, plugin_handler_forbidden_call_kills_naming_it);
	tcase_add_test(tc, declared_call_passes_on_the_plugins_io_thread);
	tcase_add_test(tc, undeclared_call_kills_the_io_thread);
	tcase_add_test(tc, status_shows_seccomp_on_every_thread);
	tcase_add_test(tc, host_user_switches_uid_under_strict);
	tcase_add_test(tc, host_user_switches_uid_with_sandbox_off);
	tcase_add_test(tc, dry_run_counts_every_class);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
