/* spec.c - the effective spec of a set and its hash (see spec.h). */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"
#include "spec.h"
#include "util.h"

/* A growing byte buffer for the canonical text. */
struct buf {
	char *p;
	size_t n, cap;
};

static void
buf_add(struct buf *b, const char *s, size_t len)
{
	if (b->n + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->n + len + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, len);
	b->n += len;
	b->p[b->n] = '\0';
}

static void
buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Decimal digits of v into the end of buf[32]; returns where they start.
 * snprintf was most of the cost of a spec (30 calls per set). */
static const char *
fmt_u64(unsigned long long v, char buf[32])
{
	char *p = buf + 31;

	*p = '\0';
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	return p;
}

/* key=LEN:VALUE\n -- length-prefixed, so no value can forge a field. */
static void
canon_field(struct buf *b, const char *key, const char *val)
{
	char num[32];
	size_t len;

	if (val == NULL)
		val = "";
	len = strlen(val);
	buf_str(b, key);
	buf_add(b, "=", 1);
	buf_str(b, fmt_u64(len, num));
	buf_add(b, ":", 1);
	buf_add(b, val, len);
	buf_add(b, "\n", 1);
}

static void
canon_num(struct buf *b, const char *key, unsigned long long v)
{
	char num[32];

	canon_field(b, key, fmt_u64(v, num));
}

int
spec_sha256(const void *buf, size_t len, uint8_t out[32])
{
	return sha256_buf(buf, len, out);
}

void
spec_hex(const uint8_t *b, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hx[b[i] >> 4];
		out[2 * i + 1] = hx[b[i] & 15];
	}
	out[2 * n] = '\0';
}

int
spec_unhex(const char *s, uint8_t *b, size_t n)
{
	return s == NULL ? -1 : util_unhex(s, strlen(s), b, n);
}

/* RFC 3986 unreserved characters stay; every other byte of a segment is
 * percent-encoded, so a file named "a b#1.exe" is fetched as such. */
static void
pct_segment(struct buf *b, const char *s, size_t len)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t i, run = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (isalnum(c) || c == '-' || c == '.' || c == '_' ||
		    c == '~') {
			run++;
			continue;
		}
		/* Unreserved bytes go in runs, not one by one. */
		buf_add(b, s + i - run, run);
		run = 0;
		{
			char e[3] = { '%', hx[c >> 4], hx[c & 15] };

			buf_add(b, e, 3);
		}
	}
	buf_add(b, s + len - run, run);
}

/* Appends rel ('/' or '\' separated) to b, segment by segment, with sep
 * between segments; empty segments vanish. */
static void
add_segments(struct buf *b, size_t start, const char *rel, char sep,
    int encode)
{
	const char *p = rel, *q;

	while (*p != '\0') {
		while (*p == '/' || *p == '\\')
			p++;
		if (*p == '\0')
			break;
		q = p;
		while (*q != '\0' && *q != '/' && *q != '\\')
			q++;
		if (b->n > start && b->p[b->n - 1] != sep)
			buf_add(b, &sep, 1);
		if (encode)
			pct_segment(b, p, (size_t)(q - p));
		else
			buf_add(b, p, (size_t)(q - p));
		p = q;
	}
}

/* The remote path of a file appended to b (from start = b->n). */
static void
remote_into(struct buf *b, const struct msource *src, const char *path,
    const char *rel)
{
	size_t start = b->n, i;

	if (src->kind == SOURCE_UNC) {
		/* \\server\share[\...]: the url as written, separators made
		 * backslashes, no trailing one. */
		buf_str(b, src->url);
		for (i = start; i < b->n; i++)
			if (b->p[i] == '/')
				b->p[i] = '\\';
		while (b->n - start > 2 && b->p[b->n - 1] == '\\')
			b->p[--b->n] = '\0';
		add_segments(b, start, path ? path : "", '\\', 0);
		add_segments(b, start, rel, '\\', 0);
	} else {
		/* The url is taken as written (it may hold encoded bytes of
		 * its own); path and file names are names, so encoded here. */
		buf_str(b, src->url);
		while (b->n > start && b->p[b->n - 1] == '/')
			b->p[--b->n] = '\0';
		add_segments(b, start, path ? path : "", '/', 1);
		add_segments(b, start, rel, '/', 1);
	}
}

char *
spec_remote_path(const struct msource *src, const char *path,
    const char *rel)
{
	struct buf b = { 0 };

	remote_into(&b, src, path, rel);
	return b.p;
}

#ifdef _WIN32
/* %ProgramData% and friends, expanded from the service's environment. */
static void
add_expanded(struct buf *b, const char *dest)
{
	const char *end;

	if (dest[0] == '%' && (end = strchr(dest + 1, '%')) != NULL) {
		char *name = xstrndup(dest + 1, (size_t)(end - dest - 1));
		const char *val = getenv(name);

		free(name);
		if (val != NULL) {
			buf_str(b, val);
			buf_str(b, end + 1);
			return;
		}
	}
	buf_str(b, dest);
}
#endif

/* The local path of a file appended to b (from start = b->n). */
static void
local_into(struct buf *b, const char *destination, const char *rel,
    enum platform platform)
{
	size_t start = b->n, i;

	if (platform == PLATFORM_WINDOWS) {
#ifdef _WIN32
		add_expanded(b, destination);
#else
		buf_str(b, destination);
#endif
		for (i = start; i < b->n; i++)
			if (b->p[i] == '/')
				b->p[i] = '\\';
		/* Keep "C:\" and "\\" whole; drop other trailing separators. */
		while (b->n - start > 3 && b->p[b->n - 1] == '\\')
			b->p[--b->n] = '\0';
		add_segments(b, start, rel, '\\', 0);
	} else {
		buf_str(b, destination);
		while (b->n - start > 1 && b->p[b->n - 1] == '/')
			b->p[--b->n] = '\0';
		add_segments(b, start, rel, '/', 0);
	}
}

char *
spec_local_path(const char *destination, const char *rel,
    enum platform platform)
{
	struct buf b = { 0 };

	local_into(&b, destination, rel, platform);
	return b.p;
}

/* Every string of a spec lives in one block (spec.h): while it is built
 * the block may move, so strings are kept as offsets until it is done.
 * Appends s (len bytes) and a NUL; returns the offset. */
static size_t
blk_add(struct buf *b, const char *s, size_t len)
{
	size_t off = b->n;

	buf_add(b, s, len);
	buf_add(b, "", 1);
	return off;
}

static size_t
blk_join(struct buf *b, const char *const *v, size_t n, const char *sep)
{
	size_t off = b->n, i;

	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_str(b, sep);
		buf_str(b, v[i]);
	}
	buf_add(b, "", 1);
	return off;
}

/* The remote or local path of a file, appended to the block. */
static size_t
blk_remote(struct buf *b, const struct msource *src, const char *path,
    const char *rel)
{
	size_t off = b->n;

	remote_into(b, src, path, rel);
	buf_add(b, "", 1);
	return off;
}

static size_t
blk_local(struct buf *b, const char *destination, const char *rel,
    enum platform platform)
{
	size_t off = b->n;

	local_into(b, destination, rel, platform);
	buf_add(b, "", 1);
	return off;
}

struct fileent {
	struct bk_file_spec f;
	struct spec_file m;
	size_t roff, loff;	/* offsets of remote and local in the block */
};

/* A set's files sorted on the stack up to this many (most sets). */
#define FE_ON_STACK 16

static int
cmp_fileent(const void *a, const void *b)
{
	const struct fileent *x = a, *y = b;

	return strcmp(x->f.local, y->f.local);
}

static const char *const prio_names[] = {
	"foreground", "high", "normal", "low"
};

/* The canonical text: one length-prefixed field per line, in a fixed
 * order, holding exactly what the job is made of.  It is hashed into
 * hash and dropped; the buffer is sized so that one allocation serves.
 * The settings are sp's, the files the n given (sorted by local path). */
void
spec_hash_files(const struct mset *set, const struct spec *sp,
    const struct bk_file_spec *files, const struct spec_file *meta,
    size_t n, char hash[SPEC_HASH_LEN + 1])
{
	const struct msource *src = set->source;
	const struct bk_job_spec *job = &sp->job;
	struct buf c = { 0 };
	uint8_t digest[32];
	char hex[65];
	size_t i;

	c.cap = 2048;
	c.p = xmalloc(c.cap);
	canon_field(&c, "bitsync-spec", "1");
	canon_field(&c, "set", set->name);
	canon_field(&c, "kind", src->kind == SOURCE_UNC ? "unc" :
	    src->kind == SOURCE_HTTP ? "http" : "https");
	canon_num(&c, "auth_computer", (unsigned long long)job->auth_computer);
	canon_num(&c, "proxy_usage", (unsigned long long)job->proxy_usage);
	canon_field(&c, "proxy_list", job->proxy_list);
	canon_field(&c, "proxy_bypass", job->proxy_bypass);
	canon_field(&c, "headers", job->custom_headers);
	canon_field(&c, "credential", job->credential);
	canon_num(&c, "token_flags", job->token_flags);
	/* Only when set: the hash of every spec without one stays as it
	 * was, so an upgrade does not recreate every job. */
	if (job->client_certificate != NULL)
		canon_field(&c, "client_certificate",
		    job->client_certificate);
	canon_field(&c, "priority",
	    (unsigned)set->settings.priority < 4 ?
	    prio_names[set->settings.priority] : "?");
	canon_num(&c, "retry_delay", job->retry_delay);
	canon_num(&c, "no_progress_timeout", job->no_progress_timeout);
	canon_num(&c, "max_download_time", job->max_download_time);
	canon_num(&c, "files", n);
	for (i = 0; i < n; i++) {
		canon_field(&c, "remote", files[i].remote);
		canon_field(&c, "local", files[i].local);
		if (meta[i].has_sha256) {
			spec_hex(meta[i].sha256, 32, hex);
			canon_field(&c, "sha256", hex);
		} else
			canon_field(&c, "sha256", "");
		/* Only folder sets' files have this line: the hashes of
		 * sets that list their files stay what they were. */
		if (meta[i].listed) {
			char v[64];

			snprintf(v, sizeof(v), "%llu %lld",
			    (unsigned long long)meta[i].list_size,
			    (long long)meta[i].list_mtime);
			canon_field(&c, "listed", v);
		}
	}
	/* Sessions that hash (reconcile_session_open) checked the host can
	 * (sha256_check): what remains is running out of memory, which
	 * xmalloc treats alike, so the result is not checked here. */
	(void)spec_sha256(c.p, c.n, digest);
	spec_hex(digest, 32, hash);
	free(c.p);
}

int
spec_build(const struct mset *set, enum platform platform, struct spec *out)
{
	static const char room[SPEC_HASH_LEN];
	const struct msource *src = set->source;
	struct fileent fe_stack[FE_ON_STACK], *fe = NULL;
	struct buf blk = { 0 };
	size_t i, n = set->nfiles, plist = 0, pbypass = 0, hdrs = 0, dname,
	    desc, hashat;
	int http, proxied, rc = -1;

	memset(out, 0, sizeof(*out));
	if (src == NULL)
		goto done;
	http = src->kind != SOURCE_UNC;
	proxied = http && src->proxy_usage == PROXY_OVERRIDE;

	/* The block: every path, the proxy lists and headers, the display
	 * name and the description (its hash filled in at the end).  Sized
	 * for the paths written out plainly, so that it seldom grows: each
	 * growth was a copy, and a malloc call contended by the other
	 * thread of a plan. */
	blk.cap = 256 + 2 * strlen(set->name) + SPEC_HASH_LEN + n *
	    (strlen(src->url) + strlen(set->path ? set->path : "") +
	    strlen(set->destination ? set->destination : "") + 8);
	for (i = 0; i < n; i++)
		blk.cap += 2 * (strlen(set->files[i].remote) +
		    strlen(set->files[i].local));
	blk.p = xmalloc(blk.cap);
	if (n <= FE_ON_STACK) {
		fe = fe_stack;
		memset(fe, 0, n * sizeof(*fe));
	} else
		fe = xcalloc(n, sizeof(*fe));
	for (i = 0; i < n; i++) {
		const struct mfile *mf = &set->files[i];

		fe[i].roff = blk_remote(&blk, src, set->path, mf->remote);
		fe[i].loff = blk_local(&blk, set->destination, mf->local,
		    platform);
		fe[i].m.has_sha256 = mf->has_sha256;
		fe[i].f.sha256 = mf->has_sha256;
		memcpy(fe[i].m.sha256, mf->sha256, 32);
		fe[i].m.listed = mf->listed;
		fe[i].m.list_size = mf->list_size;
		fe[i].m.list_mtime = mf->list_mtime;
		fe[i].m.mfile = mf;
	}
	if (proxied) {
		plist = blk_join(&blk, (const char *const *)src->proxy_servers,
		    src->nproxy_servers, " ");
		pbypass = blk_join(&blk, (const char *const *)src->proxy_bypass,
		    src->nproxy_bypass, " ");
	}
	if (http && src->nheaders > 0)
		hdrs = blk_join(&blk, (const char *const *)src->headers,
		    src->nheaders, "\r\n");
	dname = blk.n;
	buf_str(&blk, SPEC_NAME_PREFIX);
	blk_add(&blk, set->name, strlen(set->name));
	desc = blk.n;
	buf_str(&blk, SPEC_DESC_PREFIX);
	buf_str(&blk, set->name);
	buf_str(&blk, " spec=");
	hashat = blk.n;
	blk_add(&blk, room, SPEC_HASH_LEN);	/* the hash goes here */
	/* Kept at its size: 10,000 blocks at doubled capacity were 10 MB
	 * of fresh pages. */
	out->block = xrealloc(blk.p, blk.n);
	blk.p = NULL;
	for (i = 0; i < n; i++) {
		fe[i].f.remote = out->block + fe[i].roff;
		fe[i].f.local = out->block + fe[i].loff;
	}

	/* Local paths are unique within a set (duplicate-destination), so
	 * this order is total: the job and the hash do not depend on the
	 * order files are listed in.  files and meta share one allocation. */
	qsort(fe, n, sizeof(*fe), cmp_fileent);
	out->files = xcalloc(n ? n : 1, sizeof(*out->files) +
	    sizeof(*out->meta));
	out->meta = (struct spec_file *)(out->files + (n ? n : 1));
	for (i = 0; i < n; i++) {
		out->files[i] = fe[i].f;
		out->meta[i] = fe[i].m;
	}

	out->job.priority = (enum bk_priority)set->settings.priority;
	out->job.retry_delay = set->settings.retry_delay > UINT32_MAX ?
	    UINT32_MAX : (uint32_t)set->settings.retry_delay;
	out->job.no_progress_timeout =
	    set->settings.no_progress_timeout > UINT32_MAX ?
	    UINT32_MAX : (uint32_t)set->settings.no_progress_timeout;
	out->job.max_download_time =
	    set->settings.max_download_time > UINT32_MAX ?
	    UINT32_MAX : (uint32_t)set->settings.max_download_time;
	/* Proxies and headers mean something to HTTP only (proxy-scope);
	 * on a UNC source they are left out of job and hash alike. */
	out->job.proxy_usage = BK_PROXY_PRECONFIG;
	if (http && src->proxy_usage != PROXY_UNSET)
		out->job.proxy_usage = (enum bk_proxy_usage)src->proxy_usage;
	if (proxied) {
		out->job.proxy_list = out->block + plist;
		out->job.proxy_bypass = out->block + pbypass;
	}
	if (http && src->nheaders > 0)
		out->job.custom_headers = out->block + hdrs;
	out->job.credential = src->credential;
	out->job.token_flags = src->credential ? src->token_usage : 0;
	/* http(s) too since round 2: Negotiate as the computer. */
	out->job.auth_computer = src->auth_computer;
	out->job.client_certificate = http ? src->client_certificate : NULL;
	out->job.files = out->files;
	out->job.nfiles = n;

	if (set->spec_hash != NULL)
		/* Hashed when the manifest cache was written, by this very
		 * build for this platform (mcache.h). */
		memcpy(out->hash, set->spec_hash, SPEC_HASH_LEN + 1);
	else
		spec_hash_files(set, out, out->files, out->meta,
		    out->job.nfiles, out->hash);
	memcpy(out->block + hashat, out->hash, SPEC_HASH_LEN);
	out->display_name = out->block + dname;
	out->description = out->block + desc;
	out->job.display_name = out->display_name;
	out->job.description = out->description;
	rc = 0;
done:
	if (fe != fe_stack)
		free(fe);
	free(blk.p);
	if (rc != 0)
		spec_free(out);
	return rc;
}

void
spec_free(struct spec *s)
{
	if (s == NULL)
		return;
	free(s->files);		/* and meta */
	free(s->block);
	memset(s, 0, sizeof(*s));
}

const char *
spec_job_set(const char *display_name, size_t *len)
{
	size_t plen = strlen(SPEC_NAME_PREFIX);

	if (display_name == NULL ||
	    strncmp(display_name, SPEC_NAME_PREFIX, plen) != 0 ||
	    display_name[plen] == '\0')
		return NULL;
	*len = strlen(display_name + plen);
	return display_name + plen;
}

const char *
spec_job_hash(const char *description, const char *set, size_t setlen)
{
	size_t plen = strlen(SPEC_DESC_PREFIX);
	const char *p;

	if (description == NULL ||
	    strncmp(description, SPEC_DESC_PREFIX, plen) != 0)
		return NULL;
	p = description + plen;
	if (strncmp(p, set, setlen) != 0)
		return NULL;
	p += setlen;
	if (strncmp(p, " spec=", 6) != 0)
		return NULL;
	p += 6;
	if (strlen(p) != SPEC_HASH_LEN)
		return NULL;
	return p;
}
