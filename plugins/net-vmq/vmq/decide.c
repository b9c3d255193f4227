/*
 * decide.c — what a VM NIC's request for a receive queue comes to: a pure
 * function of the NIC table (with each NIC's owning driver), the
 * assignments already made and the request, so every case is a row in a
 * table test.  Which ring a dedicated queue is on is the driver's choice.
 */
#include <errno.h>
#include <string.h>

#include "vmq.h"

const char *vmq_reason_text(enum vmq_reason reason)
{
	switch (reason) {
	case VMQ_DEDICATED: return "dedicated queue from the uplink's NIC driver";
	case VMQ_NO_UPLINK: return "no uplink configured";
	case VMQ_UPLINK_UNKNOWN: return "not a PCI NIC found on this host";
	case VMQ_NO_DRIVER: return "no NIC driver claims it";
	case VMQ_EXHAUSTED: return "every rx queue but the default one is taken";
	case VMQ_NO_VLAN: return "its driver cannot steer by VLAN";
	case VMQ_REFUSED: return "its driver refused";
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

	memset(out, 0, sizeof(*out));
	out->nic = -1;
	if (!mac_is_valid(req->mac) || req->vlan > 4094)
		return -EINVAL;
	for (size_t i = 0; i < ntaken; i++)
		if (memcmp(taken[i].mac, req->mac, 6) == 0 && taken[i].vlan == req->vlan &&
		    strcmp(taken[i].uplink, uplink) == 0)
			return -EEXIST;
	if (!uplink[0]) {
		out->reason = VMQ_NO_UPLINK;
		return 0;
	}
	for (size_t i = 0; i < nnics; i++) {
		if (strcmp(nics[i].info.ifname, uplink) == 0) {
			out->nic = (int)i;
			break;
		}
	}
	if (out->nic < 0) {
		out->reason = VMQ_UPLINK_UNKNOWN;
		return 0;
	}
	if (nics[out->nic].driver < 0) {
		out->reason = VMQ_NO_DRIVER;
		return 0;
	}
	out->ask_driver = true;
	out->reason = VMQ_DEDICATED;
	return 0;
}
