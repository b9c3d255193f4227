/* Token buckets (see ratelimit.h). */
#include <math.h>

#include "ratelimit.h"

static void bucket_init(struct tbucket *b, uint64_t rate, uint64_t burst, uint64_t now)
{
	b->rate = rate;
	b->burst = burst ? burst : rate;
	b->tokens = (double)b->burst;
	b->last_ns = now;
}

void ratelimit_init(struct ratelimit *rl, uint64_t bytes_per_s, uint64_t bytes_burst,
		    uint64_t ops_per_s, uint64_t ops_burst, uint64_t now_ns)
{
	bucket_init(&rl->bytes, bytes_per_s, bytes_burst, now_ns);
	bucket_init(&rl->ops, ops_per_s, ops_burst, now_ns);
}

bool ratelimit_enabled(const struct ratelimit *rl)
{
	return rl->bytes.rate || rl->ops.rate;
}

static void refill(struct tbucket *b, uint64_t now)
{
	if (now <= b->last_ns)
		return;
	b->tokens += (double)b->rate * (double)(now - b->last_ns) / 1e9;
	if (b->tokens > (double)b->burst)
		b->tokens = (double)b->burst;
	b->last_ns = now;
}

/* 0 if @n tokens may go now, else the ns until they may. */
static uint64_t wait_for(struct tbucket *b, uint64_t n, uint64_t now)
{
	double need;

	if (!b->rate)
		return 0;
	refill(b, now);
	/* More than a bucketful goes once the bucket is full. */
	need = n > b->burst ? (double)b->burst : (double)n;
	if (b->tokens + 1e-6 >= need)	/* rounding must not cost another timer */
		return 0;
	double ns = ceil((need - b->tokens) * 1e9 / (double)b->rate);
	return ns < 1 ? 1 : (uint64_t)ns;
}

uint64_t ratelimit_take(struct ratelimit *rl, uint64_t bytes, uint64_t now_ns)
{
	uint64_t wb = wait_for(&rl->bytes, bytes, now_ns);
	uint64_t wo = wait_for(&rl->ops, 1, now_ns);

	if (wb || wo)
		return wb > wo ? wb : wo;
	if (rl->bytes.rate)
		rl->bytes.tokens -= (double)bytes;
	if (rl->ops.rate)
		rl->ops.tokens -= 1;
	return 0;
}
