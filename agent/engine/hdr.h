/* hdr.h - the response headers the engine trusts for a transfer, parsed
 * strictly and without I/O (hdr.c), so a fuzzer can drive the parser. */
#ifndef BITSYNC_HDR_H
#define BITSYNC_HDR_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Longest validator kept: it goes back in If-Range, and one longer is
 * more likely an attack than a version. */
#define HDR_VALIDATOR_MAX	1024

enum {
	HDR_CLEN = 1 << 0,	/* Content-Length seen and valid */
	HDR_CR = 1 << 1,	/* Content-Range "bytes a-b/t" valid */
	HDR_RETRY = 1 << 2,	/* Retry-After valid */
	HDR_BAD = 1 << 3,	/* a header below was malformed or repeated
				 * with another value: the answer is unusable */
};

struct hdr_resp {
	unsigned flags;
	uint64_t clen;			/* Content-Length */
	uint64_t cr_start, cr_end, cr_total;	/* Content-Range */
	uint64_t retry_after;		/* seconds from now */
	char *etag, *lastmod;		/* NULL when absent or refused */
	const char *bad;		/* the header that made HDR_BAD */
};

/* Forgets everything (a new response begins); frees the strings. */
void hdr_reset(struct hdr_resp *r);

/* Takes one header line as the server sent it (CRLF or not).  now is the
 * time a Retry-After date counts from.  Returns -1 when the line is a
 * known header with a malformed value (HDR_BAD set, r->bad names it), or
 * on out of memory; 0 otherwise (also for headers it does not know). */
int hdr_line(struct hdr_resp *r, const char *line, size_t len, time_t now);

/* The pieces, for tests: a decimal that fits in 63 bits, digits only;
 * "bytes a-b/t" with a <= b < t; delta-seconds or an IMF-fixdate. */
int hdr_u64(const char *s, size_t n, uint64_t *out);
int hdr_content_range(const char *v, size_t n, uint64_t *a, uint64_t *b,
    uint64_t *t);
int hdr_retry_after(const char *v, size_t n, time_t now, uint64_t *secs);

#endif
