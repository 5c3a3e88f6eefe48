/* engine.c - the `engine` backend: BITS job semantics over HTTP(S) and
 * SMB, jobs persisted in SQLite (store.c), transfers in worker threads.
 *
 * Jobs and their files live in memory behind one mutex and are written
 * through to the store on every state change, so a crash loses nothing
 * but the byte count of transfers in flight, which open recovers from the
 * temp files themselves.  max_parallel workers each take the next file
 * from the queue: jobs in priority order (FOREGROUND first), then in
 * creation order, then files in order.
 *
 * States and transitions are BITS's: a new job is SUSPENDED; Resume makes
 * it QUEUED; a worker that takes one of its files makes it CONNECTING, the
 * first response TRANSFERRING; when every file is in its temp file it is
 * TRANSFERRED, and Complete renames the temps into place (ACKNOWLEDGED) or
 * Cancel removes them (CANCELLED); both then drop the job, as BITS does.
 * A transient error (network, timeout, 5xx) makes it TRANSIENT_ERROR until
 * retry_delay passes, unless no_progress_timeout has passed without a byte
 * of progress, which makes it ERROR, as does any other error at once. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "engine_int.h"
#include "rsched.h"
#include "krb.h"
#include "log.h"
#include "xhash.h"

struct worker {
	struct backend *e;
	pthread_t th;
	struct lf_dircache dc;	/* destination directory of the last file */
	int64_t dc_seq;		/* ... of this job (its identity); seq, not a
				 * pointer, which a later job may reuse */
	struct http_worker *http;
	struct smb_worker *smb;
};

struct backend {
	char *state_dir, *credential_dir, *ca_file;
	unsigned smb_port;
	uint64_t rate_limit;
	struct store *store;
	int lockfd;
	pthread_mutex_t mu;
	pthread_cond_t wake;	/* work may be available */
	pthread_cond_t idle;	/* a job's last active file was released */
	struct ejob **jobs;
	size_t njobs;
	struct ejob **dying;	/* cancelled, temps not yet removed (ejob.dying) */
	size_t ndying;
	int64_t next_seq;
	int stop;
	struct worker *workers;
	unsigned nworkers;
	bk_notify_fn notify;
	void *notify_ctx;
	pthread_mutex_t rmu;	/* the rate limit's token bucket */
	double tokens;
	struct timespec rlast;
	uint64_t rlast_rate;	/* the rate the bucket was filled at */
	struct rsched sched;	/* rate_schedule; empty: rate_limit always */
	int64_t sched_offset;	/* test clock (BITSYNC_TEST_SCHEDULE_NOW) */
	unsigned max_files, max_jobs;	/* MaxFilesPerJob, MaxJobsPerMachine */
	char lasterr[256];	/* last_error: why the last call was refused */
};

/* One transfer in a worker: what the xfer callbacks need. */
struct active {
	struct backend *e;
	struct ejob *j;
	struct efile *f;
	size_t idx;
	unsigned gen;
};

static int
is_active(enum bk_state s)
{
	return s == BK_CONNECTING || s == BK_TRANSFERRING;
}

static int
is_runnable(enum bk_state s)
{
	return s == BK_QUEUED || is_active(s);
}

static char *
xstrdup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Files small enough to fetch again cheaply are written to the store in
 * batches (a job's state change, or once a second), not one transaction
 * each: that is most of the cost of many small files.  A crash may then
 * forget that some finished; they are fetched again, and their temp files
 * are swept (sweep_temps) when the job ends. */
#define SMALL_FILE	(1u << 20)

static void
flush_files(struct backend *e, struct ejob *j)
{
	size_t k;

	if (j->ndirty == 0)
		return;
	store_begin(e->store);
	for (k = 0; k < j->nfiles; k++)
		if (j->files[k].dirty) {
			store_update_file(e->store, j, k);
			j->files[k].dirty = 0;
		}
	store_commit(e->store);
	j->ndirty = 0;
	j->flushed = time(NULL);
}

static void
file_changed(struct backend *e, struct ejob *j, size_t k)
{
	struct efile *f = &j->files[k];

	if (f->total != BK_SIZE_UNKNOWN && f->total <= SMALL_FILE) {
		if (!f->dirty) {
			f->dirty = 1;
			j->ndirty++;
		}
		return;
	}
	if (f->dirty) {
		f->dirty = 0;
		j->ndirty--;
	}
	store_update_file(e->store, j, k);
}

static void
set_state(struct backend *e, struct ejob *j, enum bk_state s)
{
	time_t now = time(NULL);

	if (j->state == s)
		return;
	if (is_active(j->state) && !is_active(s) && j->active_since != 0) {
		j->active_secs += difftime(now, j->active_since);
		j->active_since = 0;
	} else if (!is_active(j->state) && is_active(s))
		j->active_since = now;
	j->state = s;
	j->modified = now;
	if (s == BK_TRANSFERRED)
		j->transfer_completed = now;
	flush_files(e, j);
	store_update_job(e->store, j);
	if (e->notify != NULL)
		e->notify(e->notify_ctx, &j->id, s);
}

static void
set_error(struct ejob *j, enum bk_error_context ctx, int32_t code,
    const char *text, const char *remote, const char *local)
{
	backend_free_error(&j->err);
	j->has_error = 1;
	j->error_count++;
	j->err.context = ctx;
	j->err.code = code;
	j->err.text = xstrdup_or_null(text);
	j->err.context_text = NULL;
	j->err.remote = xstrdup_or_null(remote);
	j->err.local = xstrdup_or_null(local);
}

/* Stops the workers on a job's files at their next callback (curl's
 * progress callback runs at least once a second, the SMB loop at every
 * read).  It only asks: a caller that must not wait for a transfer takes
 * the job out of the workers' reach itself (engine_cancel). */
static void
job_stop(struct ejob *j)
{
	atomic_fetch_add(&j->gen, 1);
}

/* Waits until no worker holds a file of j.  Only for a job no worker can
 * pick again (SUSPENDED, or off the job list): a runnable job would be
 * picked anew at once, and the wait would last the whole download. */
static void
wait_idle(struct backend *e, struct ejob *j)
{
	while (j->nactive > 0)
		pthread_cond_wait(&e->idle, &e->mu);
}

/* A file a worker may take: not done, not taken, and its temp not still
 * written by the worker of the job it was carried from (or carried away
 * to another job). */
static int
startable(const struct efile *f)
{
	return !f->completed && !f->active && !f->held && !f->carried;
}

static struct ejob *
find(struct backend *e, const bk_guid *id)
{
	size_t i;

	for (i = 0; i < e->njobs; i++)
		if (memcmp(e->jobs[i]->id.b, id->b, 16) == 0)
			return e->jobs[i];
	return NULL;
}

/* Takes j off v; nothing else changes. */
static void
unlist(struct ejob **v, size_t *n, struct ejob *j)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (v[i] == j) {
			memmove(&v[i], &v[i + 1], (*n - i - 1) * sizeof(*v));
			(*n)--;
			break;
		}
}

static void
drop(struct backend *e, struct ejob *j)
{
	unlist(e->jobs, &e->njobs, j);
	store_delete_job(e->store, &j->id);
	ejob_free(j);
}

/* How long a cancelled job's temps wait for a job of the same set to take
 * them over: the reconciler creates that job right after the cancel, in
 * the same pass, so this only has to outlast one pass. */
#define CARRY_GRACE_MS 1000

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void remove_temps(struct backend *e, struct ejob *j,
    int only_incomplete);

/* A cancelled job no worker holds any more: its temps go (all but those
 * a new job took over), then the job itself, from the store too. */
static void
reap(struct backend *e, struct ejob *j)
{
	unlist(e->dying, &e->ndying, j);
	remove_temps(e, j, 0);
	store_delete_job(e->store, &j->id);
	ejob_free(j);
}

/* Reaps the cancelled jobs whose grace passed and that no worker holds;
 * all of them when force (close). */
static void
reap_due(struct backend *e, int force)
{
	int64_t now = mono_ms();
	size_t i = e->ndying;

	while (i-- > 0)
		if (force || (e->dying[i]->nactive == 0 &&
		    now >= e->dying[i]->reap_at_ms))
			reap(e, e->dying[i]);
}

/* Timers: transient errors back to QUEUED after the retry delay;
 * max_download_time; batched store writes.  The workers run it at least
 * once a second (their wait times out), which is the timers' resolution. */
static void
housekeep(struct backend *e, time_t now)
{
	struct ejob *j;
	size_t i;
	double spent;

	if (e->ndying > 0)
		reap_due(e, 0);
	for (i = 0; i < e->njobs; i++) {
		j = e->jobs[i];
		if (j->ndirty > 0 && difftime(now, j->flushed) >= 1)
			flush_files(e, j);
		if (j->state == BK_TRANSIENT_ERROR) {
			if (now >= j->retry_at)
				set_state(e, j, BK_QUEUED);
			continue;
		}
		if (!is_active(j->state) || j->max_download_time == 0)
			continue;
		spent = j->active_secs + (j->active_since ?
		    difftime(now, j->active_since) : 0);
		if (spent >= j->max_download_time) {
			set_error(j, BK_CTX_GENERAL_QUEUE_MANAGER,
			    HR_BG_MAXDOWNLOAD_TIMEOUT, "the job did not finish"
			    " within its maximum download time", NULL, NULL);
			job_stop(j);
			set_state(e, j, BK_ERROR);
		}
	}
}

/* The next file to transfer: best priority, then oldest job, then file
 * order.  Marks it active. */
static int
pick(struct backend *e, struct active *a)
{
	struct ejob *j, *best = NULL;
	size_t i, k, n;

	for (i = 0; i < e->njobs; i++) {
		j = e->jobs[i];
		if (!is_runnable(j->state))
			continue;
		for (k = 0, n = 0; k < j->nfiles; k++)
			if (startable(&j->files[k]))
				break;
		if (k == j->nfiles) {
			/* Nothing left to start; done if nothing runs. */
			for (k = 0; k < j->nfiles; k++)
				n += j->files[k].completed != 0;
			if (n == j->nfiles && j->nactive == 0)
				set_state(e, j, BK_TRANSFERRED);
			continue;
		}
		if (best == NULL || j->priority < best->priority ||
		    (j->priority == best->priority && j->seq < best->seq))
			best = j;
	}
	if (best == NULL)
		return 0;
	for (k = 0; k < best->nfiles; k++)
		if (startable(&best->files[k]))
			break;
	a->e = e;
	a->j = best;
	a->f = &best->files[k];
	a->idx = k;
	a->gen = atomic_load(&best->gen);
	a->f->active = 1;
	best->nactive++;
	if (best->state == BK_QUEUED)
		set_state(e, best, BK_CONNECTING);
	return 1;
}

/* The rate that holds now: rate_schedule's window, else rate_limit. */
static uint64_t
current_rate(struct backend *e)
{
	uint32_t ws;

	if (e->sched.n == 0)
		return e->rate_limit;
	ws = (uint32_t)(((int64_t)rsched_week_second(time(NULL)) +
	    e->sched_offset) % RSCHED_WEEK);
	return rsched_rate(&e->sched, ws, e->rate_limit, NULL);
}

/* Adds what the bucket earned since it was last filled, at the rate that
 * holds now (mutex rmu held).  Returns that rate; 0: unlimited. */
static uint64_t
refill(struct backend *e)
{
	struct timespec now;
	uint64_t rate = current_rate(e);
	double dt, burst;

	clock_gettime(CLOCK_MONOTONIC, &now);
	dt = (double)(now.tv_sec - e->rlast.tv_sec) +
	    (double)(now.tv_nsec - e->rlast.tv_nsec) / 1e9;
	e->rlast = now;
	if (rate != e->rlast_rate) {
		/* A window's edge: the new rate starts with an empty
		 * bucket, so a debt run up at a low rate does not hold a
		 * higher one back, nor a saved burst lift a lower one. */
		e->tokens = 0;
		e->rlast_rate = rate;
		return rate;
	}
	if (rate == 0)
		return 0;
	burst = (double)rate / 8 + 65536;
	e->tokens += dt * (double)rate;
	if (e->tokens > burst)
		e->tokens = burst;
	return rate;
}

/* Takes n bytes from the token bucket shared by all transfers, sleeping
 * while it is in debt.  The sleep is cut into slices of at most 250 ms
 * and the rate looked up again after each, so that a rate_schedule
 * window that begins or ends changes running transfers within a second
 * (design §6).  Foreground jobs are never limited, as BITS's bandwidth
 * policy limits background transfers only. */
static void
rate_wait(struct backend *e, size_t n, enum bk_priority prio)
{
	struct timespec ts;
	double wait;
	uint64_t rate;

	if (prio == BK_FOREGROUND || (e->rate_limit == 0 && e->sched.n == 0))
		return;
	pthread_mutex_lock(&e->rmu);
	if (refill(e) == 0) {
		pthread_mutex_unlock(&e->rmu);
		return;
	}
	e->tokens -= (double)n;
	for (;;) {
		if (e->tokens >= 0 || (rate = refill(e)) == 0 ||
		    e->tokens >= 0)
			break;
		wait = -e->tokens / (double)rate;
		if (wait > 0.25)
			wait = 0.25;
		pthread_mutex_unlock(&e->rmu);
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(wait * 1e9);
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&e->rmu);
	}
	pthread_mutex_unlock(&e->rmu);
}

static int
cb_should_abort(struct xfer *x)
{
	struct active *a = x->ctx;

	return atomic_load(&a->j->gen) != a->gen;
}

static int
cb_start(struct xfer *x, const struct bk_validators *v, uint64_t total,
    int restart)
{
	struct active *a = x->ctx;
	struct backend *e = a->e;
	struct efile *f = a->f;

	(void)restart;
	pthread_mutex_lock(&e->mu);
	backend_free_validators(&f->v);
	f->v.size = v->size;
	f->v.mtime = v->mtime;
	f->v.etag = xstrdup_or_null(v->etag);
	f->v.last_modified = xstrdup_or_null(v->last_modified);
	f->total = total;
	f->done = x->offset;
	/* Recorded before the body, so a crash mid-body can resume. */
	file_changed(e, a->j, a->idx);
	if (a->j->state == BK_CONNECTING &&
	    atomic_load(&a->j->gen) == a->gen)
		set_state(e, a->j, BK_TRANSFERRING);
	pthread_mutex_unlock(&e->mu);
	return cb_should_abort(x);
}

static int
cb_data(struct xfer *x, size_t n)
{
	struct active *a = x->ctx;
	struct backend *e = a->e;

	rate_wait(e, n, a->j->priority);
	pthread_mutex_lock(&e->mu);
	a->f->done += n;
	a->j->stall_since = 0;
	pthread_mutex_unlock(&e->mu);
	return cb_should_abort(x);
}

/* Opens (or first creates) the file's temp file.  Called without the
 * mutex; the new temp name is recorded under it. */
static int
open_temp(struct worker *w, struct active *a, const struct lf_ident *id,
    int *fdp, struct xfer *x)
{
	struct backend *e = a->e;
	struct lf_ident saved;
	const char *base;
	char *name = NULL, *temp;
	struct stat sb;
	uint64_t dev, ino;
	int dfd = -1, err, ret = XFER_FAILED, fresh;

	pthread_mutex_lock(&e->mu);
	temp = xstrdup_or_null(a->f->temp);
	dev = a->f->temp_dev;
	ino = a->f->temp_ino;
	pthread_mutex_unlock(&e->mu);
	if ((err = lf_ident_enter(id, &saved)) != 0) {
		xfer_fail(x, BK_CTX_LOCAL_FILE, HR_ACCESS_DENIED, 0,
		    "cannot act as the helper token's local user");
		goto out;
	}
	if (w->dc_seq != a->j->seq) {
		lf_dir_forget(&w->dc);
		w->dc_seq = a->j->seq;
	}
	err = lf_dir_cached(&w->dc, a->f->local, &dfd, &base, &fresh);
	if (err == 0 && temp != NULL)
		err = lf_temp_open(dfd, temp, dev, ino, fdp);
	/* No temp yet, or the recorded name now holds something that is
	 * not ours (a FIFO, a link, another's file planted there): a fresh
	 * exclusive temp under a new name, the transfer from byte 0. */
	if (err == 0 && temp == NULL)
		err = lf_temp_create(dfd, lf_temp_tag(e->state_dir), &name,
		    fdp);
	else if (err == LF_TEMP_STALE)
		err = lf_temp_create(dfd, lf_temp_tag(e->state_dir), &name,
		    fdp);
	lf_ident_leave(&saved);
	if (err != 0) {
		xfer_fail(x, BK_CTX_LOCAL_FILE, lf_hresult(err), 0,
		    "%s %s: %s", err == ELOOP ? "a symbolic link in" :
		    "cannot create a temporary file for", a->f->local,
		    strerror(err));
		goto out;
	}
	/* What the temp is, recorded with its name (cb_start writes both
	 * down before the body): a later reopen or Complete checks it. */
	if (fstat(*fdp, &sb) != 0) {
		xfer_fail(x, BK_CTX_LOCAL_FILE, lf_hresult(errno), 0,
		    "%s: %s", a->f->local, strerror(errno));
		close(*fdp);
		*fdp = -1;
		goto out;
	}
	pthread_mutex_lock(&e->mu);
	if (name != NULL) {
		free(a->f->temp);
		a->f->temp = name;
		name = NULL;
	}
	a->f->temp_dev = (uint64_t)sb.st_dev;
	a->f->temp_ino = (uint64_t)sb.st_ino;
	pthread_mutex_unlock(&e->mu);
	ret = XFER_OK;
out:
	free(name);
	free(temp);
	return ret;
}

/* A file is complete only when the temp holds exactly the bytes the
 * server announced (without an announced size, the protocol said the
 * body ended cleanly).  Checked on the file itself, whatever the
 * protocol module believes: a short file must never be committed and
 * reported in sync. */
static int
check_length(struct active *a, struct xfer *x, int fd)
{
	struct backend *e = a->e;
	struct stat sb;
	uint64_t total;

	pthread_mutex_lock(&e->mu);
	total = a->f->total;
	pthread_mutex_unlock(&e->mu);
	if (fstat(fd, &sb) != 0)
		return xfer_fail(x, BK_CTX_LOCAL_FILE, lf_hresult(errno), 0,
		    "%s: %s", a->f->local, strerror(errno));
	if (total != BK_SIZE_UNKNOWN && (uint64_t)sb.st_size != total)
		return xfer_fail(x, BK_CTX_REMOTE_FILE,
		    HR_BG_INVALID_SERVER_RESPONSE, 1, "%s ended after %llu of"
		    " the %llu bytes it announced: not committed, the"
		    " transfer resumes after the retry delay", x->remote,
		    (unsigned long long)sb.st_size,
		    (unsigned long long)total);
	return XFER_OK;
}

/* auth: computer: the computer account's ticket when the host has a
 * machine keytab (krb.h), else anonymous (validate warned:
 * anonymous-computer).  A keytab whose ticket cannot be had is an error,
 * never a quiet fall back to anonymous.  0, or -1 with x's error set. */
static int
machine_identity(struct xfer *x)
{
	const char *p = krb_machine_principal();
	char why[768];

	if (p == NULL)
		return 0;
	if (krb_machine_ticket(why, sizeof(why)) != 0) {
		xfer_fail(x, BK_CTX_GENERAL_TRANSPORT, HR_LOGON_FAILURE, 1,
		    "auth: computer for %s: no Kerberos ticket for the "
		    "computer account %s (%s); retried after the retry delay: "
		    "check that the domain's KDC is reachable and the "
		    "machine keytab is current", x->remote, p, why);
		return -1;
	}
	x->machine = p;
	return 0;
}

static int
transfer(struct worker *w, struct active *a, struct xfer *x)
{
	struct backend *e = a->e;
	struct ejob *j = a->j;
	struct cred c;
	struct lf_ident id;
	struct stat sb;
	char why[256], *pem = NULL;
	size_t pemlen = 0;
	int fd = -1, ret;

	memset(&c, 0, sizeof(c));
	memset(&id, 0, sizeof(id));
	memset(x, 0, sizeof(*x));
	x->remote = a->f->remote;
	x->job = j;
	x->ca_file = e->ca_file;
	x->smb_port = e->smb_port;
	x->fd = -1;
	x->on_start = cb_start;
	x->on_data = cb_data;
	x->should_abort = cb_should_abort;
	x->ctx = a;
	if (j->credential != NULL) {
		if (cred_load(e->credential_dir, j->credential, &c, why,
		    sizeof(why)) != 0) {
			ret = xfer_fail(x, BK_CTX_GENERAL_QUEUE_MANAGER,
			    HR_LOGON_FAILURE, 0, "%s", why);
			goto out;
		}
		if ((j->token_flags & BK_TOKEN_NETWORK) ||
		    j->token_flags == 0) {
			x->user = c.username;
			x->password = c.password;
			x->domain = c.domain;
		}
		if ((j->token_flags & BK_TOKEN_LOCAL_FILE) &&
		    lf_ident_for_user(c.username, &id) != 0) {
			ret = xfer_fail(x, BK_CTX_LOCAL_FILE, HR_LOGON_FAILURE,
			    0, "credential %s: no local user %s",
			    j->credential, c.username);
			goto out;
		}
	} else if (j->auth_computer && machine_identity(x) != 0) {
		ret = XFER_FAILED;
		goto out;
	}
	if (j->client_cert != NULL) {
		/* Read for each file, through the checked descriptor: a key
		 * replaced or narrowed meanwhile is seen at the next file. */
		if (cred_load_pem(e->credential_dir, j->client_cert, &pem,
		    &pemlen, why, sizeof(why)) != 0) {
			ret = xfer_fail(x, BK_CTX_GENERAL_QUEUE_MANAGER,
			    HR_LOGON_FAILURE, 0, "%s", why);
			goto out;
		}
		x->client_pem = pem;
		x->client_pem_len = pemlen;
	}
	if ((ret = open_temp(w, a, &id, &fd, x)) != XFER_OK)
		goto out;
	if (fstat(fd, &sb) != 0 || lseek(fd, 0, SEEK_END) < 0) {
		ret = xfer_fail(x, BK_CTX_LOCAL_FILE, lf_hresult(errno), 0,
		    "%s", strerror(errno));
		goto out;
	}
	x->fd = fd;
	x->offset = (uint64_t)sb.st_size;
	x->have = &a->f->v;
	/* The worker holds the file (active): its hash is the worker's
	 * until finish(). */
	a->f->digest_ok = 0;
	if (a->f->want_hash && a->f->hash == NULL)
		a->f->hash = xhash_new();
	x->hash = a->f->hash;
	if (smb_is_unc(x->remote)) {
		if (w->smb == NULL && (w->smb = smb_worker_new()) == NULL) {
			ret = xfer_fail(x, BK_CTX_GENERAL_QUEUE_MANAGER,
			    HR_GEN_FAILURE, 1, "out of memory");
			goto out;
		}
		ret = smb_transfer(w->smb, x);
	} else {
		if (w->http == NULL && (w->http = http_worker_new()) == NULL) {
			if (!http_available())
				ret = xfer_fail(x, BK_CTX_GENERAL_TRANSPORT,
				    HR_GEN_FAILURE, 0, "libcurl (libcurl.so.4) "
				    "cannot be loaded: install the libcurl4 "
				    "package");
			else
				ret = xfer_fail(x, BK_CTX_GENERAL_QUEUE_MANAGER,
				    HR_GEN_FAILURE, 1, "out of memory");
			goto out;
		}
		ret = http_transfer(w->http, x);
	}
	if (ret == XFER_OK)
		ret = check_length(a, x, fd);
	/* The data on disk before finish() lets the store say "completed":
	 * after a power loss the store must never name a file whole whose
	 * bytes were still in the page cache (store.c, crash guarantee). */
	if (ret == XFER_OK && fdatasync(fd) != 0)
		ret = xfer_fail(x, BK_CTX_LOCAL_FILE, lf_hresult(errno), 0,
		    "cannot write %s to disk: %s", a->f->local,
		    strerror(errno));
	/* The digest of exactly the temp's bytes (a part written by an
	 * earlier process is read back once here or as it went); without
	 * one the reconciler reads the temp itself. */
	if (ret == XFER_OK && a->f->hash != NULL && fstat(fd, &sb) == 0 &&
	    xhash_final(a->f->hash, fd, (uint64_t)sb.st_size,
	    a->f->digest) == 0) {
		a->f->digest_len = (uint64_t)sb.st_size;
		a->f->digest_dev = (uint64_t)sb.st_dev;
		a->f->digest_ino = (uint64_t)sb.st_ino;
		a->f->digest_ok = 1;
	}
out:
	if (fd >= 0)
		close(fd);
	cred_free(&c);
	x->client_pem = NULL;
	cred_free_pem(pem, pemlen);
	return ret;
}

/* The job with creation number seq, listed or cancelled in its grace. */
static struct ejob *
by_seq(struct backend *e, int64_t seq)
{
	size_t i;

	for (i = 0; i < e->njobs + e->ndying; i++) {
		struct ejob *j = i < e->njobs ? e->jobs[i] :
		    e->dying[i - e->njobs];

		if (j->seq == seq)
			return j;
	}
	return NULL;
}

/* A carried file's old worker let go of the temp: the job it went to
 * (if it is still there) may now transfer it, from what the temp holds,
 * with the validators of the remote version those bytes are of.  When
 * that job was cancelled in turn and its file carried on, the hand-over
 * follows (a temp is only ever written by one worker). */
static void
handoff(struct backend *e, struct efile *f)
{
	struct ejob *nj;
	struct efile *nf;

	while (f->carried && (nj = by_seq(e, f->handoff_seq)) != NULL &&
	    f->handoff_idx < nj->nfiles) {
		nf = &nj->files[f->handoff_idx];
		if (!nf->held)
			break;
		nf->held = 0;
		nf->done = f->done;
		nf->total = f->total;
		nf->completed = f->completed == 1;
		/* carry() moved the validators already; the old worker set
		 * new ones only when its response started over (cb_start). */
		if (f->v.etag != NULL || f->v.last_modified != NULL ||
		    f->v.size != BK_SIZE_UNKNOWN || f->v.mtime != 0) {
			backend_free_validators(&nf->v);
			nf->v = f->v;
			memset(&f->v, 0, sizeof(f->v));
			f->v.size = BK_SIZE_UNKNOWN;
		}
		if (!nj->dying)
			file_changed(e, nj, f->handoff_idx);
		f = nf;
	}
}

/* Up to a quarter of retry_delay more, drawn anew at each failure from
 * the job's GUID (random per host) and the time: hosts whose jobs failed
 * together (an origin outage, a push that met it) drift apart a little
 * more at every round, so that their retries reach the origin spread
 * rather than in one second when it is back (design §9).  BITS's
 * MinimumRetryDelay is a minimum; this keeps it. */
static time_t
retry_jitter(const struct ejob *j, time_t now)
{
	uint64_t h = 0xcbf29ce484222325ULL, t = (uint64_t)now;
	size_t i;

	for (i = 0; i < sizeof(j->id.b); i++)
		h = (h ^ j->id.b[i]) * 0x100000001b3ULL;
	for (i = 0; i < sizeof(t); i++, t >>= 8)
		h = (h ^ (t & 0xff)) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (time_t)(h % ((uint64_t)j->retry_delay / 4 + 1));
}

/* Called with the mutex held after a transfer ended. */
static void
finish(struct backend *e, struct active *a, struct xfer *x, int ret)
{
	struct ejob *j = a->j;
	struct efile *f = a->f;
	time_t now = time(NULL);
	size_t k, n = 0;

	f->active = 0;
	j->nactive--;
	if (ret == XFER_OK && f->total != BK_SIZE_UNKNOWN &&
	    f->done != f->total)
		ret = xfer_fail(x, BK_CTX_REMOTE_FILE,
		    HR_BG_INVALID_SERVER_RESPONSE, 1, "%s: %llu of %llu bytes"
		    " arrived: not committed, the transfer resumes after the"
		    " retry delay", f->remote, (unsigned long long)f->done,
		    (unsigned long long)f->total);
	if (ret == XFER_OK) {
		f->completed = 1;
		if (f->total == BK_SIZE_UNKNOWN)
			f->total = f->done;
	}
	if (f->carried)
		handoff(e, f);
	if (j->dying) {
		/* Cancelled meanwhile: its state is settled; its temps go
		 * once the grace passed (housekeep, reap_due). */
		if (j->nactive == 0 && mono_ms() >= j->reap_at_ms)
			reap(e, j);
		goto wake;
	}
	file_changed(e, j, a->idx);
	if (atomic_load(&j->gen) != a->gen || ret == XFER_ABORTED)
		goto out;
	if (ret == XFER_OK) {
		for (k = 0; k < j->nfiles; k++)
			n += j->files[k].completed != 0;
		if (n == j->nfiles && j->nactive == 0)
			set_state(e, j, BK_TRANSFERRED);
		goto out;
	}
	set_error(j, x->ectx, x->code, x->text, f->remote, f->local);
	job_stop(j);
	if (x->transient) {
		if (j->stall_since == 0)
			j->stall_since = now;
		/*
		 * stall_since has whole-second resolution (it is persisted as
		 * wall time), so "at least the timeout" needs a strict '>':
		 * with '>=' a 3 s timeout could end a job after 2.1 s.  0 is
		 * BITS's "never retry".
		 */
		if (j->no_progress_timeout == 0 ||
		    difftime(now, j->stall_since) > j->no_progress_timeout) {
			set_state(e, j, BK_ERROR);
		} else {
			/* A server's Retry-After (503, 429) is honoured when
			 * longer than the job's delay, up to a day: a server
			 * cannot park a job for ever. */
			j->retry_at = now + (time_t)j->retry_delay +
			    retry_jitter(j, now);
			if (x->retry_after > j->retry_delay)
				j->retry_at = now + 1 + (time_t)(
				    x->retry_after < 86400 ? x->retry_after :
				    86400);	/* +1: now is truncated */
			set_state(e, j, BK_TRANSIENT_ERROR);
		}
	} else
		set_state(e, j, BK_ERROR);
out:
	if (j->nactive == 0)
		pthread_cond_broadcast(&e->idle);
wake:
	pthread_cond_broadcast(&e->wake);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct backend *e = w->e;
	struct active a;
	struct xfer x;
	struct timespec ts;
	int ret;

	pthread_mutex_lock(&e->mu);
	while (!e->stop) {
		housekeep(e, time(NULL));
		if (!pick(e, &a)) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&e->wake, &e->mu, &ts);
			continue;
		}
		pthread_mutex_unlock(&e->mu);
		ret = transfer(w, &a, &x);
		pthread_mutex_lock(&e->mu);
		finish(e, &a, &x, ret);
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

/* After a crash: what the temp files hold is the truth about progress. */
static void
recover(struct ejob *j)
{
	struct stat sb;
	const char *base;
	size_t k;
	int dfd;

	if (is_active(j->state))
		j->state = BK_QUEUED;
	j->active_since = 0;
	for (k = 0; k < j->nfiles; k++) {
		struct efile *f = &j->files[k];

		if (f->completed == 2 || f->temp == NULL)
			continue;
		if (lf_open_dir(f->local, &dfd, &base) != 0)
			continue;
		if (fstatat(dfd, f->temp, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
			f->done = (uint64_t)sb.st_size;
			/* The store may say complete before the data was
			 * durable (a crash lost the tail): complete only at
			 * exactly the recorded size; otherwise the transfer
			 * resumes (or, past the size, starts over). */
			if (f->completed == 1 && f->total != BK_SIZE_UNKNOWN &&
			    f->done != f->total) {
				f->completed = 0;
				if (j->state == BK_TRANSFERRED)
					j->state = BK_QUEUED;
			}
		} else if (errno == ENOENT) {
			/* Someone removed the temp file (or a Complete cut
			 * short renamed it): fetch it again, into a new temp.
			 * Never the old name: until this is written down the
			 * store may still say that name holds the whole file,
			 * and a crash would then take a new, short file for
			 * it. */
			f->done = 0;
			f->completed = 0;
			if (j->state == BK_TRANSFERRED)
				j->state = BK_QUEUED;
			free(f->temp);
			f->temp = NULL;
		}
		close(dfd);
	}
	/* A Complete cut short by a crash renamed temps into place before
	 * the store said so, and a TRANSFERRED job whose temp is gone could
	 * only fail its verify: its missing files are fetched again (the
	 * destination holds a whole version meanwhile). */
	for (k = 0; k < j->nfiles && j->state == BK_TRANSFERRED; k++)
		if (j->files[k].completed == 0)
			j->state = BK_QUEUED;
}

static void remove_temps(struct backend *e, struct ejob *j,
    int only_incomplete);

/* rate_schedule, checked at config load; parsed again here.
 * BITSYNC_TEST_SCHEDULE_NOW="Mon 07:59:58@EPOCH" makes the schedule's
 * clock read that local weekday and time at UNIX time EPOCH (without
 * "@EPOCH": now), running in real time from there: for the test suite
 * only (README), so that a test meets a window's edge at a moment it
 * knows. */
static int
sched_open(struct backend *e, const struct config *cfg)
{
	const char *t = getenv("BITSYNC_TEST_SCHEDULE_NOW"), *at_s;
	char why[512], moment[32];
	int64_t at, epoch;

	if (cfg->rate_schedule == NULL)
		return 0;
	if (rsched_parse(cfg->rate_schedule, &e->sched, why,
	    sizeof(why), NULL) != 0) {
		fprintf(stderr, "bitsync: rate_schedule: %s\n", why);
		return -1;
	}
	if (t != NULL) {
		epoch = (int64_t)time(NULL);
		snprintf(moment, sizeof(moment), "%s", t);
		if ((at_s = strchr(t, '@')) != NULL) {
			moment[at_s - t < (int)sizeof(moment) ?
			    at_s - t : (int)sizeof(moment) - 1] = '\0';
			epoch = strtoll(at_s + 1, NULL, 10);
		}
		if ((at = rsched_parse_moment(moment)) >= 0)
			e->sched_offset = ((at - (int64_t)rsched_week_second(
			    (time_t)epoch)) % RSCHED_WEEK + RSCHED_WEEK) %
			    RSCHED_WEEK;
	}
	e->rlast_rate = current_rate(e);
	return 0;
}

static int
engine_open(const struct config *cfg, struct backend **out)
{
	struct backend *e;
	char path[4096];
	size_t i;
	unsigned k;
	int rc = BK_E_IO;

	if (cfg->state_dir == NULL)
		return BK_E_INVALID;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return BK_E_IO;
	e->lockfd = -1;
	pthread_mutex_init(&e->mu, NULL);
	pthread_mutex_init(&e->rmu, NULL);
	pthread_cond_init(&e->wake, NULL);
	pthread_cond_init(&e->idle, NULL);
	e->state_dir = strdup(cfg->state_dir);
	e->credential_dir = xstrdup_or_null(cfg->credential_dir);
	e->ca_file = xstrdup_or_null(cfg->ca_file);
	e->smb_port = cfg->smb_port ? cfg->smb_port : 445;
	e->rate_limit = cfg->rate_limit;
	e->rlast_rate = cfg->rate_limit;
	e->max_files = cfg->max_files_per_job;
	e->max_jobs = cfg->max_jobs;
	if (sched_open(e, cfg) != 0)
		goto fail;
	clock_gettime(CLOCK_MONOTONIC, &e->rlast);
	/* Before the workers start: it sets KRB5CCNAME for the process
	 * (with machine_keytab off too: then an empty cache, never one the
	 * service inherited). */
	{
		char why[768];

		switch (krb_machine_init(cfg->machine_keytab,
		    cfg->machine_principal, cfg->state_dir, why,
		    sizeof(why))) {
		case 1:
			log_info("event=machine-identity principal=%s "
			    "keytab=%s", krb_machine_principal(),
			    cfg->machine_keytab);
			break;
		case 0:
			log_debug("event=machine-identity principal=none "
			    "why=\"%s\"", why);
			break;
		default:
			log_warn("event=machine-identity principal=none "
			    "error=\"%s\" auth_computer=anonymous", why);
			break;
		}
	}
	/* The state directory is the agent's; made here only when missing,
	 * private, as a store of job settings should be. */
	if (mkdir(cfg->state_dir, 0700) != 0 && errno != EEXIST)
		goto fail;
	snprintf(path, sizeof(path), "%s/engine.lock", cfg->state_dir);
	if ((e->lockfd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) < 0)
		goto fail;
	/* One process transfers from a store at a time. */
	if (flock(e->lockfd, LOCK_EX | LOCK_NB) != 0) {
		rc = BK_E_UNAVAILABLE;
		goto fail;
	}
	if (store_open(cfg->state_dir, &e->store) != BK_OK)
		goto fail;
	if (store_load(e->store, &e->jobs, &e->njobs) != BK_OK)
		goto fail;
	for (i = 0; i < e->njobs;) {
		/* A crash between Complete or Cancel and the job's drop left
		 * it ACKNOWLEDGED or CANCELLED: the drop is finished now (the
		 * reconciler would otherwise see two jobs for the set). */
		if (e->jobs[i]->state == BK_ACKNOWLEDGED ||
		    e->jobs[i]->state == BK_CANCELLED) {
			remove_temps(e, e->jobs[i], 0);
			drop(e, e->jobs[i]);
			continue;
		}
		recover(e->jobs[i]);
		if (e->jobs[i]->seq >= e->next_seq)
			e->next_seq = e->jobs[i]->seq + 1;
		i++;
	}
	/* A job cancelled just before a crash (its temps were kept for a
	 * carry): the cancel ends now, sparing temps a live job names. */
	for (i = e->njobs; i-- > 0;) {
		struct ejob *j = e->jobs[i], **nd;

		if (j->state != BK_CANCELLED)
			continue;
		if ((nd = realloc(e->dying, (e->ndying + 1) *
		    sizeof(*nd))) == NULL)
			goto fail;
		e->dying = nd;
		e->dying[e->ndying++] = j;
		unlist(e->jobs, &e->njobs, j);
	}
	reap_due(e, 1);
	e->nworkers = cfg->max_parallel;
	if (e->nworkers > 0 &&
	    (e->workers = calloc(e->nworkers, sizeof(*e->workers))) == NULL)
		goto fail;
	for (k = 0; k < e->nworkers; k++) {
		e->workers[k].e = e;
		e->workers[k].dc.fd = -1;
		e->workers[k].dc_seq = -1;
		if (pthread_create(&e->workers[k].th, NULL, worker_main,
		    &e->workers[k]) != 0) {
			e->nworkers = k;
			engine_backend_ops.close(e);
			return BK_E_IO;
		}
	}
	*out = e;
	return BK_OK;
fail:
	e->nworkers = 0;
	engine_backend_ops.close(e);
	return rc;
}

static void
engine_close(struct backend *e)
{
	size_t i;
	unsigned k;

	if (e == NULL)
		return;
	pthread_mutex_lock(&e->mu);
	e->stop = 1;
	for (i = 0; i < e->njobs; i++)
		job_stop(e->jobs[i]);
	pthread_cond_broadcast(&e->wake);
	pthread_mutex_unlock(&e->mu);
	for (k = 0; k < e->nworkers; k++) {
		pthread_join(e->workers[k].th, NULL);
		lf_dir_forget(&e->workers[k].dc);
		http_worker_free(e->workers[k].http);
		smb_worker_free(e->workers[k].smb);
	}
	free(e->workers);
	/* Every worker let go: the cancelled jobs' temps go now, as Cancel
	 * promised, whatever is left of their grace. */
	reap_due(e, 1);
	free(e->dying);
	for (i = 0; i < e->njobs; i++) {
		if (e->store != NULL && (e->jobs[i]->ndirty > 0 ||
		    is_active(e->jobs[i]->state))) {
			flush_files(e, e->jobs[i]);
			store_update_job(e->store, e->jobs[i]);
		}
		ejob_free(e->jobs[i]);
	}
	free(e->jobs);
	store_close(e->store);
	if (e->lockfd >= 0)
		close(e->lockfd);
	pthread_mutex_destroy(&e->mu);
	pthread_mutex_destroy(&e->rmu);
	pthread_cond_destroy(&e->wake);
	pthread_cond_destroy(&e->idle);
	free(e->state_dir);
	free(e->credential_dir);
	free(e->ca_file);
	rsched_free(&e->sched);
	free(e);
}

static int
copy_job(const struct ejob *j, struct bk_job *o)
{
	size_t k;
	int unknown = 0;

	memset(o, 0, sizeof(*o));
	o->id = j->id;
	o->display_name = xstrdup_or_null(j->display_name);
	o->description = xstrdup_or_null(j->description);
	o->state = j->state;
	o->priority = j->priority;
	o->created = j->created;
	o->modified = j->modified;
	o->transfer_completed = j->transfer_completed;
	o->error_count = j->error_count;
	o->has_error = j->has_error;
	if (j->has_error) {
		o->error.context = j->err.context;
		o->error.code = j->err.code;
		o->error.text = xstrdup_or_null(j->err.text);
		o->error.context_text = xstrdup_or_null(
		    bk_context_name(j->err.context));
		o->error.remote = xstrdup_or_null(j->err.remote);
		o->error.local = xstrdup_or_null(j->err.local);
	}
	if ((o->files = calloc(j->nfiles ? j->nfiles : 1,
	    sizeof(*o->files))) == NULL)
		return -1;
	o->nfiles = j->nfiles;
	o->files_total = (uint32_t)j->nfiles;
	for (k = 0; k < j->nfiles; k++) {
		const struct efile *f = &j->files[k];
		struct bk_file *of = &o->files[k];

		of->remote = xstrdup_or_null(f->remote);
		of->local = xstrdup_or_null(f->local);
		of->bytes_total = f->total;
		of->bytes_transferred = f->done;
		of->completed = f->completed != 0;
		of->validators.size = f->v.size;
		of->validators.mtime = f->v.mtime;
		of->validators.etag = xstrdup_or_null(f->v.etag);
		of->validators.last_modified =
		    xstrdup_or_null(f->v.last_modified);
		o->files_transferred += f->completed != 0;
		o->bytes_transferred += f->done;
		if (f->total == BK_SIZE_UNKNOWN)
			unknown = 1;
		else
			o->bytes_total += f->total;
	}
	if (unknown)
		o->bytes_total = BK_SIZE_UNKNOWN;
	return 0;
}

static int
engine_list_jobs(struct backend *e, struct bk_job **jobsp, size_t *np)
{
	struct bk_job *jobs;
	size_t i;
	int rc = BK_OK;

	pthread_mutex_lock(&e->mu);
	if ((jobs = calloc(e->njobs ? e->njobs : 1, sizeof(*jobs))) == NULL) {
		rc = BK_E_IO;
		goto out;
	}
	for (i = 0; i < e->njobs; i++)
		if (copy_job(e->jobs[i], &jobs[i]) != 0) {
			backend_free_jobs(jobs, i + 1);
			rc = BK_E_IO;
			goto out;
		}
	*jobsp = jobs;
	*np = e->njobs;
out:
	pthread_mutex_unlock(&e->mu);
	return rc;
}

static int
valid_remote(const char *r)
{
	return strncasecmp(r, "http://", 7) == 0 ||
	    strncasecmp(r, "https://", 8) == 0 || smb_is_unc(r);
}

static int
same_str(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* Whether o's files were fetched as j's would be: same set (display
 * name) and the same transfer settings that decide which bytes a request
 * gets (proxy, headers, identity).  Priority and timers do not. */
static int
same_transfer(const struct ejob *o, const struct ejob *j)
{
	return same_str(o->display_name, j->display_name) &&
	    o->proxy_usage == j->proxy_usage &&
	    same_str(o->proxy_list, j->proxy_list) &&
	    same_str(o->proxy_bypass, j->proxy_bypass) &&
	    same_str(o->headers, j->headers) &&
	    same_str(o->credential, j->credential) &&
	    o->token_flags == j->token_flags &&
	    o->auth_computer == j->auth_computer &&
	    same_str(o->client_cert, j->client_cert);
}

/* Design §4 (round 2), a spec change never throws away good bytes: the
 * reconciler cancels the old job of a set and creates the new one right
 * after.  A file of the new job j whose remote and local path a job of
 * the same set with the same transfer settings, cancelled moments ago
 * (in its grace, not in ERROR), held in a temp takes that temp over
 * (name, bytes, the validators those bytes are of) while it is partial.
 * Only cancelled jobs give: a live job, ours or a look-alike, is never
 * touched.  When that job's worker still writes the temp (it aborts at
 * its next callback), the new file is held until the worker lets go
 * (finish, handoff), so two workers never write one file.  What the
 * remote holds now is checked as on any resume (If-Range), and a
 * declared sha256 is verified before Complete, as always.  Called with
 * the mutex held, after j is in the store; the store then learns both
 * sides (a crash between the two writes leaves the temp named by both
 * jobs, and remove_temps never unlinks a temp another job names). */
static void
carry(struct backend *e, struct ejob *j)
{
	struct efile *nf, *f;
	size_t i, k, m;

	for (i = 0; i < e->ndying; i++) {
		struct ejob *o = e->dying[i];

		if (o->nocarry || !same_transfer(o, j))
			continue;
		for (m = 0; m < o->nfiles; m++) {
			f = &o->files[m];
			/* Partial temps only: a resume re-checks them
			 * (If-Range), but a finished one would go to
			 * Complete as it is, and the change may be exactly
			 * a new version of that file (a new sha256). */
			if (f->temp == NULL || f->carried || f->completed != 0)
				continue;
			for (k = 0; k < j->nfiles; k++) {
				nf = &j->files[k];
				if (nf->temp == NULL &&
				    strcmp(nf->remote, f->remote) == 0 &&
				    strcmp(nf->local, f->local) == 0)
					break;
			}
			if (k == j->nfiles)
				continue;
			nf->temp = f->temp;
			f->temp = NULL;
			nf->done = f->done;
			nf->total = f->total;
			nf->completed = f->completed == 1;
			nf->v = f->v;
			memset(&f->v, 0, sizeof(f->v));
			f->v.size = BK_SIZE_UNKNOWN;
			f->carried = 1;
			f->handoff_seq = j->seq;
			f->handoff_idx = k;
			/* Its writer (or the one it waits for) still
			 * holds the temp. */
			nf->held = f->active || f->held;
			store_update_file(e->store, j, k);
			store_update_file(e->store, o, m);
		}
	}
}

static int
engine_create_job(struct backend *e, const struct bk_job_spec *spec,
    bk_guid *id)
{
	struct ejob *j = NULL, **nj;
	size_t k;
	int rc = BK_E_INVALID;

	e->lasterr[0] = '\0';
	if (spec->nfiles == 0)
		return BK_E_INVALID;
	/* BITS's limits, so that this host behaves as Windows does: the
	 * caller splits a set into jobs and queues sets (jobsplit.c). */
	if (e->max_files > 0 && spec->nfiles > e->max_files) {
		snprintf(e->lasterr, sizeof(e->lasterr), "BG_E_TOO_MANY_FILES_"
		    "IN_JOB (0x%08X): %zu files, more than max_files_per_job "
		    "(%u) allows in one job", (unsigned)
		    HR_BG_TOO_MANY_FILES_IN_JOB, spec->nfiles, e->max_files);
		return BK_E_LIMIT;
	}
	if (spec->proxy_usage == BK_PROXY_AUTODETECT)
		return BK_E_UNSUPPORTED;	/* no WPAD here */
	for (k = 0; k < spec->nfiles; k++)
		if (!valid_remote(spec->files[k].remote) ||
		    spec->files[k].local[0] != '/')
			return BK_E_INVALID;
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->files = calloc(spec->nfiles, sizeof(*j->files))) == NULL) {
		rc = BK_E_IO;
		goto out;
	}
	if (getrandom(j->id.b, sizeof(j->id.b), 0) != sizeof(j->id.b)) {
		rc = BK_E_IO;
		goto out;
	}
	j->id.b[7] = (uint8_t)((j->id.b[7] & 0x0f) | 0x40); /* version 4 */
	j->id.b[8] = (uint8_t)((j->id.b[8] & 0x3f) | 0x80);
	j->display_name = xstrdup_or_null(spec->display_name);
	j->description = xstrdup_or_null(spec->description);
	j->state = BK_SUSPENDED;
	j->priority = spec->priority;
	j->retry_delay = spec->retry_delay;
	j->no_progress_timeout = spec->no_progress_timeout;
	j->max_download_time = spec->max_download_time;
	j->proxy_usage = spec->proxy_usage;
	j->proxy_list = xstrdup_or_null(spec->proxy_list);
	j->proxy_bypass = xstrdup_or_null(spec->proxy_bypass);
	j->headers = xstrdup_or_null(spec->custom_headers);
	j->credential = xstrdup_or_null(spec->credential);
	j->token_flags = spec->token_flags;
	j->auth_computer = spec->auth_computer;
	j->client_cert = xstrdup_or_null(spec->client_certificate);
	j->created = j->modified = time(NULL);
	j->nfiles = spec->nfiles;
	for (k = 0; k < spec->nfiles; k++) {
		j->files[k].remote = strdup(spec->files[k].remote);
		j->files[k].local = strdup(spec->files[k].local);
		j->files[k].want_hash = spec->files[k].sha256 != 0;
		j->files[k].total = BK_SIZE_UNKNOWN;
		j->files[k].v.size = BK_SIZE_UNKNOWN;
		if (j->files[k].remote == NULL || j->files[k].local == NULL) {
			rc = BK_E_IO;
			goto out;
		}
	}
	pthread_mutex_lock(&e->mu);
	if (e->max_jobs > 0 && e->njobs >= e->max_jobs) {
		snprintf(e->lasterr, sizeof(e->lasterr), "BG_E_TOO_MANY_JOBS_"
		    "PER_MACHINE (0x%08X): %zu jobs exist, as many as max_jobs "
		    "(%u) allows", (unsigned)HR_BG_TOO_MANY_JOBS_PER_MACHINE,
		    e->njobs, e->max_jobs);
		pthread_mutex_unlock(&e->mu);
		rc = BK_E_LIMIT;
		goto out;
	}
	j->seq = e->next_seq++;
	if ((nj = realloc(e->jobs, (e->njobs + 1) * sizeof(*nj))) == NULL ||
	    store_insert_job(e->store, j) != BK_OK) {
		if (nj != NULL)
			e->jobs = nj;
		pthread_mutex_unlock(&e->mu);
		rc = BK_E_IO;
		goto out;
	}
	e->jobs = nj;
	e->jobs[e->njobs++] = j;
	carry(e, j);
	*id = j->id;
	j = NULL;
	pthread_mutex_unlock(&e->mu);
	rc = BK_OK;
out:
	ejob_free(j);
	return rc;
}

static int
engine_resume(struct backend *e, const bk_guid *id)
{
	struct ejob *j;
	int rc = BK_OK;

	pthread_mutex_lock(&e->mu);
	if ((j = find(e, id)) == NULL) {
		rc = BK_E_NOTFOUND;
		goto out;
	}
	switch (j->state) {
	case BK_SUSPENDED:
	case BK_ERROR:
	case BK_TRANSIENT_ERROR:
		/* Resume restarts the clocks (max download time, no
		 * progress) and retries at once, as in BITS. */
		j->has_error = 0;
		j->active_secs = 0;
		j->stall_since = 0;
		set_state(e, j, BK_QUEUED);
		pthread_cond_broadcast(&e->wake);
		break;
	case BK_ACKNOWLEDGED:
	case BK_CANCELLED:
		rc = BK_E_STATE;
		break;
	default:
		break;		/* already going, or TRANSFERRED */
	}
out:
	pthread_mutex_unlock(&e->mu);
	return rc;
}

static int
engine_suspend(struct backend *e, const bk_guid *id)
{
	struct ejob *j;
	int rc = BK_OK;

	pthread_mutex_lock(&e->mu);
	if ((j = find(e, id)) == NULL) {
		rc = BK_E_NOTFOUND;
		goto out;
	}
	if (j->state == BK_TRANSFERRED || j->state == BK_ACKNOWLEDGED ||
	    j->state == BK_CANCELLED) {
		rc = BK_E_STATE;
		goto out;
	}
	job_stop(j);
	set_state(e, j, BK_SUSPENDED);
	wait_idle(e, j);
out:
	pthread_mutex_unlock(&e->mu);
	return rc;
}

/* IBackgroundCopyJob::AddFile, on a SUSPENDED job that no worker holds
 * (engine_suspend waited for them), so the files array may move. */
static int
engine_add_file(struct backend *e, const bk_guid *id,
    const struct bk_file_spec *file)
{
	struct ejob *j;
	struct efile *nf, *f;
	size_t k;
	int rc = BK_OK;

	e->lasterr[0] = '\0';
	if (!valid_remote(file->remote) || file->local[0] != '/')
		return BK_E_INVALID;
	pthread_mutex_lock(&e->mu);
	if ((j = find(e, id)) == NULL) {
		rc = BK_E_NOTFOUND;
		goto out;
	}
	if (j->state != BK_SUSPENDED || j->nactive > 0) {
		rc = BK_E_STATE;
		goto out;
	}
	if (e->max_files > 0 && j->nfiles >= e->max_files) {
		snprintf(e->lasterr, sizeof(e->lasterr), "BG_E_TOO_MANY_FILES_"
		    "IN_JOB (0x%08X): the job holds %zu files, as many as "
		    "max_files_per_job (%u) allows", (unsigned)
		    HR_BG_TOO_MANY_FILES_IN_JOB, j->nfiles, e->max_files);
		rc = BK_E_LIMIT;
		goto out;
	}
	for (k = 0; k < j->nfiles; k++)
		if (strcmp(j->files[k].local, file->local) == 0) {
			rc = BK_E_INVALID;	/* one local file, one entry */
			goto out;
		}
	if ((nf = realloc(j->files, (j->nfiles + 1) * sizeof(*nf))) == NULL) {
		rc = BK_E_IO;
		goto out;
	}
	j->files = nf;
	f = &j->files[j->nfiles];
	memset(f, 0, sizeof(*f));
	f->total = BK_SIZE_UNKNOWN;
	f->v.size = BK_SIZE_UNKNOWN;
	f->want_hash = file->sha256 != 0;
	if ((f->remote = strdup(file->remote)) == NULL ||
	    (f->local = strdup(file->local)) == NULL) {
		free(f->remote);
		rc = BK_E_IO;
		goto out;
	}
	j->nfiles++;
	j->modified = time(NULL);
	if (store_insert_file(e->store, j, j->nfiles - 1) != BK_OK ||
	    store_update_job(e->store, j) != BK_OK)
		rc = BK_E_IO;
out:
	pthread_mutex_unlock(&e->mu);
	return rc;
}

/* IBackgroundCopyJob::SetDescription. */
static int
engine_set_description(struct backend *e, const bk_guid *id,
    const char *description)
{
	struct ejob *j;
	char *d;
	int rc = BK_OK;

	pthread_mutex_lock(&e->mu);
	if ((j = find(e, id)) == NULL) {
		rc = BK_E_NOTFOUND;
		goto out;
	}
	if ((d = xstrdup_or_null(description)) == NULL && description) {
		rc = BK_E_IO;
		goto out;
	}
	free(j->description);
	j->description = d;
	j->modified = time(NULL);
	if (store_update_job(e->store, j) != BK_OK)
		rc = BK_E_IO;
out:
	pthread_mutex_unlock(&e->mu);
	return rc;
}

/* A temp file of a completed (not yet committed) file of j. */
static int
names_completed(const struct ejob *j, const char *name)
{
	size_t k;

	for (k = 0; k < j->nfiles; k++)
		if (j->files[k].completed == 1 && j->files[k].temp != NULL &&
		    strcmp(j->files[k].temp, name) == 0)
			return 1;
	return 0;
}

/* A temp name of this store: .BIT<tag><8 hex>.tmp (lf_temp_create).
 * Names of another tag, or of the older 8-digit form, belong to another
 * instance (or an older build) and are never swept here. */
static int
is_temp_name(const char *n, uint32_t tag)
{
	char want[16];
	size_t k;

	if (strlen(n) != 24 || strncmp(n, ".BIT", 4) != 0 ||
	    strcmp(n + 20, ".tmp") != 0)
		return 0;
	snprintf(want, sizeof(want), "%08X", tag);
	if (strncmp(n + 4, want, 8) != 0)
		return 0;
	for (k = 12; k < 20; k++)
		if (!strchr("0123456789ABCDEF", n[k]))
			return 0;
	return 1;
}

static int
referenced(struct backend *e, const struct ejob *skip, const char *dir,
    size_t dirlen, const char *name)
{
	size_t i, k;

	/* Cancelled jobs in their grace count: their temps may yet be
	 * carried. */
	for (i = 0; i < e->njobs + e->ndying; i++) {
		const struct ejob *o = i < e->njobs ? e->jobs[i] :
		    e->dying[i - e->njobs];

		if (o == skip)
			continue;
		for (k = 0; k < o->nfiles; k++) {
			const struct efile *f = &o->files[k];

			if (f->temp != NULL && strcmp(f->temp, name) == 0 &&
			    strncmp(f->local, dir, dirlen) == 0 &&
			    f->local[dirlen] == '/')
				return 1;
		}
	}
	return 0;
}

/* Unlinks name in dfd only when it still looks like a temp this agent
 * made (regular, one link; with mine, owned by the identity we act as):
 * a hard link or FIFO planted under the name is not ours to delete.  A
 * job's recorded temp may belong to its helper token's local user, whose
 * identity Cancel does not take: no owner check there. */
static void
unlink_temp(int dfd, const char *name, int mine)
{
	struct stat sb;

	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
	    !S_ISREG(sb.st_mode) || sb.st_nlink != 1 ||
	    (mine && sb.st_uid != (uid_t)setfsuid((uid_t)-1)))
		return;
	unlinkat(dfd, name, 0);
}

/* Removes a job's temp files (Cancel, and files Complete leaves out),
 * then any temp file of this store in its directories that no job names:
 * left by a crash before its name was written down. */
static void
remove_temps(struct backend *e, struct ejob *j, int only_incomplete)
{
	struct lf_dircache dc = LF_DIRCACHE_INIT;
	const char *base;
	size_t k, dirlen;
	struct dirent *de;
	uint32_t tag = lf_temp_tag(e->state_dir);
	DIR *d;
	int dfd, sfd, fresh;

	for (k = 0; k < j->nfiles; k++) {
		struct efile *f = &j->files[k];

		if (lf_dir_cached(&dc, f->local, &dfd, &base, &fresh) != 0)
			continue;
		dirlen = (size_t)(base - 1 - f->local);
		/* A temp another job names was carried to it (a crash
		 * between the two store writes of a carry): it is theirs. */
		if (f->temp != NULL && !(only_incomplete && f->completed) &&
		    !referenced(e, j, f->local, dirlen, f->temp))
			unlink_temp(dfd, f->temp, 0);
		if (!fresh)
			continue;	/* swept already */
		if ((sfd = dup(dfd)) < 0)
			continue;
		if ((d = fdopendir(sfd)) == NULL) {
			close(sfd);
			continue;
		}
		while ((de = readdir(d)) != NULL)
			if (is_temp_name(de->d_name, tag) &&
			    !referenced(e, j, f->local, dirlen, de->d_name) &&
			    !(only_incomplete && names_completed(j, de->d_name)))
				unlink_temp(dfd, de->d_name, 1);
		closedir(d);
	}
	lf_dir_forget(&dc);
}

static int
engine_cancel(struct backend *e, const bk_guid *id)
{
	struct ejob *j, **nd;
	int rc = BK_OK;

	pthread_mutex_lock(&e->mu);
	if ((j = find(e, id)) == NULL) {
		rc = BK_E_NOTFOUND;
		goto out;
	}
	/* At once (design §4): stopped, CANCELLED in the store and off the
	 * job list, so no worker picks it again and list_jobs no longer
	 * shows it.  A worker still inside one of its files aborts at its
	 * next callback.  Its temps stay a moment for a job of the same set
	 * created next (carry); then reap_due removes them, and a crash
	 * before that leaves a CANCELLED job that engine_open reaps. */
	job_stop(j);
	j->nocarry = j->state == BK_ERROR;
	set_state(e, j, BK_CANCELLED);
	unlist(e->jobs, &e->njobs, j);
	if ((nd = realloc(e->dying, (e->ndying + 1) * sizeof(*nd))) != NULL) {
		e->dying = nd;
		e->dying[e->ndying++] = j;
		j->dying = 1;
		j->reap_at_ms = mono_ms() + CARRY_GRACE_MS;
		goto out;
	}
	/* No memory to defer: off the list it cannot be picked again, so
	 * this wait ends at the workers' next callback. */
	wait_idle(e, j);
	remove_temps(e, j, 0);
	store_delete_job(e->store, &j->id);
	ejob_free(j);
out:
	pthread_mutex_unlock(&e->mu);
	return rc;
}

/* Makes the completed temps durable before any rename: for a job of
 * many files one syncfs per filesystem the temps lie on (one journal
 * commit instead of one per file), an fsync each for a few.  Every temp
 * is opened without following links or blocking and must still be the
 * temp we wrote (lf_temp_check): one a local user replaced since (a
 * FIFO, a link, a hard link to another file) is not committed; the file
 * goes back to not transferred (*ncomplete counts it out, so Complete
 * reports a partial job) and the name is left to its owner. */
#define SYNC_MAX_FS 16
static int
sync_temps(struct backend *e, struct ejob *j, size_t *ncomplete)
{
	struct lf_dircache dc = LF_DIRCACHE_INIT;
	struct stat sb;
	dev_t synced[SYNC_MAX_FS];
	const char *base;
	size_t k, nsynced = 0, s;
	int dfd, fd, err = 0, fresh, many = *ncomplete > 8;

	for (k = 0; k < j->nfiles && err == 0; k++) {
		struct efile *f = &j->files[k];

		if (f->completed != 1 || f->temp == NULL)
			continue;
		if ((err = lf_dir_cached(&dc, f->local, &dfd, &base,
		    &fresh)) != 0)
			break;
		fd = openat(dfd, f->temp, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_NOCTTY | O_CLOEXEC);
		if (fd < 0 && errno != ELOOP && errno != ENXIO &&
		    errno != ENOENT && errno != EISDIR) {
			err = errno;
			break;
		}
		if (fd < 0 || lf_temp_check(fd, f->temp_dev,
		    f->temp_ino) != 0) {
			if (fd >= 0)
				close(fd);
			f->completed = 0;
			f->done = 0;
			free(f->temp);
			f->temp = NULL;
			f->temp_dev = f->temp_ino = 0;
			store_update_file(e->store, j, k);
			(*ncomplete)--;
			continue;
		}
		if (fstat(fd, &sb) != 0) {
			err = errno;
			close(fd);
			break;
		}
		for (s = 0; many && s < nsynced && synced[s] != sb.st_dev; s++)
			;
		if (!many || nsynced == SYNC_MAX_FS) {
			if (fsync(fd) != 0)
				err = errno;
		} else if (s == nsynced) {
			if (syncfs(fd) != 0)
				err = errno;
			synced[nsynced++] = sb.st_dev;
		}
		close(fd);
	}
	lf_dir_forget(&dc);
	return err;
}

static int
engine_complete(struct backend *e, const bk_guid *id)
{
	struct ejob *j;
	struct cred c;
	struct lf_ident ident, saved;
	struct stat sb;
	const char *base;
	char *lastdir = NULL, why[256];
	size_t k, ncomplete = 0, dirlen;
	int rc = BK_OK, dfd = -1, err = 0;

	memset(&c, 0, sizeof(c));
	memset(&ident, 0, sizeof(ident));
	memset(&saved, 0, sizeof(saved));
	pthread_mutex_lock(&e->mu);
	if ((j = find(e, id)) == NULL) {
		rc = BK_E_NOTFOUND;
		goto out;
	}
	job_stop(j);
	wait_idle(e, j);
	/* Files committed by a Complete a crash cut short count as done:
	 * retried, Complete renames the rest and succeeds. */
	for (k = 0; k < j->nfiles; k++)
		ncomplete += j->files[k].completed != 0;
	if (j->credential != NULL && (j->token_flags & BK_TOKEN_LOCAL_FILE) &&
	    (cred_load(e->credential_dir, j->credential, &c, why,
	    sizeof(why)) != 0 || lf_ident_for_user(c.username, &ident) != 0)) {
		rc = BK_E_IO;
		goto out;
	}
	if (lf_ident_enter(&ident, &saved) != 0) {
		rc = BK_E_IO;
		goto out;
	}
	if ((err = sync_temps(e, j, &ncomplete)) != 0) {
		rc = BK_E_IO;
		goto out;
	}
	store_begin(e->store);
	for (k = 0; k < j->nfiles; k++) {
		struct efile *f = &j->files[k];

		if (f->completed != 1 || f->temp == NULL)
			continue;
		dirlen = (size_t)(strrchr(f->local, '/') - f->local);
		if (lastdir == NULL || strlen(lastdir) != dirlen ||
		    strncmp(lastdir, f->local, dirlen) != 0) {
			/* Leaving a directory: its renames must last. */
			if (dfd >= 0 && fsync(dfd) != 0)
				err = errno;
			if (dfd >= 0)
				close(dfd);
			dfd = -1;
			free(lastdir);
			lastdir = strndup(f->local, dirlen);
			if ((err = lf_open_dir(f->local, &dfd, &base)) != 0)
				break;
		}
		base = strrchr(f->local, '/') + 1;
		/* sync_temps checked every temp, but the renames come later
		 * (after syncs, and the renames and store writes of earlier
		 * files): a user owning the folder may since have moved
		 * another root file of it (an older version, say) onto the
		 * temp name.  Look once more, right before the rename, and
		 * leave a swapped name to its owner: the file goes back to
		 * not transferred and the job is reported partial. */
		if (fstatat(dfd, f->temp, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(sb.st_mode) || sb.st_nlink != 1 ||
		    (f->temp_dev != 0 && f->temp_ino != 0 &&
		    ((uint64_t)sb.st_dev != f->temp_dev ||
		    (uint64_t)sb.st_ino != f->temp_ino))) {
			f->completed = 0;
			f->done = 0;
			free(f->temp);
			f->temp = NULL;
			f->temp_dev = f->temp_ino = 0;
			store_update_file(e->store, j, k);
			ncomplete--;
			continue;
		}
		if (renameat(dfd, f->temp, dfd, base) != 0) {
			err = errno;
			break;
		}
		f->completed = 2;	/* committed: a retry skips it */
		free(f->temp);
		f->temp = NULL;
		store_update_file(e->store, j, k);
	}
	store_commit(e->store);
	if (dfd >= 0 && fsync(dfd) != 0 && err == 0)
		err = errno;
	if (err != 0) {
		rc = BK_E_IO;
		goto out;
	}
	remove_temps(e, j, 1);
	if (ncomplete < j->nfiles)
		rc = BK_PARTIAL;
	set_state(e, j, BK_ACKNOWLEDGED);
	drop(e, j);
out:
	lf_ident_leave(&saved);
	if (dfd >= 0)
		close(dfd);
	free(lastdir);
	cred_free(&c);
	pthread_mutex_unlock(&e->mu);
	return rc;
}

static int
engine_temp_path(struct backend *e, const bk_guid *id, size_t index,
    char **path)
{
	struct ejob *j;
	struct efile *f;
	int rc = BK_OK, dirlen;

	pthread_mutex_lock(&e->mu);
	if ((j = find(e, id)) == NULL) {
		rc = BK_E_NOTFOUND;
		goto out;
	}
	if (index >= j->nfiles) {
		rc = BK_E_INVALID;
		goto out;
	}
	f = &j->files[index];
	/* A Complete a crash cut short (renames made, the job not yet
	 * dropped) left committed files: what their temp held is now the
	 * destination, which a verify before the retried Complete reads. */
	if (f->completed == 2) {
		if ((*path = strdup(f->local)) == NULL)
			rc = BK_E_IO;
		goto out;
	}
	if (f->temp == NULL) {
		rc = BK_E_STATE;
		goto out;
	}
	dirlen = (int)(strrchr(f->local, '/') - f->local);
	if (asprintf(path, "%.*s/%s", dirlen, f->local, f->temp) < 0)
		rc = BK_E_IO;
out:
	pthread_mutex_unlock(&e->mu);
	return rc;
}

/* The digest the worker computed while writing file index's temp, when it
 * is of the completed temp as it stands: same file (dev, ino, what
 * Complete checks before renaming it) and size. */
static int
engine_temp_sha256(struct backend *e, const bk_guid *id, size_t index,
    uint8_t out[32])
{
	struct ejob *j;
	struct efile *f;
	int rc = BK_E_UNSUPPORTED;

	pthread_mutex_lock(&e->mu);
	if ((j = find(e, id)) == NULL)
		rc = BK_E_NOTFOUND;
	else if (index >= j->nfiles)
		rc = BK_E_INVALID;
	else {
		f = &j->files[index];
		if (f->completed == 1 && !f->active && f->digest_ok &&
		    f->temp != NULL && f->digest_len == f->done &&
		    f->digest_dev == f->temp_dev &&
		    f->digest_ino == f->temp_ino) {
			memcpy(out, f->digest, 32);
			rc = BK_OK;
		}
	}
	pthread_mutex_unlock(&e->mu);
	return rc;
}

/* A probe's should_abort: the caller's interrupt, if any. */
static int
probe_should_abort(struct xfer *x)
{
	const struct bk_probe *p = x->ctx;

	return p->interrupt != NULL && p->interrupt(p->interrupt_arg);
}

static int
engine_probe(struct backend *e, const struct bk_probe *p,
    struct bk_validators *out, struct bk_error *err)
{
	struct ejob settings;
	struct xfer x;
	struct cred c;
	char why[256], *pem = NULL;
	size_t pemlen = 0;
	int rc;

	memset(&settings, 0, sizeof(settings));
	memset(&x, 0, sizeof(x));
	memset(&c, 0, sizeof(c));
	memset(err, 0, sizeof(*err));
	if (p->settings != NULL) {
		settings.proxy_usage = p->settings->proxy_usage;
		settings.proxy_list = (char *)p->settings->proxy_list;
		settings.proxy_bypass = (char *)p->settings->proxy_bypass;
		settings.headers = (char *)p->settings->custom_headers;
		/* A probe carries the helper token exactly as a transfer
		 * does (worker setup above): a token for local files only
		 * (BG_TOKEN_LOCAL_FILE) never goes over the network, and
		 * its secret is not even read here. */
		if (p->settings->credential != NULL &&
		    ((p->settings->token_flags & BK_TOKEN_NETWORK) ||
		    p->settings->token_flags == 0)) {
			if (cred_load(e->credential_dir,
			    p->settings->credential, &c, why,
			    sizeof(why)) != 0) {
				err->context = BK_CTX_GENERAL_QUEUE_MANAGER;
				err->code = HR_LOGON_FAILURE;
				err->text = strdup(why);
				return BK_E_IO;
			}
			x.user = c.username;
			x.password = c.password;
			x.domain = c.domain;
		} else if (p->settings->credential == NULL &&
		    p->settings->auth_computer) {
			x.remote = p->remote;
			if (machine_identity(&x) != 0) {
				err->context = x.ectx;
				err->code = x.code;
				err->text = strdup(x.text);
				err->remote = strdup(p->remote);
				return BK_E_IO;
			}
		}
		/* A server that asks for the certificate asks on a probe
		 * too. */
		settings.client_cert = (char *)p->settings->client_certificate;
		if (p->settings->client_certificate != NULL) {
			if (cred_load_pem(e->credential_dir,
			    p->settings->client_certificate, &pem, &pemlen,
			    why, sizeof(why)) != 0) {
				err->context = BK_CTX_GENERAL_QUEUE_MANAGER;
				err->code = HR_LOGON_FAILURE;
				err->text = strdup(why);
				cred_free(&c);
				return BK_E_IO;
			}
			x.client_pem = pem;
			x.client_pem_len = pemlen;
		}
	}
	x.remote = p->remote;
	x.job = &settings;
	x.should_abort = probe_should_abort;
	x.ctx = (void *)p;
	x.ca_file = e->ca_file;
	x.smb_port = e->smb_port;
	if (smb_is_unc(p->remote))
		rc = smb_probe(&x, out, err);
	else if (valid_remote(p->remote))
		rc = http_probe(&x, out, err);
	else
		rc = BK_E_INVALID;
	cred_free(&c);
	cred_free_pem(pem, pemlen);
	return rc;
}

/* ---- folder sets (design §2a): listings and index files ---------------- */

/* The identity and settings of a listing or an index fetch, as
 * engine_probe gives a probe: *c holds the helper token's secret (free it
 * with cred_free).  0, or -1 with err filled. */
static int
folder_xfer(struct backend *e, const char *remote,
    const struct bk_job_spec *spec, struct ejob *settings, struct xfer *x,
    struct cred *c, struct bk_error *err)
{
	char why[256];

	memset(settings, 0, sizeof(*settings));
	memset(x, 0, sizeof(*x));
	memset(c, 0, sizeof(*c));
	memset(err, 0, sizeof(*err));
	if (spec != NULL) {
		settings->proxy_usage = spec->proxy_usage;
		settings->proxy_list = (char *)spec->proxy_list;
		settings->proxy_bypass = (char *)spec->proxy_bypass;
		settings->headers = (char *)spec->custom_headers;
		if (spec->credential != NULL &&
		    ((spec->token_flags & BK_TOKEN_NETWORK) ||
		    spec->token_flags == 0)) {
			if (cred_load(e->credential_dir, spec->credential, c,
			    why, sizeof(why)) != 0) {
				err->context = BK_CTX_GENERAL_QUEUE_MANAGER;
				err->code = HR_LOGON_FAILURE;
				err->text = strdup(why);
				return -1;
			}
			x->user = c->username;
			x->password = c->password;
			x->domain = c->domain;
		}
	}
	x->remote = remote;
	x->job = settings;
	x->ca_file = e->ca_file;
	x->smb_port = e->smb_port;
	x->fd = -1;
	return 0;
}

static int
engine_list_folder(struct backend *e, const struct bk_list *req,
    struct bk_listing *out, struct bk_error *err)
{
	struct ejob settings;
	struct xfer x;
	struct cred c;
	int rc = BK_E_IO;

	memset(out, 0, sizeof(*out));
	if (folder_xfer(e, req->remote, req->settings, &settings, &x, &c,
	    err) != 0)
		goto out;
	if (!smb_is_unc(req->remote)) {
		err->context = BK_CTX_GENERAL_QUEUE_MANAGER;
		err->text = strdup("only UNC folders can be listed; an "
		    "http(s) set needs an index file");
		rc = BK_E_INVALID;
		goto out;
	}
	rc = smb_list(&x, req, out, err);
out:
	cred_free(&c);
	return rc;
}

/* An index fetch: the bytes go to a memory file, bounded by max. */
struct small {
	const struct bk_probe *p;
	uint64_t max, got;
	int over;
};

static int
small_start(struct xfer *x, const struct bk_validators *v, uint64_t total,
    int restart)
{
	struct small *m = x->ctx;

	(void)v;
	(void)restart;
	m->got = x->offset;
	if (total != BK_SIZE_UNKNOWN && total > m->max)
		m->over = 1;
	return m->over;
}

static int
small_data(struct xfer *x, size_t n)
{
	struct small *m = x->ctx;

	m->got += n;
	if (m->got > m->max)
		m->over = 1;
	return m->over || (m->p->interrupt != NULL &&
	    m->p->interrupt(m->p->interrupt_arg));
}

static int
small_abort(struct xfer *x)
{
	struct small *m = x->ctx;

	return m->over || (m->p->interrupt != NULL &&
	    m->p->interrupt(m->p->interrupt_arg));
}

static int
engine_fetch_small(struct backend *e, const struct bk_probe *p, size_t max,
    char **buf, size_t *len, struct bk_error *err)
{
	struct ejob settings;
	struct xfer x;
	struct cred c;
	struct small m;
	struct smb_worker *sw = NULL;
	struct http_worker *hw = NULL;
	struct stat sb;
	char *b = NULL;
	int fd = -1, rc = BK_E_IO, r;

	*buf = NULL;
	*len = 0;
	memset(&m, 0, sizeof(m));
	m.p = p;
	m.max = max;
	if (folder_xfer(e, p->remote, p->settings, &settings, &x, &c,
	    err) != 0)
		goto out;
	/* An unnamed file in the state directory (a memfd has no free
	 * space to judge by, which the transfer code checks). */
	if ((fd = open(e->state_dir, O_TMPFILE | O_RDWR | O_CLOEXEC,
	    0600)) < 0) {
		err->context = BK_CTX_LOCAL_FILE;
		err->code = lf_hresult(errno);
		err->text = strdup(strerror(errno));
		goto out;
	}
	x.fd = fd;
	x.on_start = small_start;
	x.on_data = small_data;
	x.should_abort = small_abort;
	x.ctx = &m;
	if (smb_is_unc(p->remote)) {
		if ((sw = smb_worker_new()) == NULL)
			goto out;
		r = smb_transfer(sw, &x);
	} else if (valid_remote(p->remote)) {
		if ((hw = http_worker_new()) == NULL)
			goto out;
		r = http_transfer(hw, &x);
	} else {
		rc = BK_E_INVALID;
		goto out;
	}
	if (m.over) {
		err->context = BK_CTX_REMOTE_FILE;
		err->code = HR_BG_INVALID_SERVER_RESPONSE;
		{
			char t[512];

			snprintf(t, sizeof(t), "%s is larger than %zu bytes, "
			    "the most an index may hold", p->remote, max);
			err->text = strdup(t);
		}
		err->remote = strdup(p->remote);
		goto out;
	}
	if (r != XFER_OK) {
		err->context = x.ectx;
		err->code = x.code;
		err->text = strdup(r == XFER_ABORTED ? "interrupted: fetched "
		    "again on the next pass" : x.text);
		err->remote = strdup(p->remote);
		rc = r == XFER_ABORTED ? BK_E_INTERRUPTED : BK_E_IO;
		goto out;
	}
	if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size > max ||
	    (b = malloc((size_t)sb.st_size + 1)) == NULL ||
	    pread(fd, b, (size_t)sb.st_size, 0) != sb.st_size)
		goto out;
	b[sb.st_size] = '\0';
	*buf = b;
	*len = (size_t)sb.st_size;
	b = NULL;
	rc = BK_OK;
out:
	free(b);
	if (fd >= 0)
		close(fd);
	smb_worker_free(sw);
	http_worker_free(hw);
	cred_free(&c);
	return rc;
}

/* Why the last call was refused (a BITS limit), or NULL.  Read by the
 * reconciler's thread, the only one that makes such calls. */
static const char *
engine_last_error(struct backend *e)
{
	return e->lasterr[0] != '\0' ? e->lasterr : NULL;
}

static void
engine_set_notify(struct backend *e, bk_notify_fn fn, void *ctx)
{
	pthread_mutex_lock(&e->mu);
	e->notify = fn;
	e->notify_ctx = ctx;
	pthread_mutex_unlock(&e->mu);
}

const struct backend_ops engine_backend_ops = {
	.name = "engine",
	.caps = BK_CAP_IN_PROCESS,
	.open = engine_open,
	.close = engine_close,
	.list_jobs = engine_list_jobs,
	.create_job = engine_create_job,
	.resume = engine_resume,
	.suspend = engine_suspend,
	.add_file = engine_add_file,
	.set_description = engine_set_description,
	.cancel = engine_cancel,
	.complete = engine_complete,
	.temp_path = engine_temp_path,
	.temp_sha256 = engine_temp_sha256,
	.probe = engine_probe,
	.list_folder = engine_list_folder,
	.fetch_small = engine_fetch_small,
	.set_notify = engine_set_notify,
	.last_error = engine_last_error,
};
