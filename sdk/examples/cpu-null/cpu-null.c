/*
 * cpu-null — an out-of-tree CPU backend (kind MODVM_KIND_CPU_BACKEND)
 * written against the installed SDK only: it implements
 * "modvm.cpu-backend/1" (modvm/cpu.h) with vCPUs that run no guest code.
 * On a host without KVM (a container, a CI runner) everything of a VM but
 * the guest still runs: its devices, the plugins' setup hooks, events,
 * `modvm ctl`.  It is also the smallest backend to copy.
 *
 * What it shows:
 *  - probe is pure and always says yes, with a score of 1: a KVM backend
 *    that can run scores 10 or more, so host.cpu.backend = "auto" takes
 *    cpu-null only when nothing else can run guests;
 *  - a VM is bookkeeping: set_memory records the slots, nothing maps them;
 *  - vcpu_run sleeps until vcpu_kick, then returns MODVM_EXIT_INTR.  The
 *    core then ends the vCPU if its VM is stopping, else runs it again: the
 *    vCPU idles without using a CPU.  A kick that comes between two runs is
 *    kept for the next one, because the core's stop may kick just then;
 *  - the registers are stored, so the core's boot setup (set_sregs,
 *    set_regs) works and reads back what it wrote;
 *  - no interrupt controller: irq_line, signal_msi, irqfd and ioeventfd
 *    are NULL, the core answers -ENOTSUP for them and its devices cope;
 *  - no vcpu_halted: the guest never stops itself, a VM runs until it is
 *    stopped (`modvm ctl stop`, SIGTERM).
 *
 * Use it (host.cpu.slat "required" refuses it: it has no SLAT):
 *     host = { cpu = { backend = "cpu-null"; }; };
 *     plugins = { cpu-null = { enabled = true; }; };
 * modvm-conform's cpu-backend check runs a vCPU of it and kicks it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/cpu.h>
#include <modvm/plugin.h>
#include <modvm/vm.h>

#define NAME "cpu-null"
#define MAX_SLOTS 32
#define PAGE_MASK 0xfffull

struct slot {
	uint64_t gpa, size;	/* size 0: unused */
	void *hva;
};

struct modvm_cpu_vm {
	uint32_t vcpus;
	struct slot slots[MAX_SLOTS];
};

struct modvm_cpu_vcpu {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool kicked;		/* under lock: the next (or current) run returns */
	struct modvm_regs regs;	/* only the vCPU's own thread touches these */
	struct modvm_sregs sregs;
};

static int null_probe(struct modvm_plugin_ctx *ctx, struct modvm_cpu_probe *out)
{
	(void)ctx;
	*out = (struct modvm_cpu_probe){ .struct_size = sizeof(*out), .score = 1 };
	out->caps.max_vcpus = MODVM_VM_MAX_VCPUS;
	snprintf(out->summary, sizeof(out->summary),
		 "runs no guest code (vCPUs idle until stopped); chosen by \"auto\" only when "
		 "no other backend can run");
	return 0;
}

static int null_vm_create(struct modvm_plugin_ctx *ctx, const struct modvm_cpu_vm_config *cfg,
			  struct modvm_cpu_vm **out)
{
	struct modvm_cpu_vm *vm;

	if (cfg->vcpus == 0)
		return -EINVAL;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->vcpus = cfg->vcpus;
	modvm_plugin_log(ctx, MODVM_LOG_INFO, "a VM with %u vCPU(s) that will run no guest code",
			 cfg->vcpus);
	*out = vm;
	return 0;
}

static void null_vm_destroy(struct modvm_cpu_vm *vm)
{
	free(vm);
}

static int null_set_memory(struct modvm_cpu_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size,
			   void *hva)
{
	/* What KVM would refuse, refused here too: a plugin tested on cpu-null
	 * must not break on a real backend. */
	if (slot >= MAX_SLOTS || (gpa & PAGE_MASK) || (size & PAGE_MASK) ||
	    ((uintptr_t)hva & PAGE_MASK))
		return -EINVAL;
	vm->slots[slot] = (struct slot){ .gpa = gpa, .size = size, .hva = size ? hva : NULL };
	return 0;
}

/* The reset state a real vCPU starts in: real mode, first fetch at 0xfffffff0. */
static void reset_state(struct modvm_cpu_vcpu *v)
{
	v->regs = (struct modvm_regs){ .rip = 0xfff0, .rflags = 0x2 };
	v->sregs = (struct modvm_sregs){ .cr0 = 0x60000010 };
	v->sregs.cs = (struct modvm_segment){ .base = 0xffff0000, .limit = 0xffff,
					      .selector = 0xf000, .type = 0xb, .present = 1,
					      .s = 1 };
}

static int null_vcpu_create(struct modvm_cpu_vm *vm, uint32_t index, struct modvm_cpu_vcpu **out)
{
	struct modvm_cpu_vcpu *v;

	if (index >= vm->vcpus)
		return -EINVAL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->wake, NULL);
	reset_state(v);
	*out = v;
	return 0;
}

static void null_vcpu_destroy(struct modvm_cpu_vcpu *v)
{
	pthread_cond_destroy(&v->wake);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

/* Sleeps until kicked; returning anything sooner would make the core spin. */
static int null_vcpu_run(struct modvm_cpu_vcpu *v, struct modvm_cpu_exit *exit)
{
	pthread_mutex_lock(&v->lock);
	while (!v->kicked)
		pthread_cond_wait(&v->wake, &v->lock);
	v->kicked = false;
	pthread_mutex_unlock(&v->lock);
	memset(exit, 0, sizeof(*exit));
	exit->kind = MODVM_EXIT_INTR;
	return 0;
}

static void null_vcpu_kick(struct modvm_cpu_vcpu *v)
{
	pthread_mutex_lock(&v->lock);
	v->kicked = true;
	pthread_cond_signal(&v->wake);
	pthread_mutex_unlock(&v->lock);
}

static int null_get_regs(struct modvm_cpu_vcpu *v, struct modvm_regs *regs)
{
	*regs = v->regs;
	return 0;
}

static int null_set_regs(struct modvm_cpu_vcpu *v, const struct modvm_regs *regs)
{
	v->regs = *regs;
	return 0;
}

static int null_get_sregs(struct modvm_cpu_vcpu *v, struct modvm_sregs *sregs)
{
	*sregs = v->sregs;
	return 0;
}

static int null_set_sregs(struct modvm_cpu_vcpu *v, const struct modvm_sregs *sregs)
{
	v->sregs = *sregs;
	return 0;
}

static const struct modvm_cpu_backend null_backend = {
	.struct_size = sizeof(struct modvm_cpu_backend),
	.probe = null_probe,
	.vm_create = null_vm_create,
	.vm_destroy = null_vm_destroy,
	.set_memory = null_set_memory,
	.vcpu_create = null_vcpu_create,
	.vcpu_destroy = null_vcpu_destroy,
	.vcpu_run = null_vcpu_run,
	.vcpu_kick = null_vcpu_kick,
	.get_regs = null_get_regs,
	.set_regs = null_set_regs,
	.get_sregs = null_get_sregs,
	.set_sregs = null_set_sregs,
};

static const void *null_get_interface(struct modvm_plugin_ctx *ctx, const char *id)
{
	(void)ctx;
	return id && strcmp(id, MODVM_CPU_BACKEND_IFACE) == 0 ? &null_backend : NULL;
}

MODVM_PLUGIN(.name = NAME, .kind = MODVM_KIND_CPU_BACKEND, .version = "1.0.0",
	     .license = "MIT", .description = "vCPUs that run no guest code (hosts without KVM)",
	     .get_interface = null_get_interface);
