/*
 * sampler.c — /proc/stat to per-core busy permille.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sampler.h"

void park_sampler_init(struct park_sampler *s, const char *path)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->path, sizeof(s->path), "%s", path);
}

int park_sampler_read(struct park_sampler *s, uint32_t *permille, char *err, unsigned errlen)
{
	char line[512];
	unsigned lineno = 0;
	int count = 0, rc = 0;
	/* Opened without blocking and checked: a fifo as proc_stat must fail
	 * with a message, not hang the loop thread for ever. */
	int fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	FILE *f = NULL;

	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		snprintf(err, errlen, "%s: not a regular file", s->path);
		close(fd);
		return -EINVAL;
	}
	if (fd >= 0)
		f = fdopen(fd, "r");
	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", s->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	memset(permille, 0, PARK_MAX_CPUS * sizeof(*permille));
	while (fgets(line, sizeof(line), f)) {
		uint64_t v[10] = { 0 }, busy = 0, total = 0;
		unsigned cpu;
		int used = 0, fields;

		lineno++;
		if (strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9')
			continue;
		/* user nice system idle iowait irq softirq steal [guest guest_nice] */
		fields = sscanf(line, "cpu%u %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
			       " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 "%n",
			       &cpu, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &used);
		if (fields < 9 || cpu >= PARK_MAX_CPUS) {
			snprintf(err, errlen,
				 "%s:%u: not a /proc/stat cpu line (want cpuN and 8 counters, cpu < %u)",
				 s->path, lineno, PARK_MAX_CPUS);
			rc = -EINVAL;
			goto close_file;
		}
		/* guest time is already inside user/nice: leave it out of the total */
		for (int i = 0; i < 8; i++)
			total += v[i];
		busy = total - v[3] - v[4];
		if (s->primed && s->seen[cpu] && total > s->total[cpu] && busy >= s->busy[cpu])
			permille[cpu] = (uint32_t)((busy - s->busy[cpu]) * 1000 /
						   (total - s->total[cpu]));
		s->busy[cpu] = busy;
		s->total[cpu] = total;
		s->seen[cpu] = true;
		count++;
	}
	if (count == 0) {
		snprintf(err, errlen, "%s: no cpuN lines: not a /proc/stat file", s->path);
		rc = -EINVAL;
		goto close_file;
	}
	s->primed = true;
	rc = count;
close_file:
	fclose(f);
	return rc;
}
