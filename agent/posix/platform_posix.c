/* platform_posix.c - platform.h for Linux and other POSIX hosts.
 *
 * Drop-in listing follows what "*.yaml" and "*.yml" mean to a shell: names
 * that start with '.' are skipped (editor backups, ".#x.yaml" locks, a
 * package manager's ".dpkg-new" staging), suffixes are matched with their
 * case, and symlinks count by what they point to (a link to a regular file
 * is a drop-in; perm_check judges where it points).  Byte order (strcmp)
 * is the contract: locale collation would order "B.yaml" and "a.yaml"
 * differently on two hosts of one fleet. */
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/random.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "platform.h"
#include "util.h"

int
platform_path_kind(const char *path, enum platform_kind *kind)
{
	struct stat sb;

	if (stat(path, &sb) == -1) {
		/* ENOTDIR: a file where a parent directory should be; the
		 * path names nothing, which is what "missing" means here. */
		if (errno == ENOENT || errno == ENOTDIR) {
			*kind = PLATFORM_KIND_MISSING;
			return 0;
		}
		return -1;
	}
	if (S_ISREG(sb.st_mode))
		*kind = PLATFORM_KIND_FILE;
	else if (S_ISDIR(sb.st_mode))
		*kind = PLATFORM_KIND_DIR;
	else
		*kind = PLATFORM_KIND_OTHER;
	return 0;
}

static int
has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return n > s && strcmp(name + n - s, suffix) == 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
platform_list_manifests(const char *dir, char ***names, size_t *n)
{
	DIR *dp;
	struct dirent *de;
	struct stat sb;
	char **v = NULL;
	size_t nv = 0, cap = 0;
	int rc = -1, saved;

	*names = NULL;
	*n = 0;
	dp = opendir(dir);
	if (dp == NULL)
		return -1;
	for (;;) {
		errno = 0;
		de = readdir(dp);
		if (de == NULL) {
			if (errno != 0)
				goto out;
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		if (!has_suffix(de->d_name, ".yaml") &&
		    !has_suffix(de->d_name, ".yml"))
			continue;
		/* A dangling link or an entry removed meanwhile is not a
		 * drop-in; any other failure is worth reporting. */
		if (fstatat(dirfd(dp), de->d_name, &sb, 0) == -1) {
			if (errno == ENOENT)
				continue;
			goto out;
		}
		if (!S_ISREG(sb.st_mode))
			continue;
		if (nv == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[nv++] = xstrdup(de->d_name);
	}
	if (nv > 1)
		qsort(v, nv, sizeof(*v), cmp_names);
	*names = v;
	*n = nv;
	v = NULL;
	nv = 0;
	rc = 0;
out:
	saved = errno;
	platform_free_names(v, nv);
	closedir(dp);
	errno = saved;
	return rc;
}

void
platform_free_names(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

char *
platform_join(const char *dir, const char *name)
{
	size_t l = strlen(dir);

	if (l == 0)
		return xstrdup(name);
	if (dir[l - 1] == '/')
		return xasprintf("%s%s", dir, name);
	return xasprintf("%s/%s", dir, name);
}

/* A fresh 4 KiB page costs about 4 us on a paravirtualised VM (a 10,000-set
 * plan touched 7,000 of them, a third of its time); a 2 MiB huge page costs
 * little more than one.  glibc gives the heap huge pages only when asked at
 * startup (GLIBC_TUNABLES), so: grow the brk heap once by bytes, mark that
 * range MADV_HUGEPAGE, and give it back to malloc, which then carves what
 * follows from it.  Untouched pages are never resident: RSS still follows
 * use, to the next 2 MiB. */
void
platform_heap_hint(size_t bytes)
{
#if defined(__GLIBC__) && defined(MADV_HUGEPAGE) && defined(M_MMAP_THRESHOLD)
	const uintptr_t huge = 2u << 20;
	uintptr_t lo, hi;
	char *p;

	if (bytes < 2 * huge || bytes > (size_t)1 << 30)
		return;
	/* From the brk heap, not a private mapping, and kept there when
	 * freed. */
	if (mallopt(M_MMAP_THRESHOLD, 32 << 20) != 1 ||
	    /* threads (platform_parallel) allocate from it too, not from
	     * arenas of their own in small pages */
	    mallopt(M_ARENA_MAX, 1) != 1 ||
	    mallopt(M_TRIM_THRESHOLD, (int)(bytes + huge)) != 1)
		return;
	if (bytes >= 32u << 20)
		bytes = (32u << 20) - huge;
	if ((p = malloc(bytes)) == NULL)
		return;
	lo = ((uintptr_t)p + huge - 1) & ~(huge - 1);
	hi = ((uintptr_t)p + bytes) & ~(huge - 1);
	if (hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
	free(p);
#else
	(void)bytes;
#endif
}

#define PARALLEL_MAX 4

struct par {
	size_t n, grain;
	atomic_size_t next;		/* first item not yet taken */
	void (*fn)(void *, size_t, size_t);
	void *arg;
};

/* Takes slices until none is left: a slow slice (a cold directory) does
 * not hold up the others. */
static void *
par_run(void *vp)
{
	struct par *p = vp;
	size_t lo;

	while ((lo = atomic_fetch_add(&p->next, p->grain)) < p->n)
		p->fn(p->arg, lo, lo + p->grain < p->n ? lo + p->grain : p->n);
	return NULL;
}

void
platform_parallel(size_t n, size_t grain,
    void (*fn)(void *arg, size_t lo, size_t hi), void *arg)
{
	struct par p;
	pthread_t t[PARALLEL_MAX - 1];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nt = 0, want, i;

	if (grain == 0)
		grain = 1;
	want = cpus > 1 ? (size_t)cpus : 1;
	if (want > PARALLEL_MAX)
		want = PARALLEL_MAX;
	if (want > (n + grain - 1) / grain)
		want = (n + grain - 1) / grain;
	p.n = n;
	p.grain = grain;
	atomic_init(&p.next, 0);
	p.fn = fn;
	p.arg = arg;
	/* A thread that cannot be started only means fewer hands. */
	for (i = 1; i < want; i++)
		if (pthread_create(&t[nt], NULL, par_run, &p) == 0)
			nt++;
	par_run(&p);
	for (i = 0; i < nt; i++)
		pthread_join(t[i], NULL);
}

int
platform_is_sep(int c)
{
	return c == '/';
}

char *
platform_abspath(const char *path)
{
	return realpath(path, NULL);
}

/* platform_lstat's answer from lstat's (r: its return value). */
static int
from_stat(int r, const struct stat *sb, struct platform_stat *st)
{
	memset(st, 0, sizeof(*st));
	if (r == -1) {
		if (errno == ENOENT || errno == ENOTDIR) {
			st->kind = PLATFORM_KIND_MISSING;
			return 0;
		}
		return -1;
	}
	if (S_ISREG(sb->st_mode))
		st->kind = PLATFORM_KIND_FILE;
	else if (S_ISDIR(sb->st_mode))
		st->kind = PLATFORM_KIND_DIR;
	else
		st->kind = PLATFORM_KIND_OTHER;
	st->is_link = S_ISLNK(sb->st_mode);
	st->size = (uint64_t)sb->st_size;
	st->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 +
	    sb->st_mtim.tv_nsec;
	st->dev = (uint64_t)sb->st_dev;
	st->ino = (uint64_t)sb->st_ino;
	return 0;
}

static int walk_dirs(const char *path, size_t trusted_len, int create,
    int all, const char **base);

/* Observations decide "in sync" or "drift": a folder on the way that a
 * local user swapped for a symlink (to a tree that looks in sync) must
 * not be followed.  The folders are walked from "/" without following
 * links (walk_dirs); a symlink among them is an error (ELOOP), which the
 * planner takes as a file it cannot vouch for. */
int
platform_lstat(const char *path, struct platform_stat *st)
{
	struct stat sb;
	const char *base;
	int dfd, r, saved;

	if ((dfd = walk_dirs(path, 0, 0, 0, &base)) == -1)
		return from_stat(-1, &sb, st);
	r = fstatat(dfd, base, &sb, AT_SYMLINK_NOFOLLOW);
	saved = errno;
	close(dfd);
	errno = saved;
	return from_stat(r, &sb, st);
}

struct platform_statdir {
	char *dir;		/* the folder fd stands for, no trailing '/' */
	size_t len;
	int fd;			/* opened without following links, or -1 */
	char *pdir;		/* a folder below dir, opened from fd */
	size_t plen;
	int pfd;		/* pdir's handle (no link followed), or -1 */
};

struct platform_statdir *
platform_statdir_new(void)
{
	struct platform_statdir *sd = xcalloc(1, sizeof(*sd));

	sd->fd = -1;
	sd->pfd = -1;
	return sd;
}

void
platform_statdir_free(struct platform_statdir *sd)
{
	if (sd == NULL)
		return;
	if (sd->fd != -1)
		close(sd->fd);
	if (sd->pfd != -1)
		close(sd->pfd);
	free(sd->dir);
	free(sd->pdir);
	free(sd);
}

static int
under(const struct platform_statdir *sd, const char *path)
{
	return sd->dir != NULL && strncmp(path, sd->dir, sd->len) == 0 &&
	    path[sd->len] == '/' && path[sd->len + 1] != '\0';
}

/* Keeps a handle on the grandparent of path: for <dest>/<set>/<file>,
 * the folder the sets' destinations lie in.  None for a relative path or
 * one too short to gain from it. */
static void
statdir_take(struct platform_statdir *sd, const char *path)
{
	const char *last = strrchr(path, '/'), *cut = last;

	const char *unused;

	if (sd->fd != -1)
		close(sd->fd);
	if (sd->pfd != -1)
		close(sd->pfd);
	free(sd->dir);
	free(sd->pdir);
	sd->dir = sd->pdir = NULL;
	sd->fd = sd->pfd = -1;
	if (path[0] != '/' || last == NULL)
		return;
	while (cut > path && *--cut != '/')
		;
	if (cut <= path)
		return;
	sd->len = (size_t)(cut - path);
	sd->dir = xstrndup(path, sd->len);
	/* Walked as platform_lstat walks: no symlink on the way. */
	sd->fd = walk_dirs(sd->dir, 0, 0, 1, &unused);
}

/* The handle of path's folder when it lies one level below sd's folder
 * (<dest>/<set>/<file>: <set>), opened from sd's handle with O_NOFOLLOW
 * and kept for the next files of that folder; -1 with errno otherwise. */
static int
statdir_parent(struct platform_statdir *sd, const char *path,
    const char **base)
{
	const char *rest = path + sd->len + 1, *slash = strchr(rest, '/');
	char *name;
	int fd;

	if (slash == NULL || slash[1] == '\0' || strchr(slash + 1, '/')) {
		errno = EXDEV;		/* not one level below: walk whole */
		return -1;
	}
	*base = slash + 1;
	if (sd->pdir != NULL && sd->plen == (size_t)(slash - path) &&
	    strncmp(sd->pdir, path, sd->plen) == 0) {
		errno = sd->pfd == -1 ? ENOENT : 0;
		return sd->pfd;
	}
	if (sd->pfd != -1)
		close(sd->pfd);
	free(sd->pdir);
	sd->plen = (size_t)(slash - path);
	sd->pdir = xstrndup(path, sd->plen);
	name = xstrndup(rest, (size_t)(slash - rest));
	fd = openat(sd->fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	/* Linux answers ENOTDIR for a symlink under O_DIRECTORY: say what
	 * it is, as walk_dirs does. */
	if (fd == -1 && errno == ENOTDIR) {
		struct stat sb;

		if (fstatat(sd->fd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(sb.st_mode))
			errno = ELOOP;
		else
			errno = ENOTDIR;
	}
	free(name);
	sd->pfd = fd;
	if (fd == -1 && errno != ENOENT && errno != ENOTDIR) {
		/* Not remembered: an error is looked at again. */
		free(sd->pdir);
		sd->pdir = NULL;
	}
	return fd;
}

int
platform_lstat_in(struct platform_statdir *sd, const char *path,
    struct platform_stat *st)
{
	struct stat sb;
	const char *base;
	int pfd;

	if (sd == NULL)
		return platform_lstat(path, st);
	/* A folder that cannot be opened (not there yet) is remembered as
	 * such: the paths under it are looked up whole, without trying
	 * again for each. */
	if (!under(sd, path))
		statdir_take(sd, path);
	if (sd->fd == -1 || !under(sd, path))
		return platform_lstat(path, st);
	if ((pfd = statdir_parent(sd, path, &base)) == -1) {
		if (errno == EXDEV)
			return platform_lstat(path, st);
		return from_stat(-1, &sb, st);
	}
	return from_stat(fstatat(pfd, base, &sb, AT_SYMLINK_NOFOLLOW), &sb,
	    st);
}

/* Opens the folder that holds the last component of path and sets *base
 * to that component.  The first trusted_len bytes of path (rounded down to
 * a whole component; "/" or "." at least) are the administrator's and
 * opened as named; every folder below is opened from its parent's handle
 * with O_NOFOLLOW, so a symlink a local user swaps into the path (a folder
 * of theirs on the way) cannot redirect what is done through the handle:
 * ELOOP names it.  With create, missing folders are made with mkdirat
 * (the parent's mode without group or other write, 0755 at most) and
 * the parent fsync'd, so a folder that holds committed files survives a
 * crash.
 * With all, path itself is a folder to walk (no base). */
static int
walk_dirs(const char *path, size_t trusted_len, int create, int all,
    const char **base)
{
	const char *p = path, *next, *end = path + strlen(path);
	char comp[NAME_MAX + 1];
	struct stat sb;
	size_t len;
	int dfd, nfd, saved;

	if (!all) {
		/* the parent: up to the last '/' */
		while (end > path && end[-1] == '/')
			end--;
		while (end > path && end[-1] != '/')
			end--;
		*base = end;
		if (*end == '\0') {
			errno = EINVAL;
			return -1;
		}
	}
	if (path[0] == '/') {
		size_t t = trusted_len;

		if (t > (size_t)(end - path))
			t = (size_t)(end - path);
		while (t > 1 && path[t] != '/' && path[t] != '\0')
			t--;
		dfd = -1;
		if (t > 1) {
			char *root = xstrndup(path, t);

			dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			free(root);
			p = path + t;
		}
		/* No trusted part, or a root not made yet: from "/", where
		 * it is created like any other folder. */
		if (dfd == -1 && (t <= 1 || (errno == ENOENT && create))) {
			dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			p = path;
		}
	} else
		dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1)
		return -1;
	while (p < end) {
		while (p < end && *p == '/')
			p++;
		if (p >= end)
			break;
		for (next = p; next < end && *next != '/'; next++)
			;
		len = (size_t)(next - p);
		if (len > NAME_MAX) {
			errno = ENAMETOOLONG;
			goto fail;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		nfd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (nfd == -1 && errno == ENOENT && create) {
			if (fstat(dfd, &sb) == -1)
				goto fail;
			/* At most 0755, narrower with a narrower parent:
			 * root's folder under a user's 0777 (or 1777)
			 * folder, or from a umask-0 shell, must not be one
			 * others can change (a sticky bit would not be
			 * copied either). */
			if (mkdirat(dfd, comp, sb.st_mode & 0755) == -1 &&
			    errno != EEXIST)
				goto fail;
			/* The new entry lasts only once its folder is on
			 * disk. */
			if (fsync(dfd) == -1)
				goto fail;
			nfd = openat(dfd, comp, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
		}
		if (nfd == -1) {
			/* Linux answers ENOTDIR for a symlink under
			 * O_DIRECTORY: say what it is. */
			if (errno == ENOTDIR && fstatat(dfd, comp, &sb,
			    AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode))
				errno = ELOOP;
			goto fail;
		}
		close(dfd);
		dfd = nfd;
		p = next;
	}
	return dfd;
fail:
	saved = errno;
	close(dfd);
	errno = saved;
	return -1;
}

/* The checks of a file opened with O_NONBLOCK: a FIFO, device or socket
 * planted where a file should be is refused (EINVAL) instead of read,
 * and the descriptor blocks again as a file's does. */
static int
regular_fd(int fd)
{
	struct stat sb;
	int fl;

	if (fstat(fd, &sb) == -1)
		return -1;
	if (!S_ISREG(sb.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1)
		return -1;
	return 0;
}

int
platform_open_nofollow(const char *path)
{
	const char *base;
	int dfd, fd, saved;

	if ((dfd = walk_dirs(path, 0, 0, 0, &base)) == -1)
		return -1;
	fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC);
	saved = errno;
	close(dfd);
	if (fd != -1 && regular_fd(fd) == -1) {
		saved = errno;
		close(fd);
		fd = -1;
	}
	errno = saved;
	return fd;
}

int
platform_remove_placed(const char *path, const struct platform_stat *want)
{
	const char *base;
	struct stat sb;
	int dfd, rc = -1, saved = 0;

	if ((dfd = walk_dirs(path, 0, 0, 0, &base)) == -1)
		return errno == ENOENT ? 0 : -1;
	/* Checked and removed through the same handle: nothing swapped into
	 * the path after the walk can make the unlink land elsewhere. */
	if (fstatat(dfd, base, &sb, AT_SYMLINK_NOFOLLOW) == -1) {
		saved = errno;
		rc = saved == ENOENT ? 0 : -1;
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != want->size ||
	    (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec !=
	    want->mtime_ns || (want->dev != 0 && want->ino != 0 &&
	    ((uint64_t)sb.st_dev != want->dev ||
	    (uint64_t)sb.st_ino != want->ino))) {
		rc = 1;
		goto out;
	}
	if (unlinkat(dfd, base, 0) == -1) {
		saved = errno;
		rc = saved == ENOENT ? 0 : -1;
		goto out;
	}
	/* The removal lasts once the folder is on disk. */
	(void)fsync(dfd);
	rc = 0;
out:
	close(dfd);
	errno = saved;
	return rc;
}

int
platform_mkdir_private(const char *dir)
{
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

const char *
platform_last_why(void)
{
	return NULL;	/* the errno and the callers' sentences say it all */
}

int
platform_make_dirs(const char *dir, size_t trusted_len)
{
	int fd;

	if ((fd = walk_dirs(dir, trusted_len, 1, 1, NULL)) == -1)
		return -1;
	close(fd);
	return 0;
}

int
platform_create_private(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd == -1)
		return -1;
	close(fd);
	return 0;
}

/* What SQLite keeps beside a database; "" is the database itself. */
static const char *const db_companions[] = { "", "-wal", "-shm",
    "-journal" };

/* Checks one file of a database (created when create is set); 1 when it
 * is absent (and may be), 0 when it is fine, -1 with *why. */
static int
db_file_private(const char *p, int create, char **why)
{
	struct stat sb;
	int fd, rc = -1;

	/* O_NONBLOCK: a FIFO planted there must not hang the agent. */
	fd = open(p, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
	    (create ? O_CREAT : 0), 0600);
	if (fd == -1) {
		if (errno == ENOENT && !create)
			return 1;
		if (errno == ELOOP)
			*why = xasprintf("%s is a symbolic link: bitsync keeps "
			    "its stores only in plain files of its own; "
			    "remove the link", p);
		else if (errno == EISDIR || errno == ENXIO)
			*why = xasprintf("%s is not a regular file: remove it",
			    p);
		else
			*why = xasprintf("%s: %s", p, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1) {
		*why = xasprintf("%s: %s", p, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		*why = xasprintf("%s is not a regular file: remove it", p);
		goto out;
	}
	if (sb.st_uid != geteuid()) {
		*why = xasprintf("%s belongs to uid %lu, not to bitsync's "
		    "account (uid %lu): it was not made by bitsync; remove it "
		    "(bitsync starts a new store) or, if it is bitsync's own, "
		    "chown it to uid %lu", p, (unsigned long)sb.st_uid,
		    (unsigned long)geteuid(), (unsigned long)geteuid());
		goto out;
	}
	if ((sb.st_mode & 077) != 0 && fchmod(fd, sb.st_mode & 0700) == -1) {
		*why = xasprintf("%s: cannot make it private (mode 0600): %s",
		    p, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

int
platform_db_private(const char *path, char **why)
{
	size_t k;
	char *p;
	int rc = 0;

	*why = NULL;
	for (k = 0; k < sizeof(db_companions) / sizeof(*db_companions) &&
	    rc == 0; k++) {
		p = xasprintf("%s%s", path, db_companions[k]);
		if (db_file_private(p, k == 0, why) == -1)
			rc = -1;
		free(p);
	}
	return rc;
}

int
platform_write_private(const char *path, const void *data, size_t len)
{
	int fd, rc = -1;

	/* O_NONBLOCK: a FIFO at path would block the open; refused next. */
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK | O_NOCTTY, 0600);
	if (fd == -1)
		return -1;
	if (regular_fd(fd) == -1 || ftruncate(fd, 0) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	if (len == 0 || write(fd, data, len) == (ssize_t)len)
		rc = 0;
	if (close(fd) == -1)
		rc = -1;
	return rc;
}

FILE *
platform_replace_open(const char *path, char **tmp)
{
	FILE *f;
	int fd, saved;

	uint32_t r;
	int i;

	/* An unguessable name beside path, created exclusively: a FIFO,
	 * link or file planted at a predictable name (the folder of a
	 * textfile collector is often a service user's) can neither block
	 * the daemon nor take the write.  O_EXCL never follows a link nor
	 * opens what exists; O_NONBLOCK is belt and braces. */
	*tmp = NULL;
	fd = -1;
	for (i = 0; i < 16 && fd == -1; i++) {
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			goto fail;
		free(*tmp);
		*tmp = xasprintf("%s.%08x.tmp", path, r);
		fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0644);
		if (fd == -1 && errno != EEXIST)
			goto fail;
	}
	if (fd == -1 || regular_fd(fd) == -1) {
		saved = errno;
		if (fd != -1) {
			close(fd);
			unlink(*tmp);
		}
		errno = saved;
		goto fail;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		saved = errno;
		close(fd);
		unlink(*tmp);
		errno = saved;
		goto fail;
	}
	return f;
fail:
	saved = errno;
	free(*tmp);
	*tmp = NULL;
	errno = saved;
	return NULL;
}

int
platform_replace_commit(FILE *f, char *tmp, const char *path)
{
	int rc = -1, saved = 0;

	if (fflush(f) == EOF || ferror(f) || fsync(fileno(f)) == -1)
		saved = errno ? errno : EIO;
	if (fclose(f) == EOF && saved == 0)
		saved = errno;
	if (saved == 0 && rename(tmp, path) == -1)
		saved = errno;
	if (saved != 0)
		unlink(tmp);
	else
		rc = 0;
	free(tmp);
	errno = saved;
	return rc;
}

void
platform_replace_abort(FILE *f, char *tmp)
{
	int saved = errno;

	fclose(f);
	unlink(tmp);
	free(tmp);
	errno = saved;
}

void
platform_hostname(char *buf, size_t len)
{
	if (len == 0)
		return;
	if (gethostname(buf, len - 1) == -1)
		buf[0] = '\0';
	buf[len - 1] = '\0';
}

int
platform_pid_alive(long pid)
{
	if (pid <= 0 || pid > INT_MAX)
		return 0;
	return !(kill((pid_t)pid, 0) == -1 && errno == ESRCH);
}

struct platform_lock {
	int fd;
};

int
platform_lock(const char *dir, const char *name, struct platform_lock **out)
{
	char *path = platform_join(dir, name);
	int fd, rc = -1;

	*out = NULL;
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		goto done;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		rc = errno == EWOULDBLOCK ? 1 : -1;
		close(fd);
		goto done;
	}
	*out = xmalloc(sizeof(**out));
	(*out)->fd = fd;
	rc = 0;
done:
	free(path);
	return rc;
}

void
platform_unlock(struct platform_lock *l)
{
	if (l == NULL)
		return;
	close(l->fd);
	free(l);
}

void
platform_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void (*stop_fn)(void);

static void
on_stop_signal(int sig)
{
	(void)sig;
	if (stop_fn != NULL)
		stop_fn();
}

void
platform_on_stop(void (*fn)(void))
{
	struct sigaction sa;

	stop_fn = fn;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn != NULL ? on_stop_signal : SIG_DFL;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

struct platform_wake {
	int fd[2];
};

struct platform_wake *
platform_wake_new(void)
{
	struct platform_wake *w = xmalloc(sizeof(*w));

	if (pipe2(w->fd, O_CLOEXEC | O_NONBLOCK) == -1) {
		free(w);
		return NULL;
	}
	return w;
}

/* Only a write(2): safe from threads and signal handlers. */
void
platform_wake_post(struct platform_wake *w)
{
	char b = 1;

	if (w != NULL && write(w->fd[1], &b, 1) == -1) {
		/* full pipe: a wake-up is already pending */
	}
}

int
platform_wake_wait(struct platform_wake *w, int ms)
{
	struct pollfd pfd = { w->fd[0], POLLIN, 0 };
	char buf[64];

	if (poll(&pfd, 1, ms) <= 0)
		return 0;
	while (read(w->fd[0], buf, sizeof(buf)) > 0)
		;
	return 1;
}

void
platform_wake_free(struct platform_wake *w)
{
	if (w == NULL)
		return;
	close(w->fd[0]);
	close(w->fd[1]);
	free(w);
}

void
platform_trim_heap(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

void
platform_event(enum platform_event ev, const char *text)
{
	/* The caller's log line on stderr is the record here. */
	(void)ev;
	(void)text;
}

int
platform_control_connect(const char *state_dir)
{
	struct sockaddr_un sa;
	char *path = xasprintf("%s/control.sock", state_dir);
	int fd = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) < sizeof(sa.sun_path)) {
		memcpy(sa.sun_path, path, strlen(path));
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) !=
		    -1 && connect(fd, (struct sockaddr *)&sa,
		    sizeof(sa)) == -1) {
			close(fd);
			fd = -1;
		}
	}
	free(path);
	return fd;
}

int
platform_drive_fixed(char d, const char **kind)
{
	(void)d;
	*kind = "not a drive";
	return -1;
}

int
platform_network_anonymous(void)
{
	return 0;
}

const void *
platform_map_file(const char *path, size_t max, size_t *len)
{
	struct stat st;
	void *p = NULL;
	int fd;

	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (uint64_t)st.st_size <= (uint64_t)max) {
		p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd,
		    0);
		if (p == MAP_FAILED)
			p = NULL;
		else
			*len = (size_t)st.st_size;
	}
	close(fd);
	return p;
}

void
platform_unmap_file(const void *p, size_t len)
{
	if (p != NULL)
		munmap((void *)p, len);
}

int
platform_self_id(char *buf, size_t len)
{
	struct stat st;
	int n;

	/* /proc/self/exe follows to the file the kernel ran, even when its
	 * name was replaced since (a package upgrade under a running
	 * daemon): then the id is of the old build, as it should be. */
	if (stat("/proc/self/exe", &st) != 0)
		return -1;
	n = snprintf(buf, len, "%llu:%llu:%lld:%lld.%09ld",
	    (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
	    (long long)st.st_size, (long long)st.st_mtim.tv_sec,
	    (long)st.st_mtim.tv_nsec);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

FILE *
platform_scratch(const char *dir)
{
	FILE *f = NULL;
	char *path = NULL;
	int fd;

	/* An unnamed file where the filesystem has them (Linux 3.11+). */
	if ((fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) == -1) {
		path = xasprintf("%s/.control-XXXXXX", dir);
		if ((fd = mkostemp(path, O_CLOEXEC)) == -1)
			goto done;
		unlink(path);
	}
	if ((f = fdopen(fd, "w+b")) == NULL)
		close(fd);
done:
	free(path);
	return f;
}
