/*
 * core/devices.h — the legacy PC devices every VM gets from the core:
 * a 16550A UART (the serial console) and the i8042 reset line plus a
 * power-off port.  Each device is one file and registers itself on the
 * VM's iobus; everything here runs its handlers on vCPU threads.
 */
#ifndef MODVM_CORE_DEVICES_H
#define MODVM_CORE_DEVICES_H

#include <modvm/vm.h>

#include "internal.h"

#define MODVM_COM1_BASE 0x3f8
#define MODVM_COM1_IRQ 4
/* A write with bit 13 (SLP_EN) set powers the VM off — the PM1a control
 * register layout QEMU's q35/microvm guests use, so `outw(0x2000, 0x604)`
 * works for the demo guest and for minimal kernels. */
#define MODVM_POWER_PORT 0x604

struct modvm__uart;

/*
 * Attaches a 16550A at @base raising GSI @irq (only if the VM has an
 * irqchip).  Transmitted bytes go to @out_fd (not closed by the UART; -1
 * discards them), flushed per line.  0 or -errno (logged).
 */
MODVM_INTERNAL int modvm__uart_attach(struct modvm_vm *vm, uint16_t base, uint32_t irq,
				      int out_fd, struct modvm__uart **out);
/* Flushes pending output, unregisters, frees. NULL is ignored. */
MODVM_INTERNAL void modvm__uart_free(struct modvm__uart *uart);
/* Bytes the guest has written so far (tests, stats). */
MODVM_INTERNAL uint64_t modvm__uart_tx_bytes(const struct modvm__uart *uart);

/* How a guest ended its VM through the power device. */
enum modvm__power_request { MODVM_POWER_NONE = 0, MODVM_POWER_OFF, MODVM_POWER_RESET };

struct modvm__power;
/* Attaches the i8042 (0x60, 0x64: command 0xFE = reset) and MODVM_POWER_PORT. */
MODVM_INTERNAL int modvm__power_attach(struct modvm_vm *vm, struct modvm__power **out);
MODVM_INTERNAL void modvm__power_free(struct modvm__power *power);
MODVM_INTERNAL enum modvm__power_request modvm__power_requested(const struct modvm__power *power);

#endif
