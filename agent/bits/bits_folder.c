/* bits_folder.c - folder sets on Windows (see bits_folder.h).
 *
 * BITS transfers files but cannot list a folder, so the agent lists it
 * itself, as the service (LocalSystem: the computer account on the
 * network), with FindFirstFileExW: regular files only, never into a
 * symbolic link, junction or other reparse point (FILE_ATTRIBUTE_
 * REPARSE_POINT), 32 levels at most.  An index on a UNC or local path is
 * read with CreateFileW, one over http(s) with a WinHTTP GET (the set's
 * proxy override and headers; TLS verified, as WinHTTP always does).  A
 * helper token is not used for either yet: a set that names one is
 * refused with a sentence, never listed under another identity. */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <winhttp.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bits/bits_folder.h"
#include "bits/bits_http.h"
#include "util.h"
#include "win/winutil.h"

/* 100-ns ticks from 1601 to seconds from 1970. */
static int64_t
unix_time(FILETIME ft)
{
	uint64_t t = (uint64_t)ft.dwHighDateTime << 32 | ft.dwLowDateTime;

	return (int64_t)(t / 10000000ull) - 11644473600ll;
}

static void
fail(struct bk_error *err, const char *remote, DWORD code, const char *what)
{
	char t[300];

	win_strerror(code, t, sizeof(t));
	memset(err, 0, sizeof(*err));
	err->context = BK_CTX_REMOTE_FILE;
	err->code = (int32_t)(0x80070000u | (code & 0xffff));
	err->text = xasprintf("%s %s: %s", what, remote, t);
	err->remote = xstrdup(remote);
}

static void
refuse(struct bk_error *err, const char *remote, const char *text)
{
	memset(err, 0, sizeof(*err));
	err->context = BK_CTX_GENERAL_QUEUE_MANAGER;
	err->code = (int32_t)0x80004001;	/* E_NOTIMPL */
	err->text = xstrdup(text);
	err->remote = xstrdup(remote);
}

struct walk {
	const struct bk_list *req;
	struct bk_listing *out;
	size_t cap, nkept;
	DWORD err;
	char *failed;
};

static int
add(struct walk *w, char *rel, uint64_t size, int64_t mtime,
    const char *why)
{
	if (w->out->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 256;
		w->out->v = xrealloc(w->out->v, w->cap * sizeof(*w->out->v));
	}
	w->out->v[w->out->n].name = rel;
	w->out->v[w->out->n].size = size;
	w->out->v[w->out->n].mtime = mtime;
	w->out->v[w->out->n].why = why;
	w->out->n++;
	return 0;
}

/* Lists dir (a wide path without trailing separator), rel its name below
 * the set's folder.  0, or -1 (w->err). */
static int
walk_dir(struct walk *w, const wchar_t *dir, const char *rel, unsigned depth)
{
	WIN32_FIND_DATAW fd;
	HANDLE h;
	wchar_t *pat, **subs = NULL;
	char **subrel = NULL;
	size_t nsubs = 0, i, len = wcslen(dir);
	int rc = -1;

	if (w->req->interrupt != NULL &&
	    w->req->interrupt(w->req->interrupt_arg)) {
		w->err = ERROR_CANCELLED;
		return -1;
	}
	pat = xmalloc((len + 3) * sizeof(*pat));
	memcpy(pat, dir, len * sizeof(*pat));
	memcpy(pat + len, L"\\*", 3 * sizeof(*pat));
	h = FindFirstFileExW(pat, FindExInfoBasic, &fd, FindExSearchNameMatch,
	    NULL, FIND_FIRST_EX_LARGE_FETCH);
	free(pat);
	if (h == INVALID_HANDLE_VALUE) {
		w->err = GetLastError();
		if (w->err == ERROR_FILE_NOT_FOUND && rel[0] != '\0')
			return 0;	/* an empty sub-folder */
		w->failed = xstrdup(rel[0] ? rel : ".");
		return -1;
	}
	do {
		char *name, *child;
		const char *why = NULL;

		if (wcscmp(fd.cFileName, L".") == 0 ||
		    wcscmp(fd.cFileName, L"..") == 0)
			continue;
		if (fd.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) {
			w->out->nlinks++;
			continue;
		}
		if ((name = win_narrow(fd.cFileName)) == NULL)
			continue;
		child = xasprintf("%s%s%s", rel, rel[0] ? "/" : "", name);
		if (strpbrk(name, "/\\") != NULL)
			why = "the name holds a path separator";
		free(name);
		if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) {
			if (why != NULL) {
				add(w, child, 0, 0, why);
				continue;
			}
			if ((w->req->enter != NULL &&
			    !w->req->enter(w->req->arg, child))) {
				free(child);
				continue;
			}
			if (depth >= w->req->max_depth) {
				w->out->ndeep++;
				free(child);
				continue;
			}
			subs = xrealloc(subs, (nsubs + 1) * sizeof(*subs));
			subrel = xrealloc(subrel, (nsubs + 1) *
			    sizeof(*subrel));
			subs[nsubs] = xmalloc((len + wcslen(fd.cFileName) + 2) *
			    sizeof(wchar_t));
			swprintf(subs[nsubs], len + wcslen(fd.cFileName) + 2,
			    L"%ls\\%ls", dir, fd.cFileName);
			subrel[nsubs++] = child;
			continue;
		}
		if (why == NULL && w->req->keep != NULL &&
		    !w->req->keep(w->req->arg, child)) {
			free(child);
			continue;
		}
		if ((why == NULL && w->nkept >= w->req->max_entries) ||
		    w->out->n >= w->req->max_entries + 1000) {
			free(child);
			w->out->over = 1;
			rc = 0;
			goto out;
		}
		add(w, child, (uint64_t)fd.nFileSizeHigh << 32 |
		    fd.nFileSizeLow, unix_time(fd.ftLastWriteTime), why);
		if (why == NULL)
			w->nkept++;
	} while (FindNextFileW(h, &fd));
	if (GetLastError() != ERROR_NO_MORE_FILES) {
		w->err = GetLastError();
		w->failed = xstrdup(rel[0] ? rel : ".");
		goto out;
	}
	FindClose(h);
	h = INVALID_HANDLE_VALUE;
	for (i = 0; i < nsubs && !w->out->over; i++)
		if (walk_dir(w, subs[i], subrel[i], depth + 1) != 0)
			goto out;
	rc = 0;
out:
	if (h != INVALID_HANDLE_VALUE)
		FindClose(h);
	for (i = 0; i < nsubs; i++) {
		free(subs[i]);
		free(subrel[i]);
	}
	free(subs);
	free(subrel);
	return rc;
}

int
bits_folder_list(struct backend *b, const struct bk_list *req,
    struct bk_listing *out, struct bk_error *err)
{
	struct walk w;
	wchar_t *dir = NULL;
	size_t n;
	int rc = BK_E_IO;

	(void)b;
	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	memset(&w, 0, sizeof(w));
	w.req = req;
	w.out = out;
	if (req->settings != NULL && req->settings->credential != NULL) {
		refuse(err, req->remote, "the bits backend lists folders as "
		    "the service only; a folder set with a helper_token is "
		    "not listed yet: grant the computer account read access "
		    "and use auth: computer, or list the files under "
		    "'files'");
		return BK_E_UNSUPPORTED;
	}
	if ((dir = win_widen(req->remote)) == NULL) {
		fail(err, req->remote, ERROR_INVALID_NAME, "listing");
		return BK_E_IO;
	}
	n = wcslen(dir);
	while (n > 3 && (dir[n - 1] == L'\\' || dir[n - 1] == L'/'))
		dir[--n] = 0;
	if (walk_dir(&w, dir, "", 0) == 0)
		rc = BK_OK;
	else if (w.err == ERROR_CANCELLED) {
		refuse(err, req->remote, "listing interrupted: listed again "
		    "on the next pass");
		rc = BK_E_INTERRUPTED;
	} else {
		char *what = xasprintf("listing folder %s of",
		    w.failed ? w.failed : ".");

		fail(err, req->remote, w.err, what);
		free(what);
	}
	if (rc != BK_OK)
		backend_free_listing(out);
	free(w.failed);
	free(dir);
	return rc;
}

/* An index over http(s): one GET, the body kept in memory up to max. */
static int
http_fetch(const struct bk_probe *p, size_t max, char **buf, size_t *len,
    struct bk_error *err)
{
	struct bits_http h;
	DWORD got;
	char *data = NULL;
	size_t n = 0, cap = 0;
	int rc = BK_E_IO;

	switch (bits_http_send(p->remote, p->settings, L"GET", &h)) {
	case BITS_HTTP_URL:
		fail(err, p->remote, GetLastError(), "cannot parse URL");
		goto out;
	case BITS_HTTP_CONNECT:
		fail(err, p->remote, GetLastError(), "cannot reach");
		err->context = BK_CTX_GENERAL_TRANSPORT;
		goto out;
	case BITS_HTTP_SEND:
		fail(err, p->remote, GetLastError(), "GET failed for");
		err->context = BK_CTX_GENERAL_TRANSPORT;
		goto out;
	case BITS_HTTP_OK:
		break;
	}
	if (h.status != 200) {
		memset(err, 0, sizeof(*err));
		err->context = BK_CTX_REMOTE_FILE;
		/* BG_E_HTTP_ERROR_xxx, as BITS reports it */
		err->code = (int32_t)(0x80190000u | (h.status & 0xffff));
		err->text = xasprintf("GET %s: HTTP status %lu", p->remote,
		    (unsigned long)h.status);
		err->remote = xstrdup(p->remote);
		goto out;
	}
	for (;;) {
		if (n == cap) {
			cap = cap ? 2 * cap : 65536;
			data = xrealloc(data, cap + 1);
		}
		if (!WinHttpReadData(h.req, data + n, (DWORD)(cap - n), &got)) {
			fail(err, p->remote, GetLastError(), "reading");
			goto out;
		}
		if (got == 0)
			break;
		n += got;
		if (n > max) {
			fail(err, p->remote, ERROR_FILE_TOO_LARGE, "reading");
			goto out;
		}
	}
	data[n] = '\0';
	*buf = data;
	*len = n;
	data = NULL;
	rc = BK_OK;
out:
	bits_http_close(&h);
	free(data);
	return rc;
}

int
bits_folder_fetch(struct backend *b, const struct bk_probe *p, size_t max,
    char **buf, size_t *len, struct bk_error *err)
{
	LARGE_INTEGER sz;
	HANDLE h = INVALID_HANDLE_VALUE;
	wchar_t *path = NULL;
	char *data = NULL;
	DWORD got;
	size_t done = 0;
	int rc = BK_E_IO;

	(void)b;
	*buf = NULL;
	*len = 0;
	memset(err, 0, sizeof(*err));
	if (p->settings != NULL && p->settings->credential != NULL) {
		refuse(err, p->remote, "the bits backend reads an index as "
		    "the service only; a set with a helper_token is not read "
		    "yet");
		return BK_E_UNSUPPORTED;
	}
	if (strncmp(p->remote, "http://", 7) == 0 ||
	    strncmp(p->remote, "https://", 8) == 0)
		return http_fetch(p, max, buf, len, err);
	if ((path = win_widen(p->remote)) == NULL) {
		fail(err, p->remote, ERROR_INVALID_NAME, "reading");
		goto out;
	}
	/* FILE_FLAG_OPEN_REPARSE_POINT: a link in the index's place is
	 * opened as itself and refused below, never followed. */
	h = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ |
	    FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_EXISTING,
	    FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_SEQUENTIAL_SCAN, NULL);
	if (h == INVALID_HANDLE_VALUE) {
		fail(err, p->remote, GetLastError(), "reading");
		goto out;
	}
	{
		BY_HANDLE_FILE_INFORMATION fi;

		if (!GetFileInformationByHandle(h, &fi) ||
		    (fi.dwFileAttributes & (FILE_ATTRIBUTE_REPARSE_POINT |
		    FILE_ATTRIBUTE_DIRECTORY))) {
			fail(err, p->remote, ERROR_CANT_ACCESS_FILE,
			    "reading");
			goto out;
		}
	}
	if (!GetFileSizeEx(h, &sz) || (uint64_t)sz.QuadPart > max) {
		fail(err, p->remote, ERROR_FILE_TOO_LARGE, "reading");
		goto out;
	}
	data = xmalloc((size_t)sz.QuadPart + 1);
	while (done < (size_t)sz.QuadPart) {
		if (!ReadFile(h, data + done, (DWORD)((size_t)sz.QuadPart -
		    done), &got, NULL)) {
			fail(err, p->remote, GetLastError(), "reading");
			goto out;
		}
		if (got == 0)
			break;
		done += got;
	}
	data[done] = '\0';
	*buf = data;
	*len = done;
	data = NULL;
	rc = BK_OK;
out:
	if (h != INVALID_HANDLE_VALUE)
		CloseHandle(h);
	free(data);
	free(path);
	return rc;
}
