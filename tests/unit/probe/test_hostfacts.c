/*
 * Host facts: the fixture file format (round trip, every malformed line
 * refused with file:line), the builders and look-ups, reading a directory
 * tree that stands in for a host, and reading this host.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "probe_util.h"

static const char *const fixtures[] = {
	"intel-skylake-sp-ept.facts", "intel-broadwell-ep-noept.facts",
	"amd-epyc-milan-npt-avic.facts", "amd-vm-kvm-pvm.facts",
};
#define N_FIXTURES (sizeof(fixtures) / sizeof(fixtures[0]))

START_TEST(fixture_round_trip)
{
	struct modvm_host_facts a, b;
	const char *dir = temp_dir();
	char path[4200];

	load_host(fixtures[_i], &a);
	ck_assert_uint_eq(a.struct_size, sizeof(a));
	snprintf(path, sizeof(path), "%s/copy.facts", dir);
	ck_assert_int_eq(modvm_host_facts_save(&a, path), 0);
	ck_assert_int_eq(modvm_host_facts_load(path, &b), 0);
	ck_assert_msg(memcmp(&a, &b, sizeof(a)) == 0, "%s changed in a save/load", fixtures[_i]);
	remove_tree(dir);
}
END_TEST

START_TEST(fixture_write_is_deterministic)
{
	struct modvm_host_facts f;
	char *t1 = NULL, *t2 = NULL;
	size_t l1 = 0, l2 = 0;
	FILE *m1 = open_memstream(&t1, &l1), *m2 = open_memstream(&t2, &l2);

	load_host(fixtures[_i], &f);
	ck_assert_int_eq(modvm_host_facts_write(&f, m1), 0);
	ck_assert_int_eq(modvm_host_facts_write(&f, m2), 0);
	fclose(m1);
	fclose(m2);
	ck_assert_str_eq(t1, t2);
	ck_assert_ptr_nonnull(strstr(t1, "kvm_open 1\n"));
	free(t1);
	free(t2);
}
END_TEST

START_TEST(fixture_values)
{
	struct modvm_host_facts f;
	const struct modvm_host_cpuid_leaf *l;
	uint64_t v = 0;
	char vendor[13];

	load_host("intel-skylake-sp-ept.facts", &f);
	ck_assert_str_eq(modvm_host_facts_vendor(&f, vendor), "GenuineIntel");
	ck_assert_ptr_nonnull(l = modvm_host_facts_cpuid(&f, 1, 0));
	ck_assert_uint_eq(l->eax, 0x50654);
	ck_assert_uint_eq(l->ecx, 0x7ffefbff);
	ck_assert_ptr_null(modvm_host_facts_cpuid(&f, 0x8000000a, 0));
	ck_assert(modvm_host_facts_msr(&f, MODVM_MSR_IA32_VMX_PROCBASED_CTLS2, &v));
	ck_assert_uint_eq(v, 0x025f7fff00000000ull);
	ck_assert(!modvm_host_facts_msr(&f, MODVM_MSR_AMD_VM_CR, &v));
	ck_assert_str_eq(modvm_host_facts_param(&f, "kvm_intel", "ept"), "Y");
	ck_assert_int_eq(modvm_host_facts_param_bool(&f, "kvm_intel", "ept"), 1);
	ck_assert_int_eq(modvm_host_facts_param_bool(&f, "kvm_amd", "npt"), -1);
	ck_assert(modvm_host_facts_has_module(&f, "kvm_intel"));
	ck_assert(!modvm_host_facts_has_module(&f, "kvm_amd"));
	ck_assert_uint_eq(f.kvm_dev, 1);
	ck_assert_uint_eq(f.kvm_open, 1);
	ck_assert_uint_eq(f.kvm_api, 12);
	ck_assert_uint_eq(f.max_vcpus, 1024);
	ck_assert_uint_eq(f.nr_vcpus, 64);

	load_host("amd-vm-kvm-pvm.facts", &f);
	ck_assert_str_eq(modvm_host_facts_vendor(&f, vendor), "AuthenticAMD");
	ck_assert(!modvm_host_facts_msr(&f, MODVM_MSR_AMD_VM_CR, &v));
	ck_assert_uint_eq(f.n_msr, 1);
	ck_assert_uint_eq(f.msr[0].readable, 0);
	ck_assert(modvm_host_facts_has_module(&f, "kvm_pvm"));
	ck_assert_uint_eq(f.n_param, 0);
}
END_TEST

START_TEST(builders_refuse)
{
	struct modvm_host_facts f;
	struct modvm_host_cpuid_leaf leaf = { .function = 1 };
	char name[64];

	modvm_host_facts_init(&f);
	ck_assert_int_eq(modvm_host_facts_add_cpuid(&f, &leaf), 0);
	ck_assert_int_eq(modvm_host_facts_add_cpuid(&f, &leaf), -EEXIST);
	leaf.index = 1;
	ck_assert_int_eq(modvm_host_facts_add_cpuid(&f, &leaf), 0);
	for (uint32_t i = 2; i < MODVM_HOST_FACTS_MAX_CPUID; i++) {
		leaf.index = i;
		ck_assert_int_eq(modvm_host_facts_add_cpuid(&f, &leaf), 0);
	}
	leaf.index = 999;
	ck_assert_int_eq(modvm_host_facts_add_cpuid(&f, &leaf), -ENOSPC);

	ck_assert_int_eq(modvm_host_facts_add_msr(&f, 0x3a, true, 5), 0);
	ck_assert_int_eq(modvm_host_facts_add_msr(&f, 0x3a, false, 0), -EEXIST);
	ck_assert_int_eq(modvm_host_facts_add_msr(&f, 0x480, false, 77), 0);
	ck_assert_uint_eq(f.msr[1].value, 0);	/* unreadable keeps no value */

	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	ck_assert_int_eq(modvm_host_facts_add_param(&f, "kvm_amd", "npt", name), -ENAMETOOLONG);
	ck_assert_int_eq(modvm_host_facts_add_param(&f, "kvm_amd", "npt", ""), -EINVAL);
	ck_assert_int_eq(modvm_host_facts_add_module(&f, name), -ENAMETOOLONG);
	ck_assert_int_eq(modvm_host_facts_add_module(&f, "kvm"), 0);
	ck_assert_int_eq(modvm_host_facts_add_module(&f, "kvm"), -EEXIST);

	static const struct {
		const char *text;
		int want;
	} bools[] = { { "Y", 1 }, { "y", 1 }, { "1", 1 }, { "N", 0 }, { "n", 0 }, { "0", 0 },
		      { "auto", -1 }, { "2", -1 } };
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		char pname[16];

		snprintf(pname, sizeof(pname), "p%zu", i);
		ck_assert_int_eq(modvm_host_facts_add_param(&f, "kvm_intel", pname, bools[i].text),
				 0);
		ck_assert_int_eq(modvm_host_facts_param_bool(&f, "kvm_intel", pname),
				 bools[i].want);
	}
	ck_assert_int_eq(modvm_host_facts_add_param(&f, "kvm_intel", "p0", "N"), -EEXIST);
}
END_TEST

/* Each malformed file, the line it breaks on and what the message says. */
static const struct {
	const char *text;
	unsigned line;
	const char *says;
} bad_files[] = {
	{ "# ok\ncpuid 0x0 0x0 1 2 3 4\nbogus 1\n", 3, "unknown fact \"bogus\"" },
	{ "cpuid 0x1 0x0 1 2\n", 1, "cpuid needs FUNCTION INDEX EAX EBX ECX EDX, got 4 values" },
	{ "\n\ncpuid 0x1 0x0 1 2 3 0xzz\n", 3, "cpuid: \"0xzz\" is not a number" },
	{ "cpuid 0x1 0x0 1 2 3 0x100000000\n", 1, "is not a number in 0..0xffffffff" },
	{ "cpuid 0x1 0x0 1 2 3 -1\n", 1, "cpuid: \"-1\" is not a number" },
	{ "cpuid 0x1 0 1 2 3 4\ncpuid 1 0x0 5 6 7 8\n", 2, "duplicate cpuid 1 0x0" },
	{ "msr 0x48b\n", 1, "msr needs INDEX and VALUE (or \"unreadable\"), got 1 values" },
	{ "msr 0x48b maybe\n", 1, "msr: \"maybe\" is not a number" },
	{ "msr 0x3a 5\nmsr 58 unreadable\n", 2, "duplicate msr 58" },
	{ "param kvm_intel ept\n", 1, "param needs MODULE NAME VALUE, got 2 values" },
	{ "param kvm_intel ept 0123456789012345678901234567890123456789\n", 1,
	  "param kvm_intel ept: text too long (max 31 characters)" },
	{ "param kvm_intel ept Y\nparam kvm_intel ept N\n", 2, "duplicate param kvm_intel ept" },
	{ "module\n", 1, "module needs one NAME, got 0 values" },
	{ "module kvm\nmodule kvm\n", 2, "duplicate module kvm" },
	{ "module a\nmodule b\nmodule c\nmodule d\nmodule e\nmodule f\nmodule g\nmodule h\n"
	  "module i\n", 9, "too many facts of this kind (module i)" },
	{ "kvm_dev 2\n", 1, "kvm_dev: \"2\" is not a number in 0..0x1" },
	{ "kvm_open\n", 1, "kvm_open needs one value, got 0" },
	{ "max_vcpus 288\nmax_vcpus 288\n", 2, "duplicate max_vcpus" },
	{ "cpuid 1 2 3 4 5 6 7 8 9\n", 1, "cpuid: too many values (9)" },
};
#define N_BAD (sizeof(bad_files) / sizeof(bad_files[0]))

START_TEST(malformed_line_refused)
{
	struct modvm_host_facts f;
	const char *dir = temp_dir();
	char path[4200], want[4400];

	snprintf(path, sizeof(path), "%s/bad.facts", dir);
	write_file(path, bad_files[_i].text);
	memset(&f, 0xaa, sizeof(f));
	capture_start();
	ck_assert_int_eq(modvm_host_facts_load(path, &f), -EINVAL);
	capture_stop();
	snprintf(want, sizeof(want), "modvm: error: %s:%u: ", path, bad_files[_i].line);
	ck_assert_msg(strncmp(capture_text(), want, strlen(want)) == 0,
		      "case %d: got \"%s\", want prefix \"%s\"", _i, capture_text(), want);
	ck_assert_msg(strstr(capture_text(), bad_files[_i].says) != NULL,
		      "case %d: \"%s\" lacks \"%s\"", _i, capture_text(), bad_files[_i].says);
	ck_assert_msg(strchr(capture_text(), '\n') == NULL, "one line only: %s", capture_text());
	/* A refused file leaves an empty host, never a half-loaded one. */
	ck_assert_uint_eq(f.n_cpuid + f.n_msr + f.n_param + f.n_module, 0);
	ck_assert_uint_eq(f.struct_size, sizeof(f));
	remove_tree(dir);
}
END_TEST

START_TEST(missing_file_logged)
{
	struct modvm_host_facts f;
	char path[4200];
	const char *dir = temp_dir();

	snprintf(path, sizeof(path), "%s/none.facts", dir);
	capture_start();
	ck_assert_int_eq(modvm_host_facts_load(path, &f), -ENOENT);
	capture_stop();
	ck_assert_ptr_nonnull(strstr(capture_text(), path));
	ck_assert_ptr_nonnull(strstr(capture_text(), "No such file or directory"));
	remove_tree(dir);
}
END_TEST

START_TEST(comments_and_blanks_ignored)
{
	struct modvm_host_facts f;
	const char *dir = temp_dir();
	char path[4200];

	snprintf(path, sizeof(path), "%s/c.facts", dir);
	write_file(path, "# header\n\n   \t\ncpuid 0x0 0x0 0x10 0x68747541 0x444d4163 "
			 "0x69746e65  # vendor AMD\r\nkvm_dev 1\n");
	ck_assert_int_eq(modvm_host_facts_load(path, &f), 0);
	ck_assert_uint_eq(f.n_cpuid, 1);
	ck_assert_uint_eq(f.cpuid[0].eax, 0x10);
	ck_assert_uint_eq(f.kvm_dev, 1);
	remove_tree(dir);
}
END_TEST

static void mkdirs(const char *root, const char *rel)
{
	char path[4300];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	mkdir(path, 0755);
}

static void put(const char *root, const char *rel, const char *text)
{
	char path[4300];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	write_file(path, text);
}

/*
 * A directory tree standing in for the Skylake host: sparse cpuid and msr
 * files standing in for Linux's drivers, kvm_intel's parameters,
 * /proc/modules.  Reading it must give the fixture's facts exactly (except
 * the KVM answers a plain file can't give).
 */
START_TEST(read_tree_matches_fixture)
{
	struct modvm_host_facts want, got;
	const char *root = temp_dir();
	char path[4300];
	int fd;

	load_host("intel-skylake-sp-ept.facts", &want);
	mkdirs(root, "dev/cpu/0");
	mkdirs(root, "proc");
	mkdirs(root, "sys/module/kvm_intel/parameters");
	mkdirs(root, "sys/module/kvm/parameters");
	snprintf(path, sizeof(path), "%s/dev/cpu/0/cpuid", root);
	ck_assert_int_ge(fd = open(path, O_CREAT | O_WRONLY, 0644), 0);
	for (uint32_t i = 0; i < want.n_cpuid; i++) {
		const struct modvm_host_cpuid_leaf *l = &want.cpuid[i];
		uint32_t r[4] = { l->eax, l->ebx, l->ecx, l->edx };

		uint64_t key = (uint64_t)l->index << 32 | l->function;

		ck_assert_int_eq(pwrite(fd, r, sizeof(r), (off_t)(key * 16)), 16);
	}
	close(fd);
	snprintf(path, sizeof(path), "%s/dev/cpu/0/msr", root);
	ck_assert_int_ge(fd = open(path, O_CREAT | O_WRONLY, 0644), 0);
	for (uint32_t i = 0; i < want.n_msr; i++)
		ck_assert_int_eq(pwrite(fd, &want.msr[i].value, 8, (off_t)want.msr[i].index * 8), 8);
	close(fd);
	for (uint32_t i = 0; i < want.n_param; i++) {
		char rel[200], text[64];

		snprintf(rel, sizeof(rel), "sys/module/%s/parameters/%s", want.param[i].module,
			 want.param[i].name);
		snprintf(text, sizeof(text), "%s\n", want.param[i].value);
		put(root, rel, text);
	}
	put(root, "sys/module/kvm_intel/parameters/dump_invalid_vmcs", "N\n");
	put(root, "proc/modules",
	    "kvm_intel 372736 0 - Live 0x0000000000000000\n"
	    "kvm 1056768 1 kvm_intel, Live 0x0000000000000000\n"
	    "irqbypass 16384 1 kvm, Live 0x0000000000000000\n");
	put(root, "dev/kvm", "");

	ck_assert_int_eq(modvm_host_facts_read_at(root, &got), 0);
	/* A plain file exists and opens but is no KVM. */
	ck_assert_uint_eq(got.kvm_dev, 1);
	ck_assert_uint_eq(got.kvm_open, 0);
	ck_assert_uint_eq(got.max_vcpus, 0);
	got.kvm_open = want.kvm_open;
	got.kvm_api = want.kvm_api;
	got.max_vcpus = want.max_vcpus;
	got.nr_vcpus = want.nr_vcpus;
	ck_assert_uint_eq(got.n_cpuid, want.n_cpuid);
	ck_assert_uint_eq(got.n_msr, want.n_msr);
	ck_assert_uint_eq(got.n_param, want.n_param);
	ck_assert_uint_eq(got.n_module, want.n_module);
	ck_assert_msg(memcmp(&got, &want, sizeof(got)) == 0, "tree facts differ from fixture");
	remove_tree(root);
}
END_TEST

START_TEST(read_empty_tree)
{
	struct modvm_host_facts f;
	const char *root = temp_dir();

	ck_assert_int_eq(modvm_host_facts_read_at(root, &f), 0);
	ck_assert_uint_eq(f.n_cpuid + f.n_msr + f.n_param + f.n_module, 0);
	ck_assert_uint_eq(f.kvm_dev, 0);
	ck_assert_uint_eq(f.kvm_open, 0);
	remove_tree(root);
}
END_TEST

/* Two reads of this host record the same facts, byte for byte. */
START_TEST(read_live_is_deterministic)
{
	struct modvm_host_facts a, b;
	char vendor[13];

	ck_assert_int_eq(modvm_host_facts_read(&a), 0);
	ck_assert_int_eq(modvm_host_facts_read(&b), 0);
	ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
	ck_assert_ptr_nonnull(modvm_host_facts_cpuid(&a, 0, 0));
	ck_assert_uint_eq(modvm_host_facts_cpuid(&a, 1, 0)->ebx >> 24, 0);
	modvm_host_facts_vendor(&a, vendor);
	ck_assert_int_eq(strlen(vendor), 12);
	/* /dev/kvm answering means it exists; API 12 is the only one there is. */
	if (a.kvm_open) {
		ck_assert_uint_eq(a.kvm_dev, 1);
		ck_assert_uint_eq(a.kvm_api, 12);
		ck_assert_uint_gt(a.max_vcpus, 0);
	}
	ck_assert_uint_eq(access("/dev/kvm", F_OK) == 0, a.kvm_dev);
	ck_assert_uint_eq(access("/sys/module/kvm_pvm", F_OK) == 0,
			  modvm_host_facts_has_module(&a, "kvm_pvm"));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("hostfacts");
	TCase *tc = tcase_create("file");

	tcase_add_loop_test(tc, fixture_round_trip, 0, N_FIXTURES);
	tcase_add_loop_test(tc, fixture_write_is_deterministic, 0, N_FIXTURES);
	tcase_add_test(tc, fixture_values);
	tcase_add_test(tc, builders_refuse);
	tcase_add_loop_test(tc, malformed_line_refused, 0, N_BAD);
	tcase_add_test(tc, missing_file_logged);
	tcase_add_test(tc, comments_and_blanks_ignored);
	suite_add_tcase(s, tc);

	tc = tcase_create("read");
	tcase_add_test(tc, read_tree_matches_fixture);
	tcase_add_test(tc, read_empty_tree);
	tcase_add_test(tc, read_live_is_deterministic);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	return run_suite(suite(), argc, argv);
}
