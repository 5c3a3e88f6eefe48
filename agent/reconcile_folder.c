/* reconcile_folder.c - folder sets in a reconcile pass (see
 * reconcile_folder.h). */
#include "reconcile_folder.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "observe.h"
#include "platform.h"
#include "sumindex.h"
#include "util.h"

/* Glob callbacks of a listing. */
struct sel {
	const struct mset *set;
	enum platform platform;
};

static int
sel_enter(void *arg, const char *rel)
{
	const struct sel *s = arg;

	return folder_may_enter(s->set, rel, s->platform);
}

static int
sel_keep(void *arg, const char *rel)
{
	const struct sel *s = arg;

	return folder_selected(s->set, rel, s->platform);
}

static const struct state_set *
recorded_of(const struct reconcile_view *v, const char *name)
{
	size_t i;

	for (i = 0; i < v->nrecorded; i++)
		if (strcmp(v->recorded[i].name, name) == 0)
			return &v->recorded[i];
	return NULL;
}

static void
set_error(struct rfolder *f, const struct bk_error *e, const char *what)
{
	f->error = e->text ? xstrdup(e->text) : xasprintf("%s: failed",
	    what);
	f->code = e->code;
	f->context = (int)e->context;
}

static char *
rejected_path(const struct reconcile_ctx *c, const char *set)
{
	if (c->cfg == NULL || c->cfg->state_dir == NULL)
		return NULL;
	return xasprintf("%s/folders/%s.rejected", c->cfg->state_dir, set);
}

void
rfolder_reject(const struct reconcile_ctx *c, const char *set,
    const char *rel, const uint8_t sha256[32], int64_t now)
{
	char *path = rejected_path(c, set), *dir, hex[65];
	FILE *fp;
	size_t i;

	if (path == NULL)
		return;
	dir = xasprintf("%s/folders", c->cfg->state_dir);
	(void)platform_mkdir_private(dir);
	free(dir);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", sha256[i]);
	/* One line per rejection; a torn last line is ignored on read. */
	if ((fp = fopen(path, "a")) != NULL) {
		fprintf(fp, "%" PRId64 " %s %s\n", now, hex, rel);
		if (fclose(fp) != 0)
			log_warn("set=%s error=\"cannot write %s\"", set, path);
	}
	free(path);
}

/* Drops from r the index entries rejected less than retry_delay ago
 * with the hash the index still gives them, refusing them instead. */
static void
apply_rejected(const struct reconcile_ctx *c, const struct mset *set,
    struct folder_result *r, int64_t now)
{
	char *path = rejected_path(c, set->name), line[8192], hex[65];
	FILE *fp;
	size_t i, k;

	if (path == NULL || (fp = fopen(path, "r")) == NULL) {
		free(path);
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		long long t;
		int off = 0;
		size_t len = strlen(line);

		if (len == 0 || line[len - 1] != '\n')
			continue;
		line[len - 1] = '\0';
		if (sscanf(line, "%lld %64s %n", &t, hex, &off) != 2 ||
		    off == 0 || now - t >= (int64_t)set->settings.retry_delay)
			continue;
		for (i = k = 0; i < r->nfiles; i++) {
			struct mfile *f = &r->files[i];
			char fh[65];
			size_t j;

			for (j = 0; j < 32; j++)
				snprintf(fh + 2 * j, 3, "%02x", f->sha256[j]);
			if (f->has_sha256 && strcmp(f->local, line + off) == 0 &&
			    strcmp(fh, hex) == 0) {
				r->refused = xrealloc(r->refused,
				    (r->nrefused + 1) * sizeof(*r->refused));
				r->refused[r->nrefused].name =
				    (char *)f->remote;	/* moves */
				r->refused[r->nrefused].why = "its bytes did "
				    "not match the index's sha256; not "
				    "committed, tried again after retry_delay";
				r->nrefused++;
				continue;
			}
			r->files[k++] = *f;
		}
		r->nfiles = k;
	}
	fclose(fp);
	free(path);
}

/* Lists or fetches, then expands.  spec0: the set's spec with no files
 * (its settings: identity, proxy). */
static void
expand_one(struct reconcile_ctx *c, struct reconcile_view *v,
    struct rfolder *f, const struct spec *spec0)
{
	const struct mset *set = f->orig;
	const struct msource *src = set->source;
	size_t max = c->cfg != NULL && c->cfg->max_set_files > 0 ?
	    c->cfg->max_set_files : 10000;
	struct bk_error err;
	char *remote = NULL;
	int rc;

	memset(&err, 0, sizeof(err));
	if (c->ops == NULL) {
		f->error = xstrdup("no backend to list the folder with");
		f->context = BK_CTX_GENERAL_QUEUE_MANAGER;
		return;
	}
	if (set->index != NULL) {
		struct bk_probe p = { 0 };
		struct sumindex ix;
		char *buf = NULL;
		size_t len = 0;

		if (c->ops->fetch_small == NULL) {
			f->error = xasprintf("the %s backend cannot fetch an "
			    "index file", c->ops->name);
			f->context = BK_CTX_GENERAL_QUEUE_MANAGER;
			return;
		}
		remote = spec_remote_path(src, set->path, set->index);
		p.remote = remote;
		p.settings = &spec0->job;
		p.interrupt = c->interrupt;
		p.interrupt_arg = c->interrupt_arg;
		rc = c->ops->fetch_small(c->b, &p, FOLDER_INDEX_MAX, &buf,
		    &len, &err);
		if (rc != BK_OK) {
			char *what = xasprintf("cannot fetch index %s", remote);

			set_error(f, &err, what);
			free(what);
		} else if (sumindex_parse(buf, len, max, &ix) != 0) {
			f->error = xasprintf("index %s line %u: %s; fix the "
			    "index (sha256sum or sha256sum --tag output); "
			    "nothing of the set was changed", remote,
			    ix.bad_line, ix.bad_why);
			f->code = (int32_t)0x80070017;
			f->context = BK_CTX_REMOTE_FILE;
		} else {
			folder_from_index(set, &ix, c->platform, &f->r);
			sumindex_free(&ix);
			apply_rejected(c, set, &f->r, v->now);
		}
		free(buf);
	} else {
		struct bk_list req;
		struct bk_listing l;
		struct sel s = { set, c->platform };

		if (c->ops->list_folder == NULL) {
			f->error = xasprintf("the %s backend cannot list "
			    "folders", c->ops->name);
			f->context = BK_CTX_GENERAL_QUEUE_MANAGER;
			return;
		}
		memset(&req, 0, sizeof(req));
		remote = spec_remote_path(src, set->path, "");
		req.remote = remote;
		req.settings = &spec0->job;
		req.max_depth = FOLDER_MAX_DEPTH;
		req.max_entries = max;
		req.enter = sel_enter;
		req.keep = sel_keep;
		req.arg = &s;
		req.interrupt = c->interrupt;
		req.interrupt_arg = c->interrupt_arg;
		rc = c->ops->list_folder(c->b, &req, &l, &err);
		if (rc != BK_OK) {
			char *what = xasprintf("cannot list %s", remote);

			set_error(f, &err, what);
			free(what);
		} else {
			folder_from_listing(set, &l, c->platform, max, &f->r);
			if (l.nlinks > 0)
				log_info("set=%s folder=\"%s\" "
				    "links_skipped=%zu", set->name, remote,
				    l.nlinks);
			backend_free_listing(&l);
		}
	}
	backend_free_error(&err);
	if (f->error == NULL && f->r.error != NULL) {
		f->error = f->r.error;
		f->r.error = NULL;
		f->code = (int32_t)0x80070057;	/* E_INVALIDARG */
		f->context = BK_CTX_REMOTE_FILE;
	}
	if (f->error == NULL && f->r.nrefused > 0) {
		size_t i, len = 0;
		char *note;

		for (i = 0; i < f->r.nrefused; i++) {
			log_warn("set=%s refused=\"%s\" why=\"%s\"", set->name,
			    f->r.refused[i].name, f->r.refused[i].why);
			len += strlen(f->r.refused[i].name) +
			    strlen(f->r.refused[i].why) + 8;
		}
		note = xmalloc(len + 64);
		len = (size_t)sprintf(note, "%zu name%s from the server "
		    "refused:", f->r.nrefused, f->r.nrefused == 1 ? "" : "s");
		for (i = 0; i < f->r.nrefused && len < 4000; i++)
			len += (size_t)sprintf(note + len, "%s '%s' (%s)",
			    i ? ";" : "", f->r.refused[i].name,
			    f->r.refused[i].why);
		f->refused_note = note;
	}
	free(remote);
}

void
rfolder_expand(struct reconcile_ctx *c, struct reconcile_view *v)
{
	struct rfolders *fs;
	size_t i, n = 0;

	for (i = 0; i < v->ndesired; i++)
		if (v->desired[i].set != NULL && v->desired[i].set->folder &&
		    v->desired[i].set->source != NULL)
			n++;
	if (n == 0)
		return;
	fs = xcalloc(1, sizeof(*fs));
	fs->v = xcalloc(n, sizeof(*fs->v));
	v->folders = fs;
	for (i = 0; i < v->ndesired; i++) {
		const struct mset *set = v->desired[i].set;
		const struct state_set *rec;
		struct rfolder *f;
		struct spec spec0;

		if (set == NULL || !set->folder || set->source == NULL)
			continue;
		f = &fs->v[fs->n++];
		f->orig = set;
		memset(&f->r, 0, sizeof(f->r));
		f->set = folder_expanded(set, &f->r);
		if (spec_build(&f->set, c->platform, &spec0) != 0)
			continue;
		/* A set that failed waits for its retry without asking the
		 * server again (a person's apply asks at once). */
		rec = recorded_of(v, set->name);
		if (!c->retry_now && rec != NULL && rec->attempts > 0 &&
		    rec->next_retry > v->now && rec->failed_spec != NULL &&
		    strcmp(rec->failed_spec, spec0.hash) == 0)
			f->waiting = 1;
		else
			expand_one(c, v, f, &spec0);
		spec_free(&spec0);
		if (f->error == NULL && !f->waiting)
			f->set = folder_expanded(set, &f->r);
		v->desired[i].set = &f->set;
		spec_free(&v->specs[i]);
		free(v->obs[i]);
		v->obs[i] = NULL;
		if (spec_build(&f->set, c->platform, &v->specs[i]) == 0)
			v->obs[i] = observe_spec(&v->specs[i], 0, NULL);
	}
}

struct rfolder *
rfolder_of(const struct reconcile_view *v, const struct mset *set)
{
	size_t i;

	for (i = 0; v->folders != NULL && i < v->folders->n; i++)
		if (&v->folders->v[i].set == set)
			return &v->folders->v[i];
	return NULL;
}

void
rfolder_hold(struct reconcile_view *v)
{
	size_t i;

	for (i = 0; i < v->plan.n; i++) {
		struct plan_action *a = &v->plan.v[i];
		struct rfolder *f = a->desired ? rfolder_of(v, a->desired->set) :
		    NULL;

		if (f == NULL || (f->error == NULL && !f->waiting))
			continue;
		a->verb = PLAN_WAIT;
		a->reason = PLAN_R_BACKOFF;
		a->retry_at = f->waiting && a->recorded ?
		    a->recorded->next_retry : v->now;
		a->ncancel = 0;		/* the arrays stay for plan_free */
		a->nremove = 0;
	}
}

void
rfolder_free(struct reconcile_view *v)
{
	size_t i;

	if (v->folders == NULL)
		return;
	for (i = 0; i < v->folders->n; i++) {
		folder_result_free(&v->folders->v[i].r);
		free(v->folders->v[i].error);
		free(v->folders->v[i].refused_note);
	}
	free(v->folders->v);
	free(v->folders);
	v->folders = NULL;
}
