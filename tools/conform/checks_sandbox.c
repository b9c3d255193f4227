/*
 * The "sandbox" check (issue 18): the plugin's init and start run as in
 * the host, where it declares what it needs beyond the core's lists
 * (modvm/sandbox.h); then the check's process narrows itself to the loop
 * thread's seccomp filter with those declarations, and every event the
 * plugin may handle is published, then stop and fini run, under it.  A
 * call outside the filter traps: the SIGSYS report names the call and the
 * check fails with that line, before the process dies of it.
 *
 * The plugin's own I/O threads (modvm_thread_create) made after start run
 * under the I/O class's filter from their first line.  vCPU-thread handlers are
 * "sandbox-vcpu"'s (checks_device.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <modvm/events.h>

#include "host/host.h"
#include "sandbox/sandbox.h"
#include "conform.h"

#define PREFIX "modvm: error: sandbox: "

/* From the SIGSYS handler: the line becomes the check's verdict. */
void conform_sandbox_violation(const char *line)
{
	char detail[512];
	size_t skip = strncmp(line, PREFIX, sizeof(PREFIX) - 1) == 0 ? sizeof(PREFIX) - 1 : 0;

	snprintf(detail, sizeof(detail), "undeclared system call: %s", line + skip);
	conform_last_words(detail);
}

int conform_sandbox_narrow(struct modvm__sandbox_stats *st)
{
	int r;

	modvm__sandbox_set_violation_hook(conform_sandbox_violation);
	/* Threads made from now on, as after a lockdown (made in init or
	 * start, they run before it, with the union of every class). */
	modvm__sandbox_filter_io_threads_for_test(true);
	/* The counts include what the plugin declared in init and start. */
	r = modvm__sandbox_dry_run(st);
	return r < 0 ? r : modvm__sandbox_apply_class_for_test(MODVM__TC_LOOP, NULL);
}

enum verdict conform_check_sandbox(const struct conform_opts *o, char *detail, size_t n)
{
	struct modvm__sandbox_stats st;
	struct harness h;
	uint64_t ns = 0;
	int r, count = 0;
	enum verdict v = harness_open(&h, o, detail, n);

	if (v != V_PASS)
		return v;
	if ((r = harness_init(&h)) < 0 || (r = harness_start(&h)) < 0) {
		snprintf(detail, n, "init/start failed: %s", modvm_strerror(r));
		harness_close(&h);
		return V_FAIL;
	}
	r = conform_sandbox_narrow(&st);
	if (r < 0) {
		snprintf(detail, n, "cannot install the loop thread's filter: %s",
			 modvm_strerror(r));
		harness_stop(&h);
		harness_close(&h);
		return r == -ENOSYS || r == -EINVAL ? V_SKIP : V_FAIL;
	}
	for (int pass = 0; pass < 2; pass++) {
		struct modvm_event_desc *const *list = pass ? h.desc->events : conform_std_events;

		for (size_t i = 0; list && list[i]; i++) {
			r = conform_time_publish(&h, list[i], &ns);
			if (r < 0 && r != -EPROTO) {
				snprintf(detail, n, "publishing %s failed: %s", list[i]->name,
					 modvm_strerror(r));
				goto fail;
			}
			count++;
		}
	}
	r = conform_time_lifecycle_states(&h, &ns);
	if (r < 0) {
		snprintf(detail, n, "publishing vm.lifecycle failed: %s", modvm_strerror(r));
		goto fail;
	}
	count += MODVM_VM_FAILED;
	harness_stop(&h);
	harness_close(&h);	/* fini, then the host freed: still filtered */
	snprintf(detail, n, "%d events, stop and fini under the loop thread's filter (%u system "
		 "calls allowed)", count, st.syscalls[MODVM__TC_LOOP]);
	return V_PASS;
fail:
	harness_stop(&h);
	harness_close(&h);
	return V_FAIL;
}
