/*
 * modvm's built-in demo guest: a freestanding program booted through the
 * same Linux 64-bit boot protocol a vmlinux uses.  It prints over the
 * 16550A serial console, reports what the loader handed it (command line,
 * e820 map), drives every virtio-mmio device announced with
 * "virtio_mmio.device=" on its command line (virtio-rng: fetch random
 * bytes; virtio-blk: report the disk and, with "modvm.demo.blk=TEXT",
 * write, flush and read back a sector; virtio-balloon: with "modvm.demo.work=" given, a Dynamic Memory
 * driver that runs until the VM is stopped, see balloon.c), and powers the
 * VM off.  It runs at CPL0, which some hosts (kvm_pvm)
 * emulate instruction by instruction, so it stays small and does no SIMD.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "demo.h"

/* ---- boot_params (Documentation/arch/x86/zero-page.rst) ---- */
#define BP_E820_ENTRIES 0x1e8
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_TABLE 0x2d0
struct e820 { uint64_t addr, size; uint32_t type; } __attribute__((packed));

static struct vq rngq;
static uint8_t entropy[16];

static void drive_rng(uint64_t base)
{
	if (!virtio_negotiate(base, 0, "  virtio-rng"))
		return;
	if (!vq_setup(base, 0, &rngq)) {
		mmio_write32(base + VM_STATUS, S_FAILED);
		puts_serial("  virtio-rng: queue setup refused\n");
		return;
	}
	mmio_write32(base + VM_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	vq_add1(&rngq, entropy, sizeof(entropy), true);
	for (int spins = 0; !vq_take_used(&rngq); spins++)
		if (spins > 100000) {
			puts_serial("  virtio-rng: no answer\n");
			return;
		}
	mmio_write32(base + VM_INT_ACK, mmio_read32(base + VM_INT_STATUS));
	uint32_t got = rngq.used.ring[0].len;
	puts_serial("  virtio-rng: ");
	put_dec(got);
	puts_serial(" random bytes: ");
	for (uint32_t i = 0; i < got && i < sizeof(entropy); i++)
		put_hex(entropy[i], 2);
	putc_serial('\n');
	mmio_write32(base + VM_STATUS, 0);	/* reset: leave the device as we found it */
}

static const char *device_name(uint32_t id)
{
	switch (id) {
	case 1: return "net";
	case 2: return "block";
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

/* The balloon, if the command line asks for it to be driven (it runs for
 * ever, so it comes after every other device). */
static uint64_t balloon_base;
static uint32_t balloon_irq;

static uint32_t parse_dec(const char *p)
{
	uint32_t v = 0;
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (uint32_t)(*p++ - '0');
	return v;
}

static unsigned probe_virtio(const char *cmdline)
{
	unsigned found = 0;
	bool want_balloon = cmdline_value(cmdline, "modvm.demo.work") != NULL;
	for (const char *p = cmdline; *p;) {
		if (starts_with(p, "virtio_mmio.device=")) {
			const char *end = p;
			uint64_t base = parse_hex_after_at(p, &end);
			uint32_t irq = *end == ':' ? parse_dec(end + 1) : 0;
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
			if (id == 1)
				drive_net(base, irq, cmdline);
			if (id == 2)
				drive_blk(base, irq, cmdline);
			if (id == 5 && want_balloon && !balloon_base) {
				balloon_base = base;
				balloon_irq = irq;
			}
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
	uint64_t ram = 0, pool_end = 0;
	const struct e820 *map = (const struct e820 *)(bp + BP_E820_TABLE);
	for (uint8_t i = 0; i < n; i++) {
		puts_serial("e820: ");
		put_hex(map[i].addr, 12);
		puts_serial("-");
		put_hex(map[i].addr + map[i].size - 1, 12);
		puts_serial(map[i].type == 1 ? " usable\n" : " reserved\n");
		if (map[i].type == 1)
			ram += map[i].size;
		if (map[i].type == 1 && map[i].addr <= 0x100000 && map[i].addr + map[i].size > 0x100000)
			pool_end = map[i].addr + map[i].size;
	}
	puts_serial("usable RAM: ");
	put_dec(ram >> 20);
	puts_serial(" MiB\n");
	/* modvm.demo.chatter: a guest that writes its console until stopped,
	 * for the tests of a reader that stops reading. */
	if (cmdline_value(cmdline, "modvm.demo.chatter"))
		for (uint64_t line = 0;; line++) {
			puts_serial("chatter ");
			put_dec(line);
			putc_serial('\n');
		}

	unsigned devices = probe_virtio(cmdline);
	puts_serial("virtio devices driven: ");
	put_dec(devices);
	putc_serial('\n');
	if (balloon_base)
		drive_balloon(balloon_base, balloon_irq, cmdline, ram, pool_end);
	puts_serial("powering off\n");
	outw(POWER_PORT, POWER_OFF);
}
