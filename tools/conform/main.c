/*
 * modvm-conform — the plugin conformance kit.
 *
 *     modvm-conform PLUGIN.so [--config FILE] [--strictness 1-10] [--json]
 *                   [--seed N] [--check NAME] [--timeout MS] [-v]
 *
 * Every check runs in a forked child with a timeout, so a plugin that
 * crashes or hangs fails that check instead of taking the kit down.  Exit
 * status: 0 if every check passed (or was skipped), 1 if any failed, 2 on
 * a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conform.h"

enum verdict conform_check_load(const struct conform_opts *, char *, size_t);
enum verdict conform_check_exports(const struct conform_opts *, char *, size_t);
enum verdict conform_check_abi(const struct conform_opts *, char *, size_t);
enum verdict conform_check_name(const struct conform_opts *, char *, size_t);
enum verdict conform_check_fields(const struct conform_opts *, char *, size_t);
enum verdict conform_check_loader(const struct conform_opts *, char *, size_t);
enum verdict conform_check_options(const struct conform_opts *, char *, size_t);
enum verdict conform_check_events(const struct conform_opts *, char *, size_t);
enum verdict conform_check_lifecycle(const struct conform_opts *, char *, size_t);
enum verdict conform_check_cycles(const struct conform_opts *, char *, size_t);
enum verdict conform_check_init_time(const struct conform_opts *, char *, size_t);
enum verdict conform_check_interfaces(const struct conform_opts *, char *, size_t);
enum verdict conform_check_handlers(const struct conform_opts *, char *, size_t);
enum verdict conform_check_sandbox(const struct conform_opts *, char *, size_t);
enum verdict conform_check_global_state(const struct conform_opts *, char *, size_t);
enum verdict conform_check_cpu_probe(const struct conform_opts *, char *, size_t);
enum verdict conform_check_cpu_backend(const struct conform_opts *, char *, size_t);
enum verdict conform_check_nic_driver(const struct conform_opts *, char *, size_t);
enum verdict conform_check_memory_policy(const struct conform_opts *, char *, size_t);
enum verdict conform_check_power_policy(const struct conform_opts *, char *, size_t);
enum verdict conform_check_mmio_fuzz(const struct conform_opts *, char *, size_t);
enum verdict conform_check_virtqueues(const struct conform_opts *, char *, size_t);
enum verdict conform_check_sandbox_vcpu(const struct conform_opts *, char *, size_t);

const struct check conform_checks[] = {
	{ "load", conform_check_load, 10 },
	{ "exports", conform_check_exports, 10 },
	{ "abi", conform_check_abi, 10 },
	{ "name", conform_check_name, 10 },
	{ "fields", conform_check_fields, 10 },
	{ "loader", conform_check_loader, 10 },
	{ "options", conform_check_options, 10 },
	{ "events", conform_check_events, 10 },
	{ "lifecycle", conform_check_lifecycle, 20 },
	{ "cycles", conform_check_cycles, 60 },
	{ "init-time", conform_check_init_time, 10 },
	{ "interfaces", conform_check_interfaces, 10 },
	{ "handlers", conform_check_handlers, 20 },
	{ "sandbox", conform_check_sandbox, 20 },
	{ "global-state", conform_check_global_state, 20 },
	{ "cpu-probe", conform_check_cpu_probe, 20 },
	{ "cpu-backend", conform_check_cpu_backend, 20 },
	{ "nic-driver", conform_check_nic_driver, 20 },
	{ "memory-policy", conform_check_memory_policy, 30 },
	{ "power-policy", conform_check_power_policy, 30 },
	{ "mmio-fuzz", conform_check_mmio_fuzz, 30 },
	{ "virtqueues", conform_check_virtqueues, 30 },
	{ "sandbox-vcpu", conform_check_sandbox_vcpu, 10 },
	{ NULL, NULL, 0 },
};

static const char verdict_name[][5] = { "PASS", "FAIL", "SKIP" };

int conform_verdict_fd = -1;

/* A page the check children write and the parent reads (conform_doing). */
static char *doing;
#define DOING_MAX 160

void conform_doing_setup(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	doing = p == MAP_FAILED ? NULL : p;
}

void conform_doing(const char *plugin, const char *what)
{
	if (!doing)
		return;
	if (!plugin || !what)
		doing[0] = '\0';
	else
		snprintf(doing, DOING_MAX, "%s's %s", plugin, what);
}

const char *conform_doing_text(void)
{
	return doing && doing[0] ? doing : NULL;
}
bool conform_verbose;

/* Called from a fault handler or a sanitizer's death callback: one write. */
void conform_last_words(const char *detail)
{
	char line[600];
	int len = snprintf(line, sizeof(line), "%d %s", (int)V_FAIL, detail);

	if (conform_verdict_fd < 0 || len < 0)
		return;
	if (len > (int)sizeof(line) - 1)
		len = (int)sizeof(line) - 1;
	ssize_t w = write(conform_verdict_fd, line, (size_t)len);

	(void)w;	/* dying anyway: nobody to tell if the pipe is gone */
	conform_verdict_fd = -1;	/* first words only */
}

static void child(const struct check *c, const struct conform_opts *o, int wfd, bool verbose)
{
	char detail[512] = "";
	char line[sizeof(detail) + 8];
	enum verdict v;
	int len;

	/* Plugin chatter would interleave with the verdict lines. */
	if (!verbose) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (null >= 0) {
			dup2(null, STDERR_FILENO);
			close(null);
		}
	}
	dup2(STDERR_FILENO, STDOUT_FILENO);
	conform_verbose = verbose;
	conform_verdict_fd = wfd;
	v = c->fn(o, detail, sizeof(detail));
	if (conform_verdict_fd < 0)
		_exit(0);	/* last words already written */
	len = snprintf(line, sizeof(line), "%d %s", (int)v, detail);
	if (len > (int)sizeof(line) - 1)
		len = (int)sizeof(line) - 1;
	if (write(wfd, line, (size_t)len) != len)
		_exit(3);
	/* _exit: the plugin's state is not ours to tear down (no atexit, no LSan). */
	_exit(0);
}

/* Runs @c in a child; the verdict and detail come back through a pipe. */
static enum verdict run_one(const struct check *c, const struct conform_opts *o, bool verbose,
			    char *detail, size_t n)
{
	int timeout_ms = o->timeout_ms ? o->timeout_ms
				       : c->timeout_s * 1000 * (o->strictness > 5 ? 2 : 1);
	uint64_t deadline;
	char buf[1024];
	size_t got = 0;
	int fds[2], status = 0;
	bool timed_out = false;
	pid_t pid;

	conform_doing(NULL, NULL);
	if (pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(detail, n, "pipe: %s", strerror(errno));
		return V_FAIL;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		snprintf(detail, n, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return V_FAIL;
	}
	if (pid == 0) {
		close(fds[0]);
		child(c, o, fds[1], verbose);
	}
	close(fds[1]);
	deadline = conform_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
		uint64_t now = conform_now_ns();
		ssize_t r;

		if (now >= deadline) {
			timed_out = true;
			break;
		}
		r = poll(&pfd, 1, (int)((deadline - now) / 1000000ull) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		r = read(fds[0], buf + got, sizeof(buf) - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got == sizeof(buf) - 1)
			break;
	}
	close(fds[0]);
	if (timed_out)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	buf[got] = '\0';
	if (timed_out) {
		const char *where = conform_doing_text();

		if (where)
			snprintf(detail, n, "timed out after %d ms: %s did not return", timeout_ms,
				 where);
		else
			snprintf(detail, n, "timed out after %d ms", timeout_ms);
		return V_FAIL;
	}
	if (WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0)) {
		char why[64];

		if (WIFSIGNALED(status))
			snprintf(why, sizeof(why), "killed by signal %d (%s)", WTERMSIG(status),
				 strsignal(WTERMSIG(status)));
		else
			snprintf(why, sizeof(why), "exited with status %d", WEXITSTATUS(status));
		/* Last words from the dying check say what it was doing. */
		const char *where = conform_doing_text();
		char in[DOING_MAX + 8] = "";

		if (where)
			snprintf(in, sizeof(in), " in %s", where);
		if (got > 2 && buf[0] == '0' + V_FAIL)
			snprintf(detail, n, "crashed%s: %s: %.400s", in, why, buf + 2);
		else if (WIFSIGNALED(status))
			snprintf(detail, n, "crashed%s: %s", in, why);
		else
			snprintf(detail, n, "check process %s without a verdict%s", why, in);
		return V_FAIL;
	}
	if (got < 2 || buf[0] < '0' || buf[0] > '2') {
		snprintf(detail, n, "check process exited without a verdict");
		return V_FAIL;
	}
	got -= 2;
	if (got > n - 1)
		got = n - 1;
	memcpy(detail, buf + 2, got);
	detail[got] = '\0';
	return (enum verdict)(buf[0] - '0');
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void usage(FILE *f)
{
	fprintf(f, "usage: modvm-conform PLUGIN.so [--config FILE] [--strictness 1-10] [--json]\n"
		   "                     [--seed N] [--check NAME] [--timeout MS] [-v]\n"
		   "checks:");
	for (const struct check *c = conform_checks; c->name; c++)
		fprintf(f, " %s", c->name);
	fputc('\n', f);
}

static int parse_args(int argc, char **argv, struct conform_opts *o, bool *json, bool *verbose,
		      const char **only, bool *seeded)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		char *end;

		if (strcmp(a, "--json") == 0) {
			*json = true;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			*verbose = true;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		} else if (i + 1 < argc && strcmp(a, "--config") == 0) {
			o->config = argv[++i];
		} else if (i + 1 < argc && strcmp(a, "--check") == 0) {
			*only = argv[++i];
		} else if (i + 1 < argc && strcmp(a, "--strictness") == 0) {
			long s = strtol(argv[++i], &end, 10);

			if (*end || s < 1 || s > 10) {
				fprintf(stderr, "modvm-conform: --strictness: \"%s\" is not 1-10\n",
					argv[i]);
				return -EINVAL;
			}
			o->strictness = (int)s;
		} else if (i + 1 < argc && strcmp(a, "--timeout") == 0) {
			long ms = strtol(argv[++i], &end, 10);

			if (*end || ms < 1 || ms > 3600 * 1000) {
				fprintf(stderr, "modvm-conform: --timeout: \"%s\" is not 1-3600000 ms\n",
					argv[i]);
				return -EINVAL;
			}
			o->timeout_ms = (int)ms;
		} else if (i + 1 < argc && strcmp(a, "--seed") == 0) {
			*seeded = true;
			errno = 0;
			o->seed = strtoull(argv[++i], &end, 0);
			if (*end || errno) {
				fprintf(stderr, "modvm-conform: --seed: \"%s\" is not a number\n",
					argv[i]);
				return -EINVAL;
			}
		} else if (a[0] != '-' && !o->plugin) {
			o->plugin = a;
		} else {
			fprintf(stderr, "modvm-conform: unexpected argument \"%s\"\n", a);
			return -EINVAL;
		}
	}
	if (!o->plugin) {
		fprintf(stderr, "modvm-conform: no plugin given\n");
		return -EINVAL;
	}
	/* The loader reads a bare name as "search the plugin path": make it a path. */
	if (!strchr(o->plugin, '/')) {
		static char rel[4096];

		snprintf(rel, sizeof(rel), "./%s", o->plugin);
		o->plugin = rel;
	}
	if (access(o->plugin, R_OK) < 0) {
		fprintf(stderr, "modvm-conform: %s: %s\n", o->plugin, strerror(errno));
		return -ENOENT;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct conform_opts o = { .strictness = 5 };
	bool json = false, verbose = false, first = true, seeded = false;
	const char *only = NULL;
	int passed = 0, failed = 0, skipped = 0;
	uint64_t t0 = conform_now_ns();

	if (parse_args(argc, argv, &o, &json, &verbose, &only, &seeded) < 0) {
		usage(stderr);
		return 2;
	}
	conform_doing_setup();
	/* A fresh seed per run finds more; it is always printed, so any run replays. */
	if (!seeded && getrandom(&o.seed, sizeof(o.seed), 0) != sizeof(o.seed))
		o.seed = conform_now_ns() ^ ((uint64_t)getpid() << 32);
	if (!json)
		printf("modvm-conform %s: seed %" PRIu64 ", strictness %d\n", o.plugin, o.seed,
		       o.strictness);
	if (json) {
		printf("{\"plugin\": ");
		json_string(o.plugin);
		printf(", \"strictness\": %d, \"seed\": %" PRIu64 ", \"checks\": [", o.strictness,
		       o.seed);
	}
	for (const struct check *c = conform_checks; c->name; c++) {
		char detail[512];
		enum verdict v;

		if (only && strcmp(only, c->name) != 0)
			continue;
		v = run_one(c, &o, verbose, detail, sizeof(detail));
		passed += v == V_PASS;
		failed += v == V_FAIL;
		skipped += v == V_SKIP;
		if (json) {
			printf("%s\n  {\"name\": \"%s\", \"result\": \"%s\", \"detail\": ",
			       first ? "" : ",", c->name, verdict_name[v]);
			json_string(detail);
			putchar('}');
		} else {
			printf("%s %s: %s\n", verdict_name[v], c->name, detail);
		}
		first = false;
		fflush(stdout);
	}
	if (json)
		printf("\n], \"passed\": %d, \"failed\": %d, \"skipped\": %d, \"seconds\": %.3f}\n",
		       passed, failed, skipped, (conform_now_ns() - t0) / 1e9);
	else
		printf("%d passed, %d failed, %d skipped (%.2f s, seed %" PRIu64 ")\n", passed,
		       failed, skipped, (conform_now_ns() - t0) / 1e9, o.seed);
	return failed ? 1 : 0;
}
