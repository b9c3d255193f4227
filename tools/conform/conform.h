/*
 * tools/conform/conform.h — what the conformance kit's files share.
 *
 * Every check runs in a forked child (main.c), so a check may crash, hang
 * or leave the process dirty: the parent only ever sees a verdict line.
 */
#ifndef MODVM_CONFORM_H
#define MODVM_CONFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <modvm/plugin.h>

#include "event/event.h"

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
struct modvm_cpu_backend;
/* harness_open + harness_init of a cpu-backend plugin, and its interface
 * with a probe: V_PASS with *@be set; V_SKIP for another kind (closed);
 * V_FAIL with why in @detail (closed). */
enum verdict harness_open_cpu_backend(struct harness *h, const struct conform_opts *o,
				      const struct modvm_cpu_backend **be, char *detail, size_t n);
/* The last error/warn line libmodvm logged in this process ("" if none). */
const char *harness_last_log(void);

/* The standard event catalogue (checks_static.c), NULL-terminated. */
#define conform_std_events modvm__std_events	/* event/std_events.c */

/* checks_life.c: publishes @e zeroed on the loop thread and times it; and
 * vm.lifecycle once per state (the worst time in *worst).  0 or -errno. */
int conform_time_publish(struct harness *h, struct modvm_event_desc *e, uint64_t *ns);
int conform_time_lifecycle_states(struct harness *h, uint64_t *worst);

/* Process measurements (checks_life.c, checks_global.c). */
int conform_count_dir(const char *path);	/* entries, or -errno */
uint64_t conform_now_ns(void);
/* xorshift64*: the same --seed always gives the same sequence. */
uint64_t conform_rand(uint64_t *state);

/*
 * main.c: the child's pipe to the parent.  A check that is about to die
 * (a fault, a sanitizer report) writes its verdict there first, so the
 * parent can say what the check was doing and not only which signal came.
 */
extern int conform_verdict_fd;
/*
 * What the check is doing inside the plugin now ("fixture-x's start"), kept
 * in memory the parent shares, so a check that hangs or dies there is
 * reported as "fixture-x's start did not return" or "... crashed in
 * fixture-x's start", naming the plugin at fault.  NULL: back in the kit.
 */
void conform_doing(const char *plugin, const char *what);
const char *conform_doing_text(void);
void conform_doing_setup(void);

/* -v: the plugin's own log lines (and libmodvm's) go to stderr as they come. */
extern bool conform_verbose;
void conform_last_words(const char *detail);

/* ---- devvm.c: a device plugin's devices, without a guest ---- */

#define DEVVM_MAX_WINDOWS 10

/*
 * A VM built by the runtime over the kit's own CPU backend, whose vCPUs are
 * never created: only the plugin's setup hook, its MMIO windows and guest
 * RAM (moved between two PROT_NONE pages) exist.  The kit plays the guest
 * driver by dispatching accesses through the VM's iobus.
 */
struct devvm {
	struct harness h;
	struct modvm_vm *vm;
	unsigned vm_id;
	uint8_t *ram;			/* host view of guest RAM (region 0) */
	uint64_t ram_size;		/* bytes of region 0 */
	void *guard_lo, *guard_hi;	/* PROT_NONE neighbours of the whole RAM */
	uint64_t ram_total;		/* the whole mapping */
	bool set_up;			/* the plugin's setup hook succeeded */
	unsigned nwin;
	uint64_t win_base[DEVVM_MAX_WINDOWS];
	struct devvm_vcpu *vcpu;	/* devvm_vcpu_start: accesses made there */
	/* QueueNotify writes made on the calling (loop) thread all the same:
	 * where queue_notify runs when modvm_virtio_renotify asks again. */
	bool kicks_on_loop;
};

/*
 * Loads and starts the plugin (with a generated one-VM config when --config
 * has no VMs), builds VM 0 and runs the plugin's setup hook on it.  V_SKIP
 * with why (no setup hook, no device added) in @detail, V_FAIL if setup
 * failed.  Guest RAM is filled from @seed.
 */
enum verdict devvm_open(struct devvm *d, const struct conform_opts *o, char *detail, size_t n);
/* Runs the plugin's teardown hook, checks it removed its windows, destroys
 * the VM, stops and finis the plugin.  V_PASS or V_FAIL with why. */
enum verdict devvm_close(struct devvm *d, char *detail, size_t n);
/* One guest access to window @w at @off (through the iobus, as a vCPU would). */
void devvm_access(struct devvm *d, unsigned w, uint64_t off, uint8_t *data, uint32_t len,
		  bool is_write);
uint32_t devvm_read32(struct devvm *d, unsigned w, uint64_t off);
void devvm_write32(struct devvm *d, unsigned w, uint64_t off, uint32_t v);
/* Lets the loop deliver what the device queued (deferred work, events). */
void devvm_settle(struct devvm *d);
/*
 * From now on every devvm_access() runs on a thread of its own that first
 * narrowed itself to a vCPU thread's seccomp filter (with the plugin's
 * declarations), as the MMIO handlers run in `modvm run`; the caller waits
 * for each.  0 or a negative errno (the filter could not be installed).
 * devvm_close() ends the thread.
 */
int devvm_vcpu_start(struct devvm *d);

/* checks_sandbox.c: a SIGSYS report becomes the check's verdict. */
void conform_sandbox_violation(const char *line);
struct modvm__sandbox_stats;
/*
 * After init and start: this check's process narrows itself to the loop
 * thread's seccomp filter with the plugin's declarations, as modvm's
 * lockdown does, so the decisions a kind check then drives (a policy's
 * decision path runs only when it governs something) make their system
 * calls under it: a call outside it fails the check naming the call.
 * 0, or -errno (-ENOSYS/-EINVAL: no seccomp here).
 */
int conform_sandbox_narrow(struct modvm__sandbox_stats *st);

/*
 * What the device checks are doing, for the verdict if the plugin crashes:
 * "<what>" is formatted lazily, only when it dies.
 */
struct devvm_step {
	const char *check;
	const char *scenario;	/* NULL during plain fuzzing */
	unsigned window, queue;
	uint64_t index;		/* access or scenario number */
	uint64_t offset, value;
	uint32_t len;
	bool is_write, in_access;
	uint64_t seed;
};
extern struct devvm_step devvm_step;
/* sandbox-vcpu: devvm_open filters the device's I/O threads (threads.c). */
extern bool devvm_filter_io_threads;

#endif
