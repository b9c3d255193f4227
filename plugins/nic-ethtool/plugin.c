/*
 * plugin.c — nic-ethtool: the in-tree NIC offload driver
 * ("modvm.nic-driver/1", modvm/nicdrv.h).
 *
 * It drives any NIC whose kernel driver does n-tuple flow steering
 * (rx-ntuple-filter on, more than one receive ring) — ixgbe, i40e, ice,
 * mlx5 and the like — generically, so its probe answers a modest score
 * and a vendor's own driver plugin wins the NICs it knows.  A queue is a
 * destination-MAC (and VLAN) ethtool rule to a ring of its own, never
 * ring 0, with the ring's IRQ pointed at the VM's core (ntuple.c).  Every
 * rule and IRQ affinity it changed is undone by queue_free, and whatever
 * is left by fini; each is journaled first (journal.c), so what a killed
 * run left is undone by the next init or `modvm recover`.  All of it runs
 * on the loop thread.
 */
#include <errno.h>
#include <limits.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

#include <modvm/nicdrv.h>
#include <modvm/plugin.h>
#include <modvm/sandbox.h>

#include "ntuple.h"

#define PLUGIN_NAME "nic-ethtool"

static int drv_probe(struct modvm_plugin_ctx *self, const struct modvm_nic *nic)
{
	(void)self;
	return nt_probe(nic);
}

static int drv_caps(struct modvm_plugin_ctx *self, const struct modvm_nic *nic,
		    struct modvm_nic_caps *out)
{
	(void)self;
	return nt_caps(nic, out);
}

static int drv_alloc(struct modvm_plugin_ctx *self, const struct modvm_nic *nic,
		     const struct modvm_nic_queue_req *req, struct modvm_nic_queue *out)
{
	struct nt_driver *d = self ? modvm_plugin_data(self) : NULL;

	return d ? nt_queue_alloc(d, nic, req, out) : -EINVAL;
}

static int drv_free(struct modvm_plugin_ctx *self, const struct modvm_nic *nic, uint64_t handle)
{
	struct nt_driver *d = self ? modvm_plugin_data(self) : NULL;

	return d ? nt_queue_free(d, nic, handle) : -EINVAL;
}

static const struct modvm_nic_driver driver = {
	.struct_size = sizeof(struct modvm_nic_driver),
	.probe = drv_probe,
	.caps = drv_caps,
	.queue_alloc = drv_alloc,
	.queue_free = drv_free,
};

static const void *drv_get_interface(struct modvm_plugin_ctx *ctx, const char *id)
{
	(void)ctx;
	return id && strcmp(id, MODVM_NIC_DRIVER_IFACE) == 0 ? &driver : NULL;
}

/* The journals' directory: modvm's runtime directory (MODVM_RUNTIME_DIR,
 * as the core takes it) / nic-ethtool. */
static void journal_dir(char *out, size_t len)
{
	const char *run = getenv("MODVM_RUNTIME_DIR");

	snprintf(out, len, "%s/" PLUGIN_NAME, run && run[0] == '/' ? run : "/run/modvm");
}

/* What a run that did not stop cleanly left: undone before anything else. */
static void recover_leftovers(struct modvm_plugin_ctx *ctx, const char *dir)
{
	unsigned undone = 0;

	nt_journal_recover(dir, NULL, NULL, "/proc", &undone);
	if (undone)
		modvm_plugin_log(ctx, MODVM_LOG_WARN,
				 "%u steering rule(s) or IRQ affinities left by a modvm that did not "
				 "stop cleanly: undone", undone);
}

static int drv_recover(struct modvm_plugin_ctx *ctx)
{
	char dir[PATH_MAX];

	journal_dir(dir, sizeof(dir));
	recover_leftovers(ctx, dir);
	return 0;
}

static int drv_init(struct modvm_plugin_ctx *ctx)
{
	struct nt_driver *d = nt_driver_new(NULL, NULL);
	struct nt_journal *journal;
	char dir[PATH_MAX], err[PATH_MAX + 64];

	if (!d)
		return -ENOMEM;
	journal_dir(dir, sizeof(dir));
	recover_leftovers(ctx, dir);
	/* Made now and held when modvm will run as another user, who may not
	 * make it later; without one (no right to the runtime directory)
	 * queues still work, unjournaled. */
	uid_t uid;
	gid_t gid;
	modvm_sandbox_owner(ctx, &uid, &gid);
	if (nt_journal_open(&journal, dir, uid != geteuid(), err, sizeof(err)) < 0)
		modvm_plugin_log(ctx, MODVM_LOG_WARN,
				 "journal %s: steering rules are not journaled: a modvm killed "
				 "now leaves them behind", err);
	nt_driver_set_journal(d, journal);
	/* Queues are given and taken back on the loop thread when VMs start
	 * and stop (a reboot too): ethtool n-tuple rules, the ring's IRQ. */
	int r = modvm_sandbox_allow_arg(ctx, MODVM_THREAD_LOOP, "socket", 0, AF_INET);
	if (r == 0)
		r = modvm_sandbox_allow_arg(ctx, MODVM_THREAD_LOOP, "ioctl", 1, SIOCETHTOOL);
	if (r == 0)
		r = modvm_sandbox_allow_path(ctx, "/proc/irq", MODVM_SANDBOX_READ | MODVM_SANDBOX_WRITE);
	/* the journal goes at fini (emptied where it cannot) */
	if (r == 0 && journal)
		r = modvm_sandbox_allow_path(ctx, dir, MODVM_SANDBOX_READ | MODVM_SANDBOX_WRITE |
							       MODVM_SANDBOX_CREATE);
	if (r < 0) {
		nt_driver_free(d);
		nt_journal_close(journal);
		return r;
	}
	modvm_plugin_set_data(ctx, d);
	return 0;
}

static void drv_fini(struct modvm_plugin_ctx *ctx)
{
	struct nt_driver *d = modvm_plugin_data(ctx);
	struct nt_journal *journal = nt_driver_journal(d);

	nt_driver_free(d);		/* rules and IRQs still given: undone */
	nt_journal_close(journal);	/* and so off the journal */
	modvm_plugin_set_data(ctx, NULL);
}

MODVM_PLUGIN(.name = PLUGIN_NAME, .kind = MODVM_KIND_NIC_DRIVER, .version = "1.0.0",
	     .license = "MIT",
	     .description = "generic NIC offload driver: a VM MAC (+VLAN) gets its own receive "
			    "queue through an ethtool n-tuple rule, its IRQ on the VM's core",
	     .init = drv_init, .fini = drv_fini, .get_interface = drv_get_interface,
	     .recover = drv_recover);
