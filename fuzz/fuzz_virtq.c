/*
 * libFuzzer target for the split-virtqueue parser: the input is a small
 * header (queue size, features, starting indexes, ring offsets) followed by
 * a guest memory image.  The image is copied into an exactly-sized heap
 * buffer, so any access the library makes outside what the translation
 * handed out is an ASan report; both ends of every popped segment are
 * touched for the same reason.
 *
 * Header (12 bytes, little-endian):
 *   u8  log2 of the queue size (mod 11: 1..1024)
 *   u8  flags: 1 EVENT_IDX, 2 INDIRECT_DESC, 4 push partial lengths,
 *       8 leave every other chain unpushed
 *   u16 last_avail   u16 used_idx
 *   u16 desc offset / 16   u16 avail offset / 2   u16 used offset / 4
 * Seeds: fuzz/gen_virtq_seeds.py.
 */
#include <stdlib.h>
#include <string.h>

#include "virtio/virtio.h"

#define HEADER 12
#define MAX_IMAGE (1u << 16)

struct image {
	uint8_t *base;
	uint64_t size;
};

static void *translate(void *ctx, uint64_t gpa, uint64_t len)
{
	struct image *img = ctx;

	if (len == 0 || gpa >= img->size || len > img->size - gpa)
		return NULL;
	return img->base + gpa;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	modvm_log_set_level(MODVM_LOG_ERROR);	/* guest errors are expected here */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image img;
	struct modvm_guest_mem mem = { .translate = translate, .ctx = &img };
	struct modvm_virtq vq;
	uint8_t flags;
	volatile uint8_t sink = 0;

	if (size <= HEADER || size - HEADER > MAX_IMAGE)
		return -1;
	img.size = size - HEADER;
	img.base = malloc(img.size);
	if (!img.base)
		return 0;
	memcpy(img.base, data + HEADER, img.size);

	flags = data[1];
	modvm__virtq_init(&vq, 0, 1024, &mem, NULL, "fuzz");
	vq.num = (uint16_t)(1u << (data[0] % 11));
	vq.desc_gpa = (uint64_t)get16(data + 6) * 16 % img.size;
	vq.avail_gpa = (uint64_t)get16(data + 8) * 2 % img.size;
	vq.used_gpa = (uint64_t)get16(data + 10) * 4 % img.size;
	if (modvm__virtq_enable(&vq, flags & 1, flags & 2) < 0)
		goto out;
	vq.driver_ok = true;
	vq.last_avail = get16(data + 2);
	vq.used_idx = vq.signalled_used = get16(data + 4);

	for (uint32_t round = 0; round < 2u * vq.num + 2; round++) {
		struct modvm_virtq_chain *c;
		uint32_t n;
		int ret = modvm__virtq_pop_locked(&vq, &c);

		if (ret <= 0)
			break;
		n = c->n_readable + c->n_writable;
		if (c->readable_bytes + c->writable_bytes > MODVM_VIRTQ_CHAIN_MAX_BYTES ||
		    c->head >= vq.num)
			__builtin_trap();
		for (uint32_t i = 0; i < n; i++) {
			uint8_t *p = c->segs[i].addr;
			/* both ends: a segment is one range, so if they lie in
			 * the image so does everything between */
			if (i < c->n_readable) {
				sink ^= p[0] ^ p[c->segs[i].len - 1];
			} else {
				p[0] = 0xa5;
				p[c->segs[i].len - 1] = 0xa5;
			}
		}
		if ((flags & 8) && (round & 1))
			modvm_virtq_chain_free(c);
		else
			modvm_virtq_push(&vq, c, (flags & 4) ? (uint32_t)c->writable_bytes / 2
							    : (uint32_t)c->writable_bytes);
		if (round % 3 == 0)
			(void)modvm__virtq_should_notify_locked(&vq);
	}
	(void)modvm__virtq_should_notify_locked(&vq);
out:
	free(img.base);
	(void)sink;
	return 0;
}
