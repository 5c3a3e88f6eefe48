/* plan.c - the planner (see plan.h).  Pure: no I/O, no clock. */
#include <stdlib.h>
#include <string.h>

#include "jobsplit.h"
#include "plan.h"
#include "recheck.h"
#include "util.h"

/* A job listed by the backend that carries a "bitsync:<set>" name. */
struct named {
	const struct bk_job *job;
	const char *set;
	size_t setlen;
};

/* A set to decide about: declared, recorded, or both. */
struct entry {
	const char *name;
	const struct plan_desired *d;
	const struct state_set *r;
	size_t ri;		/* index of r in the input */
	size_t jlo, jhi;	/* the jobs named for it: nj[jlo..jhi-1] */
};

static int
cmp_named(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	size_t n = x->setlen < y->setlen ? x->setlen : y->setlen;
	int c = memcmp(x->set, y->set, n);

	if (c != 0)
		return c;
	return x->setlen < y->setlen ? -1 : x->setlen > y->setlen;
}

static int
cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* Sorts entries by name, unless they are in order already (the record
 * always is, state_load sorts it; manifests often list their sets so). */
static void
sort_by_name(struct entry *v, size_t n)
{
	size_t i;

	for (i = 1; i < n; i++)
		if (strcmp(v[i - 1].name, v[i].name) > 0) {
			qsort(v, n, sizeof(*v), cmp_entry);
			return;
		}
}

static const struct state_job *
recorded_job(const struct state_set *r, const bk_guid *g)
{
	size_t i;

	for (i = 0; r != NULL && i < r->njobs; i++)
		if (memcmp(r->jobs[i].guid.b, g->b, 16) == 0)
			return &r->jobs[i];
	return NULL;
}

/* Newer first: by creation time, then by the time bitsync recorded, then
 * by GUID so that the choice never depends on the listing order. */
static int
newer(const struct bk_job *a, const struct bk_job *b,
    const struct state_set *r)
{
	const struct state_job *ra = recorded_job(r, &a->id);
	const struct state_job *rb = recorded_job(r, &b->id);

	if (a->created != b->created)
		return a->created > b->created;
	if (ra && rb && ra->created != rb->created)
		return ra->created > rb->created;
	return memcmp(a->id.b, b->id.b, 16) > 0;
}

static uint64_t
fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t
plan_backoff(uint64_t retry_delay, unsigned attempts, uint64_t seed,
    const char *set)
{
	uint64_t base = retry_delay < 5 ? 5 : retry_delay;
	uint64_t cap = base > 3600 ? base : 3600;
	uint64_t d = base, h;
	unsigned i;

	for (i = 0; i < attempts && d < cap; i++)
		d *= 2;
	if (d > cap)
		d = cap;
	h = fnv1a(0xcbf29ce484222325ULL ^ seed, set, strlen(set));
	h = fnv1a(h, &attempts, sizeof(attempts));
	return d + d * (h % 1024) / 4096;
}

static const struct state_file *
recorded_file(const struct state_set *r, const char *local)
{
	size_t lo = 0, hi = r->nfiles;

	/* state_load returns files sorted by local path. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(r->files[mid].local, local);

		if (c == 0)
			return &r->files[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Whether the set is in sync with what was committed; otherwise why, and
 * which file. */
static enum plan_reason
sync_status(const struct plan_desired *d, const struct state_set *r,
    size_t *file)
{
	const struct spec *sp = d->spec;
	size_t i;

	*file = 0;
	if (r == NULL || r->spec_hash == NULL)
		return PLAN_R_NEW;
	if (strcmp(r->spec_hash, sp->hash) != 0)
		return PLAN_R_SPEC_CHANGED;
	if (r->remote_changed)
		return PLAN_R_REMOTE_CHANGED;
	for (i = 0; i < sp->job.nfiles; i++) {
		const struct state_file *rf = recorded_file(r,
		    sp->files[i].local);
		const struct plan_obs *o;

		/* Same hash but no record of the file: the record is not
		 * of this spec after all; transfer again. */
		if (rf == NULL)
			return PLAN_R_NEW;
		if (d->obs == NULL)
			continue;
		o = &d->obs[i];
		*file = i;
		if (o->exists != 1)
			return PLAN_R_MISSING;
		if (o->size != rf->local_size ||
		    o->mtime_ns != rf->local_mtime_ns)
			return PLAN_R_DRIFTED;
		if (o->hashed && sp->meta[i].has_sha256 &&
		    memcmp(o->sha256, sp->meta[i].sha256, 32) != 0)
			return PLAN_R_DRIFTED;
		if (o->hashed && rf->has_sha256 &&
		    memcmp(o->sha256, rf->sha256, 32) != 0)
			return PLAN_R_DRIFTED;
	}
	*file = 0;
	return PLAN_R_IN_SYNC;
}

/* Index of local in sp's files (sorted by local path), or nfiles. */
static size_t
spec_file_index(const struct spec *sp, const char *local)
{
	size_t lo = 0, hi = sp->job.nfiles;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(sp->files[mid].local, local);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return sp->job.nfiles;
}

/* Whether the recorded spec r->spec_hash had d's settings: the record's
 * files (remote and local as committed) with d's settings must hash to
 * it.  A recorded file still in the spec with the same remote takes its
 * sha256 line from the spec (so an edited sha256 line fails the proof:
 * such files are verified again); one that left the spec is tried
 * without a sha256 line, then with the hash of what was placed (a
 * declared sha256 always equals it, being verified before the commit). */
static int
same_settings(const struct plan_desired *d, const struct state_set *r)
{
	const struct spec *sp = d->spec;
	struct bk_file_spec *of;
	struct spec_file *om;
	char h[SPEC_HASH_LEN + 1];
	size_t k, j;
	int attempt, proven = 0;

	if (strcmp(r->spec_hash, sp->hash) == 0)
		return 1;
	of = xcalloc(r->nfiles + 1, sizeof(*of));
	om = xcalloc(r->nfiles + 1, sizeof(*om));
	for (attempt = 0; attempt < 2 && !proven; attempt++) {
		for (k = 0; k < r->nfiles; k++) {
			const struct state_file *rf = &r->files[k];

			of[k].remote = rf->remote;
			of[k].local = rf->local;
			j = spec_file_index(sp, rf->local);
			if (j < sp->job.nfiles &&
			    strcmp(sp->files[j].remote, rf->remote) == 0) {
				om[k] = sp->meta[j];
				/* A folder set's file as it was listed when
				 * placed: the remote validators recorded. */
				if (om[k].listed) {
					om[k].list_size = rf->size;
					om[k].list_mtime = rf->mtime;
				}
				/* An index set's file the index now gives
				 * another hash: the record's line was the
				 * hash of what was placed (verified before
				 * the commit).  The file itself goes again
				 * (plan_keep_committed); the others stay. */
				if (attempt == 1 && d->set->folder &&
				    om[k].has_sha256 && rf->has_sha256)
					memcpy(om[k].sha256, rf->sha256, 32);
				continue;
			}
			memset(&om[k], 0, sizeof(om[k]));
			om[k].has_sha256 = attempt == 1 && rf->has_sha256;
			memcpy(om[k].sha256, rf->sha256, 32);
			if (d->set->folder && d->set->index == NULL) {
				om[k].listed = 1;
				om[k].list_size = rf->size;
				om[k].list_mtime = rf->mtime;
			}
		}
		spec_hash_files(d->set, sp, of, om, r->nfiles, h);
		proven = strcmp(h, r->spec_hash) == 0;
	}
	free(of);
	free(om);
	return proven;
}

size_t
plan_keep_committed(const struct plan_desired *d, const struct state_set *r,
    unsigned char *keep)
{
	const struct spec *sp = d->spec;
	size_t i, n = 0;

	memset(keep, 0, sp->job.nfiles);
	/* A recheck that saw the remote change does not say which file:
	 * all go again. */
	if (r == NULL || r->spec_hash == NULL || r->remote_changed ||
	    d->obs == NULL)
		return 0;
	for (i = 0; i < sp->job.nfiles; i++) {
		const struct state_file *rf = recorded_file(r,
		    sp->files[i].local);
		const struct plan_obs *o = &d->obs[i];

		if (rf == NULL || strcmp(rf->remote, sp->files[i].remote) != 0)
			continue;
		/* Still what was placed (as sync_status judges drift). */
		if (o->exists != 1 || o->size != rf->local_size ||
		    o->mtime_ns != rf->local_mtime_ns)
			continue;
		if (o->hashed && rf->has_sha256 &&
		    memcmp(o->sha256, rf->sha256, 32) != 0)
			continue;
		/* A folder set's file the listing sees at another size or
		 * mtime than the one placed came from has changed. */
		if (sp->meta[i].listed && (rf->size != sp->meta[i].list_size ||
		    rf->mtime != sp->meta[i].list_mtime))
			continue;
		/* What the spec now declares must be what was placed. */
		if (sp->meta[i].has_sha256 && (!rf->has_sha256 ||
		    memcmp(sp->meta[i].sha256, rf->sha256, 32) != 0))
			continue;
		keep[i] = 1;
		n++;
	}
	if (n > 0 && !same_settings(d, r)) {
		memset(keep, 0, sp->job.nfiles);
		n = 0;
	}
	return n;
}

size_t
plan_grow_files(const struct plan_desired *d, const struct state_set *r,
    const struct bk_job *j, const char *jhash, unsigned char *add)
{
	const struct spec *sp = d->spec;
	struct bk_file_spec *of = NULL;
	struct spec_file *om = NULL;
	unsigned char *keep = NULL, *inj = NULL;
	char h[SPEC_HASH_LEN + 1];
	size_t i, k, n = sp->job.nfiles, nold = 0, nadd = 0;

	memset(add, 0, n);
	if (jhash == NULL || j->nfiles == 0 || j->nfiles >= n)
		goto out;
	keep = xcalloc(n + 1, 1);
	inj = xcalloc(n + 1, 1);
	plan_keep_committed(d, r, keep);
	for (k = 0; k < j->nfiles; k++) {
		const struct bk_file *jf = &j->files[k];

		if (jf->local == NULL || jf->remote == NULL)
			goto out;
		i = spec_file_index(sp, jf->local);
		if (i == n || inj[i] ||
		    strcmp(sp->files[i].remote, jf->remote) != 0)
			goto out;	/* a file left or changed: not grown */
		inj[i] = 1;
	}
	of = xcalloc(n + 1, sizeof(*of));
	om = xcalloc(n + 1, sizeof(*om));
	for (i = 0; i < n; i++)
		if (inj[i] || keep[i]) {
			of[nold] = sp->files[i];
			om[nold++] = sp->meta[i];
		}
	spec_hash_files(d->set, sp, of, om, nold, h);
	if (strcmp(h, jhash) != 0)
		goto out;	/* settings or a sha256 line changed too */
	for (i = 0; i < n; i++)
		if (!inj[i] && !keep[i]) {
			add[i] = 1;
			nadd++;
		}
out:
	if (nadd == 0)
		memset(add, 0, n);
	free(keep);
	free(inj);
	free(of);
	free(om);
	return nadd;
}

static int
held(const struct plan_input *in, const struct state_set *r)
{
	size_t i;

	if (in->hold_all)
		return 1;
	if (r->manifest_file == NULL)
		return 0;
	for (i = 0; i < in->nheld_files; i++)
		if (strcmp(in->held_files[i], r->manifest_file) == 0)
			return 1;
	return 0;
}

static void
add_cancel(struct plan_action *a, const struct bk_job *j)
{
	a->cancel = xrealloc(a->cancel, (a->ncancel + 1) * sizeof(*a->cancel));
	a->cancel[a->ncancel++] = j;
}

/* The set is no longer declared. */
static void
decide_undeclared(const struct plan_input *in, const struct entry *e,
    const struct bk_job **own, size_t nown, struct plan_action *a)
{
	const struct state_set *r = e->r;
	const struct plan_obs *obs;
	size_t i;

	/* Hard rule: a file that fails validation never causes a cancel or
	 * a delete; its sets stay as they are until it is fixed or gone. */
	if (held(in, r)) {
		a->verb = PLAN_HOLD;
		a->reason = PLAN_R_INVALID_FILE;
		return;
	}
	a->verb = PLAN_CANCEL_ORPHAN;
	a->reason = PLAN_R_UNDECLARED;
	for (i = 0; i < nown; i++)
		add_cancel(a, own[i]);
	if (r->on_remove != ON_REMOVE_DELETE || in->recorded_obs == NULL ||
	    (obs = in->recorded_obs[e->ri]) == NULL)
		return;
	/* Only what bitsync placed, and only while it is still what was
	 * placed: a file the user replaced since is theirs. */
	for (i = 0; i < r->nfiles; i++) {
		const struct state_file *f = &r->files[i];

		if (obs[i].exists != 1 || obs[i].size != f->local_size ||
		    obs[i].mtime_ns != f->local_mtime_ns)
			continue;
		if (obs[i].hashed && f->has_sha256 &&
		    memcmp(obs[i].sha256, f->sha256, 32) != 0)
			continue;
		a->remove = xrealloc(a->remove,
		    (a->nremove + 1) * sizeof(*a->remove));
		a->remove[a->nremove++] = f;
	}
}

/* Whether a set's recorded failures still hold it back: not when a
 * person asked (apply), nor when the manifest changed the set since they
 * happened (a fixed sha256 is tried at once, with a fresh count). */
static int
failures_apply(const struct plan_input *in, const struct state_set *r,
    const struct plan_desired *d)
{
	return !in->retry_now && r != NULL && r->attempts > 0 &&
	    (r->failed_spec == NULL || strcmp(r->failed_spec,
	    d->spec->hash) == 0);
}

/* Declared, and no own job to act on (or monitor mode, which lets jobs
 * be): compare what is with what should be. */
static void
decide_no_job(const struct plan_input *in, const struct entry *e,
    struct plan_action *a)
{
	const struct plan_desired *d = e->d;
	const struct state_set *r = e->r;
	const struct msettings *s = &d->set->settings;
	enum plan_reason why = sync_status(d, r, &a->file);

	a->attempts = r ? r->attempts : 0;
	if (why == PLAN_R_IN_SYNC) {
		/* Due by the set's slice grid on this host (recheck.h). */
		if (s->refresh > 0 && r != NULL)
			a->check_at = recheck_next(in->jitter_seed, e->name,
			    s->refresh, r->nfiles, r->last_check);
		if (a->check_at > 0 && in->now >= a->check_at) {
			a->verb = PLAN_RECHECK;
			a->reason = PLAN_R_REFRESH_DUE;
		} else {
			a->verb = PLAN_NONE;
			a->reason = PLAN_R_IN_SYNC;
		}
		return;
	}
	a->reason = why;
	if (s->mode == MODE_MONITOR) {
		a->verb = PLAN_REPORT_DRIFT;
		return;
	}
	/* A failure (checksum mismatch, create refused) set a retry time:
	 * do not transfer the same bytes again before it. */
	if (failures_apply(in, r, d) && in->now < r->next_retry) {
		a->verb = PLAN_WAIT;
		a->reason = PLAN_R_BACKOFF;
		a->retry_at = r->next_retry;
		return;
	}
	a->verb = PLAN_CREATE;
	a->attempts = r != NULL && r->attempts > 0 && (r->failed_spec ==
	    NULL || strcmp(r->failed_spec, d->spec->hash) == 0) ?
	    r->attempts + 1 : 1;
}

/* States in which a job may be suspended and grown: not failed (a
 * failed job is recreated as always), not finished. */
static int
can_grow(enum bk_state s)
{
	return s == BK_QUEUED || s == BK_CONNECTING || s == BK_TRANSFERRING ||
	    s == BK_TRANSIENT_ERROR || s == BK_SUSPENDED;
}

static int
grows(const struct entry *e, const struct bk_job *j, const char *h)
{
	unsigned char *add = xcalloc(e->d->spec->job.nfiles + 1, 1);
	size_t n = plan_grow_files(e->d, e->r, j, h, add);

	free(add);
	return n > 0;
}

static void
decide_own(const struct plan_input *in, const struct entry *e,
    const struct bk_job *j, struct plan_action *a)
{
	const struct plan_desired *d = e->d;
	const struct state_set *r = e->r;
	int monitor = d->set->settings.mode == MODE_MONITOR;
	size_t setlen = strlen(e->name);
	const char *h = spec_job_hash(j->description, e->name, setlen);
	int64_t due;

	a->job = j;
	a->attempts = r->attempts;
	if (h == NULL || strcmp(h, d->spec->hash) != 0) {
		if (monitor) {
			/* Not ours to change now; report what differs. */
			a->job = NULL;
			decide_no_job(in, e, a);
			return;
		}
		/* Only files added (design §4 round 2): the job keeps what it
		 * has and takes the new files (AddFile), on both backends. */
		if (can_grow(j->state) && grows(e, j, h)) {
			a->verb = PLAN_ADD_FILES;
			a->reason = PLAN_R_SPEC_CHANGED;
			return;
		}
		a->verb = PLAN_CANCEL_RECREATE;
		a->reason = PLAN_R_SPEC_CHANGED;
		add_cancel(a, j);
		a->attempts = r->attempts;
		return;
	}
	switch (j->state) {
	case BK_QUEUED:
	case BK_CONNECTING:
	case BK_TRANSFERRING:
	case BK_TRANSIENT_ERROR:
		if (monitor) {
			a->verb = PLAN_SUSPEND;
			a->reason = PLAN_R_MONITOR;
		} else {
			a->verb = PLAN_WAIT;
			a->reason = j->state == BK_TRANSIENT_ERROR ?
			    PLAN_R_JOB_TRANSIENT : PLAN_R_JOB_ACTIVE;
		}
		return;
	case BK_SUSPENDED:
		if (monitor)
			break;
		a->verb = PLAN_RESUME;
		a->reason = PLAN_R_JOB_SUSPENDED;
		return;
	case BK_ERROR:
		if (monitor)
			break;
		/* The job's last change is when it entered ERROR: the
		 * backoff runs from there, so no pass is spent noting it. */
		/* attempts counts this failure once it is recorded (the
		 * first pass that sees it records it: attempts 1). */
		due = (int64_t)j->modified + (int64_t)plan_backoff(
		    d->set->settings.retry_delay, r->attempts > 0 ?
		    r->attempts - 1 : 0, in->jitter_seed, e->name);
		if (r->next_retry > due)
			due = r->next_retry;
		if (!in->retry_now && in->now < due) {
			a->verb = PLAN_WAIT;
			a->reason = PLAN_R_BACKOFF;
			a->retry_at = due;
			if (r->attempts == 0)
				a->attempts = 1;
			return;
		}
		a->attempts = r->attempts + 1;
		if (a->attempts % PLAN_RECREATE_EVERY == 0) {
			a->verb = PLAN_CANCEL_RECREATE;
			a->reason = PLAN_R_TOO_MANY_ERRORS;
			add_cancel(a, j);
		} else {
			a->verb = PLAN_RETRY;
			a->reason = PLAN_R_JOB_ERROR;
		}
		return;
	case BK_TRANSFERRED:
		if (monitor)
			break;
		a->verb = PLAN_COMPLETE;
		a->reason = PLAN_R_TRANSFERRED;
		return;
	case BK_ACKNOWLEDGED:
	case BK_CANCELLED:
		break;
	}
	/* Finished jobs, and monitor mode's idle ones, do not count. */
	a->job = NULL;
	decide_no_job(in, e, a);
}

/* A job of the set's name, unrecorded, created after the set's pending
 * create mark, but of another spec (or of a set no longer declared):
 * the create a crash cut short before a spec change.  Its description
 * must still be one bitsync writes, so a look-alike someone made by
 * hand is never taken for it. */
static int
pending_stale(const struct entry *e, const struct bk_job *j)
{
	return e->r != NULL && e->r->create_pending > 0 &&
	    j->description != NULL &&
	    (int64_t)j->created >= e->r->create_pending - 1 &&
	    spec_job_hash(j->description, e->name, strlen(e->name)) != NULL &&
	    (e->d == NULL ||
	    strcmp(j->description, e->d->spec->description) != 0);
}

static void
decide(const struct plan_input *in, const struct entry *e,
    const struct named *nj, size_t nnj, struct plan_action *a)
{
	const struct bk_job **own = NULL, **stale = NULL;
	const struct bk_job *adopt = NULL;
	size_t nown = 0, nstale = 0, i, best;

	memset(a, 0, sizeof(*a));
	a->set = e->name;
	a->desired = e->d;
	a->recorded = e->r;
	for (i = 0; i < nnj; i++) {
		const struct bk_job *j = nj[i].job;

		if (e->r != NULL && recorded_job(e->r, &j->id) != NULL &&
		    spec_job_hash(j->description, e->name,
		    strlen(e->name)) != NULL) {
			own = xrealloc(own, (nown + 1) * sizeof(*own));
			own[nown++] = j;
			continue;
		}
		a->nforeign++;
		/* A create started (and recorded as pending) but the crash
		 * came before its GUID was written: that job is ours, found
		 * by its exact description and a creation time after the
		 * pending mark.  Nothing else is ever adopted. */
		if (e->d != NULL && e->r != NULL && e->r->create_pending > 0 &&
		    j->description != NULL &&
		    strcmp(j->description, e->d->spec->description) == 0 &&
		    (int64_t)j->created >= e->r->create_pending - 1 &&
		    (adopt == NULL || newer(j, adopt, NULL)))
			adopt = j;
		else if (pending_stale(e, j)) {
			stale = xrealloc(stale, (nstale + 1) * sizeof(*stale));
			stale[nstale++] = j;
		}
	}
	if (e->d == NULL) {
		/* The set left while its create was pending: that job is
		 * ours too, and goes with the set. */
		for (i = 0; i < nstale; i++) {
			own = xrealloc(own, (nown + 1) * sizeof(*own));
			own[nown++] = stale[i];
		}
		a->nforeign -= held(in, e->r) ? 0 : nstale;
		decide_undeclared(in, e, own, nown, a);
		goto done;
	}
	if (nown > 1) {
		best = 0;
		for (i = 1; i < nown; i++)
			if (newer(own[i], own[best], e->r))
				best = i;
		a->verb = PLAN_REDUCE_DUPLICATES;
		a->reason = PLAN_R_DUPLICATES;
		a->job = own[best];
		a->attempts = e->r->attempts;
		for (i = 0; i < nown; i++)
			if (i != best)
				add_cancel(a, own[i]);
		goto done;
	}
	if (nown == 1) {
		decide_own(in, e, own[0], a);
		goto done;
	}
	if (adopt != NULL && e->d->set->settings.mode == MODE_ENFORCE) {
		a->verb = PLAN_ADOPT;
		a->reason = PLAN_R_UNRECORDED_JOB;
		a->job = adopt;
		a->attempts = e->r->attempts;
		a->nforeign--;
		goto done;
	}
	decide_no_job(in, e, a);
	/* A create of an earlier spec, cut short by a crash before its GUID
	 * was recorded, left a job nobody will adopt (its description is
	 * no longer the set's): cancelled as the new one is created, so it
	 * never lingers beside it. */
	if (a->verb == PLAN_CREATE && nstale > 0 &&
	    e->d->set->settings.mode == MODE_ENFORCE) {
		a->verb = PLAN_CANCEL_RECREATE;
		a->reason = PLAN_R_SPEC_CHANGED;
		for (i = 0; i < nstale; i++)
			add_cancel(a, stale[i]);
		a->nforeign -= nstale;
	}
done:
	free(own);
	free(stale);
}

struct decide_work {
	const struct plan_input *in;
	const struct entry *merged;
	const struct named *nj;
	struct plan_action *out;
};

static void
decide_range(void *arg, size_t lo, size_t hi)
{
	const struct decide_work *w = arg;
	size_t i;

	for (i = lo; i < hi; i++)
		decide(w->in, &w->merged[i], w->nj + w->merged[i].jlo,
		    w->merged[i].jhi - w->merged[i].jlo, &w->out[i]);
}

static size_t
job_parts(const struct bk_job *j)
{
	return j->parts > 1 ? j->parts : 1;
}

/* Jobs a create of a's set makes: one per max_files_per_job of the files
 * it transfers (those plan_keep_committed keeps need none). */
static size_t
create_needs(const struct plan_input *in, const struct plan_action *a)
{
	const struct spec *sp = a->desired->spec;
	unsigned char *keep = xcalloc(sp->job.nfiles + 1, 1);
	size_t n = sp->job.nfiles - plan_keep_committed(a->desired,
	    a->recorded, keep);

	free(keep);
	if (n == 0)
		return 0;
	return jobsplit_parts(n, in->max_files_per_job);
}

struct budget_ent {
	struct plan_action *a;
	int prio;
};

static int
cmp_budget(const void *x, const void *y)
{
	const struct budget_ent *a = x, *b = y;

	if (a->prio != b->prio)
		return a->prio < b->prio ? -1 : 1;
	return strcmp(a->a->set, b->a->set);
}

/* MaxJobsPerMachine: what exists (every job of the account, own or not,
 * counts, as in BITS) plus what the creates of this pass make must fit;
 * the creates that do not wait, in priority order.  A cancel-and-
 * recreate may count the jobs it cancels itself; other cancels of the
 * pass free their jobs for the next pass (the passes act in name order,
 * so an earlier set cannot count on a later one's cancel). */
static void
plan_budget(const struct plan_input *in, struct plan *out)
{
	struct budget_ent *v;
	size_t i, k, nv = 0, used = 0, need, freed;

	if (in->max_jobs == 0)
		return;
	for (i = 0; i < in->njobs; i++)
		used += job_parts(&in->jobs[i]);
	v = xcalloc(out->n + 1, sizeof(*v));
	for (i = 0; i < out->n; i++) {
		struct plan_action *a = &out->v[i];

		if ((a->verb != PLAN_CREATE && a->verb != PLAN_CANCEL_RECREATE) ||
		    a->desired == NULL)
			continue;
		v[nv].a = a;
		v[nv].prio = (int)a->desired->set->settings.priority;
		nv++;
	}
	qsort(v, nv, sizeof(*v), cmp_budget);
	for (i = 0; i < nv; i++) {
		struct plan_action *a = v[i].a;

		need = create_needs(in, a);
		freed = 0;
		for (k = 0; k < a->ncancel; k++)
			freed += job_parts(a->cancel[k]);
		if (need > in->max_jobs || need <= freed ||
		    used + need - freed <= in->max_jobs) {
			used = used + need > freed ? used + need - freed : 0;
			continue;
		}
		a->verb = PLAN_WAIT;
		a->reason = PLAN_R_JOB_BUDGET;
		a->ncancel = 0;
	}
	free(v);
}

int
plan_make(const struct plan_input *in, struct plan *out)
{
	struct decide_work dw;
	struct entry *ents = NULL, *merged = NULL;
	struct named *nj = NULL;
	size_t nents = 0, nnj = 0, nmerged = 0, i, k;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < in->ndesired; i++)
		if (in->desired[i].spec == NULL || in->desired[i].set == NULL)
			goto done;

	/* Jobs by the set their display name claims. */
	nj = xcalloc(in->njobs + 1, sizeof(*nj));
	for (i = 0; i < in->njobs; i++) {
		const char *s = spec_job_set(in->jobs[i].display_name,
		    &nj[nnj].setlen);

		if (s == NULL)
			continue;
		nj[nnj].job = &in->jobs[i];
		nj[nnj].set = s;
		nnj++;
	}
	qsort(nj, nnj, sizeof(*nj), cmp_named);

	/* Declared and recorded sets, merged by name: each list sorted on
	 * its own (the record comes sorted from state_load, so that sort
	 * is only a check), then walked together. */
	ents = xcalloc(in->ndesired + in->nrecorded + 1, sizeof(*ents));
	for (i = 0; i < in->ndesired; i++) {
		ents[nents].name = in->desired[i].set->name;
		ents[nents].d = &in->desired[i];
		nents++;
	}
	sort_by_name(ents, in->ndesired);
	for (i = 0; i < in->nrecorded; i++) {
		ents[nents].name = in->recorded[i].name;
		ents[nents].r = &in->recorded[i];
		ents[nents].ri = i;
		nents++;
	}
	sort_by_name(ents + in->ndesired, in->nrecorded);
	merged = xcalloc(nents + 1, sizeof(*merged));
	for (i = 0, k = in->ndesired; i < in->ndesired || k < nents;) {
		const struct entry *e = k == nents || (i < in->ndesired &&
		    strcmp(ents[i].name, ents[k].name) <= 0) ? &ents[i++] :
		    &ents[k++];

		/* The same name again (a declared set and its record):
		 * one entry. */
		if (nmerged > 0 &&
		    strcmp(merged[nmerged - 1].name, e->name) == 0) {
			struct entry *m = &merged[nmerged - 1];

			if (e->d != NULL)
				m->d = e->d;
			if (e->r != NULL) {
				m->r = e->r;
				m->ri = e->ri;
			}
			continue;
		}
		merged[nmerged++] = *e;
	}

	/* The range of jobs named for each set, in one walk of both lists;
	 * then the decisions, which need nothing from one another. */
	k = 0;
	for (i = 0; i < nmerged; i++) {
		struct named key = { .set = merged[i].name,
		    .setlen = strlen(merged[i].name) };

		while (k < nnj && cmp_named(&nj[k], &key) < 0)
			k++;
		merged[i].jlo = merged[i].jhi = k;
		while (merged[i].jhi < nnj &&
		    cmp_named(&nj[merged[i].jhi], &key) == 0)
			merged[i].jhi++;
	}
	out->v = xcalloc(nmerged + 1, sizeof(*out->v));
	out->n = nmerged;
	dw.in = in;
	dw.merged = merged;
	dw.nj = nj;
	dw.out = out->v;
	if (in->each != NULL)
		in->each(nmerged, 256, decide_range, &dw);
	else
		decide_range(&dw, 0, nmerged);
	plan_budget(in, out);
	rc = 0;
done:
	free(nj);
	free(ents);
	free(merged);
	return rc;
}

void
plan_free(struct plan *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++) {
		free(p->v[i].cancel);
		free(p->v[i].remove);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

int
plan_action_changes(const struct plan_action *a)
{
	switch (a->verb) {
	case PLAN_NONE:
	case PLAN_WAIT:
	case PLAN_HOLD:
	case PLAN_RECHECK:
	case PLAN_REPORT_DRIFT:
		return 0;
	default:
		return 1;
	}
}

const char *
plan_verb_name(enum plan_verb v)
{
	static const char *const names[] = {
		[PLAN_NONE] = "none",
		[PLAN_WAIT] = "wait",
		[PLAN_HOLD] = "hold",
		[PLAN_CREATE] = "create",
		[PLAN_ADOPT] = "adopt",
		[PLAN_RESUME] = "resume",
		[PLAN_RETRY] = "retry",
		[PLAN_COMPLETE] = "complete-after-verify",
		[PLAN_CANCEL_RECREATE] = "cancel-and-recreate",
		[PLAN_RECHECK] = "recheck",
		[PLAN_REPORT_DRIFT] = "report-drift",
		[PLAN_SUSPEND] = "suspend",
		[PLAN_CANCEL_ORPHAN] = "cancel-orphan",
		[PLAN_REDUCE_DUPLICATES] = "reduce-duplicates",
		[PLAN_ADD_FILES] = "add-files",
	};

	return (unsigned)v < sizeof(names) / sizeof(names[0]) ?
	    names[v] : "?";
}

const char *
plan_reason_text(enum plan_reason r)
{
	static const char *const text[] = {
		[PLAN_R_IN_SYNC] = "in sync",
		[PLAN_R_NEW] = "never applied",
		[PLAN_R_SPEC_CHANGED] = "spec changed",
		[PLAN_R_MISSING] = "local file missing",
		[PLAN_R_DRIFTED] = "local file changed",
		[PLAN_R_REMOTE_CHANGED] = "remote file changed",
		[PLAN_R_REFRESH_DUE] = "refresh due",
		[PLAN_R_JOB_ACTIVE] = "transfer in progress",
		[PLAN_R_JOB_TRANSIENT] = "transient error, the backend retries",
		[PLAN_R_JOB_SUSPENDED] = "job suspended",
		[PLAN_R_JOB_ERROR] = "job failed",
		[PLAN_R_TOO_MANY_ERRORS] = "job failed repeatedly",
		[PLAN_R_BACKOFF] = "waiting to retry",
		[PLAN_R_TRANSFERRED] = "transferred",
		[PLAN_R_MONITOR] = "monitor mode",
		[PLAN_R_UNDECLARED] = "no longer declared",
		[PLAN_R_INVALID_FILE] = "its manifest file is invalid",
		[PLAN_R_DUPLICATES] = "duplicate jobs",
		[PLAN_R_UNRECORDED_JOB] = "job created but not recorded",
		[PLAN_R_JOB_BUDGET] = "queued: job budget",
	};

	return (unsigned)r < sizeof(text) / sizeof(text[0]) ?
	    text[r] : "?";
}
