/* sumindex.c - sha256sum index files (see sumindex.h). */
#include "sumindex.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static int
unhex64(const char *s, size_t n, uint8_t out[32])
{
	return util_unhex(s, n, out, 32);
}

/* A name from a line [s, s+n): NULL when empty or holding a control
 * character (a newline cannot be in one line; sha256sum escapes it). */
static char *
take_name(const char *s, size_t n, int unescape, const char **why)
{
	char *r;
	size_t i, o = 0;

	if (n == 0) {
		*why = "the file name is empty";
		return NULL;
	}
	r = xmalloc(n + 1);
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (unescape && ch == '\\' && i + 1 < n) {
			ch = s[++i];
			if (ch == 'n')
				ch = '\n';
			else if (ch != '\\') {
				*why = "an unknown escape in the file name";
				goto bad;
			}
		}
		if ((unsigned char)ch < 0x20 || ch == 0x7f) {
			*why = "a control character in the file name";
			goto bad;
		}
		if (ch == '\0') {
			*why = "a NUL byte in the file name";
			goto bad;
		}
		r[o++] = ch;
	}
	r[o] = '\0';
	return r;
bad:
	free(r);
	return NULL;
}

/* One line [s, s+n) without its newline.  1 and *e filled, 0 when the
 * line is blank or a comment, -1 when bad (*why). */
static int
parse_line(const char *s, size_t n, struct sumindex_entry *e,
    const char **why)
{
	const char *name, *hex;
	size_t nlen;
	int esc = 0;

	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (n == 0 || s[0] == '#')
		return 0;
	if (n > 8 && memcmp(s, "SHA256 (", 8) == 0) {
		/* BSD: "SHA256 (name) = hex"; the name may hold ") = ",
		 * so the hash is found from the end. */
		if (n < 8 + 1 + 4 + 64 ||
		    memcmp(s + n - 64 - 4, ") = ", 4) != 0) {
			*why = "a BSD line must read 'SHA256 (name) = <64 hex "
			    "digits>'";
			return -1;
		}
		hex = s + n - 64;
		name = s + 8;
		nlen = (size_t)(hex - 4 - name);
	} else {
		if (s[0] == '\\') {	/* sha256sum escaped the name */
			esc = 1;
			s++;
			n--;
		}
		if (n < 64 + 2 || s[64] != ' ' ||
		    (s[65] != ' ' && s[65] != '*')) {
			*why = "a line must read '<64 hex digits>  name' "
			    "(sha256sum) or 'SHA256 (name) = <64 hex digits>' "
			    "(sha256sum --tag)";
			return -1;
		}
		hex = s;
		name = s + 66;
		nlen = n - 66;
	}
	if (unhex64(hex, 64, e->sha256) != 0) {
		*why = "the sha256 is not 64 hexadecimal digits";
		return -1;
	}
	e->path = take_name(name, nlen, esc, why);
	return e->path != NULL ? 1 : -1;
}

int
sumindex_parse(const char *buf, size_t len, size_t max, struct sumindex *out)
{
	size_t pos = 0, cap = 0;
	unsigned line = 0;
	int rc = -1, r;

	memset(out, 0, sizeof(*out));
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		struct sumindex_entry e;
		const char *why = NULL;

		line++;
		memset(&e, 0, sizeof(e));
		r = parse_line(buf + pos, n, &e, &why);
		pos += n + (nl != NULL);
		if (r == 0)
			continue;
		if (r == -1) {
			out->bad_line = line;
			out->bad_why = why;
			goto done;
		}
		if (out->n == max) {
			free(e.path);
			out->bad_line = line;
			out->bad_why = "the index lists more files than "
			    "max_set_files allows";
			goto done;
		}
		if (out->n == cap) {
			cap = cap ? 2 * cap : 64;
			out->v = xrealloc(out->v, cap * sizeof(*out->v));
		}
		e.line = line;
		out->v[out->n++] = e;
	}
	rc = 0;
done:
	if (rc != 0) {
		unsigned bl = out->bad_line;
		const char *bw = out->bad_why;

		sumindex_free(out);
		out->bad_line = bl;
		out->bad_why = bw;
	}
	return rc;
}

void
sumindex_free(struct sumindex *s)
{
	size_t i;

	for (i = 0; s != NULL && i < s->n; i++)
		free(s->v[i].path);
	if (s != NULL) {
		free(s->v);
		memset(s, 0, sizeof(*s));
	}
}
