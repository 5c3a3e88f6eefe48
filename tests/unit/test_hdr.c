/* test_hdr.c - the engine's response-header parser (agent/engine/hdr.c):
 * what a lying or hostile server's headers become. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "hdr.h"

#define NOW 1700000000		/* Tue, 14 Nov 2023 22:13:20 GMT */

static int
line(struct hdr_resp *r, const char *s)
{
	return hdr_line(r, s, strlen(s), NOW);
}

static int
cr(const char *s, uint64_t *a, uint64_t *b, uint64_t *t)
{
	return hdr_content_range(s, strlen(s), a, b, t);
}

int
main(void)
{
	struct hdr_resp r;
	uint64_t a, b, t, s;

	/* Content-Range: only "bytes a-b/t" with a <= b < t. */
	CHECK_INT(cr("bytes 0-9/100", &a, &b, &t), 0);
	CHECK_INT(a, 0);
	CHECK_INT(b, 9);
	CHECK_INT(t, 100);
	CHECK_INT(cr("BYTES  5-5/6", &a, &b, &t), 0);
	CHECK_INT(cr("bytes */100", &a, &b, &t), -1);
	CHECK_INT(cr("bytes 0-9/*", &a, &b, &t), -1);
	CHECK_INT(cr("bytes 9-0/100", &a, &b, &t), -1);
	CHECK_INT(cr("bytes 0-100/100", &a, &b, &t), -1);
	CHECK_INT(cr("bytes -1-9/100", &a, &b, &t), -1);
	CHECK_INT(cr("bytes 0-9/100x", &a, &b, &t), -1);
	CHECK_INT(cr("bytes 0-9/+100", &a, &b, &t), -1);
	CHECK_INT(cr("items 0-9/100", &a, &b, &t), -1);
	CHECK_INT(cr("bytes 0-9/99999999999999999999", &a, &b, &t), -1);

	/* Numbers: digits only, no sign, no space inside, no overflow. */
	CHECK_INT(hdr_u64("123", 3, &a), 0);
	CHECK_INT(a, 123);
	CHECK_INT(hdr_u64("-1", 2, &a), -1);
	CHECK_INT(hdr_u64("1 2", 3, &a), -1);
	CHECK_INT(hdr_u64("", 0, &a), -1);
	CHECK_INT(hdr_u64("18446744073709551615", 20, &a), -1);

	/* Retry-After: seconds or an IMF-fixdate, counted from now. */
	CHECK_INT(hdr_retry_after("120", 3, NOW, &s), 0);
	CHECK_INT(s, 120);
	CHECK_INT(hdr_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", 29, NOW,
	    &s), 0);
	CHECK_INT(s, 30);
	CHECK_INT(hdr_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", 29, NOW,
	    &s), 0);
	CHECK_INT(s, 0);
	CHECK_INT(hdr_retry_after("Tue, 14 Foo 2023 22:00:00 GMT", 29, NOW,
	    &s), -1);
	CHECK_INT(hdr_retry_after("soon", 4, NOW, &s), -1);

	/* A whole answer. */
	memset(&r, 0, sizeof(r));
	CHECK_INT(line(&r, "Content-Length: 10\r\n"), 0);
	CHECK_INT(line(&r, "content-range: bytes 10-19/100\r\n"), 0);
	CHECK_INT(line(&r, "ETag: \"v1\"\r\n"), 0);
	CHECK_INT(line(&r, "Last-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\n"),
	    0);
	CHECK_INT(line(&r, "Retry-After: 7\r\n"), 0);
	CHECK_INT(line(&r, "X-Other: whatever\r\n"), 0);
	CHECK_INT(r.flags, HDR_CLEN | HDR_CR | HDR_RETRY);
	CHECK_INT(r.clen, 10);
	CHECK_INT(r.cr_start, 10);
	CHECK_INT(r.cr_total, 100);
	CHECK_STR(r.etag, "\"v1\"");
	CHECK_STR(r.lastmod, "Tue, 14 Nov 2023 22:13:20 GMT");
	CHECK_INT(r.retry_after, 7);
	/* The same header again with the same value is harmless ... */
	CHECK_INT(line(&r, "Content-Length: 10\r\n"), 0);
	CHECK_INT(line(&r, "ETag: \"v1\"\r\n"), 0);
	CHECK_INT(r.flags & HDR_BAD, 0);
	/* ... with another value the answer is unusable. */
	CHECK_INT(line(&r, "ETag: \"v2\"\r\n"), -1);
	CHECK(r.flags & HDR_BAD);
	CHECK_STR(r.bad, "etag");
	hdr_reset(&r);
	CHECK_INT(r.flags, 0);
	CHECK(r.etag == NULL);

	CHECK_INT(line(&r, "Content-Length: 10\r\n"), 0);
	CHECK_INT(line(&r, "Content-Length: 11\r\n"), -1);
	CHECK_STR(r.bad, "content-length");
	hdr_reset(&r);
	CHECK_INT(line(&r, "Content-Length: 0x10\r\n"), -1);
	hdr_reset(&r);
	CHECK_INT(line(&r, "Content-Range: bytes 0-9/5\r\n"), -1);
	CHECK_STR(r.bad, "content-range");
	hdr_reset(&r);

	/* A validator that could not be sent back as it came (a bare CR
	 * would end the If-Range line early) is not kept. */
	CHECK_INT(line(&r, "ETag: \"a\rX-Injected: 1\"\r\n"), 0);
	CHECK(r.etag == NULL);
	CHECK_INT(r.flags & HDR_BAD, 0);
	hdr_reset(&r);
	{
		char big[HDR_VALIDATOR_MAX + 32];

		memcpy(big, "ETag: ", 6);
		memset(big + 6, 'x', HDR_VALIDATOR_MAX + 1);
		big[6 + HDR_VALIDATOR_MAX + 1] = '\0';
		CHECK_INT(line(&r, big), 0);
		CHECK(r.etag == NULL);
	}
	/* A malformed Retry-After only loses the hint. */
	CHECK_INT(line(&r, "Retry-After: later\r\n"), 0);
	CHECK_INT(r.flags, 0);
	hdr_reset(&r);
	return check_done();
}
