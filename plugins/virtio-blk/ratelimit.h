/*
 * ratelimit.h — token buckets for a disk's bandwidth and operations, the way
 * Firecracker limits its block devices: each bucket holds up to @burst
 * tokens, refills at @rate tokens per second, and starts full.  A request
 * takes its bytes from one bucket and one token from the other; a request
 * larger than a whole bucket may go when the bucket is full and leaves it
 * in debt (so a burst size below the largest request cannot stall a disk).
 * Pure arithmetic on a time the caller passes in: no clock, no locks (the
 * device calls it under its transport mutex).
 */
#ifndef VIRTIO_BLK_RATELIMIT_H
#define VIRTIO_BLK_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct tbucket {
	uint64_t rate;		/* tokens per second; 0: unlimited */
	uint64_t burst;		/* capacity */
	double tokens;		/* may be negative: debt */
	uint64_t last_ns;
};

struct ratelimit {
	struct tbucket bytes, ops;
};

/* 0 rates mean unlimited; a 0 burst means one second's worth of the rate. */
void ratelimit_init(struct ratelimit *rl, uint64_t bytes_per_s, uint64_t bytes_burst,
		    uint64_t ops_per_s, uint64_t ops_burst, uint64_t now_ns);
bool ratelimit_enabled(const struct ratelimit *rl);
/*
 * Takes @bytes and one operation at @now_ns if both buckets allow it and
 * returns 0; otherwise takes nothing and returns how many ns to wait before
 * asking again (at least 1).
 */
uint64_t ratelimit_take(struct ratelimit *rl, uint64_t bytes, uint64_t now_ns);

#endif
