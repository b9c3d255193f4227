#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/log.h>
#include "probe_util.h"

const char *fixture_dir = ".";
static char captured[16384];

const char *fixture_path(const char *name)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/%s", fixture_dir, name);
	return path;
}

void load_host(const char *name, struct modvm_host_facts *f)
{
	int rc = modvm_host_facts_load(fixture_path(name), f);

	ck_assert_msg(rc == 0, "loading fixture %s: %d", name, rc);
}

struct modvm_host_msr *host_msr(struct modvm_host_facts *f, uint32_t index)
{
	for (uint32_t i = 0; i < f->n_msr; i++)
		if (f->msr[i].index == index)
			return &f->msr[i];
	ck_abort_msg("msr %#x not recorded", index);
	return NULL;
}

static void sink(enum modvm_log_level level, const char *line, void *ud)
{
	size_t used = strlen(captured);

	(void)level, (void)ud;
	snprintf(captured + used, sizeof(captured) - used, "%s%s", used ? "\n" : "", line);
}

void capture_start(void)
{
	captured[0] = '\0';
	modvm_log_set_sink(sink, NULL);
}

const char *capture_text(void)
{
	return captured;
}

void capture_stop(void)
{
	modvm_log_set_sink(NULL, NULL);
}

const char *temp_dir(void)
{
	static char dir[4096];
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/modvm-probe-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	return dir;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	remove(path);
	return 0;
}

void remove_tree(const char *dir)
{
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	ck_assert_msg(fp != NULL, "creating %s", path);
	ck_assert_int_ge(fputs(text, fp), 0);
	ck_assert_int_eq(fclose(fp), 0);
}

int run_suite(Suite *s, int argc, char **argv)
{
	SRunner *sr = srunner_create(s);
	int failed;

	if (argc > 1)
		fixture_dir = argv[1];
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
