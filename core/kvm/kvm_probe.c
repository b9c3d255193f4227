/*
 * The end every KVM vendor probe shares (modvm_kvm_probe_finish), and the
 * small pieces both vendors' feature probes use.  Pure functions of
 * recorded host facts: the probe tests run them on fixtures of Intel and
 * AMD hosts they don't run on.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <modvm/hostfacts.h>

#include "kvm/kvm.h"

MODVM_EXPORT void modvm_cpu_probe_advise(struct modvm_cpu_probe *out, const char *feature,
					 const char *fmt, ...)
{
	struct modvm_cpu_advice *a;
	va_list ap;

	if (out->n_advice >= MODVM_CPU_MAX_ADVICE)
		return;
	a = &out->advice[out->n_advice++];
	snprintf(a->feature, sizeof(a->feature), "%s", feature);
	va_start(ap, fmt);
	vsnprintf(a->remedy, sizeof(a->remedy), fmt, ap);
	va_end(ap);
}

MODVM_EXPORT enum modvm_kvm_feature modvm_kvm_feature_decide(int cpu, int param)
{
	if (cpu == 0)
		return MODVM_KVM_FEATURE_OFF_CPU;
	if (param == 0)
		return MODVM_KVM_FEATURE_OFF_PARAM;
	if (param == 1 || cpu == 1)
		return MODVM_KVM_FEATURE_ON;
	return MODVM_KVM_FEATURE_UNKNOWN;
}

MODVM_EXPORT const char *modvm_kvm_probe_module(const struct modvm_host_facts *f,
						const char *own, bool hw_usable)
{
	if (hw_usable && modvm_host_facts_has_module(f, own))
		return own;
	for (uint32_t i = 0; i < f->n_module && i < MODVM_HOST_FACTS_MAX_MODULE; i++) {
		const char *m = f->module[i];

		if (!strncmp(m, "kvm_", 4) && strcmp(m, "kvm_intel") && strcmp(m, "kvm_amd"))
			return m;
	}
	return "";
}

MODVM_EXPORT int modvm_kvm_probe_finish(const struct modvm_kvm_probe_vendor *v,
					const struct modvm_host_facts *f, bool visible,
					bool fw_off, bool in_vm, struct modvm_cpu_probe *out)
{
	struct modvm_cpu_caps *c = &out->caps;
	const char *module = modvm_kvm_probe_module(f, v->module, visible && !fw_off);
	bool hw_in_use = visible && !fw_off && !strcmp(module, v->module);
	char hw[64];

	c->hw_virt = visible;
	snprintf(c->kvm_module, sizeof(c->kvm_module), "%s", module);
	if (!visible)
		snprintf(hw, sizeof(hw), "no %s visible", v->feature);
	else if (fw_off)
		snprintf(hw, sizeof(hw), "%s disabled in firmware", v->feature);
	else
		snprintf(hw, sizeof(hw), "%s", v->feature);

	if (!visible && in_vm)
		modvm_cpu_probe_advise(out, v->feature,
				       "%s not visible: this host is a VM; expose %s to it (nested "
				       "virtualization on the outer host)", v->feature, v->feature);
	else if (!visible)
		modvm_cpu_probe_advise(out, v->feature, "%s not visible: %s", v->feature, v->enable);
	else if (fw_off)
		modvm_cpu_probe_advise(out, v->feature, "%s", v->fw_off);
	else if (!hw_in_use)
		modvm_cpu_probe_advise(out, "KVM", "%s not loaded%s%s%s: modprobe %s to use %s",
				       v->module, module[0] ? " (KVM via " : "", module,
				       module[0] ? ")" : "", v->module, v->tech);

	if (!f->kvm_dev || !f->kvm_open) {
		if (!f->kvm_dev && visible && !fw_off)
			modvm_cpu_probe_advise(out, "KVM", "/dev/kvm missing: load %s (modprobe %s)",
					       v->module, v->module);
		else if (!f->kvm_dev)
			modvm_cpu_probe_advise(out, "KVM",
					       "/dev/kvm missing: no KVM module provides it");
		else
			modvm_cpu_probe_advise(out, "KVM", "/dev/kvm exists but does not open: run as "
					       "root or join the kvm group (adduser USER kvm, then log "
					       "in again)");
		snprintf(out->summary, sizeof(out->summary), "%s, %s, %s: cannot run guests",
			 v->vendor, hw, f->kvm_dev ? "/dev/kvm not accessible" : "/dev/kvm missing");
		return 0;
	}

	if (hw_in_use && v->features)
		v->features(f, in_vm, out);
	out->score = 10 + (hw_in_use ? 40 : 0) + (c->slat ? 30 : 0) + (c->vpid ? 6 : 0) +
		     (c->apic_virt ? 6 : 0) + (c->unrestricted_guest ? 4 : 0);
	snprintf(out->summary, sizeof(out->summary), "%s, %s, KVM via %s, SLAT: %s", v->vendor, hw,
		 module[0] ? module : "an unknown module",
		 c->slat != MODVM_SLAT_NONE ? v->slat : "none (shadow paging)");
	return 0;
}
