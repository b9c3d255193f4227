/*
 * core/host/fleet.h — a host's VMs at run time: choosing the CPU backend,
 * assembling and starting each configured VM, noticing when they end.
 */
#ifndef MODVM_CORE_FLEET_H
#define MODVM_CORE_FLEET_H

#include <modvm/cpu.h>

#include "plugin/plugin.h"

/* One CPU-backend plugin and what its probe said about this host. */
struct modvm__backend_probe {
	struct modvm_plugin_ctx *plugin;
	const struct modvm_cpu_backend *backend;
	struct modvm_cpu_probe probe;
};

/*
 * Probes every initialised CPU-backend plugin of the host (kind cpu-backend
 * with the "modvm.cpu-backend/1" interface).  Returns how many were probed
 * (at most @max), 0 if none is enabled.
 */
MODVM_INTERNAL size_t modvm__backends_probe(const struct modvm__host_view *view,
					    struct modvm__backend_probe *out, size_t max);
/*
 * Picks from @probes per host.cpu.backend (@want: "auto" or a plugin name)
 * and host.cpu.slat (@slat: required|preferred|off); @where ("file:line" of
 * cpu.backend, or NULL) prefixes messages about it.  Returns the index,
 * or -ENOENT / -ENODEV / -EOPNOTSUPP with one line saying why nothing fits.
 */
MODVM_INTERNAL int modvm__backends_select(const struct modvm__backend_probe *probes, size_t n,
					  const char *want, const char *slat, const char *where);

struct modvm__fleet;

/*
 * Chooses the backend per the host options @hc (cpu.backend, cpu.slat),
 * publishes cpu.caps, creates and starts every VM with autostart = true.
 * When the last one ends, breaks the host loop.  On failure nothing is
 * left running (logged, -errno).  @view must outlive the fleet.
 * The same as modvm__fleet_prepare, then modvm__fleet_start.
 */
MODVM_INTERNAL int modvm__fleet_launch(const struct modvm__host_view *view,
				       const struct modvm_config *hc, struct modvm__fleet **out);
/*
 * The first half: the backend chosen (probing reads /dev/kvm and the
 * host's files), cpu.caps published, nothing created.  The host locks the
 * sandbox down between the two halves.
 */
MODVM_INTERNAL int modvm__fleet_prepare(const struct modvm__host_view *view,
					const struct modvm_config *hc, struct modvm__fleet **out);
/* The second half: every autostart VM created, then each started.  On
 * failure the fleet is freed and *fleet is NULL. */
MODVM_INTERNAL int modvm__fleet_start(struct modvm__fleet **fleet);
MODVM_INTERNAL unsigned modvm__fleet_running(const struct modvm__fleet *fleet);
/* VMs launched (running or ended). */
MODVM_INTERNAL unsigned modvm__fleet_launched(const struct modvm__fleet *fleet);
/* VMs that ended in failure so far. */
MODVM_INTERNAL unsigned modvm__fleet_failed(const struct modvm__fleet *fleet);
/* The VM of config entry @vm_id while it exists (created, not yet freed:
 * a VM that ended for good is freed on the next loop turn). */
MODVM_INTERNAL struct modvm_vm *modvm__fleet_vm(struct modvm__fleet *fleet, unsigned vm_id);
/* How config entry @vm_id ended for good: MODVM_VM_STOPPED or
 * MODVM_VM_FAILED; 0 while it runs, restarts or was never launched. */
MODVM_INTERNAL int modvm__fleet_ended(const struct modvm__fleet *fleet, unsigned vm_id);
/* Stops every VM still running, then frees (what calls the fleet queued
 * on the loop still hold is freed by the last of them). NULL is ignored. */
MODVM_INTERNAL void modvm__fleet_free(struct modvm__fleet *fleet);

#endif
