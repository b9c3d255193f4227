/*
 * mem-balloon (and mem-dynamic, the policy) with Linux's own virtio_balloon driver:
 *   - a target set with `modvm ctl … balloon` is inflated to, and modvm's
 *     RSS drops by about that much; raising it deflates; the guest's
 *     statistics show in `modvm ctl … status`;
 *   - free page reporting hands pages the guest freed back to the host,
 *     with no target change;
 *   - Dynamic Memory shrinks an idle guest and grows it again when it
 *     allocates (tmpfs files: memory the guest cannot reclaim).
 *
 * Needs a KVM with hardware virtualization (natively on VMX/SVM hosts,
 * elsewhere in the nested SVM test host through scripts/kvm-exec).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guest/linux_image.h"
#include "guest_suite.h"
#include "run_modvm.h"

#define MiB (1ull << 20)

static struct linux_kit kit;
static struct run_result res;
static char sock[128];

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* VmRSS of @pid in bytes, 0 if unreadable. */
static uint64_t rss(int pid)
{
	char path[64], line[256];
	uint64_t kb = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %lu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}

/*
 * `modvm ctl SOCK ARGS…` output into @out (empty if it failed).  At most
 * four a second: each is a new (ASan) process, costly under TCG in the
 * nested host, and the drivers poll with it; unthrottled, the polling
 * itself kept the test host busy and slowed the guest under test.
 */
static void ctl(char *out, size_t len, const char *args)
{
	char cmd[512];

	usleep(250 * 1000);
	snprintf(cmd, sizeof(cmd), "%s ctl %s %s 2>&1", run_modvm_exe(), sock, args);
	out[0] = '\0';
	FILE *p = popen(cmd, "r");
	size_t n = p ? fread(out, 1, len - 1, p) : 0;
	out[n] = '\0';
	if (p)
		pclose(p);
}

/* The "guest SIZE" the status reports for VM 0, in bytes (0 if absent). */
static uint64_t guest_size(void)
{
	char st[4096];
	ctl(st, sizeof(st), "status");
	const char *g = strstr(st, " guest ");
	if (!g)
		return 0;
	char *end;
	uint64_t v = strtoull(g + 7, &end, 10);
	switch (*end) {
	case 'K': return v << 10;
	case 'M': return v << 20;
	case 'G': return v << 30;
	default: return v;
	}
}

struct guest {
	char dir[64], initrd[128], conf[128];
};

static void guest_make(struct guest *g, const char *script, const char *balloon_group,
		       const char *dynamic_group)
{
	snprintf(g->dir, sizeof(g->dir), "/tmp/modvm-balloon-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(g->dir));
	snprintf(sock, sizeof(sock), "%s/ctl.sock", g->dir);
	snprintf(g->initrd, sizeof(g->initrd), "%s/initrd.cpio", g->dir);
	const char *const mods[] = { "virtio_mmio", "virtio_balloon", NULL };
	ck_assert_int_eq(linux_image(&kit, g->initrd, mods, script), 0);
	snprintf(g->conf, sizeof(g->conf), "%s/vm.conf", g->dir);
	FILE *f = fopen(g->conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"host = { control_socket = \"%s\"; };\n"
		"plugins = { cpu-vmx = { enabled = true; }; cpu-svm = { enabled = true; };\n"
		"            mem-balloon = { enabled = true; interval_ms = 500; };\n"
		"            mem-dynamic = { enabled = true; interval_ms = 500; host_reserve = \"0\"; }; };\n"
		"vms = ( { name = \"bal\"; vcpus = 1; memory = \"768M\"; rng = false;\n"
		"          kernel = \"%s\"; initrd = \"%s\";\n"
		"          cmdline = \"console=ttyS0 rdinit=/init panic=-1\";\n"
		"          mem-balloon = { %s }; mem-dynamic = { %s }; } );\n",
		sock, kit.vmlinuz, g->initrd, balloon_group, dynamic_group);
	ck_assert_int_eq(fclose(f), 0);
}

static void guest_remove(struct guest *g)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g->dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* ---- inflate, deflate, statistics (no free page reporting) ---- */

struct inflate {
	int step;
	bool pinned;
	uint64_t rss_full, rss_inflated, guest_inflated, guest_deflated;
	bool stats_seen;
	double t_step;
};

static bool drive_inflate(int pid, const char *out, void *ud)
{
	struct inflate *s = ud;
	char buf[4096];

	/* Before the guest's driver runs: the operator holds it at 768M. */
	if (!s->pinned && access(sock, F_OK) == 0) {
		ctl(buf, sizeof(buf), "balloon bal 768M");
		s->pinned = strncmp(buf, "ok", 2) == 0;
	}
	switch (s->step) {
	case 0:	/* the guest touched 600 MiB and freed it: resident, free in the guest */
		if (!strstr(out, "modvm-guest: freed"))
			return false;
		sleep(2);
		s->rss_full = rss(pid);
		ctl(buf, sizeof(buf), "balloon bal 256M");
		s->t_step = now_s();
		s->step = 1;
		return false;
	case 1:
		if (guest_size() != 256 * MiB && now_s() - s->t_step < 60)
			return false;
		s->guest_inflated = guest_size();
		sleep(1);
		s->rss_inflated = rss(pid);
		ctl(buf, sizeof(buf), "status");
		s->stats_seen = strstr(buf, "  stats total ") != NULL;
		ctl(buf, sizeof(buf), "balloon bal 768M");
		s->t_step = now_s();
		s->step = 2;
		return false;
	case 2:
		if (guest_size() != 768 * MiB && now_s() - s->t_step < 60)
			return false;
		s->guest_deflated = guest_size();
		return true;
	}
	return true;
}

START_TEST(ctl_target_inflates_deflates_and_stats_show)
{
	struct guest g;
	struct inflate s = { 0 };
	guest_make(&g,
		   "mount -o remount,size=90% /tmp\n"
		   "dd if=/dev/zero of=/tmp/fill bs=1M count=600 2>/dev/null\n"
		   "rm /tmp/fill\n"
		   "echo modvm-guest: freed\n"
		   "sleep 600\n",
		   "startup = \"768M\"; minimum = \"128M\"; free_page_reporting = false;", "");
	const char *const args[] = { "run", g.conf, NULL };
	double t = run_modvm_watch(&res, 600, args, drive_inflate, &s);
	guest_remove(&g);
	ck_assert_msg(t >= 0 && s.pinned, "never finished (step %d)\n%s\n%s", s.step,
		      run_tail(res.out, 2000), run_tail(res.err, 1000));
	ck_assert_int_eq(res.status, 0);
	ck_assert_uint_eq(s.guest_inflated, 256 * MiB);
	ck_assert_uint_eq(s.guest_deflated, 768 * MiB);
	ck_assert(s.stats_seen);
	/* 512 MiB went into the balloon, most of it pages the guest had touched:
	 * what stays resident is about the guest's 256 MiB and the VMM. */
	ck_assert_msg(s.rss_inflated <= (256 + 64) * MiB &&
		      (int64_t)s.rss_full - (int64_t)s.rss_inflated >= (int64_t)(300 * MiB),
		      "RSS %llu MiB -> %llu MiB after inflating 512 MiB",
		      (unsigned long long)(s.rss_full / MiB), (unsigned long long)(s.rss_inflated / MiB));
	printf("virtio_balloon: target 256M reached, RSS %llu -> %llu MiB (-%lld MiB), deflated "
	       "back to 768M, stats shown\n", (unsigned long long)(s.rss_full / MiB),
	       (unsigned long long)(s.rss_inflated / MiB),
	       (long long)(((int64_t)s.rss_full - (int64_t)s.rss_inflated) / (int64_t)MiB));
}
END_TEST

/* ---- free page reporting ---- */

struct report {
	bool pinned;
	uint64_t rss_filled, rss_min;
	double t_freed;
};

static bool drive_report(int pid, const char *out, void *ud)
{
	struct report *s = ud;
	char buf[256];

	if (!s->pinned && access(sock, F_OK) == 0) {
		ctl(buf, sizeof(buf), "balloon bal 768M");
		s->pinned = strncmp(buf, "ok", 2) == 0;
	}
	if (!s->rss_filled && strstr(out, "modvm-guest: filled"))
		s->rss_filled = rss(pid);
	if (s->rss_filled && !s->t_freed && strstr(out, "modvm-guest: freed")) {
		s->t_freed = now_s();
		s->rss_min = s->rss_filled;
	}
	if (!s->t_freed)
		return false;
	uint64_t r = rss(pid);
	if (r && r < s->rss_min)
		s->rss_min = r;
	return s->rss_filled - s->rss_min >= 500 * MiB || now_s() - s->t_freed > 90;
}

START_TEST(free_page_reporting_returns_freed_pages)
{
	struct guest g;
	struct report s = { 0 };
	guest_make(&g,
		   "mount -o remount,size=90% /tmp\n"
		   "dd if=/dev/zero of=/tmp/fill bs=1M count=600 2>/dev/null\n"
		   "echo modvm-guest: filled\n"
		   "sleep 3\n"
		   "rm /tmp/fill\n"
		   "echo modvm-guest: freed\n"
		   "sleep 600\n",
		   "startup = \"768M\"; minimum = \"128M\";", "");
	const char *const args[] = { "run", g.conf, NULL };
	double t = run_modvm_watch(&res, 600, args, drive_report, &s);
	guest_remove(&g);
	ck_assert_msg(t >= 0 && s.t_freed > 0, "no fill/free seen\n%s\n%s", run_tail(res.out, 2000),
		      run_tail(res.err, 1000));
	/* Linux reports free blocks of 2 MiB and more, a budget at a time:
	 * most, not every page, of what was freed comes back. */
	ck_assert_msg(s.rss_filled - s.rss_min >= 300 * MiB,
		      "free page reporting gave back only %llu MiB of 600 within 90 s",
		      (unsigned long long)((s.rss_filled - s.rss_min) / MiB));
	printf("free page reporting: RSS %llu -> %llu MiB after the guest freed 600 MiB\n",
	       (unsigned long long)(s.rss_filled / MiB), (unsigned long long)(s.rss_min / MiB));
}
END_TEST

/* ---- Dynamic Memory ---- */

struct dyn {
	uint64_t idle_min, busy_max;
	bool busy;
};

static bool drive_dynamic(int pid, const char *out, void *ud)
{
	struct dyn *s = ud;
	(void)pid;
	uint64_t g = guest_size();
	if (!s->busy && strstr(out, "modvm-guest: allocating"))
		s->busy = true;
	if (!s->busy && g && (!s->idle_min || g < s->idle_min))
		s->idle_min = g;
	if (s->busy && g > s->busy_max)
		s->busy_max = g;
	return strstr(out, "modvm-guest: allocated") != NULL;
}

START_TEST(dynamic_memory_shrinks_idle_grows_busy)
{
	struct guest g;
	struct dyn s = { 0 };
	guest_make(&g,
		   "mount -o remount,size=90% /tmp\n"
		   "sleep 40\n"	/* the guest inflates at TCG speed in the nested host */
		   "echo modvm-guest: allocating\n"
		   "for i in 1 2 3 4 5 6 7 8; do\n"
		   "  dd if=/dev/zero of=/tmp/f$i bs=1M count=50 2>/dev/null\n"
		   "  sleep 2\n"
		   "done\n"
		   "echo modvm-guest: allocated\n"
		   "sleep 600\n",
		   "startup = \"768M\"; minimum = \"128M\";", "buffer = 20;");
	const char *const args[] = { "run", g.conf, NULL };
	double t = run_modvm_watch(&res, 600, args, drive_dynamic, &s);
	guest_remove(&g);
	ck_assert_msg(t >= 0, "the guest never finished allocating\n%s\n%s", run_tail(res.out, 2000),
		      run_tail(res.err, 1000));
	ck_assert_ptr_null(strstr(res.out, "Out of memory"));
	ck_assert_msg(s.idle_min && s.idle_min <= 256 * MiB, "idle guest kept %llu MiB",
		      (unsigned long long)(s.idle_min / MiB));
	ck_assert_msg(s.busy_max >= 450 * MiB, "busy guest grew only to %llu MiB",
		      (unsigned long long)(s.busy_max / MiB));
	printf("Dynamic Memory: idle guest shrunk to %llu MiB, grew to %llu MiB for 400 MiB of "
	       "tmpfs\n", (unsigned long long)(s.idle_min / MiB),
	       (unsigned long long)(s.busy_max / MiB));
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("linux-balloon");
	/* one case each: a rerun after a triple fault (guest_suite.c) runs only that one */
	const struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "ctl", ctl_target_inflates_deflates_and_stats_show },
		{ "free-page-reporting", free_page_reporting_returns_freed_pages },
		{ "dynamic-memory", dynamic_memory_shrinks_idle_grows_busy },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *t = tcase_create(cases[i].name);
		tcase_set_timeout(t, 700);
		tcase_add_test(t, cases[i].test);
		suite_add_tcase(s, t);
	}
	return s;
}

int main(int argc, char **argv)
{
	char why[256];

	if (argc < 2)
		return 2;
	if (!kvm_hw_usable(why, sizeof(why)) || !linux_kit_find(&kit, why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	run_modvm_init(argv[1]);
	return guest_suite_run(make_suite);
}
