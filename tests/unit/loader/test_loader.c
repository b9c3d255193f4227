/*
 * Loader and host lifecycle tests: every refusal's exact line, `requires`
 * ordering, unwinding on failure, repeated cycles, the plugin context.
 *
 * argv[1] is the fixture plugin directory.  Fixtures record their lifecycle
 * calls in $MODVM_FIXTURE_LOG (see tests/fixtures/plugins/fixture.h).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <modvm/events.h>

#include "host/host.h"
#include "../../fixtures/plugins/fixture.h"

static char fixture_dir[PATH_MAX];
static char tmpdir[PATH_MAX];
static char record_path[PATH_MAX + 16];

/* ---- captured log lines ---- */

#define MAX_LINES 256
static char *lines[MAX_LINES];
static size_t nlines;

static void sink(enum modvm_log_level level, const char *line, void *ud)
{
	(void)level;
	(void)ud;
	if (nlines < MAX_LINES)
		lines[nlines++] = strdup(line);
}

/* Every refusal is one ERROR line in log.h's format. */
#define ERR "modvm: error: "

/* "case NAME: " while a loop test runs a table row, so a missing line says which. */
static char this_case[128];

static void dump_lines(void)
{
	for (size_t i = 0; i < nlines; i++)
		fprintf(stderr, "  captured: %s\n", lines[i]);
}

/* Asserts that exactly one captured line equals the formatted text. */
static void expect_line(const char *fmt, ...) MODVM_PRINTF(1, 2);
static void expect_line(const char *fmt, ...)
{
	char want[2048];
	size_t hits = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < nlines; i++)
		hits += strcmp(lines[i], want) == 0;
	if (hits != 1)
		dump_lines();
	ck_assert_msg(hits == 1, "%sexpected exactly one line \"%s\", got %zu", this_case, want,
		      hits);
}

/* Asserts that some line starts with the formatted text. */
static void expect_prefix(const char *fmt, ...) MODVM_PRINTF(1, 2);
static void expect_prefix(const char *fmt, ...)
{
	char want[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < nlines; i++)
		if (strncmp(lines[i], want, strlen(want)) == 0)
			return;
	dump_lines();
	ck_abort_msg("%sno line starts with \"%s\"", this_case, want);
}

/* ---- fixture record ---- */

static char *read_record(void)
{
	static char buf[8192];
	int fd = open(record_path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void expect_record(const char *want)
{
	ck_assert_str_eq(read_record(), want);
}

static const char *fixture(const char *name)
{
	static char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s.so", fixture_dir, name);
	return path;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static uint32_t subscribers(struct modvm_host *host, const char *event)
{
	struct modvm_bus_stats st = { 0 };

	if (modvm_bus_get_stats(modvm__host_bus(host), event, &st) < 0)
		return 0;
	return st.subscribers;
}

/* Checked fixture: runs in the forked child, around every test. */
static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/modvm-loader-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(record_path, sizeof(record_path), "%s/record", tmpdir);
	setenv("MODVM_FIXTURE_LOG", record_path, 1);
	unsetenv("MODVM_FIXTURE_FAIL");
	modvm_log_set_sink(sink, NULL);
	modvm_log_set_level(MODVM_LOG_INFO);
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];

	modvm_log_set_sink(NULL, NULL);
	this_case[0] = '\0';
	for (size_t i = 0; i < nlines; i++)
		free(lines[i]);
	nlines = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

/* ---- refusals ---- */

struct refusal {
	const char *name;
	const char *line;	/* %s = the file's path; NULL = prefix only */
	const char *prefix;
};

/* "1.2": the ABI this libmodvm implements, as its messages print it. */
#define TEXT_OF(x) #x
#define TEXT(x) TEXT_OF(x)
#define ABI_TEXT TEXT(MODVM_ABI_MAJOR) "." TEXT(MODVM_ABI_MINOR)

static const struct refusal refusals[] = {
	{ "fixture-nosym", "%s: not a modvm plugin: no symbol modvm_plugin_entry_v1", NULL },
	{ "fixture-v2-symbol", "%s: built for ABI major 2, this modvm is ABI 1", NULL },
	{ "fixture-abi-major", "%s: built for ABI major 2, this modvm is ABI 1", NULL },
	{ "fixture-abi-minor", "%s: built for ABI 1.6, this modvm supports up to " ABI_TEXT, NULL },
	{ "fixture-noname", "%s: plugin name is empty", NULL },
	{ "fixture-wrongname",
	  "%s: plugin name \"something-else\" does not match its file name \"fixture-wrongname\"",
	  NULL },
	{ "fixture-longname",
	  "%s: plugin name \"fixture-longname-that-does-not-fit-anywhere\" is longer than 31 characters",
	  NULL },
	{ "fixture-badkind", "%s: unknown plugin kind 99", NULL },
	{ "fixture-badopts", NULL, "%s: invalid option table: " },
};

START_TEST(test_refusal)
{
	const struct refusal *rf = &refusals[_i];
	struct modvm_host *host = modvm__host_new();
	int r;

	snprintf(this_case, sizeof(this_case), "case %s: ", rf->name);
	ck_assert_ptr_nonnull(host);
	r = modvm__host_load_one(host, rf->name, NULL);
	ck_assert_int_lt(r, 0);
	ck_assert_uint_eq(modvm__host_plugin_count(host), 0);
	char want[512];

	snprintf(want, sizeof(want), ERR "%s", rf->line ? rf->line : rf->prefix);
	if (rf->line)
		expect_line(want, fixture(rf->name));
	else
		expect_prefix(want, fixture(rf->name));
	modvm__host_free(host);
}
END_TEST

START_TEST(test_refuse_tiny)
{
	struct modvm_host *host = modvm__host_new();

	ck_assert_int_eq(modvm__host_load_one(host, fixture("fixture-tiny"), NULL), -ENOEXEC);
	expect_line(ERR "%s: descriptor too small: struct_size 16, ABI 1.0 needs at least %zu",
		    fixture("fixture-tiny"), (size_t)MODVM_PLUGIN_MIN_SIZE_V1);
	modvm__host_free(host);
}
END_TEST

/* Plugin files given by path that do not load: nothing is left loaded. */
static const struct {
	const char *name;
	const char *file;	/* under the test's tmpdir */
	const char *text;	/* written to it first; NULL: there is no such file */
	int ret;
	const char *says;	/* after "<path>: " */
	bool whole;		/* .says is the whole rest of the line, not how it starts */
} path_refusals[] = {
	{ "not an ELF file", "garbage.so", "this is not an ELF file\n", -ENOEXEC, "cannot load: ",
	  false },
	{ "missing file", "nothing-here.so", NULL, -ENOENT, "No such file or directory", true },
};

START_TEST(test_path_refusal)
{
	struct modvm_host *host = modvm__host_new();
	char path[PATH_MAX + 32];
	int r;

	snprintf(this_case, sizeof(this_case), "case %s: ", path_refusals[_i].name);
	snprintf(path, sizeof(path), "%s/%s", tmpdir, path_refusals[_i].file);
	if (path_refusals[_i].text)
		write_file(path, path_refusals[_i].text);
	r = modvm__host_load_one(host, path, NULL);
	ck_assert_msg(r == path_refusals[_i].ret, "case %s: %d, want %d", path_refusals[_i].name,
		      r, path_refusals[_i].ret);
	if (path_refusals[_i].whole)
		expect_line(ERR "%s: %s", path, path_refusals[_i].says);
	else
		expect_prefix(ERR "%s: %s", path, path_refusals[_i].says);
	ck_assert_uint_eq(modvm__host_plugin_count(host), 0);
	modvm__host_free(host);
}
END_TEST

START_TEST(test_refuse_unknown_name)
{
	struct modvm_host *host = modvm__host_new();

	ck_assert_int_eq(modvm__host_load_one(host, "fixture-absent", NULL), -ENOENT);
	expect_prefix(ERR "plugin fixture-absent: not found (searched ");
	modvm__host_free(host);
}
END_TEST

START_TEST(test_refuse_duplicate_same_file)
{
	struct modvm_host *host = modvm__host_new();

	ck_assert_int_eq(modvm__host_load_one(host, "fixture-good", NULL), 0);
	ck_assert_int_eq(modvm__host_load_one(host, "fixture-good", NULL), -EEXIST);
	expect_line(ERR "%s: duplicate plugin name \"fixture-good\" (already loaded from %s)",
		    fixture("fixture-good"), fixture("fixture-good"));
	ck_assert_uint_eq(modvm__host_plugin_count(host), 1);
	modvm__host_free(host);
}
END_TEST

START_TEST(test_refuse_duplicate_two_files)
{
	struct modvm_host *host = modvm__host_new();
	char copy[PATH_MAX + 32], cmd[3 * PATH_MAX];

	snprintf(copy, sizeof(copy), "%s/fixture-good.so", tmpdir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", fixture("fixture-good"), copy);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(modvm__host_load_one(host, "fixture-good", NULL), 0);
	ck_assert_int_eq(modvm__host_load_one(host, copy, NULL), -EEXIST);
	expect_line(ERR "%s: duplicate plugin name \"fixture-good\" (already loaded from %s)", copy,
		    fixture("fixture-good"));
	modvm__host_free(host);
}
END_TEST

START_TEST(test_symlinked_plugin_keeps_its_name)
{
	struct modvm_host *host = modvm__host_new();
	struct modvm_plugin_ctx *p;
	char link[PATH_MAX + 32];

	/* Installed plugins are often symlinks to a versioned file. */
	snprintf(link, sizeof(link), "%s/fixture-good.so", tmpdir);
	ck_assert_int_eq(symlink(fixture("fixture-good"), link), 0);
	ck_assert_int_eq(modvm__host_load_one(host, link, &p), 0);
	ck_assert_str_eq(p->path, link);
	modvm__host_free(host);
}
END_TEST

/*
 * modvm__host_start refusing: the error line, what the fixtures recorded
 * (so what was unwound, in which order), and what is left loaded.  Nothing
 * stays subscribed to vm.lifecycle after any of them.
 */
struct start_refusal {
	const char *name;
	const char *fail;	/* $MODVM_FIXTURE_FAIL, or NULL */
	const char *load[3];	/* loaded in this order */
	int ret;		/* modvm__host_start's */
	const char *who;	/* the plugin whose path starts the line */
	const char *says;	/* the rest of the line; %s: modvm_strerror(ret) */
	const char *record;
	unsigned loaded;	/* plugins still loaded afterwards */
	const char *gone;	/* the one a failed init unloaded, or NULL */
};

static const struct start_refusal start_refusals[] = {
	{ "requires missing", NULL, { "fixture-needs-missing" }, -ENOENT, "fixture-needs-missing",
	  "requires plugin \"fixture-absent\", which is not enabled",
	  "", 1, NULL },
	{ "requires cycle", NULL, { "fixture-good", "fixture-cycle-a", "fixture-cycle-b" }, -ELOOP,
	  "fixture-cycle-a",
	  "requires cycle: fixture-cycle-a -> fixture-cycle-b -> fixture-cycle-a",
	  "", 3, NULL },	/* nothing was initialised */
	/* Unloaded with nothing left: no record, no subscription, no fini. */
	{ "init fails", NULL, { "fixture-good", "fixture-init-fails" }, -EIO, "fixture-init-fails",
	  "init failed: %s",
	  "fixture-good init greeting=hello rate=10\n"
	  "fixture-init-fails init\n"
	  "fixture-good fini\n",
	  1, "fixture-init-fails" },
	/* fixture-dep's own init fails: no fini for it, fixture-good's undone. */
	{ "dependent's init fails", "fixture-dep:init", { "fixture-dep", "fixture-good" }, -EIO,
	  "fixture-dep", "init failed: %s",
	  "fixture-good init greeting=hello rate=10\n"
	  "fixture-dep init\n"
	  "fixture-dep query fixture-good 42\n"
	  "fixture-good fini\n",
	  1, "fixture-dep" },
	/* A positive init is no success: refused like a failure (it ran on
	 * before, with fini later called on what it had freed). */
	{ "dependent's init returns 1", "fixture-dep:init+", { "fixture-dep", "fixture-good" },
	  -EPROTO, "fixture-dep", "init failed: %s",
	  "fixture-good init greeting=hello rate=10\n"
	  "fixture-dep init\n"
	  "fixture-dep query fixture-good 42\n"
	  "fixture-good fini\n",
	  1, "fixture-dep" },
	{ "dependent's start returns 1", "fixture-dep:start+", { "fixture-good", "fixture-dep" },
	  -EPROTO, "fixture-dep", "start failed: %s",
	  "fixture-good init greeting=hello rate=10\n"
	  "fixture-dep init\n"
	  "fixture-dep query fixture-good 42\n"
	  "fixture-good start\n"
	  "fixture-dep start\n"
	  "fixture-good stop\n"
	  "fixture-dep fini\n"
	  "fixture-good fini\n",
	  2, NULL },
	/* Both stopped and finalised in reverse order; still loaded, not inited. */
	{ "dependent's start fails", "fixture-dep:start", { "fixture-good", "fixture-dep" }, -EIO,
	  "fixture-dep", "start failed: %s",
	  "fixture-good init greeting=hello rate=10\n"
	  "fixture-dep init\n"
	  "fixture-dep query fixture-good 42\n"
	  "fixture-good start\n"
	  "fixture-dep start\n"
	  "fixture-good stop\n"
	  "fixture-dep fini\n"
	  "fixture-good fini\n",
	  2, NULL },
};

START_TEST(test_start_refusal)
{
	const struct start_refusal *sr = &start_refusals[_i];
	struct modvm_host *host = modvm__host_new();
	char want[512];

	snprintf(this_case, sizeof(this_case), "case %s: ", sr->name);
	if (sr->fail)
		setenv("MODVM_FIXTURE_FAIL", sr->fail, 1);
	for (size_t i = 0; i < sizeof(sr->load) / sizeof(sr->load[0]) && sr->load[i]; i++)
		ck_assert_msg(modvm__host_load_one(host, sr->load[i], NULL) == 0,
			      "case %s: load %s", sr->name, sr->load[i]);
	ck_assert_msg(modvm__host_start(host) == sr->ret, "case %s: start did not return %d",
		      sr->name, sr->ret);
	snprintf(want, sizeof(want), ERR "%%s: %s", sr->says);
	expect_line(want, fixture(sr->who), modvm_strerror(sr->ret));
	ck_assert_msg(strcmp(read_record(), sr->record) == 0, "case %s: recorded\n%s\nwant\n%s",
		      sr->name, read_record(), sr->record);
	ck_assert_msg(modvm__host_plugin_count(host) == sr->loaded, "case %s: %zu loaded, want %u",
		      sr->name, (size_t)modvm__host_plugin_count(host), sr->loaded);
	if (sr->gone)
		ck_assert_msg(!modvm__host_plugin_by_name(host, sr->gone),
			      "case %s: %s still loaded", sr->name, sr->gone);
	ck_assert_msg(subscribers(host, "vm.lifecycle") == 0, "case %s: vm.lifecycle subscribed",
		      sr->name);
	modvm__host_free(host);
}
END_TEST

static void on_cpu_load(const struct modvm_host_cpu_load *l, void *ud)
{
	(void)l;
	(void)ud;
}

/* A plugin built against a reordered copy of a standard event, loaded
 * first: the SDK's layout is registered before any plugin, so it is the
 * one refused, and a plugin built right still gets the event. */
START_TEST(test_reordered_standard_event_refused_first)
{
	struct modvm_host *host = modvm__host_new();

	ck_assert_int_eq(modvm__host_load_one(host, "fixture-reordered", NULL), 0);
	ck_assert_int_eq(modvm__host_start(host), -EPROTO);
	expect_line(ERR "%s: init failed: %s", fixture("fixture-reordered"),
		    modvm_strerror(-EPROTO));
	ck_assert_ptr_null(modvm__host_plugin_by_name(host, "fixture-reordered"));
	ck_assert_int_gt(modvm_subscribe_host_cpu_load(modvm__host_bus(host), 0, on_cpu_load,
						       NULL), 0);
	modvm__host_free(host);
}
END_TEST

/* After its init failed, a plugin's name is free again, and the survivor still cycles. */
START_TEST(test_failed_init_frees_the_name)
{
	struct modvm_host *host = modvm__host_new();

	ck_assert_int_eq(modvm__host_load_one(host, "fixture-good", NULL), 0);
	ck_assert_int_eq(modvm__host_load_one(host, "fixture-init-fails", NULL), 0);
	ck_assert_int_eq(modvm__host_start(host), -EIO);
	ck_assert_int_eq(modvm__host_start(host), 0);
	modvm__host_stop(host);
	ck_assert_int_eq(modvm__host_load_one(host, "fixture-init-fails", NULL), 0);
	modvm__host_free(host);
}
END_TEST

/* ---- lifecycle ---- */

static const char *const full_cycle =
	"fixture-good init greeting=hello rate=10\n"
	"fixture-dep init\n"
	"fixture-dep query fixture-good 42\n"
	"fixture-good start\n"
	"fixture-dep start\n"
	"fixture-dep stop\n"
	"fixture-good stop\n"
	"fixture-dep fini\n"
	"fixture-good fini\n";

START_TEST(test_lifecycle_order)
{
	struct modvm_host *host = modvm__host_new();

	/* Loaded dependent-first: the order must still put fixture-good first. */
	ck_assert_int_eq(modvm__host_load_one(host, "fixture-dep", NULL), 0);
	ck_assert_int_eq(modvm__host_load_one(host, "fixture-good", NULL), 0);
	ck_assert_int_eq(modvm__host_start(host), 0);
	ck_assert_int_eq(modvm__host_start(host), -EALREADY);
	ck_assert_int_eq(modvm__host_run(host), 0);	/* no VM: returns at once */
	modvm__host_stop(host);
	expect_record(full_cycle);
	modvm__host_free(host);
}
END_TEST

START_TEST(test_hundred_cycles)
{
	struct modvm_host *host = modvm__host_new();

	unsetenv("MODVM_FIXTURE_LOG");
	modvm_log_set_level(MODVM_LOG_WARN);
	ck_assert_int_eq(modvm__host_load_one(host, "fixture-good", NULL), 0);
	ck_assert_int_eq(modvm__host_load_one(host, "fixture-dep", NULL), 0);
	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(modvm__host_start(host), 0);
		ck_assert_uint_eq(subscribers(host, "vm.lifecycle"), 1);
		modvm__host_stop(host);
		ck_assert_uint_eq(subscribers(host, "vm.lifecycle"), 0);
	}
	modvm__host_free(host);
	/* And the whole dlopen → init → fini → dlclose path, repeatedly. */
	for (int i = 0; i < 20; i++) {
		host = modvm__host_new();
		ck_assert_ptr_nonnull(host);
		ck_assert_int_eq(modvm__host_load_one(host, "fixture-dep", NULL), 0);
		ck_assert_int_eq(modvm__host_load_one(host, "fixture-good", NULL), 0);
		ck_assert_int_eq(modvm__host_start(host), 0);
		modvm__host_free(host);	/* stops on the way */
	}
	ck_assert_uint_eq(nlines, 0);
}
END_TEST

/* ---- the plugin context ---- */

START_TEST(test_ctx_accessors)
{
	struct modvm_host *host = modvm__host_new();
	struct modvm_plugin_ctx *good;
	const struct modvm_config *cfg;

	ck_assert_int_eq(modvm__host_load_one(host, "fixture-good", &good), 0);
	ck_assert_ptr_eq(modvm__host_plugin_by_name(host, "fixture-good"), good);
	ck_assert_str_eq(modvm_plugin_name(good), "fixture-good");
	ck_assert_ptr_eq(modvm_plugin_bus(good), modvm__host_bus(host));
	ck_assert_ptr_eq(modvm_plugin_loop(good), modvm__host_loop(host));
	cfg = modvm_plugin_config(good);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_str_eq(modvm_config_string(cfg, "greeting"), "hello");
	ck_assert_int_eq(modvm_config_int(cfg, "rate"), 10);
	ck_assert_uint_eq(modvm_config_size(cfg, "buffer"), 4u << 20);
	ck_assert_uint_eq(modvm_plugin_vm_count(good), 0);
	ck_assert_ptr_null(modvm_plugin_vm_name(good, 0));
	ck_assert_ptr_null(modvm_plugin_vm_config(good, 0));
	ck_assert_ptr_null(modvm_plugin_data(good));

	ck_assert_int_eq(modvm__host_start(host), 0);
	ck_assert_ptr_nonnull(modvm_plugin_data(good));	/* set by its init */
	expect_line("modvm: info: fixture-good: ready, greeting hello");
	modvm_plugin_log(good, MODVM_LOG_WARN, "from the test %d", 7);
	expect_line("modvm: warn: fixture-good: from the test 7");
	modvm__host_stop(host);
	ck_assert_ptr_null(modvm_plugin_data(good));
	modvm__host_free(host);
}
END_TEST

START_TEST(test_ctx_config_and_vms)
{
	static const char conf[] =
		"host = { log_level = \"info\"; };\n"
		"plugins = {\n"
		"  fixture-good = { enabled = true; greeting = \"hi\"; rate = 20; };\n"
		"  fixture-dep = { enabled = false; };\n"
		"};\n"
		"vms = (\n"
		"  { name = \"vm0\"; vcpus = 2; fixture-good = { weight = 7; }; },\n"
		"  { name = \"vm1\"; }\n"
		");\n";
	struct modvm_host *host = modvm__host_new();
	struct modvm_plugin_ctx *good;
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/test.conf", tmpdir);
	write_file(path, conf);
	ck_assert_int_eq(modvm__host_load_config(host, path), 0);
	ck_assert_int_eq(modvm__host_load_plugins(host), 0);
	ck_assert_uint_eq(modvm__host_plugin_count(host), 1);
	good = modvm__host_plugin(host, 0);
	ck_assert_str_eq(modvm_config_string(modvm_plugin_config(good), "greeting"), "hi");
	ck_assert_uint_eq(modvm_plugin_vm_count(good), 2);
	ck_assert_str_eq(modvm_plugin_vm_name(good, 0), "vm0");
	ck_assert_str_eq(modvm_plugin_vm_name(good, 1), "vm1");
	ck_assert_ptr_null(modvm_plugin_vm_name(good, 2));
	ck_assert_int_eq(modvm_config_int(modvm_plugin_vm_config(good, 0), "weight"), 7);
	ck_assert_ptr_null(modvm_plugin_vm_config(good, 1));	/* vm1 has no group */

	ck_assert_int_eq(modvm__host_start(host), 0);
	modvm__host_stop(host);
	/* Starting the plugins launches no VM (modvm__host_launch does), so
	 * no vm.lifecycle reaches the plugin: those come from real VMs only
	 * (tests/e2e checks their delivery to this fixture). */
	expect_record("fixture-good init greeting=hi rate=20\n"
		      "fixture-good start\n"
		      "fixture-good stop\n"
		      "fixture-good fini\n");
	ck_assert_int_eq(modvm__host_load_config(host, path), -EBUSY);
	modvm__host_free(host);
}
END_TEST

/* A config whose plugin group is refused: the line names the config's file:line. */
static const struct {
	const char *name;
	const char *conf;
	int ret;		/* modvm__host_load_plugins's */
	const char *says;	/* how the line goes on after "<path>:" */
} config_refusals[] = {
	{ "value out of range",
	  "plugins = {\n  fixture-good = { enabled = true; rate = 500; };\n};\n",
	  -EINVAL, "2: " },
	{ "unknown plugin",
	  "plugins = {\n  no-such-plugin = { enabled = true; };\n};\n",
	  -ENOENT, "2: plugin no-such-plugin: not found (searched " },
};

START_TEST(test_config_refusal)
{
	struct modvm_host *host = modvm__host_new();
	char path[PATH_MAX + 32];
	int r;

	snprintf(this_case, sizeof(this_case), "case %s: ", config_refusals[_i].name);
	snprintf(path, sizeof(path), "%s/x.conf", tmpdir);
	write_file(path, config_refusals[_i].conf);
	ck_assert_int_eq(modvm__host_load_config(host, path), 0);
	r = modvm__host_load_plugins(host);
	ck_assert_msg(r == config_refusals[_i].ret, "case %s: load_plugins %d, want %d",
		      config_refusals[_i].name, r, config_refusals[_i].ret);
	ck_assert_uint_eq(modvm__host_plugin_count(host), 0);
	expect_prefix(ERR "%s:%s", path, config_refusals[_i].says);
	modvm__host_free(host);
}
END_TEST

START_TEST(test_query)
{
	struct modvm_host *host = modvm__host_new();
	struct modvm_plugin_ctx *good, *dep;
	const struct fixture_good_iface *iface;
	const char *provider = NULL;
	static const int core_vtable = 5;

	ck_assert_int_eq(modvm__host_load_one(host, "fixture-good", &good), 0);
	ck_assert_int_eq(modvm__host_load_one(host, "fixture-dep", &dep), 0);
	/* Not initialised yet: nobody answers. */
	ck_assert_ptr_null(modvm_plugin_query(dep, FIXTURE_GOOD_IFACE, NULL));
	ck_assert_int_eq(modvm__host_start(host), 0);

	iface = modvm_plugin_query(dep, FIXTURE_GOOD_IFACE, &provider);
	ck_assert_ptr_nonnull(iface);
	ck_assert_str_eq(provider, "fixture-good");
	ck_assert_int_eq(iface->answer(), 42);
	provider = "unchanged";
	ck_assert_ptr_null(modvm_plugin_query(dep, "fixture.nobody/1", &provider));
	ck_assert_str_eq(provider, "unchanged");
	/* A plugin does not find its own interface through query. */
	ck_assert_ptr_null(modvm_plugin_query(good, FIXTURE_GOOD_IFACE, NULL));

	/* Core interfaces answer first. */
	ck_assert_int_eq(modvm__host_provide_interface(host, "core.test/1", &core_vtable), 0);
	ck_assert_int_eq(modvm__host_provide_interface(host, "core.test/1", &core_vtable),
			 -EEXIST);
	ck_assert_ptr_eq(modvm_plugin_query(good, "core.test/1", &provider), &core_vtable);
	ck_assert_str_eq(provider, "core");
	modvm__host_stop(host);
	ck_assert_ptr_null(modvm_plugin_query(dep, FIXTURE_GOOD_IFACE, NULL));
	modvm__host_free(host);
}
END_TEST

START_TEST(test_kind_names)
{
	ck_assert_str_eq(modvm_plugin_kind_name(MODVM_KIND_OTHER), "other");
	ck_assert_str_eq(modvm_plugin_kind_name(MODVM_KIND_CPU_BACKEND), "cpu-backend");
	ck_assert_str_eq(modvm_plugin_kind_name(MODVM_KIND_MEMORY_POLICY), "memory-policy");
	ck_assert_str_eq(modvm_plugin_kind_name(MODVM_KIND_DEVICE), "device");
	ck_assert_str_eq(modvm_plugin_kind_name(MODVM_KIND_NIC_DRIVER), "nic-driver");
	ck_assert_str_eq(modvm_plugin_kind_name(7), "unknown");
	ck_assert_str_eq(modvm_plugin_kind_name(-1), "unknown");
}
END_TEST

START_TEST(test_search_path)
{
	const char *extra[] = { "/opt/first" };
	char **dirs, *joined, want[PATH_MAX];

	setenv("MODVM_PLUGIN_PATH", "/a::/b:", 1);
	ck_assert_int_eq(modvm__plugin_search_path(extra, 1, NULL, &dirs), 0);
	joined = modvm__strv_join(dirs, ":");
	snprintf(want, sizeof(want), "/opt/first:/a:/b:%s", modvm__plugin_install_dir());
	/* Running from the build tree, the tree's plugin dirs follow, last. */
	ck_assert_int_eq(strncmp(joined, want, strlen(want)), 0);
	const char *rest = joined + strlen(want);
	ck_assert(*rest == '\0' || (rest[0] == ':' && strstr(rest, "/plugins/cpu-svm")));
	free(joined);
	modvm__strv_free(dirs);
}
END_TEST

START_TEST(test_host_tables_valid)
{
	char err[256] = "";

	ck_assert_msg(modvm__config_check_table(modvm__host_options(), err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_msg(modvm__config_check_table(modvm__host_vm_options(), err, sizeof(err)) == 0,
		      "%s", err);
}
END_TEST

static Suite *loader_suite(void)
{
	Suite *s = suite_create("loader");
	TCase *t = tcase_create("refusals");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_loop_test(t, test_refusal, 0, sizeof(refusals) / sizeof(refusals[0]));
	tcase_add_test(t, test_refuse_tiny);
	tcase_add_loop_test(t, test_path_refusal, 0,
			    sizeof(path_refusals) / sizeof(path_refusals[0]));
	tcase_add_test(t, test_refuse_unknown_name);
	tcase_add_test(t, test_refuse_duplicate_same_file);
	tcase_add_test(t, test_refuse_duplicate_two_files);
	tcase_add_test(t, test_symlinked_plugin_keeps_its_name);
	tcase_add_loop_test(t, test_start_refusal, 0,
			    sizeof(start_refusals) / sizeof(start_refusals[0]));
	tcase_add_test(t, test_failed_init_frees_the_name);
	tcase_add_test(t, test_reordered_standard_event_refused_first);
	tcase_add_loop_test(t, test_config_refusal, 0,
			    sizeof(config_refusals) / sizeof(config_refusals[0]));
	suite_add_tcase(s, t);

	t = tcase_create("lifecycle");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_lifecycle_order);
	tcase_add_test(t, test_hundred_cycles);
	suite_add_tcase(s, t);

	t = tcase_create("ctx");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_ctx_accessors);
	tcase_add_test(t, test_ctx_config_and_vms);
	tcase_add_test(t, test_query);
	tcase_add_test(t, test_kind_names);
	tcase_add_test(t, test_search_path);
	tcase_add_test(t, test_host_tables_valid);
	suite_add_tcase(s, t);
	return s;
}

int main(int argc, char **argv)
{
	SRunner *sr;
	int failed;

	if (argc < 2 || !realpath(argv[1], fixture_dir)) {
		fprintf(stderr, "usage: %s FIXTURE_PLUGIN_DIR\n", argv[0]);
		return 2;
	}
	sr = srunner_create(loader_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
