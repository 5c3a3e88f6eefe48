/* command_proc_posix.c - on_change programs on POSIX (command_proc.h).
 *
 * posix_spawn, not fork: the daemon has transfer threads, and glibc's
 * posix_spawn (clone(CLONE_VM|CLONE_VFORK)) copies no page tables and
 * reports a failed exec as its return value.  The child gets a session
 * of its own (POSIX_SPAWN_SETSID: its pgid is its pid, so kill(-pid)
 * reaches whatever it forks), every signal unblocked and at its default
 * (the daemon blocks SIGTERM for its signalfd and ignores SIGPIPE), stdin
 * /dev/null, stdout and stderr one pipe, no other descriptor, and as its
 * working folder a descriptor opened component by component without
 * following links (a link planted below the allowed root cannot move it
 * elsewhere). */
#include "command_proc.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

struct cproc {
	pid_t pid;
	int out;		/* read end, non-blocking; -1 closed */
	int reaped, code, sig;
};

const char *
cproc_path_env(void)
{
	return "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
	    "/sbin:/bin";
}

/* A descriptor of dir, every component past trusted bytes opened with
 * O_NOFOLLOW from its parent's descriptor.  -1 with errno (ELOOP for a
 * link). */
static int
open_dir_safely(const char *dir, size_t trusted)
{
	char *copy = xstrdup(dir), *p, *next;
	int fd = -1, nfd;

	if (dir[0] != '/') {
		errno = EINVAL;
		goto out;
	}
	if (trusted > strlen(dir))
		trusted = strlen(dir);
	/* The trusted prefix in one open (links there are the admin's). */
	while (trusted > 1 && copy[trusted - 1] != '/' &&
	    copy[trusted] != '/' && copy[trusted] != '\0')
		trusted--;
	if (trusted <= 1) {
		fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		p = copy + 1;
	} else {
		char save = copy[trusted];

		copy[trusted] = '\0';
		fd = open(copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		copy[trusted] = save;
		p = copy + trusted;
	}
	while (fd != -1 && *p != '\0') {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		next = strchr(p, '/');
		if (next != NULL)
			*next = '\0';
		nfd = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		close(fd);
		fd = nfd;
		if (next == NULL)
			break;
		p = next + 1;
	}
out:
	free(copy);
	return fd;
}

/* One folder on the way to the program: owned by root or the agent, and
 * writable by nobody else unless sticky (there others cannot rename or
 * remove what root owns).  0, or -1 with *why. */
static int
dir_safe(const char *dir, const char *prog, char **why)
{
	struct stat sb;

	if (stat(dir, &sb) != 0) {
		*why = xasprintf("program %s: %s: %s", prog, dir,
		    strerror(errno));
		return -1;
	}
	if ((sb.st_uid != 0 && sb.st_uid != geteuid()) ||
	    ((sb.st_mode & 022) != 0 && (sb.st_mode & S_ISVTX) == 0)) {
		*why = xasprintf("program %s: the folder %s (owner uid %u, "
		    "mode %04o) may be changed by another account than "
		    "root, which could put its own program there; a "
		    "program bitsync runs as root must lie in folders "
		    "only root can change (chown root, chmod go-w)", prog,
		    dir, (unsigned)sb.st_uid, (unsigned)(sb.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* Every folder above path (as written, then with links resolved). */
static int
parents_safe(const char *path, const char *prog, char **why)
{
	char *copy = xstrdup(path), *slash;
	int rc = 0;

	for (slash = strchr(copy + 1, '/'); rc == 0; slash = strchr(slash +
	    1, '/')) {
		if (slash == NULL)
			break;
		*slash = '\0';
		rc = dir_safe(copy, prog, why);
		*slash = '/';
	}
	if (rc == 0)
		rc = dir_safe("/", prog, why);
	free(copy);
	return rc;
}

/* The program runs as root: a program, link or folder on its path that an
 * unprivileged account can change would be that account's code run as
 * root (the manifest names the path; the folders are the host's).  Each
 * folder of the path as written (a link there is changed only by its
 * folder's owner) and of the resolved path, and the program itself, must
 * be root's (or the agent's) and writable by no one else.  Nothing an
 * unprivileged account can change is left, so no race between this check
 * and the exec. */
static int
program_safe(const char *prog, char **why)
{
	struct stat sb;
	char *real = NULL;
	int rc = -1;

	if (parents_safe(prog, prog, why) != 0)
		goto out;
	if ((real = realpath(prog, NULL)) == NULL) {
		*why = xasprintf("program %s: %s", prog, strerror(errno));
		goto out;
	}
	if (parents_safe(real, prog, why) != 0)
		goto out;
	if (stat(real, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		*why = xasprintf("program %s: not a regular file", prog);
		goto out;
	}
	if ((sb.st_uid != 0 && sb.st_uid != geteuid()) ||
	    (sb.st_mode & 022) != 0) {
		*why = xasprintf("program %s (%s): owner uid %u, mode %04o: "
		    "another account than root could change it; a program "
		    "bitsync runs as root must be root's and writable by "
		    "root only (chown root, chmod go-w)", prog, real,
		    (unsigned)sb.st_uid, (unsigned)(sb.st_mode & 07777));
		goto out;
	}
	rc = 0;
out:
	free(real);
	return rc;
}

int
cproc_start(const struct cproc_spec *sp, struct cproc **out, char **why)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	struct cproc *p = NULL;
	char **argv = NULL;
	int pfd[2] = { -1, -1 }, dfd = -1, e, rc = -1, fa_ok = 0, at_ok = 0;
	size_t i;

	*out = NULL;
	*why = NULL;
	if (program_safe(sp->argv[0], why) != 0)
		goto out;
	if ((dfd = open_dir_safely(sp->cwd, sp->trusted_len)) == -1) {
		*why = xasprintf("working folder %s: %s%s", sp->cwd,
		    strerror(errno), errno == ELOOP || errno == ENOTDIR ?
		    " (a link in the path; bitsync does not follow links "
		    "below the allowed root)" : "");
		goto out;
	}
	if (pipe2(pfd, O_CLOEXEC) == -1) {
		*why = xasprintf("pipe: %s", strerror(errno));
		goto out;
	}
	argv = xcalloc(sp->argc + 1, sizeof(*argv));
	for (i = 0; i < sp->argc; i++)
		argv[i] = (char *)sp->argv[i];
	if ((e = posix_spawn_file_actions_init(&fa)) != 0)
		goto spawn_err;
	fa_ok = 1;
	if ((e = posix_spawnattr_init(&at)) != 0)
		goto spawn_err;
	at_ok = 1;
	sigemptyset(&none);
	sigfillset(&all);
	if ((e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
	    O_RDONLY, 0)) != 0 ||
	    (e = posix_spawn_file_actions_adddup2(&fa, pfd[1], 1)) != 0 ||
	    (e = posix_spawn_file_actions_adddup2(&fa, pfd[1], 2)) != 0 ||
	    (e = posix_spawn_file_actions_addfchdir_np(&fa, dfd)) != 0 ||
	    (e = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) != 0 ||
	    (e = posix_spawnattr_setsigmask(&at, &none)) != 0 ||
	    (e = posix_spawnattr_setsigdefault(&at, &all)) != 0 ||
	    (e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) != 0)
		goto spawn_err;
	p = xcalloc(1, sizeof(*p));
	p->out = -1;
	/* posix_spawn, never posix_spawnp: no search path. */
	if ((e = posix_spawn(&p->pid, argv[0], &fa, &at, argv,
	    (char *const *)sp->env)) != 0)
		goto spawn_err;
	p->out = pfd[0];
	pfd[0] = -1;
	if (fcntl(p->out, F_SETFL, O_NONBLOCK) == -1) {
		/* Never block the daemon on a read: give the output up. */
		close(p->out);
		p->out = -1;
	}
	*out = p;
	p = NULL;
	rc = 0;
	goto out;
spawn_err:
	*why = xasprintf("cannot start %s: %s", sp->argv[0], strerror(e));
out:
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (at_ok)
		posix_spawnattr_destroy(&at);
	free(p);
	free(argv);
	if (pfd[0] != -1)
		close(pfd[0]);
	if (pfd[1] != -1)
		close(pfd[1]);
	if (dfd != -1)
		close(dfd);
	return rc;
}

long
cproc_read(struct cproc *p, char *buf, size_t len)
{
	ssize_t n;

	if (p->out == -1)
		return -1;
	n = read(p->out, buf, len);
	if (n > 0)
		return (long)n;
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	close(p->out);
	p->out = -1;
	return -1;
}

int
cproc_poll(struct cproc *p, int *code, int *sig)
{
	int status;
	pid_t r;

	if (!p->reaped) {
		r = waitpid(p->pid, &status, WNOHANG);
		if (r == 0 || (r == -1 && errno == EINTR))
			return 0;
		p->reaped = 1;
		if (r == -1) {
			p->code = 127;
		} else if (WIFEXITED(status))
			p->code = WEXITSTATUS(status);
		else if (WIFSIGNALED(status))
			p->sig = WTERMSIG(status);
	}
	*code = p->code;
	*sig = p->sig;
	return 1;
}

void
cproc_kill(struct cproc *p)
{
	/* The group while its leader is unreaped: its pgid cannot be
	 * reused yet, so this reaches the program's own processes only. */
	if (!p->reaped)
		kill(-p->pid, SIGKILL);
}

long
cproc_pid(const struct cproc *p)
{
	return (long)p->pid;
}

void
cproc_free(struct cproc *p)
{
	int st;

	if (p == NULL)
		return;
	if (!p->reaped) {
		kill(-p->pid, SIGKILL);
		while (waitpid(p->pid, &st, 0) == -1 && errno == EINTR)
			;
	}
	if (p->out != -1)
		close(p->out);
	free(p);
}
