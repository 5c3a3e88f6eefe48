/* store.c - the engine's job store: one SQLite database in the state
 * directory, private to the agent (it holds proxy lists, header lines and
 * credential names).
 *
 * Crash guarantee (README "Security"): WAL mode with synchronous=FULL, so
 * a write that returned is on disk and a kill -9 or a power loss at any
 * instant leaves the last committed transaction, never a torn one.  The
 * store never claims more than the disk holds: a file is written down as
 * completed only after its temp file's data was fsync'd (engine.c,
 * transfer()), and Complete makes the renames durable before the job is
 * dropped.  What a crash may lose is the other way round: bytes of a
 * transfer in flight (restart reads the temp file's size, not a recorded
 * count) or that a file finished, which is then fetched again.  FULL
 * costs one WAL fsync per commit; commits are per job state change, per
 * large file and once a second for small ones, so it does not show. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "db.h"
#include "engine_int.h"
#include "xhash.h"
#include "log.h"
#include "platform.h"

struct store {
	sqlite3 *db;
};

/* Test hook of the crash campaign (tests/crash/test_crash.py), always
 * compiled, inert unless BITSYNC_TEST_CRASH is set; a random kill cannot
 * aim at a commit that lasts microseconds.  The process kills itself
 * (SIGKILL, as kill -9 would):
 *   store-commit:N     inside the N-th write transaction of the job
 *                      store (SQLite's commit hook: its rows are made,
 *                      nothing of them is in the WAL yet);
 *   store-committed:N  right after the N-th transaction reached the WAL
 *                      (SQLite's WAL hook, which then also does the
 *                      automatic checkpoint it replaces). */
static atomic_long crash_commits;

static void
crash_count(void)
{
	if (atomic_fetch_sub(&crash_commits, 1) == 1)
		raise(SIGKILL);
}

static int
crash_before(void *arg)
{
	(void)arg;
	crash_count();
	return 0;
}

static int
crash_after(void *arg, sqlite3 *db, const char *name, int frames)
{
	(void)arg;
	crash_count();
	if (frames >= 1000)	/* SQLite's default auto-checkpoint */
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE,
		    NULL, NULL);
	return SQLITE_OK;
}

static void
crash_hook_install(sqlite3 *db)
{
	const char *v = getenv("BITSYNC_TEST_CRASH");
	long n;

	if (v == NULL)
		return;
	if (strncmp(v, "store-commit:", 13) == 0 &&
	    (n = strtol(v + 13, NULL, 10)) > 0) {
		atomic_store(&crash_commits, n);
		sqlite3_commit_hook(db, crash_before, NULL);
	} else if (strncmp(v, "store-committed:", 16) == 0 &&
	    (n = strtol(v + 16, NULL, 10)) > 0) {
		atomic_store(&crash_commits, n);
		sqlite3_wal_hook(db, crash_after, NULL);
	}
}

/* db_open sets WAL and synchronous=FULL. */
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS jobs ("
    " id BLOB PRIMARY KEY, seq INTEGER NOT NULL,"
    " display_name TEXT, description TEXT,"
    " state INTEGER NOT NULL, priority INTEGER NOT NULL,"
    " retry_delay INTEGER, no_progress_timeout INTEGER,"
    " max_download_time INTEGER, proxy_usage INTEGER,"
    " proxy_list TEXT, proxy_bypass TEXT, headers TEXT, credential TEXT,"
    " token_flags INTEGER, auth_computer INTEGER,"
    " created INTEGER, modified INTEGER, transfer_completed INTEGER,"
    " error_count INTEGER, has_error INTEGER, err_context INTEGER,"
    " err_code INTEGER, err_text TEXT, err_remote TEXT, err_local TEXT,"
    " retry_at INTEGER, stall_since INTEGER, active_secs REAL);"
    "CREATE TABLE IF NOT EXISTS files ("
    " job BLOB NOT NULL, idx INTEGER NOT NULL,"
    " remote TEXT NOT NULL, local TEXT NOT NULL, temp TEXT,"
    " total INTEGER, done INTEGER, completed INTEGER,"
    " v_size INTEGER, v_mtime INTEGER, v_etag TEXT, v_lastmod TEXT,"
    " temp_dev INTEGER NOT NULL DEFAULT 0,"
    " temp_ino INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (job, idx));";

/* Columns added since the first store; an older store gains them (their
 * defaults are what its rows meant). */
static const struct {
	const char *table, *name, *decl;
} added_columns[] = {
	{ "jobs", "client_cert", "TEXT" },
	{ "files", "want_hash", "INTEGER NOT NULL DEFAULT 0" },
};

/* A store from before temps recorded their device and inode gains the
 * two columns (0: unknown; such a temp is checked without them). */
static int
add_temp_identity(sqlite3 *db)
{
	int r = db_has_column(db, "files", "temp_dev");

	if (r != 0)
		return r == 1 ? 0 : -1;
	return sqlite3_exec(db, "ALTER TABLE files ADD COLUMN temp_dev INTEGER"
	    " NOT NULL DEFAULT 0; ALTER TABLE files ADD COLUMN temp_ino"
	    " INTEGER NOT NULL DEFAULT 0;", NULL, NULL, NULL) == SQLITE_OK ?
	    0 : -1;
}

static int
add_columns(sqlite3 *db)
{
	char sql[256];
	size_t i;
	int r;

	for (i = 0; i < sizeof(added_columns) / sizeof(added_columns[0]);
	    i++) {
		if ((r = db_has_column(db, added_columns[i].table,
		    added_columns[i].name)) == 1)
			continue;
		if (r != 0)
			return -1;
		snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s %s;",
		    added_columns[i].table, added_columns[i].name,
		    added_columns[i].decl);
		if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
			return -1;
	}
	return 0;
}

int
store_open(const char *state_dir, struct store **out)
{
	struct store *s = NULL;
	char *path = NULL, *why = NULL;
	int rc = BK_E_IO;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto out;
	if (asprintf(&path, "%s/engine.db", state_dir) < 0) {
		path = NULL;
		goto out;
	}
	/* Shared: the workers and the reconciler's thread use it. */
	if (db_open(path, DB_SHARED, 5000, &s->db, &why) == -1) {
		log_error("event=store-failed store=%s error=\"%s\"", path,
		    why);
		goto out;
	}
	crash_hook_install(s->db);
	/* Closing need not fold the WAL into the database (an fsync or two
	 * per short-lived command); the next open reads it. */
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	if (sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK ||
	    add_temp_identity(s->db) != 0 || add_columns(s->db) != 0)
		goto out;
	*out = s;
	s = NULL;
	rc = BK_OK;
out:
	if (s != NULL) {
		if (s->db != NULL)
			log_error("event=store-failed store=%s error=\"%s\"",
			    path ? path : state_dir, sqlite3_errmsg(s->db));
		sqlite3_close(s->db);
		free(s);
	}
	free(why);
	free(path);
	return rc;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	sqlite3_close(s->db);
	free(s);
}

static char *
col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? strdup((const char *)t) : NULL;
}

static struct ejob *
find_job(struct ejob **jobs, size_t n, const void *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (memcmp(jobs[i]->id.b, id, 16) == 0)
			return jobs[i];
	return NULL;
}

int
store_load(struct store *s, struct ejob ***jobsp, size_t *np)
{
	sqlite3_stmt *st = NULL;
	struct ejob **jobs = NULL, *j, **nj;
	size_t n = 0;
	int rc = BK_E_IO, r;

	if (sqlite3_prepare_v2(s->db, "SELECT id, seq, display_name,"
	    " description, state, priority, retry_delay, no_progress_timeout,"
	    " max_download_time, proxy_usage, proxy_list, proxy_bypass,"
	    " headers, credential, token_flags, auth_computer, created,"
	    " modified, transfer_completed, error_count, has_error,"
	    " err_context, err_code, err_text, err_remote, err_local,"
	    " retry_at, stall_since, active_secs, client_cert FROM jobs"
	    " ORDER BY seq",
	    -1, &st, NULL) != SQLITE_OK)
		goto out;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != 16)
			continue;
		if ((j = calloc(1, sizeof(*j))) == NULL)
			goto out;
		if ((nj = realloc(jobs, (n + 1) * sizeof(*jobs))) == NULL) {
			free(j);
			goto out;
		}
		jobs = nj;
		jobs[n++] = j;
		memcpy(j->id.b, sqlite3_column_blob(st, 0), 16);
		j->seq = sqlite3_column_int64(st, 1);
		j->display_name = col_text(st, 2);
		j->description = col_text(st, 3);
		j->state = (enum bk_state)sqlite3_column_int(st, 4);
		j->priority = (enum bk_priority)sqlite3_column_int(st, 5);
		j->retry_delay = (uint32_t)sqlite3_column_int64(st, 6);
		j->no_progress_timeout = (uint32_t)sqlite3_column_int64(st, 7);
		j->max_download_time = (uint32_t)sqlite3_column_int64(st, 8);
		j->proxy_usage = (enum bk_proxy_usage)sqlite3_column_int(st, 9);
		j->proxy_list = col_text(st, 10);
		j->proxy_bypass = col_text(st, 11);
		j->headers = col_text(st, 12);
		j->credential = col_text(st, 13);
		j->token_flags = (unsigned)sqlite3_column_int(st, 14);
		j->auth_computer = sqlite3_column_int(st, 15);
		j->created = (time_t)sqlite3_column_int64(st, 16);
		j->modified = (time_t)sqlite3_column_int64(st, 17);
		j->transfer_completed = (time_t)sqlite3_column_int64(st, 18);
		j->error_count = (uint32_t)sqlite3_column_int64(st, 19);
		j->has_error = sqlite3_column_int(st, 20);
		j->err.context = (enum bk_error_context)sqlite3_column_int(st,
		    21);
		j->err.code = (int32_t)sqlite3_column_int64(st, 22);
		j->err.text = col_text(st, 23);
		j->err.remote = col_text(st, 24);
		j->err.local = col_text(st, 25);
		j->retry_at = (time_t)sqlite3_column_int64(st, 26);
		j->stall_since = (time_t)sqlite3_column_int64(st, 27);
		j->active_secs = sqlite3_column_double(st, 28);
		j->client_cert = col_text(st, 29);
	}
	if (r != SQLITE_DONE)
		goto out;
	sqlite3_finalize(st);
	st = NULL;

	if (sqlite3_prepare_v2(s->db, "SELECT job, idx, remote, local, temp,"
	    " total, done, completed, v_size, v_mtime, v_etag, v_lastmod,"
	    " temp_dev, temp_ino, want_hash FROM files ORDER BY job, idx", -1,
	    &st,
	    NULL) != SQLITE_OK)
		goto out;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct efile *f, *nf;
		size_t idx = (size_t)sqlite3_column_int64(st, 1);

		if (sqlite3_column_bytes(st, 0) != 16 ||
		    (j = find_job(jobs, n, sqlite3_column_blob(st, 0))) == NULL)
			continue;
		if (idx != j->nfiles)	/* rows come in idx order */
			continue;
		if ((nf = realloc(j->files, (j->nfiles + 1) *
		    sizeof(*nf))) == NULL)
			goto out;
		j->files = nf;
		f = &j->files[j->nfiles++];
		memset(f, 0, sizeof(*f));
		f->remote = col_text(st, 2);
		f->local = col_text(st, 3);
		f->temp = col_text(st, 4);
		f->total = (uint64_t)sqlite3_column_int64(st, 5);
		f->done = (uint64_t)sqlite3_column_int64(st, 6);
		f->completed = sqlite3_column_int(st, 7);
		f->v.size = (uint64_t)sqlite3_column_int64(st, 8);
		f->v.mtime = sqlite3_column_int64(st, 9);
		f->v.etag = col_text(st, 10);
		f->v.last_modified = col_text(st, 11);
		f->temp_dev = (uint64_t)sqlite3_column_int64(st, 12);
		f->temp_ino = (uint64_t)sqlite3_column_int64(st, 13);
		f->want_hash = sqlite3_column_int(st, 14);
		if (f->remote == NULL || f->local == NULL)
			goto out;
	}
	if (r != SQLITE_DONE)
		goto out;
	*jobsp = jobs;
	*np = n;
	jobs = NULL;
	n = 0;
	rc = BK_OK;
out:
	sqlite3_finalize(st);
	while (n > 0)
		ejob_free(jobs[--n]);
	free(jobs);
	return rc;
}

static int
put_job(struct store *s, const struct ejob *j, int insert)
{
	sqlite3_stmt *st = NULL;
	int rc = BK_E_IO;
	const char *sql = insert ?
	    "INSERT INTO jobs (id, seq, display_name, description, state,"
	    " priority, retry_delay, no_progress_timeout, max_download_time,"
	    " proxy_usage, proxy_list, proxy_bypass, headers, credential,"
	    " token_flags, auth_computer, created, modified,"
	    " transfer_completed, error_count, has_error, err_context,"
	    " err_code, err_text, err_remote, err_local, retry_at,"
	    " stall_since, active_secs, client_cert) VALUES (?1, ?2, ?3, ?4,"
	    " ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
	    " ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30)" :
	    "UPDATE jobs SET state = ?5, priority = ?6, modified = ?18,"
	    " transfer_completed = ?19, error_count = ?20, has_error = ?21,"
	    " err_context = ?22, err_code = ?23, err_text = ?24,"
	    " err_remote = ?25, err_local = ?26, retry_at = ?27,"
	    " stall_since = ?28, active_secs = ?29 WHERE id = ?1";

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_blob(st, 1, j->id.b, 16, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, j->seq);
	db_bind_text(st, 3, j->display_name);
	db_bind_text(st, 4, j->description);
	sqlite3_bind_int(st, 5, (int)j->state);
	sqlite3_bind_int(st, 6, (int)j->priority);
	sqlite3_bind_int64(st, 7, j->retry_delay);
	sqlite3_bind_int64(st, 8, j->no_progress_timeout);
	sqlite3_bind_int64(st, 9, j->max_download_time);
	sqlite3_bind_int(st, 10, (int)j->proxy_usage);
	db_bind_text(st, 11, j->proxy_list);
	db_bind_text(st, 12, j->proxy_bypass);
	db_bind_text(st, 13, j->headers);
	db_bind_text(st, 14, j->credential);
	sqlite3_bind_int(st, 15, (int)j->token_flags);
	sqlite3_bind_int(st, 16, j->auth_computer);
	sqlite3_bind_int64(st, 17, (sqlite3_int64)j->created);
	sqlite3_bind_int64(st, 18, (sqlite3_int64)j->modified);
	sqlite3_bind_int64(st, 19, (sqlite3_int64)j->transfer_completed);
	sqlite3_bind_int64(st, 20, j->error_count);
	sqlite3_bind_int(st, 21, j->has_error);
	sqlite3_bind_int(st, 22, (int)j->err.context);
	sqlite3_bind_int64(st, 23, j->err.code);
	db_bind_text(st, 24, j->err.text);
	db_bind_text(st, 25, j->err.remote);
	db_bind_text(st, 26, j->err.local);
	sqlite3_bind_int64(st, 27, (sqlite3_int64)j->retry_at);
	sqlite3_bind_int64(st, 28, (sqlite3_int64)j->stall_since);
	sqlite3_bind_double(st, 29, j->active_secs);
	if (insert)
		db_bind_text(st, 30, j->client_cert);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	rc = BK_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

static int
put_file(struct store *s, const struct ejob *j, size_t i, int insert)
{
	const struct efile *f = &j->files[i];
	sqlite3_stmt *st = NULL;
	int rc = BK_E_IO;
	const char *sql = insert ?
	    "INSERT INTO files (job, idx, remote, local, temp, total, done,"
	    " completed, v_size, v_mtime, v_etag, v_lastmod, temp_dev,"
	    " temp_ino, want_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
	    " ?10, ?11, ?12, ?13, ?14, ?15)" :
	    "UPDATE files SET temp = ?5, total = ?6, done = ?7,"
	    " completed = ?8, v_size = ?9, v_mtime = ?10, v_etag = ?11,"
	    " v_lastmod = ?12, temp_dev = ?13, temp_ino = ?14"
	    " WHERE job = ?1 AND idx = ?2";

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_blob(st, 1, j->id.b, 16, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
	db_bind_text(st, 3, f->remote);
	db_bind_text(st, 4, f->local);
	db_bind_text(st, 5, f->temp);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)f->total);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)f->done);
	sqlite3_bind_int(st, 8, f->completed);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)f->v.size);
	sqlite3_bind_int64(st, 10, f->v.mtime);
	db_bind_text(st, 11, f->v.etag);
	db_bind_text(st, 12, f->v.last_modified);
	sqlite3_bind_int64(st, 13, (sqlite3_int64)f->temp_dev);
	sqlite3_bind_int64(st, 14, (sqlite3_int64)f->temp_ino);
	if (insert)
		sqlite3_bind_int(st, 15, f->want_hash);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	rc = BK_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

/* A job and its files in one transaction: a crash never leaves a job
 * without its files. */
int
store_insert_job(struct store *s, const struct ejob *j)
{
	size_t i;
	int rc = BK_E_IO;

	if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return BK_E_IO;
	if (put_job(s, j, 1) != BK_OK)
		goto out;
	for (i = 0; i < j->nfiles; i++)
		if (put_file(s, j, i, 1) != BK_OK)
			goto out;
	rc = BK_OK;
out:
	sqlite3_exec(s->db, rc == BK_OK ? "COMMIT" : "ROLLBACK", NULL, NULL,
	    NULL);
	return rc;
}

int
store_update_job(struct store *s, const struct ejob *j)
{
	return put_job(s, j, 0);
}

int
store_update_file(struct store *s, const struct ejob *j, size_t i)
{
	return put_file(s, j, i, 0);
}

/* A file added to an existing job (AddFile). */
int
store_insert_file(struct store *s, const struct ejob *j, size_t i)
{
	return put_file(s, j, i, 1);
}

int
store_begin(struct store *s)
{
	return sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ?
	    BK_OK : BK_E_IO;
}

int
store_commit(struct store *s)
{
	return sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ?
	    BK_OK : BK_E_IO;
}

int
store_delete_job(struct store *s, const bk_guid *id)
{
	sqlite3_stmt *st = NULL;
	int rc = BK_E_IO, k;
	static const char *const sql[] = {
		"DELETE FROM files WHERE job = ?1",
		"DELETE FROM jobs WHERE id = ?1"
	};

	if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return BK_E_IO;
	for (k = 0; k < 2; k++) {
		if (sqlite3_prepare_v2(s->db, sql[k], -1, &st, NULL) !=
		    SQLITE_OK)
			goto out;
		sqlite3_bind_blob(st, 1, id->b, 16, SQLITE_TRANSIENT);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto out;
		sqlite3_finalize(st);
		st = NULL;
	}
	rc = BK_OK;
out:
	sqlite3_finalize(st);
	sqlite3_exec(s->db, rc == BK_OK ? "COMMIT" : "ROLLBACK", NULL, NULL,
	    NULL);
	return rc;
}

void
ejob_free(struct ejob *j)
{
	size_t i;

	if (j == NULL)
		return;
	free(j->display_name);
	free(j->description);
	free(j->proxy_list);
	free(j->proxy_bypass);
	free(j->headers);
	free(j->credential);
	free(j->client_cert);
	backend_free_error(&j->err);
	for (i = 0; i < j->nfiles; i++) {
		free(j->files[i].remote);
		free(j->files[i].local);
		free(j->files[i].temp);
		xhash_free(j->files[i].hash);
		backend_free_validators(&j->files[i].v);
	}
	free(j->files);
	free(j);
}
