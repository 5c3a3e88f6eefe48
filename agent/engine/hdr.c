/* hdr.c - strict parsing of the response headers a transfer relies on.
 *
 * Every byte here comes from a server that may lie or attack: numbers are
 * digits only and must fit, a Content-Range must be self-consistent, a
 * validator that would not survive being sent back (control characters,
 * absurd length) is refused rather than trimmed, and a header repeated
 * with another value makes the whole answer unusable (a proxy and the
 * origin disagreeing is how responses get spliced). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hdr.h"

#define HDR_U64_MAX	((uint64_t)1 << 62)	/* beyond any real file */

void
hdr_reset(struct hdr_resp *r)
{
	free(r->etag);
	free(r->lastmod);
	memset(r, 0, sizeof(*r));
}

int
hdr_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 19)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > HDR_U64_MAX)
		return -1;
	*out = v;
	return 0;
}

int
hdr_content_range(const char *v, size_t n, uint64_t *a, uint64_t *b,
    uint64_t *t)
{
	const char *p = v, *e = v + n, *q;

	if (n < 6 || strncasecmp(p, "bytes", 5) != 0)
		return -1;
	p += 5;
	if (p >= e || (*p != ' ' && *p != '\t'))
		return -1;
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	for (q = p; q < e && *q != '-'; q++)
		;
	if (q >= e || hdr_u64(p, (size_t)(q - p), a) != 0)
		return -1;
	for (p = ++q; q < e && *q != '/'; q++)
		;
	if (q >= e || hdr_u64(p, (size_t)(q - p), b) != 0)
		return -1;
	p = q + 1;
	/* "a-b/<star>" (total unknown) is refused: completeness could not be
	 * proven from it. */
	if (hdr_u64(p, (size_t)(e - p), t) != 0)
		return -1;
	return *a <= *b && *b < *t ? 0 : -1;
}

static int
two(const char *s, int *out)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	*out = (s[0] - '0') * 10 + (s[1] - '0');
	return 0;
}

/* IMF-fixdate only ("Sun, 06 Nov 1994 08:49:37 GMT"): the one form
 * RFC 9110 lets a sender generate; parsed by hand, locale-free. */
static int
imf_fixdate(const char *v, size_t n, time_t *out)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm;
	const char *m;
	int y1, y2;
	time_t t;

	if (n != 29 || v[3] != ',' || v[4] != ' ' || v[7] != ' ' ||
	    v[11] != ' ' || v[16] != ' ' || v[19] != ':' || v[22] != ':' ||
	    v[25] != ' ' || memcmp(v + 26, "GMT", 3) != 0)
		return -1;
	memset(&tm, 0, sizeof(tm));
	for (m = months; *m; m += 3)
		if (memcmp(m, v + 8, 3) == 0)
			break;
	if (*m == '\0')
		return -1;
	tm.tm_mon = (int)((m - months) / 3);
	if (two(v + 5, &tm.tm_mday) || two(v + 12, &y1) || two(v + 14, &y2) ||
	    two(v + 17, &tm.tm_hour) || two(v + 20, &tm.tm_min) ||
	    two(v + 23, &tm.tm_sec))
		return -1;
	tm.tm_year = y1 * 100 + y2 - 1900;
	if (tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	*out = t;
	return 0;
}

int
hdr_retry_after(const char *v, size_t n, time_t now, uint64_t *secs)
{
	time_t t;

	if (hdr_u64(v, n, secs) == 0)
		return 0;
	if (imf_fixdate(v, n, &t) != 0)
		return -1;
	*secs = t > now ? (uint64_t)(t - now) : 0;
	return 0;
}

/* A validator as it will be sent back: printable, bounded. */
static int
validator_ok(const char *v, size_t n)
{
	size_t i;

	if (n == 0 || n > HDR_VALIDATOR_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] == 0x7f)
			return 0;
	return 1;
}

static int
bad(struct hdr_resp *r, const char *name)
{
	r->flags |= HDR_BAD;
	if (r->bad == NULL)
		r->bad = name;
	return -1;
}

/* Keeps a validator; a second one that differs spoils the answer. */
static int
keep(struct hdr_resp *r, char **slot, const char *name, const char *v,
    size_t n)
{
	char *s;

	if (!validator_ok(v, n)) {
		/* Not resumable from, but not a lie about the bytes: the
		 * transfer goes on without this validator. */
		return 0;
	}
	if (*slot != NULL) {
		if (strlen(*slot) == n && memcmp(*slot, v, n) == 0)
			return 0;
		return bad(r, name);
	}
	if ((s = strndup(v, n)) == NULL)
		return -1;
	*slot = s;
	return 0;
}

int
hdr_line(struct hdr_resp *r, const char *line, size_t len, time_t now)
{
	static const char *const names[] = { "content-length",
	    "content-range", "etag", "last-modified", "retry-after" };
	const char *v, *e, *colon;
	size_t k, nl, n;
	uint64_t a, b, t;

	if ((colon = memchr(line, ':', len)) == NULL)
		return 0;
	nl = (size_t)(colon - line);
	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (strlen(names[k]) == nl &&
		    strncasecmp(line, names[k], nl) == 0)
			break;
	if (k == sizeof(names) / sizeof(names[0]))
		return 0;
	v = colon + 1;
	e = line + len;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' ||
	    e[-1] == '\t'))
		e--;
	n = (size_t)(e - v);
	switch (k) {
	case 0:
		if (hdr_u64(v, n, &a) != 0 ||
		    ((r->flags & HDR_CLEN) && r->clen != a))
			return bad(r, names[k]);
		r->clen = a;
		r->flags |= HDR_CLEN;
		return 0;
	case 1:
		if (hdr_content_range(v, n, &a, &b, &t) != 0 ||
		    ((r->flags & HDR_CR) && (r->cr_start != a ||
		    r->cr_end != b || r->cr_total != t)))
			return bad(r, names[k]);
		r->cr_start = a;
		r->cr_end = b;
		r->cr_total = t;
		r->flags |= HDR_CR;
		return 0;
	case 2:
		return keep(r, &r->etag, names[k], v, n);
	case 3:
		return keep(r, &r->lastmod, names[k], v, n);
	default:
		/* A malformed Retry-After only loses the hint. */
		if (hdr_retry_after(v, n, now, &a) == 0) {
			r->retry_after = a;
			r->flags |= HDR_RETRY;
		}
		return 0;
	}
}
