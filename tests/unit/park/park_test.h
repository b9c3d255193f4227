/*
 * Helpers shared by the power-park tests: recorded traces and paths.
 */
#ifndef PARK_TEST_H
#define PARK_TEST_H

#include "policy.h"

#define TRACE_MAX 512

struct trace {
	unsigned len, ncores;
	struct park_sample s[TRACE_MAX];
};

/* tests/fixtures/park/NAME under $MODVM_SOURCE_ROOT (static buffer). */
const char *park_fixture(const char *name);
/* Loads a trace file; asserts it parses. */
void trace_load(struct trace *t, const char *name);
/* The defaults of the plugin's option table. */
struct park_params park_defaults(void);

#endif
