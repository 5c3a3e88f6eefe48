/* reconcile.c - one reconcile pass (see reconcile.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "command.h"
#include "log.h"
#include "mcache.h"
#include "observe.h"
#include "platform.h"
#include "jobsplit.h"
#include "recheck.h"
#include "reconcile.h"
#include "reconcile_folder.h"
#include "sha256.h"
#include "util.h"

#define MANIFEST_MAX (16u << 20)	/* design §2: 16 MiB per file */

static void
vlog(struct reconcile_ctx *c, int level, int ev, const char *fmt,
    va_list ap) __attribute__((format(printf, 4, 0)));

/* A record of this pass at a level (log.h); the daemon's decisions an
 * administrator must see (ev >= 0) are also records where the platform
 * keeps them (the Event Log), at the same level. */
static void
vlog(struct reconcile_ctx *c, int level, int ev, const char *fmt,
    va_list ap)
{
	char *line;

	if ((c->log == NULL && !c->events) || !log_enabled(level))
		return;
	line = xvasprintf(fmt, ap);
	if (c->log != NULL)
		log_line(level, line);
	if (c->events && ev >= 0)
		platform_event((enum platform_event)ev, line);
	free(line);
}

static void
logf_(struct reconcile_ctx *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
logf_(struct reconcile_ctx *c, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(c, level, -1, fmt, ap);
	va_end(ap);
}

/* logf_, and a record of kind ev for the daemon (platform_event); the
 * kind gives the level. */
static void
logev(struct reconcile_ctx *c, enum platform_event ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
logev(struct reconcile_ctx *c, enum platform_event ev, const char *fmt, ...)
{
	va_list ap;
	int level = ev == PLATFORM_EV_JOB_ERROR ? LOG_LEVEL_ERROR :
	    ev == PLATFORM_EV_WARNING ? LOG_LEVEL_WARNING : LOG_LEVEL_INFO;

	va_start(ap, fmt);
	vlog(c, level, (int)ev, fmt, ap);
	va_end(ap);
}

struct reconcile_count *
reconcile_count_of(struct reconcile_counts *cs, const char *set)
{
	size_t i;

	for (i = 0; i < cs->n; i++)
		if (strcmp(cs->v[i].set, set) == 0)
			return &cs->v[i];
	cs->v = xrealloc(cs->v, (cs->n + 1) * sizeof(*cs->v));
	memset(&cs->v[cs->n], 0, sizeof(cs->v[cs->n]));
	cs->v[cs->n].set = xstrdup(set);
	return &cs->v[cs->n++];
}

void
reconcile_counts_free(struct reconcile_counts *cs)
{
	size_t i;

	for (i = 0; i < cs->n; i++)
		free(cs->v[i].set);
	free(cs->v);
	cs->v = NULL;
	cs->n = 0;
}

/* Adds to a set's counters when the context counts. */
static void
count_add(struct reconcile_ctx *c, const char *set, uint64_t failures,
    uint64_t retries, uint64_t files, uint64_t bytes)
{
	struct reconcile_count *k;

	if (c->counts == NULL)
		return;
	k = reconcile_count_of(c->counts, set);
	k->failures += failures;
	k->retries += retries;
	k->files += files;
	k->bytes += bytes;
}

static void
push(char ***v, size_t *n, const char *s)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
}

static void
free_strv(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static const char *
base_name(const char *p)
{
	const char *s, *b = p;

	for (s = p; *s != '\0'; s++)
		if (platform_is_sep((unsigned char)*s))
			b = s + 1;
	return b;
}

static int
file_has_error(const struct diags *d, const char *file)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (d->v[i].severity == DIAG_ERROR && d->v[i].file != NULL &&
		    strcmp(d->v[i].file, file) == 0)
			return 1;
	return 0;
}

/* Which of paths a live manifest file came from. */
static size_t
input_of(const char *const *paths, size_t npaths, const char *file)
{
	size_t i, l;

	for (i = 0; i < npaths; i++) {
		l = strlen(paths[i]);
		if (strcmp(paths[i], file) == 0 ||
		    (strncmp(paths[i], file, l) == 0 &&
		    (platform_is_sep((unsigned char)file[l]) ||
		    platform_is_sep((unsigned char)paths[i][l - 1]))))
			return i;
	}
	return npaths;
}

void
reconcile_digest_file(struct sha256 *h, const char *path, const void *data,
    size_t len)
{
	const char *b = base_name(path);
	char len8[24];

	snprintf(len8, sizeof(len8), "%zu", len);
	sha256_update(h, b, strlen(b) + 1);
	sha256_update(h, len8, strlen(len8) + 1);
	sha256_update(h, data, len);
}

/* One file of the manifest to enforce when some failed: under its own
 * path, the bytes in force (live, or its last-known-good copy). */
struct eff_file {
	size_t input;		/* which of the paths it came from */
	const char *path;	/* owned by the live model or covered */
	char *data;
	size_t len;
};

/* The order manifest_load reads them in: by input, and within a drop-in
 * directory by name in byte order. */
static int
cmp_eff(const void *a, const void *b)
{
	const struct eff_file *x = a, *y = b;

	if (x->input != y->input)
		return x->input < y->input ? -1 : 1;
	return strcmp(base_name(x->path), base_name(y->path));
}

static void
save_lkg(struct reconcile_ctx *c, const char *file, int64_t now)
{
	char *data, *old;
	size_t len, oldlen;
	int same;

	if (util_read_file(file, MANIFEST_MAX, &data, &len) == -1)
		return;
	/* Write only when it changed: a pass that writes nothing stays
	 * cheap and wears nothing. */
	old = NULL;
	same = state_lkg_get(c->st, file, (void **)&old, &oldlen) == 0 &&
	    oldlen == len && memcmp(old, data, len) == 0;
	free(old);
	if (!same && state_lkg_put(c->st, file, data, len, now) == -1)
		logev(c, PLATFORM_EV_WARNING, "warning: cannot save "
		    "last-known-good copy of %s: %s",
		    file, state_errmsg(c->st));
	free(data);
}

int
reconcile_load(struct reconcile_ctx *c, const char *const *paths,
    size_t npaths, int save, struct reconcile_input *in)
{
	/* StrictModes (design §7): what the agent loads from its config is
	 * refused when unsafe; paths named on the command line are read
	 * with a warning, as validate does. */
	struct manifest_opts opts = { .platform = c->platform,
	    .config = c->cfg, .permissions = npaths == 0 ? PERM_REFUSE :
	    PERM_WARN };
	const char *cfgpaths[2];
	struct manifest *live = NULL;
	struct eff_file *eff = NULL;
	size_t neff = 0, i, j, k;
	unsigned char *bad = NULL;
	char **refused = NULL, **covered = NULL;
	size_t nrefused = 0, ncovered = 0;
	int64_t now = (int64_t)time(NULL);
	int anybad = 0;

	memset(in, 0, sizeof(*in));
	diags_init(&in->diags);
	if (npaths == 0) {
		const char *cand[2] = { c->cfg->manifest, c->cfg->manifest_dir };
		enum platform_kind kind;

		for (i = 0; i < 2; i++)
			if (cand[i] != NULL && cand[i][0] != '\0' &&
			    platform_path_kind(cand[i], &kind) == 0 &&
			    kind != PLATFORM_KIND_MISSING)
				cfgpaths[npaths++] = cand[i];
		paths = cfgpaths;
		if (npaths == 0) {
			diag_add(&in->diags, c->cfg->path ? c->cfg->path :
			    "bitsync", 0, 0, DIAG_ERROR, "io-error",
			    "no manifest: neither manifest (%s) nor "
			    "manifest_dir (%s) exists",
			    c->cfg->manifest ? c->cfg->manifest : "unset",
			    c->cfg->manifest_dir ? c->cfg->manifest_dir :
			    "unset");
			in->hold_all = 1;
			goto done;
		}
	}
	/* The configured manifest goes through the cache in the state
	 * directory (mcache.h): unchanged, it is not parsed again. */
	{
		char *cache = cfgpaths == paths && c->cfg->state_dir != NULL ?
		    platform_join(c->cfg->state_dir, MCACHE_FILE) : NULL;

		live = mcache_manifest_load(cache, paths, npaths, &opts,
		    &in->diags, NULL);
		free(cache);
	}
	in->valid = in->diags.errors == 0;
	/* A path that cannot be read says nothing about what is declared:
	 * withdraw nothing. */
	if (in->diags.io_errors > 0 || live == NULL)
		in->hold_all = 1;
	if (live == NULL)
		goto done;
	bad = xcalloc(live->nfiles + 1, 1);
	for (i = 0; i < live->nfiles; i++)
		if ((bad[i] = (unsigned char)file_has_error(&in->diags,
		    live->files[i])))
			anybad = 1;
	/* A path refused before it was read (StrictModes, a drop-in
	 * directory that cannot be listed, an I/O error) is not in the
	 * model at all, yet it was not removed: a permissions slip pushed
	 * to a fleet must not withdraw (and with on_remove: delete, delete)
	 * its sets.  It is held exactly like an invalid file: its
	 * last-known-good copies stay in force, the sets it recorded are
	 * held, its copies are kept.  A refused directory may hold any
	 * file, so nothing at all is withdrawn while it is refused. */
	for (i = 0; i < in->diags.n; i++) {
		const struct diag *g = &in->diags.v[i];
		enum platform_kind kind;

		if (g->severity != DIAG_ERROR || g->file == NULL ||
		    util_strv_has(live->files, live->nfiles, g->file) ||
		    util_strv_has(refused, nrefused, g->file))
			continue;
		push(&refused, &nrefused, g->file);
		if (platform_path_kind(g->file, &kind) != 0 ||
		    kind != PLATFORM_KIND_FILE)
			in->hold_all = 1;
	}
	if (nrefused > 0) {
		char **names;
		size_t n, l;

		if (state_lkg_list(c->st, &names, &n) == 0) {
			for (i = 0; i < n; i++)
				for (j = 0; j < nrefused; j++) {
					l = strlen(refused[j]);
					if (!util_strv_has(live->files,
					    live->nfiles, names[i]) &&
					    strncmp(names[i], refused[j],
					    l) == 0 && (names[i][l] == '\0' ||
					    platform_is_sep(
					    (unsigned char)names[i][l]))) {
						push(&covered, &ncovered,
						    names[i]);
						break;
					}
				}
			free_strv(names, n);
		} else
			in->hold_all = 1;
		/* Without a copy, what it recorded is held. */
		for (j = 0; j < nrefused; j++)
			if (!util_strv_has(covered, ncovered, refused[j]))
				push(&in->held, &in->nheld, refused[j]);
	}
	if (!anybad && nrefused == 0) {
		for (i = 0; save && i < live->nfiles; i++)
			save_lkg(c, live->files[i], now);
		/* Copies of files that are gone are dropped: only removal
		 * withdraws sets, and it has happened. */
		if (save && !in->hold_all) {
			char **names;
			size_t n;

			if (state_lkg_list(c->st, &names, &n) == 0) {
				for (i = 0; i < n; i++)
					if (!util_strv_has(live->files, live->nfiles,
					    names[i]))
						state_lkg_delete(c->st,
						    names[i]);
				free_strv(names, n);
			}
		}
		in->m = live;
		live = NULL;
		goto done;
	}

	/* Some files failed.  The manifest to enforce is parsed from memory,
	 * each file under its own path: the live bytes of the files that
	 * validated, the last-known-good copies of those that did not (and
	 * of refused files); a failed file without a copy is held. */
	eff = xcalloc(live->nfiles + ncovered + 1, sizeof(*eff));
	for (i = 0; i < live->nfiles + ncovered; i++) {
		int isbad = i >= live->nfiles || bad[i];
		const char *f = i < live->nfiles ? live->files[i] :
		    covered[i - live->nfiles];
		char *data = NULL;
		size_t len = 0;

		k = input_of(paths, npaths, f);
		if (k == npaths) {
			push(&in->held, &in->nheld, f);
			continue;
		}
		if (isbad && state_lkg_get(c->st, f, (void **)&data,
		    &len) != 0) {
			push(&in->held, &in->nheld, f);
			continue;
		}
		if (isbad)
			push(&in->lkg_used, &in->nlkg_used, f);
		else {
			if (save)
				save_lkg(c, f, now);
			if (util_read_file(f, MANIFEST_MAX, &data, &len) == -1) {
				push(&in->held, &in->nheld, f);
				continue;
			}
		}
		eff[neff].input = k;
		eff[neff].path = f;
		eff[neff].data = data;
		eff[neff++].len = len;
	}
	qsort(eff, neff, sizeof(*eff), cmp_eff);
	{
		struct manifest_inputs ei;
		struct diags ed;
		enum platform_kind kind;
		struct sha256 *h = sha256_new();
		uint8_t d[32];

		memset(&ei, 0, sizeof(ei));
		diags_init(&ei.pre);
		diags_init(&ed);
		ei.v = xcalloc(neff + 1, sizeof(*ei.v));
		for (i = 0; i < neff; i++) {
			ei.v[i].path = xstrdup(eff[i].path);
			/* A file of a directory is judged as a drop-in. */
			ei.v[i].dropin = platform_path_kind(
			    paths[eff[i].input], &kind) == 0 &&
			    kind == PLATFORM_KIND_DIR;
			ei.v[i].data = eff[i].data;
			ei.v[i].len = eff[i].len;
			reconcile_digest_file(h, eff[i].path, eff[i].data,
			    eff[i].len);
		}
		/* The digest of what is in force: the live files would name
		 * the broken bytes, which are not. */
		if (sha256_final(h, d) == 0)
			spec_hex(d, 32, in->digest);
		ei.n = ei.cap = neff;
		opts.permissions = PERM_OFF;	/* bytes already vetted */
		in->m = manifest_load_inputs(&ei, &opts, &ed);
		/* A copy can fail beside today's files (a set moved from the
		 * broken file to a good one): such files are held too. */
		for (i = 0; in->m != NULL && i < in->m->nfiles; i++)
			if (file_has_error(&ed, in->m->files[i]) &&
			    !util_strv_has(in->held, in->nheld,
			    in->m->files[i]))
				push(&in->held, &in->nheld, in->m->files[i]);
		if (ed.io_errors > 0)
			in->hold_all = 1;
		diags_free(&ed);
		manifest_inputs_free(&ei);
	}
done:
	/* The model keeps no reference to the bytes it was parsed from. */
	for (i = 0; i < neff; i++)
		free(eff[i].data);
	free(eff);
	free(bad);
	free_strv(refused, nrefused);
	free_strv(covered, ncovered);
	manifest_free(live);
	return 0;
}

void
reconcile_input_free(struct reconcile_input *in)
{
	manifest_free(in->m);
	diags_free(&in->diags);
	free_strv(in->held, in->nheld);
	free_strv(in->lkg_used, in->nlkg_used);
	memset(in, 0, sizeof(*in));
}

const char *
reconcile_origin(const struct reconcile_input *in, const struct mset *s)
{
	/* Copies in force are parsed under their original paths. */
	(void)in;
	return s->pos.file;
}

static const struct state_set *
find_recorded(const struct reconcile_view *v, const char *name)
{
	size_t lo = 0, hi = v->nrecorded;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(v->recorded[mid].name, name);

		if (c == 0)
			return &v->recorded[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The record is read while the desired sets are specified and observed:
 * the first slice of platform_parallel's range stands for state_load,
 * the others for sets, so the two threads share both jobs. */
#define DESIRE_GRAIN 64

struct desire_work {
	struct reconcile_ctx *c;
	struct reconcile_view *v;
	int state_rc;
};

/* State, or spec and observations of desired sets lo..hi-1 (shifted by
 * the state's slice).  Declared sha256 are not hashed here: whether a
 * set's refresh is due is in its record (see hash_due). */
static void
desire(void *arg, size_t lo, size_t hi)
{
	struct desire_work *w = arg;
	struct reconcile_view *v = w->v;
	struct platform_statdir *sd;
	size_t i;

	/* A slice may be wider than one grain (platform_parallel's slices
	 * are "about" grain items; in order on one thread it may be all of
	 * them): whatever it holds of the state's slot, then of the sets. */
	if (lo == 0)
		w->state_rc = state_load(w->c->st, &v->recorded,
		    &v->nrecorded);
	if (hi <= DESIRE_GRAIN)
		return;
	sd = platform_statdir_new();
	for (i = (lo < DESIRE_GRAIN ? DESIRE_GRAIN : lo) - DESIRE_GRAIN;
	    i < hi - DESIRE_GRAIN; i++) {
		if (spec_build(v->desired[i].set, w->c->platform,
		    &v->specs[i]) == 0)
			v->obs[i] = observe_spec(&v->specs[i], 0, sd);
	}
	platform_statdir_free(sd);
}

/* The sha256 of a set's declared files is computed when its refresh is
 * due (design §4); size and mtime on every pass. */
static void
hash_due(struct reconcile_view *v, size_t i)
{
	const struct mset *s = v->desired[i].set;
	const struct state_set *rec;
	size_t k;

	for (k = 0; k < v->specs[i].job.nfiles; k++)
		if (v->specs[i].meta[k].has_sha256)
			break;
	if (k == v->specs[i].job.nfiles || s->settings.refresh == 0 ||
	    (rec = find_recorded(v, s->name)) == NULL ||
	    v->now < rec->last_check + (int64_t)s->settings.refresh)
		return;
	free(v->obs[i]);
	v->obs[i] = observe_spec(&v->specs[i], 1, NULL);
}

/* hash_due over sets lo..hi-1 (platform_parallel): reading the files
 * is system calls again, and no set's depend on another's. */
static void
rehash(void *arg, size_t lo, size_t hi)
{
	struct reconcile_view *v = arg;
	size_t i;

	for (i = lo; i < hi; i++)
		if (v->obs[i] != NULL)
			hash_due(v, i);
}

int
reconcile_plan(struct reconcile_ctx *c, const struct reconcile_input *in,
    int64_t now, struct reconcile_view *v, int *bkrc)
{
	struct plan_input pi;
	struct strset declared;
	struct desire_work w;
	size_t i, k, n;
	int rc = -1, r;

	memset(v, 0, sizeof(*v));
	strset_init(&declared, 0);
	*bkrc = BK_OK;
	v->now = now;
	n = in->m ? in->m->nsets : 0;
	v->desired = xcalloc(n + 1, sizeof(*v->desired));
	v->specs = xcalloc(n + 1, sizeof(*v->specs));
	v->obs = xcalloc(n + 1, sizeof(*v->obs));
	/* Which sets are desired, in order: only sets of files that
	 * validated (live or as their copy); a held file's sets are neither
	 * desired nor withdrawn. */
	for (i = 0; i < n; i++) {
		const struct mset *s = &in->m->sets[i];

		if (util_strv_has(in->held, in->nheld, reconcile_origin(in, s)) ||
		    strset_add(&declared, s->name, s, NULL) != 0)
			continue;
		v->desired[v->ndesired++].set = s;
	}
	/* Their specs and local files, several sets at once, and the
	 * record beside them: the stats are most of a plan's time, and no
	 * set's depend on another's. */
	w.c = c;
	w.v = v;
	w.state_rc = -1;
	platform_parallel(v->ndesired + DESIRE_GRAIN, DESIRE_GRAIN, desire,
	    &w);
	if (w.state_rc == -1) {
		fprintf(stderr, "bitsync: state: %s\n", state_errmsg(c->st));
		*bkrc = BK_E_IO;
		goto done;
	}
	/* Folder sets: their files, from a listing or an index. */
	{
		struct rfolder_env fe = { c->cfg, c->platform, c->ops, c->b,
		    c->retry_now, c->list_now, c->interrupt,
		    c->interrupt_arg };
		struct rfolder_pass fp = { v->desired, v->specs, v->obs,
		    v->ndesired, v->recorded, v->nrecorded, v->now };

		v->folders = rfolder_expand(&fe, &fp);
	}
	if (c->ops != NULL && (r = c->ops->list_jobs(c->b, &v->jobs,
	    &v->njobs)) != BK_OK) {
		fprintf(stderr, "bitsync: %s backend: cannot list jobs (%d)\n",
		    c->ops->name, r);
		*bkrc = r;
		goto done;
	}
	platform_parallel(v->ndesired, DESIRE_GRAIN, rehash, v);
	/* A set without a usable source (reported by validation) has no
	 * spec: close the gaps, keeping the order. */
	for (i = k = 0; i < v->ndesired; i++) {
		if (v->obs[i] == NULL)
			continue;
		if (k != i) {
			v->desired[k] = v->desired[i];
			v->specs[k] = v->specs[i];
			v->obs[k] = v->obs[i];
			memset(&v->specs[i], 0, sizeof(v->specs[i]));
			v->obs[i] = NULL;
		}
		v->desired[k].spec = &v->specs[k];
		v->desired[k].obs = v->obs[k];
		k++;
	}
	v->ndesired = k;
	v->recorded_obs = xcalloc(v->nrecorded + 1, sizeof(*v->recorded_obs));
	for (i = 0; i < v->nrecorded; i++)
		if (v->recorded[i].on_remove == ON_REMOVE_DELETE &&
		    strset_get(&declared, v->recorded[i].name) == NULL)
			v->recorded_obs[i] = observe_recorded(&v->recorded[i],
			    1);
	memset(&pi, 0, sizeof(pi));
	pi.desired = v->desired;
	pi.ndesired = v->ndesired;
	pi.jobs = v->jobs;
	pi.njobs = v->njobs;
	pi.recorded = v->recorded;
	pi.nrecorded = v->nrecorded;
	pi.recorded_obs = (const struct plan_obs *const *)v->recorded_obs;
	pi.held_files = (const char *const *)in->held;
	pi.nheld_files = in->nheld;
	pi.hold_all = in->hold_all;
	pi.now = now;
	pi.retry_now = c->retry_now;
	pi.jitter_seed = c->jitter_seed;
	pi.each = platform_parallel;
	pi.max_files_per_job = c->cfg != NULL ? c->cfg->max_files_per_job : 0;
	pi.max_jobs = c->cfg != NULL ? c->cfg->max_jobs : 0;
	if (plan_make(&pi, &v->plan) == -1)
		goto done;
	rfolder_hold(v->folders, &v->plan, v->now);
	rc = 0;
done:
	strset_free(&declared);
	return rc;
}

void
reconcile_view_free(struct reconcile_view *v)
{
	size_t i;

	plan_free(&v->plan);
	for (i = 0; i < v->ndesired; i++) {
		spec_free(&v->specs[i]);
		free(v->obs[i]);
	}
	free(v->desired);
	free(v->specs);
	free(v->obs);
	for (i = 0; v->recorded_obs != NULL && i < v->nrecorded; i++)
		free(v->recorded_obs[i]);
	free(v->recorded_obs);
	state_free_sets(v->recorded, v->nrecorded);
	backend_free_jobs(v->jobs, v->njobs);
	rfolder_free(v->folders);
	memset(v, 0, sizeof(*v));
}

static void
count(const struct plan_action *a, struct reconcile_summary *sum)
{
	sum->sets++;
	switch (a->verb) {
	case PLAN_NONE:
	case PLAN_RECHECK:
		sum->in_sync++;
		break;
	case PLAN_WAIT:
		if (a->reason == PLAN_R_BACKOFF)
			sum->failed++;
		else
			sum->working++;
		if (a->reason == PLAN_R_JOB_TRANSIENT)
			sum->transient++;
		break;
	case PLAN_HOLD:
		sum->held++;
		break;
	case PLAN_REPORT_DRIFT:
		sum->drift++;
		break;
	case PLAN_CANCEL_ORPHAN:
		sum->sets--;
		sum->changed++;
		break;
	default:
		sum->working++;
		sum->changed++;
		break;
	}
}

void
reconcile_summarize(const struct reconcile_view *v,
    struct reconcile_summary *sum)
{
	size_t i;

	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < v->plan.n; i++)
		count(&v->plan.v[i], sum);
}

/* ---- carrying out ---- */

struct act {
	struct reconcile_ctx *c;
	const struct reconcile_input *in;
	struct reconcile_view *v;
	const struct plan_action *a;
	struct reconcile_summary *sum;
	struct state_set row;	/* the set's row as it will be written */
};

static const char *
bk_why(struct reconcile_ctx *c, int rc)
{
	const char *s = c->ops->last_error ? c->ops->last_error(c->b) : NULL;
	static char buf[64];

	if (s != NULL)
		return s;
	snprintf(buf, sizeof(buf), "backend error %d", rc);
	return buf;
}

static int
put_row(struct act *x)
{
	if (state_put_set(x->c->st, &x->row) == 0)
		return 0;
	logf_(x->c, LOG_LEVEL_ERROR, "set=%s error=\"state: %s\"", x->a->set,
	    state_errmsg(x->c->st));
	x->sum->errors++;
	return -1;
}

/* Records a failure of this action: error text, attempts, next retry. */
static void
failed(struct act *x, unsigned attempts, const char *msg, int32_t code,
    int context)
{
	const struct mset *s = x->a->desired ? x->a->desired->set : NULL;
	uint64_t delay = plan_backoff(s ? s->settings.retry_delay : 600,
	    attempts > 0 ? attempts - 1 : 0, x->c->jitter_seed, x->a->set);

	x->row.last_error = (char *)msg;
	x->row.last_error_code = code;
	x->row.last_error_context = context;
	x->row.attempts = attempts;
	x->row.next_retry = x->v->now + (int64_t)delay;
	x->row.failed_spec = x->a->desired ?
	    (char *)x->a->desired->spec->hash : NULL;
	count_add(x->c, x->a->set, 1, 0, 0, 0);
	x->sum->again = 1;	/* this pass's status shows the failure */
	logev(x->c, PLATFORM_EV_JOB_ERROR, "set=%s result=failed attempts=%u "
	    "retry_in=%" PRIu64 "s context=%s code=0x%08" PRIx32
	    " error=\"%s\"", x->a->set, attempts, delay,
	    bk_context_name((enum bk_error_context)context), (uint32_t)code,
	    msg);
	put_row(x);
	/* count() took the set as working; it is failing instead. */
	if (x->sum->working > 0)
		x->sum->working--;
	x->sum->failed++;
}

/* The first pass that sees an own job in ERROR records it: the error
 * (context, code, text) in the log at error level, and in the state, so
 * status and metrics show the set failing from that pass on, not only
 * once its backoff has passed and it is retried. */
static void
note_job_error(struct act *x)
{
	const struct bk_error *e = &x->a->job->error;
	char g[39];
	char *msg = xasprintf("%s (context %s, 0x%08" PRIx32 ")",
	    e->text ? e->text : "job failed", bk_context_name(e->context),
	    (uint32_t)e->code);

	bk_guid_format(&x->a->job->id, g);
	logev(x->c, PLATFORM_EV_JOB_ERROR, "set=%s job=%s result=failed "
	    "attempts=1 retry_at=%" PRId64 " context=%s code=0x%08" PRIx32
	    " error=\"%s\"", x->a->set, g, x->a->retry_at,
	    bk_context_name(e->context), (uint32_t)e->code, msg);
	x->row.attempts = 1;
	x->row.last_error = msg;
	x->row.last_error_code = e->code;
	x->row.last_error_context = (int)e->context;
	x->row.failed_spec = (char *)x->a->desired->spec->hash;
	count_add(x->c, x->a->set, 1, 0, 0, 0);
	put_row(x);
	/* Planned again at once, so this pass's status shows it. */
	x->sum->again = 1;
	x->row.last_error = NULL;
	free(msg);
}

static int
cancel_job(struct act *x, const struct bk_job *j)
{
	char g[39];
	int rc;

	bk_guid_format(&j->id, g);
	rc = x->c->ops->cancel(x->c->b, &j->id);
	if (rc != BK_OK && rc != BK_E_NOTFOUND) {
		logf_(x->c, LOG_LEVEL_ERROR, "set=%s job=%s cancel=failed error=\"%s\"",
		    x->a->set, g, bk_why(x->c, rc));
		x->sum->errors++;
		return -1;
	}
	logf_(x->c, LOG_LEVEL_INFO, "set=%s job=%s cancelled", x->a->set, g);
	if (state_remove_job(x->c->st, &j->id) == -1)
		x->sum->errors++;
	return 0;
}

/* How much of dest is an allowed root from the agent config (trusted as
 * the administrator wrote it, links and all): the longest root dest lies
 * under, or 0 when none is configured (then only "/" is trusted). */
static size_t
trusted_root_len(const struct config *cfg, const char *dest)
{
	size_t i, len, best = 0;

	for (i = 0; cfg != NULL && i < cfg->nallow_roots; i++) {
		const char *r = cfg->allow_roots[i];

		len = strlen(r);
		while (len > 1 && platform_is_sep(r[len - 1]))
			len--;
		if (len > best && strncmp(dest, r, len) == 0 &&
		    (dest[len] == '\0' || platform_is_sep(dest[len]) ||
		    platform_is_sep(r[len - 1])))
			best = len;
	}
	return best;
}

/* A file of the spec that stays as committed (plan_keep_committed):
 * its row in the record, when that is of the same remote and what the
 * spec declares; NULL otherwise. */
static const struct state_file *
kept_row(const struct act *x, size_t i)
{
	const struct state_set *r = x->a->recorded;
	const struct spec *sp = x->a->desired->spec;
	size_t k;

	for (k = 0; r != NULL && k < r->nfiles; k++) {
		const struct state_file *rf = &r->files[k];

		if (strcmp(rf->local, sp->files[i].local) != 0)
			continue;
		if (strcmp(rf->remote, sp->files[i].remote) != 0 ||
		    (sp->meta[i].has_sha256 && (!rf->has_sha256 ||
		    memcmp(rf->sha256, sp->meta[i].sha256, 32) != 0)))
			return NULL;
		return rf;
	}
	return NULL;
}

/* design §2a: files of a folder set that left it (gone from the server,
 * no longer matched) follow on_remove when the set commits: with delete,
 * each file bitsync placed is removed while it is still what was placed.
 * The files deleted are noted for the set's on_change (command.h), as
 * note_changed notes the ones the commit placed. */
static void
folder_commit(struct act *x)
{
	struct reconcile_ctx *c = x->c;
	const struct spec *sp = x->a->desired->spec;
	const struct state_set *r = x->a->recorded;
	struct rfolder *f = rfolder_of(x->v->folders, x->a->desired->set);
	const char **changed;
	char **refused;
	size_t i, k, n = 0, nrefused;

	changed = xcalloc((r ? r->nfiles : 0) + 1, sizeof(*changed));
	refused = rfolder_refused_locals(f, c->platform, &nrefused);
	for (i = 0; f != NULL && r != NULL && i < r->nfiles; i++) {
		const struct state_file *rf = &r->files[i];
		struct platform_stat want;
		int rm;

		for (k = 0; k < sp->job.nfiles; k++)
			if (strcmp(sp->files[k].local, rf->local) == 0)
				break;
		if (k < sp->job.nfiles)
			continue;
		/* The server sent its name, bitsync refused it: not gone. */
		if (rfolder_refused_has(refused, nrefused, rf->local)) {
			logf_(c, LOG_LEVEL_INFO, "set=%s refused=%s kept=\"the "
			    "server's entry for it was refused\"", x->a->set,
			    rf->local);
			continue;
		}
		if (x->a->desired->set->settings.on_remove != ON_REMOVE_DELETE) {
			logf_(c, LOG_LEVEL_INFO, "set=%s left=%s kept=\"on_remove: "
			    "keep\"", x->a->set, rf->local);
			continue;
		}
		memset(&want, 0, sizeof(want));
		want.size = rf->local_size;
		want.mtime_ns = rf->local_mtime_ns;
		want.dev = rf->local_dev;
		want.ino = rf->local_ino;
		rm = platform_remove_placed(rf->local, &want);
		if (rm == 1)
			logf_(c, LOG_LEVEL_WARNING, "set=%s delete=%s kept=\"changed "
			    "since bitsync placed it\"", x->a->set, rf->local);
		else if (rm == -1 && errno != ENOENT) {
			logf_(c, LOG_LEVEL_ERROR, "set=%s delete=%s error=\"%s\"",
			    x->a->set, rf->local, strerror(errno));
			x->sum->errors++;
		} else if (rm == 0) {
			logf_(c, LOG_LEVEL_INFO, "set=%s deleted=%s", x->a->set,
			    rf->local);
			changed[n++] = rf->local;
		}
	}
	if (n > 0 && x->a->desired->set->on_change != NULL &&
	    (state_begin(c->st) == -1 ||
	    command_note_changed(c->st, x->a->set, changed, n) == -1 ||
	    state_commit(c->st) == -1)) {
		state_rollback(c->st);
		logf_(c, LOG_LEVEL_ERROR, "set=%s error=\"state: %s\"",
		    x->a->set, state_errmsg(c->st));
		x->sum->errors++;
	}
	free(changed);
	free_strv(refused, nrefused);
}

/* What a folder set commits with: the names the server sent that were
 * refused stay in the set's status (not a failure of the rest). */
static void
folder_note(struct act *x)
{
	struct rfolder *f = rfolder_of(x->v->folders, x->a->desired->set);

	if (f == NULL || f->refused_note == NULL)
		return;
	x->row.last_error = f->refused_note;
	x->row.last_error_code = (int32_t)0x80070017;
	x->row.last_error_context = BK_CTX_REMOTE_FILE;
}

/* Every file of the spec stays as committed (a file left the set, or
 * only settings that need no new bytes changed): the spec is applied
 * without a job. */
static void
commit_kept(struct act *x)
{
	struct reconcile_ctx *c = x->c;
	const struct spec *sp = x->a->desired->spec;
	struct state_file *sf;
	const struct state_file *rf;
	size_t i;

	sf = xcalloc(sp->job.nfiles + 1, sizeof(*sf));
	for (i = 0; i < sp->job.nfiles; i++) {
		if ((rf = kept_row(x, i)) == NULL) {
			/* plan_keep_committed kept only recorded files. */
			logf_(c, LOG_LEVEL_ERROR, "set=%s error=\"no record of %s to keep\"",
			    x->a->set, sp->files[i].local);
			x->sum->errors++;
			goto out;
		}
		sf[i] = *rf;
	}
	x->row.spec_hash = (char *)sp->hash;
	x->row.last_success = x->v->now;
	x->row.last_check = x->v->now;
	x->row.last_error = NULL;
	x->row.last_error_code = 0;
	x->row.last_error_context = 0;
	x->row.attempts = 0;
	x->row.next_retry = 0;
	x->row.failed_spec = NULL;
	x->row.remote_changed = 0;
	x->row.create_pending = 0;
	folder_note(x);
	if (state_begin(c->st) == -1 ||
	    state_put_files(c->st, x->a->set, sf, sp->job.nfiles) == -1 ||
	    state_put_set(c->st, &x->row) == -1 ||
	    state_commit(c->st) == -1) {
		state_rollback(c->st);
		logf_(c, LOG_LEVEL_ERROR, "set=%s error=\"state: %s\"", x->a->set,
		    state_errmsg(c->st));
		x->sum->errors++;
	} else {
		logev(c, PLATFORM_EV_SET_COMPLETED, "set=%s completed files=%zu "
		    "result=in-sync kept=%zu", x->a->set, sp->job.nfiles,
		    sp->job.nfiles);
		folder_commit(x);
		/* count() took the set as working; it is in sync. */
		if (x->sum->working > 0)
			x->sum->working--;
		x->sum->in_sync++;
	}
out:
	free(sf);
}

static void
do_create(struct act *x)
{
	struct reconcile_ctx *c = x->c;
	const struct spec *sp = x->a->desired->spec;
	const char *dest = x->a->desired->set->destination;
	struct bk_job_spec job = sp->job;
	struct bk_file_spec *files = NULL;
	unsigned char *keep;
	bk_guid id;
	char g[39], *msg;
	const char *warn;
	size_t i, k, nkeep, trusted;
	int rc;

	/* Design §4 (round 2): files committed before and untouched by
	 * the change stay; the job carries the others only. */
	keep = xcalloc(sp->job.nfiles + 1, 1);
	nkeep = plan_keep_committed(x->a->desired, x->a->recorded, keep);
	if (nkeep > 0) {
		files = xcalloc(sp->job.nfiles + 1, sizeof(*files));
		for (i = k = 0; i < sp->job.nfiles; i++)
			if (!keep[i])
				files[k++] = sp->files[i];
		job.files = files;
		job.nfiles = k;
	}
	if (job.nfiles == 0) {
		commit_kept(x);
		goto out;
	}
	/* BITS needs destination folders before AddFile.  Only the
	 * configured root the destination lies under (or none, "/") is
	 * trusted: below it a symlink a local user plants is refused. */
	trusted = trusted_root_len(c->cfg, dest);
	for (i = 0; i < job.nfiles; i++) {
		char *d = xstrdup(job.files[i].local);
		char *slash = (char *)base_name(d);

		if (slash > d + 1)
			slash[-1] = '\0';
		rc = platform_make_dirs(d, trusted);
		if (rc == -1) {
			msg = errno == ELOOP ? xasprintf("cannot create folder "
			    "%s: a symbolic link or junction is in the path "
			    "below %s%.*s; bitsync never follows one there: "
			    "replace it with a real folder, or point the "
			    "set's destination (or allow_roots) at the real "
			    "place", d, trusted ? "the allowed root " :
			    "the file system root", (int)trusted, dest) :
			    platform_last_why() != NULL ? xasprintf("cannot "
			    "use folder %s: %s", d, platform_last_why()) :
			    xasprintf("cannot create folder %s: %s", d,
			    strerror(errno));
			free(d);
			failed(x, x->a->attempts, msg, 0, BK_CTX_LOCAL_FILE);
			free(msg);
			goto out;
		}
		free(d);
	}
	/* Mark the create before it happens: if a crash comes between the
	 * job's creation and its GUID being written, the next pass adopts
	 * the job instead of creating a duplicate (plan.h ADOPT). */
	x->row.create_pending = x->v->now;
	if (put_row(x) == -1)
		goto out;
	rc = c->ops->create_job(c->b, &job, &id);
	if (rc == BK_E_LIMIT && c->cfg != NULL && jobsplit_parts(job.nfiles,
	    c->cfg->max_files_per_job) <= c->cfg->max_jobs) {
		/* The job budget was shorter than the planner saw (jobs of
		 * other accounts count in BITS): the set waits its turn, as
		 * the planner's queue does, instead of failing. */
		logf_(c, LOG_LEVEL_INFO, "set=%s result=queued reason=\"job "
		    "budget\" why=\"%s\"", x->a->set, bk_why(c, rc));
		x->row.create_pending = 0;
		put_row(x);
		goto out;
	}
	if (rc != BK_OK) {
		msg = xasprintf("create job: %s", bk_why(c, rc));
		x->row.create_pending = 0;
		failed(x, x->a->attempts, msg, 0, BK_CTX_GENERAL_QUEUE_MANAGER);
		free(msg);
		goto out;
	}
	bk_guid_format(&id, g);
	x->row.create_pending = 0;
	if (state_begin(c->st) == -1 ||
	    state_add_job(c->st, x->a->set, &id, sp->hash, x->v->now) == -1 ||
	    state_put_set(c->st, &x->row) == -1 || state_commit(c->st) == -1) {
		state_rollback(c->st);
		logf_(c, LOG_LEVEL_ERROR, "set=%s job=%s error=\"state: %s\"", x->a->set, g,
		    state_errmsg(c->st));
		x->sum->errors++;
	}
	logev(c, PLATFORM_EV_JOB_CREATED, "set=%s job=%s created files=%zu "
	    "spec=%.12s kept=%zu", x->a->set, g,
	    job.nfiles, sp->hash, nkeep);
	/* A downgrade the config tolerates on a test host: said with the
	 * set every time, never silently. */
	if (c->ops->last_warning != NULL &&
	    (warn = c->ops->last_warning(c->b)) != NULL)
		logev(c, PLATFORM_EV_WARNING, "set=%s job=%s warning=\"%s\"",
		    x->a->set, g, warn);
	if ((rc = c->ops->resume(c->b, &id)) != BK_OK) {
		logev(c, PLATFORM_EV_JOB_ERROR, "set=%s job=%s resume=failed "
		    "error=\"%s\"", x->a->set, g, bk_why(c, rc));
		x->sum->errors++;
	}
out:
	free(files);
	free(keep);
}

/* PLAN_ADD_FILES: suspend the job, AddFile the files the spec added,
 * SetDescription to the new spec, resume; what the job transferred stays
 * (design §4 round 2).  0, or -1 when the backend cannot (Wine's BITS has
 * no Suspend) or a step failed: the caller then cancels and recreates,
 * as for any other spec change. */
static int
do_grow(struct act *x)
{
	struct reconcile_ctx *c = x->c;
	const struct bk_job *j = x->a->job;
	const struct spec *sp = x->a->desired->spec;
	const char *dest = x->a->desired->set->destination;
	const char *h = spec_job_hash(j->description, x->a->set,
	    strlen(x->a->set));
	unsigned char *add;
	char g[39], *d, *slash;
	const char *step = NULL;
	size_t i, n;
	int rc = BK_OK, ret = -1;

	bk_guid_format(&j->id, g);
	add = xcalloc(sp->job.nfiles + 1, 1);
	if (c->ops->add_file == NULL || c->ops->set_description == NULL ||
	    (n = plan_grow_files(x->a->desired, x->a->recorded, j, h,
	    add)) == 0) {
		step = "the backend cannot add files to a job";
		goto out;
	}
	if (j->state != BK_SUSPENDED &&
	    (rc = c->ops->suspend(c->b, &j->id)) != BK_OK) {
		step = "Suspend";
		goto out;
	}
	for (i = 0; i < sp->job.nfiles; i++) {
		if (!add[i])
			continue;
		/* BITS needs destination folders before AddFile. */
		d = xstrdup(sp->files[i].local);
		slash = (char *)base_name(d);
		if (slash > d + 1)
			slash[-1] = '\0';
		if (platform_make_dirs(d, strlen(dest)) == -1) {
			logf_(c, LOG_LEVEL_ERROR, "set=%s error=\"cannot create folder %s: %s\"",
			    x->a->set, d, strerror(errno));
			free(d);
			step = "creating its folder";
			goto out;
		}
		free(d);
		if ((rc = c->ops->add_file(c->b, &j->id, &sp->files[i])) !=
		    BK_OK) {
			step = "AddFile";
			goto out;
		}
	}
	if ((rc = c->ops->set_description(c->b, &j->id,
	    sp->description)) != BK_OK) {
		step = "SetDescription";
		goto out;
	}
	logev(c, PLATFORM_EV_JOB_CREATED, "set=%s job=%s grown files_added=%zu "
	    "spec=%.12s", x->a->set, g, n, sp->hash);
	if ((rc = c->ops->resume(c->b, &j->id)) != BK_OK) {
		/* The job has the new spec: the next pass resumes it. */
		logev(c, PLATFORM_EV_JOB_ERROR, "set=%s job=%s resume=failed "
		    "error=\"%s\"", x->a->set, g, bk_why(c, rc));
		x->sum->errors++;
	}
	ret = 0;
out:
	if (ret != 0)
		/* A fallback, not a failure: no error priority. */
		logf_(c, LOG_LEVEL_INFO, "set=%s job=%s add-files=not-done step=\"%s\" "
		    "why=\"%s\" then=cancel-and-recreate", x->a->set, g, step,
		    rc != BK_OK ? bk_why(c, rc) : "not grown");
	free(add);
	return ret;
}

static const struct bk_file *
job_file(const struct bk_job *j, const char *local, size_t *index)
{
	size_t i;

	for (i = 0; i < j->nfiles; i++)
		if (j->files[i].local != NULL &&
		    strcmp(j->files[i].local, local) == 0) {
			*index = i;
			return &j->files[i];
		}
	return NULL;
}

/* on_change (command.h): what the local files of the job were before
 * the commit (NULL when the set has no on_change): a stat, no read, so
 * that only files whose content the commit created or changed are
 * listed (note_changed). */
static struct plan_obs *
before_commit(struct act *x, const struct bk_job *j)
{
	const struct spec *sp = x->a->desired->spec;
	struct plan_obs *pre;
	size_t i, idx;

	if (x->a->desired->set->on_change == NULL)
		return NULL;
	pre = xcalloc(sp->job.nfiles + 1, sizeof(*pre));
	for (i = 0; i < sp->job.nfiles; i++)
		if (job_file(j, sp->files[i].local, &idx) != NULL)
			observe_file(sp->files[i].local, 0, &pre[i]);
	return pre;
}

/* The files this commit placed with new content, noted in the commit's
 * own transaction so that a crash before the run still runs it.  0, or
 * -1 (state error). */
static int
note_changed(struct act *x, const struct bk_job *j,
    const struct plan_obs *pre, const struct state_file *sf)
{
	const struct spec *sp = x->a->desired->spec;
	const char **paths;
	size_t i, n = 0, idx;
	int rc;

	if (pre == NULL)
		return 0;
	paths = xcalloc(sp->job.nfiles + 1, sizeof(*paths));
	for (i = 0; i < sp->job.nfiles; i++) {
		const struct state_set *r = x->a->recorded;
		const struct state_file *rf = NULL;
		size_t k;

		if (job_file(j, sp->files[i].local, &idx) == NULL)
			continue;
		for (k = 0; r != NULL && k < r->nfiles; k++)
			if (strcmp(r->files[k].local, sp->files[i].local) == 0)
				rf = &r->files[k];
		/* Unchanged only when the file on disk before the commit
		 * was still the one the last recorded commit placed (size,
		 * mtime, inode: not removed or edited since, which a drift
		 * repair re-creates; not new bytes a crash left between a
		 * rename and its record) and the new bytes hash as those
		 * did.  No old file is read for this. */
		if (!(pre[i].exists == 1 && rf != NULL && rf->has_sha256 &&
		    pre[i].size == rf->local_size &&
		    pre[i].mtime_ns == rf->local_mtime_ns &&
		    (rf->local_ino == 0 || (pre[i].ino == rf->local_ino &&
		    pre[i].dev == rf->local_dev)) && sf[i].has_sha256 &&
		    memcmp(rf->sha256, sf[i].sha256, 32) == 0))
			paths[n++] = sp->files[i].local;
	}
	rc = command_note_changed(x->c->st, x->a->set, paths, n);
	free(paths);
	return rc;
}

static void
do_complete(struct act *x)
{
	struct reconcile_ctx *c = x->c;
	const struct bk_job *j = x->a->job;
	const struct spec *sp = x->a->desired->spec;
	struct state_file *sf = NULL;
	struct plan_obs *pre = NULL;
	char g[39], *msg = NULL, *tp;
	uint8_t got[32];
	size_t i, idx;
	int rc, mismatch = 0, declared;
	struct rfolder *fo = rfolder_of(x->v->folders, x->a->desired->set);
	char *bad = NULL;

	bk_guid_format(&j->id, g);
	/* Verify before Complete: once renamed, a bad file is live.  A
	 * file the job does not hold must be one that stayed committed. */
	for (i = 0; i < sp->job.nfiles; i++) {
		char want_hex[65], got_hex[65];

		if (job_file(j, sp->files[i].local, &idx) == NULL) {
			if (kept_row(x, i) != NULL)
				continue;
			msg = xasprintf("job has no file %s",
			    sp->files[i].local);
			break;
		}
		if (!sp->meta[i].has_sha256)
			continue;
		/* Hashed by the backend as the bytes arrived: no second
		 * read of the file (issue 14); else read here. */
		if (c->ops->temp_sha256 == NULL ||
		    c->ops->temp_sha256(c->b, &j->id, idx, got) != BK_OK) {
			if ((rc = c->ops->temp_path(c->b, &j->id, idx,
			    &tp)) != BK_OK) {
				msg = xasprintf("cannot verify %s: %s",
				    sp->files[i].local, bk_why(c, rc));
				break;
			}
			if (observe_sha256_file(tp, got) == -1) {
				msg = xasprintf("cannot read %s: %s", tp,
				    strerror(errno));
				free(tp);
				break;
			}
			free(tp);
		}
		if (memcmp(got, sp->meta[i].sha256, 32) != 0) {
			spec_hex(sp->meta[i].sha256, 32, want_hex);
			spec_hex(got, 32, got_hex);
			msg = xasprintf("sha256 mismatch for %s (from %s): "
			    "expected %s, got %s; not committed",
			    sp->files[i].local, sp->files[i].remote, want_hex,
			    got_hex);
			mismatch = 1;
			/* design §2a: one bad file of a folder set is left
			 * out, the rest commit on the next pass (the engine
			 * carries their bytes to the next job). */
			if (fo != NULL && sp->meta[i].mfile != NULL) {
				char *b2 = xasprintf("%s%s%s", bad ? bad : "",
				    bad ? "; " : "", msg);

				rfolder_reject(c->cfg, x->a->set,
				    sp->meta[i].mfile->local,
				    sp->meta[i].sha256, x->v->now);
				free(bad);
				bad = b2;
				free(msg);
				msg = NULL;
				continue;
			}
			break;
		}
	}
	if (msg == NULL && bad != NULL) {
		msg = bad;
		bad = NULL;
	}
	if (msg != NULL) {
		cancel_job(x, j);
		/* A mismatch has the code of a data error (HRESULT of
		 * ERROR_CRC, "data error"), which alerts can match on. */
		failed(x, x->a->attempts + 1, msg, mismatch ?
		    (int32_t)0x80070017 : 0, BK_CTX_REMOTE_FILE);
		if (fo != NULL && mismatch) {
			/* The others go again at once, without the bad one. */
			x->row.next_retry = x->v->now;
			put_row(x);
		}
		free(msg);
		free(bad);
		return;
	}
	pre = before_commit(x, j);
	rc = c->ops->complete(c->b, &j->id);
	if (rc != BK_OK) {
		msg = xasprintf("complete: %s", rc == BK_PARTIAL ?
		    "some files were not transferred" : bk_why(c, rc));
		failed(x, x->a->attempts + 1, msg, 0,
		    BK_CTX_GENERAL_QUEUE_MANAGER);
		free(msg);
		free(pre);
		return;
	}
	/* What was placed, as it is now, and what the remote was. */
	sf = xcalloc(sp->job.nfiles + 1, sizeof(*sf));
	for (i = 0; i < sp->job.nfiles; i++) {
		const struct bk_file *bf = job_file(j, sp->files[i].local,
		    &idx);
		const struct state_file *rf;
		struct plan_obs o;

		if (bf == NULL && (rf = kept_row(x, i)) != NULL) {
			sf[i] = *rf;	/* stayed as committed */
			continue;
		}
		sf[i].local = (char *)sp->files[i].local;
		sf[i].remote = (char *)sp->files[i].remote;
		sf[i].size = bf ? bf->validators.size : BK_SIZE_UNKNOWN;
		sf[i].mtime = bf ? bf->validators.mtime : 0;
		sf[i].etag = bf ? bf->validators.etag : NULL;
		sf[i].last_modified = bf ? bf->validators.last_modified : NULL;
		/* A declared sha256 was verified above on the very bytes
		 * Complete renamed (the backend checks it placed the temp it
		 * wrote): the file is not read again to record it (issue 14).
		 * Others are hashed, for on_remove's "unchanged since". */
		declared = bf != NULL && sp->meta[i].has_sha256;
		observe_file(sp->files[i].local, !declared, &o);
		sf[i].local_size = o.size;
		sf[i].local_mtime_ns = o.mtime_ns;
		sf[i].local_dev = o.dev;
		sf[i].local_ino = o.ino;
		sf[i].has_sha256 = o.hashed || (declared && o.exists == 1);
		memcpy(sf[i].sha256, declared ? sp->meta[i].sha256 : o.sha256,
		    32);
	}
	x->row.spec_hash = (char *)sp->hash;
	x->row.last_success = x->v->now;
	/* The commit counts as the set's check, unless it fetched a remote
	 * change of the same spec: then the slices that came due meanwhile
	 * are still checked (recheck.h; the grid, not this time, spreads a
	 * fleet's checks). */
	x->row.last_check = recheck_commit_time(x->a->recorded != NULL &&
	    x->a->recorded->spec_hash != NULL &&
	    strcmp(x->a->recorded->spec_hash, sp->hash) == 0,
	    x->a->recorded != NULL ? x->a->recorded->last_check : 0,
	    x->a->desired->set->settings.refresh, x->v->now);
	x->row.last_error = NULL;
	x->row.last_error_code = 0;
	x->row.last_error_context = 0;
	x->row.attempts = 0;
	x->row.next_retry = 0;
	x->row.failed_spec = NULL;
	x->row.remote_changed = 0;
	folder_note(x);
	if (state_begin(c->st) == -1 ||
	    state_put_files(c->st, x->a->set, sf, sp->job.nfiles) == -1 ||
	    state_put_set(c->st, &x->row) == -1 ||
	    state_remove_job(c->st, &j->id) == -1 ||
	    note_changed(x, j, pre, sf) == -1 ||
	    state_commit(c->st) == -1) {
		state_rollback(c->st);
		logf_(c, LOG_LEVEL_ERROR, "set=%s error=\"state: %s\"", x->a->set,
		    state_errmsg(c->st));
		x->sum->errors++;
	} else {
		count_add(c, x->a->set, 0, 0, j->files_total,
		    j->bytes_total != BK_SIZE_UNKNOWN ? j->bytes_total : 0);
		logev(c, PLATFORM_EV_SET_COMPLETED, "set=%s job=%s completed "
		    "files=%zu result=in-sync",
		    x->a->set, g, sp->job.nfiles);
		folder_commit(x);
	}
	free(sf);
	free(pre);
}

static int
validators_differ(const struct state_file *f, const struct bk_validators *v)
{
	if (f->etag != NULL && v->etag != NULL)
		return strcmp(f->etag, v->etag) != 0;
	if (f->last_modified != NULL && v->last_modified != NULL &&
	    strcmp(f->last_modified, v->last_modified) != 0)
		return 1;
	if (f->size != BK_SIZE_UNKNOWN && v->size != BK_SIZE_UNKNOWN &&
	    f->size != v->size)
		return 1;
	if (f->mtime != 0 && v->mtime != 0 && f->mtime != v->mtime)
		return 1;
	return 0;
}

/* Seconds of refresh probing one pass may spend: probes run on the
 * daemon's own thread, so a pass over many sets behind slow servers
 * would otherwise keep it from answering for nsets x the probe timeout.
 * The sets not probed stay due and are probed by the next pass. */
#define RECHECK_PASS_BUDGET	30

static void
do_recheck(struct act *x)
{
	struct reconcile_ctx *c = x->c;
	const struct state_set *r = x->a->recorded;
	const struct spec *sp = x->a->desired->spec;
	static char msg[640];	/* x->row.last_error points here */
	uint64_t refresh = x->a->desired->set->settings.refresh;
	size_t i, probed = 0;
	int changed = 0, bad = 0, rc;
	struct rfolder *fo = rfolder_of(x->v->folders, x->a->desired->set);

	/* A folder set was listed (or its index fetched) afresh by this
	 * pass, and its spec, which holds what the listing saw, is the one
	 * committed: that listing was the check, no file is probed. */
	if (fo != NULL && fo->fresh) {
		/* As a probe records it: checked up to when the pass
		 * began (recheck.h keeps the host's phase). */
		x->row.last_check = x->v->now;
		x->row.last_error = NULL;
		x->row.last_error_code = 0;
		x->row.last_error_context = 0;
		folder_note(x);
		logf_(c, LOG_LEVEL_INFO, "set=%s recheck=unchanged listed=%zu",
		    x->a->set, sp->job.nfiles);
		put_row(x);
		return;
	}
	if ((int64_t)time(NULL) - x->v->now >= RECHECK_PASS_BUDGET) {
		logf_(c, LOG_LEVEL_INFO, "set=%s recheck=deferred why=\"this pass spent %ds"
		    " probing; the set is probed by the next pass\"",
		    x->a->set, RECHECK_PASS_BUDGET);
		x->sum->deferred++;
		return;
	}
	/* The first failure ends the set's probe: a server that is down
	 * would otherwise cost the probe timeout once per file. */
	for (i = 0; r != NULL && i < r->nfiles && !changed && !bad; i++) {
		struct bk_probe p = { r->files[i].remote, &sp->job,
		    c->interrupt, c->interrupt_arg };
		struct bk_validators v;
		struct bk_error err;

		/* Only the files whose slice came due since the last check:
		 * one host's check of a set is spread over the refresh
		 * period, not a burst (recheck.h). */
		if (!recheck_file_due(c->jitter_seed, x->a->set, refresh,
		    r->nfiles, i, r->last_check, x->v->now))
			continue;
		probed++;
		memset(&v, 0, sizeof(v));
		memset(&err, 0, sizeof(err));
		rc = c->ops->probe(c->b, &p, &v, &err);
		if (rc == BK_OK)
			changed = validators_differ(&r->files[i], &v);
		else if (rc == BK_E_INTERRUPTED) {
			/* The daemon has a signal or a client to serve: the
			 * set stays due, the next pass probes it. */
			logf_(c, LOG_LEVEL_INFO, "set=%s recheck=deferred why=\"interrupted"
			    " to serve a request\"", x->a->set);
			x->sum->deferred++;
			backend_free_validators(&v);
			backend_free_error(&err);
			return;
		} else if (rc != BK_E_UNSUPPORTED) {
			bad = 1;
			snprintf(msg, sizeof(msg), "refresh check of %s failed:"
			    " %s; checked again after the set's refresh",
			    r->files[i].remote,
			    err.text ? err.text : bk_why(c, rc));
			logf_(c, LOG_LEVEL_WARNING, "set=%s recheck=failed remote=%s error=\"%s\"",
			    x->a->set, r->files[i].remote,
			    err.text ? err.text : bk_why(c, rc));
			/* In status as the set's last error; the files
			 * placed stay as they are. */
			x->row.last_error = msg;
			x->row.last_error_code = err.code;
			x->row.last_error_context = (int)err.context;
			/* Planned again at once, so the status this pass
			 * writes shows the error (the set is not due again:
			 * no second probe). */
			x->sum->again = 1;
		}
		backend_free_validators(&v);
		backend_free_error(&err);
	}
	/* Checked up to when the pass began: slices that came due while
	 * it probed are due at the next pass.  After a failure, up to when
	 * the probe ended: a server that made the probe wait its whole
	 * timeout is not asked again at once for the slices due meanwhile
	 * (they come round next period).  The grid, not this time, keeps
	 * the host's phase (recheck.h). */
	x->row.last_check = bad ? (int64_t)time(NULL) : x->v->now;
	if (changed) {
		x->row.remote_changed = 1;
		x->sum->again = 1;
		logf_(c, LOG_LEVEL_INFO, "set=%s recheck=remote-changed", x->a->set);
	} else if (!bad) {
		/* The set is in sync (only such sets are rechecked): an
		 * error still recorded is an earlier probe's, now over. */
		x->row.last_error = NULL;
		x->row.last_error_code = 0;
		x->row.last_error_context = 0;
		/* A slice of a big set comes due every few seconds: only a
		 * whole-set check is a record at info. */
		logf_(c, r != NULL && probed == r->nfiles ?
		    LOG_LEVEL_INFO : LOG_LEVEL_DEBUG,
		    "set=%s recheck=unchanged files=%zu", x->a->set, probed);
	}
	put_row(x);
}

static void
do_orphan(struct act *x)
{
	size_t i;
	int ok = 1;

	for (i = 0; i < x->a->ncancel; i++)
		if (cancel_job(x, x->a->cancel[i]) == -1)
			ok = 0;
	for (i = 0; i < x->a->nremove; i++) {
		const struct state_file *f = x->a->remove[i];
		const char *p = f->local;
		struct platform_stat want;
		int r;

		/* The plan saw the file unchanged; between that lstat and
		 * now a local user owning a folder on the path could swap
		 * in a symlink.  platform_remove_placed walks the path
		 * without following links and checks the file again
		 * through the folder handle it unlinks from. */
		memset(&want, 0, sizeof(want));
		want.size = f->local_size;
		want.mtime_ns = f->local_mtime_ns;
		want.dev = f->local_dev;
		want.ino = f->local_ino;
		r = platform_remove_placed(p, &want);
		if (r == 1)
			logf_(x->c, LOG_LEVEL_WARNING, "set=%s delete=%s kept=\"changed since "
			    "bitsync placed it; delete it by hand if it is "
			    "not needed\"", x->a->set, p);
		else if (r == -1) {
			logf_(x->c, LOG_LEVEL_ERROR, "set=%s delete=%s error=\"%s%s\"",
			    x->a->set, p, strerror(errno), errno == ELOOP ?
			    ": a symbolic link is in the path; not deleted, "
			    "remove the link and bitsync tries again" : "");
			x->sum->errors++;
			ok = 0;
		} else
			logf_(x->c, LOG_LEVEL_INFO, "set=%s deleted=%s", x->a->set, p);
	}
	/* Forget the set only when everything went: otherwise the next
	 * pass tries again from the record. */
	if (ok && state_delete_set(x->c->st, x->a->set) == -1)
		x->sum->errors++;
	else if (ok)
		rfolder_forget(x->c->cfg, x->a->set);
}

static void
act(struct act *x)
{
	struct reconcile_ctx *c = x->c;
	const struct plan_action *a = x->a;
	char g[39] = "";
	size_t i;
	int rc;

	if (a->job != NULL)
		bk_guid_format(&a->job->id, g);
	/* A decision once at info; what repeats pass after pass while
	 * nothing changes (waiting for a transfer or a retry, held, drift
	 * reported) only at debug. */
	if (a->verb != PLAN_NONE)
		logf_(c, a->verb == PLAN_WAIT || a->verb == PLAN_HOLD ||
		    a->verb == PLAN_REPORT_DRIFT ? LOG_LEVEL_DEBUG :
		    LOG_LEVEL_INFO, "set=%s action=%s reason=\"%s\"%s%s", a->set,
		    plan_verb_name(a->verb), plan_reason_text(a->reason),
		    g[0] ? " job=" : "", g);
	switch (a->verb) {
	case PLAN_NONE:
	case PLAN_WAIT:
		if (a->reason == PLAN_R_BACKOFF && a->job != NULL &&
		    a->job->state == BK_ERROR && a->recorded != NULL &&
		    a->recorded->attempts == 0)
			note_job_error(x);
		break;
	case PLAN_HOLD:
	case PLAN_REPORT_DRIFT:
		break;
	case PLAN_RECHECK:
		do_recheck(x);
		break;
	case PLAN_CREATE:
		if (a->attempts > 1)	/* again, after a failure */
			count_add(c, a->set, 0, 1, 0, 0);
		do_create(x);
		break;
	case PLAN_CANCEL_RECREATE:
		/* Cancel returns at once; the engine hands what the old job
		 * held of files the change left alone to the job created
		 * next (design §4 round 2; README: what BITS cannot). */
		for (i = 0; i < a->ncancel; i++)
			if (cancel_job(x, a->cancel[i]) == -1)
				return;
		if (a->reason == PLAN_R_TOO_MANY_ERRORS) {
			count_add(c, a->set, 1, 1, 0, 0);
			/* The failure count goes on across the new job, so
			 * its backoff keeps growing. */
			x->row.attempts = a->attempts;
			if (a->job != NULL && a->job->has_error &&
			    a->job->error.text != NULL)
				x->row.last_error = a->job->error.text;
		}
		do_create(x);
		break;
	case PLAN_ADOPT:
		x->row.create_pending = 0;
		if (state_begin(c->st) == -1 ||
		    state_add_job(c->st, a->set, &a->job->id,
		    a->desired->spec->hash, x->v->now) == -1 ||
		    state_put_set(c->st, &x->row) == -1 ||
		    state_commit(c->st) == -1) {
			state_rollback(c->st);
			x->sum->errors++;
		}
		break;
	case PLAN_RESUME:
	case PLAN_RETRY:
		if (a->verb == PLAN_RETRY) {
			const struct bk_error *e = &a->job->error;
			char *msg = xasprintf("%s (context %s, 0x%08" PRIx32
			    ")", e->text ? e->text : "job failed",
			    bk_context_name(e->context), (uint32_t)e->code);

			/* A retry answers a failure; the first one of a job
			 * was counted when it was first seen (note_job_error,
			 * which left attempts at 1). */
			count_add(c, a->set, a->recorded->attempts == 1 ? 0 : 1,
			    1, 0, 0);
			logev(c, PLATFORM_EV_JOB_ERROR, "set=%s job=%s "
			    "error=\"%s\" attempts=%u",
			    a->set, g, msg, a->attempts);
			x->row.attempts = a->attempts;
			x->row.last_error = msg;
			x->row.last_error_code = e->code;
			x->row.last_error_context = (int)e->context;
			x->row.failed_spec = (char *)a->desired->spec->hash;
			/* The planner counts the backoff from the job's
			 * last change; a backend that reports none (Wine's
			 * BITS: GetTimes gives 0) would be retried at every
			 * pass, so this retry's time stands in. */
			if (a->job->modified <= 0) {
				const struct mset *s = a->desired ?
				    a->desired->set : NULL;

				x->row.next_retry = x->v->now +
				    (int64_t)plan_backoff(s ?
				    s->settings.retry_delay : 600,
				    a->attempts, c->jitter_seed, a->set);
			}
			put_row(x);
			x->row.last_error = NULL;
			free(msg);
		}
		if ((rc = c->ops->resume(c->b, &a->job->id)) != BK_OK) {
			logf_(c, LOG_LEVEL_ERROR, "set=%s job=%s resume=failed error=\"%s\"",
			    a->set, g, bk_why(c, rc));
			x->sum->errors++;
		}
		break;
	case PLAN_COMPLETE:
		do_complete(x);
		break;
	case PLAN_SUSPEND:
		if ((rc = c->ops->suspend(c->b, &a->job->id)) != BK_OK) {
			logf_(c, LOG_LEVEL_ERROR, "set=%s job=%s suspend=failed error=\"%s\"",
			    a->set, g, bk_why(c, rc));
			x->sum->errors++;
		}
		break;
	case PLAN_CANCEL_ORPHAN:
		do_orphan(x);
		break;
	case PLAN_REDUCE_DUPLICATES:
		for (i = 0; i < a->ncancel; i++)
			cancel_job(x, a->cancel[i]);
		break;
	case PLAN_ADD_FILES:
		if (do_grow(x) == 0)
			break;
		/* As any spec change: the engine still carries the bytes. */
		if (cancel_job(x, a->job) == 0)
			do_create(x);
		break;
	}
}

int
reconcile_execute(struct reconcile_ctx *c, const struct reconcile_input *in,
    struct reconcile_view *v, struct reconcile_summary *sum)
{
	struct rfolder *fo;
	size_t i, j, k;

	memset(sum, 0, sizeof(*sum));
	/* GUIDs recorded for jobs the backend no longer has (completed,
	 * cancelled by an administrator, expired) are forgotten. */
	for (i = 0; i < v->nrecorded; i++)
		for (j = 0; j < v->recorded[i].njobs; j++) {
			const bk_guid *g = &v->recorded[i].jobs[j].guid;

			for (k = 0; k < v->njobs; k++)
				if (memcmp(v->jobs[k].id.b, g->b, 16) == 0)
					break;
			if (k == v->njobs && state_remove_job(c->st, g) == -1)
				sum->errors++;
		}
	for (i = 0; i < v->plan.n; i++) {
		const struct plan_action *a = &v->plan.v[i];
		struct act x = { c, in, v, a, sum, { 0 } };

		if (a->recorded != NULL)
			x.row = *a->recorded;
		else
			x.row.name = (char *)a->set;
		/* Remember where the set is declared and its on_remove:
		 * when it leaves the manifest that is all there is. */
		if (a->desired != NULL) {
			const char *origin = reconcile_origin(in,
			    a->desired->set);
			int on_remove = (int)a->desired->set->settings.on_remove;

			if (a->recorded == NULL || a->recorded->manifest_file ==
			    NULL || strcmp(a->recorded->manifest_file,
			    origin) != 0 || a->recorded->on_remove !=
			    on_remove) {
				x.row.manifest_file = (char *)origin;
				x.row.on_remove = on_remove;
				put_row(&x);
			}
		}
		count(a, sum);
		fo = a->desired != NULL ? rfolder_of(v->folders, a->desired->set) :
		    NULL;
		if (fo != NULL && fo->error != NULL && !fo->waiting) {
			/* design §2a: the listing or index failed, or the set
			 * is over its limits: nothing of it is touched. */
			failed(&x, (a->recorded ? a->recorded->attempts : 0) +
			    1, fo->error, fo->code, fo->context);
			continue;
		}
		/* Names refused by a fresh listing are a failure of part of
		 * the set: counted once per listing, so an alert on
		 * bitsync_set_failures_total sees them (status names them). */
		if (fo != NULL && fo->fresh && fo->refused_note != NULL)
			count_add(c, a->set, 1, 0, 0, 0);
		act(&x);
	}
	return sum->errors == 0 ? 0 : -1;
}
