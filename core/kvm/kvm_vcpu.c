/*
 * One KVM vCPU: kvm_run mapping, KVM_RUN and its exit
 * translation, kicking, and register conversion.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kvm/kvm.h"
#include <modvm/log.h>

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;
static int kick_install_rc;

static void kick_handler(int sig)
{
	/* Nothing to do: the point is that KVM_RUN returns EINTR. */
	(void)sig;
}

static void kick_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: KVM_RUN must come back with EINTR */
	if (sigaction(modvm_kvm_kick_signal(), &sa, NULL) < 0)
		kick_install_rc = -errno;
}

MODVM_EXPORT int modvm_kvm_kick_signal(void)
{
	/* Away from SIGRTMIN, which glibc and other libraries hand out first. */
	return SIGRTMAX - 1;
}

MODVM_EXPORT int modvm_kvm_vcpu_open(int kvm_fd, int vm_fd, uint32_t id,
				     struct modvm_kvm_vcpu *out)
{
	memset(out, 0, sizeof(*out));
	out->fd = -1;
	pthread_once(&kick_once, kick_install);
	if (kick_install_rc < 0)
		return kick_install_rc;
	int size = modvm_kvm_vcpu_mmap_size(kvm_fd);
	if (size < (int)sizeof(struct kvm_run))
		return size < 0 ? size : -EPROTO;
	int fd = ioctl(vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (fd < 0)
		return -errno;
	void *run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (run == MAP_FAILED) {
		int e = errno;
		close(fd);
		return -e;
	}
	out->fd = fd;
	out->id = id;
	out->run = run;
	out->run_size = (size_t)size;
	return 0;
}

MODVM_EXPORT void modvm_kvm_vcpu_close(struct modvm_kvm_vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}

static void translate_system_event(struct kvm_run *run, struct modvm_cpu_exit *exit)
{
	switch (run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		exit->kind = MODVM_EXIT_SYSTEM_OFF;
		break;
	case KVM_SYSTEM_EVENT_RESET:
		exit->kind = MODVM_EXIT_SYSTEM_RESET;
		break;
	case KVM_SYSTEM_EVENT_CRASH:
		/* The guest is dead either way; a triple fault is the nearest kind. */
		exit->kind = MODVM_EXIT_SHUTDOWN;
		break;
	default:
		exit->kind = MODVM_EXIT_UNKNOWN;
		break;
	}
}

MODVM_EXPORT void modvm_kvm_translate_exit(struct kvm_run *run, struct modvm_cpu_exit *exit)
{
	memset(exit, 0, sizeof(*exit));
	exit->raw_reason = run->exit_reason;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		exit->kind = MODVM_EXIT_PIO;
		exit->pio.port = run->io.port;
		exit->pio.size = run->io.size;
		exit->pio.is_write = run->io.direction == KVM_EXIT_IO_OUT;
		exit->pio.count = run->io.count;
		exit->pio.data = (uint8_t *)run + run->io.data_offset;
		break;
	case KVM_EXIT_MMIO:
		exit->kind = MODVM_EXIT_MMIO;
		exit->mmio.addr = run->mmio.phys_addr;
		exit->mmio.len = run->mmio.len;
		exit->mmio.is_write = run->mmio.is_write;
		exit->mmio.data = run->mmio.data;
		break;
	case KVM_EXIT_HLT:
		exit->kind = MODVM_EXIT_HLT;
		break;
	case KVM_EXIT_SHUTDOWN:
		exit->kind = MODVM_EXIT_SHUTDOWN;
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		translate_system_event(run, exit);
		break;
	case KVM_EXIT_INTERNAL_ERROR: {
		exit->kind = MODVM_EXIT_INTERNAL_ERROR;
		exit->internal.suberror = run->internal.suberror;
		uint32_t n = run->internal.ndata;
		exit->internal.ndata = n;
		for (uint32_t i = 0; i < n && i < 4; i++)
			exit->internal.data[i] = run->internal.data[i];
		break;
	}
	case KVM_EXIT_FAIL_ENTRY:
		exit->kind = MODVM_EXIT_FAIL_ENTRY;
		exit->fail_entry.reason = run->fail_entry.hardware_entry_failure_reason;
		break;
	case KVM_EXIT_INTR:
		exit->kind = MODVM_EXIT_INTR;
		break;
	default:
		exit->kind = MODVM_EXIT_UNKNOWN;
		break;
	}
}

MODVM_EXPORT int modvm_kvm_vcpu_run(struct modvm_kvm_vcpu *vcpu, struct modvm_cpu_exit *exit)
{
	/* Once per thread, not per exit: a system call on every exit costs
	 * its own entry (and, sandboxed, the seccomp path) for nothing. */
	static _Thread_local int self_tid;
	if (!self_tid)
		self_tid = (int)syscall(SYS_gettid);
	int tid = self_tid;
	if (__atomic_load_n(&vcpu->tid, __ATOMIC_RELAXED) != tid)
		__atomic_store_n(&vcpu->tid, tid, __ATOMIC_RELEASE);
	if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
		int e = errno;
		if (e == EINTR || e == EAGAIN) {
			/* A kick consumed: the next run enters the guest again. */
			__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_RELAXED);
			memset(exit, 0, sizeof(*exit));
			exit->kind = MODVM_EXIT_INTR;
			exit->raw_reason = KVM_EXIT_INTR;
			return 0;
		}
		return -e;
	}
	modvm_kvm_translate_exit(vcpu->run, exit);
	if (exit->kind == MODVM_EXIT_INTR)
		__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_RELAXED);
	return 0;
}

MODVM_EXPORT void modvm_kvm_vcpu_kick(struct modvm_kvm_vcpu *vcpu)
{
	/*
	 * immediate_exit covers the window before the thread enters KVM_RUN;
	 * the signal covers a thread already inside it.
	 */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	int tid = __atomic_load_n(&vcpu->tid, __ATOMIC_ACQUIRE);
	if (tid > 0)
		syscall(SYS_tgkill, getpid(), tid, modvm_kvm_kick_signal());
}

/* ---- registers ---- */

/*
 * Each register named once, for both directions: KVM's structs and ours
 * use the same field names.  A segment's "unusable" is the one exception
 * (modvm has none: an unusable segment reads as not present).
 */
#define GPRS(X) X(rax) X(rbx) X(rcx) X(rdx) X(rsi) X(rdi) X(rsp) X(rbp) \
		X(r8) X(r9) X(r10) X(r11) X(r12) X(r13) X(r14) X(r15) X(rip) X(rflags)
#define SEG_FIELDS(X) X(base) X(limit) X(selector) X(type) X(present) X(dpl) X(db) \
		      X(s) X(l) X(g) X(avl)
#define SEGMENTS(X) X(cs) X(ds) X(es) X(fs) X(gs) X(ss) X(tr) X(ldt)
#define DTABLES(X) X(gdt) X(idt)
#define CONTROL(X) X(cr0) X(cr2) X(cr3) X(cr4) X(cr8) X(efer) X(apic_base)
#define COPY(f) out->f = in->f;

MODVM_EXPORT void modvm_kvm_regs_from_kvm(const struct kvm_regs *in, struct modvm_regs *out)
{
	*out = (struct modvm_regs){ 0 };
	GPRS(COPY)
}

MODVM_EXPORT void modvm_kvm_regs_to_kvm(const struct modvm_regs *in, struct kvm_regs *out)
{
	*out = (struct kvm_regs){ 0 };
	GPRS(COPY)
}

static void seg_from_kvm(const struct kvm_segment *in, struct modvm_segment *out)
{
	*out = (struct modvm_segment){ 0 };
	SEG_FIELDS(COPY)
	if (in->unusable)
		out->present = 0;
}

static void seg_to_kvm(const struct modvm_segment *in, struct kvm_segment *out)
{
	*out = (struct kvm_segment){ 0 };
	SEG_FIELDS(COPY)
	out->unusable = !in->present;
}

#define SEG_FROM(r) seg_from_kvm(&in->r, &out->r);
#define SEG_TO(r) seg_to_kvm(&in->r, &out->r);
#define DT_COPY(t) out->t.base = in->t.base; out->t.limit = in->t.limit;

MODVM_EXPORT void modvm_kvm_sregs_from_kvm(const struct kvm_sregs *in, struct modvm_sregs *out)
{
	SEGMENTS(SEG_FROM)
	DTABLES(DT_COPY)
	CONTROL(COPY)
}

/* Only what modvm_sregs holds: the rest of @out (the interrupt bitmap) stays. */
MODVM_EXPORT void modvm_kvm_sregs_to_kvm(const struct modvm_sregs *in, struct kvm_sregs *out)
{
	SEGMENTS(SEG_TO)
	DTABLES(DT_COPY)
	CONTROL(COPY)
}

MODVM_EXPORT int modvm_kvm_get_regs(int vcpu_fd, struct modvm_regs *regs)
{
	struct kvm_regs k;
	if (ioctl(vcpu_fd, KVM_GET_REGS, &k) < 0)
		return -errno;
	modvm_kvm_regs_from_kvm(&k, regs);
	return 0;
}

MODVM_EXPORT int modvm_kvm_set_regs(int vcpu_fd, const struct modvm_regs *regs)
{
	struct kvm_regs k;
	modvm_kvm_regs_to_kvm(regs, &k);
	return ioctl(vcpu_fd, KVM_SET_REGS, &k) < 0 ? -errno : 0;
}

MODVM_EXPORT int modvm_kvm_get_sregs(int vcpu_fd, struct modvm_sregs *sregs)
{
	struct kvm_sregs k;
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &k) < 0)
		return -errno;
	modvm_kvm_sregs_from_kvm(&k, sregs);
	return 0;
}

MODVM_EXPORT int modvm_kvm_set_sregs(int vcpu_fd, const struct modvm_sregs *sregs)
{
	struct kvm_sregs k;
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &k) < 0)
		return -errno;
	modvm_kvm_sregs_to_kvm(sregs, &k);
	return ioctl(vcpu_fd, KVM_SET_SREGS, &k) < 0 ? -errno : 0;
}
