/*
 * modvm/hostmem.h — the host's memory situation, for memory policies
 * (ABI 1.4).
 *
 * A memory policy weighs what the guests want against what the host can
 * spare.  This reads the latter the way the in-tree Dynamic Memory policy
 * (mem-dynamic) does, so no policy has to parse /proc itself, into the
 * payload of host.mem_pressure (events.h), which a policy publishes every
 * time it decides.
 */
#ifndef MODVM_HOSTMEM_H
#define MODVM_HOSTMEM_H

#include "common.h"
#include "events.h"

MODVM_BEGIN_DECLS

/*
 * Reads MemTotal and MemAvailable from @meminfo (normally "/proc/meminfo")
 * and the memory PSI "some"/"full" avg10 from @psi (normally
 * "/proc/pressure/memory") into @out.  A missing PSI file (a kernel without
 * CONFIG_PSI) is not an error: its fields are 0 and *@have_psi is false
 * (@have_psi may be NULL).  Both files are opened without blocking and
 * must be regular files, so a fifo named in a config cannot stall the
 * loop.  Returns 0, or -errno (-EINVAL for a file without the expected
 * lines) with one line naming the path in @err.  Any thread: it only reads
 * two small files.
 */
MODVM_EXPORT int modvm_host_mem_read(const char *meminfo, const char *psi,
				     struct modvm_mem_pressure *out, bool *have_psi, char *err,
				     size_t errlen);

MODVM_END_DECLS

#endif
