/*
 * Item 9: a guest flooded the host's log (2,517 warnings in 0.27 s of
 * guest time from the virtio transport).  Driven like tests/unit/devices:
 * VMs on the fake backend (no KVM), a guest hammering its virtio-rng's
 * Status register (DRIVER_OK without FEATURES_OK, a warning each time)
 * and the ACPI sleep register (a sleep type never offered).  Every such
 * line of a VM shares one budget of MODVM__GUEST_LOG_BURST per window
 * whatever device it comes from; the rest are counted and reported once
 * as "vm NAME: suppressed N similar messages"; another VM has its own
 * budget.  The limiter itself is checked on a fake clock.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/devices.h"
#include "vm/vm.h"
#include "vm_test.h"

#define MiB (1ULL << 20)
#define FLOOD 2500

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char *logbuf;
static size_t loglen;

static void sink(enum modvm_log_level level, const char *line, void *ud)
{
	(void)level;
	(void)ud;
	pthread_mutex_lock(&log_lock);
	size_t n = strlen(line);
	char *nb = realloc(logbuf, loglen + n + 2);
	if (nb) {
		logbuf = nb;
		memcpy(logbuf + loglen, line, n);
		loglen += n;
		logbuf[loglen++] = '\n';
		logbuf[loglen] = '\0';
	}
	pthread_mutex_unlock(&log_lock);
}

static void setup(void)
{
	free(logbuf);
	logbuf = calloc(1, 1);
	loglen = 0;
	modvm_log_set_sink(sink, NULL);
}

static void teardown(void)
{
	modvm_log_set_sink(NULL, NULL);
	free(logbuf);
	logbuf = NULL;
}

static unsigned count(const char *needle)
{
	unsigned n = 0;

	for (const char *p = logbuf; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* The number after "NAME: suppressed ", or 0. */
static unsigned long long suppressed(const char *name)
{
	char key[64];

	snprintf(key, sizeof(key), "vm %s: suppressed ", name);
	const char *p = strstr(logbuf, key);
	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

struct guest {
	struct fake_backend fb;
	struct modvm_vm *vm;
	struct modvm__virtio_rng *rng;
	struct modvm__power *power;
};

static void guest_up(struct guest *g, const char *name)
{
	fake_backend_init(&g->fb);
	g->vm = vm_create(&g->fb, name, 1, MiB);
	ck_assert_int_eq(modvm__virtio_rng_attach(g->vm, &g->rng), 0);
	ck_assert_int_eq(modvm__power_attach(g->vm, &g->power), 0);
}

static void guest_down(struct guest *g)
{
	modvm__virtio_rng_detach(g->vm, g->rng);
	modvm__power_free(g->power);
	modvm_vm_destroy(g->vm);
}

/* What a hostile guest does in a loop: DRIVER_OK without FEATURES_OK. */
static void hammer_virtio(struct guest *g, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint32_t v = MODVM_VIRTIO_STATUS_DRIVER_OK;
		modvm__iobus_dispatch(g->vm->iobus, g->vm->nvcpus, MODVM_IOBUS_MMIO,
				      MODVM_VM_VIRTIO_MMIO_BASE + MODVM_VIRTIO_MMIO_STATUS,
				      (uint8_t *)&v, 4, true);
	}
}

/* ... and asks for a sleep state the DSDT never offered. */
static void hammer_power(struct guest *g, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t v = 0x20 | (3 << 2);	/* SLP_EN, SLP_TYP 3 */
		modvm__iobus_dispatch(g->vm->iobus, g->vm->nvcpus, MODVM_IOBUS_PIO,
				      MODVM_ACPI_SLEEP_CTL_PORT, &v, 1, true);
	}
}

START_TEST(guest_flood_is_rate_limited_per_vm)
{
	struct guest g;

	guest_up(&g, "hostile");
	hammer_virtio(&g, FLOOD);
	hammer_power(&g, FLOOD);
	unsigned seen = count("driver set DRIVER_OK without FEATURES_OK") +
			count("which the DSDT never offered");
	ck_assert_msg(seen <= MODVM__GUEST_LOG_BURST, "%u guest lines got through", seen);
	ck_assert_uint_ge(seen, 1);
	guest_down(&g);
	/* the VM's end says what was held back */
	ck_assert_uint_eq(suppressed("hostile"), 2 * FLOOD - seen);
	ck_assert_uint_eq(count("suppressed"), 1);
}
END_TEST

START_TEST(each_vm_has_its_own_budget)
{
	struct guest a, b;

	guest_up(&a, "a");
	guest_up(&b, "b");
	hammer_virtio(&a, FLOOD);
	hammer_virtio(&b, 3);
	ck_assert_uint_eq(count("virtio-rng: driver set DRIVER_OK"), MODVM__GUEST_LOG_BURST + 3);
	guest_down(&b);
	guest_down(&a);
	ck_assert_uint_eq(suppressed("a"), FLOOD - MODVM__GUEST_LOG_BURST);
	ck_assert_uint_eq(suppressed("b"), 0);
}
END_TEST

static uint64_t fake_now;
static uint64_t fake_clock(void)
{
	return fake_now;
}

/* A new window lets lines through again, after saying what was held back. */
START_TEST(window_reopens_after_reporting)
{
	struct modvm__ratelimit rl;

	modvm__ratelimit_init(&rl, "vm clock", 3, 1000);
	rl.now = fake_clock;
	fake_now = rl.window_start = 0;
	for (int i = 0; i < 8; i++)
		modvm__log_limited(&rl, MODVM_LOG_WARN, "dev", "line %d", i);
	ck_assert_uint_eq(count("dev: line"), 3);
	ck_assert_uint_eq(count("suppressed"), 0);
	fake_now = 1000;
	modvm__log_limited(&rl, MODVM_LOG_WARN, "dev", "line again");
	ck_assert_ptr_nonnull(strstr(logbuf, "vm clock: suppressed 5 similar messages\n"
					     "modvm: warn: dev: line again"));
	/* a line the level filters out is not counted against the budget */
	modvm__log_limited(&rl, MODVM_LOG_TRACE, "dev", "invisible");
	modvm__ratelimit_fini(&rl);
	ck_assert_uint_eq(count("suppressed"), 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("guest_log");
	TCase *t = tcase_create("guest_log");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, guest_flood_is_rate_limited_per_vm);
	tcase_add_test(t, each_vm_has_its_own_budget);
	tcase_add_test(t, window_reopens_after_reporting);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
