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
 *       "can_run_guests": bool,          (the verdict: "selected" is not null)
 *       "reason": "…" | null,            (why not, as modvm__backends_explain)
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
 * When no backend can run guests, the human form ends with a "verdict:"
 * line carrying the same reason.
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

/*
 * Why none of @n probes can run guests, in one line for a log message or
 * the report: "no CPU backend can run guests here. cpu-svm: …; to fix: ….
 * cpu-vmx: …".  Backends for this CPU's vendor come first (those whose
 * advice has no "vendor" entry), each with its advice as the fix; the
 * "use the other backend" advice is left out when that backend is listed.
 * Backends that could run (score > 0) are left out.
 */
MODVM_INTERNAL void modvm__backends_explain(const struct modvm_cpu_probe *probes, size_t n,
					    char *buf, size_t len);

/* The same report in a malloc'd string (*text, caller frees). 0 or -ENOMEM. */
MODVM_INTERNAL int modvm__caps_format(const struct modvm_cpu_probe *probes, size_t n,
				      int selected, bool json, char **text);

#endif
