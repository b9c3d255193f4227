/*
 * How a guest ends its VM: the i8042 controller's reset line (Linux's
 * `reboot=k`, the Firecracker way) and a power-off port.  Reset stops the
 * VM too: modvm has no warm reboot yet, and a VM that silently restarted
 * would hide the guest's request from the operator.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/devices.h"

#define I8042_DATA 0x60
#define I8042_CMD 0x64
#define I8042_CMD_RESET 0xfe
#define PM1_SLP_EN (1u << 13)

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
	*out = p;
	return 0;

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
	modvm_iobus_unregister(p->vm, MODVM_IOBUS_PIO, MODVM_POWER_PORT);
	modvm_iobus_unregister(p->vm, MODVM_IOBUS_PIO, I8042_DATA);
	free(p);
}

MODVM_INTERNAL enum modvm__power_request modvm__power_requested(const struct modvm__power *p)
{
	return (enum modvm__power_request)__atomic_load_n(&p->requested, __ATOMIC_ACQUIRE);
}
