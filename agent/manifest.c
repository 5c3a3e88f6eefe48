/* manifest.c - reading a manifest (files and drop-in directories) into
 * the validated model. */
#include "manifest.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "perm.h"
#include "platform.h"
#include "rules.h"
#include "util.h"
#include "ytree.h"

#define MODEL_BYTES_PER_BYTE 1.45

static void
add_input(struct manifest_inputs *in, const char *path, int dropin,
    size_t reserve)
{
	struct manifest_input *x;

	if (in->n == in->cap) {
		in->cap = in->cap ? in->cap * 2 : 8;
		in->v = xrealloc(in->v, in->cap * sizeof(*in->v));
	}
	x = &in->v[in->n++];
	x->path = xstrdup(path);
	x->dropin = dropin;
	x->ndiag = in->pre.n;
	x->reserve = reserve;
	x->data = NULL;
	x->len = 0;
}

/* A file refused for its permissions is never read: its content must not
 * steer a privileged agent, not even into diagnostics. */
static int
refused(const char *path, const struct manifest_opts *opts, struct diags *d)
{
	return opts->permissions != PERM_OFF && perm_check(path,
	    opts->permissions == PERM_WARN ? DIAG_WARNING : DIAG_ERROR, d) != 0
	    && opts->permissions == PERM_REFUSE;
}

static void
collect_dir(struct manifest_inputs *in, const char *dir,
    const struct manifest_opts *opts)
{
	char **names = NULL;
	size_t n = 0, i, total = 0;

	if (refused(dir, opts, &in->pre))
		return;
	if (platform_list_manifests(dir, &names, &n) != 0) {
		diag_add(&in->pre, dir, 0, 0, DIAG_ERROR, RULE_IO_ERROR,
		    "cannot read the drop-in directory: %s", strerror(errno));
		return;
	}
	/* One reservation for the whole directory: per file, each would
	 * leave a partly used huge page behind it. */
	for (i = 0; i < n; i++) {
		char *path = platform_join(dir, names[i]);
		struct stat st;

		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			total += (size_t)st.st_size;
		free(path);
	}
	for (i = 0; i < n; i++) {
		char *path = platform_join(dir, names[i]);

		if (!refused(path, opts, &in->pre)) {
			add_input(in, path, 1, total);
			total = 0;
		}
		free(path);
	}
	platform_free_names(names, n);
}

void
manifest_inputs_collect(const char *const *paths, size_t npaths,
    const struct manifest_opts *opts, struct manifest_inputs *in)
{
	size_t i;

	memset(in, 0, sizeof(*in));
	diags_init(&in->pre);
	for (i = 0; i < npaths; i++) {
		enum platform_kind kind;

		if (platform_path_kind(paths[i], &kind) != 0) {
			diag_add(&in->pre, paths[i], 0, 0, DIAG_ERROR,
			    RULE_IO_ERROR, "cannot inspect: %s",
			    strerror(errno));
			continue;
		}
		switch (kind) {
		case PLATFORM_KIND_DIR:
			collect_dir(in, paths[i], opts);
			break;
		case PLATFORM_KIND_FILE:
			if (!refused(paths[i], opts, &in->pre))
				add_input(in, paths[i], 0, 0);
			break;
		case PLATFORM_KIND_MISSING:
			diag_add(&in->pre, paths[i], 0, 0, DIAG_ERROR,
			    RULE_IO_ERROR, "no such file or directory; give "
			    "a manifest file or a drop-in directory");
			break;
		default:
			diag_add(&in->pre, paths[i], 0, 0, DIAG_ERROR,
			    RULE_IO_ERROR, "not a regular file or directory");
			break;
		}
	}
}

void
manifest_inputs_free(struct manifest_inputs *in)
{
	size_t i;

	for (i = 0; i < in->n; i++)
		free(in->v[i].path);
	free(in->v);
	diags_free(&in->pre);
	memset(in, 0, sizeof(*in));
}

/* Copies pre's diagnostics lo..hi-1 to d. */
static void
inputs_diags(const struct manifest_inputs *in, size_t lo, size_t hi,
    struct diags *d)
{
	size_t i;

	for (i = lo; i < hi && i < in->pre.n; i++) {
		const struct diag *g = &in->pre.v[i];

		diag_add(d, g->file, g->line, g->col, g->severity, g->rule,
		    "%s", g->message);
	}
}

struct manifest *
manifest_load_inputs(const struct manifest_inputs *in,
    const struct manifest_opts *opts, struct diags *d)
{
	struct manifest *m = model_new();
	struct ydoc *const *docs;
	const unsigned char *dropin;
	size_t i, n, said = 0;

	for (i = 0; i < in->n; i++) {
		const struct manifest_input *x = &in->v[i];

		/* What collecting found before this file, in its place. */
		inputs_diags(in, said, x->ndiag, d);
		said = x->ndiag;
		if (x->reserve > 0)
			arena_reserve(model_arena(m), (size_t)((double)
			    x->reserve * (YTREE_BYTES_PER_BYTE +
			    MODEL_BYTES_PER_BYTE)));
		model_add_doc(m, x->data != NULL ? ydoc_load_buffer_in(x->path,
		    x->data, x->len, model_arena(m), YTREE_BYTES_PER_BYTE +
		    MODEL_BYTES_PER_BYTE, d) : ydoc_load_file_in(x->path,
		    model_arena(m), YTREE_BYTES_PER_BYTE +
		    MODEL_BYTES_PER_BYTE, d), x->dropin);
	}
	inputs_diags(in, said, in->pre.n, d);
	n = model_docs(m, &docs, &dropin);
	rules_check(docs, dropin, n, opts, m, d);
	return m;
}

struct manifest *
manifest_load(const char *const *paths, size_t npaths,
    const struct manifest_opts *opts, struct diags *d)
{
	struct manifest_inputs in;
	struct manifest *m;

	manifest_inputs_collect(paths, npaths, opts, &in);
	m = manifest_load_inputs(&in, opts, d);
	manifest_inputs_free(&in);
	return m;
}

struct manifest *
manifest_load_buffer(const char *name, const void *buf, size_t len,
    int dropin, const struct manifest_opts *opts, struct diags *d)
{
	struct manifest *m = model_new();
	struct ydoc *const *docs;
	const unsigned char *dflags;
	size_t n;

	model_add_doc(m, ydoc_load_buffer(name, buf, len, d), dropin);
	n = model_docs(m, &docs, &dflags);
	rules_check(docs, dflags, n, opts, m, d);
	return m;
}

void
manifest_free(struct manifest *m)
{
	model_free(m);
}
