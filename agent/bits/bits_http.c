/* bits_http.c - one WinHTTP request of the bits backend (bits_http.h).
 * BITS itself has no HEAD or small-GET call, so probes (refresh) and
 * index fetches (folder sets) speak WinHTTP with the job's settings. */
#include <windows.h>
#include <winhttp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bits/bits_http.h"
#include "util.h"
#include "win/winutil.h"

enum bits_http_step
bits_http_send(const char *remote, const struct bk_job_spec *s,
    const wchar_t *verb, struct bits_http *h)
{
	URL_COMPONENTS uc;
	wchar_t *wurl = win_widen(remote), *host = NULL, *path = NULL;
	wchar_t *wl = NULL, *wb = NULL, agent[64];
	DWORD access = WINHTTP_ACCESS_TYPE_DEFAULT_PROXY, sl;
	enum bits_http_step step = BITS_HTTP_URL;

	memset(h, 0, sizeof(*h));
	memset(&uc, 0, sizeof(uc));
	uc.dwStructSize = sizeof(uc);
	uc.dwHostNameLength = (DWORD)-1;
	uc.dwUrlPathLength = (DWORD)-1;
	uc.dwExtraInfoLength = (DWORD)-1;
	if (wurl == NULL || !WinHttpCrackUrl(wurl, 0, 0, &uc))
		goto out;
	host = xcalloc(uc.dwHostNameLength + 1, sizeof(wchar_t));
	memcpy(host, uc.lpszHostName, uc.dwHostNameLength * sizeof(wchar_t));
	path = xcalloc(uc.dwUrlPathLength + uc.dwExtraInfoLength + 2,
	    sizeof(wchar_t));
	memcpy(path, uc.lpszUrlPath, uc.dwUrlPathLength * sizeof(wchar_t));
	if (uc.dwExtraInfoLength)
		memcpy(path + uc.dwUrlPathLength, uc.lpszExtraInfo,
		    uc.dwExtraInfoLength * sizeof(wchar_t));
	if (path[0] == 0)
		path[0] = L'/';
	if (s != NULL && s->proxy_usage == BK_PROXY_NO_PROXY)
		access = WINHTTP_ACCESS_TYPE_NO_PROXY;
	else if (s != NULL && s->proxy_usage == BK_PROXY_OVERRIDE) {
		access = WINHTTP_ACCESS_TYPE_NAMED_PROXY;
		wl = win_widen(s->proxy_list);
		wb = win_widen(s->proxy_bypass);
	}
	swprintf(agent, sizeof(agent) / sizeof(agent[0]), L"bitsync/%hs",
	    BITSYNC_VERSION);
	step = BITS_HTTP_CONNECT;
	h->ses = WinHttpOpen(agent, access,
	    access == WINHTTP_ACCESS_TYPE_NAMED_PROXY ? wl :
	    WINHTTP_NO_PROXY_NAME, access == WINHTTP_ACCESS_TYPE_NAMED_PROXY &&
	    wb ? wb : WINHTTP_NO_PROXY_BYPASS, 0);
	if (h->ses == NULL)
		goto out;
	WinHttpSetTimeouts(h->ses, 10000, 10000, 30000, 30000);
	if ((h->con = WinHttpConnect(h->ses, host, uc.nPort, 0)) == NULL ||
	    (h->req = WinHttpOpenRequest(h->con, verb, path, NULL,
	    WINHTTP_NO_REFERER, WINHTTP_DEFAULT_ACCEPT_TYPES,
	    uc.nScheme == INTERNET_SCHEME_HTTPS ? WINHTTP_FLAG_SECURE : 0)) ==
	    NULL)
		goto out;
	if (s != NULL && s->custom_headers != NULL && s->custom_headers[0]) {
		wchar_t *wh = win_widen(s->custom_headers);

		WinHttpAddRequestHeaders(h->req, wh, (DWORD)-1L,
		    WINHTTP_ADDREQ_FLAG_ADD);
		free(wh);
	}
	step = BITS_HTTP_SEND;
	if (!WinHttpSendRequest(h->req, WINHTTP_NO_ADDITIONAL_HEADERS, 0,
	    WINHTTP_NO_REQUEST_DATA, 0, 0, 0) ||
	    !WinHttpReceiveResponse(h->req, NULL))
		goto out;
	sl = sizeof(h->status);
	WinHttpQueryHeaders(h->req, WINHTTP_QUERY_STATUS_CODE |
	    WINHTTP_QUERY_FLAG_NUMBER, WINHTTP_HEADER_NAME_BY_INDEX,
	    &h->status, &sl, WINHTTP_NO_HEADER_INDEX);
	step = BITS_HTTP_OK;
out:
	{
		/* The frees must not lose the failed step's error code. */
		DWORD e = GetLastError();

		free(wurl);
		free(host);
		free(path);
		free(wl);
		free(wb);
		SetLastError(e);
	}
	return step;
}

void
bits_http_close(struct bits_http *h)
{
	if (h->req)
		WinHttpCloseHandle(h->req);
	if (h->con)
		WinHttpCloseHandle(h->con);
	if (h->ses)
		WinHttpCloseHandle(h->ses);
	memset(h, 0, sizeof(*h));
}
