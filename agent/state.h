/* state.h - what bitsync recorded about each set, in <state_dir>/state.db.
 *
 * SQLite in WAL mode with synchronous=FULL: a transaction that returned is
 * on disk, and a kill -9 or power loss at any instant leaves the last
 * committed transaction (never a torn one).  Every state_put_* call is its
 * own transaction unless the caller wraps several in state_begin() /
 * state_commit(), which the reconciler does so that "job created" and "its
 * GUID recorded" or "files committed" and "spec applied" land together.
 *
 * Schema (version 1):
 *   meta(key PRIMARY KEY, value)              schema_version
 *   sets(name PRIMARY KEY, spec_hash, manifest_file, on_remove,
 *        last_success, last_check, last_error, last_error_code,
 *        last_error_context, attempts, next_retry, remote_changed,
 *        create_pending)
 *   jobs(guid PRIMARY KEY, set_name, spec_hash, created)
 *   files(set_name, local, remote, size, mtime, etag, last_modified,
 *         local_size, local_mtime_ns, sha256, local_dev, local_ino,
 *         PRIMARY KEY(set_name, local))
 *   lkg(name PRIMARY KEY, content BLOB, sha256, saved)
 *   commands(set_name PRIMARY KEY, pending, gen, changed, attempts,
 *            next_run, last_run, last_exit, last_result, last_error,
 *            successes, failures)      on_change runs (command.h)
 * No secret is ever stored: credentials are names only. */
#ifndef BITSYNC_STATE_H
#define BITSYNC_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

#define STATE_DB_NAME "state.db"

/* One file bitsync committed: where it came from, what the remote looked
 * like then (to notice change without a download) and what the local file
 * was right after the commit (to notice drift, and to delete on removal
 * only what is still the file bitsync placed). */
struct state_file {
	char *local;			/* absolute local path */
	char *remote;
	uint64_t size;			/* remote validators; BK_SIZE_UNKNOWN */
	int64_t mtime;			/* remote, seconds; 0 unknown */
	char *etag;
	char *last_modified;
	uint64_t local_size;
	int64_t local_mtime_ns;
	uint64_t local_dev, local_ino;	/* of the placed file; 0 unknown */
	int has_sha256;
	uint8_t sha256[32];
};

struct state_job {
	bk_guid guid;
	char spec_hash[65];
	int64_t created;
};

struct state_set {
	char *name;
	char *spec_hash;		/* applied; NULL: never completed */
	char *manifest_file;		/* file that declared it when last seen */
	int on_remove;			/* enum on_remove as last declared */
	int64_t last_success;		/* 0: never */
	int64_t last_check;		/* last commit or refresh check */
	char *last_error;		/* NULL: none since last success */
	int32_t last_error_code;
	int last_error_context;
	unsigned attempts;		/* consecutive failures */
	int64_t next_retry;		/* 0: none pending */
	char *failed_spec;		/* spec the attempts failed with; NULL: unknown */
	int remote_changed;		/* refresh saw the remote change */
	int64_t create_pending;		/* a create started then, GUID not yet recorded */
	struct state_job *jobs;		/* GUIDs bitsync created, oldest first */
	size_t njobs;
	struct state_file *files;	/* sorted by local (byte order) */
	size_t nfiles;
};

struct state;

/* Opens (creating when missing) <dir>/state.db.  On failure returns -1 and
 * a message in *err (free it). */
int state_open(const char *dir, struct state **out, char **err);
void state_close(struct state *st);
const char *state_errmsg(struct state *st);

int state_begin(struct state *st);
int state_commit(struct state *st);
void state_rollback(struct state *st);

/* Every recorded set, sorted by name, with jobs and files.  The sets and
 * all they point to are one allocation for state_free_sets: a set cannot
 * be freed on its own. */
int state_load(struct state *st, struct state_set **sets, size_t *n);
void state_free_sets(struct state_set *sets, size_t n);

/* Writes the set's own row (not jobs, not files). */
int state_put_set(struct state *st, const struct state_set *s);
/* Replaces the set's files. */
int state_put_files(struct state *st, const char *set,
    const struct state_file *files, size_t n);
int state_add_job(struct state *st, const char *set, const bk_guid *g,
    const char *spec_hash, int64_t created);
int state_remove_job(struct state *st, const bk_guid *g);
/* Forgets the set, its jobs and its files. */
int state_delete_set(struct state *st, const char *set);

/* Last-known-good copies of manifest files (keyed by the file's path). */
int state_lkg_put(struct state *st, const char *name, const void *data,
    size_t len, int64_t now);
/* 0 and *data (free it) when present, 1 when absent, -1 on error. */
int state_lkg_get(struct state *st, const char *name, void **data,
    size_t *len);
int state_lkg_delete(struct state *st, const char *name);
int state_lkg_list(struct state *st, char ***names, size_t *n);

/* A set's on_change: a run is pending from the commit that changed files
 * (recorded in the commit's own transaction, so a crash between commit
 * and run still runs it) until a run succeeds. */
struct state_command {
	char *set;
	int pending;
	uint64_t gen;			/* bumped by every commit that changed */
	char *changed;			/* local paths, one a line; NULL: none */
	unsigned attempts;		/* consecutive failed runs */
	int64_t next_run;		/* not before (a retry); 0: at once */
	int64_t last_run;		/* start of the last run; 0: never */
	int last_exit;			/* exit status, or -signal */
	char *last_result;		/* "success" | "failure" | "timeout" */
	char *last_error;		/* NULL after a success */
	uint64_t successes, failures;	/* runs ever */
};
/* 0 found, 1 absent (c zeroed), -1 error. */
int state_command_get(struct state *st, const char *set,
    struct state_command *c);
int state_command_list(struct state *st, struct state_command **v,
    size_t *n);
int state_command_put(struct state *st, const struct state_command *c);
int state_command_delete(struct state *st, const char *set);
void state_command_clear(struct state_command *c);
void state_command_free(struct state_command *v, size_t n);

#endif
