/*
 * core/config_values.c — option tables and the values resolved from them.
 *
 * Everything here is independent of libconfig: parsing the text syntax of
 * defaults (and of the conformance kit's bad values), range and choice
 * checks, the self-contained struct modvm_config and its accessors.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_impl.h"

struct modvm_config {
	char *key;	/* "vms.[0].virtio-blk"; NULL: "" */
	size_t n;
	struct cfg_entry {
		char *name;
		enum modvm_opt_type type;
		bool set;
		bool field;	/* an element field of a LIST: read through its elements */
		char *where;	/* NULL = "(default)" */
		bool b;
		int64_t i;
		uint64_t u;
		double d;
		char *s;
		size_t count;			/* LIST */
		struct modvm_config **elems;	/* LIST: count of them */
	} e[];
};

static bool is_terminator(const struct modvm_option *opt)
{
	return opt->name == NULL && opt->type == MODVM_OPT_END;
}

size_t modvm__cfg_table_len(const struct modvm_option *table)
{
	size_t n = 0;

	while (table && !is_terminator(&table[n]))
		n++;
	return n;
}

MODVM_EXPORT int modvm_parse_size(const char *text, uint64_t *out)
{
	uint64_t n = 0;
	bool overflow = false;
	unsigned shift = 0;
	const char *p = text;

	if (!text || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (n > (UINT64_MAX - d) / 10)
			overflow = true;
		else
			n = n * 10 + d;
	}
	switch (tolower((unsigned char)*p)) {
	case 'k': shift = 10; break;
	case 'm': shift = 20; break;
	case 'g': shift = 30; break;
	case 't': shift = 40; break;
	}
	if (shift)
		p++;
	/* "4G", "4GB", "4GiB" and "4096B" all mean what a person expects. */
	if (shift && (*p == 'i' || *p == 'I') && (p[1] == 'b' || p[1] == 'B'))
		p += 2;
	else if (*p == 'b' || *p == 'B')
		p++;
	if (*p)
		return -EINVAL;
	if (overflow || (shift && n > (UINT64_MAX >> shift)))
		return -ERANGE;
	*out = n << shift;
	return 0;
}

void modvm__cfg_fmt_size(uint64_t bytes, char *buf, size_t len)
{
	static const struct {
		char suffix;
		unsigned shift;
	} units[] = { { 'T', 40 }, { 'G', 30 }, { 'M', 20 }, { 'K', 10 } };

	for (size_t k = 0; bytes && k < sizeof(units) / sizeof(units[0]); k++) {
		uint64_t unit = UINT64_C(1) << units[k].shift;

		if (bytes % unit == 0) {
			snprintf(buf, len, "%" PRIu64 "%c", bytes / unit, units[k].suffix);
			return;
		}
	}
	snprintf(buf, len, "%" PRIu64, bytes);
}

/* Decimal or 0x-hex, as libconfig writes integers. */
static int parse_int64(const char *text, int64_t *out)
{
	const char *digits = text;
	char *end;
	int base = 10;

	if (*digits == '-' || *digits == '+')
		digits++;
	if (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X'))
		base = 16;
	if (!isdigit((unsigned char)*digits))
		return -EINVAL;
	errno = 0;
	long long v = strtoll(text, &end, base);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	*out = v;
	return 0;
}

static int whatf(char *what, size_t len, const char *fmt, ...) MODVM_PRINTF(3, 4);
static int whatf(char *what, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int modvm__cfg_from_text(const struct modvm_option *opt, const char *text,
			 struct modvm__cfgval *v, char *what, size_t len)
{
	char *end;
	int r;

	memset(v, 0, sizeof(*v));
	if (!text)
		return whatf(what, len, "no value");
	switch (opt->type) {
	case MODVM_OPT_BOOL:
		if (!strcasecmp(text, "true"))
			v->b = true;
		else if (strcasecmp(text, "false"))
			return whatf(what, len, "\"%s\" is not a boolean (use true or false)", text);
		return 0;
	case MODVM_OPT_INT:
		r = parse_int64(text, &v->i);
		if (r == -ERANGE)
			return whatf(what, len, "\"%s\" does not fit in 64 bits", text);
		if (r)
			return whatf(what, len, "\"%s\" is not an integer", text);
		return 0;
	case MODVM_OPT_SIZE:
		r = modvm_parse_size(text, &v->u);
		if (r == -ERANGE)
			return whatf(what, len, "\"%s\" is too large for a size", text);
		if (r)
			return whatf(what, len, "\"%s\" is not a size " MODVM__CFG_SIZE_HINT, text);
		return 0;
	case MODVM_OPT_DOUBLE:
		errno = 0;
		v->d = strtod(text, &end);
		if (end == text || *end || errno == ERANGE || !isfinite(v->d))
			return whatf(what, len, "\"%s\" is not a number", text);
		return 0;
	case MODVM_OPT_STRING:
	case MODVM_OPT_ENUM:
		v->s = text;
		return 0;
	case MODVM_OPT_LIST:
		/* Only the empty list has a text form: elements are groups. */
		if (strcmp(text, "()"))
			return whatf(what, len,
				     "\"%s\" is not a list (write ( { ... }, ... ) in the file; "
				     "the only default is \"()\")", text);
		return 0;
	default:
		return whatf(what, len, "unknown option type %d", (int)opt->type);
	}
}

static bool bounded(const struct modvm_option *opt)
{
	return opt->min != 0 || opt->max != 0;
}

static bool is_choice(const char *choices, const char *s)
{
	size_t slen = strlen(s);

	for (const char *p = choices; p && *p;) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);

		if (n == slen && !memcmp(p, s, n))
			return true;
		if (!bar)
			break;
		p = bar + 1;
	}
	return false;
}

int modvm__cfg_check_range(const struct modvm_option *opt, const struct modvm__cfgval *v,
			   const char *shown, char *what, size_t len)
{
	char lo[32], hi[32], val[64];

	switch (opt->type) {
	case MODVM_OPT_INT:
		if (bounded(opt) && (v->i < opt->min || v->i > opt->max))
			return whatf(what, len, "%" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]",
				     v->i, opt->min, opt->max);
		return 0;
	case MODVM_OPT_SIZE:
		/* check_table guarantees min >= 0; a negative max bounds nothing. */
		if (bounded(opt) && (opt->max < 0 || v->u < (uint64_t)opt->min ||
				     v->u > (uint64_t)opt->max)) {
			modvm__cfg_fmt_size((uint64_t)opt->min, lo, sizeof(lo));
			modvm__cfg_fmt_size((uint64_t)opt->max, hi, sizeof(hi));
			if (!shown) {
				snprintf(val, sizeof(val), "%" PRIu64, v->u);
				shown = val;
			}
			return whatf(what, len, "%s is out of range [%s, %s]", shown, lo, hi);
		}
		return 0;
	case MODVM_OPT_DOUBLE:
		if (bounded(opt) && (v->d < (double)opt->min || v->d > (double)opt->max))
			return whatf(what, len, "%g is out of range [%" PRId64 ", %" PRId64 "]", v->d,
				     opt->min, opt->max);
		return 0;
	case MODVM_OPT_ENUM:
		if (!is_choice(opt->choices, v->s))
			return whatf(what, len, "\"%s\" is not one of %s", v->s,
				     opt->choices ? opt->choices : "(no choices)");
		return 0;
	case MODVM_OPT_LIST:
		if (bounded(opt) && (v->u < (uint64_t)opt->min || v->u > (uint64_t)opt->max))
			return whatf(what, len, "%" PRIu64 " element%s, allowed [%" PRId64 ", %" PRId64 "]",
				     v->u, v->u == 1 ? "" : "s", opt->min, opt->max);
		return 0;
	default:
		return 0;
	}
}

MODVM_INTERNAL int modvm__config_check_value(const struct modvm_option *opt, const char *value,
					     char *err, size_t errlen)
{
	char local[MODVM__CFG_TEXT_MAX], shown[MODVM__CFG_TEXT_MAX];
	struct modvm__cfgval v;

	if (!err || !errlen) {
		err = local;
		errlen = sizeof(local);
	}
	if (!opt || is_terminator(opt))
		return whatf(err, errlen, "no option");
	if (modvm__cfg_from_text(opt, value, &v, err, errlen))
		return -EINVAL;
	snprintf(shown, sizeof(shown), "\"%s\"", value);
	return modvm__cfg_check_range(opt, &v, opt->type == MODVM_OPT_SIZE ? shown : NULL, err,
				      errlen);
}

/* libconfig's name syntax, so every declared option can be written. */
static bool valid_component(const char *p, size_t n)
{
	if (n == 0 || !(isalpha((unsigned char)p[0]) || p[0] == '*'))
		return false;
	for (size_t k = 1; k < n; k++)
		if (!(isalnum((unsigned char)p[k]) || strchr("-_*", p[k])))
			return false;
	return true;
}

static bool valid_name(const char *name)
{
	for (const char *p = name;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (!valid_component(p, n))
			return false;
		if (!dot)
			return true;
		p = dot + 1;
	}
}

/* True if @group names a group of options that @name lives in. */
static bool is_prefix_group(const char *group, const char *name)
{
	size_t n = strlen(group);

	return !strncmp(group, name, n) && name[n] == '.';
}

static int check_one(const struct modvm_option *table, size_t i, char *err, size_t len)
{
	const struct modvm_option *o = &table[i];
	char what[MODVM__CFG_TEXT_MAX];

	if (!o->name || !*o->name)
		return whatf(err, len, "option #%zu has no name", i);
	if (!valid_name(o->name))
		return whatf(err, len,
			     "option \"%s\": bad name (letters, digits, '-', '_'; '.' between groups)",
			     o->name);
	for (size_t k = 0; k < i; k++) {
		if (!strcmp(table[k].name, o->name))
			return whatf(err, len, "option \"%s\": declared twice", o->name);
		/* "a" and "a.b" clash, unless "a" is a list and "a.b" its field. */
		if ((is_prefix_group(table[k].name, o->name) && table[k].type != MODVM_OPT_LIST) ||
		    (is_prefix_group(o->name, table[k].name) && o->type != MODVM_OPT_LIST))
			return whatf(err, len, "option \"%s\": clashes with option \"%s\"", o->name,
				     table[k].name);
	}
	if (o->type <= MODVM_OPT_END || o->type > MODVM_OPT_LIST)
		return whatf(err, len, "option \"%s\": unknown type %d", o->name, (int)o->type);
	if (o->type == MODVM_OPT_LIST) {
		bool fields = false;

		for (size_t k = 0; table[k].name || table[k].type != MODVM_OPT_END; k++)
			fields = fields || (table[k].name && is_prefix_group(o->name, table[k].name));
		if (!fields)
			return whatf(err, len,
				     "option \"%s\": a list needs element fields (\"%s.FIELD\")",
				     o->name, o->name);
		if (o->min < 0)
			return whatf(err, len, "option \"%s\": a negative element count", o->name);
	}
	if (o->min > o->max)
		return whatf(err, len, "option \"%s\": min %" PRId64 " is greater than max %" PRId64,
			     o->name, o->min, o->max);
	if (o->type == MODVM_OPT_SIZE && o->min < 0)
		return whatf(err, len, "option \"%s\": a size cannot have a negative bound", o->name);
	if (o->type == MODVM_OPT_ENUM) {
		if (!o->choices || !*o->choices)
			return whatf(err, len, "option \"%s\": an enum needs choices (\"a|b\")", o->name);
		if (o->choices[0] == '|' || o->choices[strlen(o->choices) - 1] == '|' ||
		    strstr(o->choices, "||"))
			return whatf(err, len, "option \"%s\": empty choice in \"%s\"", o->name,
				     o->choices);
	}
	if (o->default_value && modvm__config_check_value(o, o->default_value, what, sizeof(what)))
		return whatf(err, len, "option \"%s\": default %s", o->name, what);
	return 0;
}

MODVM_INTERNAL int modvm__config_check_table(const struct modvm_option *table, char *err,
					     size_t errlen)
{
	char local[MODVM__CFG_TEXT_MAX];
	size_t n = modvm__cfg_table_len(table);

	if (!err || !errlen) {
		err = local;
		errlen = sizeof(local);
	}
	for (size_t i = 0; i < n; i++)
		if (check_one(table, i, err, errlen))
			return -EINVAL;
	return 0;
}

MODVM_INTERNAL void modvm__config_free(struct modvm_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n; i++) {
		free(cfg->e[i].name);
		free(cfg->e[i].where);
		free(cfg->e[i].s);
		for (size_t k = 0; k < cfg->e[i].count; k++)
			modvm__config_free(cfg->e[i].elems[k]);
		free(cfg->e[i].elems);
	}
	free(cfg->key);
	free(cfg);
}

struct modvm_config *modvm__cfg_alloc(const struct modvm_option *table)
{
	size_t n = modvm__cfg_table_len(table);
	struct modvm_config *cfg = calloc(1, sizeof(*cfg) + n * sizeof(cfg->e[0]));

	if (!cfg)
		return NULL;
	cfg->n = n;
	for (size_t i = 0; i < n; i++) {
		cfg->e[i].type = table[i].type;
		cfg->e[i].field = modvm__cfg_list_of(table, i) != SIZE_MAX;
		/* Copied: the table may live in a plugin that is unloaded first. */
		cfg->e[i].name = strdup(table[i].name);
		if (!cfg->e[i].name) {
			modvm__config_free(cfg);
			return NULL;
		}
	}
	return cfg;
}

int modvm__cfg_set_key(struct modvm_config *cfg, const char *key)
{
	free(cfg->key);
	cfg->key = key ? strdup(key) : NULL;
	return key && !cfg->key ? -ENOMEM : 0;
}

int modvm__cfg_store(struct modvm_config *cfg, size_t i, const struct modvm__cfgval *v,
		     const char *where)
{
	struct cfg_entry *e = &cfg->e[i];

	switch (e->type) {
	case MODVM_OPT_BOOL: e->b = v->b; break;
	case MODVM_OPT_INT: e->i = v->i; break;
	case MODVM_OPT_SIZE: e->u = v->u; break;
	case MODVM_OPT_DOUBLE: e->d = v->d; break;
	case MODVM_OPT_LIST:
		/* The elements move into the config (v->elems is consumed). */
		for (size_t k = 0; k < e->count; k++)
			modvm__config_free(e->elems[k]);
		free(e->elems);
		e->elems = v->elems;
		e->count = v->elems ? (size_t)v->u : 0;
		break;
	default:
		free(e->s);
		e->s = v->s ? strdup(v->s) : NULL;
		if (v->s && !e->s)
			return -ENOMEM;
		break;
	}
	free(e->where);
	e->where = NULL;
	e->set = where != NULL;
	if (where && !(e->where = strdup(where)))
		return -ENOMEM;
	return 0;
}

MODVM_INTERNAL int modvm__config_defaults(const struct modvm_option *table,
					  struct modvm_config **out)
{
	char err[MODVM__CFG_TEXT_MAX];
	struct modvm__cfgval v;
	struct modvm_config *cfg;
	size_t n = modvm__cfg_table_len(table);

	*out = NULL;
	if (modvm__config_check_table(table, err, sizeof(err))) {
		modvm_log(MODVM_LOG_ERROR, NULL, "option table: %s", err);
		return -EINVAL;
	}
	cfg = modvm__cfg_alloc(table);
	if (!cfg)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!table[i].default_value || cfg->e[i].field)
			continue;	/* required: stays zero / NULL; fields live in elements */
		modvm__cfg_from_text(&table[i], table[i].default_value, &v, err, sizeof(err));
		if (modvm__cfg_store(cfg, i, &v, NULL)) {
			modvm__config_free(cfg);
			return -ENOMEM;
		}
	}
	*out = cfg;
	return 0;
}

/* ---- accessors ---- */

static const char *type_name(enum modvm_opt_type t)
{
	switch (t) {
	case MODVM_OPT_BOOL: return "a boolean";
	case MODVM_OPT_INT: return "an integer";
	case MODVM_OPT_SIZE: return "a size";
	case MODVM_OPT_DOUBLE: return "a double";
	case MODVM_OPT_STRING: return "a string";
	case MODVM_OPT_ENUM: return "an enum";
	case MODVM_OPT_LIST: return "a list";
	default: return "of unknown type";
	}
}

/* @want = MODVM_OPT_END: any type. STRING also serves ENUM. */
static const struct cfg_entry *lookup(const struct modvm_config *cfg, const char *name,
				      enum modvm_opt_type want)
{
	if (!cfg || !name) {
		modvm_log(MODVM_LOG_ERROR, NULL, "config: option \"%s\" asked of %s",
			  name ? name : "(null)", cfg ? "a config" : "no config");
		return NULL;
	}
	for (size_t i = 0; i < cfg->n; i++) {
		const struct cfg_entry *e = &cfg->e[i];

		if (strcmp(e->name, name))
			continue;
		if (e->field) {
			modvm_log(MODVM_LOG_ERROR, NULL,
				  "config: option \"%s\" is a list element field: read it from "
				  "modvm_config_list_elem()", name);
			return NULL;
		}
		if (want == MODVM_OPT_END || e->type == want ||
		    (want == MODVM_OPT_STRING && e->type == MODVM_OPT_ENUM))
			return e;
		modvm_log(MODVM_LOG_ERROR, NULL, "config: option \"%s\" is %s, not %s", name,
			  type_name(e->type), type_name(want));
		return NULL;
	}
	modvm_log(MODVM_LOG_ERROR, NULL, "config: option \"%s\" is not declared", name);
	return NULL;
}

MODVM_EXPORT bool modvm_config_bool(const struct modvm_config *cfg, const char *name)
{
	const struct cfg_entry *e = lookup(cfg, name, MODVM_OPT_BOOL);

	return e ? e->b : false;
}

MODVM_EXPORT int64_t modvm_config_int(const struct modvm_config *cfg, const char *name)
{
	const struct cfg_entry *e = lookup(cfg, name, MODVM_OPT_INT);

	return e ? e->i : 0;
}

MODVM_EXPORT uint64_t modvm_config_size(const struct modvm_config *cfg, const char *name)
{
	const struct cfg_entry *e = lookup(cfg, name, MODVM_OPT_SIZE);

	return e ? e->u : 0;
}

MODVM_EXPORT double modvm_config_double(const struct modvm_config *cfg, const char *name)
{
	const struct cfg_entry *e = lookup(cfg, name, MODVM_OPT_DOUBLE);

	return e ? e->d : 0.0;
}

MODVM_EXPORT const char *modvm_config_string(const struct modvm_config *cfg, const char *name)
{
	const struct cfg_entry *e = lookup(cfg, name, MODVM_OPT_STRING);

	return e ? e->s : NULL;
}

MODVM_EXPORT bool modvm_config_is_set(const struct modvm_config *cfg, const char *name)
{
	const struct cfg_entry *e = lookup(cfg, name, MODVM_OPT_END);

	return e ? e->set : false;
}

MODVM_EXPORT const char *modvm_config_where(const struct modvm_config *cfg, const char *name)
{
	const struct cfg_entry *e = lookup(cfg, name, MODVM_OPT_END);

	if (!e)
		return NULL;
	return e->where ? e->where : "(default)";
}

MODVM_EXPORT size_t modvm_config_list_count(const struct modvm_config *cfg, const char *name)
{
	const struct cfg_entry *e = lookup(cfg, name, MODVM_OPT_LIST);

	return e ? e->count : 0;
}

MODVM_EXPORT const struct modvm_config *modvm_config_list_elem(const struct modvm_config *cfg,
								const char *name, size_t index)
{
	const struct cfg_entry *e = lookup(cfg, name, MODVM_OPT_LIST);

	return e && index < e->count ? e->elems[index] : NULL;
}

MODVM_EXPORT const char *modvm_config_key(const struct modvm_config *cfg)
{
	return cfg && cfg->key ? cfg->key : "";
}
