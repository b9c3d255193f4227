/* Shared by the guest-code balloon driver and its host-side test. */
#ifndef MEM_BALLOON_GUEST_BALLOON_H
#define MEM_BALLOON_GUEST_BALLOON_H

#include <stdint.h>

#define GB_MMIO 0xd0100000ull	/* the balloon's window (the ucall doorbell is at 0xd0000000) */
#define GB_PAGES 256u		/* pages the guest gives back: 1 MiB */
/* Offsets from the free RAM the host passes as the argument. */
#define GB_Q0 0x0000u		/* inflate rings: desc, +0x1000 avail, +0x2000 used */
#define GB_Q1 0x4000u		/* deflate rings */
#define GB_PFNS 0x8000u		/* the PFN buffer */
#define GB_BALLOON 0x10000u	/* the pages ballooned */
#define GB_QNUM 16u

/* CPL3: probe, negotiate, inflate GB_PAGES when num_pages asks, deflate them
 * when it drops to 0.  SYNCs: 1 pages touched, 2 inflated, 3 deflated and
 * written again. */
void guest_balloon_driver(uint64_t free_gpa);

#endif
