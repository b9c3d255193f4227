/* Logging: line format, levels, the sink, and stderr as one write per line. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <modvm/log.h>

#define LINES_MAX 16
static struct {
	int n;
	enum modvm_log_level level[LINES_MAX];
	char line[LINES_MAX][4096];
	void *ud;
} cap;

static void sink(enum modvm_log_level level, const char *line, void *ud)
{
	cap.ud = ud;
	if (cap.n < LINES_MAX) {
		cap.level[cap.n] = level;
		snprintf(cap.line[cap.n++], sizeof(cap.line[0]), "%s", line);
	}
}

START_TEST(format_with_and_without_domain)
{
	int token;
	modvm_log_set_sink(sink, &token);
	modvm_log(MODVM_LOG_ERROR, "net-vmq", "queue %d: %s", 3, "stuck");
	modvm_log(MODVM_LOG_WARN, NULL, "plain");
	modvm_log_set_sink(NULL, NULL);
	ck_assert_int_eq(cap.n, 2);
	ck_assert_ptr_eq(cap.ud, &token);
	ck_assert_str_eq(cap.line[0], "modvm: error: net-vmq: queue 3: stuck");
	ck_assert_int_eq(cap.level[0], MODVM_LOG_ERROR);
	ck_assert_str_eq(cap.line[1], "modvm: warn: plain");
	ck_assert_int_eq(cap.level[1], MODVM_LOG_WARN);
}
END_TEST

START_TEST(default_level_is_warn_and_filters)
{
	ck_assert_int_eq(modvm_log_get_level(), MODVM_LOG_WARN);
	modvm_log_set_sink(sink, NULL);
	modvm_log(MODVM_LOG_INFO, NULL, "hidden");
	modvm_log(MODVM_LOG_DEBUG, NULL, "hidden");
	modvm_log(MODVM_LOG_WARN, NULL, "shown");
	ck_assert_int_eq(cap.n, 1);
	modvm_log_set_level(MODVM_LOG_TRACE);
	ck_assert_int_eq(modvm_log_get_level(), MODVM_LOG_TRACE);
	modvm_log(MODVM_LOG_TRACE, "d", "t");
	modvm_log(MODVM_LOG_DEBUG, "d", "g");
	modvm_log_set_level(MODVM_LOG_ERROR);
	modvm_log(MODVM_LOG_WARN, NULL, "hidden");
	modvm_log(MODVM_LOG_ERROR, NULL, "e");
	modvm_log_set_sink(NULL, NULL);
	ck_assert_int_eq(cap.n, 4);
	ck_assert_str_eq(cap.line[1], "modvm: trace: d: t");
	ck_assert_str_eq(cap.line[2], "modvm: debug: d: g");
	ck_assert_str_eq(cap.line[3], "modvm: error: e");
}
END_TEST

START_TEST(level_parse)
{
	static const char *const names[] = { "error", "warn", "info", "debug", "trace" };
	enum modvm_log_level lv = MODVM_LOG_INFO;
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(modvm_log_level_parse(names[i], &lv), 0);
		ck_assert_int_eq(lv, (enum modvm_log_level)i);
	}
	lv = MODVM_LOG_INFO;
	ck_assert_int_eq(modvm_log_level_parse("verbose", &lv), -EINVAL);
	ck_assert_int_eq(modvm_log_level_parse("", &lv), -EINVAL);
	ck_assert_int_eq(modvm_log_level_parse("warning!", &lv), -EINVAL);
	ck_assert_int_eq(modvm_log_level_parse(NULL, &lv), -EINVAL);
	ck_assert_int_eq(lv, MODVM_LOG_INFO);	/* untouched on failure */
}
END_TEST

START_TEST(one_message_is_one_line)
{
	modvm_log_set_sink(sink, NULL);
	modvm_log(MODVM_LOG_ERROR, NULL, "two\nlines\n");
	char big[6000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	modvm_log(MODVM_LOG_ERROR, NULL, "%s", big);
	modvm_log_set_sink(NULL, NULL);
	ck_assert_str_eq(cap.line[0], "modvm: error: two lines");
	size_t n = strlen(cap.line[1]);
	ck_assert_uint_lt(n, sizeof(big));
	ck_assert_ptr_null(strchr(cap.line[1], '\n'));
	ck_assert_str_eq(cap.line[1] + n - 3, "...");	/* cut, and says so */
}
END_TEST

/* Without a sink, lines go to fd 2 with one write each; read them back. */
START_TEST(stderr_gets_newline_terminated_lines)
{
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	int saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(fds[1], STDERR_FILENO), STDERR_FILENO);
	modvm_log(MODVM_LOG_ERROR, "dom", "first");
	modvm_log(MODVM_LOG_INFO, "dom", "filtered");
	modvm_log(MODVM_LOG_WARN, NULL, "second");
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fds[1]);
	char buf[256] = "";
	ssize_t got = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	ck_assert_int_gt(got, 0);
	ck_assert_str_eq(buf, "modvm: error: dom: first\nmodvm: warn: second\n");
}
END_TEST

/* Many threads logging at once: every line arrives whole. */
#define THREADS 4
#define PER_THREAD 200
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static int whole, torn;
static void counting_sink(enum modvm_log_level level, const char *line, void *ud)
{
	(void)level;
	(void)ud;
	int t, i;
	char tail[8];
	bool ok = sscanf(line, "modvm: warn: thread %d line %d%7s", &t, &i, tail) == 2;
	pthread_mutex_lock(&count_lock);
	ok ? whole++ : torn++;
	pthread_mutex_unlock(&count_lock);
}

static void *log_lines(void *arg)
{
	for (int i = 0; i < PER_THREAD; i++)
		modvm_log(MODVM_LOG_WARN, NULL, "thread %d line %d", (int)(intptr_t)arg, i);
	return NULL;
}

START_TEST(sink_is_thread_safe)
{
	modvm_log_set_sink(counting_sink, NULL);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, log_lines, (void *)(intptr_t)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	modvm_log_set_sink(NULL, NULL);
	ck_assert_int_eq(whole, THREADS * PER_THREAD);
	ck_assert_int_eq(torn, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");
	tcase_add_test(tc, format_with_and_without_domain);
	tcase_add_test(tc, default_level_is_warn_and_filters);
	tcase_add_test(tc, level_parse);
	tcase_add_test(tc, one_message_is_one_line);
	tcase_add_test(tc, stderr_gets_newline_terminated_lines);
	tcase_add_test(tc, sink_is_thread_safe);
	suite_add_tcase(s, tc);

	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
