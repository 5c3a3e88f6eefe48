/* db.h - SQLite as the agent uses it, for its two databases: the
 * recorded state (state.c) and the engine's job store (engine/store.c).
 * One way to open (private file checks first, WAL with full sync, a busy
 * timeout) and the few statement helpers both need. */
#ifndef BITSYNC_DB_H
#define BITSYNC_DB_H

#include <sqlite3.h>

/* db_open's flags. */
#define DB_SHARED	0x1	/* threads share the connection (SQLite's
				 * serialized mode); otherwise one thread
				 * at a time and no mutex per call */

/* Opens the database at path, created private when missing and refused
 * when it or a companion (-wal, -shm, -journal) is not a regular file of
 * the agent's own (platform_db_private), never through a link; in WAL
 * mode with synchronous=FULL (a commit survives a power loss), waiting up
 * to busy_ms for another process's lock.  0, or -1 with *why naming the
 * file and what went wrong (free it); *db is then NULL. */
int db_open(const char *path, unsigned flags, int busy_ms, sqlite3 **db,
    char **why);

/* sqlite3_exec without callbacks: 0, or -1 (sqlite3_errmsg says why). */
int db_exec(sqlite3 *db, const char *sql);

/* Whether table has column: 1, 0, or -1 on error (schema upgrades in
 * place add columns a store of an older bitsync lacks). */
int db_has_column(sqlite3 *db, const char *table, const char *column);

/* Binds s (copied), or NULL when s is NULL. */
void db_bind_text(sqlite3_stmt *q, int i, const char *s);

/* Steps a statement that returns no rows and finalizes it: 0 when it
 * ran to the end, else -1. */
int db_step_done(sqlite3_stmt *q);

#endif
