/* vCPU threads: exit dispatch, ending and failing, stop, affinity, stats. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vm/vm.h"
#include "vm_test.h"

#define MiB (1ULL << 20)

START_TEST(exits_dispatched_on_vcpu_threads)
{
	struct fake_backend fb;
	struct modvm_vm *vm;
	struct dev uart, mmio;
	struct modvm_vcpu_stats st;
	struct modvm_iobus_stats ios;
	uint64_t answer;

	fake_backend_init(&fb);
	dev_init(&uart, 0x5a);
	dev_init(&mmio, 0x0102030405060708ULL);
	fake_pio(&fb, 0, 0x3f8, 1, true, 'A');
	fake_pio(&fb, 0, 0x3fd, 1, false, 0);			/* step 1: answered 0x5a */
	fake_mmio(&fb, 0, 0xd0000010, 4, true, 0xcafef00d);
	fake_mmio(&fb, 0, 0xd0000008, 8, false, 0);		/* step 3 */
	fake_pio(&fb, 0, 0x80, 1, false, 0);			/* step 4: nobody */
	fake_mmio(&fb, 1, 0xd0000020, 2, true, 0xbeef);
	vm = vm_create(&fb, "disp", 2, MiB);
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_PIO, 0x3f8, 8, dev_handler, &uart), 0);
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_MMIO, 0xd0000000, 0x1000, dev_handler, &mmio), 0);

	ck_assert_int_eq(modvm_vm_start(vm), 0);
	/* every vCPU halts at the end of its script: no irqchip, so the VM ends */
	ck_assert_int_eq(modvm_vm_wait(vm, 5000), 0);
	ck_assert_int_eq(modvm_vm_state(vm), MODVM_VM_STOPPED);

	ck_assert_uint_eq(uart.n, 2);
	ck_assert_uint_eq(uart.log[0].off, 0);
	ck_assert(uart.log[0].is_write);
	ck_assert_uint_eq(uart.log[0].data[0], 'A');
	ck_assert_uint_eq(uart.log[1].off, 5);
	ck_assert(!uart.log[1].is_write);
	ck_assert_uint_eq(fb.answers[0][1][0], 0x5a);
	ck_assert_int_eq(uart.log[0].tid, fb.run_tid[0]);
	ck_assert_int_ne(uart.log[0].tid, (int)gettid());

	ck_assert_uint_eq(mmio.n, 3);
	memcpy(&answer, fb.answers[0][3], 8);
	ck_assert_uint_eq(answer, 0x0102030405060708ULL);
	ck_assert_uint_eq(fb.answers[0][4][0], 0xff);
	ck_assert_int_ne(fb.run_tid[0], fb.run_tid[1]);

	ck_assert_int_eq(modvm_vcpu_get_stats(vm, 0, &st), 0);
	ck_assert_uint_eq(st.exits[MODVM_EXIT_REASON_IO], 3);
	ck_assert_uint_eq(st.exits[MODVM_EXIT_REASON_MMIO], 2);
	ck_assert_uint_eq(st.exits[MODVM_EXIT_REASON_HLT], 1);
	ck_assert_uint_eq(st.exits[MODVM_EXIT_REASON_OTHER], 0);
	ck_assert_int_eq(st.tid, fb.run_tid[0]);
	ck_assert_int_ge(st.host_cpu, 0);
	ck_assert_uint_gt(st.run_ns, 0);
	ck_assert_uint_gt(st.interval_ns, 0);
	ck_assert_int_eq(modvm_vcpu_get_stats(vm, 1, &st), 0);
	ck_assert_uint_eq(st.exits[MODVM_EXIT_REASON_MMIO], 1);
	ck_assert_int_eq(modvm_vcpu_get_stats(vm, 2, &st), -EINVAL);

	ck_assert_int_eq(modvm_iobus_get_stats(vm, MODVM_IOBUS_PIO, &ios), 0);
	ck_assert_uint_eq(ios.unhandled_reads, 1);
	ck_assert_int_eq(modvm_vm_stop(vm), 0);
	ck_assert_int_eq(fb.vcpu_destroys, 2);
	ck_assert_int_eq(modvm_vm_vcpu_tid(vm, 0), -ESRCH);
	modvm_vm_destroy(vm);
	ck_assert_int_eq(fb.vm_destroys, 1);
}
END_TEST

/* rep outsb / rep insw: one handler call per element, in order. */
START_TEST(pio_string_io)
{
	struct fake_backend fb;
	struct modvm_vm *vm;
	struct dev d;
	struct fake_step *st;
	uint16_t words[3];

	fake_backend_init(&fb);
	dev_init(&d, 0x100);
	st = fake_add(&fb, 0, MODVM_EXIT_PIO);
	st->addr = 0x1f0;
	st->size = 1;
	st->count = 4;
	st->is_write = true;
	memcpy(st->data, "boot", 4);
	st = fake_add(&fb, 0, MODVM_EXIT_PIO);
	st->addr = 0x1f0;
	st->size = 2;
	st->count = 3;
	vm = vm_create(&fb, "rep", 1, MiB);
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_PIO, 0x1f0, 8, dev_handler, &d), 0);
	ck_assert_int_eq(modvm_vm_start(vm), 0);
	ck_assert_int_eq(modvm_vm_wait(vm, 5000), 0);

	ck_assert_uint_eq(d.n, 7);
	for (int i = 0; i < 4; i++) {
		ck_assert_uint_eq(d.log[i].len, 1);
		ck_assert_uint_eq(d.log[i].off, 0);
		ck_assert_uint_eq(d.log[i].data[0], (uint8_t)"boot"[i]);
	}
	memcpy(words, fb.answers[0][1], sizeof(words));
	ck_assert_uint_eq(words[0], 0x100);
	ck_assert_uint_eq(words[1], 0x101);
	ck_assert_uint_eq(words[2], 0x102);
	ck_assert_uint_eq(d.log[4].len, 2);
	modvm_vm_destroy(vm);
}
END_TEST

START_TEST(internal_error_fails_vm)
{
	struct fake_backend fb;
	struct modvm_vm *vm;
	struct fake_step *st;
	const char *want = "vm 'ierr' vcpu 1: internal-error exit (raw reason 17), suberror 1, "
			   "data 0x10 0xfffffffffffffff0";

	fake_backend_init(&fb);
	fake_add(&fb, 0, FAKE_SPIN);
	st = fake_add(&fb, 1, MODVM_EXIT_INTERNAL_ERROR);
	st->raw_reason = 17;
	st->suberror = 1;
	st->ndata = 2;
	st->idata[0] = 0x10;
	st->idata[1] = (uint64_t)-16;
	vm = vm_create(&fb, "ierr", 2, MiB);
	errors_start();
	ck_assert_int_eq(modvm_vm_start(vm), 0);
	/* vCPU 0 spins: only the failure's stop can end it */
	ck_assert_int_eq(modvm_vm_wait(vm, 5000), 0);
	ck_assert_int_eq(modvm_vm_state(vm), MODVM_VM_FAILED);
	ck_assert_str_eq(modvm_vm_error(vm), want);
	ck_assert_int_eq(errors_count(), 1);
	ck_assert_msg(errors_is(0, want), "logged: %s", errors_line(0));
	errors_stop();
	modvm_vm_destroy(vm);
}
END_TEST

START_TEST(fail_entry_and_backend_error_fail_vm)
{
	struct fake_backend fb;
	struct modvm_vm *vm;
	struct fake_step *st;

	fake_backend_init(&fb);
	st = fake_add(&fb, 0, MODVM_EXIT_FAIL_ENTRY);
	st->raw_reason = 9;
	st->idata[0] = 0x80000021;
	vm = vm_create(&fb, "fent", 1, MiB);
	errors_start();
	ck_assert_int_eq(modvm_vm_start(vm), 0);
	ck_assert_int_eq(modvm_vm_wait(vm, 5000), 0);
	ck_assert_int_eq(modvm_vm_state(vm), MODVM_VM_FAILED);
	ck_assert_str_eq(modvm_vm_error(vm), "vm 'fent' vcpu 0: fail-entry exit (raw reason 9), "
					     "hardware entry failure reason 0x80000021");
	modvm_vm_destroy(vm);

	fake_backend_init(&fb);
	fake_add(&fb, 0, FAKE_ERRNO)->err = -EFAULT;
	vm = vm_create(&fb, "runerr", 1, MiB);
	ck_assert_int_eq(modvm_vm_start(vm), 0);
	ck_assert_int_eq(modvm_vm_wait(vm, 5000), 0);
	ck_assert_int_eq(modvm_vm_state(vm), MODVM_VM_FAILED);
	ck_assert_str_eq(modvm_vm_error(vm), "vm 'runerr' vcpu 0: vcpu_run failed: Bad address");
	modvm_vm_destroy(vm);

	/* -EINTR from the run is just an interruption */
	fake_backend_init(&fb);
	fake_add(&fb, 0, FAKE_ERRNO)->err = -EINTR;
	vm = vm_create(&fb, "eintr", 1, MiB);
	ck_assert_int_eq(modvm_vm_start(vm), 0);
	ck_assert_int_eq(modvm_vm_wait(vm, 5000), 0);
	ck_assert_int_eq(modvm_vm_state(vm), MODVM_VM_STOPPED);
	modvm_vm_destroy(vm);
	ck_assert_int_eq(errors_count(), 2);
	errors_stop();
}
END_TEST

/* A guest power-off / triple fault / reset on one vCPU ends the VM even
 * though the other vCPU spins in guest code: stopped, or failed with
 * @error (a triple fault is the guest dying, and says so). */
static void ends_vm(uint32_t kind, enum modvm_vm_state state, const char *error, bool reset)
{
	struct fake_backend fb;
	struct modvm_vm *vm;

	fake_backend_init(&fb);
	fake_add(&fb, 0, FAKE_SPIN);
	fake_mmio(&fb, 1, 0xd0000000, 4, true, 0);
	fake_add(&fb, 1, kind);
	vm = vm_create(&fb, "end", 2, MiB);
	ck_assert_int_eq(modvm_vm_start(vm), 0);
	ck_assert_int_eq(modvm_vm_wait(vm, 5000), 0);
	ck_assert_int_eq(modvm_vm_state(vm), state);
	ck_assert_str_eq(modvm_vm_error(vm), error);
	ck_assert(modvm__vm_reset(vm) == reset);
	ck_assert(!modvm__vm_halted(vm));
	ck_assert_int_ge(fb.kicks, 1);
	modvm_vm_destroy(vm);
	ck_assert_int_eq(fb.vcpu_destroys, 2);
}

START_TEST(guest_shutdown_stops_vm)
{
	errors_start();
	ends_vm(MODVM_EXIT_SHUTDOWN, MODVM_VM_FAILED,
		"vm 'end' vcpu 1: triple fault at rip 0x0 (rsp 0x0, cr3 0x0) (the guest CPU "
		"shut down after an exception it could not handle); the VM is stopped", false);
	ck_assert_int_eq(errors_count(), 1);
	errors_stop();
	ends_vm(MODVM_EXIT_SYSTEM_OFF, MODVM_VM_STOPPED, "", false);
	ends_vm(MODVM_EXIT_SYSTEM_RESET, MODVM_VM_STOPPED, "", true);
}
END_TEST

START_TEST(stop_while_spinning)
{
	struct fake_backend fb;
	struct modvm_vm *vm;
	struct timespec t0;
	uint64_t ms;

	fake_backend_init(&fb);
	fake_mmio(&fb, 0, 0xd0000000, 4, true, 0);
	fake_add(&fb, 0, FAKE_SPIN);
	fake_add(&fb, 1, FAKE_SPIN);
	fake_add(&fb, 2, FAKE_SPIN);
	vm = vm_create(&fb, "spin", 3, MiB);
	ck_assert_int_eq(modvm_vm_start(vm), 0);
	ck_assert_int_eq(modvm_vm_state(vm), MODVM_VM_RUNNING);
	ck_assert_int_eq(modvm_vm_wait(vm, 50), -ETIMEDOUT);
	ck_assert_int_eq(modvm_vm_state(vm), MODVM_VM_RUNNING);
	for (uint32_t i = 0; i < 3; i++)
		ck_assert_int_gt(modvm_vm_vcpu_tid(vm, i), 0);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(modvm_vm_stop(vm), 0);
	ms = ms_since(&t0);
	ck_assert_msg(ms < 500, "stop took %llu ms", (unsigned long long)ms);
	ck_assert_int_eq(modvm_vm_state(vm), MODVM_VM_STOPPED);
	ck_assert_int_ge(fb.kicks, 3);
	ck_assert_int_eq(fb.vcpu_destroys, 3);
	ck_assert_int_eq(modvm_vm_stop(vm), 0);	/* idempotent */
	ck_assert_int_eq(modvm_vm_wait(vm, 0), 0);
	ck_assert_int_eq(modvm_vm_start(vm), -EALREADY);
	modvm_vm_destroy(vm);
	ck_assert_int_eq(fb.vm_destroys, 1);
}
END_TEST

/* Destroy alone stops a running VM; a never-started VM just goes. */
START_TEST(destroy_running_and_unstarted)
{
	struct fake_backend fb;
	struct modvm_vm *vm;

	fake_backend_init(&fb);
	fake_add(&fb, 0, FAKE_SPIN);
	vm = vm_create(&fb, "d1", 1, MiB);
	ck_assert_int_eq(modvm_vm_start(vm), 0);
	modvm_vm_destroy(vm);
	ck_assert_int_eq(fb.vcpu_destroys, 1);
	ck_assert_int_eq(fb.vm_destroys, 1);

	vm = vm_create(&fb, "d2", 2, MiB);
	ck_assert_int_eq(modvm_vm_stop(vm), 0);
	ck_assert_int_eq(modvm_vm_wait(vm, 0), -EINVAL);
	ck_assert_int_eq(modvm_vm_vcpu_tid(vm, 0), -ESRCH);
	modvm_vm_destroy(vm);
	ck_assert_int_eq(fb.vcpu_creates, 1);
	ck_assert_int_eq(fb.vm_destroys, 2);
}
END_TEST

/* Concurrent stoppers all return once the threads are joined. */
static void *stopper(void *vm)
{
	return (void *)(intptr_t)modvm_vm_stop(vm);
}

START_TEST(concurrent_stops)
{
	struct fake_backend fb;
	struct modvm_vm *vm;
	pthread_t t[3];
	void *ret;

	fake_backend_init(&fb);
	fake_add(&fb, 0, FAKE_SPIN);
	fake_add(&fb, 1, FAKE_SPIN);
	vm = vm_create(&fb, "multi", 2, MiB);
	ck_assert_int_eq(modvm_vm_start(vm), 0);
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, stopper, vm);
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], &ret);
		ck_assert_int_eq((int)(intptr_t)ret, 0);
	}
	ck_assert_int_eq(modvm_vm_state(vm), MODVM_VM_STOPPED);
	ck_assert_int_eq(fb.vcpu_destroys, 2);
	modvm_vm_destroy(vm);
}
END_TEST

/* A device asking for the stop from its handler (vCPU thread). */
static int stop_from_handler_rc = 1;

static void stop_handler(void *ud, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	(void)off, (void)data, (void)len, (void)is_write;
	stop_from_handler_rc = modvm_vm_stop(ud);
}

START_TEST(stop_from_handler)
{
	struct fake_backend fb;
	struct modvm_vm *vm;

	fake_backend_init(&fb);
	fake_add(&fb, 0, FAKE_SPIN);
	fake_pio(&fb, 1, 0x501, 1, true, 0);
	fake_add(&fb, 1, FAKE_SPIN);
	vm = vm_create(&fb, "hstop", 2, MiB);
	ck_assert_int_eq(modvm_iobus_register(vm, MODVM_IOBUS_PIO, 0x501, 1, stop_handler, vm), 0);
	ck_assert_int_eq(modvm_vm_start(vm), 0);
	ck_assert_int_eq(modvm_vm_wait(vm, 5000), 0);
	ck_assert_int_eq(stop_from_handler_rc, -EINPROGRESS);
	ck_assert_int_eq(modvm_vm_state(vm), MODVM_VM_STOPPED);
	modvm_vm_destroy(vm);
}
END_TEST

static bool cpu_sets_equal(const cpu_set_t *a, const cpu_set_t *b)
{
	return CPU_EQUAL(a, b);
}

START_TEST(affinity_applies_to_the_thread)
{
	struct fake_backend fb;
	struct modvm_vm *vm;
	cpu_set_t want, got, mine;
	int tid, last;

	ck_assert_int_eq(sched_getaffinity(0, sizeof(mine), &mine), 0);
	last = -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &mine))
			last = c;
	ck_assert_int_ge(last, 0);

	fake_backend_init(&fb);
	fake_add(&fb, 0, FAKE_SPIN);
	fake_add(&fb, 1, FAKE_SPIN);
	vm = vm_create(&fb, "pin", 2, MiB);
	/* set before start: applied when the thread starts */
	CPU_ZERO(&want);
	CPU_SET(last, &want);
	ck_assert_int_eq(modvm_vcpu_set_affinity(vm, 1, &want), 0);
	ck_assert_int_eq(modvm_vm_start(vm), 0);
	tid = modvm_vm_vcpu_tid(vm, 1);
	ck_assert_int_gt(tid, 0);
	ck_assert_int_ne(tid, (int)gettid());
	ck_assert_int_eq(sched_getaffinity(tid, sizeof(got), &got), 0);
	ck_assert(cpu_sets_equal(&got, &want));
	/* not asked: not pinned */
	ck_assert_int_eq(sched_getaffinity(modvm_vm_vcpu_tid(vm, 0), sizeof(got), &got), 0);
	ck_assert(cpu_sets_equal(&got, &mine));

	/* while running, from this (the "loop") thread */
	tid = modvm_vm_vcpu_tid(vm, 0);
	CPU_ZERO(&want);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &mine)) {
			CPU_SET(c, &want);
			break;
		}
	ck_assert_int_eq(modvm_vcpu_set_affinity(vm, 0, &want), 0);
	ck_assert_int_eq(sched_getaffinity(tid, sizeof(got), &got), 0);
	ck_assert(cpu_sets_equal(&got, &want));
	/* NULL: every CPU again */
	ck_assert_int_eq(modvm_vcpu_set_affinity(vm, 0, NULL), 0);
	ck_assert_int_eq(sched_getaffinity(tid, sizeof(got), &got), 0);
	ck_assert(cpu_sets_equal(&got, &mine));

	errors_start();
	CPU_ZERO(&want);
	ck_assert_int_eq(modvm_vcpu_set_affinity(vm, 0, &want), -EINVAL);
	ck_assert(errors_is(0, "vm 'pin': affinity for vcpu 0: empty cpu set"));
	ck_assert_int_eq(modvm_vcpu_set_affinity(vm, 5, NULL), -EINVAL);
	ck_assert(errors_is(1, "vm 'pin': affinity for vcpu 5: no such vcpu"));
	errors_stop();
	ck_assert_int_eq(modvm_vm_vcpu_tid(vm, 9), -EINVAL);
	modvm_vm_destroy(vm);
}
END_TEST

/* The init hook runs on the vCPU thread before the first run. */
struct hook_record {
	_Atomic int calls;
	_Atomic int tid[4];
	int cross_thread_rc;
};

static int init_hook(struct modvm_vm *vm, uint32_t index, void *ud)
{
	struct hook_record *h = ud;
	struct modvm_regs regs;

	atomic_fetch_add(&h->calls, 1);
	h->tid[index] = (int)gettid();
	if (modvm_vcpu_get_regs(vm, index, &regs))
		return -EIO;
	regs.rip = 0x1000 * (index + 1);
	/* another vCPU's registers are not this thread's to touch */
	if (modvm_vcpu_set_regs(vm, index ^ 1, &regs) != -EPERM)
		return -EIO;
	return modvm_vcpu_set_regs(vm, index, &regs);
}

static int failing_hook(struct modvm_vm *vm, uint32_t index, void *ud)
{
	(void)vm, (void)ud;
	return index == 1 ? -ENOEXEC : 0;
}

START_TEST(init_hook_sets_registers)
{
	struct fake_backend fb;
	struct modvm_vm *vm;
	struct hook_record h = { 0 };
	struct modvm_regs regs;

	fake_backend_init(&fb);
	vm = vm_create(&fb, "hook", 2, MiB);
	ck_assert_int_eq(modvm_vm_set_vcpu_init(vm, init_hook, &h), 0);
	ck_assert_int_eq(modvm_vm_start(vm), 0);
	ck_assert_int_eq(modvm_vm_set_vcpu_init(vm, init_hook, &h), -EBUSY);
	ck_assert_int_eq(modvm_vcpu_get_regs(vm, 0, &regs), -EPERM);
	ck_assert_int_eq(modvm_vm_wait(vm, 5000), 0);
	ck_assert_int_eq(modvm_vm_state(vm), MODVM_VM_STOPPED);
	ck_assert_int_eq(h.calls, 2);
	ck_assert_uint_eq(fb.first_rip[0], 0x1000);
	ck_assert_uint_eq(fb.first_rip[1], 0x2000);
	ck_assert_int_eq(h.tid[0], fb.run_tid[0]);
	ck_assert_int_eq(h.tid[1], fb.run_tid[1]);
	modvm_vm_destroy(vm);

	fake_backend_init(&fb);
	vm = vm_create(&fb, "badhook", 2, MiB);
	ck_assert_int_eq(modvm_vm_set_vcpu_init(vm, failing_hook, NULL), 0);
	errors_start();
	ck_assert_int_eq(modvm_vm_start(vm), -ENOEXEC);
	ck_assert_int_eq(modvm_vm_wait(vm, 5000), 0);
	ck_assert_int_eq(modvm_vm_state(vm), MODVM_VM_FAILED);
	ck_assert_str_eq(modvm_vm_error(vm),
			 "vm 'badhook' vcpu 1: initial state hook failed: Exec format error");
	ck_assert_int_eq(errors_count(), 1);
	errors_stop();
	ck_assert_uint_eq(fb.runs[1], 0);	/* never entered the guest */
	modvm_vm_destroy(vm);
}
END_TEST

START_TEST(vcpu_create_failure)
{
	struct fake_backend fb;
	struct modvm_vm *vm;

	fake_backend_init(&fb);
	fb.fail_vcpu_create_index = 2;
	vm = vm_create(&fb, "novcpu", 3, MiB);
	errors_start();
	ck_assert_int_eq(modvm_vm_start(vm), -EMFILE);
	ck_assert(errors_is(0, "vm 'novcpu': cannot create vcpu 2: Too many open files"));
	errors_stop();
	ck_assert_int_eq(modvm_vm_state(vm), MODVM_VM_FAILED);
	ck_assert_int_eq(fb.vcpu_creates, 2);
	ck_assert_int_eq(fb.vcpu_destroys, 2);
	ck_assert_int_eq(modvm_vm_wait(vm, 0), 0);
	ck_assert_int_eq(modvm_vm_stop(vm), 0);
	modvm_vm_destroy(vm);
	ck_assert_int_eq(fb.vm_destroys, 1);
}
END_TEST

/* Without a loop the completion callback runs once, on the last vCPU. */
struct done_record {
	_Atomic int calls;
	int tid;
	struct modvm_vm *vm;
};

static void on_done(struct modvm_vm *vm, void *ud)
{
	struct done_record *d = ud;

	d->vm = vm;
	d->tid = (int)gettid();
	atomic_fetch_add(&d->calls, 1);
}

START_TEST(done_callback_without_loop)
{
	struct fake_backend fb;
	struct modvm_vm *vm;
	struct done_record d = { 0 };

	fake_backend_init(&fb);
	fake_pio(&fb, 1, 0x80, 1, true, 0);
	vm = vm_create(&fb, "done", 2, MiB);
	ck_assert_int_eq(modvm_vm_set_done_callback(vm, on_done, &d), 0);
	ck_assert_int_eq(modvm_vm_start(vm), 0);
	ck_assert_int_eq(modvm_vm_set_done_callback(vm, on_done, &d), -EBUSY);
	ck_assert_int_eq(modvm_vm_wait(vm, 5000), 0);
	ck_assert_int_eq(modvm_vm_stop(vm), 0);	/* joined: the callback has returned */
	ck_assert_int_eq(d.calls, 1);
	ck_assert_ptr_eq(d.vm, vm);
	ck_assert(d.tid == fb.run_tid[0] || d.tid == fb.run_tid[1]);
	modvm_vm_destroy(vm);
}
END_TEST

START_TEST(irq_passthroughs_without_support)
{
	struct fake_backend fb;
	struct modvm_vm *vm;

	fake_backend_init(&fb);
	vm = vm_create(&fb, "irq", 1, MiB);
	ck_assert_int_eq(modvm_vm_irq_line(vm, 4, true), -ENOTSUP);
	ck_assert_int_eq(modvm_vm_signal_msi(vm, 0xfee00000, 0x30), -ENOTSUP);
	ck_assert_int_eq(modvm_vm_irqfd(vm, 5, 3, true), -ENOTSUP);
	ck_assert_int_eq(modvm_vm_ioeventfd(vm, MODVM_IOBUS_MMIO, 0xd0000050, 4, 3, true), -ENOTSUP);
	ck_assert_int_eq(modvm_vm_ioeventfd(vm, (enum modvm_iobus_space)9, 0, 4, 3, true), -EINVAL);
	modvm_vm_destroy(vm);
}
END_TEST

/* With an irqchip a HLT is not the end: the vCPU runs again. */
START_TEST(hlt_with_irqchip_continues)
{
	struct fake_backend fb;
	struct modvm_vm_config cfg = { .name = "apic", .vcpus = 1, .memory_bytes = MiB,
				       .irqchip = true };
	struct modvm_vm *vm;
	struct modvm_vcpu_stats st;

	fake_backend_init(&fb);
	fake_add(&fb, 0, MODVM_EXIT_HLT);
	fake_add(&fb, 0, MODVM_EXIT_HLT);
	fake_pio(&fb, 0, 0x80, 1, true, 0);
	vm = vm_create_cfg(&fb, &cfg);
	ck_assert(fb.irqchip_seen);
	ck_assert_int_eq(modvm_vm_start(vm), 0);
	/* the script ends in a spin: the VM must still run after both HLTs */
	for (int i = 0; i < 500; i++) {
		modvm_vcpu_get_stats(vm, 0, &st);
		if (st.exits[MODVM_EXIT_REASON_IO])
			break;
		usleep(1000);
	}
	ck_assert_uint_eq(st.exits[MODVM_EXIT_REASON_HLT], 2);
	ck_assert_uint_eq(st.exits[MODVM_EXIT_REASON_IO], 1);
	ck_assert_int_eq(modvm_vm_state(vm), MODVM_VM_RUNNING);
	modvm_vm_destroy(vm);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vm-vcpu");
	TCase *tc = tcase_create("vcpu");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, exits_dispatched_on_vcpu_threads);
	tcase_add_test(tc, pio_string_io);
	tcase_add_test(tc, internal_error_fails_vm);
	tcase_add_test(tc, fail_entry_and_backend_error_fail_vm);
	tcase_add_test(tc, guest_shutdown_stops_vm);
	tcase_add_test(tc, stop_while_spinning);
	tcase_add_test(tc, destroy_running_and_unstarted);
	tcase_add_test(tc, concurrent_stops);
	tcase_add_test(tc, stop_from_handler);
	tcase_add_test(tc, affinity_applies_to_the_thread);
	tcase_add_test(tc, init_hook_sets_registers);
	tcase_add_test(tc, vcpu_create_failure);
	tcase_add_test(tc, done_callback_without_loop);
	tcase_add_test(tc, irq_passthroughs_without_support);
	tcase_add_test(tc, hlt_with_irqchip_continues);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
