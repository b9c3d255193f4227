/*
 * kvm_backend.c — the generic KVM CPU backend.  Vendor plugins supply a
 * probe and a guest-CPUID policy (struct modvm_kvm_vendor); everything else
 * in their vtable is this file (MODVM_KVM_BACKEND_COMMON).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <modvm/hostfacts.h>
#include "kvm/kvm.h"
#include <modvm/log.h>
#include <modvm/plugin.h>

/* Room for the leaves a policy may add to KVM's list (0xB, 0x1F, 0x8000001E …). */
#define CPUID_EXTRA 16
/* Where Intel's vm86 TSS goes (KVM_SET_TSS_ADDR): as Firecracker and kvmtool. */
#define TSS_ADDR 0xfffbd000ul

struct modvm_cpu_vm {
	const struct modvm_kvm_vendor *vendor;
	struct modvm_plugin_ctx *ctx;	/* may be NULL (tests) */
	int kvm_fd;
	int vm_fd;
	uint32_t vcpus;
	bool nested;
	bool irqchip;
	struct kvm_cpuid2 *supported;	/* template, with CPUID_EXTRA spare entries */
};

struct modvm_cpu_vcpu {
	struct modvm_cpu_vm *vm;
	struct modvm_kvm_vcpu kv;
};

MODVM_PRINTF(4, 5)
static void vlog(const struct modvm_kvm_vendor *vendor, struct modvm_plugin_ctx *ctx,
		 enum modvm_log_level level, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (ctx)
		modvm_plugin_log(ctx, level, "%s", line);
	else
		modvm_log(level, vendor && vendor->name ? vendor->name : "kvm", "%s", line);
}

/*
 * kvm_amd runs with AVIC (read by the probe, before the sandbox closes
 * /sys).  A PIT that reinjects lost ticks, KVM's default, inhibits AVIC
 * for the VM's whole life (i8254.c: APICV_INHIBIT_REASON_PIT_REINJ, which
 * SVM requires; VMX does not): with AVIC the PIT discards them instead, as
 * QEMU's lost_tick_policy=discard.  Guests time by the LAPIC or kvmclock.
 */
static bool avic_host;

MODVM_EXPORT int modvm_kvm_backend_probe(const struct modvm_kvm_vendor *vendor,
					 struct modvm_plugin_ctx *ctx,
					 struct modvm_cpu_probe *out)
{
	struct modvm_host_facts facts;
	int rc = modvm_host_facts_read(&facts);

	if (rc < 0 || !vendor->probe_facts) {
		memset(out, 0, sizeof(*out));
		out->struct_size = sizeof(*out);
		snprintf(out->summary, sizeof(out->summary), "cannot read host facts: %s",
			 modvm_strerror(rc < 0 ? rc : -ENOSYS));
		if (ctx)
			modvm_plugin_log(ctx, MODVM_LOG_WARN, "%s", out->summary);
		else
			modvm_log(MODVM_LOG_WARN, vendor->name, "%s", out->summary);
		return 0;
	}
	if (modvm_host_facts_param_bool(&facts, "kvm_amd", "avic") == 1)
		__atomic_store_n(&avic_host, true, __ATOMIC_RELAXED);
	return vendor->probe_facts(&facts, out);
}

MODVM_EXPORT int modvm_kvm_backend_vm_create(const struct modvm_kvm_vendor *vendor,
					     struct modvm_plugin_ctx *ctx,
					     const struct modvm_cpu_vm_config *cfg,
					     struct modvm_cpu_vm **out)
{
	int rc;
	*out = NULL;
	if (!vendor || !vendor->guest_cpuid || !cfg ||
	    cfg->struct_size < offsetof(struct modvm_cpu_vm_config, irqchip) + sizeof(bool))
		return -EINVAL;
	if (cfg->vcpus == 0) {
		vlog(vendor, ctx, MODVM_LOG_ERROR, "vcpus = 0: a VM needs at least one vCPU");
		return -EINVAL;
	}

	struct modvm_cpu_vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->vendor = vendor;
	vm->ctx = ctx;
	vm->vcpus = cfg->vcpus;
	vm->nested = cfg->nested;
	vm->irqchip = cfg->irqchip;
	vm->vm_fd = -1;

	vm->kvm_fd = modvm_kvm_open();
	if (vm->kvm_fd < 0) {
		rc = vm->kvm_fd;
		goto free_vm;
	}
	int max = modvm_kvm_max_vcpus(vm->kvm_fd);
	if (cfg->vcpus > (uint32_t)max) {
		vlog(vendor, ctx, MODVM_LOG_ERROR,
		     "vcpus = %u: this host's KVM allows at most %d (KVM_CAP_MAX_VCPUS)",
		     cfg->vcpus, max);
		rc = -E2BIG;
		goto close_kvm;
	}
	vm->vm_fd = modvm_kvm_vm_create(vm->kvm_fd);
	if (vm->vm_fd < 0) {
		rc = vm->vm_fd;
		goto close_kvm;
	}
	/* Required on Intel (api.rst): without unrestricted guest, real mode
	 * (an AP's start, a reset) runs in vm86 with its TSS here.  3 pages
	 * below 4 GiB, past every device window; a no-op on AMD. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, TSS_ADDR) < 0)
		vlog(vendor, ctx, MODVM_LOG_WARN, "KVM_SET_TSS_ADDR failed: %s", strerror(errno));
	if (cfg->irqchip) {
		rc = modvm_kvm_create_irqchip(vm->vm_fd);
		if (rc < 0) {
			vlog(vendor, ctx, MODVM_LOG_ERROR, "KVM_CREATE_IRQCHIP failed: %s",
			     strerror(-rc));
			goto close_vm;
		}
		rc = modvm_kvm_create_pit2(vm->vm_fd);
		if (rc < 0) {
			vlog(vendor, ctx, MODVM_LOG_ERROR, "KVM_CREATE_PIT2 failed: %s",
			     strerror(-rc));
			goto close_vm;
		}
		struct kvm_reinject_control discard = { .pit_reinject = 0 };
		if (__atomic_load_n(&avic_host, __ATOMIC_RELAXED) &&
		    ioctl(vm->vm_fd, KVM_REINJECT_CONTROL, &discard) < 0)
			vlog(vendor, ctx, MODVM_LOG_WARN, "KVM_REINJECT_CONTROL failed (%s): the PIT "
			     "keeps AVIC off for this VM", strerror(errno));
	}
	rc = modvm_kvm_get_supported_cpuid(vm->kvm_fd, CPUID_EXTRA, &vm->supported);
	if (rc < 0)
		goto close_vm;
	bool deadline = cfg->irqchip &&
			modvm_kvm_check_extension(vm->kvm_fd, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	modvm__kvm_cpuid_vm_fixups(vm->supported->entries, &vm->supported->nent, cfg->irqchip,
				   deadline);
	*out = vm;
	return 0;

close_vm:
	close(vm->vm_fd);
close_kvm:
	close(vm->kvm_fd);
free_vm:
	free(vm);
	return rc;
}

MODVM_EXPORT int modvm_kvm_backend_vm_fd(const struct modvm_cpu_vm *vm)
{
	return vm->vm_fd;
}

MODVM_EXPORT int modvm_kvm_backend_vcpu_fd(const struct modvm_cpu_vcpu *vcpu)
{
	return vcpu->kv.fd;
}

MODVM_EXPORT void modvm_kvm_backend_vm_destroy(struct modvm_cpu_vm *vm)
{
	if (!vm)
		return;
	free(vm->supported);
	close(vm->vm_fd);
	close(vm->kvm_fd);
	free(vm);
}

MODVM_EXPORT int modvm_kvm_backend_set_memory(struct modvm_cpu_vm *vm, uint32_t slot,
					      uint64_t gpa, uint64_t size, void *hva)
{
	int rc = modvm_kvm_set_user_memory(vm->vm_fd, slot, 0, gpa, size, hva);
	if (rc < 0)
		vlog(vm->vendor, vm->ctx, MODVM_LOG_ERROR,
		     "memory slot %u (gpa 0x%llx, %llu bytes): KVM_SET_USER_MEMORY_REGION failed: %s",
		     slot, (unsigned long long)gpa, (unsigned long long)size, strerror(-rc));
	return rc;
}

/* Builds this vCPU's CPUID from the template with the vendor policy and sets it. */
static int vcpu_set_cpuid(struct modvm_cpu_vm *vm, struct modvm_cpu_vcpu *vcpu, uint32_t index)
{
	uint32_t cap = vm->supported->nent + CPUID_EXTRA;
	struct kvm_cpuid2 *c = malloc(sizeof(*c) + cap * sizeof(struct kvm_cpuid_entry2));
	if (!c)
		return -ENOMEM;
	memcpy(c, vm->supported,
	       sizeof(*c) + vm->supported->nent * sizeof(struct kvm_cpuid_entry2));
	struct modvm_kvm_cpuid_topo topo = {
		.vcpus = vm->vcpus,
		.apic_id = index,
		.nested = vm->nested,
	};
	uint32_t nent = c->nent;
	int rc = vm->vendor->guest_cpuid(c->entries, &nent, cap, &topo);
	if (rc < 0) {
		vlog(vm->vendor, vm->ctx, MODVM_LOG_ERROR, "vCPU %u: guest CPUID policy failed: %s",
		     index, strerror(-rc));
		goto free_c;
	}
	c->nent = nent;
	rc = modvm_kvm_set_cpuid(vcpu->kv.fd, c);
	if (rc < 0)
		vlog(vm->vendor, vm->ctx, MODVM_LOG_ERROR, "vCPU %u: KVM_SET_CPUID2 failed: %s",
		     index, strerror(-rc));
free_c:
	free(c);
	return rc;
}

MODVM_EXPORT int modvm_kvm_backend_vcpu_create(struct modvm_cpu_vm *vm, uint32_t index,
					       struct modvm_cpu_vcpu **out)
{
	*out = NULL;
	if (index >= vm->vcpus) {
		vlog(vm->vendor, vm->ctx, MODVM_LOG_ERROR,
		     "vCPU index %u out of range: the VM was created with %u vCPUs", index,
		     vm->vcpus);
		return -EINVAL;
	}
	struct modvm_cpu_vcpu *vcpu = calloc(1, sizeof(*vcpu));
	if (!vcpu)
		return -ENOMEM;
	vcpu->vm = vm;
	int rc = modvm_kvm_vcpu_open(vm->kvm_fd, vm->vm_fd, index, &vcpu->kv);
	if (rc < 0) {
		vlog(vm->vendor, vm->ctx, MODVM_LOG_ERROR, "vCPU %u: creation failed: %s", index,
		     strerror(-rc));
		goto free_vcpu;
	}
	rc = vcpu_set_cpuid(vm, vcpu, index);
	if (rc < 0)
		goto close_vcpu;
	*out = vcpu;
	return 0;

close_vcpu:
	modvm_kvm_vcpu_close(&vcpu->kv);
free_vcpu:
	free(vcpu);
	return rc;
}

MODVM_EXPORT void modvm_kvm_backend_vcpu_destroy(struct modvm_cpu_vcpu *vcpu)
{
	if (!vcpu)
		return;
	modvm_kvm_vcpu_close(&vcpu->kv);
	free(vcpu);
}

MODVM_EXPORT int modvm_kvm_backend_vcpu_run(struct modvm_cpu_vcpu *vcpu,
					    struct modvm_cpu_exit *exit)
{
	return modvm_kvm_vcpu_run(&vcpu->kv, exit);
}

MODVM_EXPORT void modvm_kvm_backend_vcpu_kick(struct modvm_cpu_vcpu *vcpu)
{
	modvm_kvm_vcpu_kick(&vcpu->kv);
}

MODVM_EXPORT int modvm_kvm_backend_get_regs(struct modvm_cpu_vcpu *vcpu, struct modvm_regs *regs)
{
	return modvm_kvm_get_regs(vcpu->kv.fd, regs);
}

MODVM_EXPORT int modvm_kvm_backend_set_regs(struct modvm_cpu_vcpu *vcpu,
					    const struct modvm_regs *regs)
{
	return modvm_kvm_set_regs(vcpu->kv.fd, regs);
}

MODVM_EXPORT int modvm_kvm_backend_get_sregs(struct modvm_cpu_vcpu *vcpu,
					     struct modvm_sregs *sregs)
{
	return modvm_kvm_get_sregs(vcpu->kv.fd, sregs);
}

MODVM_EXPORT int modvm_kvm_backend_set_sregs(struct modvm_cpu_vcpu *vcpu,
					     const struct modvm_sregs *sregs)
{
	return modvm_kvm_set_sregs(vcpu->kv.fd, sregs);
}

MODVM_EXPORT int modvm_kvm_backend_irq_line(struct modvm_cpu_vm *vm, uint32_t gsi, bool level)
{
	if (!vm->irqchip)
		return -ENOTSUP;
	return modvm_kvm_irq_line(vm->vm_fd, gsi, level);
}

MODVM_EXPORT int modvm_kvm_backend_signal_msi(struct modvm_cpu_vm *vm, uint64_t addr,
					      uint32_t data)
{
	if (!vm->irqchip)
		return -ENOTSUP;
	int rc = modvm_kvm_signal_msi(vm->vm_fd, addr, data);
	return rc < 0 ? rc : 0;
}

MODVM_EXPORT int modvm_kvm_backend_irqfd(struct modvm_cpu_vm *vm, uint32_t gsi, int fd,
					 bool assign)
{
	if (!vm->irqchip)
		return -ENOTSUP;
	return modvm_kvm_irqfd(vm->vm_fd, gsi, fd, assign);
}

MODVM_EXPORT int modvm_kvm_backend_ioeventfd(struct modvm_cpu_vm *vm, uint64_t addr, uint32_t len,
					     bool pio, int fd, bool assign)
{
	return modvm_kvm_ioeventfd(vm->vm_fd, addr, len, pio, fd, assign);
}

MODVM_EXPORT int modvm_kvm_backend_vcpu_halted(struct modvm_cpu_vcpu *vcpu)
{
	struct kvm_mp_state mp;
	struct modvm_regs regs;

	if (ioctl(vcpu->kv.fd, KVM_GET_MP_STATE, &mp) < 0)
		return -errno;
	/* An AP that never got its SIPI cannot run unless another vCPU sends one. */
	if (mp.mp_state == KVM_MP_STATE_UNINITIALIZED || mp.mp_state == KVM_MP_STATE_INIT_RECEIVED)
		return 1;
	if (mp.mp_state != KVM_MP_STATE_HALTED)
		return 0;
	int r = modvm_kvm_get_regs(vcpu->kv.fd, &regs);
	if (r < 0)
		return r;
	return !(regs.rflags & (1u << 9));	/* IF */
}
