/* cmd_status.c - `bitsync status`: every set, what it is doing and why.
 *
 * While the daemon runs it is the truth (it holds the job store): status
 * asks it over the control endpoint ("status\n", answered from memory),
 * and falls back to its status_file (rewritten after every pass and every
 * 2 s while transfers run) only when that does not answer.  Without a
 * daemon the status is worked out here from the manifest, the state and
 * the jobs, without changing anything. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "control.h"
#include "platform.h"
#include "reconcile.h"
#include "command.h"
#include "status.h"
#include "util.h"

/* The running daemon's document, asked over its control endpoint; NULL
 * when none answers (or it has not ended a pass yet). */
static json_t *
ask_daemon(const struct config *cfg)
{
	struct control_reply r;
	json_t *j = NULL;

	if (cfg->state_dir == NULL ||
	    control_call(cfg->state_dir, "status\n", 7, &r) != CONTROL_OK)
		return NULL;
	if (r.rc == 0)
		j = json_loads(r.out, 0, NULL);
	if (j != NULL && json_object_get(j, "sets") == NULL) {
		json_decref(j);		/* not a status document */
		j = NULL;
	}
	control_reply_free(&r);
	return j;
}

/* The daemon's document, when a daemon that is alive wrote it. */
static json_t *
from_daemon(const struct config *cfg)
{
	json_t *j;
	json_int_t pid;

	if ((j = ask_daemon(cfg)) != NULL)
		return j;
	if ((j = status_file_load(cfg->status_file)) == NULL)
		return NULL;
	pid = json_integer_value(json_object_get(j, "pid"));
	if (!platform_pid_alive((long)pid)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* Worked out with no agent running, a job that would be transferring is
 * not: say so (a daemon killed mid-transfer left it so). */
static void
paused(json_t *j)
{
	json_t *s;
	size_t i;

	json_array_foreach(json_object_get(j, "sets"), i, s)
		if (strcmp(json_string_value(json_object_get(s, "state")),
		    "transferring") == 0 && json_is_object(json_object_get(s,
		    "job"))) {
			json_object_set_new(s, "state", json_string("paused"));
			json_object_set_new(s, "reason", json_string("the "
			    "agent is not running: `systemctl start bitsync` "
			    "or `bitsync apply` goes on with the transfer"));
		}
}

static json_t *
compute(const struct cli *cli, int *rc)
{
	struct reconcile_session s;
	struct reconcile_input in;
	struct reconcile_view v;
	json_t *j = NULL;
	int bkrc;

	if ((*rc = reconcile_session_open(&s, cli->config_path,
	    cli->config_explicit, 0, NULL)) != EXIT_OK)
		return NULL;
	reconcile_load(&s.ctx, NULL, 0, 0, &in);
	if (reconcile_plan(&s.ctx, &in, (int64_t)time(NULL), &v, &bkrc) == 0) {
		j = status_build(&in, &v, (int64_t)time(NULL), 0);
		json_object_set_new(j, "agent", json_pack("{s:b}", "running",
		    0));
		/* Pending and failed on_change runs are in the state. */
		command_status(NULL, s.ctx.st, j);
		paused(j);
	}
	else
		*rc = bkrc == BK_E_IO ? EXIT_IOERR : EXIT_UNAVAILABLE;
	reconcile_view_free(&v);
	reconcile_input_free(&in);
	reconcile_session_close(&s);
	return j;
}

/* Whether another process (a daemon, perhaps starting, or an apply)
 * holds the reconcile lock.  Taking it for an instant costs a starting
 * daemon nothing that computing the status here would not. */
static int
store_held(const struct config *cfg)
{
	struct platform_lock *lk = NULL;
	int r;

	if (cfg->state_dir == NULL)
		return 0;
	r = platform_lock(cfg->state_dir, "reconcile.lock", &lk);
	if (r == 0)
		platform_unlock(lk);
	return r == 1;
}

static json_t *
get(const struct cli *cli, int *rc)
{
	struct config cfg;
	struct diags d;
	json_t *j = NULL;
	int tries;

	*rc = EXIT_OK;
	diags_init(&d);
	config_defaults(&cfg);
	if (reconcile_config_load(&cfg, cli->config_path,
	    !cli->config_explicit, &d) != 0) {
		diags_print_text(&d, stderr);
		*rc = EXIT_INVALID;
	} else {
		/* A daemon that holds the store but does not answer yet is
		 * starting (its first pass runs): give it a few seconds. */
		for (tries = 0; (j = from_daemon(&cfg)) == NULL &&
		    tries < 50 && store_held(&cfg); tries++)
			platform_sleep_ms(100);
		if (j == NULL)
			j = compute(cli, rc);
		/* ...or it started while this process looked. */
		for (tries = 0; j == NULL && *rc == EXIT_UNAVAILABLE &&
		    tries < 50 && store_held(&cfg); tries++) {
			platform_sleep_ms(100);
			if ((j = from_daemon(&cfg)) != NULL)
				*rc = EXIT_OK;
		}
	}
	config_free(&cfg);
	diags_free(&d);
	return j;
}

int
cmd_status(const struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "watch", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *j, *prev = NULL;
	int json = 0, watchmode = 0, ch, rc;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (strcmp(optarg, "json") == 0)
				json = 1;
			else if (strcmp(optarg, "text") != 0) {
				fprintf(stderr, "bitsync status: --format is "
				    "text or json, not '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'w':
			watchmode = 1;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bitsync status: takes no PATH\n");
		return EXIT_USAGE;
	}
	for (;;) {
		if ((j = get(cli, &rc)) == NULL) {
			json_decref(prev);
			return rc;
		}
		if (watchmode && !json)
			fputs("\033[H\033[2J", stdout);
		if (json) {
			json_dumpf(j, stdout, JSON_INDENT(2));
			putchar('\n');
		} else {
			/* Error texts carry what servers and local users
			 * wrote: no terminal escapes from them. */
			status_scrub(j);
			status_print_text(j, stdout, watchmode);
		}
		fflush(stdout);
		/* 0 when every set is in sync, 1 otherwise: scripts can ask
		 * "is this machine done?" */
		rc = json_integer_value(json_object_get(json_object_get(j,
		    "summary"), "in_sync")) == json_integer_value(
		    json_object_get(json_object_get(j, "summary"), "sets")) &&
		    json_is_true(json_object_get(json_object_get(j,
		    "manifest"), "valid")) ? EXIT_OK : EXIT_INVALID;
		json_decref(prev);
		prev = j;
		if (!watchmode) {
			json_decref(prev);
			return rc;
		}
		sleep(1);
	}
}
