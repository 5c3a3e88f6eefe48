/* model.c - the manifest model's storage: one arena for the trees and the
 * model built from them, the documents it was built from, and the mapping
 * a cached model points into. */
#include "model.h"

#include <stdlib.h>

#include "platform.h"
#include "util.h"
#include "ytree.h"

const struct msettings model_builtin_defaults = {
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
	/* A model read from the manifest cache points into its mapping
	 * (mcache.c), unmapped with the model. */
	const void *map;
	size_t maplen;
};

enum platform
model_host_platform(void)
{
#ifdef _WIN32
	return PLATFORM_WINDOWS;
#else
	return PLATFORM_POSIX;
#endif
}

struct arena *
model_arena(struct manifest *m)
{
	return m->priv->arena;
}

void
model_add_doc(struct manifest *m, struct ydoc *doc, int dropin)
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

size_t
model_docs(const struct manifest *m, struct ydoc *const **docs,
    const unsigned char **dropin)
{
	*docs = m->priv->docs;
	*dropin = m->priv->dropin;
	return m->priv->ndocs;
}

void
model_keep_map(struct manifest *m, const void *map, size_t len)
{
	m->priv->map = map;
	m->priv->maplen = len;
}

struct manifest *
model_new(void)
{
	struct manifest *m = xcalloc(1, sizeof(*m));

	m->priv = xcalloc(1, sizeof(*m->priv));
	m->priv->arena = arena_new();
	return m;
}

void
model_free(struct manifest *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->priv->ndocs; i++)
		ydoc_free(m->priv->docs[i]);
	free(m->priv->docs);
	free(m->priv->dropin);
	arena_free(m->priv->arena);
	platform_unmap_file(m->priv->map, m->priv->maplen);
	free(m->priv);
	free(m->sources);	/* sets live in the arena */
	free(m->files);
	free(m);
}
