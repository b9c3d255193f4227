/*
 * core/boot_params.c — what the kernel is told at entry: struct boot_params
 * (the zero page) for the 32/64-bit boot protocols, struct hvm_start_info
 * for PVH, and where the initrd goes.
 */
#include <errno.h>
#include <string.h>

#include "boot/boot.h"

/* struct boot_params offsets (arch/x86/include/uapi/asm/bootparam.h). */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_BOOT_FLAG 0x1fe
#define BP_HEADER 0x202
#define BP_VERSION 0x206
#define BP_TYPE_OF_LOADER 0x210
#define BP_LOADFLAGS 0x211
#define BP_CODE32_START 0x214
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_CMD_LINE_PTR 0x228
#define BP_KERNEL_ALIGNMENT 0x230
#define BP_CMDLINE_SIZE 0x238
#define BP_E820_TABLE 0x2d0	/* 128 entries of 20 bytes: u64 addr, u64 size, u32 type */

#define LOADER_UNDEFINED 0xff	/* type_of_loader: no assigned loader id */
#define LOADED_HIGH 0x01

/* hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h). */
#define HVM_START_MAGIC 0x336ec578
#define HVM_INFO_SIZE 56
#define HVM_MODLIST_ENTRY_SIZE 32
#define HVM_MEMMAP_ENTRY_SIZE 24

static void put8(uint8_t *p, size_t off, uint8_t v)
{
	p[off] = v;
}

static void put16(uint8_t *p, size_t off, uint16_t v)
{
	p[off] = (uint8_t)v;
	p[off + 1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, size_t off, uint32_t v)
{
	put16(p, off, (uint16_t)v);
	put16(p, off + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, size_t off, uint64_t v)
{
	put32(p, off, (uint32_t)v);
	put32(p, off + 4, (uint32_t)(v >> 32));
}

int modvm__boot_initrd_place(uint64_t size, uint64_t addr_max, uint64_t low_end,
			     uint64_t kernel_end, uint64_t *gpa)
{
	uint64_t limit = low_end;
	uint64_t at;

	if (addr_max < UINT64_MAX && addr_max + 1 < limit)
		limit = addr_max + 1;
	if (size == 0 || size > limit)
		return -ENOSPC;
	at = (limit - size) & ~0xfffULL;
	if (at < kernel_end)
		return -ENOSPC;
	*gpa = at;
	return 0;
}

int modvm__boot_params_fill(uint8_t *bp, uint64_t code32_start,
			    const struct modvm__boot_placement *pl,
			    const struct modvm__boot_ram *ram)
{
	struct modvm__boot_e820 map[MODVM_BOOT_E820_MAX];
	int n = modvm__boot_e820_build(ram, map, MODVM_BOOT_E820_MAX);

	if (n < 0)
		return n;
	put8(bp, BP_TYPE_OF_LOADER, LOADER_UNDEFINED);
	put32(bp, BP_CODE32_START, (uint32_t)code32_start);
	put32(bp, BP_CMD_LINE_PTR, (uint32_t)pl->cmdline_gpa);
	put32(bp, BP_EXT_CMD_LINE_PTR, (uint32_t)(pl->cmdline_gpa >> 32));
	put32(bp, BP_RAMDISK_IMAGE, (uint32_t)pl->initrd_gpa);
	put32(bp, BP_EXT_RAMDISK_IMAGE, (uint32_t)(pl->initrd_gpa >> 32));
	put32(bp, BP_RAMDISK_SIZE, (uint32_t)pl->initrd_size);
	put32(bp, BP_EXT_RAMDISK_SIZE, (uint32_t)(pl->initrd_size >> 32));
	put8(bp, BP_E820_ENTRIES, (uint8_t)n);
	for (int i = 0; i < n; i++) {
		size_t off = BP_E820_TABLE + (size_t)i * 20;

		put64(bp, off, map[i].addr);
		put64(bp, off + 8, map[i].size);
		put32(bp, off + 16, map[i].type);
	}
	return 0;
}

void modvm__boot_params_elf_header(uint8_t *bp, uint32_t cmdline_size)
{
	memset(bp, 0, 4096);
	put16(bp, BP_BOOT_FLAG, 0xaa55);
	memcpy(bp + BP_HEADER, "HdrS", 4);
	/* A version lets the kernel trust the fields it gates on it (setup_data, cmdline_size). */
	put16(bp, BP_VERSION, 0x020f);
	put8(bp, BP_LOADFLAGS, LOADED_HIGH);
	put32(bp, BP_KERNEL_ALIGNMENT, 0x01000000);
	put32(bp, BP_CMDLINE_SIZE, cmdline_size);
}

int modvm__boot_pvh_write(const struct modvm__boot_ram *ram,
			  const struct modvm__boot_placement *pl)
{
	struct modvm__boot_e820 map[MODVM_BOOT_E820_MAX];
	uint8_t info[HVM_INFO_SIZE] = { 0 };
	uint8_t mod[HVM_MODLIST_ENTRY_SIZE] = { 0 };
	uint8_t memmap[MODVM_BOOT_E820_MAX * HVM_MEMMAP_ENTRY_SIZE] = { 0 };
	int n = modvm__boot_e820_build(ram, map, MODVM_BOOT_E820_MAX);
	int rc;

	if (n < 0)
		return n;
	/* The memmap must end before the zero page's slot; 128 entries do. */
	_Static_assert(MODVM_BOOT_PVH_MEMMAP_GPA + sizeof(memmap) <= MODVM_BOOT_PARAMS_GPA,
		       "PVH memmap overlaps the zero page");
	for (int i = 0; i < n; i++) {
		put64(memmap, (size_t)i * HVM_MEMMAP_ENTRY_SIZE, map[i].addr);
		put64(memmap, (size_t)i * HVM_MEMMAP_ENTRY_SIZE + 8, map[i].size);
		put32(memmap, (size_t)i * HVM_MEMMAP_ENTRY_SIZE + 16, map[i].type);
	}
	put32(info, 0, HVM_START_MAGIC);
	put32(info, 4, 1);			/* version 1: has the memmap fields */
	put32(info, 12, pl->initrd_size ? 1 : 0);	/* nr_modules */
	put64(info, 16, pl->initrd_size ? MODVM_BOOT_PVH_MODLIST_GPA : 0);
	put64(info, 24, pl->cmdline_gpa);
	put64(info, 40, MODVM_BOOT_PVH_MEMMAP_GPA);
	put32(info, 48, (uint32_t)n);
	put64(mod, 0, pl->initrd_gpa);
	put64(mod, 8, pl->initrd_size);

	rc = modvm__boot_ram_write(ram, MODVM_BOOT_PVH_INFO_GPA, info, sizeof(info));
	if (rc == 0)
		rc = modvm__boot_ram_write(ram, MODVM_BOOT_PVH_MODLIST_GPA, mod, sizeof(mod));
	if (rc == 0)
		rc = modvm__boot_ram_write(ram, MODVM_BOOT_PVH_MEMMAP_GPA, memmap, sizeof(memmap));
	return rc;
}
