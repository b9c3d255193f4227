/*
 * The VMs a config defines.  Adding a per-VM knob the core understands is
 * one line in vm_options; fleet.c and machine/machine.c read it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/events.h>

#include "boot/boot.h"
#include "host/host_vms.h"

struct vmdef {
	const char *name;		/* lives in cfg */
	struct modvm_config *cfg;
};

struct modvm__vmdefs {
	struct vmdef *vm;
	size_t count;
};

static const struct modvm_option vm_options[] = {
	{ .name = "name", .type = MODVM_OPT_STRING, .default_value = NULL,
	  .description = "unique VM name: 1-31 of A-Z a-z 0-9 . _ -, not all digits" },
	/* The boot loader's limit: 8-bit xAPIC ids, 255 is broadcast and the
	 * IOAPIC takes one (boot/boot.h). */
	{ .name = "vcpus", .type = MODVM_OPT_INT, .default_value = "1", .min = 1,
	  .max = MODVM_BOOT_MAX_VCPUS, .description = "number of virtual CPUs" },
	{ .name = "memory", .type = MODVM_OPT_SIZE, .default_value = "128M",
	  .min = 2LL << 20, .max = 1LL << 40,
	  .description = "guest RAM size, a multiple of 4K, at most the host's RAM unless "
			 "host.memory_overcommit" },
	{ .name = "kernel", .type = MODVM_OPT_STRING, .default_value = "",
	  .description = "bzImage or ELF vmlinux to boot; \"builtin:demo\" is the demo guest" },
	{ .name = "initrd", .type = MODVM_OPT_STRING, .default_value = "",
	  .description = "initial ramdisk, empty for none" },
	{ .name = "boot_entry", .type = MODVM_OPT_ENUM, .default_value = "auto",
	  .choices = "auto|64|32|pvh",
	  .description = "kernel entry: auto (64-bit boot protocol), 64, 32 (bzImage in "
			 "protected mode) or pvh (ELF vmlinux with a PVH note, as QEMU's microvm)" },
	{ .name = "cmdline", .type = MODVM_OPT_STRING, .default_value = "console=ttyS0",
	  .description = "kernel command line (virtio_mmio.device= entries are appended)" },
	{ .name = "console", .type = MODVM_OPT_STRING, .default_value = "stdout",
	  .description = "where the serial console goes: stdout, none, or a file path (created "
			 "0600, never through a symlink; an existing file must be modvm's own)" },
	{ .name = "console_mode", .type = MODVM_OPT_ENUM, .default_value = "truncate",
	  .choices = "truncate|append",
	  .description = "a console file is emptied when the VM starts, or appended to" },
	{ .name = "console_max", .type = MODVM_OPT_SIZE, .default_value = "64M", .min = 0,
	  .max = 1LL << 40,
	  .description = "a console file grows to at most this size (counting what an append "
			 "found), then guest output is dropped; 0 for no cap" },
	{ .name = "rng", .type = MODVM_OPT_BOOL, .default_value = "true",
	  .description = "attach a virtio-rng device" },
	{ .name = "autostart", .type = MODVM_OPT_BOOL, .default_value = "true",
	  .description = "start the VM with `modvm run` (false: defined but not started)" },
	{ .name = "stats_interval_ms", .type = MODVM_OPT_INT, .default_value = "1000",
	  .min = 0, .max = 3600000, .description = "vcpu.stats period, 0 for none" },
	{ .name = "memory_policy", .type = MODVM_OPT_STRING, .default_value = "",
	  .description = "the memory-policy plugin governing this VM's balloon: a plugin name, "
			 "\"none\", or \"\" for host.memory_policy" },
	{ .name = "on_reboot", .type = MODVM_OPT_ENUM, .default_value = "restart",
	  .choices = "restart|stop",
	  .description = "what a guest's reboot does: start the VM afresh (same config, new "
			 "RAM) or stop it" },
	MODVM_OPTIONS_END,
};

MODVM_INTERNAL const struct modvm_option *modvm__host_vm_options(void)
{
	return vm_options;
}

/* The enabled plugin names, NULL-terminated: the sub-groups a VM may have. */
static const char **enabled_names(const struct modvm__cfgfile *cf)
{
	size_t n = modvm__config_plugin_count(cf), k = 0;
	const char **v = calloc(n + 1, sizeof(*v));

	for (size_t i = 0; v && i < n; i++)
		if (modvm__config_plugin_enabled(cf, i))
			v[k++] = modvm__config_plugin_name(cf, i);
	return v;
}

/* Guest RAM is mapped and ballooned in whole pages. */
static int check_memory(const struct vmdef *vm)
{
	uint64_t mem = modvm_config_size(vm->cfg, "memory");

	if (mem % 4096 == 0)
		return 0;
	modvm_log(MODVM_LOG_ERROR, NULL, "%s: memory: %llu bytes: not a multiple of 4K",
		  modvm_config_where(vm->cfg, "memory"), (unsigned long long)mem);
	return -EINVAL;
}

/*
 * [A-Za-z0-9._-]{1,31}, not all digits: short enough for event payloads,
 * nothing that forges a line of `ctl status` or a log line (newlines,
 * escape sequences), nothing that reads as a VM id ("0") where ctl takes
 * a name or an id.  Printed with %.*s of safe characters only, so the
 * refusal itself forges nothing.
 */
static int check_charset(const struct vmdef *vm)
{
	const char *n = vm->name;
	size_t len = strlen(n), digits = 0;
	const char *why = NULL;

	for (size_t i = 0; i < len && !why; i++) {
		char c = n[i];
		if (c >= '0' && c <= '9')
			digits++;
		else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
			   c == '_' || c == '-'))
			why = "only letters, digits, '.', '_' and '-' are allowed";
	}
	if (!why && len == 0)
		why = "empty";
	else if (!why && len >= MODVM_NAME_MAX)
		why = "too long: at most 31 characters";
	else if (!why && digits == len)
		why = "all digits, which reads as a VM id";
	if (!why)
		return 0;
	char shown[MODVM_NAME_MAX * 4 + 1];
	size_t k = 0;
	for (size_t i = 0; i < len && k + 4 < sizeof(shown); i++) {
		unsigned char c = (unsigned char)n[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			shown[k++] = (char)c;
		else
			k += (size_t)snprintf(shown + k, sizeof(shown) - k, "\\x%02x", c);
	}
	shown[k] = '\0';
	modvm_log(MODVM_LOG_ERROR, NULL, "%s: name: \"%s\": %s (a VM name is "
		  "[A-Za-z0-9._-]{1,31}, not all digits)", modvm_config_where(vm->cfg, "name"), shown,
		  why);
	return -EINVAL;
}

/* Names must be valid (above) and unique. */
static int check_name(const struct modvm__vmdefs *d, const struct vmdef *vm)
{
	int r = check_charset(vm);

	if (r < 0)
		return r;
	for (size_t j = 0; d->vm + j < vm; j++) {
		if (strcmp(d->vm[j].name, vm->name) == 0) {
			modvm_log(MODVM_LOG_ERROR, NULL,
				  "%s: name: \"%s\": duplicate VM name (first at %s)",
				  modvm_config_where(vm->cfg, "name"), vm->name,
				  modvm_config_where(d->vm[j].cfg, "name"));
			r = -EINVAL;
		}
	}
	return r;
}

MODVM_INTERNAL int modvm__vmdefs_load(const struct modvm__cfgfile *cf,
				      struct modvm__vmdefs **out)
{
	size_t n = modvm__config_vm_count(cf);
	const char **groups = enabled_names(cf);
	struct modvm__vmdefs *d = calloc(1, sizeof(*d));
	int r = 0;

	if (d)
		d->vm = calloc(n ? n : 1, sizeof(*d->vm));
	if (!groups || !d || !d->vm) {
		free(groups);
		modvm__vmdefs_free(d);
		return -ENOMEM;
	}
	/* Report every VM's problems, not just the first VM's. */
	for (size_t i = 0; i < n; i++) {
		struct vmdef *vm = &d->vm[d->count];
		int e = modvm__config_resolve_vm(cf, i, vm_options, groups, &vm->cfg);

		if (e < 0) {
			r = r ? r : e;
			continue;
		}
		d->count++;
		vm->name = modvm_config_string(vm->cfg, "name");
		e = check_name(d, vm);
		r = r ? r : e;
		e = check_memory(vm);
		r = r ? r : e;
	}
	free(groups);
	if (r < 0) {
		modvm__vmdefs_free(d);
		return r;
	}
	*out = d;
	return 0;
}

MODVM_INTERNAL void modvm__vmdefs_free(struct modvm__vmdefs *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->count; i++)
		modvm__config_free(d->vm[i].cfg);
	free(d->vm);
	free(d);
}

MODVM_INTERNAL size_t modvm__vmdefs_count(const struct modvm__vmdefs *d)
{
	return d ? d->count : 0;
}

MODVM_INTERNAL const char *modvm__vmdefs_name(const struct modvm__vmdefs *d, size_t i)
{
	return d && i < d->count ? d->vm[i].name : NULL;
}

MODVM_INTERNAL const struct modvm_config *modvm__vmdefs_config(const struct modvm__vmdefs *d,
								size_t i)
{
	return d && i < d->count ? d->vm[i].cfg : NULL;
}
