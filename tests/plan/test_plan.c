/* test_plan.c - the planner against design §4's table, row by row. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plan.h"
#include "recheck.h"
#include "spec.h"
#include "util.h"

static int failures;

#define NOW 1000000

enum { REC_NONE, REC_SAME, REC_OTHER, REC_NEVER };
enum { LOC_OK, LOC_MISSING, LOC_SIZE, LOC_SHA, LOC_SYMLINK, LOC_MTIME };

struct row {
	const char *name;
	int mode;		/* MODE_* */
	int declared;
	int rec;		/* REC_* */
	int local;		/* LOC_* of the first file */
	int nown;		/* own jobs */
	enum bk_state state;
	int other_spec;		/* own job carries another spec hash */
	int foreign;		/* a look-alike job bitsync did not create */
	int64_t since_check;
	uint64_t refresh;
	unsigned attempts;
	int64_t next_retry;	/* relative to NOW; 0: none */
	int64_t modified;	/* job's last change, relative to NOW */
	int on_remove;
	int held;		/* its manifest file is invalid */
	int remote_changed;
	int create_pending;	/* relative; 0: none */
	enum plan_verb verb;
	enum plan_reason reason;
	size_t ncancel, nremove, nforeign;
};

static const char *const hdrs[] = { "X-Fleet: contoso" };
static const char *const proxies[] = { "proxy.corp.example:8080" };

static struct msource src = {
	.name = "cdn", .url = "https://downloads.example.com/pkgs/",
	.kind = SOURCE_HTTPS, .proxy_usage = PROXY_OVERRIDE,
	.proxy_servers = proxies, .nproxy_servers = 1,
	.headers = hdrs, .nheaders = 1,
};

/* The brief's defaults, written out so this test needs no manifest.c. */
static const struct msettings defaults = {
	.priority = PRIO_NORMAL, .refresh = 21600, .retry_delay = 600,
	.no_progress_timeout = 14 * 86400, .max_download_time = 90 * 86400,
	.on_remove = ON_REMOVE_KEEP, .mode = MODE_ENFORCE,
};

static void
make_set(struct mset *s, struct mfile *f, const char *name, int mode,
    int on_remove)
{
	memset(f, 0, 2 * sizeof(*f));
	f[0].remote = "a.bin";
	f[0].local = "a.bin";
	f[0].has_sha256 = 1;
	memset(f[0].sha256, 0xab, 32);
	f[1].remote = "sub/b.bin";
	f[1].local = "x/b.bin";
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->pos.file = "/etc/bitsync/manifest.d/10-app.yaml";
	s->source_name = "cdn";
	s->source = &src;
	s->path = "";
	s->destination = "/srv/app";
	s->files = f;
	s->nfiles = 2;
	s->settings = defaults;
	s->settings.mode = (enum set_mode)mode;
	s->settings.on_remove = (enum on_remove)on_remove;
}

static void
fill_recorded(struct state_set *r, struct state_file *rf, struct state_job *rj,
    const struct spec *sp, const struct row *w, const char *name)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	r->name = (char *)name;
	r->manifest_file = (char *)"/etc/bitsync/manifest.d/10-app.yaml";
	r->on_remove = w->on_remove;
	r->spec_hash = w->rec == REC_SAME ? (char *)sp->hash :
	    w->rec == REC_OTHER ? (char *)"0000000000000000000000000000000000000000000000000000000000000000" :
	    NULL;
	if (r->spec_hash != NULL)
		r->last_success = r->last_check = NOW - w->since_check;
	r->attempts = w->attempts;
	r->next_retry = w->next_retry ? NOW + w->next_retry : 0;
	r->remote_changed = w->remote_changed;
	r->create_pending = w->create_pending ? NOW + w->create_pending : 0;
	/* Files are recorded only when a job was completed. */
	for (i = 0; r->spec_hash != NULL && i < sp->job.nfiles; i++) {
		memset(&rf[i], 0, sizeof(rf[i]));
		rf[i].local = (char *)sp->files[i].local;
		rf[i].remote = (char *)sp->files[i].remote;
		rf[i].local_size = 10;
		rf[i].local_mtime_ns = 100;
		rf[i].has_sha256 = 1;
		memset(rf[i].sha256, i == 0 ? 0xab : 0xcd, 32);
	}
	r->files = rf;
	r->nfiles = r->spec_hash != NULL ? sp->job.nfiles : 0;
	for (i = 0; i < (size_t)w->nown; i++) {
		memset(&rj[i], 0, sizeof(rj[i]));
		rj[i].guid.b[0] = (uint8_t)(i + 1);
		rj[i].created = NOW - 1000 + (int64_t)i;
	}
	r->jobs = rj;
	r->njobs = (size_t)w->nown;
}

static void
run_row(const struct row *w)
{
	struct mset set;
	struct mfile files[2];
	struct spec sp;
	struct plan_obs obs[2], robs[2];
	const struct plan_obs *robsp[1];
	struct plan_desired d;
	struct state_set rec;
	struct state_file rf[2];
	struct state_job rj[4];
	struct bk_job jobs[8];
	char other_desc[128];
	const char *held[1] = { "/etc/bitsync/manifest.d/10-app.yaml" };
	struct plan_input in;
	struct plan p;
	size_t i, nj = 0;

	make_set(&set, files, "app", w->mode, w->on_remove);
	if (spec_build(&set, PLATFORM_POSIX, &sp) != 0) {
		printf("FAIL %s: spec_build\n", w->name);
		failures++;
		return;
	}
	memset(obs, 0, sizeof(obs));
	for (i = 0; i < 2; i++) {
		obs[i].exists = 1;
		obs[i].size = 10;
		obs[i].mtime_ns = 100;
		obs[i].hashed = 1;
		memset(obs[i].sha256, i == 0 ? 0xab : 0xcd, 32);
	}
	/* sp->files is sorted by local path: "/srv/app/a.bin" first. */
	switch (w->local) {
	case LOC_MISSING:
		obs[0].exists = 0;
		break;
	case LOC_SYMLINK:
		obs[0].exists = -1;
		break;
	case LOC_SIZE:
		obs[0].size = 11;
		break;
	case LOC_MTIME:
		obs[0].mtime_ns = 101;
		break;
	case LOC_SHA:
		obs[0].sha256[5] ^= 1;
		break;
	}
	memcpy(robs, obs, sizeof(obs));
	robsp[0] = robs;
	d.set = &set;
	d.spec = &sp;
	d.obs = obs;
	if (w->rec != REC_NONE)
		fill_recorded(&rec, rf, rj, &sp, w, "app");

	snprintf(other_desc, sizeof(other_desc), "%sapp spec=%064d",
	    SPEC_DESC_PREFIX, 7);
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < (size_t)w->nown; i++) {
		jobs[nj].id.b[0] = (uint8_t)(i + 1);
		jobs[nj].display_name = (char *)"bitsync:app";
		jobs[nj].description = w->other_spec ? other_desc :
		    (char *)sp.description;
		jobs[nj].state = w->state;
		jobs[nj].created = NOW - 500 + (time_t)i;
		jobs[nj].modified = NOW + w->modified;
		nj++;
	}
	if (w->foreign == 1) {
		/* Same display name and description as ours, GUID unknown. */
		jobs[nj].id.b[0] = 0x99;
		jobs[nj].display_name = (char *)"bitsync:app";
		jobs[nj].description = (char *)sp.description;
		jobs[nj].state = BK_TRANSFERRED;
		jobs[nj].created = NOW - 10;
		nj++;
	} else if (w->foreign == 2) {
		/* A create of another spec cut short before its GUID was
		 * recorded: ours when it is younger than the pending mark. */
		jobs[nj].id.b[0] = 0x55;
		jobs[nj].display_name = (char *)"bitsync:app";
		jobs[nj].description = other_desc;
		jobs[nj].state = BK_SUSPENDED;
		jobs[nj].created = NOW - 10;
		nj++;
	}
	/* An unrelated job of the account, never a candidate. */
	jobs[nj].id.b[0] = 0x77;
	jobs[nj].display_name = (char *)"Windows Update";
	jobs[nj].state = BK_TRANSFERRING;
	nj++;

	memset(&in, 0, sizeof(in));
	in.desired = w->declared ? &d : NULL;
	in.ndesired = w->declared ? 1 : 0;
	in.jobs = jobs;
	in.njobs = nj;
	in.recorded = w->rec != REC_NONE ? &rec : NULL;
	in.nrecorded = w->rec != REC_NONE ? 1 : 0;
	in.recorded_obs = robsp;
	in.held_files = w->held ? held : NULL;
	in.nheld_files = w->held ? 1 : 0;
	in.now = NOW;
	in.jitter_seed = 42;
	set.settings.refresh = w->refresh;
	set.settings.retry_delay = 600;

	if (plan_make(&in, &p) != 0) {
		printf("FAIL %s: plan_make\n", w->name);
		failures++;
		goto done;
	}
	if (p.n != (w->declared || w->rec != REC_NONE ? 1u : 0u)) {
		printf("FAIL %s: %zu actions\n", w->name, p.n);
		failures++;
	} else if (p.n == 1 && (p.v[0].verb != w->verb ||
	    p.v[0].reason != w->reason || p.v[0].ncancel != w->ncancel ||
	    p.v[0].nremove != w->nremove || p.v[0].nforeign != w->nforeign)) {
		printf("FAIL %s: got %s (%s) cancel %zu remove %zu foreign %zu;"
		    " want %s (%s) cancel %zu remove %zu foreign %zu\n",
		    w->name, plan_verb_name(p.v[0].verb),
		    plan_reason_text(p.v[0].reason), p.v[0].ncancel,
		    p.v[0].nremove, p.v[0].nforeign, plan_verb_name(w->verb),
		    plan_reason_text(w->reason), w->ncancel, w->nremove,
		    w->nforeign);
		failures++;
	} else
		printf("ok   %s -> %s\n", w->name,
		    p.n ? plan_verb_name(p.v[0].verb) : "(no action)");
	/* Foreign jobs are never in a cancel list. */
	for (i = 0; p.n == 1 && i < p.v[0].ncancel; i++)
		if (p.v[0].cancel[i]->id.b[0] >= 0x77) {
			printf("FAIL %s: cancels a foreign job\n", w->name);
			failures++;
		}
	if (p.n == 1 && p.v[0].verb == PLAN_REDUCE_DUPLICATES &&
	    p.v[0].job->id.b[0] != (uint8_t)w->nown) {
		printf("FAIL %s: kept job %d, not the newest\n", w->name,
		    p.v[0].job->id.b[0]);
		failures++;
	}
	plan_free(&p);
done:
	spec_free(&sp);
}

#define E MODE_ENFORCE
#define M MODE_MONITOR
#define K ON_REMOVE_KEEP
#define DEL ON_REMOVE_DELETE

static const struct row rows[] = {
	/* no job; in sync; local intact; refresh not due -> none */
	/* (checked this second: whether a file's slice fell in a longer
	 * span depends on the host's phase; test_recheck_grid) */
	{ "in sync, refresh not due", E, 1, REC_SAME, LOC_OK, 0, 0, 0, 0,
	    0, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_NONE, PLAN_R_IN_SYNC, 0, 0, 0 },
	{ "in sync, refresh 0 = never", E, 1, REC_SAME, LOC_OK, 0, 0, 0, 0,
	    99999999, 0, 0, 0, 0, K, 0, 0, 0, PLAN_NONE, PLAN_R_IN_SYNC, 0, 0, 0 },
	{ "in sync, refresh due -> recheck", E, 1, REC_SAME, LOC_OK, 0, 0, 0, 0,
	    21600, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_RECHECK, PLAN_R_REFRESH_DUE, 0, 0, 0 },
	{ "monitor, refresh due -> recheck", M, 1, REC_SAME, LOC_OK, 0, 0, 0, 0,
	    30000, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_RECHECK, PLAN_R_REFRESH_DUE, 0, 0, 0 },
	/* no job and not in sync -> create / report drift */
	{ "never applied -> create", E, 1, REC_NONE, LOC_MISSING, 0, 0, 0, 0,
	    0, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_CREATE, PLAN_R_NEW, 0, 0, 0 },
	{ "recorded, never completed -> create", E, 1, REC_NEVER, LOC_MISSING, 0, 0, 0, 0,
	    0, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_CREATE, PLAN_R_NEW, 0, 0, 0 },
	{ "file missing -> create", E, 1, REC_SAME, LOC_MISSING, 0, 0, 0, 0,
	    10, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_CREATE, PLAN_R_MISSING, 0, 0, 0 },
	{ "symlink planted -> create", E, 1, REC_SAME, LOC_SYMLINK, 0, 0, 0, 0,
	    10, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_CREATE, PLAN_R_MISSING, 0, 0, 0 },
	{ "size drift -> create", E, 1, REC_SAME, LOC_SIZE, 0, 0, 0, 0,
	    10, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_CREATE, PLAN_R_DRIFTED, 0, 0, 0 },
	{ "mtime drift -> create", E, 1, REC_SAME, LOC_MTIME, 0, 0, 0, 0,
	    10, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_CREATE, PLAN_R_DRIFTED, 0, 0, 0 },
	{ "sha256 drift -> create", E, 1, REC_SAME, LOC_SHA, 0, 0, 0, 0,
	    10, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_CREATE, PLAN_R_DRIFTED, 0, 0, 0 },
	{ "spec changed -> create", E, 1, REC_OTHER, LOC_OK, 0, 0, 0, 0,
	    10, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_CREATE, PLAN_R_SPEC_CHANGED, 0, 0, 0 },
	{ "remote changed -> create", E, 1, REC_SAME, LOC_OK, 0, 0, 0, 0,
	    10, 21600, 0, 0, 0, K, 0, 1, 0, PLAN_CREATE, PLAN_R_REMOTE_CHANGED, 0, 0, 0 },
	{ "monitor, file missing -> report drift", M, 1, REC_SAME, LOC_MISSING, 0, 0, 0, 0,
	    10, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_REPORT_DRIFT, PLAN_R_MISSING, 0, 0, 0 },
	{ "monitor, never applied -> report drift", M, 1, REC_NONE, LOC_MISSING, 0, 0, 0, 0,
	    0, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_REPORT_DRIFT, PLAN_R_NEW, 0, 0, 0 },
	{ "monitor, remote changed -> report drift", M, 1, REC_SAME, LOC_OK, 0, 0, 0, 0,
	    10, 21600, 0, 0, 0, K, 0, 1, 0, PLAN_REPORT_DRIFT, PLAN_R_REMOTE_CHANGED, 0, 0, 0 },
	{ "monitor, in sync -> none", M, 1, REC_SAME, LOC_OK, 0, 0, 0, 0,
	    10, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_NONE, PLAN_R_IN_SYNC, 0, 0, 0 },
	/* own job, same spec */
	{ "own SUSPENDED -> resume", E, 1, REC_NEVER, LOC_MISSING, 1, BK_SUSPENDED, 0, 0,
	    0, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_RESUME, PLAN_R_JOB_SUSPENDED, 0, 0, 0 },
	{ "own QUEUED -> wait", E, 1, REC_NEVER, LOC_MISSING, 1, BK_QUEUED, 0, 0,
	    0, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_WAIT, PLAN_R_JOB_ACTIVE, 0, 0, 0 },
	{ "own CONNECTING -> wait", E, 1, REC_NEVER, LOC_MISSING, 1, BK_CONNECTING, 0, 0,
	    0, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_WAIT, PLAN_R_JOB_ACTIVE, 0, 0, 0 },
	{ "own TRANSFERRING -> wait", E, 1, REC_NEVER, LOC_MISSING, 1, BK_TRANSFERRING, 0, 0,
	    0, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_WAIT, PLAN_R_JOB_ACTIVE, 0, 0, 0 },
	{ "own TRANSIENT_ERROR -> wait", E, 1, REC_NEVER, LOC_MISSING, 1, BK_TRANSIENT_ERROR, 0, 0,
	    0, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_WAIT, PLAN_R_JOB_TRANSIENT, 0, 0, 0 },
	{ "own TRANSFERRED -> complete after verify", E, 1, REC_NEVER, LOC_MISSING, 1, BK_TRANSFERRED, 0, 0,
	    0, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_COMPLETE, PLAN_R_TRANSFERRED, 0, 0, 0 },
	{ "own ERROR, backoff not passed -> wait", E, 1, REC_NEVER, LOC_MISSING, 1, BK_ERROR, 0, 0,
	    0, 21600, 0, 0, -60, K, 0, 0, 0, PLAN_WAIT, PLAN_R_BACKOFF, 0, 0, 0 },
	{ "own ERROR, backoff passed -> retry", E, 1, REC_NEVER, LOC_MISSING, 1, BK_ERROR, 0, 0,
	    0, 21600, 0, 0, -800, K, 0, 0, 0, PLAN_RETRY, PLAN_R_JOB_ERROR, 0, 0, 0 },
	/* attempts: failures recorded, this one included (the first pass
	 * that sees an ERROR records 1; a retry that fails again, 2) */
	{ "own ERROR, 2nd failure, 1200s doubled backoff not passed", E, 1, REC_NEVER, LOC_MISSING, 1, BK_ERROR, 0, 0,
	    0, 21600, 2, 0, -800, K, 0, 0, 0, PLAN_WAIT, PLAN_R_BACKOFF, 0, 0, 0 },
	{ "own ERROR, 2nd failure, backoff passed -> retry", E, 1, REC_NEVER, LOC_MISSING, 1, BK_ERROR, 0, 0,
	    0, 21600, 2, 0, -1600, K, 0, 0, 0, PLAN_RETRY, PLAN_R_JOB_ERROR, 0, 0, 0 },
	{ "own ERROR, recorded next_retry later -> wait", E, 1, REC_NEVER, LOC_MISSING, 1, BK_ERROR, 0, 0,
	    0, 21600, 1, 500, -99999, K, 0, 0, 0, PLAN_WAIT, PLAN_R_BACKOFF, 0, 0, 0 },
	{ "own ERROR, repeated failures -> cancel and recreate", E, 1, REC_NEVER, LOC_MISSING, 1, BK_ERROR, 0, 0,
	    0, 21600, PLAN_RECREATE_EVERY - 1, 0, -99999, K, 0, 0, 0, PLAN_CANCEL_RECREATE, PLAN_R_TOO_MANY_ERRORS, 1, 0, 0 },
	{ "own ACKNOWLEDGED counts as no job", E, 1, REC_SAME, LOC_OK, 1, BK_ACKNOWLEDGED, 0, 0,
	    10, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_NONE, PLAN_R_IN_SYNC, 0, 0, 0 },
	/* own job, other spec -> cancel, then create */
	{ "own job of another spec -> cancel and recreate", E, 1, REC_SAME, LOC_OK, 1, BK_TRANSFERRING, 1, 0,
	    10, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_CANCEL_RECREATE, PLAN_R_SPEC_CHANGED, 1, 0, 0 },
	{ "own SUSPENDED of another spec -> cancel and recreate", E, 1, REC_NEVER, LOC_MISSING, 1, BK_SUSPENDED, 1, 0,
	    0, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_CANCEL_RECREATE, PLAN_R_SPEC_CHANGED, 1, 0, 0 },
	/* monitor mode never transfers */
	{ "monitor, own TRANSFERRING -> suspend", M, 1, REC_NEVER, LOC_MISSING, 1, BK_TRANSFERRING, 0, 0,
	    0, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_SUSPEND, PLAN_R_MONITOR, 0, 0, 0 },
	{ "monitor, own SUSPENDED -> report drift", M, 1, REC_NEVER, LOC_MISSING, 1, BK_SUSPENDED, 0, 0,
	    0, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_REPORT_DRIFT, PLAN_R_NEW, 0, 0, 0 },
	{ "monitor, own TRANSFERRED -> report drift, no complete", M, 1, REC_SAME, LOC_SIZE, 1, BK_TRANSFERRED, 0, 0,
	    10, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_REPORT_DRIFT, PLAN_R_DRIFTED, 0, 0, 0 },
	{ "monitor, own ERROR -> report drift, no retry", M, 1, REC_SAME, LOC_MISSING, 1, BK_ERROR, 0, 0,
	    10, 21600, 0, 0, -99999, K, 0, 0, 0, PLAN_REPORT_DRIFT, PLAN_R_MISSING, 0, 0, 0 },
	{ "monitor, own job of another spec -> report drift", M, 1, REC_OTHER, LOC_OK, 1, BK_SUSPENDED, 1, 0,
	    10, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_REPORT_DRIFT, PLAN_R_SPEC_CHANGED, 0, 0, 0 },
	/* more than one own job -> cancel all but the newest */
	{ "two own jobs -> reduce duplicates", E, 1, REC_NEVER, LOC_MISSING, 2, BK_TRANSFERRING, 0, 0,
	    0, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_REDUCE_DUPLICATES, PLAN_R_DUPLICATES, 1, 0, 0 },
	{ "four own jobs -> reduce duplicates", E, 1, REC_SAME, LOC_OK, 4, BK_SUSPENDED, 0, 1,
	    10, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_REDUCE_DUPLICATES, PLAN_R_DUPLICATES, 3, 0, 1 },
	/* a job bitsync did not create is never touched */
	{ "foreign look-alike, nothing recorded -> create beside it", E, 1, REC_NONE, LOC_MISSING, 0, 0, 0, 1,
	    0, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_CREATE, PLAN_R_NEW, 0, 0, 1 },
	{ "foreign look-alike TRANSFERRED, in sync -> none", E, 1, REC_SAME, LOC_OK, 0, 0, 0, 1,
	    10, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_NONE, PLAN_R_IN_SYNC, 0, 0, 1 },
	{ "foreign look-alike of an undeclared set -> forget, no cancel", E, 0, REC_SAME, LOC_OK, 0, 0, 0, 1,
	    10, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_CANCEL_ORPHAN, PLAN_R_UNDECLARED, 0, 0, 1 },
	{ "foreign look-alike, own job too -> wait on own only", E, 1, REC_NEVER, LOC_MISSING, 1, BK_TRANSFERRING, 0, 1,
	    0, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_WAIT, PLAN_R_JOB_ACTIVE, 0, 0, 1 },
	/* create pending when a crash came: the exact job is adopted */
	{ "unrecorded job after a crash -> adopt", E, 1, REC_NEVER, LOC_MISSING, 0, 0, 0, 1,
	    0, 21600, 0, 0, 0, K, 0, 0, -20, PLAN_ADOPT, PLAN_R_UNRECORDED_JOB, 0, 0, 0 },
	{ "look-alike older than the pending create -> not adopted", E, 1, REC_NEVER, LOC_MISSING, 0, 0, 0, 1,
	    0, 21600, 0, 0, 0, K, 0, 0, -5, PLAN_CREATE, PLAN_R_NEW, 0, 0, 1 },
	/* ... but that create was of a spec changed since (or of a set
	 * withdrawn since): the job is cancelled, never left behind */
	{ "pending create of an older spec -> cancel it, create", E, 1, REC_NEVER, LOC_MISSING, 0, 0, 0, 2,
	    0, 21600, 0, 0, 0, K, 0, 0, -20, PLAN_CANCEL_RECREATE, PLAN_R_SPEC_CHANGED, 1, 0, 0 },
	{ "pending create of a withdrawn set -> cancelled with it", E, 0, REC_NEVER, LOC_MISSING, 0, 0, 0, 2,
	    0, 21600, 0, 0, 0, K, 0, 0, -20, PLAN_CANCEL_ORPHAN, PLAN_R_UNDECLARED, 1, 0, 0 },
	{ "pending create of a withdrawn set, file held -> hold", E, 0, REC_NEVER, LOC_MISSING, 0, 0, 0, 2,
	    0, 21600, 0, 0, 0, K, 1, 0, -20, PLAN_HOLD, PLAN_R_INVALID_FILE, 0, 0, 1 },
	{ "other-spec look-alike older than the pending create -> left alone", E, 1, REC_NEVER, LOC_MISSING, 0, 0, 0, 2,
	    0, 21600, 0, 0, 0, K, 0, 0, -5, PLAN_CREATE, PLAN_R_NEW, 0, 0, 1 },
	{ "pending create of an older spec, monitor -> not cancelled", M, 1, REC_NEVER, LOC_MISSING, 0, 0, 0, 2,
	    0, 21600, 0, 0, 0, K, 0, 0, -20, PLAN_REPORT_DRIFT, PLAN_R_NEW, 0, 0, 1 },
	/* backoff after failures without a job (checksum mismatch) */
	{ "failed before, retry not due -> wait", E, 1, REC_NEVER, LOC_MISSING, 0, 0, 0, 0,
	    0, 21600, 2, 300, 0, K, 0, 0, 0, PLAN_WAIT, PLAN_R_BACKOFF, 0, 0, 0 },
	{ "failed before, retry due -> create", E, 1, REC_NEVER, LOC_MISSING, 0, 0, 0, 0,
	    0, 21600, 2, -1, 0, K, 0, 0, 0, PLAN_CREATE, PLAN_R_NEW, 0, 0, 0 },
	/* own job for a set no longer declared */
	{ "undeclared, own job, keep -> cancel orphan", E, 0, REC_SAME, LOC_OK, 1, BK_TRANSFERRING, 0, 0,
	    10, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_CANCEL_ORPHAN, PLAN_R_UNDECLARED, 1, 0, 0 },
	{ "undeclared, own job, delete -> cancel + delete placed", E, 0, REC_SAME, LOC_OK, 1, BK_SUSPENDED, 0, 0,
	    10, 21600, 0, 0, 0, DEL, 0, 0, 0, PLAN_CANCEL_ORPHAN, PLAN_R_UNDECLARED, 1, 2, 0 },
	{ "undeclared, delete, a file changed by the user -> keep it", E, 0, REC_SAME, LOC_SIZE, 0, 0, 0, 0,
	    10, 21600, 0, 0, 0, DEL, 0, 0, 0, PLAN_CANCEL_ORPHAN, PLAN_R_UNDECLARED, 0, 1, 0 },
	{ "undeclared, delete, sha256 differs -> keep it", E, 0, REC_SAME, LOC_SHA, 0, 0, 0, 0,
	    10, 21600, 0, 0, 0, DEL, 0, 0, 0, PLAN_CANCEL_ORPHAN, PLAN_R_UNDECLARED, 0, 1, 0 },
	{ "undeclared, two own jobs -> cancel both", E, 0, REC_NEVER, LOC_OK, 2, BK_TRANSFERRING, 0, 0,
	    0, 21600, 0, 0, 0, DEL, 0, 0, 0, PLAN_CANCEL_ORPHAN, PLAN_R_UNDECLARED, 2, 0, 0 },
	/* a manifest file that fails validation never cancels or deletes */
	{ "undeclared, file invalid, delete -> hold", E, 0, REC_SAME, LOC_OK, 1, BK_TRANSFERRING, 0, 0,
	    10, 21600, 0, 0, 0, DEL, 1, 0, 0, PLAN_HOLD, PLAN_R_INVALID_FILE, 0, 0, 0 },
	{ "undeclared, file invalid, keep -> hold", E, 0, REC_SAME, LOC_OK, 0, 0, 0, 0,
	    10, 21600, 0, 0, 0, K, 1, 0, 0, PLAN_HOLD, PLAN_R_INVALID_FILE, 0, 0, 0 },
	{ "nothing declared or recorded, foreign only -> no action", E, 0, REC_NONE, LOC_OK, 0, 0, 0, 1,
	    0, 21600, 0, 0, 0, K, 0, 0, 0, PLAN_NONE, PLAN_R_IN_SYNC, 0, 0, 0 },
};

/* Several sets at once: one action each, in byte order of names, however
 * the inputs are ordered; hold_all holds every undeclared set. */
static void
test_order(void)
{
	static const char *const names[] = { "zeta", "alpha", "m.x", "b-2",
	    "alpha2" };
	struct mset sets[5];
	struct mfile files[5][2];
	struct spec specs[5];
	struct plan_desired d[5];
	struct state_set rec[2];
	struct plan_input in;
	struct plan p;
	size_t i;
	const char *want[] = { "alpha", "alpha2", "b-2", "gone", "m.x",
	    "old", "zeta" };

	for (i = 0; i < 5; i++) {
		make_set(&sets[i], files[i], names[i], MODE_ENFORCE,
		    ON_REMOVE_DELETE);
		spec_build(&sets[i], PLATFORM_POSIX, &specs[i]);
		d[i].set = &sets[i];
		d[i].spec = &specs[i];
		d[i].obs = NULL;
	}
	memset(rec, 0, sizeof(rec));
	rec[0].name = (char *)"old";
	rec[0].on_remove = ON_REMOVE_DELETE;
	rec[1].name = (char *)"gone";
	memset(&in, 0, sizeof(in));
	in.desired = d;
	in.ndesired = 5;
	in.recorded = rec;
	in.nrecorded = 2;
	in.now = NOW;
	in.hold_all = 1;
	if (plan_make(&in, &p) != 0 || p.n != 7) {
		printf("FAIL order: %zu actions\n", p.n);
		failures++;
	} else {
		for (i = 0; i < 7; i++)
			if (strcmp(p.v[i].set, want[i]) != 0) {
				printf("FAIL order: %zu is %s\n", i, p.v[i].set);
				failures++;
			}
		if (p.v[3].verb != PLAN_HOLD || p.v[5].verb != PLAN_HOLD) {
			printf("FAIL order: hold_all did not hold\n");
			failures++;
		}
		if (p.v[0].verb != PLAN_CREATE) {
			printf("FAIL order: alpha not created\n");
			failures++;
		}
		printf("ok   order and hold_all\n");
	}
	plan_free(&p);
	for (i = 0; i < 5; i++)
		spec_free(&specs[i]);
}

/* MaxJobsPerMachine (plan_input.max_jobs): creates that do not fit wait
 * (PLAN_R_JOB_BUDGET), highest priority first, then by name; jobs of
 * any owner and every job of a split set count; a set that alone needs
 * more than the budget is let through to fail rather than wait forever. */
static void
test_budget(void)
{
	static const char *const names[] = { "a-low", "b-high", "c-normal",
	    "d-normal", "e-fg" };
	static const int prio[] = { PRIO_LOW, PRIO_HIGH, PRIO_NORMAL,
	    PRIO_NORMAL, PRIO_FOREGROUND };
	struct mset sets[5];
	struct mfile files[5][2];
	struct spec specs[5];
	struct plan_desired d[5];
	struct bk_job foreign;
	struct plan_input in;
	struct plan p;
	size_t i, k;
	int before = failures;
	/* budget, files per job -> which sets wait (1) */
	static const struct {
		unsigned max_jobs, max_files, foreign_parts;
		int wait[5];
	} cases[] = {
		{ 0, 0, 0, { 0, 0, 0, 0, 0 } },		/* no limit */
		{ 5, 0, 0, { 0, 0, 0, 0, 0 } },		/* all fit */
		{ 3, 0, 0, { 1, 0, 0, 1, 0 } },		/* fg, high, c before d */
		{ 2, 0, 0, { 1, 0, 1, 1, 0 } },		/* fg, high */
		{ 4, 0, 1, { 1, 0, 0, 1, 0 } },		/* a foreign job counts */
		{ 6, 1, 0, { 1, 0, 0, 1, 0 } },		/* 2 jobs a set */
		{ 7, 1, 3, { 1, 0, 1, 1, 0 } },		/* a 3-part job counts 3 */
		{ 1, 1, 0, { 0, 0, 0, 0, 0 } },		/* none fits: all fail */
	};

	for (i = 0; i < 5; i++) {
		make_set(&sets[i], files[i], names[i], MODE_ENFORCE,
		    ON_REMOVE_KEEP);
		sets[i].settings.priority = (enum priority)prio[i];
		spec_build(&sets[i], PLATFORM_POSIX, &specs[i]);
		d[i].set = &sets[i];
		d[i].spec = &specs[i];
		d[i].obs = NULL;
	}
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		int want[5];

		memcpy(want, cases[k].wait, sizeof(want));
		memset(&foreign, 0, sizeof(foreign));
		foreign.display_name = (char *)"other-tool";
		foreign.parts = cases[k].foreign_parts;
		memset(&in, 0, sizeof(in));
		in.desired = d;
		in.ndesired = 5;
		in.jobs = cases[k].foreign_parts ? &foreign : NULL;
		in.njobs = cases[k].foreign_parts ? 1 : 0;
		in.now = NOW;
		in.max_jobs = cases[k].max_jobs;
		in.max_files_per_job = cases[k].max_files;
		if (plan_make(&in, &p) != 0 || p.n != 5) {
			printf("FAIL budget %zu: plan\n", k);
			failures++;
			continue;
		}
		for (i = 0; i < 5; i++) {
			int waits = p.v[i].verb == PLAN_WAIT &&
			    p.v[i].reason == PLAN_R_JOB_BUDGET;

			if (waits != want[i] || (!waits &&
			    p.v[i].verb != PLAN_CREATE)) {
				printf("FAIL budget %zu: %s %s (%s)\n", k,
				    p.v[i].set, plan_verb_name(p.v[i].verb),
				    plan_reason_text(p.v[i].reason));
				failures++;
			}
		}
		plan_free(&p);
	}
	if (strcmp(plan_reason_text(PLAN_R_JOB_BUDGET), "queued: job budget"))
		failures++;
	for (i = 0; i < 5; i++)
		spec_free(&specs[i]);
	if (failures == before)
		printf("ok   budget: %zu cases\n", sizeof(cases) /
		    sizeof(cases[0]));
}

/* Backoff: doubles, is capped, jitter stays within 25 % and is stable. */
static void
test_backoff(void)
{
	uint64_t a = plan_backoff(600, 0, 1, "x");
	uint64_t b = plan_backoff(600, 1, 1, "x");
	uint64_t c = plan_backoff(600, 20, 1, "x");
	uint64_t e = plan_backoff(2, 0, 1, "x");
	int spread = 0;
	unsigned i;

	for (i = 0; i < 50; i++) {
		char n[16];

		snprintf(n, sizeof(n), "s%u", i);
		if (plan_backoff(600, 0, 7, n) != plan_backoff(600, 0, 7, "s0"))
			spread = 1;
	}
	if (a < 600 || a > 750 || b < 1200 || b > 1500 || c < 3600 ||
	    c > 4500 || e < 5 || a != plan_backoff(600, 0, 1, "x") ||
	    !spread) {
		printf("FAIL backoff: %llu %llu %llu %llu spread %d\n",
		    (unsigned long long)a, (unsigned long long)b,
		    (unsigned long long)c, (unsigned long long)e, spread);
		failures++;
	} else
		printf("ok   backoff\n");
}

/* The re-check grid (recheck.h). */
static void
test_recheck_grid(void)
{
	unsigned per_s[20] = { 0 }, host, f, lo = ~0u, hi = 0, bad = 0;
	unsigned fleet[10] = { 0 }, maxpair = 0;
	int64_t t, n;
	size_t i;

	/* Each file of an 8-file set, refresh 20 s: due exactly once in
	 * every window of one refresh, whatever the window's start. */
	for (host = 0; host < 50; host++)
		for (t = 1000; t < 1040; t++)
			for (i = 0; i < 8; i++) {
				unsigned c = 0;
				int64_t u;

				for (u = t; u < t + 20; u++)
					c += (unsigned)recheck_file_due(host, "pkgs",
					    20, 8, i, u, u + 1);
				if (c != 1 || !recheck_file_due(host, "pkgs", 20, 8,
				    i, t, t + 20))
					bad |= 1;
			}
	/* One host's slices are at least a second apart: in any one
	 * second at most ceil(F / refresh) of its files are due. */
	for (host = 0; host < 50; host++)
		for (t = 1000; t < 1040; t++) {
			unsigned c8 = 0, c50 = 0;

			for (i = 0; i < 8; i++)
				c8 += (unsigned)recheck_file_due(host, "s", 20, 8,
				    i, t, t + 1);
			for (i = 0; i < 50; i++)
				c50 += (unsigned)recheck_file_due(host, "s", 20, 50,
				    i, t, t + 1);
			if (c8 > 1 || c50 > 3)
				bad |= 2;
		}
	/* recheck_next is the first second in which a file is due. */
	for (host = 0; host < 50; host++)
		for (t = 1000; t < 1040; t++) {
			int64_t nx = recheck_next(host, "pkgs", 20, 8, t), u;
			unsigned before = 0;

			for (u = t; u < nx - 1; u++)
				for (i = 0; i < 8; i++)
					before += (unsigned)recheck_file_due(host,
					    "pkgs", 20, 8, i, u, u + 1);
			for (i = 0, f = 0; i < 8; i++)
				f += (unsigned)recheck_file_due(host, "pkgs",
				    20, 8, i, nx - 1, nx);
			if (nx <= t || nx > t + 20 || before || f == 0)
				bad |= 4;
		}
	/* Across 2,000 hosts the phases are uniform over the period. */
	for (host = 0; host < 2000; host++)
		per_s[(recheck_next(0x9e3779b97f4a7c15ULL * (host + 1), "pkgs",
		    20, 1, 999) - 1000) % 20]++;
	for (i = 0; i < 20; i++) {
		lo = per_s[i] < lo ? per_s[i] : lo;
		hi = per_s[i] > hi ? per_s[i] : hi;
	}
	/* A fleet of 10 hosts x 8 files, refresh 10 s: every second sees
	 * at most 10 checks (one per host), never 2 x its mean of 8 (the
	 * burst of a whole-set check would be 8 per host). */
	for (host = 0; host < 10; host++)
		for (t = 0; t < 10; t++)
			for (i = 0; i < 8; i++)
				fleet[t] += (unsigned)recheck_file_due(
				    host * 7919 + 1, "pkgs", 10, 8, i,
				    2000 + t, 2001 + t);
	for (n = 0; n < 10; n++)
		maxpair = fleet[n] > maxpair ? fleet[n] : maxpair;
	if (maxpair > 10)
		bad |= 8;
	/* refresh 0: never; commit keeps a recent check of the same spec. */
	if (recheck_next(1, "x", 0, 3, 5) != 0 ||
	    recheck_file_due(1, "x", 0, 3, 0, 0, 1000) ||
	    recheck_commit_time(1, 990, 20, 1000) != 990 ||
	    recheck_commit_time(0, 990, 20, 1000) != 1000 ||
	    recheck_commit_time(1, 970, 20, 1000) != 1000 ||
	    recheck_commit_time(1, 0, 20, 1000) != 1000 ||
	    recheck_commit_time(1, 1010, 20, 1000) != 1000)
		bad |= 16;
	/* 100 per bin expected; 60..140 is over 4 sd. */
	if (bad || lo < 60 || hi > 140) {
		printf("FAIL recheck grid: bad %#x bins %u..%u\n", bad, lo, hi);
		failures++;
	} else
		printf("ok   recheck grid (each file once per refresh, slices "
		    "a second apart, hosts' phases uniform: bins %u..%u of "
		    "100, a 10-host fleet's busiest second %u)\n", lo, hi,
		    maxpair);
}

/* plan_input.each that takes the slices last first. */
static void
backwards(size_t n, size_t grain, void (*fn)(void *, size_t, size_t),
    void *arg)
{
	size_t lo = (n + grain - 1) / grain * grain;

	while (lo > 0) {
		lo -= grain;
		fn(arg, lo, lo + grain < n ? lo + grain : n);
	}
}

/* 10,000 sets against 10,000 recorded sets and 10,000 jobs: the issue's
 * budget for `plan` is 100 ms; the planner must be a small part of it. */
static void
test_scale(void)
{
	enum { N = 10000 };
	struct mset *sets = xcalloc(N, sizeof(*sets));
	struct mfile *files = xcalloc(2 * N, sizeof(*files));
	struct spec *specs = xcalloc(N, sizeof(*specs));
	struct plan_desired *d = xcalloc(N, sizeof(*d));
	struct state_set *rec = xcalloc(N, sizeof(*rec));
	struct state_job *rj = xcalloc(N, sizeof(*rj));
	struct bk_job *jobs = xcalloc(N, sizeof(*jobs));
	char **names = xcalloc(N, sizeof(*names));
	struct plan_input in;
	struct plan p;
	struct timespec t0, t1;
	double ms;
	size_t i;

	for (i = 0; i < N; i++)
		names[i] = xasprintf("set%05zu", (i * 7919) % N);
	for (i = 0; i < N; i++) {
		make_set(&sets[i], &files[2 * i], names[i], MODE_ENFORCE,
		    ON_REMOVE_KEEP);
		spec_build(&sets[i], PLATFORM_POSIX, &specs[i]);
		d[i].set = &sets[i];
		d[i].spec = &specs[i];
		rec[i].name = names[(i * 31) % N];
		rj[i].guid.b[0] = (uint8_t)i;
		rj[i].guid.b[1] = (uint8_t)(i >> 8);
		rec[i].jobs = &rj[i];
		rec[i].njobs = 1;
		jobs[i].id = rj[i].guid;
		jobs[i].display_name = xasprintf("bitsync:%s", rec[i].name);
		jobs[i].description = xstrdup("bitsync/1 set=whatever");
		jobs[i].state = BK_TRANSFERRING;
	}
	memset(&in, 0, sizeof(in));
	in.desired = d;
	in.ndesired = N;
	in.recorded = rec;
	in.nrecorded = N;
	in.jobs = jobs;
	in.njobs = N;
	in.now = NOW;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (plan_make(&in, &p) != 0 || p.n != N) {
		printf("FAIL scale: %zu actions\n", p.n);
		failures++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("ok   scale: plan of %d sets, %d jobs: %.1f ms\n", N, N, ms);
	/* Taken slice by slice in any order (as on several threads), the
	 * decisions are the same. */
	{
		struct plan q;
		size_t same = 0;

		in.each = backwards;
		if (plan_make(&in, &q) == 0 && q.n == p.n)
			for (i = 0; i < N; i++)
				same += strcmp(q.v[i].set, p.v[i].set) == 0 &&
				    q.v[i].verb == p.v[i].verb &&
				    q.v[i].reason == p.v[i].reason &&
				    q.v[i].job == p.v[i].job &&
				    q.v[i].ncancel == p.v[i].ncancel &&
				    q.v[i].nforeign == p.v[i].nforeign;
		if (same != N) {
			printf("FAIL scale: %zu of %d decisions the same when "
			    "slices are taken backwards\n", same, N);
			failures++;
		} else
			printf("ok   scale: slices taken backwards decide "
			    "the same\n");
		plan_free(&q);
	}
	plan_free(&p);
	for (i = 0; i < N; i++) {
		spec_free(&specs[i]);
		free(names[i]);
		free(jobs[i].display_name);
		free(jobs[i].description);
	}
	free(sets);
	free(files);
	free(specs);
	free(d);
	free(rec);
	free(rj);
	free(jobs);
	free(names);
}

/* plan_keep_committed: which committed files a spec change leaves
 * alone (design §4 round 2). */
static size_t
keep_case(const char *name, struct mset *set, const struct state_set *r,
    int drift_first, size_t want, const char *want_keep)
{
	struct spec sp;
	struct plan_obs obs[3];
	struct plan_desired d;
	unsigned char keep[3];
	size_t i, n = 0;

	if (spec_build(set, PLATFORM_POSIX, &sp) != 0) {
		printf("FAIL keep %s: spec_build\n", name);
		failures++;
		return 0;
	}
	memset(obs, 0, sizeof(obs));
	for (i = 0; i < sp.job.nfiles; i++) {
		obs[i].exists = 1;
		obs[i].size = 10;
		obs[i].mtime_ns = 100;
	}
	if (drift_first)
		obs[0].size = 11;
	d.set = set;
	d.spec = &sp;
	d.obs = obs;
	n = plan_keep_committed(&d, r, keep);
	for (i = 0; i < sp.job.nfiles; i++)
		if (keep[i] != (want_keep[i] == '1'))
			break;
	if (n != want || i != sp.job.nfiles) {
		printf("FAIL keep %s: kept %zu, want %zu\n", name, n, want);
		failures++;
	}
	spec_free(&sp);
	return n;
}

static void
test_keep_committed(void)
{
	static const char *const hdrs2[] = { "X-Fleet: fabrikam" };
	struct msource src2 = src;
	struct mset set;
	struct mfile f2[2], f3[3];
	struct spec sp;
	struct state_set r;
	struct state_file rf[2];
	size_t i;
	int before = failures;

	/* Committed: a.bin (sha256 declared) and x/b.bin, as make_set. */
	make_set(&set, f2, "app", MODE_ENFORCE, ON_REMOVE_KEEP);
	if (spec_build(&set, PLATFORM_POSIX, &sp) != 0) {
		printf("FAIL keep: spec_build\n");
		failures++;
		return;
	}
	memset(&r, 0, sizeof(r));
	r.name = (char *)"app";
	r.spec_hash = sp.hash;
	for (i = 0; i < 2; i++) {
		memset(&rf[i], 0, sizeof(rf[i]));
		rf[i].local = (char *)sp.files[i].local;
		rf[i].remote = (char *)sp.files[i].remote;
		rf[i].local_size = 10;
		rf[i].local_mtime_ns = 100;
		rf[i].has_sha256 = 1;
		memset(rf[i].sha256, i == 0 ? 0xab : 0xcd, 32);
	}
	r.files = rf;
	r.nfiles = 2;

	/* Same spec: all stay, a drifted file goes again. */
	keep_case("same spec", &set, &r, 0, 2, "11");
	keep_case("same spec, a drifted", &set, &r, 1, 1, "01");
	/* A file added (c.bin sorts between a.bin and x/b.bin). */
	memcpy(f3, f2, sizeof(f2));
	memset(&f3[2], 0, sizeof(f3[2]));
	f3[2].remote = "c.bin";
	f3[2].local = "c.bin";
	set.files = f3;
	set.nfiles = 3;
	keep_case("file added", &set, &r, 0, 2, "101");
	/* ... with another priority: the record's settings are not proved. */
	set.settings.priority = PRIO_HIGH;
	keep_case("file added, priority changed", &set, &r, 0, 0, "000");
	set.settings.priority = PRIO_NORMAL;
	/* ... with other headers. */
	src2.headers = hdrs2;
	set.source = &src2;
	keep_case("file added, headers changed", &set, &r, 0, 0, "000");
	set.source = &src;
	/* A file without sha256 removed (proved with no sha256 line). */
	set.files = f2;
	set.nfiles = 1;
	keep_case("x/b.bin removed", &set, &r, 0, 1, "1");
	/* The file with a sha256 removed (proved with what was placed). */
	set.files = f2 + 1;
	keep_case("a.bin removed", &set, &r, 0, 1, "1");
	/* a.bin's sha256 line edited: what was placed does not match it,
	 * and the proof fails (nothing kept: verify again). */
	set.files = f2;
	set.nfiles = 2;
	f2[0].sha256[0] ^= 1;
	keep_case("sha256 edited", &set, &r, 0, 0, "00");
	f2[0].sha256[0] ^= 1;
	/* A remote change seen at refresh: which file is not known. */
	r.remote_changed = 1;
	keep_case("remote changed", &set, &r, 0, 0, "00");
	r.remote_changed = 0;
	/* Never completed. */
	r.spec_hash = NULL;
	keep_case("never completed", &set, &r, 0, 0, "00");
	keep_case("no record", &set, NULL, 0, 0, "00");
	spec_free(&sp);
	if (failures == before)
		printf("ok   keep committed: 11 cases\n");
}

/* PLAN_ADD_FILES: an own job whose spec only gained files is grown in
 * place; any other change still cancels and recreates. */
static void
grow_case(const char *name, struct mset *set, const struct spec *old,
    enum bk_state state, enum plan_verb want, size_t want_add)
{
	struct spec sp;
	struct plan_obs obs[3];
	struct plan_desired d;
	struct state_set r;
	struct state_job rj;
	struct bk_job jobs[1];
	struct bk_file jf[2];
	struct plan_input in;
	struct plan p;
	unsigned char add[3];
	size_t i, nadd;

	if (spec_build(set, PLATFORM_POSIX, &sp) != 0) {
		printf("FAIL grow %s: spec_build\n", name);
		failures++;
		return;
	}
	memset(obs, 0, sizeof(obs));
	d.set = set;
	d.spec = &sp;
	d.obs = obs;
	memset(&rj, 0, sizeof(rj));
	rj.guid.b[0] = 1;
	memset(&r, 0, sizeof(r));
	r.name = (char *)"app";
	r.jobs = &rj;
	r.njobs = 1;
	memset(jobs, 0, sizeof(jobs));
	memset(jf, 0, sizeof(jf));
	jobs[0].id.b[0] = 1;
	jobs[0].display_name = (char *)"bitsync:app";
	jobs[0].description = (char *)old->description;
	jobs[0].state = state;
	jobs[0].created = NOW - 10;
	jobs[0].modified = NOW - 10;
	for (i = 0; i < old->job.nfiles; i++) {
		jf[i].remote = (char *)old->files[i].remote;
		jf[i].local = (char *)old->files[i].local;
	}
	jobs[0].files = jf;
	jobs[0].nfiles = old->job.nfiles;
	memset(&in, 0, sizeof(in));
	in.desired = &d;
	in.ndesired = 1;
	in.jobs = jobs;
	in.njobs = 1;
	in.recorded = &r;
	in.nrecorded = 1;
	in.now = NOW;
	nadd = plan_grow_files(&d, &r, &jobs[0], spec_job_hash(
	    old->description, "app", 3), add);
	if (plan_make(&in, &p) != 0 || p.n != 1 || p.v[0].verb != want ||
	    nadd != want_add) {
		printf("FAIL grow %s: got %s, %zu to add; want %s, %zu\n",
		    name, p.n == 1 ? plan_verb_name(p.v[0].verb) : "?", nadd,
		    plan_verb_name(want), want_add);
		failures++;
	}
	plan_free(&p);
	spec_free(&sp);
}

static void
test_grow(void)
{
	struct mset set;
	struct mfile f2[2], f3[3];
	struct spec old;
	int before = failures;

	make_set(&set, f2, "app", MODE_ENFORCE, ON_REMOVE_KEEP);
	if (spec_build(&set, PLATFORM_POSIX, &old) != 0) {
		printf("FAIL grow: spec_build\n");
		failures++;
		return;
	}
	memcpy(f3, f2, sizeof(f2));
	memset(&f3[2], 0, sizeof(f3[2]));
	f3[2].remote = "c.bin";
	f3[2].local = "c.bin";
	set.files = f3;
	set.nfiles = 3;
	grow_case("file added", &set, &old, BK_TRANSFERRING, PLAN_ADD_FILES,
	    1);
	grow_case("file added, suspended", &set, &old, BK_SUSPENDED,
	    PLAN_ADD_FILES, 1);
	/* A failed job is recreated, as after any failure. */
	grow_case("file added, job failed", &set, &old, BK_ERROR,
	    PLAN_CANCEL_RECREATE, 1);
	/* Transferred: completed first would commit the old spec. */
	grow_case("file added, job transferred", &set, &old, BK_TRANSFERRED,
	    PLAN_CANCEL_RECREATE, 1);
	set.settings.priority = PRIO_LOW;
	grow_case("file added, priority changed", &set, &old,
	    BK_TRANSFERRING, PLAN_CANCEL_RECREATE, 0);
	set.settings.priority = PRIO_NORMAL;
	f3[0].sha256[0] ^= 1;
	grow_case("file added, a sha256 edited", &set, &old, BK_TRANSFERRING,
	    PLAN_CANCEL_RECREATE, 0);
	f3[0].sha256[0] ^= 1;
	f3[1].remote = "sub/other.bin";
	grow_case("file added, a remote changed", &set, &old,
	    BK_TRANSFERRING, PLAN_CANCEL_RECREATE, 0);
	f3[1].remote = "sub/b.bin";
	set.files = f2;
	set.nfiles = 1;
	grow_case("file removed", &set, &old, BK_TRANSFERRING,
	    PLAN_CANCEL_RECREATE, 0);
	spec_free(&old);
	if (failures == before)
		printf("ok   grow: 8 cases\n");
}

int
main(void)
{
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		run_row(&rows[i]);
	test_order();
	test_budget();
	test_backoff();
	test_recheck_grid();
	test_scale();
	test_keep_committed();
	test_grow();
	if (failures) {
		printf("%d failure(s)\n", failures);
		return 1;
	}
	printf("all passed\n");
	return 0;
}
