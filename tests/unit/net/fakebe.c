#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fakebe.h"

static ssize_t tx(void *ctx, unsigned pair, const struct iovec *iov, int cnt)
{
	struct fakebe *f = ctx;
	size_t off = 0;

	(void)pair;
	for (int i = 0; i < cnt; i++) {
		ck_assert_uint_le(off + iov[i].iov_len, sizeof(f->tx));
		memcpy(f->tx + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	f->tx_len = off;
	f->tx_count++;
	return (ssize_t)off;
}

static ssize_t rx(void *ctx, unsigned pair, void *buf, size_t len)
{
	struct fakebe *f = ctx;

	(void)pair;
	if (f->rx_head == f->rx_tail)
		return -EAGAIN;
	unsigned i = f->rx_head++ % FAKE_FRAMES;
	size_t n = f->rx_len[i] < len ? f->rx_len[i] : len;
	memcpy(buf, f->rx[i], n);
	return (ssize_t)n;
}

static int set_offloads(void *ctx, unsigned flags)
{
	struct fakebe *f = ctx;

	f->offload_calls++;
	if (f->offload_error)
		return f->offload_error;
	f->offloads = flags;
	return 0;
}

static void set_pairs(void *ctx, unsigned n)
{
	((struct fakebe *)ctx)->pairs = n;
}

static void rx_wake(void *ctx, unsigned pair)
{
	(void)pair;
	((struct fakebe *)ctx)->wakes++;
}

struct fakebe *fakebe_new(void)
{
	struct fakebe *f = calloc(1, sizeof(*f));
	ck_assert_ptr_nonnull(f);
	return f;
}

struct netdev_backend fakebe_backend(struct fakebe *f)
{
	return (struct netdev_backend){ .tx = tx, .rx = rx, .set_offloads = set_offloads,
					.set_pairs = set_pairs, .rx_wake = rx_wake, .ctx = f,
					.wake_ctx = f };
}

void fakebe_inject(struct fakebe *f, const void *frame, size_t len)
{
	struct vnet_hdr h = { 0 };
	fakebe_inject_hdr(f, &h, frame, len);
}

void fakebe_inject_hdr(struct fakebe *f, const struct vnet_hdr *h, const void *frame, size_t len)
{
	ck_assert_uint_lt(f->rx_tail - f->rx_head, FAKE_FRAMES);
	unsigned i = f->rx_tail++ % FAKE_FRAMES;
	ck_assert_uint_le(VNET_HDR_LEN + len, FAKE_FRAME_MAX);
	memcpy(f->rx[i], h, VNET_HDR_LEN);
	memcpy(f->rx[i] + VNET_HDR_LEN, frame, len);
	f->rx_len[i] = VNET_HDR_LEN + len;
}
