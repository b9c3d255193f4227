/*
 * core/base/ — the floor every other part of libmodvm stands on: logging,
 * version and error text (the SDK's modvm/log.h and modvm/common.h), and
 * the MODVM_INTERNAL marker.  It depends on nothing else in core/.
 *
 * Nothing here is SDK: plugins never include core headers.  Symbols shared
 * between core files are prefixed modvm__ and exported (MODVM_INTERNAL)
 * only so the in-tree tests and the modvm executable can reach them; the
 * ABI check ignores the modvm__ prefix.
 *
 * Each folder of core/ has one header named after it (event/event.h,
 * vm/vm.h, …) that is its interface to the rest of core; a folder uses
 * only the folders below it (docs/architecture.md has the map).
 */
#ifndef MODVM_CORE_BASE_H
#define MODVM_CORE_BASE_H

#include <modvm/common.h>
#include <modvm/log.h>

#define MODVM_INTERNAL MODVM_EXPORT

#endif
