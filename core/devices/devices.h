/*
 * core/devices/ — the devices every VM gets from the core: a 16550A UART
 * (the serial console), the power device (ACPI sleep and reset registers,
 * the i8042 reset line, a power-off port), the CMOS RTC, and virtio-rng.  Each device is one file and registers itself on the VM's
 * iobus through the public VM API (modvm/vm.h, modvm/virtio.h);
 * everything here runs its handlers on vCPU threads.  Uses base/ and
 * the public VM and virtio calls (vm/, virtio/).
 */
#ifndef MODVM_CORE_DEVICES_H
#define MODVM_CORE_DEVICES_H

#include <modvm/virtio.h>
#include <modvm/vm.h>

#include "base/base.h"

#define MODVM_COM1_BASE 0x3f8
#define MODVM_COM1_IRQ 4
/* A write with bit 13 (SLP_EN) set powers the VM off — the PM1a control
 * register layout QEMU's q35/microvm guests use, so `outw(0x2000, 0x604)`
 * works for the demo guest and for minimal kernels. */
#define MODVM_POWER_PORT 0x604
/* The ACPI registers the FADT names (boot/boot_acpi.c): hardware-reduced
 * sleep control and status, and the reset register with its value.  The
 * DSDT's \_S5 package gives SLP_TYP MODVM_ACPI_S5_TYP. */
#define MODVM_ACPI_SLEEP_CTL_PORT 0x600
#define MODVM_ACPI_SLEEP_STS_PORT 0x601
#define MODVM_ACPI_RESET_PORT 0x602
#define MODVM_ACPI_RESET_VALUE 0x01
#define MODVM_ACPI_S5_TYP 5
#define MODVM_RTC_IRQ 8

/* ---- console.c: where a VM's serial console goes ---- */

struct modvm__console;

/*
 * @spec is "stdout", "none" or a file path.  A file is created 0600, never
 * through a symbolic link; an existing one must be a regular file owned by
 * modvm's uid (else refused, untouched), and is then truncated or, with
 * @append, appended to.  At most @max bytes (0: no cap) go into a file;
 * then, or when a write fails (a closed pipe: EPIPE), output stops and
 * that is logged once.  0 or -errno (logged "vm VM: console …").
 */
MODVM_INTERNAL int modvm__console_open(const char *vm, const char *spec, bool append,
				       uint64_t max, struct modvm__console **out);
/* What `check` can know without opening: an existing file is a regular
 * file of ours (not a link, fifo, …), else its directory exists. */
MODVM_INTERNAL int modvm__console_check(const char *spec, char *err, size_t errlen);
/* Writes (callers serialise); never fails.  A full pipe holds the caller
 * back until its reader reads or a signal (the VM's kick) arrives; then
 * the rest of @buf is dropped, so a stop is never held up. */
MODVM_INTERNAL void modvm__console_write(struct modvm__console *c, const void *buf, size_t len);
/* Bytes in the file so far (appending: counting what was there). */
MODVM_INTERNAL uint64_t modvm__console_written(const struct modvm__console *c);
MODVM_INTERNAL void modvm__console_free(struct modvm__console *c);

struct modvm__uart;

/*
 * Attaches a 16550A at @base raising GSI @irq (only if the VM has an
 * irqchip).  Transmitted bytes go to @console (not freed by the UART; NULL
 * discards them), flushed per line.  0 or -errno (logged).
 */
MODVM_INTERNAL int modvm__uart_attach(struct modvm_vm *vm, uint16_t base, uint32_t irq,
				      struct modvm__console *console, struct modvm__uart **out);
/* Flushes pending output, unregisters, frees. NULL is ignored. */
MODVM_INTERNAL void modvm__uart_free(struct modvm__uart *uart);
/* Bytes the guest has written so far (tests, stats). */
MODVM_INTERNAL uint64_t modvm__uart_tx_bytes(const struct modvm__uart *uart);

/* How a guest ended its VM through the power device. */
enum modvm__power_request { MODVM_POWER_NONE = 0, MODVM_POWER_OFF, MODVM_POWER_RESET };

struct modvm__power;
/* Attaches the i8042 (0x60, 0x64: command 0xFE = reset), MODVM_POWER_PORT
 * and the ACPI sleep control/status and reset registers. */
MODVM_INTERNAL int modvm__power_attach(struct modvm_vm *vm, struct modvm__power **out);
MODVM_INTERNAL void modvm__power_free(struct modvm__power *power);
MODVM_INTERNAL enum modvm__power_request modvm__power_requested(const struct modvm__power *power);

/* The CMOS RTC at 0x70/0x71 (rtc.c): the host's wall clock, no interrupts. */
struct modvm__rtc;
MODVM_INTERNAL int modvm__rtc_attach(struct modvm_vm *vm, struct modvm__rtc **out);
MODVM_INTERNAL void modvm__rtc_free(struct modvm__rtc *rtc);

/* ---- virtio-rng (virtio_rng.c): device ID 4, one queue, getrandom(2) ---- */

struct modvm__virtio_rng;

/* Bytes handed out per chain at most: a guest cannot make one kick keep a
 * vCPU thread in getrandom for long. */
#define MODVM_VIRTIO_RNG_CHAIN_MAX 65536u
#define MODVM_VIRTIO_RNG_QUEUE_MAX 64u

/*
 * Creates a virtio-rng device on a new virtio-mmio transport described by
 * @cfg (name defaults to "virtio-rng").  The caller registers
 * modvm_virtio_mmio_bus_handler for modvm__virtio_rng_transport(rng) on
 * the bus.  0, -EINVAL (logged) or -ENOMEM.
 */
MODVM_INTERNAL int modvm__virtio_rng_create(const struct modvm_virtio_mmio_config *cfg,
					    struct modvm__virtio_rng **out);
MODVM_INTERNAL struct modvm_virtio_mmio *modvm__virtio_rng_transport(struct modvm__virtio_rng *rng);
/* Random bytes handed to the guest so far. */
MODVM_INTERNAL uint64_t modvm__virtio_rng_bytes(struct modvm__virtio_rng *rng);
/* Destroys the transport and frees.  NULL is ignored. */
MODVM_INTERNAL void modvm__virtio_rng_free(struct modvm__virtio_rng *rng);
/* The same device added to a VM (modvm_vm_add_virtio); detach after the
 * vCPUs stopped removes it and frees it. */
struct modvm_vm;
MODVM_INTERNAL int modvm__virtio_rng_attach(struct modvm_vm *vm, struct modvm__virtio_rng **out);
MODVM_INTERNAL void modvm__virtio_rng_detach(struct modvm_vm *vm, struct modvm__virtio_rng *rng);

#endif
