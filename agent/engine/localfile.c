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
#include <sys/stat.h>
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
			struct stat sb;

			err = errno;
			/* Linux says ENOTDIR for a symlink under O_DIRECTORY:
			 * name it what it is, so the message can. */
			if (err == ENOTDIR && fstatat(dfd, comp, &sb,
			    AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode))
				err = ELOOP;
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
 * ours the POSIX way.  The first eight hex digits are the store's tag
 * (lf_temp_tag), so a sweep of leftovers removes only this store's temps,
 * never another instance's sharing the folder; the last eight are random,
 * so the name cannot be guessed and planted in advance. */
int
lf_temp_create(int dfd, uint32_t tag, char **name, int *fd)
{
	uint32_t r;
	char buf[32];
	int i, f, err = EEXIST;

	for (i = 0; i < 16; i++) {
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			return errno;
		snprintf(buf, sizeof(buf), ".BIT%08X%08X.tmp", tag, r);
		f = openat(dfd, buf, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
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

uint32_t
lf_temp_tag(const char *state_dir)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	const unsigned char *p;

	for (p = (const unsigned char *)state_dir; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

/* Whether fd is still the temp file this agent created: a regular file
 * with no other name (a hard link planted at the temp name would make
 * the retry write into another file), owned by the identity we write
 * as.  The kernel keeps the fs uid per thread; setfsuid(-1) fails and
 * reports it without changing it. */
int
lf_temp_check(int fd, uint64_t dev, uint64_t ino)
{
	struct stat sb;
	uid_t me = (uid_t)setfsuid((uid_t)-1);

	if (fstat(fd, &sb) != 0)
		return errno;
	if (!S_ISREG(sb.st_mode))
		return EINVAL;
	if (sb.st_nlink != 1 || sb.st_uid != me)
		return EMLINK;
	/* Another file of ours moved onto the name (a user owning the
	 * folder can rename what is in it) is not this temp either. */
	if (dev != 0 && ino != 0 && ((uint64_t)sb.st_dev != dev ||
	    (uint64_t)sb.st_ino != ino))
		return ESTALE;
	return 0;
}

/* Reopens a temp file a previous run created.  The name lies in a folder
 * others may write to (a destination folder owned by a user), so what is
 * there now is checked before a byte is written: no link is followed,
 * nothing blocks (a FIFO planted there must not hang the worker), and it
 * must pass lf_temp_check.  Anything else is left alone (it is not ours
 * to delete) and LF_TEMP_STALE tells the caller to start a fresh
 * exclusive temp under a new name.  A temp that vanished is created again
 * under its recorded name, still exclusively. */
int
lf_temp_open(int dfd, const char *name, uint64_t dev, uint64_t ino,
    int *fd)
{
	int f, err, fl;

	f = openat(dfd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC);
	if (f < 0 && errno == ENOENT) {
		f = openat(dfd, name, O_RDWR | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
		dev = ino = 0;		/* a new file: nothing to compare */
	}
	if (f < 0) {
		err = errno;
		/* ELOOP: a symlink; ENXIO: a FIFO without reader; EISDIR,
		 * EWOULDBLOCK...: anything but our file. */
		return err == EACCES || err == ENOSPC || err == EDQUOT ||
		    err == EROFS || err == ENOTDIR ? err : LF_TEMP_STALE;
	}
	if ((err = lf_temp_check(f, dev, ino)) != 0) {
		close(f);
		return LF_TEMP_STALE;
	}
	/* A regular file: writes go on as before, blocking. */
	if ((fl = fcntl(f, F_GETFL)) == -1 ||
	    fcntl(f, F_SETFL, fl & ~O_NONBLOCK) == -1) {
		err = errno;
		close(f);
		return err;
	}
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
