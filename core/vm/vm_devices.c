/*
 * A VM's interrupts and its virtio-mmio devices: the backend's interrupt
 * calls (line, MSI, irqfd, ioeventfd), and the virtio windows handed out
 * in order from MODVM_VM_VIRTIO_MMIO_BASE, one ISA interrupt each, that
 * the boot path announces on the command line and in the DSDT.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <modvm/virtio.h>

#include "virtio/virtio.h"
#include "vm/vm.h"

/* ISA lines free on our PC: 4 is COM1, 8 the RTC, 0-2 timer/keyboard/cascade. */
static const uint32_t virtio_irqs[MODVM_VM_VIRTIO_MAX] = { 5, 6, 7, 9, 10, 11, 12, 13, 14, 15 };

struct slot {
	struct modvm_vm *vm;
	uint32_t gsi;
	int irqfd;		/* eventfd wired to the GSI, -1: pulse the line by ioctl */
	struct modvm_virtio_mmio *t;
};

struct modvm__vm_devices {
	struct slot slot[MODVM_VM_VIRTIO_MAX];
};

static void *translate(void *ctx, uint64_t gpa, uint64_t len)
{
	return modvm_gpa_to_hva(ctx, gpa, len);
}

/* The transport wants edge semantics: a pulse on the line.  An irqfd does
 * that inside the kernel with one write; without one, two ioctls. */
static void raise_irq(void *ctx)
{
	struct slot *s = ctx;
	if (s->irqfd >= 0) {
		uint64_t one = 1;
		if (write(s->irqfd, &one, sizeof(one)) == sizeof(one))
			return;
	}
	modvm_vm_irq_line(s->vm, s->gsi, true);
	modvm_vm_irq_line(s->vm, s->gsi, false);
}

/* Where the devices' deferred notifications (modvm_virtio_renotify) run:
 * the VM's loop, behind its other work.  None is posted once the VM is
 * stopping: its vCPUs are gone, and the device soon follows. */
static int defer_on_loop(void *ctx, void (*fn)(void *), void *arg)
{
	struct slot *s = ctx;

	if (atomic_load_explicit(&s->vm->stop, memory_order_acquire))
		return -ESHUTDOWN;
	return modvm_loop_call(s->vm->loop, fn, arg);
}

static void irqfd_setup(struct slot *s)
{
	s->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->irqfd >= 0 && modvm_vm_irqfd(s->vm, s->gsi, s->irqfd, true) < 0) {
		close(s->irqfd);	/* no irqfd on this backend: ioctls it is */
		s->irqfd = -1;
	}
}

static void irqfd_teardown(struct slot *s)
{
	if (s->irqfd < 0)
		return;
	modvm_vm_irqfd(s->vm, s->gsi, s->irqfd, false);
	close(s->irqfd);
	s->irqfd = -1;
}

MODVM_EXPORT int modvm_vm_add_virtio(struct modvm_vm *vm, const char *name,
				     const struct modvm_virtio_device_ops *ops, void *opaque,
				     struct modvm_virtio_mmio **out)
{
	if (!vm->devices) {
		vm->devices = calloc(1, sizeof(*vm->devices));
		if (!vm->devices)
			return -ENOMEM;
	}
	unsigned i = 0;
	while (i < MODVM_VM_VIRTIO_MAX && vm->devices->slot[i].t)
		i++;
	if (i == MODVM_VM_VIRTIO_MAX) {
		modvm_log(MODVM_LOG_ERROR, vm->name, "%s: no free virtio-mmio window (at most %d)",
			  name ? name : "virtio", MODVM_VM_VIRTIO_MAX);
		return -ENOSPC;
	}
	struct slot *s = &vm->devices->slot[i];
	s->vm = vm;
	s->gsi = virtio_irqs[i];
	irqfd_setup(s);
	struct modvm_virtio_mmio_config cfg = {
		.struct_size = sizeof(cfg),
		.irq = s->gsi,
		.base = MODVM_VM_VIRTIO_MMIO_BASE + (uint64_t)i * MODVM_VIRTIO_MMIO_SIZE,
		.name = name,
		.mem = { .translate = translate, .ctx = vm },
		.raise_irq = raise_irq,
		.irq_ctx = s,
		.defer = vm->loop ? defer_on_loop : NULL,
		.defer_ctx = s,
	};
	struct modvm_virtio_mmio *t;
	int ret = modvm_virtio_mmio_create(&cfg, ops, opaque, &t);
	if (ret < 0) {
		irqfd_teardown(s);
		return ret;
	}
	ret = modvm_iobus_register(vm, MODVM_IOBUS_MMIO, cfg.base, MODVM_VIRTIO_MMIO_SIZE,
				   modvm_virtio_mmio_bus_handler, t);
	if (ret < 0) {
		modvm_virtio_mmio_destroy(t);
		irqfd_teardown(s);
		return ret;
	}
	/* Its guest-triggered lines share the VM's budget. */
	modvm__virtio_dev_set_log_limit(modvm_virtio_mmio_dev(t), &vm->guest_log);
	s->t = t;
	if (out)
		*out = t;
	return 0;
}

MODVM_EXPORT void modvm_vm_remove_virtio(struct modvm_vm *vm, struct modvm_virtio_mmio *t)
{
	for (unsigned i = 0; t && vm->devices && i < MODVM_VM_VIRTIO_MAX; i++) {
		struct slot *s = &vm->devices->slot[i];
		if (s->t != t)
			continue;
		/* Unregistering waits out any vCPU still inside the handler. */
		modvm_iobus_unregister(vm, MODVM_IOBUS_MMIO, modvm_virtio_mmio_base(t));
		modvm_virtio_mmio_destroy(t);
		irqfd_teardown(s);
		s->t = NULL;
		return;
	}
}

MODVM_INTERNAL unsigned modvm__vm_virtio_count(struct modvm_vm *vm)
{
	unsigned n = 0;
	for (unsigned i = 0; vm->devices && i < MODVM_VM_VIRTIO_MAX; i++)
		n += vm->devices->slot[i].t != NULL;
	return n;
}

MODVM_INTERNAL struct modvm_virtio_mmio *modvm__vm_virtio(struct modvm_vm *vm, unsigned index)
{
	for (unsigned i = 0; vm->devices && i < MODVM_VM_VIRTIO_MAX; i++)
		if (vm->devices->slot[i].t && index-- == 0)
			return vm->devices->slot[i].t;
	return NULL;
}

MODVM_INTERNAL void modvm__vm_devices_free(struct modvm_vm *vm)
{
	for (unsigned i = 0; vm->devices && i < MODVM_VM_VIRTIO_MAX; i++)
		modvm_vm_remove_virtio(vm, vm->devices->slot[i].t);
	free(vm->devices);
	vm->devices = NULL;
}

/* ---- interrupts: the backend's, where it has them ---- */

MODVM_EXPORT int modvm_vm_irq_line(struct modvm_vm *vm, uint32_t gsi, bool level)
{
	return vm->be->irq_line ? vm->be->irq_line(vm->cvm, gsi, level) : -ENOTSUP;
}

MODVM_EXPORT int modvm_vm_signal_msi(struct modvm_vm *vm, uint64_t addr, uint32_t data)
{
	return vm->be->signal_msi ? vm->be->signal_msi(vm->cvm, addr, data) : -ENOTSUP;
}

MODVM_EXPORT int modvm_vm_irqfd(struct modvm_vm *vm, uint32_t gsi, int fd, bool assign)
{
	return vm->be->irqfd ? vm->be->irqfd(vm->cvm, gsi, fd, assign) : -ENOTSUP;
}

MODVM_EXPORT int modvm_vm_ioeventfd(struct modvm_vm *vm, enum modvm_iobus_space space,
				    uint64_t addr, uint32_t len, int fd, bool assign)
{
	if (space != MODVM_IOBUS_PIO && space != MODVM_IOBUS_MMIO)
		return -EINVAL;
	return vm->be->ioeventfd
		       ? vm->be->ioeventfd(vm->cvm, addr, len, space == MODVM_IOBUS_PIO, fd, assign)
		       : -ENOTSUP;
}

MODVM_INTERNAL struct modvm__ratelimit *modvm__vm_guest_log(struct modvm_vm *vm)
{
	return vm ? &vm->guest_log : NULL;
}
