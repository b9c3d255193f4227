/*
 * ethtool.c — the ethtool requests discovery needs (channels, features,
 * whether rx classification rules exist), built as the kernel structures
 * and sent through the ops table, so the code a test drives with its fake
 * is the code that talks to a real driver.  The rules themselves are the
 * NIC driver's business (nic-ethtool's rules.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>

#include "vmq_internal.h"

/* A driver with more feature strings than this is lying or broken. */
#define MAX_FEATURES 1024

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

const struct vmq_ethtool_ops vmq_ethtool_live = { .ethtool = live_ethtool };

static const struct {
	const char *name;
	uint64_t bit;
} feature_map[] = {
	{ "rx-checksum", MODVM_NET_OFFLOAD_RX_CSUM },
	{ "tx-checksum-ipv4", MODVM_NET_OFFLOAD_TX_CSUM },
	{ "tx-checksum-ipv6", MODVM_NET_OFFLOAD_TX_CSUM },
	{ "tx-checksum-ip-generic", MODVM_NET_OFFLOAD_TX_CSUM },
	{ "tx-scatter-gather", MODVM_NET_OFFLOAD_SG },
	{ "tx-tcp-segmentation", MODVM_NET_OFFLOAD_TSO4 },
	{ "tx-tcp6-segmentation", MODVM_NET_OFFLOAD_TSO6 },
	{ "tx-tcp-ecn-segmentation", MODVM_NET_OFFLOAD_TSO_ECN },
	{ "tx-generic-segmentation", MODVM_NET_OFFLOAD_GSO },
	{ "rx-gro", MODVM_NET_OFFLOAD_GRO },
	{ "rx-lro", MODVM_NET_OFFLOAD_LRO },
	{ "tx-udp-segmentation", MODVM_NET_OFFLOAD_USO },
	{ "rx-hashing", MODVM_NET_OFFLOAD_RXHASH },
	{ "rx-ntuple-filter", MODVM_NET_OFFLOAD_NTUPLE },
	{ "rx-vlan-hw-parse", MODVM_NET_OFFLOAD_VLAN_RX },
	{ "tx-vlan-hw-insert", MODVM_NET_OFFLOAD_VLAN_TX },
};
#define NFEATURE_MAP (sizeof(feature_map) / sizeof(feature_map[0]))

const char *vmq_offload_name(uint64_t bit)
{
	/* TX_CSUM has three kernel names; the generic one stands for all */
	if (bit == MODVM_NET_OFFLOAD_TX_CSUM)
		return "tx-checksum";
	for (size_t i = 0; i < NFEATURE_MAP; i++)
		if (feature_map[i].bit == bit)
			return feature_map[i].name;
	return NULL;
}

void vmq_offload_names(uint64_t mask, char *buf, size_t len)
{
	size_t used = 0;

	if (len)
		buf[0] = '\0';
	for (unsigned b = 0; b < 64; b++) {
		const char *name = vmq_offload_name(UINT64_C(1) << b);
		int w;

		if (!(mask & (UINT64_C(1) << b)) || !name || used >= len)
			continue;
		w = snprintf(buf + used, len - used, "%s%s", used ? " " : "", name);
		if (w > 0)
			used += (size_t)w;
	}
}

int vmq_offload_parse(const char *text, uint64_t *mask, char *bad, size_t badlen)
{
	const char *p = text ? text : "";

	*mask = 0;
	while (*p) {
		size_t n;
		uint64_t bit = 0;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (!n)
			break;
		for (unsigned b = 0; b < 64 && !bit; b++) {
			const char *name = vmq_offload_name(UINT64_C(1) << b);

			if (name && strlen(name) == n && strncmp(p, name, n) == 0)
				bit = UINT64_C(1) << b;
		}
		if (!bit) {
			snprintf(bad, badlen, "%.*s", (int)n, p);
			return -EINVAL;
		}
		*mask |= bit;
		p += n;
	}
	return 0;
}

int vmq_ethtool_channels(const struct vmq_ethtool_ops *ops, void *ud, const char *ifname,
			 struct vmq_channels *out)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	int rc = ops->ethtool(ud, ifname, &ch);

	if (rc)
		return rc;
	out->rx = ch.rx_count;
	out->tx = ch.tx_count;
	out->combined = ch.combined_count;
	return 0;
}

static int feature_count(const struct vmq_ethtool_ops *ops, void *ud, const char *ifname,
			 uint32_t *count)
{
	/* Room for the one count the header's flexible data[] gets (a union,
	 * not a struct around it, which is a GNU extension clang warns on). */
	union {
		struct ethtool_sset_info hdr;
		unsigned char room[sizeof(struct ethtool_sset_info) + sizeof(uint32_t)];
	} info;
	int rc;

	memset(&info, 0, sizeof(info));
	info.hdr.cmd = ETHTOOL_GSSET_INFO;
	info.hdr.sset_mask = UINT64_C(1) << ETH_SS_FEATURES;
	rc = ops->ethtool(ud, ifname, &info);
	if (rc)
		return rc;
	if (!(info.hdr.sset_mask & (UINT64_C(1) << ETH_SS_FEATURES)))
		return -EOPNOTSUPP;
	if (info.hdr.data[0] == 0 || info.hdr.data[0] > MAX_FEATURES)
		return -EPROTO;
	*count = info.hdr.data[0];
	return 0;
}

int vmq_ethtool_features(const struct vmq_ethtool_ops *ops, void *ud, const char *ifname,
			 uint64_t *capa, uint64_t *active)
{
	struct ethtool_gstrings *names = NULL;
	struct ethtool_gfeatures *feat = NULL;
	uint32_t count, blocks;
	int rc;

	*capa = *active = 0;
	rc = feature_count(ops, ud, ifname, &count);
	if (rc)
		return rc;
	blocks = (count + 31) / 32;
	names = calloc(1, sizeof(*names) + (size_t)count * ETH_GSTRING_LEN);
	feat = calloc(1, sizeof(*feat) + blocks * sizeof(feat->features[0]));
	if (!names || !feat) {
		rc = -ENOMEM;
		goto cleanup;
	}
	names->cmd = ETHTOOL_GSTRINGS;
	names->string_set = ETH_SS_FEATURES;
	names->len = count;
	rc = ops->ethtool(ud, ifname, names);
	if (rc)
		goto cleanup;
	feat->cmd = ETHTOOL_GFEATURES;
	feat->size = blocks;
	rc = ops->ethtool(ud, ifname, feat);
	if (rc)
		goto cleanup;
	for (uint32_t i = 0; i < count && i < names->len; i++) {
		const char *name = (const char *)names->data + (size_t)i * ETH_GSTRING_LEN;
		uint32_t bit = UINT32_C(1) << (i % 32);
		const struct ethtool_get_features_block *b = &feat->features[i / 32];

		for (size_t m = 0; m < NFEATURE_MAP; m++) {
			if (strncmp(name, feature_map[m].name, ETH_GSTRING_LEN) != 0)
				continue;
			if ((b->available | b->active) & bit)
				*capa |= feature_map[m].bit;
			if (b->active & bit)
				*active |= feature_map[m].bit;
		}
	}
cleanup:
	free(names);
	free(feat);
	return rc;
}

int vmq_ethtool_rule_count(const struct vmq_ethtool_ops *ops, void *ud, const char *ifname,
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
