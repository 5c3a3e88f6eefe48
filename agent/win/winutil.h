/* winutil.h - small helpers shared by the Windows modules: UTF-8 <-> UTF-16
 * the system's text for an error code, SHA-256 of a file. */
#ifndef BITSYNC_WINUTIL_H
#define BITSYNC_WINUTIL_H

#include <stddef.h>
#include <wchar.h>

/* Newly allocated UTF-16 copy of a UTF-8 string; NULL for NULL (and for
 * input that is not UTF-8). */
wchar_t *win_widen(const char *s);

/* Newly allocated UTF-8 copy of a UTF-16 string; NULL for NULL. */
char *win_narrow(const wchar_t *w);

/* FormatMessage's text for a Win32 error code, without trailing newline or
 * full stop, followed by " (error N)". */
void win_strerror(unsigned long code, char *buf, size_t len);

/* Lower-case hex SHA-256 of a file's contents (BCrypt).  Returns 0, or -1
 * when the file cannot be read. */
int win_sha256_file(const char *path, char hex[65]);

/* The name of the run daemon's control pipe for state_dir (in
 * platform_win.c): \\.\pipe\bitsync-<hash of the folder's absolute,
 * case-folded path>, newly allocated; NULL when the path is unusable. */
wchar_t *win_control_pipe(const char *state_dir);

/* Who serves the control pipe of state_dir now: "process N (DOMAIN\user
 * (S-1-...))" (newly allocated), or NULL when no one does or it cannot be
 * told.  The agent names a squatter with it when its pipe is taken. */
char *win_pipe_holder(const char *state_dir);

/* One Event Log record of source name (registered once per process): id
 * is an MSG_* of bitsync_msg.mc, whose severity bits give the record's
 * type; text (UTF-8) its one insertion string.  Failures are dropped: a
 * log that cannot be written must not stop the agent. */
void win_report_event(const char *name, unsigned long id, const char *text);

#endif
