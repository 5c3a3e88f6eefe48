/* cmd_apply.c - `bitsync apply`: reconcile now, in this process.
 *
 * One pass creates, resumes, completes and cancels what the plan says.
 * With the engine backend the transfers run in this process, so apply
 * goes on (completing what transfers) until nothing is in progress; with
 * --wait it also waits out retries until every set is in sync or has
 * failed, or --timeout passes.  Exit 0 only when every set is in sync.
 *
 * Two processes never reconcile from one state directory: the session
 * holds an exclusive lock on it (and the engine one on its job store), so
 * a second apply (or apply beside `run`) stops with exit 69 and says why.
 *
 * When `run` runs, apply asks it for the pass over its control endpoint
 * (control_call: the unix socket, on Windows a named pipe)
 * and reconciles in process only when no agent runs. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "command.h"
#include "control.h"
#include "log.h"
#include "platform.h"
#include "reconcile.h"
#include "status.h"
#include "util.h"

static volatile sig_atomic_t stop;

/* The loop below wakes on it: a job changed state (a transferred job is
 * completed without a polling delay) or a stop was asked. */
static struct platform_wake *wake;

static void
on_stop(void)
{
	stop = 1;
	platform_wake_post(wake);
}

/* The backend's state-change callback, from its threads. */
static void
on_job_event(void *ctx, const bk_guid *job, enum bk_state state)
{
	(void)ctx;
	(void)job;
	(void)state;
	platform_wake_post(wake);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Asks a running daemon for a pass over its control endpoint.
 * Returns -1 when no daemon answers (reconcile here instead), else an
 * exit code. */
static int
via_daemon(const struct cli *cli, int wait, uint64_t timeout, int quiet)
{
	struct config cfg;
	struct diags d;
	struct control_reply r;
	json_t *j = NULL, *st;
	int64_t deadline;
	int rc = -1, cr;

	memset(&r, 0, sizeof(r));
	diags_init(&d);
	config_defaults(&cfg);
	if (reconcile_config_load(&cfg, cli->config_path,
	    !cli->config_explicit, &d) != 0 || cfg.state_dir == NULL)
		goto done;
	if ((cr = control_call(cfg.state_dir, "apply\n", 6, &r)) ==
	    CONTROL_NONE)
		goto done;
	if (cr == CONTROL_BROKEN) {
		fprintf(stderr, "bitsync apply: the daemon of %s did not "
		    "answer on its control endpoint (control.sock there, a "
		    "named pipe on Windows); is it stuck?\n", cfg.state_dir);
		rc = EXIT_UNAVAILABLE;
		goto done;
	}
	if (r.rc != EXIT_OK || (j = json_loads(r.out, 0, NULL)) == NULL) {
		fprintf(stderr, "bitsync apply: the daemon refused (exit "
		    "%d): %s", r.rc, r.errlen ? r.err : "no summary\n");
		rc = r.rc != EXIT_OK ? r.rc : EXIT_UNAVAILABLE;
		goto done;
	}
	/* --wait: follow the daemon's status file until nothing transfers
	 * or the timeout passes. */
	deadline = mono_ms() + (timeout ? (int64_t)timeout * 1000 :
	    INT64_MAX / 2);
	while (wait && mono_ms() < deadline && !stop) {
		json_t *s2 = status_file_load(cfg.status_file);
		json_int_t xfer = json_integer_value(json_object_get(
		    json_object_get(s2, "summary"), "transferring"));

		if (s2 != NULL) {
			json_decref(j);
			j = json_deep_copy(json_object_get(s2, "summary"));
		}
		json_decref(s2);
		if (xfer == 0)
			break;
		platform_wake_wait(wake, 1000);
	}
	st = j;
	if (!quiet)
		fprintf(stderr, "bitsync apply (by the daemon): %lld set(s), "
		    "%lld in sync\n", (long long)json_integer_value(
		    json_object_get(st, "sets")), (long long)
		    json_integer_value(json_object_get(st, "in_sync")));
	rc = json_integer_value(json_object_get(st, "sets")) ==
	    json_integer_value(json_object_get(st, "in_sync")) ? EXIT_OK :
	    wait ? EXIT_INVALID : EXIT_OK;
done:
	control_reply_free(&r);
	json_decref(j);
	config_free(&cfg);
	diags_free(&d);
	return rc;
}

int
cmd_apply(const struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "wait", no_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 }
	};
	struct reconcile_session s;
	struct reconcile_summary sum;
	uint64_t timeout = 0;
	int64_t deadline = 0, delay_ms = 200;
	int wait = 0, quiet = 0, ch, rc, bkrc, passes = 0, invalid = 0;
	size_t cmd_failed = 0;
	int in_process;

	while ((ch = getopt_long(argc, argv, "q", longopts, NULL)) != -1) {
		switch (ch) {
		case 'w':
			wait = 1;
			break;
		case 't':
			if (util_parse_duration(optarg, &timeout) != 0) {
				fprintf(stderr, "bitsync apply: --timeout takes "
				    "a duration such as 90s, 10m or 2h, not "
				    "'%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'q':
			quiet = 1;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (timeout > 0 && !wait) {
		fprintf(stderr, "bitsync apply: --timeout needs --wait\n");
		return EXIT_USAGE;
	}
	/* Stop between passes on ^C / SIGTERM (Windows: Ctrl-C, Ctrl-Break,
	 * console close): the engine's transfers are resumable and their
	 * state is on disk; BITS jobs go on without us. */
	if ((wake = platform_wake_new()) == NULL) {
		perror("bitsync apply");
		return EXIT_SOFTWARE;
	}
	platform_on_stop(on_stop);
	/* A daemon that runs holds the job store: ask it.  Explicit PATHs
	 * are not what it enforces, so they always reconcile here. */
	if (optind == argc &&
	    (rc = via_daemon(cli, wait, timeout, quiet)) != -1)
		goto out;
	if ((rc = reconcile_session_open(&s, cli->config_path,
	    cli->config_explicit, 1, quiet ? NULL : stderr)) != EXIT_OK)
		goto out;
	log_init(quiet ? NULL : stderr, (int)s.cfg.log_level,
	    (int)s.cfg.log_format);
	in_process = (s.ctx.ops->caps & BK_CAP_IN_PROCESS) != 0;
	if (s.ctx.ops->set_notify != NULL)
		s.ctx.ops->set_notify(s.ctx.b, on_job_event, NULL);
	if (timeout > 0)
		deadline = mono_ms() + (int64_t)timeout * 1000;
	memset(&sum, 0, sizeof(sum));
	for (;;) {
		struct reconcile_input in;
		struct reconcile_view v;

		/* Last-known-good copies belong to the manifests the
		 * agent enforces (its config's); PATHs given here are a
		 * one-off and leave them alone. */
		reconcile_load(&s.ctx, (const char *const *)argv + optind,
		    (size_t)(argc - optind), optind == argc, &in);
		if (!in.valid && passes == 0) {
			diags_sort(&in.diags);
			diags_print_text(&in.diags, stderr);
		}
		invalid = !in.valid;
		/* A person asked: failing sets are retried on the first pass
		 * whatever their backoff (--wait's later passes keep it). */
		s.ctx.retry_now = passes == 0;
		if (reconcile_plan(&s.ctx, &in, (int64_t)time(NULL), &v,
		    &bkrc) != 0) {
			reconcile_view_free(&v);
			reconcile_input_free(&in);
			rc = bkrc == BK_E_IO ? EXIT_IOERR : EXIT_UNAVAILABLE;
			goto done;
		}
		reconcile_execute(&s.ctx, &in, &v, &sum);
		reconcile_view_free(&v);
		reconcile_input_free(&in);
		passes++;
		if (stop)
			break;
		/* Done when nothing is under way: every set is in sync or
		 * has failed (and waits for its retry time, kept in the
		 * state for the next apply or the daemon).  BITS transfers
		 * without us, so there only --wait stays to watch. */
		/* Without --wait a job in TRANSIENT_ERROR (server down) is
		 * left to its retry delay: it may take days. */
		if (!sum.again && sum.working - (wait ? 0 : sum.transient)
		    == 0)
			break;
		if (!wait && !in_process)
			break;
		if (deadline > 0 && mono_ms() >= deadline) {
			fprintf(stderr, "bitsync apply: timed out after %"
			    PRIu64 "s with %zu set(s) not in sync\n", timeout,
			    sum.sets - sum.in_sync);
			break;
		}
		if (sum.again || sum.changed > 0)
			delay_ms = 200;
		else if (delay_ms < 2000)
			delay_ms += 200;
		/* Job events wake us; the timeout is only a net. */
		if (!stop)
			platform_wake_wait(wake, sum.again ? 0 :
			    (int)delay_ms * 5);
	}
	/* No daemon runs (else it was asked): the on_change commands the
	 * commits asked for run here, once; a failure stays pending for
	 * the next apply or the daemon.  Not for PATHs given here: their
	 * sets are not what the agent enforces. */
	if (optind == argc && !stop) {
		struct reconcile_input in;

		reconcile_load(&s.ctx, NULL, 0, 1, &in);
		cmd_failed = command_run_pending(s.ctx.st, in.m, &s.cfg,
		    !in.hold_all && in.nheld == 0, &stop);
		reconcile_input_free(&in);
		if (cmd_failed > 0 && !quiet)
			fprintf(stderr, "bitsync apply: %zu on_change "
			    "command(s) failed; they run again after their "
			    "set's retry_delay (see `bitsync status`)\n",
			    cmd_failed);
	}
	if (!quiet && !wait && sum.transient > 0)
		fprintf(stderr, "bitsync apply: %zu set(s) wait for the "
		    "backend to retry after a transient error; `apply --wait` "
		    "or the run daemon goes on with them\n", sum.transient);
	if (!quiet)
		fprintf(stderr, "bitsync apply: %zu set(s): %zu in sync, %zu "
		    "in progress, %zu failing, %zu drifted, %zu held\n",
		    sum.sets, sum.in_sync, sum.working, sum.failed, sum.drift,
		    sum.held);
	if (invalid || cmd_failed > 0)
		rc = EXIT_INVALID;
	else if (!wait && !in_process)
		rc = sum.errors == 0 && sum.failed == 0 ? EXIT_OK :
		    EXIT_INVALID;
	else
		/* A monitor-mode set that drifted is reported, not failed:
		 * the admin asked bitsync not to transfer it. */
		rc = sum.in_sync + sum.drift == sum.sets && sum.errors == 0 ?
		    EXIT_OK : EXIT_INVALID;
done:
	if (s.ctx.ops != NULL && s.ctx.ops->set_notify != NULL &&
	    s.ctx.b != NULL)
		s.ctx.ops->set_notify(s.ctx.b, NULL, NULL);
	reconcile_session_close(&s);
out:
	platform_on_stop(NULL);
	platform_wake_free(wake);
	wake = NULL;
	return rc;
}
