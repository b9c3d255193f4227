/*
 * The last words of `modvm run` on stdout.  By then every VM is stopped and
 * every host change undone; a reader that stopped reading (`modvm run |
 * less`, left alone) must not keep the process alive after a SIGTERM, so
 * what does not fit in a full pipe within a bound is dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

void cli_write_bounded(const char *text, size_t len, int ms)
{
	struct stat st;
	int flags = -1;

	/* Only a pipe's description is ours alone to make non-blocking: a
	 * terminal's is the shell's too. */
	if (fstat(STDOUT_FILENO, &st) == 0 && S_ISFIFO(st.st_mode))
		flags = fcntl(STDOUT_FILENO, F_GETFL);
	if (flags >= 0 && fcntl(STDOUT_FILENO, F_SETFL, flags | O_NONBLOCK) < 0)
		flags = -1;
	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, text, len);
		if (n < 0 && errno == EAGAIN && ms > 0) {
			nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
			ms -= 10;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		text += n;
		len -= (size_t)n;
	}
	if (flags >= 0)
		fcntl(STDOUT_FILENO, F_SETFL, flags);
}
