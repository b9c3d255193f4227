/*
 * Option tables for people: the columns of `modvm plugins --describe` and
 * `modvm help config`, and the same facts as man(7) source for
 * modvm.conf(5), which tools/mangen writes at build time from the tables
 * themselves.  One walk over a table, two spellings: they cannot drift.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char *type_name(enum modvm_opt_type t)
{
	static const char *const names[] = {
		[MODVM_OPT_BOOL] = "bool",	[MODVM_OPT_INT] = "int",
		[MODVM_OPT_SIZE] = "size",	[MODVM_OPT_DOUBLE] = "double",
		[MODVM_OPT_STRING] = "string",	[MODVM_OPT_ENUM] = "enum",
		[MODVM_OPT_LIST] = "list",
	};

	return t > MODVM_OPT_END && t <= MODVM_OPT_LIST ? names[t] : "?";
}

/* Bytes in the config's own syntax ("4G"), so the range reads like the file. */
static void fmt_size(int64_t v, char *buf, size_t len)
{
	static const char suffix[] = "KMGTPE";
	int i = -1;

	while (v != 0 && v % 1024 == 0 && i < 5) {
		v /= 1024;
		i++;
	}
	if (i < 0)
		snprintf(buf, len, "%" PRId64, v);
	else
		snprintf(buf, len, "%" PRId64 "%c", v, suffix[i]);
}

/*
 * "range LO..HI", "choices A|B" or "LO..HI elements" (a list, whose element
 * fields follow as "NAME.FIELD" rows), or "" when the option has none.
 */
static void limits(const struct modvm_option *t, char *out, size_t len)
{
	char lo[32], hi[32];

	out[0] = '\0';
	if (t->type == MODVM_OPT_ENUM) {
		snprintf(out, len, "choices %s", t->choices);
	} else if (t->type == MODVM_OPT_LIST) {
		if (t->min || t->max)
			snprintf(out, len, "%" PRId64 "..%" PRId64 " elements", t->min, t->max);
	} else if ((t->min || t->max) && t->type != MODVM_OPT_BOOL &&
		   t->type != MODVM_OPT_STRING) {
		if (t->type == MODVM_OPT_SIZE) {
			fmt_size(t->min, lo, sizeof(lo));
			fmt_size(t->max, hi, sizeof(hi));
		} else {
			snprintf(lo, sizeof(lo), "%" PRId64, t->min);
			snprintf(hi, sizeof(hi), "%" PRId64, t->max);
		}
		snprintf(out, len, "range %s..%s", lo, hi);
	}
}

void cli_man_escape(FILE *f, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", f);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '\n')
			fputs(" ", f);
		else
			fputc(*s, f);
	}
}

static void text_option(FILE *f, const struct modvm_option *t, int w)
{
	/* Strings are quoted as the config file writes them. */
	bool quote = t->type == MODVM_OPT_STRING || t->type == MODVM_OPT_ENUM;
	char range[512];

	limits(t, range, sizeof(range));
	if (t->default_value)
		fprintf(f, "  %-*s %-7s default %s%s%s%s%s\n", w, t->name, type_name(t->type),
			quote ? "\"" : "", t->default_value, quote ? "\"" : "", range[0] ? "  " : "",
			range);
	else
		fprintf(f, "  %-*s %-7s required%s%s\n", w, t->name, type_name(t->type),
			range[0] ? "  " : "", range);
	if (t->description)
		fprintf(f, "  %-*s %s\n", w, "", t->description);
}

static void man_option(FILE *f, const struct modvm_option *t)
{
	bool quote = t->type == MODVM_OPT_STRING || t->type == MODVM_OPT_ENUM;
	char range[512];

	limits(t, range, sizeof(range));
	fputs(".TP\n.B ", f);
	cli_man_escape(f, t->name);
	fprintf(f, "\n\\fI%s\\fR, ", type_name(t->type));
	if (t->default_value) {
		fprintf(f, "default \\fB%s", quote ? "\"" : "");
		cli_man_escape(f, t->default_value);
		fprintf(f, "%s\\fR", quote ? "\"" : "");
	} else {
		fputs("required", f);
	}
	if (range[0]) {
		fputs(", ", f);
		cli_man_escape(f, range);
	}
	fputs("\n", f);
	if (t->description) {
		fputs(".br\n", f);
		cli_man_escape(f, t->description);
		fputs("\n", f);
	}
}

void cli_print_options(FILE *f, enum cli_format fmt, const char *title,
		       const struct modvm_option *t)
{
	if (fmt == CLI_MAN) {
		if (title) {
			fputs(".SS \"", f);
			cli_man_escape(f, title);
			fputs("\"\n", f);
		}
		if (!t || !t->name)
			fputs("(none)\n", f);
		for (; t && t->name; t++)
			man_option(f, t);
		return;
	}
	fprintf(f, "%s\n", title);
	if (!t || !t->name)
		fprintf(f, "  (none)\n");
	/* Names line up even when list fields make them long ("disks.limit.ops_burst"). */
	int w = 20;
	for (const struct modvm_option *o = t; o && o->name; o++)
		if ((int)strlen(o->name) > w)
			w = (int)strlen(o->name);
	for (; t && t->name; t++)
		text_option(f, t, w);
}

void cli_describe_plugin(FILE *f, const char *path, const struct modvm_plugin *d)
{
	char title[128];

	fprintf(f, "%s %s\n", d->name, d->version ? d->version : "?");
	fprintf(f, "  file         %s\n", path);
	fprintf(f, "  kind         %s\n", modvm_plugin_kind_name((int)d->kind));
	fprintf(f, "  license      %s\n", d->license ? d->license : "(unspecified)");
	fprintf(f, "  ABI          %u.%u\n", (unsigned)d->abi_major, (unsigned)d->abi_minor);
	fprintf(f, "  description  %s\n", d->description ? d->description : "");
	fprintf(f, "  requires     ");
	for (size_t i = 0; d->requires && d->requires[i]; i++)
		fprintf(f, "%s%s", i ? ", " : "", d->requires[i]);
	fprintf(f, "%s\n", d->requires && d->requires[0] ? "" : "(nothing)");
	fprintf(f, "\n");
	snprintf(title, sizeof(title), "options (plugins.%s):", d->name);
	cli_print_options(f, CLI_TEXT, title, d->options);
	snprintf(title, sizeof(title), "vm options (vms.[].%s):", d->name);
	cli_print_options(f, CLI_TEXT, title, d->vm_options);
	fprintf(f, "events:\n");
	if (!d->events || !d->events[0])
		fprintf(f, "  (none)\n");
	for (size_t i = 0; d->events && d->events[i]; i++)
		fprintf(f, "  %-28s v%u  %u bytes\n", d->events[i]->name,
			(unsigned)d->events[i]->version, (unsigned)d->events[i]->payload_size);
}
