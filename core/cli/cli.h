/*
 * core/cli/cli.h — the `modvm` executable's own code, shared by main.c and
 * the files beside it (not part of libmodvm: nothing here is exported).
 *
 *   commands.c   the command table, `help`, usage errors, "did you mean"
 *   describe.c   option tables printed for people (`plugins --describe`,
 *                `help config`) and as man(7) source (tools/mangen)
 *   ctl.c        `modvm ctl`, the control socket's client
 *   notify.c     sd_notify(3) for a Type=notify systemd unit, by hand
 *   out.c        the last words on stdout, never held by a stalled reader
 *
 * Exit status, the same for every command: 0 ok, 1 runtime failure,
 * 2 usage or configuration error.
 */
#ifndef MODVM_CORE_CLI_H
#define MODVM_CORE_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <modvm/config.h>
#include <modvm/plugin.h>

enum { CLI_EXIT_OK = 0, CLI_EXIT_RUNTIME = 1, CLI_EXIT_USAGE = 2 };

/* What the options said. */
struct cli {
	int verbose;
	bool quiet;
	bool trace_events;
	const char *describe;
	bool json;
	const char *record;	/* caps --record FILE */
	const char *user;	/* run/check --user NAME */
	const char *group;	/* run/check --group NAME */
	char **dirs;		/* --path, in order */
	size_t dir_count;
};

/* ---- commands.c ---- */

/* One command: its name, its arguments, one line of what it does. */
struct cli_command {
	const char *name;
	const char *args;
	const char *help;
};

/* Every command, NULL-terminated, in the order `help` lists them. */
extern const struct cli_command cli_commands[];

/* The command named @name, or NULL. */
const struct cli_command *cli_command_find(const char *name);
/*
 * The candidate closest to @word when it is a plausible typo of it (edit
 * distance at most 2, and less than half of @word; or @word is a prefix of
 * exactly one candidate), else NULL.  @candidates is NULL-terminated.
 */
const char *cli_suggest(const char *word, const char *const *candidates);
/* The same over the command names. */
const char *cli_suggest_command(const char *word);
/* The full usage text, to @f; @plugindir is where plugins are installed. */
void cli_usage(FILE *f, const char *plugindir);
/*
 * "modvm: WHAT: ARG" on stderr, a suggestion when @suggestion is not NULL,
 * then "Try 'modvm help'."; returns CLI_EXIT_USAGE.
 */
int cli_usage_error(const char *what, const char *arg, const char *suggestion);
/* The version line of `modvm version` and `--version`. */
void cli_version(FILE *f);

/* ---- describe.c ---- */

enum cli_format {
	CLI_TEXT,	/* the columns of `modvm plugins --describe` */
	CLI_MAN,	/* man(7) source: one .TP entry per option */
};

/*
 * Writes option table @t under @title ("options (plugins.NAME):" in text,
 * the .SS heading in man form, where NULL means none).  Text form, per option:
 *     "  NAME                 TYPE    default VALUE  range LO..HI"  or
 *     "  NAME                 TYPE    required  choices A|B"
 *     "                       DESCRIPTION"
 * Man form, per option:  .TP / .B NAME / \fITYPE\fR, default \fBVALUE\fR,
 * range LO..HI / .br / DESCRIPTION — the same facts, which
 * tests/docs/check_man.py compares with the text form.
 */
void cli_print_options(FILE *f, enum cli_format fmt, const char *title,
		       const struct modvm_option *t);
/* A plugin's header, option tables and events in the text form. */
void cli_describe_plugin(FILE *f, const char *path, const struct modvm_plugin *d);
/* @s for man(7) body text: backslashes doubled as \e, a leading . or ' guarded. */
void cli_man_escape(FILE *f, const char *s);

/* ---- ctl.c ---- */

/* `modvm ctl SOCKET COMMAND [ARGS]`: @argv holds SOCKET, COMMAND and ARGS. */
int cli_ctl(const struct cli *cli, int argc, char **argv);

/* ---- notify.c ---- */

/*
 * Sends @state ("READY=1", "STOPPING=1", "STATUS=…", newline-separated) to
 * the service manager at $NOTIFY_SOCKET, as sd_notify(3) does: a datagram
 * to a Unix socket, '@' meaning the abstract namespace.  0 when sent, 0 as
 * well when there is no $NOTIFY_SOCKET (not run by systemd), -errno.
 */
int cli_sd_notify(const char *state);

/* ---- out.c ---- */

/* Writes @text to stdout; a pipe that stays full for @ms loses the rest. */
void cli_write_bounded(const char *text, size_t len, int ms);

#endif
