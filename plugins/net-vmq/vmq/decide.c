/*
 * decide.c — which receive queue a VM NIC gets: a pure function of the NIC
 * table, the assignments already made and the request, so every case is a
 * row in a table test.
 */
#include <errno.h>
#include <string.h>

#include "vmq.h"

const char *vmq_reason_text(enum vmq_reason reason)
{
	switch (reason) {
	case VMQ_DEDICATED: return "dedicated queue with a MAC steering rule";
	case VMQ_NO_UPLINK: return "no uplink configured";
	case VMQ_UPLINK_UNKNOWN: return "not a PCI NIC found on this host";
	case VMQ_NO_NTUPLE: return "no n-tuple flow steering (rx-ntuple-filter off)";
	case VMQ_SINGLE_QUEUE: return "a single rx queue";
	case VMQ_EXHAUSTED: return "every rx queue but the default one is taken";
	}
	return "unknown";
}

static bool mac_is_valid(const uint8_t mac[6])
{
	static const uint8_t zero[6];

	return memcmp(mac, zero, 6) != 0 && !(mac[0] & 1);
}

int vmq_decide(const struct vmq_nic *nics, size_t nnics, const struct vmq_assignment *taken,
	       size_t ntaken, const struct vmq_request *req, struct vmq_decision *out)
{
	const char *uplink = req->uplink ? req->uplink : "";
	const struct vmq_nic *nic = NULL;

	memset(out, 0, sizeof(*out));
	out->nic = -1;
	if (!mac_is_valid(req->mac))
		return -EINVAL;
	for (size_t i = 0; i < ntaken; i++)
		if (memcmp(taken[i].mac, req->mac, 6) == 0 && strcmp(taken[i].uplink, uplink) == 0)
			return -EEXIST;
	if (!uplink[0]) {
		out->reason = VMQ_NO_UPLINK;
		return 0;
	}
	for (size_t i = 0; i < nnics; i++) {
		if (strcmp(nics[i].info.ifname, uplink) == 0) {
			nic = &nics[i];
			out->nic = (int)i;
			break;
		}
	}
	if (!nic) {
		out->reason = VMQ_UPLINK_UNKNOWN;
		return 0;
	}
	if (!nic->info.ntuple) {
		out->reason = VMQ_NO_NTUPLE;
		return 0;
	}
	if (nic->info.rx_queues < 2) {
		out->reason = VMQ_SINGLE_QUEUE;
		return 0;
	}
	/* ring 0 takes everything no rule matches: it is never anyone's own */
	for (uint32_t q = 1; q < nic->info.rx_queues; q++) {
		bool busy = false;

		for (size_t i = 0; i < ntaken && !busy; i++)
			busy = taken[i].dedicated && taken[i].queue == q &&
			       strcmp(taken[i].uplink, uplink) == 0;
		if (!busy) {
			out->dedicated = true;
			out->queue = q;
			out->reason = VMQ_DEDICATED;
			return 0;
		}
	}
	out->reason = VMQ_EXHAUSTED;
	return 0;
}
