/*
 * kvm_cpuid.c — pure helpers over kvm_cpuid_entry2 arrays for the vendor
 * guest-CPUID policies.  No ioctls here, so everything is unit-testable.
 *
 * The guest topology is always one socket of `vcpus` cores with one thread
 * each, and a vCPU's APIC id is its index.
 */
#include <errno.h>
#include <string.h>

#include "kvm/kvm.h"

MODVM_EXPORT struct kvm_cpuid_entry2 *modvm_kvm_cpuid_find(struct kvm_cpuid_entry2 *ent,
							   uint32_t nent, uint32_t function,
							   uint32_t index)
{
	for (uint32_t i = 0; i < nent; i++) {
		if (ent[i].function != function)
			continue;
		if (!(ent[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || ent[i].index == index)
			return &ent[i];
	}
	return NULL;
}

MODVM_EXPORT struct kvm_cpuid_entry2 *modvm_kvm_cpuid_get(struct kvm_cpuid_entry2 *ent,
							  uint32_t *nent, uint32_t cap,
							  uint32_t function, uint32_t index,
							  bool indexed)
{
	struct kvm_cpuid_entry2 *e = modvm_kvm_cpuid_find(ent, *nent, function, index);
	if (e)
		return e;
	if (*nent >= cap)
		return NULL;
	e = &ent[(*nent)++];
	memset(e, 0, sizeof(*e));
	e->function = function;
	e->index = index;
	e->flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
	return e;
}

MODVM_EXPORT void modvm_kvm_cpuid_remove(struct kvm_cpuid_entry2 *ent, uint32_t *nent,
					 uint32_t function)
{
	uint32_t w = 0;
	for (uint32_t r = 0; r < *nent; r++)
		if (ent[r].function != function)
			ent[w++] = ent[r];
	*nent = w;
}

MODVM_EXPORT uint32_t modvm_kvm_cpuid_order(uint32_t n)
{
	uint32_t o = 0;
	while (o < 32 && (1ull << o) < n)
		o++;
	return o;
}

MODVM_EXPORT int modvm_kvm_cpuid_ext_topology(struct kvm_cpuid_entry2 *ent, uint32_t *nent,
					      uint32_t cap, uint32_t leaf,
					      const struct modvm_kvm_cpuid_topo *topo)
{
	/* KVM lists some subleaves of its own; ours replace all of them. */
	modvm_kvm_cpuid_remove(ent, nent, leaf);
	if (*nent + 3 > cap)
		return -ENOSPC;
	const struct {
		uint32_t eax, ebx, ecx;
	} level[3] = {
		/* SMT: one thread per core, so no APIC-id bits. */
		{ 0, 1, 0 | (1u << 8) },
		/* Core: every vCPU of the socket; the shift covers them all. */
		{ modvm_kvm_cpuid_order(topo->vcpus), topo->vcpus & 0xffff, 1 | (2u << 8) },
		/* Invalid level: ends the enumeration. */
		{ 0, 0, 2 },
	};
	for (uint32_t i = 0; i < 3; i++) {
		struct kvm_cpuid_entry2 *e = &ent[(*nent)++];
		memset(e, 0, sizeof(*e));
		e->function = leaf;
		e->index = i;
		e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		e->eax = level[i].eax;
		e->ebx = level[i].ebx;
		e->ecx = level[i].ecx;
		e->edx = topo->apic_id;
	}
	return 0;
}

MODVM_EXPORT int modvm_kvm_cpuid_common(struct kvm_cpuid_entry2 *ent, uint32_t *nent,
					uint32_t cap, const struct modvm_kvm_cpuid_topo *topo)
{
	if (topo->vcpus == 0)
		return -EINVAL;
	struct kvm_cpuid_entry2 *l1 = modvm_kvm_cpuid_get(ent, nent, cap, 1, 0, false);
	if (!l1)
		return -ENOSPC;
	uint32_t count = topo->vcpus > 255 ? 255 : topo->vcpus;
	l1->ebx = (l1->ebx & 0x0000ffffu) | ((topo->apic_id & 0xffu) << 24) | (count << 16);
	if (topo->vcpus > 1)
		l1->edx |= 1u << 28;	/* HTT: the count field is valid */
	else
		l1->edx &= ~(1u << 28);
	l1->ecx |= 1u << 31;		/* running under a hypervisor */

	static const uint32_t topo_leaves[] = { 0xb, 0x1f };
	for (unsigned i = 0; i < 2; i++) {
		if (!modvm_kvm_cpuid_find(ent, *nent, topo_leaves[i], 0))
			continue;
		int rc = modvm_kvm_cpuid_ext_topology(ent, nent, cap, topo_leaves[i], topo);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* CPUID bits the fixups touch (Intel SDM vol. 2, KVM's api.rst / cpuid.rst). */
#define XFEATURE_XTILECFG (1u << 17)
#define XFEATURE_XTILEDATA (1u << 18)
#define L7_EDX_AMX (1u << 22 | 1u << 24 | 1u << 25)	/* AMX-BF16, AMX-TILE, AMX-INT8 */
#define L1_ECX_X2APIC (1u << 21)
#define L1_ECX_TSC_DEADLINE (1u << 24)
#define KVM_LEAF_FEATURES 0x40000001u
#define KVM_PV_UNHALT (1u << 7)

MODVM_INTERNAL void modvm__kvm_cpuid_vm_fixups(struct kvm_cpuid_entry2 *ent, uint32_t *nent,
					       bool irqchip, bool tsc_deadline)
{
	struct kvm_cpuid_entry2 *xs = modvm_kvm_cpuid_find(ent, *nent, 0xd, 0);
	if (xs && !(xs->eax & XFEATURE_XTILECFG) != !(xs->eax & XFEATURE_XTILEDATA)) {
		struct kvm_cpuid_entry2 *l7 = modvm_kvm_cpuid_find(ent, *nent, 7, 0);

		xs->eax &= ~(XFEATURE_XTILECFG | XFEATURE_XTILEDATA);
		if (l7)
			l7->edx &= ~L7_EDX_AMX;
		modvm_kvm_cpuid_remove(ent, nent, 0x1d);
		modvm_kvm_cpuid_remove(ent, nent, 0x1e);
		uint32_t w = 0;
		for (uint32_t r = 0; r < *nent; r++)
			if (ent[r].function != 0xd || (ent[r].index != 17 && ent[r].index != 18))
				ent[w++] = ent[r];
		*nent = w;
	}
	struct kvm_cpuid_entry2 *l1 = modvm_kvm_cpuid_find(ent, *nent, 1, 0);
	struct kvm_cpuid_entry2 *pv = modvm_kvm_cpuid_find(ent, *nent, KVM_LEAF_FEATURES, 0);
	if (l1 && irqchip && tsc_deadline)
		l1->ecx |= L1_ECX_TSC_DEADLINE;
	if (!irqchip) {
		if (l1)
			l1->ecx &= ~(L1_ECX_X2APIC | L1_ECX_TSC_DEADLINE);
		if (pv)
			pv->eax &= ~KVM_PV_UNHALT;
	}
}
