/*
 * modvm/hostfacts.h — what a CPU backend needs to know about the host, as
 * plain recorded data.
 *
 * Probing a host is split in two: modvm_host_facts_read() records facts
 * (CPUID leaves, VMX capability MSRs, kvm_intel/kvm_amd parameters, loaded
 * KVM modules, /dev/kvm), and a backend's probe turns facts into a
 * struct modvm_cpu_probe with a pure function.  The facts can be saved to a
 * small text file and loaded again, so a host can be captured once
 * (`modvm caps --record FILE`) and replayed in tests anywhere — Intel and AMD
 * hosts can be tested on a machine that is neither.
 *
 * The facts file: one fact per line, fields separated by blanks, numbers in
 * decimal or 0x-hex, '#' starts a comment line, blank lines ignored:
 *
 *     cpuid FUNCTION INDEX EAX EBX ECX EDX   one CPUID leaf (sub-leaf INDEX)
 *     msr INDEX VALUE                        an MSR read through /dev/cpu/0/msr
 *     msr INDEX unreadable                   an MSR that could not be read
 *     param MODULE NAME VALUE                /sys/module/MODULE/parameters/NAME
 *                                            (VALUE: the text, e.g. Y, N, 1)
 *     module NAME                            a loaded KVM module (kvm_intel, kvm_pvm …)
 *     kvm_dev 0|1                            /dev/kvm exists
 *     kvm_open 0|1                           /dev/kvm opens and answers KVM_GET_API_VERSION
 *     kvm_api N                              KVM_GET_API_VERSION (12)
 *     max_vcpus N                            KVM_CAP_MAX_VCPUS
 *     nr_vcpus N                             KVM_CAP_NR_VCPUS (recommended maximum)
 *
 * A fact given twice (same leaf, MSR, parameter or module) is an error, so
 * a file always means exactly one host.
 */
#ifndef MODVM_HOSTFACTS_H
#define MODVM_HOSTFACTS_H

#include <stdio.h>
#include "common.h"

MODVM_BEGIN_DECLS

#define MODVM_HOST_FACTS_MAX_CPUID 32
#define MODVM_HOST_FACTS_MAX_MSR 16
#define MODVM_HOST_FACTS_MAX_PARAM 32
#define MODVM_HOST_FACTS_MAX_MODULE 8
#define MODVM_HOST_FACTS_NAME 32	/* module, parameter and value texts, with the NUL */

/* MSRs the reader records (Intel: VMX capabilities; AMD: VM_CR). */
#define MODVM_MSR_IA32_FEATURE_CONTROL 0x3au
#define MODVM_MSR_IA32_VMX_BASIC 0x480u
#define MODVM_MSR_IA32_VMX_PINBASED_CTLS 0x481u
#define MODVM_MSR_IA32_VMX_PROCBASED_CTLS 0x482u
#define MODVM_MSR_IA32_VMX_PROCBASED_CTLS2 0x48bu
#define MODVM_MSR_IA32_VMX_EPT_VPID_CAP 0x48cu
#define MODVM_MSR_IA32_VMX_TRUE_PROCBASED_CTLS 0x48eu
#define MODVM_MSR_AMD_VM_CR 0xc0010114u

struct modvm_host_cpuid_leaf {
	uint32_t function, index;
	uint32_t eax, ebx, ecx, edx;
};

struct modvm_host_msr {
	uint32_t index;
	uint32_t readable;	/* 0: the read failed (no msr driver, #GP, no permission) */
	uint64_t value;		/* 0 when unreadable */
};

struct modvm_host_param {
	char module[MODVM_HOST_FACTS_NAME];
	char name[MODVM_HOST_FACTS_NAME];
	char value[MODVM_HOST_FACTS_NAME];	/* trailing newline removed */
};

/*
 * Plain data: no pointers, so it may be copied, compared with memcmp (every
 * unused byte is zero when built with the functions below) and published.
 * Entries are kept in insertion order; the live reader inserts in a fixed
 * order (CPUID ascending, MSRs by index, modules and parameters by name) so
 * two reads of one host record identical facts.
 */
struct modvm_host_facts {
	uint32_t struct_size;
	uint32_t n_cpuid, n_msr, n_param, n_module;
	struct modvm_host_cpuid_leaf cpuid[MODVM_HOST_FACTS_MAX_CPUID];
	struct modvm_host_msr msr[MODVM_HOST_FACTS_MAX_MSR];
	struct modvm_host_param param[MODVM_HOST_FACTS_MAX_PARAM];
	char module[MODVM_HOST_FACTS_MAX_MODULE][MODVM_HOST_FACTS_NAME];
	uint8_t kvm_dev;	/* /dev/kvm exists */
	uint8_t kvm_open;	/* it opened and answered KVM_GET_API_VERSION */
	uint8_t reserved[2];
	uint32_t kvm_api;	/* 0 unknown */
	uint32_t max_vcpus;	/* KVM_CAP_MAX_VCPUS, 0 unknown */
	uint32_t nr_vcpus;	/* KVM_CAP_NR_VCPUS, 0 unknown */
};

/* Zeroes @f and stamps struct_size: an empty host (no CPUID, no KVM). */
MODVM_EXPORT void modvm_host_facts_init(struct modvm_host_facts *f);

/*
 * Records the host this process runs on: CPUID through the CPUID
 * instruction, everything else through /dev, /sys and /proc.  Leaves
 * recorded: 0, 1, 7.0, 0x40000000 (only under a hypervisor), 0x80000000,
 * 0x80000001, 0x80000008, 0x8000000A, each only if the maximum leaf allows;
 * leaf 1 EBX[31:24] (the APIC ID of the CPU that happened to run the
 * reader) is recorded as 0 so that every read of a host is identical.
 * Modules: kvm and kvm_* from /proc/modules and /sys/module (built-in
 * modules appear only there).  Parameters: kvm_intel's ept, vpid,
 * unrestricted_guest, enable_apicv, nested, pml, flexpriority,
 * enable_shadow_vmcs; kvm_amd's npt, avic, nested, nrips, vgif, vls.  Missing
 * sources are facts too (an unreadable MSR, no /dev/kvm) and never an
 * error.  Returns 0 (or -ENOSPC if a fixed table overflowed, logged).
 */
MODVM_EXPORT int modvm_host_facts_read(struct modvm_host_facts *out);

/*
 * Like modvm_host_facts_read() with @root prefixed to every path
 * (ROOT/sys/module, ROOT/proc/modules, ROOT/dev/kvm, ROOT/dev/cpu/0/msr),
 * so a directory tree can stand in for a host.  With @root "/" (or NULL)
 * CPUID comes from the instruction; otherwise from ROOT/dev/cpu/0/cpuid,
 * read like Linux's cpuid driver (EAX..EDX, 16 bytes, at offset
 * INDEX << 32 | FUNCTION), and no leaves are recorded if it is missing.
 * MSRs come from ROOT/dev/cpu/0/msr like the msr driver (8 bytes at offset
 * INDEX).  A regular file can stand in for either driver: records would
 * overlap there, so each sits at its key × record size (16 × (INDEX << 32 |
 * FUNCTION), 8 × MSR) — a sparse file will do.
 */
MODVM_EXPORT int modvm_host_facts_read_at(const char *root, struct modvm_host_facts *out);

/*
 * Loads a facts file into @out.  Every malformed line is refused: logs
 * "PATH:LINE: what" and returns -EINVAL (the first bad line stops loading);
 * -ENOENT/-EACCES (logged "PATH: strerror") if it can't be opened.
 */
MODVM_EXPORT int modvm_host_facts_load(const char *path, struct modvm_host_facts *out);

/* Writes @f in the facts format (a leading comment included). 0 or -errno. */
MODVM_EXPORT int modvm_host_facts_write(const struct modvm_host_facts *f, FILE *out);
/* Writes @f to @path (replaced). 0 or -errno, logged "PATH: strerror". */
MODVM_EXPORT int modvm_host_facts_save(const struct modvm_host_facts *f, const char *path);

/*
 * Builders, used by the reader, the loader and tests.  Each refuses a
 * duplicate (-EEXIST), a full table (-ENOSPC) or a text that doesn't fit
 * MODVM_HOST_FACTS_NAME (-ENAMETOOLONG); nothing is logged.
 */
MODVM_EXPORT int modvm_host_facts_add_cpuid(struct modvm_host_facts *f,
					    const struct modvm_host_cpuid_leaf *leaf);
MODVM_EXPORT int modvm_host_facts_add_msr(struct modvm_host_facts *f, uint32_t index,
					  bool readable, uint64_t value);
MODVM_EXPORT int modvm_host_facts_add_param(struct modvm_host_facts *f, const char *module,
					    const char *name, const char *value);
MODVM_EXPORT int modvm_host_facts_add_module(struct modvm_host_facts *f, const char *name);

/* Look-ups for probes.  The recorded leaf, or NULL if it wasn't recorded. */
MODVM_EXPORT const struct modvm_host_cpuid_leaf *
modvm_host_facts_cpuid(const struct modvm_host_facts *f, uint32_t function, uint32_t index);
/* True with *value set if @index was recorded readable. */
MODVM_EXPORT bool modvm_host_facts_msr(const struct modvm_host_facts *f, uint32_t index,
				       uint64_t *value);
/* The parameter's text, or NULL if not recorded. */
MODVM_EXPORT const char *modvm_host_facts_param(const struct modvm_host_facts *f,
						const char *module, const char *name);
/*
 * A boolean parameter: 1 for "Y"/"y"/"1", 0 for "N"/"n"/"0", -1 if absent
 * or any other text (kvm's bool params print Y/N, older int ones 1/0).
 */
MODVM_EXPORT int modvm_host_facts_param_bool(const struct modvm_host_facts *f,
					     const char *module, const char *name);
MODVM_EXPORT bool modvm_host_facts_has_module(const struct modvm_host_facts *f,
					      const char *name);
/*
 * The 12-character vendor string of CPUID leaf 0 ("GenuineIntel",
 * "AuthenticAMD") into @buf (13 bytes); "" if leaf 0 wasn't recorded.
 */
MODVM_EXPORT const char *modvm_host_facts_vendor(const struct modvm_host_facts *f, char buf[13]);

MODVM_END_DECLS

#endif
