/*
 * modvm/virtio.h — the virtio library device plugins build on: split
 * virtqueues (virtio 1.2, section 2.7) and the virtio-mmio transport
 * (version 2 register layout, section 4.2).
 *
 * A device model supplies a table of operations (struct
 * modvm_virtio_device_ops) and gets a transport (struct modvm_virtio_mmio)
 * that decodes the guest's register accesses, negotiates features, sets up
 * and validates the queues and raises interrupts.  The device then pops
 * descriptor chains (already translated into host pointers, bounded and
 * checked) and pushes them back used.
 *
 * The library never sees a VM.  It reaches the world through three narrow
 * points the caller provides:
 *  - guest memory: struct modvm_guest_mem, a gpa → host pointer translation
 *    for a whole range (the VM runtime's modvm_gpa_to_hva fits it);
 *  - interrupts: raise_irq(ctx) in the transport config (irqfd or an irq
 *    line pulse);
 *  - register accesses: modvm_virtio_mmio_access(), whose shape (and that
 *    of modvm_virtio_mmio_bus_handler) is the iobus handler's.
 *
 * Locking.  Each transport has one mutex (recursive).  Every function here
 * that takes a transport, a device or a queue takes it, so any thread may
 * call them: vCPU threads (register accesses), the loop thread (a back end
 * completing I/O, a deferred notification), a device's own worker.  The
 * device's callbacks run with the mutex held and may call back into this
 * API (e.g. pop and push from queue_notify).  A device with locks of its
 * own must never hold them while calling into this API, or it can deadlock
 * against a vCPU thread that holds the transport mutex and calls the
 * device.
 *
 * Guest-caused errors are never fatal and never touch memory outside the
 * ranges the translation returned: a malformed descriptor chain is handed
 * back used with length 0 and counted; a ring that cannot be trusted any
 * more (available index jumping by more than the queue size, a head index
 * out of range) marks the queue broken, sets DEVICE_NEEDS_RESET and raises a
 * configuration interrupt, as the spec asks (2.1.2).  The first error of a
 * queue is logged at WARN, later ones at DEBUG, so a hostile guest cannot
 * flood the log.
 */
#ifndef MODVM_VIRTIO_H
#define MODVM_VIRTIO_H

#include "common.h"
#include "log.h"

MODVM_BEGIN_DECLS

/* ---- constants from the virtio 1.2 specification ---- */

/* Device status bits (2.1). */
#define MODVM_VIRTIO_STATUS_ACKNOWLEDGE 1u
#define MODVM_VIRTIO_STATUS_DRIVER 2u
#define MODVM_VIRTIO_STATUS_DRIVER_OK 4u
#define MODVM_VIRTIO_STATUS_FEATURES_OK 8u
#define MODVM_VIRTIO_STATUS_DEVICE_NEEDS_RESET 64u
#define MODVM_VIRTIO_STATUS_FAILED 128u

/* Transport feature bits (6).  The library offers VERSION_1, INDIRECT_DESC
 * and RING_EVENT_IDX on every device; ACCESS_PLATFORM (an IOMMU) is not
 * supported.  Devices may offer bits 0..23 and 41..63 only. */
#define MODVM_VIRTIO_F_INDIRECT_DESC 28
#define MODVM_VIRTIO_F_RING_EVENT_IDX 29
#define MODVM_VIRTIO_F_VERSION_1 32
#define MODVM_VIRTIO_F_ACCESS_PLATFORM 33
#define MODVM_VIRTIO_FEATURE(bit) (1ULL << (bit))

/* Interrupt status bits (4.2.2). */
#define MODVM_VIRTIO_INT_USED_BUFFER 1u
#define MODVM_VIRTIO_INT_CONFIG 2u

/* Device IDs (5) the tree uses. */
#define MODVM_VIRTIO_ID_NET 1
#define MODVM_VIRTIO_ID_CONSOLE 3
#define MODVM_VIRTIO_ID_RNG 4
#define MODVM_VIRTIO_ID_BALLOON 5

/* Split ring layout (2.7). */
#define MODVM_VIRTQ_DESC_F_NEXT 1u
#define MODVM_VIRTQ_DESC_F_WRITE 2u
#define MODVM_VIRTQ_DESC_F_INDIRECT 4u
#define MODVM_VIRTQ_AVAIL_F_NO_INTERRUPT 1u
#define MODVM_VIRTQ_USED_F_NO_NOTIFY 1u
#define MODVM_VIRTQ_MAX_SIZE 32768u

/* virtio-mmio version 2 registers (4.2.2), offsets from the device base. */
#define MODVM_VIRTIO_MMIO_MAGIC_VALUE 0x000		/* R: 0x74726976 "virt" */
#define MODVM_VIRTIO_MMIO_VERSION 0x004			/* R: 2 */
#define MODVM_VIRTIO_MMIO_DEVICE_ID 0x008		/* R */
#define MODVM_VIRTIO_MMIO_VENDOR_ID 0x00c		/* R: MODVM_VIRTIO_VENDOR_ID */
#define MODVM_VIRTIO_MMIO_DEVICE_FEATURES 0x010		/* R */
#define MODVM_VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014	/* W */
#define MODVM_VIRTIO_MMIO_DRIVER_FEATURES 0x020		/* W */
#define MODVM_VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024	/* W */
#define MODVM_VIRTIO_MMIO_QUEUE_SEL 0x030		/* W */
#define MODVM_VIRTIO_MMIO_QUEUE_NUM_MAX 0x034		/* R */
#define MODVM_VIRTIO_MMIO_QUEUE_NUM 0x038		/* W */
#define MODVM_VIRTIO_MMIO_QUEUE_READY 0x044		/* RW */
#define MODVM_VIRTIO_MMIO_QUEUE_NOTIFY 0x050		/* W */
#define MODVM_VIRTIO_MMIO_INTERRUPT_STATUS 0x060	/* R */
#define MODVM_VIRTIO_MMIO_INTERRUPT_ACK 0x064		/* W */
#define MODVM_VIRTIO_MMIO_STATUS 0x070			/* RW */
#define MODVM_VIRTIO_MMIO_QUEUE_DESC_LOW 0x080		/* W */
#define MODVM_VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084		/* W */
#define MODVM_VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090	/* W: the available ring */
#define MODVM_VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094	/* W */
#define MODVM_VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0	/* W: the used ring */
#define MODVM_VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4	/* W */
#define MODVM_VIRTIO_MMIO_SHM_SEL 0x0ac			/* W */
#define MODVM_VIRTIO_MMIO_SHM_LEN_LOW 0x0b0		/* R: all-ones, "no region" */
#define MODVM_VIRTIO_MMIO_SHM_LEN_HIGH 0x0b4		/* R */
#define MODVM_VIRTIO_MMIO_SHM_BASE_LOW 0x0b8		/* R */
#define MODVM_VIRTIO_MMIO_SHM_BASE_HIGH 0x0bc		/* R */
#define MODVM_VIRTIO_MMIO_QUEUE_RESET 0x0c0		/* RW: reads 0 (RING_RESET not offered) */
#define MODVM_VIRTIO_MMIO_CONFIG_GENERATION 0x0fc	/* R */
#define MODVM_VIRTIO_MMIO_CONFIG 0x100			/* device-specific config space */

#define MODVM_VIRTIO_MMIO_MAGIC 0x74726976u
#define MODVM_VIRTIO_MMIO_VERSION_2 2u
/* "MDVM" in guest (little-endian) byte order, like QEMU's "QEMU" 0x554d4551. */
#define MODVM_VIRTIO_VENDOR_ID 0x4d56444du
/* Every transport occupies one 4 KiB window (Linux: "4K@base:irq"). */
#define MODVM_VIRTIO_MMIO_SIZE 0x1000u
#define MODVM_VIRTIO_MMIO_CONFIG_MAX (MODVM_VIRTIO_MMIO_SIZE - MODVM_VIRTIO_MMIO_CONFIG)

/* ---- guest memory ---- */

/*
 * How the library reaches guest memory.  @translate returns a host pointer
 * to guest-physical [@gpa, @gpa+@len) only if the whole range is guest RAM
 * (computed without overflow), else NULL; a zero @len may return NULL.  The
 * pointer must stay valid as long as the transport lives (guest RAM is fixed
 * for a VM's life).  It may be called from any thread.  The VM runtime's
 * modvm_gpa_to_hva(vm, gpa, len) fits with ctx = vm through a one-line
 * wrapper; tests back it with a buffer between guard pages.
 */
struct modvm_guest_mem {
	void *(*translate)(void *ctx, uint64_t gpa, uint64_t len);
	void *ctx;
};

/* ---- split virtqueues ---- */

struct modvm_virtq;

/* One buffer of a chain, already translated: @len bytes at @addr. */
struct modvm_virtq_seg {
	void *addr;
	uint32_t len;
	uint32_t reserved;
};

/*
 * A popped descriptor chain.  segs[0 .. n_readable) are device-readable
 * (driver → device) and segs[n_readable .. n_readable+n_writable) are
 * device-writable, in chain order; the library refuses chains that put a
 * readable buffer after a writable one.  The byte totals are at most
 * MODVM_VIRTQ_CHAIN_MAX_BYTES each (zero-length descriptors add no segment).
 * The host pointers point into guest RAM, which the guest may change at any
 * time: copy what you validate.  Owned by the caller until handed to
 * modvm_virtq_push() or modvm_virtq_chain_free().
 */
struct modvm_virtq_chain {
	uint16_t head;		/* descriptor index, what the used ring gets back */
	uint16_t queue_index;
	uint32_t n_readable;
	uint32_t n_writable;
	uint32_t reserved;
	uint64_t readable_bytes;
	uint64_t writable_bytes;
	uint64_t epoch;		/* private: the queue reset generation it came from */
	struct modvm_virtq_seg segs[];
};

/* A chain describing more than this many bytes (readable plus writable) is
 * malformed: no device needs it and it bounds what a guest can make us do. */
#define MODVM_VIRTQ_CHAIN_MAX_BYTES (4ULL << 30)

/*
 * Takes the next available chain.  Returns 1 and sets *@out (free it with
 * push or chain_free), 0 when the queue is empty, not ready, or the device
 * is not DRIVER_OK, or -EIO when the queue is broken (stop using it until
 * the driver resets the device), -ENOMEM.  Malformed chains met on the way
 * (a loop, a chain longer than the queue, an address outside RAM, a length
 * overflow, nested indirect tables, a readable buffer after a writable one)
 * are returned used with length 0, counted and skipped (at most queue-size
 * of them per call, then it returns 0).  A device must bound its own pop
 * loop too, e.g. to modvm_virtq_size() chains per kick: a guest whose used
 * ring overlaps avail->idx sees each push as a new available entry.  When
 * RING_EVENT_IDX was negotiated it also publishes avail_event, so the driver
 * kicks again for the next new buffer; a loop that its bound ended, not a
 * pop returning 0, must call modvm_virtio_renotify().  Any thread.
 */
MODVM_EXPORT int modvm_virtq_pop(struct modvm_virtq *vq, struct modvm_virtq_chain **out);

/*
 * Hands @chain back to the driver through the used ring with @written bytes
 * (clamped to chain->writable_bytes) and frees it.  A chain popped before a
 * device reset is freed without touching the ring (-ESTALE).  0 otherwise.
 * Does not interrupt the driver: call modvm_virtio_notify_used() after a
 * batch.  Any thread.
 */
MODVM_EXPORT int modvm_virtq_push(struct modvm_virtq *vq, struct modvm_virtq_chain *chain,
				  uint32_t written);

/* Frees a popped chain without returning it (only for teardown: the driver
 * never gets that buffer back).  NULL is ignored. */
MODVM_EXPORT void modvm_virtq_chain_free(struct modvm_virtq_chain *chain);

/*
 * Whether the driver wants an interrupt for what was pushed since the last
 * call: with RING_EVENT_IDX, vring_need_event(used_event, new, old); without
 * it, whether anything was pushed and VIRTQ_AVAIL_F_NO_INTERRUPT is clear.
 * Each call consumes the pending used entries, so ask once per batch.
 * modvm_virtio_notify_used() calls it for you.  Any thread.
 */
MODVM_EXPORT bool modvm_virtq_should_notify(struct modvm_virtq *vq);

/* Queue size negotiated by the driver (0 while not ready), whether it is
 * ready (set up, usable), and its index in the device. */
MODVM_EXPORT uint16_t modvm_virtq_size(struct modvm_virtq *vq);
MODVM_EXPORT bool modvm_virtq_is_ready(struct modvm_virtq *vq);

/* Counters since the transport was created (they survive resets). */
struct modvm_virtq_stats {
	uint64_t popped;		/* good chains handed to the device */
	uint64_t pushed;		/* used entries written */
	uint64_t bad_chains;		/* malformed chains returned with length 0 */
	uint64_t broken;		/* times the queue was marked broken */
	uint64_t notifications;		/* interrupts asked for */
	uint64_t suppressed;		/* should_notify() said no */
	uint64_t setup_refused;		/* QueueReady=1 writes refused */
};
MODVM_EXPORT void modvm_virtq_get_stats(struct modvm_virtq *vq, struct modvm_virtq_stats *out);

/* ---- devices ---- */

/* The device as its model sees it; transport-independent, so a device model
 * written against it would also fit a future virtio-pci transport. */
struct modvm_virtio_dev;

/*
 * What a device model provides.  Size-stamped: set struct_size =
 * sizeof(struct modvm_virtio_device_ops); fields are only ever appended.
 * The table is copied at create.  Every callback runs with the transport
 * mutex held (see the locking paragraph above), usually on a vCPU thread,
 * and gets the @opaque given at create.  Callbacks may be NULL.
 */
struct modvm_virtio_device_ops {
	uint32_t struct_size;
	uint32_t device_id;		/* MODVM_VIRTIO_ID_*, non-zero */
	uint64_t features;		/* device-specific bits offered (0..23, 41..63) */
	uint16_t num_queues;		/* 1..MODVM_VIRTIO_MAX_QUEUES */
	uint16_t queue_max_size;	/* QueueNumMax: a power of two, ≤ 32768 */
	uint32_t config_size;		/* bytes at 0x100, ≤ MODVM_VIRTIO_MMIO_CONFIG_MAX */
	/* Config space access; @offset + @len ≤ config_size, @len 1..8.  The
	 * library answers reads outside it with zeros and drops such writes.
	 * Little-endian, as the guest sees it. */
	void (*read_config)(void *opaque, uint32_t offset, uint8_t *data, uint32_t len);
	void (*write_config)(void *opaque, uint32_t offset, const uint8_t *data, uint32_t len);
	/* The driver kicked ready queue @queue_index (the device is DRIVER_OK),
	 * or modvm_virtio_renotify() asked for this call again: then it runs
	 * on the transport's defer thread (the VM's loop thread), so under
	 * host.sandbox "strict" what it calls must be allowed on vCPU and
	 * loop threads both (modvm/sandbox.h; modvm-conform's sandbox-vcpu
	 * makes kicks on each). */
	void (*queue_notify)(void *opaque, uint16_t queue_index);
	/* The driver wrote FEATURES_OK with @features (already checked to be a
	 * subset of the offer including VERSION_1).  0 accepts; non-zero refuses
	 * and FEATURES_OK stays clear, which the driver reads back. */
	int (*set_features_ok)(void *opaque, uint64_t features);
	/* The driver wrote 0 to Status: forget everything driver-visible.  The
	 * queues are already reset; popped chains are stale. */
	void (*reset)(void *opaque);
};

#define MODVM_VIRTIO_MAX_QUEUES 1024

/*
 * Queue @index of @dev (valid for the transport's life), or NULL if out of
 * range.  Any thread.
 */
MODVM_EXPORT struct modvm_virtq *modvm_virtio_queue(struct modvm_virtio_dev *dev, uint16_t index);

/*
 * Interrupts the driver for used buffers of queue @index if it asked for it
 * (modvm_virtq_should_notify): sets InterruptStatus bit 0 and calls
 * raise_irq.  Returns whether it did.  Any thread.
 */
MODVM_EXPORT bool modvm_virtio_notify_used(struct modvm_virtio_dev *dev, uint16_t index);

/*
 * ABI 1.5.  For a device whose own bound (a queue's worth per kick, see
 * modvm_virtq_pop) ended its pop loop on queue @index, rather than a pop
 * returning 0: makes sure the chains left are not stranded.  A driver may
 * make buffers available while the device works, and with RING_EVENT_IDX
 * it does not kick for them, since the last pop asked for a kick at an
 * entry the driver had already passed; the queue would stall.
 *
 * With nothing pending it only asks the driver to kick for its next
 * buffer, as a pop finding the ring empty does, and returns 0.  Otherwise
 * it calls queue_notify(@index) again later, as if the driver had kicked,
 * through the transport's defer (struct modvm_virtio_mmio_config; the VM's
 * loop thread for devices added with modvm_vm_add_virtio), behind the work
 * already queued there so that it gets its turn, with the transport mutex
 * held; one call serves every queue of the device that asked.  The call is
 * dropped if the driver resets the device or the queue first, and never
 * runs once the transport is destroyed.  Returns 1 (a call is pending), 0,
 * -EINVAL (no queue @index), -ENOTSUP (no defer: the transport was made
 * without one, or the VM has no loop), -ESHUTDOWN (the VM is stopping), or
 * the defer's error.  Any thread.
 */
MODVM_EXPORT int modvm_virtio_renotify(struct modvm_virtio_dev *dev, uint16_t index);

/*
 * The device's configuration space changed: bumps ConfigGeneration, sets
 * InterruptStatus bit 1 and raises the interrupt (if the driver is past
 * DRIVER_OK; before that only the generation changes).  Any thread.
 */
MODVM_EXPORT void modvm_virtio_config_changed(struct modvm_virtio_dev *dev);

/*
 * The device hit an error it cannot recover from without a reset: sets
 * DEVICE_NEEDS_RESET and raises a configuration interrupt.  Logs @why (one
 * line, naming the device).  Any thread.
 */
MODVM_EXPORT void modvm_virtio_set_needs_reset(struct modvm_virtio_dev *dev, const char *why);

/*
 * ABI 1.3.  Logs one line about something the guest did to @dev (a
 * malformed buffer, a page outside its RAM, a dropped frame), with the
 * device's name as the domain.  Every such line of a VM — from the core's
 * devices and every plugin's — shares one budget (10 lines per 5 s); the
 * rest are counted and reported as "vm NAME: suppressed N similar
 * messages", so a hostile guest cannot flood the host's log.  Use it for
 * anything a guest can repeat; use modvm_log for the host's own errors.
 * Any thread.
 */
MODVM_EXPORT void modvm_virtio_log(struct modvm_virtio_dev *dev, enum modvm_log_level level,
				   const char *fmt, ...) MODVM_PRINTF(3, 4);

/* The features the driver accepted (valid once FEATURES_OK is set, 0 after a
 * reset), and the status byte as the driver reads it.  Any thread. */
MODVM_EXPORT uint64_t modvm_virtio_driver_features(struct modvm_virtio_dev *dev);
MODVM_EXPORT uint8_t modvm_virtio_status(struct modvm_virtio_dev *dev);

/* The name given at create ("virtio-rng0"), for log lines. */
MODVM_EXPORT const char *modvm_virtio_name(struct modvm_virtio_dev *dev);

/*
 * Holds (and releases) the transport mutex, for a device working off its
 * callbacks (a back end on the loop thread) whose steps no register access
 * may come between: e.g. check that the driver has not reset the device,
 * copy into popped chains and push them, so a reset can never see its
 * buffers written afterwards.  Recursive: every call of this API may be
 * made while it is held.  Hold it briefly, and never while holding a lock
 * of your own (see Locking above).  Any thread.  Since ABI 1.1.
 */
MODVM_EXPORT void modvm_virtio_lock(struct modvm_virtio_dev *dev);
MODVM_EXPORT void modvm_virtio_unlock(struct modvm_virtio_dev *dev);

/* ---- the virtio-mmio transport ---- */

struct modvm_virtio_mmio;

/*
 * Where the transport lives and how it reaches the VM.  Size-stamped: set
 * struct_size = sizeof(struct modvm_virtio_mmio_config); fields are only
 * ever appended.  @base and @irq are only reported (getters, command line):
 * registering the window on the bus and wiring the interrupt is the
 * caller's job.
 */
struct modvm_virtio_mmio_config {
	uint32_t struct_size;
	uint32_t irq;			/* GSI the interrupt is wired to */
	uint64_t base;			/* guest-physical base of the 4 KiB window */
	const char *name;		/* for log lines (copied); NULL: "virtio-ID" */
	struct modvm_guest_mem mem;	/* translate is mandatory */
	/* Called whenever InterruptStatus gains a bit (edge semantics: map it
	 * to an irqfd write or an irq line pulse).  With the mutex held. */
	void (*raise_irq)(void *ctx);
	void *irq_ctx;
	/* ABI 1.5.  Where modvm_virtio_renotify() sends its calls: @defer must
	 * call @fn(@arg) exactly once, later, never inside defer itself, on a
	 * thread that does not hold the transport mutex (a loop:
	 * modvm_loop_call fits through a one-line wrapper, with
	 * defer_ctx = the loop).  0 or -errno.  NULL: no deferred calls. */
	int (*defer)(void *ctx, void (*fn)(void *arg), void *arg);
	void *defer_ctx;
};

/*
 * Creates a transport for the device described by @ops, with @opaque
 * handed to its callbacks.  -EINVAL (logged, naming the device and the bad
 * value) for a bad config or ops table, -ENOMEM.  *@out only on success.
 */
MODVM_EXPORT int modvm_virtio_mmio_create(const struct modvm_virtio_mmio_config *cfg,
					  const struct modvm_virtio_device_ops *ops, void *opaque,
					  struct modvm_virtio_mmio **out);

/* Frees the transport.  No register access or device call may be running or
 * start afterwards (unregister from the bus first).  NULL is ignored. */
MODVM_EXPORT void modvm_virtio_mmio_destroy(struct modvm_virtio_mmio *t);

/* The device behind the transport. */
MODVM_EXPORT struct modvm_virtio_dev *modvm_virtio_mmio_dev(struct modvm_virtio_mmio *t);

/*
 * A guest access to the transport's window: @offset from the base, @len 1..8
 * bytes at @data (little-endian), read or write.  Registers take only
 * aligned 4-byte accesses; anything else, and unknown or read-only/write-only
 * misuse, is ignored (reads answer zeros) and logged at DEBUG.  The config
 * space at 0x100 takes 1, 2, 4 and 8 bytes.  Runs on a vCPU thread; takes
 * the transport mutex.
 */
MODVM_EXPORT void modvm_virtio_mmio_access(struct modvm_virtio_mmio *t, uint64_t offset,
					   uint8_t *data, uint32_t len, bool is_write);

/* The same, in the iobus handler shape (modvm_iobus_handler in vm.h) with
 * userdata = the transport, so it registers without a cast:
 * modvm_iobus_register(vm, MODVM_IOBUS_MMIO, base, MODVM_VIRTIO_MMIO_SIZE,
 * modvm_virtio_mmio_bus_handler, t). */
MODVM_EXPORT void modvm_virtio_mmio_bus_handler(void *userdata, uint64_t offset, uint8_t *data,
						uint32_t len, bool is_write);

/* Base, window size (MODVM_VIRTIO_MMIO_SIZE) and GSI, for the boot path. */
MODVM_EXPORT uint64_t modvm_virtio_mmio_base(const struct modvm_virtio_mmio *t);
MODVM_EXPORT uint64_t modvm_virtio_mmio_size(const struct modvm_virtio_mmio *t);
MODVM_EXPORT uint32_t modvm_virtio_mmio_irq(const struct modvm_virtio_mmio *t);

/*
 * Writes the kernel command-line entry announcing the transport,
 * "virtio_mmio.device=4K@0xd0000000:5", into @buf (always NUL-terminated
 * when @size > 0).  Returns the length it needs, excluding the NUL, like
 * snprintf.
 */
MODVM_EXPORT int modvm_virtio_mmio_cmdline(const struct modvm_virtio_mmio *t, char *buf,
					   size_t size);

MODVM_END_DECLS

#endif
