/* winutil.c - UTF-8 <-> UTF-16 and error texts for the Windows modules. */
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>

#include "util.h"
#include "win/winutil.h"

wchar_t *
win_widen(const char *s)
{
	int n;
	wchar_t *w;

	if (s == NULL)
		return NULL;
	n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
	if (n <= 0)
		return NULL;
	w = xmalloc((size_t)n * sizeof(wchar_t));
	MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n);
	return w;
}

char *
win_narrow(const wchar_t *w)
{
	int n;
	char *s;

	if (w == NULL)
		return NULL;
	n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
	if (n <= 0)
		return xstrdup("");
	s = xmalloc((size_t)n);
	WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL);
	return s;
}

void
win_strerror(unsigned long code, char *buf, size_t len)
{
	wchar_t wbuf[512];
	DWORD n;
	char *s;

	n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM |
	    FORMAT_MESSAGE_IGNORE_INSERTS, NULL, (DWORD)code, 0, wbuf,
	    sizeof(wbuf) / sizeof(wbuf[0]), NULL);
	while (n > 0 && (wbuf[n - 1] == L'\n' || wbuf[n - 1] == L'\r' ||
	    wbuf[n - 1] == L' ' || wbuf[n - 1] == L'.'))
		wbuf[--n] = 0;
	if (n == 0) {
		snprintf(buf, len, "error %lu", code);
		return;
	}
	s = win_narrow(wbuf);
	snprintf(buf, len, "%s (error %lu)", s, code);
	free(s);
}

void
win_report_event(const char *name, unsigned long id, const char *text)
{
	static HANDLE src;
	wchar_t *w, *wname;
	LPCWSTR strs[1];
	WORD type;

	if (src == NULL) {
		wname = win_widen(name);
		src = RegisterEventSourceW(NULL, wname);
		free(wname);
		if (src == NULL)
			return;
	}
	switch (id >> 30) {		/* the severity bits of an MC id */
	case 3:
		type = EVENTLOG_ERROR_TYPE;
		break;
	case 2:
		type = EVENTLOG_WARNING_TYPE;
		break;
	default:
		type = EVENTLOG_INFORMATION_TYPE;
	}
	w = win_widen(text);
	strs[0] = w ? w : L"";
	ReportEventW(src, type, 0, (DWORD)id, NULL, 1, 0, strs, NULL);
	free(w);
}
