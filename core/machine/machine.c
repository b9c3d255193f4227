/*
 * One VM assembled from its configuration.  Order matters and is undone in
 * reverse: VM (RAM, memslots) → devices on its iobus → kernel into RAM →
 * start state for the boot vCPU.  Nothing runs until modvm__machine_start.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <modvm/virtio.h>

#include "boot/boot.h"
#include "devices/devices.h"
#include "vm/vm.h"
#include "machine/machine.h"

struct modvm__machine {
	struct modvm_vm *vm;
	struct modvm__uart *uart;
	struct modvm__power *power;
	struct modvm__rtc *rtc;
	struct modvm__console *console;
	struct modvm__boot_info boot;
	struct modvm__virtio_rng *rng;
	void (*detach)(struct modvm_vm *vm, uint32_t vm_id, void *ud);
	void *hooks_ud;
	bool attached;
	char name[32];
};

MODVM_INTERNAL const char *modvm__machine_resolve_kernel(const char *kernel)
{
	if (!kernel || strcmp(kernel, "builtin:demo") != 0)
		return kernel;
	/* Installed copy first, then the build tree (running uninstalled). */
	const char *env = getenv("MODVM_DEMO_GUEST");
	if (env && *env)
		return env;
	if (access(MODVM_DEMO_GUEST_INSTALLED, R_OK) == 0)
		return MODVM_DEMO_GUEST_INSTALLED;
	return MODVM_DEMO_GUEST_BUILD;
}

static int init_vcpu(struct modvm_vm *vm, uint32_t index, void *ud)
{
	struct modvm__machine *m = ud;
	/* Application processors keep their reset state and wait for INIT/SIPI
	 * from the boot vCPU through the in-kernel LAPIC. */
	if (index != 0)
		return 0;
	int ret = modvm_vcpu_set_sregs(vm, 0, &m->boot.sregs);
	if (ret == 0)
		ret = modvm_vcpu_set_regs(vm, 0, &m->boot.regs);
	return ret;
}

/* The core's own virtio devices (virtio-rng), before the plugins' ones. */
static int attach_core_virtio(struct modvm__machine *m, const struct modvm__machine_config *cfg)
{
	if (!cfg->rng)
		return 0;
	return modvm__virtio_rng_attach(m->vm, &m->rng);
}

static enum modvm__boot_entry boot_entry(const char *name)
{
	if (name && strcmp(name, "64") == 0)
		return MODVM_BOOT_ENTRY_64;
	if (name && strcmp(name, "32") == 0)
		return MODVM_BOOT_ENTRY_32;
	if (name && strcmp(name, "pvh") == 0)
		return MODVM_BOOT_ENTRY_PVH;
	return MODVM_BOOT_ENTRY_AUTO;
}

static int load_kernel(struct modvm__machine *m, const struct modvm__machine_config *cfg)
{
	const char *kernel = modvm__machine_resolve_kernel(cfg->kernel);
	/* Every virtio-mmio device added so far is announced on the command line. */
	struct modvm__boot_mmio_dev mmio[MODVM_VM_VIRTIO_MAX];
	uint32_t n_mmio = modvm__vm_virtio_count(m->vm);
	for (uint32_t i = 0; i < n_mmio; i++) {
		struct modvm_virtio_mmio *t = modvm__vm_virtio(m->vm, i);
		mmio[i] = (struct modvm__boot_mmio_dev){ modvm_virtio_mmio_base(t),
							 modvm_virtio_mmio_size(t),
							 modvm_virtio_mmio_irq(t) };
	}
	/* What the ACPI tables announce: exactly the devices attached above. */
	static const struct modvm__boot_platform platform = {
		.com1_port = MODVM_COM1_BASE,
		.com1_irq = MODVM_COM1_IRQ,
		.rtc_port = 0x70,
		.rtc_irq = MODVM_RTC_IRQ,
		.sleep_ctl_port = MODVM_ACPI_SLEEP_CTL_PORT,
		.sleep_sts_port = MODVM_ACPI_SLEEP_STS_PORT,
		.s5_typ = MODVM_ACPI_S5_TYP,
		.reset_port = MODVM_ACPI_RESET_PORT,
		.reset_value = MODVM_ACPI_RESET_VALUE,
	};
	struct modvm__boot_config bc = {
		.kernel = kernel,
		.initrd = cfg->initrd,
		.cmdline = cfg->cmdline,
		.ram = modvm_vm_ram_region(m->vm, 0),
		.n_ram = modvm_vm_ram_region_count(m->vm),
		.vcpus = cfg->vcpus,
		.entry = boot_entry(cfg->boot_entry),
		.mmio = mmio,
		.n_mmio = n_mmio,
		.platform = &platform,
	};
	char err[256] = "";
	int ret = modvm__boot_load(&bc, &m->boot, err, sizeof(err));
	if (ret < 0)
		modvm_log(MODVM_LOG_ERROR, NULL, "vm %s: %s", m->name,
			  err[0] ? err : modvm_strerror(ret));
	return ret;
}

MODVM_INTERNAL int modvm__machine_create(const struct modvm_cpu_backend *backend,
				     struct modvm_plugin_ctx *backend_ctx,
				     const struct modvm__machine_config *cfg, struct modvm__machine **out)
{
	struct modvm__machine *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	snprintf(m->name, sizeof(m->name), "%s", cfg->name ? cfg->name : "vm");

	if (!cfg->kernel || !cfg->kernel[0]) {
		modvm_log(MODVM_LOG_ERROR, NULL, "vm %s: no kernel configured", m->name);
		free(m);
		return -EINVAL;
	}

	struct modvm_vm_config vc = {
		.struct_size = sizeof(vc),
		.vm_id = cfg->vm_id,
		.name = cfg->name,
		.vcpus = cfg->vcpus,
		.memory_bytes = cfg->memory,
		.stats_interval_ms = cfg->stats_interval_ms,
		.irqchip = true,
		.bus = cfg->bus,
		.loop = cfg->loop,
	};
	int ret = __modvm_vm_create(backend, backend_ctx, &vc, &m->vm);
	if (ret < 0)
		goto err_free;
	ret = modvm__console_open(m->name, cfg->console, cfg->console_append, cfg->console_max,
				  &m->console);
	if (ret < 0)
		goto err_vm;
	ret = modvm__uart_attach(m->vm, MODVM_COM1_BASE, MODVM_COM1_IRQ, m->console, &m->uart);
	if (ret < 0)
		goto err_console;
	ret = modvm__power_attach(m->vm, &m->power);
	if (ret < 0)
		goto err_uart;
	ret = modvm__rtc_attach(m->vm, &m->rtc);
	if (ret < 0)
		goto err_power;
	ret = attach_core_virtio(m, cfg);
	if (ret < 0)
		goto err_rtc;
	if (cfg->attach) {
		ret = cfg->attach(m->vm, cfg->vm_id, cfg->hooks_ud);
		if (ret < 0)
			goto err_virtio;
		m->detach = cfg->detach;
		m->hooks_ud = cfg->hooks_ud;
		m->attached = true;
	}
	ret = load_kernel(m, cfg);
	if (ret < 0)
		goto err_plugins;
	ret = modvm_vm_set_vcpu_init(m->vm, init_vcpu, m);
	if (ret < 0)
		goto err_plugins;
	*out = m;
	return 0;

err_plugins:
	if (m->attached && m->detach)
		m->detach(m->vm, cfg->vm_id, m->hooks_ud);
err_virtio:
	modvm__virtio_rng_detach(m->vm, m->rng);
err_rtc:
	modvm__rtc_free(m->rtc);
err_power:
	modvm__power_free(m->power);
err_uart:
	modvm__uart_free(m->uart);
err_console:
	modvm__console_free(m->console);
err_vm:
	modvm_vm_destroy(m->vm);
err_free:
	free(m);
	return ret;
}

MODVM_INTERNAL int modvm__machine_start(struct modvm__machine *m, modvm_vm_done_fn done, void *ud)
{
	int ret = modvm_vm_set_done_callback(m->vm, done, ud);
	if (ret < 0)
		return ret;
	return modvm_vm_start(m->vm);
}

MODVM_INTERNAL void modvm__machine_free(struct modvm__machine *m)
{
	if (!m)
		return;
	modvm_vm_stop(m->vm);
	/* Devices go after the vCPUs are joined: no handler can still run. */
	if (m->attached && m->detach)
		m->detach(m->vm, modvm_vm_id(m->vm), m->hooks_ud);
	modvm__virtio_rng_detach(m->vm, m->rng);
	modvm__rtc_free(m->rtc);
	modvm__power_free(m->power);
	modvm__uart_free(m->uart);
	modvm_vm_destroy(m->vm);
	modvm__console_free(m->console);
	free(m);
}

MODVM_INTERNAL struct modvm_vm *modvm__machine_vm(struct modvm__machine *m)
{
	return m->vm;
}

MODVM_INTERNAL bool modvm__machine_failed(struct modvm__machine *m)
{
	return modvm_vm_state(m->vm) == MODVM_VM_FAILED;
}

MODVM_INTERNAL bool modvm__machine_reset_requested(struct modvm__machine *m)
{
	return !modvm__machine_failed(m) &&
	       (modvm__power_requested(m->power) == MODVM_POWER_RESET || modvm__vm_reset(m->vm));
}
