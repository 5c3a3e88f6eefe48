/* rsched.c - the engine's bandwidth schedule (rsched.h).
 *
 * Parsed by hand, locale-free: the grammar is a few words per entry, and
 * every mistake gets its own sentence (which entry, which column, what to
 * write).  Entries become windows in "week seconds" (Monday 00:00 = 0), a
 * window that crosses the week's end split in two, so a lookup is a scan
 * of at most RSCHED_MAX_ENTRIES * 14 intervals and overlap is a pairwise
 * test. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rsched.h"

static const char *const day_names[7] = {
	"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"
};

/* One parse: the text, where the entry being read starts, and the error. */
struct rp {
	const char *text;
	const char *entry;	/* start of the current entry */
	size_t entry_len;
	unsigned entry_no;
	char *err;
	size_t errlen;
	unsigned *col;
	struct rsched_window *v;
	size_t n, cap;
};

__attribute__((format(printf, 3, 4)))
static int
fail(struct rp *p, const char *at, const char *fmt, ...)
{
	va_list ap;
	size_t n = 0;
	unsigned c = at != NULL ? (unsigned)(at - p->text) + 1 : 0;

	if (p->entry != NULL)
		n = (size_t)snprintf(p->err, p->errlen, "entry %u ('%.*s'), "
		    "column %u: ", p->entry_no, (int)(p->entry_len > 80 ? 80 :
		    p->entry_len), p->entry, c);
	if (n >= p->errlen)
		n = p->errlen > 0 ? p->errlen - 1 : 0;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - n, fmt, ap);
	va_end(ap);
	if (p->col != NULL)
		*p->col = c;
	return -1;
}

static int
day_of(const char *s, size_t len)
{
	int i;

	if (len != 3)
		return -1;
	for (i = 0; i < 7; i++)
		if (strncasecmp(day_names[i], s, 3) == 0)
			return i;
	return -1;
}

/* DAYS: a comma list of DAY or DAY-DAY, or "Daily"; bit i = day i. */
static int
parse_days(struct rp *p, const char *s, size_t len, unsigned *mask)
{
	const char *e = s + len, *a, *b;
	int d1, d2, i;

	*mask = 0;
	if (len == 5 && strncasecmp(s, "daily", 5) == 0) {
		*mask = 0x7f;
		return 0;
	}
	while (s < e) {
		for (a = s; a < e && *a != ','; a++)
			;
		for (b = s; b < a && *b != '-'; b++)
			;
		d1 = day_of(s, (size_t)(b - s));
		if (d1 == -1)
			return fail(p, s, "'%.*s' is not a day; write Mon, Tue, "
			    "Wed, Thu, Fri, Sat or Sun, a range such as "
			    "Mon-Fri, or Daily", (int)(b - s), s);
		d2 = d1;
		if (b < a) {
			d2 = day_of(b + 1, (size_t)(a - b - 1));
			if (d2 == -1)
				return fail(p, b + 1, "'%.*s' is not a day; "
				    "write a range of two days, e.g. Mon-Fri",
				    (int)(a - b - 1), b + 1);
		}
		for (i = d1;; i = (i + 1) % 7) {
			if (*mask & (1u << i))
				return fail(p, s, "%s is named twice in this "
				    "entry; name each day once", day_names[i]);
			*mask |= 1u << i;
			if (i == d2)
				break;
		}
		if (a == e)
			break;
		s = a + 1;
		if (s == e)
			return fail(p, a, "a day list ends with ','; remove it "
			    "or name another day");
	}
	return 0;
}

/* HH:MM; 24:00 only when end. */
static int
parse_clock(struct rp *p, const char *s, size_t len, int end, uint32_t *sec)
{
	unsigned h, m;

	if (len != 5 || !isdigit((unsigned char)s[0]) ||
	    !isdigit((unsigned char)s[1]) || s[2] != ':' ||
	    !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
		return fail(p, s, "'%.*s' is not a time; write HH:MM with two "
		    "digits each, e.g. 08:00", (int)len, s);
	h = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
	m = (unsigned)(s[3] - '0') * 10 + (unsigned)(s[4] - '0');
	if (m > 59)
		return fail(p, s + 3, "minute %02u is out of range; write "
		    "00 to 59", m);
	if (h > 24 || (h == 24 && (m != 0 || !end)))
		return fail(p, s, "%.5s is not a time of day; write 00:00 to "
		    "23:59 (24:00 only as the end of a window)", s);
	*sec = h * 3600 + m * 60;
	return 0;
}

static int
parse_rate(struct rp *p, const char *s, size_t len, uint64_t *v)
{
	const char *e = s + len, *q = s;
	uint64_t n = 0, mul = 1;

	if (q == e || !isdigit((unsigned char)*q))
		goto bad;
	for (; q < e && isdigit((unsigned char)*q); q++) {
		if (n > (UINT64_MAX - (uint64_t)(*q - '0')) / 10)
			goto bad;
		n = n * 10 + (uint64_t)(*q - '0');
	}
	if (q < e) {
		switch (*q) {
		case 'k': case 'K':
			mul = UINT64_C(1) << 10;
			break;
		case 'm': case 'M':
			mul = UINT64_C(1) << 20;
			break;
		case 'g': case 'G':
			mul = UINT64_C(1) << 30;
			break;
		default:
			goto bad;
		}
		q++;
	}
	if (q != e || n > UINT64_MAX / mul)
		goto bad;
	*v = n * mul;
	return 0;
bad:
	return fail(p, s, "'%.*s' is not a rate; write bytes per second as "
	    "an integer, optionally followed by k, M or G (times 1024, "
	    "1024^2, 1024^3), or 0 for unlimited, e.g. 2M", (int)len, s);
}

static void
add_window(struct rp *p, uint32_t start, uint32_t end, uint64_t rate)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->v = realloc(p->v, p->cap * sizeof(*p->v));
		if (p->v == NULL)
			abort();
	}
	p->v[p->n].start = start;
	p->v[p->n].end = end;
	p->v[p->n].rate = rate;
	p->v[p->n].entry = p->entry_no;
	p->n++;
}

static void
format_ws(uint32_t ws, char *buf, size_t len)
{
	snprintf(buf, len, "%s %02u:%02u", day_names[(ws / 86400) % 7],
	    (ws % 86400) / 3600, (ws % 3600) / 60);
}

/* One entry: DAYS [HH:MM-HH:MM] RATE, already trimmed. */
static int
parse_entry(struct rp *p)
{
	const char *w[4], *s = p->entry, *e = p->entry + p->entry_len;
	size_t wl[4], nw = 0, i, first;
	uint32_t t0 = 0, t1 = 86400, len;
	uint64_t rate = 0;
	unsigned mask;
	const char *dash;

	while (s < e) {
		while (s < e && isspace((unsigned char)*s))
			s++;
		if (s == e)
			break;
		if (nw == 3)
			return fail(p, s, "'%.*s' is one word too many; an "
			    "entry is days, an optional HH:MM-HH:MM and a "
			    "rate, e.g. Mon-Fri 08:00-18:00 2M (separate "
			    "entries with ';')", (int)(e - s), s);
		w[nw] = s;
		while (s < e && !isspace((unsigned char)*s))
			s++;
		wl[nw] = (size_t)(s - w[nw]);
		nw++;
	}
	if (nw < 2)
		return fail(p, p->entry, "an entry needs days and a rate, "
		    "e.g. Mon-Fri 08:00-18:00 2M or Sat-Sun 0");
	if (parse_days(p, w[0], wl[0], &mask) == -1)
		return -1;
	if (nw == 3) {
		dash = memchr(w[1], '-', wl[1]);
		if (dash == NULL)
			return fail(p, w[1], "'%.*s' is not a time range; "
			    "write HH:MM-HH:MM, e.g. 08:00-18:00", (int)wl[1],
			    w[1]);
		if (parse_clock(p, w[1], (size_t)(dash - w[1]), 0, &t0) == -1 ||
		    parse_clock(p, dash + 1, wl[1] - (size_t)(dash + 1 - w[1]),
		    1, &t1) == -1)
			return -1;
		if (t0 == t1)
			return fail(p, w[1], "the window %.*s is empty; write "
			    "an end after the start (or leave the time out "
			    "for the whole day)", (int)wl[1], w[1]);
	}
	if (parse_rate(p, w[nw - 1], wl[nw - 1], &rate) == -1)
		return -1;
	/* An end before the start runs into the next day. */
	len = t1 > t0 ? t1 - t0 : 86400 - t0 + t1;
	first = p->n;
	for (i = 0; i < 7; i++) {
		uint32_t a, b;

		if (!(mask & (1u << i)))
			continue;
		a = (uint32_t)i * 86400 + t0;
		b = a + len;
		if (b <= RSCHED_WEEK) {
			add_window(p, a, b, rate);
		} else {
			add_window(p, a, RSCHED_WEEK, rate);
			add_window(p, 0, b - RSCHED_WEEK, rate);
		}
	}
	/* Windows of one entry on adjacent days cannot overlap (a window is
	 * shorter than a day), windows of two entries can. */
	for (i = first; i < p->n; i++) {
		size_t k;

		for (k = 0; k < first; k++) {
			char a[16], b[16];

			if (p->v[i].start >= p->v[k].end ||
			    p->v[k].start >= p->v[i].end)
				continue;
			format_ws(p->v[i].start > p->v[k].start ?
			    p->v[i].start : p->v[k].start, a, sizeof(a));
			format_ws(p->v[i].end < p->v[k].end ? p->v[i].end :
			    p->v[k].end, b, sizeof(b));
			return fail(p, p->entry, "overlaps entry %u from %s "
			    "to %s; windows may not overlap (which rate holds "
			    "would depend on their order): shorten one, or "
			    "split it around the other", p->v[k].entry, a, b);
		}
	}
	return 0;
}

int
rsched_parse(const char *text, struct rsched *out, char *err,
    size_t errlen, unsigned *col)
{
	struct rp p;
	const char *s, *e;
	size_t l;
	int rc = -1;

	memset(&p, 0, sizeof(p));
	memset(out, 0, sizeof(*out));
	p.text = text;
	p.err = err;
	p.errlen = errlen;
	p.col = col;
	if (col != NULL)
		*col = 0;
	if (errlen > 0)
		err[0] = '\0';
	l = strlen(text);
	if (l > RSCHED_MAX_TEXT) {
		fail(&p, NULL, "the schedule is %zu characters long; write at "
		    "most %d", l, RSCHED_MAX_TEXT);
		goto out;
	}
	for (s = text; *s != '\0'; s++)
		if (iscntrl((unsigned char)*s) && *s != '\t') {
			fail(&p, s, "a control character is in the schedule; "
			    "write entries on one line, separated by ';'");
			goto out;
		}
	for (s = text; *s != '\0'; s = *e == ';' ? e + 1 : e) {
		for (e = s; *e != '\0' && *e != ';'; e++)
			;
		while (s < e && isspace((unsigned char)*s))
			s++;
		l = (size_t)(e - s);
		while (l > 0 && isspace((unsigned char)s[l - 1]))
			l--;
		if (l == 0)
			continue;
		p.entry = s;
		p.entry_len = l;
		p.entry_no++;
		if (p.entry_no > RSCHED_MAX_ENTRIES) {
			fail(&p, s, "more than %d entries; merge some",
			    RSCHED_MAX_ENTRIES);
			goto out;
		}
		if (parse_entry(&p) == -1)
			goto out;
	}
	out->v = p.v;
	out->n = p.n;
	p.v = NULL;
	rc = 0;
out:
	free(p.v);
	return rc;
}

void
rsched_free(struct rsched *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

uint64_t
rsched_rate(const struct rsched *s, uint32_t ws, uint64_t outside,
    int *inside)
{
	size_t i;

	ws %= RSCHED_WEEK;
	for (i = 0; i < s->n; i++)
		if (ws >= s->v[i].start && ws < s->v[i].end) {
			if (inside != NULL)
				*inside = 1;
			return s->v[i].rate;
		}
	if (inside != NULL)
		*inside = 0;
	return outside;
}

uint32_t
rsched_week_second(time_t t)
{
	struct tm tm;

#ifdef _WIN32
	if (localtime_s(&tm, &t) != 0)
		return 0;
#else
	if (localtime_r(&t, &tm) == NULL)
		return 0;
#endif
	/* tm_wday: Sunday = 0; the week here starts on Monday. */
	return (uint32_t)((tm.tm_wday + 6) % 7) * 86400 +
	    (uint32_t)tm.tm_hour * 3600 + (uint32_t)tm.tm_min * 60 +
	    (uint32_t)(tm.tm_sec > 59 ? 59 : tm.tm_sec);
}

int64_t
rsched_parse_moment(const char *s)
{
	unsigned h, m, sec;
	char day[4], c;
	int d;

	if (sscanf(s, "%3s %2u:%2u:%2u%c", day, &h, &m, &sec, &c) != 4 ||
	    (d = day_of(day, strlen(day))) == -1 || h > 23 || m > 59 ||
	    sec > 59)
		return -1;
	return (int64_t)d * 86400 + h * 3600 + m * 60 + sec;
}
