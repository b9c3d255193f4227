/*
 * Dynamic Memory end to end: `modvm run` with the mem-balloon and mem-dynamic plugins and
 * demo guests that drive their virtio-balloon (guest/demo/balloon.c) and
 * keep a scripted working set.  What a user of Hyper-V Dynamic Memory
 * expects, checked on the real process:
 *  - a VM that was busy and went idle shrinks to its minimum, and the host
 *    really gets the memory back (modvm's own Rss drops);
 *  - a busy VM that started small grows until its working set fits;
 *  - when the host is short, two starved VMs split what there is by weight.
 * Host pressure comes from a fixture meminfo (the plugin's `meminfo`
 * option), so the test never depends on this machine's free memory.
 * Skips (77) without a usable /dev/kvm.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guest_suite.h"
#include "run_modvm.h"

#define MiB (1024ull * 1024ull)
#define VM_MEMORY (256 * MiB)

static struct run_result res;
static char dir[64];

static void write_file(const char *name, const char *text)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static void read_file(const char *name, char *buf, size_t len)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	buf[0] = '\0';
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, len - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
}

/* The balloon size (pages) in the guest's last "balloon N pages" line; -1 none. */
static long last_balloon(const char *log)
{
	long pages = -1;
	for (const char *p = log; (p = strstr(p, ", balloon ")); p++)
		pages = strtol(p + 10, NULL, 10);
	return pages;
}

static uint64_t guest_bytes(long pages)
{
	return VM_MEMORY - (uint64_t)pages * 4096;
}

/* A field of /proc/PID/smaps_rollup ("Rss"), in bytes. */
static uint64_t smaps_bytes(int pid, const char *field)
{
	char path[64], line[256], fmt[64];
	unsigned long long kb = 0;
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	snprintf(fmt, sizeof(fmt), "%s: %%llu kB", field);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, fmt, &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

/* Resident bytes of the guests' RAM: the read-write mappings of exactly
 * VM_MEMORY bytes in /proc/PID/smaps (the VM runtime maps each VM's RAM
 * as one private anonymous mapping). */
static uint64_t guest_ram_rss(int pid)
{
	char path[64], line[256];
	unsigned long start, end;
	unsigned long long kb, sum = 0;
	char perms[8];
	bool in_ram = false;
	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) == 3)
			in_ram = end - start == VM_MEMORY && perms[0] == 'r' && perms[1] == 'w';
		else if (in_ram && sscanf(line, "Rss: %llu kB", &kb) == 1)
			sum += kb;
	}
	fclose(f);
	return sum * 1024;
}

static const char *config(const char *meminfo, const char *vms)
{
	static char text[4096];
	snprintf(text, sizeof(text),
		 "host = { log_level = \"info\"; };\n"
		 "plugins = {\n"
		 "  cpu-vmx = { enabled = true; };\n"
		 "  cpu-svm = { enabled = true; };\n"
		 "  mem-balloon = { enabled = true; interval_ms = 100; };\n"
		 "  mem-dynamic = { enabled = true; interval_ms = 100; meminfo = \"%s/%s\";\n"
		 "                  psi = \"%s/no-psi\"; host_reserve = \"256M\"; };\n"
		 "};\n"
		 "vms = (\n%s);\n",
		 dir, meminfo, dir, vms);
	return text;
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/modvm-dm-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* A roomy host: 24 GiB, 16 GiB available. */
	write_file("roomy", "MemTotal: 25165824 kB\nMemAvailable: 16777216 kB\n");
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static const char *run_args[] = { "run", NULL, NULL };

/* ---- idle shrinks and gives the host its memory back, busy grows ---- */

struct grow_shrink {
	uint64_t rss_peak, rss_end;
	char idle[16384], busy[16384];
};

static bool idle_settled_busy_grown(int pid, const char *out, void *ud)
{
	struct grow_shrink *w = ud;
	(void)out;
	uint64_t rss = smaps_bytes(pid, "Rss");
	if (rss > w->rss_peak)
		w->rss_peak = rss;
	read_file("idle.log", w->idle, sizeof(w->idle));
	read_file("busy.log", w->busy, sizeof(w->busy));
	const char *idle_phase2 = strstr(w->idle, "working set 4 MiB");
	if (!idle_phase2 || last_balloon(idle_phase2) != (long)((VM_MEMORY - 32 * MiB) / 4096) ||
	    !strstr(w->busy, "working set 200 MiB"))
		return false;
	w->rss_end = rss;
	return true;
}

START_TEST(idle_vm_gives_memory_back_busy_vm_grows)
{
	static struct grow_shrink w;
	char path[128];
	snprintf(path, sizeof(path), "%s/dm.conf", dir);
	char vms[1024];
	snprintf(vms, sizeof(vms),
		 /* busy for 40 intervals (4 s), then idle with 4 MiB: writing 160 MiB
		  * once took the nested test host more than 15 (1.5 s), and the
		  * guest went idle before its working set was whole */
		 "{ name = \"idle\"; memory = \"256M\"; kernel = \"builtin:demo\";\n"
		 "  console = \"%s/idle.log\"; cmdline = \"console=ttyS0 modvm.demo.work=160M,4M@40\";\n"
		 "  mem-balloon = { minimum = \"32M\"; }; },\n"
		 /* starts with 64 MiB, needs 200 */
		 "{ name = \"busy\"; memory = \"256M\"; kernel = \"builtin:demo\";\n"
		 "  console = \"%s/busy.log\"; cmdline = \"console=ttyS0 modvm.demo.work=200M\";\n"
		 "  mem-balloon = { minimum = \"32M\"; startup = \"64M\"; }; }\n",
		 dir, dir);
	write_file("dm.conf", config("roomy", vms));
	run_args[1] = path;

	double t = run_modvm_watch(&res, 90, run_args, idle_settled_busy_grown, &w);
	ck_assert_msg(t >= 0, "not settled in 90 s; idle:\n%s\nbusy:\n%s\nstderr:\n%s", w.idle,
		      w.busy, res.err);
	ck_assert_int_eq(res.status, 0);
	printf("settled after %.1f s; modvm Rss peak %llu MiB, end %llu MiB\n", t,
	       (unsigned long long)(w.rss_peak / MiB), (unsigned long long)(w.rss_end / MiB));

	/* The busy VM grew from 64 MiB to hold its 200 MiB working set. */
	long busy = last_balloon(w.busy);
	ck_assert_int_ge(busy, 0);
	ck_assert_uint_ge(guest_bytes(busy), 200 * MiB);
	/* Before going idle, the idle VM was sized to demand × 1.2 (160 MiB
	 * working set: well below its 256 MiB), not left at its maximum. */
	char *phase2 = strstr(w.idle, "working set 4 MiB");
	ck_assert_ptr_nonnull(strstr(w.idle, "working set 160 MiB"));
	*phase2 = '\0';
	long sized = last_balloon(w.idle);
	ck_assert_int_ge(sized, 0);
	ck_assert_uint_ge(guest_bytes(sized), 180 * MiB);
	ck_assert_uint_le(guest_bytes(sized), 210 * MiB);
	/* Both guests wrote their working sets: the host backed ~360 MiB … */
	ck_assert_uint_ge(w.rss_peak, 330 * MiB);
	/* … and got the idle VM's 156 MiB back when its balloon took them: what
	 * stays resident is the busy VM's 200 MiB, the idle VM at its 32 MiB
	 * minimum and the VMM itself.  (Measured against the peak instead, the
	 * check depended on the two VMs' phases overlapping as on a fast host:
	 * nested, the idle VM shrinks before the busy one has grown.) */
	ck_assert_msg(w.rss_end <= (200 + 32 + 48) * MiB, "modvm Rss %llu MiB at the end",
		      (unsigned long long)(w.rss_end / MiB));
	ck_assert_ptr_nonnull(strstr(res.err, "vm idle: balloon on virtio-balloon"));
}
END_TEST

/* ---- host short: the split follows the weights ---- */

struct split {
	long a, b;
	double since;	/* when the sizes last changed */
	char la[16384], lb[16384];
};

#define STARTUP (128 * MiB)
#define HOST_RESERVE (256 * MiB)
#define HOST_FOR_VMS (256 * MiB)

/*
 * A small host: beyond its reserve it has HOST_FOR_VMS for the two VMs, so
 * MemAvailable = reserve + HOST_FOR_VMS − what the guests really occupy:
 * modvm's resident guest RAM, as the kernel
 * would count it.  Rewritten atomically, the plugin reads it at any time.
 */
static void write_short_host(uint64_t held)
{
	char text[128], tmp[128], path[128];
	uint64_t avail = HOST_RESERVE + (held < HOST_FOR_VMS ? HOST_FOR_VMS - held : 0);
	snprintf(text, sizeof(text), "MemTotal: 25165824 kB\nMemAvailable: %llu kB\n",
		 (unsigned long long)(avail / 1024));
	write_file("short.new", text);
	snprintf(tmp, sizeof(tmp), "%s/short.new", dir);
	snprintf(path, sizeof(path), "%s/short", dir);
	ck_assert_int_eq(rename(tmp, path), 0);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static bool split_settled(int pid, const char *out, void *ud)
{
	struct split *s = ud;
	(void)pid, (void)out;
	read_file("a.log", s->la, sizeof(s->la));
	read_file("b.log", s->lb, sizeof(s->lb));
	long a = last_balloon(s->la), b = last_balloon(s->lb);
	write_short_host(guest_ram_rss(pid));
	/*
	 * Settled: both have moved off their startup size, the host's memory
	 * for VMs is handed out (what the test asserts first, within one
	 * hysteresis step) in the weights' split, and neither changed for
	 * 3 s.  A pause on the way (the policy waits for a starved guest to
	 * give pages up, slow under TCG) is not the end: a CI run took one for
	 * it and measured a 61/39 split on the way to 75/25.  A policy that
	 * never gets there still fails, on the 90 s bound.
	 */
	uint64_t sum = a < 0 || b < 0 ? 0 : guest_bytes(a) + guest_bytes(b);
	bool handed_out = sum + 8 * MiB >= HOST_FOR_VMS && sum <= HOST_FOR_VMS + 8 * MiB;
	double above_a = handed_out ? (double)guest_bytes(a) - 32.0 * MiB : 0;
	double above_b = handed_out ? (double)guest_bytes(b) - 32.0 * MiB : 0;
	double part_a = above_a > 0 && above_b > 0 ? above_a / (above_a + above_b) : 0;
	bool split = part_a > 0.75 * 0.95 && part_a < 0.75 * 1.05;
	if (a < 0 || b < 0 || a == b || !split || a != s->a || b != s->b) {
		s->a = a;
		s->b = b;
		s->since = now();
		return false;
	}
	return now() - s->since >= 3.0;	/* 30 policy intervals */
}

START_TEST(weights_split_memory_when_the_host_is_short)
{
	static struct split s = { -1, -1, 0.0, "", "" };
	char path[128];
	snprintf(path, sizeof(path), "%s/dm.conf", dir);
	char vms[1024];
	snprintf(vms, sizeof(vms),
		 "{ name = \"a\"; memory = \"256M\"; kernel = \"builtin:demo\";\n"
		 "  console = \"%s/a.log\"; cmdline = \"console=ttyS0 modvm.demo.work=240M\";\n"
		 "  mem-balloon = { minimum = \"32M\"; startup = \"128M\"; };\n"
		 "  mem-dynamic = { weight = 7500; }; },\n"
		 "{ name = \"b\"; memory = \"256M\"; kernel = \"builtin:demo\";\n"
		 "  console = \"%s/b.log\"; cmdline = \"console=ttyS0 modvm.demo.work=240M\";\n"
		 "  mem-balloon = { minimum = \"32M\"; startup = \"128M\"; };\n"
		 "  mem-dynamic = { weight = 2500; }; }\n",
		 dir, dir);
	write_short_host(2 * STARTUP);
	write_file("dm.conf", config("short", vms));
	run_args[1] = path;

	double t = run_modvm_watch(&res, 90, run_args, split_settled, &s);
	ck_assert_msg(t >= 0, "not settled in 90 s; a:\n%s\nb:\n%s\nstderr:\n%s", s.la, s.lb,
		      res.err);
	ck_assert_int_eq(res.status, 0);
	uint64_t ga = guest_bytes(s.a), gb = guest_bytes(s.b);
	printf("settled after %.1f s: a %llu MiB, b %llu MiB\n", t,
	       (unsigned long long)(ga / MiB), (unsigned long long)(gb / MiB));
	/* The host's 256 MiB for VMs is all handed out, give or take what the
	 * guests' RAM holds but never touched (low memory, the gap below the
	 * pool: in the balloon's books, not resident) and one hysteresis
	 * step … */
	ck_assert_msg(ga + gb <= HOST_FOR_VMS + 8 * MiB && ga + gb >= HOST_FOR_VMS - 8 * MiB,
		      "a %llu + b %llu MiB, want 256; a:\n%s\nb:\n%s\nstderr:\n%s",
		      (unsigned long long)(ga / MiB), (unsigned long long)(gb / MiB), s.la, s.lb,
		      res.err);
	/* … and above their minimums each VM's part of it is its weight's
	 * part (75 % / 25 %) within 5 % — what is left over is the policy's
	 * hysteresis step (4 MiB or 2 %), by design. */
	double above_a = (double)(ga - 32 * MiB), above_b = (double)(gb - 32 * MiB);
	double part_a = above_a / (above_a + above_b), part_b = above_b / (above_a + above_b);
	printf("split above minimums: a %.1f %%, b %.1f %% (weights 75 / 25)\n", 100 * part_a,
	       100 * part_b);
	ck_assert_msg(part_a > 0.75 * 0.95 && part_a < 0.75 * 1.05, "a's part %.3f, want 0.75 ± 5%%",
		      part_a);
	ck_assert_msg(part_b > 0.25 * 0.95 && part_b < 0.25 * 1.05, "b's part %.3f, want 0.25 ± 5%%",
		      part_b);
	/* The starved guests had to give up working-set pages to get there. */
	ck_assert_ptr_nonnull(strstr(s.la, "guest has"));
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("dynamic-memory");
	TCase *tc = tcase_create("e2e");
	tcase_set_timeout(tc, 150);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, idle_vm_gives_memory_back_busy_vm_grows);
	tcase_add_test(tc, weights_split_memory_when_the_host_is_short);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	char why[256];
	if (argc < 2)
		return 2;
	if (!kvm_usable(why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	run_modvm_init(argv[1]);
	return guest_suite_run(make_suite);
}
