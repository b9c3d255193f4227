/*
 * core/plugin/descriptor.c — checking a plugin's descriptor before anything
 * reads it for real (issue 17, item 11).
 *
 * A descriptor is data in a file someone else built.  Reading it naively
 * crashed the loader on a garbage `name` or `requires` pointer, and a
 * function exported under the descriptor's name was read as one.  So,
 * in an order that makes each read safe:
 *
 *  1. the symbol is an object (STT_OBJECT, from the dynamic symbol table
 *     through dladdr1) at least as large as the ABI 1.0 layout, and
 *     struct_size does not claim more than the object has;
 *  2. every pointer in it lies inside a readable segment of the plugin
 *     (or of libmodvm, where the SDK's standard events live), every string
 *     ends before its segment does, and every function pointer lies in an
 *     executable segment of the plugin; arrays are walked slot by slot the
 *     same way, with a bound;
 *  3. only then the contents: ABI, name, kind, requires, events, tables.
 *
 * The segments come from dl_iterate_phdr for the plugin's link map and
 * libmodvm's, so nothing is probed by touching memory.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <modvm/events.h>

#include "plugin/plugin.h"

#define MAX_SEGS 32
#define MAX_ARRAY 256		/* requires, events, options: entries at most */
#define STR_MAX 4096		/* no string of a descriptor is longer */

struct seg {
	uintptr_t start, end;
	bool exec;
};

struct segs {
	struct seg s[MAX_SEGS];
	unsigned n;
	unsigned plugin_n;	/* [0, plugin_n): the plugin's own */
};

struct find {
	uintptr_t base;
	const char *name;
	struct segs *out;
};

static int collect(struct dl_phdr_info *info, size_t size, void *ud)
{
	struct find *f = ud;

	(void)size;
	if (info->dlpi_addr != f->base ||
	    strcmp(info->dlpi_name ? info->dlpi_name : "", f->name) != 0)
		return 0;
	for (int i = 0; i < info->dlpi_phnum && f->out->n < MAX_SEGS; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_R))
			continue;
		f->out->s[f->out->n++] = (struct seg){ .start = info->dlpi_addr + ph->p_vaddr,
							.end = info->dlpi_addr + ph->p_vaddr +
							       ph->p_memsz,
							.exec = ph->p_flags & PF_X };
	}
	return 1;
}

static void add_object(struct segs *out, const struct link_map *lm)
{
	struct find f = { .base = lm->l_addr, .name = lm->l_name ? lm->l_name : "", .out = out };

	dl_iterate_phdr(collect, &f);
}

static bool within(const struct segs *m, const void *p, size_t len, bool plugin_only,
		   bool exec)
{
	uintptr_t a = (uintptr_t)p;

	for (unsigned i = 0; i < (plugin_only ? m->plugin_n : m->n); i++) {
		const struct seg *s = &m->s[i];
		if (a >= s->start && a <= s->end && len <= s->end - a && (!exec || s->exec))
			return true;
	}
	return false;
}

/* A NUL-terminated string inside a readable segment. */
static bool str_ok(const struct segs *m, const char *s, bool plugin_only)
{
	uintptr_t a = (uintptr_t)s;

	for (unsigned i = 0; i < (plugin_only ? m->plugin_n : m->n); i++) {
		const struct seg *g = &m->s[i];
		if (a < g->start || a >= g->end)
			continue;
		size_t room = g->end - a < STR_MAX ? g->end - a : STR_MAX;
		return memchr(s, '\0', room) != NULL;
	}
	return false;
}

static int refuse(const char *path, enum modvm_log_level level, int err, const char *what,
		  const char *field)
{
	modvm_log(level, NULL, "%s: descriptor field %s %s", path, field, what);
	return err;
}

/* Every string of an option table, slot by slot up to its end marker. */
static int check_table_memory(const struct segs *m, const struct modvm_option *t,
			      const char *field, const char *path, enum modvm_log_level level)
{
	for (unsigned i = 0; i < MAX_ARRAY; i++, t++) {
		if (!within(m, t, sizeof(*t), false, false))
			return refuse(path, level, -EFAULT, "points outside the plugin", field);
		if (!t->name)
			return 0;
		if (!str_ok(m, t->name, false) || (t->default_value && !str_ok(m, t->default_value, false)) ||
		    (t->choices && !str_ok(m, t->choices, false)) ||
		    (t->description && !str_ok(m, t->description, false)))
			return refuse(path, level, -EFAULT,
				      "has a string pointing outside the plugin", field);
	}
	return refuse(path, level, -E2BIG, "has no end marker within 256 entries", field);
}

static int check_memory(const struct segs *m, const struct modvm_plugin *d, const char *path,
			enum modvm_log_level level)
{
	const char *const strs[] = { d->name, d->version, d->license, d->description };
	const char *const names[] = { "name", "version", "license", "description" };

	for (unsigned i = 0; i < 4; i++)
		if (strs[i] && !str_ok(m, strs[i], true))
			return refuse(path, level, -EFAULT, "points outside the plugin", names[i]);
	if (d->requires) {
		for (unsigned i = 0;; i++) {
			if (i == MAX_ARRAY)
				return refuse(path, level, -E2BIG, "has no NULL within 256 entries",
					      "requires");
			if (!within(m, &d->requires[i], sizeof(char *), true, false))
				return refuse(path, level, -EFAULT, "points outside the plugin",
					      "requires");
			if (!d->requires[i])
				break;
			if (!str_ok(m, d->requires[i], true))
				return refuse(path, level, -EFAULT,
					      "has an entry pointing outside the plugin", "requires");
		}
	}
	if (d->events) {
		for (unsigned i = 0;; i++) {
			if (i == MAX_ARRAY)
				return refuse(path, level, -E2BIG, "has no NULL within 256 entries",
					      "events");
			if (!within(m, &d->events[i], sizeof(void *), false, false))
				return refuse(path, level, -EFAULT, "points outside the plugin", "events");
			const struct modvm_event_desc *e = d->events[i];
			if (!e)
				break;
			if (!within(m, e, offsetof(struct modvm_event_desc, id_cache), false, false) ||
			    (e->name && !str_ok(m, e->name, false)))
				return refuse(path, level, -EFAULT,
					      "has an entry pointing outside the plugin", "events");
			/* ABI 1.4: the member list, when the descriptor has room for one. */
			if (e->struct_size >= offsetof(struct modvm_event_desc, nfields) + sizeof(uint32_t) &&
			    within(m, e, offsetof(struct modvm_event_desc, nfields) + sizeof(uint32_t),
				   false, false) && e->fields) {
				if (e->nfields > MAX_ARRAY ||
				    !within(m, e->fields, e->nfields * sizeof(*e->fields), false, false))
					return refuse(path, level, -EFAULT,
						      "has a member list pointing outside the plugin",
						      "events");
				for (uint32_t k = 0; k < e->nfields; k++)
					if (!e->fields[k].name || !str_ok(m, e->fields[k].name, false))
						return refuse(path, level, -EFAULT,
							      "has a member name pointing outside the plugin",
							      "events");
			}
		}
	}
	if (d->options) {
		int r = check_table_memory(m, d->options, "options", path, level);
		if (r < 0)
			return r;
	}
	if (d->vm_options) {
		int r = check_table_memory(m, d->vm_options, "vm_options", path, level);
		if (r < 0)
			return r;
	}
	/* Code the core will call: the plugin's own, executable. */
	const void *const fns[] = { (const void *)d->init, (const void *)d->start,
				    (const void *)d->stop, (const void *)d->fini,
				    (const void *)d->get_interface,
				    MODVM_PLUGIN_HAS(d, validate) ? (const void *)d->validate : NULL,
				    MODVM_PLUGIN_HAS(d, recover) ? (const void *)d->recover : NULL };
	const char *const fnames[] = { "init", "start", "stop", "fini", "get_interface",
				       "validate", "recover" };
	for (unsigned i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		if (fns[i] && !within(m, fns[i], 1, true, true))
			return refuse(path, level, -EFAULT,
				      "points outside the plugin's code", fnames[i]);
	return 0;
}

MODVM_INTERNAL int modvm__plugin_check_object(const struct modvm_plugin *d, const char *path,
					      enum modvm_log_level level)
{
	const ElfW(Sym) *sym = NULL;
	Dl_info info;

	/* An object of the right size, not a function or a stray label. */
	if (!dladdr1(d, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym) {
		modvm_log(level, NULL, "%s: the descriptor symbol has no symbol table entry", path);
		return -ENOEXEC;
	}
	if (ELF64_ST_TYPE(sym->st_info) != STT_OBJECT) {
		modvm_log(level, NULL, "%s: " MODVM_PLUGIN_SYMBOL_NAME "%d is %s, not a descriptor "
			  "(declare it with MODVM_PLUGIN())", path, MODVM_ABI_MAJOR,
			  ELF64_ST_TYPE(sym->st_info) == STT_FUNC ? "a function" : "not a data object");
		return -ENOEXEC;
	}
	if (sym->st_size < MODVM_PLUGIN_MIN_SIZE_V1) {
		modvm_log(level, NULL, "%s: the descriptor object is %zu bytes, ABI %d.0 needs at "
			  "least %zu", path, (size_t)sym->st_size, MODVM_ABI_MAJOR,
			  (size_t)MODVM_PLUGIN_MIN_SIZE_V1);
		return -ENOEXEC;
	}
	if (d->struct_size > sym->st_size) {
		modvm_log(level, NULL, "%s: struct_size %u is larger than the descriptor object "
			  "(%zu bytes)", path, (unsigned)d->struct_size, (size_t)sym->st_size);
		return -ENOEXEC;
	}
	return 0;
}

MODVM_INTERNAL int modvm__plugin_check_pointers(void *handle, const struct modvm_plugin *d,
						const char *path, enum modvm_log_level level)
{
	struct segs m = { .n = 0 };
	struct link_map *lm = NULL;
	Dl_info info;

	if (dlinfo(handle, RTLD_DI_LINKMAP, &lm) < 0 || !lm) {
		modvm_log(level, NULL, "%s: no link map: %s", path, dlerror());
		return -ENOEXEC;
	}
	add_object(&m, lm);
	m.plugin_n = m.n;
	/* libmodvm: the SDK's standard event descriptors live there. */
	lm = NULL;
	if (dladdr1((void *)modvm__plugin_check_pointers, &info, (void **)&lm, RTLD_DL_LINKMAP) &&
	    lm)
		add_object(&m, lm);
	if (m.plugin_n == 0) {
		modvm_log(level, NULL, "%s: no loaded segments found", path);
		return -ENOEXEC;
	}
	return check_memory(&m, d, path, level) < 0 ? -ENOEXEC : 0;
}
