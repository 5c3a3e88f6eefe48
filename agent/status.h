/* status.h - what each set is doing and why: the JSON document that
 * `bitsync run` writes to status_file after every pass (atomically), that
 * `bitsync status` prints, and the Prometheus textfile for metrics_file.
 *
 * The status document (version 1):
 *   { "version": 1, "generated": UNIX-TIME, "pid": N,
 *     "manifest": { "valid": bool, "diagnostics": [ {file, line, column,
 *                   severity, rule, message} ], "last_known_good": [FILE],
 *                   "held": [FILE] },
 *     "summary": { "sets", "in_sync", "transferring", "pending", "failed",
 *                  "drift", "held" },   (sets being removed not counted)
 *     "sets": [ { "name", "state", "action", "reason", "mode",
 *                 "manifest_file", "spec", "last_success", "next_check",
 *                 "attempts", "retry_at", "last_error",
 *                 "job": null | { "id", "state", "bytes_total",
 *                   "bytes_transferred", "files_total",
 *                   "files_transferred", "error": null | { "context",
 *                   "code", "text" } } } ] }
 * state is one of: in-sync, transferring, waiting-to-retry, queued (no
 * room under max_jobs yet: PLAN_R_JOB_BUDGET), failed, drift,
 * held, removing, pending (a change not yet made: only when the document
 * comes from a plan that was not carried out, i.e. no daemon runs).  Times are UNIX seconds, 0 for never; bytes_total is
 * null while unknown. */
#ifndef BITSYNC_STATUS_H
#define BITSYNC_STATUS_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "reconcile.h"

/* executed: v's plan was carried out (the daemon); otherwise the sets
 * that need a change are "pending". */
json_t *status_build(const struct reconcile_input *in,
    const struct reconcile_view *v, int64_t now, int executed);

/* Writes j to path atomically (temporary file, fsync, rename): readers
 * never see half a document.  0 or -1 (errno set). */
int status_write_file(const char *path, const json_t *j);

/* Prometheus text format, atomically as above. */
int status_write_metrics(const char *path, const json_t *j,
    int64_t last_reconcile);

/* The human view of a status document; bars: draw progress bars. */
void status_print_text(const json_t *j, FILE *out, int bars);

/* A status_file the daemon wrote, read when the daemon does not answer
 * over its control endpoint: its folder may belong to a service user (a
 * textfile collector's), so the file is opened without following links
 * or blocking (a FIFO), and only a regular file owned by root or the
 * agent's account is believed.  NULL otherwise, or when unreadable. */
json_t *status_file_load(const char *path);

/* Replaces control characters (C0, DEL and C1) in every string of j by
 * '?': what a server or a local user put in an error text or a file
 * name must not drive the admin's terminal. */
void status_scrub(json_t *j);

#endif
