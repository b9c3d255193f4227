/*
 * Option values without a file: size parsing, text checks, table checks,
 * defaults and accessor misuse.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "capture.h"

static void start(void)
{
	capture_start();
}

static void stop(void)
{
	capture_stop();
}

/* ---- modvm_parse_size ---- */

static const struct {
	const char *text;
	int ret;
	uint64_t bytes;
} sizes[] = {
	{ "0", 0, 0 },
	{ "4096", 0, 4096 },
	{ "100B", 0, 100 },
	{ "512K", 0, 512ULL << 10 },
	{ "512k", 0, 512ULL << 10 },
	{ "512M", 0, 512ULL << 20 },
	{ "4G", 0, 4ULL << 30 },
	{ "4GB", 0, 4ULL << 30 },
	{ "4GiB", 0, 4ULL << 30 },
	{ "4gib", 0, 4ULL << 30 },
	{ "1T", 0, 1ULL << 40 },
	{ "1tb", 0, 1ULL << 40 },
	{ "16777215T", 0, 16777215ULL << 40 },
	{ "18446744073709551615", 0, UINT64_MAX },
	{ "", -EINVAL, 0 },
	{ "G", -EINVAL, 0 },
	{ "-1", -EINVAL, 0 },
	{ "+1", -EINVAL, 0 },
	{ " 1", -EINVAL, 0 },
	{ "1 G", -EINVAL, 0 },
	{ "1G ", -EINVAL, 0 },
	{ "1.5G", -EINVAL, 0 },
	{ "1P", -EINVAL, 0 },
	{ "12Q", -EINVAL, 0 },
	{ "1iB", -EINVAL, 0 },
	{ "1Gi", -EINVAL, 0 },
	{ "1KK", -EINVAL, 0 },
	{ "0x10", -EINVAL, 0 },
	{ "99999999999999999999999Q", -EINVAL, 0 },
	{ "18446744073709551616", -ERANGE, 0 },
	{ "16777216T", -ERANGE, 0 },
	{ "99999999999999999999999K", -ERANGE, 0 },
	{ "17179869184G", -ERANGE, 0 },
};

START_TEST(test_parse_size)
{
	uint64_t out = 12345;
	int r = modvm_parse_size(sizes[_i].text, &out);

	ck_assert_msg(r == sizes[_i].ret, "\"%s\": got %d, want %d", sizes[_i].text, r,
		      sizes[_i].ret);
	if (r == 0)
		ck_assert_uint_eq(out, sizes[_i].bytes);
	else
		ck_assert_uint_eq(out, 12345);	/* untouched on failure */
}
END_TEST

START_TEST(test_parse_size_null)
{
	uint64_t out;

	ck_assert_int_eq(modvm_parse_size(NULL, &out), -EINVAL);
}
END_TEST

/* ---- modvm__config_check_value ---- */

static const struct modvm_option opt_int = {
	.name = "interval_ms", .type = MODVM_OPT_INT, .default_value = "100", .min = 10, .max = 60000,
};
static const struct modvm_option opt_size = {
	.name = "memory", .type = MODVM_OPT_SIZE, .default_value = "64M",
	.min = 64LL << 20, .max = 1LL << 40,
};
static const struct modvm_option opt_odd_size = {
	.name = "buf", .type = MODVM_OPT_SIZE, .default_value = "1000", .min = 1000, .max = 1536 << 10,
};
static const struct modvm_option opt_enum = {
	.name = "slat", .type = MODVM_OPT_ENUM, .default_value = "off",
	.choices = "required|preferred|off",
};
static const struct modvm_option opt_bool = { .name = "b", .type = MODVM_OPT_BOOL };
static const struct modvm_option opt_double = {
	.name = "d", .type = MODVM_OPT_DOUBLE, .min = -1, .max = 1,
};
static const struct modvm_option opt_string = { .name = "s", .type = MODVM_OPT_STRING };

static const struct {
	const struct modvm_option *opt;
	const char *value;
	const char *err;	/* NULL: valid */
} values[] = {
	{ &opt_int, "10", NULL },
	{ &opt_int, "60000", NULL },
	{ &opt_int, "0x20", NULL },
	{ &opt_int, "5", "5 is out of range [10, 60000]" },
	{ &opt_int, "-5", "-5 is out of range [10, 60000]" },
	{ &opt_int, "fast", "\"fast\" is not an integer" },
	{ &opt_int, "1.5", "\"1.5\" is not an integer" },
	{ &opt_int, "99999999999999999999", "\"99999999999999999999\" does not fit in 64 bits" },
	{ &opt_size, "64M", NULL },
	{ &opt_size, "1T", NULL },
	{ &opt_size, "32M", "\"32M\" is out of range [64M, 1T]" },
	{ &opt_size, "1025G", "\"1025G\" is out of range [64M, 1T]" },
	{ &opt_size, "12Q", "\"12Q\" is not a size (use bytes or K/M/G/T, e.g. \"512M\")" },
	{ &opt_size, "99999T", "\"99999T\" is out of range [64M, 1T]" },
	{ &opt_odd_size, "999", "\"999\" is out of range [1000, 1536K]" },
	{ &opt_enum, "preferred", NULL },
	{ &opt_enum, "prefer", "\"prefer\" is not one of required|preferred|off" },
	{ &opt_enum, "off|on", "\"off|on\" is not one of required|preferred|off" },
	{ &opt_enum, "OFF", "\"OFF\" is not one of required|preferred|off" },
	{ &opt_bool, "true", NULL },
	{ &opt_bool, "FALSE", NULL },
	{ &opt_bool, "yes", "\"yes\" is not a boolean (use true or false)" },
	{ &opt_double, "-0.5", NULL },
	{ &opt_double, "1", NULL },
	{ &opt_double, "1.5", "1.5 is out of range [-1, 1]" },
	{ &opt_double, "half", "\"half\" is not a number" },
	{ &opt_double, "nan", "\"nan\" is not a number" },
	{ &opt_string, "", NULL },
	{ &opt_string, "anything at all", NULL },
};

START_TEST(test_check_value)
{
	char err[256] = "untouched";
	int r = modvm__config_check_value(values[_i].opt, values[_i].value, err, sizeof(err));

	if (!values[_i].err) {
		ck_assert_msg(r == 0, "%s = \"%s\": %s", values[_i].opt->name, values[_i].value, err);
	} else {
		ck_assert_int_eq(r, -EINVAL);
		ck_assert_str_eq(err, values[_i].err);
	}
}
END_TEST

START_TEST(test_check_value_size_too_large)
{
	char err[128];

	ck_assert_int_eq(modvm__config_check_value(&opt_size, "99999999T", err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "\"99999999T\" is too large for a size");
}
END_TEST

/* ---- modvm__config_check_table ---- */

START_TEST(test_check_table_good)
{
	static const struct modvm_option good[] = {
		{ .name = "interval_ms", .type = MODVM_OPT_INT, .default_value = "100",
		  .min = 10, .max = 60000 },
		{ .name = "cpu.slat", .type = MODVM_OPT_ENUM, .default_value = "off",
		  .choices = "required|preferred|off" },
		{ .name = "cpu.backend", .type = MODVM_OPT_STRING },
		{ .name = "cpu-count", .type = MODVM_OPT_INT, .default_value = "1" },
		MODVM_OPTIONS_END
	};
	char err[256] = "";

	ck_assert_int_eq(modvm__config_check_table(good, err, sizeof(err)), 0);
	ck_assert_int_eq(modvm__config_check_table(NULL, err, sizeof(err)), 0);
}
END_TEST

#define BAD_TABLE(test, msg, ...)                                                      \
	START_TEST(test)                                                               \
	{                                                                              \
		static const struct modvm_option t[] = { __VA_ARGS__, MODVM_OPTIONS_END }; \
		char err[256] = "";                                                    \
		ck_assert_int_eq(modvm__config_check_table(t, err, sizeof(err)), -EINVAL); \
		ck_assert_str_eq(err, msg);                                            \
	}                                                                              \
	END_TEST

BAD_TABLE(test_table_default_out_of_range,
	  "option \"interval_ms\": default 5 is out of range [10, 60000]",
	  { .name = "interval_ms", .type = MODVM_OPT_INT, .default_value = "5", .min = 10,
	    .max = 60000 })
BAD_TABLE(test_table_bad_enum_default,
	  "option \"slat\": default \"maybe\" is not one of required|preferred|off",
	  { .name = "slat", .type = MODVM_OPT_ENUM, .default_value = "maybe",
	    .choices = "required|preferred|off" })
BAD_TABLE(test_table_bad_size_default,
	  "option \"m\": default \"lots\" is not a size (use bytes or K/M/G/T, e.g. \"512M\")",
	  { .name = "m", .type = MODVM_OPT_SIZE, .default_value = "lots" })
BAD_TABLE(test_table_duplicate, "option \"a\": declared twice",
	  { .name = "a", .type = MODVM_OPT_INT, .default_value = "1" },
	  { .name = "b", .type = MODVM_OPT_INT, .default_value = "1" },
	  { .name = "a", .type = MODVM_OPT_BOOL, .default_value = "true" })
BAD_TABLE(test_table_empty_name, "option #1 has no name",
	  { .name = "a", .type = MODVM_OPT_INT, .default_value = "1" },
	  { .name = "", .type = MODVM_OPT_INT, .default_value = "1" })
BAD_TABLE(test_table_null_name, "option #0 has no name",
	  { .name = NULL, .type = MODVM_OPT_INT, .default_value = "1" })
BAD_TABLE(test_table_bad_name,
	  "option \"cpu..slat\": bad name (letters, digits, '-', '_'; '.' between groups)",
	  { .name = "cpu..slat", .type = MODVM_OPT_BOOL })
BAD_TABLE(test_table_bad_type, "option \"a\": unknown type 42",
	  { .name = "a", .type = (enum modvm_opt_type)42 })
BAD_TABLE(test_table_enum_no_choices, "option \"e\": an enum needs choices (\"a|b\")",
	  { .name = "e", .type = MODVM_OPT_ENUM })
BAD_TABLE(test_table_enum_empty_choice, "option \"e\": empty choice in \"a||b\"",
	  { .name = "e", .type = MODVM_OPT_ENUM, .choices = "a||b" })
BAD_TABLE(test_table_min_gt_max, "option \"n\": min 5 is greater than max 1",
	  { .name = "n", .type = MODVM_OPT_INT, .min = 5, .max = 1 })
BAD_TABLE(test_table_negative_size, "option \"m\": a size cannot have a negative bound",
	  { .name = "m", .type = MODVM_OPT_SIZE, .min = -1, .max = 10 })
BAD_TABLE(test_table_option_and_group, "option \"cpu.slat\": clashes with option \"cpu\"",
	  { .name = "cpu", .type = MODVM_OPT_INT, .default_value = "1" },
	  { .name = "cpu.slat", .type = MODVM_OPT_BOOL })
BAD_TABLE(test_table_bad_bool_default,
	  "option \"b\": default \"yes\" is not a boolean (use true or false)",
	  { .name = "b", .type = MODVM_OPT_BOOL, .default_value = "yes" })

/* ---- defaults and accessors ---- */

static const struct modvm_option table[] = {
	{ .name = "on", .type = MODVM_OPT_BOOL, .default_value = "true" },
	{ .name = "n", .type = MODVM_OPT_INT, .default_value = "-7" },
	{ .name = "mem", .type = MODVM_OPT_SIZE, .default_value = "2G" },
	{ .name = "ratio", .type = MODVM_OPT_DOUBLE, .default_value = "0.75" },
	{ .name = "label", .type = MODVM_OPT_STRING, .default_value = "hello" },
	{ .name = "cpu.slat", .type = MODVM_OPT_ENUM, .default_value = "off",
	  .choices = "required|preferred|off" },
	{ .name = "backend", .type = MODVM_OPT_STRING },
	MODVM_OPTIONS_END
};

START_TEST(test_defaults)
{
	struct modvm_config *cfg = NULL;

	ck_assert_int_eq(modvm__config_defaults(table, &cfg), 0);
	ck_assert(modvm_config_bool(cfg, "on"));
	ck_assert_int_eq(modvm_config_int(cfg, "n"), -7);
	ck_assert_uint_eq(modvm_config_size(cfg, "mem"), 2ULL << 30);
	ck_assert_double_eq(modvm_config_double(cfg, "ratio"), 0.75);
	ck_assert_str_eq(modvm_config_string(cfg, "label"), "hello");
	ck_assert_str_eq(modvm_config_string(cfg, "cpu.slat"), "off");
	/* Required options have no default: they read as empty. */
	ck_assert_ptr_null(modvm_config_string(cfg, "backend"));
	ck_assert(!modvm_config_is_set(cfg, "mem"));
	ck_assert_str_eq(modvm_config_where(cfg, "mem"), "(default)");
	ck_assert_int_eq(capture_count(), 0);
	modvm__config_free(cfg);

	ck_assert_int_eq(modvm__config_defaults(NULL, &cfg), 0);
	ck_assert_ptr_nonnull(cfg);
	modvm__config_free(cfg);
	modvm__config_free(NULL);
}
END_TEST

START_TEST(test_defaults_bad_table)
{
	static const struct modvm_option bad[] = {
		{ .name = "e", .type = MODVM_OPT_ENUM, .default_value = "x", .choices = "a|b" },
		MODVM_OPTIONS_END
	};
	struct modvm_config *cfg = (void *)1;

	ck_assert_int_eq(modvm__config_defaults(bad, &cfg), -EINVAL);
	ck_assert_ptr_null(cfg);
	ASSERT_LOGGED("option table: option \"e\": default \"x\" is not one of a|b");
}
END_TEST

START_TEST(test_accessor_misuse)
{
	struct modvm_config *cfg = NULL;

	ck_assert_int_eq(modvm__config_defaults(table, &cfg), 0);
	ck_assert_int_eq(modvm_config_int(cfg, "nope"), 0);
	ck_assert_str_eq(modvm_config_string(cfg, "n") ? "set" : "NULL", "NULL");
	ck_assert(!modvm_config_bool(cfg, "n"));
	ck_assert_uint_eq(modvm_config_size(cfg, "n"), 0);
	ck_assert_double_eq(modvm_config_double(cfg, "mem"), 0.0);
	ck_assert_int_eq(modvm_config_int(cfg, "on"), 0);
	ck_assert(!modvm_config_is_set(cfg, "nope"));
	ck_assert_ptr_null(modvm_config_where(cfg, "nope"));
	ck_assert_int_eq(modvm_config_int(NULL, "n"), 0);
	ASSERT_LOGGED("config: option \"nope\" is not declared",
		      "config: option \"n\" is an integer, not a string",
		      "config: option \"n\" is an integer, not a boolean",
		      "config: option \"n\" is an integer, not a size",
		      "config: option \"mem\" is a size, not a double",
		      "config: option \"on\" is a boolean, not an integer",
		      "config: option \"nope\" is not declared",
		      "config: option \"nope\" is not declared",
		      "config: option \"n\" asked of no config");
	modvm__config_free(cfg);
}
END_TEST

static Suite *config_values_suite(void)
{
	Suite *s = suite_create("config-values");
	TCase *tc = tcase_create("values");

	tcase_add_checked_fixture(tc, start, stop);
	tcase_add_loop_test(tc, test_parse_size, 0, (int)(sizeof(sizes) / sizeof(sizes[0])));
	tcase_add_test(tc, test_parse_size_null);
	tcase_add_loop_test(tc, test_check_value, 0, (int)(sizeof(values) / sizeof(values[0])));
	tcase_add_test(tc, test_check_value_size_too_large);
	tcase_add_test(tc, test_check_table_good);
	tcase_add_test(tc, test_table_default_out_of_range);
	tcase_add_test(tc, test_table_bad_enum_default);
	tcase_add_test(tc, test_table_bad_size_default);
	tcase_add_test(tc, test_table_duplicate);
	tcase_add_test(tc, test_table_empty_name);
	tcase_add_test(tc, test_table_null_name);
	tcase_add_test(tc, test_table_bad_name);
	tcase_add_test(tc, test_table_bad_type);
	tcase_add_test(tc, test_table_enum_no_choices);
	tcase_add_test(tc, test_table_enum_empty_choice);
	tcase_add_test(tc, test_table_min_gt_max);
	tcase_add_test(tc, test_table_negative_size);
	tcase_add_test(tc, test_table_option_and_group);
	tcase_add_test(tc, test_table_bad_bool_default);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_defaults_bad_table);
	tcase_add_test(tc, test_accessor_misuse);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_values_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
