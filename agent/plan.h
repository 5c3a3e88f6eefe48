/* plan.h - the planner (design §4): one action per set.
 *
 * plan_make() is a pure function: desired sets (with their specs and the
 * caller's observations of the local files), the jobs the backend lists,
 * the recorded state and "now" in; one action per set out, in byte order
 * of set names.  It does no I/O and reads no clock, so every decision can
 * be tested as a table and replayed from a bug report.
 *
 * Ownership: a job is bitsync's only when its display name is
 * "bitsync:<set>", its description "bitsync/1 set=<set> spec=<hash>" and
 * its GUID is one bitsync recorded for that set.  A job that only looks
 * like ours is counted (nforeign) and never touched. */
#ifndef BITSYNC_PLAN_H
#define BITSYNC_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "manifest.h"
#include "spec.h"
#include "state.h"

enum plan_verb {
	PLAN_NONE,		/* in sync, refresh not due */
	PLAN_WAIT,		/* own job at work, or a retry not yet due */
	PLAN_HOLD,		/* undeclared, but its file failed validation: touch nothing */
	PLAN_CREATE,		/* create a job from the spec, record it, resume it */
	PLAN_ADOPT,		/* record the GUID of the job a crash left unrecorded */
	PLAN_RESUME,		/* own job SUSPENDED: resume */
	PLAN_RETRY,		/* own job in ERROR and its backoff passed: resume */
	PLAN_COMPLETE,		/* TRANSFERRED: verify sha256 of the temp files, then complete */
	PLAN_CANCEL_RECREATE,	/* cancel `cancel`, then create */
	PLAN_RECHECK,		/* in sync, refresh due: probe the remote validators */
	PLAN_REPORT_DRIFT,	/* monitor mode: not in sync; report, transfer nothing */
	PLAN_SUSPEND,		/* monitor mode: an own job is transferring; stop it */
	PLAN_CANCEL_ORPHAN,	/* set no longer declared: cancel `cancel`, delete `remove`, forget it */
	PLAN_REDUCE_DUPLICATES,	/* several own jobs: cancel all but the newest (`job`) */
	PLAN_ADD_FILES		/* own job, the spec only added files: suspend, add them, describe, resume */
};

enum plan_reason {
	PLAN_R_IN_SYNC,
	PLAN_R_NEW,		/* never completed */
	PLAN_R_SPEC_CHANGED,
	PLAN_R_MISSING,		/* a local file is missing (file) */
	PLAN_R_DRIFTED,		/* a local file differs from what was committed (file) */
	PLAN_R_REMOTE_CHANGED,
	PLAN_R_REFRESH_DUE,
	PLAN_R_JOB_ACTIVE,
	PLAN_R_JOB_TRANSIENT,	/* TRANSIENT_ERROR: the backend retries by itself */
	PLAN_R_JOB_SUSPENDED,
	PLAN_R_JOB_ERROR,
	PLAN_R_TOO_MANY_ERRORS,
	PLAN_R_BACKOFF,
	PLAN_R_TRANSFERRED,
	PLAN_R_MONITOR,
	PLAN_R_UNDECLARED,
	PLAN_R_INVALID_FILE,
	PLAN_R_DUPLICATES,
	PLAN_R_UNRECORDED_JOB,
	PLAN_R_JOB_BUDGET	/* WAIT: no room under max_jobs; queued by priority */
};

/* An ERROR job is resumed after its backoff; every PLAN_RECREATE_EVERY-th
 * consecutive failure it is cancelled and created anew instead, since some
 * failures (a server that changed the file mid-transfer) stick to a job. */
#define PLAN_RECREATE_EVERY 4

/* What the caller saw of one local file. */
struct plan_obs {
	int exists;		/* 1 regular file, 0 missing, -1 something else */
	uint64_t size;
	int64_t mtime_ns;
	uint64_t dev, ino;	/* identity of the file; 0 unknown */
	int hashed;		/* sha256 below was computed */
	uint8_t sha256[32];
};

struct plan_desired {
	const struct mset *set;
	const struct spec *spec;
	const struct plan_obs *obs;	/* parallel to spec->files; NULL: not observed */
};

struct plan_input {
	const struct plan_desired *desired;
	size_t ndesired;
	const struct bk_job *jobs;	/* all jobs of this account */
	size_t njobs;
	const struct state_set *recorded;
	size_t nrecorded;
	/* Parallel to recorded (and each to its files): observations of the
	 * files bitsync placed, for on_remove: delete.  NULL: none. */
	const struct plan_obs *const *recorded_obs;
	/* Manifest files that exist but failed validation (with no
	 * last-known-good copy in force): their recorded sets are held. */
	const char *const *held_files;
	size_t nheld_files;
	int hold_all;		/* the manifest could not be read: withdraw nothing */
	int64_t now;
	/* A person asked for this pass (apply): failing sets are retried
	 * now, whatever their backoff; timed passes keep it. */
	int retry_now;
	uint64_t jitter_seed;	/* per host; spreads retries of a fleet */
	/* Optional: calls fn(arg, lo, hi) over [0, n) in slices of about
	 * grain, perhaps on several threads at once (platform_parallel).
	 * Each set's decision reads only the input and writes only its own
	 * action, so they may be taken in any order.  NULL: in order, here. */
	void (*each)(size_t n, size_t grain,
	    void (*fn)(void *arg, size_t lo, size_t hi), void *arg);
	/* BITS's MaxFilesPerJob and MaxJobsPerMachine (0: no limit): a set
	 * needs one job per max_files_per_job files it transfers
	 * (jobsplit.h); creates that do not fit in what max_jobs leaves wait
	 * (PLAN_WAIT, PLAN_R_JOB_BUDGET), higher priority first, then by
	 * name.  A set that needs more than max_jobs alone is let through
	 * to fail with the backend's error instead of waiting forever. */
	unsigned max_files_per_job, max_jobs;
};

struct plan_action {
	const char *set;
	enum plan_verb verb;
	enum plan_reason reason;
	const struct plan_desired *desired;	/* NULL: not declared */
	const struct state_set *recorded;	/* NULL: nothing recorded */
	const struct bk_job *job;	/* the job acted on, waited for or kept */
	const struct bk_job **cancel;	/* own jobs to cancel */
	size_t ncancel;
	const struct state_file **remove;	/* placed files to delete */
	size_t nremove;
	size_t file;		/* MISSING/DRIFTED: index into spec->files */
	int64_t retry_at;	/* BACKOFF: when the retry is due */
	int64_t check_at;	/* in sync: when a file of it is next re-checked (recheck.h; 0: never) */
	unsigned attempts;	/* consecutive failures, counting this action's */
	size_t nforeign;	/* look-alike jobs left alone */
};

struct plan {
	struct plan_action *v;
	size_t n;
};

/* 0, or -1 when a desired set has no spec. */
int plan_make(const struct plan_input *in, struct plan *out);
void plan_free(struct plan *p);

/* Seconds to wait before retry number attempts+1 of a set: retry_delay
 * doubled per failure, capped at max(retry_delay, 1h), plus up to 25 %
 * jitter derived from seed and the set's name (stable between passes). */
uint64_t plan_backoff(uint64_t retry_delay, unsigned attempts,
    uint64_t seed, const char *set);

/* Design §4 (round 2): which files of d's spec stay as they were
 * committed when a job is created for the set (keep[i] = 1; keep has
 * spec->job.nfiles bytes), so that only the others are transferred.  A
 * file stays when the record holds it with the same remote and local
 * path, the local file is still what was placed (d->obs), a declared
 * sha256 is the hash of what was placed, no refresh saw the remote
 * change, and the recorded spec had the same transfer settings (proved
 * by hashing the record's files with today's settings: no settings are
 * stored).  Pure, like plan_make.  Returns how many stay. */
size_t plan_keep_committed(const struct plan_desired *d,
    const struct state_set *r, unsigned char *keep);

/* Whether own job j (its description's spec hash jhash) can be grown to
 * d's spec in place (PLAN_ADD_FILES, IBackgroundCopyJob::AddFile): every
 * file of j is in the spec with the same remote, and j's files plus the
 * files that stay committed (plan_keep_committed) with today's settings
 * hash to jhash, so the change only added files.  add (spec->job.nfiles
 * bytes) gets 1 for each file to add.  Pure.  Returns how many, 0 when
 * the job cannot be grown. */
size_t plan_grow_files(const struct plan_desired *d,
    const struct state_set *r, const struct bk_job *j, const char *jhash,
    unsigned char *add);

/* Nonzero when the action changes something (plan --detailed-exitcode). */
int plan_action_changes(const struct plan_action *a);

const char *plan_verb_name(enum plan_verb v);		/* "cancel-and-recreate" */
const char *plan_reason_text(enum plan_reason r);	/* "spec changed" */

#endif
