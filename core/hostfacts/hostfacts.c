/*
 * Host facts: a host (CPUID, VMX MSRs, KVM module parameters, /dev/kvm)
 * recorded as plain data.  Backends probe facts, never the live host, so
 * every probe decision is testable with fixtures of hosts we don't have.
 * This file builds and looks up the table; hostfacts_live.c reads a live
 * host into it, hostfacts_file.c saves and loads it as text.
 */
#include <errno.h>
#include <string.h>

#include <modvm/hostfacts.h>
#include "hostfacts/hostfacts.h"

/* ---- builders and look-ups ---- */

MODVM_EXPORT void modvm_host_facts_init(struct modvm_host_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->struct_size = sizeof(*f);
}

/* Copies @src into a zero-padded field, so facts compare with memcmp. */
static int copy_name(char dst[MODVM_HOST_FACTS_NAME], const char *src)
{
	size_t n = strlen(src);

	if (n == 0 || n >= MODVM_HOST_FACTS_NAME)
		return n ? -ENAMETOOLONG : -EINVAL;
	memset(dst, 0, MODVM_HOST_FACTS_NAME);
	memcpy(dst, src, n);
	return 0;
}

MODVM_EXPORT int modvm_host_facts_add_cpuid(struct modvm_host_facts *f,
					    const struct modvm_host_cpuid_leaf *leaf)
{
	if (modvm_host_facts_cpuid(f, leaf->function, leaf->index))
		return -EEXIST;
	if (f->n_cpuid >= MODVM_HOST_FACTS_MAX_CPUID)
		return -ENOSPC;
	f->cpuid[f->n_cpuid++] = *leaf;
	return 0;
}

MODVM_EXPORT int modvm_host_facts_add_msr(struct modvm_host_facts *f, uint32_t index,
					  bool readable, uint64_t value)
{
	for (uint32_t i = 0; i < f->n_msr; i++)
		if (f->msr[i].index == index)
			return -EEXIST;
	if (f->n_msr >= MODVM_HOST_FACTS_MAX_MSR)
		return -ENOSPC;
	f->msr[f->n_msr++] = (struct modvm_host_msr){
		.index = index, .readable = readable, .value = readable ? value : 0,
	};
	return 0;
}

MODVM_EXPORT int modvm_host_facts_add_param(struct modvm_host_facts *f, const char *module,
					    const char *name, const char *value)
{
	struct modvm_host_param p;
	int rc;

	if (modvm_host_facts_param(f, module, name))
		return -EEXIST;
	if (f->n_param >= MODVM_HOST_FACTS_MAX_PARAM)
		return -ENOSPC;
	if ((rc = copy_name(p.module, module)) < 0 || (rc = copy_name(p.name, name)) < 0 ||
	    (rc = copy_name(p.value, value)) < 0)
		return rc;
	f->param[f->n_param++] = p;
	return 0;
}

MODVM_EXPORT int modvm_host_facts_add_module(struct modvm_host_facts *f, const char *name)
{
	int rc;

	if (modvm_host_facts_has_module(f, name))
		return -EEXIST;
	if (f->n_module >= MODVM_HOST_FACTS_MAX_MODULE)
		return -ENOSPC;
	if ((rc = copy_name(f->module[f->n_module], name)) < 0)
		return rc;
	f->n_module++;
	return 0;
}

MODVM_EXPORT const struct modvm_host_cpuid_leaf *
modvm_host_facts_cpuid(const struct modvm_host_facts *f, uint32_t function, uint32_t index)
{
	for (uint32_t i = 0; i < f->n_cpuid && i < MODVM_HOST_FACTS_MAX_CPUID; i++)
		if (f->cpuid[i].function == function && f->cpuid[i].index == index)
			return &f->cpuid[i];
	return NULL;
}

MODVM_EXPORT bool modvm_host_facts_msr(const struct modvm_host_facts *f, uint32_t index,
				       uint64_t *value)
{
	for (uint32_t i = 0; i < f->n_msr && i < MODVM_HOST_FACTS_MAX_MSR; i++) {
		if (f->msr[i].index != index)
			continue;
		if (!f->msr[i].readable)
			return false;
		if (value)
			*value = f->msr[i].value;
		return true;
	}
	return false;
}

MODVM_EXPORT const char *modvm_host_facts_param(const struct modvm_host_facts *f,
						const char *module, const char *name)
{
	for (uint32_t i = 0; i < f->n_param && i < MODVM_HOST_FACTS_MAX_PARAM; i++)
		if (strcmp(f->param[i].module, module) == 0 && strcmp(f->param[i].name, name) == 0)
			return f->param[i].value;
	return NULL;
}

MODVM_EXPORT int modvm_host_facts_param_bool(const struct modvm_host_facts *f,
					     const char *module, const char *name)
{
	const char *v = modvm_host_facts_param(f, module, name);

	if (!v)
		return -1;
	if (!strcmp(v, "Y") || !strcmp(v, "y") || !strcmp(v, "1"))
		return 1;
	if (!strcmp(v, "N") || !strcmp(v, "n") || !strcmp(v, "0"))
		return 0;
	return -1;
}

MODVM_EXPORT bool modvm_host_facts_has_module(const struct modvm_host_facts *f, const char *name)
{
	for (uint32_t i = 0; i < f->n_module && i < MODVM_HOST_FACTS_MAX_MODULE; i++)
		if (strcmp(f->module[i], name) == 0)
			return true;
	return false;
}

MODVM_EXPORT const char *modvm_host_facts_vendor(const struct modvm_host_facts *f, char buf[13])
{
	const struct modvm_host_cpuid_leaf *l0 = modvm_host_facts_cpuid(f, 0, 0);

	buf[0] = '\0';
	if (l0) {
		/* The vendor string is EBX, EDX, ECX in that order. */
		memcpy(buf, &l0->ebx, 4);
		memcpy(buf + 4, &l0->edx, 4);
		memcpy(buf + 8, &l0->ecx, 4);
		buf[12] = '\0';
	}
	return buf;
}

