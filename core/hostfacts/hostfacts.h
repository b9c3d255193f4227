/*
 * core/hostfacts/ — what the host can do for virtualization, as recorded
 * facts (modvm/hostfacts.h): the pure tables the vendor probes read
 * (hostfacts.c), read live from CPUID, MSRs, /dev/kvm and sysfs
 * (hostfacts_live.c) or from a text file recorded on another machine
 * (hostfacts_file.c, how tests exercise Intel and AMD hosts anywhere).
 * Plugins use it through the SDK; the rest of core/ does not.  Uses only
 * base/.
 */
#ifndef MODVM_CORE_HOSTFACTS_H
#define MODVM_CORE_HOSTFACTS_H

#include <modvm/hostfacts.h>

#include "base/base.h"

#endif
