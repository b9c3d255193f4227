/*
 * discover.c — host NICs: SYSFS/class/net joined to the PCI scan and to
 * ethtool.  See vmq.h for which interfaces count as NICs and why.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <modvm/log.h>

#include "vmq_internal.h"

int vmq_path(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* sysfs and proc files, under roots a config may move: opened without
 * blocking (a fifo planted there must not stop the loop). */
FILE *vmq_fopen(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;

	if (fd >= 0 && !f)
		close(fd);
	return f;
}

int vmq_read_line(const char *path, char *buf, size_t len)
{
	FILE *f = vmq_fopen(path);
	int rc = 0;

	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		rc = ferror(f) ? -EIO : -ENODATA;
	fclose(f);
	if (rc)
		return rc;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

int vmq_read_u32(const char *path, uint32_t *out)
{
	char text[32], *end;
	unsigned long v;
	int rc = vmq_read_line(path, text, sizeof(text));

	if (rc)
		return rc;
	errno = 0;
	v = strtoul(text, &end, 0);
	if (errno || end == text || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int read_u32_at(const char *dir, const char *name, uint32_t *out)
{
	char path[PATH_MAX];

	if (vmq_path(path, sizeof(path), "%s/%s", dir, name))
		return -ENAMETOOLONG;
	return vmq_read_u32(path, out);
}

static bool is_pci_addr(const char *name)
{
	unsigned dom, bus, dev, fn;
	char tail;

	return sscanf(name, "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn, &tail) == 4 &&
	       strlen(name) < 16;
}

/* Counts the entries of @dir starting with @prefix; 0 if unreadable. */
static uint32_t count_prefixed(const char *dir, const char *prefix)
{
	struct dirent *e;
	uint32_t n = 0;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

/* Basename of the target of symlink @path into @out, "" if none. */
static void link_basename(const char *path, char *out, size_t len)
{
	char target[PATH_MAX];
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	const char *slash;

	out[0] = '\0';
	if (n <= 0)
		return;
	target[n] = '\0';
	slash = strrchr(target, '/');
	if (vmq_path(out, len, "%s", slash ? slash + 1 : target))
		out[0] = '\0';
}

/*
 * Finds the PCI function behind IF's `device` link: the link itself, or its
 * parent when the link names a bus device sitting on a PCI function
 * (virtio_net's "virtioN").  false when there is none.
 */
static bool find_pci_function(const char *netdir, struct vmq_nic *nic)
{
	char link[PATH_MAX], real[PATH_MAX], *slash;

	if (vmq_path(link, sizeof(link), "%s/device", netdir) || !realpath(link, real))
		return false;
	slash = strrchr(real, '/');
	if (slash && is_pci_addr(slash + 1))
		return vmq_path(nic->info.pci_addr, sizeof(nic->info.pci_addr), "%s", slash + 1) == 0 &&
		       vmq_path(nic->pci_dir, sizeof(nic->pci_dir), "%s", real) == 0;
	if (!slash || slash == real)
		return false;
	if (vmq_path(nic->bus_dev, sizeof(nic->bus_dev), "%s", slash + 1))
		return false;
	*slash = '\0';
	slash = strrchr(real, '/');
	if (!slash || !is_pci_addr(slash + 1)) {
		nic->bus_dev[0] = '\0';
		return false;
	}
	return vmq_path(nic->info.pci_addr, sizeof(nic->info.pci_addr), "%s", slash + 1) == 0 &&
	       vmq_path(nic->pci_dir, sizeof(nic->pci_dir), "%s", real) == 0;
}

static void join_pci(struct vmq_nic *nic, const struct vmq_pci_fn *fns, size_t nfns)
{
	uint32_t v;

	for (size_t i = 0; i < nfns; i++) {
		if (strcmp(fns[i].addr, nic->info.pci_addr) != 0)
			continue;
		nic->pci_ok = true;
		nic->info.vendor_id = fns[i].vendor_id;
		nic->info.device_id = fns[i].device_id;
		nic->info.msix_vectors = fns[i].msix_vectors;
		nic->info.sriov_vfs = fns[i].sriov_total;
		return;
	}
	/* libpci could not walk the tree: the ids from sysfs, no capabilities */
	if (read_u32_at(nic->pci_dir, "vendor", &v) == 0)
		nic->info.vendor_id = (uint16_t)v;
	if (read_u32_at(nic->pci_dir, "device", &v) == 0)
		nic->info.device_id = (uint16_t)v;
}

static void read_netdev(const char *netdir, struct vmq_nic *nic)
{
	char path[PATH_MAX];
	uint32_t v;

	if (vmq_path(path, sizeof(path), "%s/device/driver", netdir) == 0)
		link_basename(path, nic->info.driver, sizeof(nic->info.driver));
	if (read_u32_at(netdir, "mtu", &v) == 0)
		nic->info.mtu = v;
	/* sysfs SR-IOV files are the kernel's word; the capability is the fallback */
	if (read_u32_at(nic->pci_dir, "sriov_totalvfs", &v) == 0)
		nic->info.sriov_vfs = v;
	if (read_u32_at(nic->pci_dir, "sriov_numvfs", &v) == 0)
		nic->sriov_numvfs = v;
	if (vmq_path(path, sizeof(path), "%s/queues", netdir))
		return;
	nic->info.rx_queues = count_prefixed(path, "rx-");
	nic->info.tx_queues = count_prefixed(path, "tx-");
}

static void query_ethtool(const struct vmq_ethtool_ops *ops, void *ud, struct vmq_nic *nic)
{
	struct vmq_channels ch;
	uint32_t cnt, size;
	int rc;

	if (vmq_ethtool_channels(ops, ud, nic->info.ifname, &ch) == 0 &&
	    ch.combined + ch.rx > 0) {
		nic->channels_ok = true;
		nic->combined = ch.combined;
		nic->info.rx_queues = ch.combined + ch.rx;
		nic->info.tx_queues = ch.combined + ch.tx;
	}
	rc = vmq_ethtool_features(ops, ud, nic->info.ifname, &nic->info.offload_capa,
				  &nic->offload_active);
	if (rc == 0) {
		nic->features_ok = true;
		nic->ntuple_source = VMQ_NTUPLE_FEATURE;
		nic->info.ntuple = !!(nic->offload_active & MODVM_NET_OFFLOAD_NTUPLE);
	} else {
		modvm_log(MODVM_LOG_DEBUG, VMQ_LOG, "%s: no ethtool features (%s)",
			  nic->info.ifname, strerror(-rc));
		nic->ntuple_source = VMQ_NTUPLE_RULECNT;
		nic->info.ntuple = vmq_ethtool_rule_count(ops, ud, nic->info.ifname, &cnt, &size) == 0;
	}
}

static void append_name(char *buf, size_t len, const char *name)
{
	size_t used = strlen(buf);

	if (used < len)
		snprintf(buf + used, len - used, "%s%s", used ? " " : "", name);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct vmq_nic *)a)->info.ifname,
		      ((const struct vmq_nic *)b)->info.ifname);
}

int vmq_discover(const char *sysfs_root, const struct vmq_ethtool_ops *ops, void *ud,
		 struct vmq_nic **nics, size_t *n, char *skipped, size_t skipped_len)
{
	struct vmq_pci_fn *fns = NULL;
	struct vmq_nic *tab = NULL;
	size_t nfns = 0, count = 0, cap = 0;
	char classnet[PATH_MAX], netdir[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int rc = 0;

	*nics = NULL;
	*n = 0;
	if (skipped_len)
		skipped[0] = '\0';
	if (vmq_path(classnet, sizeof(classnet), "%s/class/net", sysfs_root))
		return -ENAMETOOLONG;
	d = opendir(classnet);
	if (!d) {
		rc = -errno;
		modvm_log(MODVM_LOG_ERROR, VMQ_LOG, "%s: %s", classnet, strerror(errno));
		return rc;
	}
	/* without libpci's answers NICs still come, with ids from sysfs */
	rc = vmq_pci_scan(sysfs_root, &fns, &nfns);
	if (rc == -ENOMEM)
		goto cleanup_dir;
	rc = 0;
	while ((e = readdir(d))) {
		struct vmq_nic nic;

		if (e->d_name[0] == '.')
			continue;
		if (strlen(e->d_name) >= VMQ_IFNAMSIZ) {
			modvm_log(MODVM_LOG_WARN, VMQ_LOG, "%s/%s: interface name too long, skipped",
				  classnet, e->d_name);
			continue;
		}
		memset(&nic, 0, sizeof(nic));
		memcpy(nic.info.ifname, e->d_name, strlen(e->d_name) + 1);
		if (vmq_path(netdir, sizeof(netdir), "%s/%s", classnet, e->d_name) ||
		    !find_pci_function(netdir, &nic)) {
			append_name(skipped, skipped_len, e->d_name);
			continue;
		}
		join_pci(&nic, fns, nfns);
		read_netdev(netdir, &nic);
		query_ethtool(ops, ud, &nic);
		if (count == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct vmq_nic *grown = realloc(tab, ncap * sizeof(*tab));

			if (!grown) {
				rc = -ENOMEM;
				goto cleanup_tab;
			}
			tab = grown;
			cap = ncap;
		}
		tab[count++] = nic;
	}
	if (count)
		qsort(tab, count, sizeof(*tab), by_name);
	*nics = tab;
	*n = count;
	tab = NULL;
cleanup_tab:
	free(tab);
cleanup_dir:
	free(fns);
	closedir(d);
	return rc;
}
