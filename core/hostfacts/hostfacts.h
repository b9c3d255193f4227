/*
 * core/hostfacts/ — what the host can do for virtualization, as recorded
 * facts (modvm/hostfacts.h): the pure tables the vendor probes read
 * (hostfacts.c), read live from CPUID, MSRs, /dev/kvm and sysfs
 * (hostfacts_live.c) or from a text file recorded on another machine
 * (hostfacts_file.c, how tests exercise Intel and AMD hosts anywhere); and
 * the host's memory pressure for memory policies (hostmem.c, SDK
 * modvm/hostmem.h).  Plugins use it through the SDK; the rest of core/
 * does not.  Uses only base/.
 */
#ifndef MODVM_CORE_HOSTFACTS_H
#define MODVM_CORE_HOSTFACTS_H

#include <modvm/hostfacts.h>
#include <modvm/hostmem.h>

#include "base/base.h"

/* hostmem.c: the pure parsers behind modvm_host_mem_read(), for tests.
 * "Key:   123 kB" lines → bytes; "some avg10=1.23" → permille ("full"
 * optional: 0).  0 or -EINVAL. */
MODVM_INTERNAL int modvm__parse_meminfo(const char *text, uint64_t *total, uint64_t *available);
MODVM_INTERNAL int modvm__parse_psi(const char *text, uint32_t *some_permille,
				    uint32_t *full_permille);

#endif
