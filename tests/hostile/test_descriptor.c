/*
 * Item 11: the loader and VM names.  A descriptor with a garbage name or
 * requires pointer crashed the loader; a function exported under the
 * descriptor's name was read as one; VM names took "", newlines and escape
 * sequences (forging `ctl status` lines) and "0", which ctl reads as a VM
 * id.  Each fixture below carries one such descriptor: `modvm plugins
 * --describe` and `modvm check` must refuse it with one line naming the
 * field, never die of a signal.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostile.h"
#include "run_modvm.h"

static struct run_result res;

static void refused(const char *plugin, const char *what)
{
	run_modvm(&res, 30, "plugins", "--describe", plugin, NULL);
	ck_assert_msg(res.status == 2, "%s: exit %d (-1: killed by a signal)\n%s", plugin,
		      res.status, res.err);
	ck_assert_msg(strstr(res.err, what), "%s: no \"%s\" in:\n%s", plugin, what, res.err);
	const char *conf = write_text("p.conf", "plugins = { %s = { enabled = true; }; };\n",
				      plugin);
	run_modvm(&res, 30, "check", conf, NULL);
	ck_assert_msg(res.status == 2, "check %s: exit %d\n%s", plugin, res.status, res.err);
	ck_assert_msg(strstr(res.err, what), "check %s: no \"%s\" in:\n%s", plugin, what, res.err);
}

START_TEST(garbage_pointers_refused_not_followed)
{
	refused("fixture-badptr-name", "descriptor field name points outside the plugin");
	refused("fixture-badptr-requires", "descriptor field requires points outside the plugin");
	refused("fixture-badptr-reqentry",
		"descriptor field requires has an entry pointing outside the plugin");
	refused("fixture-badptr-init", "descriptor field init points outside the plugin's code");
	refused("fixture-badptr-options",
		"descriptor field options has a string pointing outside the plugin");
	tmp_dir_remove();
}
END_TEST

START_TEST(function_or_small_object_as_descriptor)
{
	refused("fixture-fnsym", "modvm_plugin_entry_v1 is a function, not a descriptor");
	refused("fixture-smallsym", "the descriptor object is 8 bytes");
	tmp_dir_remove();
}
END_TEST

/* `modvm plugins` lists the healthy ones and survives the rest. */
START_TEST(listing_survives_every_broken_fixture)
{
	run_modvm(&res, 30, "plugins", NULL);
	run_expect(&res, 0, "fixture-good", "fixture-badptr-name.so: descriptor field name");
}
END_TEST

static void name_refused(const char *name, const char *why)
{
	const char *conf = write_text("n.conf", "vms = (\n  { name = \"%s\"; autostart = false; }\n);\n",
				      name);
	char where[400];

	snprintf(where, sizeof(where), "%s:2: name: ", conf);
	run_modvm(&res, 30, "check", conf, NULL);
	ck_assert_msg(res.status == 2, "name \"%s\": exit %d\n%s", name, res.status, res.err);
	ck_assert_msg(strstr(res.err, where) && strstr(res.err, why), "name \"%s\":\n%s", name,
		      res.err);
	/* the refusal itself prints no control character */
	for (const char *p = res.err; *p; p++)
		ck_assert_msg(*p == '\n' || (unsigned char)*p >= 0x20, "control byte in: %s", res.err);
}

START_TEST(vm_names)
{
	name_refused("", "empty");
	name_refused("web\\n1 web running memory 1T", "only letters, digits");
	name_refused("\\x1b[31mred", "only letters, digits");
	name_refused("my vm", "only letters, digits");
	name_refused("0", "all digits, which reads as a VM id");
	name_refused("1234", "all digits");
	name_refused("a234567890123456789012345678901x", "too long");
	const char *ok = write_text("ok.conf", "vms = ( { name = \"web-1.prod_A\"; autostart = false; },\n"
					       "  { name = \"0x1\"; autostart = false; } );\n");
	run_modvm(&res, 30, "check", ok, NULL);
	run_expect(&res, 0, "OK (0 plugins, 2 VMs)", NULL);
	tmp_dir_remove();
}
END_TEST

int main(int argc, char **argv)
{
	int r = hostile_start(argc, argv);
	if (r)
		return r;
	Suite *s = suite_create("descriptor");
	TCase *t = tcase_create("descriptor");
	tcase_set_timeout(t, 120);
	tcase_add_test(t, garbage_pointers_refused_not_followed);
	tcase_add_test(t, function_or_small_object_as_descriptor);
	tcase_add_test(t, listing_survives_every_broken_fixture);
	tcase_add_test(t, vm_names);
	suite_add_tcase(s, t);
	return hostile_run(s);
}
