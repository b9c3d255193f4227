/*
 * The manager on the fixture tree, asking nic-ethtool's driver core on the
 * fake ethtool: the MAC (and VLAN) rules a NIC is told, the IRQ affinity
 * written under the fixture /proc and written back, net.queue_assigned,
 * the fallbacks with their one line, the best probe owning a NIC among
 * several drivers, and required offloads the owner lacks named.
 */
#include <check.h>
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <linux/ethtool.h>

#include "fake_ethtool.h"
#include "nic_tree.h"
#include "ntuple.h"
#include "vmq_test.h"

static struct nic_tree tree;
static struct fake_ethtool fake;
static struct events ev;
static struct modvm_bus *bus;
static struct vmq_manager *mgr;
static struct fake_nic *ix;
static struct nt_driver *core;

static const uint8_t mac_a[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x01 };
static const uint8_t mac_b[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x02 };

static void setup(void)
{
	struct vmq_options o;

	ck_assert_int_eq(nic_tree_create(&tree), 0);
	fake_ethtool_fixture(&fake);
	ix = fake_ethtool_nic(&fake, NIC_TREE_IXGBE_IF);
	capture_start();
	bus = test_bus_new(&ev);
	struct vmq_driver drv = ntuple_test_driver(&fake, &core);
	o = (struct vmq_options){ .sysfs_root = tree.sys, .proc_root = tree.proc,
				  .ethtool = &fake_ethtool_ops, .ethtool_ud = &fake,
				  .drivers = &drv, .ndrivers = 1 };
	ck_assert_int_eq(vmq_manager_create(bus, &o, &mgr), 0);
	ck_assert_uint_eq(vmq_manager_nic_count(mgr), 2);
}

static void teardown(void)
{
	vmq_manager_destroy(mgr);
	nt_driver_free(core);
	test_bus_free(bus);
	capture_stop();
	nic_tree_destroy(&tree);
}

static const char *affinity(int irq)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "proc/irq/%d/smp_affinity_list", irq);
	return nic_tree_read(&tree, rel);
}

START_TEST(two_vms_get_two_queues_rules_and_irqs)
{
	struct modvm_net_queue_assigned a, b;
	const struct fake_rule *r;

	ck_assert_int_eq(vmq_manager_assign(mgr, 1, mac_a, NIC_TREE_IXGBE_IF, 1, &a), 0);
	ck_assert_int_eq(vmq_manager_assign(mgr, 2, mac_b, NIC_TREE_IXGBE_IF, 0, &b), 0);
	ck_assert_uint_eq(a.dedicated, 1);
	ck_assert_uint_eq(b.dedicated, 1);
	ck_assert_uint_ne(a.queue, 0);
	ck_assert_uint_ne(b.queue, 0);
	ck_assert_uint_ne(a.queue, b.queue);
	ck_assert_int_eq(a.host_cpu, 1);
	ck_assert_int_eq(b.host_cpu, 0);
	ck_assert_str_eq(a.uplink, NIC_TREE_IXGBE_IF);
	ck_assert(memcmp(a.mac, mac_a, 6) == 0);

	/* the driver was told: ETHER_FLOW, dst MAC fully masked, ring = queue */
	ck_assert_uint_eq(fake_ethtool_rule_count(ix), 2);
	r = fake_ethtool_rule_for(ix, mac_a);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->flow_type, ETHER_FLOW);
	ck_assert(memcmp(r->dst_mask, (uint8_t[6]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 6) == 0);
	ck_assert_uint_eq(r->ring, a.queue);
	r = fake_ethtool_rule_for(ix, mac_b);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->ring, b.queue);

	/* each queue's IRQ points at its VM's core; the others are untouched */
	ck_assert_str_eq(affinity(NIC_TREE_IXGBE_IRQ0 + (int)a.queue), "1");
	ck_assert_str_eq(affinity(NIC_TREE_IXGBE_IRQ0 + (int)b.queue), "0");
	ck_assert_str_eq(affinity(NIC_TREE_IXGBE_IRQ0), NIC_TREE_AFFINITY);
	ck_assert_str_eq(affinity(120), NIC_TREE_AFFINITY);

	/* published as it was returned */
	ck_assert_uint_eq(ev.nq, 2);
	ck_assert(memcmp(&ev.q[0], &a, sizeof(a)) == 0);
	ck_assert(memcmp(&ev.q[1], &b, sizeof(b)) == 0);

	/* release VM 1: its rule goes, its IRQ gets its old affinity back */
	ck_assert_int_eq(vmq_manager_release(mgr, 1), 1);
	ck_assert_ptr_null(fake_ethtool_rule_for(ix, mac_a));
	ck_assert_ptr_nonnull(fake_ethtool_rule_for(ix, mac_b));
	ck_assert_str_eq(affinity(NIC_TREE_IXGBE_IRQ0 + (int)a.queue), NIC_TREE_AFFINITY);
	ck_assert_str_eq(affinity(NIC_TREE_IXGBE_IRQ0 + (int)b.queue), "0");
	ck_assert_int_eq(vmq_manager_release(mgr, 1), 0);

	/* the freed queue is reused by the next VM */
	{
		const uint8_t mac_c[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x03 };
		struct modvm_net_queue_assigned c;

		ck_assert_int_eq(vmq_manager_assign(mgr, 3, mac_c, NIC_TREE_IXGBE_IF, -1, &c), 0);
		ck_assert_uint_eq(c.dedicated, 1);
		ck_assert_uint_eq(c.queue, a.queue);
		ck_assert_int_eq(c.host_cpu, -1);	/* no core asked for: IRQ left alone */
		ck_assert_str_eq(affinity(NIC_TREE_IXGBE_IRQ0 + (int)c.queue), NIC_TREE_AFFINITY);
	}
}
END_TEST

START_TEST(exhaustion_gives_default_queue_with_warning)
{
	struct modvm_net_queue_assigned q;
	uint8_t mac[6] = { 0x52, 0x54, 0, 0, 0, 0 };

	for (uint32_t vm = 0; vm < 7; vm++) {
		mac[5] = (uint8_t)(vm + 1);
		ck_assert_int_eq(vmq_manager_assign(mgr, vm, mac, NIC_TREE_IXGBE_IF, 1, &q), 0);
		ck_assert_uint_eq(q.dedicated, 1);
		ck_assert_uint_ne(q.queue, 0);
	}
	ck_assert_uint_eq(fake_ethtool_rule_count(ix), 7);
	ck_assert_uint_eq(capture_count("no free rx queue", NULL), 0);
	mac[5] = 0x42;
	ck_assert_int_eq(vmq_manager_assign(mgr, 7, mac, NIC_TREE_IXGBE_IF, 1, &q), 0);
	ck_assert_uint_eq(q.dedicated, 0);
	ck_assert_uint_eq(q.queue, 0);
	ck_assert_int_eq(q.host_cpu, -1);
	ck_assert_uint_eq(fake_ethtool_rule_count(ix), 7);	/* no rule for the 8th */
	ck_assert_uint_eq(capture_count("warn: net-vmq: vm 7", "no free rx queue", NULL), 1);
	ck_assert_uint_eq(ev.nq, 8);
	ck_assert_uint_eq(ev.q[7].dedicated, 0);

	/* destroy (in teardown) undoes all seven; check it here explicitly */
	vmq_manager_destroy(mgr);
	mgr = NULL;
	ck_assert_uint_eq(fake_ethtool_rule_count(ix), 0);
	ck_assert_uint_eq(ix->deletes, 7);
	for (int q2 = 0; q2 < 8; q2++)
		ck_assert_str_eq(affinity(NIC_TREE_IXGBE_IRQ0 + q2), NIC_TREE_AFFINITY);
}
END_TEST

START_TEST(fallbacks_say_why)
{
	struct modvm_net_queue_assigned q;
	unsigned calls;

	/* virtio uplink: no n-tuple */
	ck_assert_int_eq(vmq_manager_assign(mgr, 1, mac_a, NIC_TREE_VIRTIO_IF, 0, &q), 0);
	ck_assert_uint_eq(q.dedicated, 0);
	ck_assert_uint_eq(q.queue, 0);
	ck_assert_str_eq(q.uplink, NIC_TREE_VIRTIO_IF);
	ck_assert_uint_eq(capture_count("vm 1", "uplink eth0", "n-tuple", "per-VM tap queues", NULL), 1);

	/* no uplink */
	ck_assert_int_eq(vmq_manager_assign(mgr, 2, mac_b, NULL, 0, &q), 0);
	ck_assert_uint_eq(q.dedicated, 0);
	ck_assert_str_eq(q.uplink, "");
	ck_assert_uint_eq(capture_count("vm 2", "no uplink configured", NULL), 1);

	/* lo exists but has no PCI device; veth9 does not exist */
	ck_assert_int_eq(vmq_manager_assign(mgr, 3, mac_a, "lo", 0, &q), 0);
	ck_assert_uint_eq(q.dedicated, 0);
	ck_assert_uint_eq(capture_count("vm 3", "uplink lo", "virtual interface", NULL), 1);
	ck_assert_int_eq(vmq_manager_assign(mgr, 4, mac_b, "veth9", 0, &q), 0);
	ck_assert_uint_eq(capture_count("vm 4", "uplink veth9", "no such interface", NULL), 1);

	/* the driver refuses the rule: default queue, one warning with the errno */
	ix->insert_errno = EBUSY;
	calls = ix->inserts;
	ck_assert_int_eq(vmq_manager_assign(mgr, 5, mac_b, NIC_TREE_IXGBE_IF, 1, &q), 0);
	ck_assert_uint_eq(q.dedicated, 0);
	ck_assert_uint_eq(q.queue, 0);
	ck_assert_uint_eq(ix->inserts, calls);
	ck_assert_uint_eq(capture_count("vm 5", "refused the steering rule", strerror(EBUSY), NULL), 1);
	ck_assert_str_eq(affinity(NIC_TREE_IXGBE_IRQ0 + 1), NIC_TREE_AFFINITY);

	/* nothing anywhere was programmed */
	ck_assert_uint_eq(fake_ethtool_rule_count(ix), 0);
	ck_assert_uint_eq(ev.nq, 5);
}
END_TEST

START_TEST(bad_requests_are_refused)
{
	const uint8_t zero[6] = { 0 };
	struct modvm_net_queue_assigned q;

	ck_assert_int_eq(vmq_manager_assign(mgr, 1, zero, NIC_TREE_IXGBE_IF, 0, &q), -EINVAL);
	ck_assert_uint_eq(capture_count("vm 1", "not a unicast MAC", NULL), 1);
	ck_assert_int_eq(vmq_manager_assign(mgr, 1, mac_a, NIC_TREE_IXGBE_IF, 0, &q), 0);
	ck_assert_int_eq(vmq_manager_assign(mgr, 2, mac_a, NIC_TREE_IXGBE_IF, 0, &q), -EEXIST);
	ck_assert_uint_eq(capture_count("vm 2", "already has a queue", NULL), 1);
	ck_assert_int_eq(vmq_manager_assign(mgr, 3, mac_b, "an-interface-name-too-long", 0, &q), -EINVAL);
	ck_assert_uint_eq(capture_count("vm 3", "at most 15 characters", NULL), 1);
	ck_assert_uint_eq(vmq_manager_assignment_count(mgr), 1);
	ck_assert_uint_eq(fake_ethtool_rule_count(ix), 1);
	ck_assert_uint_eq(ev.nq, 1);
}
END_TEST

/* A driver that picks the location itself (RX_CLS_LOC_SPECIAL). */
START_TEST(driver_chosen_rule_location)
{
	struct modvm_net_queue_assigned q;
	const struct vmq_assignment *a;

	ix->loc_special = true;
	ck_assert_int_eq(vmq_manager_assign(mgr, 1, mac_a, NIC_TREE_IXGBE_IF, 0, &q), 0);
	ck_assert_uint_eq(q.dedicated, 1);
	a = vmq_manager_assignment(mgr, 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(nt_rule_location(core, a->handle), 0);	/* the fake's first free slot */
	ck_assert(ix->rules[0].used);
	ck_assert_int_eq(vmq_manager_release(mgr, 1), 1);
	ck_assert(!ix->rules[0].used);
}
END_TEST

/* Rules already on the NIC (another modvm's, the operator's): their rings
 * are taken, and a rule that already steers the VM's MAC is not replaced. */
START_TEST(rules_already_on_the_nic_are_respected)
{
	static const uint8_t other[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01 };
	struct modvm_net_queue_assigned q;
	const struct fake_rule *r;

	fake_ethtool_put_rule(ix, 15, other, 1);
	fake_ethtool_put_rule(ix, 3, mac_b, 5);
	ck_assert_int_eq(vmq_manager_assign(mgr, 1, mac_a, NIC_TREE_IXGBE_IF, 0, &q), 0);
	ck_assert_uint_eq(q.dedicated, 1);
	ck_assert_uint_eq(q.queue, 2);		/* 1 and 5 are someone else's */
	r = fake_ethtool_rule_for(ix, mac_a);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_eq(r, &ix->rules[14]);	/* 15 is taken */
	/* the VM whose MAC a rule already steers keeps the default queue */
	ck_assert_int_eq(vmq_manager_assign(mgr, 2, mac_b, NIC_TREE_IXGBE_IF, 0, &q), 0);
	ck_assert_uint_eq(q.dedicated, 0);
	ck_assert_uint_eq(capture_count("already has a steering rule for it (location 3, rx "
					"queue 5)", NULL), 1);
	ck_assert_uint_eq(ix->rules[3].ring, 5);
	vmq_manager_release(mgr, 2);
	ck_assert_int_eq(vmq_manager_release(mgr, 1), 1);
	ck_assert(ix->rules[15].used && ix->rules[3].used);
	ck_assert_uint_eq(fake_ethtool_rule_count(ix), 2);
}
END_TEST

/* A rule replaced at our location after we made it (the operator deleted
 * ours and added one; ethtool picks the highest free slot): stop leaves it. */
START_TEST(a_replaced_rule_is_not_deleted)
{
	static const uint8_t other[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0x02 };
	struct modvm_net_queue_assigned q;
	const struct vmq_assignment *a;
	int64_t loc;

	ck_assert_int_eq(vmq_manager_assign(mgr, 1, mac_a, NIC_TREE_IXGBE_IF, 0, &q), 0);
	a = vmq_manager_assignment(mgr, 0);
	ck_assert_ptr_nonnull(a);
	loc = nt_rule_location(core, a->handle);
	ck_assert_int_ge(loc, 0);
	fake_ethtool_put_rule(ix, (unsigned)loc, other, 3);
	ck_assert_int_eq(vmq_manager_release(mgr, 1), 1);
	ck_assert_uint_eq(ix->deletes, 0);
	ck_assert_ptr_nonnull(fake_ethtool_rule_for(ix, other));
	ck_assert_uint_eq(capture_count("is no longer the one for vm 1: left alone", NULL), 1);
}
END_TEST

static unsigned state_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += strstr(e->d_name, ".state") != NULL;
	closedir(d);
	return n;
}

/*
 * Each rule and IRQ pin is journaled before it is made.  A run that dies
 * with them in place (its journal no longer locked) has them undone by
 * the next one: the rule deleted only where it still matches exactly, the
 * IRQ's affinity written back; a live run's journal is left alone.
 */
START_TEST(a_killed_runs_rules_and_irqs_undone_by_the_next)
{
	struct nt_ethtool_ops ops = { .ethtool = fake_ethtool_ops.ethtool };
	struct modvm_net_queue_assigned q;
	struct nt_journal *j, *live;
	char dir[] = "/tmp/nt-journal-XXXXXX", err[256], text[1024] = "", path[300];
	unsigned undone = 9;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(nt_journal_open(&j, dir, false, err, sizeof(err)), 0);
	ck_assert_uint_eq(state_files(dir), 0);		/* made at the first change */
	nt_driver_set_journal(core, j);
	ck_assert_int_eq(vmq_manager_assign(mgr, 1, mac_a, NIC_TREE_IXGBE_IF, 1, &q), 0);
	ck_assert_uint_eq(q.dedicated, 1);
	int irq = NIC_TREE_IXGBE_IRQ0 + (int)q.queue;
	ck_assert_str_eq(affinity(irq), "1");
	snprintf(path, sizeof(path), "%s/%ld.state", dir, (long)getpid());
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_gt(fread(text, 1, sizeof(text) - 1, f), 0);
	fclose(f);
	char want[128];
	snprintf(want, sizeof(want), "rule %s 52:54:00:12:34:01 0 %u\nirq %d %s\n",
		 NIC_TREE_IXGBE_IF, q.queue, irq, NIC_TREE_AFFINITY);
	ck_assert_str_eq(text, want);
	/* the run dies: nothing undone, the journal no longer held */
	nt_driver_set_journal(core, NULL);
	nt_journal_close(j);
	ck_assert_uint_eq(state_files(dir), 1);
	/* never written over, not even by a process that got its pid */
	ck_assert_int_eq(nt_journal_open(&live, dir, true, err, sizeof(err)), -EEXIST);
	ck_assert_int_eq(rename(path, strcat(strcpy(want, dir), "/1.state")), 0);
	/* the next run's own journal is live: never taken for a dead one */
	ck_assert_int_eq(nt_journal_open(&live, dir, true, err, sizeof(err)), 0);
	ck_assert_int_eq(nt_journal_add(live, "irq 120 7"), 0);
	ck_assert_int_eq(nt_journal_recover(dir, &ops, &fake, tree.proc, &undone), 0);
	ck_assert_uint_eq(undone, 2);
	ck_assert_ptr_null(fake_ethtool_rule_for(ix, mac_a));
	ck_assert_str_eq(affinity(irq), NIC_TREE_AFFINITY);
	ck_assert_str_eq(affinity(120), NIC_TREE_AFFINITY);	/* the live one's */
	ck_assert_uint_eq(state_files(dir), 1);
	nt_journal_drop(live, "irq 120 7");
	ck_assert_uint_eq(state_files(dir), 1);	/* held: emptied, kept until close */
	nt_journal_close(live);
	ck_assert_uint_eq(state_files(dir), 0);
	/* not held: the file goes with the last change undone */
	ck_assert_int_eq(nt_journal_open(&j, dir, false, err, sizeof(err)), 0);
	ck_assert_int_eq(nt_journal_add(j, "irq 121 3"), 0);
	ck_assert_uint_eq(state_files(dir), 1);
	nt_journal_drop(j, "irq 121 3");
	ck_assert_uint_eq(state_files(dir), 0);
	/* a rule the NIC would not delete stays journaled */
	nt_driver_set_journal(core, j);
	ck_assert_int_eq(vmq_manager_assign(mgr, 2, mac_b, NIC_TREE_IXGBE_IF, -1, &q), 0);
	ck_assert_uint_eq(q.dedicated, 1);
	ix->delete_errno = EBUSY;
	ck_assert_int_eq(vmq_manager_release(mgr, 2), 1);
	ck_assert_uint_eq(state_files(dir), 1);
	nt_driver_set_journal(core, NULL);
	nt_journal_close(j);
	ix->delete_errno = 0;
	ck_assert_int_eq(nt_journal_recover(dir, &ops, &fake, tree.proc, &undone), 0);
	ck_assert_uint_eq(undone, 1);
	ck_assert_ptr_null(fake_ethtool_rule_for(ix, mac_b));
	ck_assert_uint_eq(state_files(dir), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* Two modvm choosing a ring at once must not pick the same one: while
 * another holds the host-wide lock, this one waits (up to a second), then
 * keeps the VM on the default queue rather than guess. */
START_TEST(ring_chosen_under_a_host_wide_lock)
{
	struct modvm_net_queue_assigned q;
	struct nt_journal *mine, *other;
	char dir[] = "/tmp/nt-journal-XXXXXX", err[256];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(nt_journal_open(&mine, dir, false, err, sizeof(err)), 0);
	ck_assert_int_eq(nt_journal_open(&other, dir, false, err, sizeof(err)), 0);
	nt_driver_set_journal(core, mine);
	ck_assert_int_eq(nt_journal_lock(other), 0);	/* the other is between read and insert */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(vmq_manager_assign(mgr, 1, mac_a, NIC_TREE_IXGBE_IF, 1, &q), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_uint_eq(q.dedicated, 0);
	ck_assert_ptr_null(fake_ethtool_rule_for(ix, mac_a));
	ck_assert_int_ge(t1.tv_sec - t0.tv_sec, NT_LOCK_WAIT_MS / 1000 - 1);
	vmq_manager_release(mgr, 1);
	nt_journal_unlock(other);
	ck_assert_int_eq(vmq_manager_assign(mgr, 1, mac_a, NIC_TREE_IXGBE_IF, 1, &q), 0);
	ck_assert_uint_eq(q.dedicated, 1);
	ck_assert_ptr_nonnull(fake_ethtool_rule_for(ix, mac_a));
	/* the lock was let go after the insert: the other gets it at once */
	ck_assert_int_eq(nt_journal_lock(other), 0);
	nt_journal_unlock(other);
	ck_assert_int_eq(vmq_manager_release(mgr, 1), 1);
	nt_driver_set_journal(core, NULL);
	nt_journal_close(mine);
	nt_journal_close(other);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* A MAC with a VLAN: one FLOW_EXT rule with the VLAN id masked (not its priority). */
START_TEST(vlan_goes_into_the_rule)
{
	struct vmq_request req = { .vm_id = 1, .vlan = 42, .uplink = NIC_TREE_IXGBE_IF };
	struct modvm_net_queue_assigned q;
	const struct fake_rule *r;

	memcpy(req.mac, mac_a, 6);
	ck_assert_int_eq(vmq_manager_assign_req(mgr, &req, 1, &q), 0);
	ck_assert_uint_eq(q.dedicated, 1);
	r = fake_ethtool_rule_for(ix, mac_a);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->flow_type, ETHER_FLOW | FLOW_EXT);
	ck_assert_uint_eq(r->vlan, 42);
	ck_assert_uint_eq(r->vlan_mask, 0x0fff);
	/* the same MAC on another VLAN is another destination */
	req.vm_id = 2;
	req.vlan = 43;
	ck_assert_int_eq(vmq_manager_assign_req(mgr, &req, 1, &q), 0);
	ck_assert_uint_eq(q.dedicated, 1);
	req.vm_id = 3;
	ck_assert_int_eq(vmq_manager_assign_req(mgr, &req, 1, &q), -EEXIST);
}
END_TEST

/* What a VM NIC requires of its uplink's driver: missing bits named, nothing published. */
START_TEST(required_offloads_missing_are_named)
{
	struct vmq_request req = { .vm_id = 1, .uplink = NIC_TREE_IXGBE_IF,
				   .offloads = MODVM_NET_OFFLOAD_RX_CSUM | MODVM_NET_OFFLOAD_TSO4 };
	struct modvm_net_queue_assigned q;
	char bad[32];
	uint64_t mask;

	memcpy(req.mac, mac_a, 6);
	ck_assert_int_eq(vmq_manager_assign_req(mgr, &req, 1, &q), 0);
	ck_assert_uint_eq(q.dedicated, 1);
	ck_assert_int_eq(vmq_offload_parse("rx-checksum, tx-udp-segmentation rx-lro", &mask, bad,
					   sizeof(bad)), 0);
	req.vm_id = 2;
	memcpy(req.mac, mac_b, 6);
	req.offloads = mask;
	ck_assert_int_eq(vmq_manager_assign_req(mgr, &req, 1, &q), -EOPNOTSUPP);
	ck_assert_uint_eq(capture_count("vm 2", "uplink enp3s0f0 (driver nic-ethtool) lacks the "
					"offloads it requires: tx-udp-segmentation", NULL), 1);
	ck_assert_uint_eq(ev.nq, 1);
	/* the virtio uplink has no driver at all */
	req.uplink = NIC_TREE_VIRTIO_IF;
	req.offloads = MODVM_NET_OFFLOAD_RX_CSUM;
	ck_assert_int_eq(vmq_manager_assign_req(mgr, &req, 1, &q), -EOPNOTSUPP);
	ck_assert_uint_eq(capture_count("uplink eth0 (no NIC driver) lacks", "rx-checksum", NULL), 1);
	ck_assert_int_eq(vmq_offload_parse("rx-checksum warp-drive", &mask, bad, sizeof(bad)),
			 -EINVAL);
	ck_assert_str_eq(bad, "warp-drive");
}
END_TEST

/* A vendor driver for 8086:10fb: its probe beats the generic one, so it owns the NIC. */
static unsigned acme_allocs, acme_frees;

static int acme_probe(struct modvm_plugin_ctx *self, const struct modvm_nic *nic)
{
	(void)self;
	return nic->info.vendor_id == 0x8086 && nic->info.device_id == 0x10fb ? 80 : 0;
}

static int acme_alloc(struct modvm_plugin_ctx *self, const struct modvm_nic *nic,
		      const struct modvm_nic_queue_req *req, struct modvm_nic_queue *out)
{
	(void)self, (void)nic, (void)req;
	acme_allocs++;
	*out = (struct modvm_nic_queue){ .struct_size = sizeof(*out), .queue = 5, .irq = -1,
					 .host_cpu = -1, .handle = 77 };
	return 0;
}

static int acme_free(struct modvm_plugin_ctx *self, const struct modvm_nic *nic, uint64_t handle)
{
	(void)self, (void)nic;
	acme_frees += handle == 77;
	return handle == 77 ? 0 : -ENOENT;
}

static const struct modvm_nic_driver acme = {
	.struct_size = sizeof(struct modvm_nic_driver),
	.probe = acme_probe, .queue_alloc = acme_alloc, .queue_free = acme_free,
};

static void add_line(const char *text, void *ud)
{
	strncat(ud, text, 2047 - strlen(ud));
	strncat(ud, "\n", 2047 - strlen(ud));
}

START_TEST(best_probe_owns_the_nic)
{
	struct vmq_driver drv[2];
	struct vmq_options o;
	struct vmq_manager *m2;
	struct nt_driver *core2;
	struct modvm_net_queue_assigned q;
	static char text[2048];

	drv[0] = ntuple_test_driver(&fake, &core2);
	drv[1] = (struct vmq_driver){ .name = "acme-nic", .ops = &acme, .self = NULL };
	o = (struct vmq_options){ .sysfs_root = tree.sys, .proc_root = tree.proc,
				  .ethtool = &fake_ethtool_ops, .ethtool_ud = &fake,
				  .drivers = drv, .ndrivers = 2 };
	ck_assert_int_eq(vmq_manager_create(NULL, &o, &m2), 0);
	ck_assert_int_eq(vmq_manager_assign(m2, 1, mac_a, NIC_TREE_IXGBE_IF, 1, &q), 0);
	ck_assert_uint_eq(q.dedicated, 1);
	ck_assert_uint_eq(q.queue, 5);
	ck_assert_uint_eq(acme_allocs, 1);
	ck_assert_uint_eq(fake_ethtool_rule_count(ix), 0);	/* the generic one was not asked */
	text[0] = '\0';
	vmq_manager_describe(m2, add_line, text);
	ck_assert_msg(strstr(text, "VMQ: yes (driver acme-nic, probe 80)"), "%s", text);
	ck_assert_msg(strstr(text, "VMQ: no (no NIC driver claims it: no n-tuple"), "%s", text);
	vmq_manager_destroy(m2);
	ck_assert_uint_eq(acme_frees, 1);
	nt_driver_free(core2);
}
END_TEST

/* A driver that breaks the contract (the default queue) or refuses: the VM
 * falls back to its tap queues, with one line naming the driver. */
static unsigned rogue_calls, rogue_frees;

static int rogue_probe(struct modvm_plugin_ctx *self, const struct modvm_nic *nic)
{
	(void)self;
	return strcmp(nic->info.ifname, NIC_TREE_IXGBE_IF) == 0 ? 90 : 0;
}

static int rogue_alloc(struct modvm_plugin_ctx *self, const struct modvm_nic *nic,
		       const struct modvm_nic_queue_req *req, struct modvm_nic_queue *out)
{
	(void)self, (void)nic, (void)req;
	if (rogue_calls++ == 0) {
		*out = (struct modvm_nic_queue){ .struct_size = sizeof(*out), .queue = 0,
						 .irq = -1, .host_cpu = -1, .handle = 9 };
		return 0;
	}
	return -EIO;
}

static int rogue_free(struct modvm_plugin_ctx *self, const struct modvm_nic *nic, uint64_t handle)
{
	(void)self, (void)nic;
	rogue_frees += handle == 9;
	return handle == 9 ? 0 : -ENOENT;
}

static const struct modvm_nic_driver rogue = {
	.struct_size = sizeof(struct modvm_nic_driver),
	.probe = rogue_probe, .queue_alloc = rogue_alloc, .queue_free = rogue_free,
};

START_TEST(broken_or_refusing_driver_falls_back)
{
	struct vmq_driver drv = { .name = "rogue-nic", .ops = &rogue, .self = NULL };
	struct vmq_options o = { .sysfs_root = tree.sys, .proc_root = tree.proc,
				 .ethtool = &fake_ethtool_ops, .ethtool_ud = &fake,
				 .drivers = &drv, .ndrivers = 1 };
	struct modvm_net_queue_assigned q;
	struct vmq_manager *m2;

	ck_assert_int_eq(vmq_manager_create(NULL, &o, &m2), 0);
	ck_assert_int_eq(vmq_manager_assign(m2, 1, mac_a, NIC_TREE_IXGBE_IF, 1, &q), 0);
	ck_assert_uint_eq(q.dedicated, 0);
	ck_assert_uint_eq(q.queue, 0);
	ck_assert_int_eq(q.host_cpu, -1);
	ck_assert_uint_eq(rogue_frees, 1);	/* what it gave was handed back at once */
	ck_assert_uint_eq(capture_count("vm 1", "driver rogue-nic gave enp3s0f0 queue 0",
					"not a queue of its own", NULL), 1);
	ck_assert_int_eq(vmq_manager_assign(m2, 2, mac_b, NIC_TREE_IXGBE_IF, 1, &q), 0);
	ck_assert_uint_eq(q.dedicated, 0);
	ck_assert_uint_eq(capture_count("vm 2", "driver rogue-nic gave no queue",
					"using per-VM tap queues", NULL), 1);
	ck_assert_uint_eq(rogue_calls, 2);
	ck_assert_uint_eq(fake_ethtool_rule_count(ix), 0);
	ck_assert_int_eq(vmq_manager_release(m2, 1), 1);
	vmq_manager_destroy(m2);
	ck_assert_uint_eq(rogue_frees, 1);	/* nothing held, nothing freed again */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vmq_manager");
	TCase *tc = tcase_create("manager");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, two_vms_get_two_queues_rules_and_irqs);
	tcase_add_test(tc, exhaustion_gives_default_queue_with_warning);
	tcase_add_test(tc, fallbacks_say_why);
	tcase_add_test(tc, bad_requests_are_refused);
	tcase_add_test(tc, driver_chosen_rule_location);
	tcase_add_test(tc, vlan_goes_into_the_rule);
	tcase_add_test(tc, rules_already_on_the_nic_are_respected);
	tcase_add_test(tc, a_replaced_rule_is_not_deleted);
	tcase_add_test(tc, a_killed_runs_rules_and_irqs_undone_by_the_next);
	tcase_add_test(tc, ring_chosen_under_a_host_wide_lock);
	tcase_add_test(tc, required_offloads_missing_are_named);
	tcase_add_test(tc, best_probe_owns_the_nic);
	tcase_add_test(tc, broken_or_refusing_driver_falls_back);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
