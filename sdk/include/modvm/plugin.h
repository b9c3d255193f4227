/*
 * modvm/plugin.h — the plugin ABI.
 *
 * A plugin is a shared module that exports exactly one symbol, its
 * descriptor, declared with MODVM_PLUGIN():
 *
 *     MODVM_PLUGIN(.name = "mem-dynamic", .kind = MODVM_KIND_MEMORY_POLICY,
 *                  .version = "1.0.0", .license = "MIT",
 *                  .init = dyn_init, .fini = dyn_fini);
 *
 * The symbol's name carries the ABI major (modvm_plugin_entry_v1), so a
 * plugin built for another major fails at dlsym with a message that says
 * which major it was built for.  The loader also refuses — each with its own
 * one-line message naming the file — another abi_major, an abi_minor newer
 * than the core's, a struct_size smaller than the 1.0 layout, an empty name,
 * a name that differs from the file name (mem-dynamic.so ⇔ "mem-dynamic"), a
 * duplicate name, a `requires` entry that names no loaded plugin, and an
 * init that fails (after which the plugin is unloaded with nothing left).
 *
 * Lifecycle, all on the loop thread:
 *     dlopen → [validate(ctx)] → init(ctx) → start(ctx) → … running … → stop(ctx)
 *       → fini(ctx) → dlclose
 * validate (ABI 1.3, optional) runs before any init and changes nothing;
 * `modvm check` runs it and stops there.  recover (ABI 1.3, optional) is
 * called instead of the lifecycle by `modvm recover` (see the fields).
 * init and start run in `requires` order (dependencies first); stop and fini
 * in reverse.  init may subscribe to events and allocate; start may begin
 * timers and I/O; stop must end them; fini frees everything init made.  A
 * plugin must tolerate any number of init→fini cycles in one process.
 * Plugins are unloaded only after the bus is quiet: their subscriptions are
 * removed (the core does it for them after fini) and no queued event can
 * reach them any more.
 *
 * ABI rules for this struct: fields are only appended, and a new field is
 * read only if struct_size says the plugin has it.
 */
#ifndef MODVM_PLUGIN_H
#define MODVM_PLUGIN_H

#include "common.h"
#include "log.h"
#include "config.h"
#include "bus.h"

MODVM_BEGIN_DECLS

struct modvm_loop;
struct modvm_plugin_ctx;
struct modvm_vm;

/*
 * What a plugin is.  A kind is a label the core and the conformance kit
 * read, and each kind that others replace has a contract (sdk/README.md,
 * section 7a, "Plugin kinds: one mechanism, many policies"):
 *  - CPU_BACKEND implements "modvm.cpu-backend/1" (cpu.h);
 *  - MEMORY_POLICY decides balloon targets through "modvm.balloon/1"
 *    (balloon.h) for the VMs it governs (modvm_plugin_governs);
 *  - POWER_POLICY parks cores through "modvm.park/1" (park.h) when it
 *    governs the host;
 *  - NIC_DRIVER (ABI 1.4) implements "modvm.nic-driver/1" (nicdrv.h);
 *  - NET, DEVICE and OTHER are mechanisms and features with no kind
 *    contract of their own (what they provide is checked by interface).
 */
enum modvm_plugin_kind {
	MODVM_KIND_OTHER = 0,
	MODVM_KIND_CPU_BACKEND = 1,
	MODVM_KIND_NET = 2,
	MODVM_KIND_MEMORY_POLICY = 3,
	MODVM_KIND_POWER_POLICY = 4,
	MODVM_KIND_DEVICE = 5,
	MODVM_KIND_NIC_DRIVER = 6,	/* ABI 1.4 */
};

/* "cpu-backend", "net", …; "unknown" for values outside the enum. */
MODVM_EXPORT const char *modvm_plugin_kind_name(int kind);

struct modvm_plugin {
	uint32_t struct_size;
	uint16_t abi_major;
	uint16_t abi_minor;
	const char *name;		/* equals the file name without ".so" */
	uint32_t kind;			/* enum modvm_plugin_kind */
	const char *version;		/* the plugin's own version, "1.0.0" */
	const char *license;		/* SPDX id */
	const char *description;	/* one line */
	const char *const *requires;	/* NULL-terminated plugin names, or NULL */
	const struct modvm_option *options;	/* host-wide options, or NULL */
	const struct modvm_option *vm_options;	/* per-VM options, or NULL */
	struct modvm_event_desc *const *events;	/* events it publishes, NULL-terminated */

	/* 0 on success, a negative errno on failure (log why first). */
	int (*init)(struct modvm_plugin_ctx *ctx);
	int (*start)(struct modvm_plugin_ctx *ctx);
	void (*stop)(struct modvm_plugin_ctx *ctx);
	void (*fini)(struct modvm_plugin_ctx *ctx);

	/*
	 * Optional interfaces, by versioned id ("modvm.cpu-backend/1").  Returns
	 * a vtable whose layout for that id never changes, or NULL if this plugin
	 * does not implement it.  Called only between init and fini.
	 */
	const void *(*get_interface)(struct modvm_plugin_ctx *ctx, const char *id);

	/* ---- ABI 1.3: read only if struct_size covers them ---- */

	/*
	 * Optional.  Checks the plugin's options and per-VM options the way
	 * init would — cross-field rules a table cannot say (a minimum above
	 * a maximum, a count larger than the cores there are) — and changes
	 * nothing: no threads, timers, subscriptions, written files or host
	 * state.  `modvm check` and `modvm run` call it after the option
	 * tables are validated and before any plugin's init, so `check`
	 * refuses what `run` would.  Through @ctx it may read
	 * modvm_plugin_config, modvm_plugin_vm_count/_vm_name/_vm_config and
	 * log; nothing else.  0, or a negative errno after logging every
	 * problem as one line naming its file:line (modvm_config_where).
	 */
	int (*validate)(struct modvm_plugin_ctx *ctx);

	/*
	 * Optional.  Undoes what an earlier run of this plugin left changed on
	 * the host because that run crashed or was killed before its stop
	 * (SIGKILL, a power cut, the start watchdog): `modvm recover CONFIG`,
	 * meant for a service manager's stop-post hook, calls it for every
	 * enabled plugin, with the same context as validate (its options, no
	 * init).  A plugin should also recover in its own init before it saves
	 * any "original" value.  0 if nothing was left or all of it was
	 * restored; -EBUSY if a running modvm still owns what would be undone
	 * (nothing is touched); another negative errno, after logging what
	 * could not be restored.
	 */
	int (*recover)(struct modvm_plugin_ctx *ctx);
};

/* Size of the ABI 1.0 layout: the loader refuses anything smaller. */
#define MODVM_PLUGIN_MIN_SIZE_V1 (offsetof(struct modvm_plugin, get_interface) + sizeof(void *))
/* True if descriptor @d (built against any 1.x) has field @f: fields added
 * in a minor are read only when this holds. */
#define MODVM_PLUGIN_HAS(d, f) ((d)->struct_size >= offsetof(struct modvm_plugin, f) + sizeof((d)->f))

#define MODVM__CAT2(a, b) a##b
#define MODVM__CAT(a, b) MODVM__CAT2(a, b)
#define MODVM_PLUGIN_SYMBOL MODVM__CAT(modvm_plugin_entry_v, MODVM_ABI_MAJOR)
#define MODVM_PLUGIN_SYMBOL_NAME "modvm_plugin_entry_v"	/* + decimal major */

#define MODVM_PLUGIN(...)                                                                \
	MODVM_EXPORT extern const struct modvm_plugin MODVM_PLUGIN_SYMBOL;                \
	const struct modvm_plugin MODVM_PLUGIN_SYMBOL = {                                  \
		.struct_size = sizeof(struct modvm_plugin),                               \
		.abi_major = MODVM_ABI_MAJOR,                                             \
		.abi_minor = MODVM_ABI_MINOR,                                             \
		__VA_ARGS__}

/* ---- what a plugin can reach through its context ---- */

MODVM_EXPORT const char *modvm_plugin_name(const struct modvm_plugin_ctx *ctx);
MODVM_EXPORT struct modvm_bus *modvm_plugin_bus(struct modvm_plugin_ctx *ctx);
MODVM_EXPORT struct modvm_loop *modvm_plugin_loop(struct modvm_plugin_ctx *ctx);
/* The plugin's own validated option values (never NULL; empty if no table). */
MODVM_EXPORT const struct modvm_config *modvm_plugin_config(struct modvm_plugin_ctx *ctx);

/* One private pointer for the plugin's state, set in init. */
MODVM_EXPORT void modvm_plugin_set_data(struct modvm_plugin_ctx *ctx, void *data);
MODVM_EXPORT void *modvm_plugin_data(struct modvm_plugin_ctx *ctx);

/* Logs one line with the plugin's name as the domain. */
MODVM_EXPORT void modvm_plugin_log(struct modvm_plugin_ctx *ctx, enum modvm_log_level level,
				   const char *fmt, ...) MODVM_PRINTF(3, 4);

/*
 * The VMs of the config, by index (vm_id in events).  vm_config returns the
 * VM's group for this plugin validated against vm_options, or NULL if the
 * VM has no such group or the plugin declares no vm_options.
 */
MODVM_EXPORT unsigned modvm_plugin_vm_count(struct modvm_plugin_ctx *ctx);
MODVM_EXPORT const char *modvm_plugin_vm_name(struct modvm_plugin_ctx *ctx, unsigned vm_id);
MODVM_EXPORT const struct modvm_config *modvm_plugin_vm_config(struct modvm_plugin_ctx *ctx,
								unsigned vm_id);

/*
 * Finds an interface by versioned id among the core's own interfaces and
 * every other initialised plugin's.  Returns NULL if nobody provides it;
 * *provider (optional) receives the provider's name ("core" for the core).
 */
MODVM_EXPORT const void *modvm_plugin_query(struct modvm_plugin_ctx *ctx, const char *id,
					    const char **provider);

/*
 * ABI 1.4.  Every provider of interface @id in turn, for interfaces
 * several plugins implement at once (NIC drivers): set *@cursor to 0, then
 * call until it returns NULL.  Each call returns the next vtable — the
 * core's first, then each initialised plugin's in load order, the caller
 * itself excepted — and its provider's context in *@provider (NULL for
 * the core), which the vtable's calls then take as their `self`.
 */
MODVM_EXPORT const void *modvm_plugin_query_each(struct modvm_plugin_ctx *ctx, const char *id,
						 size_t *cursor,
						 struct modvm_plugin_ctx **provider);

/*
 * The running VM @vm_id (see modvm/vm.h), or NULL when it is not running:
 * valid from its vm.lifecycle STARTING to its STOPPING event, on the loop
 * thread.  Policy plugins use it to reach vCPU threads (affinity, stats) or
 * guest RAM (the balloon).
 */
MODVM_EXPORT struct modvm_vm *modvm_plugin_vm(struct modvm_plugin_ctx *ctx, unsigned vm_id);

/*
 * ABI 1.4.  Which plugin governs: the operator names one policy per kind
 * in the config, and exactly one plugin governs each thing at a time.
 *  - MODVM_KIND_MEMORY_POLICY governs per VM: the VM's `memory_policy`
 *    if set, else `host.memory_policy`;
 *  - MODVM_KIND_POWER_POLICY governs the host: `host.power_policy`
 *    (@vm_id is ignored).
 * Each setting is a plugin name (an enabled plugin of that kind),
 * "none" (nobody: the mechanism keeps its defaults and the operator's
 * orders), or "auto" (the default): the one enabled plugin of that kind,
 * nobody if none is enabled; `modvm check` refuses "auto" with several.
 * Returns the governing plugin's name, or NULL for nobody (also for an
 * unknown VM, kind or a setting `check` refuses).  Loop thread, any time
 * after the config is loaded.
 */
MODVM_EXPORT const char *modvm_plugin_governor(struct modvm_plugin_ctx *ctx, int kind,
					       unsigned vm_id);
/*
 * ABI 1.4.  True if the plugin of @ctx governs VM @vm_id (memory policies)
 * or the host (power policies, @vm_id ignored) in its own kind.  Policies
 * leave alone what they do not govern; mechanisms refuse (-EPERM) orders
 * from a caller that does not govern.
 */
MODVM_EXPORT bool modvm_plugin_governs(struct modvm_plugin_ctx *ctx, unsigned vm_id);

/*
 * Per-VM hooks, for plugins that add devices to VMs.  @setup runs on the
 * loop thread for every VM the host creates, after the core devices exist
 * and before the kernel is loaded (so virtio-mmio devices added with
 * modvm_vm_add_virtio() are announced on the kernel command line) and
 * before any vCPU runs.  A negative return fails that VM (log why first).
 * @teardown runs after the VM's vCPUs have stopped and before its RAM goes:
 * remove the plugin's devices (modvm_vm_remove_virtio) and free their
 * state there.  Set in init.  ABI: size-stamped, fields appended only.
 */
struct modvm_vm_hooks {
	uint32_t struct_size;
	int (*setup)(struct modvm_plugin_ctx *ctx, struct modvm_vm *vm, unsigned vm_id, void *ud);
	void (*teardown)(struct modvm_plugin_ctx *ctx, struct modvm_vm *vm, unsigned vm_id,
			 void *ud);
};
/* @hooks must outlive the plugin's init→fini cycle (a static const table). */
MODVM_EXPORT int modvm_plugin_set_vm_hooks(struct modvm_plugin_ctx *ctx,
					   const struct modvm_vm_hooks *hooks, void *ud);

/*
 * Optional interface "modvm.caps-report/1": what this host lets the plugin
 * do, for `modvm caps` (the way CPU backends report through their probe).
 * @report writes "name: value" lines (newline-separated, no trailing
 * newline needed) into @buf and returns the length it needed, like snprintf.
 * Called between init and fini, on the loop thread.
 */
#define MODVM_CAPS_REPORT_IFACE "modvm.caps-report/1"
struct modvm_caps_report {
	uint32_t struct_size;
	int (*report)(struct modvm_plugin_ctx *ctx, char *buf, size_t len);
};

MODVM_END_DECLS

#endif
