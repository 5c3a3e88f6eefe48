/* state.c - recorded state in SQLite (see state.h for the schema and the
 * crash-safety argument). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "db.h"
#include "platform.h"
#include "spec.h"
#include "state.h"
#include "util.h"

#define STATE_SCHEMA_VERSION "1"

struct state {
	sqlite3 *db;
	int in_tx;		/* inside a caller's state_begin() */
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS sets("
    " name TEXT PRIMARY KEY, spec_hash TEXT, manifest_file TEXT,"
    " on_remove INTEGER NOT NULL DEFAULT 0,"
    " last_success INTEGER NOT NULL DEFAULT 0,"
    " last_check INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT, last_error_code INTEGER NOT NULL DEFAULT 0,"
    " last_error_context INTEGER NOT NULL DEFAULT 0,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_retry INTEGER NOT NULL DEFAULT 0,"
    " remote_changed INTEGER NOT NULL DEFAULT 0,"
    " create_pending INTEGER NOT NULL DEFAULT 0,"
    " failed_spec TEXT);"
    "CREATE TABLE IF NOT EXISTS jobs("
    " guid BLOB PRIMARY KEY, set_name TEXT NOT NULL,"
    " spec_hash TEXT NOT NULL, created INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS jobs_set ON jobs(set_name);"
    "CREATE TABLE IF NOT EXISTS files("
    " set_name TEXT NOT NULL, local TEXT NOT NULL, remote TEXT,"
    " size INTEGER, mtime INTEGER, etag TEXT, last_modified TEXT,"
    " local_size INTEGER, local_mtime_ns INTEGER, sha256 TEXT,"
    " local_dev INTEGER NOT NULL DEFAULT 0,"
    " local_ino INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(set_name, local));"
    "CREATE TABLE IF NOT EXISTS lkg("
    " name TEXT PRIMARY KEY, content BLOB NOT NULL, sha256 TEXT NOT NULL,"
    " saved INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS commands("
    " set_name TEXT PRIMARY KEY, pending INTEGER NOT NULL DEFAULT 0,"
    " gen INTEGER NOT NULL DEFAULT 0, changed TEXT,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_run INTEGER NOT NULL DEFAULT 0,"
    " last_run INTEGER NOT NULL DEFAULT 0,"
    " last_exit INTEGER NOT NULL DEFAULT 0, last_result TEXT,"
    " last_error TEXT, successes INTEGER NOT NULL DEFAULT 0,"
    " failures INTEGER NOT NULL DEFAULT 0);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '"
    STATE_SCHEMA_VERSION "');";

const char *
state_errmsg(struct state *st)
{
	return st && st->db ? sqlite3_errmsg(st->db) : "no state store";
}

static int
exec(struct state *st, const char *sql)
{
	return db_exec(st->db, sql);
}

/* Whether table has column (0 or 1), or -1. */
static int
has_column(struct state *st, const char *table, const char *column)
{
	return db_has_column(st->db, table, column);
}

/* Columns added after schema 1, in place: a store written before files
 * recorded the device and inode of what was placed (0: unknown, then
 * size and mtime alone decide whether on_remove may delete), and before
 * sets recorded which spec their failures were for (NULL: the current
 * one, so the backoff stands). */
static int
add_columns(struct state *st)
{
	int r;

	if ((r = has_column(st, "files", "local_dev")) == -1 ||
	    (r == 0 && exec(st, "ALTER TABLE files ADD COLUMN local_dev "
	    "INTEGER NOT NULL DEFAULT 0; ALTER TABLE files ADD COLUMN "
	    "local_ino INTEGER NOT NULL DEFAULT 0;") == -1))
		return -1;
	if ((r = has_column(st, "sets", "failed_spec")) == -1 ||
	    (r == 0 && exec(st, "ALTER TABLE sets ADD COLUMN failed_spec "
	    "TEXT;") == -1))
		return -1;
	return 0;
}

/* Whether the store already has every table and column this build
 * writes (then opening it writes nothing). */
static int
schema_current(struct state *st)
{
	static const char *const need[][2] = {
		{ "meta", "value" }, { "sets", "failed_spec" },
		{ "jobs", "guid" }, { "files", "local_ino" },
		{ "lkg", "content" }, { "commands", "failures" },
	};
	size_t i;

	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (has_column(st, need[i][0], need[i][1]) != 1)
			return 0;
	return 1;
}

static int
state_open_once(const char *dir, struct state **out, char **err)
{
	struct state *st = xcalloc(1, sizeof(*st));
	sqlite3_stmt *q = NULL;
	char *path = NULL;
	int rc = -1;

	*out = NULL;
	*err = NULL;
	if (platform_mkdir_private(dir) == -1) {
		*err = xasprintf("%s: %s", dir, strerror(errno));
		goto done;
	}
	path = platform_join(dir, STATE_DB_NAME);
	/* No mutex: one thread at a time uses the store (state_load may run
	 * on a platform_parallel thread while the caller waits for it), and
	 * SQLite's serialized mode took a lock around every column read. */
	if (db_open(path, 0, 10000, &st->db, err) == -1)
		goto done;
	/* The write lock only when the schema needs writing: `status` and
	 * `plan` run beside the daemon, and a loop of them taking it at
	 * every open starved a daemon that was starting (its busy handler
	 * gave up after 10 s). */
	if (!schema_current(st) && (exec(st, "BEGIN IMMEDIATE;") == -1 ||
	    exec(st, schema_sql) == -1 || add_columns(st) == -1 ||
	    exec(st, "COMMIT;") == -1)) {
		exec(st, "ROLLBACK;");
		goto dberr;
	}
	if (sqlite3_prepare_v2(st->db,
	    "SELECT value FROM meta WHERE key='schema_version'", -1, &q,
	    NULL) != SQLITE_OK || sqlite3_step(q) != SQLITE_ROW)
		goto dberr;
	if (strcmp((const char *)sqlite3_column_text(q, 0),
	    STATE_SCHEMA_VERSION) != 0) {
		*err = xasprintf("%s: schema version %s, this bitsync knows "
		    STATE_SCHEMA_VERSION, path, sqlite3_column_text(q, 0));
		goto done;
	}
	*out = st;
	st = NULL;
	rc = 0;
	goto done;
dberr:
	*err = xasprintf("%s: %s", path ? path : dir,
	    st->db ? sqlite3_errmsg(st->db) : "cannot open");
done:
	sqlite3_finalize(q);
	if (st != NULL) {
		sqlite3_close(st->db);
		free(st);
	}
	free(path);
	return rc;
}

/* SQLite answers "database is locked" at once, without its busy
 * handler, where waiting could deadlock: a store being made (journal
 * mode, schema) while another process (`status` as the daemon starts
 * for the first time) opens it too.  Opening again after a moment is
 * safe; the daemon must not exit over it. */
int
state_open(const char *dir, struct state **out, char **err)
{
	int rc, tries = 0;

	while ((rc = state_open_once(dir, out, err)) == -1 && *err != NULL &&
	    strstr(*err, "database is locked") != NULL && ++tries < 100) {
		free(*err);
		*err = NULL;
		platform_sleep_ms(100);
	}
	return rc;
}

void
state_close(struct state *st)
{
	if (st == NULL)
		return;
	sqlite3_close(st->db);
	free(st);
}

int
state_begin(struct state *st)
{
	if (exec(st, "BEGIN IMMEDIATE;") == -1)
		return -1;
	st->in_tx = 1;
	return 0;
}

int
state_commit(struct state *st)
{
	st->in_tx = 0;
	if (exec(st, "COMMIT;") == -1) {
		exec(st, "ROLLBACK;");
		return -1;
	}
	return 0;
}

void
state_rollback(struct state *st)
{
	st->in_tx = 0;
	exec(st, "ROLLBACK;");
}

/* Single-statement helpers run in their own transaction unless a caller's
 * is open; multi-statement ones wrap themselves. */
static int
tx_start(struct state *st)
{
	return st->in_tx ? 0 : exec(st, "SAVEPOINT op;");
}

static int
tx_end(struct state *st, int ok)
{
	if (st->in_tx)
		return ok ? 0 : -1;
	if (ok)
		return exec(st, "RELEASE op;");
	exec(st, "ROLLBACK TO op;");
	exec(st, "RELEASE op;");
	return -1;
}

/* What state_load returns lives in an arena: a list of big chunks that
 * never move, freed at once by state_free_sets.  10,000 sets with 28,000
 * files were 120,000 small allocations before, each a strdup. */
#define CHUNK_SIZE (256u << 10)

struct chunk {
	struct chunk *next;
	size_t used, cap;
	max_align_t data[];
};

struct arena {
	struct chunk *head;
};

static void *
arena_alloc(struct arena *a, size_t n)
{
	const size_t al = sizeof(max_align_t);
	struct chunk *c = a->head;
	size_t at = c ? (c->used + al - 1) & ~(al - 1) : 0;

	/* Strings before may have left used anywhere: align the start. */
	if (c == NULL || at > c->cap || c->cap - at < n) {
		size_t cap = n > CHUNK_SIZE ? n : CHUNK_SIZE;

		c = xmalloc(sizeof(*c) + cap);
		c->cap = cap;
		c->next = a->head;
		a->head = c;
		at = 0;
	}
	c->used = at + n;
	return (char *)c->data + at;
}

/* Strings are packed: no alignment padding between them. */
static char *
arena_str(struct arena *a, const char *s, size_t len)
{
	struct chunk *c = a->head;
	char *p;

	if (c == NULL || c->cap - c->used < len + 1)
		p = arena_alloc(a, len + 1);
	else {
		p = (char *)c->data + c->used;
		c->used += len + 1;
	}
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static void
arena_free(struct arena *a)
{
	struct chunk *c, *next;

	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
}

/* The sets array handed out sits behind the arena that holds everything
 * it points to. */
struct loaded {
	struct arena arena;
	struct state_set sets[];
};

static char *
col_str(struct arena *a, sqlite3_stmt *q, int i)
{
	const unsigned char *s = sqlite3_column_text(q, i);

	return s ? arena_str(a, (const char *)s,
	    (size_t)sqlite3_column_bytes(q, i)) : NULL;
}

static int
cmp_set_name(const void *a, const void *b)
{
	const struct state_set *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static struct state_set *
find_set(struct state_set *v, size_t n, const char *name)
{
	struct state_set key = { .name = (char *)name };

	return bsearch(&key, v, n, sizeof(*v), cmp_set_name);
}

/* SELECT count(*) of a table; -1 on error. */
static int64_t
count_rows(struct state *st, const char *sql)
{
	sqlite3_stmt *q = NULL;
	int64_t n = -1;

	if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

/* Reads the files table into files (room for max rows), each set's rows
 * one slice of it.  In table order the rows of a set are together and
 * sorted (state_put_files writes them so, in one go); when they are not
 * (ordered) returns 1 and the caller asks again with ORDER BY, which
 * guarantees it.  0, 1 or -1 (SQLite error). */
static int
load_files(struct state *st, struct arena *a, struct state_set *v,
    size_t nv, struct state_file *files, size_t max, int ordered)
{
	sqlite3_stmt *q = NULL;
	struct state_set *s = NULL;
	size_t nf = 0, i;
	int r, rc = -1;

	for (i = 0; i < nv; i++) {
		v[i].files = NULL;
		v[i].nfiles = 0;
	}
	if (sqlite3_prepare_v2(st->db, ordered ? "SELECT set_name, local, "
	    "remote, size, mtime, etag, last_modified, local_size, "
	    "local_mtime_ns, sha256, local_dev, local_ino FROM files "
	    "ORDER BY set_name, local" :
	    "SELECT set_name, local, remote, size, mtime, etag, "
	    "last_modified, local_size, local_mtime_ns, sha256, local_dev, "
	    "local_ino FROM files",
	    -1, &q, NULL) != SQLITE_OK)
		goto done;
	while ((r = sqlite3_step(q)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(q, 0);
		const char *local = (const char *)sqlite3_column_text(q, 1);
		const char *sha = (const char *)sqlite3_column_text(q, 9);
		struct state_file *f;

		if (name == NULL || local == NULL)
			continue;
		if (s == NULL || strcmp(s->name, name) != 0) {
			if ((s = find_set(v, nv, name)) == NULL)
				continue;	/* no such set: not loaded */
			if (s->nfiles > 0) {
				rc = 1;		/* its rows are apart */
				goto done;
			}
			s->files = &files[nf];
		} else if (strcmp(s->files[s->nfiles - 1].local, local) >= 0) {
			rc = 1;			/* not sorted */
			goto done;
		}
		if (nf == max)
			break;		/* cannot happen in one transaction */
		f = &files[nf++];
		s->nfiles++;
		memset(f, 0, sizeof(*f));
		f->local = col_str(a, q, 1);
		f->remote = col_str(a, q, 2);
		f->size = (uint64_t)sqlite3_column_int64(q, 3);
		f->mtime = sqlite3_column_int64(q, 4);
		f->etag = col_str(a, q, 5);
		f->last_modified = col_str(a, q, 6);
		f->local_size = (uint64_t)sqlite3_column_int64(q, 7);
		f->local_mtime_ns = sqlite3_column_int64(q, 8);
		f->local_dev = (uint64_t)sqlite3_column_int64(q, 10);
		f->local_ino = (uint64_t)sqlite3_column_int64(q, 11);
		f->has_sha256 = spec_unhex(sha, f->sha256, 32) == 0;
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		goto done;
	rc = 0;
done:
	sqlite3_finalize(q);
	return rc;
}

int
state_load(struct state *st, struct state_set **sets, size_t *n)
{
	sqlite3_stmt *q = NULL;
	struct arena a = { NULL };
	struct loaded *l = NULL;
	struct state_set *v, *s;
	struct state_file *files;
	int64_t cs, cf;
	size_t nv = 0;
	int rc = -1, r;

	*sets = NULL;
	*n = 0;
	/* Pages read through a mapping, not a pread each (a load of 10,000
	 * sets read 2,600 pages, each a system call), and unmapped after:
	 * a daemon that kept the mapping would keep every page it touched
	 * in its resident set while it sleeps.  Best effort both ways. */
	if (!st->in_tx)
		(void)exec(st, "PRAGMA mmap_size=268435456;");
	/* One read transaction, so sets, jobs and files agree (and the
	 * counts with the rows). */
	if (!st->in_tx && exec(st, "BEGIN;") == -1)
		goto done;
	/* Counted first, so that everything is allocated once at its size:
	 * on this kind of VM fresh memory costs more than the reading. */
	if ((cs = count_rows(st, "SELECT count(*) FROM sets")) < 0 ||
	    (cf = count_rows(st, "SELECT count(*) FROM files")) < 0)
		goto done;
	l = xmalloc(sizeof(*l) + ((size_t)cs + 1) * sizeof(*v));
	l->arena.head = NULL;
	v = l->sets;
	/* Tables are read in their own order and sorted here: ORDER BY
	 * through the primary-key index costs a table seek per row, about
	 * as much as the rest of the load. */
	if (sqlite3_prepare_v2(st->db, "SELECT name, spec_hash, "
	    "manifest_file, on_remove, last_success, last_check, last_error, "
	    "last_error_code, last_error_context, attempts, next_retry, "
	    "remote_changed, create_pending, failed_spec FROM sets",
	    -1, &q, NULL) != SQLITE_OK)
		goto done;
	while ((r = sqlite3_step(q)) == SQLITE_ROW && nv < (size_t)cs) {
		/* A name is the primary key: never NULL in a sane file. */
		if (sqlite3_column_text(q, 0) == NULL)
			continue;
		s = &v[nv++];
		memset(s, 0, sizeof(*s));
		s->name = col_str(&a, q, 0);
		s->spec_hash = col_str(&a, q, 1);
		s->manifest_file = col_str(&a, q, 2);
		s->on_remove = sqlite3_column_int(q, 3);
		s->last_success = sqlite3_column_int64(q, 4);
		s->last_check = sqlite3_column_int64(q, 5);
		s->last_error = col_str(&a, q, 6);
		s->last_error_code = sqlite3_column_int(q, 7);
		s->last_error_context = sqlite3_column_int(q, 8);
		s->attempts = (unsigned)sqlite3_column_int(q, 9);
		s->next_retry = sqlite3_column_int64(q, 10);
		s->remote_changed = sqlite3_column_int(q, 11);
		s->create_pending = sqlite3_column_int64(q, 12);
		s->failed_spec = col_str(&a, q, 13);
	}
	if (r != SQLITE_DONE && r != SQLITE_ROW)
		goto done;
	sqlite3_finalize(q);
	q = NULL;
	/* strcmp is SQLite's BINARY collation: the order ORDER BY gave. */
	qsort(v, nv, sizeof(*v), cmp_set_name);

	if (sqlite3_prepare_v2(st->db, "SELECT set_name, guid, spec_hash, "
	    "created FROM jobs ORDER BY set_name, created, guid", -1, &q,
	    NULL) != SQLITE_OK)
		goto done;
	while ((r = sqlite3_step(q)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(q, 0);
		const char *h = (const char *)sqlite3_column_text(q, 2);
		struct state_job *jb;

		if (name == NULL || (s = find_set(v, nv, name)) == NULL ||
		    sqlite3_column_bytes(q, 1) != 16)
			continue;
		/* Jobs are few; a set's grow in the arena by copying. */
		jb = arena_alloc(&a, (s->njobs + 1) * sizeof(*jb));
		if (s->njobs > 0)
			memcpy(jb, s->jobs, s->njobs * sizeof(*jb));
		s->jobs = jb;
		jb = &s->jobs[s->njobs++];
		memset(jb, 0, sizeof(*jb));
		memcpy(jb->guid.b, sqlite3_column_blob(q, 1), 16);
		snprintf(jb->spec_hash, sizeof(jb->spec_hash), "%s",
		    h ? h : "");
		jb->created = sqlite3_column_int64(q, 3);
	}
	if (r != SQLITE_DONE)
		goto done;
	sqlite3_finalize(q);
	q = NULL;

	files = arena_alloc(&a, ((size_t)cf + 1) * sizeof(*files));
	if ((r = load_files(st, &a, v, nv, files, (size_t)cf, 0)) == 1)
		r = load_files(st, &a, v, nv, files, (size_t)cf, 1);
	if (r != 0)
		goto done;
	l->arena = a;
	a.head = NULL;
	*sets = l->sets;
	*n = nv;
	l = NULL;
	rc = 0;
done:
	sqlite3_finalize(q);
	if (!st->in_tx) {
		exec(st, rc == 0 ? "COMMIT;" : "ROLLBACK;");
		(void)exec(st, "PRAGMA mmap_size=0;");
	}
	free(l);
	arena_free(&a);
	return rc;
}

void
state_free_sets(struct state_set *sets, size_t n)
{
	struct loaded *l;

	(void)n;
	if (sets == NULL)
		return;
	l = (struct loaded *)(void *)((char *)sets -
	    offsetof(struct loaded, sets));
	arena_free(&l->arena);
	free(l);
}

int
state_put_set(struct state *st, const struct state_set *s)
{
	sqlite3_stmt *q = NULL;
	int ok;

	if (tx_start(st) == -1)
		return -1;
	ok = sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO sets(name, "
	    "spec_hash, manifest_file, on_remove, last_success, last_check, "
	    "last_error, last_error_code, last_error_context, attempts, "
	    "next_retry, remote_changed, create_pending, failed_spec) "
	    "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &q, NULL) == SQLITE_OK;
	if (ok) {
		db_bind_text(q, 1, s->name);
		db_bind_text(q, 2, s->spec_hash);
		db_bind_text(q, 3, s->manifest_file);
		sqlite3_bind_int(q, 4, s->on_remove);
		sqlite3_bind_int64(q, 5, s->last_success);
		sqlite3_bind_int64(q, 6, s->last_check);
		db_bind_text(q, 7, s->last_error);
		sqlite3_bind_int(q, 8, s->last_error_code);
		sqlite3_bind_int(q, 9, s->last_error_context);
		sqlite3_bind_int(q, 10, (int)s->attempts);
		sqlite3_bind_int64(q, 11, s->next_retry);
		sqlite3_bind_int(q, 12, s->remote_changed);
		sqlite3_bind_int64(q, 13, s->create_pending);
		db_bind_text(q, 14, s->failed_spec);
		ok = db_step_done(q) == 0;
	} else
		sqlite3_finalize(q);
	return tx_end(st, ok);
}

int
state_put_files(struct state *st, const char *set,
    const struct state_file *files, size_t n)
{
	sqlite3_stmt *q = NULL;
	char hex[65];
	size_t i;
	int ok;

	if (tx_start(st) == -1)
		return -1;
	ok = sqlite3_prepare_v2(st->db, "DELETE FROM files WHERE set_name=?",
	    -1, &q, NULL) == SQLITE_OK;
	if (ok) {
		db_bind_text(q, 1, set);
		ok = db_step_done(q) == 0;
	} else
		sqlite3_finalize(q);
	for (i = 0; ok && i < n; i++) {
		const struct state_file *f = &files[i];

		q = NULL;
		if (sqlite3_prepare_v2(st->db, "INSERT INTO files(set_name, "
		    "local, remote, size, mtime, etag, last_modified, "
		    "local_size, local_mtime_ns, sha256, local_dev, "
		    "local_ino) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)", -1, &q,
		    NULL) != SQLITE_OK) {
			sqlite3_finalize(q);
			ok = 0;
			break;
		}
		db_bind_text(q, 1, set);
		db_bind_text(q, 2, f->local);
		db_bind_text(q, 3, f->remote);
		sqlite3_bind_int64(q, 4, (sqlite3_int64)f->size);
		sqlite3_bind_int64(q, 5, f->mtime);
		db_bind_text(q, 6, f->etag);
		db_bind_text(q, 7, f->last_modified);
		sqlite3_bind_int64(q, 8, (sqlite3_int64)f->local_size);
		sqlite3_bind_int64(q, 9, f->local_mtime_ns);
		if (f->has_sha256) {
			spec_hex(f->sha256, 32, hex);
			db_bind_text(q, 10, hex);
		} else
			sqlite3_bind_null(q, 10);
		sqlite3_bind_int64(q, 11, (sqlite3_int64)f->local_dev);
		sqlite3_bind_int64(q, 12, (sqlite3_int64)f->local_ino);
		ok = db_step_done(q) == 0;
	}
	return tx_end(st, ok);
}

int
state_add_job(struct state *st, const char *set, const bk_guid *g,
    const char *spec_hash, int64_t created)
{
	sqlite3_stmt *q = NULL;
	int ok;

	if (tx_start(st) == -1)
		return -1;
	ok = sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO jobs(guid, "
	    "set_name, spec_hash, created) VALUES(?,?,?,?)", -1, &q,
	    NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_blob(q, 1, g->b, 16, SQLITE_TRANSIENT);
		db_bind_text(q, 2, set);
		db_bind_text(q, 3, spec_hash);
		sqlite3_bind_int64(q, 4, created);
		ok = db_step_done(q) == 0;
	} else
		sqlite3_finalize(q);
	return tx_end(st, ok);
}

int
state_remove_job(struct state *st, const bk_guid *g)
{
	sqlite3_stmt *q = NULL;
	int ok;

	if (tx_start(st) == -1)
		return -1;
	ok = sqlite3_prepare_v2(st->db, "DELETE FROM jobs WHERE guid=?", -1,
	    &q, NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_blob(q, 1, g->b, 16, SQLITE_TRANSIENT);
		ok = db_step_done(q) == 0;
	} else
		sqlite3_finalize(q);
	return tx_end(st, ok);
}

int
state_delete_set(struct state *st, const char *set)
{
	static const char *const sql[] = {
		"DELETE FROM files WHERE set_name=?",
		"DELETE FROM jobs WHERE set_name=?",
		"DELETE FROM sets WHERE name=?",
	};
	sqlite3_stmt *q;
	size_t i;
	int ok = 1;

	if (tx_start(st) == -1)
		return -1;
	for (i = 0; ok && i < sizeof(sql) / sizeof(sql[0]); i++) {
		q = NULL;
		if (sqlite3_prepare_v2(st->db, sql[i], -1, &q, NULL) !=
		    SQLITE_OK) {
			sqlite3_finalize(q);
			ok = 0;
			break;
		}
		db_bind_text(q, 1, set);
		ok = db_step_done(q) == 0;
	}
	return tx_end(st, ok);
}

int
state_lkg_put(struct state *st, const char *name, const void *data,
    size_t len, int64_t now)
{
	sqlite3_stmt *q = NULL;
	uint8_t d[32];
	char hex[65];
	int ok;

	if (spec_sha256(data, len, d) == -1)
		return -1;	/* no checksum: no copy */
	spec_hex(d, 32, hex);
	if (tx_start(st) == -1)
		return -1;
	ok = sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO lkg(name, "
	    "content, sha256, saved) VALUES(?,?,?,?)", -1, &q,
	    NULL) == SQLITE_OK;
	if (ok) {
		db_bind_text(q, 1, name);
		sqlite3_bind_blob64(q, 2, len ? data : "", len,
		    SQLITE_TRANSIENT);
		db_bind_text(q, 3, hex);
		sqlite3_bind_int64(q, 4, now);
		ok = db_step_done(q) == 0;
	} else
		sqlite3_finalize(q);
	return tx_end(st, ok);
}

int
state_lkg_get(struct state *st, const char *name, void **data, size_t *len)
{
	sqlite3_stmt *q = NULL;
	uint8_t d[32], want[32];
	int r, rc = -1;

	*data = NULL;
	*len = 0;
	if (sqlite3_prepare_v2(st->db, "SELECT content, sha256 FROM lkg "
	    "WHERE name=?", -1, &q, NULL) != SQLITE_OK)
		goto done;
	db_bind_text(q, 1, name);
	r = sqlite3_step(q);
	if (r == SQLITE_DONE) {
		rc = 1;
		goto done;
	}
	if (r != SQLITE_ROW)
		goto done;
	*len = (size_t)sqlite3_column_bytes(q, 0);
	*data = xmalloc(*len + 1);
	memcpy(*data, sqlite3_column_blob(q, 0), *len);
	((char *)*data)[*len] = '\0';
	/* The copy is what gets enforced when the live file is broken:
	 * check it is the copy that was saved. */
	if (spec_sha256(*data, *len, d) == -1 ||
	    spec_unhex((const char *)sqlite3_column_text(q, 1), want,
	    32) == -1 || memcmp(d, want, 32) != 0) {
		free(*data);
		*data = NULL;
		*len = 0;
		goto done;
	}
	rc = 0;
done:
	sqlite3_finalize(q);
	return rc;
}

int
state_lkg_delete(struct state *st, const char *name)
{
	sqlite3_stmt *q = NULL;
	int ok;

	if (tx_start(st) == -1)
		return -1;
	ok = sqlite3_prepare_v2(st->db, "DELETE FROM lkg WHERE name=?", -1,
	    &q, NULL) == SQLITE_OK;
	if (ok) {
		db_bind_text(q, 1, name);
		ok = db_step_done(q) == 0;
	} else
		sqlite3_finalize(q);
	return tx_end(st, ok);
}

int
state_lkg_list(struct state *st, char ***names, size_t *n)
{
	sqlite3_stmt *q = NULL;
	char **v = NULL;
	size_t nv = 0, i;
	int r, rc = -1;

	*names = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(st->db, "SELECT name FROM lkg ORDER BY name",
	    -1, &q, NULL) != SQLITE_OK)
		goto done;
	while ((r = sqlite3_step(q)) == SQLITE_ROW) {
		v = xrealloc(v, (nv + 1) * sizeof(*v));
		v[nv++] = xstrdup(sqlite3_column_text(q, 0) ?
		    (const char *)sqlite3_column_text(q, 0) : "");
	}
	if (r != SQLITE_DONE)
		goto done;
	*names = v;
	*n = nv;
	v = NULL;
	nv = 0;
	rc = 0;
done:
	sqlite3_finalize(q);
	for (i = 0; i < nv; i++)
		free(v[i]);
	free(v);
	return rc;
}

/* ---- on_change runs (command.c) ------------------------------------- */

static char *
dup_col(sqlite3_stmt *q, int i)
{
	const unsigned char *t = sqlite3_column_text(q, i);

	return t != NULL ? xstrdup((const char *)t) : NULL;
}

#define CMD_COLUMNS "set_name, pending, gen, changed, attempts, next_run, " \
	"last_run, last_exit, last_result, last_error, successes, failures"

static void
cmd_row(sqlite3_stmt *q, struct state_command *c)
{
	c->set = dup_col(q, 0);
	c->pending = sqlite3_column_int(q, 1);
	c->gen = (uint64_t)sqlite3_column_int64(q, 2);
	c->changed = dup_col(q, 3);
	c->attempts = (unsigned)sqlite3_column_int(q, 4);
	c->next_run = sqlite3_column_int64(q, 5);
	c->last_run = sqlite3_column_int64(q, 6);
	c->last_exit = sqlite3_column_int(q, 7);
	c->last_result = dup_col(q, 8);
	c->last_error = dup_col(q, 9);
	c->successes = (uint64_t)sqlite3_column_int64(q, 10);
	c->failures = (uint64_t)sqlite3_column_int64(q, 11);
}

int
state_command_get(struct state *st, const char *set, struct state_command *c)
{
	sqlite3_stmt *q = NULL;
	int r, rc = -1;

	memset(c, 0, sizeof(*c));
	if (sqlite3_prepare_v2(st->db, "SELECT " CMD_COLUMNS " FROM commands "
	    "WHERE set_name=?", -1, &q, NULL) != SQLITE_OK)
		goto out;
	db_bind_text(q, 1, set);
	r = sqlite3_step(q);
	if (r == SQLITE_ROW) {
		cmd_row(q, c);
		rc = 0;
	} else if (r == SQLITE_DONE)
		rc = 1;
out:
	sqlite3_finalize(q);
	return rc;
}

int
state_command_list(struct state *st, struct state_command **v, size_t *n)
{
	sqlite3_stmt *q = NULL;
	size_t cap = 0;
	int r, rc = -1;

	*v = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(st->db, "SELECT " CMD_COLUMNS " FROM commands "
	    "ORDER BY set_name", -1, &q, NULL) != SQLITE_OK)
		goto out;
	while ((r = sqlite3_step(q)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			*v = xrealloc(*v, cap * sizeof(**v));
		}
		memset(&(*v)[*n], 0, sizeof(**v));
		cmd_row(q, &(*v)[(*n)++]);
	}
	if (r == SQLITE_DONE)
		rc = 0;
out:
	sqlite3_finalize(q);
	return rc;
}

void
state_command_clear(struct state_command *c)
{
	free(c->set);
	free(c->changed);
	free(c->last_result);
	free(c->last_error);
	memset(c, 0, sizeof(*c));
}

void
state_command_free(struct state_command *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		state_command_clear(&v[i]);
	free(v);
}

int
state_command_put(struct state *st, const struct state_command *c)
{
	sqlite3_stmt *q = NULL;
	int ok;

	if (tx_start(st) == -1)
		return -1;
	ok = sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO commands("
	    CMD_COLUMNS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?)", -1, &q,
	    NULL) == SQLITE_OK;
	if (ok) {
		db_bind_text(q, 1, c->set);
		sqlite3_bind_int(q, 2, c->pending);
		sqlite3_bind_int64(q, 3, (sqlite3_int64)c->gen);
		db_bind_text(q, 4, c->changed);
		sqlite3_bind_int(q, 5, (int)c->attempts);
		sqlite3_bind_int64(q, 6, c->next_run);
		sqlite3_bind_int64(q, 7, c->last_run);
		sqlite3_bind_int(q, 8, c->last_exit);
		db_bind_text(q, 9, c->last_result);
		db_bind_text(q, 10, c->last_error);
		sqlite3_bind_int64(q, 11, (sqlite3_int64)c->successes);
		sqlite3_bind_int64(q, 12, (sqlite3_int64)c->failures);
		ok = db_step_done(q) == 0;
	} else
		sqlite3_finalize(q);
	return tx_end(st, ok);
}

int
state_command_delete(struct state *st, const char *set)
{
	sqlite3_stmt *q = NULL;
	int ok;

	if (tx_start(st) == -1)
		return -1;
	ok = sqlite3_prepare_v2(st->db, "DELETE FROM commands WHERE "
	    "set_name=?", -1, &q, NULL) == SQLITE_OK;
	if (ok) {
		db_bind_text(q, 1, set);
		ok = db_step_done(q) == 0;
	} else
		sqlite3_finalize(q);
	return tx_end(st, ok);
}
