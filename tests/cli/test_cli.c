/*
 * Runs the built `modvm` binary (argv[1]) and checks exit codes and the
 * messages a user sees.  Configs come from tests/fixtures/configs and etc/.
 */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *modvm_exe;
static char src_root[PATH_MAX];

struct result {
	int status;		/* exit code, or -1 if it died of a signal */
	char out[16384];
	char err[16384];
};

static void slurp(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	close(fd);
}

/* Runs modvm with the NULL-terminated extra arguments. */
static void run(struct result *res, ...)
{
	const char *argv[16] = { modvm_exe };
	char out_path[] = "/tmp/modvm-cli-out-XXXXXX", err_path[] = "/tmp/modvm-cli-err-XXXXXX";
	int out = mkstemp(out_path), err = mkstemp(err_path), status;
	size_t argc = 1;
	va_list ap;
	pid_t pid;

	ck_assert(out >= 0 && err >= 0);
	unlink(out_path);
	unlink(err_path);
	va_start(ap, res);
	for (const char *a; argc < 15 && (a = va_arg(ap, const char *));)
		argv[argc++] = a;
	va_end(ap);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(out, 1);
		dup2(err, 2);
		execv(modvm_exe, (char *const *)argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	res->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	slurp(out, res->out, sizeof(res->out));
	slurp(err, res->err, sizeof(res->err));
}

static void expect(const struct result *res, int status, const char *out_has,
		   const char *err_has)
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

static const char *conf(const char *name)
{
	static char path[2][PATH_MAX + 64];
	static int k;

	k ^= 1;
	if (strcmp(name, "modvm.conf") == 0)
		snprintf(path[k], sizeof(path[k]), "%s/etc/modvm.conf", src_root);
	else
		snprintf(path[k], sizeof(path[k]), "%s/tests/fixtures/configs/%s", src_root, name);
	return path[k];
}

static struct result res;

START_TEST(test_missing_file)
{
	run(&res, "check", "/nonexistent/modvm.conf", NULL);
	expect(&res, 2, NULL, "/nonexistent/modvm.conf");
}
END_TEST

START_TEST(test_syntax_error)
{
	char where[PATH_MAX + 80];

	run(&res, "check", conf("cli-syntax.conf"), NULL);
	snprintf(where, sizeof(where), "%s:5", conf("cli-syntax.conf"));
	expect(&res, 2, NULL, where);
}
END_TEST

START_TEST(test_unknown_plugin)
{
	run(&res, "run", conf("cli-unknown-plugin.conf"), NULL);
	expect(&res, 2, NULL, "plugin no-such-plugin: not found");
}
END_TEST

START_TEST(test_bad_value)
{
	run(&res, "check", conf("cli-bad-value.conf"), NULL);
	expect(&res, 2, NULL, "loud");
	ck_assert_ptr_nonnull(strstr(res.err, "log_level"));
}
END_TEST

START_TEST(test_bad_plugin_value)
{
	run(&res, "check", conf("cli-bad-plugin-value.conf"), NULL);
	expect(&res, 2, NULL, "rate");
	ck_assert_ptr_nonnull(strstr(res.err, "500"));
}
END_TEST

START_TEST(test_check_example)
{
	run(&res, "check", conf("modvm.conf"), NULL);
	expect(&res, 0, "OK", NULL);
}
END_TEST

START_TEST(test_run_example)
{
	run(&res, "run", conf("modvm.conf"), NULL);
	expect(&res, 0, "stopped", NULL);
	ck_assert_ptr_nonnull(strstr(res.out, "event vm.lifecycle"));
}
END_TEST

START_TEST(test_run_plugins)
{
	run(&res, "run", conf("cli-good.conf"), NULL);
	expect(&res, 0, "loaded plugin fixture-good 1.2.3 (other)\n", NULL);
	ck_assert_ptr_nonnull(strstr(res.out, "loaded plugin fixture-dep 0.1.0 (device)\n"));
	ck_assert_ptr_nonnull(strstr(res.out, "started 2 plugins, 1 VMs\n"));
	ck_assert_ptr_nonnull(strstr(res.out, "event fixture.tick"));
	ck_assert_ptr_nonnull(strstr(res.out, "stopped\n"));
	ck_assert_str_eq(res.err, "");
}
END_TEST

START_TEST(test_run_trace_events)
{
	run(&res, "run", "--trace-events", conf("cli-good.conf"), NULL);
	expect(&res, 0, "stopped", "vm.lifecycle");
}
END_TEST

START_TEST(test_run_init_failure)
{
	run(&res, "run", conf("cli-init-fails.conf"), NULL);
	expect(&res, 1, NULL, "fixture-init-fails.so: init failed: ");
}
END_TEST

START_TEST(test_quiet_and_verbose)
{
	run(&res, "-q", "run", conf("cli-good.conf"), NULL);
	expect(&res, 0, NULL, NULL);
	ck_assert_str_eq(res.out, "");
	run(&res, "-v", "run", conf("cli-good.conf"), NULL);
	expect(&res, 0, "stopped", "fixture-good: ready, greeting hi");
}
END_TEST

START_TEST(test_version_help)
{
	run(&res, "--version", NULL);
	expect(&res, 0, "modvm 0.1.0 (plugin ABI 1.0)", NULL);
	run(&res, "--help", NULL);
	expect(&res, 0, "Usage: modvm", NULL);
}
END_TEST

START_TEST(test_bad_usage)
{
	run(&res, NULL);
	expect(&res, 2, NULL, "no command given");
	run(&res, "frobnicate", NULL);
	expect(&res, 2, NULL, "unknown command: frobnicate");
	run(&res, "run", NULL);
	expect(&res, 2, NULL, "missing CONFIG");
	run(&res, "check", "a.conf", "b.conf", NULL);
	expect(&res, 2, NULL, "too many arguments");
	run(&res, "--bogus", "plugins", NULL);
	expect(&res, 2, NULL, "unknown option: --bogus");
	run(&res, "plugins", "--describe", NULL);
	expect(&res, 2, NULL, "option needs a value");
	run(&res, "check", "--trace-events", conf("modvm.conf"), NULL);
	expect(&res, 2, NULL, "--trace-events belongs to 'run'");
}
END_TEST

START_TEST(test_describe)
{
	run(&res, "plugins", "--describe", "fixture-good", NULL);
	expect(&res, 0, "fixture-good 1.2.3\n", NULL);
	ck_assert_ptr_nonnull(strstr(res.out, "greeting"));
	ck_assert_ptr_nonnull(strstr(res.out, "range 1..100"));
	ck_assert_ptr_nonnull(strstr(res.out, "range 4K..1G"));
	ck_assert_ptr_nonnull(strstr(res.out, "choices fast|slow"));
	ck_assert_ptr_nonnull(strstr(res.out, "weight"));
	ck_assert_ptr_nonnull(strstr(res.out, "fixture.tick"));
	ck_assert_ptr_nonnull(strstr(res.out, "license      MIT"));
	run(&res, "plugins", "--describe", "fixture-dep", NULL);
	expect(&res, 0, "requires     fixture-good\n", NULL);
}
END_TEST

START_TEST(test_describe_refused)
{
	run(&res, "plugins", "--describe", "fixture-abi-minor", NULL);
	expect(&res, 2, NULL, "built for ABI 1.5, this modvm supports up to 1.0");
	run(&res, "plugins", "--describe", "fixture-absent", NULL);
	expect(&res, 2, NULL, "plugin fixture-absent: not found");
}
END_TEST

START_TEST(test_list)
{
	run(&res, "plugins", NULL);
	expect(&res, 0, "fixture-good", "fixture-nosym.so: not a modvm plugin");
	ck_assert_ptr_nonnull(strstr(res.out, "fixture-dep"));
	ck_assert_ptr_null(strstr(res.out, "fixture-nosym"));
}
END_TEST

int main(int argc, char **argv)
{
	Suite *s = suite_create("cli");
	TCase *t = tcase_create("cli");
	const char *root = getenv("MODVM_SOURCE_ROOT");
	SRunner *sr;
	int failed;

	if (argc < 2 || !root || !realpath(root, src_root)) {
		fprintf(stderr, "usage: MODVM_SOURCE_ROOT=DIR %s MODVM_EXE\n", argv[0]);
		return 2;
	}
	modvm_exe = argv[1];
	tcase_set_timeout(t, 60);
	tcase_add_test(t, test_missing_file);
	tcase_add_test(t, test_syntax_error);
	tcase_add_test(t, test_unknown_plugin);
	tcase_add_test(t, test_bad_value);
	tcase_add_test(t, test_bad_plugin_value);
	tcase_add_test(t, test_check_example);
	tcase_add_test(t, test_run_example);
	tcase_add_test(t, test_run_plugins);
	tcase_add_test(t, test_run_trace_events);
	tcase_add_test(t, test_run_init_failure);
	tcase_add_test(t, test_quiet_and_verbose);
	tcase_add_test(t, test_version_help);
	tcase_add_test(t, test_bad_usage);
	tcase_add_test(t, test_describe);
	tcase_add_test(t, test_describe_refused);
	tcase_add_test(t, test_list);
	suite_add_tcase(s, t);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
