/* manifest.h - reading a manifest into the model (model.h).
 *
 * manifest_load() reads one manifest file or a drop-in directory, runs every
 * validation rule (rules.h) and returns the model.  The model is built even
 * when some files are invalid, so that later stages can tell which sets came
 * from which file; callers decide from the diagnostics what to enforce. */
#ifndef BITSYNC_MANIFEST_H
#define BITSYNC_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "model.h"

/* Reads paths (files or drop-in directories; a directory contributes its
 * *.yaml and *.yml files in byte order of their names) and validates them
 * as one manifest.  Returns NULL only when there was nothing to read. */
struct manifest *manifest_load(const char *const *paths, size_t npaths,
    const struct manifest_opts *opts, struct diags *d);

/* Validates one manifest held in memory (fuzzing, tests); name is used in
 * diagnostics.  dropin: judge it as a drop-in file. */
struct manifest *manifest_load_buffer(const char *name, const void *buf,
    size_t len, int dropin, const struct manifest_opts *opts,
    struct diags *d);

/* model_free, for the readers' callers. */
void manifest_free(struct manifest *m);

/* manifest_load in two steps, for a cache of the validated model
 * (mcache.h) that must know which files a load would read.  Collecting
 * looks at paths, permissions and drop-in directories and reads no file;
 * what it finds (a refused or unreadable path) waits in pre, and
 * manifest_load_inputs reports each in its place among the files'
 * diagnostics, as manifest_load does. */
struct manifest_input {
	char *path;
	int dropin;		/* from a drop-in directory */
	size_t ndiag;		/* pre's diagnostics that come before it */
	size_t reserve;		/* bytes of YAML to reserve room for */
	const char *data;	/* its bytes when already read, else NULL */
	size_t len;
};
struct manifest_inputs {
	struct manifest_input *v;
	size_t n, cap;
	struct diags pre;
};
void manifest_inputs_collect(const char *const *paths, size_t npaths,
    const struct manifest_opts *opts, struct manifest_inputs *in);
struct manifest *manifest_load_inputs(const struct manifest_inputs *in,
    const struct manifest_opts *opts, struct diags *d);
void manifest_inputs_free(struct manifest_inputs *in);

#endif
