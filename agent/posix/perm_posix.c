/* perm_posix.c - StrictModes for POSIX (design §7), after OpenSSH's
 * safe_path().
 *
 * A file that steers a root agent is as trusted as the least trusted
 * account that can change it.  Anyone who can write the file, or any
 * directory above it (and so rename or replace an entry), can make the
 * agent write anywhere, so each of them must be owned by root or by the
 * agent's effective uid and must not be writable by group or others.
 *
 * Choices:
 *  - The path is resolved with realpath() and the resolved file and its
 *    resolved parents are checked: a symlinked manifest is judged where it
 *    points.  In addition every symlink met in the path as given must be
 *    owned by root or the agent, and the directory chain holding it must
 *    be safe: whoever can repoint a link can swap the file.  Links inside a
 *    link's own target are covered by realpath's resolution of the final
 *    chain but not checked for ownership themselves (one level, kept
 *    simple; admins link a manifest or a directory, not chains of them).
 *  - A directory above the file that is group- or world-writable is
 *    accepted when it has the sticky bit (/tmp, 1777): nobody else may then
 *    rename or delete what root or the agent owns in it, and the entry
 *    below is itself checked for its owner.  The file or directory named
 *    itself gets no such exception: a sticky, world-writable drop-in
 *    directory would still let anyone add a drop-in.
 *  - ACLs and group membership are not considered: mode bits are what
 *    sshd judges too, and "writable by a group" is already the warning
 *    sign whoever is in it.
 *  - All offenders go into one diagnostic with one command line that
 *    fixes them all, so an admin does not fix, rerun, fix again. */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "perm.h"
#include "util.h"

#define RULE_PERM	"file-permissions"
#define RULE_IO		"io-error"

/* Growable string: the message and the fix are built piece by piece. */
struct pbuf {
	char	*s;
	size_t	 len, cap;
};

struct pcheck {
	const char	*given;		/* the path as the caller wrote it */
	struct diags	*d;
	uid_t		 euid;
	struct pbuf	 msg, fix;
	int		 noffenders;
	int		 io_failed;
	char		**done;		/* paths already judged */
	size_t		 ndone;
};

static void
pbuf_add(struct pbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
pbuf_add(struct pbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (b->len + (size_t)n + 1 > b->cap) {
		b->cap = (b->len + (size_t)n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* A path as a shell word: the fix is meant to be pasted. */
static void
pbuf_add_quoted(struct pbuf *b, const char *s)
{
	const char *p;

	for (p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("/._-+:,@%", *p)))
			break;
	if (*p == '\0' && *s != '\0') {
		pbuf_add(b, "%s", s);
		return;
	}
	pbuf_add(b, "'");
	for (p = s; *p != '\0'; p++) {
		if (*p == '\'')
			pbuf_add(b, "'\\''");
		else
			pbuf_add(b, "%c", *p);
	}
	pbuf_add(b, "'");
}

static void
user_name(uid_t uid, char *buf, size_t len)
{
	struct passwd *pw;

	pw = getpwuid(uid);
	if (pw != NULL && pw->pw_name != NULL)
		snprintf(buf, len, "%s", pw->pw_name);
	else
		snprintf(buf, len, "%lu", (unsigned long)uid);
}

static void
group_name(gid_t gid, char *buf, size_t len)
{
	struct group *gr;

	gr = getgrgid(gid);
	if (gr != NULL && gr->gr_name != NULL)
		snprintf(buf, len, "%s", gr->gr_name);
	else
		snprintf(buf, len, "%lu", (unsigned long)gid);
}

static int
already_done(struct pcheck *pc, const char *p)
{
	size_t i;

	for (i = 0; i < pc->ndone; i++)
		if (strcmp(pc->done[i], p) == 0)
			return 1;
	pc->done = xrealloc(pc->done, (pc->ndone + 1) * sizeof(char *));
	pc->done[pc->ndone++] = xstrdup(p);
	return 0;
}

static void
io_fail(struct pcheck *pc, const char *what, const char *p, int err)
{
	if (pc->io_failed++)
		return;
	diag_add(pc->d, pc->given, 0, 0, DIAG_ERROR, RULE_IO,
	    "cannot %s %s: %s", what, p, strerror(err));
}

/* Judges one file, directory or symlink.  ancestor: p is a directory above
 * the thing named, where the sticky bit protects what is in it. */
static void
judge(struct pcheck *pc, const char *p, const struct stat *sb, int ancestor)
{
	char owner[64], group[64], agent[64];
	int link = S_ISLNK(sb->st_mode);
	int bad_owner, gw, ow;
	mode_t mode = sb->st_mode & 07777;

	if (already_done(pc, p))
		return;
	bad_owner = sb->st_uid != 0 && sb->st_uid != pc->euid;
	/* A symlink's own mode bits mean nothing on Linux. */
	gw = !link && (mode & S_IWGRP) != 0;
	ow = !link && (mode & S_IWOTH) != 0;
	if (ancestor && S_ISDIR(sb->st_mode) && (mode & S_ISVTX))
		gw = ow = 0;
	if (!bad_owner && !gw && !ow)
		return;

	user_name(sb->st_uid, owner, sizeof(owner));
	group_name(sb->st_gid, group, sizeof(group));
	user_name(pc->euid, agent, sizeof(agent));
	if (pc->noffenders++ > 0) {
		pbuf_add(&pc->msg, "; ");
		pbuf_add(&pc->fix, " && ");
	}
	pbuf_add(&pc->msg, "%s%s is ", p, link ? " (a symlink)" : "");
	if (bad_owner)
		pbuf_add(&pc->msg, "owned by '%s'%s", owner,
		    gw || ow ? " and " : "");
	if (gw && ow)
		pbuf_add(&pc->msg, "writable by group '%s' and by everyone",
		    group);
	else if (gw)
		pbuf_add(&pc->msg, "writable by group '%s'", group);
	else if (ow)
		pbuf_add(&pc->msg, "writable by everyone");
	pbuf_add(&pc->msg, " (owner %s, mode %04o)", owner, (unsigned)mode);
	if (bad_owner) {
		if (pc->euid == 0)
			pbuf_add(&pc->msg, ", but must be owned by root");
		else
			pbuf_add(&pc->msg, ", but must be owned by root or "
			    "by '%s', the agent's account", agent);
		pbuf_add(&pc->fix, "chown %s%s ", link ? "-h " : "", agent);
		pbuf_add_quoted(&pc->fix, p);
		if (gw || ow)
			pbuf_add(&pc->fix, " && ");
	}
	if (gw || ow) {
		pbuf_add(&pc->fix, "chmod %s-w ", gw && ow ? "go" : gw ? "g" :
		    "o");
		pbuf_add_quoted(&pc->fix, p);
	}
}

/* Judges dir (already resolved) and every directory above it. */
static void
check_chain(struct pcheck *pc, const char *dir, int ancestor)
{
	struct stat sb;
	char *p, *slash;

	p = xstrdup(dir);
	for (;;) {
		if (stat(p, &sb) == -1) {
			io_fail(pc, "inspect", p, errno);
			goto out;
		}
		judge(pc, p, &sb, ancestor);
		ancestor = 1;
		if (strcmp(p, "/") == 0)
			break;
		slash = strrchr(p, '/');
		if (slash == NULL)
			break;
		if (slash == p)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
out:
	free(p);
}

/* Every symlink in the path as written: its owner, and the chain of the
 * directory that holds it. */
static void
check_links(struct pcheck *pc, const char *abs)
{
	struct stat sb;
	char *p, *q, *parent, *rparent;
	size_t i, len = strlen(abs);

	p = xstrdup(abs);
	for (i = 1; i <= len; i++) {
		if (i < len && abs[i] != '/')
			continue;
		if (abs[i - 1] == '/')
			continue;
		memcpy(p, abs, i);
		p[i] = '\0';
		if (lstat(p, &sb) == -1) {
			io_fail(pc, "inspect", p, errno);
			break;
		}
		if (!S_ISLNK(sb.st_mode))
			continue;
		judge(pc, p, &sb, 0);
		parent = xstrdup(p);
		q = strrchr(parent, '/');
		if (q == parent)
			q[1] = '\0';
		else
			*q = '\0';
		rparent = realpath(parent, NULL);
		if (rparent == NULL)
			io_fail(pc, "resolve", parent, errno);
		else
			check_chain(pc, rparent, 1);
		free(rparent);
		free(parent);
	}
	free(p);
}

int
perm_check(const char *path, enum diag_severity sev, struct diags *d)
{
	struct pcheck pc;
	char *resolved = NULL, *abs = NULL, cwd[PATH_MAX];
	size_t i;
	int rc = -1;

	memset(&pc, 0, sizeof(pc));
	pc.given = path;
	pc.d = d;
	pc.euid = geteuid();
	resolved = realpath(path, NULL);
	if (resolved == NULL) {
		io_fail(&pc, "resolve", path, errno);
		goto out;
	}
	check_chain(&pc, resolved, 0);
	if (path[0] == '/')
		abs = xstrdup(path);
	else if (getcwd(cwd, sizeof(cwd)) == NULL) {
		io_fail(&pc, "resolve the working directory for", path,
		    errno);
		goto out;
	} else
		abs = xasprintf("%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd,
		    path);
	check_links(&pc, abs);
	if (pc.io_failed)
		goto out;
	if (pc.noffenders > 0) {
		diag_add(d, path, 0, 0, sev, RULE_PERM, "%s%s; run: %s",
		    sev == DIAG_WARNING ? "the agent would refuse this file: " :
		    "", pc.msg.s, pc.fix.s);
		goto out;
	}
	rc = 0;
out:
	for (i = 0; i < pc.ndone; i++)
		free(pc.done[i]);
	free(pc.done);
	free(pc.msg.s);
	free(pc.fix.s);
	free(resolved);
	free(abs);
	return rc;
}
