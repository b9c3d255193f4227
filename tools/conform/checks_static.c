/*
 * Checks that look at the file and the descriptor without running plugin
 * code.  Each reads the descriptor raw (dlopen + dlsym) rather than through
 * the loader, so one refusal does not hide the other problems.
 */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <modvm/events.h>

#include "event/event.h"
#include "host/host.h"
#include "conform.h"

#define MAX_SANE_SIZE 65536u

/* Finds an entry symbol of another major, to say what the plugin was built for. */
static void on_entry(const char *name, void *ud)
{
	size_t len = strlen(MODVM_PLUGIN_SYMBOL_NAME);

	if (strncmp(name, MODVM_PLUGIN_SYMBOL_NAME, len) == 0)
		snprintf(ud, 64, "%s", name);
}

enum verdict conform_check_load(const struct conform_opts *o, char *detail, size_t n)
{
	const struct modvm_plugin *d;
	char other[64] = "", err[128];
	enum verdict v = conform_raw_desc(o, &d, detail, n);

	if (v != V_PASS) {
		/* here "not loadable" is the finding itself */
		if (conform_elf_exports(o->plugin, on_entry, other, err, sizeof(err)) == 0 &&
		    *other) {
			size_t len = strlen(detail);

			snprintf(detail + len, n - len, " (it exports %s: built for ABI major %s)",
				 other, other + strlen(MODVM_PLUGIN_SYMBOL_NAME));
		}
		return V_FAIL;
	}
	snprintf(detail, n, "dlopen(RTLD_NOW|RTLD_LOCAL) and dlsym(%s%d) succeed",
		 MODVM_PLUGIN_SYMBOL_NAME, MODVM_ABI_MAJOR);
	return V_PASS;
}

struct exports {
	char entry[64];
	char extra[256];
	int n_extra;
	bool has_entry;
};

/* Linker-made markers, and what sanitizer instrumentation adds on its own. */
static bool ignorable(const char *name)
{
	static const char *const fixed[] = { "_init", "_fini", "_edata", "_end", "__bss_start",
					     NULL };

	for (size_t i = 0; fixed[i]; i++)
		if (strcmp(name, fixed[i]) == 0)
			return true;
	return strncmp(name, "__odr_asan", 10) == 0 || strncmp(name, "__asan", 6) == 0 ||
	       strncmp(name, "__ubsan", 7) == 0 || strncmp(name, "__sancov", 8) == 0;
}

static void on_export(const char *name, void *ud)
{
	struct exports *x = ud;
	size_t len = strlen(x->extra);

	if (strcmp(name, x->entry) == 0) {
		x->has_entry = true;
		return;
	}
	if (ignorable(name))
		return;
	if (x->n_extra++ < 4)
		snprintf(x->extra + len, sizeof(x->extra) - len, "%s%s", len ? ", " : "", name);
}

enum verdict conform_check_exports(const struct conform_opts *o, char *detail, size_t n)
{
	struct exports x = { .n_extra = 0 };
	char err[256];

	snprintf(x.entry, sizeof(x.entry), MODVM_PLUGIN_SYMBOL_NAME "%d", MODVM_ABI_MAJOR);
	if (conform_elf_exports(o->plugin, on_export, &x, err, sizeof(err)) < 0) {
		snprintf(detail, n, "cannot read the dynamic symbols: %s", err);
		return V_FAIL;
	}
	if (!x.has_entry) {
		snprintf(detail, n, "does not export %s", x.entry);
		return V_FAIL;
	}
	if (x.n_extra) {
		snprintf(detail, n, "exports %d symbol(s) besides %s: %s%s (build with "
			 "-fvisibility=hidden)", x.n_extra, x.entry, x.extra,
			 x.n_extra > 4 ? ", ..." : "");
		return V_FAIL;
	}
	snprintf(detail, n, "exports only %s", x.entry);
	return V_PASS;
}

enum verdict conform_check_abi(const struct conform_opts *o, char *detail, size_t n)
{
	const struct modvm_plugin *d;
	enum verdict v = conform_raw_desc(o, &d, detail, n);

	if (v != V_PASS)
		return v;
	if (d->abi_major != MODVM_ABI_MAJOR) {
		snprintf(detail, n, "abi_major %u, this kit checks ABI %d", (unsigned)d->abi_major,
			 MODVM_ABI_MAJOR);
		return V_FAIL;
	}
	if (d->abi_minor > MODVM_ABI_MINOR) {
		snprintf(detail, n, "built for ABI %u.%u, newer than this modvm's %d.%d",
			 (unsigned)d->abi_major, (unsigned)d->abi_minor, MODVM_ABI_MAJOR,
			 MODVM_ABI_MINOR);
		return V_FAIL;
	}
	if (d->struct_size < MODVM_PLUGIN_MIN_SIZE_V1 || d->struct_size > MAX_SANE_SIZE) {
		snprintf(detail, n, "struct_size %u is not sane (ABI %d.0 needs %zu..%u)",
			 (unsigned)d->struct_size, MODVM_ABI_MAJOR,
			 (size_t)MODVM_PLUGIN_MIN_SIZE_V1, MAX_SANE_SIZE);
		return V_FAIL;
	}
	snprintf(detail, n, "ABI %u.%u, struct_size %u", (unsigned)d->abi_major,
		 (unsigned)d->abi_minor, (unsigned)d->struct_size);
	return V_PASS;
}

/* The descriptor fields past struct_size are unreadable: the abi check
 * reports that, the others skip. */
static enum verdict sized_desc(const struct conform_opts *o, const struct modvm_plugin **d,
			       char *detail, size_t n)
{
	enum verdict v = conform_raw_desc(o, d, detail, n);

	if (v != V_PASS)
		return v;
	if ((*d)->abi_major != MODVM_ABI_MAJOR || (*d)->struct_size < MODVM_PLUGIN_MIN_SIZE_V1) {
		snprintf(detail, n, "descriptor layout unknown (see abi)");
		return V_SKIP;
	}
	return V_PASS;
}

enum verdict conform_check_name(const struct conform_opts *o, char *detail, size_t n)
{
	const struct modvm_plugin *d;
	const char *base = strrchr(o->plugin, '/');
	size_t len;
	enum verdict v = sized_desc(o, &d, detail, n);

	if (v != V_PASS)
		return v;
	base = base ? base + 1 : o->plugin;
	len = strlen(base);
	if (len > 3 && strcmp(base + len - 3, ".so") == 0)
		len -= 3;
	if (!d->name || !*d->name) {
		snprintf(detail, n, "name is empty");
		return V_FAIL;
	}
	if (strlen(d->name) >= MODVM_NAME_MAX) {
		snprintf(detail, n, "name \"%s\" is longer than %d characters", d->name,
			 MODVM_NAME_MAX - 1);
		return V_FAIL;
	}
	if (strlen(d->name) != len || strncmp(d->name, base, len) != 0) {
		snprintf(detail, n, "name \"%s\" does not match the file name \"%.*s\"", d->name,
			 (int)len, base);
		return V_FAIL;
	}
	snprintf(detail, n, "\"%s\"", d->name);
	return V_PASS;
}

enum verdict conform_check_fields(const struct conform_opts *o, char *detail, size_t n)
{
	const struct modvm_plugin *d;
	enum verdict v = sized_desc(o, &d, detail, n);

	if (v != V_PASS)
		return v;
	if (!d->name || !*d->name || !d->version || !*d->version || !d->license ||
	    !*d->license) {
		snprintf(detail, n, "missing %s%s%s", !d->name || !*d->name ? "name " : "",
			 !d->version || !*d->version ? "version " : "",
			 !d->license || !*d->license ? "license" : "");
		return V_FAIL;
	}
	if (d->kind > MODVM_KIND_NIC_DRIVER) {
		snprintf(detail, n, "kind %u is not a known plugin kind", (unsigned)d->kind);
		return V_FAIL;
	}
	for (size_t i = 0; d->requires && d->requires[i]; i++) {
		if (!*d->requires[i]) {
			snprintf(detail, n, "requires entry #%zu is empty", i);
			return V_FAIL;
		}
	}
	snprintf(detail, n, "version %s, license %s, kind %s", d->version, d->license,
		 modvm_plugin_kind_name((int)d->kind));
	return V_PASS;
}

/* The real loader's verdict, with its own message. */
enum verdict conform_check_loader(const struct conform_opts *o, char *detail, size_t n)
{
	struct harness h;
	enum verdict v = harness_open(&h, o, detail, n);

	if (v == V_PASS)
		snprintf(detail, n, "modvm's loader accepts it");
	return v == V_SKIP ? V_FAIL : v;
}

/* Values no parser may accept for @opt; NULL-terminated in @out. */
static size_t bad_values(const struct modvm_option *opt, uint64_t *seed, char out[][48],
			 size_t max)
{
	size_t k = 0;

#define ADD(...) do { if (k < max) snprintf(out[k++], 48, __VA_ARGS__); } while (0)
	switch (opt->type) {
	case MODVM_OPT_BOOL:
		ADD("maybe");
		ADD("2");
		ADD("%s", "");
		break;
	case MODVM_OPT_INT:
		ADD("abc");
		ADD("1.5");
		ADD("99999999999999999999999");
		if (opt->min || opt->max) {
			if (opt->min > INT64_MIN)
				ADD("%" PRId64, opt->min - 1);
			if (opt->max < INT64_MAX)
				ADD("%" PRId64, opt->max + 1);
		}
		break;
	case MODVM_OPT_SIZE:
		ADD("12Q");
		ADD("-1");
		ADD("lots");
		if (opt->min > 0)
			ADD("%" PRId64, opt->min - 1);
		if ((opt->min || opt->max) && opt->max < INT64_MAX)
			ADD("%" PRId64, opt->max + 1);
		break;
	case MODVM_OPT_DOUBLE:
		ADD("abc");
		ADD("1.0.0");
		if (opt->min || opt->max) {
			ADD("%" PRId64 ".5", opt->min - 1);
			ADD("%" PRId64 ".5", opt->max);
		}
		break;
	case MODVM_OPT_ENUM:
		ADD("not-a-choice-%" PRIx64, conform_rand(seed));
		ADD("%s", "");
		break;
	case MODVM_OPT_LIST:
		ADD("5");
		ADD("{}");
		ADD("%s", "");
		break;
	default:
		break;	/* STRING: any text is valid */
	}
#undef ADD
	return k;
}

static enum verdict check_options(const char *which, const struct modvm_option *table,
				  uint64_t *seed, int *n_checked, char *detail, size_t n)
{
	char err[256], bad[8][48];
	struct modvm_config *cfg = NULL;

	if (!table)
		return V_PASS;
	if (modvm__config_check_table(table, err, sizeof(err)) < 0) {
		snprintf(detail, n, "%s table invalid: %s", which, err);
		return V_FAIL;
	}
	for (const struct modvm_option *opt = table; opt->name; opt++) {
		size_t k = bad_values(opt, seed, bad, 8);

		if (opt->default_value &&
		    modvm__config_check_value(opt, opt->default_value, err, sizeof(err)) < 0) {
			snprintf(detail, n, "%s %s: default \"%s\" refused: %s", which, opt->name,
				 opt->default_value, err);
			return V_FAIL;
		}
		for (size_t i = 0; i < k; i++) {
			(*n_checked)++;
			if (modvm__config_check_value(opt, bad[i], err, sizeof(err)) == 0) {
				snprintf(detail, n, "%s %s: bad value \"%s\" accepted", which,
					 opt->name, bad[i]);
				return V_FAIL;
			}
		}
	}
	if (modvm__config_defaults(table, &cfg) == 0)
		modvm__config_free(cfg);
	return V_PASS;
}

enum verdict conform_check_options(const struct conform_opts *o, char *detail, size_t n)
{
	const struct modvm_plugin *d;
	uint64_t seed = o->seed;
	int checked = 0;
	enum verdict v = sized_desc(o, &d, detail, n);

	if (v != V_PASS)
		return v;
	if (!d->options && !d->vm_options) {
		snprintf(detail, n, "declares no options");
		return V_PASS;
	}
	v = check_options("option", d->options, &seed, &checked, detail, n);
	if (v == V_PASS)
		v = check_options("vm option", d->vm_options, &seed, &checked, detail, n);
	if (v == V_PASS)
		snprintf(detail, n, "defaults in range, %d bad values refused", checked);
	return v;
}

enum verdict conform_check_events(const struct conform_opts *o, char *detail, size_t n)
{
	const struct modvm_plugin *d;
	char why[480];
	unsigned refused;
	size_t i;
	enum verdict v = sized_desc(o, &d, detail, n);

	if (v != V_PASS)
		return v;
	/* the standard catalogue first, so a clash shows as -EPROTO */
	modvm__std_events_register();
	for (i = 0; d->events && d->events[i]; i++) {
		struct modvm_event_desc *e = d->events[i];
		int r;

		if (e->struct_size < offsetof(struct modvm_event_desc, id_cache) ||
		    e->struct_size > MAX_SANE_SIZE) {
			snprintf(detail, n, "event #%zu: struct_size %u is not sane", i,
				 (unsigned)e->struct_size);
			return V_FAIL;
		}
		if (!e->name || !strchr(e->name, '.') || e->name[0] == '.') {
			snprintf(detail, n, "event #%zu: name \"%s\" is not \"domain.what\"", i,
				 e->name ? e->name : "(null)");
			return V_FAIL;
		}
		if (e->version == 0 || e->payload_size == 0 || e->payload_size > MAX_SANE_SIZE) {
			snprintf(detail, n, "event %s: version %u / payload size %u not sane",
				 e->name, (unsigned)e->version, (unsigned)e->payload_size);
			return V_FAIL;
		}
		refused = modvm__bus_refusals(NULL, 0);
		r = modvm_bus_register(e);
		if (r < 0 && modvm__bus_refusals(why, sizeof(why)) != refused) {
			/* The bus's own line names the event and both layouts;
			 * "(by core)" after it would blame the wrong one. */
			char *by = strstr(why, " (by "), *next;

			while (by && (next = strstr(by + 1, " (by ")))
				by = next;
			if (by)
				*by = '\0';
			snprintf(detail, n, "%s", why);
			return V_FAIL;
		}
		if (r < 0) {
			snprintf(detail, n, "event %s (v%u, %u bytes) does not register: %s",
				 e->name, (unsigned)e->version, (unsigned)e->payload_size,
				 modvm_strerror(r));
			return V_FAIL;
		}
	}
	snprintf(detail, n, "%zu declared event(s) register cleanly", i);
	return V_PASS;
}
