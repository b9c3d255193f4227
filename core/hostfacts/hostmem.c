/*
 * The host's memory situation for memory policies (SDK modvm/hostmem.h):
 * MemTotal / MemAvailable from /proc/meminfo and the memory PSI
 * "some"/"full" avg10 from /proc/pressure/memory.  The parsers are pure
 * (text in, numbers out) so tests feed them fixtures; the reader takes the
 * paths a config names.  Moved here from mem-balloon when Dynamic Memory
 * became a plugin of its own (issue 15), so every memory policy reads the
 * host the same way without copying it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostfacts/hostfacts.h"

/* "Key:   123 kB" at the start of a line → bytes. */
static int meminfo_field(const char *text, const char *key, uint64_t *out)
{
	size_t klen = strlen(key);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, key, klen) || l[klen] != ':')
			continue;
		char *end;
		errno = 0;
		unsigned long long kb = strtoull(l + klen + 1, &end, 10);
		if (errno || end == l + klen + 1 || kb > UINT64_MAX / 1024)
			return -EINVAL;
		*out = (uint64_t)kb * 1024;
		return 0;
	}
	return -EINVAL;
}

MODVM_INTERNAL int modvm__parse_meminfo(const char *text, uint64_t *total, uint64_t *available)
{
	if (meminfo_field(text, "MemTotal", total) < 0 ||
	    meminfo_field(text, "MemAvailable", available) < 0)
		return -EINVAL;
	return 0;
}

/* "avg10=1.23" on the line starting with @kind → permille. */
static int psi_avg10(const char *text, const char *kind, uint32_t *out)
{
	size_t klen = strlen(kind);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, kind, klen) || l[klen] != ' ')
			continue;
		const char *a = strstr(l, "avg10=");
		const char *eol = strchr(l, '\n');
		if (!a || (eol && a > eol))
			return -EINVAL;
		char *end;
		double pct = strtod(a + 6, &end);
		if (end == a + 6 || pct < 0 || pct > 100)
			return -EINVAL;
		*out = (uint32_t)(pct * 10 + 0.5);
		return 0;
	}
	return -ENOENT;
}

MODVM_INTERNAL int modvm__parse_psi(const char *text, uint32_t *some, uint32_t *full)
{
	if (psi_avg10(text, "some", some) < 0)
		return -EINVAL;
	int r = psi_avg10(text, "full", full);
	if (r == -ENOENT)
		*full = 0;
	return r == -EINVAL ? -EINVAL : 0;
}

/* Reads a small proc file whole; -errno.  Opened without blocking and
 * refused unless regular (procfs files are): a fifo configured as meminfo
 * would otherwise stop the loop thread for good. */
static int slurp(const char *path, char *buf, size_t size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	FILE *f = fdopen(fd, "r");
	if (!f) {
		int e = -errno;
		close(fd);
		return e;
	}
	size_t n = fread(buf, 1, size - 1, f);
	int err = ferror(f) ? -EIO : 0;
	fclose(f);
	buf[n] = '\0';
	return err;
}

MODVM_EXPORT int modvm_host_mem_read(const char *meminfo, const char *psi,
				    struct modvm_mem_pressure *out, bool *have_psi, char *err,
				    size_t errlen)
{
	char buf[8192];
	int r;

	memset(out, 0, sizeof(*out));
	if (have_psi)
		*have_psi = false;
	if (!meminfo || !psi) {
		snprintf(err, errlen, "no meminfo or PSI path given");
		return -EINVAL;
	}
	r = slurp(meminfo, buf, sizeof(buf));
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", meminfo, strerror(-r));
		return r;
	}
	if (modvm__parse_meminfo(buf, &out->mem_total, &out->mem_available) < 0) {
		snprintf(err, errlen, "%s: no MemTotal/MemAvailable lines in kB", meminfo);
		return -EINVAL;
	}
	r = slurp(psi, buf, sizeof(buf));
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", psi, strerror(-r));
		return r;
	}
	if (modvm__parse_psi(buf, &out->psi_some_avg10_permille, &out->psi_full_avg10_permille) < 0) {
		snprintf(err, errlen, "%s: no \"some avg10=\" line", psi);
		return -EINVAL;
	}
	if (have_psi)
		*have_psi = true;
	return 0;
}
