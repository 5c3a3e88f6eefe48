/* daemon.c - the portable core of `bitsync run` (see daemon.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "command.h"
#include "control.h"
#include "daemon.h"
#include "log.h"
#include "platform.h"
#include "recheck.h"
#include "status.h"
#include "util.h"

int64_t
daemon_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The daemon's counters into its status document, per set ("counters":
 * failures, retries, files and bytes committed since it started). */
static void
add_counts(json_t *st, struct reconcile_counts *cs)
{
	json_t *s;
	size_t i;

	json_array_foreach(json_object_get(st, "sets"), i, s) {
		const char *name = json_string_value(json_object_get(s,
		    "name"));
		struct reconcile_count *k;

		if (name == NULL)
			continue;
		k = reconcile_count_of(cs, name);
		json_object_set_new(s, "counters", json_pack("{s:I,s:I,s:I,"
		    "s:I}", "failures", (json_int_t)k->failures, "retries",
		    (json_int_t)k->retries, "files_committed",
		    (json_int_t)k->files, "bytes_committed",
		    (json_int_t)k->bytes));
	}
}

#define RATE_WINDOW_MS	10000

/* Each running job's rate over the last RATE_WINDOW_MS of passes, and
 * its ETA when its size is known, into the status document ("rate" in
 * bytes per second, "eta_seconds"). */
static void
add_rates(struct daemon *dm, json_t *st)
{
	int64_t now = daemon_mono_ms();
	json_t *s, *job;
	size_t i, k, n;

	/* Samples older than the window go (one is kept as its start). */
	for (i = n = 0; i < dm->nrates; i++)
		if (now - dm->rates[i].ms <= RATE_WINDOW_MS + 3000)
			dm->rates[n++] = dm->rates[i];
	dm->nrates = n;
	json_array_foreach(json_object_get(st, "sets"), i, s) {
		const char *id;
		uint64_t bytes, total;
		const struct daemon_rate *old = NULL;

		job = json_object_get(s, "job");
		if (!json_is_object(job) || (id = json_string_value(
		    json_object_get(job, "id"))) == NULL)
			continue;
		bytes = (uint64_t)json_integer_value(json_object_get(job,
		    "bytes_transferred"));
		for (k = 0; k < dm->nrates; k++)
			if (strcmp(dm->rates[k].id, id) == 0 &&
			    dm->rates[k].bytes <= bytes && (old == NULL ||
			    dm->rates[k].ms < old->ms))
				old = &dm->rates[k];
		if (old != NULL && now - old->ms >= 1000) {
			double rate = (double)(bytes - old->bytes) * 1000 /
			    (double)(now - old->ms);

			json_object_set_new(job, "rate", json_real(rate));
			total = json_is_integer(json_object_get(job,
			    "bytes_total")) ? (uint64_t)json_integer_value(
			    json_object_get(job, "bytes_total")) : 0;
			if (rate > 0 && total >= bytes && total > 0)
				json_object_set_new(job, "eta_seconds",
				    json_integer((json_int_t)((double)(total -
				    bytes) / rate + 0.5)));
		}
		dm->rates = xrealloc(dm->rates, (dm->nrates + 1) *
		    sizeof(*dm->rates));
		snprintf(dm->rates[dm->nrates].id, sizeof(dm->rates[0].id),
		    "%s", id);
		dm->rates[dm->nrates].ms = now;
		dm->rates[dm->nrates].bytes = bytes;
		dm->nrates++;
	}
}

/* Diagnostics as error records (a refused config reload). */
static void
log_diags(const struct diags *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		log_msg(d->v[i].severity == DIAG_ERROR ? LOG_LEVEL_ERROR :
		    LOG_LEVEL_WARNING, "file=%s line=%u column=%u rule=%s "
		    "error=\"%s\"", d->v[i].file ? d->v[i].file : "config",
		    d->v[i].line, d->v[i].col, d->v[i].rule, d->v[i].message);
}

int
daemon_open(struct daemon *dm, const struct cli *cli)
{
	int rc;

	memset(dm, 0, sizeof(*dm));
	dm->cli = cli;
	/* Hosts of a fleet started together spread their interval passes:
	 * any seed that differs between processes will do. */
	dm->rnd = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^
	    0x9e3779b97f4a7c15ULL;
	dm->started = (int64_t)time(NULL);
	dm->cmds = command_new();
	if ((rc = reconcile_session_open(&dm->s, cli->config_path,
	    cli->config_explicit, 1, stderr)) == EXIT_OK) {
		struct diags d;

		dm->s.ctx.events = 1;
		dm->s.ctx.counts = &dm->counts;
		log_init(stderr, (int)dm->s.cfg.log_level,
		    (int)dm->s.cfg.log_format);
		/* The folders of status_file and metrics_file: made or
		 * refused now, not by a failed write at every pass. */
		diags_init(&d);
		if (reconcile_outputs_check(&dm->s.cfg, &d) != 0) {
			log_diags(&d);
			rc = EXIT_INVALID;	/* daemon_close closes */
		}
		diags_free(&d);
	}
	return rc;
}

void
daemon_close(struct daemon *dm)
{
	if (dm->s.ctx.b != NULL && dm->s.ctx.ops->set_notify != NULL)
		dm->s.ctx.ops->set_notify(dm->s.ctx.b, NULL, NULL);
	command_free(dm->cmds);
	dm->cmds = NULL;
	reconcile_session_close(&dm->s);
	free(dm->refused);
	dm->refused = NULL;
	dm->nrefused = 0;
	diags_free(&dm->config_refused);
	free(dm->status_doc);
	dm->status_doc = NULL;
	reconcile_counts_free(&dm->counts);
	free(dm->rates);
	dm->rates = NULL;
	dm->nrates = 0;
}

int
daemon_reload(struct daemon *dm, int *rc)
{
	struct reconcile_session ns;
	struct config probe;
	struct diags d;
	int ok;

	/* Re-read the config; keep the old one when the new one is refused
	 * (its errors are on stderr). */
	log_info("event=reloading config=%s", dm->cli->config_path ?
	    dm->cli->config_path : "(default)");
	diags_init(&d);
	config_defaults(&probe);
	ok = reconcile_config_load(&probe, dm->cli->config_path,
	    !dm->cli->config_explicit, &d) == 0 &&
	    reconcile_state_dir_check(probe.state_dir, probe.path, &d) == 0 &&
	    reconcile_outputs_check(&probe, &d) == 0;
	config_free(&probe);
	if (!ok) {
		log_diags(&d);
		log_error("event=reload-refused config=%s error=\"the previous "
		    "configuration stays in force until this one is fixed\"",
		    dm->cli->config_path ? dm->cli->config_path :
		    "(default)");
		diags_free(&dm->config_refused);
		dm->config_refused = d;
		daemon_pass(dm, "reload refused");
		return 0;
	}
	diags_free(&d);
	diags_free(&dm->config_refused);
	if (dm->s.ctx.ops->set_notify != NULL)
		dm->s.ctx.ops->set_notify(dm->s.ctx.b, NULL, NULL);
	reconcile_session_close(&dm->s);
	if ((*rc = reconcile_session_open(&ns, dm->cli->config_path,
	    dm->cli->config_explicit, 1, stderr)) != EXIT_OK)
		return -1;
	dm->s = ns;
	dm->s.ctx.cfg = &dm->s.cfg;
	dm->s.ctx.events = 1;
	dm->s.ctx.counts = &dm->counts;
	log_init(stderr, (int)dm->s.cfg.log_level, (int)dm->s.cfg.log_format);
	log_info("event=reloaded config=%s", dm->cli->config_path ?
	    dm->cli->config_path : "(default)");
	return 1;
}

/* xorshift64*: the splay needs spread, not quality, and rand() gives
 * only 15 bits on Windows. */
static uint64_t
next_rnd(struct daemon *dm)
{
	dm->rnd ^= dm->rnd >> 12;
	dm->rnd ^= dm->rnd << 25;
	dm->rnd ^= dm->rnd >> 27;
	return dm->rnd * 0x2545f4914f6cdd1dULL;
}

void
daemon_schedule_interval(struct daemon *dm)
{
	uint64_t splay = dm->s.cfg.splay;

	dm->timer_ms = daemon_mono_ms() + (int64_t)dm->s.cfg.interval * 1000 +
	    (splay ? (int64_t)(next_rnd(dm) % (splay * 1000 + 1)) : 0);
}

/* When the next timed pass is due (monotonic ms): the earliest retry or
 * refresh, or the interval with its splay. */
static int64_t
next_due(const struct reconcile_view *v, int64_t now_s, int64_t timer_ms,
    uint64_t seed)
{
	int64_t due = timer_ms, mono = daemon_mono_ms(), t, wall;
	struct timespec ts;
	size_t i;

	/* Due times are wall seconds: wake at that second (and a little),
	 * not "refresh after this pass ended", or every period would start
	 * later by the length of a pass and a host's checks would drift. */
	clock_gettime(CLOCK_REALTIME, &ts);
	wall = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - 20;
	for (i = 0; i < v->plan.n; i++) {
		const struct plan_action *a = &v->plan.v[i];
		const struct state_set *r = a->recorded;
		uint64_t refresh = a->desired != NULL ?
		    a->desired->set->settings.refresh : 0;

		t = 0;
		if (a->reason == PLAN_R_BACKOFF)
			t = a->retry_at;
		else if (a->verb == PLAN_NONE && r != NULL && refresh > 0)
			t = a->check_at;
		/* This pass's recheck and commit set the check time anew
		 * (reconcile.c): the view still holds the old one. */
		else if (a->verb == PLAN_RECHECK && refresh > 0)
			t = recheck_next(seed, a->set, refresh, r != NULL ?
			    r->nfiles : 0, now_s);
		else if (a->verb == PLAN_COMPLETE && refresh > 0)
			t = recheck_next(seed, a->set, refresh,
			    a->desired->spec->job.nfiles, recheck_commit_time(
			    r != NULL && r->spec_hash != NULL && strcmp(
			    r->spec_hash, a->desired->spec->hash) == 0,
			    r != NULL ? r->last_check : 0, refresh, now_s));
		if (t > 0) {
			int64_t m = mono + t * 1000 - wall;

			if (m < due)
				due = m;
		}
	}
	return due;
}

static uint64_t
fnv(uint64_t h, const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return (h ^ 0xff) * 0x100000001b3ULL;
}


/* Whether e is an error about file f. */
static int
error_of(const struct diag *e, const char *f)
{
	return e->severity == DIAG_ERROR &&
	    strcmp(e->file ? e->file : "manifest", f) == 0;
}

/* A manifest file refused by validation is a record (platform_event) with
 * its first errors: kept at its last-known-good copy, or held.  Once per
 * file and errors, since a pass runs at every job event and timer; stderr
 * has no such line (validate and plan say it there). */
static void
report_refused(struct daemon *dm, const struct reconcile_input *in)
{
	const struct diags *d = &in->diags;
	uint64_t fp, *now = NULL;
	size_t i, j, k, nnow = 0, nerr, shown;
	char *text, *t, pos[48];
	const char *f;

	for (i = 0; i < d->n; i++) {
		f = d->v[i].file ? d->v[i].file : "manifest";
		if (!error_of(&d->v[i], f))
			continue;
		for (j = 0; j < i && !error_of(&d->v[j], f); j++)
			;
		if (j < i)
			continue;	/* this file was seen */
		fp = fnv(0xcbf29ce484222325ULL, f);
		for (j = i, nerr = 0; j < d->n; j++)
			if (error_of(&d->v[j], f)) {
				snprintf(pos, sizeof(pos), "%u:%u",
				    d->v[j].line, d->v[j].col);
				fp = fnv(fnv(fnv(fp, pos), d->v[j].rule),
				    d->v[j].message);
				nerr++;
			}
		now = xrealloc(now, (nnow + 1) * sizeof(*now));
		now[nnow++] = fp;
		for (k = 0; k < dm->nrefused && dm->refused[k] != fp; k++)
			;
		if (k < dm->nrefused)
			continue;	/* reported as it is */
		text = xasprintf("%s: %zu error(s)", f, nerr);
		for (j = i, shown = 0; j < d->n && shown < 3; j++) {
			if (!error_of(&d->v[j], f))
				continue;
			t = xasprintf("%s; %u:%u %s: %s", text, d->v[j].line,
			    d->v[j].col, d->v[j].rule, d->v[j].message);
			free(text);
			text = t;
			shown++;
		}
		log_error("file=%s result=%s error=\"%s\"", f,
		    util_strv_has(in->lkg_used, in->nlkg_used, f) ?
		    "refused-last-known-good-kept" : "refused-sets-held", text);
		platform_event(util_strv_has(in->lkg_used, in->nlkg_used, f) ?
		    PLATFORM_EV_VALIDATION_KEPT : PLATFORM_EV_VALIDATION_HELD,
		    text);
		free(text);
	}
	free(dm->refused);
	dm->refused = now;
	dm->nrefused = nnow;
}

/* How soon a pass that left refresh probes undone runs again. */
#define DEFER_MS	1000

void
daemon_pass(struct daemon *dm, const char *why)
{
	struct reconcile_input in;
	struct reconcile_view v;
	json_t *st;
	int64_t now = (int64_t)time(NULL);
	int bkrc, again = 1, rounds = 0;
	char msg[256];
	size_t i;

	/* A recheck that saw a change is planned again at once. */
	while (again && rounds++ < 3) {
		reconcile_load(&dm->s.ctx, NULL, 0, 1, &in);
		/* `bitsync apply` is a person asking: its first round retries
		 * failing sets at once; timed passes keep their backoff. */
		dm->s.ctx.retry_now = rounds == 1 && strcmp(why, "apply") == 0;
		if (rounds == 1)
			report_refused(dm, &in);
		/* A refused config reload is an error of the agent as it
		 * runs: status shows it until a reload is accepted. */
		for (i = 0; i < dm->config_refused.n; i++) {
			const struct diag *g = &dm->config_refused.v[i];

			diag_add(&in.diags, g->file, g->line, g->col,
			    g->severity, g->rule, "%s", g->message);
		}
		if (reconcile_plan(&dm->s.ctx, &in, now, &v, &bkrc) != 0) {
			log_error("event=pass-failed why=\"%s\" error=\"backend "
			    "or state unavailable (%d)\"", why, bkrc);
			reconcile_view_free(&v);
			reconcile_input_free(&in);
			dm->due_ms = daemon_mono_ms() + 10000;
			return;
		}
		reconcile_execute(&dm->s.ctx, &in, &v, &dm->last);
		again = dm->last.again;
		if (!again) {
			/* on_change runs the commits of this pass asked for,
			 * from the manifest in force. */
			command_schedule(dm->cmds, dm->s.ctx.st, in.m,
			    &dm->s.cfg, dm->s.ctx.retry_now,
			    !in.hold_all && in.nheld == 0);
			st = status_build(&in, &v, now, 1);
			add_counts(st, &dm->counts);
			add_rates(dm, st);
			command_status(dm->cmds, dm->s.ctx.st, st);
			json_object_set_new(st, "agent", json_pack("{s:b,s:I,"
			    "s:s,s:I}", "running", 1, "pid", (json_int_t)getpid(),
			    "version", BITSYNC_VERSION, "since",
			    (json_int_t)dm->started));
			free(dm->status_doc);
			dm->status_doc = json_dumps(st, JSON_COMPACT);
			if (dm->s.cfg.status_file != NULL &&
			    status_write_file(dm->s.cfg.status_file, st) == -1)
				log_error("file=%s key=status_file error=\"%s\"",
				    dm->s.cfg.status_file, strerror(errno));
			if (dm->s.cfg.metrics_file != NULL &&
			    status_write_metrics(dm->s.cfg.metrics_file, st,
			    now) == -1)
				log_error("file=%s key=metrics_file error=\"%s\"",
				    dm->s.cfg.metrics_file, strerror(errno));
			json_decref(st);
			dm->due_ms = next_due(&v, now, dm->timer_ms,
			    dm->s.ctx.jitter_seed);
			/* Refresh probes left over (the pass's probe budget,
			 * or one that gave way to a request): soon, after
			 * what made them give way is served. */
			if (dm->last.deferred > 0 &&
			    dm->due_ms > daemon_mono_ms() + DEFER_MS)
				dm->due_ms = daemon_mono_ms() + DEFER_MS;
			if (dm->last.working > 0 &&
			    dm->due_ms > daemon_mono_ms() + PROGRESS_MS)
				dm->due_ms = daemon_mono_ms() + PROGRESS_MS;
		}
		reconcile_view_free(&v);
		reconcile_input_free(&in);
		now = (int64_t)time(NULL);
	}
	/* A pass over 10,000 sets allocates tens of MiB and frees them all;
	 * hand the pages back so an idle daemon is small (issue 4: under
	 * 16 MiB at 10,000 sets). */
	platform_trim_heap();
	if (dm->on_status != NULL) {
		snprintf(msg, sizeof(msg), "STATUS=%zu sets: %zu in sync, %zu "
		    "transferring, %zu failing, %zu drift, %zu held",
		    dm->last.sets, dm->last.in_sync, dm->last.working,
		    dm->last.failed, dm->last.drift, dm->last.held);
		dm->on_status(msg);
	}
}

void
daemon_debounce(int64_t *debounce, int complete, int other)
{
	int64_t now = daemon_mono_ms();

	if (complete)
		*debounce = now + DEBOUNCE_WRITE_MS;
	else if (other && (*debounce == 0 ||
	    *debounce < now + DEBOUNCE_REMOVE_MS))
		*debounce = now + DEBOUNCE_REMOVE_MS;
}

int
daemon_wait_ms(const struct daemon *dm, int64_t debounce)
{
	int64_t now = daemon_mono_ms(), timeout = dm->due_ms - now;

	if (debounce > 0 && debounce - now < timeout)
		timeout = debounce - now;
	{
		int cw = command_wait_ms(dm->cmds);

		if (cw >= 0 && cw < timeout)
			timeout = cw;
	}
	if (timeout < 0)
		timeout = 0;
	if (timeout > INT_MAX)
		timeout = INT_MAX;
	return (int)timeout;
}

void
daemon_run_due(struct daemon *dm, int64_t *debounce)
{
	int64_t now = daemon_mono_ms();

	/* A run that ended shows in status at once: a pass rebuilds it. */
	if (dm->cmds != NULL && command_poll(dm->cmds, dm->s.ctx.st))
		dm->due_ms = now;
	if (*debounce > 0 && now >= *debounce) {
		/* Fleets: the hosts given one push start its transfers
		 * spread over start_splay (a timed pass may come sooner). */
		if (dm->s.cfg.start_splay > 0 && !dm->start_splayed) {
			int64_t d = (int64_t)(next_rnd(dm) %
			    (dm->s.cfg.start_splay * 1000 + 1));

			dm->start_splayed = 1;
			*debounce = now + d;
			log_info("event=manifest-changed start_splay=\"acting "
			    "on it in %lld.%03lld s\"", (long long)(d / 1000),
			    (long long)(d % 1000));
			return;
		}
		dm->start_splayed = 0;
		*debounce = 0;
		daemon_pass(dm, "manifest changed");
	} else if (now >= dm->due_ms) {
		if (now >= dm->timer_ms)
			daemon_schedule_interval(dm);
		daemon_pass(dm, "due");
	}
}

/* A scratch stream's content, newly allocated and NUL-terminated, in
 * *len. */
static char *
slurp(FILE *f, size_t *len)
{
	long n;
	char *p;

	fflush(f);
	n = ftell(f);
	*len = n > 0 ? (size_t)n : 0;
	p = xmalloc(*len + 1);
	rewind(f);
	*len = fread(p, 1, *len, f);
	p[*len] = '\0';
	return p;
}

void
daemon_serve(struct daemon *dm, long (*rd)(void *arg, char *buf, size_t len),
    int (*wr)(void *arg, const char *buf, size_t len), void *arg)
{
	struct control_request rq;
	const char *why;
	char *out = NULL, *err = NULL;
	size_t outlen = 0, errlen = 0;
	FILE *fo = NULL, *fe = NULL;
	int rc = EXIT_OK;

	if (control_read_request(rd, arg, &rq, &why) == -1) {
		err = xasprintf("bitsync: the agent refused %s on its control "
		    "endpoint\n", why);
		log_warn("event=control-refused reason=\"%s\"", why);
		control_write_reply(wr, arg, EXIT_USAGE, "", 0, err,
		    strlen(err));
		goto done;
	}
	/* Rendered in full before the reply's header can say its length;
	 * a plan of 10,000 sets is a few MiB, so not in a fixed buffer. */
	if ((fo = platform_scratch(dm->s.cfg.state_dir)) == NULL ||
	    (fe = platform_scratch(dm->s.cfg.state_dir)) == NULL) {
		err = xasprintf("bitsync: the agent has no scratch file in %s "
		    "for its answer: %s\n", dm->s.cfg.state_dir,
		    strerror(errno));
		log_error("event=control-failed reason=\"no scratch file\" "
		    "dir=%s error=\"%s\"", dm->s.cfg.state_dir,
		    strerror(errno));
		control_write_reply(wr, arg, EXIT_IOERR, "", 0, err,
		    strlen(err));
		goto done;
	}
	switch (rq.verb) {
	case CONTROL_APPLY:
		daemon_pass(dm, "apply");
		fprintf(fo, "{\"sets\":%zu,\"in_sync\":%zu,"
		    "\"transferring\":%zu,\"failed\":%zu,\"drift\":%zu,"
		    "\"held\":%zu,\"errors\":%zu}\n", dm->last.sets,
		    dm->last.in_sync, dm->last.working, dm->last.failed,
		    dm->last.drift, dm->last.held, dm->last.errors);
		break;
	case CONTROL_STATUS:
		/* Served from memory: `status` beside a daemon never opens
		 * the job store (the daemon holds it) nor needs the file. */
		if (dm->status_doc == NULL) {
			fputs("bitsync: the agent has not ended a pass yet\n",
			    fe);
			rc = EXIT_UNAVAILABLE;
		} else
			fprintf(fo, "%s\n", dm->status_doc);
		break;
	case CONTROL_PLAN:
		/* Rendered here, where the job store is open. */
		rc = plan_render(&dm->s.ctx, (const char *const *)rq.paths,
		    rq.npaths, rq.json, rq.detailed, rq.verbose, fo, fe);
		break;
	}
	out = slurp(fo, &outlen);
	err = slurp(fe, &errlen);
	control_write_reply(wr, arg, rc, out, outlen, err, errlen);
done:
	if (fo != NULL)
		fclose(fo);
	if (fe != NULL)
		fclose(fe);
	free(out);
	free(err);
	control_request_free(&rq);
}
