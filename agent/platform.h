/* platform.h - the few operating-system services the core needs, so that
 * the core (reader, rules, model, planner) builds unchanged for POSIX and
 * for Windows.  posix/platform_posix.c and win/platform_win.c implement it. */
#ifndef BITSYNC_PLATFORM_H
#define BITSYNC_PLATFORM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum platform_kind { PLATFORM_KIND_MISSING, PLATFORM_KIND_FILE,
	PLATFORM_KIND_DIR, PLATFORM_KIND_OTHER };

/* What path is, following symlinks; MISSING when it does not exist.
 * Returns -1 (errno set) when it cannot be inspected. */
int platform_path_kind(const char *path, enum platform_kind *kind);

/* The names (not paths) of the regular files in dir whose names end in
 * ".yaml" or ".yml", sorted in byte order.  Free with platform_free_names.
 * Returns -1 with errno set when dir cannot be read. */
int platform_list_manifests(const char *dir, char ***names, size_t *n);
void platform_free_names(char **names, size_t n);

/* dir + separator + name, newly allocated. */
char *platform_join(const char *dir, const char *name);

/* A hint that the process is about to allocate about bytes and keep them
 * until it exits (a plan over a large manifest): where the C library
 * allows, the heap then grows in one step backed by huge pages instead of
 * faulting in 4 KiB at a time.  Nothing else changes; may do nothing. */
void platform_heap_hint(size_t bytes);

/* Calls fn(arg, lo, hi) over [0, n) in slices of about grain items, on
 * up to four threads at once (the caller's among them, one per CPU), and
 * returns when every slice is done: for independent system calls that
 * spend their time in the kernel (a stat of every placed file).  fn must
 * be safe to run concurrently on different slices.  Runs inline when n is
 * one slice, or where threads are not offered. */
void platform_parallel(size_t n, size_t grain,
    void (*fn)(void *arg, size_t lo, size_t hi), void *arg);

/* Whether c separates path components ('/'; on Windows also '\\'). */
int platform_is_sep(int c);

/* An absolute form of path (newly allocated), or NULL with errno set. */
char *platform_abspath(const char *path);

/* What path itself is, without following a final symlink or reparse
 * point (is_link is set instead, kind is OTHER).  MISSING when absent. */
struct platform_stat {
	enum platform_kind kind;
	int is_link;
	uint64_t size;
	int64_t mtime_ns;
	uint64_t dev, ino;		/* 0 where the host has none */
};
int platform_lstat(const char *path, struct platform_stat *sb);

/* platform_lstat of many paths that share folders (a plan's stat of every
 * placed file): a handle on a folder a path lies under is kept and the
 * next paths under it are looked up from there, so that a stat walks the
 * last components only (/srv/bitsync/<set>/<file>: two of four).  What is
 * seen is what platform_lstat sees.  Not shared between threads; a NULL
 * sd is platform_lstat itself, and platform_statdir_free(NULL) does
 * nothing. */
struct platform_statdir;
struct platform_statdir *platform_statdir_new(void);
int platform_lstat_in(struct platform_statdir *sd, const char *path,
    struct platform_stat *sb);
void platform_statdir_free(struct platform_statdir *sd);

/* A read-only descriptor for read() and close(), refusing a final
 * symlink or reparse point (errno ELOOP): a link planted where bitsync
 * placed a file is not that file. */
int platform_open_nofollow(const char *path);

/* Deletes path when it is still the regular file bitsync placed: same
 * size and mtime (and device and inode when want has them) as want.
 * Folders are walked from the root without following any link, and the
 * check and the unlink go through one folder handle, so a symlink swapped
 * into the path meanwhile cannot redirect the delete (ELOOP).  0 deleted
 * or already absent, 1 changed since (kept), -1 error (errno). */
int platform_remove_placed(const char *path, const struct platform_stat *want);

/* Creates the folder dir (one level) for the agent alone: mode 0700 on
 * POSIX; on Windows a protected DACL granting SYSTEM and Administrators
 * only, inherited by what is created inside.  0 also when it exists; on
 * Windows an existing one is judged (owner SYSTEM, Administrators or the
 * agent, no other writer, no reparse point: else EACCES or ELOOP and
 * platform_last_why). */
int platform_mkdir_private(const char *dir);

/* mkdir -p of dir.  New folders take their parent's permissions (on
 * Windows: a protected DACL, SYSTEM and Administrators full control,
 * Users read; every folder below the allowed root must be one that only
 * admins may change, else EACCES and platform_last_why).  Components past the first trusted_len
 * bytes (the allowed root, or none) must not be symlinks or reparse points
 * (design §7): ELOOP.  On POSIX they are walked and made through no-follow
 * folder handles (mkdirat), each new folder's parent fsync'd. */
int platform_make_dirs(const char *dir, size_t trusted_len);

/* The sentence that explains the last refusal of platform_make_dirs or
 * platform_mkdir_private (EACCES, ELOOP: which folder, who may write or
 * own it, and the command that fixes it), or NULL.  Windows only judges
 * folders this way (a folder's DACL); elsewhere always NULL. */
const char *platform_last_why(void);

/* Creates path when missing as a file only the agent may read (0600 /
 * the private folder's DACL), never through a link; keeps its content. */
int platform_create_private(const char *path);

/* Readies an SQLite database at path for the agent alone, before SQLite
 * opens it (SQLite itself would create it 0644, and its -wal, -shm and
 * -journal files copy the database's mode): the database is created when
 * missing as platform_create_private does; it and whichever companions
 * exist must be regular files of the agent's own account, never links
 * (a file planted there could be read, or point the store elsewhere), and
 * a mode wider than 0600 (a store of an older bitsync) is narrowed.  0, or
 * -1 with *why a message naming the file and what to do (free it). */
int platform_db_private(const char *path, char **why);

/* Writes path anew (truncating) as a private file, never through a link. */
int platform_write_private(const char *path, const void *data, size_t len);

/* Atomic replacement: write to the stream platform_replace_open returns,
 * then platform_replace_commit flushes it to disk and puts it in place of
 * path in one step (rename / MoveFileEx with MOVEFILE_REPLACE_EXISTING and
 * MOVEFILE_WRITE_THROUGH); readers see the old or the new file, never a
 * mix.  commit always closes f and frees *tmp; on failure it removes the
 * temporary file and returns -1 with errno set. */
FILE *platform_replace_open(const char *path, char **tmp);
int platform_replace_commit(FILE *f, char *tmp, const char *path);
/* Gives the replacement up: closes f, removes and frees tmp. */
void platform_replace_abort(FILE *f, char *tmp);

/* This host's name, NUL-terminated (empty when unknown). */
void platform_hostname(char *buf, size_t len);

/* Whether a process with that id runs (0 when it surely does not). */
int platform_pid_alive(long pid);

/* An exclusive lock on <dir>/<name>, held until platform_unlock (or the
 * process ends): 0 taken, 1 held by another process, -1 error (errno).
 * flock on POSIX, LockFileEx on Windows. */
struct platform_lock;
int platform_lock(const char *dir, const char *name,
    struct platform_lock **out);
void platform_unlock(struct platform_lock *l);

/* Calls fn (which may only set a flag and post a wake) when the user or
 * the system asks the process to stop: SIGINT / SIGTERM, Ctrl-C / Ctrl-
 * Break / console close. */
void platform_on_stop(void (*fn)(void));

/* A wake-up a thread (or a stop handler) posts and a loop waits for:
 * a non-blocking pipe on POSIX, an auto-reset event on Windows. */
struct platform_wake;
struct platform_wake *platform_wake_new(void);
void platform_wake_post(struct platform_wake *w);
/* 1 when posted (consumed), 0 when ms passed. */
int platform_wake_wait(struct platform_wake *w, int ms);

/* Sleeps ms milliseconds (at least; a signal may not cut it short). */
void platform_sleep_ms(int ms);
void platform_wake_free(struct platform_wake *w);

/* Hands freed heap pages back to the system (after a large pass). */
void platform_trim_heap(void);

/* What an administrator must see of the run daemon's decisions, beside
 * the log line reconcile.c and daemon.c print: on Windows a record of
 * source "bitsync" in the Application log (a service has no stderr),
 * whose id (packaging/windows/bitsync_msg.mc) and type follow ev and whose
 * one insertion string is text.  Nothing on POSIX, where the log line on
 * stderr (the journal) is the record. */
enum platform_event {
	PLATFORM_EV_JOB_CREATED,	/* information, MSG_JOB_CREATED */
	PLATFORM_EV_SET_COMPLETED,	/* information, MSG_SET_COMPLETED */
	PLATFORM_EV_JOB_ERROR,		/* error, MSG_JOB_ERROR */
	PLATFORM_EV_VALIDATION_KEPT,	/* error, MSG_VALIDATION_ERROR: the
					 * last-known-good copy is in force */
	PLATFORM_EV_VALIDATION_HELD,	/* error, MSG_VALIDATION_HELD */
	PLATFORM_EV_WARNING		/* warning, MSG_WARNING */
};
void platform_event(enum platform_event ev, const char *text);

/* A connected stream (a descriptor for read, write and close) to the run
 * daemon's control endpoint for state_dir, or -1 when none answers: the
 * unix socket <state_dir>/control.sock; on Windows the named pipe
 * \\.\pipe\bitsync-<hash of state_dir> (run_win.c), whose server must be
 * owned by SYSTEM, Administrators or this user. */
int platform_control_connect(const char *state_dir);

/* A stream to write and read back, gone when closed (nothing is left
 * behind after a crash either): an answer on the control endpoint is
 * rendered into it before its length is known.  dir is a private folder
 * of the agent's where the file may live (Windows' tmpfile() would write
 * to the drive's root).  NULL with errno when it cannot. */
FILE *platform_scratch(const char *dir);

/* Runtime checks of design §3 that only the host can make, for the rules
 * when they validate for the host they run on.
 * platform_drive_fixed: 1 when drive letter d is a local fixed volume, 0
 * when not (*kind says what it is: "removable", "network", "not
 * present", ...), -1 where drive letters mean nothing (POSIX).
 * platform_network_anonymous: 1 when this process reaches the network
 * anonymously (Windows: it runs as LocalService), else 0. */
int platform_drive_fixed(char d, const char **kind);
int platform_network_anonymous(void);

/* Names this very build of the program (on Linux: the executable's device,
 * inode, size and mtime), for caches of what it computed: a cache written
 * by another build must not be trusted.  0, or -1 when it cannot tell. */
int platform_self_id(char *buf, size_t len);

/* A private file of the agent's (never through a link) mapped read-only:
 * its pages come from the page cache, where reading it into fresh memory
 * would have the kernel zero as many pages first.  Only for files that
 * are replaced by rename, never truncated in place (a mapping of a file
 * cut short faults).  NULL when it cannot (*len is then 0); Windows has
 * none. */
const void *platform_map_file(const char *path, size_t max, size_t *len);
void platform_unmap_file(const void *p, size_t len);

#endif
