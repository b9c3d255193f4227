/*
 * Item 6: a fifo named as kernel, initrd, console, plugin or config hung
 * modvm for good (the file was opened, blocking, before the regular-file
 * check), and so did a plugin whose start blocks — with SIGTERM ignored
 * meanwhile.  Now every such path is opened without blocking and refused
 * at once with one line saying what it is; a plugin call has a deadline
 * (host.plugin_timeout) after which modvm names it and exits 1; and
 * SIGTERM during a stuck start ends modvm within the grace period, naming
 * the plugin, instead of never.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "boot/boot.h"
#include "config/config.h"
#include "hostile.h"
#include "run_modvm.h"

static struct run_result res;

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static const char *fifo(const char *name)
{
	const char *p = tmp_path(name);

	ck_assert_int_eq(mkfifo(p, 0600), 0);
	return p;
}

/* `check` and `run` refuse @conf at once (well under the 10 s allowed). */
static void refused_fast(const char *conf, int status, const char *what)
{
	for (int i = 0; i < 2; i++) {
		double t0 = now_s();
		run_modvm(&res, 10, i ? "run" : "check", conf, NULL);
		ck_assert_msg(res.status == status, "%s: exit %d\n%s", i ? "run" : "check",
			      res.status, res.err);
		ck_assert_msg(strstr(res.err, what), "%s: no \"%s\" in\n%s", i ? "run" : "check",
			      what, res.err);
		ck_assert_msg(now_s() - t0 < 5, "took %.1f s", now_s() - t0);
	}
}

START_TEST(fifo_as_kernel_initrd_or_console)
{
	const char *k = fifo("vmlinuz");
	refused_fast(write_text("k.conf", "vms = ( { name = \"v\"; kernel = \"%s\"; } );\n", k), 2,
		     "vmlinuz: is a fifo, not a regular file");
	const char *i = fifo("initrd");
	refused_fast(write_text("i.conf", "vms = ( { name = \"v\"; kernel = \"builtin:demo\";\n"
					  "  initrd = \"%s\"; } );\n", i),
		     2, "initrd: is a fifo, not a regular file");
	const char *c = fifo("console");
	refused_fast(write_text("c.conf", "vms = ( { name = \"v\"; kernel = \"builtin:demo\";\n"
					  "  console = \"%s\"; } );\n", c),
		     2, "console: is a fifo, not a regular file");
	tmp_dir_remove();
}
END_TEST

START_TEST(fifo_as_config_or_include)
{
	const char *conf = fifo("fifo.conf");
	double t0 = now_s();
	run_modvm(&res, 10, "check", conf, NULL);
	run_expect(&res, 2, NULL, "fifo.conf: is a fifo, not a regular file");
	fifo("part.conf");
	conf = write_text("main.conf", "@include \"part.conf\"\nvms = ();\n");
	run_modvm(&res, 10, "check", conf, NULL);
	run_expect(&res, 2, NULL, "part.conf: is a fifo, not a regular file");
	ck_assert_ptr_nonnull(strstr(res.err, "main.conf:1: included from here"));
	ck_assert(now_s() - t0 < 5);
	tmp_dir_remove();
}
END_TEST

START_TEST(fifo_as_plugin)
{
	char dir[300];

	snprintf(dir, sizeof(dir), "%s", tmp_path("plugins"));
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	char so[400];
	snprintf(so, sizeof(so), "%s/evil.so", dir);
	ck_assert_int_eq(mkfifo(so, 0600), 0);
	const char *conf = write_text("p.conf", "plugins = { path = [ \"%s\" ];\n"
						"  evil = { enabled = true; }; };\n", dir);
	double t0 = now_s();
	run_modvm(&res, 10, "check", conf, NULL);
	run_expect(&res, 2, NULL, "evil.so: is a fifo, not a regular file");
	ck_assert(now_s() - t0 < 5);
	tmp_dir_remove();
}
END_TEST

/* The library calls behind those, in-process: they return, they do not block. */
START_TEST(library_never_opens_a_fifo_blocking)
{
	const char *k = fifo("k");
	char err[512];
	struct modvm__boot_config bc = { .kernel = k, .vcpus = 1 };
	struct modvm__boot_info info;
	struct modvm__cfgfile *cf;

	ck_assert_int_lt(modvm__boot_load(&bc, &info, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "is a fifo"));
	ck_assert_int_lt(modvm__boot_check(k, NULL, err, sizeof(err)), 0);
	ck_assert_int_lt(modvm__config_open(fifo("c.conf"), &cf), 0);
	tmp_dir_remove();
}
END_TEST

/* Found by fuzz_config: libconfig's scanner exit()s the process on an
 * @include it cannot read ("" or a directory); a NUL byte hides what
 * follows from us.  Refused with file:line, in-process too. */
START_TEST(include_of_a_directory_or_nothing)
{
	static const char nul[] = "vms = ();\n@include \"\0x\"\n";
	struct modvm__cfgfile *cf;
	char text[300];

	snprintf(text, sizeof(text), "vms = ();\n@include \"%s\"\n", tmp_dir());
	const char *dir = write_text("dir.conf", "%s", text);
	const char *none = write_text("none.conf", "@include \"\"\nvms = ();\n");
	const char *zero = tmp_path("nul.conf");
	int fd = open(zero, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_eq(write(fd, nul, sizeof(nul) - 1), (ssize_t)sizeof(nul) - 1);
	close(fd);
	ck_assert_int_lt(modvm__config_open(dir, &cf), 0);	/* returns: no exit() */
	ck_assert_int_lt(modvm__config_open(none, &cf), 0);
	ck_assert_int_lt(modvm__config_open(zero, &cf), 0);
	run_modvm(&res, 10, "check", dir, NULL);
	run_expect(&res, 2, NULL, "Is a directory");
	ck_assert_ptr_nonnull(strstr(res.err, "dir.conf:2: included from here"));
	run_modvm(&res, 10, "check", none, NULL);
	run_expect(&res, 2, NULL, "none.conf:1: @include needs a file name in quotes");
	run_modvm(&res, 10, "check", zero, NULL);
	run_expect(&res, 2, NULL, "nul.conf:2: a NUL byte: not a text file");
	ck_assert_ptr_null(strstr(res.err, "flex"));
	tmp_dir_remove();
}
END_TEST

static const char *block_conf(const char *name, int timeout)
{
	return write_text(name, "host = { plugin_timeout = %d; };\n"
				"plugins = { fixture-block = { enabled = true; }; };\n", timeout);
}

/* A start that never returns: named, exit 1, after host.plugin_timeout. */
START_TEST(blocking_start_bounded_by_plugin_timeout)
{
	double t0 = now_s();

	setenv("MODVM_FIXTURE_BLOCK", "start", 1);
	run_modvm(&res, 30, "run", block_conf("b.conf", 1), NULL);
	run_expect(&res, 1, NULL,
		   "plugin fixture-block: start: did not return within 1 s (host.plugin_timeout)");
	ck_assert_msg(now_s() - t0 < 10, "took %.1f s", now_s() - t0);
	/* validate is bounded the same way, and `check` runs it */
	setenv("MODVM_FIXTURE_BLOCK", "validate", 1);
	run_modvm(&res, 30, "check", block_conf("v.conf", 1), NULL);
	run_expect(&res, 1, NULL, "plugin fixture-block: validate: did not return within 1 s");
	unsetenv("MODVM_FIXTURE_BLOCK");
	tmp_dir_remove();
}
END_TEST

/*
 * modvm on @conf with fixture-block stuck at @stage; once it is, SIGTERM:
 * modvm must end within the grace (exit 1) with stderr naming @what.
 */
static void sigterm_while_blocked(const char *stage, const char *conf, const char *what)
{
	const char *log = tmp_path("fixture.log");
	char errpath[300], blocking[64];

	snprintf(errpath, sizeof(errpath), "%s", tmp_path("stderr"));
	snprintf(blocking, sizeof(blocking), "fixture-block blocking %s", stage);
	int err = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	setenv("MODVM_FIXTURE_LOG", log, 1);
	setenv("MODVM_FIXTURE_BLOCK", stage, 1);
	pid_t pid = modvm_spawn(conf, -1, err, NULL, NULL);
	close(err);
	unsetenv("MODVM_FIXTURE_LOG");
	unsetenv("MODVM_FIXTURE_BLOCK");
	for (int i = 0; i < 1000 && !strstr(read_text(log), blocking); i++)
		usleep(10000);
	ck_assert_ptr_nonnull(strstr(read_text(log), blocking));
	double t0 = now_s();
	kill(pid, SIGTERM);
	int rc = wait_exit(pid, 15000);
	if (rc < 0)
		kill_hard(pid);
	ck_assert_msg(rc == 1, "exit %d after SIGTERM (-1: still running after 15 s)", rc);
	ck_assert_msg(now_s() - t0 < 8, "took %.1f s", now_s() - t0);
	ck_assert_msg(strstr(read_text(errpath), what), "stderr: %s", read_text(errpath));
	tmp_dir_remove();
}

/* SIGTERM while a plugin's start is stuck: modvm ends within the grace. */
START_TEST(sigterm_during_blocking_start)
{
	sigterm_while_blocked("start", block_conf("b.conf", 600),
			      "plugin fixture-block: start: still running 3 s after signal 15");
}
END_TEST

/* SIGTERM while a plugin's event handler is stuck: the handler is under
 * the watchdog too, so modvm ends within the grace, naming it (it ignored
 * SIGINT and SIGTERM for good before). */
START_TEST(sigterm_during_blocking_handler)
{
	const char *conf = write_text("h.conf", "host = { plugin_timeout = 600; control_socket = "
				      "\"%s\"; };\nplugins = { fixture-block = { enabled = true; "
				      "}; };\n", tmp_path("ctl.sock"));

	sigterm_while_blocked("handler", conf, "plugin fixture-block: handler of fixture.block: "
					       "still running 3 s after signal 15");
}
END_TEST

/* A stop that hangs after the first SIGTERM: the loop took that one and
 * stops gracefully (the normal deadline); a second SIGTERM ends it. */
START_TEST(second_sigterm_during_hung_stop)
{
	const char *log = tmp_path("fixture.log");
	const char *sock = tmp_path("ctl.sock");
	char errpath[300];

	snprintf(errpath, sizeof(errpath), "%s", tmp_path("stderr"));
	int err = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	const char *conf = write_text("s.conf", "host = { plugin_timeout = 600; control_socket = \"%s\"; };\n"
						"plugins = { fixture-block = { enabled = true; }; };\n",
				      sock);
	setenv("MODVM_FIXTURE_LOG", log, 1);
	setenv("MODVM_FIXTURE_BLOCK", "stop", 1);
	pid_t pid = modvm_spawn(conf, -1, err, NULL, NULL);
	close(err);
	unsetenv("MODVM_FIXTURE_LOG");
	unsetenv("MODVM_FIXTURE_BLOCK");
	ck_assert(wait_for_ctl(sock, 10000));
	kill(pid, SIGTERM);
	for (int i = 0; i < 1000 && !strstr(read_text(log), "blocking stop"); i++)
		usleep(10000);
	ck_assert_ptr_nonnull(strstr(read_text(log), "fixture-block blocking stop"));
	usleep(500000);
	ck_assert_int_eq(wait_exit(pid, 0), -1);	/* graceful: not cut short */
	double t0 = now_s();
	kill(pid, SIGTERM);
	int rc = wait_exit(pid, 15000);
	if (rc < 0)
		kill_hard(pid);
	ck_assert_msg(rc == 1, "exit %d after the second SIGTERM", rc);
	ck_assert(now_s() - t0 < 8);
	ck_assert_msg(strstr(read_text(errpath),
			     "plugin fixture-block: stop: still running 3 s after signal 15"),
		      "stderr: %s", read_text(errpath));
	tmp_dir_remove();
}
END_TEST

int main(int argc, char **argv)
{
	int r = hostile_start(argc, argv);
	if (r)
		return r;
	Suite *s = suite_create("files");
	TCase *t = tcase_create("files");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, fifo_as_kernel_initrd_or_console);
	tcase_add_test(t, fifo_as_config_or_include);
	tcase_add_test(t, fifo_as_plugin);
	tcase_add_test(t, library_never_opens_a_fifo_blocking);
	tcase_add_test(t, include_of_a_directory_or_nothing);
	tcase_add_test(t, blocking_start_bounded_by_plugin_timeout);
	tcase_add_test(t, sigterm_during_blocking_start);
	tcase_add_test(t, sigterm_during_blocking_handler);
	tcase_add_test(t, second_sigterm_during_hung_stop);
	suite_add_tcase(s, t);
	return hostile_run(s);
}
