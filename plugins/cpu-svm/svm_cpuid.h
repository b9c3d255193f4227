/*
 * svm_cpuid.h — cpu-svm's guest CPUID policy, a pure function over an
 * array of KVM CPUID entries (unit-tested in tests/unit/cpuid).
 */
#ifndef MODVM_CPU_SVM_CPUID_H
#define MODVM_CPU_SVM_CPUID_H

#include <modvm/kvm.h>

/*
 * Edits KVM's supported CPUID (*nent entries, room for @cap) into one
 * vCPU's guest CPUID the AMD way: SVM (0x80000001 ECX[2]) hidden and leaf
 * 0x8000000A zeroed unless topo->nested, VMX always hidden, the common
 * leaf-1 fields, CmpLegacy, the core count in 0x80000008 ECX (NC and
 * ApicIdCoreIdSize) and the extended APIC id / core id in 0x8000001E (if
 * the extended range reaches it).  0 or -ENOSPC.
 */
int svm_guest_cpuid(struct kvm_cpuid_entry2 *ent, uint32_t *nent, uint32_t cap,
		    const struct modvm_kvm_cpuid_topo *topo);

#endif
