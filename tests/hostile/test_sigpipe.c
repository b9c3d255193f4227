/*
 * Item 1: one hang-up must not kill every VM.  A control client that sends
 * a command and closes before the reply, and a stdout whose reader is gone
 * (`modvm run X | head`), used to kill modvm with SIGPIPE (exit 141): no
 * stop, no fini, the socket file left behind.  So did the terminal of a
 * foreground `modvm run` closing (SIGHUP), Ctrl-\ (SIGQUIT) and any stray
 * SIGUSR1, SIGUSR2 or SIGALRM.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "host/host.h"
#include "hostile.h"
#include "run_modvm.h"

/* Connects, sends a command and closes at once, @n times. */
static void hang_up(const char *sock, int n)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	for (int i = 0; i < n; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(fd, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			ck_assert_int_eq(send(fd, "status\n", 7, MSG_NOSIGNAL), 7);
		close(fd);
	}
}

START_TEST(hangup_client_does_not_kill_modvm)
{
	const char *sock = tmp_path("ctl.sock");
	const char *conf = write_text("hangup.conf",
		"host = { control_socket = \"%s\"; };\n"
		"vms = ( { name = \"idle\"; autostart = false; } );\n", sock);
	pid_t pid = modvm_spawn(conf, -1, -1, NULL, (const char *const[]){ "-q", NULL });
	char reply[4096];

	ck_assert_msg(wait_for_path(sock, 10000), "no control socket");
	hang_up(sock, 200);
	usleep(100000);
	ck_assert_int_eq(wait_exit(pid, 0), -1);	/* still running */
	ck_assert_int_eq(ctl_raw(sock, "status", reply, sizeof(reply), 5000), 0);
	ck_assert_msg(strncmp(reply, "ok\n0 idle defined", 17) == 0, "status: %s", reply);
	ck_assert_int_eq(ctl_raw(sock, "stop", reply, sizeof(reply), 5000), 0);
	ck_assert_int_eq(wait_exit(pid, 10000), 0);
	ck_assert_int_ne(access(sock, F_OK), 0);	/* stop ran: the socket is gone */
	tmp_dir_remove();
}
END_TEST

/* `modvm run X | head -0`: stdout is a pipe nobody reads. */
START_TEST(closed_stdout_does_not_kill_modvm)
{
	int p[2];
	char errpath[64];

	ck_assert_int_eq(pipe(p), 0);
	close(p[0]);
	snprintf(errpath, sizeof(errpath), "%s", tmp_path("stderr"));
	int err = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(err, 0);
	pid_t pid = modvm_spawn(run_conf("cli-good.conf"), p[1], err, NULL, NULL);
	close(p[1]);
	close(err);
	int rc = wait_exit(pid, 30000);
	ck_assert_msg(rc == 0, "exit %d (141 = SIGPIPE), stderr:\n%s", rc, read_text(errpath));
	tmp_dir_remove();
}
END_TEST

static pid_t start_idle_daemon(const char *sock)
{
	const char *conf = write_text("idle.conf",
		"host = { control_socket = \"%s\"; };\n"
		"vms = ( { name = \"idle\"; autostart = false; } );\n", sock);
	pid_t pid = modvm_spawn(conf, -1, -1, NULL, (const char *const[]){ "-q", NULL });

	ck_assert_msg(wait_for_path(sock, 10000), "no control socket");
	return pid;
}

/* A hang-up (the terminal closed) and Ctrl-\ are stops: everything undone. */
START_TEST(hangup_and_quit_stop_cleanly)
{
	const int sigs[] = { SIGHUP, SIGQUIT };

	for (size_t i = 0; i < 2; i++) {
		const char *sock = tmp_path("ctl.sock");
		pid_t pid = start_idle_daemon(sock);

		ck_assert_int_eq(kill(pid, sigs[i]), 0);
		int rc = wait_exit(pid, 10000);
		ck_assert_msg(rc == 0, "%s: exit %d (%d: killed by it)", strsignal(sigs[i]), rc,
			      128 + sigs[i]);
		ck_assert_msg(access(sock, F_OK) != 0, "%s: the socket was left behind",
			      strsignal(sigs[i]));
	}
	tmp_dir_remove();
}
END_TEST

/* Signals modvm has no use for change nothing. */
START_TEST(stray_signals_ignored)
{
	const char *sock = tmp_path("ctl.sock");
	pid_t pid = start_idle_daemon(sock);
	const int sigs[] = { SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGPWR };
	char reply[4096];

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		ck_assert_int_eq(kill(pid, sigs[i]), 0);
	usleep(200000);
	ck_assert_int_eq(wait_exit(pid, 0), -1);	/* still running */
	ck_assert_int_eq(ctl_raw(sock, "status", reply, sizeof(reply), 5000), 0);
	ck_assert_msg(strncmp(reply, "ok\n0 idle defined", 17) == 0, "status: %s", reply);
	ck_assert_int_eq(ctl_raw(sock, "stop", reply, sizeof(reply), 5000), 0);
	ck_assert_int_eq(wait_exit(pid, 10000), 0);
	tmp_dir_remove();
}
END_TEST

static volatile bool clients_done;

static void *client_thread(void *ud)
{
	hang_up(ud, 100);
	clients_done = true;
	return NULL;
}

/*
 * libmodvm itself, in a process that keeps SIGPIPE's default action (an
 * embedder, a test): the control socket's replies use MSG_NOSIGNAL.
 */
START_TEST(library_replies_never_raise_sigpipe)
{
	const char *sock = tmp_path("lib.sock");
	/* "off": this process is the host, and the test's own client thread
	 * and polling are not modvm's to lock down (modvm's binary runs
	 * strict in the test above). */
	const char *conf = write_text("lib.conf",
		"host = { control_socket = \"%s\"; sandbox = \"off\"; };\n"
		"vms = ( { name = \"idle\"; autostart = false; } );\n", sock);
	struct modvm_host *host = modvm__host_new();
	pthread_t t;

	signal(SIGPIPE, SIG_DFL);
	ck_assert_ptr_nonnull(host);
	ck_assert_int_eq(modvm__host_load_config(host, conf), 0);
	ck_assert_int_eq(modvm__host_load_plugins(host), 0);
	ck_assert_int_eq(modvm__host_start(host), 0);
	ck_assert_int_eq(modvm__host_launch(host), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, client_thread, (void *)sock), 0);
	while (!clients_done) {
		modvm__loop_run_once(modvm__host_loop(host));
		usleep(200);
	}
	pthread_join(t, NULL);
	for (int i = 0; i < 50; i++) {
		modvm__loop_run_once(modvm__host_loop(host));
		usleep(1000);
	}
	modvm__host_free(host);
	tmp_dir_remove();
}
END_TEST

int main(int argc, char **argv)
{
	int r = hostile_start(argc, argv);
	if (r)
		return r;
	Suite *s = suite_create("sigpipe");
	TCase *t = tcase_create("sigpipe");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, hangup_client_does_not_kill_modvm);
	tcase_add_test(t, closed_stdout_does_not_kill_modvm);
	tcase_add_test(t, library_replies_never_raise_sigpipe);
	tcase_add_test(t, hangup_and_quit_stop_cleanly);
	tcase_add_test(t, stray_signals_ignored);
	suite_add_tcase(s, t);
	return hostile_run(s);
}
