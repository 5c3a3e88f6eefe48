/* util.h - small helpers shared by the modules: durations, strings, a
 * string set, allocation that dies loudly. */
#ifndef BITSYNC_UTIL_H
#define BITSYNC_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Allocation failure is not something bitsync can report its way out of;
 * these print "bitsync: out of memory" and exit 70. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

/* Parses a duration: an integer followed by s, m, h or d ("90s", "10m",
 * "6h", "14d"), or a bare "0".  Returns 0 and stores seconds, or -1. */
int util_parse_duration(const char *s, uint64_t *seconds);

/* Formats seconds the way a user would write them ("10m", "14d", "0"). */
void util_format_duration(uint64_t seconds, char *buf, size_t len);

/* Levenshtein distance, capped: returns cap+1 when the distance exceeds
 * cap, so "did you mean" searches stay cheap. */
unsigned util_edit_distance(const char *a, const char *b, unsigned cap);

/* A URL, UNC path or proxy entry fit to echo in a diagnostic, log line,
 * status or error text (design §7: no secret is ever logged, printed or
 * stored): the userinfo before '@' becomes three stars (in a URL, a UNC
 * path and a proxy entry "user:pass@proxy:8080" alike), and every query
 * or fragment value becomes three stars ("?sv=***&sig=***"; an item
 * without '=' is hidden whole).  The names stay, so the message still
 * says what to fix.  Free the result. */
char *util_redact_url(const char *s);

/* The candidate closest to word (case-insensitively), or NULL when none is
 * close enough to be a plausible typo. */
const char *util_closest(const char *word, const char *const *candidates,
    size_t n);

/* Finishes an FNV-1a hash for a power-of-two table: FNV's low bits barely
 * depend on the high bits of the input, and names such as pkg-000123 and
 * pkg-000124 differ only there, which made long probe chains. */
static inline uint64_t
util_hash_finish(uint64_t h)
{
	h ^= h >> 32;
	h *= 0x9e3779b97f4a7c15ULL;
	h ^= h >> 29;
	return h;
}

/* Whether s is one of the n strings of v (short lists: a linear scan). */
int util_strv_has(char *const *v, size_t n, const char *s);

/* Reads a whole file into *data (malloc'ed, *len bytes, NUL after them);
 * 0, or -1 when it cannot be read or holds more than max bytes. */
int util_read_file(const char *path, size_t max, char **data, size_t *len);

/* A set of strings (open addressing, FNV-1a).  Keys are not copied: they
 * must outlive the set.  Each key carries one pointer of caller data.
 * Slots keep their key's hash: a probe compares strings only when the
 * hashes match, and growing never hashes a string again. */
struct strset {
	struct strset_slot {
		const char *key;
		const void *data;
		uint64_t hash;
	} *slots;
	size_t n, cap;
	int fold_case;		/* compare ASCII case-insensitively */
	int borrowed;		/* slots are the caller's (strset_reserve_in) */
};
void strset_init(struct strset *s, int fold_case);
void strset_free(struct strset *s);
/* Room for n keys in all without growing, in caller memory: slots must
 * hold strset_slots_for(n) zeroed entries and outlive the set (an arena:
 * one allocation instead of a dozen, in pages that may already be
 * there). */
size_t strset_slots_for(size_t n);
void strset_reserve_in(struct strset *s, size_t n, struct strset_slot *slots);
/* Inserts key; when it is already present leaves the set alone and returns
 * the data stored with the earlier key through *prev (then returns 1). */
int strset_add(struct strset *s, const char *key, const void *data,
    const void **prev);
const void *strset_get(const struct strset *s, const char *key);

/* The n bytes that exactly 2*n hex digits [s, s+len) spell: 0, or -1
 * for another length or a character that is no hex digit. */
int util_unhex(const char *s, size_t len, uint8_t *b, size_t n);

#endif
