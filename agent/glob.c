/* glob.c - include/exclude globs of folder sets (see glob.h).
 *
 * Two levels, each the classic wildcard walk with one backtrack point
 * (as in Kirk Krauss's and git's wildmatch): components against
 * components with `**` as the "any run", and inside a component
 * characters against characters with `*` as the "any run".  One
 * backtrack point per level is enough because each wildcard matches any
 * run at its level, and it keeps the work at O(pattern x path). */
#include "glob.h"

#include <stdint.h>
#include <string.h>

static int
is_sep(char c)
{
	return c == '/' || c == '\\';
}

/* One UTF-8 sequence at s (at most end - s bytes): its code point, and
 * its length in *len.  A byte that starts no valid sequence stands for
 * itself, so every input has a defined meaning. */
static uint32_t
utf8_next(const char *s, const char *end, size_t *len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = (size_t)(end - s), need, i;
	uint32_t cp;

	*len = 1;
	if (p[0] < 0x80)
		return p[0];
	if ((p[0] & 0xe0) == 0xc0) {
		need = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		need = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		need = 4;
		cp = p[0] & 0x07;
	} else
		return p[0];
	if (need > n)
		return p[0];
	for (i = 1; i < need; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return p[0];
		cp = cp << 6 | (p[i] & 0x3f);
	}
	*len = need;
	return cp;
}

static uint32_t
fold(uint32_t c, unsigned flags)
{
	if ((flags & GLOB_FOLD) && c >= 'A' && c <= 'Z')
		return c - 'A' + 'a';
	return c;
}

/* A class at p ("[...]", p at '['), within pattern end pe: whether c is
 * in it; *next gets what follows the ']'.  -1 when the class is not
 * closed (then '[' is an ordinary character). */
static int
class_match(const char *p, const char *pe, uint32_t c, unsigned flags,
    const char **next)
{
	const char *q = p + 1;
	int neg = 0, hit = 0, first = 1;
	size_t len;
	uint32_t lo, hi;

	if (q < pe && (*q == '!' || *q == '^')) {
		neg = 1;
		q++;
	}
	c = fold(c, flags);
	while (q < pe && (*q != ']' || first)) {
		first = 0;
		lo = utf8_next(q, pe, &len);
		q += len;
		hi = lo;
		if (q + 1 < pe && *q == '-' && q[1] != ']') {
			hi = utf8_next(q + 1, pe, &len);
			q += 1 + len;
		}
		if (fold(lo, flags) <= c && c <= fold(hi, flags))
			hit = 1;
		else if ((flags & GLOB_FOLD) && lo <= c && c <= hi)
			hit = 1;
	}
	if (q >= pe)
		return -1;
	*next = q + 1;
	return hit != neg;
}

/* One component: pattern [p, pe) against text [t, te). */
static int
comp_match(const char *p, const char *pe, const char *t, const char *te,
    unsigned flags)
{
	const char *star_p = NULL, *star_t = NULL, *next;
	size_t plen, tlen;
	uint32_t pc, tc;
	int r;

	while (t < te) {
		if (p < pe && *p == '*') {
			while (p < pe && *p == '*')
				p++;
			star_p = p;
			star_t = t;
			continue;
		}
		tc = utf8_next(t, te, &tlen);
		if (p < pe) {
			if (*p == '?') {
				p++;
				t += tlen;
				continue;
			}
			if (*p == '[' &&
			    (r = class_match(p, pe, tc, flags, &next)) != -1) {
				if (r == 1) {
					p = next;
					t += tlen;
					continue;
				}
			} else {
				pc = utf8_next(p, pe, &plen);
				if (fold(pc, flags) == fold(tc, flags)) {
					p += plen;
					t += tlen;
					continue;
				}
			}
		}
		if (star_p == NULL)
			return 0;
		/* The last '*' takes one more character. */
		utf8_next(star_t, te, &tlen);
		star_t += tlen;
		t = star_t;
		p = star_p;
	}
	while (p < pe && *p == '*')
		p++;
	return p == pe;
}

/* Splits s into components (no empty ones): up to max, start and end
 * pointers.  Returns the count, or max + 1 when there are more. */
struct comps {
	const char *s[64], *e[64];
	size_t n;
	int over;
};

static void
split(const char *s, struct comps *c)
{
	c->n = 0;
	c->over = 0;
	while (*s != '\0') {
		const char *b;

		while (is_sep(*s))
			s++;
		if (*s == '\0')
			break;
		b = s;
		while (*s != '\0' && !is_sep(*s))
			s++;
		if (c->n == 64) {
			c->over = 1;
			return;
		}
		c->s[c->n] = b;
		c->e[c->n] = s;
		c->n++;
	}
}

static int
is_dstar(const struct comps *c, size_t i)
{
	return c->e[i] - c->s[i] == 2 && c->s[i][0] == '*' &&
	    c->s[i][1] == '*';
}

/* Components of pattern against components of text.  prefix: text is a
 * folder, and the question is whether something below it can match. */
static int
match_comps(const struct comps *pc, const struct comps *tc, unsigned flags,
    int prefix)
{
	size_t p = 0, t = 0, star_p = 0, star_t = 0;
	int star = 0;

	while (t < tc->n) {
		if (p < pc->n && is_dstar(pc, p)) {
			while (p < pc->n && is_dstar(pc, p))
				p++;
			/* A trailing '**' or one reached by a folder:
			 * anything below may match. */
			if (p == pc->n || prefix)
				return 1;
			star = 1;
			star_p = p;
			star_t = t;
			continue;
		}
		if (p < pc->n && comp_match(pc->s[p], pc->e[p], tc->s[t],
		    tc->e[t], flags)) {
			p++;
			t++;
			continue;
		}
		if (prefix && p == pc->n)
			return 0;
		if (!star)
			return 0;
		star_t++;
		t = star_t;
		p = star_p;
	}
	if (prefix)
		return p < pc->n;	/* something left for what is below */
	while (p < pc->n && is_dstar(pc, p))
		p++;
	return p == pc->n;
}

int
glob_match(const char *pattern, const char *path, unsigned flags)
{
	struct comps pc, tc;

	split(pattern, &pc);
	split(path, &tc);
	if (pc.over || tc.over)
		return 0;	/* deeper than any listing goes */
	return match_comps(&pc, &tc, flags, 0);
}

int
glob_may_enter(const char *pattern, const char *dir, unsigned flags)
{
	struct comps pc, tc;

	split(pattern, &pc);
	split(dir, &tc);
	if (pc.over || tc.over)
		return 1;
	return match_comps(&pc, &tc, flags, 1);
}

const char *
glob_check(const char *pattern)
{
	struct comps pc;
	size_t i;
	const char *q;

	if (pattern[0] == '\0')
		return "it is empty; remove it or write a glob such as "
		    "\"**/*.dll\"";
	if (is_sep(pattern[0]))
		return "it is absolute; globs are relative to the set's folder";
	if (((pattern[0] | 0x20) >= 'a' && (pattern[0] | 0x20) <= 'z') &&
	    pattern[1] == ':')
		return "it names a drive; globs are relative to the set's "
		    "folder";
	split(pattern, &pc);
	if (pc.over)
		return "it has more than 64 components; listings stop at "
		    "32";
	if (pc.n == 0)
		return "it names no file; write a glob such as \"**/*.dll\"";
	for (i = 0; i < pc.n; i++) {
		size_t len = (size_t)(pc.e[i] - pc.s[i]);

		if (len == 2 && pc.s[i][0] == '.' && pc.s[i][1] == '.')
			return "it contains '..'; a set never reaches outside "
			    "its folder";
		for (q = pc.s[i]; q < pc.e[i]; q++)
			if ((unsigned char)*q < 0x20 || *q == 0x7f)
				return "it contains a control character; remove it";
		if (len > 2 && strstr(pc.s[i], "**") != NULL &&
		    strstr(pc.s[i], "**") < pc.e[i])
			return "'**' must be a whole component ('**/*.dll', "
			    "not '**.dll')";
	}
	return NULL;
}

int
glob_depth(const char *pattern)
{
	struct comps pc;
	size_t i;

	split(pattern, &pc);
	for (i = 0; i < pc.n; i++)
		if (is_dstar(&pc, i))
			return -1;
	return (int)pc.n;
}
