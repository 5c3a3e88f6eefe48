/* bits_http.h - one WinHTTP request as the bits backend's own checks
 * make it (a HEAD probe, an index GET): the job's proxy settings and
 * custom headers, the same timeouts, sent and answered. */
#ifndef BITSYNC_BITS_HTTP_H
#define BITSYNC_BITS_HTTP_H

#include <windows.h>
#include <winhttp.h>

#include "backend.h"

struct bits_http {
	HINTERNET ses, con, req;	/* NULL until made */
	DWORD status;			/* the answer's HTTP status */
};

/* The step that failed, for the caller's error context and wording. */
enum bits_http_step {
	BITS_HTTP_OK,
	BITS_HTTP_URL,		/* remote is no URL WinHTTP can parse */
	BITS_HTTP_CONNECT,	/* session, connection or request not made */
	BITS_HTTP_SEND,		/* sent or answered with a transport error */
};

/* Sends verb (L"HEAD", L"GET") for remote with s's proxy usage and
 * headers (s may be NULL); GetLastError() tells why a step failed.
 * h is filled either way and always released with bits_http_close. */
enum bits_http_step bits_http_send(const char *remote,
    const struct bk_job_spec *s, const wchar_t *verb, struct bits_http *h);

void bits_http_close(struct bits_http *h);

#endif
