/* command.h - the on_change runner (design §2a).
 *
 * A commit that created, replaced or deleted files of a set with
 * on_change notes them (command_note_changed, inside the commit's own
 * state transaction): from then on a run is pending in state.db until one
 * succeeds, across restarts and crashes.  The daemon arms the pending runs
 * from the manifest in force after every pass (command_schedule) and
 * drives them from its event loop (command_poll, command_wait_ms): each
 * is a child process it never waits for, so transfers, status and apply
 * go on while a command runs.  A failure (non-zero exit, a signal, the
 * timeout, a program that cannot start) is retried after the set's
 * retry_delay.  Nothing runs in monitor mode, without allow_commands, or
 * for a set that left the manifest (its pending run is dropped). */
#ifndef BITSYNC_COMMAND_H
#define BITSYNC_COMMAND_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "config.h"
#include "model.h"
#include "state.h"

#define COMMAND_OUTPUT_MAX	(64u << 10)	/* logged per run */

struct command_runner;

struct command_runner *command_new(void);
/* Kills what still runs (its run stays pending for the next start). */
void command_free(struct command_runner *r);

/* Notes that paths (absolute local paths) of set were created, replaced
 * or deleted by a commit: a run is pending.  Call inside the commit's
 * state transaction.  0, or -1 (state error). */
int command_note_changed(struct state *st, const char *set,
    const char *const *paths, size_t n);

/* Arms the pending runs from m (the manifest in force; NULL: none) and
 * starts those that are due; retry_now: a person asked (apply), failed
 * runs are retried at once whatever their retry time.  whole: m is the
 * whole manifest (every file valid or in force from its last valid copy,
 * none held), so a set m lacks has left it and its pending run is
 * dropped; otherwise nothing is dropped. */
void command_schedule(struct command_runner *r, struct state *st,
    const struct manifest *m, const struct config *cfg, int retry_now,
    int whole);

/* `bitsync apply` without a daemon: arms and runs what is pending from
 * m and waits until those runs end (each within its timeout) or *stop
 * is set.  Failed runs stay pending for the next apply or the daemon.
 * Returns the number of runs that failed. */
size_t command_run_pending(struct state *st, const struct manifest *m,
    const struct config *cfg, int whole, volatile sig_atomic_t *stop);

/* Reads output, reaps, enforces timeouts, starts due runs.  Returns 1
 * when a run ended since the last call (status is worth rebuilding). */
int command_poll(struct command_runner *r, struct state *st);

/* Milliseconds until command_poll has work (a run to watch, a retry
 * due), or -1 when none. */
int command_wait_ms(const struct command_runner *r);

/* Whether a run is in progress. */
int command_busy(const struct command_runner *r);

/* Adds "on_change" to each set object of status["sets"] that has a
 * record. */
void command_status(const struct command_runner *r, struct state *st,
    json_t *status);

/* Prometheus lines from a status document's sets' "on_change". */
void command_metrics(FILE *f, const json_t *sets);

/* n bytes of a program's output as text for a log record (free it):
 * control characters, DEL, '"', '\\' and bytes that are not part of a
 * well-formed UTF-8 sequence escaped (\xNN, \", \\). */
char *command_escape(const char *s, size_t n);

/* The text status line of a set's "on_change" object into buf. */
void command_status_text(const json_t *oc, char *buf, size_t len);

#endif
