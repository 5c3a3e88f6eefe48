/* platform_win.c - platform.h for Windows: file kinds, the drop-in listing
 * and path joining, with UTF-8 paths converted to UTF-16 for the W APIs. */
/* rand_s: the temp names of platform_replace_open. */
#define _CRT_RAND_S
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bitsync_msg.h"
#include "platform.h"
#include "util.h"
#include "win/wincheck.h"
#include "win/winutil.h"

static void
set_errno_from(DWORD e)
{
	switch (e) {
	case ERROR_FILE_NOT_FOUND:
	case ERROR_PATH_NOT_FOUND:
	case ERROR_INVALID_NAME:
	case ERROR_BAD_NETPATH:
	case ERROR_BAD_NET_NAME:
		errno = ENOENT;
		break;
	case ERROR_ACCESS_DENIED:
	case ERROR_SHARING_VIOLATION:
		errno = EACCES;
		break;
	case ERROR_DIRECTORY:
		errno = ENOTDIR;
		break;
	case ERROR_NOT_ENOUGH_MEMORY:
	case ERROR_OUTOFMEMORY:
		errno = ENOMEM;
		break;
	default:
		errno = EIO;
	}
}

int
platform_path_kind(const char *path, enum platform_kind *kind)
{
	wchar_t *w = win_widen(path);
	WIN32_FILE_ATTRIBUTE_DATA a;
	DWORD e;

	if (w == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (!GetFileAttributesExW(w, GetFileExInfoStandard, &a)) {
		e = GetLastError();
		free(w);
		if (e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND) {
			*kind = PLATFORM_KIND_MISSING;
			return 0;
		}
		set_errno_from(e);
		return -1;
	}
	/* A reparse point (symlink, junction) is followed: open it and ask
	 * what it leads to, as stat() does on POSIX. */
	if (a.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) {
		BY_HANDLE_FILE_INFORMATION bi;
		HANDLE h = CreateFileW(w, 0, FILE_SHARE_READ |
		    FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_EXISTING,
		    FILE_FLAG_BACKUP_SEMANTICS, NULL);

		if (h == INVALID_HANDLE_VALUE) {
			e = GetLastError();
			free(w);
			if (e == ERROR_FILE_NOT_FOUND ||
			    e == ERROR_PATH_NOT_FOUND) {
				*kind = PLATFORM_KIND_MISSING;
				return 0;
			}
			set_errno_from(e);
			return -1;
		}
		if (!GetFileInformationByHandle(h, &bi)) {
			set_errno_from(GetLastError());
			CloseHandle(h);
			free(w);
			return -1;
		}
		CloseHandle(h);
		a.dwFileAttributes = bi.dwFileAttributes;
	}
	free(w);
	if (a.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)
		*kind = PLATFORM_KIND_DIR;
	else if (a.dwFileAttributes & FILE_ATTRIBUTE_DEVICE)
		*kind = PLATFORM_KIND_OTHER;
	else
		*kind = PLATFORM_KIND_FILE;
	return 0;
}

static int
has_manifest_suffix(const char *name)
{
	size_t n = strlen(name);

	/* Windows file names are case-insensitive, so are the suffixes. */
	return (n > 5 && _stricmp(name + n - 5, ".yaml") == 0) ||
	    (n > 4 && _stricmp(name + n - 4, ".yml") == 0);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
platform_list_manifests(const char *dir, char ***names, size_t *n)
{
	char *pattern = platform_join(dir, "*");
	wchar_t *w = win_widen(pattern);
	WIN32_FIND_DATAW fd;
	HANDLE h;
	char **v = NULL;
	size_t k = 0, cap = 0;
	DWORD e;

	free(pattern);
	*names = NULL;
	*n = 0;
	if (w == NULL) {
		errno = EINVAL;
		return -1;
	}
	h = FindFirstFileW(w, &fd);
	free(w);
	if (h == INVALID_HANDLE_VALUE) {
		e = GetLastError();
		if (e == ERROR_FILE_NOT_FOUND)	/* an empty directory */
			return 0;
		set_errno_from(e);
		return -1;
	}
	do {
		char *name;

		if (fd.dwFileAttributes & (FILE_ATTRIBUTE_DIRECTORY |
		    FILE_ATTRIBUTE_DEVICE))
			continue;
		name = win_narrow(fd.cFileName);
		if (!has_manifest_suffix(name)) {
			free(name);
			continue;
		}
		if (k == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[k++] = name;
	} while (FindNextFileW(h, &fd));
	e = GetLastError();
	FindClose(h);
	if (e != ERROR_NO_MORE_FILES) {
		platform_free_names(v, k);
		set_errno_from(e);
		return -1;
	}
	if (k > 1)
		qsort(v, k, sizeof(*v), cmp_names);
	*names = v;
	*n = k;
	return 0;
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
	size_t n = strlen(dir);

	if (n > 0 && (dir[n - 1] == '\\' || dir[n - 1] == '/'))
		return xasprintf("%s%s", dir, name);
	return xasprintf("%s\\%s", dir, name);
}

/* The hint of platform.h: the CRT heap has no such knob worth pulling. */
void
platform_heap_hint(size_t bytes)
{
	(void)bytes;
}

/* platform_parallel: the same slices in order on the calling thread (a
 * plan's stats on Windows have no 100 ms budget to meet). */
void
platform_parallel(size_t n, size_t grain,
    void (*fn)(void *arg, size_t lo, size_t hi), void *arg)
{
	size_t lo;

	if (grain == 0)
		grain = 1;
	for (lo = 0; lo < n; lo += grain)
		fn(arg, lo, n - lo > grain ? lo + grain : n);
}

int
platform_is_sep(int c)
{
	return c == '/' || c == '\\';
}

char *
platform_abspath(const char *path)
{
	wchar_t *w = win_widen(path), *full = NULL;
	char *r = NULL;
	DWORD n;

	if (w == NULL) {
		errno = EINVAL;
		return NULL;
	}
	n = GetFullPathNameW(w, 0, NULL, NULL);
	if (n == 0) {
		set_errno_from(GetLastError());
		goto out;
	}
	full = xcalloc(n + 1, sizeof(*full));
	if (GetFullPathNameW(w, n + 1, full, NULL) == 0) {
		set_errno_from(GetLastError());
		goto out;
	}
	r = win_narrow(full);
out:
	free(full);
	free(w);
	return r;
}

/* FILETIME counts 100 ns from 1601; the state records Unix nanoseconds. */
static int64_t
filetime_ns(FILETIME ft)
{
	int64_t t = (int64_t)(((uint64_t)ft.dwHighDateTime << 32) |
	    ft.dwLowDateTime);

	return (t - 116444736000000000LL) * 100;
}

int
platform_lstat(const char *path, struct platform_stat *st)
{
	wchar_t *w = win_widen(path);
	WIN32_FILE_ATTRIBUTE_DATA a;
	DWORD e;

	memset(st, 0, sizeof(*st));
	if (w == NULL) {
		errno = EINVAL;
		return -1;
	}
	/* GetFileAttributesEx does not follow a reparse point: what it
	 * reports is the link itself. */
	if (!GetFileAttributesExW(w, GetFileExInfoStandard, &a)) {
		e = GetLastError();
		free(w);
		if (e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND) {
			st->kind = PLATFORM_KIND_MISSING;
			return 0;
		}
		set_errno_from(e);
		return -1;
	}
	free(w);
	if (a.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) {
		st->kind = PLATFORM_KIND_OTHER;
		st->is_link = 1;
	} else if (a.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)
		st->kind = PLATFORM_KIND_DIR;
	else if (a.dwFileAttributes & FILE_ATTRIBUTE_DEVICE)
		st->kind = PLATFORM_KIND_OTHER;
	else
		st->kind = PLATFORM_KIND_FILE;
	st->size = ((uint64_t)a.nFileSizeHigh << 32) | a.nFileSizeLow;
	st->mtime_ns = filetime_ns(a.ftLastWriteTime);
	/* A file's identity (volume serial, file index), which the state
	 * records at commit so that platform_remove_placed deletes only the
	 * very file bitsync placed; 0 (unknown) when it cannot be read. */
	if (st->kind == PLATFORM_KIND_FILE && !st->is_link &&
	    (w = win_widen(path)) != NULL) {
		BY_HANDLE_FILE_INFORMATION bi;
		HANDLE h = CreateFileW(w, FILE_READ_ATTRIBUTES,
		    FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
		    NULL, OPEN_EXISTING, FILE_FLAG_OPEN_REPARSE_POINT |
		    FILE_FLAG_BACKUP_SEMANTICS, NULL);

		free(w);
		if (h != INVALID_HANDLE_VALUE) {
			if (GetFileInformationByHandle(h, &bi)) {
				st->dev = bi.dwVolumeSerialNumber;
				st->ino = ((uint64_t)bi.nFileIndexHigh << 32) |
				    bi.nFileIndexLow;
			}
			CloseHandle(h);
		}
	}
	return 0;
}

int
platform_open_nofollow(const char *path)
{
	wchar_t *w = win_widen(path);
	BY_HANDLE_FILE_INFORMATION bi;
	HANDLE h;
	int fd;

	if (w == NULL) {
		errno = EINVAL;
		return -1;
	}
	h = CreateFileW(w, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE,
	    NULL, OPEN_EXISTING, FILE_FLAG_OPEN_REPARSE_POINT |
	    FILE_FLAG_SEQUENTIAL_SCAN, NULL);
	free(w);
	if (h == INVALID_HANDLE_VALUE) {
		set_errno_from(GetLastError());
		return -1;
	}
	if (!GetFileInformationByHandle(h, &bi)) {
		set_errno_from(GetLastError());
		CloseHandle(h);
		return -1;
	}
	if (bi.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) {
		CloseHandle(h);
		errno = ELOOP;
		return -1;
	}
	if ((fd = _open_osfhandle((intptr_t)h, _O_RDONLY | _O_BINARY)) == -1)
		CloseHandle(h);
	return fd;
}

/* The sentence of the last refusal (EACCES) of platform_make_dirs or
 * platform_mkdir_private. */
static char *last_why;

const char *
platform_last_why(void)
{
	return last_why;
}

int
platform_mkdir_private(const char *dir)
{
	/* Protected (P: no inheritance from above), SYSTEM and the
	 * Administrators group only, passed on to files and folders
	 * created inside (OICI): the state store and its copies. */
	static const wchar_t sddl[] =
	    L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";
	SECURITY_ATTRIBUTES sa;
	PSECURITY_DESCRIPTOR sd = NULL;
	BY_HANDLE_FILE_INFORMATION bi;
	HANDLE h = INVALID_HANDLE_VALUE;
	wchar_t *w = win_widen(dir);
	DWORD e, a;
	int rc = -1, j;

	if (w == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl,
	    SDDL_REVISION_1, &sd, NULL)) {
		set_errno_from(GetLastError());
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.nLength = sizeof(sa);
	sa.lpSecurityDescriptor = sd;
	free(last_why);
	last_why = NULL;
	if (!CreateDirectoryW(w, &sa) &&
	    (e = GetLastError()) != ERROR_ALREADY_EXISTS) {
		set_errno_from(e);
		goto out;
	}
	/* One that was there (U14): whoever owns it or may write it owns
	 * the store, the last-known-good manifests and the cache, i.e.
	 * steers the agent.  Judged through a handle that does not follow
	 * a reparse point: only SYSTEM, Administrators (and the agent's
	 * account) may own or write it, else EACCES and last_why. */
	h = CreateFileW(w, FILE_READ_ATTRIBUTES | READ_CONTROL,
	    FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING,
	    FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT, NULL);
	if (h == INVALID_HANDLE_VALUE) {
		set_errno_from(GetLastError());
		goto out;
	}
	a = GetFileAttributesW(w);
	if (!GetFileInformationByHandle(h, &bi)) {
		set_errno_from(GetLastError());
		goto out;
	}
	if ((bi.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) ||
	    a == INVALID_FILE_ATTRIBUTES || (a & FILE_ATTRIBUTE_REPARSE_POINT)) {
		last_why = xasprintf("%s is a junction or symbolic link; "
		    "bitsync keeps its state only in a real folder: remove "
		    "it (bitsync creates it) or set state_dir to another "
		    "folder", dir);
		errno = ELOOP;
		goto out;
	}
	if (!(bi.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)) {
		errno = ENOTDIR;
		goto out;
	}
	if ((j = win_judge_handle(h, dir, 1, &last_why)) != 0) {
		errno = j == -1 ? EACCES : EIO;
		goto out;
	}
	rc = 0;
out:
	if (h != INVALID_HANDLE_VALUE)
		CloseHandle(h);
	if (sd != NULL)
		LocalFree(sd);
	free(w);
	return rc;
}

/* Bytes of path that name its root: "C:\", "\\server\share\" or "\". */
static size_t
root_len(const char *p)
{
	size_t i = 0, k;

	if (((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z')) &&
	    p[1] == ':')
		return platform_is_sep(p[2]) ? 3 : 2;
	if (platform_is_sep(p[0]) && platform_is_sep(p[1])) {
		/* \\server\share: two components after the leading pair */
		i = 2;
		for (k = 0; k < 2; k++) {
			while (p[i] != '\0' && !platform_is_sep(p[i]))
				i++;
			if (p[i] != '\0')
				i++;
		}
		return i;
	}
	return platform_is_sep(p[0]) ? 1 : 0;
}

/* The final path of an open object as Windows resolved it, "\\?\" (or
 * "\\?\UNC\", given back as "\\") taken off; NULL when it cannot be had. */
static wchar_t *
final_path(HANDLE h)
{
	DWORD n = GetFinalPathNameByHandleW(h, NULL, 0, FILE_NAME_OPENED |
	    VOLUME_NAME_DOS), m;
	wchar_t *f, *r;

	if (n == 0)
		return NULL;
	f = xcalloc(n + 2, sizeof(*f));
	m = GetFinalPathNameByHandleW(h, f, n + 1, FILE_NAME_OPENED |
	    VOLUME_NAME_DOS);
	if (m == 0 || m > n) {
		free(f);
		return NULL;
	}
	if (wcsncmp(f, L"\\\\?\\UNC\\", 8) == 0) {
		r = xcalloc(wcslen(f), sizeof(*r));
		r[0] = r[1] = L'\\';
		wcscpy(r + 2, f + 8);
		free(f);
		return r;
	}
	if (wcsncmp(f, L"\\\\?\\", 4) == 0)
		memmove(f, f + 4, (wcslen(f + 4) + 1) * sizeof(*f));
	return f;
}

/* Whether h was reached as parent + "\" + name: no junction, symbolic
 * link or mount point (nor, under Wine, a unix symlink, which a handle
 * follows silently) redirected the open.  Case-insensitive, as NTFS. */
static int
final_is(HANDLE h, const wchar_t *parent, const wchar_t *name)
{
	wchar_t *f = final_path(h), *want;
	size_t n;
	int ok;

	if (f == NULL || parent == NULL)
		ok = 0;
	else {
		n = wcslen(parent);
		want = xcalloc(n + wcslen(name) + 2, sizeof(*want));
		wcscpy(want, parent);
		if (n > 0 && want[n - 1] != L'\\')
			wcscat(want, L"\\");
		wcscat(want, name);
		ok = _wcsicmp(f, want) == 0;
		free(want);
	}
	free(f);
	return ok;
}

/* Folders held open from a path's root down (see hold_dirs). */
struct held {
	HANDLE *h;
	size_t n;
	wchar_t *final;		/* the last one's final path */
	char *why;		/* a refusal's sentence, when there is one */
};

static void
held_free(struct held *hd)
{
	size_t i;

	for (i = 0; i < hd->n; i++)
		CloseHandle(hd->h[i]);
	free(hd->h);
	free(hd->final);
	free(hd->why);
	memset(hd, 0, sizeof(*hd));
}

/* Opens the folders of dir from its root down and keeps them open.
 * Those past the first trusted_len bytes (the allowed root is the admin's
 * and may be built of junctions) are opened without following a reparse
 * point and held without FILE_SHARE_DELETE, so that none can be renamed
 * away or swapped for a junction while held (both need delete access to
 * the folder).  Each must be a folder that is no reparse point, by its
 * handle and by its name (Wine's handles follow a unix symlink and only
 * the name's attributes show it), reached where its parent's final path
 * says; ELOOP otherwise.  With judge, each must also be one that only
 * admins may write (perm_win's judge: SYSTEM writes through it later,
 * design §7): EACCES and hd->why otherwise.  With sa, a missing folder is
 * created with that security; without, ENOENT.  0, or -1 and errno. */
/* hold_dirs' step: opens the folder w (its last component name) and
 * adds it to hd. */
static int
hold_one(struct held *hd, const wchar_t *w, const char *path,
    const wchar_t *name, int below, int judge, SECURITY_ATTRIBUTES *sa)
{
	BY_HANDLE_FILE_INFORMATION bi;
	HANDLE h;
	DWORD a, e, share = FILE_SHARE_READ | FILE_SHARE_WRITE |
	    (below ? 0 : FILE_SHARE_DELETE), flags = FILE_FLAG_BACKUP_SEMANTICS |
	    (below ? FILE_FLAG_OPEN_REPARSE_POINT : 0);
	int j;

	h = CreateFileW(w, FILE_READ_ATTRIBUTES | READ_CONTROL, share, NULL,
	    OPEN_EXISTING, flags, NULL);
	/* A missing allowed root is made too, as on POSIX (cc0dfef). */
	if (h == INVALID_HANDLE_VALUE && sa != NULL && *name != L'\0' &&
	    ((e = GetLastError()) == ERROR_FILE_NOT_FOUND ||
	    e == ERROR_PATH_NOT_FOUND)) {
		if (!CreateDirectoryW(w, sa) &&
		    GetLastError() != ERROR_ALREADY_EXISTS) {
			set_errno_from(GetLastError());
			return -1;
		}
		h = CreateFileW(w, FILE_READ_ATTRIBUTES | READ_CONTROL, share,
		    NULL, OPEN_EXISTING, flags, NULL);
	}
	if (h == INVALID_HANDLE_VALUE) {
		set_errno_from(GetLastError());
		return -1;
	}
	hd->h = xrealloc(hd->h, (hd->n + 1) * sizeof(*hd->h));
	hd->h[hd->n++] = h;
	if (!GetFileInformationByHandle(h, &bi)) {
		set_errno_from(GetLastError());
		return -1;
	}
	if (below) {
		a = GetFileAttributesW(w);
		if ((bi.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) ||
		    a == INVALID_FILE_ATTRIBUTES ||
		    (a & FILE_ATTRIBUTE_REPARSE_POINT) ||
		    !final_is(h, hd->final, name)) {
			errno = ELOOP;
			return -1;
		}
	}
	if (!(bi.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)) {
		errno = ENOTDIR;
		return -1;
	}
	if (below && judge && (j = win_judge_handle(h, path, 1,
	    &hd->why)) != 0) {
		errno = j == -1 ? EACCES : EIO;
		return -1;
	}
	free(hd->final);
	hd->final = final_path(h);
	return 0;
}

static int
hold_dirs(const char *dir, size_t trusted_len, int judge,
    SECURITY_ATTRIBUTES *sa, struct held *hd)
{
	char *p = xstrdup(dir), *s, *c, save;
	wchar_t *w = NULL, *name = NULL;
	size_t r = root_len(p);
	int rc = -1, saved;

	memset(hd, 0, sizeof(*hd));
	/* Walked from a root with its separator ("C:\", "\\srv\share\"):
	 * "C:x" or a relative path would start from a current folder. */
	if (r == 0 || !platform_is_sep((unsigned char)p[r - 1])) {
		errno = EINVAL;
		goto done;
	}
	save = p[r];
	p[r] = '\0';
	w = win_widen(p);
	p[r] = save;
	if (w == NULL) {
		errno = EINVAL;
		goto done;
	}
	if (hold_one(hd, w, p, L"", 0, 0, NULL) == -1)
		goto done;
	for (s = p + r; *s != '\0';) {
		while (platform_is_sep((unsigned char)*s))
			s++;
		if (*s == '\0')
			break;
		c = s;
		while (*s != '\0' && !platform_is_sep((unsigned char)*s))
			s++;
		save = *s;
		*s = '\0';
		free(w);
		free(name);
		w = win_widen(p);
		name = win_widen(c);
		if (w == NULL || name == NULL) {
			errno = EINVAL;
			goto done;
		}
		if (hold_one(hd, w, p, name, (size_t)(s - p) > trusted_len,
		    judge, sa) == -1)
			goto done;
		*s = save;
	}
	rc = 0;
done:
	if (rc == -1) {
		char *why = hd->why;

		saved = errno;
		hd->why = NULL;
		held_free(hd);
		hd->why = why;
		errno = saved;
	}
	free(w);
	free(name);
	free(p);
	return rc;
}

/* Windows: the folders are walked from the root and held (hold_dirs: no
 * reparse point, none can be swapped while held), then the file is opened
 * without following a reparse point, with delete access, checked through
 * that handle (kind, size, mtime, and the volume serial and file index
 * recorded at commit) and where it was reached (its final path), and
 * marked for deletion through it (FileDispositionInfo): the check and the
 * delete are of one file, whatever is swapped into the path meanwhile. */
int
platform_remove_placed(const char *path, const struct platform_stat *want)
{
	char *dir = xstrdup(path), *b = NULL, *q;
	wchar_t *w = win_widen(path), *wb = NULL;
	BY_HANDLE_FILE_INFORMATION bi;
	FILE_DISPOSITION_INFO di;
	struct held hd;
	HANDLE h = INVALID_HANDLE_VALUE;
	DWORD e;
	int rc = -1, saved = 0;

	memset(&hd, 0, sizeof(hd));
	for (q = dir; *q != '\0'; q++)
		if (platform_is_sep((unsigned char)*q))
			b = q + 1;
	if (w == NULL || b == NULL || *b == '\0' ||
	    (size_t)(b - dir) < root_len(dir) ||
	    (wb = win_widen(b)) == NULL) {
		saved = EINVAL;
		goto out;
	}
	if ((size_t)(b - dir) > root_len(dir))
		b[-1] = '\0';
	else
		*b = '\0';	/* a file right below the root: "C:\" */
	if (hold_dirs(dir, 0, 0, NULL, &hd) == -1) {
		saved = errno;
		rc = saved == ENOENT ? 0 : -1;
		goto out;
	}
	h = CreateFileW(w, DELETE | FILE_READ_ATTRIBUTES, FILE_SHARE_READ |
	    FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_EXISTING,
	    FILE_FLAG_OPEN_REPARSE_POINT, NULL);
	if (h == INVALID_HANDLE_VALUE) {
		e = GetLastError();
		if (e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND)
			rc = 0;
		set_errno_from(e);
		saved = errno;
		goto out;
	}
	if (!GetFileInformationByHandle(h, &bi)) {
		set_errno_from(GetLastError());
		saved = errno;
		goto out;
	}
	if ((bi.dwFileAttributes & (FILE_ATTRIBUTE_REPARSE_POINT |
	    FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_DEVICE)) != 0 ||
	    !final_is(h, hd.final, wb) ||
	    (((uint64_t)bi.nFileSizeHigh << 32) | bi.nFileSizeLow) !=
	    want->size || filetime_ns(bi.ftLastWriteTime) != want->mtime_ns ||
	    (want->dev != 0 && want->ino != 0 &&
	    (bi.dwVolumeSerialNumber != want->dev ||
	    (((uint64_t)bi.nFileIndexHigh << 32) | bi.nFileIndexLow) !=
	    want->ino))) {
		rc = 1;
		goto out;
	}
	di.DeleteFile = TRUE;
	if (!SetFileInformationByHandle(h, FileDispositionInfo, &di,
	    sizeof(di))) {
		set_errno_from(GetLastError());
		saved = errno;
		goto out;
	}
	rc = 0;
out:
	if (h != INVALID_HANDLE_VALUE)
		CloseHandle(h);
	held_free(&hd);
	free(w);
	free(wb);
	free(dir);
	errno = saved;
	return rc;
}

/* Windows: BITS writes and renames as SYSTEM, hours later, through
 * whatever the folders are by then, so every folder below the allowed
 * root must be one only admins can change (a user who may write or owns
 * one could swap what is inside for a junction): hold_dirs judges each
 * with perm_win and refuses EACCES (the sentence through
 * platform_last_why).  A missing folder is created with a protected
 * DACL: SYSTEM and Administrators full control, Users read and run (what
 * a mode 0755 gives on POSIX), inherited by what BITS places inside. */

int
platform_make_dirs(const char *dir, size_t trusted_len)
{
	static const wchar_t sddl[] = L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
	    L"(A;OICI;0x1200a9;;;BU)";
	SECURITY_ATTRIBUTES sa;
	PSECURITY_DESCRIPTOR sd = NULL;
	struct held hd;
	int rc = -1, saved;

	memset(&hd, 0, sizeof(hd));
	free(last_why);
	last_why = NULL;
	if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl,
	    SDDL_REVISION_1, &sd, NULL)) {
		set_errno_from(GetLastError());
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.nLength = sizeof(sa);
	sa.lpSecurityDescriptor = sd;
	if (hold_dirs(dir, trusted_len, 1, &sa, &hd) == -1) {
		saved = errno;
		last_why = hd.why;
		hd.why = NULL;
		errno = saved;
		goto out;
	}
	rc = 0;
out:
	saved = errno;
	held_free(&hd);
	if (sd != NULL)
		LocalFree(sd);
	errno = saved;
	return rc;
}

/* Opens a file of state_dir (U20): with FILE_FLAG_OPEN_REPARSE_POINT,
 * then judged through the handle, not by a prior look at the path (a
 * link swapped in between the two was written through): a reparse point,
 * a folder, a file with another hard link (whose other name could be
 * anywhere) or one reached elsewhere than path (its final path; Wine's
 * handles follow a unix symlink silently) is refused, ELOOP. */
static HANDLE
open_private(const char *path, DWORD disposition)
{
	FILE_ATTRIBUTE_TAG_INFO ti;
	FILE_STANDARD_INFO si;
	wchar_t *w, *full = NULL, *f = NULL;
	HANDLE h;
	DWORD n;
	int ok;

	if ((w = win_widen(path)) == NULL) {
		errno = EINVAL;
		return INVALID_HANDLE_VALUE;
	}
	/* A planted file is truncated only once judged (CREATE_ALWAYS
	 * would truncate at the open): opened as it is, cut afterwards. */
	h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ |
	    FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
	    disposition == CREATE_ALWAYS ? OPEN_ALWAYS : disposition,
	    FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, NULL);
	if (h == INVALID_HANDLE_VALUE) {
		set_errno_from(GetLastError());
		free(w);
		return INVALID_HANDLE_VALUE;
	}
	n = GetFullPathNameW(w, 0, NULL, NULL);
	if (n > 0) {
		full = xcalloc(n + 1, sizeof(*full));
		if (GetFullPathNameW(w, n + 1, full, NULL) == 0)
			full[0] = 0;
	}
	f = final_path(h);
	ok = GetFileInformationByHandleEx(h, FileAttributeTagInfo, &ti,
	    sizeof(ti)) && GetFileInformationByHandleEx(h, FileStandardInfo,
	    &si, sizeof(si)) &&
	    !(ti.FileAttributes & (FILE_ATTRIBUTE_REPARSE_POINT |
	    FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_DEVICE)) &&
	    !si.Directory && si.NumberOfLinks <= 1 &&
	    full != NULL && f != NULL && _wcsicmp(full, f) == 0;
	if (!ok) {
		CloseHandle(h);
		h = INVALID_HANDLE_VALUE;
		errno = ELOOP;
	} else if (disposition == CREATE_ALWAYS &&
	    !SetEndOfFile(h)) {
		set_errno_from(GetLastError());
		CloseHandle(h);
		h = INVALID_HANDLE_VALUE;
	}
	free(f);
	free(full);
	free(w);
	return h;
}

int
platform_create_private(const char *path)
{
	HANDLE h = open_private(path, OPEN_ALWAYS);

	if (h == INVALID_HANDLE_VALUE)
		return -1;
	CloseHandle(h);
	return 0;
}

int
platform_db_private(const char *path, char **why)
{
	static const char *const comp[] = { "-wal", "-shm", "-journal" };
	struct platform_stat sb;
	size_t k;
	char *p;
	int rc = 0;

	*why = NULL;
	/* The private folder's DACL is inherited by what SQLite creates
	 * beside the database; only links planted there need refusing. */
	if (platform_create_private(path) == -1) {
		*why = xasprintf("%s: %s%s", path, strerror(errno),
		    errno == ELOOP ? ": remove the link" : "");
		return -1;
	}
	for (k = 0; k < sizeof(comp) / sizeof(*comp) && rc == 0; k++) {
		p = xasprintf("%s%s", path, comp[k]);
		if (platform_lstat(p, &sb) == 0 && sb.is_link) {
			*why = xasprintf("%s is a symbolic link or reparse "
			    "point: remove it", p);
			rc = -1;
		}
		free(p);
	}
	return rc;
}

int
platform_write_private(const char *path, const void *data, size_t len)
{
	HANDLE h = open_private(path, CREATE_ALWAYS);
	const char *p = data;
	DWORD n;
	int rc = -1;

	if (h == INVALID_HANDLE_VALUE)
		return -1;
	while (len > 0) {
		DWORD k = len > 0x40000000 ? 0x40000000 : (DWORD)len;

		if (!WriteFile(h, p, k, &n, NULL)) {
			set_errno_from(GetLastError());
			goto out;
		}
		p += n;
		len -= n;
	}
	rc = 0;
out:
	CloseHandle(h);
	return rc;
}

/* status.json and metrics (U13): a temp of a random name beside path,
 * created exclusively (CREATE_NEW) without following a reparse point,
 * and refused unless the handle is the new file where it was asked
 * (final path): nothing planted is truncated or written through. */
FILE *
platform_replace_open(const char *path, char **tmp)
{
	wchar_t *w = NULL, *full = NULL, *f = NULL;
	unsigned int r1 = 0, r2 = 0;
	HANDLE h = INVALID_HANDLE_VALUE;
	FILE *fp = NULL;
	DWORD n;
	int fd, saved = 0, tries;

	*tmp = NULL;
	for (tries = 0; tries < 8 && h == INVALID_HANDLE_VALUE; tries++) {
		if (rand_s(&r1) != 0 || rand_s(&r2) != 0) {
			saved = EIO;
			goto out;
		}
		free(*tmp);
		free(w);
		*tmp = xasprintf("%s.tmp.%08x%08x", path, r1, r2);
		if ((w = win_widen(*tmp)) == NULL) {
			saved = EINVAL;
			goto out;
		}
		h = CreateFileW(w, GENERIC_WRITE, FILE_SHARE_READ, NULL,
		    CREATE_NEW, FILE_ATTRIBUTE_NORMAL |
		    FILE_FLAG_OPEN_REPARSE_POINT, NULL);
		if (h == INVALID_HANDLE_VALUE &&
		    GetLastError() != ERROR_FILE_EXISTS &&
		    GetLastError() != ERROR_ALREADY_EXISTS) {
			set_errno_from(GetLastError());
			saved = errno;
			goto out;
		}
	}
	if (h == INVALID_HANDLE_VALUE) {
		saved = EEXIST;
		goto out;
	}
	n = GetFullPathNameW(w, 0, NULL, NULL);
	if (n > 0) {
		full = xcalloc(n + 1, sizeof(*full));
		if (GetFullPathNameW(w, n + 1, full, NULL) == 0)
			full[0] = 0;
	}
	f = final_path(h);
	if (full == NULL || f == NULL || _wcsicmp(full, f) != 0) {
		/* A folder of the path leads elsewhere: the new file is
		 * not where status readers look; it is removed again. */
		FILE_DISPOSITION_INFO di = { TRUE };

		CloseHandle(h);
		h = CreateFileW(w, DELETE, FILE_SHARE_READ | FILE_SHARE_WRITE |
		    FILE_SHARE_DELETE, NULL, OPEN_EXISTING,
		    FILE_FLAG_OPEN_REPARSE_POINT, NULL);
		if (h != INVALID_HANDLE_VALUE) {
			SetFileInformationByHandle(h, FileDispositionInfo, &di,
			    sizeof(di));
			CloseHandle(h);
		}
		h = INVALID_HANDLE_VALUE;
		saved = ELOOP;
		goto out;
	}
	if ((fd = _open_osfhandle((intptr_t)h, _O_WRONLY | _O_BINARY)) == -1) {
		saved = errno;
		goto out;
	}
	h = INVALID_HANDLE_VALUE;	/* fd owns it */
	if ((fp = _fdopen(fd, "wb")) == NULL) {
		saved = errno;
		_close(fd);
		DeleteFileW(w);
	}
out:
	if (h != INVALID_HANDLE_VALUE) {
		CloseHandle(h);
		DeleteFileW(w);
	}
	if (fp == NULL) {
		free(*tmp);
		*tmp = NULL;
		errno = saved;
	}
	free(f);
	free(full);
	free(w);
	return fp;
}

int
platform_replace_commit(FILE *f, char *tmp, const char *path)
{
	wchar_t *wt = win_widen(tmp), *wp = win_widen(path);
	int rc = -1, saved = 0;

	if (fflush(f) == EOF || ferror(f) || _commit(_fileno(f)) == -1)
		saved = errno ? errno : EIO;
	if (fclose(f) == EOF && saved == 0)
		saved = errno;
	if (saved == 0 && (wt == NULL || wp == NULL))
		saved = EINVAL;
	/* WRITE_THROUGH: MoveFileEx returns once the rename is on disk. */
	if (saved == 0 && !MoveFileExW(wt, wp, MOVEFILE_REPLACE_EXISTING |
	    MOVEFILE_WRITE_THROUGH)) {
		set_errno_from(GetLastError());
		saved = errno;
	}
	if (saved != 0) {
		if (wt != NULL)
			DeleteFileW(wt);
	} else
		rc = 0;
	free(wt);
	free(wp);
	free(tmp);
	errno = saved;
	return rc;
}

void
platform_replace_abort(FILE *f, char *tmp)
{
	wchar_t *w = win_widen(tmp);
	int saved = errno;

	fclose(f);
	if (w != NULL)
		DeleteFileW(w);
	free(w);
	free(tmp);
	errno = saved;
}

void
platform_hostname(char *buf, size_t len)
{
	wchar_t w[256];
	DWORD n = 256;
	char *s;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (!GetComputerNameExW(ComputerNameDnsHostname, w, &n))
		return;
	if ((s = win_narrow(w)) == NULL)
		return;
	snprintf(buf, len, "%s", s);
	free(s);
}

int
platform_pid_alive(long pid)
{
	HANDLE h;
	DWORD code;
	int alive;

	if (pid <= 0 || pid > (long)MAXDWORD)
		return 0;
	h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)pid);
	if (h == NULL)
		/* Denied means it exists (another account's process). */
		return GetLastError() == ERROR_ACCESS_DENIED;
	alive = !GetExitCodeProcess(h, &code) || code == STILL_ACTIVE;
	CloseHandle(h);
	return alive;
}

struct platform_lock {
	HANDLE h;
};

int
platform_lock(const char *dir, const char *name, struct platform_lock **out)
{
	char *path = platform_join(dir, name);
	wchar_t *w = win_widen(path);
	OVERLAPPED ov;
	HANDLE h = INVALID_HANDLE_VALUE;
	DWORD e;
	int rc = -1;

	*out = NULL;
	if (w == NULL) {
		errno = EINVAL;
		goto done;
	}
	h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ |
	    FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_ALWAYS,
	    FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE) {
		set_errno_from(GetLastError());
		goto done;
	}
	memset(&ov, 0, sizeof(ov));
	/* Released by the system when the process ends, however it ends. */
	if (!LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK |
	    LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ov)) {
		e = GetLastError();
		if (e == ERROR_LOCK_VIOLATION || e == ERROR_IO_PENDING)
			rc = 1;
		else
			set_errno_from(e);
		goto done;
	}
	*out = xmalloc(sizeof(**out));
	(*out)->h = h;
	h = INVALID_HANDLE_VALUE;
	rc = 0;
done:
	if (h != INVALID_HANDLE_VALUE)
		CloseHandle(h);
	free(w);
	free(path);
	return rc;
}

void
platform_unlock(struct platform_lock *l)
{
	if (l == NULL)
		return;
	CloseHandle(l->h);
	free(l);
}

static void (*stop_fn)(void);

/* Runs on a thread of its own that the console creates. */
static BOOL WINAPI
on_console_event(DWORD ev)
{
	switch (ev) {
	case CTRL_C_EVENT:
	case CTRL_BREAK_EVENT:
	case CTRL_CLOSE_EVENT:
	case CTRL_SHUTDOWN_EVENT:
		if (stop_fn != NULL)
			stop_fn();
		return TRUE;
	default:
		/* CTRL_LOGOFF_EVENT: a user logging off is no reason for
		 * a service to stop. */
		return FALSE;
	}
}

void
platform_on_stop(void (*fn)(void))
{
	stop_fn = fn;
	SetConsoleCtrlHandler(on_console_event, fn != NULL);
}

struct platform_wake {
	HANDLE ev;
};

struct platform_wake *
platform_wake_new(void)
{
	struct platform_wake *w = xmalloc(sizeof(*w));

	if ((w->ev = CreateEventW(NULL, FALSE, FALSE, NULL)) == NULL) {
		free(w);
		return NULL;
	}
	return w;
}

void
platform_wake_post(struct platform_wake *w)
{
	if (w != NULL)
		SetEvent(w->ev);
}

int
platform_wake_wait(struct platform_wake *w, int ms)
{
	return WaitForSingleObject(w->ev, ms < 0 ? INFINITE : (DWORD)ms) ==
	    WAIT_OBJECT_0;
}

void
platform_wake_free(struct platform_wake *w)
{
	if (w == NULL)
		return;
	CloseHandle(w->ev);
	free(w);
}

void
platform_trim_heap(void)
{
	HeapCompact(GetProcessHeap(), 0);
}

void
platform_event(enum platform_event ev, const char *text)
{
	static const unsigned long ids[] = {
		[PLATFORM_EV_JOB_CREATED] = MSG_JOB_CREATED,
		[PLATFORM_EV_SET_COMPLETED] = MSG_SET_COMPLETED,
		[PLATFORM_EV_JOB_ERROR] = MSG_JOB_ERROR,
		[PLATFORM_EV_VALIDATION_KEPT] = MSG_VALIDATION_ERROR,
		[PLATFORM_EV_VALIDATION_HELD] = MSG_VALIDATION_HELD,
		[PLATFORM_EV_WARNING] = MSG_WARNING,
	};

	if ((size_t)ev < sizeof(ids) / sizeof(ids[0]))
		win_report_event("bitsync", ids[ev], text);
}

wchar_t *
win_control_pipe(const char *state_dir)
{
	char *abs = platform_abspath(state_dir), *p, name[64];
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t n;

	if (abs == NULL)
		return NULL;
	/* One folder has many spellings on Windows: C:/x, c:\X\ */
	n = strlen(abs);
	while (n > 3 && platform_is_sep((unsigned char)abs[n - 1]))
		n--;
	for (p = abs; p < abs + n; p++) {
		int c = *p == '/' ? '\\' : *p;

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		h = (h ^ (unsigned char)c) * 0x100000001b3ULL;
	}
	free(abs);
	snprintf(name, sizeof(name), "\\\\.\\pipe\\bitsync-%016llx",
	    (unsigned long long)h);
	return win_widen(name);
}

/* Whether the pipe's server is the agent: its owner (run_win.c sets it
 * to the agent's account) is SYSTEM, the Administrators, an account the
 * service may run as (NetworkService, LocalService) or this process's own
 * user (who may run the agent in a console).  Another user who took the name first (squatting a pipe
 * needs no privilege) is not asked to reconcile. */
static int
pipe_owner_trusted(HANDLE h)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	PSID owner = NULL;
	HANDLE tok = NULL;
	union {
		TOKEN_USER tu;
		char buf[SECURITY_MAX_SID_SIZE + sizeof(TOKEN_USER)];
	} u;
	DWORD len;
	int ok = 0;

	if (GetSecurityInfo(h, SE_KERNEL_OBJECT, OWNER_SECURITY_INFORMATION,
	    &owner, NULL, NULL, NULL, &sd) != ERROR_SUCCESS || owner == NULL)
		goto out;
	if (IsWellKnownSid(owner, WinLocalSystemSid) ||
	    IsWellKnownSid(owner, WinBuiltinAdministratorsSid) ||
	    IsWellKnownSid(owner, WinNetworkServiceSid) ||
	    IsWellKnownSid(owner, WinLocalServiceSid))
		ok = 1;
	else if (OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok) &&
	    GetTokenInformation(tok, TokenUser, &u, sizeof(u), &len) &&
	    EqualSid(owner, u.tu.User.Sid))
		ok = 1;
out:
	if (tok != NULL)
		CloseHandle(tok);
	LocalFree(sd);
	return ok;
}

/* The account of the process that serves the pipe h
 * (GetNamedPipeServerProcessId, then that process's token): 1 when it is
 * SYSTEM, LocalService, NetworkService, a service's own SID (S-1-5-80-) or
 * this process's user; 0 another account (described in *who); -1 when it
 * cannot be told (a host without the call, or no right to open the
 * server's token, as for an administrator's unelevated console).  The
 * pipe's owner can be whatever its creator wrote in its security
 * descriptor; the server's token cannot. */
static int
pipe_server_account(HANDLE h, char **who)
{
	union {
		TOKEN_USER tu;
		char buf[SECURITY_MAX_SID_SIZE + sizeof(TOKEN_USER)];
	} u, me;
	HANDLE proc = NULL, tok = NULL, mytok = NULL;
	ULONG pid = 0;
	DWORD len;
	LPWSTR ws = NULL;
	wchar_t name[256], dom[256];
	DWORD nl = 256, dl = 256;
	SID_NAME_USE use;
	char *sid = NULL, *n = NULL, *d = NULL;
	int rc = -1;

	*who = NULL;
	if (!GetNamedPipeServerProcessId(h, &pid) || pid == 0)
		goto out;
	if ((proc = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE,
	    pid)) == NULL || !OpenProcessToken(proc, TOKEN_QUERY, &tok) ||
	    !GetTokenInformation(tok, TokenUser, &u, sizeof(u), &len))
		goto out;
	if (IsWellKnownSid(u.tu.User.Sid, WinLocalSystemSid) ||
	    IsWellKnownSid(u.tu.User.Sid, WinLocalServiceSid) ||
	    IsWellKnownSid(u.tu.User.Sid, WinNetworkServiceSid) ||
	    (OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mytok) &&
	    GetTokenInformation(mytok, TokenUser, &me, sizeof(me), &len) &&
	    EqualSid(me.tu.User.Sid, u.tu.User.Sid))) {
		rc = 1;
		goto out;
	}
	if (ConvertSidToStringSidW(u.tu.User.Sid, &ws)) {
		sid = win_narrow(ws);
		if (sid != NULL && strncmp(sid, "S-1-5-80-", 9) == 0) {
			rc = 1;		/* NT SERVICE\<name>: a service */
			goto out;
		}
	}
	if (LookupAccountSidW(NULL, u.tu.User.Sid, name, &nl, dom, &dl,
	    &use)) {
		n = win_narrow(name);
		d = win_narrow(dom);
	}
	*who = xasprintf("process %lu, account %s%s%s (%s)",
	    (unsigned long)pid, d != NULL ? d : "", d != NULL && *d ? "\\" :
	    "", n != NULL ? n : "?", sid != NULL ? sid : "?");
	rc = 0;
out:
	if (ws != NULL)
		LocalFree(ws);
	if (mytok != NULL)
		CloseHandle(mytok);
	if (tok != NULL)
		CloseHandle(tok);
	if (proc != NULL)
		CloseHandle(proc);
	free(sid);
	free(n);
	free(d);
	return rc;
}

char *
win_pipe_holder(const char *state_dir)
{
	wchar_t *name = win_control_pipe(state_dir);
	HANDLE h;
	ULONG pid = 0;
	char *who = NULL;

	if (name == NULL)
		return NULL;
	/* Attributes only: no data goes to whoever holds it. */
	h = CreateFileW(name, FILE_READ_ATTRIBUTES, 0, NULL, OPEN_EXISTING,
	    SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, NULL);
	free(name);
	if (h == INVALID_HANDLE_VALUE)
		return NULL;
	if (pipe_server_account(h, &who) != 0) {
		free(who);
		who = NULL;
		if (GetNamedPipeServerProcessId(h, &pid) && pid != 0)
			who = xasprintf("process %lu", (unsigned long)pid);
	}
	CloseHandle(h);
	return who;
}

int
platform_control_connect(const char *state_dir)
{
	wchar_t *name = win_control_pipe(state_dir);
	HANDLE h = INVALID_HANDLE_VALUE;
	char *who = NULL;
	int fd = -1, tries, r;

	if (name == NULL)
		return -1;
	/* The agent serves one client at a time: a busy pipe is waited
	 * for (its pass may take a while), a missing one means no agent. */
	for (tries = 0; tries < 30; tries++) {
		h = CreateFileW(name, GENERIC_READ | GENERIC_WRITE, 0, NULL,
		    OPEN_EXISTING, SECURITY_SQOS_PRESENT |
		    SECURITY_IDENTIFICATION, NULL);
		if (h != INVALID_HANDLE_VALUE ||
		    GetLastError() != ERROR_PIPE_BUSY)
			break;
		WaitNamedPipeW(name, 2000);
	}
	if (h == INVALID_HANDLE_VALUE) {
		set_errno_from(GetLastError());
		goto out;
	}
	/* The server's own account first (U12): a user who took the name
	 * before the agent is refused whatever owner they wrote on it. */
	if ((r = pipe_server_account(h, &who)) == 0) {
		fprintf(stderr, "bitsync: %ls is served by %s, not by the "
		    "agent (SYSTEM or a service account): ignored; another "
		    "program squats the agent's pipe name: stop it "
		    "(taskkill /PID) and restart the bitsync service\n", name,
		    who);
		free(who);
		CloseHandle(h);
		errno = EACCES;
		goto out;
	}
	if (!pipe_owner_trusted(h)) {
		fprintf(stderr, "bitsync: %ls is not the agent's (its owner is "
		    "not SYSTEM, Administrators, a service account or this "
		    "user): ignored; stop "
		    "the program that holds it\n", name);
		CloseHandle(h);
		errno = EACCES;
		goto out;
	}
	/* A C descriptor, so that the commands' read/write/close speak to
	 * the pipe as to the unix socket. */
	if ((fd = _open_osfhandle((intptr_t)h, _O_RDWR | _O_BINARY)) == -1)
		CloseHandle(h);
out:
	free(name);
	return fd;
}

int
platform_drive_fixed(char d, const char **kind)
{
	return win_drive_is_fixed(d, kind);
}

int
platform_network_anonymous(void)
{
	HANDLE tok = NULL;
	union {
		TOKEN_USER tu;
		char buf[SECURITY_MAX_SID_SIZE + sizeof(TOKEN_USER)];
	} u;
	DWORD len;
	int anon = 0;

	/* LocalService presents no credentials on the network (design §1). */
	if (OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok) &&
	    GetTokenInformation(tok, TokenUser, &u, sizeof(u), &len))
		anon = IsWellKnownSid(u.tu.User.Sid, WinLocalServiceSid) != 0;
	if (tok != NULL)
		CloseHandle(tok);
	return anon;
}

int
platform_self_id(char *buf, size_t len)
{
	/* No manifest cache on Windows: the service's passes are few and
	 * bitsync plan there has no 100 ms budget to meet. */
	(void)buf;
	(void)len;
	return -1;
}

const void *
platform_map_file(const char *path, size_t max, size_t *len)
{
	(void)path;
	(void)max;
	*len = 0;
	return NULL;
}

void
platform_unmap_file(const void *p, size_t len)
{
	(void)p;
	(void)len;
}

/* Windows: no folder handles (the stats of a plan go through
 * platform_lstat one by one). */
struct platform_statdir {
	int unused;
};

struct platform_statdir *
platform_statdir_new(void)
{
	return xcalloc(1, sizeof(struct platform_statdir));
}

int
platform_lstat_in(struct platform_statdir *sd, const char *path,
    struct platform_stat *sb)
{
	(void)sd;
	return platform_lstat(path, sb);
}

void
platform_statdir_free(struct platform_statdir *sd)
{
	free(sd);
}

void
platform_sleep_ms(int ms)
{
	Sleep((DWORD)ms);
}

FILE *
platform_scratch(const char *dir)
{
	static volatile LONG seq;
	char nm[64], *path;
	wchar_t *w;
	HANDLE h;
	FILE *f = NULL;
	int fd;

	/* mingw has no open_memstream; tmpfile() writes to the drive's
	 * root.  A name of its own per stream, deleted on close. */
	snprintf(nm, sizeof(nm), "control-%lu.%ld",
	    (unsigned long)GetCurrentProcessId(),
	    (long)InterlockedIncrement(&seq));
	path = platform_join(dir, nm);
	w = win_widen(path);
	free(path);
	if (w == NULL)
		return NULL;
	h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, 0, NULL,
	    CREATE_ALWAYS, FILE_ATTRIBUTE_TEMPORARY |
	    FILE_FLAG_DELETE_ON_CLOSE, NULL);
	free(w);
	if (h == INVALID_HANDLE_VALUE) {
		set_errno_from(GetLastError());
		return NULL;
	}
	if ((fd = _open_osfhandle((intptr_t)h, _O_RDWR | _O_BINARY)) == -1)
		CloseHandle(h);
	else if ((f = _fdopen(fd, "w+b")) == NULL)
		_close(fd);
	return f;
}
