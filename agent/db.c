/* db.c - SQLite as the agent uses it (db.h). */
#include "db.h"

#include <stdlib.h>

#include "platform.h"
#include "util.h"

int
db_open(const char *path, unsigned flags, int busy_ms, sqlite3 **db,
    char **why)
{
	int rc = -1;

	*db = NULL;
	*why = NULL;
	/* Private before SQLite sees it: SQLite would create it 0644, and
	 * its -wal and -shm files copy the database's mode. */
	if (platform_db_private(path, why) == -1)
		goto done;
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOFOLLOW | ((flags & DB_SHARED) ?
	    SQLITE_OPEN_FULLMUTEX : SQLITE_OPEN_NOMUTEX), NULL) != SQLITE_OK)
		goto dberr;
	/* Another bitsync process (apply beside the daemon, status) may
	 * hold the write lock for a moment. */
	sqlite3_busy_timeout(*db, busy_ms);
	if (db_exec(*db, "PRAGMA journal_mode=WAL;") == -1 ||
	    db_exec(*db, "PRAGMA synchronous=FULL;") == -1)
		goto dberr;
	rc = 0;
	goto done;
dberr:
	*why = xasprintf("%s: %s", path, *db != NULL ? sqlite3_errmsg(*db) :
	    "cannot open");
	sqlite3_close(*db);
	*db = NULL;
done:
	return rc;
}

int
db_exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int
db_has_column(sqlite3 *db, const char *table, const char *column)
{
	sqlite3_stmt *q = NULL;
	int r;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?) "
	    "WHERE name=?", -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(q, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, column, -1, SQLITE_STATIC);
	r = sqlite3_step(q);
	sqlite3_finalize(q);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return -1;
	return r == SQLITE_ROW;
}

void
db_bind_text(sqlite3_stmt *q, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(q, i);
	else
		sqlite3_bind_text(q, i, s, -1, SQLITE_TRANSIENT);
}

int
db_step_done(sqlite3_stmt *q)
{
	int r = sqlite3_step(q);

	sqlite3_finalize(q);
	return r == SQLITE_DONE ? 0 : -1;
}
