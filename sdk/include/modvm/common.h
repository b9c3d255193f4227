/*
 * modvm/common.h — versioning and symbol-visibility macros shared by every
 * public header.  Plugins include only headers from this directory.
 *
 * ABI rules (see sdk/README.md for the full text):
 *  - MODVM_ABI_MAJOR changes when any published struct changes layout or a
 *    published function changes meaning.  Plugins built for another major
 *    are refused by the loader.
 *  - MODVM_ABI_MINOR grows when something is *added*: a field appended to a
 *    size-stamped struct, a new function, a new event type.  A plugin built
 *    against a newer minor than the running core is refused; an older one
 *    keeps working because the core reads struct_size before any new field.
 */
#ifndef MODVM_COMMON_H
#define MODVM_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define MODVM_ABI_MAJOR 1
#define MODVM_ABI_MINOR 5

/* Marks a symbol that libmodvm (or a plugin, for its descriptor) exports. */
#define MODVM_EXPORT __attribute__((visibility("default")))

#if defined(__GNUC__)
#define MODVM_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define MODVM_UNUSED __attribute__((unused))
#else
#define MODVM_PRINTF(fmt, args)
#define MODVM_UNUSED
#endif

#ifdef __cplusplus
#define MODVM_BEGIN_DECLS extern "C" {
#define MODVM_END_DECLS }
#else
#define MODVM_BEGIN_DECLS
#define MODVM_END_DECLS
#endif

MODVM_BEGIN_DECLS

/* The version string of the running libmodvm, e.g. "0.1.0". */
MODVM_EXPORT const char *modvm_version(void);

/*
 * Returns a static, human-readable text for a negative errno value returned
 * by any modvm_* function (it is strerror() with modvm-specific wording for
 * the codes the SDK gives a meaning of its own, such as -EPROTO for an event
 * descriptor mismatch).
 */
MODVM_EXPORT const char *modvm_strerror(int negative_errno);

MODVM_END_DECLS

#endif
