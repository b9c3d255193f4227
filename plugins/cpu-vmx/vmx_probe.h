/*
 * vmx_probe.h — what cpu-vmx can do on a host, decided from recorded facts.
 *
 * A pure function of @facts (no I/O, no globals): the plugin feeds it
 * modvm_host_facts_read(), tests feed it fixtures of hosts they don't run
 * on.  The same facts always give the same probe, byte for byte.
 */
#ifndef MODVM_CPU_VMX_PROBE_H
#define MODVM_CPU_VMX_PROBE_H

#include <modvm/cpu.h>
#include <modvm/hostfacts.h>

/*
 * Fills @out (zeroed first; struct_size set).  score 0 when guests can't run
 * through this backend here: not an Intel CPU, or /dev/kvm missing or not
 * usable.  Otherwise 10 for KVM without VT-x (e.g. kvm_pvm), +40 with VT-x
 * through kvm_intel, +30 EPT, +6 VPID, +6 APICv, +4 unrestricted guest.
 * Always returns 0.
 * caps describe the host as this backend sees it: hw_virt is the host's own
 * virtualization as visible in CPUID (SVM for an AMD host too), the
 * other fields what this backend would get.
 */
int vmx_probe(const struct modvm_host_facts *facts, struct modvm_cpu_probe *out);

#endif
