/* Synthetic kernels and fake guest RAM for the boot tests. */
#include <check.h>
#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "synth.h"

static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, (uint16_t)v); wr16(p + 2, (uint16_t)(v >> 16)); }
static void wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)v); wr32(p + 4, (uint32_t)(v >> 32)); }

struct synth_bz synth_bz_modern(void)
{
	return (struct synth_bz){
		.version = 0x020f, .setup_sects = 4, .loadflags = 0x01, .xloadflags = 0x0003,
		.relocatable = 1, .kernel_alignment = 0x200000, .initrd_addr_max = 0x7fffffff,
		.cmdline_size = 2047, .pref_address = 0x1000000, .init_size = 0x800000,
		.kernel_bytes = 0x4000,
	};
}

uint8_t synth_kernel_byte(size_t i)
{
	return (uint8_t)(i * 7 + 3);
}

uint8_t *synth_bzimage(const struct synth_bz *s, size_t *len)
{
	size_t setup = ((size_t)(s->setup_sects ? s->setup_sects : 4) + 1) * 512;
	uint8_t *img = calloc(1, setup + s->kernel_bytes);
	uint8_t hdr_len = s->version >= 0x020f ? 0x6a : s->version >= 0x020b ? 0x66 :
			  s->version >= 0x020a ? 0x62 : 0x3a;

	ck_assert_ptr_nonnull(img);
	img[0x1f1] = s->setup_sects;
	wr32(img + 0x1f4, s->kernel_bytes / 16);
	wr16(img + 0x1fe, 0xaa55);
	img[0x200] = 0xeb;
	img[0x201] = hdr_len;
	memcpy(img + 0x202, "HdrS", 4);
	wr16(img + 0x206, s->version);
	img[0x211] = s->loadflags;
	wr32(img + 0x22c, s->initrd_addr_max);
	wr32(img + 0x230, s->kernel_alignment);
	img[0x234] = s->relocatable;
	if (s->version >= 0x020c)
		wr16(img + 0x236, s->xloadflags);
	wr32(img + 0x238, s->cmdline_size);
	if (s->version >= 0x020a) {
		wr64(img + 0x258, s->pref_address);
		wr32(img + 0x260, s->init_size);
	}
	for (size_t i = 0; i < s->kernel_bytes; i++)
		img[setup + i] = synth_kernel_byte(i);
	*len = setup + s->kernel_bytes;
	return img;
}

/* One note: name, type, desc (padded to 4). Returns the bytes written. */
static size_t put_note(uint8_t *p, const char *name, uint32_t type, const void *desc,
		       uint32_t descsz)
{
	uint32_t namesz = (uint32_t)strlen(name) + 1;
	size_t off = 12;

	wr32(p, namesz);
	wr32(p + 4, descsz);
	wr32(p + 8, type);
	memcpy(p + off, name, namesz);
	off += (namesz + 3) & ~3u;
	memcpy(p + off, desc, descsz);
	off += (descsz + 3) & ~3u;
	return off;
}

uint8_t *synth_vmlinux(const struct synth_elf *s, size_t *len)
{
	const size_t size = 0x4100, notes_off = 0x100;
	uint64_t text_paddr = s->text_paddr ? s->text_paddr : 0x1000000;
	uint64_t data_paddr = s->data_paddr ? s->data_paddr : 0x1200000;
	uint8_t *img = calloc(1, size);
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph[3] = { 0 };
	size_t nlen = 0;
	uint8_t desc[8] = { 0 };

	ck_assert_ptr_nonnull(img);
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = s->elf_class ? s->elf_class : ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = s->machine ? s->machine : EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = s->entry ? s->entry : SYNTH_TEXT_VADDR + 0x40;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 3;

	/* Decoys first: a Xen note of another type, a non-Xen note of type 18. */
	nlen += put_note(img + notes_off + nlen, "Xen", 5, "xen-3.0", 8);
	nlen += put_note(img + notes_off + nlen, "GNU", 18, "\x11\x11\x11\x11", 4);
	if (s->pvh) {
		wr32(desc, s->pvh_entry);
		nlen += put_note(img + notes_off + nlen, "Xen", 18, desc, (uint32_t)s->pvh);
	}

	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = 0x1000,
			      .p_vaddr = SYNTH_TEXT_VADDR, .p_paddr = text_paddr,
			      .p_filesz = SYNTH_TEXT_SIZE, .p_memsz = SYNTH_TEXT_SIZE,
			      .p_align = 0x1000 };
	ph[1] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_W, .p_offset = 0x4000,
			      .p_vaddr = SYNTH_TEXT_VADDR + 0x200000, .p_paddr = data_paddr,
			      .p_filesz = SYNTH_DATA_FILESZ, .p_memsz = SYNTH_DATA_MEMSZ,
			      .p_align = 0x1000 };
	ph[2] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = notes_off, .p_filesz = nlen,
			      .p_memsz = nlen, .p_align = 4 };
	memcpy(img, &eh, sizeof(eh));
	memcpy(img + sizeof(eh), ph, sizeof(ph));
	for (size_t i = 0; i < SYNTH_TEXT_SIZE; i++)
		img[0x1000 + i] = synth_kernel_byte(i);
	for (size_t i = 0; i < SYNTH_DATA_FILESZ; i++)
		img[0x4000 + i] = (uint8_t)(0xd0 ^ i);
	*len = size;
	return img;
}

static void *map(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	ck_assert_ptr_ne(p, MAP_FAILED);
	return p;
}

void fake_ram_init(struct fake_ram *f, uint64_t low, uint64_t high)
{
	memset(f, 0, sizeof(*f));
	f->region[0] = (struct modvm_ram_region){ .gpa = 0, .size = low, .hva = map(low) };
	f->count = 1;
	if (high) {
		f->region[1] = (struct modvm_ram_region){ .gpa = 4 * GIB, .size = high,
							  .hva = map(high), .slot = 1 };
		f->count = 2;
	}
	f->ram = (struct modvm__boot_ram){ .region = f->region, .count = f->count };
}

void fake_ram_fill(struct fake_ram *f, uint64_t gpa, uint64_t len, uint8_t byte)
{
	memset(gp(f, gpa, len), byte, len);
}

void fake_ram_free(struct fake_ram *f)
{
	for (uint32_t i = 0; i < f->count; i++)
		munmap(f->region[i].hva, f->region[i].size);
	f->count = 0;
}

uint8_t *gp(struct fake_ram *f, uint64_t gpa, uint64_t len)
{
	uint8_t *p = modvm__boot_ram_ptr(&f->ram, gpa, len);

	ck_assert_msg(p != NULL, "gpa 0x%llx+0x%llx is not RAM", (unsigned long long)gpa,
		      (unsigned long long)len);
	return p;
}

struct modvm__boot_config fake_config(struct fake_ram *f, const char *kernel, const char *cmdline)
{
	return (struct modvm__boot_config){
		.kernel = kernel, .cmdline = cmdline, .ram = f->region, .n_ram = f->count,
		.vcpus = 1,
	};
}
