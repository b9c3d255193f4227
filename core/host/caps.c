/*
 * The `modvm caps` report.  Only formatting lives here: the backends decide
 * (their probes), the report shows what they decided, so one table works for
 * any backend, including ones that don't exist yet.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/caps.h"

#define LABEL "  %-25s"

/* Probe strings are fixed arrays: never read past them. */
#define FIELD(arr) (int)strnlen((arr), sizeof(arr)), (arr)
/* The same for a pointer @p into the array @arr. */
#define FIELD_AT(p, arr) (int)strnlen((p), sizeof(arr) - (size_t)((p) - (arr))), (p)

static const char *vendor_name(uint32_t v)
{
	return v == MODVM_VENDOR_INTEL ? "Intel" : v == MODVM_VENDOR_AMD ? "AMD" : "unknown";
}

/* The vendor's word for its hardware virtualization. */
static const char *hw_name(uint32_t v)
{
	return v == MODVM_VENDOR_INTEL ? "VMX" : v == MODVM_VENDOR_AMD ? "SVM" : "VMX/SVM";
}

static const char *slat_name(uint32_t slat)
{
	return slat == MODVM_SLAT_EPT ? "EPT" : slat == MODVM_SLAT_NPT ? "NPT" : "none";
}

/* Whether @p says its backend is for another CPU vendor (advice "vendor"). */
static bool other_vendor(const struct modvm_cpu_probe *p)
{
	for (uint32_t a = 0; a < p->n_advice && a < MODVM_CPU_MAX_ADVICE; a++)
		if (strcmp(p->advice[a].feature, "vendor") == 0)
			return true;
	return false;
}

/* Appends to @buf (NUL-terminated, @len bytes); cut silently when full. */
MODVM_PRINTF(3, 4) static void append(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strnlen(buf, len);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

/* One backend's part of the explanation: why, then what would fix it. */
static void explain_one(const struct modvm_cpu_probe *p, bool skip_vendor_advice, char *buf,
			size_t len)
{
	const char *summary = p->summary;
	size_t name_len = strnlen(p->caps.backend, sizeof(p->caps.backend));
	bool first = true;

	/* "cpu-vmx needs an Intel CPU" after "cpu-vmx: " says the name twice. */
	if (name_len && !strncmp(summary, p->caps.backend, name_len) && summary[name_len] == ' ')
		summary += name_len + 1;
	append(buf, len, "%.*s: %.*s", FIELD(p->caps.backend), FIELD_AT(summary, p->summary));
	for (uint32_t a = 0; a < p->n_advice && a < MODVM_CPU_MAX_ADVICE; a++) {
		if (skip_vendor_advice && !strcmp(p->advice[a].feature, "vendor"))
			continue;
		append(buf, len, "%s%.*s", first ? "; to fix: " : "; ", FIELD(p->advice[a].remedy));
		first = false;
	}
}

MODVM_INTERNAL void modvm__backends_explain(const struct modvm_cpu_probe *probes, size_t n,
					    char *buf, size_t len)
{
	bool own_vendor_present = false;

	if (!len)
		return;
	buf[0] = '\0';
	if (n == 0) {
		append(buf, len, "no CPU backend plugin enabled (enable cpu-vmx or cpu-svm under "
				 "plugins)");
		return;
	}
	for (size_t i = 0; i < n; i++)
		own_vendor_present = own_vendor_present || !other_vendor(&probes[i]);
	for (size_t i = 0; i < n; i++)
		if (probes[i].score > 0) {
			/* Some backend could: the config's choice ruled it out. */
			append(buf, len, "%.*s could run guests here, but host.cpu.backend or "
					 "host.cpu.slat rule it out", FIELD(probes[i].caps.backend));
			return;
		}
	append(buf, len, "no CPU backend can run guests here");
	/* This CPU's own vendor backend first: its reason is the one to act on. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			if (other_vendor(&probes[i]) != (pass == 1) || probes[i].score > 0)
				continue;
			append(buf, len, ". ");
			explain_one(&probes[i], own_vendor_present, buf, len);
		}
}

static void print_human(FILE *out, const struct modvm_cpu_probe *p, size_t i, bool selected)
{
	const struct modvm_cpu_caps *c = &p->caps;

	if (c->backend[0])
		fprintf(out, "%.*s", FIELD(c->backend));
	else
		fprintf(out, "backend #%zu", i);
	fprintf(out, "%s: score %d%s\n", selected ? " (selected)" : "", p->score,
		p->score > 0 ? "" : " (cannot run guests here)");
	fprintf(out, "  %.*s\n", FIELD(p->summary));
	fprintf(out, LABEL "%s\n", "vendor:", vendor_name(c->vendor));
	fprintf(out, LABEL "%s (%s%s)\n", "hardware virtualization:", c->hw_virt ? "yes" : "no",
		hw_name(c->vendor), c->hw_virt ? "" : " not visible");
	fprintf(out, LABEL "%.*s\n", "KVM module:",
		c->kvm_module[0] ? (int)strnlen(c->kvm_module, sizeof(c->kvm_module)) : 4,
		c->kvm_module[0] ? c->kvm_module : "none");
	fprintf(out, LABEL "%s%s\n", "SLAT:", slat_name(c->slat),
		c->slat == MODVM_SLAT_NONE && p->score > 0 ? " (shadow paging)" : "");
	fprintf(out, LABEL, "VPID/ASID:");
	if (!c->vpid)
		fprintf(out, "no\n");
	else if (c->vendor == MODVM_VENDOR_AMD && c->asid_count)
		fprintf(out, "yes (%u ASIDs)\n", c->asid_count);
	else
		fprintf(out, "yes (%s)\n", c->vendor == MODVM_VENDOR_AMD ? "ASIDs" : "VPID");
	fprintf(out, LABEL "%s%s\n", "APICv/AVIC:", c->apic_virt ? "yes" : "no",
		!c->apic_virt ? "" : c->vendor == MODVM_VENDOR_AMD ? " (AVIC)" : " (APICv)");
	fprintf(out, LABEL "%s\n", "nested:", c->nested ? "yes" : "no");
	fprintf(out, LABEL "%s\n", "unrestricted guest:", c->unrestricted_guest ? "yes" : "no");
	if (c->max_vcpus)
		fprintf(out, LABEL "%u\n", "max vCPUs:", c->max_vcpus);
	else
		fprintf(out, LABEL "unknown\n", "max vCPUs:");
	if (p->n_advice == 0) {
		fprintf(out, LABEL "none\n", "advice:");
		return;
	}
	fprintf(out, "  advice:\n");
	for (uint32_t a = 0; a < p->n_advice && a < MODVM_CPU_MAX_ADVICE; a++)
		fprintf(out, "    %.*s: %.*s\n", FIELD(p->advice[a].feature),
			FIELD(p->advice[a].remedy));
}

/* A JSON string from at most @max bytes of @s. */
static void json_str(FILE *out, const char *s, size_t max)
{
	fputc('"', out);
	for (size_t i = 0; i < max && s[i]; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", out);
		else if (ch == '\t')
			fputs("\\t", out);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static const char *jbool(uint8_t v)
{
	return v ? "true" : "false";
}

static void print_json_one(FILE *out, const struct modvm_cpu_probe *p, bool selected)
{
	const struct modvm_cpu_caps *c = &p->caps;

	fputs("    {\n      \"backend\": ", out);
	json_str(out, c->backend, sizeof(c->backend));
	fprintf(out, ",\n      \"selected\": %s,\n      \"score\": %d,\n      \"usable\": %s,\n"
		"      \"summary\": ", selected ? "true" : "false", p->score,
		p->score > 0 ? "true" : "false");
	json_str(out, p->summary, sizeof(p->summary));
	fprintf(out, ",\n      \"caps\": {\n"
		"        \"vendor\": \"%s\",\n        \"slat\": \"%s\",\n"
		"        \"hw_virt\": %s,\n        \"vpid\": %s,\n        \"apic_virt\": %s,\n"
		"        \"nested\": %s,\n        \"unrestricted_guest\": %s,\n"
		"        \"asid_count\": %u,\n        \"max_vcpus\": %u,\n        \"kvm_module\": ",
		c->vendor == MODVM_VENDOR_INTEL ? "intel" : c->vendor == MODVM_VENDOR_AMD ? "amd"
											  : "unknown",
		c->slat == MODVM_SLAT_EPT ? "ept" : c->slat == MODVM_SLAT_NPT ? "npt" : "none",
		jbool(c->hw_virt), jbool(c->vpid), jbool(c->apic_virt), jbool(c->nested),
		jbool(c->unrestricted_guest), c->asid_count, c->max_vcpus);
	json_str(out, c->kvm_module, sizeof(c->kvm_module));
	fputs("\n      },\n      \"advice\": [", out);
	for (uint32_t a = 0; a < p->n_advice && a < MODVM_CPU_MAX_ADVICE; a++) {
		fputs(a ? ",\n        { \"feature\": " : "\n        { \"feature\": ", out);
		json_str(out, p->advice[a].feature, sizeof(p->advice[a].feature));
		fputs(", \"remedy\": ", out);
		json_str(out, p->advice[a].remedy, sizeof(p->advice[a].remedy));
		fputs(" }", out);
	}
	fputs(p->n_advice ? "\n      ]\n    }" : "]\n    }", out);
}

static void print_json(FILE *out, const struct modvm_cpu_probe *probes, size_t n, int selected)
{
	bool can_run = selected >= 0 && (size_t)selected < n;
	char why[2048];

	fputs("{\n  \"selected\": ", out);
	if (can_run)
		json_str(out, probes[selected].caps.backend, sizeof(probes[selected].caps.backend));
	else
		fputs("null", out);
	/* The verdict a script wants, so that the exit status only says
	 * whether the report could be made. */
	fprintf(out, ",\n  \"can_run_guests\": %s,\n  \"reason\": ", can_run ? "true" : "false");
	if (can_run)
		fputs("null", out);
	else {
		modvm__backends_explain(probes, n, why, sizeof(why));
		json_str(out, why, sizeof(why));
	}
	fputs(",\n  \"backends\": [", out);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ",\n" : "\n", out);
		print_json_one(out, &probes[i], (int)i == selected);
	}
	fputs(n ? "\n  ]\n}\n" : "]\n}\n", out);
}

MODVM_INTERNAL int modvm__caps_print(FILE *out, const struct modvm_cpu_probe *probes, size_t n,
				     int selected, bool json)
{
	if (json) {
		print_json(out, probes, n, selected);
	} else {
		for (size_t i = 0; i < n; i++) {
			if (i)
				fputc('\n', out);
			print_human(out, &probes[i], i, (int)i == selected);
		}
		if (selected < 0 || (size_t)selected >= n) {
			char why[2048];

			modvm__backends_explain(probes, n, why, sizeof(why));
			fprintf(out, "%sverdict: %s\n", n ? "\n" : "", why);
		}
	}
	return ferror(out) ? -EIO : 0;
}

MODVM_INTERNAL int modvm__caps_format(const struct modvm_cpu_probe *probes, size_t n,
				      int selected, bool json, char **text)
{
	size_t len = 0;
	FILE *mem;
	int rc;

	*text = NULL;
	if (!(mem = open_memstream(text, &len)))
		return -ENOMEM;
	rc = modvm__caps_print(mem, probes, n, selected, json);
	if (fclose(mem) != 0 && rc == 0)
		rc = -ENOMEM;
	if (rc < 0) {
		free(*text);
		*text = NULL;
	}
	return rc;
}
