/* util.c - durations, strings, the string set, allocation. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static void
oom(void)
{
	fputs("bitsync: out of memory\n", stderr);
	exit(70);
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		oom();
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	va_list cp;
	int len;
	char *p;

	va_copy(cp, ap);
	len = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (len < 0)
		oom();
	p = xmalloc((size_t)len + 1);
	vsnprintf(p, (size_t)len + 1, fmt, ap);
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

int
util_parse_duration(const char *s, uint64_t *seconds)
{
	uint64_t v = 0, unit;
	const char *p = s;

	if (strcmp(s, "0") == 0) {
		*seconds = 0;
		return 0;
	}
	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	switch (*p) {
	case 's': unit = 1; break;
	case 'm': unit = 60; break;
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	default: return -1;
	}
	if (p[1] != '\0')
		return -1;
	/* Durations above ~136 years are typos, and BITS takes 32 bits. */
	if (v > UINT32_MAX / unit)
		return -1;
	*seconds = v * unit;
	return 0;
}

void
util_format_duration(uint64_t s, char *buf, size_t len)
{
	if (s == 0)
		snprintf(buf, len, "0");
	else if (s % 86400 == 0)
		snprintf(buf, len, "%" PRIu64 "d", s / 86400);
	else if (s % 3600 == 0)
		snprintf(buf, len, "%" PRIu64 "h", s / 3600);
	else if (s % 60 == 0)
		snprintf(buf, len, "%" PRIu64 "m", s / 60);
	else
		snprintf(buf, len, "%" PRIu64 "s", s);
}

/* Optimal string alignment distance: Levenshtein plus adjacent
 * transpositions, the commonest typo ("dsit" for "dist"). */
unsigned
util_edit_distance(const char *a, const char *b, unsigned cap)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	unsigned rows[3][65], *pp, *p, *c, best;

	/* Names worth suggesting are short; longer input is no typo. */
	if (lb > 64 || la > 64)
		return cap + 1;
	if ((la > lb ? la - lb : lb - la) > cap)
		return cap + 1;
	for (j = 0; j <= lb; j++)
		rows[1][j] = (unsigned)j;
	pp = rows[0];
	p = rows[1];
	c = rows[2];
	for (i = 1; i <= la; i++) {
		int ai = tolower((unsigned char)a[i - 1]);

		c[0] = (unsigned)i;
		best = c[0];
		for (j = 1; j <= lb; j++) {
			int bj = tolower((unsigned char)b[j - 1]);
			unsigned v = p[j - 1] + (ai != bj);

			if (p[j] + 1 < v)
				v = p[j] + 1;
			if (c[j - 1] + 1 < v)
				v = c[j - 1] + 1;
			if (i > 1 && j > 1 && ai == tolower((unsigned char)
			    b[j - 2]) && tolower((unsigned char)a[i - 2]) == bj &&
			    pp[j - 2] + 1 < v)
				v = pp[j - 2] + 1;
			c[j] = v;
			if (v < best)
				best = v;
		}
		if (best > cap)
			return cap + 1;
		{
			unsigned *t = pp;

			pp = p;
			p = c;
			c = t;
		}
	}
	return p[lb] > cap ? cap + 1 : p[lb];
}

const char *
util_closest(const char *word, const char *const *cand, size_t n)
{
	const char *best = NULL;
	unsigned bestd, d, cap;
	size_t i, wl = strlen(word);

	/* A third of the word, at least 1 and at most 3 edits: "prority"
	 * finds "priority", "x" finds nothing. */
	cap = (unsigned)(wl / 3);
	if (cap < 1)
		cap = 1;
	if (cap > 3)
		cap = 3;
	bestd = cap + 1;
	for (i = 0; i < n; i++) {
		d = util_edit_distance(word, cand[i], cap);
		if (d < bestd) {
			bestd = d;
			best = cand[i];
		}
	}
	/* A word that is a prefix of a candidate ("dest") is a plausible
	 * abbreviation even past the edit budget. */
	if (best == NULL && wl >= 3)
		for (i = 0; i < n; i++)
			if (strncasecmp(cand[i], word, wl) == 0)
				return cand[i];
	return best;
}

static uint64_t
hash_str(const char *s, int fold)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		h ^= fold ? (unsigned char)tolower(c) : c;
		h *= 1099511628211ULL;
	}
	return util_hash_finish(h);
}

int
util_strv_has(char *const *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

void
strset_init(struct strset *s, int fold_case)
{
	memset(s, 0, sizeof(*s));
	s->fold_case = fold_case;
}

void
strset_free(struct strset *s)
{
	if (!s->borrowed)
		free(s->slots);
	s->slots = NULL;
	s->n = s->cap = 0;
	s->borrowed = 0;
}

static struct strset_slot *
find_slot(const struct strset *s, const char *key, uint64_t h)
{
	size_t i = (size_t)h & (s->cap - 1);

	for (;; i = (i + 1) & (s->cap - 1)) {
		struct strset_slot *sl = &s->slots[i];

		if (sl->key == NULL)
			return sl;
		if (sl->hash == h && (s->fold_case ? strcasecmp(sl->key, key) :
		    strcmp(sl->key, key)) == 0)
			return sl;
	}
}

/* Moves the keys into slots (cap of them, a power of two, zeroed, more
 * than n * 4/3); the old slots are freed unless they were borrowed. */
static void
rehash(struct strset *s, struct strset_slot *slots, size_t cap)
{
	struct strset old = *s;
	size_t i, j;

	s->cap = cap;
	s->slots = slots;
	for (i = 0; i < old.cap; i++) {
		if (old.slots[i].key == NULL)
			continue;
		/* Keys are distinct: the first free slot is theirs. */
		for (j = (size_t)old.slots[i].hash & (cap - 1);
		    s->slots[j].key != NULL; j = (j + 1) & (cap - 1))
			;
		s->slots[j] = old.slots[i];
	}
	if (!old.borrowed)
		free(old.slots);
}

static void
resize(struct strset *s, size_t cap)
{
	rehash(s, xcalloc(cap, sizeof(*s->slots)), cap);
	s->borrowed = 0;
}

size_t
strset_slots_for(size_t n)
{
	size_t cap = 16;

	while (n * 4 > cap * 3)
		cap *= 2;
	return cap;
}

void
strset_reserve_in(struct strset *s, size_t n, struct strset_slot *slots)
{
	size_t cap = strset_slots_for(n);

	if (cap > s->cap) {
		rehash(s, slots, cap);
		s->borrowed = 1;
	}
}

int
strset_add(struct strset *s, const char *key, const void *data,
    const void **prev)
{
	struct strset_slot *sl;
	uint64_t h = hash_str(key, s->fold_case);

	if ((s->n + 1) * 4 > s->cap * 3)
		resize(s, s->cap ? s->cap * 2 : 16);
	sl = find_slot(s, key, h);
	if (sl->key != NULL) {
		if (prev != NULL)
			*prev = sl->data;
		return 1;
	}
	sl->key = key;
	sl->data = data;
	sl->hash = h;
	s->n++;
	return 0;
}

const void *
strset_get(const struct strset *s, const char *key)
{
	const struct strset_slot *sl;

	if (s->cap == 0)
		return NULL;
	sl = find_slot(s, key, hash_str(key, s->fold_case));
	return sl->key ? sl->data : NULL;
}

int
util_read_file(const char *path, size_t max, char **data, size_t *len)
{
	struct stat st;
	FILE *f;
	size_t cap = 8192, n = 0, r;
	char *p;
	int rc = -1;

	*data = NULL;
	*len = 0;
	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	/* Sized from the file, one byte over, so that a file that does not
	 * grow is read in one buffer and its end seen without a copy. */
	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size < (uint64_t)max)
		cap = (size_t)st.st_size + 1;
	p = xmalloc(cap + 1);
	while ((r = fread(p + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n > max)
			goto done;
		if (n == cap) {
			cap *= 2;
			p = xrealloc(p, cap + 1);
		}
	}
	if (ferror(f))
		goto done;
	p[n] = '\0';
	*data = p;
	*len = n;
	p = NULL;
	rc = 0;
done:
	free(p);
	fclose(f);
	return rc;
}

char *
util_redact_url(const char *s)
{
	const char *a = s, *e, *at = NULL, *p, *sch;
	char *out, *o;
	size_t len = strlen(s);

	/* Each '=', '&', '?' and '#' may add "***" (3 bytes) for the empty
	 * or bare item after it; userinfo one more. */
	out = o = xmalloc(4 * len + 8);
	/* Where the authority starts: after "scheme://" (a scheme has none
	 * of "/?#@" in it), after a UNC or "//" prefix, else at once (a
	 * proxy entry "user:pass@host:port"). */
	sch = strstr(s, "://");
	if (sch != NULL && sch > s && strcspn(s, "/?#@\\") >=
	    (size_t)(sch - s))
		a = sch + 3;
	else if ((s[0] == '\\' || s[0] == '/') && (s[1] == '\\' ||
	    s[1] == '/'))
		a = s + 2;
	e = a + strcspn(a, "/\\?#");
	for (p = a; p < e; p++)
		if (*p == '@')
			at = p;		/* the last: a password may hold '@' */
	memcpy(o, s, (size_t)(a - s));
	o += a - s;
	if (at != NULL) {
		memcpy(o, "***", 3);
		o += 3;
		p = at;
	} else
		p = a;
	/* The path as it is, up to the query or fragment. */
	while (*p != '\0' && *p != '?' && *p != '#')
		*o++ = *p++;
	/* Query and fragment items: "name=" kept, the value hidden. */
	while (*p != '\0') {
		const char *item = p + 1, *end, *eq;

		*o++ = *p;	/* '?', '&', ';' or '#' */
		end = item + strcspn(item, "&;#");
		eq = memchr(item, '=', (size_t)(end - item));
		if (eq != NULL) {
			memcpy(o, item, (size_t)(eq - item) + 1);
			o += eq - item + 1;
		}
		if (end > item) {
			memcpy(o, "***", 3);
			o += 3;
		}
		p = end;
	}
	*o = '\0';
	return out;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
util_unhex(const char *s, size_t len, uint8_t *b, size_t n)
{
	size_t i;

	if (len != 2 * n)
		return -1;
	for (i = 0; i < n; i++) {
		int hi = hexval((unsigned char)s[2 * i]);
		int lo = hexval((unsigned char)s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
