/*
 * vmq_internal.h — what the files of the VMQ library share: libpci scan,
 * sysfs discovery, ethtool requests and IRQ affinity.  Not for the plugin.
 */
#ifndef NETVMQ_VMQ_INTERNAL_H
#define NETVMQ_VMQ_INTERNAL_H

#include "vmq.h"

#define VMQ_LOG "net-vmq"

/* ---- pci.c: libpci over SYSFS_ROOT/bus/pci ---- */

struct vmq_pci_fn {
	char addr[16];		/* "0000:03:00.0" */
	uint16_t vendor_id, device_id;
	uint32_t class_code;	/* base class << 8 | subclass */
	uint32_t msix_vectors;	/* MSI-X table size, 0 without the capability */
	uint32_t sriov_total;	/* TotalVFs from the SR-IOV capability, 0 without */
};

/*
 * Scans every PCI function libpci sees under @sysfs_root.  @out is
 * malloc'ed (free it); *n may be 0.  0 or -errno (-ENOENT when the PCI
 * tree is absent or malformed: logged).
 */
int vmq_pci_scan(const char *sysfs_root, struct vmq_pci_fn **out, size_t *n);

/* ---- discover.c ---- */

/*
 * Fills @nics (malloc'ed) from SYSFS_ROOT/class/net joined with the PCI
 * scan and ethtool.  The names of the interfaces skipped for having no PCI
 * function go, space separated, into @skipped.  0 or -errno.
 */
int vmq_discover(const char *sysfs_root, const struct vmq_ethtool_ops *ops, void *ud,
		 struct vmq_nic **nics, size_t *n, char *skipped, size_t skipped_len);

/* snprintf() into a path buffer: 0, or -ENAMETOOLONG if it did not fit. */
int vmq_path(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* fopen(@path, "r") without blocking on a fifo (O_NONBLOCK); NULL with errno. */
FILE *vmq_fopen(const char *path);
/* Reads the first line of @path (newline stripped).  0 or -errno. */
int vmq_read_line(const char *path, char *buf, size_t len);
/* Reads an unsigned number (decimal or 0x hex) from @path.  0 or -errno. */
int vmq_read_u32(const char *path, uint32_t *out);

/* ---- ethtool.c ---- */

struct vmq_channels {
	uint32_t rx, tx, combined;
};
int vmq_ethtool_channels(const struct vmq_ethtool_ops *ops, void *ud, const char *ifname,
			 struct vmq_channels *out);

/*
 * Reads the feature strings and state.  @capa: available or active,
 * @active: active now.  0 or -errno (-EOPNOTSUPP without feature strings).
 */
int vmq_ethtool_features(const struct vmq_ethtool_ops *ops, void *ud, const char *ifname,
			 uint64_t *capa, uint64_t *active);

/* ETHTOOL_GRXCLSRLCNT: rules installed and table size.  0 or -errno. */
int vmq_ethtool_rule_count(const struct vmq_ethtool_ops *ops, void *ud, const char *ifname,
			   uint32_t *count, uint32_t *table_size);

#endif
