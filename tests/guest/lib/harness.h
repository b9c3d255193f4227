/*
 * harness.h — the host side of the guest-code test harness, in the style
 * of the Linux KVM selftests: a VM in 64-bit long mode built from ordinary
 * C functions of the test binary, run through the CPU-backend vtable of the
 * best-scoring cpu-* plugin (loaded from MODVM_PLUGIN_PATH).
 *
 * Two tiers: __gvcpu_*() return values/-errno for tests that expect
 * failures; the others stop the test through gtest_fail() (set
 * gtest_fail_hook to ck_abort_msg's wrapper in Check tests).
 *
 * Every run is bounded: gvcpu_run() kicks the vCPU after timeout_ms
 * (default GTEST_RUN_TIMEOUT_MS) and reports -ETIMEDOUT.
 */
#ifndef GTEST_HARNESS_H
#define GTEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include <modvm/cpu.h>

#include "gtest_layout.h"

#define GTEST_RUN_TIMEOUT_MS 10000u

typedef void (*guest_fn)(uint64_t arg);

enum gtest_mode { GTEST_CPL0 = 0, GTEST_CPL3 = 3 };

struct gvm;
struct gvcpu;

/* Called with a formatted message when a harness check fails; must not return. */
extern void (*gtest_fail_hook)(const char *msg);
void gtest_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));
#define GTEST_ASSERT(c, ...)                                         \
	do {                                                         \
		if (!(c))                                            \
			gtest_fail(__FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

/*
 * Exits 77 with "SKIP: reason" on stdout unless /dev/kvm opens and some
 * cpu-* plugin probes a score > 0.  Call first in main(), before forking.
 */
void gtest_require_kvm(void);

/* The chosen backend and its plugin name ("cpu-svm"); NULL before/without one. */
const struct modvm_cpu_backend *gtest_backend(const char **name);

/* The chosen backend's probe of this host (caps.kvm_module, caps.hw_virt …). */
const struct modvm_cpu_probe *gtest_backend_probe(void);

/* Loads the cpu-* plugins and keeps the best; <0 with @why filled if none can run. */
int gtest_backend_load(char *why, size_t len);

/* A VM for @nr_vcpus vCPUs (≤ GTEST_MAX_VCPUS), RAM at 0 holding the test binary. */
struct gvm *gvm_create(unsigned nr_vcpus);
void gvm_destroy(struct gvm *vm);

/* vCPU @id starts in @fn(@arg) at @mode with the harness's GDT/IDT/TSS/paging. */
struct gvcpu *gvm_vcpu_add(struct gvm *vm, unsigned id, guest_fn fn, uint64_t arg,
			   enum gtest_mode mode);

/* Host pointer to @len bytes at guest address @gva; fails the test if not all RAM. */
void *gvm_ptr(struct gvm *vm, uint64_t gva, size_t len);
uint64_t gvm_ram_size(const struct gvm *vm);
/* First guest address after the test binary: free RAM for tests. */
uint64_t gvm_free_gpa(const struct gvm *vm);
struct modvm_cpu_vm *gvm_backend_vm(struct gvm *vm);

/* The guest's copy of a global of the test binary. */
#define GVM_GLOBAL(vm, g) (*(__typeof__(&(g)))gvm_ptr((vm), (uint64_t)(uintptr_t)&(g), sizeof(g)))

struct modvm_cpu_vcpu *gvcpu_backend(struct gvcpu *vcpu);
void gvcpu_set_timeout(struct gvcpu *vcpu, unsigned ms);

/*
 * One backend run, bounded by the vCPU's timeout.  0 and *exit set (the
 * vCPU's own buffer), -ETIMEDOUT, or the backend's -errno.
 */
int __gvcpu_run(struct gvcpu *vcpu, struct modvm_cpu_exit **exit);
/* The same, failing the test on errors and timeouts. */
struct modvm_cpu_exit *gvcpu_run(struct gvcpu *vcpu);
void gvcpu_kick(struct gvcpu *vcpu);

/* If @exit is a ucall, copies it to @uc and returns its cmd; UCALL_NONE otherwise. */
uint64_t __gvcpu_get_ucall(struct gvcpu *vcpu, const struct modvm_cpu_exit *exit,
			   struct ucall *uc);
/*
 * Runs until the next ucall and returns its cmd.  Fails the test on any
 * other exit, on UCALL_ABORT (printing the guest's file:line and values)
 * and on UCALL_UNHANDLED (vector, error code, rip).
 */
uint64_t gvcpu_run_ucall(struct gvcpu *vcpu, struct ucall *uc);

/* "file:line: expr (0x…, 0x…)" and friends, for messages. */
const char *gucall_format(const struct ucall *uc, char *buf, size_t len);
/* "mmio write 0xd0000000 len 8", "internal-error suberror 1", … */
const char *gexit_format(const struct modvm_cpu_exit *exit, char *buf, size_t len);

/* Monotonic nanoseconds. */
uint64_t gtest_now_ns(void);

#endif
