/*
 * Item 7: `modvm check` (as root) ran plugin code from wherever a config
 * pointed: dlopen runs ELF constructors, and plugins.path is relative to
 * the config file, so checking an untrusted config directory ran its code.
 * Now a plugin is loaded only if the file and every directory above it
 * are owned by root or the running user and writable by nobody else
 * (OpenSSH's StrictModes; directories above the plugin's own may be
 * sticky, like /tmp), refused with one line before dlopen.  fixture-ctor
 * creates $MODVM_FIXTURE_CTOR_MARK from its constructor: it must never
 * appear for a refused plugin.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostile.h"
#include "run_modvm.h"

static struct run_result res;
static char fixture_dir[512];

/* A copy of fixture-ctor.so in @dir (made with @mode); returns the marker path. */
static const char *plant(const char *dir, mode_t dir_mode, mode_t file_mode)
{
	char src[600], dst[600], cmd[1400];

	mkdir(dir, 0700);
	snprintf(src, sizeof(src), "%s/fixture-ctor.so", fixture_dir);
	snprintf(dst, sizeof(dst), "%s/fixture-ctor.so", dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, dst);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(chmod(dst, file_mode), 0);
	ck_assert_int_eq(chmod(dir, dir_mode), 0);
	const char *mark = tmp_path("ctor-ran");
	unlink(mark);
	setenv("MODVM_FIXTURE_CTOR_MARK", mark, 1);
	return mark;
}

static const char *ctor_conf(const char *name, const char *dir)
{
	return write_text(name, "plugins = { path = [ \"%s\" ];\n"
				"  fixture-ctor = { enabled = true; }; };\n", dir);
}

/* MODVM_PLUGIN_PATH is the build tree's: only plugins.path may supply
 * fixture-ctor here, so a refusal cannot be rescued by another copy. */
static void only_config_path(void)
{
	unsetenv("MODVM_PLUGIN_PATH");
}

START_TEST(group_writable_plugin_dir_refused_before_dlopen)
{
	char dir[300];

	snprintf(dir, sizeof(dir), "%s", tmp_path("shared"));
	const char *mark = plant(dir, 0775, 0644);
	run_modvm(&res, 30, "check", ctor_conf("a.conf", dir), NULL);
	run_expect(&res, 2, NULL, "is writable by its group (mode 0775)");
	ck_assert_ptr_nonnull(strstr(res.err, "fixture-ctor.so: not loaded: "));
	ck_assert_msg(access(mark, F_OK) != 0, "the plugin's constructor ran");
	/* `plugins` lists nothing from there either, and runs nothing */
	run_modvm(&res, 30, "plugins", "--path", dir, NULL);
	ck_assert_msg(access(mark, F_OK) != 0, "the plugin's constructor ran (plugins)");
	/* the same directory made private: loaded (the control case) */
	chmod(dir, 0755);
	run_modvm(&res, 30, "check", ctor_conf("b.conf", dir), NULL);
	run_expect(&res, 0, "OK", NULL);
	ck_assert_int_eq(access(mark, F_OK), 0);
	tmp_dir_remove();
}
END_TEST

START_TEST(world_writable_plugin_file_refused)
{
	char dir[300];

	snprintf(dir, sizeof(dir), "%s", tmp_path("lib"));
	const char *mark = plant(dir, 0755, 0666);
	run_modvm(&res, 30, "check", ctor_conf("a.conf", dir), NULL);
	run_expect(&res, 2, NULL, "fixture-ctor.so is writable by others (mode 0666)");
	ck_assert(access(mark, F_OK) != 0);
	tmp_dir_remove();
}
END_TEST

/* root checks a config someone else left in their own directory, with
 * plugins.path = ["."]: nothing of theirs runs. */
START_TEST(config_in_another_users_dir_runs_none_of_its_code)
{
	char dir[300];

	if (geteuid() != 0) {
		printf("config_in_another_users_dir_runs_none_of_its_code: needs root, skipped\n");
		return;
	}
	chmod(tmp_dir(), 0755);
	snprintf(dir, sizeof(dir), "%s", tmp_path("mallory"));
	const char *mark = plant(dir, 0755, 0644);
	char so[400], conf[400];
	snprintf(so, sizeof(so), "%s/fixture-ctor.so", dir);
	snprintf(conf, sizeof(conf), "%s/vm.conf", dir);
	write_text(conf, "plugins = { path = [ \".\" ]; fixture-ctor = { enabled = true; }; };\n");
	ck_assert_int_eq(chown(so, 65534, 65534), 0);
	ck_assert_int_eq(chown(conf, 65534, 65534), 0);
	ck_assert_int_eq(chown(dir, 65534, 65534), 0);
	run_modvm(&res, 30, "check", conf, NULL);
	run_expect(&res, 2, NULL, "is owned by uid 65534, not by root or uid 0");
	ck_assert_msg(access(mark, F_OK) != 0, "mallory's constructor ran as root");
	tmp_dir_remove();
}
END_TEST

int main(int argc, char **argv)
{
	const char *path = getenv("MODVM_PLUGIN_PATH");

	if (argc < 2 || !path) {
		fprintf(stderr, "usage: MODVM_PLUGIN_PATH=… %s MODVM_EXE\n", argv[0]);
		return 2;
	}
	/* the fixtures' directory is the one holding fixture-ctor.so */
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, ":");
		char probe[600];
		snprintf(probe, sizeof(probe), "%.*s/fixture-ctor.so", (int)n, p);
		if (access(probe, R_OK) == 0) {
			snprintf(fixture_dir, sizeof(fixture_dir), "%.*s", (int)n, p);
			break;
		}
		p += n + (p[n] == ':');
	}
	if (!fixture_dir[0]) {
		fprintf(stderr, "fixture-ctor.so not in MODVM_PLUGIN_PATH\n");
		return 2;
	}
	only_config_path();
	int r = hostile_start(argc, argv);
	if (r)
		return r;
	Suite *s = suite_create("trust");
	TCase *t = tcase_create("trust");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, group_writable_plugin_dir_refused_before_dlopen);
	tcase_add_test(t, world_writable_plugin_file_refused);
	tcase_add_test(t, config_in_another_users_dir_runs_none_of_its_code);
	suite_add_tcase(s, t);
	return hostile_run(s);
}
