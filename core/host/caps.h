/*
 * core/caps.h — the `modvm caps` report: what each CPU backend found on
 * this host, for people (a table in the spirit of virt-host-validate) and
 * for scripts (--json).
 *
 * Internal: used by core/main.c and the in-tree tests, never by plugins.
 *
 * Human form, one block per backend:
 *
 *     cpu-svm (selected): score 10
 *       AMD, no SVM visible, KVM via kvm_pvm, SLAT: none (shadow paging)
 *       vendor:                  AMD
 *       hardware virtualization: no (SVM not visible)
 *       KVM module:              kvm_pvm
 *       SLAT:                    none (shadow paging)
 *       VPID/ASID:               no
 *       APICv/AVIC:              no
 *       nested:                  no
 *       unrestricted guest:      no
 *       max vCPUs:               710
 *       advice:
 *         SVM: SVM not visible: …
 *
 * JSON form (stable; fields are only ever added):
 *
 *     { "selected": "cpu-svm" | null,
 *       "backends": [
 *         { "backend": "cpu-svm", "selected": true, "score": 10, "usable": true,
 *           "summary": "…",
 *           "caps": { "vendor": "intel"|"amd"|"unknown",
 *                     "slat": "ept"|"npt"|"none",
 *                     "hw_virt": bool, "vpid": bool, "apic_virt": bool,
 *                     "nested": bool, "unrestricted_guest": bool,
 *                     "asid_count": N, "max_vcpus": N, "kvm_module": "…" },
 *           "advice": [ { "feature": "SVM", "remedy": "…" } ] } ] }
 *
 * "backend" is caps.backend (the plugin name).  Output is deterministic:
 * the same probes give the same bytes.
 */
#ifndef MODVM_CORE_CAPS_H
#define MODVM_CORE_CAPS_H

#include <stdio.h>
#include <modvm/cpu.h>
#include "base/base.h"

/*
 * Writes the report for @n probes to @out; @selected is the index of the
 * backend the core picked, or -1.  0, or -EIO if writing failed.
 */
MODVM_INTERNAL int modvm__caps_print(FILE *out, const struct modvm_cpu_probe *probes, size_t n,
				     int selected, bool json);

/* The same report in a malloc'd string (*text, caller frees). 0 or -ENOMEM. */
MODVM_INTERNAL int modvm__caps_format(const struct modvm_cpu_probe *probes, size_t n,
				      int selected, bool json, char **text);

#endif
