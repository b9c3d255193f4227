/*
 * bench_vmm — what the VM runtime and the `modvm` program cost on top of KVM
 * (issues 3 and 4), each against a baseline measured in the same run:
 *
 *  a) a PIO exit round trip through the core VM runtime (modvm_vm: vCPU
 *     thread, exit dispatch, iobus handler) versus a bare vcpu_run loop on
 *     the same backend, the same guest binary, loaded the same way;
 *  b) start → first guest byte: fork/exec of `modvm run` until the guest's
 *     first serial byte arrives on its stdout, versus fork/exec of /bin/true;
 *  c) the resident memory of a running `modvm run`, without the guest RAM;
 *  d) a) again with the process locked down as host.sandbox = "strict" does
 *     (seccomp per thread class, capabilities, Landlock) versus not, each
 *     round in a fresh child (a lockdown cannot be undone), interleaved;
 *  e) a)'s bare loop under seccomp filters alone: none, one trivial
 *     argument-reading filter, a vCPU thread's chain (its filter alone).
 *
 * The guest is guest/bench (its command line picks pio, spin or hello); the
 * CPU backend is the best cpu-* plugin from MODVM_PLUGIN_PATH or the build
 * tree, loaded as tests/guest/lib/harness.c does.
 *
 *     build/bench/bench_vmm [exits-per-round] [modvm-exe] [bench-guest]
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <modvm/plugin.h>
#include <modvm/vm.h>

#include "boot/boot.h"
#include "sandbox/sandbox.h"

#ifndef MODVM_EXE
#error "MODVM_EXE: path of the built modvm program (bench/meson.build sets it)"
#endif
#ifndef MODVM_BENCH_GUEST
#error "MODVM_BENCH_GUEST: path of the built guest/bench (bench/meson.build sets it)"
#endif
#ifndef MODVM_BENCH_PLUGIN_PATH
#define MODVM_BENCH_PLUGIN_PATH ""
#endif

#define BENCH_PORT 0x500
#define WARMUP_EXITS 200	/* first touches, shadow page tables */
#define EXIT_ROUNDS 7		/* runtime and bare, interleaved */
#define START_ROUNDS 7
#define TRUE_ROUNDS 20
#define GUEST_MEM (64ull << 20)
#define RSS_GUEST_MEM (256ull << 20)
#define RSS_SETTLE_MS 300

static const char *modvm_exe = MODVM_EXE;
static const char *guest_path = MODVM_BENCH_GUEST;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Sorts @v in place and returns its median. */
static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- the CPU backend ---- */

static const struct modvm_cpu_backend *backend;
static const char *backend_name;
static void *backend_handle;

/* Tries DIR/NAME.so and keeps it if its probe beats *best. */
static void try_plugin(const char *dir, const char *name, int *best)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s.so", dir, name);
	if (access(path, R_OK) != 0)
		return;
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "bench_vmm: %s: %s\n", path, dlerror());
		return;
	}
	const struct modvm_plugin *p = dlsym(h, "modvm_plugin_entry_v1");
	const struct modvm_cpu_backend *be =
		p && p->get_interface ? p->get_interface(NULL, MODVM_CPU_BACKEND_IFACE) : NULL;
	struct modvm_cpu_probe probe;
	memset(&probe, 0, sizeof(probe));
	probe.struct_size = sizeof(probe);
	if (be && be->probe(NULL, &probe) == 0 && probe.score > *best) {
		if (backend_handle)
			dlclose(backend_handle);
		backend_handle = h;
		backend = be;
		backend_name = p->name;
		*best = probe.score;
		return;
	}
	dlclose(h);
}

/* MODVM_PLUGIN_PATH first, then the build tree's plugin directories. */
static int load_backend(void)
{
	const char *env = getenv("MODVM_PLUGIN_PATH");
	char *list = NULL;
	if (asprintf(&list, "%s:%s", env ? env : "", MODVM_BENCH_PLUGIN_PATH) < 0)
		return -ENOMEM;
	int best = 0;
	char *save = NULL;
	for (char *dir = strtok_r(list, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		try_plugin(dir, "cpu-vmx", &best);
		try_plugin(dir, "cpu-svm", &best);
	}
	free(list);
	return backend ? 0 : -ENODEV;
}

/* ---- a) PIO exit round trip ---- */

/* Loads the bench guest into @ram with "modvm.bench=@mode", as modvm does. */
static int load_guest(const struct modvm_ram_region *ram, uint32_t n_ram, const char *mode,
		      struct modvm__boot_info *info)
{
	char cmdline[64], err[256] = "";
	snprintf(cmdline, sizeof(cmdline), "modvm.bench=%s", mode);
	struct modvm__boot_config bc = {
		.kernel = guest_path,
		.cmdline = cmdline,
		.ram = ram,
		.n_ram = n_ram,
		.vcpus = 1,
		.entry = MODVM_BOOT_ENTRY_AUTO,
	};
	int ret = modvm__boot_load(&bc, info, err, sizeof(err));
	if (ret < 0)
		fprintf(stderr, "bench_vmm: %s\n", err[0] ? err : strerror(-ret));
	return ret;
}

/*
 * A timed stretch of exits: wall time, and the CPU time of the thread that
 * ran the vCPU (KVM's emulation is charged to it), which other load on the
 * machine disturbs far less than wall time.
 */
struct span {
	uint64_t wall0, wall1, cpu0, cpu1;
};

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void span_begin(struct span *s)
{
	s->cpu0 = thread_cpu_ns();
	s->wall0 = now_ns();
}

static void span_end(struct span *s)
{
	s->wall1 = now_ns();
	s->cpu1 = thread_cpu_ns();
}

/* One round's result in µs per exit; negative on failure. */
struct cost {
	double wall, cpu;
};

static struct cost span_cost(const struct span *s, uint64_t n)
{
	return (struct cost){ (double)(s->wall1 - s->wall0) / 1000.0 / (double)n,
			      (double)(s->cpu1 - s->cpu0) / 1000.0 / (double)n };
}

/* One vCPU only, so the handler never runs concurrently with itself. */
struct pio_counter {
	struct modvm_vm *vm;
	uint64_t target;	/* timed exits */
	uint64_t seen;
	bool done;
	struct span span;
};

static void pio_handler(void *ud, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	struct pio_counter *c = ud;
	(void)addr, (void)data, (void)len, (void)is_write;
	c->seen++;
	if (c->seen == WARMUP_EXITS) {
		span_begin(&c->span);
	} else if (c->seen == WARMUP_EXITS + c->target) {
		span_end(&c->span);
		c->done = true;
		modvm_vm_stop(c->vm);	/* from a vCPU thread: requests the stop */
	}
}

static int init_bsp(struct modvm_vm *vm, uint32_t index, void *ud)
{
	const struct modvm__boot_info *info = ud;
	int ret = modvm_vcpu_set_sregs(vm, index, &info->sregs);
	return ret < 0 ? ret : modvm_vcpu_set_regs(vm, index, &info->regs);
}

/* Exits through modvm_vm: its vCPU thread, dispatch and iobus handler. */
static struct cost runtime_round(uint64_t n)
{
	struct modvm_vm_config vc = {
		.struct_size = sizeof(vc),
		.name = "bench",
		.vcpus = 1,
		.memory_bytes = GUEST_MEM,
		.irqchip = true,	/* as `modvm run` creates its VMs */
	};
	struct modvm_vm *vm;
	struct modvm__boot_info info;
	struct pio_counter c = { .target = n };
	struct cost cost = { -1, -1 };
	int ret = __modvm_vm_create(backend, NULL, &vc, &vm);
	if (ret < 0)
		return cost;
	c.vm = vm;
	if (load_guest(modvm_vm_ram_region(vm, 0), modvm_vm_ram_region_count(vm), "pio", &info) < 0)
		goto out_vm;
	if (modvm_iobus_register(vm, MODVM_IOBUS_PIO, BENCH_PORT, 1, pio_handler, &c) < 0 ||
	    modvm_vm_set_vcpu_init(vm, init_bsp, &info) < 0 || modvm_vm_start(vm) < 0)
		goto out_vm;
	ret = modvm_vm_wait(vm, 120000);
	if (ret < 0 || !c.done) {
		fprintf(stderr, "bench_vmm: runtime: %s after %llu exits: %s\n",
			ret < 0 ? strerror(-ret) : "ended", (unsigned long long)c.seen,
			modvm_vm_error(vm));
		goto out_vm;
	}
	cost = span_cost(&c.span, n);
out_vm:
	modvm_vm_destroy(vm);
	return cost;
}

/* Runs until the next exit, which must be a write to BENCH_PORT. */
static int bare_exit(struct modvm_cpu_vcpu *cpu, struct modvm_cpu_exit *e)
{
	int ret = backend->vcpu_run(cpu, e);
	if (ret < 0 || e->kind != MODVM_EXIT_PIO || e->pio.port != BENCH_PORT) {
		fprintf(stderr, "bench_vmm: bare: unexpected exit %s (%s)\n",
			ret < 0 ? "-" : modvm_cpu_exit_name(e->kind), ret < 0 ? strerror(-ret) : "");
		return -EIO;
	}
	return 0;
}

/* Exits through a bare backend vcpu_run loop on this thread. */
/* e): installs seccomp filters on the calling thread before the bare
 * loop's exits (in a child: they cannot be removed). */
static int (*bare_filters)(void);

static struct cost bare_round(uint64_t n)
{
	struct modvm_cpu_vm_config cfg = { .struct_size = sizeof(cfg), .vcpus = 1, .irqchip = true };
	struct modvm_cpu_vm *cvm;
	struct modvm_cpu_vcpu *cpu;
	struct modvm__boot_info info;
	struct modvm_cpu_exit e;
	struct span span;
	struct cost cost = { -1, -1 };
	void *ram = mmap(NULL, GUEST_MEM, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED)
		return cost;
	struct modvm_ram_region region = { .gpa = 0, .size = GUEST_MEM, .hva = ram, .slot = 0 };
	if (backend->vm_create(NULL, &cfg, &cvm) < 0)
		goto out_ram;
	if (backend->set_memory(cvm, 0, 0, GUEST_MEM, ram) < 0 ||
	    load_guest(&region, 1, "pio", &info) < 0 || backend->vcpu_create(cvm, 0, &cpu) < 0)
		goto out_vm;
	if (backend->set_sregs(cpu, &info.sregs) < 0 || backend->set_regs(cpu, &info.regs) < 0)
		goto out_vcpu;
	if (bare_filters && bare_filters() < 0)
		goto out_vcpu;
	for (unsigned i = 0; i < WARMUP_EXITS; i++)
		if (bare_exit(cpu, &e) < 0)
			goto out_vcpu;
	span_begin(&span);
	for (uint64_t i = 0; i < n; i++)
		if (bare_exit(cpu, &e) < 0)
			goto out_vcpu;
	span_end(&span);
	cost = span_cost(&span, n);
out_vcpu:
	backend->vcpu_destroy(cpu);
out_vm:
	backend->vm_destroy(cvm);
out_ram:
	munmap(ram, GUEST_MEM);
	return cost;
}

/* ---- d) the sandbox's cost on the exit path ---- */

/*
 * @round(@n) in a fresh child, after @prepare() there (a lockdown or a
 * filter cannot be undone in the bench's own process); {-1, -1} if either
 * fails.
 */
static struct cost round_in_child(int (*prepare)(void), struct cost (*round)(uint64_t), uint64_t n)
{
	struct cost cost = { -1, -1 };
	int p[2];

	if (pipe(p) < 0)
		return cost;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		if (prepare && prepare() < 0)
			_exit(1);
		cost = round(n);
		_exit(write(p[1], &cost, sizeof(cost)) == (ssize_t)sizeof(cost) ? 0 : 1);
	}
	close(p[1]);
	if (pid > 0 && read(p[0], &cost, sizeof(cost)) != (ssize_t)sizeof(cost))
		cost = (struct cost){ -1, -1 };
	close(p[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return cost;
}

static int lock_down(void)
{
	const struct modvm__sandbox_config sc = { .strict = true };
	/* The guest is read after the lockdown: Landlock must let it. */
	int r = modvm__sandbox_allow_path("bench", guest_path, MODVM_SANDBOX_READ);
	return r < 0 ? r : modvm__sandbox_lockdown(&sc);
}

/* runtime_round in a child, locked down first when @strict. */
static struct cost sandboxed_round(uint64_t n, bool strict)
{
	return round_in_child(strict ? lock_down : NULL, runtime_round, n);
}

/* More rounds than a): the difference sought (a filter run per exit) is
 * smaller than one round's noise in the nested test host. */
#define SANDBOX_ROUNDS 31

static double min_of(const double *v, unsigned n)
{
	double m = v[0];
	for (unsigned i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

static int bench_sandbox(uint64_t n)
{
	double off_wall[SANDBOX_ROUNDS], on_wall[SANDBOX_ROUNDS], off_cpu[SANDBOX_ROUNDS],
		on_cpu[SANDBOX_ROUNDS], ratio_wall[SANDBOX_ROUNDS], ratio_cpu[SANDBOX_ROUNDS];
	printf("d) the PIO exit round trip of a), host.sandbox \"strict\" vs \"off\", "
	       "%llu exits per round\n", (unsigned long long)n);
	for (unsigned r = 0; r < SANDBOX_ROUNDS; r++) {
		/* Each goes first in turn, so a burst of load hits both. */
		bool strict_first = r % 2;
		struct cost a = sandboxed_round(n, strict_first), b = sandboxed_round(n, !strict_first);
		struct cost on = strict_first ? a : b, off = strict_first ? b : a;
		if (on.wall < 0 || off.wall < 0) {
			fprintf(stderr, "bench_vmm: sandbox: a round failed (strict %s)\n",
				on.wall < 0 ? "failed" : "ran");
			return -1;
		}
		off_wall[r] = off.wall, off_cpu[r] = off.cpu;
		on_wall[r] = on.wall, on_cpu[r] = on.cpu;
		ratio_wall[r] = on.wall / off.wall;
		ratio_cpu[r] = on.cpu / off.cpu;
		printf("   round %2u: off %6.2f wall %6.2f cpu   strict %6.2f wall %6.2f cpu\n", r + 1,
		       off.wall, off.cpu, on.wall, on.cpu);
	}
	printf("   median:   off %6.2f wall %6.2f cpu   strict %6.2f wall %6.2f cpu\n",
	       median(off_wall, SANDBOX_ROUNDS), median(off_cpu, SANDBOX_ROUNDS),
	       median(on_wall, SANDBOX_ROUNDS), median(on_cpu, SANDBOX_ROUNDS));
	printf("   fastest:  off %6.2f wall %6.2f cpu   strict %6.2f wall %6.2f cpu\n",
	       min_of(off_wall, SANDBOX_ROUNDS), min_of(off_cpu, SANDBOX_ROUNDS),
	       min_of(on_wall, SANDBOX_ROUNDS), min_of(on_cpu, SANDBOX_ROUNDS));
	double med_cpu = median(ratio_cpu, SANDBOX_ROUNDS);	/* sorts ratio_cpu */
	printf("   strict / off: %.3fx wall, %.3fx cpu (median of per-round ratios; their middle "
	       "half %.3fx-%.3fx); %.3fx cpu (fastest rounds) (issue floor: < 1.02x)\n\n",
	       median(ratio_wall, SANDBOX_ROUNDS), med_cpu, ratio_cpu[SANDBOX_ROUNDS / 4],
	       ratio_cpu[SANDBOX_ROUNDS - 1 - SANDBOX_ROUNDS / 4],
	       min_of(on_cpu, SANDBOX_ROUNDS) / min_of(off_cpu, SANDBOX_ROUNDS));
	return 0;
}

/* ---- e) what the filters alone cost a bare exit ---- */

static int one_filter(void)
{
	static struct sock_filter reads_arg[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { 2, reads_arg };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return -errno;
	return 0;
}

static int vcpu_chain(void)
{
	/* the round's teardown closes the vCPU and the VM on this thread */
	int r = modvm__sandbox_allow("bench", MODVM_THREAD_VCPU, "close", -1, 0);
	return r < 0 ? r : modvm__sandbox_apply_class_for_test(MODVM__TC_VCPU, NULL);
}

static struct cost filtered_bare_round(uint64_t n, int (*filters)(void))
{
	/* installed by bare_round in the child, after the VM's set-up */
	bare_filters = filters;
	struct cost c = round_in_child(NULL, bare_round, n);
	bare_filters = NULL;
	return c;
}

/* The bare KVM_RUN loop of a) with no filter, with one filter that reads an
 * argument (the least a filter that checks ioctl requests costs), and with
 * a vCPU thread's chain after the lockdown (the vCPU filter alone):
 * the filters' share of d), without the runtime or the rest of the lockdown. */
static int bench_filters(uint64_t n)
{
	static int (*const setups[3])(void) = { NULL, one_filter, vcpu_chain };
	static const char *const names[3] = { "none", "one filter", "vcpu chain" };
	double cpu[3][SANDBOX_ROUNDS], med[3];

	printf("e) the bare exit loop of a) under seccomp filters only, %llu exits per round, "
	       "%d rounds, us/exit (vCPU-thread CPU)\n", (unsigned long long)n, SANDBOX_ROUNDS);
	for (unsigned r = 0; r < SANDBOX_ROUNDS; r++)
		for (unsigned k = 0; k < 3; k++) {
			unsigned s = (k + r) % 3;	/* each first in turn */
			struct cost c = filtered_bare_round(n, setups[s]);
			if (c.wall < 0) {
				fprintf(stderr, "bench_vmm: filters: the %s round failed\n", names[s]);
				return -1;
			}
			cpu[s][r] = c.cpu;
		}
	for (unsigned s = 0; s < 3; s++)
		med[s] = median(cpu[s], SANDBOX_ROUNDS);
	for (unsigned s = 0; s < 3; s++)
		printf("   %-11s median %6.2f  fastest %6.2f  (%+.2f us, %.3fx of none)\n", names[s],
		       med[s], min_of(cpu[s], SANDBOX_ROUNDS), med[s] - med[0], med[s] / med[0]);
	printf("\n");
	return 0;
}

static int bench_exits(uint64_t n)
{
	double rt_wall[EXIT_ROUNDS], bare_wall[EXIT_ROUNDS], rt_cpu[EXIT_ROUNDS],
		bare_cpu[EXIT_ROUNDS], ratio_wall[EXIT_ROUNDS], ratio_cpu[EXIT_ROUNDS];
	printf("a) PIO exit round trip (outb 0x%x), %llu exits per round, backend %s\n"
	       "   us/exit, wall time and vCPU-thread CPU time\n",
	       BENCH_PORT, (unsigned long long)n, backend_name);
	for (unsigned r = 0; r < EXIT_ROUNDS; r++) {
		struct cost b = bare_round(n), m = runtime_round(n);
		if (b.wall < 0 || m.wall < 0)
			return -1;
		bare_wall[r] = b.wall, bare_cpu[r] = b.cpu;
		rt_wall[r] = m.wall, rt_cpu[r] = m.cpu;
		/* Neighbouring rounds share the machine's load: compare them pairwise. */
		ratio_wall[r] = m.wall / b.wall;
		ratio_cpu[r] = m.cpu / b.cpu;
		printf("   round %u: bare vcpu_run %6.2f wall %6.2f cpu   modvm_vm runtime %6.2f wall "
		       "%6.2f cpu\n", r + 1, b.wall, b.cpu, m.wall, m.cpu);
	}
	printf("   median:  bare vcpu_run %6.2f wall %6.2f cpu   modvm_vm runtime %6.2f wall "
	       "%6.2f cpu\n", median(bare_wall, EXIT_ROUNDS), median(bare_cpu, EXIT_ROUNDS),
	       median(rt_wall, EXIT_ROUNDS), median(rt_cpu, EXIT_ROUNDS));
	printf("   runtime / bare (median of per-round ratios): %.3fx wall, %.3fx cpu "
	       "(issue floor: <= 1.15x)\n\n", median(ratio_wall, EXIT_ROUNDS),
	       median(ratio_cpu, EXIT_ROUNDS));
	return 0;
}

/* ---- running the modvm program ---- */

/*
 * Writes a one-VM config for the bench guest in "@mode" to a temporary file
 * (name in @path); 0 or -errno.
 */
static int write_config(char *path, size_t len, const char *mode, uint64_t memory)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(path, len, "%s/bench_vmm-XXXXXX.conf", tmp && *tmp ? tmp : "/tmp");
	int fd = mkstemps(path, 5);
	if (fd < 0)
		return -errno;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		int err = -errno;
		close(fd);
		unlink(path);
		return err;
	}
	fprintf(f,
		"host = { log_level = \"warn\"; };\n"
		"plugins = {\n"
		"  cpu-vmx = { enabled = true; };\n"
		"  cpu-svm = { enabled = true; };\n"
		"};\n"
		"vms = (\n"
		"  {\n"
		"    name = \"bench\";\n"
		"    vcpus = 1;\n"
		"    memory = \"%lluM\";\n"
		"    kernel = \"%s\";\n"
		"    cmdline = \"modvm.bench=%s\";\n"
		"    console = \"stdout\";\n"
		"  }\n"
		");\n",
		(unsigned long long)(memory >> 20), guest_path, mode);
	if (fclose(f) != 0) {
		int err = -errno;
		unlink(path);
		return err;
	}
	return 0;
}

/*
 * fork/exec of @argv with stdout on @out_fd (or /dev/null when -1); stderr
 * stays ours so a failing modvm explains itself.  The child's pid, or -1.
 */
static pid_t spawn(char *const argv[], int out_fd)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	int fd = out_fd >= 0 ? out_fd : open("/dev/null", O_WRONLY);
	if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
		_exit(126);
	execv(argv[0], argv);
	_exit(127);
}

/* Waits for @pid; 0 if it exited with status 0 (or, if @term_ok, by SIGTERM). */
static int reap(pid_t pid, const char *what, bool term_ok)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (term_ok && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM)
		return 0;
	fprintf(stderr, "bench_vmm: %s: %s %d\n", what, WIFEXITED(st) ? "exit status" : "signal",
		WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	return -ECHILD;
}

/* ---- b) start → first guest byte ---- */

/* One `modvm run`: ms to the guest's first byte and to the process' exit. */
static int start_round(const char *conf, double *first_ms, double *exit_ms)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	/* -q: nothing but the guest's console on stdout. */
	char *argv[] = { (char *)modvm_exe, (char *)"-q", (char *)"run", (char *)conf, NULL };
	uint64_t t0 = now_ns();
	pid_t pid = spawn(argv, p[1]);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return -errno;
	}
	char c;
	ssize_t n;
	while ((n = read(p[0], &c, 1)) < 0 && errno == EINTR)
		;
	uint64_t t1 = now_ns();
	char rest[256];
	while (read(p[0], rest, sizeof(rest)) > 0)	/* drain until modvm exits */
		;
	close(p[0]);
	int ret = reap(pid, "modvm run (hello)", false);
	uint64_t t2 = now_ns();
	if (ret < 0)
		return ret;
	if (n != 1 || c != '\n') {
		fprintf(stderr, "bench_vmm: modvm run (hello): no guest byte on stdout\n");
		return -EIO;
	}
	*first_ms = (double)(t1 - t0) / 1e6;
	*exit_ms = (double)(t2 - t0) / 1e6;
	return 0;
}

static void print_stats(const char *what, double *v, unsigned n)
{
	double med = median(v, n);	/* sorts: v[0] is the min, v[n-1] the max */
	printf("   %-40s median %7.2f ms   min %7.2f   max %7.2f   (%u rounds)\n", what, med, v[0],
	       v[n - 1], n);
}

static int bench_start(void)
{
	char conf[4096];
	double first[START_ROUNDS], done[START_ROUNDS], truth[TRUE_ROUNDS];
	int ret = write_config(conf, sizeof(conf), "hello", GUEST_MEM);
	if (ret < 0) {
		fprintf(stderr, "bench_vmm: temporary config: %s\n", strerror(-ret));
		return ret;
	}
	printf("b) start -> first guest instruction: fork/exec `%s -q run` until the "
	       "guest's first serial byte\n", modvm_exe);
	for (unsigned r = 0; r < START_ROUNDS && ret == 0; r++)
		ret = start_round(conf, &first[r], &done[r]);
	unlink(conf);
	if (ret < 0)
		return ret;
	char *argv[] = { (char *)"/bin/true", NULL };
	for (unsigned r = 0; r < TRUE_ROUNDS; r++) {
		uint64_t t0 = now_ns();
		pid_t pid = spawn(argv, -1);
		if (pid < 0 || reap(pid, "/bin/true", false) < 0)
			return -1;
		truth[r] = (double)(now_ns() - t0) / 1e6;
	}
	print_stats("fork/exec -> first guest byte", first, START_ROUNDS);
	print_stats("fork/exec -> modvm exited (power off)", done, START_ROUNDS);
	print_stats("baseline: fork/exec /bin/true -> exit", truth, TRUE_ROUNDS);
	printf("\n");
	return 0;
}

/* ---- c) resident memory without the guest RAM ---- */

struct rss {
	uint64_t total_kb, ram_kb, other_kb, other_private_kb, other_pss_kb;
	bool found_ram;
};

/* Sums /proc/PID/smaps; the guest RAM is the read-write mapping of exactly @ram_bytes. */
static int read_smaps(pid_t pid, uint64_t ram_bytes, struct rss *out)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	memset(out, 0, sizeof(*out));
	bool in_ram = false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end;
		char perms[8];
		unsigned long long kb;
		if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) == 3) {
			in_ram = end - start == ram_bytes && perms[0] == 'r' && perms[1] == 'w';
			out->found_ram |= in_ram;
		} else if (sscanf(line, "Rss: %llu kB", &kb) == 1) {
			out->total_kb += kb;
			if (in_ram)
				out->ram_kb += kb;
			else
				out->other_kb += kb;
		} else if (!in_ram && sscanf(line, "Pss: %llu kB", &kb) == 1) {
			out->other_pss_kb += kb;
		} else if (!in_ram && (sscanf(line, "Private_Clean: %llu kB", &kb) == 1 ||
				       sscanf(line, "Private_Dirty: %llu kB", &kb) == 1)) {
			out->other_private_kb += kb;
		}
	}
	fclose(f);
	return 0;
}

/* Threads of @pid: more than one once the vCPU thread runs. */
static unsigned thread_count(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	unsigned n = 0;
	if (!d)
		return 0;
	for (struct dirent *de; (de = readdir(d));)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static int bench_rss(void)
{
	char conf[4096];
	struct rss r;
	int ret = write_config(conf, sizeof(conf), "spin", RSS_GUEST_MEM);
	if (ret < 0) {
		fprintf(stderr, "bench_vmm: temporary config: %s\n", strerror(-ret));
		return ret;
	}
	char *argv[] = { (char *)modvm_exe, (char *)"-q", (char *)"run", conf, NULL };
	pid_t pid = spawn(argv, -1);
	if (pid < 0) {
		ret = -errno;
		goto out_conf;
	}
	/* Running means: guest RAM mapped and a vCPU thread besides the loop. */
	ret = -ETIMEDOUT;
	for (unsigned waited = 0; waited < 10000; waited += 20) {
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			fprintf(stderr, "bench_vmm: modvm run (spin) ended early\n");
			ret = -ECHILD;
			goto out_conf;
		}
		if (read_smaps(pid, RSS_GUEST_MEM, &r) == 0 && r.found_ram && thread_count(pid) > 1) {
			ret = 0;
			break;
		}
		sleep_ms(20);
	}
	if (ret == 0) {
		sleep_ms(RSS_SETTLE_MS);
		ret = read_smaps(pid, RSS_GUEST_MEM, &r);
	}
	kill(pid, SIGTERM);
	int reaped = reap(pid, "modvm run (spin)", true);
	if (ret == 0)
		ret = reaped;
	if (ret < 0)
		goto out_conf;
	printf("c) VMM resident memory: `modvm run`, one VM with %llu MiB RAM running the spin "
	       "guest\n", (unsigned long long)(RSS_GUEST_MEM >> 20));
	printf("   RSS without guest RAM   %7.2f MiB (issue floor: < 4 MiB)\n",
	       r.other_kb / 1024.0);
	printf("     of which private      %7.2f MiB   PSS %7.2f MiB\n",
	       r.other_private_kb / 1024.0, r.other_pss_kb / 1024.0);
	printf("   guest RAM resident      %7.2f MiB\n", r.ram_kb / 1024.0);
	printf("   total RSS (reference)   %7.2f MiB\n", r.total_kb / 1024.0);
out_conf:
	unlink(conf);
	return ret;
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 20000;
	if (n == 0)
		n = 1;
	if (argc > 2)
		modvm_exe = argv[2];
	if (argc > 3)
		guest_path = argv[3];
	setvbuf(stdout, NULL, _IOLBF, 0);

	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("SKIP: /dev/kvm: %s\n", strerror(errno));
		return 77;
	}
	close(fd);
	if (access(modvm_exe, X_OK) != 0 || access(guest_path, R_OK) != 0) {
		fprintf(stderr, "bench_vmm: need %s and %s: build the whole tree first\n", modvm_exe,
			guest_path);
		return 1;
	}
	if (load_backend() < 0) {
		printf("SKIP: no cpu-vmx.so or cpu-svm.so can run guests here "
		       "(MODVM_PLUGIN_PATH, build tree)\n");
		return 77;
	}
	int failed = 0;
	failed |= bench_exits(n) < 0;
	failed |= bench_sandbox(n) < 0;
	failed |= bench_filters(n) < 0;
	failed |= bench_start() < 0;
	failed |= bench_rss() < 0;
	return failed;
}
