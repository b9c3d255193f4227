/*
 * core/main.c — the `modvm` command line.
 *
 *   modvm [-v…|-q] run CONFIG [--trace-events]
 *   modvm [-v…|-q] check CONFIG
 *   modvm [-v…|-q] recover CONFIG
 *   modvm [-v…|-q] plugins [--describe NAME] [--path DIR]…
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 usage or config error (also a
 * plugin the config asks for that cannot be found or is refused).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/hostfacts.h>

#include "host/caps.h"
#include "host/control.h"
#include "host/fleet.h"
#include "host/host.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

struct cli {
	int verbose;
	bool quiet;
	bool trace_events;
	const char *describe;
	bool json;
	const char *record;	/* caps --record FILE */
	char **dirs;		/* --path, in order */
	size_t dir_count;
};

static void usage(FILE *f)
{
	/* The install dir is known to libmodvm only (a define of its build). */
	fprintf(f,
		"Usage: modvm [OPTIONS] COMMAND [ARGS]\n"
		"\n"
		"Commands:\n"
		"  run CONFIG [--trace-events]   load the plugins and VMs of CONFIG and run them\n"
		"  check CONFIG                  validate CONFIG and its plugins, run nothing\n"
		"  recover CONFIG                undo what a crashed or killed run of CONFIG left\n"
		"                                changed on the host (parked cores), then exit\n"
		"  plugins [--describe NAME]     list the plugins found, or describe one\n"
		"  caps [CONFIG] [--json] [--record FILE]\n"
		"                                what this host can do for each CPU backend\n"
		"                                (--record saves the probed host facts)\n"
		"  ctl SOCKET COMMAND [ARGS]     talk to a running modvm (host.control_socket):\n"
		"                                status | balloon VM SIZE | stop; a SOCKET\n"
		"                                without '/' is NAME in $MODVM_RUNTIME_DIR\n"
		"                                (/run/modvm): NAME.sock\n"
		"\n"
		"Options:\n"
		"      --path DIR    search DIR for plugins first (repeatable)\n"
		"  -v, --verbose     more messages (repeat: info, debug, trace)\n"
		"  -q, --quiet       errors only, no summary on stdout\n"
		"      --version     print the version and plugin ABI\n"
		"  -h, --help        this text\n"
		"\n"
		"Plugins are searched as NAME.so in plugins.path of the config, then\n"
		"$MODVM_PLUGIN_PATH (colon-separated), then %s.\n"
		"Exit status: 0 ok, 1 runtime failure, 2 usage or configuration error.\n",
		modvm__plugin_install_dir());
}

static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "modvm: %s%s%s\nTry 'modvm --help'.\n", what, arg ? ": " : "",
		arg ? arg : "");
	return EXIT_USAGE;
}

/* ---- printing descriptors ---- */

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

static void print_options(const char *title, const struct modvm_option *t)
{
	printf("%s\n", title);
	if (!t || !t->name) {
		printf("  (none)\n");
		return;
	}
	/* Names line up even when list fields make them long ("disks.limit.ops_burst"). */
	int w = 20;
	for (const struct modvm_option *o = t; o->name; o++)
		if ((int)strlen(o->name) > w)
			w = (int)strlen(o->name);
	for (; t->name; t++) {
		char lo[32], hi[32], range[96] = "";

		if (t->type == MODVM_OPT_ENUM) {
			snprintf(range, sizeof(range), "  choices %s", t->choices);
		} else if (t->type == MODVM_OPT_LIST) {
			/* Its element fields follow as "NAME.FIELD" lines. */
			if (t->min || t->max)
				snprintf(range, sizeof(range), "  %" PRId64 "..%" PRId64 " elements",
					 t->min, t->max);
		} else if ((t->min || t->max) && t->type != MODVM_OPT_BOOL &&
			   t->type != MODVM_OPT_STRING) {
			if (t->type == MODVM_OPT_SIZE) {
				fmt_size(t->min, lo, sizeof(lo));
				fmt_size(t->max, hi, sizeof(hi));
			} else {
				snprintf(lo, sizeof(lo), "%" PRId64, t->min);
				snprintf(hi, sizeof(hi), "%" PRId64, t->max);
			}
			snprintf(range, sizeof(range), "  range %s..%s", lo, hi);
		}
		/* Strings are quoted as the config file writes them. */
		bool quote = t->type == MODVM_OPT_STRING || t->type == MODVM_OPT_ENUM;

		if (t->default_value)
			printf("  %-*s %-7s default %s%s%s%s\n", w, t->name, type_name(t->type),
			       quote ? "\"" : "", t->default_value, quote ? "\"" : "", range);
		else
			printf("  %-*s %-7s required%s\n", w, t->name, type_name(t->type), range);
		if (t->description)
			printf("  %-*s %s\n", w, "", t->description);
	}
}

static void describe(const char *path, const struct modvm_plugin *d)
{
	printf("%s %s\n", d->name, d->version ? d->version : "?");
	printf("  file         %s\n", path);
	printf("  kind         %s\n", modvm_plugin_kind_name((int)d->kind));
	printf("  license      %s\n", d->license ? d->license : "(unspecified)");
	printf("  ABI          %u.%u\n", (unsigned)d->abi_major, (unsigned)d->abi_minor);
	printf("  description  %s\n", d->description ? d->description : "");
	printf("  requires     ");
	for (size_t i = 0; d->requires && d->requires[i]; i++)
		printf("%s%s", i ? ", " : "", d->requires[i]);
	printf("%s\n", d->requires && d->requires[0] ? "" : "(nothing)");
	printf("\n");
	char title[128];

	snprintf(title, sizeof(title), "options (plugins.%s):", d->name);
	print_options(title, d->options);
	snprintf(title, sizeof(title), "vm options (vms.[].%s):", d->name);
	print_options(title, d->vm_options);
	printf("events:\n");
	if (!d->events || !d->events[0])
		printf("  (none)\n");
	for (size_t i = 0; d->events && d->events[i]; i++)
		printf("  %-28s v%u  %u bytes\n", d->events[i]->name,
		       (unsigned)d->events[i]->version, (unsigned)d->events[i]->payload_size);
}

/* ---- commands ---- */

static int search_dirs(const struct cli *cli, char ***dirs)
{
	int r = modvm__plugin_search_path((const char *const *)cli->dirs, cli->dir_count, NULL,
					  dirs);

	if (r < 0)
		fprintf(stderr, "modvm: %s\n", modvm_strerror(r));
	return r;
}

static int cmd_describe(const struct cli *cli)
{
	char **dirs, *found = NULL, *path;
	void *handle;
	const struct modvm_plugin *d;
	int r;

	if (search_dirs(cli, &dirs) < 0)
		return EXIT_RUNTIME;
	r = modvm__plugin_find(dirs, cli->describe, &found);
	if (r < 0) {
		char *joined = modvm__strv_join(dirs, ":");

		modvm_log(MODVM_LOG_ERROR, NULL, "plugin %s: not found (searched %s)",
			  cli->describe, joined ? joined : "?");
		free(joined);
		modvm__strv_free(dirs);
		return EXIT_USAGE;
	}
	modvm__strv_free(dirs);
	r = modvm__plugin_open(found, MODVM_LOG_ERROR, &path, &handle, &d);
	free(found);
	if (r < 0)
		return EXIT_USAGE;
	describe(path, d);
	modvm__plugin_close(handle);
	free(path);
	return EXIT_OK;
}

static int so_filter(const struct dirent *e)
{
	size_t n = strlen(e->d_name);

	return n > 3 && strcmp(e->d_name + n - 3, ".so") == 0;
}

/* Lists one directory; names seen in an earlier directory are shadowed. */
static void list_dir(const char *dir, char ***seen, size_t *nseen)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, so_filter, alphasort);

	for (int i = 0; i < n; i++) {
		char *file, *path, *stem = strndup(ents[i]->d_name, strlen(ents[i]->d_name) - 3);
		void *handle;
		const struct modvm_plugin *d;
		bool dup = false;

		for (size_t k = 0; stem && k < *nseen; k++)
			dup = dup || strcmp((*seen)[k], stem) == 0;
		char **v = stem && !dup ? realloc(*seen, (*nseen + 1) * sizeof(*v)) : NULL;

		if (v) {
			*seen = v;
			v[(*nseen)++] = stem;
			stem = NULL;
		}
		free(stem);
		if (!dup && asprintf(&file, "%s/%s", dir, ents[i]->d_name) >= 0) {
			/* A broken file is reported, not fatal: the listing is for
			 * finding out what is there. */
			if (modvm__plugin_open(file, MODVM_LOG_WARN, &path, &handle, &d) == 0) {
				printf("%-24s %-14s %-10s ABI %u.%u%s%s\n", d->name,
				       modvm_plugin_kind_name((int)d->kind),
				       d->version ? d->version : "?", (unsigned)d->abi_major,
				       (unsigned)d->abi_minor, d->description ? "  " : "",
				       d->description ? d->description : "");
				modvm__plugin_close(handle);
				free(path);
			}
			free(file);
		}
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);
}

static int cmd_plugins(const struct cli *cli)
{
	char **dirs, **seen = NULL;
	size_t nseen = 0;

	if (cli->describe)
		return cmd_describe(cli);
	if (search_dirs(cli, &dirs) < 0)
		return EXIT_RUNTIME;
	for (char **d = dirs; *d; d++)
		list_dir(*d, &seen, &nseen);
	if (nseen == 0 && !cli->quiet)
		printf("(no plugins found)\n");
	for (size_t i = 0; i < nseen; i++)
		free(seen[i]);
	free(seen);
	modvm__strv_free(dirs);
	return EXIT_OK;
}

/* Everything `check` validates, shared with `run`. */
static int setup(struct modvm_host *host, const struct cli *cli, const char *config)
{
	if (cli->verbose || cli->quiet || cli->trace_events)
		modvm__host_force_log_level(host, modvm_log_get_level());
	for (size_t i = 0; i < cli->dir_count; i++)
		if (modvm__host_add_plugin_dir(host, cli->dirs[i]) < 0)
			return EXIT_RUNTIME;
	if (modvm__host_load_config(host, config) < 0 || modvm__host_load_plugins(host) < 0)
		return EXIT_USAGE;
	return EXIT_OK;
}

/* What `check` validates and `run` refuses before anything starts. */
static int validate(struct modvm_host *host)
{
	return modvm__host_validate(host) < 0 ? EXIT_USAGE : EXIT_OK;
}

/*
 * `modvm recover CONFIG`: the plugins of CONFIG undo what an earlier run
 * left changed (a systemd unit's ExecStopPost; see README).  No init, no
 * start, no VM.
 */
static int cmd_recover(const struct cli *cli, const char *config)
{
	struct modvm_host *host = modvm__host_new();
	int rc;

	if (!host)
		return EXIT_RUNTIME;
	rc = setup(host, cli, config);
	if (rc == EXIT_OK && (modvm__host_claim(host) < 0 || modvm__host_recover(host) < 0))
		rc = EXIT_RUNTIME;
	if (rc == EXIT_OK && !cli->quiet)
		printf("%s: recovered\n", config);
	modvm__host_free(host);
	return rc;
}

static void print_event(const char *name, uint32_t size, uint32_t version, void *ud)
{
	struct modvm_bus_stats st;

	if (modvm_bus_get_stats(ud, name, &st) < 0)
		memset(&st, 0, sizeof(st));
	printf("event %-24s v%u %4u bytes  published %" PRIu64 " delivered %" PRIu64
	       " dropped %" PRIu64 " subscribers %u\n",
	       name, (unsigned)version, (unsigned)size, st.published, st.delivered, st.dropped,
	       (unsigned)st.subscribers);
}

static int cmd_run(const struct cli *cli, const char *config, bool check_only)
{
	struct modvm_host *host = modvm__host_new();
	int rc;

	if (!host)
		return EXIT_RUNTIME;
	rc = setup(host, cli, config);
	if (rc == EXIT_OK && !check_only && modvm__host_claim(host) < 0)
		rc = EXIT_RUNTIME;
	if (rc == EXIT_OK)
		rc = validate(host);
	if (rc != EXIT_OK)
		goto out;
	if (check_only) {
		if (!cli->quiet)
			printf("%s: OK (%zu plugins, %zu VMs)\n", config,
			       modvm__host_plugin_count(host), modvm__host_vm_count(host));
		goto out;
	}
	for (size_t i = 0; i < modvm__host_plugin_count(host) && !cli->quiet; i++) {
		const struct modvm_plugin_ctx *p = modvm__host_plugin(host, i);

		printf("loaded plugin %s %s (%s)\n", p->name,
		       p->desc->version ? p->desc->version : "?",
		       modvm_plugin_kind_name((int)p->desc->kind));
	}
	modvm__host_set_trace_events(host, cli->trace_events);
	if (modvm__host_watch_stop_signals(host) < 0 || modvm__host_start(host) < 0) {
		rc = EXIT_RUNTIME;
		goto out;
	}
	if (!cli->quiet) {
		printf("started %zu plugins, %zu VMs\n", modvm__host_plugin_count(host),
		       modvm__host_vm_count(host));
		fflush(stdout);	/* guest consoles write to fd 1 directly */
	}
	/* A stop asked for while plugins started: no VM is launched to be
	 * stopped again at once. */
	if (modvm__stop_signal_pending()) {
		modvm_log(MODVM_LOG_INFO, NULL, "signal %d during start: stopping",
			  modvm__stop_signal_pending());
		modvm__host_stop(host);
		goto out;
	}
	if (modvm__host_launch(host) < 0) {
		rc = EXIT_RUNTIME;
		modvm__host_stop(host);
		goto out;
	}
	if (modvm__host_run(host) < 0)
		rc = EXIT_RUNTIME;
	modvm__host_stop(host);
	if (!cli->quiet)
		modvm__bus_foreach_type(print_event, modvm__host_bus(host));
	if (!cli->quiet)
		printf("stopped\n");
out:
	modvm__host_free(host);
	return rc;
}

/* Plugins with a "modvm.caps-report/1" interface add their own lines. */
static void print_plugin_caps(struct modvm_host *host)
{
	for (size_t i = 0; i < modvm__host_plugin_count(host); i++) {
		struct modvm_plugin_ctx *p = modvm__host_plugin(host, i);
		if (!p->inited || !p->desc->get_interface)
			continue;
		struct modvm_plugin_ctx *prev = modvm__plugin_enter(p);
		const struct modvm_caps_report *r = p->desc->get_interface(p, MODVM_CAPS_REPORT_IFACE);
		char text[1024] = "";
		if (r && r->struct_size >= sizeof(*r) && r->report)
			r->report(p, text, sizeof(text));
		modvm__plugin_leave(prev);
		if (!text[0])
			continue;
		printf("\n%s:\n", p->name);
		for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
			printf("  %s\n", line);
	}
}

/*
 * `modvm caps`: probe every CPU backend (those of CONFIG, or cpu-vmx and
 * cpu-svm from the search path) and print what this host can do, marking
 * the backend `run` would choose.  Exit 0 if some backend can run guests.
 */
static int cmd_caps(const struct cli *cli, const char *config)
{
	static const char *const defaults[] = { "cpu-vmx", "cpu-svm", "power-park", "net-vmq",
						"virtio-blk" };
	struct modvm__backend_probe probes[8];
	struct modvm_host *host = modvm__host_new();
	int rc = EXIT_RUNTIME;

	if (!host)
		return EXIT_RUNTIME;
	if (config) {
		rc = setup(host, cli, config);
		if (rc != EXIT_OK)
			goto out;
	} else {
		for (size_t i = 0; i < cli->dir_count; i++)
			if (modvm__host_add_plugin_dir(host, cli->dirs[i]) < 0)
				goto out;
		for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
			if (modvm__host_load_one(host, defaults[i], NULL) < 0)
				modvm_log(MODVM_LOG_WARN, NULL, "caps: plugin %s not available",
					  defaults[i]);
	}
	rc = EXIT_RUNTIME;
	if (modvm__host_start(host) < 0)
		goto out;
	size_t n = modvm__backends_probe(modvm__host_view(host), probes, sizeof(probes) / sizeof(probes[0]));
	if (n == 0) {
		modvm_log(MODVM_LOG_ERROR, NULL, "caps: no CPU backend plugin could be loaded");
		goto stop;
	}
	const struct modvm_config *hc = modvm__host_config(host);
	int sel = modvm__backends_select(probes, n, hc ? modvm_config_string(hc, "cpu.backend") : "auto",
					 hc ? modvm_config_string(hc, "cpu.slat") : "preferred",
					 hc ? modvm_config_where(hc, "cpu.backend") : NULL);

	struct modvm_cpu_probe list[8];
	for (size_t i = 0; i < n; i++)
		list[i] = probes[i].probe;
	modvm__caps_print(stdout, list, n, sel, cli->json);
	if (!cli->json)
		print_plugin_caps(host);
	if (cli->record) {
		struct modvm_host_facts facts;
		modvm_host_facts_init(&facts);
		if (modvm_host_facts_read(&facts) < 0 || modvm_host_facts_save(&facts, cli->record) < 0) {
			modvm_log(MODVM_LOG_ERROR, NULL, "caps: %s: could not record host facts",
				  cli->record);
			goto stop;
		}
	}
	rc = sel >= 0 ? EXIT_OK : EXIT_RUNTIME;
stop:
	modvm__host_stop(host);
out:
	modvm__host_free(host);
	return rc;
}

/* ---- argument parsing ---- */

static int parse(int argc, char **argv, struct cli *cli, int *exit_now)
{
	enum { OPT_VERSION = 256, OPT_TRACE, OPT_DESCRIBE, OPT_PATH, OPT_JSON, OPT_RECORD };
	static const struct option longopts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "trace-events", no_argument, NULL, OPT_TRACE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "record", required_argument, NULL, OPT_RECORD },
		{ "describe", required_argument, NULL, OPT_DESCRIBE },
		{ "path", required_argument, NULL, OPT_PATH },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	*exit_now = -1;
	while ((c = getopt_long(argc, argv, ":vqh", longopts, NULL)) != -1) {
		switch (c) {
		case 'v':
			cli->verbose++;
			break;
		case 'q':
			cli->quiet = true;
			break;
		case 'h':
			usage(stdout);
			*exit_now = EXIT_OK;
			return 0;
		case OPT_VERSION:
			printf("modvm %s (plugin ABI %d.%d)\n", modvm_version(), MODVM_ABI_MAJOR,
			       MODVM_ABI_MINOR);
			*exit_now = EXIT_OK;
			return 0;
		case OPT_TRACE:
			cli->trace_events = true;
			break;
		case OPT_JSON:
			cli->json = true;
			break;
		case OPT_RECORD:
			cli->record = optarg;
			break;
		case OPT_DESCRIBE:
			cli->describe = optarg;
			break;
		case OPT_PATH: {
			char **v = realloc(cli->dirs, (cli->dir_count + 1) * sizeof(*v));

			if (!v)
				return -ENOMEM;
			cli->dirs = v;
			v[cli->dir_count++] = optarg;
			break;
		}
		case ':':
			*exit_now = usage_error("option needs a value", argv[optind - 1]);
			return 0;
		default:
			*exit_now = usage_error("unknown option", argv[optind - 1]);
			return 0;
		}
	}
	return optind;
}

/*
 * A reader that goes away (`modvm run X | head`, a control client that
 * hangs up) must cost at most its own output, never every VM: SIGPIPE is
 * ignored process-wide and a write to a closed pipe fails with EPIPE, which
 * each writer handles (the console stops writing, the control socket drops
 * the connection).  libmodvm's own sockets also send with MSG_NOSIGNAL, for
 * embedders that keep SIGPIPE.
 */
static void ignore_sigpipe(void)
{
	struct sigaction sa = { .sa_handler = SIG_IGN };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	int exit_now, first, nargs, rc;
	const char *cmd;

	ignore_sigpipe();

	first = parse(argc, argv, &cli, &exit_now);
	if (first < 0) {
		fprintf(stderr, "modvm: out of memory\n");
		rc = EXIT_RUNTIME;
		goto out;
	}
	if (exit_now >= 0) {
		rc = exit_now;
		goto out;
	}
	if (cli.quiet && cli.verbose) {
		rc = usage_error("-q and -v exclude each other", NULL);
		goto out;
	}
	if (cli.quiet)
		modvm_log_set_level(MODVM_LOG_ERROR);
	else if (cli.verbose)
		modvm_log_set_level(cli.verbose >= 3	 ? MODVM_LOG_TRACE
				    : cli.verbose == 2 ? MODVM_LOG_DEBUG
						       : MODVM_LOG_INFO);
	/* --trace-events logs at INFO: it would be silent otherwise. */
	if (cli.trace_events && modvm_log_get_level() < MODVM_LOG_INFO)
		modvm_log_set_level(MODVM_LOG_INFO);

	cmd = first < argc ? argv[first] : NULL;
	nargs = argc - first - 1;
	if (!cmd) {
		rc = usage_error("no command given", NULL);
	} else if (strcmp(cmd, "run") == 0 || strcmp(cmd, "check") == 0) {
		bool run = cmd[0] == 'r';

		if (nargs != 1)
			rc = usage_error(nargs ? "too many arguments" : "missing CONFIG", cmd);
		else if (cli.describe)
			rc = usage_error("--describe belongs to 'plugins'", NULL);
		else if (!run && cli.trace_events)
			rc = usage_error("--trace-events belongs to 'run'", NULL);
		else
			rc = cmd_run(&cli, argv[first + 1], !run);
	} else if (strcmp(cmd, "recover") == 0) {
		if (nargs != 1)
			rc = usage_error(nargs ? "too many arguments" : "missing CONFIG", cmd);
		else if (cli.trace_events || cli.describe)
			rc = usage_error("recover takes no --trace-events or --describe", NULL);
		else
			rc = cmd_recover(&cli, argv[first + 1]);
	} else if (strcmp(cmd, "ctl") == 0) {
		if (nargs < 2) {
			rc = usage_error("usage: ctl SOCKET COMMAND [ARGS]", cmd);
		} else {
			char line[512] = "";
			for (int i = first + 2; i < argc; i++) {
				if (strlen(line) + strlen(argv[i]) + 2 > sizeof(line))
					break;
				if (line[0])
					strcat(line, " ");
				strcat(line, argv[i]);
			}
			char sock[PATH_MAX];
			if (modvm__control_path(argv[first + 1], NULL, sock, sizeof(sock)) < 0)
				rc = usage_error("socket path too long", argv[first + 1]);
			else
				rc = modvm__control_request(sock, line, stdout) == 0 ? EXIT_OK
										     : EXIT_RUNTIME;
		}
	} else if (strcmp(cmd, "caps") == 0) {
		if (nargs > 1)
			rc = usage_error("too many arguments", cmd);
		else
			rc = cmd_caps(&cli, nargs ? argv[first + 1] : NULL);
	} else if (strcmp(cmd, "plugins") == 0) {
		if (nargs != 0)
			rc = usage_error("too many arguments", cmd);
		else if (cli.trace_events)
			rc = usage_error("--trace-events belongs to 'run'", NULL);
		else
			rc = cmd_plugins(&cli);
	} else {
		rc = usage_error("unknown command", cmd);
	}
out:
	free(cli.dirs);
	return rc;
}
