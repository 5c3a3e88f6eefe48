/* folder.c - from a listing or an index to a folder set's files (see
 * folder.h). */
#include "folder.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "glob.h"
#include "util.h"

static int
is_sep(char c)
{
	return c == '/' || c == '\\';
}

/* CON, PRN, AUX, NUL, COM1-9, LPT1-9, also with an extension ("nul.txt"
 * is the device too). */
static int
win_reserved(const char *s, size_t len)
{
	static const char *const three[] = { "con", "prn", "aux", "nul" };
	size_t base = 0, i;

	while (base < len && s[base] != '.')
		base++;
	while (base > 0 && s[base - 1] == ' ')
		base--;
	for (i = 0; i < 4; i++)
		if (base == 3 && strncasecmp(s, three[i], 3) == 0)
			return 1;
	if (base == 4 && (strncasecmp(s, "com", 3) == 0 ||
	    strncasecmp(s, "lpt", 3) == 0) && s[3] >= '1' && s[3] <= '9')
		return 1;
	return 0;
}

const char *
folder_name_refused(const char *rel, enum platform platform)
{
	const char *p = rel, *b;
	size_t len;

	if (rel[0] == '\0')
		return "the name is empty";
	if (is_sep(rel[0]))
		return "the name is an absolute path";
	if (isalpha((unsigned char)rel[0]) && rel[1] == ':')
		return "the name starts with a drive letter";
	while (*p != '\0') {
		b = p;
		while (*p != '\0' && !is_sep(*p)) {
			unsigned char ch = (unsigned char)*p;

			if (ch < 0x20 || ch == 0x7f)
				return "the name holds a control character";
			if (platform == PLATFORM_WINDOWS &&
			    strchr("<>:\"|?*", ch) != NULL)
				return "the name holds a character Windows "
				    "cannot store (<>:\"|?*)";
			p++;
		}
		len = (size_t)(p - b);
		if (len == 0)
			return "the name has an empty component";
		if ((len == 1 && b[0] == '.') ||
		    (len == 2 && b[0] == '.' && b[1] == '.'))
			return "the name has a '.' or '..' component";
		if (platform == PLATFORM_WINDOWS) {
			if (b[len - 1] == '.' || b[len - 1] == ' ')
				return "a component ends in a dot or space, "
				    "which Windows drops";
			if (win_reserved(b, len))
				return "a component is a Windows device name "
				    "(CON, NUL, COM1, ...)";
		}
		if (*p != '\0') {
			p++;
			if (*p == '\0')
				return "the name ends in a separator";
		}
	}
	return NULL;
}

static unsigned
fold_flag(enum platform platform)
{
	return platform == PLATFORM_WINDOWS ? GLOB_FOLD : 0;
}

int
folder_selected(const struct mset *set, const char *rel,
    enum platform platform)
{
	unsigned f = fold_flag(platform);
	size_t i;
	int in = set->ninclude == 0;

	for (i = 0; !in && i < set->ninclude; i++)
		in = glob_match(set->include[i], rel, f);
	for (i = 0; in && i < set->nexclude; i++)
		if (glob_match(set->exclude[i], rel, f))
			in = 0;
	return in;
}

int
folder_may_enter(const struct mset *set, const char *rel,
    enum platform platform)
{
	unsigned f = fold_flag(platform);
	size_t i;

	if (set->ninclude == 0)
		return 1;
	for (i = 0; i < set->ninclude; i++)
		if (glob_may_enter(set->include[i], rel, f))
			return 1;
	return 0;
}

static void
refuse(struct folder_result *r, const char *name, const char *why)
{
	r->refused = xrealloc(r->refused, (r->nrefused + 1) *
	    sizeof(*r->refused));
	r->refused[r->nrefused].name = xstrdup(name);
	r->refused[r->nrefused].why = why;
	r->nrefused++;
}

/* Adds rel as a file, or refuses it. */
static struct mfile *
add(struct folder_result *r, size_t *cap, const char *rel,
    enum platform platform)
{
	const char *why = folder_name_refused(rel, platform);
	struct mfile *f;
	char *n, *q;

	if (why != NULL) {
		refuse(r, rel, why);
		return NULL;
	}
	if (r->nfiles == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		r->files = xrealloc(r->files, *cap * sizeof(*r->files));
	}
	n = xstrdup(rel);
	for (q = n; *q != '\0'; q++)
		if (*q == '\\')
			*q = '/';
	f = &r->files[r->nfiles++];
	memset(f, 0, sizeof(*f));
	f->remote = n;
	f->local = n;
	return f;
}

static int
cmp_local_ci(const void *a, const void *b)
{
	const struct mfile *x = a, *y = b;
	int c = strcasecmp(x->local, y->local);

	return c != 0 ? c : strcmp(x->local, y->local);
}

/* On Windows hosts two names that differ only in case are one file: the
 * first in byte order stays, the others are refused.  On every host one
 * name given twice (an index with two lines for it, "./a" and "a", "a\b"
 * and "a/b", a server that repeats an entry) is one local path for two
 * files, which a set's job and records cannot hold: the server did not
 * say which is meant, so every copy is refused. */
static void
refuse_collisions(struct folder_result *r, enum platform platform)
{
	size_t i, k, j;

	if (r->nfiles < 2)
		return;
	qsort(r->files, r->nfiles, sizeof(*r->files), cmp_local_ci);
	for (i = k = 0; i < r->nfiles; i = j) {
		for (j = i + 1; j < r->nfiles &&
		    strcmp(r->files[j].local, r->files[i].local) == 0; j++)
			;
		if (j - i == 1) {
			r->files[k++] = r->files[i];
			continue;
		}
		for (; i < j; i++) {
			refuse(r, r->files[i].local, "the name is given more "
			    "than once, so the server does not say which file "
			    "it is; fix the listing or index");
			free((char *)r->files[i].remote);
		}
	}
	r->nfiles = k;
	if (platform != PLATFORM_WINDOWS || r->nfiles < 2)
		return;
	for (i = 1, k = 1; i < r->nfiles; i++) {
		if (strcasecmp(r->files[i].local, r->files[k - 1].local) == 0) {
			refuse(r, r->files[i].local, "the name differs only "
			    "in case from another file of the set, and "
			    "Windows keeps one of them");
			free((char *)r->files[i].remote);
			continue;
		}
		r->files[k++] = r->files[i];
	}
	r->nfiles = k;
}

static void
limit(const struct mset *set, struct folder_result *r, size_t max,
    size_t n)
{
	if (n > max)
		r->error = xasprintf("set '%s' selects more than %zu files, "
		    "the most max_set_files allows; narrow 'include' (or "
		    "split the set), or raise max_set_files in the agent "
		    "config; nothing of the set was removed", set->name, max);
}

void
folder_from_listing(const struct mset *set, const struct bk_listing *l,
    enum platform platform, size_t max_files, struct folder_result *out)
{
	size_t i, cap = 0;
	struct mfile *f;

	memset(out, 0, sizeof(*out));
	if (l->over) {
		limit(set, out, max_files, max_files + 1);
		return;
	}
	if (l->ndeep > 0) {
		out->error = xasprintf("set '%s': the folder holds folders "
		    "more than %d levels deep, which a listing does not "
		    "follow; narrow 'include' so that it does not reach "
		    "them, or move the files up; nothing of the set was "
		    "removed", set->name, FOLDER_MAX_DEPTH);
		return;
	}
	for (i = 0; i < l->n; i++) {
		const struct bk_entry *e = &l->v[i];

		if (e->why != NULL) {
			refuse(out, e->name, e->why);
			continue;
		}
		if (!folder_selected(set, e->name, platform))
			continue;
		if ((f = add(out, &cap, e->name, platform)) == NULL)
			continue;
		f->listed = 1;
		f->list_size = e->size;
		f->list_mtime = e->mtime;
	}
	refuse_collisions(out, platform);
	limit(set, out, max_files, out->nfiles);
}

void
folder_from_index(const struct mset *set, const struct sumindex *ix,
    enum platform platform, struct folder_result *out)
{
	const char *slash = strrchr(set->index, '/');
	size_t dirlen = slash ? (size_t)(slash - set->index) + 1 : 0;
	size_t i, cap = 0;
	struct mfile *f;
	char *rel;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < ix->n; i++) {
		const char *name = ix->v[i].path;
		const char *why;

		/* sha256sum run on "./NAME" writes "./a.iso". */
		while (name[0] == '.' && is_sep(name[1]))
			name += 2;
		if ((why = folder_name_refused(name, platform)) != NULL) {
			refuse(out, ix->v[i].path, why);
			continue;
		}
		rel = xasprintf("%.*s%s", (int)dirlen, set->index, name);
		if (!folder_selected(set, rel, platform)) {
			free(rel);
			continue;
		}
		f = add(out, &cap, rel, platform);
		free(rel);
		if (f == NULL)
			continue;
		f->has_sha256 = 1;
		memcpy(f->sha256, ix->v[i].sha256, 32);
	}
	refuse_collisions(out, platform);
}

void
folder_result_free(struct folder_result *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nfiles; i++)
		free((char *)r->files[i].remote);
	free(r->files);
	for (i = 0; i < r->nrefused; i++)
		free(r->refused[i].name);
	free(r->refused);
	free(r->error);
	memset(r, 0, sizeof(*r));
}

struct mset
folder_expanded(const struct mset *set, const struct folder_result *r)
{
	struct mset m = *set;
	size_t i;

	m.files = r->files;
	m.nfiles = r->nfiles;
	m.spec_hash = NULL;
	for (i = 0; i < r->nfiles; i++)
		r->files[i].pos = set->content_pos;
	return m;
}
