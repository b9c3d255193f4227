/*
 * A virtio-blk driver (virtio 1.2, 5.2) for the demo guest: it prints the
 * disk's size, serial and whether it is read-only and the first bytes of
 * sector 0; with "modvm.demo.blk=TEXT" it also writes TEXT into sector 1,
 * flushes, reads the sector back and compares — on a read-only disk it
 * shows the write refused.  One request at a time (header, data, status in
 * three descriptors, the way Linux lays them out); waits sleep in HLT.
 */
#include "demo.h"

#define F_RO 5
#define F_BLK_SIZE 6
#define F_FLUSH 9
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define VRING_DESC_F_NEXT 1
#define MAX_WAKEUPS 20000	/* bounded: a device that never answers must not hang the demo */

static struct vq q;
static struct {
	uint32_t type, reserved;
	uint64_t sector;
} hdr __attribute__((aligned(16)));
static uint8_t data[512] __attribute__((aligned(512)));
static uint8_t status;
static unsigned disk_no;

static const char *status_name(uint8_t s)
{
	return s == 0 ? "OK" : s == 1 ? "IOERR" : s == 2 ? "UNSUPP" : "no answer";
}

/* One request; returns its status byte (0xff: no answer). */
static uint8_t request(uint64_t base, uint32_t type, uint64_t sector, uint32_t len, bool in)
{
	uint16_t d = 0;

	hdr.type = type;
	hdr.reserved = 0;
	hdr.sector = sector;
	status = 0xff;
	q.desc[d] = (struct vring_desc){ (uint64_t)(uintptr_t)&hdr, sizeof(hdr), VRING_DESC_F_NEXT,
					 (uint16_t)(d + 1) };
	if (len) {
		d++;
		q.desc[d] = (struct vring_desc){ (uint64_t)(uintptr_t)data, len,
						 (uint16_t)(VRING_DESC_F_NEXT |
							    (in ? VRING_DESC_F_WRITE : 0)),
						 (uint16_t)(d + 1) };
	}
	d++;
	q.desc[d] = (struct vring_desc){ (uint64_t)(uintptr_t)&status, 1, VRING_DESC_F_WRITE, 0 };
	q.avail.ring[q.avail.idx % QSIZE] = 0;
	barrier();
	q.avail.idx++;
	barrier();
	mmio_write32(base + VM_QUEUE_NOTIFY, 0);
	for (int wakeups = 0; wakeups < MAX_WAKEUPS; wakeups++) {
		uint32_t s = mmio_read32(base + VM_INT_STATUS);
		if (s)
			mmio_write32(base + VM_INT_ACK, s);
		if (vq_take_used(&q))
			return *(volatile uint8_t *)&status;
		wait_for_interrupt();
	}
	return 0xff;
}

static void say(const char *what)
{
	puts_serial("demo-blk: disk");
	put_dec(disk_no);
	puts_serial(": ");
	puts_serial(what);
}

static void print_text(const uint8_t *p, unsigned n)
{
	for (unsigned i = 0; i < n && p[i]; i++)
		putc_serial(p[i] >= 32 && p[i] < 127 ? (char)p[i] : '.');
}

/* A fresh ring for each disk (volatile: no memset to call here). */
static void clear(void *p, size_t n)
{
	volatile uint8_t *b = p;
	while (n--)
		*b++ = 0;
}

void drive_blk(uint64_t base, uint32_t irq, const char *cmdline)
{
	const char *text = cmdline_value(cmdline, "modvm.demo.blk");
	unsigned n = 0;

	clear(&q, sizeof(q));

	if (!virtio_negotiate(base, (1u << F_RO) | (1u << F_FLUSH) | (1u << F_BLK_SIZE),
			      "  virtio-blk") ||
	    !vq_setup(base, 0, &q)) {
		mmio_write32(base + VM_STATUS, S_FAILED);
		puts_serial("  virtio-blk: setup refused\n");
		return;
	}
	irq_init(irq);
	mmio_write32(base + VM_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	mmio_write32(base + VM_DEV_FEATURES_SEL, 0);
	bool ro = mmio_read32(base + VM_DEV_FEATURES) & (1u << F_RO);
	uint64_t sectors = mmio_read32(base + VM_CONFIG) |
			   (uint64_t)mmio_read32(base + VM_CONFIG + 4) << 32;

	say("");
	put_dec(sectors / 2048);
	puts_serial(ro ? " MiB, read-only" : " MiB, read-write");
	if (request(base, T_GET_ID, 0, 20, true) == 0 && data[0]) {
		puts_serial(", serial ");
		print_text(data, 20);
	}
	putc_serial('\n');
	uint8_t s = request(base, T_IN, 0, 512, true);
	say("sector 0: ");
	if (s == 0)
		print_text(data, 32);
	else
		puts_serial(status_name(s));
	putc_serial('\n');
	if (text) {
		while (text[n] && text[n] != ' ' && n < sizeof(data) - 1)
			n++;
		for (unsigned i = 0; i < sizeof(data); i++)
			data[i] = i < n ? (uint8_t)text[i] : 0;
		s = request(base, T_OUT, 1, 512, false);
		if (s != 0) {
			say("write to sector 1 refused: ");
			puts_serial(status_name(s));
			putc_serial('\n');
		} else if ((s = request(base, T_FLUSH, 0, 0, false)) != 0) {
			say("flush failed: ");
			puts_serial(status_name(s));
			putc_serial('\n');
		} else {
			for (unsigned i = 0; i < sizeof(data); i++)
				data[i] = 0xaa;
			s = request(base, T_IN, 1, 512, true);
			bool same = s == 0;
			for (unsigned i = 0; same && i < n; i++)
				same = data[i] == (uint8_t)text[i];
			say(same ? "wrote sector 1, flushed, read it back: " :
				   "read back something else: ");
			print_text(data, n);
			putc_serial('\n');
		}
	}
	disk_no++;
	mmio_write32(base + VM_STATUS, 0);	/* reset: leave the device as we found it */
}
