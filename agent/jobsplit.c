/* jobsplit.c - one logical job over several backend jobs (jobsplit.h).
 *
 * What it keeps between calls is a cache of the logical jobs the last
 * list_jobs saw (and create_job made since): for each, the backend jobs
 * that carry it, in order, and how many files each holds, so that
 * temp_path's index and the job-wide calls reach the right backend job
 * without listing again.  A call for a job the cache does not know goes
 * to the backend unchanged: a single job needs nothing of this file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobsplit.h"
#include "spec.h"
#include "util.h"

#define GID_LEN	16

struct group {
	bk_guid first;		/* the logical job's id */
	bk_guid *part;		/* part[0] = first, part[k] = job "#k+1" */
	size_t *nfiles;		/* files of each */
	int *present;		/* 0: the job is gone (listed short) */
	size_t n;		/* N: jobs of the group (1: a single job) */
	char gid[GID_LEN + 1];	/* "" for a single job */
};

struct orphan {
	bk_guid id;
	char *set;		/* the set its display name names */
};

/* The wrapper: its own struct backend, as each backend has. */
struct backend {
	const struct backend_ops *in_ops;
	struct backend *in;
	unsigned max_files, max_jobs;
	size_t njobs;		/* backend jobs of this account, as last seen */
	struct group *groups;	/* sorted by first */
	size_t ngroups;
	struct orphan *orphans;
	size_t norphans;
	char err[512];
	unsigned counter;
};

static struct backend_ops wrapped_ops;

size_t
jobsplit_parts(size_t nfiles, unsigned max_files)
{
	if (max_files == 0 || nfiles <= max_files)
		return 1;
	return (nfiles + max_files - 1) / max_files;
}

static int
cmp_guid(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(bk_guid));
}

static int
cmp_group(const void *a, const void *b)
{
	return cmp_guid(&((const struct group *)a)->first,
	    &((const struct group *)b)->first);
}

static void
group_free(struct group *g)
{
	free(g->part);
	free(g->nfiles);
	free(g->present);
	memset(g, 0, sizeof(*g));
}

static void
cache_clear(struct backend *w)
{
	size_t i;

	for (i = 0; i < w->ngroups; i++)
		group_free(&w->groups[i]);
	free(w->groups);
	w->groups = NULL;
	w->ngroups = 0;
	for (i = 0; i < w->norphans; i++)
		free(w->orphans[i].set);
	free(w->orphans);
	w->orphans = NULL;
	w->norphans = 0;
}

static struct group *
find_group(struct backend *w, const bk_guid *id)
{
	struct group key;

	memset(&key, 0, sizeof(key));
	key.first = *id;
	return w->ngroups == 0 ? NULL : bsearch(&key, w->groups, w->ngroups,
	    sizeof(*w->groups), cmp_group);
}

static struct group *
group_new(size_t n)
{
	struct group *g = xcalloc(1, sizeof(*g));

	g->n = n;
	g->part = xcalloc(n, sizeof(*g->part));
	g->nfiles = xcalloc(n, sizeof(*g->nfiles));
	g->present = xcalloc(n, sizeof(*g->present));
	return g;
}

/* Appends g (moved) to the cache, unsorted: list_jobs sorts once. */
static void
cache_append(struct backend *w, struct group *g)
{
	w->groups = xrealloc(w->groups, (w->ngroups + 1) * sizeof(*w->groups));
	w->groups[w->ngroups++] = *g;
	free(g);
}

/* Adds g (moved) to the cache, keeping it sorted. */
static void
cache_add(struct backend *w, struct group *g)
{
	struct group *old;

	if ((old = find_group(w, &g->first)) != NULL) {
		group_free(old);
		*old = *g;
	} else {
		w->groups = xrealloc(w->groups, (w->ngroups + 1) *
		    sizeof(*w->groups));
		w->groups[w->ngroups++] = *g;
		qsort(w->groups, w->ngroups, sizeof(*w->groups), cmp_group);
	}
	free(g);
}

static void
cache_remove(struct backend *w, const bk_guid *id)
{
	struct group *g = find_group(w, id);
	size_t i;

	if (g == NULL)
		return;
	i = (size_t)(g - w->groups);
	group_free(g);
	memmove(&w->groups[i], &w->groups[i + 1], (w->ngroups - i - 1) *
	    sizeof(*w->groups));
	w->ngroups--;
}

/* A decimal number of 1 to 7 digits at *p (no sign, no overflow: a
 * description is anyone's text); *p moves past it.  -1 when none. */
static long
small_number(const char **p)
{
	const char *s = *p;
	long v = 0;
	int n = 0;

	while (*s >= '0' && *s <= '9' && n < 8) {
		v = v * 10 + (*s - '0');
		s++;
		n++;
	}
	if (n == 0 || n > 7)
		return -1;
	*p = s;
	return v;
}

/* The suffix a description of a group's job ends with: " parts=N
 * group=G" (first, *k = 1) or " part=K/N group=G" (*k = K >= 2).
 * Returns where it starts, or NULL when there is none. */
static char *
suffix_of(char *desc, unsigned *k, unsigned *n, char gid[GID_LEN + 1])
{
	char *p, *q = NULL;
	const char *c;
	long kv = 1, nv;
	size_t i;

	if (desc == NULL)
		return NULL;
	for (p = desc; (p = strstr(p, " part")) != NULL; p++)
		q = p;
	if (q == NULL)
		return NULL;
	if (strncmp(q, " parts=", 7) == 0) {
		c = q + 7;
		if ((nv = small_number(&c)) < 2)
			return NULL;
	} else if (strncmp(q, " part=", 6) == 0) {
		c = q + 6;
		if ((kv = small_number(&c)) < 2 || *c++ != '/' ||
		    (nv = small_number(&c)) < kv)
			return NULL;
	} else {
		return NULL;
	}
	if (strncmp(c, " group=", 7) != 0)
		return NULL;
	c += 7;
	for (i = 0; i < GID_LEN; i++) {
		if (!((c[i] >= '0' && c[i] <= '9') ||
		    (c[i] >= 'a' && c[i] <= 'f')))
			return NULL;
		gid[i] = c[i];
	}
	gid[GID_LEN] = '\0';
	if (c[GID_LEN] != '\0')
		return NULL;
	*k = (unsigned)kv;
	*n = (unsigned)nv;
	return q;
}

/* "bitsync:<set>" or "bitsync:<set>#K": the set's length (and K, 1 for
 * none), or 0 when the name is not one. */
static size_t
set_of(const char *name, unsigned *k)
{
	const char *s, *h;
	size_t len;

	if ((s = spec_job_set(name, &len)) == NULL)
		return 0;
	*k = 1;
	if ((h = strchr(s, '#')) != NULL) {
		unsigned long v;
		char *end;

		v = strtoul(h + 1, &end, 10);
		if (*end != '\0' || v < 2 || v > 1000000)
			return 0;
		*k = (unsigned)v;
		len = (size_t)(h - s);
	}
	return len;
}

/* Whether j, named "bitsync:<set>#K" (setlen, K), carries bitsync's own
 * description of part K of a group of that set. */
static int
is_own_part(struct bk_job *j, size_t setlen, unsigned k)
{
	size_t plen = strlen(SPEC_DESC_PREFIX);
	const char *set = j->display_name + strlen(SPEC_NAME_PREFIX);
	char gid[GID_LEN + 1];
	unsigned k2, n2;

	return j->description != NULL &&
	    strncmp(j->description, SPEC_DESC_PREFIX, plen) == 0 &&
	    strncmp(j->description + plen, set, setlen) == 0 &&
	    j->description[plen + setlen] == ' ' &&
	    suffix_of(j->description, &k2, &n2, gid) != NULL && k2 == k;
}

/* Folds jobs[m] into the logical job *o (the first); progress, files,
 * state and error are combined by merge_state afterwards. */
static void
take_files(struct bk_job *o, struct bk_job *m)
{
	o->files = xrealloc(o->files, (o->nfiles + m->nfiles + 1) *
	    sizeof(*o->files));
	if (m->nfiles > 0)
		memcpy(o->files + o->nfiles, m->files,
		    m->nfiles * sizeof(*m->files));
	o->nfiles += m->nfiles;
	free(m->files);
	m->files = NULL;
	m->nfiles = 0;
	if (o->bytes_total != BK_SIZE_UNKNOWN)
		o->bytes_total = m->bytes_total == BK_SIZE_UNKNOWN ?
		    BK_SIZE_UNKNOWN : o->bytes_total + m->bytes_total;
	o->bytes_transferred += m->bytes_transferred;
	o->files_total += m->files_total;
	o->files_transferred += m->files_transferred;
	o->error_count += m->error_count;
	if (m->modified > o->modified)
		o->modified = m->modified;
	if (m->transfer_completed > o->transfer_completed)
		o->transfer_completed = m->transfer_completed;
}

static void
take_error(struct bk_job *o, struct bk_job *m)
{
	backend_free_error(&o->error);
	o->error = m->error;
	memset(&m->error, 0, sizeof(m->error));
	o->has_error = m->has_error;
}

/* The group's state from its members' (mem[i] NULL: gone); the error of
 * the member that decides it becomes the group's. */
static void
merge_state(struct bk_job *o, struct bk_job **mem, size_t n)
{
	size_t i, gone = 0, ntransferred = 0;
	struct bk_job *err = NULL, *transient = NULL;
	int suspended = 0, transferring = 0, connecting = 0;
	enum bk_state first = o->state;

	for (i = 0; i < n; i++) {
		const struct bk_job *m = i == 0 ? o : mem[i];
		enum bk_state s = i == 0 ? first : (m ? m->state : BK_QUEUED);

		if (m == NULL) {
			gone++;
			continue;
		}
		if (s == BK_ERROR && err == NULL)
			err = i == 0 ? o : mem[i];
		if (s == BK_TRANSIENT_ERROR && transient == NULL)
			transient = i == 0 ? o : mem[i];
		suspended |= s == BK_SUSPENDED;
		transferring |= s == BK_TRANSFERRING;
		connecting |= s == BK_CONNECTING;
		ntransferred += s == BK_TRANSFERRED;
	}
	if (err != NULL) {
		o->state = BK_ERROR;
		if (err != o)
			take_error(o, err);
	} else if (gone > 0 && ntransferred + gone < n) {
		/* Jobs of the group are gone (cancelled outside bitsync,
		 * or lost): an error, which the reconciler's retries turn
		 * into a new group.  When all that is left is TRANSFERRED,
		 * the rest were completed before a crash: complete these. */
		o->state = BK_ERROR;
		backend_free_error(&o->error);
		o->has_error = 1;
		o->error.context = BK_CTX_GENERAL_QUEUE_MANAGER;
		o->error.code = (int32_t)0x80004005u;	/* E_FAIL */
		o->error.text = xasprintf("%zu of the %zu jobs that carry "
		    "this set are gone (cancelled outside bitsync?)", gone, n);
	} else if (gone > 0) {
		o->state = BK_TRANSFERRED;
	} else if (transient != NULL) {
		o->state = BK_TRANSIENT_ERROR;
		if (transient != o)
			take_error(o, transient);
	} else if (suspended) {
		o->state = BK_SUSPENDED;
	} else if (ntransferred == n) {
		o->state = BK_TRANSFERRED;
	} else if (transferring) {
		o->state = BK_TRANSFERRING;
	} else if (connecting) {
		o->state = BK_CONNECTING;
	} else {
		o->state = BK_QUEUED;
	}
	if (o->state != BK_ERROR && o->state != BK_TRANSIENT_ERROR &&
	    o->has_error) {
		backend_free_error(&o->error);
		o->has_error = 0;
	}
}

static void
free_job(struct bk_job *j)
{
	struct bk_job *copy = xmalloc(sizeof(*copy));

	*copy = *j;
	backend_free_jobs(copy, 1);
	memset(j, 0, sizeof(*j));
}

static int
js_list_jobs(struct backend *w, struct bk_job **jobsp, size_t *np)
{
	struct bk_job *in = NULL, *out, **mem;
	size_t n = 0, i, k, nout = 0, setlen;
	unsigned kk, nn, k2, n2;
	char gid[GID_LEN + 1], gid2[GID_LEN + 1], *suf;
	int rc, *used;

	*jobsp = NULL;
	*np = 0;
	w->err[0] = '\0';
	if ((rc = w->in_ops->list_jobs(w->in, &in, &n)) != BK_OK)
		return rc;
	cache_clear(w);
	w->njobs = n;
	out = xcalloc(n + 1, sizeof(*out));
	used = xcalloc(n + 1, sizeof(*used));
	for (i = 0; i < n; i++) {
		struct group *g;

		if (used[i])
			continue;
		setlen = set_of(in[i].display_name, &kk);
		suf = setlen > 0 && kk == 1 ? suffix_of(in[i].description,
		    &k2, &nn, gid) : NULL;
		/* A group of more jobs than are listed cannot be whole, and
		 * its N (anyone's text) must not size an allocation: shown
		 * as the single job it is, whose description then matches
		 * no spec (the reconciler replaces it if it is its own). */
		if (suf != NULL && nn > n)
			suf = NULL;
		if (suf == NULL || k2 != 1) {
			/* A single job, or a job of a group: the latter are
			 * taken by their first below. */
			if (setlen > 0 && kk >= 2)
				continue;
			out[nout] = in[i];
			g = group_new(1);
			g->first = in[i].id;
			g->part[0] = in[i].id;
			g->nfiles[0] = in[i].nfiles;
			g->present[0] = 1;
			cache_append(w, g);
			memset(&in[i], 0, sizeof(in[i]));
			used[i] = 1;
			nout++;
			continue;
		}
		/* The first of a group of nn: find the others. */
		mem = xcalloc(nn, sizeof(*mem));
		g = group_new(nn);
		g->first = in[i].id;
		memcpy(g->gid, gid, sizeof(gid));
		used[i] = 1;
		for (k = 0; k < n; k++) {
			size_t sl;

			if (used[k] || (sl = set_of(in[k].display_name,
			    &kk)) != setlen || kk < 2 || kk > nn ||
			    strncmp(in[k].display_name, in[i].display_name,
			    strlen(SPEC_NAME_PREFIX) + setlen) != 0 ||
			    suffix_of(in[k].description, &k2, &n2, gid2) ==
			    NULL || k2 != kk || n2 != nn ||
			    strcmp(gid2, gid) != 0 || mem[kk - 1] != NULL)
				continue;
			mem[kk - 1] = &in[k];
			used[k] = 1;
		}
		out[nout] = in[i];
		memset(&in[i], 0, sizeof(in[i]));
		/* The reconciler's description, without the suffix. */
		*suf = '\0';
		g->part[0] = out[nout].id;
		g->nfiles[0] = out[nout].nfiles;
		g->present[0] = 1;
		for (k = 1; k < nn; k++) {
			if (mem[k] == NULL)
				continue;
			g->part[k] = mem[k]->id;
			g->nfiles[k] = mem[k]->nfiles;
			g->present[k] = 1;
			take_files(&out[nout], mem[k]);
		}
		merge_state(&out[nout], mem, nn);
		out[nout].parts = (uint32_t)nn;
		for (k = 1; k < nn; k++)
			if (mem[k] != NULL)
				free_job(mem[k]);
		cache_append(w, g);
		free(mem);
		nout++;
	}
	/* Jobs of a group whose first is gone: shown as they are (the
	 * planner claims no "bitsync:<set>#K"), and remembered so the set's
	 * next create cancels them. */
	for (i = 0; i < n; i++) {
		if (used[i])
			continue;
		setlen = set_of(in[i].display_name, &kk);
		/* Only what bitsync writes: "bitsync/1 set=<set> ... part=K/N
		 * group=G" for "bitsync:<set>#K".  A look-alike of another
		 * program is shown and never touched. */
		if (is_own_part(&in[i], setlen, kk)) {
			w->orphans = xrealloc(w->orphans, (w->norphans + 1) *
			    sizeof(*w->orphans));
			w->orphans[w->norphans].id = in[i].id;
			w->orphans[w->norphans].set = xstrndup(
			    in[i].display_name + strlen(SPEC_NAME_PREFIX),
			    setlen);
			w->norphans++;
		}
		out[nout++] = in[i];
		memset(&in[i], 0, sizeof(in[i]));
	}
	if (w->ngroups > 1)
		qsort(w->groups, w->ngroups, sizeof(*w->groups), cmp_group);
	free(used);
	backend_free_jobs(in, n);
	*jobsp = out;
	*np = nout;
	return BK_OK;
}

/* Cancels the jobs of groups of set whose first was gone at the last
 * list (a crash in a create, or a first cancelled outside bitsync). */
static void
cancel_orphans(struct backend *w, const char *set, size_t setlen)
{
	size_t i;

	for (i = 0; i < w->norphans;) {
		if (strlen(w->orphans[i].set) != setlen ||
		    strncmp(w->orphans[i].set, set, setlen) != 0) {
			i++;
			continue;
		}
		if (w->in_ops->cancel(w->in, &w->orphans[i].id) == BK_OK &&
		    w->njobs > 0)
			w->njobs--;
		free(w->orphans[i].set);
		w->orphans[i] = w->orphans[--w->norphans];
	}
}

static void
new_gid(struct backend *w, const char *desc, char gid[GID_LEN + 1])
{
	uint8_t d[32];
	char buf[512];
	int len;

	/* Unique among the jobs of one set is all it needs to be. */
	len = snprintf(buf, sizeof(buf), "%lld %ld %u %p %s",
	    (long long)time(NULL), (long)clock(), ++w->counter, (void *)w,
	    desc ? desc : "");
	spec_sha256(buf, (size_t)(len < 0 ? 0 : len >= (int)sizeof(buf) ?
	    (int)sizeof(buf) - 1 : len), d);
	spec_hex(d, GID_LEN / 2, gid);
}

static int
js_create_job(struct backend *w, const struct bk_job_spec *spec,
    bk_guid *id)
{
	struct bk_job_spec one;
	struct group *g = NULL;
	const char *set;
	char gid[GID_LEN + 1], *name = NULL, *desc = NULL;
	size_t n, k, setlen = 0, lo, hi;
	int rc = BK_OK;

	w->err[0] = '\0';
	n = jobsplit_parts(spec->nfiles, w->max_files);
	set = spec_job_set(spec->display_name, &setlen);
	if (set != NULL)
		cancel_orphans(w, set, setlen);
	if (w->max_jobs > 0 && w->njobs + n > w->max_jobs) {
		snprintf(w->err, sizeof(w->err), "BG_E_TOO_MANY_JOBS_PER_"
		    "MACHINE (0x80200050): the set needs %zu job%s and %zu of "
		    "the %u jobs max_jobs allows exist", n, n == 1 ? "" : "s",
		    w->njobs, w->max_jobs);
		return BK_E_LIMIT;
	}
	g = group_new(n);
	if (n == 1) {
		if ((rc = w->in_ops->create_job(w->in, spec, id)) != BK_OK)
			goto out;
		g->first = g->part[0] = *id;
		g->nfiles[0] = spec->nfiles;
		g->present[0] = 1;
		w->njobs++;
		cache_add(w, g);
		g = NULL;
		goto out;
	}
	new_gid(w, spec->description, gid);
	memcpy(g->gid, gid, sizeof(gid));
	/* The others first, the first last: until it exists, nothing
	 * claims the group (cancel_orphans clears what a crash left). */
	for (k = n; k-- > 0;) {
		one = *spec;
		lo = k * w->max_files;
		hi = lo + w->max_files < spec->nfiles ? lo + w->max_files :
		    spec->nfiles;
		one.files = spec->files + lo;
		one.nfiles = hi - lo;
		free(name);
		free(desc);
		if (k > 0) {
			name = xasprintf("%s#%zu", spec->display_name, k + 1);
			desc = xasprintf("%s part=%zu/%zu group=%s",
			    spec->description, k + 1, n, gid);
		} else {
			name = xstrdup(spec->display_name);
			desc = xasprintf("%s parts=%zu group=%s",
			    spec->description, n, gid);
		}
		one.display_name = name;
		one.description = desc;
		if ((rc = w->in_ops->create_job(w->in, &one, &g->part[k])) !=
		    BK_OK) {
			size_t j;

			/* Nothing half made: the ones made go again. */
			for (j = k + 1; j < n; j++)
				if (w->in_ops->cancel(w->in, &g->part[j]) ==
				    BK_OK && w->njobs > 0)
					w->njobs--;
			goto out;
		}
		g->nfiles[k] = one.nfiles;
		g->present[k] = 1;
		w->njobs++;
	}
	g->first = g->part[0];
	*id = g->first;
	cache_add(w, g);
	g = NULL;
out:
	if (g != NULL) {
		group_free(g);
		free(g);
	}
	free(name);
	free(desc);
	return rc;
}

/* Calls fn on every job of the group (last first, as the header says),
 * or on id alone when it is no group.  BK_E_STATE from some jobs (Resume
 * of one already TRANSFERRED) counts only when all gave it. */
static int
each(struct backend *w, const bk_guid *id,
    int (*fn)(struct backend *, const bk_guid *))
{
	struct group *g = find_group(w, id);
	size_t k, nstate = 0, ncalled = 0;
	int rc = BK_OK, r;

	w->err[0] = '\0';
	if (g == NULL || g->n == 1)
		return fn(w->in, id);
	for (k = g->n; k-- > 0;) {
		if (!g->present[k])
			continue;
		ncalled++;
		r = fn(w->in, &g->part[k]);
		if (r == BK_E_STATE)
			nstate++;
		else if (r != BK_OK && r != BK_PARTIAL && rc == BK_OK)
			rc = r;
		else if (r == BK_PARTIAL && rc == BK_OK)
			rc = BK_PARTIAL;
	}
	if (rc == BK_OK && nstate == ncalled && ncalled > 0)
		rc = BK_E_STATE;
	return rc;
}

static int
js_resume(struct backend *w, const bk_guid *id)
{
	return each(w, id, w->in_ops->resume);
}

static int
js_suspend(struct backend *w, const bk_guid *id)
{
	return each(w, id, w->in_ops->suspend);
}

static int
js_cancel(struct backend *w, const bk_guid *id)
{
	struct group *g = find_group(w, id);
	size_t n = g != NULL ? g->n : 1, k;
	int rc;

	rc = each(w, id, w->in_ops->cancel);
	if (rc == BK_OK || rc == BK_E_NOTFOUND) {
		for (k = 0; k < n && w->njobs > 0; k++)
			w->njobs--;
		cache_remove(w, id);
	}
	return rc;
}

/* Complete: the others first, the first last (a crash between leaves a
 * short group whose rest is TRANSFERRED: completed next pass).  A job
 * that fails stops it, so the first stays while anything is left. */
static int
js_complete(struct backend *w, const bk_guid *id)
{
	struct group *g = find_group(w, id);
	size_t k;
	int rc = BK_OK, r;

	w->err[0] = '\0';
	if (g == NULL || g->n == 1) {
		rc = w->in_ops->complete(w->in, id);
		goto done;
	}
	for (k = g->n; k-- > 0;) {
		if (!g->present[k])
			continue;
		r = w->in_ops->complete(w->in, &g->part[k]);
		if (r == BK_PARTIAL)
			rc = BK_PARTIAL;
		else if (r != BK_OK)
			return r;
		g->present[k] = 0;
	}
done:
	if (rc == BK_OK || rc == BK_PARTIAL) {
		size_t n = g != NULL ? g->n : 1;

		while (n-- > 0 && w->njobs > 0)
			w->njobs--;
		cache_remove(w, id);
	}
	return rc;
}

/* The backend job that holds file index of logical job id, and its index
 * there; NULL when index is past the group's files.  A job the cache
 * does not know, or a single one, holds all its files itself. */
static const bk_guid *
locate(struct backend *w, const bk_guid *id, size_t *index)
{
	struct group *g = find_group(w, id);
	size_t k;

	if (g == NULL || g->n == 1)
		return id;
	for (k = 0; k < g->n; k++) {
		if (!g->present[k])
			continue;
		if (*index < g->nfiles[k])
			return &g->part[k];
		*index -= g->nfiles[k];
	}
	return NULL;
}

static int
js_temp_path(struct backend *w, const bk_guid *id, size_t index,
    char **path)
{
	const bk_guid *p;

	w->err[0] = '\0';
	if ((p = locate(w, id, &index)) == NULL)
		return BK_E_INVALID;
	return w->in_ops->temp_path(w->in, p, index, path);
}

static int
js_temp_sha256(struct backend *w, const bk_guid *id, size_t index,
    uint8_t out[32])
{
	const bk_guid *p;

	w->err[0] = '\0';
	if ((p = locate(w, id, &index)) == NULL)
		return BK_E_INVALID;
	return w->in_ops->temp_sha256(w->in, p, index, out);
}

/* AddFile to the group's last job while it has room; past that the
 * group would need another job, whose settings only a create knows: the
 * reconciler then cancels and creates the set anew (as for any change it
 * cannot grow a job to), and the engine carries the bytes across. */
static int
js_add_file(struct backend *w, const bk_guid *id,
    const struct bk_file_spec *file)
{
	struct group *g = find_group(w, id);
	size_t last;
	int rc;

	w->err[0] = '\0';
	if (w->in_ops->add_file == NULL)
		return BK_E_UNSUPPORTED;
	if (g == NULL)
		return w->in_ops->add_file(w->in, id, file);
	last = g->n - 1;
	if (!g->present[last])
		return BK_E_STATE;
	if (w->max_files > 0 && g->nfiles[last] >= w->max_files) {
		snprintf(w->err, sizeof(w->err), "BG_E_TOO_MANY_FILES_IN_JOB "
		    "(0x80200051): the set's last job holds %zu files, as "
		    "many as MaxFilesPerJob (%u) allows", g->nfiles[last],
		    w->max_files);
		return BK_E_LIMIT;
	}
	rc = w->in_ops->add_file(w->in, &g->part[last], file);
	if (rc == BK_OK)
		g->nfiles[last]++;
	return rc;
}

static int
js_set_description(struct backend *w, const bk_guid *id,
    const char *description)
{
	struct group *g = find_group(w, id);
	char *d;
	size_t k;
	int rc = BK_OK, r;

	w->err[0] = '\0';
	if (w->in_ops->set_description == NULL)
		return BK_E_UNSUPPORTED;
	if (g == NULL || g->n == 1)
		return w->in_ops->set_description(w->in, id, description);
	for (k = g->n; k-- > 0;) {
		if (!g->present[k])
			continue;
		d = k > 0 ? xasprintf("%s part=%zu/%zu group=%s", description,
		    k + 1, g->n, g->gid) : xasprintf("%s parts=%zu group=%s",
		    description, g->n, g->gid);
		r = w->in_ops->set_description(w->in, &g->part[k], d);
		free(d);
		if (r != BK_OK && rc == BK_OK)
			rc = r;
	}
	return rc;
}

static int
js_probe(struct backend *w, const struct bk_probe *p,
    struct bk_validators *out, struct bk_error *err)
{
	return w->in_ops->probe(w->in, p, out, err);
}

/* Folder sets (design §2a): listings and index reads are no job's
 * business; passed through. */
static int
js_list_folder(struct backend *w, const struct bk_list *req,
    struct bk_listing *out, struct bk_error *err)
{
	return w->in_ops->list_folder(w->in, req, out, err);
}

static int
js_fetch_small(struct backend *w, const struct bk_probe *p, size_t max,
    char **buf, size_t *len, struct bk_error *err)
{
	return w->in_ops->fetch_small(w->in, p, max, buf, len, err);
}

static void
js_set_notify(struct backend *w, bk_notify_fn fn, void *ctx)
{
	if (w->in_ops->set_notify != NULL)
		w->in_ops->set_notify(w->in, fn, ctx);
}

static const char *
js_last_error(struct backend *w)
{
	if (w->err[0] != '\0')
		return w->err;
	return w->in_ops->last_error != NULL ?
	    w->in_ops->last_error(w->in) : NULL;
}

static const char *
js_last_warning(struct backend *w)
{
	return w->in_ops->last_warning != NULL ?
	    w->in_ops->last_warning(w->in) : NULL;
}

static void
js_close(struct backend *w)
{
	if (w == NULL)
		return;
	w->in_ops->close(w->in);
	cache_clear(w);
	free(w);
}

static int
js_open(const struct config *cfg, struct backend **out)
{
	(void)cfg;
	*out = NULL;
	return BK_E_INVALID;	/* made by jobsplit_wrap only */
}

void
jobsplit_wrap(const struct backend_ops **ops, struct backend **b,
    unsigned max_files, unsigned max_jobs)
{
	struct backend *w = xcalloc(1, sizeof(*w));

	w->in_ops = *ops;
	w->in = *b;
	w->max_files = max_files;
	w->max_jobs = max_jobs;
	wrapped_ops = (struct backend_ops){
		.name = (*ops)->name,
		.caps = (*ops)->caps,
		.open = js_open,
		.close = js_close,
		.list_jobs = js_list_jobs,
		.create_job = js_create_job,
		.resume = js_resume,
		.suspend = js_suspend,
		.add_file = (*ops)->add_file ? js_add_file : NULL,
		.set_description = (*ops)->set_description ?
		    js_set_description : NULL,
		.cancel = js_cancel,
		.complete = js_complete,
		.temp_path = js_temp_path,
		.temp_sha256 = (*ops)->temp_sha256 ? js_temp_sha256 : NULL,
		.probe = js_probe,
		.list_folder = (*ops)->list_folder ? js_list_folder : NULL,
		.fetch_small = (*ops)->fetch_small ? js_fetch_small : NULL,
		.set_notify = js_set_notify,
		.last_error = js_last_error,
		.last_warning = js_last_warning,
	};
	*ops = &wrapped_ops;
	*b = w;
}
