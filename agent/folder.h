/* folder.h - folder sets (design §2a): from what a server says (a listing
 * of the set's folder, or an index file) to the set's files.
 *
 * Pure: no I/O.  The reconciler lists or fetches through the backend
 * (list_folder, fetch_small) and hands the result here; the planner then
 * sees an ordinary set whose files carry, per file, what the listing saw
 * (mfile.listed) or the index's sha256.
 *
 * Every name a server sends is checked like a manifest path before it can
 * name a local file: '..', '.', empty, absolute or drive paths, control
 * characters; on Windows hosts also names Windows cannot hold (reserved
 * device names, <>:"|?*, a trailing dot or space) and names that differ
 * only in case from one kept before them.  A refused name is left out of
 * the set and reported; it never stops the others. */
#ifndef BITSYNC_FOLDER_H
#define BITSYNC_FOLDER_H

#include <stddef.h>

#include "backend.h"
#include "manifest.h"
#include "sumindex.h"

#define FOLDER_MAX_DEPTH 32		/* folders below the set's folder */
#define FOLDER_INDEX_MAX (64u << 20)	/* bytes an index may hold */

struct folder_refused {
	char *name;			/* as the server sent it */
	const char *why;		/* static */
};

struct folder_result {
	struct mfile *files;		/* strings owned by the result */
	size_t nfiles;
	struct folder_refused *refused;
	size_t nrefused;
	char *error;			/* the set fails with this; NULL */
};

/* NULL when rel (a relative path from a server, '/' or '\' between
 * components) may name a local file on platform, else why not. */
const char *folder_name_refused(const char *rel, enum platform platform);

/* The set's include/exclude on rel: 1 selected.  A set with an index and
 * no include selects every entry. */
int folder_selected(const struct mset *set, const char *rel,
    enum platform platform);

/* Whether a listing should descend into folder rel. */
int folder_may_enter(const struct mset *set, const char *rel,
    enum platform platform);

/* The set's files from a listing (names relative to the set's folder). */
void folder_from_listing(const struct mset *set, const struct bk_listing *l,
    enum platform platform, size_t max_files, struct folder_result *out);

/* The set's files from its parsed index (names relative to the index's
 * folder, which may be below the set's folder). */
void folder_from_index(const struct mset *set, const struct sumindex *ix,
    enum platform platform, struct folder_result *out);

void folder_result_free(struct folder_result *r);

/* The set with r's files in place of its own (shallow copy of set). */
struct mset folder_expanded(const struct mset *set,
    const struct folder_result *r);

#endif
