/*
 * park_test.c — trace loading for the power-park tests.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "park_test.h"

const char *park_fixture(const char *name)
{
	static char path[1024];
	const char *root = getenv("MODVM_SOURCE_ROOT");

	snprintf(path, sizeof(path), "%s/tests/fixtures/park/%s", root ? root : ".", name);
	return path;
}

void trace_load(struct trace *t, const char *name)
{
	FILE *f = fopen(park_fixture(name), "re");
	char line[512];

	ck_assert_msg(f != NULL, "cannot open trace %s", park_fixture(name));
	memset(t, 0, sizeof(*t));
	while (fgets(line, sizeof(line), f) && t->len < TRACE_MAX) {
		struct park_sample *s = &t->s[t->len];
		unsigned n = 0;
		char *save = NULL;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		for (char *tok = strtok_r(line, " \n", &save); tok;
		     tok = strtok_r(NULL, " \n", &save)) {
			if (strncmp(tok, "pin:", 4) == 0)
				s->pinned[atoi(tok + 4)] = true;
			else if (strncmp(tok, "vcpu:", 5) == 0)
				s->vcpu_permille = (uint32_t)atoi(tok + 5);
			else
				s->busy_permille[n++] = (uint32_t)atoi(tok);
		}
		ck_assert_uint_gt(n, 0);
		if (t->ncores == 0)
			t->ncores = n;
		ck_assert_uint_eq(n, t->ncores);
		t->len++;
	}
	fclose(f);
	ck_assert_uint_gt(t->len, 0);
}

struct park_params park_defaults(void)
{
	return (struct park_params){ .min_cores = 1, .max_cores = 0, .increase_threshold = 60,
				     .decrease_threshold = 20, .increase_time = 1,
				     .decrease_time = 3, .cores_per_step = 1 };
}
