/*
 * Host facts: recording a host (CPUID, VMX MSRs, KVM module parameters,
 * /dev/kvm) as plain data, and the text file that lets a recorded host be
 * replayed.  Backends probe facts, never the live host, so every probe
 * decision is testable with fixtures of hosts we don't have.
 */
#include <cpuid.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/kvm.h>

#include <modvm/hostfacts.h>
#include "internal.h"

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

/* ---- the facts file ---- */

MODVM_EXPORT int modvm_host_facts_write(const struct modvm_host_facts *f, FILE *out)
{
	char vendor[13];

	fprintf(out, "# modvm host facts (modvm caps --record); one fact per line\n");
	if (modvm_host_facts_vendor(f, vendor)[0])
		fprintf(out, "# vendor %s\n", vendor);
	for (uint32_t i = 0; i < f->n_cpuid; i++) {
		const struct modvm_host_cpuid_leaf *l = &f->cpuid[i];

		fprintf(out, "cpuid 0x%" PRIx32 " 0x%" PRIx32 " 0x%08" PRIx32 " 0x%08" PRIx32
			" 0x%08" PRIx32 " 0x%08" PRIx32 "\n",
			l->function, l->index, l->eax, l->ebx, l->ecx, l->edx);
	}
	for (uint32_t i = 0; i < f->n_msr; i++) {
		if (f->msr[i].readable)
			fprintf(out, "msr 0x%" PRIx32 " 0x%016" PRIx64 "\n", f->msr[i].index,
				f->msr[i].value);
		else
			fprintf(out, "msr 0x%" PRIx32 " unreadable\n", f->msr[i].index);
	}
	for (uint32_t i = 0; i < f->n_param; i++)
		fprintf(out, "param %s %s %s\n", f->param[i].module, f->param[i].name,
			f->param[i].value);
	for (uint32_t i = 0; i < f->n_module; i++)
		fprintf(out, "module %s\n", f->module[i]);
	fprintf(out, "kvm_dev %u\nkvm_open %u\nkvm_api %" PRIu32 "\nmax_vcpus %" PRIu32
		"\nnr_vcpus %" PRIu32 "\n",
		f->kvm_dev, f->kvm_open, f->kvm_api, f->max_vcpus, f->nr_vcpus);
	return ferror(out) ? -EIO : 0;
}

MODVM_EXPORT int modvm_host_facts_save(const struct modvm_host_facts *f, const char *path)
{
	FILE *fp = fopen(path, "we");
	int rc;

	if (!fp) {
		rc = -errno;
		modvm_log(MODVM_LOG_ERROR, NULL, "%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = modvm_host_facts_write(f, fp);
	if (fclose(fp) != 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		modvm_log(MODVM_LOG_ERROR, NULL, "%s: %s", path, strerror(-rc));
	return rc;
}

/* Where a parse error happened, for "PATH:LINE: what". */
struct where {
	const char *path;
	unsigned line;
};

static int bad(const struct where *w, const char *fmt, ...) MODVM_PRINTF(2, 3);
static int bad(const struct where *w, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	modvm_log(MODVM_LOG_ERROR, NULL, "%s:%u: %s", w->path, w->line, msg);
	return -EINVAL;
}

static int parse_u64(const struct where *w, const char *key, const char *text, uint64_t max,
		     uint64_t *out)
{
	char *end;

	errno = 0;
	if (text[0] == '-' || (*out = strtoull(text, &end, 0), errno) || *end || end == text ||
	    *out > max)
		return bad(w, "%s: \"%s\" is not a number in 0..%#" PRIx64, key, text, max);
	return 0;
}

/* Maps a builder's refusal to a message naming the fact. */
static int add_failed(const struct where *w, int rc, const char *what)
{
	if (rc == -EEXIST)
		return bad(w, "duplicate %s", what);
	if (rc == -ENOSPC)
		return bad(w, "too many facts of this kind (%s)", what);
	return bad(w, "%s: text too long (max %d characters)", what, MODVM_HOST_FACTS_NAME - 1);
}

static int parse_line(const struct where *w, char **tok, int ntok, struct modvm_host_facts *f,
		      uint32_t *seen)
{
	static const char *const scalars[] = { "kvm_dev", "kvm_open", "kvm_api", "max_vcpus",
					       "nr_vcpus" };
	const char *key = tok[0];
	char what[128];
	uint64_t v[6];
	int rc;

	if (!strcmp(key, "cpuid")) {
		struct modvm_host_cpuid_leaf l;

		if (ntok != 7)
			return bad(w, "cpuid needs FUNCTION INDEX EAX EBX ECX EDX, got %d values",
				   ntok - 1);
		for (int i = 0; i < 6; i++)
			if ((rc = parse_u64(w, key, tok[i + 1], UINT32_MAX, &v[i])) < 0)
				return rc;
		l = (struct modvm_host_cpuid_leaf){ (uint32_t)v[0], (uint32_t)v[1], (uint32_t)v[2],
						    (uint32_t)v[3], (uint32_t)v[4], (uint32_t)v[5] };
		snprintf(what, sizeof(what), "cpuid %s %s", tok[1], tok[2]);
		return (rc = modvm_host_facts_add_cpuid(f, &l)) < 0 ? add_failed(w, rc, what) : 0;
	}
	if (!strcmp(key, "msr")) {
		bool readable;

		if (ntok != 3)
			return bad(w, "msr needs INDEX and VALUE (or \"unreadable\"), got %d values",
				   ntok - 1);
		if ((rc = parse_u64(w, key, tok[1], UINT32_MAX, &v[0])) < 0)
			return rc;
		readable = strcmp(tok[2], "unreadable") != 0;
		v[1] = 0;
		if (readable && (rc = parse_u64(w, key, tok[2], UINT64_MAX, &v[1])) < 0)
			return rc;
		snprintf(what, sizeof(what), "msr %s", tok[1]);
		rc = modvm_host_facts_add_msr(f, (uint32_t)v[0], readable, v[1]);
		return rc < 0 ? add_failed(w, rc, what) : 0;
	}
	if (!strcmp(key, "param")) {
		if (ntok != 4)
			return bad(w, "param needs MODULE NAME VALUE, got %d values", ntok - 1);
		snprintf(what, sizeof(what), "param %.40s %.40s", tok[1], tok[2]);
		rc = modvm_host_facts_add_param(f, tok[1], tok[2], tok[3]);
		return rc < 0 ? add_failed(w, rc, what) : 0;
	}
	if (!strcmp(key, "module")) {
		if (ntok != 2)
			return bad(w, "module needs one NAME, got %d values", ntok - 1);
		snprintf(what, sizeof(what), "module %.40s", tok[1]);
		return (rc = modvm_host_facts_add_module(f, tok[1])) < 0 ? add_failed(w, rc, what)
									 : 0;
	}
	for (unsigned i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
		uint64_t max = i < 2 ? 1 : UINT32_MAX;

		if (strcmp(key, scalars[i]))
			continue;
		if (ntok != 2)
			return bad(w, "%s needs one value, got %d", key, ntok - 1);
		if (*seen & 1u << i)
			return bad(w, "duplicate %s", key);
		if ((rc = parse_u64(w, key, tok[1], max, &v[0])) < 0)
			return rc;
		*seen |= 1u << i;
		switch (i) {
		case 0: f->kvm_dev = (uint8_t)v[0]; break;
		case 1: f->kvm_open = (uint8_t)v[0]; break;
		case 2: f->kvm_api = (uint32_t)v[0]; break;
		case 3: f->max_vcpus = (uint32_t)v[0]; break;
		default: f->nr_vcpus = (uint32_t)v[0]; break;
		}
		return 0;
	}
	return bad(w, "unknown fact \"%.40s\" (expected cpuid, msr, param, module, kvm_dev, "
		   "kvm_open, kvm_api, max_vcpus or nr_vcpus)", key);
}

MODVM_EXPORT int modvm_host_facts_load(const char *path, struct modvm_host_facts *out)
{
	struct where w = { .path = path };
	char *line = NULL;
	size_t cap = 0;
	uint32_t seen = 0;
	FILE *fp;
	int rc = 0;

	modvm_host_facts_init(out);
	if (!(fp = fopen(path, "re"))) {
		rc = -errno;
		modvm_log(MODVM_LOG_ERROR, NULL, "%s: %s", path, strerror(-rc));
		return rc;
	}
	while (getline(&line, &cap, fp) >= 0) {
		char *tok[8], *save = NULL, *t;
		int ntok = 0;

		w.line++;
		line[strcspn(line, "#")] = '\0';
		for (t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save))
			if (ntok++ < 8)
				tok[ntok - 1] = t;
		if (ntok == 0)
			continue;
		if (ntok > 8) {
			rc = bad(&w, "%s: too many values (%d)", tok[0], ntok - 1);
			break;
		}
		if ((rc = parse_line(&w, tok, ntok, out, &seen)) < 0)
			break;
	}
	if (rc == 0 && ferror(fp)) {
		rc = -EIO;
		modvm_log(MODVM_LOG_ERROR, NULL, "%s: read error", path);
	}
	free(line);
	fclose(fp);
	if (rc < 0)
		modvm_host_facts_init(out);
	return rc;
}
