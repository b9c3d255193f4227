/*
 * The SDK's example plugins (sdk/examples), built from their own sources
 * in this tree and loaded by the real `modvm run` through the config's
 * plugins.path, each governing a live VM in place of the in-tree plugin of
 * its kind (issue 15):
 *
 *  - mem-fixed, the host's memory policy (host.memory_policy): the demo
 *    guest's balloon is put at its 50 % (128 of 256 MiB), `ctl status`
 *    shows that target in force with mem-fixed governing, the guest's
 *    balloon follows (its console and `status`' guest size), and it stays
 *    there while mem-dynamic, enabled beside it and governing a second VM
 *    through that VM's memory_policy, visibly sizes its own VM and never
 *    touches the first;
 *  - park-unused, the host's power policy (host.power_policy) on power-park
 *    with the offline action: modvm runs on cpu0 only, so the vCPU never
 *    runs on cpu1, which park-unused parks: cpu1 goes offline in
 *    /sys/devices/system/cpu and `status` counts it parked, while
 *    core-parking, enabled too, is told it does not govern; after SIGTERM
 *    every cpuN/online reads as before and power-park's journal is gone;
 *  - nic-table, a NIC driver for net-vmq, beside the in-tree nic-ethtool:
 *    it owns the uplink whose PCI id its pci_ids option names, net-vmq asks
 *    it for the VM NIC's receive queue, the queue it gives shows in
 *    `status` as dedicated, and it is taken back when modvm stops; a
 *    second VM NIC, on an uplink it does not claim, falls back to its tap
 *    queues with both drivers named.
 *
 * Why nic-table's uplink is a fixture sysfs tree (net-vmq's sysfs_root,
 * tests/fixtures/net/nic_tree.c: an ixgbe-like 8086:10fb with 8 rx queues)
 * and not an interface of the test host: net-vmq counts as NICs only
 * interfaces with a PCI function behind them (veth, dummy, tap have no
 * hardware queues to hand out: it lists them as "not NICs here"), and the
 * nested test host has no PCI NIC at all; the only one QEMU could give it
 * that its Debian cloud kernel drives is virtio-net, which has neither
 * n-tuple steering nor, without a tap back end, more than one queue.  No
 * device without hardware reports rx-ntuple-filter (netdevsim is not in
 * that kernel), so nic-table's own n-tuple rule could never match there:
 * it claims the fixture NIC by its PCI id, as a vendor's driver claims its
 * devices.  Everything else is live: modvm, net-vmq's discovery of the
 * tree (live ethtool calls included, which find no such interface in the
 * test's private network namespace), the probe, queue_alloc/queue_free,
 * the VM's virtio-net on a real tap, `status`.
 *
 * `modvm ctl … status` is polled every 1.5 s at most: each poll is a new
 * (ASan) process, costly under TCG in the nested host.  Needs a usable
 * /dev/kvm (scripts/kvm-exec: natively, or in the nested AMD-V host), and
 * root for the offline and tap parts (the nested host runs tests as root).
 * argv: MODVM_EXE EXAMPLES_PLUGIN_DIR.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guest_suite.h"
#include "netns.h"
#include "nic_tree.h"
#include "run_modvm.h"

#define MiB (1024ull * 1024ull)
#define POLL_S 1.5

static const char *exdir;	/* where the examples' .so files were built */
static char dir[64], sock[128];
static struct run_result res;

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static void read_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, len - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
}

static const char *in_dir(const char *name)
{
	static char path[4][192];
	static int k;
	k = (k + 1) % 4;
	snprintf(path[k], sizeof(path[k]), "%s/%s", dir, name);
	return path[k];
}

/* `modvm ctl SOCK status` into @out. */
static void ctl_status(char *out, size_t len)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s ctl %s status 2>&1", run_modvm_exe(), sock);
	FILE *p = popen(cmd, "r");
	size_t n = p ? fread(out, 1, len - 1, p) : 0;
	out[n] = '\0';
	if (p)
		pclose(p);
}

/* "128M" → bytes (status sizes: a number and K/M/G/T, or bare bytes); 0 if none. */
static uint64_t size_at(const char *p)
{
	char *end;
	unsigned long long v = strtoull(p, &end, 10);
	const char *units = "KMGT", *u = *end ? strchr(units, *end) : NULL;
	for (int i = 0; u && i <= u - units; i++)
		v *= 1024;
	return v;
}

/*
 * A VM's line of `status` ("0 fixed running memory 256M guest 128M target
 * 128M policy mem-fixed") copied into @line; false if there is none.
 */
static bool vm_line(const char *status, unsigned id, const char *name, char *line, size_t len)
{
	char head[64];
	int n = snprintf(head, sizeof(head), "%u %s ", id, name);
	for (const char *p = status; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, head, (size_t)n) == 0) {
			snprintf(line, len, "%.*s", (int)strcspn(p, "\n"), p);
			return true;
		}
	return false;
}

/* The size after @key (" target ") in @line, 0 if absent. */
static uint64_t field_size(const char *line, const char *key)
{
	const char *p = strstr(line, key);
	return p ? size_at(p + strlen(key)) : 0;
}

/* The word after " policy " in @line into @out ("" if absent). */
static void field_policy(const char *line, char *out, size_t len)
{
	const char *p = strstr(line, " policy ");
	snprintf(out, len, "%.*s", p ? (int)strcspn(p + 8, " \n") : 0, p ? p + 8 : "");
}

/* The balloon size (pages) in the demo guest's last "balloon N pages" line; -1 none. */
static long last_balloon(const char *log)
{
	long pages = -1;
	for (const char *p = log; (p = strstr(p, ", balloon ")); p++)
		pages = strtol(p + 10, NULL, 10);
	return pages;
}

/* host, then plugins.path and the cpu backends, then @plugins, then @vms. */
static const char *write_config(const char *host, const char *plugins, const char *vms)
{
	static char text[8192];
	const char *path = in_dir("live.conf");
	snprintf(text, sizeof(text),
		 "host = { log_level = \"info\"; control_socket = \"%s\";\n%s };\n"
		 "plugins = {\n"
		 "  path = [ \"%s\" ];\n"
		 "  cpu-vmx = { enabled = true; };\n"
		 "  cpu-svm = { enabled = true; };\n"
		 "%s"
		 "};\n"
		 "vms = (\n%s);\n",
		 sock, host, exdir, plugins, vms);
	write_file(path, text);
	return path;
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/modvm-examples-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/ctl.sock", dir);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* ---- mem-fixed: the memory policy ---- */

#define VM_MEMORY (256 * MiB)
#define FIXED_TARGET (VM_MEMORY / 2)	/* mem-fixed's percent = 50 */
#define HOLD_S 4.0			/* 20 mem-dynamic intervals after settling */

struct mem_watch {
	double t_start, t_polled, t_settled;
	uint64_t dyn_last;		/* the target of the VM mem-dynamic governs */
	uint64_t fixed_min, fixed_max;	/* the fixed VM's target at every poll since settling */
	int polls_held;
	char status[4096], fixed_line[256], dyn_line[256], console[16384];
};

static bool mem_settled(int pid, const char *out, void *ud)
{
	struct mem_watch *w = ud;
	char policy[32], dyn_policy[32];
	(void)pid, (void)out;

	if (!w->t_start)
		w->t_start = now_s();
	if (now_s() - w->t_polled < POLL_S)
		return false;
	w->t_polled = now_s();
	ctl_status(w->status, sizeof(w->status));
	read_file(in_dir("fixed.log"), w->console, sizeof(w->console));
	if (!vm_line(w->status, 0, "fixed", w->fixed_line, sizeof(w->fixed_line)) ||
	    !vm_line(w->status, 1, "dyn", w->dyn_line, sizeof(w->dyn_line)))
		return false;
	field_policy(w->fixed_line, policy, sizeof(policy));
	field_policy(w->dyn_line, dyn_policy, sizeof(dyn_policy));
	uint64_t target = field_size(w->fixed_line, " target ");
	uint64_t guest = field_size(w->fixed_line, " guest ");
	uint64_t dyn = field_size(w->dyn_line, " target ");
	if (dyn)
		w->dyn_last = dyn;
	if (w->t_settled > 0) {	/* held: every poll from now on */
		if (target < w->fixed_min)
			w->fixed_min = target;
		if (target > w->fixed_max)
			w->fixed_max = target;
		w->polls_held++;
		return now_s() - w->t_settled >= HOLD_S;
	}
	/* Settled: mem-fixed's target in force and reached by the guest, and
	 * mem-dynamic has moved its own VM off the 256 MiB it started at. */
	if (strcmp(policy, "mem-fixed") != 0 || target != FIXED_TARGET || guest != FIXED_TARGET ||
	    last_balloon(w->console) != (long)((VM_MEMORY - FIXED_TARGET) / 4096) ||
	    strcmp(dyn_policy, "mem-dynamic") != 0 || !dyn || dyn >= VM_MEMORY)
		return false;
	w->t_settled = now_s();
	w->fixed_min = w->fixed_max = target;
	return false;
}

START_TEST(mem_fixed_sizes_the_guest_mem_dynamic_keeps_off)
{
	static struct mem_watch w;
	char vms[2048];

	memset(&w, 0, sizeof(w));
	/* A roomy host for mem-dynamic: 24 GiB, 16 GiB available. */
	write_file(in_dir("roomy"), "MemTotal: 25165824 kB\nMemAvailable: 16777216 kB\n");
	/* "fixed" wants 200 MiB (mem-dynamic would grow it), "dyn" 8 MiB (it shrinks). */
	snprintf(vms, sizeof(vms),
		 "{ name = \"fixed\"; memory = \"256M\"; kernel = \"builtin:demo\";\n"
		 "  console = \"%s\"; cmdline = \"console=ttyS0 modvm.demo.work=200M\";\n"
		 "  mem-balloon = { minimum = \"32M\"; }; },\n"
		 "{ name = \"dyn\"; memory = \"256M\"; kernel = \"builtin:demo\";\n"
		 "  memory_policy = \"mem-dynamic\";\n"
		 "  console = \"%s\"; cmdline = \"console=ttyS0 modvm.demo.work=8M\";\n"
		 "  mem-balloon = { minimum = \"32M\"; }; }\n",
		 in_dir("fixed.log"), in_dir("dyn.log"));
	char plugins[1024];
	snprintf(plugins, sizeof(plugins),
		 "  mem-balloon = { enabled = true; interval_ms = 200; };\n"
		 "  mem-fixed = { enabled = true; percent = 50; };\n"
		 "  mem-dynamic = { enabled = true; interval_ms = 200; meminfo = \"%s\";\n"
		 "                  psi = \"%s\"; host_reserve = \"256M\"; };\n",
		 in_dir("roomy"), in_dir("no-psi"));
	const char *conf = write_config("memory_policy = \"mem-fixed\";", plugins, vms);
	const char *const args[] = { "run", conf, NULL };

	double t = run_modvm_watch(&res, 60, args, mem_settled, &w);
	ck_assert_msg(w.t_settled > 0,
		      "mem-fixed's 128M never in force and reached, or mem-dynamic never sized "
		      "its own VM; last status:\n%s\nfixed console:\n%s\nstderr:\n%s", w.status,
		      run_tail(w.console, 1500), run_tail(res.err, 3000));
	ck_assert_msg(t >= 0, "status not polled for %.0f s after settling; last:\n%s", HOLD_S,
		      w.status);
	ck_assert_msg(res.status == 0, "exit %d\n%s", res.status, run_tail(res.err, 3000));
	/* mem-fixed asked once, and said so; the mechanism put it in force. */
	ck_assert_msg(strstr(res.err, "mem-fixed: vm 0: 50% of 256 MiB: target 128 MiB"),
		      "%s", run_tail(res.err, 3000));
	/* Nobody fought: the fixed VM stayed at 128M over the hold (mem-dynamic,
	 * which would give its 200 MiB working set more, ran 20 intervals),
	 * and neither policy even asked the mechanism for the other's VM. */
	ck_assert_msg(w.fixed_min == FIXED_TARGET && w.fixed_max == FIXED_TARGET && w.polls_held >= 2,
		      "fixed VM's target moved to %llu..%llu MiB over %d polls; last:\n%s",
		      (unsigned long long)(w.fixed_min / MiB), (unsigned long long)(w.fixed_max / MiB),
		      w.polls_held, w.status);
	ck_assert_msg(!strstr(res.err, "asked for a target, but"), "%s", run_tail(res.err, 3000));
	/* mem-dynamic was live: its VM started at 256M and it took it down. */
	ck_assert_msg(strstr(res.err, "vm dyn: balloon on virtio-balloon, memory 256 MiB, minimum 32, "
				      "maximum 256, startup 256 MiB"), "%s", run_tail(res.err, 3000));
	ck_assert_uint_lt(w.dyn_last, VM_MEMORY);
	printf("mem-fixed: fixed VM at target 128M (guest 128M, balloon %ld pages) by the poll "
	       "%.1f s after start, held %.0f s over %d more polls; mem-dynamic's own VM from "
	       "256 to %llu MiB meanwhile\n",
	       last_balloon(w.console), w.t_settled - w.t_start, HOLD_S, w.polls_held,
	       (unsigned long long)(w.dyn_last / MiB));
}
END_TEST

/* ---- park-unused: the power policy ---- */

#define CPUS "/sys/devices/system/cpu"

static int by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* "cpu1=1 cpu2=1 ..." for every cpuN/online file (cpu0 usually has none). */
static void online_map(char *out, size_t len)
{
	char names[64][NAME_MAX + 1];
	int n = 0;
	DIR *d = opendir(CPUS);
	struct dirent *e;

	while (d && (e = readdir(d)) && n < 64) {
		unsigned cpu;
		char rest;
		if (sscanf(e->d_name, "cpu%u%c", &cpu, &rest) == 1)
			snprintf(names[n++], sizeof(names[0]), "%s", e->d_name);
	}
	if (d)
		closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), by_name);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		char path[sizeof(CPUS) + NAME_MAX + 16], v[8] = "";
		snprintf(path, sizeof(path), CPUS "/%s/online", names[i]);
		read_file(path, v, sizeof(v));
		if (!v[0])
			continue;
		size_t used = strlen(out);
		snprintf(out + used, len - used, "%s%s=%.1s", used ? " " : "", names[i], v);
	}
}

static char cpu1_online(void)
{
	char v[8] = "";
	read_file(CPUS "/cpu1/online", v, sizeof(v));
	return v[0];
}

struct park_watch {
	double t_polled, t_parked;
	int parked;
	char status[4096];
};

/* Parked cores as `status` counts them, -1 if it does not say. */
static int status_parked(const char *status)
{
	const char *h = strstr(status, "host cores ");
	int cores, park;
	return h && sscanf(h, "host cores %d parked %d", &cores, &park) == 2 ? park : -1;
}

static bool cpu1_parked(int pid, const char *out, void *ud)
{
	struct park_watch *w = ud;
	(void)pid, (void)out;

	if (now_s() - w->t_polled < POLL_S)
		return false;
	w->t_polled = now_s();
	ctl_status(w->status, sizeof(w->status));
	w->parked = status_parked(w->status);
	if (w->parked < 1 || cpu1_online() != '0')
		return false;
	w->t_parked = now_s();
	return true;
}

START_TEST(park_unused_offlines_the_core_no_vcpu_uses)
{
	static struct park_watch w;
	char before[512], after[512], state[192], plugins[1024];
	cpu_set_t only0;

	memset(&w, 0, sizeof(w));
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || geteuid() != 0 ||
	    access(CPUS "/cpu1/online", W_OK) != 0) {
		printf("park-unused: SKIP: needs root, two online cpus and a writable "
		       CPUS "/cpu1/online (the nested test host has them)\n");
		return;
	}
	online_map(before, sizeof(before));
	ck_assert_msg(cpu1_online() == '1', "cpu1 offline before the test: %s", before);
	/* modvm (a child of this process) runs on cpu0 only: no vCPU ever runs
	 * on cpu1, the core park-unused is to park. */
	CPU_ZERO(&only0);
	CPU_SET(0, &only0);
	ck_assert_int_eq(sched_setaffinity(0, sizeof(only0), &only0), 0);
	snprintf(state, sizeof(state), "%s", in_dir("power-park.state"));
	snprintf(plugins, sizeof(plugins),
		 "  mem-balloon = { enabled = true; interval_ms = 1000; };\n"
		 "  power-park = { enabled = true; action = \"offline\"; cores = \"0-1\";\n"
		 "                 state_file = \"%s\"; };\n"
		 "  park-unused = { enabled = true; interval_ms = 500; };\n"
		 "  core-parking = { enabled = true; interval_ms = 500; };\n",
		 state);
	/* The demo guest idles in HLT on its balloon until stopped. */
	char vms[512];
	snprintf(vms, sizeof(vms),
		 "{ name = \"idle\"; vcpus = 1; memory = \"128M\"; kernel = \"builtin:demo\";\n"
		 "  console = \"%s\"; cmdline = \"console=ttyS0 modvm.demo.work=4M\";\n"
		 "  mem-balloon = { minimum = \"32M\"; }; }\n",
		 in_dir("idle.log"));
	const char *conf = write_config("power_policy = \"park-unused\";", plugins, vms);
	const char *const args[] = { "run", conf, NULL };

	double t = run_modvm_watch(&res, 60, args, cpu1_parked, &w);
	/* Whatever happened, read the host first, then put back what is not as
	 * it was (this is a real host's cpu), then judge. */
	online_map(after, sizeof(after));
	char cpu1_after = cpu1_online();
	if (cpu1_after == '0')
		write_file(CPUS "/cpu1/online", "1");
	bool journal_left = access(state, F_OK) == 0;

	ck_assert_msg(t >= 0, "cpu1 not parked and offline within 60 s (status parked %d, cpu1 "
		      "online %c); last status:\n%s\nstderr:\n%s", w.parked, cpu1_online(), w.status,
		      run_tail(res.err, 3000));
	ck_assert_msg(res.status == 0, "exit %d\n%s", res.status, run_tail(res.err, 3000));
	/* park-unused decided it, for the reason it gives; power-park did it for it. */
	ck_assert_msg(strstr(res.err, "power-park: cpu1 parked: no vCPU ran there"), "%s",
		      run_tail(res.err, 3000));
	ck_assert_msg(strstr(res.err, "action offline") && strstr(res.err, "for park-unused"), "%s",
		      run_tail(res.err, 3000));
	/* cpu0, where the vCPU ran, was never parked (it may not be: offline). */
	ck_assert_msg(!strstr(res.err, "cpu0 parked"), "%s", run_tail(res.err, 3000));
	/* The in-tree policy, enabled too, knew it does not govern. */
	ck_assert_msg(strstr(res.err, "core-parking: the host's power policy is park-unused"), "%s",
		      run_tail(res.err, 3000));
	/* After SIGTERM: cpu1 back online, every cpuN/online as before, the
	 * journal of what offline changed emptied and removed. */
	ck_assert_msg(strstr(res.err, "power-park: cpu1 unparked"), "%s", run_tail(res.err, 3000));
	ck_assert_msg(cpu1_after == '1' && strcmp(before, after) == 0,
		      "after the stop: %s; before: %s", after, before);
	ck_assert_msg(!journal_left, "%s left behind", state);
	const char *h = strstr(w.status, "host cores ");
	printf("park-unused: cpu1 offline and \"%.*s\" in status by the poll %.1f s after start; "
	       "after SIGTERM %s (before: %s)\n", h ? (int)strcspn(h, "\n") : 0, h ? h : "", t,
	       after, before);
}
END_TEST

/* ---- nic-table: a NIC driver ---- */

#define DEDICATED_MAC "52:54:00:12:34:02"
#define FALLBACK_MAC "52:54:00:12:34:01"

struct nic_watch {
	double t_polled;
	char status[4096], line[256];
};

static bool queue_shown(int pid, const char *out, void *ud)
{
	struct nic_watch *w = ud;
	(void)pid, (void)out;

	if (now_s() - w->t_polled < POLL_S)
		return false;
	w->t_polled = now_s();
	ctl_status(w->status, sizeof(w->status));
	return vm_line(w->status, 0, "web", w->line, sizeof(w->line)) &&
	       strstr(w->status, "\n  nic uplink ");
}

START_TEST(nic_table_gives_the_vm_its_receive_queue)
{
	static struct nic_watch w;
	struct nic_tree tree;
	char plugins[1024], vms[1024];
	const char *why = netns_unavailable();

	memset(&w, 0, sizeof(w));
	if (why) {
		printf("nic-table: SKIP: %s (a private network namespace holds the VM's taps)\n", why);
		return;
	}
	ck_assert_int_eq(netns_enter(), 0);
	ck_assert_int_eq(nic_tree_create(&tree), 0);
	snprintf(plugins, sizeof(plugins),
		 "  mem-balloon = { enabled = true; interval_ms = 1000; };\n"
		 "  net-vmq = { enabled = true; sysfs_root = \"%s\"; proc_root = \"%s\"; };\n"
		 "  nic-ethtool = { enabled = true; };\n"
		 "  nic-table = { enabled = true; pci_ids = \"8086:10fb\"; };\n",
		 tree.sys, tree.proc);
	/* eth0 first (its event is then not the last `status` keeps): the
	 * fixture's virtio NIC, one queue, nobody's; then the ixgbe-like one. */
	snprintf(vms, sizeof(vms),
		 "{ name = \"web\"; vcpus = 1; memory = \"128M\"; kernel = \"builtin:demo\";\n"
		 "  console = \"%s\"; cmdline = \"console=ttyS0 modvm.demo.work=4M\";\n"
		 "  mem-balloon = { minimum = \"32M\"; };\n"
		 "  net-vmq = { nics = (\n"
		 "    { tap = \"mvlive1\"; mac = \"" FALLBACK_MAC "\"; uplink = \"" NIC_TREE_VIRTIO_IF
		 "\"; },\n"
		 "    { tap = \"mvlive0\"; mac = \"" DEDICATED_MAC "\"; uplink = \"" NIC_TREE_IXGBE_IF
		 "\"; } ); }; }\n",
		 in_dir("web.log"));
	const char *conf = write_config("", plugins, vms);
	const char *const args[] = { "run", conf, NULL };

	double t = run_modvm_watch(&res, 60, args, queue_shown, &w);
	nic_tree_destroy(&tree);
	ck_assert_msg(t >= 0, "no NIC queue in status within 60 s; last:\n%s\nstderr:\n%s",
		      w.status, run_tail(res.err, 3000));
	ck_assert_msg(res.status == 0, "exit %d\n%s", res.status, run_tail(res.err, 3000));
	/* net-vmq offered the NIC to both drivers; nic-table's probe won it. */
	ck_assert_msg(strstr(res.err, NIC_TREE_IXGBE_IF ": NIC driver nic-table (probe 20)"), "%s",
		      run_tail(res.err, 3000));
	/* The queue it gave is the VM's, dedicated, in `status` while it ran. */
	ck_assert_msg(strstr(w.status, "  nic uplink " NIC_TREE_IXGBE_IF " queue 1 dedicated"),
		      "status:\n%s\nstderr:\n%s", w.status, run_tail(res.err, 3000));
	const char *given = strstr(res.err, "nic-table: vm 0 mac " DEDICATED_MAC ": "
					    NIC_TREE_IXGBE_IF " rx queue 1 given");
	ck_assert_msg(given != NULL, "%s", run_tail(res.err, 3000));
	ck_assert_msg(strstr(res.err, "vm web: receive queue 1 on " NIC_TREE_IXGBE_IF
				      " (from its NIC driver)"), "%s", run_tail(res.err, 3000));
	/* ... and taken back when modvm stopped, exactly once. */
	static const char taken_back[] = "nic-table: vm 0: " NIC_TREE_IXGBE_IF " rx queue 1 taken back";
	const char *back = strstr(res.err, taken_back);
	ck_assert_msg(back != NULL && back > given, "%s", run_tail(res.err, 3000));
	ck_assert_msg(!strstr(back + sizeof(taken_back) - 1, "taken back"), "%s", run_tail(res.err, 3000));
	/* The other uplink: consulted, claimed by neither, the NIC on its tap queues. */
	ck_assert_msg(strstr(res.err, "mac " FALLBACK_MAC ": uplink " NIC_TREE_VIRTIO_IF
				      ": no NIC driver claims it") &&
		      strstr(res.err, "drivers: nic-ethtool, nic-table); using per-VM tap queues"),
		      "%s", run_tail(res.err, 3000));
	printf("nic-table: %s queue 1 dedicated to vm web %.1f s after start, taken back at "
	       "stop; " NIC_TREE_VIRTIO_IF " unclaimed, tap queues\n", NIC_TREE_IXGBE_IF, t);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("examples-live");
	/* One case per test case: a rerun after a guest triple fault (guest_suite.c) is per case. */
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "mem-fixed", mem_fixed_sizes_the_guest_mem_dynamic_keeps_off },
		{ "park-unused", park_unused_offlines_the_core_no_vcpu_uses },
		{ "nic-table", nic_table_gives_the_vm_its_receive_queue },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_set_timeout(tc, 100);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(int argc, char **argv)
{
	char why[256];
	if (argc < 3)
		return 2;
	if (!kvm_usable(why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	run_modvm_init(argv[1]);
	exdir = argv[2];
	return guest_suite_run(make_suite);
}
