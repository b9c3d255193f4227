/*
 * kvm.c — /dev/kvm and VM-level ioctls shared by the KVM CPU backends.
 *
 * Thin wrappers: their value is uniform -errno returns and, where the host
 * is the cause, one log line that tells the user what to fix.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvm/kvm.h"
#include "sandbox/sandbox.h"
#include <modvm/log.h>

#define KVM_DEV "/dev/kvm"

static int ioctl_rc(int r)
{
	return r < 0 ? -errno : r;
}

MODVM_EXPORT int modvm_kvm_open(void)
{
	/* After the sandbox's lockdown (a VM made after host.user took over,
	 * or a guest's reboot) /dev/kvm is the one opened before it. */
	int fd = modvm__sandbox_kvm_fd();
	if (fd < 0)
		fd = open(KVM_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT || e == ENODEV || e == ENXIO)
			modvm_log(MODVM_LOG_ERROR, "kvm",
				  "%s: absent (%s): load kvm_intel, kvm_amd or another KVM module",
				  KVM_DEV, strerror(e));
		else if (e == EACCES || e == EPERM)
			modvm_log(MODVM_LOG_ERROR, "kvm",
				  "%s: no permission (%s): add this user to group 'kvm'", KVM_DEV,
				  strerror(e));
		else
			modvm_log(MODVM_LOG_ERROR, "kvm", "%s: cannot open: %s", KVM_DEV,
				  strerror(e));
		return -e;
	}
	int v = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION) {
		modvm_log(MODVM_LOG_ERROR, "kvm", "%s: KVM API version %d, modvm needs %d", KVM_DEV,
			  v, KVM_API_VERSION);
		close(fd);
		return -EPROTO;
	}
	return fd;
}

MODVM_EXPORT int modvm_kvm_check_extension(int fd, long cap)
{
	return ioctl_rc(ioctl(fd, KVM_CHECK_EXTENSION, cap));
}

MODVM_EXPORT int modvm_kvm_max_vcpus(int kvm_fd)
{
	int n = modvm_kvm_check_extension(kvm_fd, KVM_CAP_MAX_VCPUS);
	if (n > 0)
		return n;
	n = modvm_kvm_check_extension(kvm_fd, KVM_CAP_NR_VCPUS);
	/* The KVM API text: without either capability assume 4. */
	return n > 0 ? n : 4;
}

MODVM_EXPORT int modvm_kvm_vcpu_mmap_size(int kvm_fd)
{
	return ioctl_rc(ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0));
}

MODVM_EXPORT int modvm_kvm_vm_create(int kvm_fd)
{
	int fd;
	do {
		fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		int e = errno;
		modvm_log(MODVM_LOG_ERROR, "kvm", "KVM_CREATE_VM failed: %s", strerror(e));
		return -e;
	}
	return fd;
}

MODVM_EXPORT int modvm_kvm_set_user_memory(int vm_fd, uint32_t slot, uint32_t flags,
					   uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)hva,
	};
	return ioctl_rc(ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r));
}

MODVM_EXPORT int modvm_kvm_create_irqchip(int vm_fd)
{
	return ioctl_rc(ioctl(vm_fd, KVM_CREATE_IRQCHIP, 0));
}

MODVM_EXPORT int modvm_kvm_create_pit2(int vm_fd)
{
	struct kvm_pit_config pit = { .flags = 0 };
	return ioctl_rc(ioctl(vm_fd, KVM_CREATE_PIT2, &pit));
}

MODVM_EXPORT int modvm_kvm_irq_line(int vm_fd, uint32_t gsi, bool level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = level ? 1 : 0 };
	return ioctl_rc(ioctl(vm_fd, KVM_IRQ_LINE, &l));
}

MODVM_EXPORT int modvm_kvm_signal_msi(int vm_fd, uint64_t addr, uint32_t data)
{
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr,
		.address_hi = (uint32_t)(addr >> 32),
		.data = data,
	};
	return ioctl_rc(ioctl(vm_fd, KVM_SIGNAL_MSI, &msi));
}

MODVM_EXPORT int modvm_kvm_irqfd(int vm_fd, uint32_t gsi, int fd, bool assign)
{
	struct kvm_irqfd f = {
		.fd = (uint32_t)fd,
		.gsi = gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};
	return ioctl_rc(ioctl(vm_fd, KVM_IRQFD, &f));
}

MODVM_EXPORT int modvm_kvm_ioeventfd(int vm_fd, uint64_t addr, uint32_t len, bool pio, int fd,
				     bool assign)
{
	struct kvm_ioeventfd e = {
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0u) |
			 (assign ? 0u : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};
	return ioctl_rc(ioctl(vm_fd, KVM_IOEVENTFD, &e));
}

MODVM_EXPORT int modvm_kvm_get_supported_cpuid(int kvm_fd, uint32_t extra_room,
					       struct kvm_cpuid2 **out)
{
	/* KVM says E2BIG until the buffer is big enough: grow and retry. */
	for (uint32_t n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c =
			calloc(1, sizeof(*c) + (n + extra_room) * sizeof(struct kvm_cpuid_entry2));
		if (!c)
			return -ENOMEM;
		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			*out = c;
			return 0;
		}
		int e = errno;
		free(c);
		if (e != E2BIG) {
			modvm_log(MODVM_LOG_ERROR, "kvm", "KVM_GET_SUPPORTED_CPUID failed: %s",
				  strerror(e));
			return -e;
		}
	}
	return -E2BIG;
}

MODVM_EXPORT int modvm_kvm_set_cpuid(int vcpu_fd, const struct kvm_cpuid2 *cpuid)
{
	return ioctl_rc(ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid));
}
