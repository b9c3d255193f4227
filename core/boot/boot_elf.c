/*
 * core/boot_elf.c — an uncompressed ELF vmlinux: its PT_LOAD segments go to
 * their physical addresses, its entries are e_entry (64-bit, boot_params)
 * and the Xen PVH note (32-bit, hvm_start_info).
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "boot/boot.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* The file may be unaligned in memory: copy headers out instead of casting. */
static void get_phdr(const uint8_t *img, const Elf64_Ehdr *eh, uint32_t i, Elf64_Phdr *ph)
{
	memcpy(ph, img + eh->e_phoff + (uint64_t)i * eh->e_phentsize, sizeof(*ph));
}

/* Scans one PT_NOTE segment for the PVH entry. */
static void find_pvh(const uint8_t *p, uint64_t len, struct modvm__vmlinux *out)
{
	uint64_t off = 0;

	while (len - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		uint64_t name_sz, desc_sz;

		memcpy(&nh, p + off, sizeof(nh));
		off += sizeof(nh);
		name_sz = ((uint64_t)nh.n_namesz + 3) & ~3ULL;
		desc_sz = ((uint64_t)nh.n_descsz + 3) & ~3ULL;
		if (name_sz > len - off || desc_sz > len - off - name_sz)
			return;
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    memcmp(p + off, "Xen", 4) == 0 && nh.n_descsz >= 4) {
			const uint8_t *d = p + off + name_sz;

			/* 4 or 8 bytes; the entry is a 32-bit physical address either way. */
			out->pvh_entry = (uint32_t)(d[0] | d[1] << 8 | d[2] << 16 | (uint32_t)d[3] << 24);
			out->has_pvh = true;
			return;
		}
		off += name_sz + desc_sz;
	}
}

static int parse_ehdr(const uint8_t *img, size_t len, const char *name, Elf64_Ehdr *eh,
		      char *err, size_t errlen)
{
	if (len < EI_NIDENT) {
		snprintf(err, errlen, "%s: truncated: ELF header needs %zu bytes, file has %zu", name,
			 sizeof(*eh), len);
		return -ENOEXEC;
	}
	if (img[EI_CLASS] != ELFCLASS64) {
		snprintf(err, errlen, "%s: %s kernel; need an ELF64 x86-64 vmlinux", name,
			 img[EI_CLASS] == ELFCLASS32 ? "32-bit ELF (ELFCLASS32)" : "unknown ELF class");
		return -ENOEXEC;
	}
	if (len < sizeof(*eh)) {
		snprintf(err, errlen, "%s: truncated: ELF header needs %zu bytes, file has %zu", name,
			 sizeof(*eh), len);
		return -ENOEXEC;
	}
	memcpy(eh, img, sizeof(*eh));
	if (img[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64) {
		snprintf(err, errlen, "%s: ELF machine %u (data %u) is not little-endian x86-64", name,
			 eh->e_machine, img[EI_DATA]);
		return -ENOEXEC;
	}
	if (eh->e_phnum == 0 || eh->e_phentsize < sizeof(Elf64_Phdr)) {
		snprintf(err, errlen, "%s: ELF has no usable program headers (%u of %u bytes)", name,
			 eh->e_phnum, eh->e_phentsize);
		return -ENOEXEC;
	}
	if (eh->e_phoff > len || (uint64_t)eh->e_phnum * eh->e_phentsize > len - eh->e_phoff) {
		snprintf(err, errlen,
			 "%s: truncated: ELF header says %u program headers at offset 0x%llx, file has %zu bytes",
			 name, eh->e_phnum, (unsigned long long)eh->e_phoff, len);
		return -ENOEXEC;
	}
	return 0;
}

int modvm__boot_elf_parse(const uint8_t *img, size_t len, const char *name,
			  struct modvm__vmlinux *out, char *err, size_t errlen)
{
	struct modvm__vmlinux vm = { .start = UINT64_MAX };
	bool entry_found = false;
	Elf64_Ehdr eh;
	int rc;

	rc = parse_ehdr(img, len, name, &eh, err, errlen);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		get_phdr(img, &eh, i, &ph);
		if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE)
			continue;
		if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset) {
			snprintf(err, errlen,
				 "%s: truncated: segment %u needs file bytes up to 0x%llx, file has %zu",
				 name, i, (unsigned long long)(ph.p_offset + ph.p_filesz), len);
			return -ENOEXEC;
		}
		if (ph.p_type == PT_NOTE) {
			if (!vm.has_pvh)
				find_pvh(img + ph.p_offset, ph.p_filesz, &vm);
			continue;
		}
		if (ph.p_memsz == 0)
			continue;
		if (ph.p_filesz > ph.p_memsz || ph.p_paddr + ph.p_memsz < ph.p_paddr) {
			snprintf(err, errlen, "%s: segment %u has filesz 0x%llx > memsz 0x%llx or wraps",
				 name, i, (unsigned long long)ph.p_filesz,
				 (unsigned long long)ph.p_memsz);
			return -ENOEXEC;
		}
		if (vm.n_load == MODVM_BOOT_ELF_MAX_LOAD) {
			snprintf(err, errlen, "%s: more than %d PT_LOAD segments", name,
				 MODVM_BOOT_ELF_MAX_LOAD);
			return -ENOEXEC;
		}
		vm.load[vm.n_load++] = (struct modvm__boot_segment){
			.offset = ph.p_offset, .filesz = ph.p_filesz,
			.memsz = ph.p_memsz, .paddr = ph.p_paddr,
		};
		if (ph.p_paddr < vm.start)
			vm.start = ph.p_paddr;
		if (ph.p_paddr + ph.p_memsz > vm.end)
			vm.end = ph.p_paddr + ph.p_memsz;
		/* A kernel's e_entry is virtual (or already physical in some builds). */
		if (!entry_found && eh.e_entry - ph.p_vaddr < ph.p_memsz) {
			vm.entry64 = ph.p_paddr + (eh.e_entry - ph.p_vaddr);
			entry_found = true;
		}
	}
	if (vm.n_load == 0) {
		snprintf(err, errlen, "%s: ELF has no PT_LOAD segment", name);
		return -ENOEXEC;
	}
	for (uint32_t i = 0; !entry_found && i < vm.n_load; i++) {
		if (eh.e_entry - vm.load[i].paddr < vm.load[i].memsz) {
			vm.entry64 = eh.e_entry;
			entry_found = true;
		}
	}
	if (!entry_found) {
		snprintf(err, errlen, "%s: entry point 0x%llx lies in no PT_LOAD segment", name,
			 (unsigned long long)eh.e_entry);
		return -ENOEXEC;
	}
	*out = vm;
	return 0;
}

int modvm__boot_elf_check(const struct modvm__vmlinux *vm, const char *name,
			  const struct modvm__boot_ram *ram, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < vm->n_load; i++) {
		const struct modvm__boot_segment *s = &vm->load[i];

		if (s->paddr < MODVM_BOOT_HIMEM_GPA) {
			snprintf(err, errlen,
				 "%s: segment [0x%llx, 0x%llx) overlaps the loader's area below 1 MiB",
				 name, (unsigned long long)s->paddr,
				 (unsigned long long)(s->paddr + s->memsz));
			return -ENOSPC;
		}
		if (!modvm__boot_ram_ptr(ram, s->paddr, s->memsz)) {
			snprintf(err, errlen, "%s: segment [0x%llx, 0x%llx) lies outside guest RAM",
				 name, (unsigned long long)s->paddr,
				 (unsigned long long)(s->paddr + s->memsz));
			return -ENOSPC;
		}
	}
	return 0;
}

int modvm__boot_elf_load(const struct modvm__vmlinux *vm, const uint8_t *img,
			 const struct modvm__boot_ram *ram)
{
	int rc;

	for (uint32_t i = 0; i < vm->n_load; i++) {
		const struct modvm__boot_segment *s = &vm->load[i];

		rc = modvm__boot_ram_write(ram, s->paddr, img + s->offset, s->filesz);
		if (rc == 0)
			rc = modvm__boot_ram_zero(ram, s->paddr + s->filesz, s->memsz - s->filesz);
		if (rc < 0)
			return rc;
	}
	return 0;
}
