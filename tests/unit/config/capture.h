/* Test helpers shared by the config test programs. */
#ifndef CONFIG_TEST_CAPTURE_H
#define CONFIG_TEST_CAPTURE_H

#include <stdbool.h>

#define CAPTURE_MAX 32

void capture_start(void);
void capture_stop(void);
int capture_count(void);
const char *capture_line(int i);
bool capture_is(int i, const char *expected);
void capture_dump(void);
/* The absolute tests/fixtures/configs directory. */
const char *fixture_dir(void);

/* Asserts that exactly the listed error lines were logged, in order. */
#define ASSERT_LOGGED(...)                                                              \
	do {                                                                            \
		const char *want_[] = { __VA_ARGS__ };                                  \
		int nwant_ = (int)(sizeof(want_) / sizeof(want_[0]));                   \
		if (capture_count() != nwant_)                                          \
			capture_dump();                                                 \
		ck_assert_int_eq(capture_count(), nwant_);                              \
		for (int i_ = 0; i_ < nwant_; i_++)                                     \
			ck_assert_msg(capture_is(i_, want_[i_]), "line %d: got '%s', want '%s'", \
				      i_, capture_line(i_), want_[i_]);                 \
	} while (0)

#endif
