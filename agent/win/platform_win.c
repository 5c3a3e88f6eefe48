/* platform_win.c - platform.h for Windows: file kinds, the drop-in listing
 * and path joining, with UTF-8 paths converted to UTF-16 for the W APIs. */
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
	wchar_t *w = win_widen(dir);
	DWORD e;
	int rc = -1;

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
	if (!CreateDirectoryW(w, &sa) &&
	    (e = GetLastError()) != ERROR_ALREADY_EXISTS) {
		set_errno_from(e);
		goto out;
	}
	rc = 0;
out:
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

int
platform_make_dirs(const char *dir, size_t trusted_len)
{
	char *p = xstrdup(dir), *s, save;
	struct platform_stat sb;
	wchar_t *w;
	size_t r = root_len(p);
	int rc = -1;

	for (s = p + r; ; s++) {
		int end = *s == '\0';

		if (!platform_is_sep(*s) && !end)
			continue;
		if (s == p + r || platform_is_sep(s[-1])) {
			if (end)
				break;
			continue;	/* empty component */
		}
		save = *s;
		*s = '\0';
		if (platform_lstat(p, &sb) == -1)
			goto done;
		if (sb.kind == PLATFORM_KIND_MISSING) {
			/* No security attributes: the new folder inherits
			 * its parent's ACL, as a mode copy does on POSIX. */
			if ((w = win_widen(p)) == NULL) {
				errno = EINVAL;
				goto done;
			}
			if (!CreateDirectoryW(w, NULL) &&
			    GetLastError() != ERROR_ALREADY_EXISTS) {
				set_errno_from(GetLastError());
				free(w);
				goto done;
			}
			free(w);
			if (platform_lstat(p, &sb) == -1)
				goto done;
		}
		/* A junction or symlink inside the destination could lead
		 * the writes anywhere (design §7); the configured part of
		 * the path is the admin's and may use them. */
		if (sb.is_link && (size_t)(s - p) > trusted_len) {
			errno = ELOOP;
			goto done;
		}
		if (!sb.is_link && sb.kind != PLATFORM_KIND_DIR) {
			errno = ENOTDIR;
			goto done;
		}
		if (end)
			break;
		*s = save;
	}
	rc = 0;
done:
	free(p);
	return rc;
}

static HANDLE
open_private(const char *path, DWORD disposition)
{
	struct platform_stat sb;
	wchar_t *w;
	HANDLE h;

	/* Never write through a link planted in the folder. */
	if (platform_lstat(path, &sb) == -1)
		return INVALID_HANDLE_VALUE;
	if (sb.is_link) {
		errno = ELOOP;
		return INVALID_HANDLE_VALUE;
	}
	if ((w = win_widen(path)) == NULL) {
		errno = EINVAL;
		return INVALID_HANDLE_VALUE;
	}
	h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ |
	    FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, disposition,
	    FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, NULL);
	if (h == INVALID_HANDLE_VALUE)
		set_errno_from(GetLastError());
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

FILE *
platform_replace_open(const char *path, char **tmp)
{
	wchar_t *w;
	FILE *f;

	*tmp = xasprintf("%s.tmp.%ld", path, (long)GetCurrentProcessId());
	if ((w = win_widen(*tmp)) == NULL) {
		errno = EINVAL;
		f = NULL;
	} else
		f = _wfopen(w, L"wb");
	free(w);
	if (f == NULL) {
		free(*tmp);
		*tmp = NULL;
	}
	return f;
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

int
platform_control_connect(const char *state_dir)
{
	wchar_t *name = win_control_pipe(state_dir);
	HANDLE h = INVALID_HANDLE_VALUE;
	int fd = -1, tries;

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
