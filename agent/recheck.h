/* recheck.h - when a set in sync is re-checked (design §4 "Refresh",
 * §9 "Load").
 *
 * Each host re-checks each file of a set once per `refresh`, at fixed
 * wall-clock times: the set's files (in recorded order) fall into
 * k = min(files, refresh in seconds) slices, and slice j is due at every
 * time t with
 *
 *     t = phase + floor(j * refresh / k)   (mod refresh)
 *
 * where phase is a hash of the host (its jitter seed) and the set.  So
 *  - a fleet's checks are spread by the hash, not by when its hosts
 *    committed: a fleet-wide push, an origin outage or a restart cannot
 *    line them up, and nothing has to be drawn again at each commit;
 *  - one host's check of an F-file set is not a burst of F requests in
 *    one second but at most ceil(F / refresh) requests per second
 *    (slices at least one second apart), so an origin sees about
 *    agents x files / refresh requests every second, whatever the
 *    fleet's size;
 *  - each file is still checked once per refresh.
 * Pure functions of their arguments (no clock), like plan.c. */
#ifndef BITSYNC_RECHECK_H
#define BITSYNC_RECHECK_H

#include <stddef.h>
#include <stdint.h>

/* The earliest check time after `after` of any file of a set of nfiles
 * files (0: refresh is 0, never). */
int64_t recheck_next(uint64_t seed, const char *set, uint64_t refresh,
    size_t nfiles, int64_t after);

/* Whether file i (of nfiles) has a check time in (from, to]: always when
 * the span is a whole refresh or more. */
int recheck_file_due(uint64_t seed, const char *set, uint64_t refresh,
    size_t nfiles, size_t i, int64_t from, int64_t to);

/* The check time a commit at now records: a commit of the same spec
 * (a remote change fetched again) keeps the set's last check when it lies
 * within the last refresh, so that slices that came due during the
 * transfer are still checked; otherwise (first commit, new spec, a check
 * older than a period) the commit counts as the check. */
int64_t recheck_commit_time(int same_spec, int64_t last_check,
    uint64_t refresh, int64_t now);

#endif
