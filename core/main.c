/*
 * core/main.c — the `modvm` command line: parsing, and the commands that
 * drive a host (run, check, recover, plugins, caps).  The command table,
 * help and usage errors, option printing, `ctl` and sd_notify live beside
 * it in core/cli/ (cli.h).
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

#include "cli/cli.h"
#include "host/caps.h"
#include "host/control.h"
#include "host/fleet.h"
#include "host/host.h"

#define EXIT_OK CLI_EXIT_OK
#define EXIT_RUNTIME CLI_EXIT_RUNTIME
#define EXIT_USAGE CLI_EXIT_USAGE

static int usage_error(const char *what, const char *arg)
{
	return cli_usage_error(what, arg, NULL);
}

/* "1 VM", "2 VMs". */
static const char *plural(size_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
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
	cli_describe_plugin(stdout, path, d);
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
	modvm__host_force_user(host, cli->user, cli->group);
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

struct summary {
	struct modvm_bus *bus;
	FILE *out;
};

static void print_event(const char *name, uint32_t size, uint32_t version, void *ud)
{
	struct summary *sum = ud;
	struct modvm_bus_stats st;

	if (modvm_bus_get_stats(sum->bus, name, &st) < 0)
		memset(&st, 0, sizeof(st));
	fprintf(sum->out, "event %-24s v%u %4u bytes  published %" PRIu64 " delivered %" PRIu64
	       " dropped %" PRIu64 " subscribers %u\n",
	       name, (unsigned)version, (unsigned)size, st.published, st.delivered, st.dropped,
	       (unsigned)st.subscribers);
}

/* The events' counts and "stopped": within 1 s, or not at all (cli/out.c). */
static void print_summary(struct modvm_bus *bus)
{
	struct summary sum = { .bus = bus };
	char *text = NULL;
	size_t len = 0;

	sum.out = open_memstream(&text, &len);
	if (!sum.out)
		return;
	modvm__bus_foreach_type(print_event, &sum);
	fprintf(sum.out, "stopped\n");
	if (fclose(sum.out) == 0)
		cli_write_bounded(text, len, 1000);
	free(text);
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
		size_t np = modvm__host_plugin_count(host), nv = modvm__host_vm_count(host);

		if (!cli->quiet)
			printf("%s: OK (%zu %s, %zu %s)\n", config, np, plural(np, "plugin", "plugins"),
			       nv, plural(nv, "VM", "VMs"));
		goto out;
	}
	for (size_t i = 0; i < modvm__host_plugin_count(host) && !cli->quiet; i++) {
		const struct modvm_plugin_ctx *p = modvm__host_plugin(host, i);

		printf("loaded plugin %s %s (%s)\n", p->name,
		       p->desc->version ? p->desc->version : "?",
		       modvm_plugin_kind_name((int)p->desc->kind));
	}
	/* Guest consoles write to fd 1 directly: what stdio holds goes first. */
	fflush(stdout);
	modvm__host_set_trace_events(host, cli->trace_events);
	if (modvm__host_watch_stop_signals(host) < 0 || modvm__host_start(host) < 0) {
		rc = EXIT_RUNTIME;
		goto out;
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
	/* Only now, with the VMs running (and the control socket listening),
	 * does anything say so: on stdout, and to systemd (Type=notify). */
	char status[PATH_MAX + 96];
	unsigned nvm = modvm__fleet_launched(modvm__host_fleet(host));
	size_t np = modvm__host_plugin_count(host);
	const char *sock = modvm__host_control_socket(host);

	if (nvm)
		snprintf(status, sizeof(status), "running %u %s with %zu %s", nvm,
			 plural(nvm, "VM", "VMs"), np, plural(np, "plugin", "plugins"));
	else if (sock)
		snprintf(status, sizeof(status), "running no VM, serving the control socket %s",
			 sock);
	else
		snprintf(status, sizeof(status), "no VM to start (none has autostart = true)");
	if (!cli->quiet) {
		printf("%s\n", status);
		fflush(stdout);
	}
	char ready[sizeof(status) + 32];

	snprintf(ready, sizeof(ready), "READY=1\nSTATUS=%s", status);
	if (cli_sd_notify(ready) < 0)
		modvm_log(MODVM_LOG_WARN, NULL, "NOTIFY_SOCKET: could not tell the service manager "
			  "that modvm is ready");
	if (modvm__host_run(host) < 0)
		rc = EXIT_RUNTIME;
	cli_sd_notify("STOPPING=1\nSTATUS=stopping");
	modvm__host_stop(host);
	if (!cli->quiet)
		print_summary(modvm__host_bus(host));
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

/* Drops log lines: `caps` reports the selection's verdict itself. */
static void discard_log(enum modvm_log_level level, const char *line, void *ud)
{
	(void)level;
	(void)line;
	(void)ud;
}

/*
 * `modvm caps`: probe every CPU backend (those of CONFIG, or cpu-vmx and
 * cpu-svm from the search path) and print what this host can do, marking
 * the backend `run` would choose.  Exit 0 when the report was made, whether
 * or not a backend can run guests: that verdict is in the report
 * ("can_run_guests" in JSON, a "verdict:" line otherwise).
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
		if (cli->json)
			modvm__caps_print(stdout, NULL, 0, -1, true);
		goto stop;
	}
	const struct modvm_config *hc = modvm__host_config(host);
	modvm_log_set_sink(discard_log, NULL);
	int sel = modvm__backends_select(probes, n, hc ? modvm_config_string(hc, "cpu.backend") : "auto",
					 hc ? modvm_config_string(hc, "cpu.slat") : "preferred",
					 hc ? modvm_config_where(hc, "cpu.backend") : NULL);
	modvm_log_set_sink(NULL, NULL);

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
	rc = EXIT_OK;
stop:
	modvm__host_stop(host);
out:
	modvm__host_free(host);
	return rc;
}

/* ---- argument parsing ---- */

enum { OPT_VERSION = 256, OPT_TRACE, OPT_DESCRIBE, OPT_PATH, OPT_JSON, OPT_RECORD, OPT_USER,
       OPT_GROUP };

static const struct option longopts[] = {
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "trace-events", no_argument, NULL, OPT_TRACE },
	{ "describe", required_argument, NULL, OPT_DESCRIBE },
	{ "path", required_argument, NULL, OPT_PATH },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "record", required_argument, NULL, OPT_RECORD },
	{ "user", required_argument, NULL, OPT_USER },
	{ "group", required_argument, NULL, OPT_GROUP },
	{ NULL, 0, NULL, 0 },
};

/* "--jsno": the long option it probably meant, as "--json". */
static const char *suggest_option(const char *arg)
{
	static char buf[64];
	const char *names[sizeof(longopts) / sizeof(longopts[0])];
	size_t n = 0;
	char word[64];

	if (strncmp(arg, "--", 2) != 0)
		return NULL;
	snprintf(word, sizeof(word), "%.*s", (int)strcspn(arg + 2, "="), arg + 2);
	for (const struct option *o = longopts; o->name; o++)
		names[n++] = o->name;
	names[n] = NULL;
	const char *s = cli_suggest(word, names);
	if (!s)
		return NULL;
	snprintf(buf, sizeof(buf), "--%s", s);
	return buf;
}

static int parse(int argc, char **argv, struct cli *cli, int *exit_now)
{
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
			cli_usage(stdout, modvm__plugin_install_dir());
			*exit_now = EXIT_OK;
			return 0;
		case OPT_VERSION:
			cli_version(stdout);
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
		case OPT_USER:
			cli->user = optarg;
			break;
		case OPT_GROUP:
			cli->group = optarg;
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
			*exit_now = cli_usage_error("unknown option", argv[optind - 1],
						    suggest_option(argv[optind - 1]));
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
 * embedders that keep SIGPIPE.  The other signals whose default action
 * ends the process and which modvm has no use for (a stray `kill -USR1`, a
 * log rotation's signal sent to the wrong name) are ignored too: only the
 * stop signals (event/signals.c) end it, and they end it cleanly.
 */
static void ignore_stray_signals(void)
{
	static const int stray[] = { SIGPIPE, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM,
				     SIGPROF,  SIGIO,	SIGPWR,	 SIGXCPU, SIGXFSZ };
	struct sigaction sa = { .sa_handler = SIG_IGN };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(stray) / sizeof(stray[0]); i++)
		sigaction(stray[i], &sa, NULL);
}

/* `modvm help [COMMAND|config]`. */
static int cmd_help(const char *topic)
{
	const struct cli_command *c;

	if (!topic) {
		cli_usage(stdout, modvm__plugin_install_dir());
		return EXIT_OK;
	}
	if (strcmp(topic, "config") == 0) {
		printf("The core's options (modvm.conf(5)); a plugin's: modvm plugins --describe "
		       "NAME.\n\n");
		cli_print_options(stdout, CLI_TEXT, "options (host):", modvm__host_options());
		printf("\n");
		cli_print_options(stdout, CLI_TEXT, "vm options (vms.[]):", modvm__host_vm_options());
		return EXIT_OK;
	}
	c = cli_command_find(topic);
	if (!c)
		return cli_usage_error("no help for", topic, cli_suggest_command(topic));
	printf("Usage: modvm [OPTIONS] %s%s%s\n\n%s.\n", c->name, c->args[0] ? " " : "", c->args,
	       c->help);
	if (strcmp(c->name, "ctl") == 0)
		printf("\nSOCKET is a path, or NAME for $MODVM_RUNTIME_DIR/NAME.sock (/run/modvm).\n"
		       "  status            every VM's state and memory; what the plugins report\n"
		       "  balloon VM SIZE   set VM's balloon target (\"0\": back to the policy)\n"
		       "  stop              stop modvm as SIGTERM would\n"
		       "Sizes read and print as in the config (\"512M\"); --json replies in JSON\n"
		       "with sizes in bytes.\n");
	printf("\nExit status: 0 ok, 1 runtime failure, 2 usage or configuration error.\n");
	return EXIT_OK;
}

/* Options that only some commands take, refused elsewhere. */
static int check_option_use(const struct cli *cli, const char *cmd)
{
	bool run = strcmp(cmd, "run") == 0, plugins = strcmp(cmd, "plugins") == 0;
	bool caps = strcmp(cmd, "caps") == 0, ctl = strcmp(cmd, "ctl") == 0;

	if (cli->trace_events && !run)
		return usage_error("--trace-events belongs to 'run'", NULL);
	if (cli->describe && !plugins)
		return usage_error("--describe belongs to 'plugins'", NULL);
	if (cli->json && !caps && !ctl)
		return usage_error("--json belongs to 'caps' and 'ctl'", NULL);
	if (cli->record && !caps)
		return usage_error("--record belongs to 'caps'", NULL);
	if ((cli->user || cli->group) && !run && strcmp(cmd, "check") != 0)
		return usage_error(cli->user ? "--user belongs to 'run' and 'check'"
					     : "--group belongs to 'run' and 'check'",
				   NULL);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	int exit_now, first, nargs, rc;
	const char *cmd;

	ignore_stray_signals();

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
		goto out;
	}
	if (!cli_command_find(cmd)) {
		rc = cli_usage_error("unknown command", cmd, cli_suggest_command(cmd));
		goto out;
	}
	rc = check_option_use(&cli, cmd);
	if (rc != EXIT_OK)
		goto out;
	if (strcmp(cmd, "run") == 0 || strcmp(cmd, "check") == 0 || strcmp(cmd, "recover") == 0) {
		if (nargs != 1)
			rc = usage_error(nargs ? "too many arguments" : "missing CONFIG", cmd);
		else if (cmd[1] == 'e')
			rc = cmd_recover(&cli, argv[first + 1]);
		else
			rc = cmd_run(&cli, argv[first + 1], cmd[0] == 'c');
	} else if (strcmp(cmd, "ctl") == 0) {
		rc = cli_ctl(&cli, nargs, argv + first + 1);
	} else if (strcmp(cmd, "caps") == 0) {
		if (nargs > 1)
			rc = usage_error("too many arguments", cmd);
		else
			rc = cmd_caps(&cli, nargs ? argv[first + 1] : NULL);
	} else if (strcmp(cmd, "plugins") == 0) {
		if (nargs != 0)
			rc = usage_error("too many arguments", cmd);
		else
			rc = cmd_plugins(&cli);
	} else if (strcmp(cmd, "help") == 0) {
		if (nargs > 1)
			rc = usage_error("too many arguments", cmd);
		else
			rc = cmd_help(nargs ? argv[first + 1] : NULL);
	} else {	/* version */
		if (nargs != 0)
			rc = usage_error("too many arguments", cmd);
		else
			cli_version(stdout);
	}
out:
	free(cli.dirs);
	return rc;
}
