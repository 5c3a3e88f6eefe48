/* xhash.c - a temp file's sha256 while it is written (xhash.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_int.h"
#include "sha256.h"
#include "xhash.h"

#define XHASH_READ	(1u << 20)	/* per pread of a catch-up */

struct xhash {
	struct sha256 *h;	/* NULL: nothing hashed yet */
	uint64_t pos;		/* bytes of the temp h has seen */
	int broken;		/* a catch-up read failed: give up */
};

struct xhash *
xhash_new(void)
{
	return calloc(1, sizeof(struct xhash));
}

static void
drop(struct xhash *xh)
{
	uint8_t dummy[32];

	if (xh->h != NULL)
		(void)sha256_final(xh->h, dummy);	/* frees it */
	xh->h = NULL;
	xh->pos = 0;
}

void
xhash_free(struct xhash *xh)
{
	if (xh == NULL)
		return;
	drop(xh);
	free(xh);
}

/* Brings the hash to offset off of fd: from zero when the temp was
 * emptied or rewritten below where the hash stands, reading the bytes
 * before off that it has not seen (what an earlier process wrote). */
static int
catch_up(struct xhash *xh, int fd, uint64_t off)
{
	char *buf = NULL;
	ssize_t r;
	size_t want;
	int rc = -1;

	if (xh->h != NULL && xh->pos == off)
		return 0;
	if (xh->h == NULL || off < xh->pos) {
		drop(xh);
		/* NULL: this host cannot hash; the reconciler's own read
		 * then says so. */
		if ((xh->h = sha256_new()) == NULL)
			goto out;
	}
	if (xh->pos < off && (buf = malloc(XHASH_READ)) == NULL)
		goto out;
	while (xh->pos < off) {
		want = off - xh->pos < XHASH_READ ? (size_t)(off - xh->pos) :
		    XHASH_READ;
		r = pread(fd, buf, want, (off_t)xh->pos);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			goto out;
		sha256_update(xh->h, buf, (size_t)r);
		xh->pos += (uint64_t)r;
	}
	rc = 0;
out:
	free(buf);
	if (rc != 0) {
		drop(xh);
		xh->broken = 1;
	}
	return rc;
}

int
xhash_write(struct xhash *xh, int fd, const void *buf, size_t n)
{
	off_t off = -1;
	int err;

	if (xh != NULL && !xh->broken &&
	    (off = lseek(fd, 0, SEEK_CUR)) < 0) {
		drop(xh);
		xh->broken = 1;
	}
	if ((err = xfer_write(fd, buf, n)) != 0) {
		/* What reached the file is not known: start over next
		 * time (a catch-up re-reads it). */
		if (xh != NULL)
			drop(xh);
		return err;
	}
	if (xh != NULL && !xh->broken && catch_up(xh, fd, (uint64_t)off) ==
	    0) {
		sha256_update(xh->h, buf, n);
		xh->pos += n;
	}
	return 0;
}

int
xhash_final(struct xhash *xh, int fd, uint64_t size, uint8_t out[32])
{
	int rc = -1;

	if (xh == NULL || xh->broken || catch_up(xh, fd, size) != 0)
		goto out;
	rc = sha256_final(xh->h, out);
	xh->h = NULL;
	xh->pos = 0;
out:
	if (xh != NULL) {
		drop(xh);
		xh->broken = 0;
	}
	return rc;
}
