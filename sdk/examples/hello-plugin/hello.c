/*
 * hello — the example out-of-tree modvm plugin (see ../../README.md).
 *
 * It declares host-wide and per-VM options, registers an event of its own
 * (hello.greeting, hello.h) and greets every VM that reaches RUNNING by
 * listening to the standard vm.lifecycle event.  Everything it allocates in
 * init is freed in fini, so it survives any number of init→fini cycles.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <modvm/events.h>
#include <modvm/plugin.h>

#include "hello.h"

struct hello {
	struct modvm_plugin_ctx *ctx;
	int sub;		/* vm.lifecycle subscription */
	uint32_t count;
};

static void on_lifecycle(const struct modvm_vm_lifecycle *ev, void *ud)
{
	struct hello *h = ud;
	const struct modvm_config *cfg = modvm_plugin_config(h->ctx);
	const struct modvm_config *vm_cfg;
	struct hello_greeting g = { .vm_id = ev->vm_id };

	if (ev->state != MODVM_VM_RUNNING)
		return;
	/* Per-VM group vms.[i].hello; NULL when the VM has none: use the default. */
	vm_cfg = modvm_plugin_vm_config(h->ctx, ev->vm_id);
	if (vm_cfg && !modvm_config_bool(vm_cfg, "greet"))
		return;
	g.count = ++h->count;
	snprintf(g.text, sizeof(g.text), "%s, %.*s", modvm_config_string(cfg, "greeting"),
		 MODVM_NAME_MAX, ev->vm_name);
	for (int64_t i = 0; i < modvm_config_int(cfg, "repeat"); i++)
		modvm_plugin_log(h->ctx, MODVM_LOG_INFO, "%s", g.text);
	modvm_publish_hello_greeting(modvm_plugin_bus(h->ctx), &g);
}

static int hello_init(struct modvm_plugin_ctx *ctx)
{
	struct hello *h;
	int r;

	/* Declared events are registered up front, so a clash shows at init. */
	r = modvm_bus_register(&modvm_event_hello_greeting);
	if (r < 0) {
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "cannot register hello.greeting: %s",
				 modvm_strerror(r));
		return r;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->ctx = ctx;
	r = modvm_subscribe_vm_lifecycle(modvm_plugin_bus(ctx), MODVM_PRIO_DEFAULT, on_lifecycle,
					 h);
	if (r < 0) {
		modvm_plugin_log(ctx, MODVM_LOG_ERROR, "cannot subscribe to vm.lifecycle: %s",
				 modvm_strerror(r));
		free(h);
		return r;
	}
	h->sub = r;
	modvm_plugin_set_data(ctx, h);
	return 0;
}

static void hello_fini(struct modvm_plugin_ctx *ctx)
{
	struct hello *h = modvm_plugin_data(ctx);

	modvm_bus_unsubscribe(modvm_plugin_bus(ctx), h->sub);
	free(h);
}

static const struct modvm_option options[] = {
	{ .name = "greeting", .type = MODVM_OPT_STRING, .default_value = "hello",
	  .description = "what to say to a VM that starts running" },
	{ .name = "repeat", .type = MODVM_OPT_INT, .default_value = "1", .min = 1, .max = 10,
	  .description = "how many times to log the greeting" },
	MODVM_OPTIONS_END,
};

static const struct modvm_option vm_options[] = {
	{ .name = "greet", .type = MODVM_OPT_BOOL, .default_value = "true",
	  .description = "greet this VM" },
	MODVM_OPTIONS_END,
};

static struct modvm_event_desc *const events[] = { &modvm_event_hello_greeting, NULL };

MODVM_PLUGIN(.name = "hello", .kind = MODVM_KIND_OTHER, .version = "1.0.0", .license = "MIT",
	     .description = "greets every VM that starts running", .options = options,
	     .vm_options = vm_options, .events = events, .init = hello_init,
	     .fini = hello_fini);
