/*
 * 16550A UART, enough for Linux's 8250 driver and earlyprintk: divisor
 * latch, scratch, THR-empty interrupts, a line-buffered transmitter.  There
 * is no receive path yet (the console is output only), so LSR never shows
 * data ready.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/devices.h"

enum { RBR_THR = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };
#define LCR_DLAB 0x80
#define IER_THRI 0x02
#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_FIFO_ENABLED 0xc0
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_LOOP 0x10
#define MSR_LOOP_BITS 0xf0

struct modvm__uart {
	struct modvm_vm *vm;
	uint16_t base;
	uint32_t irq;
	struct modvm__console *console;
	pthread_mutex_t lock;
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thri_pending;	/* THR-empty interrupt raised and not yet read from IIR */
	bool irq_level;
	uint64_t tx_bytes;
	size_t out_len;
	char out[1024];
};

static void flush_locked(struct modvm__uart *u)
{
	/* A closed console never stalls the guest, a full one never past a
	 * kick (console.c). */
	modvm__console_write(u->console, u->out, u->out_len);
	u->out_len = 0;
}

static void update_irq_locked(struct modvm__uart *u)
{
	bool level = u->thri_pending && (u->ier & IER_THRI);
	if (level != u->irq_level) {
		u->irq_level = level;
		modvm_vm_irq_line(u->vm, u->irq, level);	/* -ENOTSUP without irqchip: fine */
	}
}

static uint8_t read_reg(struct modvm__uart *u, unsigned reg)
{
	switch (reg) {
	case RBR_THR:
		return (u->lcr & LCR_DLAB) ? u->dll : 0;
	case IER:
		return (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
	case IIR_FCR: {
		uint8_t iir = (u->fcr & 1) ? IIR_FIFO_ENABLED : 0;
		if (u->thri_pending && (u->ier & IER_THRI)) {
			iir |= IIR_THRI;
			u->thri_pending = false;	/* reading IIR acknowledges THRE */
			update_irq_locked(u);
		} else {
			iir |= IIR_NO_INT;
		}
		return iir;
	}
	case LCR:
		return u->lcr;
	case MCR:
		return u->mcr;
	case LSR:
		return LSR_THRE | LSR_TEMT;
	case MSR:
		/* Loopback echoes MCR's outputs, which Linux's probe checks:
		 * RTS to CTS, DTR to DSR, OUT1 to RI, OUT2 to DCD. */
		if (u->mcr & MCR_LOOP)
			return (uint8_t)(((u->mcr & 0x01) << 5) | ((u->mcr & 0x02) << 3) |
					 ((u->mcr & 0x0c) << 4));
		return 0xb0;	/* DCD, DSR, CTS: a cable is plugged in */
	case SCR:
		return u->scr;
	}
	return 0xff;
}

static void write_reg(struct modvm__uart *u, unsigned reg, uint8_t v)
{
	switch (reg) {
	case RBR_THR:
		if (u->lcr & LCR_DLAB) {
			u->dll = v;
			return;
		}
		if (u->mcr & MCR_LOOP)
			return;
		u->tx_bytes++;
		u->out[u->out_len++] = (char)v;
		if (v == '\n' || u->out_len == sizeof(u->out))
			flush_locked(u);
		u->thri_pending = true;	/* transmission is instantaneous */
		update_irq_locked(u);
		return;
	case IER:
		if (u->lcr & LCR_DLAB) {
			u->dlm = v;
			return;
		}
		u->ier = v & 0x0f;
		/* Enabling THRI with an empty THR raises it at once (8250 relies on it). */
		if (u->ier & IER_THRI)
			u->thri_pending = true;
		update_irq_locked(u);
		return;
	case IIR_FCR:
		u->fcr = v;
		return;
	case LCR:
		u->lcr = v;
		return;
	case MCR:
		u->mcr = v & 0x1f;
		return;
	case SCR:
		u->scr = v;
		return;
	}
}

static void uart_access(void *ud, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	struct modvm__uart *u = ud;
	/* Registers are bytes; a wider access touches the first one only. */
	pthread_mutex_lock(&u->lock);
	if (is_write) {
		write_reg(u, (unsigned)addr & 7, data[0]);
	} else {
		memset(data, 0, len);
		data[0] = read_reg(u, (unsigned)addr & 7);
	}
	pthread_mutex_unlock(&u->lock);
}

MODVM_INTERNAL int modvm__uart_attach(struct modvm_vm *vm, uint16_t base, uint32_t irq,
				      struct modvm__console *console, struct modvm__uart **out)
{
	struct modvm__uart *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->vm = vm;
	u->base = base;
	u->irq = irq;
	u->console = console;
	pthread_mutex_init(&u->lock, NULL);
	int ret = modvm_iobus_register(vm, MODVM_IOBUS_PIO, base, 8, uart_access, u);
	if (ret < 0) {
		pthread_mutex_destroy(&u->lock);
		free(u);
		return ret;
	}
	*out = u;
	return 0;
}

MODVM_INTERNAL void modvm__uart_free(struct modvm__uart *u)
{
	if (!u)
		return;
	modvm_iobus_unregister(u->vm, MODVM_IOBUS_PIO, u->base);
	flush_locked(u);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

MODVM_INTERNAL uint64_t modvm__uart_tx_bytes(const struct modvm__uart *u)
{
	return u->tx_bytes;
}
