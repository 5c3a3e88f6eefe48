/* sumindex.h - the `index` file of a folder set (design §2a): the lines
 * sha256sum writes (GNU "HEX  path", "HEX *path") or BSD tags
 * ("SHA256 (path) = HEX"), paths relative to the index's folder.
 *
 * The parser checks form only (64 hex digits, a non-empty name without
 * control characters); whether a name may be written locally is the
 * caller's question (folder.h), asked of every name a server sends. */
#ifndef BITSYNC_SUMINDEX_H
#define BITSYNC_SUMINDEX_H

#include <stddef.h>
#include <stdint.h>

struct sumindex_entry {
	char *path;		/* as the line has it, NUL-terminated */
	uint8_t sha256[32];
	unsigned line;
};

struct sumindex {
	struct sumindex_entry *v;
	size_t n;
	/* The first bad line: its number and why (static), or 0. */
	unsigned bad_line;
	const char *bad_why;
};

/* Parses len bytes.  Blank lines and lines starting with '#' are skipped;
 * a GNU line whose name sha256sum escaped (a leading '\') is unescaped
 * (\\ and \n).  A line that is neither form is an error: the whole index
 * is refused (0 entries, bad_line set), as a truncated or foreign file
 * must not silently shrink a set.  More than max entries: refused too.
 * Returns 0, or -1 (bad_line/bad_why say which). */
int sumindex_parse(const char *buf, size_t len, size_t max,
    struct sumindex *out);
void sumindex_free(struct sumindex *s);

#endif
