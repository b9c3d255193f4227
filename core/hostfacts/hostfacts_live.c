/*
 * Reading host facts from the live host, or from a directory tree standing
 * in for it (ROOT/dev/cpu/0/cpuid, ROOT/sys/module, ROOT/dev/kvm ...), so
 * tests can record hosts we don't have.
 */
#include <cpuid.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/kvm.h>

#include <modvm/hostfacts.h>
#include "hostfacts/hostfacts.h"

/* ---- reading the live host (or a tree standing in for it) ---- */

/* Where one recorded CPUID leaf comes from. */
struct cpuid_src {
	int fd;		/* ROOT/dev/cpu/0/cpuid, or -1 */
	bool insn;	/* the CPUID instruction */
	bool plain;	/* fd is a regular file standing in for the driver */
};

/*
 * Linux's cpuid and msr drivers take the leaf/MSR number as the file
 * offset.  In a regular file (a fixture tree) records at consecutive
 * numbers would overlap, so there record KEY sits at KEY × record size.
 */
static bool is_plain(int fd)
{
	struct stat st;

	return fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

static bool read_record(int fd, bool plain, uint64_t key, void *buf, size_t size)
{
	uint64_t off = plain ? key * size : key;

	return fd >= 0 && off <= INT64_MAX && pread(fd, buf, size, (off_t)off) == (ssize_t)size;
}

static bool cpuid_get(const struct cpuid_src *src, uint32_t fn, uint32_t idx,
		      struct modvm_host_cpuid_leaf *out)
{
	uint32_t r[4];

	*out = (struct modvm_host_cpuid_leaf){ .function = fn, .index = idx };
	if (src->insn) {
		__cpuid_count(fn, idx, r[0], r[1], r[2], r[3]);
	} else {
		if (!read_record(src->fd, src->plain, (uint64_t)idx << 32 | fn, r, sizeof(r)))
			return false;
	}
	out->eax = r[0], out->ebx = r[1], out->ecx = r[2], out->edx = r[3];
	return true;
}

static int read_cpuid(const char *root, bool insn, struct modvm_host_facts *f)
{
	/* Leaves a backend looks at: vendor/max, features, extended features,
	 * hypervisor vendor, extended max/features, address sizes, SVM. */
	static const uint32_t std_leaves[] = { 1, 7 };
	static const uint32_t ext_leaves[] = { 0x80000001, 0x80000008, 0x8000000a };
	struct cpuid_src src = { .fd = -1, .insn = insn };
	struct modvm_host_cpuid_leaf l0, l, e0;
	char path[PATH_MAX];
	bool in_vm = false;
	int rc = 0;

	if (!insn) {
		snprintf(path, sizeof(path), "%s/dev/cpu/0/cpuid", root);
		src.fd = open(path, O_RDONLY | O_CLOEXEC);
		src.plain = is_plain(src.fd);
	}
	if (!cpuid_get(&src, 0, 0, &l0))
		goto out_close;
	if ((rc = modvm_host_facts_add_cpuid(f, &l0)) < 0)
		goto out_close;
	for (size_t i = 0; i < sizeof(std_leaves) / sizeof(std_leaves[0]); i++) {
		if (std_leaves[i] > l0.eax || !cpuid_get(&src, std_leaves[i], 0, &l))
			continue;
		if (std_leaves[i] == 1) {
			/* EBX[31:24] is the APIC ID of whichever CPU ran us: not a
			 * host fact, and it would make two reads differ. */
			l.ebx &= 0x00ffffffu;
			in_vm = l.ecx >> 31 & 1;
		}
		if ((rc = modvm_host_facts_add_cpuid(f, &l)) < 0)
			goto out_close;
	}
	/* Leaf 1 ECX[31]: running under a hypervisor, which names itself. */
	if (in_vm && cpuid_get(&src, 0x40000000, 0, &l) &&
	    (rc = modvm_host_facts_add_cpuid(f, &l)) < 0)
		goto out_close;
	if (!cpuid_get(&src, 0x80000000, 0, &e0) || e0.eax < 0x80000000)
		goto out_close;
	if ((rc = modvm_host_facts_add_cpuid(f, &e0)) < 0)
		goto out_close;
	for (size_t i = 0; i < sizeof(ext_leaves) / sizeof(ext_leaves[0]); i++) {
		if (ext_leaves[i] > e0.eax || !cpuid_get(&src, ext_leaves[i], 0, &l))
			continue;
		if ((rc = modvm_host_facts_add_cpuid(f, &l)) < 0)
			goto out_close;
	}
out_close:
	if (src.fd >= 0)
		close(src.fd);
	return rc;
}

static int read_msrs(const char *root, struct modvm_host_facts *f)
{
	static const uint32_t intel[] = {
		MODVM_MSR_IA32_FEATURE_CONTROL, MODVM_MSR_IA32_VMX_BASIC,
		MODVM_MSR_IA32_VMX_PINBASED_CTLS, MODVM_MSR_IA32_VMX_PROCBASED_CTLS,
		MODVM_MSR_IA32_VMX_PROCBASED_CTLS2, MODVM_MSR_IA32_VMX_EPT_VPID_CAP,
		MODVM_MSR_IA32_VMX_TRUE_PROCBASED_CTLS,
	};
	static const uint32_t amd[] = { MODVM_MSR_AMD_VM_CR };
	const uint32_t *list = NULL;
	size_t n = 0;
	char vendor[13], path[PATH_MAX];
	bool plain;
	int fd, rc = 0;

	/* Only the vendor's own MSRs: reading the other's just #GPs. */
	modvm_host_facts_vendor(f, vendor);
	if (!strcmp(vendor, "GenuineIntel"))
		list = intel, n = sizeof(intel) / sizeof(intel[0]);
	else if (!strcmp(vendor, "AuthenticAMD"))
		list = amd, n = sizeof(amd) / sizeof(amd[0]);
	snprintf(path, sizeof(path), "%s/dev/cpu/0/msr", root);
	fd = n ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	plain = is_plain(fd);
	for (size_t i = 0; i < n && rc == 0; i++) {
		uint64_t v = 0;
		bool ok = read_record(fd, plain, list[i], &v, sizeof(v));

		rc = modvm_host_facts_add_msr(f, list[i], ok, v);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static bool is_kvm_module(const char *name)
{
	return !strcmp(name, "kvm") || !strncmp(name, "kvm_", 4);
}

/* Adds @name to the candidate list unless present or not a KVM module. */
static void module_candidate(char (*names)[MODVM_HOST_FACTS_NAME], size_t *n, const char *name)
{
	if (!is_kvm_module(name) || strlen(name) >= MODVM_HOST_FACTS_NAME)
		return;
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(names[i], name))
			return;
	if (*n < MODVM_HOST_FACTS_MAX_MODULE)
		snprintf(names[(*n)++], MODVM_HOST_FACTS_NAME, "%s", name);
}

/*
 * Loadable modules are in /proc/modules; built-in ones (kvm_pvm here) only
 * show up in /sys/module, and only when they have parameters.
 */
static int read_modules(const char *root, struct modvm_host_facts *f)
{
	char names[MODVM_HOST_FACTS_MAX_MODULE][MODVM_HOST_FACTS_NAME];
	char path[PATH_MAX], line[512];
	size_t n = 0;
	FILE *fp;
	DIR *d;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/proc/modules", root);
	if ((fp = fopen(path, "re"))) {
		while (fgets(line, sizeof(line), fp)) {
			line[strcspn(line, " \t\n")] = '\0';
			module_candidate(names, &n, line);
		}
		fclose(fp);
	}
	snprintf(path, sizeof(path), "%s/sys/module", root);
	if ((d = opendir(path))) {
		struct dirent *de;

		while ((de = readdir(d)))
			module_candidate(names, &n, de->d_name);
		closedir(d);
	}
	qsort(names, n, sizeof(names[0]), name_cmp);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = modvm_host_facts_add_module(f, names[i]);
	return rc;
}

static int read_params(const char *root, struct modvm_host_facts *f)
{
	/* What the probes decide on, by module then name. */
	static const struct {
		const char *module, *name;
	} wanted[] = {
		{ "kvm_amd", "avic" }, { "kvm_amd", "nested" }, { "kvm_amd", "npt" },
		{ "kvm_amd", "nrips" }, { "kvm_amd", "vgif" }, { "kvm_amd", "vls" },
		{ "kvm_intel", "enable_apicv" }, { "kvm_intel", "enable_shadow_vmcs" },
		{ "kvm_intel", "ept" }, { "kvm_intel", "flexpriority" }, { "kvm_intel", "nested" },
		{ "kvm_intel", "pml" }, { "kvm_intel", "unrestricted_guest" },
		{ "kvm_intel", "vpid" },
	};
	char path[PATH_MAX], value[256];
	int rc = 0;

	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]) && rc == 0; i++) {
		FILE *fp;

		snprintf(path, sizeof(path), "%s/sys/module/%s/parameters/%s", root,
			 wanted[i].module, wanted[i].name);
		if (!(fp = fopen(path, "re")))
			continue;
		if (fgets(value, sizeof(value), fp)) {
			/* Kept as text, truncated to one word that fits the record. */
			value[strcspn(value, " \t\r\n#")] = '\0';
			value[MODVM_HOST_FACTS_NAME - 1] = '\0';
			if (value[0])
				rc = modvm_host_facts_add_param(f, wanted[i].module, wanted[i].name,
								value);
		}
		fclose(fp);
	}
	return rc;
}

static void read_kvm_dev(const char *root, struct modvm_host_facts *f)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, v;

	snprintf(path, sizeof(path), "%s/dev/kvm", root);
	if (stat(path, &st) < 0)
		return;
	f->kvm_dev = 1;
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
		return;
	if ((v = ioctl(fd, KVM_GET_API_VERSION, 0)) >= 0) {
		f->kvm_open = 1;
		f->kvm_api = (uint32_t)v;
		if ((v = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS)) > 0)
			f->max_vcpus = (uint32_t)v;
		if ((v = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS)) > 0)
			f->nr_vcpus = (uint32_t)v;
	}
	close(fd);
}

MODVM_EXPORT int modvm_host_facts_read_at(const char *root, struct modvm_host_facts *out)
{
	bool live = !root || !strcmp(root, "/");
	int rc;

	/* An empty prefix: paths read "/dev/kvm", not "//dev/kvm". */
	if (live)
		root = "";
	modvm_host_facts_init(out);
	if ((rc = read_cpuid(root, live, out)) < 0 || (rc = read_msrs(root, out)) < 0 ||
	    (rc = read_modules(root, out)) < 0 || (rc = read_params(root, out)) < 0)
		goto fail;
	read_kvm_dev(root, out);
	return 0;
fail:
	modvm_log(MODVM_LOG_ERROR, NULL, "host facts: more facts than the record holds: %s",
		  modvm_strerror(rc));
	return rc;
}

MODVM_EXPORT int modvm_host_facts_read(struct modvm_host_facts *out)
{
	return modvm_host_facts_read_at("/", out);
}

