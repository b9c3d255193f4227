/*
 * pci.c — the PCI side of discovery through libpci's sysfs method, rooted
 * at a configurable sysfs tree so tests can hand it a fixture.
 *
 * libpci reports trouble through an error callback it declares noreturn
 * and that by default exit()s the process.  We check the tree first (every
 * entry a parseable address with readable vendor/device/class files), so
 * the callback should never run; if it does anyway it logs and jumps back
 * here, and discovery goes on without libpci's answers.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pci/pci.h>

#include <modvm/log.h>

#include "vmq_internal.h"

/* MSI-X Message Control sits after the capability id and next pointer */
#define MSIX_CONTROL 2

static _Thread_local sigjmp_buf *pci_escape;

static void PCI_NONRET pci_error_cb(char *msg, ...)
{
	char text[256];
	va_list ap;

	va_start(ap, msg);
	vsnprintf(text, sizeof(text), msg, ap);
	va_end(ap);
	modvm_log(MODVM_LOG_WARN, VMQ_LOG, "libpci: %s", text);
	if (pci_escape)
		siglongjmp(*pci_escape, 1);
	abort();	/* unreachable: the callback is only installed around the scan */
}

static void pci_warning_cb(char *msg, ...)
{
	char text[256];
	va_list ap;

	va_start(ap, msg);
	vsnprintf(text, sizeof(text), msg, ap);
	va_end(ap);
	modvm_log(MODVM_LOG_DEBUG, VMQ_LOG, "libpci: %s", text);
}

static void pci_debug_cb(char *msg, ...)
{
	(void)msg;
}

/* Whether libpci's sysfs method can walk @dir without calling its error hook. */
static int tree_is_sane(const char *dir)
{
	static const char *const need[] = { "vendor", "device", "class" };
	struct dirent *e;
	char path[1024];
	int rc = 0;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		unsigned dom, bus, dev, fn;
		char tail;

		if (e->d_name[0] == '.')
			continue;
		if (sscanf(e->d_name, "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn, &tail) != 4 ||
		    dom > 0x7fffffff) {
			modvm_log(MODVM_LOG_WARN, VMQ_LOG, "%s/%s: not a PCI address", dir, e->d_name);
			rc = -EINVAL;
			break;
		}
		for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
			if (vmq_path(path, sizeof(path), "%s/%s/%s", dir, e->d_name, need[i])) {
				rc = -ENAMETOOLONG;
				break;
			}
			if (access(path, R_OK) != 0) {
				rc = -errno;
				modvm_log(MODVM_LOG_WARN, VMQ_LOG, "%s: %s", path, strerror(errno));
				break;
			}
		}
		if (rc)
			break;
	}
	closedir(d);
	return rc;
}

static void fill_fn(struct pci_dev *dev, struct vmq_pci_fn *f)
{
	struct pci_cap *cap;

	memset(f, 0, sizeof(*f));
	snprintf(f->addr, sizeof(f->addr), "%04x:%02x:%02x.%x", (unsigned)dev->domain,
		 (unsigned)dev->bus, (unsigned)dev->dev, (unsigned)dev->func);
	f->vendor_id = dev->vendor_id;
	f->device_id = dev->device_id;
	f->class_code = dev->device_class;
	cap = pci_find_cap(dev, PCI_CAP_ID_MSIX, PCI_CAP_NORMAL);
	if (cap)
		f->msix_vectors = (pci_read_word(dev, cap->addr + MSIX_CONTROL) & PCI_MSIX_TABSIZE) + 1u;
	cap = pci_find_cap(dev, PCI_EXT_CAP_ID_SRIOV, PCI_CAP_EXTENDED);
	if (cap)
		f->sriov_total = pci_read_word(dev, cap->addr + PCI_IOV_TOTALVF);
}

/* What the scan builds; in memory, so a jump out of libpci loses nothing. */
struct scan_state {
	struct pci_access *pacc;
	struct vmq_pci_fn *fns;
	size_t count;
};

static int run_scan(struct scan_state *st, char *param)
{
	struct pci_dev *dev;
	size_t cap = 0;

	st->pacc->error = pci_error_cb;
	st->pacc->warning = pci_warning_cb;
	st->pacc->debug = pci_debug_cb;
	st->pacc->method = PCI_ACCESS_SYS_BUS_PCI;
	if (pci_set_param(st->pacc, "sysfs.path", param) != 0)
		return -EINVAL;
	pci_init(st->pacc);
	pci_scan_bus(st->pacc);
	for (dev = st->pacc->devices; dev; dev = dev->next)
		cap++;
	if (!cap)
		return 0;
	st->fns = calloc(cap, sizeof(*st->fns));
	if (!st->fns)
		return -ENOMEM;
	for (dev = st->pacc->devices; dev && st->count < cap; dev = dev->next) {
		pci_fill_info(dev, PCI_FILL_IDENT | PCI_FILL_CLASS | PCI_FILL_CAPS | PCI_FILL_EXT_CAPS);
		fill_fn(dev, &st->fns[st->count++]);
	}
	return 0;
}

int vmq_pci_scan(const char *sysfs_root, struct vmq_pci_fn **out, size_t *n)
{
	struct scan_state st = { 0 };
	char param[512], devices[600];
	sigjmp_buf escape;
	volatile int rc;

	*out = NULL;
	*n = 0;
	if (vmq_path(param, sizeof(param), "%s/bus/pci", sysfs_root) ||
	    vmq_path(devices, sizeof(devices), "%s/devices", param))
		return -ENAMETOOLONG;
	rc = tree_is_sane(devices);
	if (rc) {
		modvm_log(MODVM_LOG_WARN, VMQ_LOG, "%s: PCI tree unusable (%s); NIC ids from sysfs, no MSI-X or SR-IOV capability data",
			  devices, strerror(-rc));
		return -ENOENT;
	}
	st.pacc = pci_alloc();
	if (!st.pacc)
		return -ENOMEM;
	if (sigsetjmp(escape, 0) == 0) {
		pci_escape = &escape;
		rc = run_scan(&st, param);
	} else {
		rc = -EIO;
	}
	pci_escape = NULL;
	pci_cleanup(st.pacc);
	if (rc) {
		free(st.fns);
		return rc;
	}
	*out = st.fns;
	*n = st.count;
	return 0;
}
