/*
 * vmx_cpuid.h — cpu-vmx's guest CPUID policy, a pure function over an
 * array of KVM CPUID entries (unit-tested in tests/unit/cpuid).
 */
#ifndef MODVM_CPU_VMX_CPUID_H
#define MODVM_CPU_VMX_CPUID_H

#include <modvm/kvm.h>

/*
 * Edits KVM's supported CPUID (*nent entries, room for @cap) into one
 * vCPU's guest CPUID the Intel way: VMX (leaf 1 ECX[5]) hidden unless
 * topo->nested, SVM always hidden, the common leaf-1 fields, cores per
 * package in leaf 4, and extended topology in leaves 0xB (always, if the
 * basic range reaches it) and 0x1F (if KVM lists it).  0 or -ENOSPC.
 */
int vmx_guest_cpuid(struct kvm_cpuid_entry2 *ent, uint32_t *nent, uint32_t cap,
		    const struct modvm_kvm_cpuid_topo *topo);

#endif
