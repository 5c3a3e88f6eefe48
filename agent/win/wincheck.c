/* wincheck.c - see wincheck.h. */
#include <windows.h>

#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "win/wincheck.h"
#include "win/winutil.h"

int
win_drive_is_fixed(char d, const char **kind)
{
	wchar_t root[4] = { 0, L':', L'\\', 0 };
	UINT t;

	if (d >= 'a' && d <= 'z')
		d = (char)(d - 'a' + 'A');
	if (d < 'A' || d > 'Z') {
		*kind = "not a drive letter";
		return 0;
	}
	root[0] = (wchar_t)d;
	t = GetDriveTypeW(root);
	switch (t) {
	case DRIVE_FIXED: *kind = "fixed"; return 1;
	case DRIVE_REMOVABLE: *kind = "removable"; break;
	case DRIVE_REMOTE: *kind = "network"; break;
	case DRIVE_CDROM: *kind = "CD-ROM"; break;
	case DRIVE_RAMDISK: *kind = "RAM disk"; break;
	case DRIVE_NO_ROOT_DIR: *kind = "not present"; break;
	default: *kind = "unknown"; break;
	}
	return 0;
}

static int
is_sep(wchar_t c)
{
	return c == L'\\' || c == L'/';
}

int
win_path_reparse(const char *p, char **where)
{
	return win_path_reparse_below(p, 0, where);
}

int
win_path_reparse_below(const char *p, size_t trusted_len, char **where)
{
	wchar_t *w = win_widen(p), c;
	size_t i, start, wtrusted = 0;
	DWORD a, e;
	int rc = 0;

	*where = NULL;
	if (w == NULL)
		return -1;
	/* The trusted bytes, counted in UTF-16 units. */
	if (trusted_len > 0) {
		char *t = xstrdup(p);
		wchar_t *wt;

		t[trusted_len < strlen(t) ? trusted_len : strlen(t)] = '\0';
		if ((wt = win_widen(t)) != NULL)
			wtrusted = wcslen(wt);
		free(wt);
		free(t);
	}
	/* Skip the root: "X:\" or "\\server\share\". */
	if (is_sep(w[0]) && is_sep(w[1])) {
		int seps = 0;

		for (i = 2; w[i] && seps < 2; i++)
			if (is_sep(w[i]))
				seps++;
		start = i;
	} else if (w[0] && w[1] == L':' && is_sep(w[2]))
		start = 3;
	else {
		free(w);
		return -1;
	}
	for (i = start;; i++) {
		if (w[i] != 0 && !is_sep(w[i]))
			continue;
		if (i == start) {		/* "\\" doubled or trailing */
			if (w[i] == 0)
				break;
			start = i + 1;
			continue;
		}
		if (i <= wtrusted) {	/* the admin's part of the path */
			if (w[i] == 0)
				break;
			continue;
		}
		c = w[i];
		w[i] = 0;
		a = GetFileAttributesW(w);
		if (a == INVALID_FILE_ATTRIBUTES) {
			e = GetLastError();
			w[i] = c;
			/* What does not exist yet cannot be a planted link. */
			if (e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND)
				break;
			rc = -1;
			break;
		}
		if (!(a & FILE_ATTRIBUTE_REPARSE_POINT)) {
			/* Ask the object itself, not what it leads to. */
			FILE_ATTRIBUTE_TAG_INFO ti;
			HANDLE h = CreateFileW(w, FILE_READ_ATTRIBUTES,
			    FILE_SHARE_READ | FILE_SHARE_WRITE |
			    FILE_SHARE_DELETE, NULL, OPEN_EXISTING,
			    FILE_FLAG_OPEN_REPARSE_POINT |
			    FILE_FLAG_BACKUP_SEMANTICS, NULL);

			if (h != INVALID_HANDLE_VALUE) {
				if (GetFileInformationByHandleEx(h,
				    FileAttributeTagInfo, &ti, sizeof(ti)))
					a |= ti.FileAttributes &
					    FILE_ATTRIBUTE_REPARSE_POINT;
				CloseHandle(h);
			}
		}
		if (a & FILE_ATTRIBUTE_REPARSE_POINT) {
			*where = win_narrow(w);
			w[i] = c;
			rc = 1;
			break;
		}
		w[i] = c;
		if (c == 0)
			break;
	}
	free(w);
	return rc;
}
