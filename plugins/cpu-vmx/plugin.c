/*
 * plugin.c — the cpu-vmx CPU backend.
 *
 * Thin by design: probing is vmx_probe() over the host's recorded facts,
 * the guest CPUID is vmx_guest_cpuid(), and every other vtable entry is
 * libmodvm's generic KVM backend (modvm/kvm.h).
 */
#include <string.h>

#include <modvm/kvm.h>
#include <modvm/log.h>
#include <modvm/plugin.h>

#include "vmx_cpuid.h"
#include "vmx_probe.h"

#define PLUGIN_NAME "cpu-vmx"

static const struct modvm_kvm_vendor vmx_vendor = {
	.struct_size = sizeof(struct modvm_kvm_vendor),
	.name = PLUGIN_NAME,
	.guest_cpuid = vmx_guest_cpuid,
	.probe_facts = vmx_probe,
};

static int vmx_backend_probe(struct modvm_plugin_ctx *ctx, struct modvm_cpu_probe *out)
{
	return modvm_kvm_backend_probe(&vmx_vendor, ctx, out);
}

static int vmx_vm_create(struct modvm_plugin_ctx *ctx, const struct modvm_cpu_vm_config *cfg,
			 struct modvm_cpu_vm **out)
{
	return modvm_kvm_backend_vm_create(&vmx_vendor, ctx, cfg, out);
}

static const struct modvm_cpu_backend vmx_backend = {
	.struct_size = sizeof(struct modvm_cpu_backend),
	.probe = vmx_backend_probe,
	.vm_create = vmx_vm_create,
	MODVM_KVM_BACKEND_COMMON
};

static const void *vmx_get_interface(struct modvm_plugin_ctx *ctx, const char *id)
{
	(void)ctx;
	if (id && strcmp(id, MODVM_CPU_BACKEND_IFACE) == 0)
		return &vmx_backend;
	return NULL;
}

MODVM_PLUGIN(.name = PLUGIN_NAME, .kind = MODVM_KIND_CPU_BACKEND, .version = "1.0.0",
	     .license = "MIT", .description = "Intel VT-x (VMX/EPT) guests through KVM",
	     .get_interface = vmx_get_interface);
