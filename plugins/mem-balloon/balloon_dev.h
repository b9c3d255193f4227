/*
 * balloon_dev.h — the virtio-balloon device (virtio 1.2, 5.5) of the
 * mem-balloon plugin, on the libmodvm virtio library (modvm/virtio.h).
 *
 * Queues, by role: inflate, deflate, stats (STATS_VQ), free page reporting
 * (PAGE_REPORTING).  Roles are given to queue indices in order, skipping
 * the ones whose feature the driver did not accept (what Linux's
 * virtio_find_vqs does), so a driver that drops STATS_VQ still finds its
 * reporting queue.  FREE_PAGE_HINT and PAGE_POISON are not offered.
 *
 * Inflated and reported pages are released to the host with MADV_REMOVE
 * (shared RAM, the VM runtime's) or MADV_DONTNEED (private RAM, tests), in
 * one madvise per run of contiguous pages.  Every 4 KiB page is checked on
 * its own through the guest-memory translation (it must lie in one RAM
 * region); pages that don't are counted in bad_pfns and never touched.
 *
 * Threads.  The virtio callbacks run on vCPU threads under the transport
 * mutex (queue_notify also on the loop thread, for what was left after a
 * queue's worth: modvm_virtio_renotify); the getters and
 * balloon_dev_set_target / _request_stats may be called from any thread
 * (the plugin's loop thread).  The device's own
 * mutex is never held while calling into the virtio library.
 */
#ifndef MEM_BALLOON_DEV_H
#define MEM_BALLOON_DEV_H

#include <modvm/virtio.h>
#include <modvm/vm.h>

/* Feature bits (5.5.3). */
#define BALLOON_F_MUST_TELL_HOST 0
#define BALLOON_F_STATS_VQ 1
#define BALLOON_F_DEFLATE_ON_OOM 2
#define BALLOON_F_FREE_PAGE_HINT 3
#define BALLOON_F_PAGE_POISON 4
#define BALLOON_F_REPORTING 5

/* Balloon page numbers are always 4 KiB units (VIRTIO_BALLOON_PFN_SHIFT). */
#define BALLOON_PFN_SHIFT 12
#define BALLOON_PAGE_SIZE (1u << BALLOON_PFN_SHIFT)

/* An inflate/deflate buffer of more bytes than this (16384 page numbers,
 * 64 MiB of pages; Linux sends 256 a buffer, Windows' driver 1024) is
 * malformed. */
#define BALLOON_PFN_CHAIN_MAX (64u << 10)
/* Page numbers one notification takes before it stops and asks to be
 * notified again (modvm_virtio_renotify): a full ring of Linux's buffers.
 * Each can be a system call of its own, and a notification runs under the
 * device's lock, on a vCPU thread or on the loop every VM shares: a guest
 * filling its ring with the largest buffers must not hold either for
 * seconds. */
#define BALLOON_PFN_KICK_MAX 65536u

/* Statistic tags (5.5.6.3), plus the ones Linux added after 1.2. */
enum {
	BALLOON_S_SWAP_IN = 0,
	BALLOON_S_SWAP_OUT = 1,
	BALLOON_S_MAJFLT = 2,
	BALLOON_S_MINFLT = 3,
	BALLOON_S_MEMFREE = 4,
	BALLOON_S_MEMTOT = 5,
	BALLOON_S_AVAIL = 6,
	BALLOON_S_CACHES = 7,
	BALLOON_S_HTLB_PGALLOC = 8,
	BALLOON_S_HTLB_PGFAIL = 9,
	BALLOON_S_OOM_KILL = 10,
	BALLOON_S_ALLOC_STALL = 11,
	BALLOON_S_ASYNC_SCAN = 12,
	BALLOON_S_DIRECT_SCAN = 13,
	BALLOON_S_ASYNC_RECLAIM = 14,
	BALLOON_S_DIRECT_RECLAIM = 15,
	BALLOON_S_NR = 16,
};
/* One entry of a stats buffer: le16 tag, le64 value, packed: 10 bytes. */
#define BALLOON_STAT_SIZE 10u
/* A stats buffer larger than this many entries is malformed. */
#define BALLOON_STATS_MAX 64u

/* Queue roles and their ring size. */
enum { BALLOON_Q_INFLATE, BALLOON_Q_DEFLATE, BALLOON_Q_STATS, BALLOON_Q_REPORTING, BALLOON_Q_NR };
#define BALLOON_QUEUE_MAX 256

struct balloon_dev;

/* The latest statistics the guest sent (values as the guest gave them:
 * bytes for MEMFREE/MEMTOT/AVAIL/CACHES, counts otherwise). */
struct balloon_guest_stats {
	uint64_t val[BALLOON_S_NR];
	uint32_t present;	/* bit n: tag n was in the last buffer */
	uint32_t reserved;
	uint64_t generation;	/* bumped on every good buffer; 0: none yet */
};

/* Counters since create (atomic snapshots). */
struct balloon_counters {
	uint64_t inflated_pages;	/* good PFNs taken from inflate buffers */
	uint64_t deflated_pages;	/* good PFNs taken from deflate buffers */
	uint64_t reported_bytes;	/* free page reporting bytes released */
	uint64_t released_bytes;	/* bytes madvise accepted (inflate + reporting) */
	uint64_t madvise_calls;
	uint64_t madvise_errors;
	uint64_t bad_pfns;		/* PFNs outside RAM: rejected, never acted on */
	uint64_t bad_requests;		/* malformed inflate/deflate/report buffers */
	uint64_t bad_stats;		/* stats buffers of a wrong size */
	uint64_t stats_updates;		/* good stats buffers */
	uint64_t stats_requests;	/* buffers handed back to ask for fresh stats */
	uint64_t actual_writes;		/* the driver wrote `actual` */
};

/*
 * Creates a device on a transport of its own (tests, benches): @cfg as for
 * modvm_virtio_mmio_create; its guest memory translation is also used for
 * the pages.  0, -EINVAL or -ENOMEM; *@out only on success.
 */
int balloon_dev_create(const struct modvm_virtio_mmio_config *cfg, struct balloon_dev **out);
/* Frees a device from balloon_dev_create (NULL is ignored). */
void balloon_dev_free(struct balloon_dev *b);

/*
 * Adds a device to @vm (modvm_vm_add_virtio, owner thread, before start);
 * without @free_page_reporting the guest is not offered it.
 */
int balloon_dev_attach(struct modvm_vm *vm, bool free_page_reporting, struct balloon_dev **out);
/* Removes and frees a device from balloon_dev_attach (vCPUs stopped). */
void balloon_dev_detach(struct modvm_vm *vm, struct balloon_dev *b);

struct modvm_virtio_mmio *balloon_dev_transport(struct balloon_dev *b);

/*
 * Sets config num_pages (the pages the guest should give back) and raises
 * a configuration interrupt if it changed.  Any thread.
 */
void balloon_dev_set_target(struct balloon_dev *b, uint32_t num_pages);
uint32_t balloon_dev_target(struct balloon_dev *b);
/* Config `actual`: pages the guest says it has given. Any thread. */
uint32_t balloon_dev_actual(struct balloon_dev *b);
/*
 * What the guest has given, as far as the device can tell: `actual`, but
 * no more than the page numbers it sent in inflate buffers and did not
 * take back.  A guest that only writes `actual` claims nothing, so a
 * policy budgeting with it cannot be made to squeeze the other VMs.
 * (Page numbers repeated across buffers still count each time.) Any thread.
 */
uint32_t balloon_dev_given(struct balloon_dev *b);
/*
 * True if the driver negotiated DEFLATE_ON_OOM: Linux then keeps the
 * balloon's pages in its MemTotal (as used), otherwise it takes them out.
 */
bool balloon_dev_total_counts_balloon(struct balloon_dev *b);

/*
 * Hands the held stats buffer back so the driver refills it (5.5.6.3).
 * Returns whether a buffer was held.  Any thread.
 */
bool balloon_dev_request_stats(struct balloon_dev *b);
void balloon_dev_get_stats(struct balloon_dev *b, struct balloon_guest_stats *out);
void balloon_dev_get_counters(struct balloon_dev *b, struct balloon_counters *out);

#endif
