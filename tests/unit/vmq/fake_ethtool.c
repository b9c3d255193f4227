/*
 * fake_ethtool.c — see fake_ethtool.h.  Checks requests the way drivers
 * do (a rule's ring must exist, its location must be free and in range).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <linux/ethtool.h>

#include "fake_ethtool.h"

static const struct fake_feature ixgbe_features[] = {
	{ "tx-scatter-gather", true, true },
	{ "tx-checksum-ipv4", false, false },
	{ "tx-checksum-ip-generic", true, true },
	{ "tx-checksum-ipv6", false, false },
	{ "highdma", false, true },
	{ "tx-tcp-segmentation", true, true },
	{ "tx-tcp-ecn-segmentation", false, false },
	{ "tx-tcp6-segmentation", true, true },
	{ "tx-generic-segmentation", true, true },
	{ "rx-gro", true, true },
	{ "rx-lro", true, false },
	{ "rx-vlan-hw-parse", true, true },
	{ "tx-vlan-hw-insert", true, true },
	{ "rx-ntuple-filter", true, true },
	{ "rx-hashing", true, true },
	{ "rx-checksum", true, true },
	{ "tx-udp-segmentation", false, false },
	{ "loopback", true, false },
};

static const struct fake_feature virtio_features[] = {
	{ "tx-scatter-gather", true, true },
	{ "tx-checksum-ip-generic", true, true },
	{ "tx-tcp-segmentation", true, true },
	{ "tx-tcp-ecn-segmentation", true, true },
	{ "tx-tcp6-segmentation", true, true },
	{ "tx-generic-segmentation", true, true },
	{ "rx-gro", true, true },
	{ "rx-lro", false, false },
	{ "rx-ntuple-filter", false, false },
	{ "rx-checksum", false, true },
};

static void set_features(struct fake_nic *n, const struct fake_feature *f, unsigned count)
{
	memcpy(n->features, f, count * sizeof(*f));
	n->nfeatures = count;
}

void fake_ethtool_fixture(struct fake_ethtool *f)
{
	struct fake_nic *n;

	memset(f, 0, sizeof(*f));
	n = &f->nics[f->n++];
	strcpy(n->ifname, "enp3s0f0");
	n->combined = 8;
	n->rx_rings = 8;
	n->table_size = 16;
	set_features(n, ixgbe_features, sizeof(ixgbe_features) / sizeof(ixgbe_features[0]));
	n = &f->nics[f->n++];
	strcpy(n->ifname, "eth0");
	n->combined = 1;
	n->rx_rings = 1;
	n->no_rules = true;
	set_features(n, virtio_features, sizeof(virtio_features) / sizeof(virtio_features[0]));
}

struct fake_nic *fake_ethtool_nic(struct fake_ethtool *f, const char *ifname)
{
	for (unsigned i = 0; i < f->n; i++)
		if (strcmp(f->nics[i].ifname, ifname) == 0)
			return &f->nics[i];
	return NULL;
}

unsigned fake_ethtool_rule_count(const struct fake_nic *n)
{
	unsigned c = 0;

	for (unsigned i = 0; i < FAKE_MAX_RULES; i++)
		c += n->rules[i].used;
	return c;
}

const struct fake_rule *fake_ethtool_rule_for(const struct fake_nic *n, const uint8_t mac[6])
{
	for (unsigned i = 0; i < FAKE_MAX_RULES; i++)
		if (n->rules[i].used && memcmp(n->rules[i].dst, mac, 6) == 0)
			return &n->rules[i];
	return NULL;
}

void fake_ethtool_put_rule(struct fake_nic *n, unsigned loc, const uint8_t mac[6],
			   uint64_t ring)
{
	struct fake_rule *r = &n->rules[loc];

	memset(r, 0, sizeof(*r));
	r->used = true;
	r->flow_type = ETHER_FLOW;
	memcpy(r->dst, mac, 6);
	memset(r->dst_mask, 0xff, 6);
	r->ring = ring;
}

static bool ntuple_on(const struct fake_nic *n)
{
	for (unsigned i = 0; i < n->nfeatures; i++)
		if (strcmp(n->features[i].name, "rx-ntuple-filter") == 0)
			return n->features[i].active;
	return !n->no_rules;
}

static int insert(struct fake_nic *n, struct ethtool_rxnfc *nfc)
{
	struct ethtool_rx_flow_spec *fs = &nfc->fs;
	uint32_t loc = fs->location;

	if (n->insert_errno)
		return -n->insert_errno;
	if (!ntuple_on(n))
		return -EOPNOTSUPP;	/* as ixgbe without FDIR perfect filters */
	if (fs->ring_cookie >= n->rx_rings)
		return -EINVAL;
	if (loc == RX_CLS_LOC_ANY && n->loc_special) {
		for (loc = 0; loc < n->table_size && n->rules[loc].used; loc++)
			;
		if (loc == n->table_size)
			return -ENOSPC;
		fs->location = loc;
	}
	if (loc >= n->table_size || loc >= FAKE_MAX_RULES || n->rules[loc].used)
		return -EINVAL;
	n->rules[loc].used = true;
	n->rules[loc].flow_type = fs->flow_type;
	memcpy(n->rules[loc].dst, fs->h_u.ether_spec.h_dest, 6);
	memcpy(n->rules[loc].dst_mask, fs->m_u.ether_spec.h_dest, 6);
	n->rules[loc].ring = fs->ring_cookie;
	n->rules[loc].vlan = (fs->flow_type & FLOW_EXT) ? ntohs(fs->h_ext.vlan_tci) : 0;
	n->rules[loc].vlan_mask = (fs->flow_type & FLOW_EXT) ? ntohs(fs->m_ext.vlan_tci) : 0;
	n->inserts++;
	return 0;
}

static int rxnfc(struct fake_nic *n, struct ethtool_rxnfc *nfc)
{
	unsigned k = 0;

	if (n->no_rules)
		return -EOPNOTSUPP;
	switch (nfc->cmd) {
	case ETHTOOL_GRXRINGS:
		nfc->data = n->rx_rings;
		return 0;
	case ETHTOOL_GRXCLSRLCNT:
		nfc->rule_cnt = fake_ethtool_rule_count(n);
		nfc->data = n->table_size | (n->loc_special ? RX_CLS_LOC_SPECIAL : 0);
		return 0;
	case ETHTOOL_GRXCLSRLALL:
		for (unsigned i = 0; i < FAKE_MAX_RULES; i++) {
			if (!n->rules[i].used)
				continue;
			if (k == nfc->rule_cnt)
				return -EMSGSIZE;
			nfc->rule_locs[k++] = i;
		}
		nfc->rule_cnt = k;
		nfc->data = n->table_size;
		return 0;
	case ETHTOOL_GRXCLSRULE: {
		const struct fake_rule *r;

		if (nfc->fs.location >= FAKE_MAX_RULES || !n->rules[nfc->fs.location].used)
			return -ENOENT;
		r = &n->rules[nfc->fs.location];
		memset(&nfc->fs.h_u, 0, sizeof(nfc->fs.h_u));
		memset(&nfc->fs.m_u, 0, sizeof(nfc->fs.m_u));
		nfc->fs.flow_type = r->flow_type;
		memcpy(nfc->fs.h_u.ether_spec.h_dest, r->dst, 6);
		memcpy(nfc->fs.m_u.ether_spec.h_dest, r->dst_mask, 6);
		nfc->fs.h_ext.vlan_tci = htons(r->vlan);
		nfc->fs.m_ext.vlan_tci = htons(r->vlan_mask);
		nfc->fs.ring_cookie = r->ring;
		n->gets++;
		return 0;
	}
	case ETHTOOL_SRXCLSRLINS:
		return insert(n, nfc);
	case ETHTOOL_SRXCLSRLDEL:
		if (n->delete_errno)
			return -n->delete_errno;
		if (nfc->fs.location >= FAKE_MAX_RULES || !n->rules[nfc->fs.location].used)
			return -ENOENT;
		n->rules[nfc->fs.location].used = false;
		n->deletes++;
		return 0;
	}
	return -EOPNOTSUPP;
}

static int fake(void *ud, const char *ifname, void *cmd)
{
	struct fake_ethtool *f = ud;
	struct fake_nic *n = fake_ethtool_nic(f, ifname);
	uint32_t code;

	f->calls++;
	if (!n)
		return -ENODEV;
	memcpy(&code, cmd, sizeof(code));
	switch (code) {
	case ETHTOOL_GCHANNELS: {
		struct ethtool_channels *ch = cmd;

		if (n->no_channels)
			return -EOPNOTSUPP;
		ch->combined_count = n->combined;
		ch->max_combined = n->combined;
		ch->rx_count = n->rx;
		ch->tx_count = n->tx;
		return 0;
	}
	case ETHTOOL_GSSET_INFO: {
		struct ethtool_sset_info *si = cmd;

		if (n->no_features)
			return -EOPNOTSUPP;
		if (!(si->sset_mask & (1ull << ETH_SS_FEATURES)))
			return -EINVAL;
		si->sset_mask = 1ull << ETH_SS_FEATURES;
		si->data[0] = n->nfeatures;
		return 0;
	}
	case ETHTOOL_GSTRINGS: {
		struct ethtool_gstrings *gs = cmd;

		if (n->no_features || gs->string_set != ETH_SS_FEATURES || gs->len != n->nfeatures)
			return -EINVAL;
		for (unsigned i = 0; i < n->nfeatures; i++)
			strncpy((char *)gs->data + i * ETH_GSTRING_LEN, n->features[i].name,
				ETH_GSTRING_LEN);
		return 0;
	}
	case ETHTOOL_GFEATURES: {
		struct ethtool_gfeatures *gf = cmd;
		unsigned blocks = (n->nfeatures + 31) / 32;

		if (n->no_features)
			return -EOPNOTSUPP;
		if (gf->size < blocks)
			return -E2BIG;
		for (unsigned i = 0; i < n->nfeatures; i++) {
			uint32_t bit = 1u << (i % 32);

			gf->features[i / 32].available |= n->features[i].available ? bit : 0;
			gf->features[i / 32].active |= n->features[i].active ? bit : 0;
			gf->features[i / 32].requested |= n->features[i].active ? bit : 0;
		}
		gf->size = blocks;
		return 0;
	}
	case ETHTOOL_GRXRINGS:
	case ETHTOOL_GRXCLSRLCNT:
	case ETHTOOL_GRXCLSRLALL:
	case ETHTOOL_GRXCLSRULE:
	case ETHTOOL_SRXCLSRLINS:
	case ETHTOOL_SRXCLSRLDEL:
		return rxnfc(n, cmd);
	}
	return -EOPNOTSUPP;
}

const struct vmq_ethtool_ops fake_ethtool_ops = { .ethtool = fake };
