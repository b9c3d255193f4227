/*
 * irq.c — the IRQ of one rx ring, and its affinity.  Drivers name their
 * per-queue vectors in /proc/interrupts; the function's msi_irqs directory
 * keeps us from matching another device's vector with a similar name.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <modvm/log.h>

#include "vmq_internal.h"

#define MAX_MSI 4096

/* The IRQ numbers in DIR/msi_irqs (malloc'ed), *n = 0 if there are none. */
static int *msi_irqs(const char *pci_dir, size_t *n)
{
	char path[600];
	struct dirent *e;
	int *irqs;
	DIR *d;

	*n = 0;
	if (vmq_path(path, sizeof(path), "%s/msi_irqs", pci_dir))
		return NULL;
	d = opendir(path);
	if (!d)
		return NULL;
	irqs = calloc(MAX_MSI, sizeof(*irqs));
	while (irqs && (e = readdir(d)) && *n < MAX_MSI) {
		char *end;
		long v = strtol(e->d_name, &end, 10);

		if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && !*end && v >= 0)
			irqs[(*n)++] = (int)v;
	}
	closedir(d);
	return irqs;
}

static bool ends_with_at_boundary(const char *token, const char *suffix)
{
	size_t t = strlen(token), s = strlen(suffix);

	if (t < s || strcmp(token + t - s, suffix) != 0)
		return false;
	return t == s || token[t - s - 1] == '-';
}

static bool names_queue(const char *token, const struct vmq_nic *nic, uint32_t queue)
{
	char want[96];

	snprintf(want, sizeof(want), "%s-TxRx-%u", nic->info.ifname, queue);
	if (ends_with_at_boundary(token, want))
		return true;
	snprintf(want, sizeof(want), "%s-rx-%u", nic->info.ifname, queue);
	if (ends_with_at_boundary(token, want))
		return true;
	if (nic->bus_dev[0]) {
		snprintf(want, sizeof(want), "%s-input.%u", nic->bus_dev, queue);
		if (strcmp(token, want) == 0)
			return true;
	}
	snprintf(want, sizeof(want), "mlx5_comp%u@pci:%s", queue, nic->info.pci_addr);
	return strcmp(token, want) == 0;
}

int vmq_irq_find(const char *proc_root, const struct vmq_nic *nic, uint32_t queue, int *irq)
{
	char path[600], *line = NULL;
	size_t nmsi = 0, cap = 0;
	int *msi, rc = -ENOENT;
	FILE *f;

	if (vmq_path(path, sizeof(path), "%s/interrupts", proc_root))
		return -ENAMETOOLONG;
	f = vmq_fopen(path);
	if (!f)
		return -errno;
	msi = msi_irqs(nic->pci_dir, &nmsi);
	while (rc && getline(&line, &cap, f) > 0) {
		char *save = NULL, *tok, *end;
		long n = strtol(line, &end, 10);
		bool mine = nmsi == 0;

		if (end == line || *end != ':' || n < 0)
			continue;
		for (size_t i = 0; i < nmsi && !mine; i++)
			mine = msi[i] == n;
		if (!mine)
			continue;
		for (tok = strtok_r(end + 1, " \t\n,", &save); tok; tok = strtok_r(NULL, " \t\n,", &save)) {
			if (names_queue(tok, nic, queue)) {
				*irq = (int)n;
				rc = 0;
				break;
			}
		}
	}
	free(line);
	free(msi);
	fclose(f);
	return rc;
}

int vmq_irq_get_affinity(const char *proc_root, int irq, char *buf, size_t len)
{
	char path[600];

	if (vmq_path(path, sizeof(path), "%s/irq/%d/smp_affinity_list", proc_root, irq))
		return -ENAMETOOLONG;
	return vmq_read_line(path, buf, len);
}

int vmq_irq_set_affinity(const char *proc_root, int irq, const char *list)
{
	char path[600];
	size_t len = strlen(list);
	ssize_t w;
	int fd, rc = 0;

	if (vmq_path(path, sizeof(path), "%s/irq/%d/smp_affinity_list", proc_root, irq))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	w = write(fd, list, len);
	if (w < 0)
		rc = -errno;
	else if ((size_t)w != len)
		rc = -EIO;
	if (close(fd) < 0 && !rc)
		rc = -errno;
out:
	if (rc)
		modvm_log(MODVM_LOG_WARN, VMQ_LOG, "%s: cannot write \"%s\": %s", path, list,
			  strerror(-rc));
	return rc;
}
