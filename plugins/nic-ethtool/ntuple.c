/*
 * ntuple.c — nic-ethtool's driver core (ntuple.h): which NICs it can drive,
 * which ring a MAC gets, and the queues it gave with what it changed for
 * each (the rule's location, the IRQ and its affinity before), so every
 * one can be undone.  (The ring choice and the undo moved here from
 * net-vmq's VMQ manager, which now only asks drivers.)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/ethtool.h>

#include <modvm/log.h>

#include "ntuple.h"

struct nt_queue {
	uint64_t handle;
	uint32_t vm_id;
	char ifname[16];
	uint8_t mac[6];
	uint16_t vlan;
	uint32_t queue;
	int64_t rule_loc;		/* -1 none */
	int irq;			/* whose affinity we changed, -1 none */
	int host_cpu;
	char proc_root[128];
	char saved_affinity[256];	/* its smp_affinity_list before */
};

struct nt_driver {
	const struct nt_ethtool_ops *ops;
	void *ud;
	struct nt_journal *journal;	/* NULL: changes not journaled */
	struct nt_queue *q;
	size_t n, cap;
	uint64_t next_handle;
};

struct nt_driver *nt_driver_new(const struct nt_ethtool_ops *ops, void *ud)
{
	struct nt_driver *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->ops = ops ? ops : &nt_ethtool_live;
	d->ud = ud;
	d->next_handle = 1;
	return d;
}

static void fmt_mac(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
}

/* Deletes the rule @q installed, if the location still holds it: the
 * operator (or another modvm) may have replaced it meanwhile, and a rule
 * that is not ours stays.  False if ours is still there (the driver
 * refused to delete it): its journal line stays for the next recovery. */
static bool remove_rule(struct nt_driver *d, struct nt_queue *q)
{
	uint32_t loc = (uint32_t)q->rule_loc;
	struct nt_rule now;
	int rc = nt_rule_get(d->ops, d->ud, q->ifname, loc, &now);

	if (rc == -ENOENT) {
		modvm_log(MODVM_LOG_WARN, NT_LOG, "%s: steering rule %u is gone already", q->ifname,
			  loc);
		return true;
	}
	if (rc == 0 && !nt_rule_is(&now, q->mac, q->vlan, q->queue)) {
		modvm_log(MODVM_LOG_WARN, NT_LOG,
			  "%s: steering rule %u is no longer the one for vm %u: left alone",
			  q->ifname, loc, q->vm_id);
		return true;
	}
	/* rc < 0 otherwise: a driver that cannot show a rule; ours is the best guess */
	rc = nt_rule_delete(d->ops, d->ud, q->ifname, loc);
	if (rc)
		modvm_log(MODVM_LOG_WARN, NT_LOG, "%s: cannot delete steering rule %u: %s",
			  q->ifname, loc, strerror(-rc));
	return rc == 0;
}

/* The journal's lines for @q's rule and its IRQ (journal.c). */
static void rule_line(const struct nt_queue *q, char *out, size_t len)
{
	snprintf(out, len, "rule %s %02x:%02x:%02x:%02x:%02x:%02x %u %u", q->ifname, q->mac[0],
		 q->mac[1], q->mac[2], q->mac[3], q->mac[4], q->mac[5], q->vlan, q->queue);
}

static void irq_line(int irq, const char *affinity, char *out, size_t len)
{
	snprintf(out, len, "irq %d %s", irq, affinity);
}

void nt_driver_set_journal(struct nt_driver *d, struct nt_journal *j)
{
	if (d)
		d->journal = j;
}

struct nt_journal *nt_driver_journal(const struct nt_driver *d)
{
	return d ? d->journal : NULL;
}

static void undo(struct nt_driver *d, struct nt_queue *q)
{
	char line[320];

	if (q->irq >= 0 && nt_irq_set_affinity(q->proc_root, q->irq, q->saved_affinity) == 0) {
		irq_line(q->irq, q->saved_affinity, line, sizeof(line));
		nt_journal_drop(d->journal, line);
	}
	if (q->rule_loc >= 0 && remove_rule(d, q)) {
		rule_line(q, line, sizeof(line));
		nt_journal_drop(d->journal, line);
	}
	q->irq = -1;
	q->rule_loc = -1;
}

/*
 * What the NIC's own table says (rules of another modvm, of the operator,
 * of a run that was killed): their rings are taken too, and a rule that
 * already steers @mac (@vlan) is not ours to replace: -EEXIST.
 */
static int rules_on_nic(struct nt_driver *d, const struct modvm_nic *nic,
			const struct modvm_nic_queue_req *req, uint32_t *taken, size_t max,
			size_t *ntaken)
{
	struct nt_rule *r;
	size_t n;
	char macs[18];
	int rc = nt_rules_read(d->ops, d->ud, nic->info.ifname, &r, &n);

	if (rc)
		return 0;	/* cannot list them: the insert says what the NIC thinks */
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (nt_rule_is(&r[i], req->mac, req->vlan, NT_ANY_RING)) {
			fmt_mac(req->mac, macs);
			modvm_log(MODVM_LOG_WARN, NT_LOG,
				  "vm %u mac %s: %s already has a steering rule for it (location %u, "
				  "rx queue %llu), not modvm's: left alone (a modvm that was killed "
				  "leaves one: `ethtool -N %s delete %u`)",
				  req->vm_id, macs, nic->info.ifname, r[i].loc,
				  (unsigned long long)ethtool_get_flow_spec_ring(r[i].ring_cookie),
				  nic->info.ifname, r[i].loc);
			rc = -EEXIST;
		} else if (r[i].ring_cookie != RX_CLS_FLOW_DISC && *ntaken < max) {
			taken[(*ntaken)++] = (uint32_t)ethtool_get_flow_spec_ring(r[i].ring_cookie);
		}
	}
	free(r);
	return rc;
}

void nt_driver_free(struct nt_driver *d)
{
	if (!d)
		return;
	/* newest first, so an IRQ two queues moved ends with its original value */
	for (size_t i = d->n; i-- > 0;)
		undo(d, &d->q[i]);
	free(d->q);
	free(d);
}

int nt_probe(const struct modvm_nic *nic)
{
	if (!nic || nic->struct_size < sizeof(*nic))
		return 0;
	return nic->info.ntuple && nic->info.rx_queues >= 2 ? NT_SCORE : 0;
}

int nt_caps(const struct modvm_nic *nic, struct modvm_nic_caps *out)
{
	if (!nic || !out || out->struct_size < sizeof(*out))
		return -EINVAL;
	*out = (struct modvm_nic_caps){ .struct_size = sizeof(*out) };
	if (!nt_probe(nic))
		return -ENODEV;
	out->max_queues = nic->info.rx_queues - 1;
	/* the kernel's word on the NIC: what its ethtool features say */
	out->offload_capa = nic->info.offload_capa;
	if (nic->info.offload_capa & MODVM_NET_OFFLOAD_VLAN_RX)
		out->flags |= MODVM_NIC_CAP_VLAN;
	return 0;
}

int nt_pick_ring(uint32_t rx_queues, const uint32_t *taken, size_t ntaken, uint32_t *ring)
{
	for (uint32_t q = 1; q < rx_queues; q++) {
		bool busy = false;

		for (size_t i = 0; i < ntaken && !busy; i++)
			busy = taken[i] == q;
		if (!busy) {
			*ring = q;
			return 0;
		}
	}
	return -ENOSPC;
}

static bool mac_is_valid(const uint8_t mac[6])
{
	static const uint8_t zero[6];

	return memcmp(mac, zero, 6) != 0 && !(mac[0] & 1);
}

/* The ring's IRQ onto @cpu, remembering what it had (in the journal too);
 * left alone if unknown. */
static void point_irq(struct nt_driver *d, struct nt_queue *q, const struct modvm_nic *nic,
		      int cpu)
{
	char text[16], line[320];
	int irq;

	if (cpu < 0)
		return;
	if (nt_irq_find(nic, q->queue, &irq)) {
		modvm_log(MODVM_LOG_WARN, NT_LOG,
			  "vm %u: no IRQ named for %s rx queue %u in %s/interrupts; affinity left alone",
			  q->vm_id, q->ifname, q->queue, nic->proc_root);
		return;
	}
	if (nt_irq_get_affinity(nic->proc_root, irq, q->saved_affinity,
				sizeof(q->saved_affinity)) != 0)
		return;
	irq_line(irq, q->saved_affinity, line, sizeof(line));
	if (nt_journal_add(d->journal, line) < 0)
		return;		/* unjournaled, a crash would lose the original */
	snprintf(text, sizeof(text), "%d", cpu);
	if (nt_irq_set_affinity(nic->proc_root, irq, text) != 0) {
		nt_journal_drop(d->journal, line);
		return;
	}
	q->irq = irq;
	q->host_cpu = cpu;
}

int nt_queue_alloc(struct nt_driver *d, const struct modvm_nic *nic,
		   const struct modvm_nic_queue_req *req, struct modvm_nic_queue *out)
{
	uint32_t taken[256], ring, loc;
	size_t ntaken = 0;
	struct nt_queue q;
	char macs[18];
	int rc;

	if (!d || !nic || nic->struct_size < sizeof(*nic) || !req ||
	    req->struct_size < sizeof(*req) || !out || out->struct_size < sizeof(*out))
		return -EINVAL;
	if (!mac_is_valid(req->mac) || req->vlan > 4094)
		return -EINVAL;
	if (!nt_probe(nic))
		return -ENODEV;
	if (req->vlan && !(nic->info.offload_capa & MODVM_NET_OFFLOAD_VLAN_RX))
		return -EOPNOTSUPP;
	for (size_t i = 0; i < d->n; i++) {
		if (strcmp(d->q[i].ifname, nic->info.ifname) != 0)
			continue;
		if (memcmp(d->q[i].mac, req->mac, 6) == 0 && d->q[i].vlan == req->vlan)
			return -EEXIST;	/* two rules for one destination cannot both win */
		if (ntaken < sizeof(taken) / sizeof(taken[0]))
			taken[ntaken++] = d->q[i].queue;
	}
	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 8;
		struct nt_queue *grown = realloc(d->q, ncap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		d->q = grown;
		d->cap = ncap;
	}
	fmt_mac(req->mac, macs);
	rc = nt_journal_lock(d->journal);
	if (rc) {
		modvm_log(MODVM_LOG_WARN, NT_LOG, "vm %u mac %s: another modvm is choosing a ring "
			  "on this host (%s): using the default queue", req->vm_id, macs,
			  strerror(-rc));
		return rc;
	}
	rc = rules_on_nic(d, nic, req, taken, sizeof(taken) / sizeof(taken[0]), &ntaken);
	if (rc == 0)
		rc = nt_pick_ring(nic->info.rx_queues, taken, ntaken, &ring);
	if (rc) {
		nt_journal_unlock(d->journal);
		return rc;
	}
	memset(&q, 0, sizeof(q));
	q.vm_id = req->vm_id;
	snprintf(q.ifname, sizeof(q.ifname), "%s", nic->info.ifname);
	snprintf(q.proc_root, sizeof(q.proc_root), "%s", nic->proc_root);
	memcpy(q.mac, req->mac, 6);
	q.vlan = req->vlan;
	q.queue = ring;
	q.irq = -1;
	q.host_cpu = -1;
	char line[320];
	rule_line(&q, line, sizeof(line));
	rc = nt_journal_add(d->journal, line);
	if (rc == 0)
		rc = nt_rule_insert(d->ops, d->ud, q.ifname, q.mac, q.vlan, ring, &loc);
	nt_journal_unlock(d->journal);	/* the rule is on the NIC: others see its ring */
	if (rc) {
		nt_journal_drop(d->journal, line);
		modvm_log(MODVM_LOG_WARN, NT_LOG,
			  "vm %u mac %s: %s refused the steering rule to rx queue %u (%s); "
			  "using the default queue and per-VM tap queues",
			  q.vm_id, macs, q.ifname, ring, strerror(-rc));
		return rc;
	}
	q.rule_loc = loc;
	point_irq(d, &q, nic, req->host_cpu);
	q.handle = d->next_handle++;
	d->q[d->n++] = q;
	if (q.irq >= 0)
		modvm_log(MODVM_LOG_INFO, NT_LOG, "vm %u mac %s: %s rx queue %u (rule %lld), IRQ %d -> cpu %d",
			  q.vm_id, macs, q.ifname, ring, (long long)q.rule_loc, q.irq, q.host_cpu);
	else
		modvm_log(MODVM_LOG_INFO, NT_LOG, "vm %u mac %s: %s rx queue %u (rule %lld), IRQ affinity unchanged",
			  q.vm_id, macs, q.ifname, ring, (long long)q.rule_loc);
	*out = (struct modvm_nic_queue){ .struct_size = sizeof(*out), .queue = ring, .irq = q.irq,
					 .host_cpu = q.host_cpu, .handle = q.handle };
	return 0;
}

int nt_queue_free(struct nt_driver *d, const struct modvm_nic *nic, uint64_t handle)
{
	(void)nic;
	if (!d)
		return -EINVAL;
	for (size_t i = 0; i < d->n; i++) {
		if (d->q[i].handle != handle)
			continue;
		undo(d, &d->q[i]);
		memmove(&d->q[i], &d->q[i + 1], (d->n - i - 1) * sizeof(d->q[0]));
		d->n--;
		return 0;
	}
	return -ENOENT;
}

size_t nt_queue_count(const struct nt_driver *d)
{
	return d ? d->n : 0;
}

int64_t nt_rule_location(const struct nt_driver *d, uint64_t handle)
{
	for (size_t i = 0; d && i < d->n; i++)
		if (d->q[i].handle == handle)
			return d->q[i].rule_loc;
	return -1;
}
