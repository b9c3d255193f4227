/*
 * harness.c — host side of the guest-code test harness (see harness.h and
 * gtest_layout.h for the guest's memory map).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <modvm/kvm.h>
#include <modvm/plugin.h>

#include "harness.h"

#define PAGE 4096ull
#define HUGE_2M 0x200000ull
#define FREE_RAM (32ull << 20)	/* free RAM after the binary, for tests */

#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_US 0x4ull
#define PTE_PS 0x80ull

struct gvcpu {
	struct gvm *vm;
	unsigned id;
	struct modvm_cpu_vcpu *cpu;
	struct modvm_cpu_exit exit;
	unsigned timeout_ms;
	timer_t timer;
	int timer_tid;		/* thread the timer signals; 0 = no timer */
};

struct gvm {
	const struct modvm_cpu_backend *be;
	struct modvm_cpu_vm *vm;
	uint8_t *ram;
	uint64_t ram_size;
	uint64_t image_end;
	unsigned nr_vcpus;
	struct gvcpu *vcpus[GTEST_MAX_VCPUS];
};

/* Guest-side symbols (guest_lib.c); same address in host and guest. */
extern const uint8_t guest_exc_stubs[];
extern const uint8_t guest_returned_stub[];

/* ---- failure ---- */

void (*gtest_fail_hook)(const char *msg);

void gtest_fail(const char *file, int line, const char *fmt, ...)
{
	char msg[1024];
	int n = snprintf(msg, sizeof(msg), "%s:%d: ", file, line);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	if (gtest_fail_hook)
		gtest_fail_hook(msg);
	fprintf(stderr, "%s\n", msg);
	abort();
}

uint64_t gtest_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- backend ---- */

static const struct modvm_cpu_backend *backend;
static const char *backend_name;
static void *backend_handle;
static struct modvm_cpu_probe backend_probe;

const struct modvm_cpu_probe *gtest_backend_probe(void)
{
	return backend ? &backend_probe : NULL;
}

const struct modvm_cpu_backend *gtest_backend(const char **name)
{
	if (name)
		*name = backend_name;
	return backend;
}

/* Tries DIR/NAME.so; keeps it if it beats *best. */
static void try_plugin(const char *dir, const char *name, int *best, char *why, size_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s.so", dir, name);
	if (access(path, R_OK) != 0)
		return;
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(why, len, "%s: %s", path, dlerror());
		return;
	}
	const struct modvm_plugin *p = dlsym(h, "modvm_plugin_entry_v1");
	const struct modvm_cpu_backend *be =
		p && p->get_interface ? p->get_interface(NULL, MODVM_CPU_BACKEND_IFACE) : NULL;
	struct modvm_cpu_probe probe;
	memset(&probe, 0, sizeof(probe));
	if (be && be->probe(NULL, &probe) == 0 && probe.score > *best) {
		if (backend_handle)
			dlclose(backend_handle);
		backend_handle = h;
		backend = be;
		backend_name = p->name;
		backend_probe = probe;
		*best = probe.score;
		return;
	}
	if (be && *best <= 0)
		snprintf(why, len, "%s scores %d: %s", name, probe.score, probe.summary);
	dlclose(h);
}

int gtest_backend_load(char *why, size_t len)
{
	if (backend)
		return 0;
	snprintf(why, len, "no cpu-vmx.so or cpu-svm.so in MODVM_PLUGIN_PATH");
	const char *env = getenv("MODVM_PLUGIN_PATH");
	if (!env)
		return -ENOENT;
	char *list = strdup(env);
	if (!list)
		return -ENOMEM;
	int best = 0;
	char *save = NULL;
	for (char *dir = strtok_r(list, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		try_plugin(dir, "cpu-vmx", &best, why, len);
		try_plugin(dir, "cpu-svm", &best, why, len);
	}
	free(list);
	return backend ? 0 : -ENODEV;
}

void gtest_require_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("SKIP: /dev/kvm: %s\n", strerror(errno));
		fflush(stdout);
		exit(77);
	}
	close(fd);
	char why[512];
	if (gtest_backend_load(why, sizeof(why)) < 0) {
		printf("SKIP: no CPU backend can run guests here: %s\n", why);
		fflush(stdout);
		exit(77);
	}
}

/* ---- the VM ---- */

struct image_scan {
	struct gvm *vm;
	int mem_fd;
	int err;
};

/* Copies the main program's PT_LOAD segments to the same guest addresses. */
static int copy_segments(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	struct image_scan *s = data;
	struct gvm *vm = s->vm;
	if (info->dlpi_addr != 0) {
		s->err = -ENOEXEC;	/* a PIE: link addresses aren't run addresses */
		return 1;
	}
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uint64_t start = ph->p_vaddr & ~(PAGE - 1);
		uint64_t end = (ph->p_vaddr + ph->p_memsz + PAGE - 1) & ~(PAGE - 1);
		if (start < GTEST_IMAGE_MIN || end > vm->ram_size) {
			s->err = -ERANGE;
			return 1;
		}
		/*
		 * Through /proc/self/mem, not memcpy: ASan would call the
		 * redzones between instrumented globals an overflow.
		 */
		errno = 0;
		if (pread(s->mem_fd, vm->ram + start, end - start, (off_t)start) !=
		    (ssize_t)(end - start)) {
			s->err = errno ? -errno : -EIO;
			return 1;
		}
	}
	return 1;	/* the first object is the main program: done */
}

static int image_end(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	uint64_t *end = data;
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && info->dlpi_addr + ph->p_vaddr + ph->p_memsz > *end)
			*end = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
	}
	return 1;
}

static void put_seg_desc(uint64_t *gdt, unsigned sel, uint64_t access, uint64_t flags)
{
	/* base 0, limit 0xfffff (g=1): only the attributes matter in long mode. */
	gdt[sel / 8] = 0xffffull | (access << 40) | (0xfull << 48) | (flags << 52);
}

static void build_tables(struct gvm *vm)
{
	uint64_t *pml4 = (uint64_t *)(vm->ram + GTEST_PML4);
	uint64_t *pdpt = (uint64_t *)(vm->ram + GTEST_PDPT);
	pml4[0] = GTEST_PDPT | PTE_P | PTE_RW | PTE_US;
	for (uint64_t g = 0; g < 4; g++) {
		uint64_t *pd = (uint64_t *)(vm->ram + GTEST_PD + g * PAGE);
		pdpt[g] = (GTEST_PD + g * PAGE) | PTE_P | PTE_RW | PTE_US;
		for (uint64_t i = 0; i < 512; i++)
			pd[i] = ((g << 30) + i * HUGE_2M) | PTE_P | PTE_RW | PTE_US | PTE_PS;
	}

	uint64_t *gdt = (uint64_t *)(vm->ram + GTEST_GDT);
	/* access: P | DPL | S | type; flags: L (code) or DB (data), G. */
	put_seg_desc(gdt, GTEST_SEL_KCODE, 0x9b, 0xa);
	put_seg_desc(gdt, GTEST_SEL_KDATA, 0x93, 0xc);
	put_seg_desc(gdt, GTEST_SEL_UDATA, 0xf3, 0xc);
	put_seg_desc(gdt, GTEST_SEL_UCODE, 0xfb, 0xa);
	for (unsigned i = 0; i < GTEST_MAX_VCPUS; i++) {
		uint64_t base = GTEST_TSS + i * GTEST_TSS_STRIDE;
		uint64_t *d = &gdt[GTEST_SEL_TSS(i) / 8];
		/* 64-bit busy TSS (type 0xb), limit 0x67. */
		d[0] = 0x67ull | ((base & 0xffffff) << 16) | (0x8bull << 40) |
		       (((base >> 24) & 0xff) << 56);
		d[1] = base >> 32;
		/* RSP0 (offset 4): the top of this vCPU's kernel stack. */
		uint64_t rsp0 = GTEST_STACKS + (i + 1) * GTEST_STACK_AREA;
		memcpy(vm->ram + base + 4, &rsp0, 8);
		/* I/O map base past the limit: no I/O bitmap. */
		uint16_t iomap = 0x68;
		memcpy(vm->ram + base + 102, &iomap, 2);
	}

	uint64_t *idt = (uint64_t *)(vm->ram + GTEST_IDT);
	for (unsigned v = 0; v < 32; v++) {
		uint64_t h = (uint64_t)(uintptr_t)guest_exc_stubs + 16 * v;
		/* 64-bit interrupt gate, DPL 0, present, kernel code selector. */
		idt[2 * v] = (h & 0xffff) | ((uint64_t)GTEST_SEL_KCODE << 16) | (0x8eull << 40) |
			     (((h >> 16) & 0xffff) << 48);
		idt[2 * v + 1] = h >> 32;
	}
}

struct gvm *gvm_create(unsigned nr_vcpus)
{
	GTEST_ASSERT(backend, "no backend: call gtest_require_kvm() in main()");
	GTEST_ASSERT(nr_vcpus >= 1 && nr_vcpus <= GTEST_MAX_VCPUS, "nr_vcpus %u not in 1..%d",
		     nr_vcpus, GTEST_MAX_VCPUS);
	struct gvm *vm = calloc(1, sizeof(*vm));
	GTEST_ASSERT(vm, "out of memory");
	vm->be = backend;
	vm->nr_vcpus = nr_vcpus;

	dl_iterate_phdr(image_end, &vm->image_end);
	vm->image_end = (vm->image_end + HUGE_2M - 1) & ~(HUGE_2M - 1);
	vm->ram_size = vm->image_end + FREE_RAM;
	GTEST_ASSERT(vm->ram_size <= GTEST_NO_RAM_GPA, "test binary too large: ends at 0x%llx",
		     (unsigned long long)vm->image_end);
	vm->ram = mmap(NULL, vm->ram_size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	GTEST_ASSERT(vm->ram != MAP_FAILED, "mmap of %llu bytes of guest RAM: %s",
		     (unsigned long long)vm->ram_size, strerror(errno));

	struct image_scan scan = { .vm = vm, .mem_fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC) };
	GTEST_ASSERT(scan.mem_fd >= 0, "/proc/self/mem: %s", strerror(errno));
	dl_iterate_phdr(copy_segments, &scan);
	close(scan.mem_fd);
	GTEST_ASSERT(scan.err == 0, "cannot copy the test binary into guest RAM: %s",
		     scan.err == -ENOEXEC ? "it is a PIE (build with pie: false)"
		     : scan.err == -ERANGE ? "a segment lies outside 0x400000..RAM"
					   : strerror(-scan.err));
	build_tables(vm);

	struct modvm_cpu_vm_config cfg = {
		.struct_size = sizeof(cfg),
		.vcpus = nr_vcpus,
		.nested = false,
		.irqchip = false,	/* HLT and PIO exits reach us */
	};
	int rc = backend->vm_create(NULL, &cfg, &vm->vm);
	GTEST_ASSERT(rc == 0, "%s: vm_create: %s", backend_name, strerror(-rc));
	rc = backend->set_memory(vm->vm, 0, 0, vm->ram_size, vm->ram);
	GTEST_ASSERT(rc == 0, "%s: set_memory: %s", backend_name, strerror(-rc));
	return vm;
}

void gvm_destroy(struct gvm *vm)
{
	if (!vm)
		return;
	for (unsigned i = 0; i < GTEST_MAX_VCPUS; i++) {
		struct gvcpu *v = vm->vcpus[i];
		if (!v)
			continue;
		if (v->timer_tid)
			timer_delete(v->timer);
		vm->be->vcpu_destroy(v->cpu);
		free(v);
	}
	vm->be->vm_destroy(vm->vm);
	munmap(vm->ram, vm->ram_size);
	free(vm);
}

void *gvm_ptr(struct gvm *vm, uint64_t gva, size_t len)
{
	GTEST_ASSERT(gva < vm->ram_size && len <= vm->ram_size - gva,
		     "guest address 0x%llx (+%zu) is outside RAM (0x%llx bytes)",
		     (unsigned long long)gva, len, (unsigned long long)vm->ram_size);
	return vm->ram + gva;
}

uint64_t gvm_ram_size(const struct gvm *vm)
{
	return vm->ram_size;
}

uint64_t gvm_free_gpa(const struct gvm *vm)
{
	return vm->image_end;
}

struct modvm_cpu_vm *gvm_backend_vm(struct gvm *vm)
{
	return vm->vm;
}

static struct modvm_segment seg(uint16_t sel, uint8_t type, uint8_t dpl, bool code)
{
	return (struct modvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type, .present = 1,
		.dpl = dpl, .db = code ? 0 : 1, .s = 1, .l = code ? 1 : 0, .g = 1,
	};
}

struct gvcpu *gvm_vcpu_add(struct gvm *vm, unsigned id, guest_fn fn, uint64_t arg,
			   enum gtest_mode mode)
{
	GTEST_ASSERT(id < vm->nr_vcpus && !vm->vcpus[id], "vCPU %u: bad or duplicate id", id);
	struct gvcpu *v = calloc(1, sizeof(*v));
	GTEST_ASSERT(v, "out of memory");
	v->vm = vm;
	v->id = id;
	v->timeout_ms = GTEST_RUN_TIMEOUT_MS;
	int rc = vm->be->vcpu_create(vm->vm, id, &v->cpu);
	GTEST_ASSERT(rc == 0, "vCPU %u: vcpu_create: %s", id, strerror(-rc));
	vm->vcpus[id] = v;

	struct modvm_sregs s;
	rc = vm->be->get_sregs(v->cpu, &s);
	GTEST_ASSERT(rc == 0, "vCPU %u: get_sregs: %s", id, strerror(-rc));
	uint8_t dpl = mode == GTEST_CPL3 ? 3 : 0;
	uint16_t rpl = dpl;
	s.cs = seg((mode == GTEST_CPL3 ? GTEST_SEL_UCODE : GTEST_SEL_KCODE) | rpl, 0xb, dpl, true);
	s.ds = seg((mode == GTEST_CPL3 ? GTEST_SEL_UDATA : GTEST_SEL_KDATA) | rpl, 0x3, dpl, false);
	s.es = s.fs = s.gs = s.ss = s.ds;
	s.tr = (struct modvm_segment){
		.base = GTEST_TSS + id * GTEST_TSS_STRIDE, .limit = 0x67,
		.selector = GTEST_SEL_TSS(id), .type = 0xb, .present = 1,
	};
	s.ldt = (struct modvm_segment){ .type = 0x2 };
	s.gdt = (struct modvm_dtable){ .base = GTEST_GDT,
				       .limit = GTEST_SEL_TSS(GTEST_MAX_VCPUS) - 1 };
	s.idt = (struct modvm_dtable){ .base = GTEST_IDT, .limit = 256 * 16 - 1 };
	s.cr0 = 0x80010033;	/* PG WP NE ET MP PE */
	s.cr3 = GTEST_PML4;
	s.cr4 = 0x620;		/* OSXMMEXCPT OSFXSR PAE */
	s.efer = 0xd00;		/* NXE LMA LME */
	rc = vm->be->set_sregs(v->cpu, &s);
	GTEST_ASSERT(rc == 0, "vCPU %u: set_sregs: %s", id, strerror(-rc));

	/* Stack top 16-aligned minus the return address, as the ABI expects at entry. */
	uint64_t area = GTEST_STACKS + id * GTEST_STACK_AREA;
	uint64_t top = mode == GTEST_CPL3 ? area + GTEST_USER_STACK : area + GTEST_STACK_AREA;
	uint64_t ret = (uint64_t)(uintptr_t)guest_returned_stub;
	memcpy(vm->ram + top - 8, &ret, 8);
	struct modvm_regs r = {
		.rip = (uint64_t)(uintptr_t)fn,
		.rdi = arg,
		.rsp = top - 8,
		.rflags = 0x2,
	};
	rc = vm->be->set_regs(v->cpu, &r);
	GTEST_ASSERT(rc == 0, "vCPU %u: set_regs: %s", id, strerror(-rc));
	return v;
}

/* ---- running ---- */

struct modvm_cpu_vcpu *gvcpu_backend(struct gvcpu *vcpu)
{
	return vcpu->cpu;
}

void gvcpu_set_timeout(struct gvcpu *vcpu, unsigned ms)
{
	vcpu->timeout_ms = ms;
}

void gvcpu_kick(struct gvcpu *vcpu)
{
	vcpu->vm->be->vcpu_kick(vcpu->cpu);
}

/*
 * The watchdog: a timer that sends the backend's kick signal to the thread
 * in KVM_RUN.  It repeats every 20 ms after the deadline, so a signal that
 * lands just before KVM_RUN is entered is followed by one that lands inside.
 */
static void watchdog_arm(struct gvcpu *v, bool on)
{
	int tid = (int)syscall(SYS_gettid);
	if (on && v->timer_tid != tid) {
		if (v->timer_tid)
			timer_delete(v->timer);
		v->timer_tid = 0;
		struct sigevent sev;
		memset(&sev, 0, sizeof(sev));
		sev.sigev_notify = SIGEV_THREAD_ID;
		sev.sigev_signo = modvm_kvm_kick_signal();
		sev._sigev_un._tid = tid;
		GTEST_ASSERT(timer_create(CLOCK_MONOTONIC, &sev, &v->timer) == 0,
			     "timer_create: %s", strerror(errno));
		v->timer_tid = tid;
	}
	if (!v->timer_tid)
		return;
	struct itimerspec its;
	memset(&its, 0, sizeof(its));
	if (on) {
		its.it_value.tv_sec = v->timeout_ms / 1000;
		its.it_value.tv_nsec = (long)(v->timeout_ms % 1000) * 1000000;
		its.it_interval.tv_nsec = 20 * 1000000;
	}
	timer_settime(v->timer, 0, &its, NULL);
}

int __gvcpu_run(struct gvcpu *v, struct modvm_cpu_exit **exit)
{
	uint64_t deadline = gtest_now_ns() + (uint64_t)v->timeout_ms * 1000000ull;
	watchdog_arm(v, true);
	int rc = v->vm->be->vcpu_run(v->cpu, &v->exit);
	watchdog_arm(v, false);
	*exit = &v->exit;
	if (rc < 0)
		return rc;
	if (v->exit.kind == MODVM_EXIT_INTR && gtest_now_ns() >= deadline)
		return -ETIMEDOUT;
	return 0;
}

struct modvm_cpu_exit *gvcpu_run(struct gvcpu *v)
{
	struct modvm_cpu_exit *exit;
	int rc = __gvcpu_run(v, &exit);
	if (rc == -ETIMEDOUT)
		gtest_fail(__FILE__, __LINE__, "vCPU %u: still running after %u ms", v->id,
			   v->timeout_ms);
	GTEST_ASSERT(rc == 0, "vCPU %u: vcpu_run: %s", v->id, strerror(-rc));
	return exit;
}

uint64_t __gvcpu_get_ucall(struct gvcpu *v, const struct modvm_cpu_exit *exit, struct ucall *uc)
{
	if (exit->kind != MODVM_EXIT_MMIO || exit->mmio.addr != GTEST_UCALL_GPA ||
	    !exit->mmio.is_write || exit->mmio.len != 8)
		return UCALL_NONE;
	uint64_t gva;
	memcpy(&gva, exit->mmio.data, 8);
	memcpy(uc, gvm_ptr(v->vm, gva, sizeof(*uc)), sizeof(*uc));
	return uc->cmd;
}

uint64_t gvcpu_run_ucall(struct gvcpu *v, struct ucall *uc)
{
	struct modvm_cpu_exit *exit = gvcpu_run(v);
	char buf[512];
	uint64_t cmd = __gvcpu_get_ucall(v, exit, uc);
	GTEST_ASSERT(cmd != UCALL_NONE, "vCPU %u: expected a ucall, got %s", v->id,
		     gexit_format(exit, buf, sizeof(buf)));
	GTEST_ASSERT(cmd != UCALL_ABORT && cmd != UCALL_UNHANDLED, "vCPU %u: %s", v->id,
		     gucall_format(uc, buf, sizeof(buf)));
	return cmd;
}

const char *gucall_format(const struct ucall *uc, char *buf, size_t len)
{
	switch (uc->cmd) {
	case UCALL_UNHANDLED:
		snprintf(buf, len, "guest exception: vector %llu, error code 0x%llx, rip 0x%llx, cr2 0x%llx",
			 (unsigned long long)uc->args[0], (unsigned long long)uc->args[1],
			 (unsigned long long)uc->args[2], (unsigned long long)uc->args[3]);
		break;
	case UCALL_ABORT:
		snprintf(buf, len, "%s:%llu: guest assertion failed: %s (0x%llx, 0x%llx)",
			 uc->file ? uc->file : "?", (unsigned long long)uc->line,
			 uc->expr ? uc->expr : "?", (unsigned long long)uc->args[0],
			 (unsigned long long)uc->args[1]);
		break;
	default:
		snprintf(buf, len, "%s:%llu: ucall %llu (0x%llx)", uc->file ? uc->file : "?",
			 (unsigned long long)uc->line, (unsigned long long)uc->cmd,
			 (unsigned long long)uc->args[0]);
		break;
	}
	return buf;
}

const char *gexit_format(const struct modvm_cpu_exit *e, char *buf, size_t len)
{
	const char *name = modvm_cpu_exit_name(e->kind);
	switch (e->kind) {
	case MODVM_EXIT_PIO:
		snprintf(buf, len, "pio %s port 0x%x size %u", e->pio.is_write ? "out" : "in",
			 e->pio.port, e->pio.size);
		break;
	case MODVM_EXIT_MMIO:
		snprintf(buf, len, "mmio %s 0x%llx len %u", e->mmio.is_write ? "write" : "read",
			 (unsigned long long)e->mmio.addr, e->mmio.len);
		break;
	case MODVM_EXIT_INTERNAL_ERROR:
		snprintf(buf, len, "internal-error suberror %u (data 0x%llx 0x%llx)",
			 e->internal.suberror, (unsigned long long)e->internal.data[0],
			 (unsigned long long)e->internal.data[1]);
		break;
	case MODVM_EXIT_FAIL_ENTRY:
		snprintf(buf, len, "fail-entry reason 0x%llx",
			 (unsigned long long)e->fail_entry.reason);
		break;
	default:
		snprintf(buf, len, "%s (raw %u)", name, e->raw_reason);
		break;
	}
	return buf;
}
