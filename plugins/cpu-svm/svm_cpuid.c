/*
 * svm_cpuid.c — the guest CPUID an AMD guest sees through cpu-svm.
 *
 * Topology: one socket, topo->vcpus cores, one thread per core; AMD guests
 * read the core count from 0x80000008 ECX and the APIC/core ids from
 * 0x8000001E, so those are what we fill (plus 0xB when KVM lists it, done
 * by the common part, as Zen 2+ hosts do), and the cache topology in
 * 0x8000001D, which KVM passes through from the host.
 */
#include <errno.h>

#include "svm_cpuid.h"

#define L1_ECX_VMX (1u << 5)
#define EXT1_ECX_CMP_LEGACY (1u << 1)
#define EXT1_ECX_SVM (1u << 2)

/* 0x8000001D: EAX[25:14] threads sharing the cache - 1.  KVM gives the
 * host's (an L3 shared by 16 threads on Milan); the guest's L1/L2 are per
 * vCPU and its last level shared by all, as in cpu-vmx's leaf 4. */
static void fill_cache_topology(struct kvm_cpuid_entry2 *ent, uint32_t nent, uint32_t vcpus)
{
	for (uint32_t i = 0; i < nent; i++) {
		struct kvm_cpuid_entry2 *e = &ent[i];
		if (e->function != 0x8000001du || (e->eax & 0x1f) == 0)
			continue;	/* not the leaf, or its "no more caches" subleaf */
		uint32_t level = (e->eax >> 5) & 7;
		uint32_t sharing = level >= 3 ? (vcpus > 4096 ? 4095 : vcpus - 1) : 0;
		e->eax = (e->eax & ~(0xfffu << 14)) | (sharing << 14);
	}
}

int svm_guest_cpuid(struct kvm_cpuid_entry2 *ent, uint32_t *nent, uint32_t cap,
		    const struct modvm_kvm_cpuid_topo *topo)
{
	int rc = modvm_kvm_cpuid_common(ent, nent, cap, topo);
	if (rc < 0)
		return rc;

	struct kvm_cpuid_entry2 *l1 = modvm_kvm_cpuid_find(ent, *nent, 1, 0);
	if (l1)
		l1->ecx &= ~L1_ECX_VMX;	/* never the other vendor's extension */

	struct kvm_cpuid_entry2 *x1 = modvm_kvm_cpuid_find(ent, *nent, 0x80000001u, 0);
	if (x1) {
		if (!topo->nested)
			x1->ecx &= ~EXT1_ECX_SVM;
		/* CmpLegacy: the leaf-1 count is cores, not hyperthreads. */
		if (topo->vcpus > 1)
			x1->ecx |= EXT1_ECX_CMP_LEGACY;
		else
			x1->ecx &= ~EXT1_ECX_CMP_LEGACY;
	}
	if (!topo->nested) {
		/* The SVM feature leaf means nothing without SVM. */
		struct kvm_cpuid_entry2 *svm = modvm_kvm_cpuid_find(ent, *nent, 0x8000000au, 0);
		if (svm)
			svm->eax = svm->ebx = svm->ecx = svm->edx = 0;
	}

	uint32_t order = modvm_kvm_cpuid_order(topo->vcpus);
	struct kvm_cpuid_entry2 *x8 = modvm_kvm_cpuid_find(ent, *nent, 0x80000008u, 0);
	if (x8) {
		uint32_t nc = (topo->vcpus > 256 ? 256 : topo->vcpus) - 1;
		/* NC in [7:0], ApicIdCoreIdSize in [15:12]; the rest is KVM's. */
		x8->ecx = (x8->ecx & ~0x0000f0ffu) | nc | ((order & 0xf) << 12);
	}
	fill_cache_topology(ent, *nent, topo->vcpus);

	struct kvm_cpuid_entry2 *x0 = modvm_kvm_cpuid_find(ent, *nent, 0x80000000u, 0);
	if (x0 && x0->eax >= 0x8000001eu) {
		struct kvm_cpuid_entry2 *x1e =
			modvm_kvm_cpuid_get(ent, nent, cap, 0x8000001eu, 0, false);
		if (!x1e)
			return -ENOSPC;
		x1e->eax = topo->apic_id;		/* extended APIC id */
		x1e->ebx = topo->apic_id & 0xffu;	/* core id; 1 thread per core */
		x1e->ecx = 0;				/* node 0, one node per socket */
		x1e->edx = 0;
	}
	return 0;
}
