/* powerloss.c - an LD_PRELOAD shim for tests/crash/test_crash.py that
 * records which bytes of the engine's temp files (.BIT*.tmp) reached the
 * disk, so the test can play a power loss after a kill -9: what was
 * written since a file's last fsync is lost (the file goes back to the
 * size it had when it was last synced), what was synced stays.
 *
 * Lines appended to $BITSYNC_POWERLOSS_LOG (one write(2) each, O_APPEND):
 *   D PATH        the first write (or truncate) since PATH was last synced
 *   S PATH SIZE   fsync/fdatasync of PATH, which then held SIZE bytes
 *   A             syncfs: every file counts as synced (one filesystem here)
 * Only the temp files are tracked; the SQLite stores sync themselves. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAXFD 4096

/* Per descriptor: 0 not looked at, 1 a clean temp, 2 a dirty temp,
 * 3 something else.  Reset on close. */
static _Atomic unsigned char kind[MAXFD];

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static int (*real_ftruncate)(int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_syncfs)(int);
static int (*real_close)(int);

static void
init(void)
{
	if (real_write != NULL)
		return;
	real_pwrite = (ssize_t (*)(int, const void *, size_t, off_t))
	    dlsym(RTLD_NEXT, "pwrite64");
	real_writev = (ssize_t (*)(int, const struct iovec *, int))
	    dlsym(RTLD_NEXT, "writev");
	real_ftruncate = (int (*)(int, off_t))dlsym(RTLD_NEXT, "ftruncate64");
	real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	real_syncfs = (int (*)(int))dlsym(RTLD_NEXT, "syncfs");
	real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
	real_write = (ssize_t (*)(int, const void *, size_t))
	    dlsym(RTLD_NEXT, "write");
}

static void record(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
record(const char *fmt, ...)
{
	const char *log = getenv("BITSYNC_POWERLOSS_LOG");
	char line[4200];
	va_list ap;
	int fd, n;

	if (log == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n <= 0 || (size_t)n >= sizeof(line))
		return;
	if ((fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600)) < 0)
		return;
	real_write(fd, line, (size_t)n);
	real_close(fd);
}

static int
fd_path(int fd, char *buf, size_t len)
{
	char proc[64];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if ((n = readlink(proc, buf, len - 1)) <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* The engine's temp names: ".BIT" + hex + ".tmp" (a tag of the state
 * directory and a random part, localfile.c). */
static int
temp_name(const char *p)
{
	const char *b = strrchr(p, '/');

	return b != NULL && strncmp(b + 1, ".BIT", 4) == 0 &&
	    strlen(b + 1) > 8 && strcmp(b + 1 + strlen(b + 1) - 4, ".tmp") == 0;
}

static int
is_temp(int fd)
{
	char p[4096];
	unsigned char k;

	if (fd < 0 || fd >= MAXFD)
		return 0;
	/* Only temps are remembered (until close): a descriptor closed
	 * where this shim does not see it (closedir of an fdopendir'd dup)
	 * would leave a stale "not a temp" on the number the next temp
	 * gets, and its writes would go unseen. */
	if ((k = atomic_load(&kind[fd])) == 1 || k == 2)
		return 1;
	if (fd_path(fd, p, sizeof(p)) != 0 || !temp_name(p))
		return 0;
	atomic_store(&kind[fd], 1);
	return 1;
}

static void
dirtied(int fd)
{
	unsigned char clean = 1;
	char p[4096];

	if (!is_temp(fd))
		return;
	/* The name again: a remembered temp may be a stale number too. */
	if (atomic_compare_exchange_strong(&kind[fd], &clean, 2) &&
	    fd_path(fd, p, sizeof(p)) == 0 && temp_name(p))
		record("D %s\n", p);
}

static void
synced(int fd)
{
	struct stat sb;
	char p[4096];

	if (!is_temp(fd) || fstat(fd, &sb) != 0 ||
	    fd_path(fd, p, sizeof(p)) != 0)
		return;
	record("S %s %lld\n", p, (long long)sb.st_size);
	atomic_store(&kind[fd], 1);
}

ssize_t
write(int fd, const void *buf, size_t n)
{
	init();
	dirtied(fd);
	return real_write(fd, buf, n);
}

ssize_t
pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	init();
	dirtied(fd);
	return real_pwrite(fd, buf, n, off);
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return pwrite64(fd, buf, n, off);
}

ssize_t
writev(int fd, const struct iovec *iov, int n)
{
	init();
	dirtied(fd);
	return real_writev(fd, iov, n);
}

int
ftruncate64(int fd, off_t len)
{
	init();
	dirtied(fd);
	return real_ftruncate(fd, len);
}

int
ftruncate(int fd, off_t len)
{
	return ftruncate64(fd, len);
}

int
fsync(int fd)
{
	int r;

	init();
	if ((r = real_fsync(fd)) == 0)
		synced(fd);
	return r;
}

int
fdatasync(int fd)
{
	int r;

	init();
	if ((r = real_fdatasync(fd)) == 0)
		synced(fd);
	return r;
}

int
syncfs(int fd)
{
	int r;

	init();
	if ((r = real_syncfs(fd)) == 0) {
		for (int k = 0; k < MAXFD; k++)
			if (atomic_load(&kind[k]) == 2)
				synced(k);
		record("A\n");
	}
	return r;
}

int
close(int fd)
{
	init();
	if (fd >= 0 && fd < MAXFD)
		atomic_store(&kind[fd], 0);
	return real_close(fd);
}
