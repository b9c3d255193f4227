/*
 * checks_nicdrv.c — the NIC offload driver contract (modvm/nicdrv.h),
 * checked of every nic-driver plugin on a fixture NIC the kit makes up:
 *  - probe is pure: the same answer twice, no fd left open, never negative;
 *  - caps fills what it claims (0 or -errno) for a NIC probe claimed;
 *  - refusals: a bad MAC is -EINVAL, an unknown handle is -ENOENT;
 *  - queue_alloc never hands out queue 0 or handle 0, never one queue or
 *    one handle twice, refuses a second request for one MAC (-EEXIST),
 *    gives caps' max_queues and then -ENOSPC;
 *  - queue_free gives back every queue it gave (each once: twice is
 *    -ENOENT), and afterwards the same queues can be had again.
 * A driver whose hardware refuses the fixture NIC (nic-ethtool: there is no
 * such interface to send ethtool requests to) is checked on what it did:
 * its refusals must be errnos and must leave nothing given.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <modvm/nicdrv.h>

#include "conform.h"

#define MAX_Q 64

enum verdict conform_check_nic_driver(const struct conform_opts *o, char *detail, size_t n);

/* A 4-queue NIC with n-tuple steering that exists nowhere but here. */
static void fixture_nic(struct modvm_nic *nic, const char *dir)
{
	memset(nic, 0, sizeof(*nic));
	nic->struct_size = sizeof(*nic);
	snprintf(nic->info.ifname, sizeof(nic->info.ifname), "mvconf0");
	snprintf(nic->info.pci_addr, sizeof(nic->info.pci_addr), "0000:7f:00.0");
	snprintf(nic->info.driver, sizeof(nic->info.driver), "conform");
	nic->info.vendor_id = 0x1af4;
	nic->info.device_id = 0x7f00;
	nic->info.rx_queues = 4;
	nic->info.tx_queues = 4;
	nic->info.msix_vectors = 5;
	nic->info.mtu = 1500;
	nic->info.ntuple = 1;
	nic->info.offload_capa = MODVM_NET_OFFLOAD_RX_CSUM | MODVM_NET_OFFLOAD_VLAN_RX;
	snprintf(nic->netdev_dir, sizeof(nic->netdev_dir), "%s/class/net/mvconf0", dir);
	snprintf(nic->pci_dir, sizeof(nic->pci_dir), "%s/devices/0000:7f:00.0", dir);
	snprintf(nic->proc_root, sizeof(nic->proc_root), "%s/proc", dir);
}

static void mac_of(unsigned i, uint8_t mac[6])
{
	const uint8_t base[6] = { 0x52, 0x54, 0x00, 0xc0, 0x00, 0x00 };

	memcpy(mac, base, 6);
	mac[4] = (uint8_t)(i >> 8);
	mac[5] = (uint8_t)i;
}

struct given {
	struct modvm_nic_queue q[MAX_Q];
	unsigned n;
};

/*
 * Asks for up to @want queues (MACs from @first): every one given must be
 * a queue of its own.  Returns how many were given (stopping at the first
 * refusal, whose errno lands in *@refusal), or -1 with @detail filled.
 */
static int fill(const struct modvm_nic_driver *drv, struct modvm_plugin_ctx *self,
		const struct modvm_nic *nic, unsigned first, unsigned want, struct given *g,
		int *refusal, char *detail, size_t n)
{
	*refusal = 0;
	g->n = 0;
	for (unsigned i = 0; i < want && i < MAX_Q; i++) {
		struct modvm_nic_queue_req req = { .struct_size = sizeof(req), .vm_id = first + i,
						   .host_cpu = -1 };
		struct modvm_nic_queue q = { .struct_size = sizeof(q) };
		int r;

		mac_of(first + i, req.mac);
		r = drv->queue_alloc(self, nic, &req, &q);
		if (r > 0) {
			snprintf(detail, n, "queue_alloc returned %d: 0 or -errno only", r);
			return -1;
		}
		if (r < 0) {
			*refusal = r;
			return (int)g->n;
		}
		if (q.queue == 0 || q.handle == 0) {
			snprintf(detail, n, "queue_alloc gave queue %u handle %llu: queue 0 is the "
				 "NIC's default and handle 0 is nobody's", q.queue,
				 (unsigned long long)q.handle);
			return -1;
		}
		for (unsigned k = 0; k < g->n; k++) {
			if (g->q[k].queue == q.queue || g->q[k].handle == q.handle) {
				snprintf(detail, n, "queue_alloc gave %s %llu twice on one NIC",
					 g->q[k].queue == q.queue ? "queue" : "handle",
					 g->q[k].queue == q.queue ? (unsigned long long)q.queue
								  : (unsigned long long)q.handle);
				return -1;
			}
		}
		if (q.queue >= nic->info.rx_queues) {
			snprintf(detail, n, "queue_alloc gave queue %u of a NIC with %u rx queues",
				 q.queue, nic->info.rx_queues);
			return -1;
		}
		g->q[g->n++] = q;
	}
	return (int)g->n;
}

/* Frees every queue of @g: each once succeeds, twice is -ENOENT. */
static int give_back(const struct modvm_nic_driver *drv, struct modvm_plugin_ctx *self,
		     const struct modvm_nic *nic, struct given *g, char *detail, size_t n)
{
	for (unsigned k = 0; k < g->n; k++) {
		int r = drv->queue_free(self, nic, g->q[k].handle);

		if (r != 0) {
			snprintf(detail, n, "queue_free of handle %llu it gave: %s",
				 (unsigned long long)g->q[k].handle, modvm_strerror(r));
			return -1;
		}
		r = drv->queue_free(self, nic, g->q[k].handle);
		if (r != -ENOENT) {
			snprintf(detail, n, "queue_free of handle %llu a second time: %d, not -ENOENT",
				 (unsigned long long)g->q[k].handle, r);
			return -1;
		}
	}
	g->n = 0;
	return 0;
}

static enum verdict contract(const struct modvm_nic_driver *drv, struct modvm_plugin_ctx *self,
			     const struct modvm_nic *nic, char *detail, size_t n)
{
	struct modvm_nic_caps caps = { .struct_size = sizeof(caps) };
	struct modvm_nic_queue_req bad = { .struct_size = sizeof(bad), .host_cpu = -1 };
	struct modvm_nic_queue q = { .struct_size = sizeof(q) };
	static struct given g;
	unsigned want = MAX_Q;
	int got, again, refusal, r, s1, s2, fd0, fd1;

	fd0 = conform_count_dir("/proc/self/fd");
	s1 = drv->probe(self, nic);
	s2 = drv->probe(self, nic);
	fd1 = conform_count_dir("/proc/self/fd");
	if (s1 != s2 || s1 < 0) {
		snprintf(detail, n, "probe is not a pure score: %d then %d", s1, s2);
		return V_FAIL;
	}
	if (fd0 != fd1) {
		snprintf(detail, n, "probe left %d fd(s) open", fd1 - fd0);
		return V_FAIL;
	}
	if (s1 == 0) {
		snprintf(detail, n, "probe pure; it does not claim the fixture NIC (score 0), so "
			 "nothing more is asked of it");
		return V_PASS;
	}
	if (drv->caps) {
		r = drv->caps(self, nic, &caps);
		if (r > 0 || (r == 0 && caps.struct_size < sizeof(caps))) {
			snprintf(detail, n, "caps returned %d with struct_size %u", r, caps.struct_size);
			return V_FAIL;
		}
		if (r == 0 && caps.max_queues >= nic->info.rx_queues) {
			snprintf(detail, n, "caps says %u queues of a NIC with %u rx queues (queue 0 "
				 "is nobody's)", caps.max_queues, nic->info.rx_queues);
			return V_FAIL;
		}
		if (r == 0)
			want = caps.max_queues;
	}
	if ((r = drv->queue_free(self, nic, UINT64_C(0xc0f0c0f0))) != -ENOENT) {
		snprintf(detail, n, "queue_free of a handle it never gave: %d, not -ENOENT", r);
		return V_FAIL;
	}
	memcpy(bad.mac, (uint8_t[6]){ 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 }, 6);
	if ((r = drv->queue_alloc(self, nic, &bad, &q)) != -EINVAL) {
		snprintf(detail, n, "queue_alloc of a multicast MAC: %d, not -EINVAL", r);
		return V_FAIL;
	}
	got = fill(drv, self, nic, 1, want + (drv->caps ? 1 : 0), &g, &refusal, detail, n);
	if (got < 0)
		goto fail;
	if (got == 0) {
		snprintf(detail, n, "probe %d; the fixture NIC's hardware refused every queue (%s), "
			 "cleanly", s1, modvm_strerror(refusal));
		return V_PASS;
	}
	if (drv->caps && (unsigned)got == want + 1) {
		snprintf(detail, n, "queue_alloc gave %u queues where caps says %u", got, want);
		goto fail;
	}
	if (drv->caps && (unsigned)got == want && refusal != -ENOSPC) {
		snprintf(detail, n, "queue %u past caps' %u: %d, not -ENOSPC", want + 1, want,
			 refusal);
		goto fail;
	}
	{
		struct modvm_nic_queue_req dup = { .struct_size = sizeof(dup), .vm_id = 999,
						   .host_cpu = -1 };
		struct modvm_nic_queue dq = { .struct_size = sizeof(dq) };

		mac_of(1, dup.mac);
		r = drv->queue_alloc(self, nic, &dup, &dq);
		if (r != -EEXIST && !(r == -ENOSPC && (unsigned)got == want)) {
			snprintf(detail, n, "a second queue for one MAC on one NIC: %d, not -EEXIST",
				 r);
			if (r == 0 && dq.handle)
				g.q[g.n < MAX_Q ? g.n++ : 0] = dq;
			goto fail;
		}
	}
	if (give_back(drv, self, nic, &g, detail, n) < 0)
		return V_FAIL;
	/* everything freed: the NIC is as it was, so the same queues are there again */
	again = fill(drv, self, nic, 1000, (unsigned)got, &g, &refusal, detail, n);
	if (again < 0)
		goto fail;
	if (again != got) {
		snprintf(detail, n, "after freeing all %d queues only %d could be had again (%s): "
			 "queue_free did not give them back", got, again, modvm_strerror(refusal));
		goto fail;
	}
	if (give_back(drv, self, nic, &g, detail, n) < 0)
		return V_FAIL;
	snprintf(detail, n, "probe %d; %d queue(s) given, none twice, never queue 0, %s; all freed "
		 "and given again", s1, got,
		 drv->caps ? "then -ENOSPC as caps says" : "(no caps)");
	return V_PASS;
fail:
	for (unsigned k = 0; k < g.n; k++)	/* what it gave, back before fini */
		drv->queue_free(self, nic, g.q[k].handle);
	g.n = 0;
	return V_FAIL;
}

enum verdict conform_check_nic_driver(const struct conform_opts *o, char *detail, size_t n)
{
	const struct modvm_nic_driver *drv;
	struct modvm_nic nic;
	struct harness h;
	char dir[] = "/tmp/modvm-conform-nic.XXXXXX";
	enum verdict v = harness_open(&h, o, detail, n);
	int r;

	if (v != V_PASS)
		return v;
	if (h.desc->kind != MODVM_KIND_NIC_DRIVER) {
		harness_close(&h);
		snprintf(detail, n, "not a nic-driver plugin");
		return V_SKIP;
	}
	if ((r = harness_init(&h)) < 0) {
		harness_close(&h);
		snprintf(detail, n, "init failed: %s", modvm_strerror(r));
		return V_FAIL;
	}
	drv = harness_get_interface(&h, MODVM_NIC_DRIVER_IFACE);
	if (!drv || drv->struct_size < sizeof(*drv) || !drv->probe || !drv->queue_alloc ||
	    !drv->queue_free) {
		harness_close(&h);
		snprintf(detail, n, "nic-driver plugin without a usable %s (probe, queue_alloc and "
			 "queue_free are required)", MODVM_NIC_DRIVER_IFACE);
		return V_FAIL;
	}
	if (!mkdtemp(dir)) {
		harness_close(&h);
		snprintf(detail, n, "mkdtemp: %s", strerror(errno));
		return V_FAIL;
	}
	fixture_nic(&nic, dir);
	v = contract(drv, h.ctx, &nic, detail, n);
	harness_close(&h);
	rmdir(dir);
	return v;
}
