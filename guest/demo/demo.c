/*
 * modvm's built-in demo guest: a freestanding program booted through the
 * same Linux 64-bit boot protocol a vmlinux uses.  It prints over the
 * 16550A serial console, reports what the loader handed it (command line,
 * e820 map), drives every virtio-mmio device announced with
 * "virtio_mmio.device=" on its command line (virtio-rng: fetch random
 * bytes), and powers the VM off.  It runs at CPL0, which some hosts (kvm_pvm)
 * emulate instruction by instruction, so it stays small and does no SIMD.
 */
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

/* ---- console ---- */
static void putc_serial(char c)
{
	if (c == '\n')
		putc_serial('\r');
	while (!(inb(COM1 + 5) & 0x20))	/* THR empty */
		;
	outb(COM1, (uint8_t)c);
}
static void puts_serial(const char *s) { while (*s) putc_serial(*s++); }
static void put_hex(uint64_t v, int digits)
{
	for (int i = digits - 1; i >= 0; i--)
		putc_serial("0123456789abcdef"[(v >> (i * 4)) & 0xf]);
}
static void put_dec(uint64_t v)
{
	char buf[21];
	int i = 0;
	do {
		buf[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		putc_serial(buf[--i]);
}

/* ---- boot_params (Documentation/arch/x86/zero-page.rst) ---- */
#define BP_E820_ENTRIES 0x1e8
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_TABLE 0x2d0
struct e820 { uint64_t addr, size; uint32_t type; } __attribute__((packed));

/* ---- virtio-mmio (virtio 1.2 §4.2.2) ---- */
enum {
	VM_MAGIC = 0x000, VM_VERSION = 0x004, VM_DEVICE_ID = 0x008, VM_DEV_FEATURES = 0x010,
	VM_DEV_FEATURES_SEL = 0x014, VM_DRV_FEATURES = 0x020, VM_DRV_FEATURES_SEL = 0x024,
	VM_QUEUE_SEL = 0x030, VM_QUEUE_NUM_MAX = 0x034, VM_QUEUE_NUM = 0x038,
	VM_QUEUE_READY = 0x044, VM_QUEUE_NOTIFY = 0x050, VM_INT_STATUS = 0x060,
	VM_INT_ACK = 0x064, VM_STATUS = 0x070, VM_DESC_LO = 0x080, VM_DESC_HI = 0x084,
	VM_DRIVER_LO = 0x090, VM_DRIVER_HI = 0x094, VM_DEVICE_LO = 0x0a0, VM_DEVICE_HI = 0x0a4,
};
enum { S_ACK = 1, S_DRIVER = 2, S_DRIVER_OK = 4, S_FEATURES_OK = 8, S_FAILED = 128 };
#define QSIZE 8

struct vring_desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct vring_avail { uint16_t flags, idx, ring[QSIZE], used_event; };
struct vring_used_elem { uint32_t id, len; };
struct vring_used { uint16_t flags, idx; struct vring_used_elem ring[QSIZE]; uint16_t avail_event; };

static struct vring_desc desc[QSIZE] __attribute__((aligned(16)));
static struct vring_avail avail __attribute__((aligned(2)));
static struct vring_used used __attribute__((aligned(4)));
static uint8_t entropy[16];

static bool virtio_setup_queue0(uint64_t base)
{
	mmio_write32(base + VM_QUEUE_SEL, 0);
	uint32_t max = mmio_read32(base + VM_QUEUE_NUM_MAX);
	if (max < QSIZE)
		return false;
	mmio_write32(base + VM_QUEUE_NUM, QSIZE);
	mmio_write32(base + VM_DESC_LO, (uint32_t)(uintptr_t)desc);
	mmio_write32(base + VM_DESC_HI, 0);
	mmio_write32(base + VM_DRIVER_LO, (uint32_t)(uintptr_t)&avail);
	mmio_write32(base + VM_DRIVER_HI, 0);
	mmio_write32(base + VM_DEVICE_LO, (uint32_t)(uintptr_t)&used);
	mmio_write32(base + VM_DEVICE_HI, 0);
	mmio_write32(base + VM_QUEUE_READY, 1);
	return mmio_read32(base + VM_QUEUE_READY) == 1;
}

static void drive_rng(uint64_t base)
{
	/* Feature negotiation: VERSION_1 (bit 32) and nothing else. */
	mmio_write32(base + VM_DEV_FEATURES_SEL, 1);
	if (!(mmio_read32(base + VM_DEV_FEATURES) & 1)) {
		puts_serial("  virtio-rng: device lacks VERSION_1\n");
		return;
	}
	mmio_write32(base + VM_DRV_FEATURES_SEL, 0);
	mmio_write32(base + VM_DRV_FEATURES, 0);
	mmio_write32(base + VM_DRV_FEATURES_SEL, 1);
	mmio_write32(base + VM_DRV_FEATURES, 1);
	mmio_write32(base + VM_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(mmio_read32(base + VM_STATUS) & S_FEATURES_OK) || !virtio_setup_queue0(base)) {
		mmio_write32(base + VM_STATUS, S_FAILED);
		puts_serial("  virtio-rng: setup refused\n");
		return;
	}
	mmio_write32(base + VM_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);

	desc[0] = (struct vring_desc){ (uint64_t)(uintptr_t)entropy, sizeof(entropy), 2 /* WRITE */, 0 };
	avail.ring[0] = 0;
	__asm__ volatile("" ::: "memory");
	avail.idx = 1;
	__asm__ volatile("" ::: "memory");
	mmio_write32(base + VM_QUEUE_NOTIFY, 0);

	for (int spins = 0; *(volatile uint16_t *)&used.idx != 1; spins++)
		if (spins > 100000) {
			puts_serial("  virtio-rng: no answer\n");
			return;
		}
	mmio_write32(base + VM_INT_ACK, mmio_read32(base + VM_INT_STATUS));
	puts_serial("  virtio-rng: ");
	put_dec(used.ring[0].len);
	puts_serial(" random bytes: ");
	for (uint32_t i = 0; i < used.ring[0].len && i < sizeof(entropy); i++)
		put_hex(entropy[i], 2);
	putc_serial('\n');
	mmio_write32(base + VM_STATUS, 0);	/* reset: leave the device as we found it */
}

static const char *device_name(uint32_t id)
{
	switch (id) {
	case 1: return "net";
	case 3: return "console";
	case 4: return "rng";
	case 5: return "balloon";
	default: return "unknown";
	}
}

/* Parses "virtio_mmio.device=<size>@<base>:<irq>"; returns the base or 0. */
static uint64_t parse_hex_after_at(const char *p, const char **end)
{
	while (*p && *p != '@' && *p != ' ')
		p++;
	if (*p != '@')
		return 0;
	p++;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	uint64_t v = 0;
	for (;; p++) {
		char c = *p;
		if (c >= '0' && c <= '9') v = v * 16 + (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f') v = v * 16 + (uint64_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F') v = v * 16 + (uint64_t)(c - 'A' + 10);
		else break;
	}
	*end = p;
	return v;
}

static bool starts_with(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return false;
	return true;
}

static unsigned probe_virtio(const char *cmdline)
{
	unsigned found = 0;
	for (const char *p = cmdline; *p;) {
		if (starts_with(p, "virtio_mmio.device=")) {
			const char *end = p;
			uint64_t base = parse_hex_after_at(p, &end);
			p = end;
			if (!base || mmio_read32(base + VM_MAGIC) != 0x74726976 ||
			    mmio_read32(base + VM_VERSION) != 2)
				continue;
			uint32_t id = mmio_read32(base + VM_DEVICE_ID);
			puts_serial("virtio-mmio at 0x");
			put_hex(base, 8);
			puts_serial(": ");
			puts_serial(device_name(id));
			putc_serial('\n');
			mmio_write32(base + VM_STATUS, 0);
			mmio_write32(base + VM_STATUS, S_ACK | S_DRIVER);
			if (id == 4)
				drive_rng(base);
			found++;
		} else {
			p++;
		}
	}
	return found;
}

void demo_main(uint64_t boot_params);
void demo_main(uint64_t boot_params)
{
	const uint8_t *bp = (const uint8_t *)(uintptr_t)boot_params;
	const char *cmdline = (const char *)(uintptr_t)*(const uint32_t *)(bp + BP_CMD_LINE_PTR);

	puts_serial("Hello from the modvm demo guest!\n");
	puts_serial("command line: ");
	puts_serial(cmdline);
	putc_serial('\n');

	uint8_t n = bp[BP_E820_ENTRIES];
	uint64_t ram = 0;
	const struct e820 *map = (const struct e820 *)(bp + BP_E820_TABLE);
	for (uint8_t i = 0; i < n; i++) {
		puts_serial("e820: ");
		put_hex(map[i].addr, 12);
		puts_serial("-");
		put_hex(map[i].addr + map[i].size - 1, 12);
		puts_serial(map[i].type == 1 ? " usable\n" : " reserved\n");
		if (map[i].type == 1)
			ram += map[i].size;
	}
	puts_serial("usable RAM: ");
	put_dec(ram >> 20);
	puts_serial(" MiB\n");

	unsigned devices = probe_virtio(cmdline);
	puts_serial("virtio devices driven: ");
	put_dec(devices);
	puts_serial("\npowering off\n");
	outw(POWER_PORT, POWER_OFF);
}
