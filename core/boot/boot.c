/*
 * core/boot.c — loading a Linux kernel: read the files, check everything
 * that can be wrong with them, and only then write guest RAM and compute the
 * BSP's entry state (the layout is described in boot.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/boot.h"

#define KERNEL_FILE_MAX (512ULL << 20)	/* far above any real kernel; guards malloc */
#define ELF_CMDLINE_SIZE 2047		/* COMMAND_LINE_SIZE - 1 on x86 */
#define ELF_INITRD_ADDR_MAX 0x7fffffffULL	/* the x86-64 kernel's own default */
#define MMIO_ARG_MAX 80			/* " virtio_mmio.device=" + size + base + irq */

/* Everything decided before the first write to guest RAM. */
struct plan {
	enum modvm__boot_format format;
	enum modvm__boot_entry entry;
	struct modvm__bzimage bz;
	struct modvm__vmlinux elf;
	uint64_t load, end, entry_gpa;
	uint64_t initrd_addr_max;
	uint32_t cmdline_size;
	char *cmdline;
	size_t cmdline_len;
};

static int choose_entry(const struct modvm__boot_config *cfg, struct plan *p, char *err,
			size_t errlen)
{
	enum modvm__boot_entry want = cfg->entry;

	if (p->format == MODVM_BOOT_FORMAT_BZIMAGE) {
		bool has64 = p->bz.version >= 0x020c;	/* parse refused 2.12+ without XLF_KERNEL_64 */

		if (want == MODVM_BOOT_ENTRY_AUTO)
			want = has64 ? MODVM_BOOT_ENTRY_64 : MODVM_BOOT_ENTRY_32;
		if (want == MODVM_BOOT_ENTRY_64 && !has64) {
			snprintf(err, errlen, "%s: boot protocol %u.%02u has no xloadflags, so no known 64-bit entry (need >= 2.12)",
				 cfg->kernel, p->bz.version >> 8, p->bz.version & 0xff);
			return -EINVAL;
		}
		if (want == MODVM_BOOT_ENTRY_PVH) {
			snprintf(err, errlen, "%s: the PVH entry needs an ELF vmlinux, not a bzImage",
				 cfg->kernel);
			return -EINVAL;
		}
		p->entry_gpa = p->load + (want == MODVM_BOOT_ENTRY_64 ? 0x200 : 0);
	} else {
		if (want == MODVM_BOOT_ENTRY_AUTO)
			want = MODVM_BOOT_ENTRY_64;
		if (want == MODVM_BOOT_ENTRY_32) {
			snprintf(err, errlen, "%s: the 32-bit boot protocol needs a bzImage, not an ELF vmlinux",
				 cfg->kernel);
			return -EINVAL;
		}
		if (want == MODVM_BOOT_ENTRY_PVH && !p->elf.has_pvh) {
			snprintf(err, errlen, "%s: no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)",
				 cfg->kernel);
			return -ENOEXEC;
		}
		p->entry_gpa = want == MODVM_BOOT_ENTRY_PVH ? p->elf.pvh_entry : p->elf.entry64;
	}
	p->entry = want;
	return 0;
}

/* Parses the kernel and decides where it goes. */
static int plan_kernel(const struct modvm__boot_config *cfg, const struct modvm__boot_ram *ram,
		       const uint8_t *img, size_t len, struct plan *p, char *err, size_t errlen)
{
	uint64_t low_end = modvm__boot_ram_low_end(ram);
	int rc;

	if (len >= 4 && memcmp(img, "\177ELF", 4) == 0) {
		p->format = MODVM_BOOT_FORMAT_ELF;
		rc = modvm__boot_elf_parse(img, len, cfg->kernel, &p->elf, err, errlen);
		if (rc == 0)
			rc = modvm__boot_elf_check(&p->elf, cfg->kernel, ram, err, errlen);
		p->load = p->elf.start;
		p->end = p->elf.end;
		p->initrd_addr_max = ELF_INITRD_ADDR_MAX;
		p->cmdline_size = ELF_CMDLINE_SIZE;
	} else {
		p->format = MODVM_BOOT_FORMAT_BZIMAGE;
		rc = modvm__boot_bzimage_parse(img, len, cfg->kernel, &p->bz, err, errlen);
		if (rc == 0)
			rc = modvm__boot_bzimage_place(&p->bz, cfg->kernel, low_end, &p->load,
						       &p->end, err, errlen);
		p->initrd_addr_max = p->bz.initrd_addr_max;
		p->cmdline_size = p->bz.cmdline_size;
	}
	if (rc < 0)
		return rc;
	return choose_entry(cfg, p, err, errlen);
}

/*
 * Linux picks its reboot method itself, and on a hardware-reduced ACPI
 * platform it picks EFI, then the BIOS's reset vector: neither exists
 * here and the guest hangs after "reboot: machine restart".  Unless the
 * user chose one, reboot through the FADT's reset register.
 */
#define REBOOT_PARAM "reboot=acpi"

/* The user's command line plus the virtio-mmio devices, within cmdline_size. */
static int plan_cmdline(const struct modvm__boot_config *cfg, struct plan *p, char *err,
			size_t errlen)
{
	const char *user = cfg->cmdline ? cfg->cmdline : "";
	size_t size = strlen(user) + 1 + (size_t)cfg->n_mmio * MMIO_ARG_MAX + sizeof(REBOOT_PARAM);
	uint64_t limit = p->cmdline_size;

	if (limit > MODVM_BOOT_CMDLINE_MAX - 1)
		limit = MODVM_BOOT_CMDLINE_MAX - 1;
	p->cmdline = malloc(size);
	if (!p->cmdline) {
		snprintf(err, errlen, "%s: out of memory for the command line", cfg->kernel);
		return -ENOMEM;
	}
	memcpy(p->cmdline, user, strlen(user) + 1);
	if (modvm__boot_cmdline_add_virtio_mmio(p->cmdline, size, cfg->mmio, cfg->n_mmio) < 0) {
		snprintf(err, errlen, "%s: virtio_mmio.device= arguments too long", cfg->kernel);
		return -E2BIG;
	}
	if (cfg->platform && cfg->platform->reset_port &&
	    !modvm__boot_cmdline_has_param(p->cmdline, "reboot") &&
	    modvm__boot_cmdline_add_param(p->cmdline, size, REBOOT_PARAM) < 0) {
		snprintf(err, errlen, "%s: out of room for " REBOOT_PARAM, cfg->kernel);
		return -E2BIG;
	}
	p->cmdline_len = strlen(p->cmdline);
	if (p->cmdline_len > limit) {
		snprintf(err, errlen, "%s: command line is %zu bytes, the kernel takes at most %llu (cmdline_size)",
			 cfg->kernel, p->cmdline_len, (unsigned long long)limit);
		return -E2BIG;
	}
	return 0;
}

static int check_layout(const struct modvm__boot_config *cfg, const struct modvm__boot_ram *ram,
			char *err, size_t errlen)
{
	if (!modvm__boot_ram_ptr(ram, 0, MODVM_BOOT_HIMEM_GPA)) {
		snprintf(err, errlen, "guest RAM: the loader needs RAM at [0, 0x%llx)",
			 (unsigned long long)MODVM_BOOT_HIMEM_GPA);
		return -EINVAL;
	}
	if (cfg->vcpus == 0 || cfg->vcpus > MODVM_BOOT_MAX_VCPUS) {
		snprintf(err, errlen, "vcpus %u: the MP table describes 1 to %d vCPUs", cfg->vcpus,
			 MODVM_BOOT_MAX_VCPUS);
		return -EINVAL;
	}
	return 0;
}

/* The writes; every input was checked, so a failure here is a layout bug. */
static int write_all(const struct modvm__boot_config *cfg, const struct modvm__boot_ram *ram,
		     const struct plan *p, const uint8_t *img, const uint8_t *initrd,
		     struct modvm__boot_info *out, char *err, size_t errlen)
{
	uint8_t *bp;
	int rc;

	if (p->format == MODVM_BOOT_FORMAT_BZIMAGE)
		rc = modvm__boot_ram_write(ram, p->load, img + p->bz.setup_size, p->bz.kernel_size);
	else
		rc = modvm__boot_elf_load(&p->elf, img, ram);
	if (rc == 0 && initrd)
		rc = modvm__boot_ram_write(ram, out->place.initrd_gpa, initrd, out->place.initrd_size);
	if (rc == 0)
		rc = modvm__boot_ram_write(ram, MODVM_BOOT_CMDLINE_GPA, p->cmdline, p->cmdline_len + 1);
	if (rc < 0)
		goto fail;

	if (p->entry == MODVM_BOOT_ENTRY_PVH) {
		out->info_gpa = MODVM_BOOT_PVH_INFO_GPA;
		rc = modvm__boot_pvh_write(ram, &out->place);
		if (rc == 0)
			rc = modvm__boot_cpu_protected(ram, (uint32_t)p->entry_gpa, &out->regs,
						       &out->sregs);
		out->regs.rbx = MODVM_BOOT_PVH_INFO_GPA;
	} else {
		out->info_gpa = MODVM_BOOT_PARAMS_GPA;
		bp = calloc(1, 4096);
		if (!bp) {
			snprintf(err, errlen, "%s: out of memory", cfg->kernel);
			return -ENOMEM;
		}
		if (p->format == MODVM_BOOT_FORMAT_BZIMAGE)
			modvm__boot_bzimage_header(&p->bz, img, bp);
		else
			modvm__boot_params_elf_header(bp, p->cmdline_size);
		rc = modvm__boot_params_fill(bp, p->load, &out->place, ram);
		if (rc == 0)
			rc = modvm__boot_ram_write(ram, MODVM_BOOT_PARAMS_GPA, bp, 4096);
		if (rc == 0 && p->entry == MODVM_BOOT_ENTRY_64)
			rc = modvm__boot_cpu_long_mode(ram, p->entry_gpa, MODVM_BOOT_PARAMS_GPA,
						       &out->regs, &out->sregs);
		else if (rc == 0)
			rc = modvm__boot_cpu_protected(ram, (uint32_t)p->entry_gpa, &out->regs,
						       &out->sregs);
		out->regs.rsi = MODVM_BOOT_PARAMS_GPA;
		free(bp);
	}
	if (rc < 0)
		goto fail;
	rc = modvm__boot_mptable_write(ram, cfg->vcpus, err, errlen);
	if (rc == 0)
		rc = modvm__boot_acpi_write(ram, cfg->vcpus, cfg->platform, cfg->mmio, cfg->n_mmio,
					    err, errlen);
	return rc;
fail:
	snprintf(err, errlen, "%s: cannot write the boot data into guest RAM (%s)", cfg->kernel,
		 strerror(-rc));
	return rc;
}

int modvm__boot_load_image(const struct modvm__boot_config *cfg, const uint8_t *kernel,
			   size_t kernel_len, const uint8_t *initrd, uint64_t initrd_size,
			   struct modvm__boot_info *out, char *err, size_t errlen)
{
	struct modvm__boot_ram ram = { .region = cfg->ram, .count = cfg->n_ram };
	struct modvm__boot_info info = { 0 };
	struct plan p = { 0 };
	int rc;

	rc = check_layout(cfg, &ram, err, errlen);
	if (rc == 0)
		rc = plan_kernel(cfg, &ram, kernel, kernel_len, &p, err, errlen);
	if (rc == 0)
		rc = plan_cmdline(cfg, &p, err, errlen);
	if (rc < 0)
		goto free_cmdline;
	info.place.cmdline_gpa = MODVM_BOOT_CMDLINE_GPA;
	if (initrd_size) {
		uint64_t low_end = modvm__boot_ram_low_end(&ram);
		uint64_t below = p.initrd_addr_max + 1 < low_end ? p.initrd_addr_max + 1 : low_end;

		rc = modvm__boot_initrd_place(initrd_size, p.initrd_addr_max, low_end, p.end,
					      &info.place.initrd_gpa);
		if (rc < 0) {
			snprintf(err, errlen,
				 "%s: initrd of %llu bytes does not fit below 0x%llx (above the kernel, which ends at 0x%llx)",
				 cfg->initrd ? cfg->initrd : "initrd", (unsigned long long)initrd_size,
				 (unsigned long long)below, (unsigned long long)p.end);
			goto free_cmdline;
		}
		info.place.initrd_size = initrd_size;
	}
	rc = write_all(cfg, &ram, &p, kernel, initrd, &info, err, errlen);
	if (rc < 0)
		goto free_cmdline;
	info.format = p.format;
	info.entry = p.entry;
	info.protocol = p.format == MODVM_BOOT_FORMAT_BZIMAGE ? p.bz.version : 0;
	info.kernel_gpa = p.load;
	info.kernel_end = p.end;
	info.entry_gpa = p.entry_gpa;
	info.cmdline_len = (uint32_t)p.cmdline_len;
	*out = info;
free_cmdline:
	free(p.cmdline);
	return rc;
}

/* Reads a whole file (the kernel: it is parsed in memory anyway).  Opened
 * without blocking and checked before the first read: a fifo or a device
 * named as the kernel is refused, never waited on. */
static int read_file(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	uint8_t *data = NULL;
	size_t got = 0;
	int fd, rc;

	fd = modvm__open_regular(path, 0, &st, err, errlen);
	if (fd < 0)
		return fd;
	if ((uint64_t)st.st_size > KERNEL_FILE_MAX) {
		rc = -EFBIG;
		snprintf(err, errlen, "%s: too large for a kernel (%lld bytes)", path,
			 (long long)st.st_size);
		goto close_fd;
	}
	data = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!data) {
		rc = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory reading %lld bytes", path,
			 (long long)st.st_size);
		goto close_fd;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);

		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			snprintf(err, errlen, "%s: read failed: %s", path,
				 n < 0 ? strerror(errno) : "file shrank");
			goto free_data;
		}
		got += (size_t)n;
	}
	*buf = data;
	*len = got;
	close(fd);
	return 0;
free_data:
	free(data);
close_fd:
	close(fd);
	return rc;
}

/* The initrd, opened like the kernel; its size.  The fd or -errno (@err). */
static int open_initrd(const char *path, uint64_t *size, char *err, size_t errlen)
{
	struct stat st;
	int fd = modvm__open_regular(path, 0, &st, err, errlen);

	if (fd < 0)
		return fd;
	if (st.st_size == 0) {
		snprintf(err, errlen, "%s: the initrd is empty", path);
		close(fd);
		return -EINVAL;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

int modvm__boot_check_initrd(const char *initrd, char *err, size_t errlen)
{
	uint64_t size;
	int fd = open_initrd(initrd, &size, err, errlen);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

int modvm__boot_check(const char *kernel, const char *initrd, char *err, size_t errlen)
{
	struct modvm__bzimage bz;
	struct modvm__vmlinux elf;
	uint8_t *img = NULL;
	size_t len = 0;
	int rc = read_file(kernel, &img, &len, err, errlen);

	if (rc < 0)
		return rc;
	if (len >= 4 && memcmp(img, "\177ELF", 4) == 0)
		rc = modvm__boot_elf_parse(img, len, kernel, &elf, err, errlen);
	else
		rc = modvm__boot_bzimage_parse(img, len, kernel, &bz, err, errlen);
	free(img);
	if (rc == 0 && initrd && initrd[0])
		rc = modvm__boot_check_initrd(initrd, err, errlen);
	return rc;
}

/* Reads @size bytes of @fd straight into guest RAM (the initrd can be large). */
static int read_into_ram(int fd, const char *path, const struct modvm__boot_config *cfg,
			 uint64_t gpa, uint64_t size, char *err, size_t errlen)
{
	struct modvm__boot_ram ram = { .region = cfg->ram, .count = cfg->n_ram };
	uint8_t *dst = modvm__boot_ram_ptr(&ram, gpa, size);
	uint64_t got = 0;

	if (!dst) {
		snprintf(err, errlen, "%s: initrd placement 0x%llx outside guest RAM", path,
			 (unsigned long long)gpa);
		return -EFAULT;
	}
	while (got < size) {
		ssize_t n = pread(fd, dst + got, size - got, (off_t)got);

		if (n <= 0) {
			snprintf(err, errlen, "%s: read failed: %s", path,
				 n < 0 ? strerror(errno) : "file shrank");
			return n < 0 ? -errno : -EIO;
		}
		got += (uint64_t)n;
	}
	return 0;
}

int modvm__boot_load(const struct modvm__boot_config *cfg, struct modvm__boot_info *out,
		     char *err, size_t errlen)
{
	bool has_initrd = cfg->initrd && cfg->initrd[0];
	uint8_t *kernel = NULL;
	size_t kernel_len = 0;
	uint64_t initrd_size = 0;
	int fd = -1, rc;

	rc = read_file(cfg->kernel, &kernel, &kernel_len, err, errlen);
	if (rc < 0)
		return rc;
	if (has_initrd) {
		fd = open_initrd(cfg->initrd, &initrd_size, err, errlen);
		if (fd < 0) {
			rc = fd;
			goto free_kernel;
		}
	}
	rc = modvm__boot_load_image(cfg, kernel, kernel_len, NULL, initrd_size, out, err, errlen);
	if (rc == 0 && has_initrd)
		rc = read_into_ram(fd, cfg->initrd, cfg, out->place.initrd_gpa, initrd_size, err,
				   errlen);
	if (fd >= 0)
		close(fd);
free_kernel:
	free(kernel);
	return rc;
}
