/*
 * The commands of `modvm`, what `help` says about them, and the usage
 * errors: one table that the usage text, `help COMMAND`, the "did you
 * mean" of a typo, modvm(1) and the bash completion all follow
 * (tests/docs checks the last two against `modvm help`).
 */
#include <stdlib.h>
#include <string.h>

#include <modvm/common.h>
#include <modvm/log.h>

#include "cli/cli.h"

const struct cli_command cli_commands[] = {
	{ "run", "CONFIG [--trace-events] [--user USER] [--group GROUP]",
	  "load the plugins and VMs of CONFIG and run them until they end or a signal stops them" },
	{ "check", "CONFIG [--user USER] [--group GROUP]",
	  "validate CONFIG and its plugins, run nothing" },
	{ "recover", "CONFIG",
	  "undo what a crashed or killed run of CONFIG left changed on the host (parked cores)" },
	{ "plugins", "[--describe NAME]", "list the plugins found, or describe one's options" },
	{ "caps", "[CONFIG] [--json] [--record FILE]",
	  "what this host can do for each CPU backend, and whether guests can run here" },
	{ "ctl", "SOCKET COMMAND [ARGS] [--json]",
	  "talk to a running modvm: status | balloon VM SIZE | stop" },
	{ "help", "[COMMAND|config]", "this text, one command's, or every core config option" },
	{ "version", "", "the version and plugin ABI" },
	{ NULL, NULL, NULL },
};

const struct cli_command *cli_command_find(const char *name)
{
	for (const struct cli_command *c = cli_commands; name && c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* Optimal string alignment distance (a swap of neighbours counts one). */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 64 || lb > 64)
		return (size_t)-1;
	size_t d[65][65];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t v = d[i - 1][j] + 1;

			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[la][lb];
}

const char *cli_suggest(const char *word, const char *const *candidates)
{
	const char *best = NULL, *prefixed = NULL;
	size_t best_d = (size_t)-1, len = word ? strlen(word) : 0;
	int nprefixed = 0;

	if (!len)
		return NULL;
	for (const char *const *c = candidates; *c; c++) {
		size_t d = distance(word, *c);

		if (d < best_d) {
			best_d = d;
			best = *c;
		}
		if (strncmp(*c, word, len) == 0) {
			prefixed = *c;
			nprefixed++;
		}
	}
	if (best && best_d <= 2 && best_d * 2 < len)
		return best;
	return nprefixed == 1 ? prefixed : NULL;
}

const char *cli_suggest_command(const char *word)
{
	const char *names[sizeof(cli_commands) / sizeof(cli_commands[0])];
	size_t n = 0;

	for (const struct cli_command *c = cli_commands; c->name; c++)
		names[n++] = c->name;
	names[n] = NULL;
	return cli_suggest(word, names);
}

void cli_usage(FILE *f, const char *plugindir)
{
	fprintf(f, "Usage: modvm [OPTIONS] COMMAND [ARGS]\n\nCommands:\n");
	for (const struct cli_command *c = cli_commands; c->name; c++) {
		char head[64];

		snprintf(head, sizeof(head), "%s%s%s", c->name, c->args[0] ? " " : "", c->args);
		if (strlen(head) > 29)
			fprintf(f, "  %s\n  %-29s %s\n", head, "", c->help);
		else
			fprintf(f, "  %-29s %s\n", head, c->help);
	}
	fprintf(f,
		"\n"
		"Options:\n"
		"      --path DIR    search DIR for plugins first (repeatable)\n"
		"      --json        machine-readable output (caps, ctl)\n"
		"  -v, --verbose     more messages (repeat: info, debug, trace)\n"
		"  -q, --quiet       errors only, no summary on stdout\n"
		"      --version     print the version and plugin ABI\n"
		"  -h, --help        this text\n"
		"\n"
		"A ctl SOCKET without '/' is NAME.sock in $MODVM_RUNTIME_DIR (/run/modvm).\n"
		"Plugins are searched as NAME.so in plugins.path of the config, then\n"
		"$MODVM_PLUGIN_PATH (colon-separated), then %s.\n"
		"Exit status: 0 ok, 1 runtime failure, 2 usage or configuration error.\n"
		"See modvm(1) and modvm.conf(5).\n",
		plugindir);
}

int cli_usage_error(const char *what, const char *arg, const char *suggestion)
{
	fprintf(stderr, "modvm: %s%s%s", what, arg ? ": " : "", arg ? arg : "");
	if (suggestion)
		fprintf(stderr, " (did you mean '%s'?)", suggestion);
	fprintf(stderr, "\nTry 'modvm help'.\n");
	return CLI_EXIT_USAGE;
}

void cli_version(FILE *f)
{
	fprintf(f, "modvm %s (plugin ABI %d.%d)\n", modvm_version(), MODVM_ABI_MAJOR,
		MODVM_ABI_MINOR);
}
