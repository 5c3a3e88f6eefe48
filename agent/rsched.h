/* rsched.h - the engine's bandwidth schedule (design §6, [engine]
 * rate_schedule): windows by local weekday and time, each with its own
 * rate; rate_limit applies outside them, as BITS's bandwidth Group Policy
 * has a rate "during the schedule" and one "at all other times".
 *
 *   rate_schedule = Mon-Fri 08:00-18:00 2M; Sat-Sun 0
 *
 * An entry is DAYS [HH:MM-HH:MM] RATE, entries separated by ';'.  DAYS is
 * a comma list of days (Mon..Sun, any case) and day ranges (Mon-Fri,
 * Fri-Mon wraps); "Daily" is Mon-Sun.  Without a time the window is the
 * whole day.  End 24:00 is midnight; an end before the start crosses
 * midnight into the next day (Fri 22:00-06:00 ends Saturday 06:00).  RATE
 * is rate_limit's syntax (bytes per second, k/M/G times 1024^n); 0 is
 * unlimited.  Windows may not overlap: which rate holds would otherwise
 * depend on the order they were written in. */
#ifndef BITSYNC_RSCHED_H
#define BITSYNC_RSCHED_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define RSCHED_WEEK	(7u * 86400u)
#define RSCHED_MAX_TEXT	4096	/* longest value accepted */
#define RSCHED_MAX_ENTRIES 64

struct rsched_window {
	uint32_t start, end;	/* week seconds, Monday 00:00 = 0, end > start */
	uint64_t rate;		/* bytes per second; 0 unlimited */
	unsigned entry;		/* 1-based entry it came from */
};

struct rsched {
	struct rsched_window *v;
	size_t n;
};

/* Parses text into out.  Returns 0, or -1 with one sentence in err that
 * says which entry (number and text), where in the value (column, 1-based)
 * and what to write instead; *col gets that column (0: the whole value).
 * out is empty (nothing to free) on error.  An empty value (or only
 * spaces and ';') is an empty schedule. */
int rsched_parse(const char *text, struct rsched *out, char *err,
    size_t errlen, unsigned *col);
void rsched_free(struct rsched *s);

/* The rate at week second ws: the window's that holds it (*inside = 1),
 * else outside (*inside = 0).  inside may be NULL. */
uint64_t rsched_rate(const struct rsched *s, uint32_t ws, uint64_t outside,
    int *inside);

/* Week second of t in local time (Monday 00:00:00 = 0). */
uint32_t rsched_week_second(time_t t);

/* Parses "Mon 07:59:58" (a day, a time with seconds) into a week second,
 * for the test clock; -1 when it is not one. */
int64_t rsched_parse_moment(const char *s);

#endif
