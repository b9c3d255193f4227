/*
 * Checks on what a plugin may not touch (process-global state) and on the
 * CPU-backend probe, which must be a pure function of the host.
 */
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <modvm/cpu.h>

#include "host/host.h"
#include "conform.h"

#define NSIG_CHECKED 64

struct global_state {
	struct sigaction sa[NSIG_CHECKED + 1];
	bool sa_ok[NSIG_CHECKED + 1];
	char locale[512];
	char cwd[PATH_MAX];
	struct rlimit rl[RLIM_NLIMITS];
	mode_t umask;
};

static void snapshot(struct global_state *g)
{
	const char *loc = setlocale(LC_ALL, NULL);

	memset(g, 0, sizeof(*g));
	for (int s = 1; s <= NSIG_CHECKED; s++)
		g->sa_ok[s] = sigaction(s, NULL, &g->sa[s]) == 0;
	snprintf(g->locale, sizeof(g->locale), "%s", loc ? loc : "");
	if (!getcwd(g->cwd, sizeof(g->cwd)))
		g->cwd[0] = '\0';
	for (int i = 0; i < RLIM_NLIMITS; i++)
		getrlimit(i, &g->rl[i]);
	g->umask = umask(022);
	umask(g->umask);
}

/* Names the first difference, or returns false. */
static bool differs(const struct global_state *a, const struct global_state *b, char *detail,
		    size_t n)
{
	for (int s = 1; s <= NSIG_CHECKED; s++) {
		if (a->sa_ok[s] != b->sa_ok[s] || a->sa[s].sa_handler != b->sa[s].sa_handler ||
		    a->sa[s].sa_flags != b->sa[s].sa_flags) {
			snprintf(detail, n, "signal %d (%s) disposition changed", s, strsignal(s));
			return true;
		}
	}
	if (strcmp(a->locale, b->locale) != 0) {
		snprintf(detail, n, "locale changed from \"%s\" to \"%s\"", a->locale, b->locale);
		return true;
	}
	if (strcmp(a->cwd, b->cwd) != 0) {
		snprintf(detail, n, "cwd changed from %s to %s", a->cwd, b->cwd);
		return true;
	}
	for (int i = 0; i < RLIM_NLIMITS; i++) {
		if (a->rl[i].rlim_cur != b->rl[i].rlim_cur || a->rl[i].rlim_max != b->rl[i].rlim_max) {
			snprintf(detail, n, "rlimit %d changed", i);
			return true;
		}
	}
	if (a->umask != b->umask) {
		snprintf(detail, n, "umask changed from %03o to %03o", (unsigned)a->umask,
			 (unsigned)b->umask);
		return true;
	}
	return false;
}

enum verdict conform_check_global_state(const struct conform_opts *o, char *detail, size_t n)
{
	static struct global_state before, after;	/* PATH_MAX-sized: not on the stack */
	struct harness h;
	int r;
	enum verdict v = harness_open(&h, o, detail, n);

	if (v != V_PASS)
		return v;
	snapshot(&before);
	if ((r = harness_init(&h)) < 0 || (r = harness_start(&h)) < 0) {
		snprintf(detail, n, "init/start failed: %s", modvm_strerror(r));
		harness_close(&h);
		return V_FAIL;
	}
	harness_stop(&h);
	harness_fini(&h);
	snapshot(&after);
	harness_close(&h);
	if (differs(&before, &after, detail, n))
		return V_FAIL;
	snprintf(detail, n, "signals 1-%d, locale, cwd, rlimits, umask unchanged", NSIG_CHECKED);
	return V_PASS;
}

static const char *probe_diff(const struct modvm_cpu_probe *a, const struct modvm_cpu_probe *b)
{
	if (a->score != b->score)
		return "score";
	if (strcmp(a->summary, b->summary) != 0)
		return "summary";
	if (memcmp(&a->caps, &b->caps, sizeof(a->caps)) != 0)
		return "caps";
	if (a->n_advice != b->n_advice || memcmp(a->advice, b->advice, sizeof(a->advice)) != 0)
		return "advice";
	return memcmp(a, b, sizeof(*a)) != 0 ? "padding/struct_size" : NULL;
}

enum verdict conform_check_cpu_probe(const struct conform_opts *o, char *detail, size_t n)
{
	static struct modvm_cpu_probe p1, p2;
	const struct modvm_cpu_backend *be;
	const char *diff;
	struct harness h;
	int r, r2, fd0, fd1;
	enum verdict v = harness_open_cpu_backend(&h, o, &be, detail, n);

	if (v != V_PASS)
		return v;
	p1.struct_size = p2.struct_size = sizeof(p1);
	fd0 = conform_count_dir("/proc/self/fd");
	r = be->probe(h.ctx, &p1);
	r2 = be->probe(h.ctx, &p2);
	fd1 = conform_count_dir("/proc/self/fd");
	if (r < 0 && access("/dev/kvm", F_OK) < 0) {
		harness_close(&h);
		snprintf(detail, n, "probe needs /dev/kvm, which is absent (%s)", modvm_strerror(r));
		return V_SKIP;
	}
	if (r != r2 || (diff = probe_diff(&p1, &p2))) {
		snprintf(detail, n, "probe is not deterministic: %s differs between two calls",
			 r != r2 ? "return value" : diff);
		goto fail;
	}
	if (fd0 != fd1) {
		snprintf(detail, n, "probe left %d fd(s) open", fd1 - fd0);
		goto fail;
	}
	harness_close(&h);
	snprintf(detail, n, "probe deterministic: score %d, %s", (int)p1.score, p1.summary);
	return V_PASS;
fail:
	harness_close(&h);
	return V_FAIL;
}
