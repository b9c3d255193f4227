/*
 * Reads the exported dynamic symbols straight from the ELF file: dlsym can
 * only answer for names we guess, and a plugin must export exactly one.
 * No libelf, so the kit has no extra dependency; every offset is bounds
 * checked because the file under test may be anything.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conform.h"

static bool in_file(size_t size, uint64_t off, uint64_t len)
{
	return off <= size && len <= size - off;
}

static int walk(const unsigned char *p, size_t size, void (*fn)(const char *, void *), void *ud,
		char *err, size_t errlen)
{
	const Elf64_Ehdr *eh = (const void *)p;
	const Elf64_Shdr *sh;

	if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) {
		snprintf(err, errlen, "not an ELF file");
		return -ENOEXEC;
	}
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB) {
		snprintf(err, errlen, "not a little-endian 64-bit ELF file");
		return -ENOEXEC;
	}
	if (eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    !in_file(size, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr))) {
		snprintf(err, errlen, "section header table out of the file");
		return -ENOEXEC;
	}
	sh = (const void *)(p + eh->e_shoff);
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		const Elf64_Shdr *str;
		const Elf64_Sym *syms;
		size_t count;

		if (sh[i].sh_type != SHT_DYNSYM)
			continue;
		if (sh[i].sh_link >= eh->e_shnum || sh[i].sh_entsize != sizeof(Elf64_Sym) ||
		    !in_file(size, sh[i].sh_offset, sh[i].sh_size)) {
			snprintf(err, errlen, ".dynsym section malformed");
			return -ENOEXEC;
		}
		str = &sh[sh[i].sh_link];
		if (!in_file(size, str->sh_offset, str->sh_size) || str->sh_size == 0 ||
		    p[str->sh_offset + str->sh_size - 1] != '\0') {
			snprintf(err, errlen, ".dynstr section malformed");
			return -ENOEXEC;
		}
		syms = (const void *)(p + sh[i].sh_offset);
		count = sh[i].sh_size / sizeof(Elf64_Sym);
		for (size_t k = 1; k < count; k++) {
			unsigned bind = ELF64_ST_BIND(syms[k].st_info);
			unsigned vis = ELF64_ST_VISIBILITY(syms[k].st_other);

			if (syms[k].st_shndx == SHN_UNDEF || syms[k].st_name >= str->sh_size)
				continue;
			if (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE)
				continue;
			if (vis != STV_DEFAULT && vis != STV_PROTECTED)
				continue;
			fn((const char *)p + str->sh_offset + syms[k].st_name, ud);
		}
		return 0;
	}
	snprintf(err, errlen, "no .dynsym section");
	return -ENOEXEC;
}

int conform_elf_exports(const char *path, void (*fn)(const char *name, void *ud), void *ud,
			char *err, size_t errlen)
{
	struct stat st;
	void *map;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	map = st.st_size > 0 ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)
			     : MAP_FAILED;
	close(fd);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "%s: cannot map the file", path);
		return -EIO;
	}
	r = walk(map, (size_t)st.st_size, fn, ud, err, errlen);
	munmap(map, (size_t)st.st_size);
	return r;
}
