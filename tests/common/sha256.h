/* SHA-256 (FIPS 180-4) for tests that compare data a guest sent or got. */
#ifndef MODVM_TESTS_SHA256_H
#define MODVM_TESTS_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t fill;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* The digest as 64 lowercase hex digits and a NUL, like sha256sum prints. */
void sha256_hex(struct sha256 *s, char out[65]);

#endif
