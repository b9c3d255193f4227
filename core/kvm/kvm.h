/*
 * core/kvm/ — the KVM plumbing both vendor CPU backends share, exported
 * to plugins as modvm/kvm.h: /dev/kvm and VM fds (kvm.c), vCPUs and their
 * registers (kvm_vcpu.c), guest CPUID (kvm_cpuid.c), the end every vendor
 * probe shares (kvm_probe.c) and a CPU-backend vtable built on them
 * (kvm_backend.c).  The core never calls it: it
 * knows only the CPU-backend interface (modvm/cpu.h), which is what lets
 * tests run the VM runtime on a fake backend.  Uses base/, hostfacts/
 * and the plugin context calls (plugin/).
 */
#ifndef MODVM_CORE_KVM_H
#define MODVM_CORE_KVM_H

#include <modvm/kvm.h>

#include "base/base.h"

/*
 * What the VM as a whole makes of KVM_GET_SUPPORTED_CPUID's list (@ent,
 * *@nent entries), before any vendor policy:
 *  - AMX half reported (XTILECFG without XTILEDATA in 0xD.0: host kernels
 *    5.17-6.3 without the guest permission) is taken out whole, since a
 *    guest's XSETBV faults on it (kernel commit 55cd57b596e8);
 *  - with the in-kernel irqchip and KVM_CAP_TSC_DEADLINE_TIMER
 *    (@tsc_deadline), the TSC-deadline timer, which KVM does not list
 *    itself (api.rst, before Linux 6.14);
 *  - without the in-kernel irqchip, x2APIC and PV_UNHALT, which need it.
 */
MODVM_INTERNAL void modvm__kvm_cpuid_vm_fixups(struct kvm_cpuid_entry2 *ent, uint32_t *nent,
					       bool irqchip, bool tsc_deadline);

#endif
