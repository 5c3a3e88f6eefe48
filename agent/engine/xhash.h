/* xhash.h - the sha256 of a temp file computed while it is written
 * (issue 14): a file with a declared sha256 is not read a second time
 * before Complete.  The hash follows the temp's bytes in order; when a
 * write lands elsewhere than where the hash stands (a transfer resumed
 * after a restart, a temp emptied to start over) it first re-reads what
 * the temp holds before that offset, once, then goes on. */
#ifndef BITSYNC_XHASH_H
#define BITSYNC_XHASH_H

#include <stddef.h>
#include <stdint.h>

struct xhash;

struct xhash *xhash_new(void);
void xhash_free(struct xhash *xh);

/* Writes all of buf at fd's position (as xfer_write) and adds it to the
 * hash; 0 or an errno.  xh may be NULL: a plain write. */
int xhash_write(struct xhash *xh, int fd, const void *buf, size_t n);

/* The digest of fd's first size bytes (reading from fd what the hash
 * has not seen); 0, or -1 when it cannot be known (a read failed): the
 * caller then hashes the file itself.  The hash starts over after. */
int xhash_final(struct xhash *xh, int fd, uint64_t size, uint8_t out[32]);

#endif
