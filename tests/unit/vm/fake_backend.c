/* The scripted fake CPU backend (see fake_backend.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_backend.h"

struct modvm_cpu_vm {
	struct fake_backend *fb;
	bool irqchip;
};

struct modvm_cpu_vcpu {
	struct fake_backend *fb;
	bool irqchip;
	unsigned index;
	unsigned pos;
	uint64_t play;
	int pending_read;	/* step whose answer the next run records, or -1 */
	uint32_t pending_len;
	bool ran;
	_Atomic bool kicked;
	pthread_mutex_t m;
	pthread_cond_t c;
	struct modvm_regs regs;
	struct modvm_sregs sregs;
	uint8_t buf[64];
};

static int fake_probe(struct modvm_plugin_ctx *ctx, struct modvm_cpu_probe *out)
{
	(void)ctx;
	memset(out, 0, sizeof(*out));
	out->struct_size = sizeof(*out);
	out->score = 1;
	return 0;
}

static int fake_vm_create(struct modvm_plugin_ctx *ctx, const struct modvm_cpu_vm_config *cfg,
			  struct modvm_cpu_vm **out)
{
	struct fake_backend *fb = (struct fake_backend *)(void *)ctx;
	struct modvm_cpu_vm *vm;

	if (fb->fail_vm_create)
		return fb->fail_vm_create;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->fb = fb;
	vm->irqchip = cfg->irqchip;
	fb->irqchip_seen = cfg->irqchip;
	atomic_fetch_add(&fb->vm_creates, 1);
	*out = vm;
	return 0;
}

static void fake_vm_destroy(struct modvm_cpu_vm *vm)
{
	atomic_fetch_add(&vm->fb->vm_destroys, 1);
	free(vm);
}

static int fake_set_memory(struct modvm_cpu_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size,
			   void *hva)
{
	struct fake_backend *fb = vm->fb;

	atomic_fetch_add(&fb->set_memory_calls, 1);
	if (slot >= FAKE_MAX_SLOTS || (gpa & 0xfff) || ((uintptr_t)hva & 0xfff))
		return -EINVAL;
	if ((int)slot == fb->fail_set_memory_slot && size)
		return -ENOSPC;
	fb->slots[slot] = (struct fake_slot){ .used = size != 0, .gpa = gpa, .size = size, .hva = hva };
	return 0;
}

static int fake_vcpu_create(struct modvm_cpu_vm *vm, uint32_t index, struct modvm_cpu_vcpu **out)
{
	struct modvm_cpu_vcpu *v;

	if ((int)index == vm->fb->fail_vcpu_create_index || index >= FAKE_MAX_VCPUS)
		return -EMFILE;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->fb = vm->fb;
	v->irqchip = vm->irqchip;
	v->index = index;
	v->pending_read = -1;
	pthread_mutex_init(&v->m, NULL);
	pthread_cond_init(&v->c, NULL);
	atomic_fetch_add(&vm->fb->vcpu_creates, 1);
	*out = v;
	return 0;
}

static void fake_vcpu_destroy(struct modvm_cpu_vcpu *v)
{
	atomic_fetch_add(&v->fb->vcpu_destroys, 1);
	pthread_cond_destroy(&v->c);
	pthread_mutex_destroy(&v->m);
	free(v);
}

static void fake_vcpu_kick(struct modvm_cpu_vcpu *v)
{
	atomic_fetch_add(&v->fb->kicks, 1);
	pthread_mutex_lock(&v->m);
	atomic_store(&v->kicked, true);
	pthread_cond_signal(&v->c);
	pthread_mutex_unlock(&v->m);
}

static int intr(struct modvm_cpu_exit *ex)
{
	ex->kind = MODVM_EXIT_INTR;
	return 0;
}

/* Guest code that runs until someone kicks the vCPU. */
static int spin(struct modvm_cpu_vcpu *v, struct modvm_cpu_exit *ex)
{
	pthread_mutex_lock(&v->m);
	while (!atomic_load(&v->kicked))
		pthread_cond_wait(&v->c, &v->m);
	atomic_store(&v->kicked, false);
	pthread_mutex_unlock(&v->m);
	return intr(ex);
}

static int fake_vcpu_run(struct modvm_cpu_vcpu *v, struct modvm_cpu_exit *ex)
{
	struct fake_backend *fb = v->fb;
	struct fake_script *s = &fb->script[v->index];
	const struct fake_step *st;

	if (!v->ran) {
		v->ran = true;
		atomic_store(&fb->first_rip[v->index], v->regs.rip);
		atomic_store(&fb->run_tid[v->index], (int)gettid());
	}
	atomic_fetch_add_explicit(&fb->runs[v->index], 1, memory_order_relaxed);
	if (v->pending_read >= 0) {
		if (v->play == 0)
			memcpy(fb->answers[v->index][v->pending_read], v->buf, v->pending_len);
		v->pending_read = -1;
	}
	/* Like KVM's immediate_exit: a kick before the run is not lost. */
	if (atomic_load_explicit(&v->kicked, memory_order_relaxed)) {
		atomic_store(&v->kicked, false);
		return intr(ex);
	}
	if (v->pos >= s->n) {
		if (s->n && ++v->play < s->repeat) {
			v->pos = 0;
		} else {
			if (v->irqchip)	/* HLT would just run again */
				return spin(v, ex);
			ex->kind = MODVM_EXIT_HLT;
			return 0;
		}
	}
	st = &s->steps[v->pos];
	ex->raw_reason = st->raw_reason;
	switch (st->kind) {
	case FAKE_SPIN:
		return spin(v, ex);
	case FAKE_ERRNO:
		v->pos++;
		return st->err;
	case MODVM_EXIT_PIO: {
		uint32_t bytes = st->size * (st->count ? st->count : 1);

		ex->kind = MODVM_EXIT_PIO;
		ex->pio.port = (uint16_t)st->addr;
		ex->pio.size = (uint8_t)st->size;
		ex->pio.is_write = st->is_write;
		ex->pio.count = st->count ? st->count : 1;
		ex->pio.data = v->buf;
		if (st->is_write) {
			memcpy(v->buf, st->data, bytes);
		} else {
			memset(v->buf, 0xcc, bytes);
			v->pending_read = (int)v->pos;
			v->pending_len = bytes;
		}
		break;
	}
	case MODVM_EXIT_MMIO:
		ex->kind = MODVM_EXIT_MMIO;
		ex->mmio.addr = st->addr;
		ex->mmio.len = st->size;
		ex->mmio.is_write = st->is_write;
		ex->mmio.data = v->buf;
		if (st->is_write) {
			memcpy(v->buf, st->data, st->size);
		} else {
			memset(v->buf, 0xcc, st->size);
			v->pending_read = (int)v->pos;
			v->pending_len = st->size;
		}
		break;
	case MODVM_EXIT_INTERNAL_ERROR:
		ex->kind = st->kind;
		ex->internal.suberror = st->suberror;
		ex->internal.ndata = st->ndata;
		memcpy(ex->internal.data, st->idata, sizeof(ex->internal.data));
		break;
	case MODVM_EXIT_FAIL_ENTRY:
		ex->kind = st->kind;
		ex->fail_entry.reason = st->idata[0];
		break;
	default:
		ex->kind = st->kind;
		break;
	}
	v->pos++;
	return 0;
}

static int fake_get_regs(struct modvm_cpu_vcpu *v, struct modvm_regs *regs)
{
	*regs = v->regs;
	return 0;
}

static int fake_set_regs(struct modvm_cpu_vcpu *v, const struct modvm_regs *regs)
{
	v->regs = *regs;
	return 0;
}

static int fake_get_sregs(struct modvm_cpu_vcpu *v, struct modvm_sregs *sregs)
{
	*sregs = v->sregs;
	return 0;
}

static int fake_set_sregs(struct modvm_cpu_vcpu *v, const struct modvm_sregs *sregs)
{
	v->sregs = *sregs;
	return 0;
}

/* The halt watch's question: what the test said, and how often it was asked. */
static int fake_vcpu_halted(struct modvm_cpu_vcpu *v)
{
	atomic_fetch_add(&v->fb->halted_asked, 1);
	return atomic_load(&v->fb->halted_answer);
}

void fake_backend_init(struct fake_backend *fb)
{
	memset(fb, 0, sizeof(*fb));
	fb->vt = (struct modvm_cpu_backend){
		.struct_size = sizeof(fb->vt),
		.probe = fake_probe,
		.vm_create = fake_vm_create,
		.vm_destroy = fake_vm_destroy,
		.set_memory = fake_set_memory,
		.vcpu_create = fake_vcpu_create,
		.vcpu_destroy = fake_vcpu_destroy,
		.vcpu_run = fake_vcpu_run,
		.vcpu_kick = fake_vcpu_kick,
		.get_regs = fake_get_regs,
		.set_regs = fake_set_regs,
		.get_sregs = fake_get_sregs,
		.set_sregs = fake_set_sregs,
		.vcpu_halted = fake_vcpu_halted,
	};
	fb->fail_vcpu_create_index = -1;
	fb->fail_set_memory_slot = -1;
}

struct fake_step *fake_add(struct fake_backend *fb, unsigned vcpu, uint32_t kind)
{
	struct fake_script *s = &fb->script[vcpu];
	struct fake_step *st;

	if (vcpu >= FAKE_MAX_VCPUS || s->n >= FAKE_MAX_STEPS)
		abort();
	st = &s->steps[s->n++];
	memset(st, 0, sizeof(*st));
	st->kind = kind;
	return st;
}

struct fake_step *fake_pio(struct fake_backend *fb, unsigned vcpu, uint16_t port, uint32_t size,
			   bool is_write, uint32_t value)
{
	struct fake_step *st = fake_add(fb, vcpu, MODVM_EXIT_PIO);

	st->addr = port;
	st->size = size;
	st->is_write = is_write;
	memcpy(st->data, &value, sizeof(value));
	return st;
}

struct fake_step *fake_mmio(struct fake_backend *fb, unsigned vcpu, uint64_t addr, uint32_t len,
			    bool is_write, uint64_t value)
{
	struct fake_step *st = fake_add(fb, vcpu, MODVM_EXIT_MMIO);

	st->addr = addr;
	st->size = len;
	st->is_write = is_write;
	memcpy(st->data, &value, sizeof(value));
	return st;
}
