/* A frame back end in memory, so the device model is tested without a tap. */
#ifndef NET_VMQ_TEST_FAKEBE_H
#define NET_VMQ_TEST_FAKEBE_H

#include "netdev.h"

#define FAKE_FRAMES 8
#define FAKE_FRAME_MAX (VNET_HDR_LEN + NETDEV_FRAME_MAX)

struct fakebe {
	unsigned offloads;	/* last set_offloads */
	int offload_calls;
	int offload_error;	/* returned by set_offloads when non-zero */
	unsigned pairs;		/* last set_pairs */
	int wakes;
	int tx_count;
	size_t tx_len;		/* of the last frame, header included */
	uint8_t tx[FAKE_FRAME_MAX];
	unsigned rx_head, rx_tail;
	size_t rx_len[FAKE_FRAMES];
	uint8_t rx[FAKE_FRAMES][FAKE_FRAME_MAX];
};

struct fakebe *fakebe_new(void);
struct netdev_backend fakebe_backend(struct fakebe *f);
/* Queues a frame (with a zero header) for the device to read. */
void fakebe_inject(struct fakebe *f, const void *frame, size_t len);
/* The same with the header the tap would have written. */
void fakebe_inject_hdr(struct fakebe *f, const struct vnet_hdr *h, const void *frame, size_t len);

#endif
