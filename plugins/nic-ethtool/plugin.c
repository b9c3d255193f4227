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
 * is left by fini.  All of it runs on the loop thread.
 */
#include <errno.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <string.h>

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

static int drv_init(struct modvm_plugin_ctx *ctx)
{
	struct nt_driver *d = nt_driver_new(NULL, NULL);

	if (!d)
		return -ENOMEM;
	/* Queues are given and taken back on the loop thread when VMs start
	 * and stop (a reboot too): ethtool n-tuple rules, the ring's IRQ. */
	int r = modvm_sandbox_allow_arg(ctx, MODVM_THREAD_LOOP, "socket", 0, AF_INET);
	if (r == 0)
		r = modvm_sandbox_allow_arg(ctx, MODVM_THREAD_LOOP, "ioctl", 1, SIOCETHTOOL);
	if (r == 0)
		r = modvm_sandbox_allow_path(ctx, "/proc/irq", MODVM_SANDBOX_READ | MODVM_SANDBOX_WRITE);
	if (r < 0) {
		nt_driver_free(d);
		return r;
	}
	modvm_plugin_set_data(ctx, d);
	return 0;
}

static void drv_fini(struct modvm_plugin_ctx *ctx)
{
	nt_driver_free(modvm_plugin_data(ctx));	/* rules and IRQs still given: undone */
	modvm_plugin_set_data(ctx, NULL);
}

MODVM_PLUGIN(.name = PLUGIN_NAME, .kind = MODVM_KIND_NIC_DRIVER, .version = "1.0.0",
	     .license = "MIT",
	     .description = "generic NIC offload driver: a VM MAC (+VLAN) gets its own receive "
			    "queue through an ethtool n-tuple rule, its IRQ on the VM's core",
	     .init = drv_init, .fini = drv_fini, .get_interface = drv_get_interface);
