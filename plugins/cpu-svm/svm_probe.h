/*
 * svm_probe.h — what cpu-svm can do on a host, decided from recorded facts.
 *
 * A pure function of @facts (no I/O, no globals): the plugin feeds it
 * modvm_host_facts_read(), tests feed it fixtures of hosts they don't run
 * on.  The same facts always give the same probe, byte for byte.
 */
#ifndef MODVM_CPU_SVM_PROBE_H
#define MODVM_CPU_SVM_PROBE_H

#include <modvm/cpu.h>
#include <modvm/hostfacts.h>

/*
 * Fills @out (zeroed first; struct_size set).  score 0 when guests can't run
 * through this backend here: not an AMD CPU, or /dev/kvm missing or not
 * usable.  Otherwise 10 for KVM without AMD-V (e.g. kvm_pvm), +40 with
 * AMD-V through kvm_amd, +30 NPT, +6 ASIDs, +6 AVIC, +4 unrestricted guest
 * (always with AMD-V: SVM runs real mode natively).  Always returns 0.
 * caps describe the host as this backend sees it: hw_virt is the host's own
 * virtualization as visible in CPUID (VMX for an Intel host too), the
 * other fields what this backend would get.
 */
int svm_probe(const struct modvm_host_facts *facts, struct modvm_cpu_probe *out);

#endif
