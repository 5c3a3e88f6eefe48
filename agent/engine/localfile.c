/* localfile.c - the destination side: directories opened one component at
 * a time with O_NOFOLLOW, so a symlink planted anywhere in a destination
 * path stops the transfer instead of redirecting a privileged write
 * (design §7); temp files created with O_EXCL in the destination directory,
 * so the final rename stays inside one filesystem and is atomic. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/random.h>
#include <unistd.h>

#include "engine_int.h"

int
lf_open_dir(const char *local, int *dfdp, const char **base)
{
	const char *p, *slash, *last;
	char comp[256];
	int dfd = -1, nfd, err = 0;
	size_t len;

	if (local[0] != '/' || (last = strrchr(local, '/')) == NULL ||
	    last[1] == '\0')
		return EINVAL;
	if ((dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errno;
	for (p = local + 1; p < last; p = slash + 1) {
		slash = strchr(p, '/');
		len = (size_t)(slash - p);
		if (len == 0)
			continue;
		if (len >= sizeof(comp)) {
			err = ENAMETOOLONG;
			goto out;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		if (strcmp(comp, "..") == 0 || strcmp(comp, ".") == 0) {
			err = EINVAL;
			goto out;
		}
		nfd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (nfd < 0) {
			err = errno;
			goto out;
		}
		close(dfd);
		dfd = nfd;
	}
	*base = last + 1;
	*dfdp = dfd;
	dfd = -1;
out:
	if (dfd >= 0)
		close(dfd);
	return err;
}

int
lf_dir_cached(struct lf_dircache *c, const char *local, int *dfd,
    const char **base, int *fresh)
{
	const char *slash = strrchr(local, '/');
	size_t len;
	int err;

	*fresh = 0;
	if (slash == NULL)
		return EINVAL;
	len = (size_t)(slash - local);
	if (c->fd >= 0 && strlen(c->dir) == len &&
	    strncmp(c->dir, local, len) == 0) {
		*dfd = c->fd;
		*base = slash + 1;
		return 0;
	}
	lf_dir_forget(c);
	if ((err = lf_open_dir(local, dfd, base)) != 0)
		return err;
	if ((c->dir = strndup(local, len)) == NULL) {
		close(*dfd);
		return ENOMEM;
	}
	c->fd = *dfd;
	*fresh = 1;
	return 0;
}

void
lf_dir_forget(struct lf_dircache *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->dir);
	c->dir = NULL;
	c->fd = -1;
}

/* BITS names its temp files BIT<hex>.tmp, hidden; the leading dot hides
 * ours the POSIX way. */
int
lf_temp_create(int dfd, char **name, int *fd)
{
	uint32_t r;
	char buf[32];
	int i, f, err = EEXIST;

	for (i = 0; i < 16; i++) {
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			return errno;
		snprintf(buf, sizeof(buf), ".BIT%08X.tmp", r);
		f = openat(dfd, buf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0644);
		if (f >= 0) {
			if ((*name = strdup(buf)) == NULL) {
				unlinkat(dfd, buf, 0);
				close(f);
				return ENOMEM;
			}
			*fd = f;
			return 0;
		}
		if ((err = errno) != EEXIST)
			break;
	}
	return err;
}

/* Reopens a temp file a previous run created; a temp that vanished is
 * created again under its recorded name, still exclusively. */
int
lf_temp_open(int dfd, const char *name, int *fd)
{
	int f;

	f = openat(dfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (f < 0 && errno == ENOENT)
		f = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0644);
	if (f < 0)
		return errno;
	*fd = f;
	return 0;
}

/* setfsuid/setfsgid change only the calling thread's identity for file
 * access (the kernel keeps them per thread), which is what a helper token's
 * BG_TOKEN_LOCAL_FILE means.  Limits: supplementary groups stay the
 * agent's (glibc's setgroups changes every thread), and only a process
 * with CAP_SETUID/CAP_SETGID (root) can switch at all. */
int
lf_ident_enter(const struct lf_ident *id, struct lf_ident *saved)
{
	memset(saved, 0, sizeof(*saved));
	if (!id->set)
		return 0;
	saved->set = 1;
	saved->gid = (gid_t)setfsgid(id->gid);
	saved->uid = (uid_t)setfsuid(id->uid);
	/* setfsuid reports failure only by not changing: ask again. */
	if ((uid_t)setfsuid(id->uid) != id->uid ||
	    (gid_t)setfsgid(id->gid) != id->gid) {
		lf_ident_leave(saved);
		saved->set = 0;
		return EPERM;
	}
	return 0;
}

void
lf_ident_leave(const struct lf_ident *saved)
{
	if (!saved->set)
		return;
	setfsuid(saved->uid);
	setfsgid(saved->gid);
}

int
lf_ident_for_user(const char *user, struct lf_ident *id)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	const char *bs = strrchr(user, '\\');

	/* DOMAIN\user names the local account "user". */
	if (bs != NULL)
		user = bs + 1;
	if (getpwnam_r(user, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)
		return ENOENT;
	id->set = 1;
	id->uid = pw.pw_uid;
	id->gid = pw.pw_gid;
	return 0;
}

/* errno -> the HRESULT Windows would report for the same local failure. */
int32_t
lf_hresult(int err)
{
	switch (err) {
	case ENOSPC:
	case EDQUOT:
		return HR_DISK_FULL;
	case EACCES:
	case EPERM:
	case EROFS:
		return HR_ACCESS_DENIED;
	case ENOENT:
	case ENOTDIR:
		return HR_PATH_NOT_FOUND;
	case ELOOP:
		return HR_CANT_ACCESS_FILE;
	default:
		return HR_GEN_FAILURE;
	}
}
