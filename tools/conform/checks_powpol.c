/*
 * checks_powpol.c — the power policy contract (modvm/park.h), checked of
 * every power-policy plugin against a parking mechanism the kit plays
 * itself ("modvm.park/1" provided by the host, managing cores 1-3 with
 * core 2 protected as a NIC queue's), on a generated config that makes it
 * the host's power policy (host.power_policy):
 *  - it never asks for a protected core, nor one outside `managed`;
 *  - it calls apply() only while it holds the grant;
 *  - after its stop nothing it parked is left parked and the grant is
 *    given back (release()).
 * Its handlers get seeded random host.cpu_load and vcpu.stats (idle, busy,
 * unknown cores) meanwhile.  A policy that parks nothing passes, and says so.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <modvm/events.h>
#include <modvm/park.h>

#include "event/event.h"
#include "host/host.h"
#include "sandbox/sandbox.h"
#include "conform.h"

enum verdict conform_check_power_policy(const struct conform_opts *o, char *detail, size_t n);

static struct {
	bool granted;
	struct modvm_cpus managed, protected_cpus, parked;
	unsigned applies, parked_max, acquired;
	char violation[256];
} fk;

static void violate(const char *what)
{
	if (!fk.violation[0])
		snprintf(fk.violation, sizeof(fk.violation), "%s", what);
}

static int fk_acquire(struct modvm_plugin_ctx *policy)
{
	(void)policy;
	fk.granted = true;
	fk.acquired++;
	return 0;
}

static void fk_release(struct modvm_plugin_ctx *policy)
{
	(void)policy;
	fk.granted = false;
	memset(&fk.parked, 0, sizeof(fk.parked));
}

static int fk_get_state(struct modvm_plugin_ctx *caller, struct modvm_park_state *out)
{
	(void)caller;
	if (!out || out->struct_size < sizeof(*out))
		return -EINVAL;
	*out = (struct modvm_park_state){ .struct_size = sizeof(*out),
					  .action = MODVM_PARK_AFFINITY, .managed = fk.managed,
					  .parked = fk.parked, .protected_cpus = fk.protected_cpus };
	return 0;
}

static int fk_apply(struct modvm_plugin_ctx *policy, const struct modvm_cpus *parked,
		    const char *reason, struct modvm_cpus *refused)
{
	char what[160];

	(void)policy, (void)reason;
	if (refused)
		memset(refused, 0, sizeof(*refused));
	if (!parked)
		return -EINVAL;
	if (!fk.granted) {
		violate("apply() without holding the grant");
		return -EPERM;
	}
	fk.applies++;
	memset(&fk.parked, 0, sizeof(fk.parked));
	for (unsigned cpu = 0; cpu < MODVM_PARK_MAX_CPUS; cpu++) {
		if (!modvm_cpus_has(parked, cpu))
			continue;
		if (modvm_cpus_has(&fk.protected_cpus, cpu) || !modvm_cpus_has(&fk.managed, cpu)) {
			snprintf(what, sizeof(what), "apply() asked to park cpu %u, which is %s", cpu,
				 modvm_cpus_has(&fk.protected_cpus, cpu)
					 ? "protected (protected_cpus: a NIC queue's core)"
					 : "not managed");
			violate(what);
			if (refused)
				modvm_cpus_add(refused, cpu);
			continue;
		}
		modvm_cpus_add(&fk.parked, cpu);
	}
	if (modvm_cpus_count(&fk.parked) > fk.parked_max)
		fk.parked_max = modvm_cpus_count(&fk.parked);
	return 0;
}

static const struct modvm_park fake = {
	.struct_size = sizeof(struct modvm_park),
	.acquire = fk_acquire,
	.release = fk_release,
	.get_state = fk_get_state,
	.apply = fk_apply,
};

static int write_config(const char *plugin, char *path, size_t n)
{
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
	fprintf(f, "host = { power_policy = \"%s\"; };\n"
		   "plugins = { %s = { enabled = true; }; };\n"
		   "vms = ( { name = \"conform\"; memory = \"64M\"; vcpus = 2; } );\n", plugin, plugin);
	return fclose(f) == 0 ? 0 : -EIO;
}

static void run_for(struct harness *h, unsigned ms)
{
	uint64_t end = conform_now_ns() + (uint64_t)ms * 1000000u;

	while (conform_now_ns() < end) {
		modvm__loop_run_once(modvm__host_loop(h->host));
		modvm__bus_drain(modvm__host_bus(h->host));
		nanosleep(&(struct timespec){ .tv_nsec = 5 * 1000 * 1000 }, NULL);
	}
}

/* Idle and busy cores, known and unknown, and vCPUs that ran somewhere. */
static void publish_load(struct harness *h, uint64_t *seed)
{
	struct modvm_bus *bus = modvm__host_bus(h->host);

	for (uint32_t cpu = 0; cpu < 6; cpu++) {
		struct modvm_host_cpu_load l = { .cpu = cpu, .interval_ns = 500000000u };

		l.busy_permille = cpu == 5 ? (uint32_t)conform_rand(seed)
					   : (uint32_t)(conform_rand(seed) % 1001) / (cpu % 2 ? 1 : 20);
		modvm_publish_host_cpu_load(bus, &l);
	}
	for (uint32_t v = 0; v < 2; v++) {
		struct modvm_vcpu_stats s = { .vm_id = 0, .vcpu = v, .tid = 1 };

		s.host_cpu = (int32_t)(conform_rand(seed) % 4);
		s.run_ns = conform_rand(seed) % 1000000000u;
		s.interval_ns = s.run_ns + conform_rand(seed) % 1000000000u;
		modvm_publish_vcpu_stats(bus, &s);
	}
}

enum verdict conform_check_power_policy(const struct conform_opts *o, char *detail, size_t n)
{
	const struct modvm_plugin *desc;
	struct conform_opts mine = *o;
	uint64_t seed = o->seed ^ 0x706f77ULL;
	struct harness h;
	char path[64];
	enum verdict v;
	int r;

	v = conform_raw_desc(o, &desc, detail, n);
	if (v != V_PASS)
		return v;
	if (desc->kind != MODVM_KIND_POWER_POLICY) {
		snprintf(detail, n, "not a power-policy plugin");
		return V_SKIP;
	}
	if (write_config(desc->name, path, sizeof(path)) < 0) {
		snprintf(detail, n, "cannot write a config in /tmp");
		return V_FAIL;
	}
	mine.config = path;
	v = harness_open(&h, &mine, detail, n);
	unlink(path);
	if (v != V_PASS)
		return v;
	memset(&fk, 0, sizeof(fk));
	for (unsigned cpu = 1; cpu <= 3; cpu++)
		modvm_cpus_add(&fk.managed, cpu);
	modvm_cpus_add(&fk.protected_cpus, 2);
	if ((r = modvm__host_provide_interface(h.host, MODVM_PARK_IFACE, &fake)) < 0) {
		snprintf(detail, n, "cannot provide the fake %s: %s", MODVM_PARK_IFACE,
			 modvm_strerror(r));
		goto fail;
	}
	if ((r = harness_init(&h)) < 0 || (r = harness_start(&h)) < 0) {
		snprintf(detail, n, "init/start as the host's power policy failed: %s",
			 modvm_strerror(r));
		goto fail;
	}
	struct modvm__sandbox_stats st;
	if ((r = conform_sandbox_narrow(&st)) < 0 && r != -ENOSYS && r != -EINVAL) {
		snprintf(detail, n, "cannot install the loop thread's filter: %s",
			 modvm_strerror(r));
		goto fail;
	}
	for (int round = 0; round < 7; round++) {
		publish_load(&h, &seed);
		run_for(&h, 500);
	}
	harness_stop(&h);
	run_for(&h, 100);
	if (!fk.violation[0] && (fk.granted || modvm_cpus_count(&fk.parked)))
		snprintf(fk.violation, sizeof(fk.violation), "after its stop %u core(s) are still "
			 "parked and the grant is %s", modvm_cpus_count(&fk.parked),
			 fk.granted ? "still held (no release())" : "given back");
	if (fk.violation[0]) {
		snprintf(detail, n, "%s", fk.violation);
		goto fail;
	}
	harness_close(&h);
	if (!fk.acquired)
		snprintf(detail, n, "never took the grant as the host's power policy (nothing to "
			 "hold against the contract)");
	else
		snprintf(detail, n, "grant taken; %u apply() call(s), at most %u core(s) parked, "
			 "never protected cpu 2; nothing parked and the grant given back after stop",
			 fk.applies, fk.parked_max);
	return V_PASS;
fail:
	harness_close(&h);
	return V_FAIL;
}
