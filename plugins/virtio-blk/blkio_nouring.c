/* Built without liburing: every disk gets the thread pool. */
#include <errno.h>
#include <stdio.h>

#include "blkio.h"

bool blkio_uring_usable(char *why, size_t len)
{
	if (why)
		snprintf(why, len, "modvm was built without liburing");
	return false;
}

int blkio__uring_start(struct blkio *io, char *why, size_t len)
{
	(void)io;
	snprintf(why, len, "modvm was built without liburing");
	return -ENOTSUP;
}
