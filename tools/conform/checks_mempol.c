/*
 * checks_mempol.c — the memory policy contract (modvm/balloon.h), checked
 * of every memory-policy plugin against a balloon mechanism the kit plays
 * itself ("modvm.balloon/1" provided by the host), on a generated config
 * with one VM the policy governs (host.memory_policy names it):
 *  - it never asks a target outside the [minimum, maximum] get() and
 *    mem.balloon_state reported;
 *  - it never touches (set_target, request_stats) a VM after that VM's
 *    vm.lifecycle STOPPING, although the mechanism still answers for it
 *    until its teardown, as a real one does;
 *  - it never calls the mechanism after its own stop.
 * Its handlers get seeded random guest statistics for the VM and for VMs
 * that do not exist.  A policy that asks nothing passes, and says so.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <modvm/balloon.h>
#include <modvm/events.h>

#include "event/event.h"
#include "host/host.h"
#include "sandbox/sandbox.h"
#include "conform.h"

#define MIB (UINT64_C(1) << 20)
#define RAM (256 * MIB)
#define MIN (64 * MIB)
#define MAX (192 * MIB)

enum verdict conform_check_memory_policy(const struct conform_opts *o, char *detail, size_t n);

static struct {
	bool stopping;		/* vm 0 got STOPPING: no policy may touch it now */
	bool policy_stopped;	/* the policy's stop ran */
	uint64_t target;
	unsigned asked, stats_asked;
	char violation[256];
} fk;

static void violate(const char *what)
{
	if (!fk.violation[0])
		snprintf(fk.violation, sizeof(fk.violation), "%s", what);
}

static int fk_get(struct modvm_plugin_ctx *caller, uint32_t vm_id, struct modvm_balloon_info *out)
{
	(void)caller;
	if (fk.policy_stopped)
		violate("get() after the policy's stop");
	if (!out || out->struct_size < sizeof(*out))
		return -EINVAL;
	if (vm_id != 0)
		return -ENOENT;
	*out = (struct modvm_balloon_info){ .struct_size = sizeof(*out), .vm_id = 0,
		.flags = MODVM_BALLOON_PRESENT | MODVM_BALLOON_STATS, .ram = RAM, .minimum = MIN,
		.maximum = MAX, .startup = RAM, .target = fk.target, .actual = fk.target,
		.stats_generation = fk.stopping ? 2 : 1 };
	out->stats.vm_id = 0;
	out->stats.total = RAM;
	/* Once the VM stops, its last statistics say it is short of memory: a
	 * policy that still sizes it would ask now. */
	out->stats.available = fk.stopping ? RAM / 64 : RAM / 2;
	out->stats.free = fk.stopping ? RAM / 128 : RAM / 4;
	snprintf(out->source, sizeof(out->source), "startup");
	return 0;
}

static int fk_set_target(struct modvm_plugin_ctx *caller, uint32_t vm_id, uint64_t bytes,
			 uint64_t *effective)
{
	char what[160];

	(void)caller;
	if (fk.policy_stopped)
		violate("set_target() after the policy's stop");
	if (vm_id != 0)
		return -ENOENT;
	if (fk.stopping) {
		snprintf(what, sizeof(what), "set_target(vm 0, %llu MiB) after the VM's STOPPING",
			 (unsigned long long)(bytes / MIB));
		violate(what);
	}
	if (bytes < MIN || bytes > MAX) {
		snprintf(what, sizeof(what), "set_target(vm 0, %llu bytes) outside the limits get() "
			 "reported, [%llu, %llu] MiB", (unsigned long long)bytes,
			 (unsigned long long)(MIN / MIB), (unsigned long long)(MAX / MIB));
		violate(what);
	}
	fk.asked++;
	fk.target = bytes < MIN ? MIN : bytes > MAX ? MAX : bytes;
	if (effective)
		*effective = fk.target;
	return 0;
}

static int fk_request_stats(struct modvm_plugin_ctx *caller, uint32_t vm_id)
{
	(void)caller;
	if (fk.policy_stopped)
		violate("request_stats() after the policy's stop");
	if (vm_id == 0 && fk.stopping)
		violate("request_stats(vm 0) after the VM's STOPPING");
	fk.stats_asked++;
	return vm_id == 0 ? 0 : -ENOENT;
}

static const struct modvm_balloon fake = {
	.struct_size = sizeof(struct modvm_balloon),
	.get = fk_get,
	.set_target = fk_set_target,
	.request_stats = fk_request_stats,
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
	fprintf(f, "host = { memory_policy = \"%s\"; };\n"
		   "plugins = { %s = { enabled = true; }; };\n"
		   "vms = ( { name = \"conform\"; memory = \"256M\"; } );\n", plugin, plugin);
	return fclose(f) == 0 ? 0 : -EIO;
}

/* Lets the loop run the policy's timers and queued events for @ms. */
static void run_for(struct harness *h, unsigned ms)
{
	uint64_t end = conform_now_ns() + (uint64_t)ms * 1000000u;

	while (conform_now_ns() < end) {
		modvm__loop_run_once(modvm__host_loop(h->host));
		modvm__bus_drain(modvm__host_bus(h->host));
		nanosleep(&(struct timespec){ .tv_nsec = 5 * 1000 * 1000 }, NULL);
	}
}

static void publish_state(struct harness *h, uint32_t flags)
{
	struct modvm_mem_balloon_state st = { .vm_id = 0, .flags = flags, .ram = RAM,
					      .minimum = MIN, .maximum = MAX, .target = fk.target };

	snprintf(st.source, sizeof(st.source), "startup");
	snprintf(st.governor, sizeof(st.governor), "%s", h->desc->name);
	modvm_publish_mem_balloon_state(modvm__host_bus(h->host), &st);
}

static void publish_life(struct harness *h, enum modvm_vm_state s)
{
	struct modvm_vm_lifecycle ev = { .vm_id = 0, .state = s, .vcpus = 1,
					 .memory_bytes = RAM };

	snprintf(ev.vm_name, sizeof(ev.vm_name), "conform");
	modvm_publish_vm_lifecycle(modvm__host_bus(h->host), &ev);
}

/* Seeded random guest statistics, for vm 0 and for VMs nobody has. */
static void publish_stats(struct harness *h, uint64_t *seed)
{
	for (int i = 0; i < 8; i++) {
		struct modvm_mem_guest_stats s = { 0 };

		s.vm_id = i % 2 ? (uint32_t)conform_rand(seed) : 0;
		s.total = conform_rand(seed) % (RAM + 1);
		s.free = conform_rand(seed) % (s.total + 1);
		s.available = conform_rand(seed) % (s.total + 1);
		s.caches = conform_rand(seed) % (s.total + 1);
		s.swap_in = conform_rand(seed) % 4096;
		s.swap_out = conform_rand(seed) % 4096;
		s.major_faults = conform_rand(seed);
		s.minor_faults = conform_rand(seed);
		modvm_publish_mem_guest_stats(modvm__host_bus(h->host), &s);
	}
}

enum verdict conform_check_memory_policy(const struct conform_opts *o, char *detail, size_t n)
{
	const struct modvm_plugin *desc;
	struct conform_opts mine = *o;
	uint64_t seed = o->seed ^ 0x6d656dULL;
	unsigned before_stop;
	struct harness h;
	char path[64];
	enum verdict v;
	int r;

	v = conform_raw_desc(o, &desc, detail, n);
	if (v != V_PASS)
		return v;
	if (desc->kind != MODVM_KIND_MEMORY_POLICY) {
		snprintf(detail, n, "not a memory-policy plugin");
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
	fk.target = RAM;
	if ((r = modvm__host_provide_interface(h.host, MODVM_BALLOON_IFACE, &fake)) < 0) {
		snprintf(detail, n, "cannot provide the fake %s: %s", MODVM_BALLOON_IFACE,
			 modvm_strerror(r));
		goto fail;
	}
	if ((r = harness_init(&h)) < 0 || (r = harness_start(&h)) < 0) {
		snprintf(detail, n, "init/start with a governed VM failed: %s", modvm_strerror(r));
		goto fail;
	}
	struct modvm__sandbox_stats st;
	if ((r = conform_sandbox_narrow(&st)) < 0 && r != -ENOSYS && r != -EINVAL) {
		snprintf(detail, n, "cannot install the loop thread's filter: %s",
			 modvm_strerror(r));
		goto fail;
	}
	publish_life(&h, MODVM_VM_STARTING);
	publish_state(&h, MODVM_BALLOON_PRESENT | MODVM_BALLOON_STATS);
	publish_life(&h, MODVM_VM_RUNNING);
	for (int round = 0; round < 5; round++) {
		publish_stats(&h, &seed);
		run_for(&h, 500);
	}
	before_stop = fk.asked;
	/* The VM stops; its balloon still answers until teardown, as a real one does. */
	publish_life(&h, MODVM_VM_STOPPING);
	fk.stopping = true;
	publish_stats(&h, &seed);
	run_for(&h, 2500);
	publish_life(&h, MODVM_VM_STOPPED);
	publish_state(&h, 0);
	harness_stop(&h);
	fk.policy_stopped = true;
	run_for(&h, 300);
	if (fk.violation[0]) {
		snprintf(detail, n, "%s", fk.violation);
		goto fail;
	}
	harness_close(&h);
	if (before_stop == 0)
		snprintf(detail, n, "asked no target in 2.5 s (nothing to hold against the limits); "
			 "left the VM alone after STOPPING and the mechanism after stop");
	else
		snprintf(detail, n, "%u target(s) asked, all within [%llu, %llu] MiB; none after "
			 "STOPPING, nothing after stop", before_stop,
			 (unsigned long long)(MIN / MIB), (unsigned long long)(MAX / MIB));
	return V_PASS;
fail:
	harness_close(&h);
	return V_FAIL;
}
