/*
 * fake_ethtool — an in-memory ethtool for the VMQ tests: answers the
 * requests the library sends (channels, feature strings, rx classification
 * rules) from a table per interface, and records every rule, so a test can
 * see exactly what a driver would have been told.
 */
#ifndef VMQ_FAKE_ETHTOOL_H
#define VMQ_FAKE_ETHTOOL_H

#include <stdbool.h>
#include <stdint.h>

#include "vmq.h"

#define FAKE_MAX_NICS 4
#define FAKE_MAX_FEATURES 40
#define FAKE_MAX_RULES 64

struct fake_feature {
	const char *name;
	bool available;		/* changeable */
	bool active;
};

struct fake_rule {
	bool used;
	uint32_t flow_type;
	uint8_t dst[6], dst_mask[6];
	uint16_t vlan, vlan_mask;	/* FLOW_EXT rules: the VLAN TCI and its mask */
	uint64_t ring;
};

struct fake_nic {
	char ifname[16];
	bool no_channels;	/* ETHTOOL_GCHANNELS -> -EOPNOTSUPP */
	bool no_features;	/* ETHTOOL_GSSET_INFO -> -EOPNOTSUPP */
	bool no_rules;		/* rx classification -> -EOPNOTSUPP */
	bool loc_special;	/* driver picks rule locations (RX_CLS_LOC_ANY) */
	int insert_errno;	/* > 0: SRXCLSRLINS fails with it */
	int delete_errno;	/* > 0: SRXCLSRLDEL fails with it */
	uint32_t combined, rx, tx;
	uint32_t rx_rings;	/* rings a rule may target */
	uint32_t table_size;	/* rule locations */
	struct fake_feature features[FAKE_MAX_FEATURES];
	unsigned nfeatures;
	struct fake_rule rules[FAKE_MAX_RULES];
	unsigned inserts, deletes, gets;
};

struct fake_ethtool {
	struct fake_nic nics[FAKE_MAX_NICS];
	unsigned n;
	unsigned calls;
};

extern const struct vmq_ethtool_ops fake_ethtool_ops;

/* The fixture tree's two NICs: enp3s0f0 (8 combined, ntuple on, 16 rule
 * slots) and eth0 (virtio: 1 combined, no ntuple, no rules). */
void fake_ethtool_fixture(struct fake_ethtool *f);
struct fake_nic *fake_ethtool_nic(struct fake_ethtool *f, const char *ifname);
/* Rules installed now on @ifname. */
unsigned fake_ethtool_rule_count(const struct fake_nic *n);
/* Installs a rule as someone else would (the operator's ethtool -N,
 * another modvm): ETHER_FLOW to @mac, fully masked, at @loc to @ring. */
void fake_ethtool_put_rule(struct fake_nic *n, unsigned loc, const uint8_t mac[6],
			   uint64_t ring);
/* The installed rule whose destination is @mac, NULL if none. */
const struct fake_rule *fake_ethtool_rule_for(const struct fake_nic *n, const uint8_t mac[6]);

#endif
