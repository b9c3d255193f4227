/*
 * Synthetic kernels and fake guest RAM for the boot tests: images are built
 * in memory from a few header values, so each test states exactly the
 * header it exercises and no binary is committed.
 */
#ifndef BOOT_TEST_SYNTH_H
#define BOOT_TEST_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "boot/boot.h"

/* The setup-header values of a synthetic bzImage (0 = leave the field 0). */
struct synth_bz {
	uint16_t version;
	uint8_t setup_sects;
	uint8_t loadflags;
	uint16_t xloadflags;
	uint8_t relocatable;
	uint32_t kernel_alignment;
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t kernel_bytes;	/* protected-mode part; syssize = kernel_bytes / 16 */
};

/* A typical modern header: 2.15, relocatable, 64-bit, pref 16 MiB, init_size 8 MiB. */
struct synth_bz synth_bz_modern(void);
/* malloc'd image; kernel byte i is synth_kernel_byte(i). */
uint8_t *synth_bzimage(const struct synth_bz *s, size_t *len);
uint8_t synth_kernel_byte(size_t i);

/* A synthetic ELF vmlinux (see synth.c for its segments). */
struct synth_elf {
	uint8_t elf_class;	/* 0: ELFCLASS64 */
	uint16_t machine;	/* 0: EM_X86_64 */
	uint64_t entry;		/* 0: text vaddr + 0x40 */
	uint64_t text_paddr;	/* 0: 0x1000000 */
	uint64_t data_paddr;	/* 0: 0x1200000 */
	int pvh;		/* 0: no note, 4 or 8: PVH note with a 4/8-byte desc */
	uint32_t pvh_entry;
};

#define SYNTH_TEXT_VADDR 0xffffffff81000000ULL
#define SYNTH_TEXT_SIZE 0x3000
#define SYNTH_DATA_FILESZ 0x100
#define SYNTH_DATA_MEMSZ 0x2000

uint8_t *synth_vmlinux(const struct synth_elf *s, size_t *len);

/* Fake guest RAM: [0, low) and, if high, [4 GiB, 4 GiB + high), mmap'd lazily. */
struct fake_ram {
	struct modvm_ram_region region[2];
	uint32_t count;
	struct modvm__boot_ram ram;
};

void fake_ram_init(struct fake_ram *f, uint64_t low, uint64_t high);
void fake_ram_fill(struct fake_ram *f, uint64_t gpa, uint64_t len, uint8_t byte);
void fake_ram_free(struct fake_ram *f);
/* Host pointer to guest bytes (asserts the range is RAM). */
uint8_t *gp(struct fake_ram *f, uint64_t gpa, uint64_t len);

/* A boot config over @f with one vCPU and no initrd. */
struct modvm__boot_config fake_config(struct fake_ram *f, const char *kernel, const char *cmdline);

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static inline uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

#endif
