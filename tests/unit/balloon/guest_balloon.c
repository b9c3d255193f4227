/*
 * guest_balloon.c — a minimal virtio-balloon driver as guest code (built
 * into the guest-code library: no libc, no sanitizers), doing what Linux's
 * virtio_balloon does for one inflate and one deflate, over virtio-mmio.
 */
#include "lib/guest.h"
#include "guest_balloon.h"

#define R(off) (*(volatile uint32_t *)(uintptr_t)(GB_MMIO + (off)))

static void setup_queue(uint32_t q, uint64_t base)
{
	guest_memset((void *)(uintptr_t)base, 0, 0x3000);
	R(0x030) = q;				/* QueueSel */
	GUEST_ASSERT(R(0x034) >= GB_QNUM);	/* QueueNumMax */
	R(0x038) = GB_QNUM;
	R(0x080) = (uint32_t)base;
	R(0x084) = (uint32_t)(base >> 32);
	R(0x090) = (uint32_t)(base + 0x1000);
	R(0x094) = (uint32_t)((base + 0x1000) >> 32);
	R(0x0a0) = (uint32_t)(base + 0x2000);
	R(0x0a4) = (uint32_t)((base + 0x2000) >> 32);
	R(0x044) = 1;				/* QueueReady */
	GUEST_ASSERT_EQ(R(0x044), 1);
}

/* Sends the PFNs of the balloon pages on queue @q and waits for them back. */
static void send_pfns(uint64_t free, uint32_t q, uint64_t rings, uint16_t *avail_idx)
{
	uint32_t *pfn = (uint32_t *)(uintptr_t)(free + GB_PFNS);
	uint64_t first = (free + GB_BALLOON) >> 12;
	for (uint32_t i = 0; i < GB_PAGES; i++)
		pfn[i] = (uint32_t)(first + i);
	volatile uint8_t *desc = (volatile uint8_t *)(uintptr_t)rings;
	*(volatile uint64_t *)desc = free + GB_PFNS;
	*(volatile uint32_t *)(desc + 8) = GB_PAGES * 4;
	*(volatile uint16_t *)(desc + 12) = 0;
	volatile uint16_t *avail = (volatile uint16_t *)(uintptr_t)(rings + 0x1000);
	avail[2 + *avail_idx % GB_QNUM] = 0;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	avail[1] = (uint16_t)++*avail_idx;
	R(0x050) = q;				/* QueueNotify */
	volatile uint16_t *used = (volatile uint16_t *)(uintptr_t)(rings + 0x2000);
	GUEST_ASSERT_EQ(used[1], *avail_idx);	/* handled during the notify exit */
}

void guest_balloon_driver(uint64_t free)
{
	uint16_t idx0 = 0, idx1 = 0;

	GUEST_ASSERT_EQ(R(0x000), 0x74726976);
	GUEST_ASSERT_EQ(R(0x008), 5);		/* a balloon */
	R(0x070) = 0;
	R(0x070) = 1 | 2;			/* ACKNOWLEDGE | DRIVER */
	R(0x014) = 1;
	GUEST_ASSERT(R(0x010) & 1);		/* VERSION_1 */
	R(0x024) = 1;
	R(0x020) = 1;
	R(0x014) = 0;
	GUEST_ASSERT(R(0x010) & 1);		/* MUST_TELL_HOST */
	R(0x024) = 0;
	R(0x020) = 1;
	R(0x070) = 1 | 2 | 8;			/* FEATURES_OK */
	GUEST_ASSERT(R(0x070) & 8);
	setup_queue(0, free + GB_Q0);
	setup_queue(1, free + GB_Q1);
	R(0x070) = 1 | 2 | 8 | 4;		/* DRIVER_OK */

	/* The PFN buffer is resident before the host's first Rss reading. */
	guest_memset((void *)(uintptr_t)(free + GB_PFNS), 0, GB_PAGES * 4);
	uint8_t *pages = (uint8_t *)(uintptr_t)(free + GB_BALLOON);
	for (uint32_t i = 0; i < GB_PAGES; i++)
		pages[i * 4096u] = 0x5a;
	GUEST_SYNC(1);

	GUEST_ASSERT_EQ(R(0x100), GB_PAGES);	/* num_pages: the host's target */
	send_pfns(free, 0, free + GB_Q0, &idx0);
	R(0x104) = GB_PAGES;			/* actual */
	GUEST_SYNC(2);

	GUEST_ASSERT_EQ(R(0x100), 0);
	send_pfns(free, 1, free + GB_Q1, &idx1);	/* MUST_TELL_HOST: tell, then use */
	R(0x104) = 0;
	for (uint32_t i = 0; i < GB_PAGES; i++) {
		GUEST_ASSERT_EQ(pages[i * 4096u], 0);	/* the host gave them back empty */
		pages[i * 4096u] = 0x77;
	}
	GUEST_SYNC(3);
	GUEST_DONE();
}
