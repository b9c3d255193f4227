#include <errno.h>
#include <string.h>

#include "base/base.h"

MODVM_EXPORT const char *modvm_version(void)
{
	return MODVM_VERSION;
}

MODVM_EXPORT const char *modvm_strerror(int negative_errno)
{
	switch (-negative_errno) {
	case 0:
		return "success";
	case EPROTO:
		return "event descriptor mismatch (payload size or version)";
	default:
		return strerror(-negative_errno);
	}
}
