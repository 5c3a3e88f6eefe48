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
recorded_of(struct rfolder_pass *v, const char *name)
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
rejected_path(const struct config *cfg, const char *set)
{
	if (cfg == NULL || cfg->state_dir == NULL)
		return NULL;
	return xasprintf("%s/folders/%s.rejected", cfg->state_dir, set);
}

void
rfolder_reject(const struct config *cfg, const char *set,
    const char *rel, const uint8_t sha256[32], int64_t now)
{
	char *path = rejected_path(cfg, set), *dir, hex[65];
	FILE *fp;
	size_t i;

	if (path == NULL)
		return;
	dir = xasprintf("%s/folders", cfg->state_dir);
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

void
rfolder_forget(const struct config *cfg, const char *set)
{
	char *p;

	if (cfg == NULL || cfg->state_dir == NULL)
		return;
	p = xasprintf("%s/folders/%s.list", cfg->state_dir, set);
	(void)remove(p);
	free(p);
	p = rejected_path(cfg, set);
	(void)remove(p);
	free(p);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **
rfolder_refused_locals(const struct rfolder *f, enum platform p, size_t *n)
{
	char **v;
	size_t i;

	*n = 0;
	if (f == NULL || f->r.nrefused == 0)
		return NULL;
	v = xcalloc(f->r.nrefused, sizeof(*v));
	for (i = 0; i < f->r.nrefused; i++)
		v[i] = spec_local_path(f->orig->destination,
		    f->r.refused[i].name, p);
	qsort(v, f->r.nrefused, sizeof(*v), cmp_str);
	*n = f->r.nrefused;
	return v;
}

int
rfolder_refused_has(char *const *v, size_t n, const char *local)
{
	return n > 0 && bsearch(&local, v, n, sizeof(*v), cmp_str) != NULL;
}

/* Drops from r the index entries rejected less than retry_delay ago
 * with the hash the index still gives them, refusing them instead. */
static void
apply_rejected(const struct rfolder_env *c, const struct mset *set,
    struct folder_result *r, int64_t now)
{
	char *path = rejected_path(c->cfg, set->name), line[8192], hex[65];
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

/* ---- the listing kept between passes ----------------------------------
 *
 * <state_dir>/folders/<set>.list: what the last listing or index gave
 * (before rejections), so that a timed pass of the daemon does not list a
 * 10,000-file folder again until the set's refresh is due (design §9: an
 * origin sees about agents / refresh checks).  A person's apply always
 * lists.  Text, one file per line; a name never holds a control
 * character (folder.c refuses them), so tab and newline separate:
 *
 *   bitsync-folder 1 KEY LISTED_AT
 *   F SIZE MTIME LISTED(0|1) SHA256|- NAME
 *   R WHY<TAB>NAME
 */

/* What the listing depends on: source, path, globs, index, host, limit. */
static void
cache_key(const struct rfolder_env *c, const struct mset *set,
    char out[65])
{
	uint8_t d[32];
	char *s;
	size_t i, len = 0, cap = 256;

	s = xmalloc(cap);
#define ADD(str) do {							\
		size_t n_ = strlen(str) + 1;				\
		if (len + n_ > cap) {					\
			cap = 2 * (len + n_);				\
			s = xrealloc(s, cap);				\
		}							\
		memcpy(s + len, str, n_);				\
		len += n_;						\
	} while (0)
	ADD(set->source->url);
	ADD(set->path ? set->path : "");
	ADD(set->index ? set->index : "-");
	for (i = 0; i < set->ninclude; i++)
		ADD(set->include[i]);
	ADD("\x01");
	for (i = 0; i < set->nexclude; i++)
		ADD(set->exclude[i]);
	ADD(c->platform == PLATFORM_WINDOWS ? "w" : "p");
	{
		char m[32];

		snprintf(m, sizeof(m), "%u", c->cfg ? c->cfg->max_set_files : 0);
		ADD(m);
	}
#undef ADD
	spec_sha256(s, len, d);
	spec_hex(d, 32, out);
	free(s);
}

static char *
cache_path(const struct rfolder_env *c, const char *set)
{
	if (c->cfg == NULL || c->cfg->state_dir == NULL)
		return NULL;
	return xasprintf("%s/folders/%s.list", c->cfg->state_dir, set);
}

static void
cache_save(const struct rfolder_env *c, const struct mset *set,
    const struct folder_result *r, int64_t now)
{
	char *path = cache_path(c, set->name), *tmp = NULL, *dir, key[65];
	char hex[65];
	FILE *fp = NULL;
	size_t i;
	int ok;

	if (path == NULL)
		return;
	dir = xasprintf("%s/folders", c->cfg->state_dir);
	(void)platform_mkdir_private(dir);
	free(dir);
	cache_key(c, set, key);
	if ((fp = platform_replace_open(path, &tmp)) == NULL)
		goto out;
	fprintf(fp, "bitsync-folder 1 %s %" PRId64 "\n", key, now);
	for (i = 0; i < r->nfiles; i++) {
		const struct mfile *f = &r->files[i];

		if (f->has_sha256)
			spec_hex(f->sha256, 32, hex);
		fprintf(fp, "F %" PRIu64 " %" PRId64 " %d %s %s\n",
		    f->list_size, f->list_mtime, f->listed,
		    f->has_sha256 ? hex : "-", f->local);
	}
	for (i = 0; i < r->nrefused; i++)
		fprintf(fp, "R %s\t%s\n", r->refused[i].why,
		    r->refused[i].name);
	ok = fflush(fp) == 0 && ferror(fp) == 0;
	if (!ok)
		platform_replace_abort(fp, tmp);
	if (!ok || platform_replace_commit(fp, tmp, path) != 0)
		log_warn("set=%s error=\"cannot write %s\"", set->name, path);
out:
	free(path);
}

/* One line of fp into *buf (grown as needed), newline kept: its length,
 * or -1 at the end.  (getline is not in every C library bitsync builds
 * with.) */
static long
read_line(FILE *fp, char **buf, size_t *cap)
{
	size_t n = 0;

	if (*buf == NULL) {
		*cap = 512;
		*buf = xmalloc(*cap);
	}
	for (;;) {
		if (fgets(*buf + n, (int)(*cap - n), fp) == NULL)
			return n > 0 ? (long)n : -1;
		n += strlen(*buf + n);
		if (n > 0 && (*buf)[n - 1] == '\n')
			return (long)n;
		if (n + 1 >= *cap) {
			*cap *= 2;
			*buf = xrealloc(*buf, *cap);
		}
	}
}

/* 0 and f->r filled from the cache when it holds this set's listing
 * from less than refresh ago; -1 otherwise. */
static int
cache_load(const struct rfolder_env *c, struct rfolder *f, int64_t now)
{
	const struct mset *set = f->orig;
	char *path = cache_path(c, set->name), key[65], fkey[80], *line = NULL;
	size_t cap = 0, fcap = 0, wlen = 0, wcap = 0, i, *woff = NULL;
	long long at;
	long n;
	FILE *fp;
	int rc = -1;

	if (path == NULL || (fp = fopen(path, "r")) == NULL) {
		free(path);
		return -1;
	}
	cache_key(c, set, key);
	if ((n = read_line(fp, &line, &cap)) <= 0 ||
	    sscanf(line, "bitsync-folder 1 %79s %lld", fkey, &at) != 2 ||
	    strcmp(fkey, key) != 0 || at > now ||
	    (set->settings.refresh > 0 &&
	    now - at >= (int64_t)set->settings.refresh))
		goto out;
	while ((n = read_line(fp, &line, &cap)) > 0) {
		unsigned long long size;
		long long mtime;
		int listed, off = 0;
		char hex[80];

		if (line[n - 1] != '\n')
			goto out;	/* torn: list again */
		line[--n] = '\0';
		if (line[0] == 'F' && sscanf(line, "F %llu %lld %d %79s %n",
		    &size, &mtime, &listed, hex, &off) == 4 && off > 0) {
			struct mfile *m;

			if (f->r.nfiles == fcap) {
				fcap = fcap ? 2 * fcap : 64;
				f->r.files = xrealloc(f->r.files,
				    fcap * sizeof(*f->r.files));
			}
			m = &f->r.files[f->r.nfiles++];
			memset(m, 0, sizeof(*m));
			m->remote = m->local = xstrdup(line + off);
			m->list_size = size;
			m->list_mtime = mtime;
			m->listed = listed != 0;
			if (strcmp(hex, "-") != 0) {
				if (spec_unhex(hex, m->sha256, 32) != 0)
					goto out;
				m->has_sha256 = 1;
			}
		} else if (line[0] == 'R' && line[1] == ' ' &&
		    strchr(line, '\t') != NULL) {
			char *tab = strchr(line, '\t');
			size_t wl = (size_t)(tab - (line + 2));

			f->r.refused = xrealloc(f->r.refused,
			    (f->r.nrefused + 1) * sizeof(*f->r.refused));
			woff = xrealloc(woff, (f->r.nrefused + 1) *
			    sizeof(*woff));
			f->r.refused[f->r.nrefused].name = xstrdup(tab + 1);
			f->r.refused[f->r.nrefused].why = "";
			/* The reason, kept in why_buf (which may move). */
			if (wlen + wl + 1 > wcap) {
				wcap = 2 * (wlen + wl + 1) + 256;
				f->why_buf = xrealloc(f->why_buf, wcap);
			}
			memcpy(f->why_buf + wlen, line + 2, wl);
			f->why_buf[wlen + wl] = '\0';
			woff[f->r.nrefused] = wlen;
			wlen += wl + 1;
			f->r.nrefused++;
		} else
			goto out;
	}
	for (i = 0; i < f->r.nrefused; i++)
		f->r.refused[i].why = f->why_buf + woff[i];
	rc = 0;
out:
	if (rc != 0) {
		folder_result_free(&f->r);
		free(f->why_buf);
		f->why_buf = NULL;
	}
	free(woff);
	free(line);
	fclose(fp);
	free(path);
	return rc;
}

/* Lists or fetches, then expands.  spec0: the set's spec with no files
 * (its settings: identity, proxy). */
static void
expand_one(const struct rfolder_env *c, struct rfolder_pass *v,
    struct rfolder *f, const struct spec *spec0,
    const struct state_set *rec)
{
	const struct mset *set = f->orig;
	const struct msource *src = set->source;
	size_t max = c->cfg != NULL && c->cfg->max_set_files > 0 ?
	    c->cfg->max_set_files : 10000;
	struct bk_error err;
	char *remote = NULL;
	int rc;

	memset(&err, 0, sizeof(err));
	/* A timed pass reuses the last listing while the set's refresh is
	 * not due (design §4: a set in sync is re-checked every refresh). */
	if (!c->retry_now && !c->list_now && rec != NULL &&
	    rec->spec_hash != NULL &&
	    (set->settings.refresh == 0 ||
	    v->now < rec->last_check + (int64_t)set->settings.refresh) &&
	    cache_load(c, f, v->now) == 0) {
		if (set->index != NULL)
			apply_rejected(c, set, &f->r, v->now);
		goto noted;
	}
	f->fresh = 1;
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
			cache_save(c, set, &f->r, v->now);
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
			if (f->r.error == NULL)
				cache_save(c, set, &f->r, v->now);
			if (l.nlinks > 0)
				log_info("set=%s folder=\"%s\" "
				    "links_skipped=%zu", set->name, remote,
				    l.nlinks);
			backend_free_listing(&l);
		}
	}
	backend_free_error(&err);
noted:
	if (f->error == NULL && f->r.error != NULL) {
		f->error = f->r.error;
		f->r.error = NULL;
		f->code = (int32_t)0x80070057;	/* E_INVALIDARG */
		f->context = BK_CTX_REMOTE_FILE;
	}
	/* A share that answers an empty folder (a DFS target not yet
	 * replicated, a permissions slip on the server, an index emptied by
	 * mistake) must not read as "every file left the set": with
	 * on_remove: delete that would delete the whole folder on every
	 * host.  Emptying a set on purpose is done in the manifest.  Names
	 * refused do not make it less empty: a server that answers one name
	 * bitsync refuses and nothing else is no less wrong. */
	if (f->error == NULL && f->r.nfiles == 0 &&
	    set->settings.on_remove == ON_REMOVE_DELETE &&
	    rec != NULL && rec->nfiles > 0) {
		f->error = xasprintf("%s%s lists no file of the set, though "
		    "%zu placed by bitsync are recorded; nothing was removed. "
		    "If the set is meant to be empty, remove it from the "
		    "manifest (its files then follow on_remove)",
		    set->index != NULL ? "index " : "folder ",
		    remote != NULL ? remote : set->path, rec->nfiles);
		f->code = (int32_t)0x80070002;	/* ERROR_FILE_NOT_FOUND */
		f->context = BK_CTX_REMOTE_FILE;
	}
	if (f->error == NULL && f->r.nrefused > 0) {
		size_t i, len = 0;
		char *note;

		for (i = 0; i < f->r.nrefused; i++) {
			if (f->fresh)
				log_warn("set=%s refused=\"%s\" why=\"%s\"",
				    set->name, f->r.refused[i].name,
				    f->r.refused[i].why);
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

struct rfolders *
rfolder_expand(const struct rfolder_env *c, struct rfolder_pass *v)
{
	struct rfolders *fs;
	size_t i, n = 0;

	for (i = 0; i < v->ndesired; i++)
		if (v->desired[i].set != NULL && v->desired[i].set->folder &&
		    v->desired[i].set->source != NULL)
			n++;
	if (n == 0)
		return NULL;
	fs = xcalloc(1, sizeof(*fs));
	fs->v = xcalloc(n, sizeof(*fs->v));
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
			expand_one(c, v, f, &spec0, rec);
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
	return fs;
}

struct rfolder *
rfolder_of(const struct rfolders *fs, const struct mset *set)
{
	size_t i;

	for (i = 0; fs != NULL && i < fs->n; i++)
		if (&fs->v[i].set == set)
			return &fs->v[i];
	return NULL;
}

void
rfolder_hold(const struct rfolders *fs, struct plan *plan, int64_t now)
{
	size_t i;

	for (i = 0; fs != NULL && i < plan->n; i++) {
		struct plan_action *a = &plan->v[i];
		struct rfolder *f = a->desired ? rfolder_of(fs,
		    a->desired->set) : NULL;

		if (f == NULL || (f->error == NULL && !f->waiting))
			continue;
		a->verb = PLAN_WAIT;
		a->reason = PLAN_R_BACKOFF;
		a->retry_at = f->waiting && a->recorded ?
		    a->recorded->next_retry : now;
		a->ncancel = 0;		/* the arrays stay for plan_free */
		a->nremove = 0;
	}
}

void
rfolder_free(struct rfolders *fs)
{
	size_t i;

	if (fs == NULL)
		return;
	for (i = 0; i < fs->n; i++) {
		folder_result_free(&fs->v[i].r);
		free(fs->v[i].error);
		free(fs->v[i].refused_note);
		free(fs->v[i].why_buf);
	}
	free(fs->v);
	free(fs);
}
