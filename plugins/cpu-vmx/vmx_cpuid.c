/*
 * vmx_cpuid.c — the guest CPUID an Intel guest sees through cpu-vmx.
 *
 * Topology: one socket, topo->vcpus cores, one thread per core; Intel
 * guests read it from leaf 0xB/0x1F (x2APIC ids) and leaf 4 (cores per
 * package), so those are what we fill.
 */
#include <errno.h>

#include "vmx_cpuid.h"

#define L1_ECX_VMX (1u << 5)
#define EXT1_ECX_SVM (1u << 2)

/* Leaf 4: EAX[31:26] cores per package - 1, EAX[25:14] threads sharing - 1. */
static void fill_leaf4(struct kvm_cpuid_entry2 *ent, uint32_t nent, uint32_t vcpus)
{
	uint32_t cores = (vcpus > 64 ? 64 : vcpus) - 1;
	for (uint32_t i = 0; i < nent; i++) {
		struct kvm_cpuid_entry2 *e = &ent[i];
		if (e->function != 4 || (e->eax & 0x1f) == 0)
			continue;	/* not leaf 4, or its "no more caches" subleaf */
		uint32_t level = (e->eax >> 5) & 7;
		/* L1/L2 are per core; the last level is shared by the socket. */
		uint32_t sharing = level >= 3 ? (vcpus > 4096 ? 4095 : vcpus - 1) : 0;
		e->eax = (e->eax & 0x00003fffu) | (sharing << 14) | (cores << 26);
	}
}

int vmx_guest_cpuid(struct kvm_cpuid_entry2 *ent, uint32_t *nent, uint32_t cap,
		    const struct modvm_kvm_cpuid_topo *topo)
{
	int rc = modvm_kvm_cpuid_common(ent, nent, cap, topo);
	if (rc < 0)
		return rc;

	struct kvm_cpuid_entry2 *l1 = modvm_kvm_cpuid_find(ent, *nent, 1, 0);
	if (l1 && !topo->nested)
		l1->ecx &= ~L1_ECX_VMX;
	/* Never the other vendor's extension, whatever KVM reports. */
	struct kvm_cpuid_entry2 *x1 = modvm_kvm_cpuid_find(ent, *nent, 0x80000001u, 0);
	if (x1)
		x1->ecx &= ~EXT1_ECX_SVM;

	fill_leaf4(ent, *nent, topo->vcpus);

	/* Intel guests need 0xB for x2APIC ids even if KVM didn't list it. */
	struct kvm_cpuid_entry2 *l0 = modvm_kvm_cpuid_find(ent, *nent, 0, 0);
	if (l0 && l0->eax >= 0xb && !modvm_kvm_cpuid_find(ent, *nent, 0xb, 0)) {
		rc = modvm_kvm_cpuid_ext_topology(ent, nent, cap, 0xb, topo);
		if (rc < 0)
			return rc;
	}
	return 0;
}
