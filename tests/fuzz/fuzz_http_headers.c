/* fuzz_http_headers.c - libFuzzer target over the response-header parser
 * the engine trusts for a transfer (agent/engine/hdr.c): the input is a
 * server's header block, one header a line.  Besides crashes and leaks it
 * checks what the engine relies on: a Content-Range taken is consistent
 * (start <= end < total), numbers stay below 2^62, validators kept hold
 * no control characters and are bounded, and a repeated header with
 * another value is never silently kept. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_validator(const char *v)
{
	size_t i, n;

	if (v == NULL)
		return;
	n = strlen(v);
	if (n == 0 || n > HDR_VALIDATOR_MAX)
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hdr_resp r;
	const char *p = (const char *)data, *e = p + size, *nl;
	uint64_t a, b, t, first_clen = 0;
	int have_clen = 0;

	memset(&r, 0, sizeof(r));
	while (p < e) {
		nl = memchr(p, '\n', (size_t)(e - p));
		nl = nl ? nl + 1 : e;
		hdr_line(&r, p, (size_t)(nl - p), 1700000000);
		if ((r.flags & HDR_CLEN) && !have_clen) {
			have_clen = 1;
			first_clen = r.clen;
		}
		/* Once taken, a Content-Length only changes by spoiling the
		 * answer. */
		if (have_clen && r.clen != first_clen &&
		    !(r.flags & HDR_BAD))
			abort();
		p = nl;
	}
	if ((r.flags & HDR_CR) && !(r.cr_start <= r.cr_end &&
	    r.cr_end < r.cr_total && r.cr_total <= ((uint64_t)1 << 62)))
		abort();
	if ((r.flags & HDR_CLEN) && r.clen > ((uint64_t)1 << 62))
		abort();
	if ((r.flags & HDR_BAD) && r.bad == NULL)
		abort();
	check_validator(r.etag);
	check_validator(r.lastmod);
	hdr_reset(&r);
	/* The pieces on the whole input as one value. */
	if (hdr_content_range((const char *)data, size, &a, &b, &t) == 0 &&
	    !(a <= b && b < t))
		abort();
	if (hdr_u64((const char *)data, size, &a) == 0 &&
	    a > ((uint64_t)1 << 62))
		abort();
	(void)hdr_retry_after((const char *)data, size, 1700000000, &a);
	return 0;
}
