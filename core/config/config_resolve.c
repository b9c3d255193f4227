/*
 * Validating the config's groups (host, a plugin's, a VM's, a VM's plugin
 * group) against an option table.
 *
 * Two passes over the same group: first every key in the file must be
 * declared (recursing into the groups that dotted names open), then every
 * declared option is looked up, type- and range-checked or defaulted.  All
 * problems are logged before giving up, so one run shows every mistake.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_impl.h"

struct walk {
	const struct modvm__cfgfile *cf;
	const struct modvm_option *table;
	size_t n;
	const char *const *skip;	/* allowed extra members of the top group */
	bool skip_groups;		/* …which must then be groups */
	int errors;
};

static void join(char *buf, size_t len, const char *a, const char *sep, const char *b)
{
	if (snprintf(buf, len, "%s%s%s", a, sep, b) >= (int)len)
		buf[len - 1] = '\0';
}

static bool in_list(const char *const *list, const char *name)
{
	for (; list && *list; list++)
		if (!strcmp(*list, name))
			return true;
	return false;
}

static bool is_option(const struct walk *w, const char *full)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->table[i].name, full))
			return true;
	return false;
}

/* True if some dotted option lives inside the group @full. */
static bool is_group(const struct walk *w, const char *full)
{
	size_t len = strlen(full);

	for (size_t i = 0; i < w->n; i++)
		if (!strncmp(w->table[i].name, full, len) && w->table[i].name[len] == '.')
			return true;
	return false;
}

/* The names allowed directly under @prefix ("" or "cpu."), table order. */
static void known_keys(const struct walk *w, const char *prefix, bool top, char *buf, size_t len)
{
	size_t plen = strlen(prefix), used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < w->n; i++) {
		const char *name = w->table[i].name;
		const char *comp = name + plen, *dot;
		size_t clen;
		bool seen = false;

		if (strncmp(name, prefix, plen))
			continue;
		dot = strchr(comp, '.');
		clen = dot ? (size_t)(dot - comp) : strlen(comp);
		for (size_t k = 0; k < i && !seen; k++)
			seen = !strncmp(w->table[k].name, prefix, plen) &&
			       !strncmp(w->table[k].name + plen, comp, clen) &&
			       (w->table[k].name[plen + clen] == '.' ||
				w->table[k].name[plen + clen] == '\0');
		if (!seen && used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s%.*s", used ? ", " : "",
						 (int)clen, comp);
	}
	for (const char *const *s = w->skip; top && s && *s; s++)
		if (used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", *s);
}

static void find_unknown(struct walk *w, const config_setting_t *group, const char *prefix,
			 const char *keypath)
{
	char full[MODVM__CFG_TEXT_MAX], key[MODVM__CFG_TEXT_MAX], known[MODVM__CFG_TEXT_MAX];
	bool top = !*prefix;
	int n = config_setting_length(group);

	for (int k = 0; k < n; k++) {
		const config_setting_t *m = config_setting_get_elem(group, (unsigned)k);
		const char *name = config_setting_name(m);

		join(full, sizeof(full), prefix, "", name);
		join(key, sizeof(key), keypath, ".", name);
		if (top && in_list(w->skip, name)) {
			if (w->skip_groups && !config_setting_is_group(m)) {
				modvm__cfg_error(w->cf, m, key, "expected a group, got %s",
						 modvm__cfg_type_name(m));
				w->errors++;
			}
		} else if (is_option(w, full)) {
			continue;	/* checked with its value */
		} else if (is_group(w, full)) {
			if (!config_setting_is_group(m)) {
				modvm__cfg_error(w->cf, m, key, "expected a group, got %s",
						 modvm__cfg_type_name(m));
				w->errors++;
				continue;
			}
			join(full, sizeof(full), prefix, "", name);
			strncat(full, ".", sizeof(full) - strlen(full) - 1);
			find_unknown(w, m, full, key);
		} else {
			known_keys(w, prefix, top, known, sizeof(known));
			if (*known)
				modvm__cfg_error(w->cf, m, key, "unknown key (known: %s)", known);
			else
				modvm__cfg_error(w->cf, m, key, "unknown key (this group takes no keys)");
			w->errors++;
		}
	}
}

static int resolve_group(const struct modvm__cfgfile *cf, const config_setting_t *group,
			 const char *keypath, const struct modvm_option *table,
			 const char *const *skip, bool skip_groups,
			 struct modvm_config **out);

/* Longest decimal text of a 64-bit integer, sign and NUL included. */
#define NUM_TEXT_MAX 24

/* Type-checks the file value @s of @opt into @v; @shown gets a quoted
 * string for sizes written as text.  A bare integer for a STRING option is
 * written into @num, which v->s then borrows until modvm__cfg_store copies
 * it into the config. */
static int from_setting(const struct modvm_option *opt, const config_setting_t *s,
			struct modvm__cfgval *v, char *shown, size_t slen, char num[NUM_TEXT_MAX],
			char *what, size_t len)
{
	int type = config_setting_type(s);
	bool is_int = type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64;
	const char *expected = NULL;
	long long ll = type == CONFIG_TYPE_INT64 ? config_setting_get_int64(s) :
			type == CONFIG_TYPE_INT ? config_setting_get_int(s) : 0;
	int r;

	memset(v, 0, sizeof(*v));
	shown[0] = '\0';
	switch (opt->type) {
	case MODVM_OPT_BOOL:
		if (type == CONFIG_TYPE_BOOL)
			v->b = config_setting_get_bool(s);
		else
			expected = "a boolean";
		break;
	case MODVM_OPT_INT:
		if (is_int)
			v->i = ll;
		else
			expected = "an integer";
		break;
	case MODVM_OPT_SIZE:
		if (is_int && ll < 0) {
			snprintf(what, len, "%lld is not a size " MODVM__CFG_SIZE_HINT, ll);
			return -EINVAL;
		} else if (is_int) {
			v->u = (uint64_t)ll;
		} else if (type == CONFIG_TYPE_STRING) {
			r = modvm__cfg_from_text(opt, config_setting_get_string(s), v, what, len);
			if (r)
				return r;
			snprintf(shown, slen, "\"%s\"", config_setting_get_string(s));
		} else {
			expected = "a size (bytes or a string like \"512M\")";
		}
		break;
	case MODVM_OPT_DOUBLE:
		if (type == CONFIG_TYPE_FLOAT)
			v->d = config_setting_get_float(s);
		else if (is_int)
			v->d = (double)ll;
		else
			expected = "a number";
		break;
	case MODVM_OPT_STRING:
	case MODVM_OPT_ENUM:
		if (type == CONFIG_TYPE_STRING) {
			v->s = config_setting_get_string(s);
		} else if (is_int && opt->type == MODVM_OPT_STRING) {
			/* Options like "2" or "50%" get written unquoted; an
			 * enum's choices are words, so it stays strict. */
			snprintf(num, NUM_TEXT_MAX, "%lld", ll);
			v->s = num;
		} else {
			expected = "a string";
		}
		break;
	default:
		snprintf(what, len, "unknown option type %d", (int)opt->type);
		return -EINVAL;
	}
	if (expected) {
		if (opt->type == MODVM_OPT_ENUM)
			snprintf(what, len, "expected one of %s, got %s", opt->choices,
				 modvm__cfg_type_name(s));
		else
			snprintf(what, len, "expected %s, got %s", expected, modvm__cfg_type_name(s));
		return -EINVAL;
	}
	return 0;
}

/*
 * Finds the setting of dotted @name under @group.  *@enclosing gets the
 * deepest group that exists on the way (for "required key missing").
 * Returns NULL with *@blocked set if a group on the way is not a group
 * (already reported by find_unknown).
 */
static const config_setting_t *lookup(const config_setting_t *group, const char *name,
				      const config_setting_t **enclosing, bool *blocked)
{
	char comp[MODVM__CFG_TEXT_MAX];
	const config_setting_t *cur = group;

	*enclosing = group;
	*blocked = false;
	for (const char *p = name; cur;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (!config_setting_is_group(cur)) {
			*blocked = true;
			return NULL;
		}
		*enclosing = cur;
		snprintf(comp, sizeof(comp), "%.*s", (int)n, p);
		cur = config_setting_get_member(cur, comp);
		if (!dot)
			return cur;
		p = dot + 1;
	}
	return NULL;
}

/*
 * A LIST in the file: `( { … }, … )` (or an empty `[]`), its element count
 * in range, each element a group validated against the list's element
 * table under the key "KEY.[N]".  Every element's errors are logged before
 * giving up.
 */
static int resolve_list(struct walk *w, const config_setting_t *s, const char *key, size_t i,
			struct modvm_config *cfg)
{
	const struct modvm_option *opt = &w->table[i];
	char what[MODVM__CFG_TEXT_MAX], ekey[MODVM__CFG_TEXT_MAX], where[MODVM__CFG_TEXT_MAX];
	int type = config_setting_type(s), n = config_setting_length(s), r = 0, errors = 0;
	struct modvm__cfgval v = { .u = (uint64_t)(n > 0 ? n : 0) };
	struct modvm_option *elem_table;

	if (type != CONFIG_TYPE_LIST && !(type == CONFIG_TYPE_ARRAY && n == 0)) {
		modvm__cfg_error(w->cf, s, key, "expected a list of groups ( { ... }, ... ), got %s",
				 modvm__cfg_type_name(s));
		w->errors++;
		return 0;
	}
	if (modvm__cfg_check_range(opt, &v, NULL, what, sizeof(what))) {
		modvm__cfg_error(w->cf, s, key, "%s", what);
		w->errors++;
		return 0;
	}
	elem_table = modvm__cfg_elem_table(w->table, i);
	v.elems = calloc(v.u ? v.u : 1, sizeof(*v.elems));
	if (!elem_table || !v.elems) {
		r = -ENOMEM;
		goto free;
	}
	for (int k = 0; k < n && r != -ENOMEM; k++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)k);

		if (snprintf(ekey, sizeof(ekey), "%s.[%d]", key, k) >= (int)sizeof(ekey))
			ekey[sizeof(ekey) - 1] = '\0';
		if (!config_setting_is_group(e)) {
			modvm__cfg_error(w->cf, e, ekey, "expected a group, got %s",
					 modvm__cfg_type_name(e));
			errors++;
			continue;
		}
		r = resolve_group(w->cf, e, ekey, elem_table, NULL, false, &v.elems[k]);
		if (r == -EINVAL)
			errors++;	/* logged; look at the other elements too */
	}
	if (r == -ENOMEM)
		goto free;
	r = 0;
	if (errors) {
		w->errors += errors;
		goto free;
	}
	modvm__cfg_where(w->cf, s, where, sizeof(where));
	free(elem_table);
	return modvm__cfg_store(cfg, i, &v, where);
free:
	for (uint64_t k = 0; v.elems && k < v.u; k++)
		modvm__config_free(v.elems[k]);
	free(v.elems);
	free(elem_table);
	return r;
}

static int resolve_option(struct walk *w, const config_setting_t *group, const char *keypath,
			  size_t i, struct modvm_config *cfg)
{
	const struct modvm_option *opt = &w->table[i];
	char key[MODVM__CFG_TEXT_MAX], what[MODVM__CFG_TEXT_MAX], shown[MODVM__CFG_TEXT_MAX];
	char where[MODVM__CFG_TEXT_MAX], num[NUM_TEXT_MAX];
	const config_setting_t *s = NULL, *enclosing = NULL;
	struct modvm__cfgval v;
	bool blocked = false;

	if (modvm__cfg_list_of(w->table, i) != SIZE_MAX)
		return 0;	/* an element field: its list's elements check it */
	join(key, sizeof(key), keypath, ".", opt->name);
	if (group)
		s = lookup(group, opt->name, &enclosing, &blocked);
	if (blocked)
		return 0;
	if (!s && opt->default_value) {
		/* check_table already proved the default valid. */
		modvm__cfg_from_text(opt, opt->default_value, &v, what, sizeof(what));
		return modvm__cfg_store(cfg, i, &v, NULL);
	}
	if (!s) {
		modvm__cfg_error(w->cf, enclosing, key, "required key missing");
		w->errors++;
		return 0;
	}
	if (opt->type == MODVM_OPT_LIST)
		return resolve_list(w, s, key, i, cfg);
	if (from_setting(opt, s, &v, shown, sizeof(shown), num, what, sizeof(what)) ||
	    modvm__cfg_check_range(opt, &v, *shown ? shown : NULL, what, sizeof(what))) {
		modvm__cfg_error(w->cf, s, key, "%s", what);
		w->errors++;
		return 0;
	}
	modvm__cfg_where(w->cf, s, where, sizeof(where));
	return modvm__cfg_store(cfg, i, &v, where);
}

/* Validates @group (NULL = absent: all defaults) against @table.  Members
 * named in @skip (NULL-terminated, may be NULL) at the group's top level are
 * left alone if they are groups (@skip_groups) or any type (!@skip_groups). */
static int resolve_group(const struct modvm__cfgfile *cf, const config_setting_t *group,
			 const char *keypath, const struct modvm_option *table,
			 const char *const *skip, bool skip_groups,
			 struct modvm_config **out)
{
	struct walk w = {
		.cf = cf, .table = table, .n = modvm__cfg_table_len(table),
		.skip = skip, .skip_groups = skip_groups,
	};
	char err[MODVM__CFG_TEXT_MAX];
	struct modvm_config *cfg;
	int r = 0;

	*out = NULL;
	if (modvm__config_check_table(table, err, sizeof(err))) {
		modvm_log(MODVM_LOG_ERROR, NULL, "%s: option table: %s", keypath, err);
		return -EINVAL;
	}
	cfg = modvm__cfg_alloc(table);
	if (!cfg || modvm__cfg_set_key(cfg, keypath)) {
		modvm__config_free(cfg);
		return -ENOMEM;
	}
	if (group)
		find_unknown(&w, group, "", keypath);
	for (size_t i = 0; i < w.n && !r; i++)
		r = resolve_option(&w, group, keypath, i, cfg);
	if (!r && w.errors)
		r = -EINVAL;
	if (r) {
		modvm__config_free(cfg);
		return r;
	}
	*out = cfg;
	return 0;
}

/* ---- the groups of a parsed file ---- */

static int out_of_range(const char *what, size_t i, size_t n, struct modvm_config **out)
{
	*out = NULL;
	modvm_log(MODVM_LOG_ERROR, NULL, "config: %s index %zu out of range (%zu)", what, i, n);
	return -EINVAL;
}

MODVM_INTERNAL int modvm__config_resolve_host(const struct modvm__cfgfile *cf,
					      const struct modvm_option *table,
					      struct modvm_config **out)
{
	const config_setting_t *host =
		config_setting_get_member(config_root_setting(&cf->lc), "host");

	return resolve_group(cf, host, "host", table, NULL, false, out);
}

MODVM_INTERNAL int modvm__config_resolve_plugin(const struct modvm__cfgfile *cf, size_t i,
						const struct modvm_option *table,
						struct modvm_config **out)
{
	static const char *const skip[] = { "enabled", NULL };
	char key[MODVM__CFG_TEXT_MAX];

	if (i >= cf->nplugins)
		return out_of_range("plugin", i, cf->nplugins, out);
	snprintf(key, sizeof(key), "plugins.%s", cf->plugins[i].name);
	return resolve_group(cf, cf->plugins[i].group, key, table, skip, false, out);
}

MODVM_INTERNAL int modvm__config_resolve_vm(const struct modvm__cfgfile *cf, size_t i,
					    const struct modvm_option *table,
					    const char *const *plugin_groups,
					    struct modvm_config **out)
{
	char key[32];

	if (i >= cf->nvms)
		return out_of_range("VM", i, cf->nvms, out);
	snprintf(key, sizeof(key), "vms.[%zu]", i);
	return resolve_group(cf, cf->vms[i], key, table, plugin_groups, true, out);
}

MODVM_INTERNAL int modvm__config_resolve_vm_plugin(const struct modvm__cfgfile *cf, size_t i,
						   const char *plugin,
						   const struct modvm_option *table,
						   struct modvm_config **out)
{
	char key[MODVM__CFG_TEXT_MAX];
	config_setting_t *g;

	if (i >= cf->nvms)
		return out_of_range("VM", i, cf->nvms, out);
	*out = NULL;
	if (!plugin)
		return -EINVAL;
	g = config_setting_get_member(cf->vms[i], plugin);
	if (!g)
		return 0;
	snprintf(key, sizeof(key), "vms.[%zu].%s", i, plugin);
	if (!config_setting_is_group(g)) {
		modvm__cfg_error(cf, g, key, "expected a group, got %s", modvm__cfg_type_name(g));
		return -EINVAL;
	}
	return resolve_group(cf, g, key, table, NULL, false, out);
}
