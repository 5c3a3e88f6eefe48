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
 * "If-Range: <validator>"; a 206 whose Content-Range starts at N, with
 * the validator sent and the total recorded, appends; a 200 means the
 * remote changed (or ignores ranges) and the temp file is emptied and
 * filled from zero.  CURLOPT_RANGE rather than CURLOPT_RESUME_FROM,
 * because the latter turns that 200 into an error.
 *
 * The server is not trusted (hdr.c parses its headers strictly): a 206
 * that starts elsewhere, or belongs to another version, is not appended
 * but the file fetched from zero; a short 206 is continued from where it
 * ended; bytes beyond what an answer announced are refused; a body of
 * unknown size stops before the destination's filesystem falls under
 * its reserve.  Without a validator nothing is ever resumed. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* Plain prototypes: the loader below takes their types with __typeof__,
 * which curl's type-checking macros would defeat. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>

#include "engine_int.h"
#include "xhash.h"
#include "hdr.h"
#include "krb.h"
#include "util.h"

#define HTTP_BUFFER	(512 * 1024)	/* fewer, larger write(2)s */
#define HTTP_MAX_REDIRS	8
/* How often a body of unknown size checks the free space (xfer_room). */
#define HTTP_SPACE_STEP	((uint64_t)8 << 20)
/* A short 206 is continued from where it ended, this often per attempt;
 * each round must bring bytes. */
#define HTTP_MAX_ROUNDS	10000
/* Range answers that cannot be appended, before the file is fetched
 * from zero instead, and fetches from zero per attempt. */
#define HTTP_MAX_REFETCH 2
/* Start writeback every this many bytes, so the fsync that makes the
 * commit durable finds little left to do and the page cache stays small. */
#ifndef HTTP_SYNC_EVERY
#define HTTP_SYNC_EVERY	(32u << 20)
#endif
/* The slowest a transfer may go before it counts as stalled: below
 * HTTP_LOW_SPEED bytes a second for HTTP_LOW_SPEED_TIME seconds it ends
 * as a transient error and retries after the set's retry delay.  1 B/s
 * let a slowloris server (a few bytes a minute) hold a worker until
 * max_download_time (90 days by default). */
#define HTTP_LOW_SPEED		1024L
#define HTTP_LOW_SPEED_TIME	300L
/* A refresh probe (a HEAD) runs on the daemon's own thread: it gives up
 * after this long in all, connect included, so a server that accepts
 * and never answers cannot stop the daemon answering. */
#define HTTP_PROBE_TIMEOUT	20L

/* libcurl hands the body over in pieces of at most 16 KiB
 * (CURL_MAX_WRITE_SIZE); gathering them saves three write(2)s in four. */
#define HTTP_WBUF	(256 * 1024)

struct http_worker {
	CURL *easy;
	int cert_asked;		/* tls_msg_cb: the last handshake asked */
	char *wbuf;		/* HTTP_WBUF bytes, made on first use */
};

struct hstate {
	struct xfer *x;
	int started, aborted, werr;
	int badrange;		/* the answer is malformed: refused */
	int refetch;		/* the range answer cannot be appended to what
				 * the temp holds: fetch the file from zero */
	int nospace;		/* 1: the announced size does not fit; 2: the
				 * body outgrew the free space */
	int overlong;		/* more bytes than the answer announced */
	int manual;		/* redirects are followed here, not by libcurl */
	int redirect;		/* manual: this answer is a redirect */
	char why[192];		/* what was wrong with the answer */
	struct hdr_resp r;
	uint64_t total;		/* of the file, from this answer, or unknown */
	uint64_t limit;		/* offset just past this answer's bytes */
	uint64_t got;		/* body bytes of this answer */
	uint64_t checked;	/* got at the last free-space check */
	uint64_t avail, reserve;	/* of the last free-space check */
	uint64_t unsynced;
	off_t sync_from;
	char *wbuf;		/* the worker's; body bytes not yet written */
	size_t wlen;
};

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
	hdr_reset(&h->r);
}

/* Whether need more bytes leave the destination's filesystem its
 * reserve (xfer_room: 64 MiB, or 5 % of a smaller one), so a server that
 * sends without end (or announces more than fits) stops before the disk is
 * full for everyone else on the machine.  Unknown (fstatvfs failed)
 * counts as room: a write error still stops the transfer. */
static int
room_for(struct hstate *h, uint64_t need)
{
	h->checked = h->got;
	return xfer_room(h->x->fd, need, &h->avail, &h->reserve);
}

/* The version a 206 belongs to is the one the temp holds: the validator
 * we sent in If-Range comes back unchanged, and so does the total.  A
 * server that ignores If-Range (or a cache in front of it) would
 * otherwise splice two versions into one file. */
static int
same_version(struct hstate *h)
{
	const struct bk_validators *have = h->x->have;

	if (have == NULL)
		return 0;
	if (have->size != BK_SIZE_UNKNOWN && have->size != h->r.cr_total) {
		snprintf(h->why, sizeof(h->why), "a total of %llu bytes where"
		    " the file had %llu", (unsigned long long)h->r.cr_total,
		    (unsigned long long)have->size);
		return 0;
	}
	if (have->etag != NULL ? h->r.etag == NULL ||
	    strcmp(have->etag, h->r.etag) != 0 :
	    have->last_modified != NULL && (h->r.lastmod == NULL ||
	    strcmp(have->last_modified, h->r.lastmod) != 0)) {
		snprintf(h->why, sizeof(h->why), "a part of another version"
		    " (validator %s, asked for %s)",
		    have->etag ? (h->r.etag ? h->r.etag : "none") :
		    (h->r.lastmod ? h->r.lastmod : "none"),
		    have->etag ? have->etag : have->last_modified);
		return 0;
	}
	return 1;
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
	if (h->manual && code >= 300 && code < 400) {
		h->redirect = 1;	/* followed by follow_redirect */
		return 0;
	}
	if (code < 200 || (code >= 300 && code < 400) || code >= 400)
		return 0;	/* interim, redirect, or error (FAILONERROR) */
	if (h->r.flags & HDR_BAD) {
		h->badrange = 1;
		snprintf(h->why, sizeof(h->why), "a malformed or contradictory"
		    " %s header", h->r.bad);
		return -1;
	}
	if (code == 206) {
		if (!(h->r.flags & HDR_CR)) {
			h->badrange = 1;
			snprintf(h->why, sizeof(h->why), "a 206 without a"
			    " valid Content-Range");
			return -1;
		}
		if (h->r.cr_start != x->offset) {
			h->refetch = 1;
			snprintf(h->why, sizeof(h->why), "a range starting at"
			    " byte %llu where byte %llu was asked for",
			    (unsigned long long)h->r.cr_start,
			    (unsigned long long)x->offset);
			return -1;
		}
		if ((h->r.flags & HDR_CLEN) &&
		    h->r.clen != h->r.cr_end - h->r.cr_start + 1) {
			h->badrange = 1;
			snprintf(h->why, sizeof(h->why), "a Content-Length of"
			    " %llu for a range of %llu bytes",
			    (unsigned long long)h->r.clen,
			    (unsigned long long)(h->r.cr_end - h->r.cr_start +
			    1));
			return -1;
		}
		if (x->offset > 0 && !same_version(h)) {
			h->refetch = 1;
			return -1;
		}
		total = h->r.cr_total;
		h->limit = h->r.cr_end + 1;
	} else {
		if (h->r.flags & HDR_CLEN)
			total = h->r.clen;
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
		h->limit = total;
	}
	if (total != BK_SIZE_UNKNOWN && !room_for(h, total - x->offset)) {
		h->nospace = 1;
		snprintf(h->why, sizeof(h->why), "announces %llu bytes",
		    (unsigned long long)(total - x->offset));
		return -1;
	}
	memset(&v, 0, sizeof(v));
	v.size = total;
	v.etag = h->r.etag;
	v.last_modified = h->r.lastmod;
	if (h->r.lastmod != NULL)
		v.mtime = C.getdate(h->r.lastmod, NULL);
	if (v.mtime < 0)
		v.mtime = 0;
	h->total = total;
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

	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		hstate_reset(h);
		return len;
	}
	if (len <= 2 && (buf[0] == '\r' || buf[0] == '\n'))
		return len;	/* handled by the caller through started */
	/* A malformed header is remembered (HDR_BAD) and judged when the
	 * headers end: on an error answer it does not matter. */
	if (hdr_line(&h->r, buf, len, time(NULL)) != 0 &&
	    !(h->r.flags & HDR_BAD))
		return 0;	/* out of memory */
	return len;
}

struct hctx {
	struct hstate h;
	CURL *easy;
	int *cert_asked;	/* the worker's */
};

static size_t
header_cb2(char *buf, size_t size, size_t n, void *arg)
{
	struct hctx *c = arg;
	size_t len = size * n;

	if (header_cb(buf, size, n, &c->h) != len)
		return 0;
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
	if ((h->werr = xhash_write(x->hash, x->fd, h->wbuf, h->wlen)) != 0)
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

	if (h->redirect)
		return len;	/* a redirect's own page: not the file */
	if (!h->started) {
		h->badrange = 1;
		snprintf(h->why, sizeof(h->why), "a body before its headers");
		return 0;
	}
	/* Never more than the answer announced: the bytes past it would be
	 * a file nobody described. */
	if (h->limit != BK_SIZE_UNKNOWN &&
	    x->offset + h->got + len > h->limit) {
		h->overlong = 1;
		return 0;
	}
	/* A body of unknown size is bounded by the free space: checked
	 * before the reserve could be reached between two checks. */
	if (h->total == BK_SIZE_UNKNOWN && (h->got == 0 || h->got -
	    h->checked + h->wlen + len >= h->reserve / 2 ||
	    h->got - h->checked >= HTTP_SPACE_STEP) &&
	    !room_for(h, h->wlen + len)) {
		h->nospace = 2;
		snprintf(h->why, sizeof(h->why), "sent %llu bytes of a body"
		    " of unknown size", (unsigned long long)(x->offset +
		    h->got));
		return 0;
	}
	if (h->wlen + len > HTTP_WBUF && wflush(h) != 0)
		return 0;
	if (len > HTTP_WBUF) {
		if ((h->werr = xhash_write(x->hash, x->fd, buf, len)) != 0)
			return 0;
		h->unsynced += len;
	} else {
		memcpy(h->wbuf + h->wlen, buf, len);
		h->wlen += len;
	}
	h->got += len;
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

/* Every option is checked: a libcurl that refuses one (too old for
 * CURLOPT_PROTOCOLS_STR, say) would otherwise silently drop a protocol
 * restriction or the TLS checks.  The first refusal is kept and the
 * transfer fails with its name before any request. */
/* A ca_file larger than this is not a list of trust anchors (the whole
 * Mozilla bundle is about 200 KiB). */
#define CA_FILE_MAX (16 << 20)

struct opts {
	CURL *e;
	CURLcode rc;
	const char *name;
	int *cert_asked;	/* set: watch for a CertificateRequest */
};

static void
opt_note(struct opts *o, const char *name, CURLcode rc)
{
	if (rc != CURLE_OK && o->rc == CURLE_OK) {
		o->rc = rc;
		o->name = name;
	}
}

#define OPT(o, opt, val) \
	opt_note((o), #opt, C.easy_setopt((o)->e, opt, (val)))

static int
opts_fail(struct xfer *x, const struct opts *o)
{
	if (strcmp(o->name, "ca_file") == 0)
		return xfer_fail(x, BK_CTX_GENERAL_TRANSPORT,
		    HR_INET_SECURE_FAILURE, 0, "ca_file %s (key ca_file in"
		    " [engine]) is not a readable regular file of at most"
		    " %d MiB (a link, a FIFO, empty?): point it at a PEM file"
		    " of trust anchors owned by root", x->ca_file,
		    CA_FILE_MAX >> 20);
	return xfer_fail(x, BK_CTX_GENERAL_TRANSPORT, HR_GEN_FAILURE, 0,
	    "libcurl refused %s (%s) for %s: this libcurl cannot enforce"
	    " what the transfer requires; install libcurl4 7.85 or later",
	    o->name, C.easy_strerror(o->rc), x->remote);
}

/* Whether a job's redirects are followed by follow_redirect rather
 * than libcurl: libcurl strips only Authorization and Cookie when a
 * redirect leaves the origin, so a job with custom headers (an X-Auth
 * token, say) follows its redirects itself and drops them there. */
static int
manual_redirects(const struct xfer *x)
{
	return x->job->headers != NULL && x->job->headers[0] != '\0';
}

/* The low-speed floor: HTTP_LOW_SPEED bytes a second over
 * HTTP_LOW_SPEED_TIME seconds.  BITSYNC_TEST_LOW_SPEED="BPS:SECS" lowers
 * it for the test suite only (a floor of seconds instead of minutes);
 * an unparsable value is ignored. */
static void
low_speed(long *bps, long *secs)
{
	const char *e = getenv("BITSYNC_TEST_LOW_SPEED");
	long a, b;
	char c;

	*bps = HTTP_LOW_SPEED;
	*secs = HTTP_LOW_SPEED_TIME;
	if (e != NULL && sscanf(e, "%ld:%ld%c", &a, &b, &c) == 2 && a > 0 &&
	    b > 0) {
		*bps = a;
		*secs = b;
	}
}

/* Whether the TLS server of the last handshake on a handle asked for a
 * client certificate (sent a CertificateRequest).  nginx with
 * ssl_verify_client on, for one, completes the handshake without one and
 * answers 400: the status alone would send the administrator to the
 * file's URL, not to client_certificate.  Seen with OpenSSL's message
 * callback on each new connection's SSL_CTX; OpenSSL is libcurl's own
 * (already loaded: RTLD_NOLOAD).  Without it nothing is seen and the
 * status is reported as it is. */
static struct {
	void (*set_msg_cb)(void *, void (*)(int, int, int, const void *,
	    size_t, void *, void *));
	long (*ctx_ctrl)(void *, int, long, void *);
} O;
static pthread_once_t ssl_once = PTHREAD_ONCE_INIT;
#define TLS_HANDSHAKE		22	/* SSL3_RT_HANDSHAKE */
#define TLS_CLIENT_HELLO	1
#define TLS_CERT_REQUEST	13
#define SSL_CTRL_MSG_CB_ARG	16	/* SSL_CTRL_SET_MSG_CALLBACK_ARG */

static void
ssl_load(void)
{
	void *h;

	if ((h = dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD)) ==
	    NULL)
		return;
	*(void **)&O.set_msg_cb = dlsym(h, "SSL_CTX_set_msg_callback");
	*(void **)&O.ctx_ctrl = dlsym(h, "SSL_CTX_ctrl");
	/* The handle stays open: libcurl holds the library anyway. */
}

static void
tls_msg_cb(int write_p, int version, int type, const void *buf, size_t len,
    void *ssl, void *arg)
{
	int *asked = arg;
	const unsigned char *b = buf;

	(void)version; (void)ssl;
	if (type != TLS_HANDSHAKE || len < 1)
		return;
	if (write_p && b[0] == TLS_CLIENT_HELLO)
		*asked = 0;	/* a new handshake */
	else if (!write_p && b[0] == TLS_CERT_REQUEST)
		*asked = 1;
}

/* CURLOPT_SSL_CTX_FUNCTION: each new connection's SSL_CTX reports its
 * handshake messages to tls_msg_cb. */
static CURLcode
ssl_ctx_cb(CURL *e, void *sslctx, void *arg)
{
	(void)e;
	pthread_once(&ssl_once, ssl_load);
	if (O.set_msg_cb != NULL && O.ctx_ctrl != NULL) {
		O.set_msg_cb(sslctx, tls_msg_cb);
		O.ctx_ctrl(sslctx, SSL_CTRL_MSG_CB_ARG, 0, arg);
	}
	return CURLE_OK;
}

/* Options every request of a job carries; url is where this request
 * goes (x->remote, or a redirect's target followed by hand), foreign
 * says its origin is not x->remote's: then neither the job's custom
 * headers (left out by the caller) nor the helper token go there.
 * proxy is the entry of an OVERRIDE job's list to use. */
static void
setup_common(struct opts *o, const struct xfer *x, const char *url,
    int foreign, int proxy, char **noproxy, char *userbuf, size_t userlen)
{
	const struct ejob *j = x->job;
	char pbuf[512];
	const char *use;
	long bps, secs;

	OPT(o, CURLOPT_URL, url);
	OPT(o, CURLOPT_NOSIGNAL, 1L);
	OPT(o, CURLOPT_PROTOCOLS_STR, "http,https");
	/* TLS is never given up on the way (design §7): an https source
	 * is redirected to https only; else a MITM of the plain leg swaps
	 * the file. */
	OPT(o, CURLOPT_REDIR_PROTOCOLS_STR, plain_http(x->remote) ?
	    "http,https" : "https");
	OPT(o, CURLOPT_FOLLOWLOCATION, manual_redirects(x) ? 0L : 1L);
	OPT(o, CURLOPT_MAXREDIRS, (long)HTTP_MAX_REDIRS);
	OPT(o, CURLOPT_FAILONERROR, 1L);
	/* A proxy's CONNECT answer is not the file's response. */
	OPT(o, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	OPT(o, CURLOPT_USERAGENT, "bitsync/" BITSYNC_VERSION);
	OPT(o, CURLOPT_CONNECTTIMEOUT, 30L);
	/* A connection slower than the floor for minutes is stalled (or a
	 * slowloris server holding the worker); the job then retries after
	 * its retry delay, as BITS does. */
	low_speed(&bps, &secs);
	OPT(o, CURLOPT_LOW_SPEED_LIMIT, bps);
	OPT(o, CURLOPT_LOW_SPEED_TIME, secs);
	/* TLS is always verified (design §7); ca_file adds anchors to the
	 * system's, which stay reachable through CAPATH. */
	OPT(o, CURLOPT_SSL_VERIFYPEER, 1L);
	OPT(o, CURLOPT_SSL_VERIFYHOST, 2L);
	if (x->ca_file != NULL && *x->ca_file != '\0') {
		/* Read here, without following a link or blocking, and
		 * handed over as a blob: libcurl would open the path itself
		 * and block for ever on a FIFO planted there (the config
		 * load refuses a ca_file others can change; this covers
		 * what happens to it afterwards). */
		struct curl_blob blob = { NULL, 0, CURL_BLOB_COPY };
		struct stat sb;
		ssize_t n = -1;
		int fd;

		fd = open(x->ca_file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_NOCTTY | O_CLOEXEC);
		if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    sb.st_size > 0 && sb.st_size <= CA_FILE_MAX &&
		    (blob.data = malloc((size_t)sb.st_size)) != NULL)
			n = read(fd, blob.data, (size_t)sb.st_size);
		if (n > 0) {
			blob.len = (size_t)n;
			OPT(o, CURLOPT_CAINFO_BLOB, &blob);
			OPT(o, CURLOPT_CAPATH, "/etc/ssl/certs");
		} else
			opt_note(o, "ca_file", CURLE_SSL_CACERT_BADFILE);
		free(blob.data);
		if (fd >= 0)
			close(fd);
	}
	if (o->cert_asked != NULL && !plain_http(url)) {
		OPT(o, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
		OPT(o, CURLOPT_SSL_CTX_DATA, o->cert_asked);
	}
	if (x->client_pem != NULL) {
		/* The certificate and key of the job's client_certificate,
		 * as read through cred.c's checked descriptor: libcurl
		 * never opens the path itself.  Certificate and key share
		 * the one PEM file. */
		struct curl_blob cert = { (void *)x->client_pem,
		    x->client_pem_len, CURL_BLOB_COPY };

		OPT(o, CURLOPT_SSLCERTTYPE, "PEM");
		OPT(o, CURLOPT_SSLCERT_BLOB, &cert);
		OPT(o, CURLOPT_SSLKEYTYPE, "PEM");
		OPT(o, CURLOPT_SSLKEY_BLOB, &cert);
	}
	switch (j->proxy_usage) {
	case BK_PROXY_NO_PROXY:
		/* "" also ignores http_proxy and friends. */
		OPT(o, CURLOPT_PROXY, "");
		break;
	case BK_PROXY_OVERRIDE:
		/* libcurl takes one proxy at a time; the caller walks the
		 * list when one cannot be reached. */
		use = j->proxy_list ? proxy_entry(j->proxy_list, proxy, pbuf,
		    sizeof(pbuf)) : NULL;
		if (use == NULL || bypass_local(url, j->proxy_bypass))
			OPT(o, CURLOPT_PROXY, "");
		else
			OPT(o, CURLOPT_PROXY, use);
		free(*noproxy);
		*noproxy = noproxy_list(j->proxy_bypass);
		OPT(o, CURLOPT_NOPROXY, *noproxy ? *noproxy : "");
		break;
	default:
		break;		/* PRECONFIG: the service's environment */
	}
	if (x->user != NULL && !foreign) {
		if (x->domain != NULL && *x->domain != '\0' &&
		    strchr(x->user, '\\') == NULL && strchr(x->user, '@') ==
		    NULL)
			snprintf(userbuf, userlen, "%s\\%s", x->domain,
			    x->user);
		else
			snprintf(userbuf, userlen, "%s", x->user);
		OPT(o, CURLOPT_USERNAME, userbuf);
		OPT(o, CURLOPT_PASSWORD,
		    x->password ? x->password : "");
		/* Basic puts the helper token's password on the wire as it
		 * is: only inside TLS.  Over plain http:// only Negotiate
		 * (Kerberos) is offered: a MITM can ask for NTLM or Digest
		 * and crack the answer offline.  A server that asks for
		 * anything else gets no credentials and answers 401
		 * (map_error says why).  libcurl drops the credentials on a
		 * redirect to another scheme, host or port, and so does
		 * follow_redirect. */
		OPT(o, CURLOPT_HTTPAUTH, plain_http(url) ?
		    (long)CURLAUTH_NEGOTIATE : (long)CURLAUTH_ANY);
	} else if (x->machine != NULL && !foreign) {
		/* auth: computer: Negotiate (Kerberos) as the computer, as
		 * BITS does under LocalSystem; never Basic, NTLM or Digest
		 * (there is no password, and a server that asks for them
		 * gets none).  The empty user only switches libcurl's
		 * authentication on. */
		OPT(o, CURLOPT_USERNAME, "");
		OPT(o, CURLOPT_PASSWORD, "");
		OPT(o, CURLOPT_HTTPAUTH, (long)CURLAUTH_NEGOTIATE);
	}
	/* GSS-API takes its credentials from this thread's cache: the
	 * computer's only for the computer's own source (a helper token's
	 * Negotiate, or a redirect to another host, never presents it). */
	krb_gss_thread_ccache(x->machine != NULL && x->user == NULL &&
	    !foreign);
}

/* An https source redirected to plain http://: refused. */
static int
downgrade_fail(struct xfer *x, const char *to)
{
	/* The target may be a signed URL: redacted like every echo. */
	char *r = util_redact_url(to);
	int failed = xfer_fail(x, BK_CTX_REMOTE_FILE,
	    HR_INET_REDIRECT_FAILED, 0, "%s redirects to %.80s: refused, the "
	    "redirect downgrades to http (an https source is followed to "
	    "https only, TLS is never given up); point the source at the "
	    "file's https URL or fix the server's redirect", x->remote, r);

	free(r);
	return failed;
}

/* Whether the TLS server of e's last connection asked for a client
 * certificate (a CertificateRequest naming the CAs it accepts).  nginx
 * with ssl_verify_client on, for one, finishes the handshake without a
 * certificate and answers 400: the status alone would send the
 * administrator to the file's URL, not to client_certificate.  OpenSSL
 * is libcurl's (already loaded: RTLD_NOLOAD); without it, 0. */
/* The TLS failure of a server that wants a client certificate, or that
 * refused the one given. */
static int
client_cert_fail(struct xfer *x, const char *what)
{
	if (x->client_pem == NULL)
		return xfer_fail(x, BK_CTX_GENERAL_TRANSPORT,
		    HR_INET_CLIENT_CERT, 0, "%s: the server asks for a TLS"
		    " client certificate and none is configured (%s): give"
		    " the source 'client_certificate: NAME' with NAME.pem in"
		    " the credential_dir", x->remote, what);
	return xfer_fail(x, BK_CTX_GENERAL_TRANSPORT, HR_INET_CLIENT_CERT, 0,
	    "%s: the server refused the TLS client certificate %s (%s):"
	    " check it is issued by a CA the server trusts, not expired,"
	    " and meant for client authentication", x->remote,
	    x->job->client_cert ? x->job->client_cert : "", what);
}

/* A TLS alert that says the certificate was missing or refused (TLS 1.3
 * servers send it after the handshake, so it comes as a receive error).
 * A TLS 1.2 server says handshake_failure, which means other things too:
 * that one counts only after the server asked for a certificate
 * (cert_asked_alert). */
static int
cert_alert(const char *msg)
{
	return strstr(msg, "certificate required") != NULL ||
	    strstr(msg, "alert bad certificate") != NULL ||
	    strstr(msg, "alert unknown ca") != NULL ||
	    strstr(msg, "alert certificate unknown") != NULL ||
	    strstr(msg, "alert certificate expired") != NULL;
}

static int
cert_asked_alert(const char *msg, const int *cert_asked)
{
	return cert_alert(msg) || (cert_asked != NULL && *cert_asked &&
	    strstr(msg, "alert handshake failure") != NULL);
}

static int
map_error(struct xfer *x, CURL *e, CURLcode rc, const char *errbuf,
    const int *cert_asked)
{
	long code = 0, bps, secs;
	const char *msg = errbuf[0] ? errbuf : C.easy_strerror(rc);
	char *redir = NULL;

	switch (rc) {
	case CURLE_HTTP_RETURNED_ERROR:
		C.easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
		if (code == 401 && x->user != NULL && plain_http(x->remote))
			return xfer_fail(x, BK_CTX_REMOTE_FILE, HR_HTTP(code),
			    0, "HTTP status 401 for %s: over plain http:// "
			    "the helper token is offered to Negotiate "
			    "(Kerberos) only, never as Basic, NTLM or Digest "
			    "authentication, which a man in the middle could "
			    "read or crack; use an https:// source (or a "
			    "server that offers Negotiate)", x->remote);
		if ((code == 400 || code == 403) && !plain_http(x->remote) &&
		    cert_asked != NULL && *cert_asked) {
			char what[64];

			snprintf(what, sizeof(what), "HTTP status %ld", code);
			return client_cert_fail(x, what);
		}
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
		low_speed(&bps, &secs);
		return xfer_fail(x, BK_CTX_GENERAL_TRANSPORT,
		    HR_INET_TIMEOUT, 1, "%s: %s (a transfer slower than %ld"
		    " bytes/s for %ld s, or a probe that takes over %ld s,"
		    " counts as stalled): retried after the retry delay;"
		    " check the server and the network path to it",
		    x->remote, msg, bps, secs, HTTP_PROBE_TIMEOUT);
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		if (!plain_http(x->remote) && cert_asked_alert(msg,
		    cert_asked))
			return client_cert_fail(x, msg);
		/* FALLTHROUGH */
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
	case CURLE_SSL_CERTPROBLEM:
		if (rc == CURLE_SSL_CERTPROBLEM)
			return xfer_fail(x, BK_CTX_GENERAL_TRANSPORT,
			    HR_INET_CLIENT_CERT, 0, "client certificate %s: %s:"
			    " NAME.pem must hold the PEM certificate and its"
			    " unencrypted PEM private key",
			    x->job->client_cert ? x->job->client_cert : "",
			    msg);
		if (cert_asked_alert(msg, cert_asked))
			return client_cert_fail(x, msg);
		return xfer_fail(x, BK_CTX_GENERAL_TRANSPORT,
		    HR_INET_SECURE_FAILURE, 0, "TLS failure: %s", msg);
	case CURLE_TOO_MANY_REDIRECTS:
		return xfer_fail(x, BK_CTX_REMOTE_FILE,
		    HR_INET_REDIRECT_FAILED, 0, "%s: more than %d redirects"
		    " (a loop?): point the source at the file's final URL",
		    x->remote, HTTP_MAX_REDIRS);
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		/* A redirect to file:, ftp: and the like lands here: only
		 * http and https are ever followed. */
		if (C.easy_getinfo(e, CURLINFO_REDIRECT_URL, &redir) !=
		    CURLE_OK || redir == NULL) {
			/* Followed already: the URL it failed on. */
			if (C.easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &redir) !=
			    CURLE_OK || redir == NULL ||
			    strcmp(redir, x->remote) == 0)
				redir = NULL;
		}
		if (redir != NULL && plain_http(redir) &&
		    !plain_http(x->remote))
			return downgrade_fail(x, redir);
		if (redir != NULL) {
			/* A server's redirect target may be a signed URL:
			 * its userinfo and query values stay out of the
			 * error text (status, state, log). */
			char *r = util_redact_url(redir);
			int failed = xfer_fail(x, BK_CTX_REMOTE_FILE,
			    HR_INET_REDIRECT_FAILED, 0, "%s redirects to %.80s:"
			    " refused, only http and https are followed (%s)",
			    x->remote, r, msg);

			free(r);
			return failed;
		}
		return xfer_fail(x, BK_CTX_REMOTE_FILE, HR_INET_INVALID_URL,
		    0, "%s: %s", x->remote, msg);
	default:
		return xfer_fail(x, BK_CTX_GENERAL_TRANSPORT, HR_GEN_FAILURE,
		    1, "%s", msg);
	}
}

/* The origin of url ("scheme://host:port", the port spelled out) into
 * buf; "" when it cannot be parsed. */
static void
url_origin(const char *url, char *buf, size_t len)
{
	CURLU *u;
	char *sch = NULL, *host = NULL, *port = NULL;

	buf[0] = '\0';
	if ((u = C.url()) == NULL)
		return;
	if (C.url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    C.url_get(u, CURLUPART_SCHEME, &sch, 0) == CURLUE_OK &&
	    C.url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    C.url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
	    CURLUE_OK)
		snprintf(buf, len, "%s://%s:%s", sch, host, port);
	C.free(sch);
	C.free(host);
	C.free(port);
	C.url_cleanup(u);
}

/* A job that follows its redirects itself (manual_redirects) got one:
 * the next URL goes to *url (allocated), *foreign is set for good once
 * a hop leaves x->remote's origin (its custom headers and helper token
 * stay behind).  The rules are libcurl's with REDIR_PROTOCOLS as set:
 * at most HTTP_MAX_REDIRS, http and https only, never from https down
 * to http.  XFER_OK or the job's error. */
static int
follow_redirect(struct xfer *x, CURL *e, char **url, int *n, int *foreign)
{
	char *to = NULL, a[600], b[600], *copy;

	if (C.easy_getinfo(e, CURLINFO_REDIRECT_URL, &to) != CURLE_OK ||
	    to == NULL)
		return xfer_fail(x, BK_CTX_REMOTE_FILE,
		    HR_INET_REDIRECT_FAILED, 0, "%s answered a redirect"
		    " without a usable Location: check the server",
		    x->remote);
	if (++*n > HTTP_MAX_REDIRS)
		return xfer_fail(x, BK_CTX_REMOTE_FILE,
		    HR_INET_REDIRECT_FAILED, 0, "%s: more than %d redirects"
		    " (a loop?): point the source at the file's final URL",
		    x->remote, HTTP_MAX_REDIRS);
	if (plain_http(to) && !plain_http(x->remote))
		return downgrade_fail(x, to);
	if (!plain_http(to) && strncasecmp(to, "https://", 8) != 0)
		return xfer_fail(x, BK_CTX_REMOTE_FILE,
		    HR_INET_REDIRECT_FAILED, 0, "%s redirects to %.80s:"
		    " refused, only http and https are followed", x->remote,
		    to);
	url_origin(x->remote, a, sizeof(a));
	url_origin(to, b, sizeof(b));
	if (a[0] == '\0' || strcasecmp(a, b) != 0)
		*foreign = 1;
	if ((copy = strdup(to)) == NULL)
		return xfer_fail(x, BK_CTX_GENERAL_QUEUE_MANAGER,
		    HR_GEN_FAILURE, 1, "out of memory");
	free(*url);
	*url = copy;
	return XFER_OK;
}

/* Empties the temp file: what it holds cannot be continued. */
static int
restart_temp(struct xfer *x)
{
	if (ftruncate(x->fd, 0) != 0 || lseek(x->fd, 0, SEEK_SET) != 0)
		return errno;
	x->offset = 0;
	return 0;
}

/* Why an attempt ended, as the job's error. */
static int
judge(struct xfer *x, struct hctx *c, CURL *e, CURLcode rc,
    const char *errbuf)
{
	struct hstate *h = &c->h;

	if (h->aborted)
		return XFER_ABORTED;
	if (h->werr != 0)
		return xfer_fail(x, BK_CTX_LOCAL_FILE, lf_hresult(h->werr), 0,
		    "writing the temporary file for %s: %s", x->remote,
		    strerror(h->werr));
	if (h->nospace)
		return xfer_fail(x, BK_CTX_LOCAL_FILE, HR_DISK_FULL, 0,
		    "%s %s, which would leave less than the %llu bytes kept"
		    " free on the destination's filesystem (%llu free)%s:"
		    " make room there, or check what the server sends",
		    x->remote, h->why, (unsigned long long)h->reserve,
		    (unsigned long long)h->avail, h->nospace == 2 ?
		    "; the partial temporary file was emptied" : "");
	/* A server that keeps contradicting itself is an ERROR at once, not
	 * a transient one: the bytes it sends before the contradiction would
	 * count as progress and keep the job retrying for ever.  The
	 * reconciler resumes an ERROR job after the set's backoff. */
	if (h->overlong)
		return xfer_fail(x, BK_CTX_REMOTE_FILE,
		    HR_BG_INVALID_SERVER_RESPONSE, 0, "%s sent more than the"
		    " %llu bytes it announced: the extra bytes were refused;"
		    " check the server or the proxy or cache in front of it",
		    x->remote, (unsigned long long)h->limit);
	if (h->badrange || h->refetch)
		return xfer_fail(x, BK_CTX_REMOTE_FILE,
		    HR_BG_INVALID_SERVER_RESPONSE, 0, "%s answered with %s:"
		    " nothing of that answer was kept; check the server or"
		    " the proxy or cache in front of it", x->remote, h->why);
	if (rc != CURLE_OK) {
		if (rc == CURLE_HTTP_RETURNED_ERROR &&
		    (h->r.flags & HDR_RETRY))
			x->retry_after = h->r.retry_after;
		return map_error(x, e, rc, errbuf, c->cert_asked);
	}
	if (!h->started)
		return xfer_fail(x, BK_CTX_REMOTE_FILE,
		    HR_BG_INVALID_SERVER_RESPONSE, 1, "%s: no response body",
		    x->remote);
	return XFER_OK;
}

int
http_transfer(struct http_worker *w, struct xfer *x)
{
	struct hctx c;
	struct opts o;
	CURL *e = w->easy;
	struct curl_slist *hdrs = NULL;
	char *noproxy = NULL, range[32], ifrange[HDR_VALIDATOR_MAX + 16];
	char userbuf[512], errbuf[CURL_ERROR_SIZE], *url = NULL;
	const char *validator = NULL;
	CURLcode rc = CURLE_OK;
	long code = 0;
	int ret, err, proxy = 0, refetch = 0, rounds = 0, whole = 0;
	int nredir = 0, foreign = 0;

	memset(&c, 0, sizeof(c));
	if (w->wbuf == NULL && (w->wbuf = malloc(HTTP_WBUF)) == NULL) {
		ret = xfer_fail(x, BK_CTX_GENERAL_QUEUE_MANAGER, HR_GEN_FAILURE,
		    1, "out of memory");
		goto out;
	}
	for (;;) {
		hstate_reset(&c.h);
		memset(&c, 0, sizeof(c));
		c.h.x = x;
		c.h.wbuf = w->wbuf;
		c.h.sync_from = (off_t)x->offset;
		c.h.manual = manual_redirects(x);
		c.easy = e;
		c.cert_asked = &w->cert_asked;
		errbuf[0] = '\0';
		C.easy_reset(e);
		memset(&o, 0, sizeof(o));
		o.e = e;
		o.cert_asked = &w->cert_asked;
		setup_common(&o, x, url ? url : x->remote, foreign, proxy,
		    &noproxy, userbuf, sizeof(userbuf));
		OPT(&o, CURLOPT_ERRORBUFFER, errbuf);
		OPT(&o, CURLOPT_BUFFERSIZE, (long)HTTP_BUFFER);
		OPT(&o, CURLOPT_HEADERFUNCTION, header_cb2);
		OPT(&o, CURLOPT_HEADERDATA, &c);
		OPT(&o, CURLOPT_WRITEFUNCTION, write_cb);
		OPT(&o, CURLOPT_WRITEDATA, &c);
		OPT(&o, CURLOPT_NOPROGRESS, 0L);
		OPT(&o, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
		OPT(&o, CURLOPT_XFERINFODATA, &c);
		validator = NULL;
		if (x->offset > 0 && x->have != NULL)
			validator = x->have->etag ? x->have->etag :
			    x->have->last_modified;
		/* Without a validator nothing proves the bytes we hold
		 * belong to the current remote: never splice, start over.
		 * (A server without ETag and Last-Modified is fetched whole
		 * on every attempt; that is the price of never mixing two
		 * versions.) */
		if (x->offset > 0 && (validator == NULL || whole)) {
			if ((err = restart_temp(x)) != 0) {
				ret = xfer_fail(x, BK_CTX_LOCAL_FILE,
				    lf_hresult(err), 0, "emptying the temporary"
				    " file for %s: %s", x->remote,
				    strerror(err));
				goto out;
			}
		}
		if (x->offset > 0) {
			snprintf(range, sizeof(range), "%llu-",
			    (unsigned long long)x->offset);
			snprintf(ifrange, sizeof(ifrange), "If-Range: %s",
			    validator);
			OPT(&o, CURLOPT_RANGE, range);
		}
		C.slist_free_all(hdrs);
		hdrs = header_list(foreign ? NULL : x->job->headers,
		    x->offset > 0 ? ifrange : NULL);
		OPT(&o, CURLOPT_HTTPHEADER, hdrs);
		if (o.rc != CURLE_OK) {
			ret = opts_fail(x, &o);
			goto out;
		}

		rc = C.easy_perform(e);
		/* Whatever arrived is a valid prefix of the file, even when
		 * the transfer then failed: keep it for the resume. */
		wflush(&c.h);
		if (c.h.aborted || c.h.werr != 0)
			break;
		if (c.h.redirect && rc == CURLE_OK) {
			if ((ret = follow_redirect(x, e, &url, &nredir,
			    &foreign)) != XFER_OK)
				goto out;
			continue;
		}
		if (rc == CURLE_HTTP_RETURNED_ERROR && x->offset > 0 &&
		    !whole && C.easy_getinfo(e, CURLINFO_RESPONSE_CODE,
		    &code) == CURLE_OK && code == 416) {
			/* We hold at least the whole file (killed before
			 * recording it done): fetch it again whole. */
			whole = 1;
			continue;
		}
		if (c.h.refetch && refetch < HTTP_MAX_REFETCH) {
			/* Nothing of the answer was written; what the temp
			 * holds may be of another version: from zero. */
			refetch++;
			whole = 1;
			continue;
		}
		if (c.h.nospace == 2 && restart_temp(x) != 0)
			c.h.werr = errno;
		if (proxy_failed(rc) && !c.h.started && proxy_next(x->job,
		    proxy)) {
			proxy++;
			continue;
		}
		if (rc != CURLE_OK || !c.h.started || c.h.total ==
		    BK_SIZE_UNKNOWN)
			break;
		x->offset += c.h.got;
		whole = 0;
		if (x->offset >= c.h.total)
			break;
		/* A short answer (a 206 that ends before the file does, or
		 * a 200 cut at a clean boundary): continue where it ended,
		 * as long as each round brings bytes. */
		if (c.h.got == 0 || ++rounds >= HTTP_MAX_ROUNDS) {
			ret = xfer_fail(x, BK_CTX_REMOTE_FILE,
			    HR_BG_INVALID_SERVER_RESPONSE, 1, "%s sent %llu of"
			    " %llu bytes and then %s: the transfer resumes"
			    " after the retry delay", x->remote,
			    (unsigned long long)x->offset,
			    (unsigned long long)c.h.total, c.h.got == 0 ?
			    "nothing more" : "kept sending short ranges");
			goto out;
		}
		if (x->have == NULL || (x->have->etag == NULL &&
		    x->have->last_modified == NULL)) {
			/* Continuing would need a validator. */
			ret = xfer_fail(x, BK_CTX_REMOTE_FILE,
			    HR_BG_INVALID_SERVER_RESPONSE, 1, "%s sent %llu of"
			    " %llu bytes without an ETag or Last-Modified to"
			    " resume from: the file is fetched again after"
			    " the retry delay; configure the server to send"
			    " validators", x->remote,
			    (unsigned long long)x->offset,
			    (unsigned long long)c.h.total);
			goto out;
		}
	}
	ret = judge(x, &c, e, rc, errbuf);
out:
	/* The easy handle keeps pointers to these until the next reset;
	 * clearing them cannot fail. */
	C.easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
	C.easy_setopt(e, CURLOPT_NOPROXY, NULL);
	C.easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
	C.slist_free_all(hdrs);
	free(noproxy);
	free(url);
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

/* A probe's progress callback: the caller's interrupt (a signal or a
 * client waiting on the daemon) ends it at once. */
static int
probe_progress_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	struct xfer *x = arg;

	(void)dt; (void)dn; (void)ut; (void)un;
	return x->should_abort != NULL && x->should_abort(x);
}

int
http_probe(const struct xfer *settings, struct bk_validators *out,
    struct bk_error *err)
{
	struct xfer x = *settings;
	struct hstate h;
	CURL *e;
	char *noproxy = NULL, userbuf[512], errbuf[CURL_ERROR_SIZE] = "";
	char *url = NULL;
	struct curl_slist *hdrs;
	struct opts o;
	CURLcode rc = CURLE_OK;
	long code = 0;
	int ret = BK_OK, proxy = 0, nredir = 0, foreign = 0, failed = 0;
	int cert_asked = 0;

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
	for (;;) {
		C.easy_reset(e);
		memset(&o, 0, sizeof(o));
		o.e = e;
		o.cert_asked = &cert_asked;
		setup_common(&o, &x, url ? url : x.remote, foreign, proxy,
		    &noproxy, userbuf, sizeof(userbuf));
		OPT(&o, CURLOPT_HTTPHEADER, foreign ? NULL : hdrs);
		OPT(&o, CURLOPT_NOBODY, 1L);
		OPT(&o, CURLOPT_ERRORBUFFER, errbuf);
		OPT(&o, CURLOPT_HEADERFUNCTION, probe_header_cb);
		OPT(&o, CURLOPT_HEADERDATA, &h);
		OPT(&o, CURLOPT_WRITEFUNCTION, discard_cb);
		/* Bounded in all, and given up at once when the daemon has
		 * a signal or a client to serve (U2 of the review). */
		OPT(&o, CURLOPT_TIMEOUT, HTTP_PROBE_TIMEOUT);
		OPT(&o, CURLOPT_NOPROGRESS, 0L);
		OPT(&o, CURLOPT_XFERINFOFUNCTION, probe_progress_cb);
		OPT(&o, CURLOPT_XFERINFODATA, &x);
		if (o.rc != CURLE_OK)
			break;
		rc = C.easy_perform(e);
		if (rc == CURLE_OK && manual_redirects(&x) &&
		    C.easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code) ==
		    CURLE_OK && code >= 300 && code < 400) {
			if (follow_redirect(&x, e, &url, &nredir, &foreign) !=
			    XFER_OK) {
				failed = 1;
				break;
			}
			continue;
		}
		if (!(proxy_failed(rc) && proxy_next(x.job, proxy)))
			break;
		proxy++;
	}
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		memset(err, 0, sizeof(*err));
		err->context = BK_CTX_GENERAL_TRANSPORT;
		err->code = HR_GEN_FAILURE;
		err->text = strdup("probe interrupted: probed again on the"
		    " next pass");
		err->remote = strdup(x.remote);
		ret = BK_E_INTERRUPTED;
		goto out;
	}
	if (failed || o.rc != CURLE_OK || rc != CURLE_OK) {
		if (failed)
			;	/* follow_redirect said why */
		else if (o.rc != CURLE_OK)
			opts_fail(&x, &o);
		else
			map_error(&x, e, rc, errbuf, &cert_asked);
		memset(err, 0, sizeof(*err));
		err->context = x.ectx;
		err->code = x.code;
		err->text = strdup(x.text);
		err->remote = strdup(x.remote);
		ret = BK_E_IO;
		goto out;
	}
	out->size = (h.r.flags & HDR_CLEN) ? h.r.clen : BK_SIZE_UNKNOWN;
	out->etag = h.r.etag;
	out->last_modified = h.r.lastmod;
	out->mtime = h.r.lastmod ? C.getdate(h.r.lastmod, NULL) : 0;
	if (out->mtime < 0)
		out->mtime = 0;
	h.r.etag = h.r.lastmod = NULL;
out:
	hstate_reset(&h);
	C.slist_free_all(hdrs);
	C.easy_cleanup(e);
	free(noproxy);
	free(url);
	return ret;
}
