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

#endif
