/* sha256.h - SHA-256 from the platform's crypto library: OpenSSL's
 * libcrypto on POSIX (loaded on first use), CNG (BCrypt) on Windows.
 *
 * Failures are fatal (exit 70, like running out of memory): a host
 * that cannot hash cannot verify anything it would place. */
#ifndef BITSYNC_SHA256_H
#define BITSYNC_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256;

struct sha256 *sha256_new(void);
void sha256_update(struct sha256 *h, const void *buf, size_t len);
/* Writes the digest and frees h. */
void sha256_final(struct sha256 *h, uint8_t out[32]);

/* The digest of one buffer. */
void sha256_buf(const void *buf, size_t len, uint8_t out[32]);

#endif
