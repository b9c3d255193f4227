/*
 * irq.c — the IRQ of one rx ring, and its affinity.  Drivers name their
 * per-queue vectors in /proc/interrupts; the function's msi_irqs directory
 * keeps us from matching another device's vector with a similar name.
 * (Moved from net-vmq's VMQ library with the rest of the n-tuple logic.)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <modvm/log.h>

#include "ntuple.h"

#define MAX_MSI 4096

/* snprintf() into a path buffer: 0, or -ENAMETOOLONG if it did not fit. */
static int path_of(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int path_of(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* fopen(@path, "r") that never blocks on a fifo planted under a fixture root. */
static FILE *open_read(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;

	if (fd >= 0 && !f)
		close(fd);
	return f;
}

/* The IRQ numbers in DIR/msi_irqs (malloc'ed), *n = 0 if there are none. */
static int *msi_irqs(const char *pci_dir, size_t *n)
{
	char path[600];
	struct dirent *e;
	int *irqs;
	DIR *d;

	*n = 0;
	if (path_of(path, sizeof(path), "%s/msi_irqs", pci_dir))
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

static bool names_queue(const char *token, const struct modvm_nic *nic, uint32_t queue)
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

int nt_irq_find(const struct modvm_nic *nic, uint32_t queue, int *irq)
{
	char path[600], *line = NULL;
	size_t nmsi = 0, cap = 0;
	int *msi, rc = -ENOENT;
	FILE *f;

	if (path_of(path, sizeof(path), "%s/interrupts", nic->proc_root))
		return -ENAMETOOLONG;
	f = open_read(path);
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

int nt_irq_get_affinity(const char *proc_root, int irq, char *buf, size_t len)
{
	char path[600];

	if (path_of(path, sizeof(path), "%s/irq/%d/smp_affinity_list", proc_root, irq))
		return -ENAMETOOLONG;
	FILE *f = open_read(path);
	int rc = 0;

	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		rc = ferror(f) ? -EIO : -ENODATA;
	fclose(f);
	if (rc == 0)
		buf[strcspn(buf, "\n")] = '\0';
	return rc;
}

int nt_irq_set_affinity(const char *proc_root, int irq, const char *list)
{
	char path[600];
	size_t len = strlen(list);
	ssize_t w;
	int fd, rc = 0;

	if (path_of(path, sizeof(path), "%s/irq/%d/smp_affinity_list", proc_root, irq))
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
		modvm_log(MODVM_LOG_WARN, NT_LOG, "%s: cannot write \"%s\": %s", path, list,
			  strerror(-rc));
	return rc;
}
