/* daemon.h - what `bitsync run` is on every platform: a reconcile session
 * kept open, passes when something may have changed, the interval with
 * its splay, the debounce of manifest changes, config reloads, and the
 * status and metrics files after every pass.  The event loop that feeds
 * it is the platform's: posix/run_posix.c (inotify, signalfd, the control
 * socket) and win/run_win.c (ReadDirectoryChangesW, the Service Control
 * Manager). */
#ifndef BITSYNC_DAEMON_H
#define BITSYNC_DAEMON_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "reconcile.h"

/* A file written in place or renamed into place is complete when its
 * close / rename arrives: act almost at once.  A removal withdraws sets,
 * and editors remove-then-recreate: wait longer. */
#define DEBOUNCE_WRITE_MS 30
#define DEBOUNCE_REMOVE_MS 1000
#define PROGRESS_MS 2000	/* status refresh while transfers run */

struct daemon {
	struct reconcile_session s;
	const struct cli *cli;
	struct reconcile_summary last;
	int64_t timer_ms;		/* next interval pass */
	int64_t due_ms;			/* next pass of any kind */
	uint64_t rnd;			/* splay's generator state */
	int start_splayed;		/* a change waits out start_splay */
	uint64_t *refused;		/* a fingerprint per refused file, */
	size_t nrefused;		/* as last reported */
	/* Why the last reload of the config was refused (its
	 * diagnostics), shown in status beside the manifest's until a
	 * reload is accepted; the old config stays in force meanwhile. */
	struct diags config_refused;
	/* Told a one-line summary after every pass (systemd's STATUS=);
	 * may be NULL. */
	void (*on_status)(const char *msg);
	/* The last pass's status document (compact JSON, what status_file
	 * holds), served to `bitsync status`; NULL before the first. */
	char *status_doc;
	/* Per-set counters since the start, for metrics. */
	struct reconcile_counts counts;
	/* Bytes of each running job at recent passes (every 2 s while
	 * transfers run): a job's rate is averaged over RATE_WINDOW_MS, not
	 * taken between two samples, so it does not flicker. */
	struct daemon_rate {
		char id[39];
		int64_t ms;
		uint64_t bytes;
	} *rates;
	size_t nrates;
	int64_t started;	/* Unix seconds, for status's header */
	/* on_change runs (command.h), polled from the event loop through
	 * daemon_run_due and daemon_wait_ms. */
	struct command_runner *cmds;
};

int64_t daemon_mono_ms(void);

/* Opens the session (exit code as reconcile_session_open). */
int daemon_open(struct daemon *dm, const struct cli *cli);
void daemon_close(struct daemon *dm);

/* Re-reads the config and reopens the session with it; a refused config
 * keeps the old one (its errors on stderr, and a pass is made).  Returns
 * 1 reloaded (the caller renews its watches and notification), 0 kept,
 * -1 when the session could not be reopened (exit code in *rc). */
int daemon_reload(struct daemon *dm, int *rc);

void daemon_schedule_interval(struct daemon *dm);

/* One reconcile pass (planned again, up to 3 times, while a recheck saw
 * a change); writes status_file and metrics_file and sets due_ms. */
void daemon_pass(struct daemon *dm, const char *why);

/* Moves the debounce deadline for what a watch saw: complete (a file
 * closed after writing or renamed into place) sets it near; other (a
 * removal, a bare create) only pushes it out. */
void daemon_debounce(int64_t *debounce, int complete, int other);

/* Answers one client of the control endpoint (control.h): reads its
 * request through rd (up to len bytes from the connection arg; the count,
 * 0 at its end or -1), acts on it ("apply": a pass, then its summary;
 * "status": the last status document; "plan": the plan, rendered where
 * the job store is open) and writes the reply through wr (0, or -1 when
 * the client went away).  The platforms bring only the transport: the
 * unix socket (posix/run_posix.c), the named pipe (win/run_win.c). */
void daemon_serve(struct daemon *dm,
    long (*rd)(void *arg, char *buf, size_t len),
    int (*wr)(void *arg, const char *buf, size_t len), void *arg);

/* Milliseconds until the next pass is due (debounce included), for a
 * wait; 0 when one is due now. */
int daemon_wait_ms(const struct daemon *dm, int64_t debounce);

/* Runs what is due now: the debounced manifest change, or the timed pass.
 * Clears *debounce when it fired. */
void daemon_run_due(struct daemon *dm, int64_t *debounce);

#endif
