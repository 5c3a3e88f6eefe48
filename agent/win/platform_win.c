/* platform_win.c - platform.h for Windows: file kinds, the drop-in listing
 * and path joining, with UTF-8 paths converted to UTF-16 for the W APIs. */
#include <windows.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"
#include "util.h"
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

/* platform_parallel: in order on the calling thread (the Windows build has
 * no use for it yet). */
void
platform_parallel(size_t n, size_t grain,
    void (*fn)(void *arg, size_t lo, size_t hi), void *arg)
{
	(void)grain;
	if (n > 0)
		fn(arg, 0, n);
}
