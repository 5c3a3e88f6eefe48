/* reconcile_folder.h - folder sets in a reconcile pass (design §2a).
 *
 * Before planning, each folder set of the view is expanded: its folder
 * listed (backend list_folder) or its index fetched (fetch_small) and
 * parsed, the names checked (folder.h), and the set in the view replaced
 * by a copy that holds the files found, so that spec, planner and
 * executor see an ordinary set.  A set whose listing fails, or that is
 * over max_set_files or the listing depth, keeps everything it has (its
 * action becomes a wait) and fails with a clear error; while its retry is
 * not due it is not listed again. */
#ifndef BITSYNC_RECONCILE_FOLDER_H
#define BITSYNC_RECONCILE_FOLDER_H

#include "backend.h"
#include "config.h"
#include "folder.h"
#include "plan.h"
#include "spec.h"
#include "state.h"

/* What expanding needs of a pass's context (reconcile.h fills it; this
 * module does not include reconcile.h, which includes it). */
struct rfolder_env {
	const struct config *cfg;
	enum platform platform;
	const struct backend_ops *ops;	/* NULL: nothing can be listed */
	struct backend *b;
	int retry_now, list_now;	/* either: list now, not from the kept listing */
	int (*interrupt)(void *arg);
	void *interrupt_arg;
};

/* The pass's desired sets (specs and observations parallel), as
 * reconcile_plan holds them, and the record. */
struct rfolder_pass {
	struct plan_desired *desired;
	struct spec *specs;
	struct plan_obs **obs;
	size_t ndesired;
	const struct state_set *recorded;
	size_t nrecorded;
	int64_t now;
};

struct rfolder {
	const struct mset *orig;	/* the set as the manifest has it */
	struct mset set;		/* expanded; the view points here */
	struct folder_result r;
	char *error;			/* listing or index failed; NULL */
	int32_t code;
	int context;			/* BK_CTX_* of error */
	int waiting;			/* failed before, retry not due: not listed */
	int fresh;			/* listed (or fetched) by this pass */
	char *why_buf;			/* reasons read back from the cache */
	char *refused_note;		/* names refused, for status; NULL */
};

struct rfolders {
	struct rfolder *v;
	size_t n;
};

/* Expands the folder sets among v->desired (state and specs already
 * built by reconcile_plan), rebuilding their specs and observations;
 * returns their state for the pass, or NULL when there are none. */
struct rfolders *rfolder_expand(const struct rfolder_env *c,
    struct rfolder_pass *v);

/* After plan_make: a folder set that failed or waits for its retry does
 * nothing (PLAN_WAIT, backoff), whatever the plan said. */
void rfolder_hold(const struct rfolders *fs, struct plan *plan, int64_t now);

/* The pass's folder state of a desired set, or NULL (not a folder set). */
struct rfolder *rfolder_of(const struct rfolders *fs, const struct mset *set);

void rfolder_free(struct rfolders *fs);

/* Files of an index set whose bytes did not match the index's sha256:
 * remembered (<state_dir>/folders/<set>.rejected) so that the next pass
 * commits the others without them; each is tried again after the set's
 * retry_delay, or at once when the index gives it another hash. */
void rfolder_reject(const struct config *cfg, const char *set,
    const char *rel, const uint8_t sha256[32], int64_t now);

/* Forgets what a set kept here (its listing, its rejections): the set
 * left the manifest and its record is gone. */
void rfolder_forget(const struct config *cfg, const char *set);

/* The local paths of the names this pass refused (sorted, for
 * rfolder_refused_has; *n of them; free each and the array).  A file on
 * record whose name the server sent but bitsync refused (given twice, a
 * hash that did not match, a collision) did not leave the set: it is
 * kept, never removed by on_remove: delete. */
char **rfolder_refused_locals(const struct rfolder *f, enum platform p,
    size_t *n);
int rfolder_refused_has(char *const *v, size_t n, const char *local);

#endif
