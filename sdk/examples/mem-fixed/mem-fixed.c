/*
 * mem-fixed — an out-of-tree memory policy (kind MODVM_KIND_MEMORY_POLICY)
 * written against the installed SDK only: every VM it governs is sized to
 * `percent` of its RAM once its balloon appears, through the balloon
 * mechanism's "modvm.balloon/1" (modvm/balloon.h).
 *
 * What it shows:
 *  - the mechanism is looked up in start (it may init after us), never
 *    called outside start..stop;
 *  - mem.balloon_state says which VMs have a balloon, the effective target
 *    of what we asked and whether the operator holds the VM;
 *  - we touch only the VMs we govern (modvm_plugin_governs: the operator's
 *    host.memory_policy / a VM's memory_policy), never one the operator
 *    holds, never one whose balloon is gone, and we say when the mechanism
 *    clamped our request into the VM's [minimum, maximum].
 *
 * Use it instead of mem-dynamic:
 *     host = { memory_policy = "mem-fixed"; };
 *     plugins = { mem-balloon = { enabled = true; };
 *                 mem-fixed = { enabled = true; percent = 60; }; };
 */
#include <errno.h>
#include <stdlib.h>

#include <modvm/balloon.h>
#include <modvm/events.h>
#include <modvm/plugin.h>

struct fixed {
	struct modvm_plugin_ctx *ctx;
	unsigned percent;
	const struct modvm_balloon *bl;	/* start..stop only */
	int sub;			/* mem.balloon_state, -1 when not subscribed */
	unsigned nvms;
	bool *sized;			/* per VM: we set its target since its balloon appeared */
};

static void on_state(const struct modvm_mem_balloon_state *st, void *ud)
{
	struct fixed *f = ud;
	uint64_t want, effective = 0;
	int r;

	if (!f->bl || st->vm_id >= f->nvms)
		return;
	if (!(st->flags & MODVM_BALLOON_PRESENT)) {
		f->sized[st->vm_id] = false;	/* gone (or stopped): leave it alone */
		return;
	}
	if (f->sized[st->vm_id] || (st->flags & MODVM_BALLOON_OPERATOR) ||
	    !modvm_plugin_governs(f->ctx, st->vm_id))
		return;
	/* percent of RAM, rounded down, without overflow (ram / 100 * percent
	 * fell short: 50 % of 256 MiB was 134217700 bytes, "127 MiB"). */
	want = st->ram / 100 * f->percent + st->ram % 100 * f->percent / 100;
	/* Never ask outside the limits the mechanism reported. */
	if (want < st->minimum)
		want = st->minimum;
	if (st->maximum && want > st->maximum)
		want = st->maximum;
	f->sized[st->vm_id] = true;	/* before the call: it publishes the new state */
	r = f->bl->set_target(f->ctx, st->vm_id, want, &effective);
	if (r < 0) {
		f->sized[st->vm_id] = false;
		modvm_plugin_log(f->ctx, MODVM_LOG_WARN, "vm %u: target refused: %s", st->vm_id,
				 modvm_strerror(r));
		return;
	}
	modvm_plugin_log(f->ctx, MODVM_LOG_INFO, "vm %u: %u%% of %llu MiB: target %llu MiB%s",
			 st->vm_id, f->percent, (unsigned long long)(st->ram >> 20),
			 (unsigned long long)(effective >> 20),
			 effective != want ? " (clamped by the mechanism)" : "");
}

static int fixed_init(struct modvm_plugin_ctx *ctx)
{
	struct fixed *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->ctx = ctx;
	f->sub = -1;
	f->percent = (unsigned)modvm_config_int(modvm_plugin_config(ctx), "percent");
	f->nvms = modvm_plugin_vm_count(ctx);
	f->sized = calloc(f->nvms ? f->nvms : 1, sizeof(*f->sized));
	if (!f->sized) {
		free(f);
		return -ENOMEM;
	}
	modvm_plugin_set_data(ctx, f);
	return 0;
}

static int fixed_start(struct modvm_plugin_ctx *ctx)
{
	struct fixed *f = modvm_plugin_data(ctx);
	const char *provider = NULL;
	int r;

	f->bl = modvm_plugin_query(ctx, MODVM_BALLOON_IFACE, &provider);
	if (f->bl && f->bl->struct_size < sizeof(*f->bl))
		f->bl = NULL;
	if (!f->bl) {
		modvm_plugin_log(ctx, MODVM_LOG_WARN, "no plugin provides %s (enable mem-balloon): "
				 "nothing to size", MODVM_BALLOON_IFACE);
		return 0;
	}
	modvm_plugin_log(ctx, MODVM_LOG_INFO, "sizing VMs to %u%% through %s", f->percent,
			 provider ? provider : "the core");
	r = modvm_subscribe_mem_balloon_state(modvm_plugin_bus(ctx), MODVM_PRIO_DEFAULT, on_state,
					      f);
	if (r < 0) {
		f->bl = NULL;
		return r;
	}
	f->sub = r;
	return 0;
}

static void fixed_stop(struct modvm_plugin_ctx *ctx)
{
	struct fixed *f = modvm_plugin_data(ctx);

	if (f->sub >= 0)
		modvm_bus_unsubscribe(modvm_plugin_bus(ctx), f->sub);
	f->sub = -1;
	f->bl = NULL;	/* we stop touching every VM here */
	for (unsigned i = 0; i < f->nvms; i++)
		f->sized[i] = false;
}

static void fixed_fini(struct modvm_plugin_ctx *ctx)
{
	struct fixed *f = modvm_plugin_data(ctx);

	free(f->sized);
	free(f);
	modvm_plugin_set_data(ctx, NULL);
}

static const struct modvm_option options[] = {
	{ .name = "percent", .type = MODVM_OPT_INT, .default_value = "75", .min = 10, .max = 100,
	  .description = "each governed VM's target, in percent of its RAM" },
	MODVM_OPTIONS_END,
};

MODVM_PLUGIN(.name = "mem-fixed", .kind = MODVM_KIND_MEMORY_POLICY, .version = "1.0.1",
	     .license = "MIT",
	     .description = "example memory policy: every governed VM at a fixed share of its RAM",
	     .options = options, .init = fixed_init, .start = fixed_start, .stop = fixed_stop,
	     .fini = fixed_fini);
