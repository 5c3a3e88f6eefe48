/* glob.h - the globs of a folder set's include/exclude (design §2a).
 *
 * A pattern and a path are both relative, with '/' or '\' as separators
 * (both mean the same).  `*` matches any run of characters within one
 * component, `?` one character (one UTF-8 sequence), `[...]` one character
 * of a class (`[!...]` or `[^...]` negated, ranges `a-z`), `**` as a whole
 * component any number of components (zero included).  No other escape:
 * a backslash is a separator, as Windows admins write paths. */
#ifndef BITSYNC_GLOB_H
#define BITSYNC_GLOB_H

#include <stddef.h>

enum { GLOB_FOLD = 1 };	/* ASCII case-insensitive (Windows hosts) */

/* 1 when path matches pattern, else 0.  Bounded: backtracking is limited
 * to one choice point per `*` and per `**`, so no pattern makes the match
 * exponential. */
int glob_match(const char *pattern, const char *path, unsigned flags);

/* Whether pattern can match anything below the folder dir (a path whose
 * first components are dir's): how a listing skips sub-folders that no
 * include reaches.  Conservative: 1 when unsure. */
int glob_may_enter(const char *pattern, const char *dir, unsigned flags);

/* NULL when pattern is usable, else why not (a static sentence): empty,
 * absolute, a drive, '..', an unclosed '['. */
const char *glob_check(const char *pattern);

/* Deepest component count pattern reaches, or -1 when it has `**`. */
int glob_depth(const char *pattern);

#endif
