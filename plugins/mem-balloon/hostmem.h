/*
 * hostmem.h — the host's memory situation: MemTotal / MemAvailable from
 * /proc/meminfo and the memory PSI "some"/"full" avg10 from
 * /proc/pressure/memory.  Parsers are pure (text in, numbers out) so tests
 * feed them fixtures; the reader takes configurable paths.
 */
#ifndef MEM_BALLOON_HOSTMEM_H
#define MEM_BALLOON_HOSTMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mb_host_sample {
	uint64_t mem_total;	/* bytes */
	uint64_t mem_available;	/* bytes */
	uint32_t psi_some_permille;	/* avg10 percent × 10 */
	uint32_t psi_full_permille;
	bool have_psi;		/* false: no PSI file (kernel without CONFIG_PSI) */
};

/* 0, or -EINVAL when MemTotal or MemAvailable is missing or malformed. */
int mb_parse_meminfo(const char *text, uint64_t *total, uint64_t *available);
/* 0, or -EINVAL without a "some avg10=" line ("full" is optional: 0). */
int mb_parse_psi(const char *text, uint32_t *some_permille, uint32_t *full_permille);

/*
 * Reads both files.  A missing PSI file is not an error (have_psi false);
 * an unreadable or malformed meminfo, or a malformed PSI file, is: returns
 * -errno / -EINVAL with one line naming the path in @err.
 */
int mb_host_read(const char *meminfo, const char *psi, struct mb_host_sample *out, char *err,
		 size_t errlen);

#endif
