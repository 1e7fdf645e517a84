/* SHA-256 (FIPS 180-4), own and dependency-free: used where OpenSSL would be the only
 * reason to link libcrypto (GPT GUIDs from labels, META checksums: the installer in the
 * reference initramfs) and by the static reference /init. Checked against the NIST
 * vectors and OpenSSL (tests/unit/test_init_inflate.c). */
#ifndef IMAGER_SHA256_H
#define IMAGER_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct im_sha256 {
	uint32_t h[8];
	uint64_t bytes; /* message length so far */
	uint8_t block[64];
	size_t fill; /* bytes waiting in block */
};

void im_sha256_init(struct im_sha256 *s);
void im_sha256_update(struct im_sha256 *s, const void *data, size_t len);
void im_sha256_final(struct im_sha256 *s, uint8_t digest[32]);
/* The digest of data as 64 lower-case hex digits plus NUL. */
void im_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
