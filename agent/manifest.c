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

const struct msettings manifest_builtin_defaults = {
	.priority = PRIO_NORMAL,
	.refresh = 6 * 3600,
	.retry_delay = 10 * 60,
	.no_progress_timeout = 14 * 86400,
	.max_download_time = 90 * 86400,
	.on_remove = ON_REMOVE_KEEP,
	.mode = MODE_ENFORCE,
};

struct manifest_priv {
	struct ydoc **docs;
	size_t ndocs, cap;
	unsigned char *dropin;
	/* The trees and the model built from them, in one arena: one
	 * reservation per file, one free.  The model takes about 1.45 bytes
	 * per byte of YAML (a 10,000-set manifest: 2.95 MB of YAML, 6.5 MB
	 * of tree, 4.2 MB of model). */
	struct arena *arena;
};
#define MODEL_BYTES_PER_BYTE 1.45

enum platform
manifest_host_platform(void)
{
#ifdef _WIN32
	return PLATFORM_WINDOWS;
#else
	return PLATFORM_POSIX;
#endif
}

struct arena *
manifest_arena(struct manifest *m)
{
	return m->priv->arena;
}

static void
add_doc(struct manifest *m, struct ydoc *doc, int dropin)
{
	struct manifest_priv *p = m->priv;

	if (p->ndocs == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		p->docs = xrealloc(p->docs, p->cap * sizeof(*p->docs));
		p->dropin = xrealloc(p->dropin, p->cap);
		m->files = xrealloc(m->files, p->cap * sizeof(*m->files));
	}
	p->dropin[p->ndocs] = (unsigned char)dropin;
	p->docs[p->ndocs++] = doc;
	m->files[m->nfiles++] = doc->file;
}

/* A file refused for its permissions is never parsed: its content must
 * not steer a privileged agent, not even into diagnostics. */
static void
load_file(struct manifest *m, const char *path, int dropin,
    const struct manifest_opts *opts, struct diags *d)
{
	if (opts->permissions != PERM_OFF && perm_check(path,
	    opts->permissions == PERM_WARN ? DIAG_WARNING : DIAG_ERROR, d) != 0
	    && opts->permissions == PERM_REFUSE)
		return;
	add_doc(m, ydoc_load_file_in(path, m->priv->arena,
	    YTREE_BYTES_PER_BYTE + MODEL_BYTES_PER_BYTE, d), dropin);
}

static void
load_dir(struct manifest *m, const char *dir,
    const struct manifest_opts *opts, struct diags *d)
{
	char **names = NULL;
	size_t n = 0, i, total = 0;

	if (opts->permissions != PERM_OFF && perm_check(dir,
	    opts->permissions == PERM_WARN ? DIAG_WARNING : DIAG_ERROR, d) != 0
	    && opts->permissions == PERM_REFUSE)
		return;
	if (platform_list_manifests(dir, &names, &n) != 0) {
		diag_add(d, dir, 0, 0, DIAG_ERROR, RULE_IO_ERROR, "cannot read "
		    "the drop-in directory: %s", strerror(errno));
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
	arena_reserve(m->priv->arena, (size_t)((double)total *
	    (YTREE_BYTES_PER_BYTE + MODEL_BYTES_PER_BYTE)));
	for (i = 0; i < n; i++) {
		char *path = platform_join(dir, names[i]);

		load_file(m, path, 1, opts, d);
		free(path);
	}
	platform_free_names(names, n);
}

struct manifest *
manifest_load(const char *const *paths, size_t npaths,
    const struct manifest_opts *opts, struct diags *d)
{
	struct manifest *m;
	size_t i;

	m = xcalloc(1, sizeof(*m));
	m->priv = xcalloc(1, sizeof(*m->priv));
	m->priv->arena = arena_new();
	for (i = 0; i < npaths; i++) {
		enum platform_kind kind;

		if (platform_path_kind(paths[i], &kind) != 0) {
			diag_add(d, paths[i], 0, 0, DIAG_ERROR, RULE_IO_ERROR,
			    "cannot inspect: %s", strerror(errno));
			continue;
		}
		switch (kind) {
		case PLATFORM_KIND_DIR:
			load_dir(m, paths[i], opts, d);
			break;
		case PLATFORM_KIND_FILE:
			load_file(m, paths[i], 0, opts, d);
			break;
		case PLATFORM_KIND_MISSING:
			diag_add(d, paths[i], 0, 0, DIAG_ERROR, RULE_IO_ERROR,
			    "no such file or directory; give a manifest file "
			    "or a drop-in directory");
			break;
		default:
			diag_add(d, paths[i], 0, 0, DIAG_ERROR, RULE_IO_ERROR,
			    "not a regular file or directory");
			break;
		}
	}
	rules_check(m->priv->docs, m->priv->dropin, m->priv->ndocs, opts, m,
	    d);
	return m;
}

struct manifest *
manifest_load_buffer(const char *name, const void *buf, size_t len,
    int dropin, const struct manifest_opts *opts, struct diags *d)
{
	struct manifest *m;

	m = xcalloc(1, sizeof(*m));
	m->priv = xcalloc(1, sizeof(*m->priv));
	m->priv->arena = arena_new();
	add_doc(m, ydoc_load_buffer(name, buf, len, d), dropin);
	rules_check(m->priv->docs, m->priv->dropin, m->priv->ndocs, opts, m,
	    d);
	return m;
}

void
manifest_free(struct manifest *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->priv->ndocs; i++)
		ydoc_free(m->priv->docs[i]);
	free(m->priv->docs);
	free(m->priv->dropin);
	arena_free(m->priv->arena);
	free(m->priv);
	free(m->sources);	/* sets live in the arena */
	free(m->files);
	free(m);
}
