/* http.c - HTTP(S) transfers with libcurl.
 *
 * Each worker thread owns one easy handle and reuses it (curl_easy_reset
 * keeps the connection cache), so many small files from one server ride
 * one kept-alive connection per worker, as curl -Z does.  curl_easy_perform
 * drives libcurl's multi machinery underneath; a worker thread per
 * transfer is what lets HTTP and the blocking libsmbclient share one
 * scheduler.
 *
 * Resume: a temp file holding N bytes of a remote whose ETag (or else
 * Last-Modified) we recorded asks for "Range: bytes=N-" guarded by
 * "If-Range: <validator>"; a 206 whose Content-Range starts at N appends,
 * a 200 means the remote changed (or ignores ranges) and the temp file is
 * emptied and filled from zero.  CURLOPT_RANGE rather than
 * CURLOPT_RESUME_FROM, because the latter turns that 200 into an error. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Plain prototypes: the loader below takes their types with __typeof__,
 * which curl's type-checking macros would defeat. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>

#include "engine_int.h"

#define HTTP_BUFFER	(512 * 1024)	/* fewer, larger write(2)s */
#define HTTP_MAX_REDIRS	8
/* Start writeback every this many bytes, so the fsync that makes the
 * commit durable finds little left to do and the page cache stays small. */
#ifndef HTTP_SYNC_EVERY
#define HTTP_SYNC_EVERY	(32u << 20)
#endif

/* libcurl hands the body over in pieces of at most 16 KiB
 * (CURL_MAX_WRITE_SIZE); gathering them saves three write(2)s in four. */
#define HTTP_WBUF	(256 * 1024)

struct http_worker {
	CURL *easy;
	char *wbuf;		/* HTTP_WBUF bytes, made on first use */
};

struct hstate {
	struct xfer *x;
	int started, aborted, werr, badrange;
	char *etag, *lastmod;
	uint64_t clen, cr_start, cr_total;
	int have_clen, have_cr;
	uint64_t unsynced;
	off_t sync_from;
	char *wbuf;		/* the worker's; body bytes not yet written */
	size_t wlen;
};

int
xfer_fail(struct xfer *x, enum bk_error_context ctx, int32_t code,
    int transient, const char *fmt, ...)
{
	va_list ap;

	x->ectx = ctx;
	x->code = code;
	x->transient = transient;
	va_start(ap, fmt);
	vsnprintf(x->text, sizeof(x->text), fmt, ap);
	va_end(ap);
	return XFER_FAILED;
}

int
xfer_write(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}


/* libcurl is loaded on first use (dlopen), not linked, like libsmbclient
 * in smb.c: with its 33 libraries linked, every bitsync process — validate
 * and plan included — paid about 6 MiB of RSS and 30 ms of start-up before
 * reading a byte.  A host without it gets an ERROR on HTTP jobs that says
 * so. */
static struct {
	__typeof__(curl_global_init) *global_init;
	__typeof__(curl_easy_init) *easy_init;
	__typeof__(curl_easy_setopt) *easy_setopt;
	__typeof__(curl_easy_getinfo) *easy_getinfo;
	__typeof__(curl_easy_perform) *easy_perform;
	__typeof__(curl_easy_cleanup) *easy_cleanup;
	__typeof__(curl_easy_reset) *easy_reset;
	__typeof__(curl_easy_strerror) *easy_strerror;
	__typeof__(curl_slist_append) *slist_append;
	__typeof__(curl_slist_free_all) *slist_free_all;
	__typeof__(curl_getdate) *getdate;
	__typeof__(curl_url) *url;
	__typeof__(curl_url_set) *url_set;
	__typeof__(curl_url_get) *url_get;
	__typeof__(curl_url_cleanup) *url_cleanup;
	__typeof__(curl_free) *free;
} C;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_loaded;

static void
curl_load(void)
{
	void *h;

	if ((h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL)) == NULL)
		return;
#define SYM(n) if ((*(void **)&C.n = dlsym(h, "curl_" #n)) == NULL) return
	SYM(global_init);
	SYM(easy_init);
	SYM(easy_setopt);
	SYM(easy_getinfo);
	SYM(easy_perform);
	SYM(easy_cleanup);
	SYM(easy_reset);
	SYM(easy_strerror);
	SYM(slist_append);
	SYM(slist_free_all);
	SYM(getdate);
	SYM(url);
	SYM(url_set);
	SYM(url_get);
	SYM(url_cleanup);
	SYM(free);
#undef SYM
	/* Once, before any handle, as curl_global_init requires. */
	if (C.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return;
	curl_loaded = 1;
}

int
http_available(void)
{
	pthread_once(&curl_once, curl_load);
	return curl_loaded;
}

struct http_worker *
http_worker_new(void)
{
	struct http_worker *w;

	if (!http_available())
		return NULL;
	w = calloc(1, sizeof(*w));
	if (w != NULL && (w->easy = C.easy_init()) == NULL) {
		free(w);
		w = NULL;
	}
	return w;
}

void
http_worker_free(struct http_worker *w)
{
	if (w == NULL)
		return;
	C.easy_cleanup(w->easy);
	free(w->wbuf);
	free(w);
}

static void
hstate_reset(struct hstate *h)
{
	free(h->etag);
	free(h->lastmod);
	h->etag = h->lastmod = NULL;
	h->have_clen = h->have_cr = 0;
}

static char *
header_value(const char *line, size_t len, const char *name)
{
	size_t nl = strlen(name);
	const char *v, *e;
	char *out;

	if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return NULL;
	v = line + nl + 1;
	e = line + len;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
		e--;
	if ((out = malloc((size_t)(e - v) + 1)) == NULL)
		return NULL;
	memcpy(out, v, (size_t)(e - v));
	out[e - v] = '\0';
	return out;
}

/* The final response's headers are complete: decide append or restart. */
static int
headers_done(struct hstate *h, CURL *easy)
{
	struct xfer *x = h->x;
	struct bk_validators v;
	long code = 0;
	uint64_t total = BK_SIZE_UNKNOWN;
	int restart = 0;

	C.easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || (code >= 300 && code < 400) || code >= 400)
		return 0;	/* interim, redirect, or error (FAILONERROR) */
	if (code == 206) {
		if (!h->have_cr || h->cr_start != x->offset) {
			h->badrange = 1;
			return -1;
		}
		total = h->cr_total;
	} else {
		if (h->have_clen)
			total = h->clen;
		if (x->offset > 0) {
			/* The remote changed (If-Range failed) or it
			 * ignores ranges: start over. */
			if (ftruncate(x->fd, 0) != 0 ||
			    lseek(x->fd, 0, SEEK_SET) != 0) {
				h->werr = errno;
				return -1;
			}
			x->offset = 0;
			h->sync_from = 0;
			restart = 1;
		}
	}
	memset(&v, 0, sizeof(v));
	v.size = total;
	v.etag = h->etag;
	v.last_modified = h->lastmod;
	if (h->lastmod != NULL)
		v.mtime = C.getdate(h->lastmod, NULL);
	if (v.mtime < 0)
		v.mtime = 0;
	h->started = 1;
	if (x->on_start(x, &v, total, restart) != 0) {
		h->aborted = 1;
		return -1;
	}
	return 0;
}

static size_t
header_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct hstate *h = arg;
	size_t len = size * n;
	char *v;
	unsigned long long a = 0, b, t;

	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		hstate_reset(h);
		return len;
	}
	if (len <= 2 && (buf[0] == '\r' || buf[0] == '\n'))
		return len;	/* handled by the caller through started */
	if ((v = header_value(buf, len, "etag")) != NULL) {
		free(h->etag);
		h->etag = v;
	} else if ((v = header_value(buf, len, "last-modified")) != NULL) {
		free(h->lastmod);
		h->lastmod = v;
	} else if ((v = header_value(buf, len, "content-length")) != NULL) {
		h->have_clen = sscanf(v, "%llu", &a) == 1;
		h->clen = a;
		free(v);
	} else if ((v = header_value(buf, len, "content-range")) != NULL) {
		if (sscanf(v, "bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
			h->have_cr = 1;
			h->cr_start = a;
			h->cr_total = t;
		}
		free(v);
	}
	return len;
}

struct hctx {
	struct hstate h;
	CURL *easy;
};

static size_t
header_cb2(char *buf, size_t size, size_t n, void *arg)
{
	struct hctx *c = arg;
	size_t len = size * n;

	header_cb(buf, size, n, &c->h);
	if (len <= 2 && (buf[0] == '\r' || buf[0] == '\n') &&
	    !c->h.started && headers_done(&c->h, c->easy) != 0)
		return 0;
	return len;
}

/* Writes what is gathered; 0 or an errno (also kept in h->werr). */
static int
wflush(struct hstate *h)
{
	struct xfer *x = h->x;

	if (h->wlen == 0 || h->werr != 0)
		return h->werr;
	if ((h->werr = xfer_write(x->fd, h->wbuf, h->wlen)) != 0)
		return h->werr;
	h->unsynced += h->wlen;
	h->wlen = 0;
	if (h->unsynced >= HTTP_SYNC_EVERY) {
		sync_file_range(x->fd, h->sync_from, (off_t)h->unsynced,
		    SYNC_FILE_RANGE_WRITE);
		h->sync_from += (off_t)h->unsynced;
		h->unsynced = 0;
	}
	return 0;
}

static size_t
write_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct hctx *c = arg;
	struct hstate *h = &c->h;
	struct xfer *x = h->x;
	size_t len = size * n;

	if (!h->started) {
		h->badrange = 1;
		return 0;
	}
	if (h->wlen + len > HTTP_WBUF && wflush(h) != 0)
		return 0;
	if (len > HTTP_WBUF) {
		if ((h->werr = xfer_write(x->fd, buf, len)) != 0)
			return 0;
		h->unsynced += len;
	} else {
		memcpy(h->wbuf + h->wlen, buf, len);
		h->wlen += len;
	}
	if (x->on_data(x, len) != 0) {
		h->aborted = 1;
		return 0;
	}
	return len;
}

static int
xferinfo_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	struct hctx *c = arg;

	(void)dt; (void)dn; (void)ut; (void)un;
	if (c->h.x->should_abort(c->h.x)) {
		c->h.aborted = 1;
		return 1;
	}
	return 0;
}

/* BITS's bypass list -> curl's NOPROXY: "*.corp.example" becomes
 * "corp.example" (curl matches the domain and its subdomains); "<local>"
 * (names without a dot) has no curl spelling and is decided by
 * bypass_local() before the transfer. */
static char *
noproxy_list(const char *bypass)
{
	char *out, *o, *copy, *tok, *save = NULL;
	size_t len = bypass ? strlen(bypass) : 0;

	if ((out = calloc(1, len + 2)) == NULL)
		return NULL;
	if (bypass == NULL || (copy = strdup(bypass)) == NULL)
		return out;
	o = out;
	for (tok = strtok_r(copy, " ,;", &save); tok != NULL;
	    tok = strtok_r(NULL, " ,;", &save)) {
		if (strcasecmp(tok, "<local>") == 0)
			continue;
		while (*tok == '*' || *tok == '.')
			tok++;
		if (*tok == '\0')
			continue;
		if (o != out)
			*o++ = ',';
		o = stpcpy(o, tok);
	}
	free(copy);
	return out;
}

static int
bypass_local(const char *url, const char *bypass)
{
	CURLU *u;
	char *host = NULL;
	int local = 0;

	if (bypass == NULL || strcasestr(bypass, "<local>") == NULL)
		return 0;
	if ((u = C.url()) == NULL)
		return 0;
	if (C.url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    C.url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		local = strchr(host, '.') == NULL && strchr(host, ':') == NULL;
	C.free(host);
	C.url_cleanup(u);
	return local;
}

static struct curl_slist *
header_list(const char *headers, const char *extra)
{
	struct curl_slist *l = NULL, *t;
	char *copy, *tok, *save = NULL;

	if (headers != NULL && (copy = strdup(headers)) != NULL) {
		for (tok = strtok_r(copy, "\r\n", &save); tok != NULL;
		    tok = strtok_r(NULL, "\r\n", &save)) {
			if ((t = C.slist_append(l, tok)) == NULL)
				break;
			l = t;
		}
		free(copy);
	}
	if (extra != NULL && (t = C.slist_append(l, extra)) != NULL)
		l = t;
	return l;
}

/* Options every request of a job carries. */
/* Entry n (from 0) of a proxy list ("a:8080 b:3128", also ',' or ';'
 * between entries) into buf, or NULL when the list is shorter. */
static const char *
proxy_entry(const char *list, int n, char *buf, size_t len)
{
	const char *p = list;
	size_t k;

	for (;;) {
		p += strspn(p, " ,;");
		k = strcspn(p, " ,;");
		if (k == 0)
			return NULL;
		if (n-- == 0)
			break;
		p += k;
	}
	if (k >= len)
		return NULL;
	memcpy(buf, p, k);
	buf[k] = '\0';
	return buf;
}

/* Whether an OVERRIDE job has a proxy after entry n to fail over to. */
static int
proxy_next(const struct ejob *j, int n)
{
	char buf[512];

	return j->proxy_usage == BK_PROXY_OVERRIDE && j->proxy_list != NULL &&
	    proxy_entry(j->proxy_list, n + 1, buf, sizeof(buf)) != NULL;
}

/* A failure that says the proxy itself is unreachable: the next one in
 * the list is tried, as BITS does with its list. */
static int
proxy_failed(CURLcode rc)
{
	return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_PROXY;
}

/* Whether url is plain http:// (no TLS under it). */
static int
plain_http(const char *url)
{
	return strncasecmp(url, "http://", 7) == 0;
}

/* Options every request of a job carries; proxy is the entry of an
 * OVERRIDE job's list to use. */
static void
setup_common(CURL *e, const struct xfer *x, int proxy, char **noproxy,
    char *userbuf, size_t userlen)
{
	const struct ejob *j = x->job;
	char pbuf[512];
	const char *use;

	C.easy_setopt(e, CURLOPT_URL, x->remote);
	C.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	C.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	C.easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	C.easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	C.easy_setopt(e, CURLOPT_MAXREDIRS, (long)HTTP_MAX_REDIRS);
	C.easy_setopt(e, CURLOPT_FAILONERROR, 1L);
	/* A proxy's CONNECT answer is not the file's response. */
	C.easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	C.easy_setopt(e, CURLOPT_USERAGENT, "bitsync/" BITSYNC_VERSION);
	C.easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
	/* A connection that moves nothing for a minute is dead; the job
	 * then retries after its retry delay, as BITS does. */
	C.easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	C.easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
	/* TLS is always verified (design §7); ca_file adds anchors to the
	 * system's, which stay reachable through CAPATH. */
	C.easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	C.easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (x->ca_file != NULL && *x->ca_file != '\0') {
		C.easy_setopt(e, CURLOPT_CAINFO, x->ca_file);
		C.easy_setopt(e, CURLOPT_CAPATH, "/etc/ssl/certs");
	}
	switch (j->proxy_usage) {
	case BK_PROXY_NO_PROXY:
		/* "" also ignores http_proxy and friends. */
		C.easy_setopt(e, CURLOPT_PROXY, "");
		break;
	case BK_PROXY_OVERRIDE:
		/* libcurl takes one proxy at a time; the caller walks the
		 * list when one cannot be reached. */
		use = j->proxy_list ? proxy_entry(j->proxy_list, proxy, pbuf,
		    sizeof(pbuf)) : NULL;
		if (use == NULL || bypass_local(x->remote, j->proxy_bypass))
			C.easy_setopt(e, CURLOPT_PROXY, "");
		else
			C.easy_setopt(e, CURLOPT_PROXY, use);
		free(*noproxy);
		*noproxy = noproxy_list(j->proxy_bypass);
		C.easy_setopt(e, CURLOPT_NOPROXY, *noproxy ? *noproxy : "");
		break;
	default:
		break;		/* PRECONFIG: the service's environment */
	}
	if (x->user != NULL) {
		if (x->domain != NULL && *x->domain != '\0' &&
		    strchr(x->user, '\\') == NULL && strchr(x->user, '@') ==
		    NULL)
			snprintf(userbuf, userlen, "%s\\%s", x->domain,
			    x->user);
		else
			snprintf(userbuf, userlen, "%s", x->user);
		C.easy_setopt(e, CURLOPT_USERNAME, userbuf);
		C.easy_setopt(e, CURLOPT_PASSWORD,
		    x->password ? x->password : "");
		/* Basic puts the helper token's password on the wire as it
		 * is: only inside TLS.  Over plain http:// the schemes that
		 * never send it (Negotiate, NTLM, Digest) are still offered;
		 * a server that asks only for Basic gets no credentials and
		 * answers 401 (map_error says why).  libcurl drops the
		 * credentials on a redirect to another scheme, host or
		 * port, so https:// redirected to http:// sends none. */
		C.easy_setopt(e, CURLOPT_HTTPAUTH, plain_http(x->remote) ?
		    (long)(CURLAUTH_ANY & ~CURLAUTH_BASIC) :
		    (long)CURLAUTH_ANY);
	}
}

static int
map_error(struct xfer *x, CURL *e, CURLcode rc, const char *errbuf)
{
	long code = 0;
	const char *msg = errbuf[0] ? errbuf : C.easy_strerror(rc);

	switch (rc) {
	case CURLE_HTTP_RETURNED_ERROR:
		C.easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
		if (code == 401 && x->user != NULL && plain_http(x->remote))
			return xfer_fail(x, BK_CTX_REMOTE_FILE, HR_HTTP(code),
			    0, "HTTP status 401 for %s: the helper token's "
			    "password is never sent as Basic authentication "
			    "over plain http://; use an https:// source (or "
			    "a server that offers Negotiate, NTLM or Digest)",
			    x->remote);
		return xfer_fail(x, BK_CTX_REMOTE_FILE, HR_HTTP(code),
		    code >= 500 || code == 408 || code == 429,
		    "HTTP status %ld for %s", code, x->remote);
	case CURLE_COULDNT_CONNECT:
		return xfer_fail(x, BK_CTX_GENERAL_TRANSPORT,
		    HR_INET_CANNOT_CONNECT, 1, "cannot connect: %s", msg);
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return xfer_fail(x, BK_CTX_GENERAL_TRANSPORT,
		    HR_INET_NAME_NOT_RESOLVED, 1, "%s", msg);
	case CURLE_OPERATION_TIMEDOUT:
		return xfer_fail(x, BK_CTX_GENERAL_TRANSPORT,
		    HR_INET_TIMEOUT, 1, "%s", msg);
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return xfer_fail(x, BK_CTX_GENERAL_TRANSPORT,
		    HR_INET_CONNECTION_ABORTED, 1, "connection lost: %s", msg);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
		return xfer_fail(x, BK_CTX_GENERAL_TRANSPORT,
		    HR_INET_INVALID_CA, 0, "server certificate not trusted:"
		    " %s", msg);
	case CURLE_SSL_CONNECT_ERROR:
		return xfer_fail(x, BK_CTX_GENERAL_TRANSPORT,
		    HR_INET_SECURE_FAILURE, 0, "TLS failure: %s", msg);
	case CURLE_TOO_MANY_REDIRECTS:
		return xfer_fail(x, BK_CTX_REMOTE_FILE,
		    HR_INET_REDIRECT_FAILED, 0, "more than %d redirects",
		    HTTP_MAX_REDIRS);
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return xfer_fail(x, BK_CTX_REMOTE_FILE, HR_INET_INVALID_URL,
		    0, "%s", msg);
	default:
		return xfer_fail(x, BK_CTX_GENERAL_TRANSPORT, HR_GEN_FAILURE,
		    1, "%s", msg);
	}
}

int
http_transfer(struct http_worker *w, struct xfer *x)
{
	struct hctx c;
	CURL *e = w->easy;
	struct curl_slist *hdrs = NULL;
	char *noproxy = NULL, range[32], ifrange[1100], userbuf[512];
	char errbuf[CURL_ERROR_SIZE];
	const char *validator = NULL;
	CURLcode rc;
	long code = 0;
	int ret, attempt, proxy = 0;

	if (w->wbuf == NULL && (w->wbuf = malloc(HTTP_WBUF)) == NULL)
		return xfer_fail(x, BK_CTX_GENERAL_QUEUE_MANAGER, HR_GEN_FAILURE,
		    1, "out of memory");
	for (attempt = 0; ; attempt++) {
		memset(&c, 0, sizeof(c));
		c.h.x = x;
		c.h.wbuf = w->wbuf;
		c.h.sync_from = (off_t)x->offset;
		c.easy = e;
		errbuf[0] = '\0';
		C.easy_reset(e);
		setup_common(e, x, proxy, &noproxy, userbuf, sizeof(userbuf));
		C.easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
		C.easy_setopt(e, CURLOPT_BUFFERSIZE, (long)HTTP_BUFFER);
		C.easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb2);
		C.easy_setopt(e, CURLOPT_HEADERDATA, &c);
		C.easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
		C.easy_setopt(e, CURLOPT_WRITEDATA, &c);
		C.easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
		C.easy_setopt(e, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
		C.easy_setopt(e, CURLOPT_XFERINFODATA, &c);
		validator = NULL;
		if (x->offset > 0 && x->have != NULL)
			validator = x->have->etag ? x->have->etag :
			    x->have->last_modified;
		if (x->offset > 0 && validator == NULL) {
			/* Nothing proves the bytes we hold belong to the
			 * current remote: never splice, start over. */
			if (ftruncate(x->fd, 0) != 0 ||
			    lseek(x->fd, 0, SEEK_SET) != 0) {
				ret = xfer_fail(x, BK_CTX_LOCAL_FILE,
				    lf_hresult(errno), 0, "%s",
				    strerror(errno));
				goto out;
			}
			x->offset = 0;
		}
		if (x->offset > 0) {
			snprintf(range, sizeof(range), "%llu-",
			    (unsigned long long)x->offset);
			snprintf(ifrange, sizeof(ifrange), "If-Range: %s",
			    validator);
			C.easy_setopt(e, CURLOPT_RANGE, range);
		}
		C.slist_free_all(hdrs);
		hdrs = header_list(x->job->headers, x->offset > 0 ? ifrange :
		    NULL);
		C.easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);

		rc = C.easy_perform(e);
		/* Whatever arrived is a valid prefix of the file, even when
		 * the transfer then failed: keep it for the resume. */
		wflush(&c.h);
		if (rc == CURLE_HTTP_RETURNED_ERROR && x->offset > 0 &&
		    attempt == 0 && C.easy_getinfo(e,
		    CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 416) {
			/* We hold at least the whole file (killed before
			 * recording it done): fetch it again whole. */
			if (ftruncate(x->fd, 0) == 0 &&
			    lseek(x->fd, 0, SEEK_SET) == 0) {
				x->offset = 0;
				free(noproxy);
				noproxy = NULL;
				hstate_reset(&c.h);
				continue;
			}
		}
		if (proxy_failed(rc) && !c.h.started && proxy_next(x->job,
		    proxy)) {
			proxy++;
			hstate_reset(&c.h);
			continue;
		}
		break;
	}
	if (c.h.aborted)
		ret = XFER_ABORTED;
	else if (c.h.werr != 0)
		ret = xfer_fail(x, BK_CTX_LOCAL_FILE, lf_hresult(c.h.werr), 0,
		    "writing the temporary file: %s", strerror(c.h.werr));
	else if (c.h.badrange)
		ret = xfer_fail(x, BK_CTX_REMOTE_FILE,
		    HR_BG_INVALID_SERVER_RESPONSE, 1, "the server answered a"
		    " range request with another range");
	else if (rc != CURLE_OK)
		ret = map_error(x, e, rc, errbuf);
	else if (!c.h.started)
		ret = xfer_fail(x, BK_CTX_REMOTE_FILE,
		    HR_BG_INVALID_SERVER_RESPONSE, 1, "no response body");
	else
		ret = XFER_OK;
out:
	/* The easy handle keeps pointers to these until the next reset. */
	C.easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
	C.easy_setopt(e, CURLOPT_NOPROXY, NULL);
	C.easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
	C.slist_free_all(hdrs);
	free(noproxy);
	hstate_reset(&c.h);
	return ret;
}

static size_t
probe_header_cb(char *buf, size_t size, size_t n, void *arg)
{
	return header_cb(buf, size, n, arg);
}

static size_t
discard_cb(char *buf, size_t size, size_t n, void *arg)
{
	(void)buf; (void)arg;
	return size * n;
}

int
http_probe(const struct xfer *settings, struct bk_validators *out,
    struct bk_error *err)
{
	struct xfer x = *settings;
	struct hstate h;
	CURL *e;
	char *noproxy = NULL, userbuf[512], errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs;
	CURLcode rc;
	int ret = BK_OK, proxy = 0;

	memset(out, 0, sizeof(*out));
	memset(&h, 0, sizeof(h));
	h.x = &x;
	if (!http_available()) {
		memset(err, 0, sizeof(*err));
		err->context = BK_CTX_GENERAL_TRANSPORT;
		err->code = HR_GEN_FAILURE;
		err->text = strdup("libcurl (libcurl.so.4) cannot be loaded: "
		    "install the libcurl4 package");
		return BK_E_UNSUPPORTED;
	}
	if ((e = C.easy_init()) == NULL)
		return BK_E_IO;
	hdrs = header_list(x.job->headers, NULL);
	do {
		C.easy_reset(e);
		setup_common(e, &x, proxy, &noproxy, userbuf,
		    sizeof(userbuf));
		C.easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
		C.easy_setopt(e, CURLOPT_NOBODY, 1L);
		C.easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
		C.easy_setopt(e, CURLOPT_HEADERFUNCTION, probe_header_cb);
		C.easy_setopt(e, CURLOPT_HEADERDATA, &h);
		C.easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_cb);
		rc = C.easy_perform(e);
	} while (proxy_failed(rc) && proxy_next(x.job, proxy++));
	if (rc != CURLE_OK) {
		map_error(&x, e, rc, errbuf);
		memset(err, 0, sizeof(*err));
		err->context = x.ectx;
		err->code = x.code;
		err->text = strdup(x.text);
		err->remote = strdup(x.remote);
		ret = BK_E_IO;
		goto out;
	}
	out->size = h.have_clen ? h.clen : BK_SIZE_UNKNOWN;
	out->etag = h.etag;
	out->last_modified = h.lastmod;
	out->mtime = h.lastmod ? C.getdate(h.lastmod, NULL) : 0;
	if (out->mtime < 0)
		out->mtime = 0;
	h.etag = h.lastmod = NULL;
out:
	hstate_reset(&h);
	C.slist_free_all(hdrs);
	C.easy_cleanup(e);
	free(noproxy);
	return ret;
}
