/* command_proc.h - one on_change program as a child process, for the
 * runner (command.c): started without a shell, polled without blocking,
 * killed with everything it started.  command_proc_posix.c (posix_spawn,
 * a new session, kill(-pgid)) and win/command_proc_win.c (CreateProcessW
 * in a job object that kills on close). */
#ifndef BITSYNC_COMMAND_PROC_H
#define BITSYNC_COMMAND_PROC_H

#include <stddef.h>

struct cproc;

struct cproc_spec {
	const char *const *argv;	/* argv[0]: absolute program path */
	size_t argc;
	const char *cwd;		/* the working folder */
	size_t trusted_len;		/* cwd's leading bytes that may hold
					 * links (the allowed root) */
	const char *const *env;		/* "NAME=value", NULL-terminated: all
					 * the child sees */
};

/* Starts the program: stdin empty, stdout and stderr into one pipe the
 * caller reads, a process group (job object) of its own.  0, or -1 with
 * *why (free it) saying what failed. */
int cproc_start(const struct cproc_spec *sp, struct cproc **out, char **why);

/* Output read so far without blocking: bytes read, 0 when none waits,
 * -1 when the pipe is closed (every writer gone). */
long cproc_read(struct cproc *p, char *buf, size_t len);

/* 1 when the program has ended (*code its exit status, or *sig the signal
 * that ended it), 0 while it runs. */
int cproc_poll(struct cproc *p, int *code, int *sig);

/* Kills the program and every process it started (its group / job). */
void cproc_kill(struct cproc *p);

long cproc_pid(const struct cproc *p);

/* Kills what still runs, reaps, closes. */
void cproc_free(struct cproc *p);

/* The fixed PATH the program gets. */
const char *cproc_path_env(void);

#endif
