/* check.h - the unit tests' assertions: print FILE:LINE and what failed,
 * count the failure, and go on, so one run shows every broken case.  A
 * test's main() ends with "return check_done();", which is non-zero when
 * anything failed. */
#ifndef BITSYNC_CHECK_H
#define BITSYNC_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n",		\
		    __FILE__, __LINE__, #cond);				\
		check_failures++;					\
	}								\
} while (0)

#define CHECK_INT(a, b) do {						\
	long long check_a_ = (long long)(a), check_b_ = (long long)(b);	\
	if (check_a_ != check_b_) {					\
		fprintf(stderr, "%s:%d: check failed: %s == %s "	\
		    "(%lld != %lld)\n", __FILE__, __LINE__, #a, #b,	\
		    check_a_, check_b_);				\
		check_failures++;					\
	}								\
} while (0)

#define CHECK_STR(a, b) do {						\
	const char *check_a_ = (a), *check_b_ = (b);			\
	if (check_a_ == NULL || check_b_ == NULL ?			\
	    check_a_ != check_b_ : strcmp(check_a_, check_b_) != 0) {	\
		fprintf(stderr, "%s:%d: check failed: %s == %s "	\
		    "(\"%s\" != \"%s\")\n", __FILE__, __LINE__, #a, #b,	\
		    check_a_ ? check_a_ : "(null)",			\
		    check_b_ ? check_b_ : "(null)");			\
		check_failures++;					\
	}								\
} while (0)

/* haystack contains needle */
#define CHECK_HAS(hay, needle) do {					\
	const char *check_h_ = (hay), *check_n_ = (needle);		\
	if (check_h_ == NULL || strstr(check_h_, check_n_) == NULL) {	\
		fprintf(stderr, "%s:%d: check failed: \"%s\" "		\
		    "contains \"%s\"\n", __FILE__, __LINE__,		\
		    check_h_ ? check_h_ : "(null)", check_n_);		\
		check_failures++;					\
	}								\
} while (0)

/* A case that cannot run here says so, and does not count as passed. */
#define CHECK_SKIP(why) fprintf(stderr, "%s:%d: skipped: %s\n",	\
	__FILE__, __LINE__, (why))

static inline int
check_done(void)
{
	if (check_failures > 0)
		fprintf(stderr, "%d check(s) failed\n", check_failures);
	return check_failures > 0;
}

#endif
