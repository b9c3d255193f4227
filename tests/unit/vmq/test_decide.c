/*
 * The assignment decision as a pure function: rows of (NIC table, queues
 * already given, request) -> (rc, dedicated, queue, reason), and sequences
 * that fill an uplink, exhaust it and free a queue again.
 */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "vmq.h"

enum { IXGBE, VIRTIO, ONEQ, NNICS };

static struct vmq_nic nics[NNICS];

static void make_nics(void)
{
	memset(nics, 0, sizeof(nics));
	strcpy(nics[IXGBE].info.ifname, "enp3s0f0");
	nics[IXGBE].info.rx_queues = 8;
	nics[IXGBE].info.ntuple = 1;
	strcpy(nics[VIRTIO].info.ifname, "eth0");
	nics[VIRTIO].info.rx_queues = 4;	/* queues, but no steering */
	nics[VIRTIO].info.ntuple = 0;
	strcpy(nics[ONEQ].info.ifname, "eno1");
	nics[ONEQ].info.rx_queues = 1;
	nics[ONEQ].info.ntuple = 1;
}

static struct vmq_assignment given(uint32_t vm, uint8_t mac_last, const char *uplink,
				   uint32_t queue, bool dedicated)
{
	struct vmq_assignment a;

	memset(&a, 0, sizeof(a));
	a.vm_id = vm;
	memcpy(a.mac, (uint8_t[6]){ 0x52, 0x54, 0, 0, 0, mac_last }, 6);
	strcpy(a.uplink, uplink);
	a.queue = queue;
	a.dedicated = dedicated;
	return a;
}

struct row {
	const char *what;
	uint8_t mac[6];
	const char *uplink;
	unsigned ntaken;
	struct { uint8_t mac_last; const char *uplink; uint32_t queue; bool dedicated; } taken[8];
	int rc;
	bool dedicated;
	uint32_t queue;
	enum vmq_reason reason;
	int nic;
};

#define MAC(x) { 0x52, 0x54, 0, 0, 0, x }

static const struct row rows[] = {
	{ "first VM on ixgbe gets ring 1, never 0", MAC(1), "enp3s0f0", 0, { { 0 } },
	  0, true, 1, VMQ_DEDICATED, IXGBE },
	{ "second MAC gets the next ring", MAC(2), "enp3s0f0", 1, { { 1, "enp3s0f0", 1, true } },
	  0, true, 2, VMQ_DEDICATED, IXGBE },
	{ "a freed ring in the middle is reused first", MAC(4), "enp3s0f0", 2,
	  { { 1, "enp3s0f0", 1, true }, { 3, "enp3s0f0", 3, true } },
	  0, true, 2, VMQ_DEDICATED, IXGBE },
	{ "fallback assignments hold no ring", MAC(2), "enp3s0f0", 1, { { 1, "enp3s0f0", 0, false } },
	  0, true, 1, VMQ_DEDICATED, IXGBE },
	{ "rings are per uplink", MAC(2), "enp3s0f0", 1, { { 1, "enp3s0f1", 1, true } },
	  0, true, 1, VMQ_DEDICATED, IXGBE },
	{ "all rings 1..7 taken: default queue", MAC(9), "enp3s0f0", 7,
	  { { 1, "enp3s0f0", 1, true }, { 2, "enp3s0f0", 2, true }, { 3, "enp3s0f0", 3, true },
	    { 4, "enp3s0f0", 4, true }, { 5, "enp3s0f0", 5, true }, { 6, "enp3s0f0", 6, true },
	    { 7, "enp3s0f0", 7, true } },
	  0, false, 0, VMQ_EXHAUSTED, IXGBE },
	{ "no n-tuple: fallback even with queues", MAC(1), "eth0", 0, { { 0 } },
	  0, false, 0, VMQ_NO_NTUPLE, VIRTIO },
	{ "single rx queue: fallback", MAC(1), "eno1", 0, { { 0 } },
	  0, false, 0, VMQ_SINGLE_QUEUE, ONEQ },
	{ "no uplink: fallback", MAC(1), "", 0, { { 0 } }, 0, false, 0, VMQ_NO_UPLINK, -1 },
	{ "NULL uplink: fallback", MAC(1), NULL, 0, { { 0 } }, 0, false, 0, VMQ_NO_UPLINK, -1 },
	{ "unknown uplink (veth, tap): fallback", MAC(1), "veth0", 0, { { 0 } },
	  0, false, 0, VMQ_UPLINK_UNKNOWN, -1 },
	{ "same MAC twice on one uplink: refused", MAC(1), "enp3s0f0", 1,
	  { { 1, "enp3s0f0", 1, true } }, -EEXIST, false, 0, VMQ_DEDICATED, -1 },
	{ "same MAC on another uplink is fine", MAC(1), "enp3s0f0", 1,
	  { { 1, "eth0", 0, false } }, 0, true, 1, VMQ_DEDICATED, IXGBE },
	{ "zero MAC: refused", { 0 }, "enp3s0f0", 0, { { 0 } },
	  -EINVAL, false, 0, VMQ_DEDICATED, -1 },
	{ "multicast MAC: refused", { 0x01, 0, 0x5e, 0, 0, 1 }, "enp3s0f0", 0, { { 0 } },
	  -EINVAL, false, 0, VMQ_DEDICATED, -1 },
};

START_TEST(table)
{
	const struct row *r = &rows[_i];
	struct vmq_assignment taken[8];
	struct vmq_request req = { .vm_id = 99, .uplink = r->uplink };
	struct vmq_decision d;
	int rc;

	make_nics();
	for (unsigned i = 0; i < r->ntaken; i++)
		taken[i] = given(i, r->taken[i].mac_last, r->taken[i].uplink, r->taken[i].queue,
				 r->taken[i].dedicated);
	memcpy(req.mac, r->mac, 6);
	rc = vmq_decide(nics, NNICS, taken, r->ntaken, &req, &d);
	ck_assert_msg(rc == r->rc, "%s: rc %d, want %d", r->what, rc, r->rc);
	if (rc)
		return;
	ck_assert_msg(d.dedicated == r->dedicated && d.queue == r->queue && d.reason == r->reason &&
			      d.nic == r->nic,
		      "%s: got dedicated %d queue %u reason %d (%s) nic %d; want %d %u %d %d",
		      r->what, d.dedicated, d.queue, d.reason, vmq_reason_text(d.reason), d.nic,
		      r->dedicated, r->queue, r->reason, r->nic);
}
END_TEST

/* Fill the ixgbe uplink VM by VM as the manager would, then free one. */
START_TEST(fill_exhaust_release_reuse)
{
	struct vmq_assignment taken[16];
	unsigned n = 0;
	bool seen[8] = { false };

	make_nics();
	for (uint32_t vm = 0; vm < 9; vm++) {
		struct vmq_request req = { .vm_id = vm, .mac = MAC((uint8_t)(vm + 1)),
					   .uplink = "enp3s0f0" };
		struct vmq_decision d;

		ck_assert_int_eq(vmq_decide(nics, NNICS, taken, n, &req, &d), 0);
		if (vm < 7) {
			ck_assert_msg(d.dedicated, "vm %u not dedicated: %s", vm,
				      vmq_reason_text(d.reason));
			ck_assert_uint_ne(d.queue, 0);
			ck_assert_uint_lt(d.queue, 8);
			ck_assert_msg(!seen[d.queue], "ring %u given twice", d.queue);
			seen[d.queue] = true;
		} else {
			/* the 8th and 9th VM share the default queue */
			ck_assert(!d.dedicated);
			ck_assert_uint_eq(d.queue, 0);
			ck_assert_int_eq(d.reason, VMQ_EXHAUSTED);
		}
		taken[n++] = given(vm, (uint8_t)(vm + 1), "enp3s0f0", d.queue, d.dedicated);
	}
	/* VM 3 goes away: its ring is the next one handed out */
	{
		uint32_t freed = taken[3].queue;
		struct vmq_request req = { .vm_id = 20, .mac = MAC(0x20), .uplink = "enp3s0f0" };
		struct vmq_decision d;

		memmove(&taken[3], &taken[4], (n - 4) * sizeof(taken[0]));
		n--;
		ck_assert_int_eq(vmq_decide(nics, NNICS, taken, n, &req, &d), 0);
		ck_assert(d.dedicated);
		ck_assert_uint_eq(d.queue, freed);
	}
}
END_TEST

START_TEST(reason_texts)
{
	for (int r = VMQ_DEDICATED; r <= VMQ_EXHAUSTED; r++)
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
	tcase_add_test(tc, fill_exhaust_release_reuse);
	tcase_add_test(tc, reason_texts);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
