/*
 * mangen — writes modvm.conf(5) at build time from the option tables
 * themselves: libmodvm's host and VM tables and those of the plugins given
 * on the command line, through the same printer as `modvm help config` and
 * `modvm plugins --describe` (core/cli/describe.c), so the man page cannot
 * drift from what modvm accepts.  Not installed.
 *
 *   mangen TEMPLATE OUTPUT PLUGIN.so...
 *
 * TEMPLATE is man(7) source with two marker lines, troff comments where
 * the tables go: `.\"mangen core-options` and `.\"mangen plugin-options`.
 * The plugins are this build's own: they are opened with dlopen, without
 * the loader's ownership checks (a build directory's mode is the builder's
 * umask), and their descriptors read as the loader would after its checks.  Exit 0, or 1 with a line on stderr.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/plugin.h>

#include "cli/cli.h"
#include "host/host.h"

struct loaded {
	void *handle;
	const struct modvm_plugin *desc;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct loaded *)a)->desc->name, ((const struct loaded *)b)->desc->name);
}

static void core_options(FILE *out)
{
	fputs(".SS \"host\"\n", out);
	cli_print_options(out, CLI_MAN, NULL, modvm__host_options());
	fputs(".SS \"vms.[]\"\n", out);
	cli_print_options(out, CLI_MAN, NULL, modvm__host_vm_options());
}

static void plugin_options(FILE *out, const struct loaded *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct modvm_plugin *d = p[i].desc;

		fprintf(out, ".SS \"plugins.%s\"\n.B %s\n%s (%s", d->name, d->name,
			d->version ? d->version : "?", modvm_plugin_kind_name((int)d->kind));
		for (size_t r = 0; d->requires && d->requires[r]; r++)
			fprintf(out, "%s%s", r ? ", " : "; requires ", d->requires[r]);
		fputs(")", out);
		if (d->description) {
			fputs(": ", out);
			cli_man_escape(out, d->description);
		}
		fputs(".\n", out);
		if (!d->options || !d->options[0].name)
			fputs(".PP\nNo options besides\n.BR enabled .\n", out);
		else
			cli_print_options(out, CLI_MAN, NULL, d->options);
		if (d->vm_options && d->vm_options[0].name) {
			fprintf(out, ".SS \"vms.[].%s\"\n", d->name);
			cli_print_options(out, CLI_MAN, NULL, d->vm_options);
		}
	}
}

int main(int argc, char **argv)
{
	char sym[64], line[4096];
	struct loaded *plugins;
	size_t n = 0;
	FILE *in, *out;
	int rc = 1;

	if (argc < 3) {
		fprintf(stderr, "usage: mangen TEMPLATE OUTPUT PLUGIN.so...\n");
		return 1;
	}
	plugins = calloc((size_t)argc, sizeof(*plugins));
	if (!plugins)
		return 1;
	snprintf(sym, sizeof(sym), MODVM_PLUGIN_SYMBOL_NAME "%d", MODVM_ABI_MAJOR);
	for (int i = 3; i < argc; i++) {
		void *h = dlopen(argv[i], RTLD_NOW | RTLD_LOCAL);
		const struct modvm_plugin *d = h ? dlsym(h, sym) : NULL;

		if (!d || !d->name) {
			fprintf(stderr, "mangen: %s: %s\n", argv[i], h ? "no descriptor" : dlerror());
			if (h)
				dlclose(h);
			goto out;
		}
		plugins[n++] = (struct loaded){ h, d };
	}
	qsort(plugins, n, sizeof(*plugins), by_name);
	in = fopen(argv[1], "r");
	if (!in) {
		perror(argv[1]);
		goto out;
	}
	out = fopen(argv[2], "w");
	if (!out) {
		perror(argv[2]);
		fclose(in);
		goto out;
	}
	while (fgets(line, sizeof(line), in)) {
		if (strcmp(line, ".\\\"mangen core-options\n") == 0)
			core_options(out);
		else if (strcmp(line, ".\\\"mangen plugin-options\n") == 0)
			plugin_options(out, plugins, n);
		else
			fputs(line, out);
	}
	rc = ferror(in) || ferror(out) ? 1 : 0;
	fclose(in);
	if (fclose(out) != 0)
		rc = 1;
	if (rc)
		fprintf(stderr, "mangen: %s: write error\n", argv[2]);
out:
	for (size_t i = 0; i < n; i++)
		dlclose(plugins[i].handle);
	free(plugins);
	return rc;
}
