/*
 * The assignment decision as a pure function: rows of (NIC table with each
 * NIC's owning driver, queues already given, request) -> (rc, ask the
 * driver or why not), and the generic driver's ring choice (nic-ethtool's
 * nt_pick_ring): sequences that fill an uplink, exhaust it and free a ring
 * again.
 */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "ntuple.h"
#include "vmq.h"

enum { IXGBE, VIRTIO, ONEQ, NNICS };

static struct vmq_nic nics[NNICS];

/* What probing would leave: the generic driver (0) owns what it can steer. */
static void make_nics(void)
{
	memset(nics, 0, sizeof(nics));
	strcpy(nics[IXGBE].info.ifname, "enp3s0f0");
	nics[IXGBE].info.rx_queues = 8;
	nics[IXGBE].info.ntuple = 1;
	nics[IXGBE].driver = 0;
	strcpy(nics[VIRTIO].info.ifname, "eth0");
	nics[VIRTIO].info.rx_queues = 4;	/* queues, but no steering */
	nics[VIRTIO].info.ntuple = 0;
	nics[VIRTIO].driver = -1;
	strcpy(nics[ONEQ].info.ifname, "eno1");
	nics[ONEQ].info.rx_queues = 1;
	nics[ONEQ].info.ntuple = 1;
	nics[ONEQ].driver = -1;
}

static struct vmq_assignment given(uint32_t vm, uint8_t mac_last, const char *uplink,
				   uint16_t vlan, uint32_t queue, bool dedicated)
{
	struct vmq_assignment a;

	memset(&a, 0, sizeof(a));
	a.vm_id = vm;
	memcpy(a.mac, (uint8_t[6]){ 0x52, 0x54, 0, 0, 0, mac_last }, 6);
	strcpy(a.uplink, uplink);
	a.vlan = vlan;
	a.queue = queue;
	a.dedicated = dedicated;
	return a;
}

struct row {
	const char *what;
	uint8_t mac[6];
	uint16_t vlan;
	const char *uplink;
	unsigned ntaken;
	struct { uint8_t mac_last; const char *uplink; uint16_t vlan; } taken[8];
	int rc;
	bool ask;
	enum vmq_reason reason;
	int nic;
};

#define MAC(x) { 0x52, 0x54, 0, 0, 0, x }

static const struct row rows[] = {
	{ "an uplink its driver owns: ask the driver", MAC(1), 0, "enp3s0f0", 0, { { 0 } },
	  0, true, VMQ_DEDICATED, IXGBE },
	{ "no driver claims the virtio uplink (no n-tuple)", MAC(1), 0, "eth0", 0, { { 0 } },
	  0, false, VMQ_NO_DRIVER, VIRTIO },
	{ "no driver claims a single-queue uplink", MAC(1), 0, "eno1", 0, { { 0 } },
	  0, false, VMQ_NO_DRIVER, ONEQ },
	{ "no uplink: fallback", MAC(1), 0, "", 0, { { 0 } }, 0, false, VMQ_NO_UPLINK, -1 },
	{ "NULL uplink: fallback", MAC(1), 0, NULL, 0, { { 0 } }, 0, false, VMQ_NO_UPLINK, -1 },
	{ "unknown uplink (veth, tap): fallback", MAC(1), 0, "veth0", 0, { { 0 } },
	  0, false, VMQ_UPLINK_UNKNOWN, -1 },
	{ "same MAC twice on one uplink: refused", MAC(1), 0, "enp3s0f0", 1,
	  { { 1, "enp3s0f0", 0 } }, -EEXIST, false, VMQ_DEDICATED, -1 },
	{ "same MAC on another VLAN is another destination", MAC(1), 7, "enp3s0f0", 1,
	  { { 1, "enp3s0f0", 0 } }, 0, true, VMQ_DEDICATED, IXGBE },
	{ "same MAC and VLAN twice: refused", MAC(1), 7, "enp3s0f0", 1,
	  { { 1, "enp3s0f0", 7 } }, -EEXIST, false, VMQ_DEDICATED, -1 },
	{ "same MAC on another uplink is fine", MAC(1), 0, "enp3s0f0", 1,
	  { { 1, "eth0", 0 } }, 0, true, VMQ_DEDICATED, IXGBE },
	{ "zero MAC: refused", { 0 }, 0, "enp3s0f0", 0, { { 0 } },
	  -EINVAL, false, VMQ_DEDICATED, -1 },
	{ "multicast MAC: refused", { 0x01, 0, 0x5e, 0, 0, 1 }, 0, "enp3s0f0", 0, { { 0 } },
	  -EINVAL, false, VMQ_DEDICATED, -1 },
	{ "VLAN 4095 is reserved: refused", MAC(1), 4095, "enp3s0f0", 0, { { 0 } },
	  -EINVAL, false, VMQ_DEDICATED, -1 },
};

START_TEST(table)
{
	const struct row *r = &rows[_i];
	struct vmq_assignment taken[8];
	struct vmq_request req = { .vm_id = 99, .uplink = r->uplink, .vlan = r->vlan };
	struct vmq_decision d;
	int rc;

	make_nics();
	for (unsigned i = 0; i < r->ntaken; i++)
		taken[i] = given(i, r->taken[i].mac_last, r->taken[i].uplink, r->taken[i].vlan, 1,
				 true);
	memcpy(req.mac, r->mac, 6);
	rc = vmq_decide(nics, NNICS, taken, r->ntaken, &req, &d);
	ck_assert_msg(rc == r->rc, "%s: rc %d, want %d", r->what, rc, r->rc);
	if (rc)
		return;
	ck_assert_msg(d.ask_driver == r->ask && d.reason == r->reason && d.nic == r->nic,
		      "%s: got ask %d reason %d (%s) nic %d; want %d %d %d", r->what, d.ask_driver,
		      d.reason, vmq_reason_text(d.reason), d.nic, r->ask, r->reason, r->nic);
}
END_TEST

/* The generic driver's rings: ring 0 never, the lowest free one first. */
START_TEST(rings_fill_exhaust_release_reuse)
{
	uint32_t taken[16], ring;
	unsigned n = 0;
	bool seen[8] = { false };

	for (uint32_t vm = 0; vm < 9; vm++) {
		int rc = nt_pick_ring(8, taken, n, &ring);

		if (vm < 7) {
			ck_assert_int_eq(rc, 0);
			ck_assert_uint_ne(ring, 0);
			ck_assert_uint_lt(ring, 8);
			ck_assert_msg(!seen[ring], "ring %u given twice", ring);
			seen[ring] = true;
			taken[n++] = ring;
		} else {
			/* the 8th and 9th VM get none: they share the default queue */
			ck_assert_int_eq(rc, -ENOSPC);
		}
	}
	/* VM 3 goes away: its ring is the next one handed out */
	uint32_t freed = taken[3];
	memmove(&taken[3], &taken[4], (n - 4) * sizeof(taken[0]));
	n--;
	ck_assert_int_eq(nt_pick_ring(8, taken, n, &ring), 0);
	ck_assert_uint_eq(ring, freed);
	/* a freed ring in the middle is reused before higher ones */
	ck_assert_int_eq(nt_pick_ring(8, (uint32_t[]){ 1, 3 }, 2, &ring), 0);
	ck_assert_uint_eq(ring, 2);
	ck_assert_int_eq(nt_pick_ring(1, NULL, 0, &ring), -ENOSPC);
}
END_TEST

/* What the generic driver claims, from the NIC as discovery found it. */
START_TEST(generic_driver_probe)
{
	struct modvm_nic nic = { .struct_size = sizeof(nic) };
	struct modvm_nic_caps caps = { .struct_size = sizeof(caps) };

	nic.info.rx_queues = 8;
	nic.info.ntuple = 1;
	nic.info.offload_capa = MODVM_NET_OFFLOAD_NTUPLE | MODVM_NET_OFFLOAD_VLAN_RX;
	ck_assert_int_eq(nt_probe(&nic), NT_SCORE);
	ck_assert_int_eq(nt_caps(&nic, &caps), 0);
	ck_assert_uint_eq(caps.max_queues, 7);
	ck_assert_uint_eq(caps.flags, MODVM_NIC_CAP_VLAN);
	ck_assert_uint_eq(caps.offload_capa, nic.info.offload_capa);
	nic.info.ntuple = 0;
	ck_assert_int_eq(nt_probe(&nic), 0);
	nic.info.ntuple = 1;
	nic.info.rx_queues = 1;
	ck_assert_int_eq(nt_probe(&nic), 0);
	nic.struct_size = 8;	/* from a NIC plugin of another layout: not read */
	ck_assert_int_eq(nt_probe(&nic), 0);
}
END_TEST

START_TEST(reason_texts)
{
	for (int r = VMQ_DEDICATED; r <= VMQ_REFUSED; r++)
		ck_assert_str_ne(vmq_reason_text((enum vmq_reason)r), "unknown");
	ck_assert_str_eq(vmq_offload_name(MODVM_NET_OFFLOAD_NTUPLE), "rx-ntuple-filter");
	ck_assert_str_eq(vmq_offload_name(MODVM_NET_OFFLOAD_TSO4), "tx-tcp-segmentation");
	ck_assert_ptr_null(vmq_offload_name(UINT64_C(1) << 63));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vmq_decide");
	TCase *tc = tcase_create("decide");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, table, 0, (int)(sizeof(rows) / sizeof(rows[0])));
	tcase_add_test(tc, rings_fill_exhaust_release_reuse);
	tcase_add_test(tc, generic_driver_probe);
	tcase_add_test(tc, reason_texts);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
