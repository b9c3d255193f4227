/*
 * core/guest_mem.c — guest RAM and the only way to reach it.
 *
 * RAM is one private anonymous mapping, sliced around the x86 MMIO hole into
 * at most two memslots.  Regions never change after creation, so lookups
 * read them without locks.  Every guest-physical access in the project goes
 * through modvm_gpa_to_hva(), whose range check cannot overflow.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "vm/vm.h"

#define PAGE_4K 4096ULL
#define PAGE_2M (2ULL << 20)

static int map_ram(struct modvm_vm *vm, uint64_t bytes, bool hugepages, void **out)
{
	/*
	 * NORESERVE like kvmtool and Firecracker: the guest touches what it
	 * uses.  Not with hugetlb, where NORESERVE would move a missing
	 * reservation from here to a SIGBUS at the guest's first touch.
	 * Private like Firecracker and QEMU's default: the balloon's
	 * MADV_DONTNEED frees private pages at 8-9 GiB/s, MADV_REMOVE on a
	 * shared mapping manages 3-4 GiB/s (bench/bench_balloon), and private
	 * memory can use transparent huge pages.  Nothing here shares guest
	 * RAM with another process; a vhost-user back end would need a memfd.
	 *
	 * A PROT_NONE guard page on each side: host code running off the end
	 * of guest RAM faults instead of touching a neighbour, and the kernel
	 * cannot merge the RAM with an adjacent private mapping (another VM's
	 * RAM, a malloc arena), so each VM's RAM stays one line of
	 * /proc/PID/smaps.  Huge-page mappings never merge; they get none.
	 */
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | (hugepages ? MAP_HUGETLB : MAP_NORESERVE);
	uint64_t guard = hugepages ? 0 : PAGE_4K;
	void *p = mmap(NULL, bytes + 2 * guard, guard ? PROT_NONE : PROT_READ | PROT_WRITE, flags,
		       -1, 0);

	if (p != MAP_FAILED && guard &&
	    mprotect((uint8_t *)p + guard, bytes, PROT_READ | PROT_WRITE) < 0) {
		int err = errno;
		munmap(p, bytes + 2 * guard);
		errno = err;
		p = MAP_FAILED;
	}

	if (p == MAP_FAILED) {
		int err = errno;

		if (hugepages)
			modvm_log(MODVM_LOG_ERROR, NULL,
				  "vm '%s': cannot map %llu MiB of guest RAM with huge pages: %s "
				  "(reserve 2 MiB pages in /proc/sys/vm/nr_hugepages or set hugepages = false)",
				  vm->name, (unsigned long long)(bytes >> 20), strerror(err));
		else
			modvm_log(MODVM_LOG_ERROR, NULL,
				  "vm '%s': cannot map %llu MiB of guest RAM: %s", vm->name,
				  (unsigned long long)(bytes >> 20), strerror(err));
		return -err;
	}
	*out = (uint8_t *)p + guard;
	return 0;
}

MODVM_INTERNAL int modvm__guest_mem_map(struct modvm_vm *vm, uint64_t bytes, bool hugepages)
{
	struct modvm__guest_mem *m = &vm->mem;
	uint64_t align = hugepages ? PAGE_2M : PAGE_4K;
	uint64_t low;
	int r;

	if (bytes == 0 || bytes % align) {
		modvm_log(MODVM_LOG_ERROR, NULL,
			  "vm '%s': memory %llu bytes is not a positive multiple of %llu%s",
			  vm->name, (unsigned long long)bytes, (unsigned long long)align,
			  hugepages ? " (huge pages)" : "");
		return -EINVAL;
	}
	if (bytes > SIZE_MAX || bytes > (UINT64_MAX - MODVM_GPA_HIGH_RAM_START)) {
		modvm_log(MODVM_LOG_ERROR, NULL, "vm '%s': memory %llu bytes is too large",
			  vm->name, (unsigned long long)bytes);
		return -EINVAL;
	}
	r = map_ram(vm, bytes, hugepages, &m->base);
	if (r < 0)
		return r;
	m->size = bytes;
	m->hugepages = hugepages;

	low = bytes < MODVM_GPA_MMIO_HOLE_START ? bytes : MODVM_GPA_MMIO_HOLE_START;
	m->regions[0] = (struct modvm_ram_region){ .gpa = 0, .size = low, .hva = m->base, .slot = 0 };
	m->nregions = 1;
	if (bytes > low) {
		m->regions[1] = (struct modvm_ram_region){
			.gpa = MODVM_GPA_HIGH_RAM_START,
			.size = bytes - low,
			.hva = (uint8_t *)m->base + low,
			.slot = 1,
		};
		m->nregions = 2;
	}

	for (m->registered = 0; m->registered < m->nregions; m->registered++) {
		const struct modvm_ram_region *rg = &m->regions[m->registered];

		r = vm->be->set_memory(vm->cvm, rg->slot, rg->gpa, rg->size, rg->hva);
		if (r < 0) {
			modvm_log(MODVM_LOG_ERROR, NULL,
				  "vm '%s': backend refused memslot %u (gpa 0x%llx, %llu MiB): %s",
				  vm->name, rg->slot, (unsigned long long)rg->gpa,
				  (unsigned long long)(rg->size >> 20), modvm_strerror(r));
			modvm__guest_mem_unmap(vm);
			return r;
		}
	}
	return 0;
}

/* Removes the slots the backend knows, then the mapping.  Safe to repeat. */
MODVM_INTERNAL void modvm__guest_mem_unmap(struct modvm_vm *vm)
{
	struct modvm__guest_mem *m = &vm->mem;

	while (m->registered > 0) {
		const struct modvm_ram_region *rg = &m->regions[--m->registered];

		vm->be->set_memory(vm->cvm, rg->slot, rg->gpa, 0, rg->hva);
	}
	if (m->base && m->hugepages)
		munmap(m->base, m->size);
	else if (m->base)
		munmap((uint8_t *)m->base - PAGE_4K, m->size + 2 * PAGE_4K);
	m->base = NULL;
	m->size = 0;
	m->nregions = 0;
}

MODVM_EXPORT uint32_t modvm_vm_ram_region_count(const struct modvm_vm *vm)
{
	return vm->mem.nregions;
}

MODVM_EXPORT const struct modvm_ram_region *modvm_vm_ram_region(const struct modvm_vm *vm,
								  uint32_t index)
{
	return index < vm->mem.nregions ? &vm->mem.regions[index] : NULL;
}

MODVM_EXPORT void *modvm_gpa_to_hva(struct modvm_vm *vm, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		return NULL;
	for (uint32_t i = 0; i < vm->mem.nregions; i++) {
		const struct modvm_ram_region *rg = &vm->mem.regions[i];
		uint64_t off;

		if (gpa < rg->gpa)
			continue;
		off = gpa - rg->gpa;
		/* Subtractions only: gpa + len may wrap, size - off may not. */
		if (off < rg->size && len <= rg->size - off)
			return (uint8_t *)rg->hva + off;
	}
	return NULL;
}

MODVM_EXPORT int modvm_gpa_read(struct modvm_vm *vm, uint64_t gpa, void *buf, size_t len)
{
	void *src;

	if (len == 0)
		return 0;
	src = modvm_gpa_to_hva(vm, gpa, len);
	if (!src)
		return -EFAULT;
	memcpy(buf, src, len);
	return 0;
}

MODVM_EXPORT int modvm_gpa_write(struct modvm_vm *vm, uint64_t gpa, const void *buf, size_t len)
{
	void *dst;

	if (len == 0)
		return 0;
	dst = modvm_gpa_to_hva(vm, gpa, len);
	if (!dst)
		return -EFAULT;
	memcpy(dst, buf, len);
	return 0;
}
