/*
 * modvm/balloon.h — the balloon mechanism, "modvm.balloon/1" (ABI 1.4):
 * what a memory policy uses to size guests.
 *
 * Mechanism and policy are two plugins.  The mechanism (in tree:
 * mem-balloon, a virtio-balloon device per VM with a `mem-balloon` group)
 * provides this vtable from get_interface(MODVM_BALLOON_IFACE); it owns
 * the devices, the operator's limits (minimum, maximum, startup) and the
 * operator's orders.  A memory policy (kind MODVM_KIND_MEMORY_POLICY; in
 * tree: mem-dynamic) finds it with modvm_plugin_query() in its start (not
 * init: the mechanism may init after it) and decides targets for the VMs
 * it governs — modvm_plugin_governs(ctx, vm_id), chosen by the operator
 * with `host.memory_policy` and a VM's own `memory_policy`.
 *
 * The contract (modvm-conform's memory-policy check holds every memory
 * policy to the policy's side — within the limits, nothing after STOPPING
 * or after its stop — against a mechanism the kit plays; the unit tests of
 * mem-balloon check the mechanism's side):
 *  - exactly one policy governs a VM; set_target from any other plugin is
 *    refused (-EPERM) and changes nothing;
 *  - a target is clamped into [minimum, maximum]; the effective target is
 *    returned, published as mem.balloon_target (source: the caller) and
 *    in mem.balloon_state (CLAMPED when it differed from the request);
 *    a policy never asks outside the limits get() reported;
 *  - the operator's `modvm ctl … balloon VM SIZE` overrides: while it
 *    holds (MODVM_BALLOON_OPERATOR) set_target returns -EBUSY; a size of 0
 *    hands the VM back, at the target it has;
 *  - mem.balloon_state is published when the state changed, at once, on
 *    the loop thread: a policy may answer it with set_target, but one that
 *    answers every state (or target) with a different request nests in
 *    the publication; past a few levels set_target returns -EBUSY;
 *  - a VM without a balloon (no device: not configured, or not running)
 *    answers -ENODEV, its limits still filled in; a policy leaves it alone,
 *    and stops touching a VM once its vm.lifecycle says STOPPING;
 *  - host memory pressure is the policy's business (hostmem.h); guest
 *    statistics come through get() and mem.guest_stats.
 *
 * Threading: every call on the loop thread, between the mechanism's init
 * and fini.  ABI: this vtable and these structs never change; a breaking
 * change is "modvm.balloon/2".  struct_size fields let either side check
 * that a struct has what it reads.
 */
#ifndef MODVM_BALLOON_H
#define MODVM_BALLOON_H

#include "common.h"
#include "events.h"

MODVM_BEGIN_DECLS

#define MODVM_BALLOON_IFACE "modvm.balloon/1"

struct modvm_plugin_ctx;

/* One VM's balloon as the mechanism sees it now. */
struct modvm_balloon_info {
	uint32_t struct_size;		/* set by the caller: sizeof(struct modvm_balloon_info) */
	uint32_t vm_id;
	uint32_t flags;			/* MODVM_BALLOON_* (events.h) */
	uint32_t reserved;
	uint64_t ram;			/* the VM's RAM */
	uint64_t minimum;		/* targets are clamped into [minimum, maximum] */
	uint64_t maximum;
	uint64_t startup;		/* the target the VM started with */
	uint64_t requested;		/* the last target asked for, before clamping; 0: none */
	uint64_t target;		/* the target in force */
	uint64_t actual;		/* what the guest holds now: RAM minus its balloon */
	uint64_t in_balloon;		/* COUNTED: balloon bytes the guest's total still counts */
	uint64_t stats_generation;	/* bumped by every statistics report; 0: none yet */
	struct modvm_mem_guest_stats stats;	/* the latest report (STATS) */
	char source[MODVM_NAME_MAX];	/* who set the target in force */
};

struct modvm_balloon {
	uint32_t struct_size;

	/*
	 * Fills @out (set out->struct_size first) for VM @vm_id.  0 if the VM
	 * has a balloon now; -ENODEV if not (out->flags without PRESENT, its
	 * RAM and limits still filled in when configured); -ENOENT for a
	 * vm_id the config does not have; -EINVAL for a short @out.
	 */
	int (*get)(struct modvm_plugin_ctx *caller, uint32_t vm_id,
		   struct modvm_balloon_info *out);

	/*
	 * Asks for VM @vm_id to have @bytes of memory.  The target is clamped
	 * into [minimum, maximum] and put in force at once (the guest follows
	 * in its own time: watch actual).  *@effective (may be NULL) receives
	 * the target in force.  0; -EPERM if @caller does not govern the VM;
	 * -EBUSY while the operator's target holds; -ENODEV without a
	 * balloon; -ENOENT for an unknown VM; -EINVAL for 0 bytes.
	 */
	int (*set_target)(struct modvm_plugin_ctx *caller, uint32_t vm_id, uint64_t bytes,
			  uint64_t *effective);

	/*
	 * Asks the guest of VM @vm_id for fresh statistics now (they arrive
	 * as mem.guest_stats and in get()); the mechanism also asks by itself
	 * every interval.  0, -ENODEV, -ENOENT.
	 */
	int (*request_stats)(struct modvm_plugin_ctx *caller, uint32_t vm_id);
};

MODVM_END_DECLS

#endif
