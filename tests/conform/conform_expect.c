/*
 * conform-expect — runs modvm-conform and asserts on its verdicts, without
 * a shell so the test sees the kit's real exit status.
 *
 *   conform-expect [--env K=V] --exit N [--fail CHECK] [--pass CHECK]
 *                  [--contains TEXT] -- KIT ARGS...
 *
 * --fail/--pass need a line "FAIL CHECK: " / "PASS CHECK: " in the output;
 * the summary line must be there unless --json is among ARGS.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUT_MAX (64 * 1024)

static char out[OUT_MAX + 1];

static int run(char **argv, int *status)
{
	int fds[2];
	size_t got = 0;
	pid_t pid;

	if (pipe(fds) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* stderr too: what -v shows (the plugin's own lines) is checked as well */
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], argv);
		fprintf(stderr, "conform-expect: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		ssize_t r = read(fds[0], out + got, OUT_MAX - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got == OUT_MAX)
			break;
	}
	close(fds[0]);
	out[got] = '\0';
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* True if some line of the output starts with "@verdict @check: ". */
static bool has_line(const char *verdict, const char *check)
{
	char want[128];
	size_t len = (size_t)snprintf(want, sizeof(want), "%s %s: ", verdict, check);

	for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, want, len) == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	int want_exit = -1, status = 0, i, bad = 0;
	bool json = false;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (i + 1 >= argc) {
			fprintf(stderr, "conform-expect: %s needs a value\n", argv[i]);
			return 2;
		}
		if (strcmp(argv[i], "--env") == 0)
			putenv(argv[++i]);
		else if (strcmp(argv[i], "--exit") == 0)
			want_exit = atoi(argv[++i]);
		else
			i++;	/* --fail, --pass, --contains: checked after the run */
	}
	if (i + 1 >= argc || want_exit < 0) {
		fprintf(stderr, "usage: conform-expect [--env K=V] --exit N [--fail C] [--pass C] "
				"[--contains T] -- KIT ARGS...\n");
		return 2;
	}
	for (int k = i + 1; k < argc; k++)
		json |= strcmp(argv[k], "--json") == 0;
	if (run(argv + i + 1, &status) < 0) {
		perror("conform-expect");
		return 2;
	}
	fputs(out, stdout);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != want_exit) {
		fprintf(stderr, "FAILED: kit exit status %d (signal %d), expected %d\n",
			WIFEXITED(status) ? WEXITSTATUS(status) : -1,
			WIFSIGNALED(status) ? WTERMSIG(status) : 0, want_exit);
		bad++;
	}
	for (int k = 1; k < i; k += 2) {
		const char *opt = argv[k], *val = argv[k + 1];

		if (strcmp(opt, "--fail") == 0 && !has_line("FAIL", val)) {
			fprintf(stderr, "FAILED: no \"FAIL %s:\" line\n", val);
			bad++;
		} else if (strcmp(opt, "--pass") == 0 && !has_line("PASS", val)) {
			fprintf(stderr, "FAILED: no \"PASS %s:\" line\n", val);
			bad++;
		} else if (strcmp(opt, "--contains") == 0 && !strstr(out, val)) {
			fprintf(stderr, "FAILED: output lacks \"%s\"\n", val);
			bad++;
		}
	}
	if (!json && !strstr(out, " passed, ")) {
		fprintf(stderr, "FAILED: no summary line\n");
		bad++;
	}
	return bad ? 1 : 0;
}
