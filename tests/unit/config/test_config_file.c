/*
 * Config files: the top level, plugin and VM groups, value errors with their
 * exact one-line messages.  Each test runs inside tests/fixtures/configs (or
 * a fresh temporary directory) so messages carry short, stable file names.
 */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "capture.h"

/* The table the broken fixtures are written against. */
static const struct modvm_option foo_opts[] = {
	{ .name = "interval_ms", .type = MODVM_OPT_INT, .default_value = "1000",
	  .min = 10, .max = 60000, .description = "poll period" },
	{ .name = "memory", .type = MODVM_OPT_SIZE, .default_value = "128M",
	  .min = 64LL << 20, .max = 1LL << 40 },
	{ .name = "ratio", .type = MODVM_OPT_DOUBLE, .default_value = "0.5", .min = 0, .max = 1 },
	{ .name = "verbose", .type = MODVM_OPT_BOOL, .default_value = "false" },
	{ .name = "label", .type = MODVM_OPT_STRING, .default_value = "none" },
	{ .name = "cpu.slat", .type = MODVM_OPT_ENUM, .default_value = "preferred",
	  .choices = "required|preferred|off" },
	{ .name = "cpu.backend", .type = MODVM_OPT_STRING },
	MODVM_OPTIONS_END
};

static const struct modvm_option host_opts[] = {
	{ .name = "log_level", .type = MODVM_OPT_ENUM, .default_value = "warn",
	  .choices = "error|warn|info|debug" },
	{ .name = "cpu.slat", .type = MODVM_OPT_ENUM, .default_value = "preferred",
	  .choices = "required|preferred|off" },
	{ .name = "cpu.threads", .type = MODVM_OPT_INT, .default_value = "1", .min = 1, .max = 64 },
	MODVM_OPTIONS_END
};

static const struct modvm_option vm_opts[] = {
	{ .name = "name", .type = MODVM_OPT_STRING },
	{ .name = "memory", .type = MODVM_OPT_SIZE, .min = 64LL << 20, .max = 1LL << 40 },
	{ .name = "cpus", .type = MODVM_OPT_INT, .default_value = "1", .min = 1, .max = 64 },
	MODVM_OPTIONS_END
};

static char tmpdir[64];

static void in_fixtures(void)
{
	ck_assert_int_eq(chdir(fixture_dir()), 0);
	capture_start();
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void in_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/modvm-config-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert_int_eq(chdir(tmpdir), 0);
	capture_start();
}

static void out_of_tmpdir(void)
{
	capture_stop();
	ck_assert_int_eq(chdir("/"), 0);
	nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void done(void)
{
	capture_stop();
}

static void write_file(const char *name, const char *text)
{
	FILE *f = fopen(name, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* Writes x.conf and opens it, expecting success. */
static struct modvm__cfgfile *open_text(const char *text)
{
	struct modvm__cfgfile *cf = NULL;

	write_file("x.conf", text);
	ck_assert_int_eq(modvm__config_open("x.conf", &cf), 0);
	ck_assert_ptr_nonnull(cf);
	return cf;
}

/* Asserts that exactly @want (NULL-terminated) were logged, in order; names @name's case. */
static void assert_logged(const char *name, const char *const *want)
{
	int n = 0;

	while (want[n])
		n++;
	if (capture_count() != n)
		capture_dump();
	ck_assert_msg(capture_count() == n, "case %s: %d lines logged, want %d", name,
		      capture_count(), n);
	for (int i = 0; i < n; i++)
		ck_assert_msg(capture_is(i, want[i]), "case %s, line %d: got '%s', want '%s'", name,
			      i, capture_line(i), want[i]);
}

/* ---- the top level ---- */

START_TEST(test_open_good)
{
	struct modvm__cfgfile *cf = NULL;
	char dir[PATH_MAX], want[PATH_MAX + 16];

	ck_assert_int_eq(modvm__config_open("good.conf", &cf), 0);
	ck_assert_str_eq(modvm__config_path(cf), "good.conf");
	ck_assert_int_eq(capture_count(), 0);

	/* Plugin order is file order, not sorted. */
	ck_assert_uint_eq(modvm__config_plugin_count(cf), 3);
	ck_assert_str_eq(modvm__config_plugin_name(cf, 0), "zeta");
	ck_assert_str_eq(modvm__config_plugin_name(cf, 1), "alpha");
	ck_assert_str_eq(modvm__config_plugin_name(cf, 2), "mid");
	ck_assert(modvm__config_plugin_enabled(cf, 0));
	ck_assert(!modvm__config_plugin_enabled(cf, 1));
	ck_assert(modvm__config_plugin_enabled(cf, 2));
	ck_assert_str_eq(modvm__config_plugin_where(cf, 0), "good.conf:11");
	ck_assert_str_eq(modvm__config_plugin_where(cf, 2), "good.conf:13");
	ck_assert_ptr_null(modvm__config_plugin_name(cf, 3));

	/* Relative search directories hang off the file's (absolute) directory. */
	ck_assert_ptr_nonnull(realpath(fixture_dir(), dir));
	snprintf(want, sizeof(want), "%s/plugins", dir);
	ck_assert_uint_eq(modvm__config_search_path_count(cf), 2);
	ck_assert_str_eq(modvm__config_search_path(cf, 0), want);
	ck_assert_str_eq(modvm__config_search_path(cf, 1), "/opt/modvm/plugins");
	ck_assert_ptr_null(modvm__config_search_path(cf, 2));

	ck_assert_uint_eq(modvm__config_vm_count(cf), 2);
	modvm__config_close(cf);
}
END_TEST

START_TEST(test_search_path_from_other_cwd)
{
	struct modvm__cfgfile *cf = NULL;
	char dir[PATH_MAX], want[PATH_MAX + 16];

	/* Opened as "configs/good.conf" from the parent: still relative to the file. */
	ck_assert_ptr_nonnull(realpath(fixture_dir(), dir));
	ck_assert_int_eq(chdir(".."), 0);
	ck_assert_int_eq(modvm__config_open("configs/good.conf", &cf), 0);
	snprintf(want, sizeof(want), "%s/plugins", dir);
	ck_assert_str_eq(modvm__config_search_path(cf, 0), want);
	ck_assert_str_eq(modvm__config_plugin_where(cf, 0), "configs/good.conf:11");
	modvm__config_close(cf);
}
END_TEST

/* Files modvm__config_open refuses, with every error each holds. */
static const struct {
	const char *name;
	const char *file;
	int ret;
	const char *logged[8];	/* in order; NULL ends */
} open_refusals[] = {
	{ "missing file", "nope.conf", -ENOENT, { "nope.conf: No such file or directory" } },
	{ "directory", ".", -EISDIR, { ".: Is a directory" } },
	{ "syntax error", "syntax.conf", -EINVAL, { "syntax.conf:5: syntax error" } },
	{ "unknown top-level keys", "toplevel_unknown.conf", -EINVAL, {
		"toplevel_unknown.conf:2: hosts: unknown key (known: host, vms, plugins)",
		"toplevel_unknown.conf:6: extra: unknown key (known: host, vms, plugins)" } },
	/* All errors of the file, in file order, then one failure. */
	{ "bad plugins group", "plugins_bad.conf", -EINVAL, {
		"plugins_bad.conf:3: plugins.path.[1]: expected a string, got an integer",
		"plugins_bad.conf:4: plugins.nogroup: expected a group, got a boolean",
		"plugins_bad.conf:5: plugins.noenabled.enabled: required key missing",
		"plugins_bad.conf:6: plugins.badenabled.enabled: expected a boolean, got a string",
		"plugins_bad.conf:11: vms.[1]: expected a group, got an integer",
		"plugins_bad.conf:13: host: expected a group, got an integer" } },
};

START_TEST(test_open_refused)
{
	struct modvm__cfgfile *cf = (void *)1;
	int r = modvm__config_open(open_refusals[_i].file, &cf);

	ck_assert_msg(r == open_refusals[_i].ret, "case %s: %d, want %d", open_refusals[_i].name,
		      r, open_refusals[_i].ret);
	ck_assert_ptr_null(cf);
	assert_logged(open_refusals[_i].name, open_refusals[_i].logged);
}
END_TEST

START_TEST(test_include_relative_to_file)
{
	struct modvm__cfgfile *cf = NULL;
	struct modvm_config *cfg = NULL;

	ck_assert_int_eq(chdir(".."), 0);
	ck_assert_int_eq(modvm__config_open("configs/include_main.conf", &cf), 0);
	ck_assert_uint_eq(modvm__config_plugin_count(cf), 1);
	ck_assert_str_eq(modvm__config_plugin_where(cf, 0), "configs/include_part.conf:3");
	ck_assert_int_eq(modvm__config_resolve_plugin(cf, 0, foo_opts, &cfg), -EINVAL);
	ASSERT_LOGGED("configs/include_part.conf:3: plugins.inc.interval_ms: "
		      "1 is out of range [10, 60000]",
		      "configs/include_part.conf:3: plugins.inc.cpu.backend: required key missing");
	modvm__config_close(cf);
}
END_TEST

START_TEST(test_vms_not_a_list)
{
	struct modvm__cfgfile *cf = NULL;

	write_file("x.conf", "host = {};\nvms = { a = 1; };\nplugins = 3;\n");
	ck_assert_int_eq(modvm__config_open("x.conf", &cf), -EINVAL);
	ASSERT_LOGGED("x.conf:2: vms: expected a list of groups, got a group",
		      "x.conf:3: plugins: expected a group, got an integer");
}
END_TEST

START_TEST(test_empty_file)
{
	struct modvm__cfgfile *cf = open_text("# nothing\nvms = [];\n");
	struct modvm_config *cfg = NULL;

	ck_assert_uint_eq(modvm__config_plugin_count(cf), 0);
	ck_assert_uint_eq(modvm__config_search_path_count(cf), 0);
	ck_assert_uint_eq(modvm__config_vm_count(cf), 0);
	/* No host group: all defaults. */
	ck_assert_int_eq(modvm__config_resolve_host(cf, host_opts, &cfg), 0);
	ck_assert_str_eq(modvm_config_string(cfg, "log_level"), "warn");
	ck_assert_int_eq(modvm_config_int(cfg, "cpu.threads"), 1);
	ck_assert_str_eq(modvm_config_where(cfg, "cpu.threads"), "(default)");
	modvm__config_free(cfg);
	modvm__config_close(cf);
	ck_assert_int_eq(capture_count(), 0);
}
END_TEST

/* ---- host ---- */

START_TEST(test_host_values)
{
	struct modvm__cfgfile *cf = NULL;
	struct modvm_config *cfg = NULL;

	ck_assert_int_eq(modvm__config_open("good.conf", &cf), 0);
	ck_assert_int_eq(modvm__config_resolve_host(cf, host_opts, &cfg), 0);
	ck_assert_str_eq(modvm_config_string(cfg, "log_level"), "info");
	ck_assert_str_eq(modvm_config_string(cfg, "cpu.slat"), "required");
	ck_assert_int_eq(modvm_config_int(cfg, "cpu.threads"), 1);
	ck_assert(modvm_config_is_set(cfg, "log_level"));
	ck_assert(modvm_config_is_set(cfg, "cpu.slat"));
	ck_assert(!modvm_config_is_set(cfg, "cpu.threads"));
	ck_assert_str_eq(modvm_config_where(cfg, "log_level"), "good.conf:3");
	ck_assert_str_eq(modvm_config_where(cfg, "cpu.slat"), "good.conf:5");
	ck_assert_str_eq(modvm_config_where(cfg, "cpu.threads"), "(default)");
	ck_assert_int_eq(capture_count(), 0);
	modvm__config_free(cfg);
	modvm__config_close(cf);
}
END_TEST

/* Option tables with required keys (no default), one of them nested. */
static const struct modvm_option needs_backend_and_name[] = {
	{ .name = "cpu.backend", .type = MODVM_OPT_STRING },
	{ .name = "name", .type = MODVM_OPT_STRING },
	MODVM_OPTIONS_END
};

static const struct modvm_option needs_backend[] = {
	{ .name = "cpu.backend", .type = MODVM_OPT_STRING },
	MODVM_OPTIONS_END
};

/* Host groups modvm__config_resolve_host refuses (x.conf holds .text). */
static const struct {
	const char *name;
	const char *text;
	const struct modvm_option *opts;
	const char *logged[4];	/* in order; NULL ends */
} host_refusals[] = {
	{ "unknown nested key, enum value not a choice",
	  "# host\n"
	  "host = {\n"
	  "  cpu = {\n"
	  "    slat = \"maybe\";\n"
	  "    smt = true;\n"
	  "  };\n"
	  "};\n",
	  host_opts, {
		"x.conf:5: host.cpu.smt: unknown key (known: slat, threads)",
		"x.conf:4: host.cpu.slat: \"maybe\" is not one of required|preferred|off" } },
	/* Reported once, not again as missing members of "cpu". */
	{ "nested group of the wrong type",
	  "host = {\n"
	  "  cpu = 5;\n"
	  "};\n",
	  host_opts, { "x.conf:2: host.cpu: expected a group, got an integer" } },
	/* The line is the one of the enclosing group that exists. */
	{ "required keys missing",
	  "# line 1\n"
	  "host = {\n"
	  "  cpu = {\n"
	  "  };\n"
	  "};\n",
	  needs_backend_and_name, {
		"x.conf:3: host.cpu.backend: required key missing",
		"x.conf:2: host.name: required key missing" } },
	/* No host group at all: no line either. */
	{ "required key missing, no host group",
	  "plugins = {};\n",
	  needs_backend, { "x.conf: host.cpu.backend: required key missing" } },
};

START_TEST(test_host_refused)
{
	struct modvm__cfgfile *cf = open_text(host_refusals[_i].text);
	struct modvm_config *cfg = (void *)1;
	int r = modvm__config_resolve_host(cf, host_refusals[_i].opts, &cfg);

	ck_assert_msg(r == -EINVAL, "case %s: %d, want -EINVAL", host_refusals[_i].name, r);
	ck_assert_ptr_null(cfg);
	assert_logged(host_refusals[_i].name, host_refusals[_i].logged);
	modvm__config_close(cf);
}
END_TEST

/* ---- plugins ---- */

START_TEST(test_plugin_values)
{
	static const struct modvm_option zeta[] = {
		{ .name = "interval_ms", .type = MODVM_OPT_INT, .default_value = "1000",
		  .min = 10, .max = 60000 },
		{ .name = "ratio", .type = MODVM_OPT_DOUBLE, .default_value = "0.25" },
		MODVM_OPTIONS_END
	};
	struct modvm__cfgfile *cf = NULL;
	struct modvm_config *cfg = NULL;

	ck_assert_int_eq(modvm__config_open("good.conf", &cf), 0);
	/* `enabled` belongs to the core, not to the plugin's table. */
	ck_assert_int_eq(modvm__config_resolve_plugin(cf, 0, zeta, &cfg), 0);
	ck_assert_int_eq(modvm_config_int(cfg, "interval_ms"), 250);
	ck_assert_str_eq(modvm_config_where(cfg, "interval_ms"), "good.conf:11");
	ck_assert_double_eq(modvm_config_double(cfg, "ratio"), 0.25);
	modvm__config_free(cfg);

	/* A plugin without a table takes no keys but `enabled`. */
	ck_assert_int_eq(modvm__config_resolve_plugin(cf, 1, NULL, &cfg), 0);
	modvm__config_free(cfg);
	ck_assert_int_eq(modvm__config_resolve_plugin(cf, 0, NULL, &cfg), -EINVAL);
	ASSERT_LOGGED("good.conf:11: plugins.zeta.interval_ms: unknown key (known: enabled)");
	modvm__config_close(cf);
}
END_TEST

START_TEST(test_plugin_value_errors)
{
	struct modvm__cfgfile *cf = NULL;
	struct modvm_config *cfg = (void *)1;

	ck_assert_int_eq(modvm__config_open("values_bad.conf", &cf), 0);
	ck_assert_str_eq(modvm__config_plugin_name(cf, 0), "foo");
	ck_assert_int_eq(modvm__config_resolve_plugin(cf, 0, foo_opts, &cfg), -EINVAL);
	ck_assert_ptr_null(cfg);
	ASSERT_LOGGED(
		"values_bad.conf:9: plugins.foo.bar: unknown key "
		"(known: interval_ms, memory, ratio, verbose, label, cpu, enabled)",
		"values_bad.conf:12: plugins.foo.cpu.fast: unknown key (known: slat, backend)",
		"values_bad.conf:5: plugins.foo.interval_ms: expected an integer, got a string",
		"values_bad.conf:6: plugins.foo.memory: \"12Q\" is not a size "
		"(use bytes or K/M/G/T, e.g. \"512M\")",
		"values_bad.conf:7: plugins.foo.ratio: 2.5 is out of range [0, 1]",
		"values_bad.conf:8: plugins.foo.verbose: expected a boolean, got an integer",
		"values_bad.conf:11: plugins.foo.cpu.slat: \"maybe\" is not one of "
		"required|preferred|off",
		"values_bad.conf:10: plugins.foo.cpu.backend: required key missing");
	modvm__config_close(cf);
}
END_TEST

START_TEST(test_plugin_range_errors)
{
	struct modvm__cfgfile *cf = NULL;
	struct modvm_config *cfg = NULL;

	ck_assert_int_eq(modvm__config_open("values_bad.conf", &cf), 0);
	ck_assert_int_eq(modvm__config_resolve_plugin(cf, 1, foo_opts, &cfg), -EINVAL);
	ASSERT_LOGGED("values_bad.conf:17: plugins.range.interval_ms: 5 is out of range [10, 60000]",
		      "values_bad.conf:18: plugins.range.memory: \"32M\" is out of range [64M, 1T]");
	ck_assert_int_eq(modvm__config_resolve_plugin(cf, 2, foo_opts, &cfg), -EINVAL);
	ck_assert_ptr_null(cfg);
	modvm__config_close(cf);
}
END_TEST

START_TEST(test_value_types)
{
	struct modvm__cfgfile *cf = open_text(
		"plugins = {\n"
		"  ok = { enabled = true; interval_ms = 5000000000L; memory = 134217728;\n"
		"         ratio = 1; label = \"x\"; cpu = { backend = \"kvm\"; slat = \"off\"; }; };\n"
		"  bad = { enabled = false;\n"
		"    interval_ms = 20.0;\n"
		"    memory = -1;\n"
		"    ratio = \"half\";\n"
		"    label = 7.5;\n"
		"    cpu = { backend = true; slat = 1; };\n"
		"  };\n"
		"  big = { enabled = true; memory = 2199023255552L; cpu = { backend = \"b\"; }; };\n"
		"};\n");
	struct modvm_config *cfg = NULL;
	static const struct modvm_option wide[] = {
		{ .name = "interval_ms", .type = MODVM_OPT_INT, .default_value = "0" },
		{ .name = "memory", .type = MODVM_OPT_SIZE, .default_value = "0" },
		{ .name = "ratio", .type = MODVM_OPT_DOUBLE, .default_value = "0" },
		{ .name = "label", .type = MODVM_OPT_STRING, .default_value = "" },
		{ .name = "cpu.backend", .type = MODVM_OPT_STRING },
		{ .name = "cpu.slat", .type = MODVM_OPT_ENUM, .default_value = "off",
		  .choices = "required|preferred|off" },
		MODVM_OPTIONS_END
	};

	/* 64-bit integers (L suffix), integer sizes, an int for a double. */
	ck_assert_int_eq(modvm__config_resolve_plugin(cf, 0, wide, &cfg), 0);
	ck_assert_int_eq(modvm_config_int(cfg, "interval_ms"), 5000000000LL);
	ck_assert_uint_eq(modvm_config_size(cfg, "memory"), 128u << 20);
	ck_assert_double_eq(modvm_config_double(cfg, "ratio"), 1.0);
	ck_assert_str_eq(modvm_config_string(cfg, "cpu.slat"), "off");
	modvm__config_free(cfg);

	ck_assert_int_eq(modvm__config_resolve_plugin(cf, 1, wide, &cfg), -EINVAL);
	ASSERT_LOGGED(
		"x.conf:5: plugins.bad.interval_ms: expected an integer, got a float",
		"x.conf:6: plugins.bad.memory: -1 is not a size (use bytes or K/M/G/T, e.g. \"512M\")",
		"x.conf:7: plugins.bad.ratio: expected a number, got a string",
		"x.conf:8: plugins.bad.label: expected a string, got a float",
		"x.conf:9: plugins.bad.cpu.backend: expected a string, got a boolean",
		"x.conf:9: plugins.bad.cpu.slat: expected one of required|preferred|off, "
		"got an integer");

	/* An integer size out of range prints the bytes and the human range. */
	capture_start();
	ck_assert_int_eq(modvm__config_resolve_plugin(cf, 2, foo_opts, &cfg), -EINVAL);
	ASSERT_LOGGED("x.conf:11: plugins.big.memory: 2199023255552 is out of range [64M, 1T]");
	modvm__config_close(cf);
}
END_TEST

/* A bare integer for a string option (min_cores = 2;) reads back as its
 * decimal text, owned by the config; floats and booleans stay refused. */
START_TEST(test_string_from_integer)
{
	struct modvm__cfgfile *cf = open_text(
		"plugins = {\n"
		"  ok = { enabled = true; count = 2; big = 5000000000L; neg = -3; };\n"
		"};\n");
	struct modvm_config *cfg = NULL;
	static const struct modvm_option opts[] = {
		{ .name = "count", .type = MODVM_OPT_STRING, .default_value = "1" },
		{ .name = "big", .type = MODVM_OPT_STRING, .default_value = "" },
		{ .name = "neg", .type = MODVM_OPT_STRING, .default_value = "" },
		MODVM_OPTIONS_END
	};

	ck_assert_int_eq(modvm__config_resolve_plugin(cf, 0, opts, &cfg), 0);
	/* Close the file first: the text must not borrow from it. */
	modvm__config_close(cf);
	ck_assert_str_eq(modvm_config_string(cfg, "count"), "2");
	ck_assert_str_eq(modvm_config_string(cfg, "big"), "5000000000");
	ck_assert_str_eq(modvm_config_string(cfg, "neg"), "-3");
	modvm__config_free(cfg);

	cf = open_text(
		"plugins = {\n"
		"  flt = { enabled = true; count = 2.5; };\n"
		"  yes = { enabled = true; count = true; };\n"
		"};\n");
	capture_start();
	ck_assert_int_eq(modvm__config_resolve_plugin(cf, 0, opts, &cfg), -EINVAL);
	ck_assert_ptr_null(cfg);
	ASSERT_LOGGED("x.conf:2: plugins.flt.count: expected a string, got a float");
	capture_start();
	ck_assert_int_eq(modvm__config_resolve_plugin(cf, 1, opts, &cfg), -EINVAL);
	ASSERT_LOGGED("x.conf:3: plugins.yes.count: expected a string, got a boolean");
	modvm__config_close(cf);
}
END_TEST

/* ---- VMs ---- */

START_TEST(test_vm_values)
{
	static const char *const groups[] = { "zeta", "mid", NULL };
	static const struct modvm_option zeta_vm[] = {
		{ .name = "target", .type = MODVM_OPT_SIZE, .default_value = "0" },
		MODVM_OPTIONS_END
	};
	struct modvm__cfgfile *cf = NULL;
	struct modvm_config *cfg = NULL;

	ck_assert_int_eq(modvm__config_open("good.conf", &cf), 0);
	ck_assert_int_eq(modvm__config_resolve_vm(cf, 0, vm_opts, groups, &cfg), 0);
	ck_assert_str_eq(modvm_config_string(cfg, "name"), "vm0");
	ck_assert_uint_eq(modvm_config_size(cfg, "memory"), 512u << 20);
	ck_assert_int_eq(modvm_config_int(cfg, "cpus"), 2);
	ck_assert_str_eq(modvm_config_where(cfg, "memory"), "good.conf:19");
	modvm__config_free(cfg);

	ck_assert_int_eq(modvm__config_resolve_vm(cf, 1, vm_opts, groups, &cfg), 0);
	ck_assert_uint_eq(modvm_config_size(cfg, "memory"), 1u << 30);
	ck_assert_int_eq(modvm_config_int(cfg, "cpus"), 1);
	ck_assert(!modvm_config_is_set(cfg, "cpus"));
	modvm__config_free(cfg);

	ck_assert_int_eq(modvm__config_resolve_vm_plugin(cf, 0, "zeta", zeta_vm, &cfg), 0);
	ck_assert_uint_eq(modvm_config_size(cfg, "target"), 256u << 20);
	ck_assert_str_eq(modvm_config_where(cfg, "target"), "good.conf:21");
	modvm__config_free(cfg);

	/* No such group in the VM: NULL, and that is not an error. */
	cfg = (void *)1;
	ck_assert_int_eq(modvm__config_resolve_vm_plugin(cf, 1, "zeta", zeta_vm, &cfg), 0);
	ck_assert_ptr_null(cfg);
	ck_assert_int_eq(capture_count(), 0);

	ck_assert_int_eq(modvm__config_resolve_vm(cf, 2, vm_opts, groups, &cfg), -EINVAL);
	ck_assert_ptr_null(cfg);
	modvm__config_close(cf);
}
END_TEST

START_TEST(test_vm_unnamed_plugin_group)
{
	static const char *const groups[] = { "mid", NULL };
	struct modvm__cfgfile *cf = NULL;
	struct modvm_config *cfg = NULL;

	/* A sub-group is allowed only when a plugin claims it. */
	ck_assert_int_eq(modvm__config_open("good.conf", &cf), 0);
	ck_assert_int_eq(modvm__config_resolve_vm(cf, 0, vm_opts, groups, &cfg), -EINVAL);
	ASSERT_LOGGED("good.conf:21: vms.[0].zeta: unknown key (known: name, memory, cpus, mid)");
	capture_start();
	ck_assert_int_eq(modvm__config_resolve_vm(cf, 0, vm_opts, NULL, &cfg), -EINVAL);
	ASSERT_LOGGED("good.conf:21: vms.[0].zeta: unknown key (known: name, memory, cpus)");
	modvm__config_close(cf);
}
END_TEST

START_TEST(test_vm_errors)
{
	static const char *const groups[] = { "zeta", NULL };
	static const struct modvm_option zeta_vm[] = {
		{ .name = "target", .type = MODVM_OPT_SIZE, .default_value = "0" },
		MODVM_OPTIONS_END
	};
	struct modvm__cfgfile *cf = open_text("vms = (\n  {\n    name = \"a\";\n"
					      "    memory = \"12Q\";\n    zeta = 5;\n  }\n);\n");
	struct modvm_config *cfg = NULL;

	ck_assert_int_eq(modvm__config_resolve_vm(cf, 0, vm_opts, groups, &cfg), -EINVAL);
	ASSERT_LOGGED("x.conf:5: vms.[0].zeta: expected a group, got an integer",
		      "x.conf:4: vms.[0].memory: \"12Q\" is not a size "
		      "(use bytes or K/M/G/T, e.g. \"512M\")");
	capture_start();
	ck_assert_int_eq(modvm__config_resolve_vm_plugin(cf, 0, "zeta", zeta_vm, &cfg), -EINVAL);
	ASSERT_LOGGED("x.conf:5: vms.[0].zeta: expected a group, got an integer");
	modvm__config_close(cf);
}
END_TEST

/* ---- resolved configs ---- */

START_TEST(test_config_outlives_file)
{
	struct modvm__cfgfile *cf = NULL;
	struct modvm_config *cfg = NULL;

	ck_assert_int_eq(modvm__config_open("good.conf", &cf), 0);
	ck_assert_int_eq(modvm__config_resolve_host(cf, host_opts, &cfg), 0);
	modvm__config_close(cf);
	/* ASan would flag any pointer into libconfig's freed memory. */
	ck_assert_str_eq(modvm_config_string(cfg, "log_level"), "info");
	ck_assert_str_eq(modvm_config_where(cfg, "cpu.slat"), "good.conf:5");
	modvm__config_free(cfg);
}
END_TEST

START_TEST(test_bad_table_refused)
{
	static const struct modvm_option bad[] = {
		{ .name = "n", .type = MODVM_OPT_INT, .default_value = "5", .min = 10, .max = 20 },
		MODVM_OPTIONS_END
	};
	struct modvm__cfgfile *cf = NULL;
	struct modvm_config *cfg = (void *)1;

	ck_assert_int_eq(modvm__config_open("good.conf", &cf), 0);
	ck_assert_int_eq(modvm__config_resolve_host(cf, bad, &cfg), -EINVAL);
	ck_assert_ptr_null(cfg);
	ASSERT_LOGGED("host: option table: option \"n\": default 5 is out of range [10, 20]");
	modvm__config_close(cf);
}
END_TEST

static Suite *config_file_suite(void)
{
	Suite *s = suite_create("config-file");
	TCase *fx = tcase_create("fixtures");
	TCase *tmp = tcase_create("written");

	tcase_add_checked_fixture(fx, in_fixtures, done);
	tcase_add_test(fx, test_open_good);
	tcase_add_test(fx, test_search_path_from_other_cwd);
	tcase_add_loop_test(fx, test_open_refused, 0,
			    sizeof(open_refusals) / sizeof(open_refusals[0]));
	tcase_add_test(fx, test_include_relative_to_file);
	tcase_add_test(fx, test_host_values);
	tcase_add_test(fx, test_plugin_values);
	tcase_add_test(fx, test_plugin_value_errors);
	tcase_add_test(fx, test_plugin_range_errors);
	tcase_add_test(fx, test_vm_values);
	tcase_add_test(fx, test_vm_unnamed_plugin_group);
	tcase_add_test(fx, test_config_outlives_file);
	tcase_add_test(fx, test_bad_table_refused);
	suite_add_tcase(s, fx);

	tcase_add_checked_fixture(tmp, in_tmpdir, out_of_tmpdir);
	tcase_add_test(tmp, test_vms_not_a_list);
	tcase_add_test(tmp, test_empty_file);
	tcase_add_loop_test(tmp, test_host_refused, 0,
			    sizeof(host_refusals) / sizeof(host_refusals[0]));
	tcase_add_test(tmp, test_value_types);
	tcase_add_test(tmp, test_string_from_integer);
	tcase_add_test(tmp, test_vm_errors);
	suite_add_tcase(s, tmp);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_file_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
