/*
 * plugin.c — the cpu-svm CPU backend.
 *
 * Thin by design: probing is svm_probe() over the host's recorded facts,
 * the guest CPUID is svm_guest_cpuid(), and every other vtable entry is
 * libmodvm's generic KVM backend (modvm/kvm.h).
 */
#include <string.h>

#include <modvm/kvm.h>
#include <modvm/log.h>
#include <modvm/plugin.h>

#include "svm_cpuid.h"
#include "svm_probe.h"

#define PLUGIN_NAME "cpu-svm"

static const struct modvm_kvm_vendor svm_vendor = {
	.struct_size = sizeof(struct modvm_kvm_vendor),
	.name = PLUGIN_NAME,
	.guest_cpuid = svm_guest_cpuid,
	.probe_facts = svm_probe,
};

static int svm_backend_probe(struct modvm_plugin_ctx *ctx, struct modvm_cpu_probe *out)
{
	return modvm_kvm_backend_probe(&svm_vendor, ctx, out);
}

static int svm_vm_create(struct modvm_plugin_ctx *ctx, const struct modvm_cpu_vm_config *cfg,
			 struct modvm_cpu_vm **out)
{
	return modvm_kvm_backend_vm_create(&svm_vendor, ctx, cfg, out);
}

static const struct modvm_cpu_backend svm_backend = {
	.struct_size = sizeof(struct modvm_cpu_backend),
	.probe = svm_backend_probe,
	.vm_create = svm_vm_create,
	MODVM_KVM_BACKEND_COMMON
};

static const void *svm_get_interface(struct modvm_plugin_ctx *ctx, const char *id)
{
	(void)ctx;
	if (id && strcmp(id, MODVM_CPU_BACKEND_IFACE) == 0)
		return &svm_backend;
	return NULL;
}

MODVM_PLUGIN(.name = PLUGIN_NAME, .kind = MODVM_KIND_CPU_BACKEND, .version = "1.0.0",
	     .license = "MIT", .description = "AMD-V (SVM/NPT) guests through KVM",
	     .get_interface = svm_get_interface);
