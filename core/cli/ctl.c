/*
 * `modvm ctl SOCKET COMMAND [ARGS]`: the control socket's client.  What
 * it can check itself (the command, its arguments, a size) is a usage
 * error here, exit 2, the same as anywhere in modvm; what the running
 * modvm refuses is exit 1.  --json asks the server for a JSON reply
 * (control.h has the protocol).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <modvm/config.h>

#include "cli/cli.h"
#include "host/control.h"

/* The control socket's commands and how many arguments each takes. */
static const struct {
	const char *name;
	int nargs;
	const char *usage;
} ctl_commands[] = {
	{ "status", 0, "status" },
	{ "balloon", 2, "balloon VM SIZE" },
	{ "stop", 0, "stop" },
};

#define NCMD (sizeof(ctl_commands) / sizeof(ctl_commands[0]))

static int ctl_usage(const char *what, const char *arg, const char *suggestion)
{
	fprintf(stderr, "modvm: ctl: %s%s%s", what, arg ? ": " : "", arg ? arg : "");
	if (suggestion)
		fprintf(stderr, " (did you mean '%s'?)", suggestion);
	fprintf(stderr, "\nUsage: modvm ctl SOCKET status | balloon VM SIZE | stop [--json]\n"
			"Try 'modvm help ctl'.\n");
	return CLI_EXIT_USAGE;
}

int cli_ctl(const struct cli *cli, int argc, char **argv)
{
	const char *names[NCMD + 1];
	char line[512] = "", sock[PATH_MAX];
	size_t i;

	if (argc < 1)
		return ctl_usage("missing SOCKET and COMMAND", NULL, NULL);
	if (argc < 2)
		return ctl_usage("missing COMMAND", NULL, NULL);
	for (i = 0; i < NCMD; i++) {
		names[i] = ctl_commands[i].name;
		if (strcmp(argv[1], ctl_commands[i].name) == 0)
			break;
	}
	if (i == NCMD) {
		names[NCMD] = NULL;
		return ctl_usage("unknown command", argv[1], cli_suggest(argv[1], names));
	}
	if (argc - 2 != ctl_commands[i].nargs)
		return ctl_usage(argc - 2 > ctl_commands[i].nargs ? "too many arguments"
								  : "missing arguments",
				 ctl_commands[i].usage, NULL);
	if (strcmp(argv[1], "balloon") == 0) {
		uint64_t bytes;

		if (modvm_parse_size(argv[3], &bytes) < 0)
			return ctl_usage("not a size (e.g. \"512M\", \"0\" for the policy's own)",
					 argv[3], NULL);
	}
	for (int a = 1; a < argc; a++) {
		if (strlen(line) + strlen(argv[a]) + 2 >= sizeof(line) - sizeof(" --json"))
			return ctl_usage("arguments too long", NULL, NULL);
		if (line[0])
			strcat(line, " ");
		strcat(line, argv[a]);
	}
	if (cli->json)
		strcat(line, " --json");
	if (modvm__control_path(argv[0], NULL, sock, sizeof(sock)) < 0)
		return ctl_usage("socket path too long", argv[0], NULL);
	return modvm__control_request(sock, line, stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_RUNTIME;
}
