/* Helpers shared by the vm test programs (see vm_test.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <modvm/log.h>

#include "vm_test.h"

struct modvm_vm *vm_create_cfg(struct fake_backend *fb, struct modvm_vm_config *cfg)
{
	struct modvm_vm *vm = NULL;
	int r;

	cfg->struct_size = sizeof(*cfg);
	r = __modvm_vm_create(&fb->vt, fake_ctx(fb), cfg, &vm);
	ck_assert_msg(r == 0, "creating vm '%s': %s", cfg->name ? cfg->name : "?",
		      modvm_strerror(r));
	ck_assert_ptr_nonnull(vm);
	return vm;
}

struct modvm_vm *vm_create(struct fake_backend *fb, const char *name, uint32_t vcpus,
			   uint64_t memory)
{
	struct modvm_vm_config cfg = { .name = name, .vcpus = vcpus, .memory_bytes = memory };

	return vm_create_cfg(fb, &cfg);
}

void dev_init(struct dev *d, uint64_t first_answer)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->m, NULL);
	d->answer = first_answer;
}

void dev_handler(void *ud, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct dev *d = ud;

	pthread_mutex_lock(&d->m);
	if (d->n < DEV_MAX_LOG) {
		struct access *a = &d->log[d->n];

		a->off = off;
		a->len = len;
		a->is_write = is_write;
		a->tid = (int)gettid();
		if (is_write)
			memcpy(a->data, data, len);
	}
	if (!is_write) {
		memcpy(data, &d->answer, len);
		d->answer++;
	}
	d->n++;
	pthread_mutex_unlock(&d->m);
}

#define ERR_MAX 16
static struct {
	pthread_mutex_t m;
	int n;
	char lines[ERR_MAX][512];
} errs = { .m = PTHREAD_MUTEX_INITIALIZER };

static void sink(enum modvm_log_level level, const char *line, void *ud)
{
	(void)ud;
	if (level != MODVM_LOG_ERROR)
		return;
	pthread_mutex_lock(&errs.m);
	if (errs.n < ERR_MAX)
		snprintf(errs.lines[errs.n++], sizeof(errs.lines[0]), "%s", line);
	pthread_mutex_unlock(&errs.m);
}

void errors_start(void)
{
	errs.n = 0;
	modvm_log_set_sink(sink, NULL);
}

void errors_stop(void)
{
	modvm_log_set_sink(NULL, NULL);
}

int errors_count(void)
{
	int n;

	pthread_mutex_lock(&errs.m);
	n = errs.n;
	pthread_mutex_unlock(&errs.m);
	return n;
}

const char *errors_line(int i)
{
	return i < errors_count() ? errs.lines[i] : "(no line)";
}

bool errors_is(int i, const char *msg)
{
	const char *line = errors_line(i);
	size_t n = strlen(line), m = strlen(msg);

	return i < errors_count() && n >= m && !strcmp(line + n - m, msg) &&
	       (n == m || line[n - m - 1] == ' ');
}

uint64_t ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)((t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000);
}
