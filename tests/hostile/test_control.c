/*
 * Items 3-5: the control socket against hostile local users.
 *  3. it was as open as the umask (0777 under umask 000) and anyone who
 *     could connect could stop every VM: now 0600 (0660 with
 *     host.control_group) and SO_PEERCRED is checked too;
 *  4. 1018 idle connections took it down (EMFILE, the loop at 100 % CPU):
 *     now at most 16 connections (the oldest makes room), idle ones are
 *     closed, and running out of descriptors drops, never spins;
 *  5. a second modvm unlinked a live socket and took it over, and the
 *     shipped config put the socket in /tmp: now a live socket and a
 *     second modvm for the same config are refused, a stale socket is
 *     replaced, a socket directory others may write is refused, and
 *     "auto" puts it under the runtime directory (/run/modvm).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostile.h"
#include "run_modvm.h"

static struct run_result res;

static const char *daemon_conf(const char *name, const char *sock, const char *extra)
{
	return write_text(name, "host = { control_socket = \"%s\"; %s };\n"
				"vms = ( { name = \"idle\"; autostart = false; } );\n",
			  sock, extra ? extra : "");
}

static pid_t start_daemon(const char *conf, const char *sock, void (*prep)(void))
{
	pid_t pid = modvm_spawn(conf, -1, -1, prep, (const char *const[]){ "-q", NULL });

	ck_assert_msg(wait_for_ctl(sock, 10000), "modvm never answered on %s", sock);
	return pid;
}

static void stop_daemon(pid_t pid, const char *sock)
{
	char reply[256];

	ck_assert_int_eq(ctl_raw(sock, "stop", reply, sizeof(reply), 5000), 0);
	ck_assert_str_eq(reply, "ok stopping\n");
	ck_assert_int_eq(wait_exit(pid, 10000), 0);
}

static void umask_000(void)
{
	umask(0);
}

START_TEST(socket_is_0600_under_umask_000)
{
	const char *sock = tmp_path("ctl.sock");
	pid_t pid = start_daemon(daemon_conf("c.conf", sock, NULL), sock, umask_000);
	struct stat st;

	ck_assert_int_eq(stat(sock, &st), 0);
	ck_assert_msg((st.st_mode & 0777) == 0600, "mode %04o", st.st_mode & 0777);
	stop_daemon(pid, sock);
	tmp_dir_remove();
}
END_TEST

/* Runs @line on @sock as uid/gid 65534 ("nobody"); the reply in @reply. */
static int ctl_as_nobody(const char *sock, const char *line, char *reply, size_t len)
{
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(3);
		char buf[4096];
		int r = ctl_raw(sock, line, buf, sizeof(buf), 5000);
		ssize_t w = write(p[1], buf, strlen(buf));
		(void)w;
		_exit(r == 0 ? 0 : 1);
	}
	close(p[1]);
	ssize_t n = read(p[0], reply, len - 1);
	reply[n > 0 ? n : 0] = '\0';
	close(p[0]);
	int status;
	waitpid(pid, &status, 0);
	return WEXITSTATUS(status);
}

/* Even a socket made reachable by mistake serves only root and our uid. */
START_TEST(other_uid_cannot_stop_the_vms)
{
	const char *sock = tmp_path("ctl.sock");
	char reply[4096];

	if (geteuid() != 0) {
		printf("other_uid_cannot_stop_the_vms: needs root to act as another uid, skipped\n");
		return;
	}
	chmod(tmp_dir(), 0755);
	pid_t pid = start_daemon(daemon_conf("c.conf", sock, NULL), sock, NULL);
	/* the file mode alone keeps nobody out */
	ck_assert_int_eq(ctl_as_nobody(sock, "stop", reply, sizeof(reply)), 1);
	/* an operator's chmod 666: the peer's credentials still do */
	ck_assert_int_eq(chmod(sock, 0666), 0);
	ck_assert_int_eq(ctl_as_nobody(sock, "stop", reply, sizeof(reply)), 0);
	ck_assert_str_eq(reply, "error: permission denied\n");
	ck_assert_int_eq(wait_exit(pid, 200), -1);	/* still running */
	stop_daemon(pid, sock);
	tmp_dir_remove();
}
END_TEST

/* host.control_group: 0660, that group may, others may not. */
START_TEST(control_group_members_allowed)
{
	const char *sock = tmp_path("ctl.sock");
	char reply[4096];
	struct stat st;

	if (geteuid() != 0) {
		printf("control_group_members_allowed: needs root, skipped\n");
		return;
	}
	chmod(tmp_dir(), 0755);
	/* "nogroup" is gid 65534 on Debian: the test client's gid */
	pid_t pid = start_daemon(daemon_conf("c.conf", sock, "control_group = \"nogroup\";"), sock,
				 umask_000);
	ck_assert_int_eq(stat(sock, &st), 0);
	ck_assert_msg((st.st_mode & 0777) == 0660, "mode %04o", st.st_mode & 0777);
	ck_assert_uint_eq(st.st_gid, 65534);
	ck_assert_int_eq(ctl_as_nobody(sock, "status", reply, sizeof(reply)), 0);
	ck_assert_msg(strncmp(reply, "ok\n", 3) == 0, "reply: %s", reply);
	stop_daemon(pid, sock);
	run_modvm(&res, 30, "check",
		  daemon_conf("g.conf", sock, "control_group = \"no-such-group-x\";"), NULL);
	run_expect(&res, 2, NULL, "control_group: no group named \"no-such-group-x\"");
	tmp_dir_remove();
}
END_TEST

static void few_fds(void)
{
	struct rlimit rl = { 48, 48 };
	setrlimit(RLIMIT_NOFILE, &rl);
}

static double cpu_seconds(pid_t pid)
{
	char path[64];
	unsigned long utime = 0, stime = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	const char *text = read_text(path);
	const char *p = strrchr(text, ')');
	ck_assert_ptr_nonnull(p);
	/* fields after the comm: state(3) … utime(14) stime(15) */
	ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
				&utime, &stime), 2);
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* 1000 idle connections against a modvm allowed 48 descriptors. */
START_TEST(idle_connection_flood_keeps_serving)
{
	const char *sock = tmp_path("ctl.sock");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct rlimit rl = { 4096, 4096 };
	static int fds[1000];
	char reply[4096];
	int open_ok = 0;

	setrlimit(RLIMIT_NOFILE, &rl);
	pid_t pid = start_daemon(daemon_conf("c.conf", sock, NULL), sock, few_fds);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	for (int i = 0; i < 1000; i++) {
		fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		ck_assert_int_ge(fds[i], 0);
		if (connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) == 0)
			open_ok++;
	}
	ck_assert_int_ge(open_ok, 40);	/* about what modvm has descriptors for, or more */
	usleep(300000);
	double cpu0 = cpu_seconds(pid);
	usleep(1000000);
	double spent = cpu_seconds(pid) - cpu0;
	ck_assert_msg(spent < 0.3, "modvm used %.2f s of CPU in 1 s with idle clients", spent);
	/* the operator still gets in, at once */
	ck_assert_int_eq(ctl_raw(sock, "status", reply, sizeof(reply), 3000), 0);
	ck_assert_msg(strncmp(reply, "ok\n0 idle defined", 17) == 0, "status: \"%s\"", reply);
	for (int i = 0; i < 1000; i++)
		close(fds[i]);
	stop_daemon(pid, sock);
	tmp_dir_remove();
}
END_TEST

/* A connection that says nothing is closed after a few seconds. */
START_TEST(silent_connection_closed)
{
	const char *sock = tmp_path("ctl.sock");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char c;

	pid_t pid = start_daemon(daemon_conf("c.conf", sock, NULL), sock, NULL);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = { 10, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ck_assert_int_eq(read(fd, &c, 1), 0);	/* EOF from the server, not our timeout */
	close(fd);
	stop_daemon(pid, sock);
	tmp_dir_remove();
}
END_TEST

/* A command sent in time is answered even when the loop stalled past the
 * idle deadline before reading it (here: the whole process stopped 6 s). */
START_TEST(command_sent_before_a_stall_answered)
{
	const char *sock = tmp_path("ctl.sock");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char reply[4096];

	pid_t pid = start_daemon(daemon_conf("c.conf", sock, NULL), sock, NULL);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	usleep(300000);	/* accepted, its idle timer running */
	ck_assert_int_eq(kill(pid, SIGSTOP), 0);
	ck_assert_int_eq(send(fd, "status\n", 7, MSG_NOSIGNAL), 7);
	sleep(6);
	ck_assert_int_eq(kill(pid, SIGCONT), 0);
	struct timeval tv = { 10, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssize_t n = read(fd, reply, sizeof(reply) - 1);
	reply[n > 0 ? n : 0] = '\0';
	close(fd);
	ck_assert_msg(strncmp(reply, "ok\n0 idle defined", 17) == 0, "reply (%zd): \"%s\"", n,
		      reply);
	stop_daemon(pid, sock);
	tmp_dir_remove();
}
END_TEST

/* A fake modvm on @sock: accepts one client, reads its command, then
 * closes (@answer false) or keeps silent until the client gives up. */
struct fake_server {
	int lfd;
	bool close_at_once;
};

static void *fake_serve(void *ud)
{
	struct fake_server *f = ud;
	char buf[512];
	int c = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);

	if (c < 0)
		return NULL;
	ssize_t n = read(c, buf, sizeof(buf));
	(void)n;
	if (!f->close_at_once)
		while (read(c, buf, sizeof(buf)) > 0)	/* until the client closes */
			;
	close(c);
	return NULL;
}

/* `modvm ctl` against a modvm that hangs up, or never answers: one line
 * saying which, exit 1, and no waiting forever. */
START_TEST(ctl_says_why_there_is_no_reply)
{
	const char *sock = tmp_path("fake.sock");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	for (int silent = 0; silent < 2; silent++) {
		struct fake_server f = { .close_at_once = !silent };
		pthread_t t;

		unlink(sock);
		f.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_eq(bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		ck_assert_int_eq(listen(f.lfd, 4), 0);
		ck_assert_int_eq(pthread_create(&t, NULL, fake_serve, &f), 0);
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		run_modvm(&res, 30, "ctl", sock, "status", NULL);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		pthread_join(t, NULL);
		close(f.lfd);
		ck_assert_int_eq(res.status, 1);
		ck_assert_str_eq(res.out, "");
		if (silent) {
			ck_assert_msg(strstr(res.err, "no reply within 10 s"), "stderr: %s", res.err);
			ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 20);
		} else {
			ck_assert_msg(strstr(res.err, "connection closed without a reply"),
				      "stderr: %s", res.err);
		}
		ck_assert_ptr_nonnull(strstr(res.err, sock));
	}
	tmp_dir_remove();
}
END_TEST

/* Another config naming the same socket: refused, the first keeps it. */
START_TEST(live_socket_not_taken_over)
{
	const char *sock = tmp_path("ctl.sock");
	char reply[4096];
	pid_t pid = start_daemon(daemon_conf("a.conf", sock, NULL), sock, NULL);

	run_modvm(&res, 30, "run", daemon_conf("b.conf", sock, NULL), NULL);
	run_expect(&res, 1, NULL, "in use (another modvm, or another program, listens there)");
	ck_assert_int_eq(ctl_raw(sock, "status", reply, sizeof(reply), 3000), 0);
	ck_assert_msg(strncmp(reply, "ok\n", 3) == 0, "the first modvm lost its socket: %s", reply);
	stop_daemon(pid, sock);
	tmp_dir_remove();
}
END_TEST

START_TEST(second_instance_of_a_config_refused)
{
	const char *sock = tmp_path("ctl.sock");
	const char *conf = daemon_conf("a.conf", sock, NULL);
	char reply[4096];
	pid_t pid = start_daemon(conf, sock, NULL);

	run_modvm(&res, 30, "run", conf, NULL);
	run_expect(&res, 1, NULL, "another modvm is running this config");
	ck_assert_int_eq(ctl_raw(sock, "status", reply, sizeof(reply), 3000), 0);
	ck_assert_msg(strncmp(reply, "ok\n", 3) == 0, "reply: %s", reply);
	stop_daemon(pid, sock);
	tmp_dir_remove();
}
END_TEST

/* A socket left by a modvm that died (SIGKILL) is replaced, and any
 * other kind of file is not. */
START_TEST(stale_socket_replaced_other_files_kept)
{
	const char *sock = tmp_path("ctl.sock");
	const char *conf = daemon_conf("a.conf", sock, NULL);

	kill_hard(start_daemon(conf, sock, NULL));
	ck_assert_int_eq(access(sock, F_OK), 0);
	stop_daemon(start_daemon(conf, sock, NULL), sock);
	write_text("ctl.sock", "precious\n");
	run_modvm(&res, 30, "run", conf, NULL);
	run_expect(&res, 2, NULL, "exists and is a regular file, not a socket");
	ck_assert_str_eq(read_text(sock), "precious\n");
	tmp_dir_remove();
}
END_TEST

/* /tmp-like directories: anyone could squat the name or replace it. */
START_TEST(socket_in_world_writable_dir_refused)
{
	char dir[300], sock[320];

	snprintf(dir, sizeof(dir), "%s", tmp_path("public"));
	ck_assert_int_eq(mkdir(dir, 0777), 0);
	ck_assert_int_eq(chmod(dir, 01777), 0);
	snprintf(sock, sizeof(sock), "%s/ctl.sock", dir);
	const char *conf = daemon_conf("a.conf", sock, NULL);
	run_modvm(&res, 30, "run", conf, NULL);
	run_expect(&res, 2, NULL, "is writable by others (mode 1777)");
	run_modvm(&res, 30, "check", conf, NULL);
	run_expect(&res, 2, NULL, "is writable by others (mode 1777)");
	ck_assert_int_ne(access(sock, F_OK), 0);
	tmp_dir_remove();
}
END_TEST

/* "auto": RUNTIME/<config>.sock; `modvm ctl NAME` finds it there. */
START_TEST(auto_socket_in_runtime_dir)
{
	const char *conf = daemon_conf("mybox.conf", "auto", NULL);
	const char *sock = tmp_path("mybox.sock");
	pid_t pid = start_daemon(conf, sock, NULL);

	run_modvm(&res, 10, "ctl", "mybox", "status", NULL);
	run_expect(&res, 0, "ok\n0 idle defined", NULL);
	run_modvm(&res, 10, "ctl", "mybox", "stop", NULL);
	run_expect(&res, 0, "ok stopping", NULL);
	ck_assert_int_eq(wait_exit(pid, 10000), 0);
	ck_assert_int_ne(access(sock, F_OK), 0);
	tmp_dir_remove();
}
END_TEST

/* The shipped Dynamic Memory example no longer puts its socket in /tmp. */
START_TEST(shipped_config_socket_not_in_tmp)
{
	char path[512];
	const char *src = getenv("MODVM_SOURCE_ROOT");

	snprintf(path, sizeof(path), "%s/etc/dynamic-memory.conf", src ? src : ".");
	const char *text = read_text(path);
	const char *key = strstr(text, "control_socket");
	ck_assert_ptr_nonnull(key);
	ck_assert_ptr_null(strstr(text, "\"/tmp"));
	tmp_dir();
	run_modvm(&res, 30, "check", path, NULL);
	run_expect(&res, 0, "OK", NULL);
	tmp_dir_remove();
}
END_TEST

int main(int argc, char **argv)
{
	int r = hostile_start(argc, argv);
	if (r)
		return r;
	Suite *s = suite_create("control");
	TCase *t = tcase_create("control");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, socket_is_0600_under_umask_000);
	tcase_add_test(t, other_uid_cannot_stop_the_vms);
	tcase_add_test(t, control_group_members_allowed);
	tcase_add_test(t, idle_connection_flood_keeps_serving);
	tcase_add_test(t, silent_connection_closed);
	tcase_add_test(t, command_sent_before_a_stall_answered);
	tcase_add_test(t, ctl_says_why_there_is_no_reply);
	tcase_add_test(t, live_socket_not_taken_over);
	tcase_add_test(t, second_instance_of_a_config_refused);
	tcase_add_test(t, stale_socket_replaced_other_files_kept);
	tcase_add_test(t, socket_in_world_writable_dir_refused);
	tcase_add_test(t, auto_socket_in_runtime_dir);
	tcase_add_test(t, shipped_config_socket_not_in_tmp);
	suite_add_tcase(s, t);
	return hostile_run(s);
}
