/* engine.h - bitsync's own transfer engine: the `engine` backend (design
 * §1) with BITS job semantics on POSIX hosts.
 *
 * Jobs live in an SQLite store under the config's state_dir
 * (engine.db, WAL); one process at a time may hold the store (a lock on
 * engine.lock), which is how "two processes never transfer from one job
 * store at once" holds.  Transfers run in max_parallel worker threads
 * started by open; a config with max_parallel = 0 opens the store without
 * any worker, for commands that only look at or change jobs. */
#ifndef BITSYNC_ENGINE_H
#define BITSYNC_ENGINE_H

#include "backend.h"

extern const struct backend_ops engine_backend_ops;

#endif
