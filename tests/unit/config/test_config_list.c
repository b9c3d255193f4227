/*
 * LIST options: a list of groups validated element by element against the
 * list's fields, read through modvm_config_list_count/_elem, and refused
 * with messages that name the file, the line and the element index.
 */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "capture.h"

/* What a disk plugin declares per VM. */
static const struct modvm_option blk[] = {
	{ .name = "disks", .type = MODVM_OPT_LIST, .default_value = "()", .min = 0, .max = 4,
	  .description = "the VM's disks" },
	{ .name = "disks.path", .type = MODVM_OPT_STRING },
	{ .name = "disks.readonly", .type = MODVM_OPT_BOOL, .default_value = "false" },
	{ .name = "disks.cache", .type = MODVM_OPT_ENUM, .default_value = "writeback",
	  .choices = "writeback|none" },
	{ .name = "disks.limit.iops", .type = MODVM_OPT_INT, .default_value = "0", .min = 0,
	  .max = 1000000 },
	{ .name = "disks.tags", .type = MODVM_OPT_LIST, .default_value = "()" },
	{ .name = "disks.tags.name", .type = MODVM_OPT_STRING },
	{ .name = "queues", .type = MODVM_OPT_INT, .default_value = "1", .min = 1, .max = 8 },
	MODVM_OPTIONS_END
};

static char tmpdir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void in_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/modvm-cfglist-XXXXXX");
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

/* Writes x.conf with one VM whose `blk` group is @group, and opens it. */
static struct modvm__cfgfile *open_vm(const char *group)
{
	struct modvm__cfgfile *cf = NULL;
	FILE *f = fopen("x.conf", "w");

	ck_assert_ptr_nonnull(f);
	fprintf(f, "vms = (\n  { name = \"a\";\n    blk = %s\n  }\n);\n", group);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(modvm__config_open("x.conf", &cf), 0);
	return cf;
}

START_TEST(test_list_values)
{
	struct modvm__cfgfile *cf = open_vm(
		"{\n"						/* line 3 */
		"      disks = (\n"				/* 4 */
		"        { path = \"a.img\"; },\n"		/* 5 */
		"        { path = \"b.img\"; readonly = true; cache = \"none\";\n"	/* 6 */
		"          limit = { iops = 500; };\n"		/* 7 */
		"          tags = ( { name = \"fast\"; }, { name = \"db\"; } ); }\n"	/* 8 */
		"      );\n"
		"      queues = 2;\n"
		"    };");
	struct modvm_config *cfg = NULL;

	ck_assert_int_eq(modvm__config_resolve_vm_plugin(cf, 0, "blk", blk, &cfg), 0);
	/* The elements must not borrow from libconfig. */
	modvm__config_close(cf);
	ck_assert_int_eq(capture_count(), 0);
	ck_assert_str_eq(modvm_config_key(cfg), "vms.[0].blk");
	ck_assert_int_eq(modvm_config_int(cfg, "queues"), 2);
	ck_assert_uint_eq(modvm_config_list_count(cfg, "disks"), 2);
	ck_assert_str_eq(modvm_config_where(cfg, "disks"), "x.conf:4");

	const struct modvm_config *d0 = modvm_config_list_elem(cfg, "disks", 0);
	const struct modvm_config *d1 = modvm_config_list_elem(cfg, "disks", 1);
	ck_assert_ptr_nonnull(d0);
	ck_assert_ptr_nonnull(d1);
	ck_assert_ptr_null(modvm_config_list_elem(cfg, "disks", 2));
	ck_assert_str_eq(modvm_config_key(d1), "vms.[0].blk.disks.[1]");
	/* Element 0 gets the defaults of the fields it left out. */
	ck_assert_str_eq(modvm_config_string(d0, "path"), "a.img");
	ck_assert(!modvm_config_bool(d0, "readonly"));
	ck_assert(!modvm_config_is_set(d0, "readonly"));
	ck_assert_str_eq(modvm_config_string(d0, "cache"), "writeback");
	ck_assert_int_eq(modvm_config_int(d0, "limit.iops"), 0);
	ck_assert_uint_eq(modvm_config_list_count(d0, "tags"), 0);
	ck_assert_str_eq(modvm_config_where(d0, "path"), "x.conf:5");
	/* Element 1 sets everything, with a nested group and a nested list. */
	ck_assert_str_eq(modvm_config_string(d1, "path"), "b.img");
	ck_assert(modvm_config_bool(d1, "readonly"));
	ck_assert_str_eq(modvm_config_string(d1, "cache"), "none");
	ck_assert_int_eq(modvm_config_int(d1, "limit.iops"), 500);
	ck_assert_str_eq(modvm_config_where(d1, "limit.iops"), "x.conf:7");
	ck_assert_uint_eq(modvm_config_list_count(d1, "tags"), 2);
	const struct modvm_config *t1 = modvm_config_list_elem(d1, "tags", 1);
	ck_assert_str_eq(modvm_config_string(t1, "name"), "db");
	ck_assert_str_eq(modvm_config_key(t1), "vms.[0].blk.disks.[1].tags.[1]");
	ck_assert_int_eq(capture_count(), 0);
	modvm__config_free(cfg);
}
END_TEST

/* An absent list takes its "()" default; `()` and `[]` are empty lists. */
START_TEST(test_list_empty_forms)
{
	static const char *const forms[] = { "{ queues = 1; };", "{ disks = (); };",
					     "{ disks = []; };" };
	for (size_t i = 0; i < 3; i++) {
		struct modvm__cfgfile *cf = open_vm(forms[i]);
		struct modvm_config *cfg = NULL;

		ck_assert_int_eq(modvm__config_resolve_vm_plugin(cf, 0, "blk", blk, &cfg), 0);
		ck_assert_uint_eq(modvm_config_list_count(cfg, "disks"), 0);
		ck_assert_ptr_null(modvm_config_list_elem(cfg, "disks", 0));
		ck_assert(modvm_config_is_set(cfg, "disks") == (i > 0));
		modvm__config_free(cfg);
		modvm__config_close(cf);
	}
	ck_assert_int_eq(capture_count(), 0);
}
END_TEST

/* Every mistake of every element in one run, each naming its element. */
START_TEST(test_list_element_errors)
{
	struct modvm__cfgfile *cf = open_vm(
		"{\n"						/* line 3 */
		"      disks = (\n"				/* 4 */
		"        { readonly = true; },\n"		/* 5: path missing */
		"        { path = \"b\"; color = \"red\"; },\n"	/* 6: unknown key */
		"        5,\n"					/* 7: not a group */
		"        { path = 7.5; cache = \"lots\";\n"	/* 8: wrong types */
		"          limit = { iops = -1; }; tags = ( { } ); }\n"	/* 9 */
		"      );\n"
		"    };");
	struct modvm_config *cfg = (void *)1;

	ck_assert_int_eq(modvm__config_resolve_vm_plugin(cf, 0, "blk", blk, &cfg), -EINVAL);
	ck_assert_ptr_null(cfg);
	ASSERT_LOGGED(
		"x.conf:5: vms.[0].blk.disks.[0].path: required key missing",
		"x.conf:6: vms.[0].blk.disks.[1].color: unknown key "
		"(known: path, readonly, cache, limit, tags)",
		"x.conf:7: vms.[0].blk.disks.[2]: expected a group, got an integer",
		"x.conf:8: vms.[0].blk.disks.[3].path: expected a string, got a float",
		"x.conf:8: vms.[0].blk.disks.[3].cache: \"lots\" is not one of writeback|none",
		"x.conf:9: vms.[0].blk.disks.[3].limit.iops: -1 is out of range [0, 1000000]",
		"x.conf:9: vms.[0].blk.disks.[3].tags.[0].name: required key missing");
	modvm__config_close(cf);
}
END_TEST

static const struct {
	const char *group;
	const char *line;
} list_refusals[] = {
	{ "{ disks = { path = \"a\"; }; };",
	  "x.conf:3: vms.[0].blk.disks: expected a list of groups ( { ... }, ... ), got a group" },
	{ "{ disks = \"a.img\"; };",
	  "x.conf:3: vms.[0].blk.disks: expected a list of groups ( { ... }, ... ), got a string" },
	{ "{ disks = [ \"a\", \"b\" ]; };",
	  "x.conf:3: vms.[0].blk.disks: expected a list of groups ( { ... }, ... ), got an array" },
	{ "{ disks = ( {path=\"a\";}, {path=\"b\";}, {path=\"c\";}, {path=\"d\";}, {path=\"e\";} ); };",
	  "x.conf:3: vms.[0].blk.disks: 5 elements, allowed [0, 4]" },
	{ "{ path = \"a\"; };", "x.conf:3: vms.[0].blk.path: unknown key (known: disks, queues)" },
};

START_TEST(test_list_refused)
{
	struct modvm__cfgfile *cf = open_vm(list_refusals[_i].group);
	struct modvm_config *cfg = (void *)1;

	ck_assert_int_eq(modvm__config_resolve_vm_plugin(cf, 0, "blk", blk, &cfg), -EINVAL);
	ck_assert_ptr_null(cfg);
	ASSERT_LOGGED(list_refusals[_i].line);
	modvm__config_close(cf);
}
END_TEST

/* A list without a default is required, and its element count bounded. */
START_TEST(test_list_required)
{
	static const struct modvm_option need[] = {
		{ .name = "nics", .type = MODVM_OPT_LIST, .min = 1, .max = 2 },
		{ .name = "nics.tap", .type = MODVM_OPT_STRING, .default_value = "" },
		MODVM_OPTIONS_END
	};
	struct modvm__cfgfile *cf = open_vm("{ };");
	struct modvm_config *cfg = NULL;

	ck_assert_int_eq(modvm__config_resolve_vm_plugin(cf, 0, "blk", need, &cfg), -EINVAL);
	ASSERT_LOGGED("x.conf:3: vms.[0].blk.nics: required key missing");
	modvm__config_close(cf);

	capture_start();
	cf = open_vm("{ nics = (); };");
	ck_assert_int_eq(modvm__config_resolve_vm_plugin(cf, 0, "blk", need, &cfg), -EINVAL);
	ASSERT_LOGGED("x.conf:3: vms.[0].blk.nics: 0 elements, allowed [1, 2]");
	modvm__config_close(cf);

	cf = open_vm("{ nics = ( { } ); };");
	ck_assert_int_eq(modvm__config_resolve_vm_plugin(cf, 0, "blk", need, &cfg), 0);
	ck_assert_uint_eq(modvm_config_list_count(cfg, "nics"), 1);
	ck_assert_str_eq(modvm_config_string(modvm_config_list_elem(cfg, "nics", 0), "tap"), "");
	modvm__config_free(cfg);
	modvm__config_close(cf);
}
END_TEST

/* A list in the host's and a plugin's group works the same way. */
START_TEST(test_list_in_plugin_group)
{
	struct modvm__cfgfile *cf = NULL;
	struct modvm_config *cfg = NULL;
	FILE *f = fopen("x.conf", "w");

	ck_assert_ptr_nonnull(f);
	fputs("plugins = { blk = { enabled = true;\n"
	      "  disks = ( { path = \"p\"; }, { path = 1; } ); }; };\n", f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(modvm__config_open("x.conf", &cf), 0);
	/* A bare integer for a string option stays accepted in elements too. */
	ck_assert_int_eq(modvm__config_resolve_plugin(cf, 0, blk, &cfg), 0);
	ck_assert_str_eq(modvm_config_key(cfg), "plugins.blk");
	ck_assert_str_eq(
		modvm_config_string(modvm_config_list_elem(cfg, "disks", 1), "path"), "1");
	modvm__config_free(cfg);
	modvm__config_close(cf);
}
END_TEST

/* ---- without a file ---- */

START_TEST(test_list_defaults_and_misuse)
{
	struct modvm_config *cfg = NULL;

	ck_assert_int_eq(modvm__config_defaults(blk, &cfg), 0);
	ck_assert_str_eq(modvm_config_key(cfg), "");
	ck_assert_uint_eq(modvm_config_list_count(cfg, "disks"), 0);
	ck_assert_str_eq(modvm_config_where(cfg, "disks"), "(default)");
	/* An element field read through the list's parent is a programming error. */
	ck_assert_ptr_null(modvm_config_string(cfg, "disks.path"));
	ck_assert_uint_eq(modvm_config_list_count(cfg, "queues"), 0);
	ck_assert_uint_eq(modvm_config_list_count(cfg, "nothing"), 0);
	ASSERT_LOGGED("config: option \"disks.path\" is a list element field: read it from "
		      "modvm_config_list_elem()",
		      "config: option \"queues\" is an integer, not a list",
		      "config: option \"nothing\" is not declared");
	ck_assert_str_eq(modvm_config_key(NULL), "");
	modvm__config_free(cfg);
}
END_TEST

START_TEST(test_list_text_values)
{
	char err[256];

	ck_assert_int_eq(modvm__config_check_value(&blk[0], "()", err, sizeof(err)), 0);
	ck_assert_int_eq(modvm__config_check_value(&blk[0], "5", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "\"5\" is not a list (write ( { ... }, ... ) in the file; the only "
			      "default is \"()\")");
	ck_assert_int_eq(modvm__config_check_value(&blk[0], "", err, sizeof(err)), -EINVAL);
}
END_TEST

static const struct {
	struct modvm_option table[3];
	const char *err;
} bad_tables[] = {
	{ { { .name = "l", .type = MODVM_OPT_LIST, .default_value = "()" }, MODVM_OPTIONS_END },
	  "option \"l\": a list needs element fields (\"l.FIELD\")" },
	{ { { .name = "l", .type = MODVM_OPT_LIST, .default_value = "( {} )" },
	    { .name = "l.x", .type = MODVM_OPT_INT }, MODVM_OPTIONS_END },
	  "option \"l\": default \"( {} )\" is not a list (write ( { ... }, ... ) in the file; "
	  "the only default is \"()\")" },
	{ { { .name = "l", .type = MODVM_OPT_LIST, .min = -1, .max = 2 },
	    { .name = "l.x", .type = MODVM_OPT_INT }, MODVM_OPTIONS_END },
	  "option \"l\": a negative element count" },
	{ { { .name = "l", .type = MODVM_OPT_LIST, .min = 3, .max = 2 },
	    { .name = "l.x", .type = MODVM_OPT_INT }, MODVM_OPTIONS_END },
	  "option \"l\": min 3 is greater than max 2" },
	/* Only a list may have dotted children besides groups. */
	{ { { .name = "l", .type = MODVM_OPT_INT, .default_value = "1" },
	    { .name = "l.x", .type = MODVM_OPT_INT }, MODVM_OPTIONS_END },
	  "option \"l.x\": clashes with option \"l\"" },
	{ { { .name = "l.x", .type = MODVM_OPT_INT },
	    { .name = "l", .type = MODVM_OPT_STRING }, MODVM_OPTIONS_END },
	  "option \"l\": clashes with option \"l.x\"" },
	{ { { .name = "l", .type = MODVM_OPT_LIST },
	    { .name = "l.x", .type = MODVM_OPT_INT, .default_value = "a" }, MODVM_OPTIONS_END },
	  "option \"l.x\": default \"a\" is not an integer" },
	{ { { .name = "l", .type = 99 }, MODVM_OPTIONS_END }, "option \"l\": unknown type 99" },
};

START_TEST(test_list_bad_tables)
{
	char err[256];

	ck_assert_int_eq(modvm__config_check_table(bad_tables[_i].table, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, bad_tables[_i].err);
}
END_TEST

START_TEST(test_list_good_tables)
{
	static const struct modvm_option fields_first[] = {
		{ .name = "l.x", .type = MODVM_OPT_INT },
		{ .name = "l", .type = MODVM_OPT_LIST },
		MODVM_OPTIONS_END
	};
	char err[256] = "";

	ck_assert_int_eq(modvm__config_check_table(blk, err, sizeof(err)), 0);
	ck_assert_int_eq(modvm__config_check_table(fields_first, err, sizeof(err)), 0);
	ck_assert_str_eq(err, "");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config-list");
	TCase *file = tcase_create("file");
	TCase *pure = tcase_create("tables");

	tcase_add_checked_fixture(file, in_tmpdir, out_of_tmpdir);
	tcase_add_test(file, test_list_values);
	tcase_add_test(file, test_list_empty_forms);
	tcase_add_test(file, test_list_element_errors);
	tcase_add_loop_test(file, test_list_refused, 0,
			    sizeof(list_refusals) / sizeof(list_refusals[0]));
	tcase_add_test(file, test_list_required);
	tcase_add_test(file, test_list_in_plugin_group);
	suite_add_tcase(s, file);

	tcase_add_checked_fixture(pure, capture_start, capture_stop);
	tcase_add_test(pure, test_list_defaults_and_misuse);
	tcase_add_test(pure, test_list_text_values);
	tcase_add_loop_test(pure, test_list_bad_tables, 0,
			    sizeof(bad_tables) / sizeof(bad_tables[0]));
	tcase_add_test(pure, test_list_good_tables);
	suite_add_tcase(s, pure);

	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
