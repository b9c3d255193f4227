/*
 * rules.c — the ethtool requests behind a dedicated queue: the rule table's
 * size, a destination-MAC (and VLAN) rule to a ring at a free location,
 * its removal.  Built as the kernel structures and sent through the ops
 * table, so the code a test drives with its fake is the code that talks to
 * a real driver.  (Moved from net-vmq's VMQ library: discovery stays
 * there, steering is this driver's.)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>

#include "ntuple.h"

#define MAX_RULES 65536

static int live_ethtool(void *ud, const char *ifname, void *cmd)
{
	struct ifreq ifr;
	int fd, rc = 0;

	(void)ud;
	if (strlen(ifname) >= sizeof(ifr.ifr_name))
		return -ENAMETOOLONG;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	ifr.ifr_data = cmd;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

const struct nt_ethtool_ops nt_ethtool_live = { .ethtool = live_ethtool };

int nt_rule_count(const struct nt_ethtool_ops *ops, void *ud, const char *ifname,
		  uint32_t *count, uint32_t *table_size)
{
	struct ethtool_rxnfc nfc = { .cmd = ETHTOOL_GRXCLSRLCNT };
	int rc = ops->ethtool(ud, ifname, &nfc);

	if (rc)
		return rc;
	*count = nfc.rule_cnt;
	*table_size = (uint32_t)nfc.data;
	return 0;
}

/* The locations of the @count rules installed (ETHTOOL_GRXCLSRLALL):
 * *@locs (to be freed), *@n of them. */
static int rule_locations(const struct nt_ethtool_ops *ops, void *ud, const char *ifname,
			  uint32_t count, uint32_t size, uint32_t **locs, uint32_t *n)
{
	struct ethtool_rxnfc *all;
	int rc = 0;

	*locs = NULL;
	*n = 0;
	size &= ~RX_CLS_LOC_SPECIAL;	/* the driver picks locations: still a table size */
	if (size > MAX_RULES || count > size)
		return -EPROTO;
	if (!count)
		return 0;
	all = calloc(1, sizeof(*all) + (size_t)count * sizeof(uint32_t));
	*locs = calloc(count, sizeof(uint32_t));
	if (!all || !*locs) {
		rc = -ENOMEM;
		goto out;
	}
	all->cmd = ETHTOOL_GRXCLSRLALL;
	all->rule_cnt = count;
	all->data = size;
	rc = ops->ethtool(ud, ifname, all);
	for (uint32_t i = 0; rc == 0 && i < all->rule_cnt && i < count; i++)
		(*locs)[(*n)++] = all->rule_locs[i];
out:
	free(all);
	if (rc) {
		free(*locs);
		*locs = NULL;
		*n = 0;
	}
	return rc;
}

/* The highest location below the table size that holds no rule. */
static int pick_location(const struct nt_ethtool_ops *ops, void *ud, const char *ifname,
			 uint32_t count, uint32_t size, uint32_t *loc)
{
	uint32_t *locs, n;
	uint8_t *used;
	int rc;

	if (size == 0 || size > MAX_RULES || count > size)
		return size == 0 ? -ENOSPC : -EPROTO;
	rc = rule_locations(ops, ud, ifname, count, size, &locs, &n);
	if (rc)
		return rc;
	used = calloc(size, 1);
	if (!used) {
		free(locs);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		if (locs[i] < size)
			used[locs[i]] = 1;
	rc = -ENOSPC;
	for (uint32_t l = size; l-- > 0;) {
		if (!used[l]) {
			*loc = l;
			rc = 0;
			break;
		}
	}
	free(locs);
	free(used);
	return rc;
}

int nt_rule_get(const struct nt_ethtool_ops *ops, void *ud, const char *ifname, uint32_t loc,
		struct nt_rule *out)
{
	struct ethtool_rxnfc nfc;
	int rc;

	memset(&nfc, 0, sizeof(nfc));
	nfc.cmd = ETHTOOL_GRXCLSRULE;
	nfc.fs.location = loc;
	rc = ops->ethtool(ud, ifname, &nfc);
	if (rc)
		return rc;
	memset(out, 0, sizeof(*out));
	out->loc = loc;
	out->flow_type = nfc.fs.flow_type;
	if ((nfc.fs.flow_type & ~(FLOW_EXT | FLOW_MAC_EXT | FLOW_RSS)) == ETHER_FLOW) {
		memcpy(out->mac, nfc.fs.h_u.ether_spec.h_dest, 6);
		memcpy(out->mac_mask, nfc.fs.m_u.ether_spec.h_dest, 6);
	}
	if (nfc.fs.flow_type & FLOW_EXT) {
		out->vlan = ntohs(nfc.fs.h_ext.vlan_tci);
		out->vlan_mask = ntohs(nfc.fs.m_ext.vlan_tci);
	}
	out->ring_cookie = nfc.fs.ring_cookie;
	return 0;
}

int nt_rules_read(const struct nt_ethtool_ops *ops, void *ud, const char *ifname,
		  struct nt_rule **out, size_t *n)
{
	uint32_t count, size, *locs, nlocs;
	struct nt_rule *v;
	int rc;

	*out = NULL;
	*n = 0;
	rc = nt_rule_count(ops, ud, ifname, &count, &size);
	if (rc == 0)
		rc = rule_locations(ops, ud, ifname, count, size, &locs, &nlocs);
	if (rc)
		return rc;
	v = calloc(nlocs ? nlocs : 1, sizeof(*v));
	if (!v) {
		free(locs);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < nlocs; i++) {
		/* one removed meanwhile is simply not there */
		if (nt_rule_get(ops, ud, ifname, locs[i], &v[*n]) == 0)
			(*n)++;
	}
	free(locs);
	*out = v;
	return 0;
}

bool nt_rule_is(const struct nt_rule *r, const uint8_t mac[6], uint16_t vlan, uint64_t ring)
{
	static const uint8_t all[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint32_t base = r->flow_type & ~(FLOW_EXT | FLOW_MAC_EXT | FLOW_RSS);

	if (base != ETHER_FLOW || memcmp(r->mac, mac, 6) != 0 || memcmp(r->mac_mask, all, 6) != 0)
		return false;
	if (ring != NT_ANY_RING && ethtool_get_flow_spec_ring(r->ring_cookie) != ring)
		return false;
	if (!vlan)
		return !(r->flow_type & FLOW_EXT) || (r->vlan_mask & 0x0fff) == 0;
	return (r->flow_type & FLOW_EXT) && (r->vlan_mask & 0x0fff) == 0x0fff &&
	       (r->vlan & 0x0fff) == vlan;
}

int nt_rule_insert(const struct nt_ethtool_ops *ops, void *ud, const char *ifname,
		   const uint8_t mac[6], uint16_t vlan, uint32_t queue, uint32_t *loc)
{
	struct ethtool_rxnfc nfc;
	uint32_t count, size, where;
	int rc;

	rc = nt_rule_count(ops, ud, ifname, &count, &size);
	if (rc)
		return rc;
	if (size & RX_CLS_LOC_SPECIAL) {
		where = RX_CLS_LOC_ANY;
	} else {
		rc = pick_location(ops, ud, ifname, count, size, &where);
		if (rc)
			return rc;
	}
	memset(&nfc, 0, sizeof(nfc));
	nfc.cmd = ETHTOOL_SRXCLSRLINS;
	nfc.fs.flow_type = ETHER_FLOW;
	memcpy(nfc.fs.h_u.ether_spec.h_dest, mac, 6);
	/* kernel masks select the bits compared: the whole destination MAC */
	memset(nfc.fs.m_u.ether_spec.h_dest, 0xff, 6);
	if (vlan) {
		/* and the VLAN id (not its priority bits), in the extension */
		nfc.fs.flow_type |= FLOW_EXT;
		nfc.fs.h_ext.vlan_tci = htons(vlan);
		nfc.fs.m_ext.vlan_tci = htons(0x0fff);
	}
	nfc.fs.ring_cookie = queue;
	nfc.fs.location = where;
	rc = ops->ethtool(ud, ifname, &nfc);
	if (rc)
		return rc;
	*loc = nfc.fs.location;
	return 0;
}

int nt_rule_delete(const struct nt_ethtool_ops *ops, void *ud, const char *ifname, uint32_t loc)
{
	struct ethtool_rxnfc nfc;

	memset(&nfc, 0, sizeof(nfc));
	nfc.cmd = ETHTOOL_SRXCLSRLDEL;
	nfc.fs.location = loc;
	return ops->ethtool(ud, ifname, &nfc);
}
