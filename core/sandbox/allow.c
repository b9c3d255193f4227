/*
 * The allowlists, per thread class (issue 18).  Where they come from:
 * what the core's code calls (libev, the control socket, core/kvm and
 * core/vm) and measurements — strace -f of the README examples in the
 * nested KVM host (scripts/sandbox-measure.sh, sorted per thread by
 * scripts/sandbox-syscalls.py), and MODVM_SANDBOX_LOG_ONLY=1 runs, whose
 * calls outside the lists the kernel logs (audit, type 1326) instead of
 * trapping.  tests/unit/sandbox runs the core's classes enforced, and
 * the whole suite runs enforced: host.sandbox defaults to "strict".
 * What only a plugin does is not here: a plugin declares it
 * (modvm/sandbox.h) — net-vmq its tap ioctls, virtio-blk its I/O calls
 * and threads, mem-balloon its madvise advice, power-park its affinity
 * and journal.
 *
 * Arguments are filtered where one call does many things: ioctl by
 * request (the KVM requests each class issues: only vCPU threads may
 * KVM_RUN, only the loop may create VMs and vCPUs), madvise by advice,
 * mmap/mprotect never PROT_EXEC (no code appears after the lockdown:
 * plugins are loaded before it), clone with CLONE_THREAD only (threads,
 * never processes) and only on the spawner, socket only for AF_UNIX,
 * prctl and fcntl by command.
 *
 * Thread start and exit (glibc's rseq, robust list, stack release, the
 * sanitizer's per-thread set-up) run before the trampoline installs the
 * class's filter and after the thread's function returned; the second
 * half is why `common` has munmap, madvise(MADV_DONTNEED) and exit.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/prctl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "sandbox/sandbox_impl.h"

#define ANY(n) { #n, -1, 0, 0 }
/* (argument @i & 0xffffffff) == @v: the int-typed arguments. */
#define EQ(n, i, v) { #n, i, 0xffffffffu, (uint64_t)(uint32_t)(v) }
/* (argument @i & @m) == @v */
#define MASKED(n, i, m, v) { #n, i, (uint64_t)(m), (uint64_t)(v) }
#define END { NULL, 0, 0, 0 }

/* Every class: memory, time, locks, logging (write to stderr), naming,
 * signals' return, thread exit. */
const struct modvm__sb_rule modvm__sb_common[] = {
	ANY(futex),
	ANY(clock_gettime),
	ANY(clock_nanosleep),
	ANY(nanosleep),
	ANY(gettimeofday),
	ANY(gettid),
	ANY(getpid),
	ANY(write),
	ANY(rt_sigreturn),
	ANY(rt_sigprocmask),
	ANY(restart_syscall),
	ANY(sched_yield),
	ANY(sched_getaffinity),
	ANY(getrandom),
	/* glibc's qsort asks how much memory there is */
	ANY(sysinfo),
	ANY(exit),
	ANY(exit_group),
	ANY(munmap),
	ANY(brk),
	/* malloc's arenas and the C library never map code. */
	MASKED(mmap, 2, PROT_EXEC, 0),
	MASKED(mprotect, 2, PROT_EXEC, 0),
	ANY(mremap),
	EQ(madvise, 2, MADV_DONTNEED),
	EQ(madvise, 2, MADV_FREE),
	/* pthread_setname_np on itself, the SIGSYS report's fallback name */
	EQ(prctl, 0, PR_SET_NAME),
	EQ(prctl, 0, PR_GET_NAME),
	/* abort() (an assertion, a sanitizer's abort_on_error) */
	ANY(tgkill),
	END,
};

/* The loop: libev, the control socket, plugin handlers and timers, and a
 * whole VM made and unmade (a guest's reboot starts it afresh). */
const struct modvm__sb_rule modvm__sb_loop[] = {
	/* the event loop and its wake-ups */
	ANY(epoll_wait),
	ANY(epoll_pwait),
	ANY(epoll_ctl),
	ANY(eventfd2),
	ANY(pipe2),
	ANY(read),
	ANY(readv),
	ANY(writev),
	ANY(pread64),
	ANY(pwrite64),
	ANY(lseek),
	ANY(close),
	ANY(dup),
	ANY(dup3),
	EQ(fcntl, 1, F_GETFL),
	EQ(fcntl, 1, F_SETFL),
	EQ(fcntl, 1, F_GETFD),
	EQ(fcntl, 1, F_SETFD),
	EQ(fcntl, 1, F_DUPFD_CLOEXEC),
	/* files the config names (Landlock decides which) */
	ANY(openat),
	ANY(newfstatat),
	ANY(fstat),
	ANY(statx),
	ANY(access),
	ANY(faccessat2),
	ANY(getdents64),
	ANY(readlink),
	ANY(fsync),
	ANY(fdatasync),
	ANY(flock),
	ANY(rename),
	ANY(renameat),
	ANY(unlink),
	ANY(unlinkat),
	ANY(ftruncate),
	/* reaping the helper that removes the control socket (reaper.c) */
	ANY(wait4),
	/* the control socket: accept, credentials, replies */
	ANY(accept4),
	ANY(recvfrom),
	ANY(recvmsg),
	ANY(sendto),
	ANY(sendmsg),
	ANY(shutdown),
	ANY(getsockopt),
	EQ(socket, 0, AF_UNIX),
	/* signals: the vCPU kick's handler, installed with the first vCPU */
	ANY(rt_sigaction),
	/* affinity of our own threads (vCPU pinning), host facts */
	ANY(sched_setaffinity),
	ANY(uname),
	ANY(getuid),
	ANY(geteuid),
	ANY(getgid),
	ANY(getegid),
	ANY(prlimit64),
	/* making and unmaking a VM (core/kvm, core/vm) */
	EQ(ioctl, 1, KVM_GET_API_VERSION),
	EQ(ioctl, 1, KVM_CREATE_VM),
	EQ(ioctl, 1, KVM_CHECK_EXTENSION),
	EQ(ioctl, 1, KVM_GET_VCPU_MMAP_SIZE),
	EQ(ioctl, 1, KVM_GET_SUPPORTED_CPUID),
	EQ(ioctl, 1, KVM_SET_USER_MEMORY_REGION),
	EQ(ioctl, 1, KVM_CREATE_IRQCHIP),
	EQ(ioctl, 1, KVM_CREATE_PIT2),
	EQ(ioctl, 1, KVM_SET_TSS_ADDR),
	EQ(ioctl, 1, KVM_REINJECT_CONTROL),
	EQ(ioctl, 1, KVM_IRQFD),
	EQ(ioctl, 1, KVM_IOEVENTFD),
	EQ(ioctl, 1, KVM_CREATE_VCPU),
	EQ(ioctl, 1, KVM_SET_CPUID2),
	/* devices that interrupt from the loop (net RX) without irqfd */
	EQ(ioctl, 1, KVM_IRQ_LINE),
	EQ(ioctl, 1, KVM_SIGNAL_MSI),
	/* isatty() of the console's stdout */
	EQ(ioctl, 1, TCGETS),
	/* guest RAM: hugepages where the kernel gives them, no dumps */
	EQ(madvise, 2, MADV_HUGEPAGE),
	EQ(madvise, 2, MADV_NOHUGEPAGE),
	EQ(madvise, 2, MADV_DONTDUMP),
	EQ(madvise, 2, MADV_DODUMP),
	EQ(madvise, 2, MADV_MERGEABLE),
	EQ(madvise, 2, MADV_REMOVE),
	EQ(prctl, 0, PR_GET_DUMPABLE),
	END,
};

/* vCPU threads: KVM_RUN and the exits' handlers (PIO/MMIO, virtqueue
 * notify: virtio-rng's getrandom, irqfd writes in common). */
const struct modvm__sb_rule modvm__sb_vcpu[] = {
	EQ(ioctl, 1, KVM_RUN),
	EQ(ioctl, 1, KVM_GET_REGS),
	EQ(ioctl, 1, KVM_SET_REGS),
	EQ(ioctl, 1, KVM_GET_SREGS),
	EQ(ioctl, 1, KVM_SET_SREGS),
	EQ(ioctl, 1, KVM_GET_MP_STATE),
	EQ(ioctl, 1, KVM_IRQ_LINE),
	EQ(ioctl, 1, KVM_SIGNAL_MSI),
	END,
};

/* Device I/O threads: the core's part is waiting and waking (a plugin
 * adds its own I/O calls: virtio-blk's preadv, pwritev, fdatasync,
 * fallocate, io_uring_enter). */
const struct modvm__sb_rule modvm__sb_io[] = {
	EQ(ioctl, 1, KVM_IRQ_LINE),
	EQ(ioctl, 1, KVM_SIGNAL_MSI),
	END,
};

/* The watchdog: waits, reads the clock, writes one line, _exit. */
const struct modvm__sb_rule modvm__sb_watchdog[] = {
	END,
};

/* Making a thread, and what a new thread does before its trampoline
 * runs: the spawners', and so the vCPU threads' (the vCPU spawner holds
 * their filter, see threads.c). */
const struct modvm__sb_rule modvm__sb_thread_start[] = {
	MASKED(clone, 0, CLONE_THREAD, CLONE_THREAD),
	ANY(set_robust_list),
	ANY(rseq),
	END,
};

/* The spawner: makes threads, nothing else.  It holds the union, and the
 * threads it makes narrow themselves to their class: hence seccomp (a
 * filter only ever takes calls away). */
const struct modvm__sb_rule modvm__sb_spawner[] = {
	EQ(seccomp, 0, SECCOMP_SET_MODE_FILTER),
	END,
};

/*
 * Sanitizer builds (the test build: ASan + UBSan), measured the same way
 * over the test suite: what the runtime needs to print a report from any
 * thread (symbolising reads the binaries; Landlock lets it read "/" in
 * these builds only) ...
 */
const struct modvm__sb_rule modvm__sb_sanitizer_report[] = {
	ANY(openat),
	ANY(read),
	ANY(pread64),
	ANY(close),
	ANY(newfstatat),
	ANY(fstat),
	ANY(lseek),
	ANY(readlink),
	ANY(sigaltstack),
	ANY(rt_sigaction),
	ANY(prlimit64),
	ANY(getrlimit),
	ANY(uname),
	ANY(sysinfo),
	EQ(madvise, 2, MADV_NOHUGEPAGE),
	EQ(madvise, 2, MADV_DONTDUMP),
	EQ(madvise, 2, MADV_HUGEPAGE),
	EQ(prctl, 0, PR_GET_DUMPABLE),
	ANY(kill),
	END,
};

/*
 * ... and what LeakSanitizer's check at exit needs on the thread that
 * exits (the loop): a helper cloned without CLONE_THREAD that
 * ptrace-attaches every thread to read its registers ("stop the world").
 */
const struct modvm__sb_rule modvm__sb_sanitizer_exit[] = {
	ANY(clone),
	/* the helper lists the threads with the old open and getdents
	 * (measured: MODVM_SANDBOX_LOG_ONLY=1 and the kernel's audit lines) */
	ANY(open),
	ANY(getdents),
	ANY(ptrace),
	ANY(wait4),
	ANY(getdents64),
	ANY(getppid),
	ANY(prctl),
	ANY(process_vm_readv),
	ANY(sched_yield),
	END,
};

/* What the lockdown itself calls before its own filters are in place
 * (sandbox.c, privs.c, landlock.c, catchup.c, sigsys.c): a service
 * manager's system call filter must let these through as well as the
 * union, or the lockdown fails (tests/dist/check-unit.sh holds
 * dist/systemd/modvm@.service to both). */
const char *const modvm__sb_lockdown_calls[] = {
	"seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
	"prctl", "capget", "capset", "setgroups", "setresuid", "setresgid",
	"memfd_create", "rt_sigaction", "sigaltstack", "tgkill", "clone", "getdents64",
	/* the control socket's reaper (reaper.c), in its own process */
	"close_range", "newfstatat", "unlinkat", "read", "exit_group",
	NULL,
};
