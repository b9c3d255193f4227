/*
 * The power-park journal (statefile.h) on a fixture sysfs tree: what the
 * actions change is on disk before it is changed, a run killed with
 * SIGKILL leaves it there, the next owner writes the old values back
 * first, and neither a second owner, a symlink, a file others may write
 * nor an entry naming any other file gets anything written.  Held open
 * (for a switch to host.user) it is written in place and read up to its
 * "# end" line.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actions.h"
#include "statefile.h"
#include "sysfs_tree.h"

static char root[256], state[300];

static void setup(void)
{
	snprintf(root, sizeof(root), "%s", sysfs_tree_create(4, "schedutil"));
	snprintf(state, sizeof(state), "%s/power-park.state", root);
}

static void teardown(void)
{
	sysfs_tree_destroy(root);
}

static const char *gov(unsigned cpu)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "cpu%u/cpufreq/scaling_governor", cpu);
	return sysfs_tree_read(root, rel);
}

static const char *online(unsigned cpu)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "cpu%u/online", cpu);
	return sysfs_tree_read(root, rel);
}

static char *slurp(const char *path)
{
	static char buf[8192];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	return buf;
}

/* Parks cpus 2 and 3 with @kind in a child that is then SIGKILLed. */
static void park_and_die(enum park_action kind)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		static struct park_state st;
		struct park_actions a;
		char err[256];

		if (park_state_open(&st, state, root, NULL, NULL, err, sizeof(err)) < 0 ||
		    park_actions_init(&a, kind, root) < 0)
			_exit(1);
		park_actions_set_journal(&a, &st);
		if (park_actions_park(&a, 2) < 0 || park_actions_park(&a, 3) < 0)
			_exit(2);
		raise(SIGKILL);
		_exit(3);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d",
		      status);
}

START_TEST(journaled_before_the_change_and_forgotten_after)
{
	static struct park_state st;
	struct park_actions a;
	char err[256];

	ck_assert_int_eq(park_state_open(&st, state, root, NULL, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(park_actions_init(&a, PARK_ACTION_CPUFREQ, root), 0);
	park_actions_set_journal(&a, &st);
	ck_assert_int_eq(park_actions_park(&a, 1), 0);
	ck_assert_str_eq(gov(1), "powersave");
	char line[400];
	snprintf(line, sizeof(line), "%s/cpu1/cpufreq/scaling_governor\tschedutil\n", root);
	ck_assert_ptr_nonnull(strstr(slurp(state), line));
	snprintf(line, sizeof(line), "%s.tmp", state);
	ck_assert_int_eq(access(line, F_OK), -1);	/* renamed into place, nothing beside it */
	ck_assert_int_eq(park_actions_unpark(&a, 1), 0);
	ck_assert_str_eq(gov(1), "schedutil");
	/* an empty journal is no file at all */
	ck_assert_int_eq(access(state, F_OK), -1);
	park_state_close(&st);
}
END_TEST

/* The leftovers of a SIGKILLed run go back at the next open, before
 * anyone reads a governor: powersave is never taken for the original. */
START_TEST(sigkilled_cpufreq_run_restored_at_next_open)
{
	static struct park_state st;
	unsigned restored = 0, failed = 9;
	char err[256];

	park_and_die(PARK_ACTION_CPUFREQ);
	ck_assert_str_eq(gov(2), "powersave");
	ck_assert_str_eq(gov(3), "powersave");
	ck_assert_int_eq(park_state_open(&st, state, root, &restored, &failed, err, sizeof(err)), 0);
	ck_assert_uint_eq(restored, 2);
	ck_assert_uint_eq(failed, 0);
	ck_assert_str_eq(gov(2), "schedutil");
	ck_assert_str_eq(gov(3), "schedutil");
	ck_assert_int_eq(access(state, F_OK), -1);
	park_state_close(&st);
}
END_TEST

START_TEST(sigkilled_offline_run_recovered)
{
	unsigned restored = 0;
	char err[256];

	park_and_die(PARK_ACTION_OFFLINE);
	ck_assert_str_eq(online(2), "0");
	ck_assert_int_eq(park_state_recover(state, root, &restored, err, sizeof(err)), 0);
	ck_assert_uint_eq(restored, 2);
	ck_assert_str_eq(online(2), "1");
	ck_assert_str_eq(online(3), "1");
}
END_TEST

START_TEST(second_owner_refused_and_nothing_touched)
{
	static struct park_state st, other;
	struct park_actions a;
	char err[256];

	ck_assert_int_eq(park_state_open(&st, state, root, NULL, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(park_actions_init(&a, PARK_ACTION_OFFLINE, root), 0);
	park_actions_set_journal(&a, &st);
	ck_assert_int_eq(park_actions_park(&a, 1), 0);
	/* another process (flock is per open file): refused, naming the owner */
	pid_t pid = fork();
	if (pid == 0) {
		int rc = park_state_open(&other, state, root, NULL, NULL, err, sizeof(err));
		char want[64];
		snprintf(want, sizeof(want), "in use by another modvm (pid %d)", (int)getppid());
		_exit(rc == -EBUSY && strstr(err, want) ? 0 : 1);
	}
	int status;
	waitpid(pid, &status, 0);
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	/* `modvm recover` while it runs: refused, the parked core left to its owner */
	ck_assert_int_eq(park_state_recover(state, root, NULL, err, sizeof(err)), -EBUSY);
	ck_assert_str_eq(online(1), "0");
	park_actions_restore(&a);
	park_state_close(&st);
	ck_assert_str_eq(online(1), "1");
}
END_TEST

START_TEST(untrusted_journal_refused)
{
	static struct park_state st;
	char err[256], target[320];

	/* a symlink planted as the state file */
	snprintf(target, sizeof(target), "%s/elsewhere", root);
	ck_assert_int_eq(symlink(target, state), 0);
	ck_assert_int_lt(park_state_open(&st, state, root, NULL, NULL, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "symbolic link"));
	unlink(state);
	/* a journal others may write */
	int fd = open(state, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	fchmod(fd, 0666);
	close(fd);
	ck_assert_int_eq(park_state_open(&st, state, root, NULL, NULL, err, sizeof(err)), -EPERM);
	/* refused, it is left as it is: for its owner to see, not deleted */
	ck_assert_int_eq(access(state, F_OK), 0);
	unlink(state);
	/* a directory others may write */
	chmod(root, 0777);
	ck_assert_int_eq(park_state_open(&st, state, root, NULL, NULL, err, sizeof(err)), -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "writable by nobody else"));
	chmod(root, 0700);
}
END_TEST

/* Only cpu online/governor files and plain words are ever written back. */
START_TEST(foreign_entries_never_written)
{
	static struct park_state st;
	char victim[320], text[2400];
	unsigned restored = 9;

	snprintf(victim, sizeof(victim), "%s/victim", root);
	int fd = open(victim, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_eq(write(fd, "intact", 6), 6);
	close(fd);
	/* also what a journal written by host.user could say: take a core
	 * offline (cpu3: "0"), or name a cpu file outside the sysfs root */
	snprintf(text, sizeof(text),
		 "# modvm power-park state\n%s\troot\n%s/cpu1/online\t1;reboot\n"
		 "%s/cpu1/../victim/online\t0\n%s/cpu2/online\t1\n%s/cpu3/online\t0\n"
		 "%s/elsewhere/cpu1/online\t1\n",
		 victim, root, root, root, root, victim);
	fd = open(state, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	ck_assert(!park_state_valid("/etc/shadow", "x"));
	ck_assert(!park_state_valid("relative/cpu1/online", "1"));
	ck_assert(!park_state_valid("/sys/devices/system/cpu/cpu3/online", "0"));
	ck_assert(park_state_valid("/sys/devices/system/cpu/cpu12/cpufreq/scaling_governor",
				   "schedutil"));
	ck_assert_int_eq(park_state_open(&st, state, root, &restored, NULL, text, sizeof(text)), 0);
	ck_assert_uint_eq(restored, 1);	/* cpu2/online only */
	ck_assert_str_eq(slurp(victim), "intact");
	ck_assert_str_eq(online(3), "1");
	park_state_close(&st);
}
END_TEST

/* Writes @text as the journal, this user's and 0600: one to believe. */
static void plant_journal(const char *text)
{
	int fd = open(state, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* Makes ROOT/@rel a character device that reads zeros and refuses every
 * write (ENOSPC), as /dev/full does: a sysfs file the kernel will not
 * take a value for. */
static void make_full(const char *rel)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_msg(mknod(path, S_IFCHR | 0600, makedev(1, 7)) == 0, "mknod %s: %s", path,
		      strerror(errno));
}

/* Entries under another sysfs root belong to a run of another config
 * that shares the state file: kept, and written back by that run. */
START_TEST(entries_of_another_root_kept_for_it)
{
	static struct park_state st;
	char other[256], text[800], rel[64];
	unsigned restored = 9, failed = 9;

	snprintf(other, sizeof(other), "%s", sysfs_tree_create(2, "powersave"));
	snprintf(text, sizeof(text), "# modvm power-park state\n%s/cpu1/cpufreq/scaling_governor\t"
		 "performance\n", other);
	plant_journal(text);
	ck_assert_int_eq(park_state_open(&st, state, root, &restored, &failed, text, sizeof(text)),
			 0);
	ck_assert_uint_eq(restored, 0);
	ck_assert_uint_eq(failed, 0);
	park_state_close(&st);
	snprintf(rel, sizeof(rel), "cpu1/cpufreq/scaling_governor");
	ck_assert_str_eq(sysfs_tree_read(other, rel), "powersave");
	ck_assert_msg(strstr(slurp(state), "\tperformance\n"), "journal: %s", slurp(state));
	/* the run with that root writes it back */
	ck_assert_int_eq(park_state_recover(state, other, &restored, text, sizeof(text)), 0);
	ck_assert_uint_eq(restored, 1);
	ck_assert_str_eq(sysfs_tree_read(other, rel), "performance");
	ck_assert_int_eq(access(state, F_OK), -1);
	sysfs_tree_destroy(other);
}
END_TEST

/* A park whose write the kernel refuses changed nothing: its entry goes
 * too, or a clean stop would leave a journal that rewrites the value. */
START_TEST(refused_park_leaves_no_entry)
{
	static struct park_state st;
	struct park_actions a;
	char err[256];

	make_full("cpu2/online");
	ck_assert_int_eq(park_state_open(&st, state, root, NULL, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(park_actions_init(&a, PARK_ACTION_OFFLINE, root), 0);
	park_actions_set_journal(&a, &st);
	ck_assert_int_eq(park_actions_park(&a, 2), -ENOSPC);
	ck_assert(!a.parked[2]);
	ck_assert_int_eq(access(state, F_OK), -1);
	park_state_close(&st);
	ck_assert_int_eq(access(state, F_OK), -1);
}
END_TEST

/* A governor an earlier run left at powersave and could not restore stays
 * journaled; parking that core again must restore the journaled one, not
 * the powersave it finds. */
START_TEST(unrestored_governor_is_the_one_given_back)
{
	static struct park_state st;
	struct park_actions a;
	char text[800], path[400];
	unsigned restored = 9, failed = 0;

	snprintf(text, sizeof(text), "# modvm power-park state\n%s/cpu1/cpufreq/scaling_governor\t"
		 "performance\n", root);
	plant_journal(text);
	make_full("cpu1/cpufreq/scaling_governor");
	ck_assert_int_eq(park_state_open(&st, state, root, &restored, &failed, text, sizeof(text)),
			 0);
	ck_assert_uint_eq(restored, 0);
	ck_assert_uint_eq(failed, 1);
	/* the kernel takes values again; the core still runs at powersave */
	snprintf(path, sizeof(path), "%s/cpu1/cpufreq/scaling_governor", root);
	ck_assert_int_eq(unlink(path), 0);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("powersave\n", f);
	fclose(f);
	ck_assert_int_eq(park_actions_init(&a, PARK_ACTION_CPUFREQ, root), 0);
	park_actions_set_journal(&a, &st);
	ck_assert_int_eq(park_actions_park(&a, 1), 0);
	ck_assert_int_eq(park_actions_unpark(&a, 1), 0);
	ck_assert_str_eq(gov(1), "performance");
	park_state_close(&st);
	ck_assert_int_eq(access(state, F_OK), -1);
}
END_TEST

/* A shared policy is one governor file: journaled once, under the
 * policy's first cpu, with the governor it had, and given back once. */
START_TEST(shared_policy_journaled_once)
{
	static struct park_state st;
	struct park_actions a;
	char err[256], line[400];

	ck_assert_int_eq(sysfs_tree_share_policy(root, 2, 3, "ondemand"), 0);
	ck_assert_int_eq(park_state_open(&st, state, root, NULL, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(park_actions_init(&a, PARK_ACTION_CPUFREQ, root), 0);
	park_actions_set_journal(&a, &st);
	ck_assert_int_eq(park_actions_park(&a, 2), 0);
	ck_assert_int_eq(park_actions_park(&a, 3), 0);
	ck_assert_str_eq(gov(3), "powersave");
	snprintf(line, sizeof(line), "state\n%s/cpu2/cpufreq/scaling_governor\tondemand\n# end",
		 root);
	ck_assert_msg(strstr(slurp(state), line), "journal: %s", slurp(state));
	ck_assert_uint_eq(park_actions_restore(&a), 0);
	ck_assert_str_eq(gov(2), "ondemand");
	ck_assert_int_eq(access(state, F_OK), -1);
	park_state_close(&st);
}
END_TEST

/* Held, the journal is rewritten in place: a crash that leaves a longer
 * earlier text behind its "# end" line restores only what is above it. */
START_TEST(held_journal_read_up_to_its_end_line)
{
	static struct park_state st;
	struct park_actions a;
	unsigned restored = 0;
	char err[256], text[1024];

	ck_assert_int_eq(park_state_open(&st, state, root, NULL, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(park_state_hold(&st, err, sizeof(err)), 0);
	ck_assert_int_eq(access(state, F_OK), 0);	/* made while it may */
	ck_assert_int_eq(park_actions_init(&a, PARK_ACTION_CPUFREQ, root), 0);
	park_actions_set_journal(&a, &st);
	ck_assert_int_eq(park_actions_park(&a, 1), 0);
	ck_assert_int_eq(park_actions_park(&a, 2), 0);
	ck_assert_int_eq(park_actions_unpark(&a, 2), 0);
	/* in place: the shorter text, cut to its length, ends the file */
	snprintf(text, sizeof(text),
		 "# modvm power-park state\n%s/cpu1/cpufreq/scaling_governor\tschedutil\n# end\n",
		 root);
	ck_assert_str_eq(slurp(state), text);
	/* what a write cut short would leave: an earlier, longer text after the end */
	int fd = open(state, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	dprintf(fd, "%s/cpu3/cpufreq/scaling_governor\tperformance\n", root);
	close(fd);
	park_state_close(&st);	/* cpu1 still journaled: the file stays */
	ck_assert_int_eq(park_state_recover(state, root, &restored, err, sizeof(err)), 0);
	ck_assert_uint_eq(restored, 1);
	ck_assert_str_eq(gov(1), "schedutil");
	ck_assert_str_eq(gov(3), "schedutil");	/* the line after "# end" was not read */
	ck_assert_int_eq(access(state, F_OK), -1);
}
END_TEST

/* As host.user, root's directory refuses the unlink of an empty journal:
 * it is cut to nothing, and an empty file reads as an empty journal. */
START_TEST(held_empty_journal_unremovable_is_cut_to_nothing)
{
	static struct park_state st;
	unsigned restored = 9;
	char err[256];

	if (geteuid() != 0) {
		printf("SKIP: dropping to nobody needs root\n");
		return;
	}
	ck_assert_int_eq(chmod(root, 0755), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct park_actions a;
		if (park_state_open(&st, state, root, NULL, NULL, err, sizeof(err)) < 0 ||
		    park_state_hold(&st, err, sizeof(err)) < 0 ||
		    park_actions_init(&a, PARK_ACTION_OFFLINE, root) < 0 ||
		    park_actions_hold(&a, 2) < 0)
			_exit(1);
		park_actions_set_journal(&a, &st);
		if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
			_exit(2);
		/* nobody may open neither the journal nor cpu2/online: held, both work */
		if (park_actions_park(&a, 2) < 0 || strcmp(online(2), "0") != 0)
			_exit(3);
		if (park_actions_unpark(&a, 2) < 0)
			_exit(4);
		park_state_close(&st);
		park_actions_release(&a);
		_exit(0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
	ck_assert_str_eq(online(2), "1");
	ck_assert_str_eq(slurp(state), "");
	ck_assert_int_eq(park_state_recover(state, root, &restored, err, sizeof(err)), 0);
	ck_assert_uint_eq(restored, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("park_statefile");
	TCase *t = tcase_create("statefile");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, journaled_before_the_change_and_forgotten_after);
	tcase_add_test(t, sigkilled_cpufreq_run_restored_at_next_open);
	tcase_add_test(t, sigkilled_offline_run_recovered);
	tcase_add_test(t, second_owner_refused_and_nothing_touched);
	tcase_add_test(t, untrusted_journal_refused);
	tcase_add_test(t, foreign_entries_never_written);
	tcase_add_test(t, entries_of_another_root_kept_for_it);
	tcase_add_test(t, refused_park_leaves_no_entry);
	tcase_add_test(t, unrestored_governor_is_the_one_given_back);
	tcase_add_test(t, shared_policy_journaled_once);
	tcase_add_test(t, held_journal_read_up_to_its_end_line);
	tcase_add_test(t, held_empty_journal_unremovable_is_cut_to_nothing);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
