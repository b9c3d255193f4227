/* guest_kvm.h — guest code of test_kvm_live. */
#ifndef GUEST_KVM_H
#define GUEST_KVM_H

#include <stdint.h>

/* SYNCs EAX, EBX, ECX, EDX of CPUID leaf (arg >> 32), subleaf (uint32_t)arg. */
void guest_cpuid(uint64_t arg);

/* CPL3: one 4-byte write to guest address arg, then SYNC(0) and DONE. */
void guest_write_then_sync(uint64_t arg);

#endif
