/* jobsplit.h - sets larger than one BITS job (design §2a): a backend in
 * front of the real one (bits or engine) that carries one logical job on
 * as many backend jobs as MaxFilesPerJob requires.
 *
 * The reconciler keeps seeing one job per set: the first backend job (its
 * GUID, its display name "bitsync:<set>") stands for the group, with the
 * files, progress and state of all its jobs.  The others are named
 * "bitsync:<set>#2", "#3", ...  Descriptions tie them together:
 *
 *   first:   "<description> parts=N group=G"
 *   others:  "<description> part=K/N group=G"
 *
 * where G is a random 16-hex-digit id of the group (the description is
 * the reconciler's, "bitsync/1 set=... spec=...", and is given back to it
 * without the suffix).  A set that fits in one job has one job with the
 * description unchanged, as before.
 *
 * Order makes a crash harmless: the others are created before the first
 * (a crash leaves jobs without a first, which are cancelled at the set's
 * next create), and cancelled and completed before it (a crash leaves a
 * first whose group is short: shown as an ERROR, which the reconciler's
 * retries turn into a cancel and a new create).  The group's state is
 * ERROR when one job is in ERROR (its error is the set's), TRANSFERRED
 * only when all are, and so on (jobsplit.c).
 *
 * create_job refuses with BK_E_LIMIT (BG_E_TOO_MANY_JOBS_PER_MACHINE) when
 * the group does not fit in what max_jobs leaves; the planner queues such
 * sets by priority before it gets that far (plan.h, PLAN_R_JOB_BUDGET). */
#ifndef BITSYNC_JOBSPLIT_H
#define BITSYNC_JOBSPLIT_H

#include "backend.h"

/* Puts the splitting backend in front of *ops / *b (opened), with the
 * limits max_files (files per job) and max_jobs (jobs of this account);
 * 0: no limit.  On return *ops and *b are the wrapper's; its close closes
 * the inner backend too. */
void jobsplit_wrap(const struct backend_ops **ops, struct backend **b,
    unsigned max_files, unsigned max_jobs);

/* How many backend jobs n files need (at least 1). */
size_t jobsplit_parts(size_t nfiles, unsigned max_files);

#endif
