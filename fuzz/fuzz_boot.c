/*
 * libFuzzer target for the kernel and initrd loader (issue 17): the input
 * is a small header and a kernel image (bzImage, ELF vmlinux or anything
 * else).  modvm__boot_load_image parses it, plans where everything goes
 * and writes the kernel, initrd, command line, boot_params or PVH start
 * info, page tables, MP table and ACPI tables into fake guest RAM, all of
 * which lies between PROT_NONE guard pages, so a write outside RAM faults
 * and anything outside the image is an ASan report.  One input in eight
 * goes through the file path instead (modvm__boot_load and
 * modvm__boot_check on a memfd, initrd included), which opens, fstat's and
 * reads the way a real kernel is read.  The boot sources are compiled in
 * for coverage.
 *
 * Header (8 bytes, little-endian):
 *   u8  flags: bits 0-1 the entry (auto, 64, 32, PVH), bit 2 a high RAM
 *       region above 4 GiB, bit 3 an initrd, bit 7 the file path
 *   u8  vcpus (mod 254, + 1)
 *   u8  virtio-mmio windows announced (mod 40: past the limit too)
 *   u8  command line length / 4
 *   u32 initrd size (mod 1 MiB)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boot/boot.h"

#define HEADER 8
#define LOW_RAM (64ULL << 20)
#define HIGH_RAM (2ULL << 20)
#define MAX_INITRD (1u << 20)
#define MAX_KERNEL (8u << 20)

static uint8_t *low, *high, *initrd;
static int kernel_fd = -1, initrd_fd = -1;

static uint8_t *guarded(uint64_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *map = mmap(NULL, size + 2 * page, PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (map == MAP_FAILED || mprotect(map + page, size, PROT_READ | PROT_WRITE) < 0)
		abort();
	return map + page;
}

static void discard(enum modvm_log_level level, const char *line, void *ud)
{
	(void)level;
	(void)line;
	(void)ud;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	modvm_log_set_sink(discard, NULL);
	low = guarded(LOW_RAM);
	high = guarded(HIGH_RAM);
	initrd = malloc(MAX_INITRD);
	kernel_fd = memfd_create("fuzz-kernel", MFD_CLOEXEC);
	initrd_fd = memfd_create("fuzz-initrd", MFD_CLOEXEC);
	if (!initrd || kernel_fd < 0 || initrd_fd < 0)
		abort();
	for (size_t i = 0; i < MAX_INITRD; i++)
		initrd[i] = (uint8_t)(i * 7);
	return 0;
}

static int put(int fd, const void *buf, size_t len)
{
	return ftruncate(fd, 0) == 0 && pwrite(fd, buf, len, 0) == (ssize_t)len ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct modvm__boot_platform platform = {
		.com1_port = 0x3f8, .com1_irq = 4, .rtc_port = 0x70, .rtc_irq = 8,
		.sleep_ctl_port = 0x600, .sleep_sts_port = 0x601, .s5_typ = 5,
		.reset_port = 0x602, .reset_value = 1,
	};
	struct modvm__boot_mmio_dev mmio[40];
	struct modvm_ram_region ram[2] = {
		{ .gpa = 0, .size = LOW_RAM, .hva = low },
		{ .gpa = 4ULL << 30, .size = HIGH_RAM, .hva = high, .slot = 1 },
	};
	struct modvm__boot_info info;
	char cmdline[1100], err[512], kpath[64], ipath[64];

	if (size < HEADER || size - HEADER > MAX_KERNEL)
		return 0;
	uint8_t flags = data[0];
	uint32_t n_mmio = data[2] % 40;
	size_t cmdlen = (size_t)data[3] * 4;
	uint32_t initrd_size = ((uint32_t)data[4] | (uint32_t)data[5] << 8 | (uint32_t)data[6] << 16 |
				(uint32_t)data[7] << 24) %
			       MAX_INITRD;
	const uint8_t *kernel = data + HEADER;
	size_t kernel_len = size - HEADER;

	memset(cmdline, 'a', cmdlen);
	cmdline[cmdlen] = '\0';
	for (uint32_t i = 0; i < n_mmio; i++)
		mmio[i] = (struct modvm__boot_mmio_dev){ 0xd0000000ULL + i * 0x1000ULL, 0x1000,
							 5 + i % 20 };
	snprintf(kpath, sizeof(kpath), "/proc/self/fd/%d", kernel_fd);
	snprintf(ipath, sizeof(ipath), "/proc/self/fd/%d", initrd_fd);
	struct modvm__boot_config cfg = {
		.kernel = kpath,
		.initrd = (flags & 8) && initrd_size ? ipath : NULL,
		.cmdline = cmdline,
		.ram = ram,
		.n_ram = (flags & 4) ? 2 : 1,
		.vcpus = data[1] % 254 + 1,
		.entry = (enum modvm__boot_entry)(flags & 3),
		.mmio = mmio,
		.n_mmio = n_mmio,
		.platform = &platform,
	};
	if (flags & 0x80) {
		if (put(kernel_fd, kernel, kernel_len) < 0 ||
		    ((flags & 8) && put(initrd_fd, initrd, initrd_size) < 0))
			abort();
		(void)modvm__boot_check(kpath, cfg.initrd, err, sizeof(err));
		(void)modvm__boot_load(&cfg, &info, err, sizeof(err));
	} else {
		(void)modvm__boot_load_image(&cfg, kernel, kernel_len,
					     (flags & 8) ? initrd : NULL,
					     (flags & 8) ? initrd_size : 0, &info, err, sizeof(err));
	}
	return 0;
}
