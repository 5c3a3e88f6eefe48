/* sha256.h - SHA-256 from the platform's crypto library: OpenSSL's
 * libcrypto on POSIX (loaded on first use), CNG (BCrypt) on Windows.
 *
 * Library code: a failure is returned, never fatal here.  A command that
 * must hash asks sha256_check first and refuses to run (exit 70) on a
 * host that cannot hash, for such a host cannot verify anything it would
 * place. */
#ifndef BITSYNC_SHA256_H
#define BITSYNC_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256;

/* 0 when this host can hash (loads libcrypto on first use), else -1 with
 * *why saying what is missing and what to install. */
int sha256_check(const char **why);

/* NULL when hashing is unavailable or memory ran out; update on NULL is
 * a no-op and final on it fails, so one check at the end suffices. */
struct sha256 *sha256_new(void);
void sha256_update(struct sha256 *h, const void *buf, size_t len);
/* Writes the digest and frees h: 0, or -1 (out zeroed) when any call on
 * h failed. */
int sha256_final(struct sha256 *h, uint8_t out[32]);

/* The digest of one buffer: 0, or -1 (out zeroed). */
int sha256_buf(const void *buf, size_t len, uint8_t out[32]);

#endif
