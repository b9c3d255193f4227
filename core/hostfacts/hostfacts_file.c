/*
 * The host facts file (`modvm caps --record`): one fact per line, written
 * and parsed here, so a recorded host can be replayed by probes and tests.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/hostfacts.h>
#include "hostfacts/hostfacts.h"

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
