/* Helpers shared by the vm test programs: VM creation that asserts, a test
 * device that records accesses, and a thread-safe error-line capture. */
#ifndef MODVM_TEST_VM_TEST_H
#define MODVM_TEST_VM_TEST_H

#include <check.h>
#include <pthread.h>
#include <modvm/vm.h>

#include "fake_backend.h"

/* The asserting tier over __modvm_vm_create. */
struct modvm_vm *vm_create_cfg(struct fake_backend *fb, struct modvm_vm_config *cfg);
struct modvm_vm *vm_create(struct fake_backend *fb, const char *name, uint32_t vcpus,
			   uint64_t memory);

struct access {
	uint64_t off;
	uint32_t len;
	bool is_write;
	uint8_t data[8];
	int tid;
};

#define DEV_MAX_LOG 64

/* A device: records every access; reads answer @answer, then answer+1, … */
struct dev {
	pthread_mutex_t m;
	unsigned n;		/* accesses, also past DEV_MAX_LOG */
	struct access log[DEV_MAX_LOG];
	uint64_t answer;
};

void dev_init(struct dev *d, uint64_t first_answer);
void dev_handler(void *ud, uint64_t off, uint8_t *data, uint32_t len, bool is_write);

/* Error lines logged from any thread. */
void errors_start(void);
void errors_stop(void);
int errors_count(void);
/* True if error line @i ends with @msg (the sink may add a prefix). */
bool errors_is(int i, const char *msg);
const char *errors_line(int i);

uint64_t ms_since(const struct timespec *t0);

#endif
