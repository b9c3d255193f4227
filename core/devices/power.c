/*
 * How a guest ends or resets its VM:
 *   - the ACPI hardware-reduced sleep control register and the FADT reset
 *     register (ports MODVM_ACPI_SLEEP_CTL_PORT.., see devices.h): what
 *     Linux's `poweroff` and `reboot` use, the way Cloud Hypervisor does;
 *   - the i8042 controller's reset line (Linux's `reboot=k`, Firecracker's
 *     way, and Linux's fallback);
 *   - a QEMU-style PM1a control port (0x604) for minimal guests.
 * What the VM does on a reset is the machine's business (on_reboot): this
 * device only records the request and stops the vCPUs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/devices.h"
#include "vm/vm.h"

#define I8042_DATA 0x60
#define I8042_CMD 0x64
#define I8042_CMD_RESET 0xfe
#define PM1_SLP_EN (1u << 13)
/* Hardware-reduced sleep control (ACPI 6.5, 4.8.3.7): SLP_TYPx in bits 2-4. */
#define SLEEP_CTL_SLP_EN 0x20
#define SLEEP_CTL_TYP(v) (((v) >> 2) & 7)

struct modvm__power {
	struct modvm_vm *vm;
	int requested;	/* enum modvm__power_request, atomic */
};

static void request(struct modvm__power *p, enum modvm__power_request what)
{
	int none = MODVM_POWER_NONE;
	if (__atomic_compare_exchange_n(&p->requested, &none, what, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE))
		modvm_log(MODVM_LOG_INFO, modvm_vm_name(p->vm), "guest requested %s",
			  what == MODVM_POWER_OFF ? "power off" : "reset");
	modvm_vm_stop(p->vm);	/* from a vCPU thread: only requests the stop */
}

/* Status and data read 0: no data, input buffer empty, so drivers never wait. */
static void i8042_data_access(void *ud, uint64_t addr, uint8_t *data, uint32_t len,
			      bool is_write)
{
	(void)ud;
	(void)addr;
	if (!is_write)
		memset(data, 0, len);
}

static void i8042_cmd_access(void *ud, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	(void)addr;
	if (!is_write)
		memset(data, 0, len);
	else if (data[0] == I8042_CMD_RESET)
		request(ud, MODVM_POWER_RESET);
}

static void sleep_ctl_access(void *ud, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	struct modvm__power *p = ud;
	(void)addr;
	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	if (!(data[0] & SLEEP_CTL_SLP_EN))
		return;
	if (SLEEP_CTL_TYP(data[0]) == MODVM_ACPI_S5_TYP)
		request(p, MODVM_POWER_OFF);
	else
		modvm__log_limited(modvm__vm_guest_log(p->vm), MODVM_LOG_WARN, modvm_vm_name(p->vm),
				   "guest asked for sleep type %u, which the DSDT never offered; "
				   "ignored", SLEEP_CTL_TYP(data[0]));
}

/* Sleep status (WAK_STS): never set, the VM never sleeps and wakes. */
static void sleep_sts_access(void *ud, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	(void)ud;
	(void)addr;
	if (!is_write)
		memset(data, 0, len);
}

static void reset_reg_access(void *ud, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	(void)addr;
	if (!is_write)
		memset(data, 0, len);
	else if (data[0] == MODVM_ACPI_RESET_VALUE)
		request(ud, MODVM_POWER_RESET);
}

static void power_access(void *ud, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	struct modvm__power *p = ud;
	(void)addr;
	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	uint32_t v = 0;
	memcpy(&v, data, len < sizeof(v) ? len : sizeof(v));
	if (v & PM1_SLP_EN)
		request(p, MODVM_POWER_OFF);
}

MODVM_INTERNAL int modvm__power_attach(struct modvm_vm *vm, struct modvm__power **out)
{
	struct modvm__power *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->vm = vm;
	/* 0x61-0x63 stay free: port 0x61 belongs to the PIT/speaker. */
	int ret = modvm_iobus_register(vm, MODVM_IOBUS_PIO, I8042_DATA, 1, i8042_data_access, p);
	if (ret < 0)
		goto err_free;
	ret = modvm_iobus_register(vm, MODVM_IOBUS_PIO, I8042_CMD, 1, i8042_cmd_access, p);
	if (ret < 0)
		goto err_data;
	ret = modvm_iobus_register(vm, MODVM_IOBUS_PIO, MODVM_POWER_PORT, 2, power_access, p);
	if (ret < 0)
		goto err_cmd;
	ret = modvm_iobus_register(vm, MODVM_IOBUS_PIO, MODVM_ACPI_SLEEP_CTL_PORT, 1,
				   sleep_ctl_access, p);
	if (ret < 0)
		goto err_pm;
	ret = modvm_iobus_register(vm, MODVM_IOBUS_PIO, MODVM_ACPI_SLEEP_STS_PORT, 1,
				   sleep_sts_access, p);
	if (ret < 0)
		goto err_sleep_ctl;
	ret = modvm_iobus_register(vm, MODVM_IOBUS_PIO, MODVM_ACPI_RESET_PORT, 1, reset_reg_access,
				   p);
	if (ret < 0)
		goto err_sleep_sts;
	*out = p;
	return 0;

err_sleep_sts:
	modvm_iobus_unregister(vm, MODVM_IOBUS_PIO, MODVM_ACPI_SLEEP_STS_PORT);
err_sleep_ctl:
	modvm_iobus_unregister(vm, MODVM_IOBUS_PIO, MODVM_ACPI_SLEEP_CTL_PORT);
err_pm:
	modvm_iobus_unregister(vm, MODVM_IOBUS_PIO, MODVM_POWER_PORT);
err_cmd:
	modvm_iobus_unregister(vm, MODVM_IOBUS_PIO, I8042_CMD);
err_data:
	modvm_iobus_unregister(vm, MODVM_IOBUS_PIO, I8042_DATA);
err_free:
	free(p);
	return ret;
}

MODVM_INTERNAL void modvm__power_free(struct modvm__power *p)
{
	if (!p)
		return;
	modvm_iobus_unregister(p->vm, MODVM_IOBUS_PIO, MODVM_ACPI_RESET_PORT);
	modvm_iobus_unregister(p->vm, MODVM_IOBUS_PIO, MODVM_ACPI_SLEEP_STS_PORT);
	modvm_iobus_unregister(p->vm, MODVM_IOBUS_PIO, MODVM_ACPI_SLEEP_CTL_PORT);
	modvm_iobus_unregister(p->vm, MODVM_IOBUS_PIO, MODVM_POWER_PORT);
	modvm_iobus_unregister(p->vm, MODVM_IOBUS_PIO, I8042_CMD);
	modvm_iobus_unregister(p->vm, MODVM_IOBUS_PIO, I8042_DATA);
	free(p);
}

MODVM_INTERNAL enum modvm__power_request modvm__power_requested(const struct modvm__power *p)
{
	return (enum modvm__power_request)__atomic_load_n(&p->requested, __ATOMIC_ACQUIRE);
}
