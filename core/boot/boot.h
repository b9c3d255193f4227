/*
 * core/boot/ — the x86-64 Linux direct-boot loader (internal to libmodvm).
 *
 * Pure code over a guest RAM layout (uses only base/): it never touches a
 * vCPU or an accelerator.  Given a kernel (bzImage or ELF vmlinux), an optional initrd,
 * a command line, the RAM regions and the vCPU count, modvm__boot_load()
 * writes everything the kernel needs into guest RAM and returns the BSP's
 * initial registers; the VM runtime applies them with set_regs/set_sregs.
 * Application processors keep their reset state: Linux wakes them with
 * INIT/SIPI through the in-kernel LAPIC, having found them in the MP table.
 *
 * Errors: every function that can fail returns -errno and, where the cause
 * is the user's input, writes ONE line into @err (no newline) naming the
 * file: "vmlinuz-x: truncated: header says 5 setup sectors, file has 1024
 * bytes".  Callers decide how to print it.  Everything is checked before
 * the first byte is written to guest RAM, so a refused kernel leaves RAM
 * untouched (except that modvm__boot_load's own RAM checks come first).
 *
 * Guest-physical layout written by the loader (like Firecracker/kvmtool):
 *
 *   0x000500  GDT: null, null, __BOOT_CS 0x10, __BOOT_DS 0x18, TSS 0x20
 *   0x006000  hvm_start_info (PVH entry only); 0x6040 modlist; 0x6100 memmap
 *   0x007000  struct boot_params, "zero page" (64-bit and 32-bit entries)
 *   0x008ff0  initial stack pointer (the page below the page tables)
 *   0x009000  PML4; 0xa000 PDPT; 0xb000-0xefff four PDs: 4 GiB identity, 2 MiB pages
 *   0x020000  kernel command line (NUL-terminated, < 64 KiB)
 *   0x09fc00  EBDA start: [0x9fc00, 0x100000) is E820_RESERVED (EBDA, VGA, BIOS)
 *   0x0e0000  ACPI RSDP; 0xe0040 XSDT, 0xe0100 FADT, 0xe0300 DSDT, 0xe0400 MADT
 *   0x0f0000  MP floating pointer; 0xf0010 MP configuration table
 *   0x100000+ kernel: bzImage at pref_address (2.10+) or 1 MiB, rounded up
 *             to kernel_alignment if relocatable; ELF segments at p_paddr
 *   initrd    highest page-aligned spot below min(initrd_addr_max + 1, end
 *             of low RAM) and above the kernel
 *
 * The region holding GPA 0 is "low RAM" (the VM puts [0, 3 GiB) there);
 * regions above 4 GiB appear in the e820 map only.
 *
 * Entry points (enum modvm__boot_entry):
 *  - 64: Documentation/x86/boot.rst 64-bit protocol.  Long mode with the
 *    identity page tables above, CS=0x10 (L=1), DS=ES=SS=0x18, IF=0,
 *    RSI = boot_params, RIP = bzImage load address + 0x200 (needs
 *    XLF_KERNEL_64) or the ELF e_entry translated to physical.
 *  - 32: the 32-bit boot protocol, used for bzImages of protocol 2.06-2.11
 *    (they predate xloadflags, so a 64-bit entry cannot be known to exist;
 *    both i386 and x86-64 kernels implement startup_32): flat protected
 *    mode, paging off, ESI = boot_params, EIP = load address.
 *  - PVH: ELF only, XEN_ELFNOTE_PHYS32_ENTRY: flat protected mode, paging
 *    off, EBX = hvm_start_info.
 * AUTO (the default) picks 64 whenever the kernel has it, 32 for old
 * bzImages.  It prefers the 64-bit entry over PVH because it needs no mode
 * switch inside the guest: on hosts whose KVM emulates ring 0 (kvm_pvm,
 * which cannot run 32-bit paging at all) the PVH path has to build page
 * tables and enter long mode under emulation, the 64-bit path does not.
 */
#ifndef MODVM_CORE_BOOT_H
#define MODVM_CORE_BOOT_H

#include <modvm/cpu.h>
#include <modvm/vm.h>
#include "base/base.h"

/* ---- the fixed layout above ---- */
#define MODVM_BOOT_GDT_GPA 0x500ULL
#define MODVM_BOOT_GDT_ENTRIES 5
#define MODVM_BOOT_PVH_INFO_GPA 0x6000ULL
#define MODVM_BOOT_PVH_MODLIST_GPA 0x6040ULL
#define MODVM_BOOT_PVH_MEMMAP_GPA 0x6100ULL
#define MODVM_BOOT_PARAMS_GPA 0x7000ULL
#define MODVM_BOOT_STACK_GPA 0x8ff0ULL
#define MODVM_BOOT_PML4_GPA 0x9000ULL
#define MODVM_BOOT_PDPT_GPA 0xa000ULL
#define MODVM_BOOT_PD_GPA 0xb000ULL		/* four pages */
#define MODVM_BOOT_CMDLINE_GPA 0x20000ULL
#define MODVM_BOOT_CMDLINE_MAX 0x10000ULL	/* bytes including the NUL */
#define MODVM_BOOT_EBDA_GPA 0x9fc00ULL
#define MODVM_BOOT_HIMEM_GPA 0x100000ULL	/* 1 MiB: end of the legacy hole */
#define MODVM_BOOT_ACPI_GPA 0xe0000ULL	/* Linux scans 0xe0000-0xfffff for "RSD PTR " */
#define MODVM_BOOT_ACPI_MAX 0x10000ULL
#define MODVM_BOOT_MPTABLE_GPA 0xf0000ULL
#define MODVM_BOOT_MPTABLE_MAX 0x10000ULL	/* the BIOS area ends at 1 MiB */

#define MODVM_BOOT_SEL_CS 0x10		/* __BOOT_CS */
#define MODVM_BOOT_SEL_DS 0x18		/* __BOOT_DS */
#define MODVM_BOOT_SEL_TSS 0x20

#define MODVM_BOOT_MAX_VCPUS 254	/* 8-bit xAPIC ids, 255 is broadcast; IOAPIC id = vcpus */

/* ---- bounds-checked guest RAM ---- */

/* The RAM a loader may write: the VM's regions, ascending, non-overlapping. */
struct modvm__boot_ram {
	const struct modvm_ram_region *region;
	uint32_t count;
};

/* Host pointer to [@gpa, @gpa+@len) if it lies inside one region (no overflow), else NULL. */
MODVM_INTERNAL void *modvm__boot_ram_ptr(const struct modvm__boot_ram *ram, uint64_t gpa,
					 uint64_t len);
/* Copies @len bytes to @gpa: 0, or -EFAULT with nothing written. */
MODVM_INTERNAL int modvm__boot_ram_write(const struct modvm__boot_ram *ram, uint64_t gpa,
					 const void *src, uint64_t len);
/* Zeroes [@gpa, @gpa+@len): 0 or -EFAULT. */
MODVM_INTERNAL int modvm__boot_ram_zero(const struct modvm__boot_ram *ram, uint64_t gpa,
					uint64_t len);
/* End of the region that starts at GPA 0, capped at 4 GiB; 0 if none does. */
MODVM_INTERNAL uint64_t modvm__boot_ram_low_end(const struct modvm__boot_ram *ram);
/* Sum of the bytes (a table is valid when its checksum byte makes this 0). */
MODVM_INTERNAL uint8_t modvm__boot_sum8(const void *p, size_t len);

/* ---- the e820 map ---- */

#define MODVM_BOOT_E820_RAM 1
#define MODVM_BOOT_E820_RESERVED 2
#define MODVM_BOOT_E820_MAX 128		/* E820_MAX_ENTRIES_ZEROPAGE */

struct modvm__boot_e820 {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/*
 * The map the guest sees: every RAM region as E820_RAM, minus the legacy
 * hole [0x9fc00, 0x100000), which is one E820_RESERVED entry (EBDA, VGA
 * window, BIOS area with the MP table).  Gaps (the MMIO hole [3 GiB, 4 GiB))
 * are simply absent.  Returns the entry count or -E2BIG if @max is too small.
 */
MODVM_INTERNAL int modvm__boot_e820_build(const struct modvm__boot_ram *ram,
					  struct modvm__boot_e820 *out, uint32_t max);

/* ---- bzImage ---- */

/* The setup-header values the loader uses, normalised per protocol version. */
struct modvm__bzimage {
	uint16_t version;		/* 0x020f = 2.15 */
	uint8_t setup_sects;		/* 0 in the file means 4 */
	uint8_t loadflags;
	uint16_t xloadflags;		/* 0 before 2.12 */
	uint8_t relocatable;
	uint32_t kernel_alignment;
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;		/* max command-line length, NUL excluded */
	uint64_t pref_address;		/* 0x100000 before 2.10 */
	uint32_t init_size;		/* 0 before 2.10: unknown */
	uint64_t setup_size;		/* (setup_sects + 1) * 512: where the kernel starts */
	uint64_t kernel_size;		/* bytes of protected-mode kernel in the file */
	uint32_t hdr_end;		/* 0x202 + byte at 0x201, capped at 0x290 */
};

/*
 * Checks and decodes a bzImage held in @img (@name for messages): "HdrS",
 * protocol >= 2.06, the setup sectors and syssize inside the file,
 * LOADED_HIGH, XLF_KERNEL_64 for protocol >= 2.12, a power-of-two
 * kernel_alignment when relocatable.  -ENOEXEC with @err on bad input.
 */
MODVM_INTERNAL int modvm__boot_bzimage_parse(const uint8_t *img, size_t len, const char *name,
					     struct modvm__bzimage *out, char *err,
					     size_t errlen);
/*
 * Where the kernel goes and where it ends at run time: pref_address (1 MiB
 * before 2.10), rounded up to kernel_alignment if relocatable; it needs
 * max(init_size, kernel_size) bytes below @low_end.  -ENOSPC with @err.
 */
MODVM_INTERNAL int modvm__boot_bzimage_place(const struct modvm__bzimage *bz, const char *name,
					     uint64_t low_end, uint64_t *load, uint64_t *end,
					     char *err, size_t errlen);
/*
 * Starts a zero page in @bp (4096 bytes): zeroes it and copies the setup
 * header [0x1f1, hdr_end) from the file, as boot.rst asks.
 */
MODVM_INTERNAL void modvm__boot_bzimage_header(const struct modvm__bzimage *bz,
					       const uint8_t *img, uint8_t *bp);

/* ---- ELF vmlinux ---- */

#define MODVM_BOOT_ELF_MAX_LOAD 16

struct modvm__boot_segment {
	uint64_t offset, filesz, memsz, paddr;
};

struct modvm__vmlinux {
	uint64_t entry64;		/* e_entry as a physical address */
	bool has_pvh;
	uint32_t pvh_entry;		/* XEN_ELFNOTE_PHYS32_ENTRY (type 18) */
	uint32_t n_load;
	struct modvm__boot_segment load[MODVM_BOOT_ELF_MAX_LOAD];
	uint64_t start, end;		/* lowest p_paddr, highest p_paddr + p_memsz */
};

/*
 * Checks and decodes an ELF64 EM_X86_64 vmlinux: headers and segments inside
 * the file, the PVH note, e_entry inside a PT_LOAD (by virtual or physical
 * address).  -ENOEXEC with @err.
 */
MODVM_INTERNAL int modvm__boot_elf_parse(const uint8_t *img, size_t len, const char *name,
					 struct modvm__vmlinux *out, char *err, size_t errlen);
/* Every segment inside RAM and at or above 1 MiB: 0, or -ENOSPC with @err. */
MODVM_INTERNAL int modvm__boot_elf_check(const struct modvm__vmlinux *vm, const char *name,
					 const struct modvm__boot_ram *ram, char *err,
					 size_t errlen);
/* Copies the PT_LOAD segments to p_paddr and zeroes their bss (checked first). */
MODVM_INTERNAL int modvm__boot_elf_load(const struct modvm__vmlinux *vm, const uint8_t *img,
					const struct modvm__boot_ram *ram);

/* ---- boot_params, initrd, command line ---- */

/* Where the initrd goes: the values boot_params and start_info report. */
struct modvm__boot_placement {
	uint64_t cmdline_gpa;
	uint64_t initrd_gpa, initrd_size;	/* size 0: none */
};

/*
 * The highest page-aligned @size-byte range ending at or below
 * min(@addr_max + 1, @low_end) (addr_max is the highest byte the initrd may
 * occupy) and starting at or above @kernel_end.  0 or -ENOSPC.
 */
MODVM_INTERNAL int modvm__boot_initrd_place(uint64_t size, uint64_t addr_max, uint64_t low_end,
					    uint64_t kernel_end, uint64_t *gpa);

/*
 * Completes a zero page (4096 bytes) for the 32/64-bit entries: type_of_loader
 * 0xff, code32_start, cmd_line_ptr (+ext_), ramdisk_image/size (+ext_) and
 * the e820 table.  -E2BIG if the map has more than 128 entries.
 */
MODVM_INTERNAL int modvm__boot_params_fill(uint8_t *bp, uint64_t code32_start,
					   const struct modvm__boot_placement *pl,
					   const struct modvm__boot_ram *ram);
/*
 * Starts a zero page for an ELF vmlinux, which has no setup header: the
 * fields a bzImage would carry (boot_flag, "HdrS", version 2.15,
 * LOADED_HIGH, kernel_alignment, cmdline_size) as Firecracker sets them.
 */
MODVM_INTERNAL void modvm__boot_params_elf_header(uint8_t *bp, uint32_t cmdline_size);

/* Writes hvm_start_info (version 1), its modlist and memmap for the PVH entry. */
MODVM_INTERNAL int modvm__boot_pvh_write(const struct modvm__boot_ram *ram,
					 const struct modvm__boot_placement *pl);

/* One virtio-mmio window to announce on the command line. */
struct modvm__boot_mmio_dev {
	uint64_t base;
	uint64_t size;
	uint32_t irq;
};

/*
 * Formats @size the way the kernel's memparse() reads it back: "4K", "1M",
 * "2G" when exact, else "0x1234".  Returns the length, as snprintf.
 */
MODVM_INTERNAL int modvm__boot_memparse_format(uint64_t size, char *out, size_t outlen);
/*
 * Adds "virtio_mmio.device=<size>@0x<base>:<irq>" for each device to the
 * NUL-terminated @buf's kernel parameters (modvm__boot_cmdline_add_param).  0, or -ENOSPC
 * (buf unchanged) if the result needs more than @bufsz bytes with its NUL.
 * Checking the result against the kernel's cmdline_size is the caller's job
 * (modvm__boot_load does it).
 */
/*
 * Adds kernel parameter @param to the NUL-terminated @buf: before a " -- "
 * that starts init's arguments, else at the end, with the spaces needed.
 * 0, or -ENOSPC (buf unchanged) if it needs more than @bufsz bytes.
 */
MODVM_INTERNAL int modvm__boot_cmdline_add_param(char *buf, size_t bufsz, const char *param);
/* True if the kernel parameters of @buf (not init's) set @name ("reboot"). */
MODVM_INTERNAL bool modvm__boot_cmdline_has_param(const char *buf, const char *name);
MODVM_INTERNAL int modvm__boot_cmdline_add_virtio_mmio(char *buf, size_t bufsz,
						       const struct modvm__boot_mmio_dev *dev,
						       uint32_t n);

/* ---- MP table ---- */

/*
 * Writes an Intel MP spec 1.4 floating pointer at 0xf0000 and a config
 * table after it: one processor per vCPU (APIC ids 0..n-1, BSP = 0), bus 0
 * "ISA", the IOAPIC (id @vcpus) at 0xfec00000, ISA IRQs 0-15 to IOAPIC pins
 * 0-15 (KVM's default routing), LINT0 ExtINT and LINT1 NMI.  Returns 0 or
 * -EINVAL (vcpus out of 1..254, with @err) or -EFAULT (no RAM there).
 */
MODVM_INTERNAL int modvm__boot_mptable_write(const struct modvm__boot_ram *ram, uint32_t vcpus,
					     char *err, size_t errlen);

/* ---- ACPI ---- */

/* Most virtio-mmio windows the DSDT describes. */
#define MODVM_BOOT_MAX_MMIO 32

/*
 * The platform's fixed devices as the ACPI tables announce them; the
 * machine that attaches the devices fills this in.  A zero port leaves
 * that part out.
 */
struct modvm__boot_platform {
	uint16_t com1_port;		/* 16550A: PNP0501 in the DSDT */
	uint8_t com1_irq;
	uint16_t rtc_port;		/* CMOS RTC: PNP0B00 in the DSDT */
	uint8_t rtc_irq;
	uint16_t sleep_ctl_port;	/* FADT sleep control/status registers ... */
	uint16_t sleep_sts_port;
	uint8_t s5_typ;			/* ... and \_S5's SLP_TYP: ACPI power off */
	uint16_t reset_port;		/* FADT reset register and value: ACPI reboot */
	uint8_t reset_value;
};

/*
 * Writes RSDP (0xe0000, revision 2) -> XSDT -> FADT (hardware-reduced; the
 * sleep control/status and reset registers of @plat; X_DSDT -> the DSDT at
 * 0xe1000, see modvm__boot_aml_dsdt) and MADT: one enabled local APIC per
 * vCPU (ids as in the MP table), the IOAPIC (id @vcpus, 0xfec00000, GSI
 * base 0, no overrides) and LINT1 NMI.  Needed because distribution
 * kernels are built without CONFIG_X86_MPPARSE (and without virtio-mmio
 * command-line devices); the MP table stays for kernels without ACPI.
 * @plat may be NULL (no legacy devices, no ACPI power off or reset).  0,
 * -EINVAL (vcpus, windows, with @err) or -EFAULT (no RAM there).
 */
MODVM_INTERNAL int modvm__boot_acpi_write(const struct modvm__boot_ram *ram, uint32_t vcpus,
					  const struct modvm__boot_platform *plat,
					  const struct modvm__boot_mmio_dev *mmio, uint32_t n_mmio,
					  char *err, size_t errlen);
/*
 * The DSDT body (AML, after the table header): under \_SB the COM1 and RTC
 * devices of @plat (PNP0501, PNP0B00 with their port and IRQ) and @n
 * virtio-mmio windows as LNRO0005 devices, then \_S5 if @plat has sleep
 * registers.  Its length (0 for nothing), or -E2BIG (more than
 * MODVM_BOOT_MAX_MMIO windows), -ERANGE (a window not below 4 GiB),
 * -ENOSPC (more than @cap bytes).  Pure; @plat may be NULL.
 */
MODVM_INTERNAL int modvm__boot_aml_dsdt(uint8_t *out, size_t cap,
					const struct modvm__boot_platform *plat,
					const struct modvm__boot_mmio_dev *dev, uint32_t n);

/* ---- initial CPU state ---- */

/*
 * 64-bit entry: writes the GDT and the 4 GiB identity page tables, fills
 * long-mode @regs/@sregs with RIP = @rip, RSI = @rsi.  0 or -EFAULT.
 */
MODVM_INTERNAL int modvm__boot_cpu_long_mode(const struct modvm__boot_ram *ram, uint64_t rip,
					     uint64_t rsi, struct modvm_regs *regs,
					     struct modvm_sregs *sregs);
/*
 * 32-bit entries: writes the GDT, fills flat protected mode (paging off)
 * with EIP = @eip; the caller sets ESI (boot protocol) or EBX (PVH).
 */
MODVM_INTERNAL int modvm__boot_cpu_protected(const struct modvm__boot_ram *ram, uint32_t eip,
					     struct modvm_regs *regs,
					     struct modvm_sregs *sregs);

/* ---- the whole load ---- */

enum modvm__boot_entry {
	MODVM_BOOT_ENTRY_AUTO = 0,
	MODVM_BOOT_ENTRY_64,		/* boot_params in RSI, long mode */
	MODVM_BOOT_ENTRY_32,		/* bzImage only: boot_params in ESI, protected mode */
	MODVM_BOOT_ENTRY_PVH,		/* ELF only: hvm_start_info in EBX, protected mode */
};

enum modvm__boot_format {
	MODVM_BOOT_FORMAT_BZIMAGE = 1,
	MODVM_BOOT_FORMAT_ELF,
};

struct modvm__boot_config {
	const char *kernel;		/* path; also the name in messages */
	const char *initrd;		/* NULL or "": none */
	const char *cmdline;		/* NULL: "" */
	const struct modvm_ram_region *ram;
	uint32_t n_ram;
	uint32_t vcpus;
	enum modvm__boot_entry entry;
	const struct modvm__boot_mmio_dev *mmio;	/* appended as virtio_mmio.device= */
	uint32_t n_mmio;
	const struct modvm__boot_platform *platform;	/* for the ACPI tables; NULL: none */
};

/* What was loaded where, and the BSP's initial state. */
struct modvm__boot_info {
	struct modvm_regs regs;
	struct modvm_sregs sregs;
	enum modvm__boot_format format;
	enum modvm__boot_entry entry;	/* the one chosen */
	uint16_t protocol;		/* bzImage boot protocol, 0 for ELF */
	uint64_t kernel_gpa, kernel_end;	/* run-time footprint */
	uint64_t entry_gpa;
	uint64_t info_gpa;		/* boot_params, or hvm_start_info for PVH */
	struct modvm__boot_placement place;
	uint32_t cmdline_len;		/* final, NUL excluded */
};

/*
 * Reads @cfg->kernel and @cfg->initrd and loads them (see the file comment).
 * Returns 0 with @out filled, or -errno with one line in @err: -ENOENT/-EIO
 * and friends (file), -ENOEXEC (not a usable kernel), -ENOSPC (does not
 * fit), -E2BIG (command line), -EINVAL (RAM layout, vcpus, entry choice).
 */
MODVM_INTERNAL int modvm__boot_load(const struct modvm__boot_config *cfg,
				    struct modvm__boot_info *out, char *err, size_t errlen);
/*
 * What `modvm check` asks of a kernel and initrd without a VM: each a
 * regular file (opened without blocking: a fifo is refused, not waited
 * on), the kernel a bzImage or ELF vmlinux whose headers parse, the initrd
 * not empty.  0, or -errno with one line naming the file in @err.
 */
MODVM_INTERNAL int modvm__boot_check(const char *kernel, const char *initrd, char *err,
				     size_t errlen);
/* The initrd part alone. */
MODVM_INTERNAL int modvm__boot_check_initrd(const char *initrd, char *err, size_t errlen);
/*
 * The same with the kernel already in memory (tests use it).  The initrd is
 * @initrd_size bytes; if @initrd is NULL it is placed but not copied (the
 * caller copies it to out->place.initrd_gpa), which is how modvm__boot_load
 * reads a large initrd straight into guest RAM.
 */
MODVM_INTERNAL int modvm__boot_load_image(const struct modvm__boot_config *cfg,
					  const uint8_t *kernel, size_t kernel_len,
					  const uint8_t *initrd, uint64_t initrd_size,
					  struct modvm__boot_info *out, char *err,
					  size_t errlen);

#endif
