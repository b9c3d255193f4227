/*
 * The cpu-backend check: a CPU backend driven through "modvm.cpu-backend/1"
 * the way the core drives it, where its probe says it can run.
 *
 * One VM (1 vCPU, no irqchip) with a 64 KiB RAM slot at 0 holding a
 * real-mode guest at 0x1000: `hlt; jmp $`.  On the vCPU's own thread the
 * registers must read back what was written; then three runs, each of
 * which must return within RETURN_MS:
 *   1. left alone for KICK_DELAY_MS, then kicked: a hardware backend halts
 *      by itself (hlt), a backend running no guest code returns on the kick;
 *   2. kicked before it starts: the kick must not be lost (the core's stop
 *      sets its flag, then kicks, maybe between two runs);
 *   3. as 1: now the guest spins in `jmp $` and only the kick ends it.
 * A run that returns "interrupted" again and again with no kick would make
 * the core spin on it.  Destroying the vCPU, the slot and the VM must leave
 * no fd and no thread behind.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <modvm/cpu.h>

#include "host/host.h"
#include "conform.h"

#define GUEST_RAM (64u << 10)
#define GUEST_CODE 0x1000u
#define KICK_DELAY_MS 100
#define RETURN_MS 3000
#define SPIN_LIMIT 50	/* "interrupted" returns with no kick before we call it spinning */
#define SETTLE_TRIES 20	/* x SETTLE_US: how long fds and threads may take to go */
#define SETTLE_US 50000

/* Present only in sanitizer builds. */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

/* The kit's vCPU thread: runs one job at a time for the check's thread. */
struct runner {
	const struct modvm_cpu_backend *be;
	struct modvm_cpu_vcpu *vcpu;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	void (*job)(struct runner *);	/* under lock: posted, NULL when done */
	bool quit;
	atomic_bool kicked;		/* set before every vcpu_kick */
	/* what the last job found */
	char error[200];
	int r;
	struct modvm_cpu_exit exit;
	unsigned early;			/* "interrupted" before any kick */
	uint64_t rip;
};

static void *runner_main(void *arg)
{
	struct runner *rn = arg;

	pthread_mutex_lock(&rn->lock);
	for (;;) {
		while (!rn->job && !rn->quit)
			pthread_cond_wait(&rn->cond, &rn->lock);
		if (rn->quit)
			break;
		pthread_mutex_unlock(&rn->lock);
		rn->job(rn);
		pthread_mutex_lock(&rn->lock);
		rn->job = NULL;
		pthread_cond_broadcast(&rn->cond);
	}
	pthread_mutex_unlock(&rn->lock);
	return NULL;
}

static void post(struct runner *rn, void (*job)(struct runner *))
{
	pthread_mutex_lock(&rn->lock);
	rn->error[0] = '\0';
	rn->job = job;
	pthread_cond_broadcast(&rn->cond);
	pthread_mutex_unlock(&rn->lock);
}

/* True once the posted job is done, false after @ms without it. */
static bool wait_done(struct runner *rn, int ms)
{
	struct timespec until;
	bool done;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&rn->lock);
	while (rn->job && pthread_cond_timedwait(&rn->cond, &rn->lock, &until) == 0)
		;
	done = !rn->job;
	pthread_mutex_unlock(&rn->lock);
	return done;
}

static const char *const reg_names[] = { "rax", "rbx", "rcx", "rdx", "rsi", "rdi",
					 "rsp", "rbp", "r8",  "r9",  "r10", "r11",
					 "r12", "r13", "r14", "r15", "rip", "rflags" };

/* Registers round-trip, then the guest's entry: real mode, CS base 0, RIP at the code. */
static void job_setup(struct runner *rn)
{
	struct modvm_regs want, got;
	struct modvm_sregs s;
	uint64_t w[18], g[18];
	int r;

	if ((r = rn->be->get_sregs(rn->vcpu, &s)) < 0) {
		snprintf(rn->error, sizeof(rn->error), "get_sregs failed: %s", modvm_strerror(r));
		return;
	}
	s.cs.base = 0;
	s.cs.selector = 0;
	if ((r = rn->be->set_sregs(rn->vcpu, &s)) < 0 ||
	    (r = rn->be->get_sregs(rn->vcpu, &s)) < 0) {
		snprintf(rn->error, sizeof(rn->error), "set_sregs/get_sregs failed: %s",
			 modvm_strerror(r));
		return;
	}
	if (s.cs.base != 0 || s.cs.selector != 0) {
		snprintf(rn->error, sizeof(rn->error),
			 "get_sregs after set_sregs: cs is %#x base %#llx, not 0 base 0",
			 s.cs.selector, (unsigned long long)s.cs.base);
		return;
	}
	_Static_assert(sizeof(want) == sizeof(w), "struct modvm_regs is 18 registers");
	for (unsigned i = 0; i < 16; i++)
		w[i] = 0x0101010101010101ull * (i + 1);
	w[16] = GUEST_CODE;
	w[17] = 0x2;	/* the reserved-one bit; interrupts off */
	memcpy(&want, w, sizeof(w));
	if ((r = rn->be->set_regs(rn->vcpu, &want)) < 0 ||
	    (r = rn->be->get_regs(rn->vcpu, &got)) < 0) {
		snprintf(rn->error, sizeof(rn->error), "set_regs/get_regs failed: %s",
			 modvm_strerror(r));
		return;
	}
	memcpy(g, &got, sizeof(g));
	for (unsigned i = 0; i < 18; i++)
		if (g[i] != w[i]) {
			snprintf(rn->error, sizeof(rn->error),
				 "get_regs after set_regs: %s is %#llx, not %#llx", reg_names[i],
				 (unsigned long long)g[i], (unsigned long long)w[i]);
			return;
		}
}

static bool is_intr(int r, const struct modvm_cpu_exit *ex)
{
	/* The core takes -EINTR/-EAGAIN for a kick as well. */
	return r == -EINTR || r == -EAGAIN || (r == 0 && ex->kind == MODVM_EXIT_INTR);
}

/* Runs until an exit that is not an unasked-for "interrupted". */
static void job_run(struct runner *rn)
{
	struct modvm_regs regs;

	rn->early = 0;
	for (;;) {
		memset(&rn->exit, 0, sizeof(rn->exit));
		rn->r = rn->be->vcpu_run(rn->vcpu, &rn->exit);
		if (!is_intr(rn->r, &rn->exit) || atomic_load(&rn->kicked) ||
		    ++rn->early >= SPIN_LIMIT)
			break;
	}
	rn->rip = rn->be->get_regs(rn->vcpu, &regs) == 0 ? regs.rip : ~0ull;
}

static void kick(struct runner *rn)
{
	atomic_store(&rn->kicked, true);
	rn->be->vcpu_kick(rn->vcpu);
}

/*
 * One run (see the top of the file); V_PASS with what ended it in @how
 * ("hlt", "kick").  @stuck is set when vcpu_run never came back.
 */
static enum verdict one_run(struct runner *rn, const char *plugin, bool kick_first,
			    const char *step, const char **how, bool *stuck, char *detail,
			    size_t n)
{
	atomic_store(&rn->kicked, false);
	if (kick_first)
		kick(rn);
	conform_doing(plugin, "vcpu_run");
	post(rn, job_run);
	if (!kick_first && !wait_done(rn, KICK_DELAY_MS))
		kick(rn);
	if (!wait_done(rn, RETURN_MS)) {
		*stuck = true;
		snprintf(detail, n, "%s: vcpu_run did not return within %d ms of vcpu_kick%s", step,
			 RETURN_MS, kick_first ? " (kicked before it started: the kick was lost)"
					       : "");
		return V_FAIL;
	}
	conform_doing(NULL, NULL);
	if (rn->early >= SPIN_LIMIT) {
		snprintf(detail, n, "%s: vcpu_run returned \"interrupted\" %u times in a row with "
			 "no kick and nothing to run: the core would spin on it", step, rn->early);
		return V_FAIL;
	}
	if (is_intr(rn->r, &rn->exit) && atomic_load(&rn->kicked)) {
		*how = "kick";
		return V_PASS;
	}
	if (rn->r == 0 && rn->exit.kind == MODVM_EXIT_HLT) {
		*how = "hlt";
		return V_PASS;
	}
	if (rn->r < 0)
		snprintf(detail, n, "%s: vcpu_run failed: %s", step, modvm_strerror(rn->r));
	else
		snprintf(detail, n, "%s: vcpu_run gave a %s exit (raw reason %u) at rip %#llx; "
			 "the guest is `hlt; jmp $` at %#x in real mode", step,
			 modvm_cpu_exit_name(rn->exit.kind), rn->exit.raw_reason,
			 (unsigned long long)rn->rip, GUEST_CODE);
	return V_FAIL;
}

/* What the core's check_backend (vm_create.c) insists on, or NULL. */
static const char *missing_entry(const struct modvm_cpu_backend *be)
{
	if (be->struct_size < sizeof(*be))
		return "fields (struct_size too small)";
	if (!be->vm_create || !be->vm_destroy || !be->set_memory)
		return "vm_create/vm_destroy/set_memory";
	if (!be->vcpu_create || !be->vcpu_destroy || !be->vcpu_run || !be->vcpu_kick)
		return "vcpu_create/vcpu_destroy/vcpu_run/vcpu_kick";
	if (!be->get_regs || !be->set_regs || !be->get_sregs || !be->set_sregs)
		return "register accessors";
	return NULL;
}

/* The VM's life, from vm_create to vm_destroy; the harness is set up. */
static enum verdict drive_vm(struct harness *h, const struct modvm_cpu_backend *be, uint8_t *ram,
			     char *detail, size_t n)
{
	struct modvm_cpu_vm_config cfg = { .struct_size = sizeof(cfg), .vcpus = 1 };
	struct runner rn = { .be = be };
	const char *name = h->desc->name, *how[3] = { "", "", "" };
	static const char *const steps[] = { "run 1 (kicked after 100 ms unless it halts)",
					     "run 2 (kicked before it starts)",
					     "run 3 (the guest spins; kicked after 100 ms)" };
	struct modvm_cpu_vm *vm = NULL;
	bool stuck = false;
	pthread_t thread;
	enum verdict v = V_FAIL;
	int r;

	snprintf(cfg.name, sizeof(cfg.name), "conform");
	conform_doing(name, "vm_create");
	r = be->vm_create(h->ctx, &cfg, &vm);
	conform_doing(NULL, NULL);
	if (r < 0 || !vm) {
		snprintf(detail, n, "vm_create failed: %s", modvm_strerror(r < 0 ? r : -EINVAL));
		return V_FAIL;
	}
	conform_doing(name, "set_memory");
	r = be->set_memory(vm, 0, 0, GUEST_RAM, ram);
	if (r < 0) {
		snprintf(detail, n, "set_memory (slot 0, %u KiB at 0) failed: %s", GUEST_RAM >> 10,
			 modvm_strerror(r));
		goto destroy_vm;
	}
	conform_doing(name, "vcpu_create");
	r = be->vcpu_create(vm, 0, &rn.vcpu);
	conform_doing(NULL, NULL);
	if (r < 0 || !rn.vcpu) {
		snprintf(detail, n, "vcpu_create failed: %s", modvm_strerror(r < 0 ? r : -EINVAL));
		goto remove_slot;
	}
	pthread_mutex_init(&rn.lock, NULL);
	pthread_cond_init(&rn.cond, NULL);
	if ((r = pthread_create(&thread, NULL, runner_main, &rn)) != 0) {
		snprintf(detail, n, "cannot start the vCPU thread: %s", strerror(r));
		goto destroy_vcpu;
	}

	conform_doing(name, "register calls");
	post(&rn, job_setup);
	if (!wait_done(&rn, RETURN_MS)) {
		stuck = true;
		snprintf(detail, n, "the register calls did not return within %d ms", RETURN_MS);
	} else if (rn.error[0]) {
		snprintf(detail, n, "%s", rn.error);
	} else {
		v = V_PASS;
	}
	conform_doing(NULL, NULL);
	for (int i = 0; i < 3 && v == V_PASS; i++)
		v = one_run(&rn, name, i == 1, steps[i], &how[i], &stuck, detail, n);
	if (stuck)
		return V_FAIL;	/* a thread is inside the plugin: nothing can be undone */

	pthread_mutex_lock(&rn.lock);
	rn.quit = true;
	pthread_cond_broadcast(&rn.cond);
	pthread_mutex_unlock(&rn.lock);
	pthread_join(thread, NULL);
	if (v == V_PASS)
		snprintf(detail, n, "registers round-trip; run 1 ended by %s, run 2 (kicked before) "
			 "by %s, run 3 by %s", how[0], how[1], how[2]);
destroy_vcpu:
	conform_doing(name, "vcpu_destroy");
	be->vcpu_destroy(rn.vcpu);
	pthread_cond_destroy(&rn.cond);
	pthread_mutex_destroy(&rn.lock);
remove_slot:
	conform_doing(name, "set_memory");
	r = be->set_memory(vm, 0, 0, 0, ram);
	if (r < 0 && v == V_PASS) {
		snprintf(detail, n, "set_memory removing slot 0 (size 0) failed: %s",
			 modvm_strerror(r));
		v = V_FAIL;
	}
destroy_vm:
	conform_doing(name, "vm_destroy");
	be->vm_destroy(vm);
	conform_doing(NULL, NULL);
	return v;
}

enum verdict conform_check_cpu_backend(const struct conform_opts *o, char *detail, size_t n)
{
	static const uint8_t guest[] = { 0xf4, 0xeb, 0xfe };	/* hlt; jmp $ */
	static struct modvm_cpu_probe p;
	const struct modvm_cpu_backend *be;
	const char *missing;
	struct harness h;
	int r, fd0, fd1, th0, th1;
	uint8_t *ram;
	enum verdict v = harness_open_cpu_backend(&h, o, &be, detail, n);

	if (v != V_PASS)
		return v;
	if ((missing = missing_entry(be))) {
		snprintf(detail, n, "the vtable lacks %s: the core refuses it", missing);
		goto fail;
	}
	p.struct_size = sizeof(p);
	conform_doing(h.desc->name, "probe");
	r = be->probe(h.ctx, &p);
	conform_doing(NULL, NULL);
	if (r < 0 && access("/dev/kvm", F_OK) < 0) {
		harness_close(&h);
		snprintf(detail, n, "probe needs /dev/kvm, which is absent (%s)", modvm_strerror(r));
		return V_SKIP;
	}
	if (r < 0) {
		snprintf(detail, n, "probe failed: %s", modvm_strerror(r));
		goto fail;
	}
	if (p.score <= 0) {
		harness_close(&h);
		snprintf(detail, n, "its probe says it cannot run here: %.*s",
			 (int)strnlen(p.summary, sizeof(p.summary)), p.summary);
		return V_SKIP;
	}

	ram = mmap(NULL, GUEST_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED) {
		snprintf(detail, n, "cannot map guest RAM: %s", strerror(errno));
		goto fail;
	}
	memcpy(ram + GUEST_CODE, guest, sizeof(guest));
	fd0 = conform_count_dir("/proc/self/fd");
	th0 = conform_count_dir("/proc/self/task");
	v = drive_vm(&h, be, ram, detail, n);
	if (v != V_PASS)
		return v;	/* the process ends with the check: nothing to free */
	/* A kernel helper of the VM (KVM's vhost tasks) may take a moment to go;
	 * a leak stays. */
	for (int i = 0; i < SETTLE_TRIES; i++) {
		fd1 = conform_count_dir("/proc/self/fd");
		th1 = conform_count_dir("/proc/self/task");
		if (fd1 == fd0 && th1 == th0)
			break;
		usleep(SETTLE_US);
	}
	munmap(ram, GUEST_RAM);
	if (fd1 != fd0 || th1 != th0) {
		snprintf(detail, n, "after vcpu_destroy and vm_destroy: open fds went from %d to %d, "
			 "threads from %d to %d", fd0, fd1, th0, th1);
		goto fail;
	}
	harness_close(&h);
	if (__lsan_do_recoverable_leak_check && __lsan_do_recoverable_leak_check()) {
		snprintf(detail, n, "a VM's life leaked memory: LeakSanitizer found leaks (-v shows "
			 "them)");
		return V_FAIL;
	}
	{
		size_t len = strlen(detail);

		snprintf(detail + len, n - len, "; score %d; no fd or thread left", (int)p.score);
	}
	return V_PASS;
fail:
	harness_close(&h);
	return V_FAIL;
}
