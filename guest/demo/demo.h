/*
 * demo.h — what the demo guest's files share: port and MMIO access, the
 * serial console, the virtio-mmio registers and a small split virtqueue,
 * interrupts.  Everything runs at CPL0 on one vCPU, freestanding.
 */
#ifndef MODVM_DEMO_GUEST_H
#define MODVM_DEMO_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COM1 0x3f8
#define POWER_PORT 0x604
#define POWER_OFF 0x2000

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t mmio_read32(uint64_t a) { return *(volatile uint32_t *)a; }
static inline void mmio_write32(uint64_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
static inline uint8_t mmio_read8(uint64_t a) { return *(volatile uint8_t *)a; }
static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }

/* ---- console.c ---- */
void putc_serial(char c);
void puts_serial(const char *s);
void put_hex(uint64_t v, int digits);
void put_dec(uint64_t v);
bool starts_with(const char *s, const char *prefix);
/* The value of "@key=" on the command line (up to the next space), or NULL. */
const char *cmdline_value(const char *cmdline, const char *key);
/* Parses a size like "128M", "4K", "2G" or bytes at @p; advances *@end. */
uint64_t parse_size(const char *p, const char **end);

/* ---- virtio-mmio (virtio 1.2 §4.2.2) ---- */
enum {
	VM_MAGIC = 0x000, VM_VERSION = 0x004, VM_DEVICE_ID = 0x008, VM_DEV_FEATURES = 0x010,
	VM_DEV_FEATURES_SEL = 0x014, VM_DRV_FEATURES = 0x020, VM_DRV_FEATURES_SEL = 0x024,
	VM_QUEUE_SEL = 0x030, VM_QUEUE_NUM_MAX = 0x034, VM_QUEUE_NUM = 0x038,
	VM_QUEUE_READY = 0x044, VM_QUEUE_NOTIFY = 0x050, VM_INT_STATUS = 0x060,
	VM_INT_ACK = 0x064, VM_STATUS = 0x070, VM_DESC_LO = 0x080, VM_DESC_HI = 0x084,
	VM_DRIVER_LO = 0x090, VM_DRIVER_HI = 0x094, VM_DEVICE_LO = 0x0a0, VM_DEVICE_HI = 0x0a4,
	VM_CONFIG = 0x100,
};
enum { S_ACK = 1, S_DRIVER = 2, S_DRIVER_OK = 4, S_FEATURES_OK = 8, S_FAILED = 128 };
#define QSIZE 8
#define VRING_DESC_F_WRITE 2

struct vring_desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct vring_avail { uint16_t flags, idx, ring[QSIZE], used_event; };
struct vring_used_elem { uint32_t id, len; };
struct vring_used { uint16_t flags, idx; struct vring_used_elem ring[QSIZE]; uint16_t avail_event; };

/* One split virtqueue of QSIZE entries, used one buffer at a time. */
struct vq {
	struct vring_desc desc[QSIZE] __attribute__((aligned(16)));
	struct vring_avail avail __attribute__((aligned(2)));
	struct vring_used used __attribute__((aligned(4)));
	uint16_t seen;		/* used.idx already consumed */
	uint16_t index;
	uint64_t base;
};

/* ---- virtio.c ---- */
/* Negotiates VERSION_1 plus @features (bits < 32); false if refused. */
bool virtio_negotiate(uint64_t base, uint32_t features, const char *who);
/* Sets up queue @index of the device at @base on @q; false if refused. */
bool vq_setup(uint64_t base, uint16_t index, struct vq *q);
/* Makes one buffer available (a single descriptor) and kicks. */
void vq_add1(struct vq *q, const void *buf, uint32_t len, bool device_writes);
/* Whether the device has handed back a buffer not yet consumed (and consumes it). */
bool vq_take_used(struct vq *q);

/* ---- irq.c ---- */
/* IDT, local APIC and the IOAPIC pin @gsi routed to this vCPU; interrupts
 * stay disabled until wait_for_interrupt(). */
void irq_init(uint32_t gsi);
void irq_route(uint32_t gsi);
/* sti; hlt; cli: sleeps until an interrupt arrives (race-free: the STI shadow). */
void wait_for_interrupt(void);

/* ---- net.c ---- */
/* With "modvm.demo.net=GUEST_IP,PEER_IP": ARP for the peer, ping it, print. */
void drive_net(uint64_t base, uint32_t irq, const char *cmdline);

/* ---- blk.c ---- */
/* Reports the disk; with "modvm.demo.blk=TEXT" writes TEXT to sector 1,
 * flushes and reads it back. */
void drive_blk(uint64_t base, uint32_t irq, const char *cmdline);

/* ---- balloon.c ---- */
/*
 * Runs a virtio-balloon driver for ever (the VM is stopped from outside):
 * honours num_pages with pages from [end of the image, @pool_end), answers
 * the statistics queue, and keeps a working set whose size follows
 * "modvm.demo.work=" on @cmdline.  @usable is the e820 usable total.
 */
void drive_balloon(uint64_t base, uint32_t irq, const char *cmdline, uint64_t usable,
		   uint64_t pool_end);

#endif
