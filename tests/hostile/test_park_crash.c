/*
 * Item 2: a crash or SIGKILL must not leave host cores parked for ever.
 * `modvm run` as a daemon (control socket, no VM: no KVM needed) with
 * power-park on a fixture sysfs tree and an idle /proc/stat copy parks
 * cpu1; the test SIGKILLs it.  Then either the next start or
 * `modvm recover CONFIG` must put everything back: an offlined core that
 * the (real) kernel no longer lists in the online mask, and a governor
 * left at powersave that must not become "the original".
 *
 * Started as root with --user nobody (the packaged unit's way), power-park
 * opens the sysfs files and its journal before the switch: it parks and
 * restores as nobody, and root's `modvm recover` trusts the journal a
 * SIGKILLed run left (root only).
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostile.h"
#include "run_modvm.h"
#include "sysfs_tree.h"

static char root[256];

static const char *park_conf(const char *action, const char *cores)
{
	const char *src = getenv("MODVM_SOURCE_ROOT");

	return write_text("park.conf",
		"host = { control_socket = \"%s\"; };\n"
		"plugins = { core-parking = { enabled = true; interval_ms = 10; decrease_time = 1;\n"
		"  proc_stat = \"%s/tests/fixtures/park/proc-stat-half-t0\"; };\n"
		"  power-park = { enabled = true; action = \"%s\";\n"
		"  cores = \"%s\"; sysfs_root = \"%s\";\n"
		"  state_file = \"%s\"; }; };\n",
		tmp_path("ctl.sock"), src ? src : ".", action, cores, root,
		tmp_path("power-park.state"));
}

static bool parked(const char *action)
{
	if (strcmp(action, "cpufreq") == 0)
		return strcmp(sysfs_tree_read(root, "cpu1/cpufreq/scaling_governor"), "powersave") == 0;
	return strcmp(sysfs_tree_read(root, "cpu1/online"), "0") == 0;
}

/* Starts the daemon (with @args, NULL: "-q") and waits until it has parked cpu1. */
static pid_t run_until_parked_with(const char *conf, const char *action, const char *const *args)
{
	pid_t pid = modvm_spawn(conf, -1, -1, NULL, args ? args : (const char *const[]){ "-q", NULL });

	ck_assert_msg(wait_for_ctl(tmp_path("ctl.sock"), 10000), "no control socket");
	for (int i = 0; i < 1000 && !parked(action); i++)
		usleep(10000);
	ck_assert_msg(parked(action), "cpu1 never parked (%s)", action);
	return pid;
}

static pid_t run_until_parked(const char *conf, const char *action)
{
	return run_until_parked_with(conf, action, NULL);
}

static void stop_daemon(pid_t pid)
{
	char reply[256];

	ck_assert_int_eq(ctl_raw(tmp_path("ctl.sock"), "stop", reply, sizeof(reply), 5000), 0);
	ck_assert_int_eq(wait_exit(pid, 10000), 0);
}

static void setup(void)
{
	snprintf(root, sizeof(root), "%s", sysfs_tree_create(2, "schedutil"));
	tmp_dir();
}

static void teardown(void)
{
	sysfs_tree_destroy(root);
	tmp_dir_remove();
}

/* The kernel drops an offline cpu from the online mask: the next start,
 * reading the mask, would neither manage cpu1 nor bring it back. */
START_TEST(sigkill_offline_then_next_start_restores)
{
	const char *conf = park_conf("offline", "");
	pid_t pid = run_until_parked(conf, "offline");

	kill_hard(pid);
	ck_assert_ptr_nonnull(strstr(read_text(tmp_path("power-park.state")), "cpu1/online\t1"));
	char mask[320];
	snprintf(mask, sizeof(mask), "%s/online", root);
	write_text(mask, "0\n");	/* what the kernel shows now */
	pid = modvm_spawn(conf, -1, -1, NULL, (const char *const[]){ "-q", NULL });
	ck_assert_msg(wait_for_ctl(tmp_path("ctl.sock"), 10000), "no control socket");
	ck_assert_str_eq(sysfs_tree_read(root, "cpu1/online"), "1");
	stop_daemon(pid);
	ck_assert_str_eq(sysfs_tree_read(root, "cpu1/online"), "1");
	ck_assert_int_ne(access(tmp_path("power-park.state"), F_OK), 0);
}
END_TEST

/* A governor left at powersave must not be saved as the original. */
START_TEST(sigkill_cpufreq_then_restart_keeps_original_governor)
{
	const char *conf = park_conf("cpufreq", "0-1");
	pid_t pid = run_until_parked(conf, "cpufreq");

	kill_hard(pid);
	pid = run_until_parked(conf, "cpufreq");	/* parks again, from the real original */
	stop_daemon(pid);
	ck_assert_str_eq(sysfs_tree_read(root, "cpu1/cpufreq/scaling_governor"), "schedutil");
	ck_assert_str_eq(sysfs_tree_read(root, "cpu0/cpufreq/scaling_governor"), "schedutil");
}
END_TEST

/* `modvm recover CONFIG`, the unit's ExecStopPost: restores and exits; while
 * the daemon runs it touches nothing and says why. */
START_TEST(recover_command_restores_after_sigkill)
{
	const char *conf = park_conf("offline", "0-1");
	struct run_result *res = calloc(1, sizeof(*res));
	pid_t pid = run_until_parked(conf, "offline");

	run_modvm(res, 30, "recover", conf, NULL);
	run_expect(res, 1, NULL, "another modvm is running this config");
	ck_assert_str_eq(sysfs_tree_read(root, "cpu1/online"), "0");
	kill_hard(pid);
	ck_assert_str_eq(sysfs_tree_read(root, "cpu1/online"), "0");
	run_modvm(res, 30, "recover", conf, NULL);
	run_expect(res, 0, "recovered", "cpu1/online: restored \"1\"");
	ck_assert_str_eq(sysfs_tree_read(root, "cpu1/online"), "1");
	ck_assert_int_ne(access(tmp_path("power-park.state"), F_OK), 0);
	/* nothing left: recover again is a no-op that succeeds */
	run_modvm(res, 30, "recover", conf, NULL);
	run_expect(res, 0, "recovered", NULL);
	free(res);
}
END_TEST

/* The journal is gone, or (as nobody, in root's directory) cut to nothing. */
static void journal_empty(void)
{
	const char *state = tmp_path("power-park.state");
	ck_assert_msg(access(state, F_OK) != 0 || read_text(state)[0] == '\0',
		      "journal left: %s", read_text(state));
}

START_TEST(switched_to_nobody_parks_restores_and_is_recovered)
{
	static const char *const as_nobody[] = { "-q", "--user", "nobody", NULL };
	const char *action = _i == 0 ? "offline" : "cpufreq";
	char v[64];

	if (geteuid() != 0) {
		printf("SKIP: --user needs root\n");
		return;
	}
	const char *conf = park_conf(action, "0-1");
	pid_t pid = run_until_parked_with(conf, action, as_nobody);
	ck_assert_msg(strstr(proc_status(pid, "", "Uid", v, sizeof(v)), "65534\t65534"),
		      "not running as nobody: %s", v);
	ck_assert_ptr_nonnull(strstr(read_text(tmp_path("power-park.state")), "cpu1/"));
	stop_daemon(pid);
	ck_assert_msg(!parked(action), "cpu1 left parked (%s) by a stop as nobody", action);
	journal_empty();

	/* SIGKILLed as nobody: root's recover trusts the journal and restores */
	pid = run_until_parked_with(conf, action, as_nobody);
	kill_hard(pid);
	ck_assert(parked(action));
	struct run_result *res = calloc(1, sizeof(*res));
	run_modvm(res, 30, "recover", conf, NULL);
	run_expect(res, 0, "recovered", "restored");
	free(res);
	ck_assert(!parked(action));
	journal_empty();
}
END_TEST

int main(int argc, char **argv)
{
	int r = hostile_start(argc, argv);
	if (r)
		return r;
	Suite *s = suite_create("park_crash");
	TCase *t = tcase_create("park_crash");
	tcase_set_timeout(t, 90);
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, sigkill_offline_then_next_start_restores);
	tcase_add_test(t, sigkill_cpufreq_then_restart_keeps_original_governor);
	tcase_add_test(t, recover_command_restores_after_sigkill);
	tcase_add_loop_test(t, switched_to_nobody_parks_restores_and_is_recovered, 0, 2);
	suite_add_tcase(s, t);
	return hostile_run(s);
}
