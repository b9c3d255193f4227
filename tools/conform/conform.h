/*
 * tools/conform/conform.h — what the conformance kit's files share.
 *
 * Every check runs in a forked child (main.c), so a check may crash, hang
 * or leave the process dirty: the parent only ever sees a verdict line.
 */
#ifndef MODVM_CONFORM_H
#define MODVM_CONFORM_H

#include <stddef.h>
#include <stdint.h>

#include <modvm/plugin.h>

enum verdict { V_PASS = 0, V_FAIL = 1, V_SKIP = 2 };

struct conform_opts {
	const char *plugin;	/* path of the .so under test */
	const char *config;	/* --config FILE, or NULL */
	int strictness;		/* 1..10 */
	uint64_t seed;		/* --seed, for generated values */
	int timeout_ms;		/* --timeout: per check; 0 = each check's own */
};

/* One check: fills @detail (one line) and returns its verdict. */
typedef enum verdict (*check_fn)(const struct conform_opts *o, char *detail, size_t n);

struct check {
	const char *name;
	check_fn fn;
	int timeout_s;		/* scaled by strictness in main.c */
};

/* The checks, in the order they run; terminated by a NULL name. */
extern const struct check conform_checks[];

/* elf_syms.c: names of the dynamic symbols @path defines and exports.
 * Calls @fn once per symbol; 0, or -errno with @err filled. */
int conform_elf_exports(const char *path, void (*fn)(const char *name, void *ud), void *ud,
			char *err, size_t errlen);

/* harness.c: a host with the plugin loaded (through the real loader). */
struct harness {
	struct modvm_host *host;
	struct modvm_plugin_ctx *ctx;
	const struct modvm_plugin *desc;
	struct modvm_plugin_ctx **deps;	/* all plugins in init order, ours included */
	size_t n_deps;			/* how many of them are inited dependencies */
};
/* Opens the plugin raw (dlopen + dlsym, no validation): V_PASS or V_SKIP
 * with why in @detail.  The handle stays open for the life of the child. */
enum verdict conform_raw_desc(const struct conform_opts *o, const struct modvm_plugin **desc,
			      char *detail, size_t n);
/* Loads through modvm__host_load_one, plus what it `requires` (inited);
 * V_SKIP with the loader's line if refused. */
enum verdict harness_open(struct harness *h, const struct conform_opts *o, char *detail,
			  size_t n);
void harness_close(struct harness *h);
/* One plugin callback, bracketed like the host does (bus owner = plugin). */
int harness_init(struct harness *h);
int harness_start(struct harness *h);
void harness_stop(struct harness *h);
/* fini, then what the core does after it: drop the plugin's subscriptions. */
void harness_fini(struct harness *h);
const void *harness_get_interface(struct harness *h, const char *id);
/* The last error/warn line libmodvm logged in this process ("" if none). */
const char *harness_last_log(void);

/* The standard event catalogue (checks_static.c), NULL-terminated. */
extern struct modvm_event_desc *const conform_std_events[];

/* Process measurements (checks_life.c, checks_global.c). */
int conform_count_dir(const char *path);	/* entries, or -errno */
uint64_t conform_now_ns(void);
/* xorshift64*: the same --seed always gives the same sequence. */
uint64_t conform_rand(uint64_t *state);

#endif
