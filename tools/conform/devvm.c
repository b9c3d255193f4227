/*
 * A device plugin's devices without a guest: the real VM runtime over a CPU
 * backend whose vCPUs never exist, so the plugin's setup hook adds its
 * virtio-mmio windows exactly as in `modvm run`, and the kit plays the guest
 * driver through the VM's iobus (the spare reader slot the runtime keeps for
 * tests).  Guest RAM is moved between two PROT_NONE pages, so a device that
 * runs off the end (or the start) of guest memory faults at once; the fault
 * handler turns that into a verdict naming the step.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <modvm/virtio.h>

#include "host/host.h"
#include "sandbox/sandbox.h"
#include "vm/vm.h"
#include "conform.h"

#define PAGE 4096ull
#define DEFAULT_MEMORY "64M"
/* Random bytes in the low RAM the fuzzed rings point into; the rest stays 0. */
#define RANDOM_FILL (2ull << 20)

bool devvm_filter_io_threads;
struct devvm_step devvm_step;

/* ---- a CPU backend that only holds memory: nothing here ever runs ---- */

struct modvm_cpu_vm {
	int unused;
};

static int nop_probe(struct modvm_plugin_ctx *ctx, struct modvm_cpu_probe *out)
{
	(void)ctx;
	memset(out, 0, sizeof(*out));
	out->struct_size = sizeof(*out);
	return 0;
}

static int nop_vm_create(struct modvm_plugin_ctx *ctx, const struct modvm_cpu_vm_config *cfg,
			 struct modvm_cpu_vm **out)
{
	(void)ctx;
	(void)cfg;
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

static void nop_vm_destroy(struct modvm_cpu_vm *vm)
{
	free(vm);
}

static int nop_set_memory(struct modvm_cpu_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size,
			  void *hva)
{
	(void)vm, (void)slot, (void)gpa, (void)size, (void)hva;
	return 0;
}

static int nop_vcpu_create(struct modvm_cpu_vm *vm, uint32_t index, struct modvm_cpu_vcpu **out)
{
	(void)vm, (void)index, (void)out;
	return -ENOTSUP;
}

static void nop_vcpu_destroy(struct modvm_cpu_vcpu *vcpu)
{
	(void)vcpu;
}

static int nop_vcpu_run(struct modvm_cpu_vcpu *vcpu, struct modvm_cpu_exit *exit)
{
	(void)vcpu, (void)exit;
	return -ENOTSUP;
}

static void nop_vcpu_kick(struct modvm_cpu_vcpu *vcpu)
{
	(void)vcpu;
}

static int nop_regs(struct modvm_cpu_vcpu *vcpu, struct modvm_regs *regs)
{
	(void)vcpu, (void)regs;
	return -ENOTSUP;
}

static int nop_set_regs(struct modvm_cpu_vcpu *vcpu, const struct modvm_regs *regs)
{
	(void)vcpu, (void)regs;
	return -ENOTSUP;
}

static int nop_sregs(struct modvm_cpu_vcpu *vcpu, struct modvm_sregs *sregs)
{
	(void)vcpu, (void)sregs;
	return -ENOTSUP;
}

static int nop_set_sregs(struct modvm_cpu_vcpu *vcpu, const struct modvm_sregs *sregs)
{
	(void)vcpu, (void)sregs;
	return -ENOTSUP;
}

/* Interrupts go nowhere; a device raising one is fine. */
static int nop_irq_line(struct modvm_cpu_vm *vm, uint32_t gsi, bool level)
{
	(void)vm, (void)gsi, (void)level;
	return 0;
}

/* No irqfd/ioeventfd: devices fall back to exits, which the kit makes. */
static int nop_irqfd(struct modvm_cpu_vm *vm, uint32_t gsi, int fd, bool assign)
{
	(void)vm, (void)gsi, (void)fd, (void)assign;
	return -ENOTSUP;
}

static int nop_ioeventfd(struct modvm_cpu_vm *vm, uint64_t addr, uint32_t len, bool pio, int fd,
			 bool assign)
{
	(void)vm, (void)addr, (void)len, (void)pio, (void)fd, (void)assign;
	return -ENOTSUP;
}

static const struct modvm_cpu_backend nop_backend = {
	.struct_size = sizeof(struct modvm_cpu_backend),
	.probe = nop_probe,
	.vm_create = nop_vm_create,
	.vm_destroy = nop_vm_destroy,
	.set_memory = nop_set_memory,
	.vcpu_create = nop_vcpu_create,
	.vcpu_destroy = nop_vcpu_destroy,
	.vcpu_run = nop_vcpu_run,
	.vcpu_kick = nop_vcpu_kick,
	.get_regs = nop_regs,
	.set_regs = nop_set_regs,
	.get_sregs = nop_sregs,
	.set_sregs = nop_set_sregs,
	.irq_line = nop_irq_line,
	.irqfd = nop_irqfd,
	.ioeventfd = nop_ioeventfd,
};

/* ---- faults: the last words of a check that touched what it must not ---- */

static uintptr_t guard_lo, guard_hi, ram_lo, ram_hi;

static void describe_step(char *buf, size_t n)
{
	const struct devvm_step *s = &devvm_step;
	int len;

	if (s->scenario)
		len = snprintf(buf, n, "queue %u, scenario \"%s\"", s->queue, s->scenario);
	else
		len = snprintf(buf, n, "access #%llu", (unsigned long long)s->index);
	if (len < 0 || (size_t)len >= n)
		return;
	if (s->in_access)
		snprintf(buf + len, n - (size_t)len, ", %s %u bytes at window %u + 0x%03llx = 0x%llx",
			 s->is_write ? "write" : "read", s->len, s->window,
			 (unsigned long long)s->offset, (unsigned long long)s->value);
	else
		snprintf(buf + len, n - (size_t)len, ", window %u", s->window);
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	char where[160], step[240], detail[512];

	(void)uc;
	if (a >= guard_hi && a < guard_hi + PAGE)
		snprintf(where, sizeof(where), "touched the guard page past the end of guest RAM (end+%llu)",
			 (unsigned long long)(a - ram_hi));
	else if (a >= guard_lo && a < guard_lo + PAGE)
		snprintf(where, sizeof(where), "touched the guard page before guest RAM (start-%llu)",
			 (unsigned long long)(ram_lo - a));
	else
		snprintf(where, sizeof(where),
			 "touched unmapped host address %p, outside guest RAM (a guest address used as a pointer?)",
			 si->si_addr);
	describe_step(step, sizeof(step));
	snprintf(detail, sizeof(detail), "%s during %s; replay: --seed %llu --check %s", where, step, (unsigned long long)devvm_step.seed,
		 devvm_step.check ? devvm_step.check : "?");
	conform_last_words(detail);
	/* Die of the same fault, so the parent still sees the signal. */
	signal(sig, SIG_DFL);
}

/* Present in sanitizer builds: the report itself goes to stderr (-v). */
extern void __sanitizer_set_death_callback(void (*)(void)) __attribute__((weak));

static void on_sanitizer_death(void)
{
	char step[240], detail[400];

	describe_step(step, sizeof(step));
	snprintf(detail, sizeof(detail),
		 "sanitizer error in the plugin during %s (-v shows the report); replay: --seed %llu --check %s",
		 step, (unsigned long long)devvm_step.seed,
		 devvm_step.check ? devvm_step.check : "?");
	conform_last_words(detail);
}

static void install_fault_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(on_sanitizer_death);
}

/* ---- the config: the user's VMs, or one generated VM ---- */

static bool has_vms(const char *path)
{
	struct modvm_host *h = modvm__host_new();
	bool ok = h && modvm__host_load_config(h, path) == 0 && modvm__host_vm_count(h) > 0;

	modvm__host_free(h);
	return ok;
}

/*
 * One VM with an empty group for the plugin (its per-VM defaults), on top of
 * the user's config if there is one.  A VM group needs the plugin enabled in
 * `plugins`, which we add unless the user's file has that group already.
 */
static int write_config(const char *user, const char *plugin, bool add_plugins, char *path,
			size_t n)
{
	char real[4096];
	FILE *f;
	int fd;

	snprintf(path, n, "/tmp/modvm-conform-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(path);
		return -ENOMEM;
	}
	if (user && realpath(user, real))
		fprintf(f, "@include \"%s\"\n", real);
	if (add_plugins)
		fprintf(f, "plugins = { %s = { enabled = true; }; };\n", plugin);
	fprintf(f, "vms = ( { name = \"conform\"; memory = \"%s\"; %s = { }; } );\n",
		DEFAULT_MEMORY, plugin);
	if (fclose(f) != 0) {
		unlink(path);
		return -EIO;
	}
	return 0;
}

static enum verdict open_host(struct devvm *d, const struct conform_opts *o, char *detail,
			      size_t n)
{
	struct conform_opts mine = *o;
	const struct modvm_plugin *desc;
	char path[64] = "";
	enum verdict v;

	if (o->config && has_vms(o->config))
		return harness_open(&d->h, o, detail, n);
	v = conform_raw_desc(o, &desc, detail, n);
	if (v != V_PASS)
		return v;
	/* Without the user's plugins group first, then with ours. */
	for (int add = 0; add < 2 && !path[0]; add++) {
		if (!o->config && !add)
			continue;
		if (write_config(o->config, desc->name, add, path, sizeof(path)) < 0) {
			snprintf(detail, n, "cannot write a config in /tmp");
			return V_FAIL;
		}
		if (!has_vms(path)) {
			unlink(path);
			path[0] = '\0';
		}
	}
	if (!path[0]) {
		snprintf(detail, n, "cannot give a VM a \"%s\" group on top of --config %s",
			 desc->name, o->config ? o->config : "(none)");
		return V_SKIP;
	}
	mine.config = path;
	v = harness_open(&d->h, &mine, detail, n);
	unlink(path);	/* parsed: the host keeps what it needs */
	return v;
}

/* ---- the VM ---- */

/* Moves the RAM mapping between two PROT_NONE pages (before any device
 * exists, so nobody holds a pointer into the old place). */
static int guard_ram(struct devvm *d)
{
	struct modvm__guest_mem *m = &d->vm->mem;
	uint8_t *res, *mid;

	res = mmap(NULL, m->size + 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (res == MAP_FAILED)
		return -errno;
	mid = res + PAGE;
	if (mremap(m->base, m->size, m->size, MREMAP_MAYMOVE | MREMAP_FIXED, mid) == MAP_FAILED) {
		int err = -errno;

		munmap(res, m->size + 2 * PAGE);
		return err;
	}
	for (uint32_t i = 0; i < m->nregions; i++)
		m->regions[i].hva = mid + ((uint8_t *)m->regions[i].hva - (uint8_t *)m->base);
	m->base = mid;
	d->guard_lo = res;
	d->guard_hi = mid + m->size;
	d->ram_total = m->size;
	guard_lo = (uintptr_t)res;
	guard_hi = (uintptr_t)d->guard_hi;
	ram_lo = (uintptr_t)mid;
	ram_hi = guard_hi;
	return 0;
}

static int create_vm(struct devvm *d, char *detail, size_t n)
{
	const struct modvm_config *c = modvm__host_vm_config(d->h.host, 0);
	struct modvm_vm_config vc = {
		.struct_size = sizeof(vc),
		.vm_id = 0,
		.name = modvm__host_vm_name(d->h.host, 0),
		.vcpus = (uint32_t)modvm_config_int(c, "vcpus"),
		.memory_bytes = modvm_config_size(c, "memory"),
	};
	int r = __modvm_vm_create(&nop_backend, NULL, &vc, &d->vm);

	if (r < 0) {
		snprintf(detail, n, "cannot create VM \"%s\" (%llu bytes): %s", vc.name,
			 (unsigned long long)vc.memory_bytes, harness_last_log());
		return r;
	}
	r = guard_ram(d);
	if (r < 0) {
		snprintf(detail, n, "cannot put guard pages around guest RAM: %s", strerror(-r));
		return r;
	}
	d->ram = modvm_vm_ram_region(d->vm, 0)->hva;
	d->ram_size = modvm_vm_ram_region(d->vm, 0)->size;
	return 0;
}

static void fill_ram(struct devvm *d, uint64_t seed)
{
	uint64_t st = seed ^ 0x5eedf111ull;
	uint64_t len = d->ram_size < RANDOM_FILL ? d->ram_size : RANDOM_FILL;

	for (uint64_t i = 0; i + 8 <= len; i += 8) {
		uint64_t x = conform_rand(&st);

		memcpy(d->ram + i, &x, 8);
	}
}

static int run_setup(struct devvm *d)
{
	struct modvm_plugin_ctx *p = d->h.ctx, *prev;
	int r;

	prev = modvm__plugin_enter(p);
	r = p->vm_hooks->setup(p, d->vm, d->vm_id, p->vm_hooks_ud);
	modvm__plugin_leave(prev);
	return r;
}

enum verdict devvm_open(struct devvm *d, const struct conform_opts *o, char *detail, size_t n)
{
	enum verdict v;
	int r;

	memset(d, 0, sizeof(*d));
	devvm_step.seed = o->seed;
	v = open_host(d, o, detail, n);
	if (v != V_PASS)
		return v;
	if ((r = harness_init(&d->h)) < 0 || (r = harness_start(&d->h)) < 0) {
		snprintf(detail, n, "init/start failed: %s", modvm_strerror(r));
		return V_FAIL;
	}
	if (!d->h.ctx->vm_hooks || !d->h.ctx->vm_hooks->setup) {
		snprintf(detail, n, "not a device plugin (no VM setup hook)");
		return V_SKIP;
	}
	/* A VM made after the lockdown (a guest's reboot) gets I/O threads
	 * filtered with all that init and start declared. */
	if (devvm_filter_io_threads)
		modvm__sandbox_filter_io_threads_for_test(true);
	if (create_vm(d, detail, n) < 0)
		return V_FAIL;
	fill_ram(d, o->seed);
	install_fault_handlers();
	r = run_setup(d);
	if (r < 0) {
		snprintf(detail, n, "setup hook failed on VM \"%s\": %s (%s)", modvm_vm_name(d->vm),
			 modvm_strerror(r), harness_last_log());
		return V_FAIL;
	}
	d->set_up = true;
	d->nwin = modvm__vm_virtio_count(d->vm);
	if (d->nwin > DEVVM_MAX_WINDOWS)
		d->nwin = DEVVM_MAX_WINDOWS;
	for (unsigned i = 0; i < d->nwin; i++)
		d->win_base[i] = modvm_virtio_mmio_base(modvm__vm_virtio(d->vm, i));
	if (!d->nwin) {
		snprintf(detail, n, "setup hook added no virtio-mmio device to VM \"%s\"",
			 modvm_vm_name(d->vm));
		return V_SKIP;
	}
	return V_PASS;
}

static void vcpu_stop(struct devvm *d);

enum verdict devvm_close(struct devvm *d, char *detail, size_t n)
{
	struct modvm_plugin_ctx *p = d->h.ctx, *prev;
	struct modvm_iobus_stats st = { 0 };
	enum verdict v = V_PASS;

	devvm_step.scenario = "teardown";
	devvm_step.in_access = false;
	vcpu_stop(d);
	if (d->vm && d->set_up && p->vm_hooks && p->vm_hooks->teardown) {
		prev = modvm__plugin_enter(p);
		p->vm_hooks->teardown(p, d->vm, d->vm_id, p->vm_hooks_ud);
		modvm__plugin_leave(prev);
	}
	if (d->vm && d->set_up && modvm_iobus_get_stats(d->vm, MODVM_IOBUS_MMIO, &st) == 0 &&
	    st.ranges) {
		snprintf(detail, n, "teardown hook left %u MMIO range(s) registered", st.ranges);
		v = V_FAIL;
	}
	devvm_settle(d);
	modvm_vm_destroy(d->vm);	/* unmaps the RAM between the guards */
	d->vm = NULL;
	if (d->guard_lo) {
		munmap(d->guard_lo, PAGE);
		munmap(d->guard_hi, PAGE);
	}
	if (d->h.ctx && d->h.ctx->started)
		harness_stop(&d->h);
	if (d->h.host)
		harness_close(&d->h);
	return v;
}

/* ---- accesses on a thread under the vCPU filter (sandbox-vcpu) ---- */

struct devvm_vcpu {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum { VC_STARTING, VC_IDLE, VC_ACCESS, VC_QUIT } state;
	int err;		/* the filter's installation */
	struct devvm *d;
	uint64_t addr;
	uint8_t *data;
	uint32_t len;
	bool is_write;
};

static void dispatch(struct devvm *d, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	/* the runtime's spare reader slot: one access at a time uses it */
	modvm__iobus_dispatch(d->vm->iobus, d->vm->nvcpus, MODVM_IOBUS_MMIO, addr, data, len,
			      is_write);
}

static void *vcpu_main(void *arg)
{
	struct devvm_vcpu *vc = arg;

	pthread_setname_np(pthread_self(), "vcpu0");	/* as the report names it in modvm */
	int err = modvm__sandbox_apply_class_for_test(MODVM__TC_VCPU, NULL);

	pthread_mutex_lock(&vc->lock);
	vc->err = err;
	vc->state = err < 0 ? VC_QUIT : VC_IDLE;
	pthread_cond_broadcast(&vc->cond);
	while (vc->state != VC_QUIT) {
		if (vc->state == VC_ACCESS) {
			dispatch(vc->d, vc->addr, vc->data, vc->len, vc->is_write);
			vc->state = VC_IDLE;
			pthread_cond_broadcast(&vc->cond);
		}
		pthread_cond_wait(&vc->cond, &vc->lock);
	}
	pthread_mutex_unlock(&vc->lock);
	return NULL;
}

int devvm_vcpu_start(struct devvm *d)
{
	struct devvm_vcpu *vc = calloc(1, sizeof(*vc));
	int r;

	if (!vc)
		return -ENOMEM;
	pthread_mutex_init(&vc->lock, NULL);
	pthread_cond_init(&vc->cond, NULL);
	vc->d = d;
	r = -pthread_create(&vc->thread, NULL, vcpu_main, vc);
	if (r < 0) {
		free(vc);
		return r;
	}
	pthread_mutex_lock(&vc->lock);
	while (vc->state == VC_STARTING)
		pthread_cond_wait(&vc->cond, &vc->lock);
	r = vc->err;
	pthread_mutex_unlock(&vc->lock);
	if (r < 0) {
		pthread_join(vc->thread, NULL);
		free(vc);
		return r;
	}
	d->vcpu = vc;
	return 0;
}

static void vcpu_stop(struct devvm *d)
{
	struct devvm_vcpu *vc = d->vcpu;

	if (!vc)
		return;
	pthread_mutex_lock(&vc->lock);
	vc->state = VC_QUIT;
	pthread_cond_broadcast(&vc->cond);
	pthread_mutex_unlock(&vc->lock);
	pthread_join(vc->thread, NULL);
	pthread_cond_destroy(&vc->cond);
	pthread_mutex_destroy(&vc->lock);
	free(vc);
	d->vcpu = NULL;
}

void devvm_access(struct devvm *d, unsigned w, uint64_t off, uint8_t *data, uint32_t len,
		  bool is_write)
{
	struct devvm_vcpu *vc = d->vcpu;

	devvm_step.window = w;
	devvm_step.offset = off;
	devvm_step.len = len;
	devvm_step.is_write = is_write;
	devvm_step.value = d->win_base[w] + off;
	devvm_step.in_access = true;
	if (!vc || (d->kicks_on_loop && is_write && off == MODVM_VIRTIO_MMIO_QUEUE_NOTIFY)) {
		dispatch(d, d->win_base[w] + off, data, len, is_write);
	} else {
		pthread_mutex_lock(&vc->lock);
		vc->addr = d->win_base[w] + off;
		vc->data = data;
		vc->len = len;
		vc->is_write = is_write;
		vc->state = VC_ACCESS;
		pthread_cond_broadcast(&vc->cond);
		while (vc->state == VC_ACCESS)
			pthread_cond_wait(&vc->cond, &vc->lock);
		pthread_mutex_unlock(&vc->lock);
	}
	devvm_step.in_access = false;
}

uint32_t devvm_read32(struct devvm *d, unsigned w, uint64_t off)
{
	uint8_t b[4];

	devvm_access(d, w, off, b, 4, false);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

void devvm_write32(struct devvm *d, unsigned w, uint64_t off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	devvm_access(d, w, off, b, 4, true);
}

void devvm_settle(struct devvm *d)
{
	modvm__loop_run_once(modvm__host_loop(d->h.host));
	modvm__bus_drain(modvm__host_bus(d->h.host));
}
