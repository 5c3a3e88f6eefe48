/* mcache.c - the validated manifest kept in the state directory (see
 * mcache.h).
 *
 * The format is the host's own (native byte order and widths: the cache
 * never leaves the machine that wrote it):
 *
 *   "BSMCACHE" u32 format  key[32]  u64 payload-length  payload  u64 sum
 *
 * and the payload is the model field by field: strings as u32 length,
 * bytes and a NUL (length 0xffffffff: NULL), positions as u32 file index,
 * line and column.  The sum covers everything before it, so that a
 * damaged byte is a miss and not a model that differs from the files;
 * the reader still checks every length against what is left and every
 * enum against its range. */
#include "mcache.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "command_rules.h"
#include "config.h"
#include "krb.h"
#include "platform.h"
#include "rules.h"
#include "sha256.h"
#include "spec.h"
#include "util.h"
#include "ytree.h"

#define MAGIC "BSMCACHE"
#define FORMAT 3u
#define NONE 0xffffffffu
#define HEADER_BYTES (8 + 4 + 32 + 8)

/* A fast 64-bit sum of the file (not a MAC: the state directory is the
 * agent's own): eight bytes a step, each mixed in by a multiply and a
 * shift, so that any one damaged byte changes it. */
static uint64_t
checksum(const char *p, size_t n)
{
	const uint64_t k = 0x9e3779b97f4a7c15ull;
	uint64_t h = (uint64_t)n * k, w;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * k;
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, p + i, n - i);
	h = (h ^ w ^ (uint64_t)(n - i)) * k;
	return h ^ (h >> 32);
}

/* ---- writing ---------------------------------------------------------- */

struct wbuf {
	char *p;
	size_t n, cap;
};

static void
put(struct wbuf *w, const void *v, size_t n)
{
	if (w->n + n > w->cap) {
		while (w->n + n > w->cap)
			w->cap = w->cap ? w->cap * 2 : 65536;
		w->p = xrealloc(w->p, w->cap);
	}
	memcpy(w->p + w->n, v, n);
	w->n += n;
}

static void
put_u32(struct wbuf *w, uint32_t v)
{
	put(w, &v, sizeof(v));
}

static void
put_u64(struct wbuf *w, uint64_t v)
{
	put(w, &v, sizeof(v));
}

static void
put_str(struct wbuf *w, const char *s)
{
	size_t n;

	if (s == NULL) {
		put_u32(w, NONE);
		return;
	}
	n = strlen(s);
	put_u32(w, (uint32_t)n);
	put(w, s, n + 1);
}

static void
put_strv(struct wbuf *w, const char *const *v, size_t n)
{
	size_t i;

	put_u32(w, (uint32_t)n);
	for (i = 0; i < n; i++)
		put_str(w, v[i]);
}

/* A position names its file by index into m->files. */
static void
put_pos(struct wbuf *w, const struct manifest *m, const struct mpos *p)
{
	uint32_t f = NONE;
	size_t i;

	for (i = 0; p->file != NULL && i < m->nfiles; i++)
		if (p->file == m->files[i] || strcmp(p->file, m->files[i]) == 0) {
			f = (uint32_t)i;
			break;
		}
	put_u32(w, f);
	put_u32(w, p->line);
	put_u32(w, p->col);
}

void
mcache_encode(const struct manifest *m, enum platform platform,
    const struct diags *d, size_t from, const uint8_t key[32], char **out,
    size_t *outlen)
{
	struct wbuf w = { NULL, 0, 0 };
	size_t i, k;

	put(&w, MAGIC, 8);
	put_u32(&w, FORMAT);
	put(&w, key, 32);
	put_u64(&w, 0);		/* the payload's length: mcache_seal */
	put_strv(&w, (const char *const *)m->files, m->nfiles);
	put_u32(&w, (uint32_t)m->nsources);
	for (i = 0; i < m->nsources; i++) {
		const struct msource *s = &m->sources[i];

		put_str(&w, s->name);
		put_pos(&w, m, &s->pos);
		put_str(&w, s->url);
		put_u32(&w, (uint32_t)s->kind);
		put_u32(&w, (uint32_t)s->auth_computer);
		put_u32(&w, (uint32_t)s->proxy_usage);
		put_strv(&w, s->proxy_servers, s->nproxy_servers);
		put_strv(&w, s->proxy_bypass, s->nproxy_bypass);
		put_strv(&w, s->headers, s->nheaders);
		put_str(&w, s->credential);
		put_u32(&w, s->token_usage);
		put_str(&w, s->client_certificate);
	}
	put_u32(&w, (uint32_t)m->nsets);
	for (i = 0; i < m->nsets; i++) {
		const struct mset *s = &m->sets[i];
		const struct msettings *t = &s->settings;

		put_str(&w, s->name);
		put_pos(&w, m, &s->pos);
		put_str(&w, s->source_name);
		put_pos(&w, m, &s->source_pos);
		put_u32(&w, s->source != NULL ?
		    (uint32_t)(s->source - m->sources) : NONE);
		put_str(&w, s->path);
		put_str(&w, s->destination);
		put_u32(&w, (uint32_t)t->priority);
		put_u64(&w, t->refresh);
		put_u64(&w, t->retry_delay);
		put_u64(&w, t->no_progress_timeout);
		put_u64(&w, t->max_download_time);
		put_u32(&w, (uint32_t)t->on_remove);
		put_u32(&w, (uint32_t)t->mode);
		{
			struct spec sp;

			if (s->source != NULL && spec_build(s, platform,
			    &sp) == 0) {
				put_str(&w, sp.hash);
				spec_free(&sp);
			} else
				put_str(&w, NULL);
		}
		put_u32(&w, (uint32_t)s->nfiles);
		for (k = 0; k < s->nfiles; k++) {
			const struct mfile *f = &s->files[k];

			put_str(&w, f->remote);
			put_str(&w, f->local);
			put_u32(&w, (uint32_t)f->has_sha256);
			put(&w, f->sha256, 32);
			put_pos(&w, m, &f->pos);
		}
		put_u32(&w, s->on_change != NULL);
		if (s->on_change != NULL) {
			put_strv(&w, s->on_change->argv, s->on_change->argc);
			put_u64(&w, s->on_change->timeout);
			put_pos(&w, m, &s->on_change->pos);
		}
	}
	put_u32(&w, (uint32_t)(d->n - from));
	for (i = from; i < d->n; i++) {
		const struct diag *g = &d->v[i];

		put_str(&w, g->file);
		put_u32(&w, g->line);
		put_u32(&w, g->col);
		put_u32(&w, (uint32_t)g->severity);
		put_str(&w, g->rule);
		put_str(&w, g->message);
	}
	put_u64(&w, 0);
	mcache_seal(w.p, w.n);
	*out = w.p;
	*outlen = w.n;
}

void
mcache_seal(char *buf, size_t len)
{
	uint64_t n, sum;

	if (len < HEADER_BYTES + 8)
		return;
	n = (uint64_t)(len - HEADER_BYTES - 8);
	memcpy(buf + HEADER_BYTES - 8, &n, sizeof(n));
	sum = checksum(buf, len - 8);
	memcpy(buf + len - 8, &sum, sizeof(sum));
}

/* ---- reading ---------------------------------------------------------- */

struct rbuf {
	const char *p;
	size_t n, off;
	int bad;
};

static const void *
take(struct rbuf *r, size_t n)
{
	const void *v;

	if (r->bad || r->n - r->off < n) {
		r->bad = 1;
		return NULL;
	}
	v = r->p + r->off;
	r->off += n;
	return v;
}

/* n bytes into out, or zeros past the end. */
static void
get(struct rbuf *r, void *out, size_t n)
{
	const void *v = take(r, n);

	if (v != NULL)
		memcpy(out, v, n);
	else
		memset(out, 0, n);
}

static uint32_t
get_u32(struct rbuf *r)
{
	uint32_t x;

	get(r, &x, sizeof(x));
	return x;
}

static uint64_t
get_u64(struct rbuf *r)
{
	uint64_t x;

	get(r, &x, sizeof(x));
	return x;
}

/* A string in the buffer itself; NULL for the null string or when bad. */
static const char *
get_str(struct rbuf *r, int nullable)
{
	uint32_t n = get_u32(r);
	const char *s;

	if (n == NONE && !r->bad) {
		if (!nullable)
			r->bad = 1;
		return NULL;
	}
	if (n == NONE || (s = take(r, (size_t)n + 1)) == NULL)
		return NULL;
	if (s[n] != '\0' || memchr(s, '\0', n) != NULL) {
		r->bad = 1;
		return NULL;
	}
	return s;
}

/* A count of items that take at least min bytes each. */
static size_t
get_count(struct rbuf *r, size_t min)
{
	uint32_t n = get_u32(r);

	if (!r->bad && (size_t)n > (r->n - r->off) / min)
		r->bad = 1;
	return r->bad ? 0 : n;
}

static uint32_t
get_enum(struct rbuf *r, uint32_t max)
{
	uint32_t v = get_u32(r);

	if (v > max)
		r->bad = 1;
	return v;
}

static const char *const *
get_strv(struct rbuf *r, struct arena *a, size_t *n)
{
	const char **v;
	size_t i;

	*n = get_count(r, 4);
	if (*n == 0)
		return NULL;
	v = arena_alloc(a, *n * sizeof(*v));
	for (i = 0; i < *n; i++)
		v[i] = get_str(r, 0);
	return v;
}

static void
get_pos(struct rbuf *r, const struct manifest *m, struct mpos *p)
{
	uint32_t f = get_u32(r);

	if (f != NONE && f >= m->nfiles)
		r->bad = 1;
	p->file = f != NONE && !r->bad ? m->files[f] : NULL;
	p->line = get_u32(r);
	p->col = get_u32(r);
}

/* The rule ids a cached diagnostic may carry, so that each maps back to
 * the static string a diagnostic holds. */
static const char *const rule_ids[] = {
	RULE_YAML_SYNTAX, RULE_YAML_FEATURE, RULE_DUPLICATE_KEY, RULE_SCHEMA,
	RULE_VERSION, RULE_UNC_ONLY, RULE_NO_DRIVE_LETTER,
	RULE_USER_PROFILE_PATH, RULE_NETWORK_IDENTITY, RULE_PROXY_SCOPE,
	RULE_UNKNOWN_SOURCE, RULE_DUPLICATE_NAME, RULE_DUPLICATE_DESTINATION,
	RULE_PATH_TRAVERSAL, RULE_INLINE_SECRET, RULE_INSECURE_TRANSPORT,
	RULE_DESTINATION_PLATFORM, RULE_DESTINATION_ROOT,
	RULE_FILE_PERMISSIONS, RULE_IO_ERROR, RULE_INSECURE_CREDENTIALS,
	RULE_COMMAND_NOT_ALLOWED, RULE_COMMAND_PATH, RULE_ANONYMOUS_COMPUTER,
	NULL
};

static const char *
rule_id(const char *s)
{
	size_t i;

	for (i = 0; s != NULL && rule_ids[i] != NULL; i++)
		if (strcmp(s, rule_ids[i]) == 0)
			return rule_ids[i];
	return NULL;
}

static void
get_source(struct rbuf *r, struct manifest *m, struct msource *s)
{
	struct arena *a = model_arena(m);

	s->name = get_str(r, 0);
	get_pos(r, m, &s->pos);
	s->url = get_str(r, 0);
	s->kind = (enum source_kind)get_enum(r, SOURCE_HTTPS);
	s->auth_computer = (int)get_enum(r, 1);
	s->proxy_usage = (enum proxy_usage)(int32_t)get_u32(r);
	if (s->proxy_usage < PROXY_UNSET || s->proxy_usage > PROXY_AUTODETECT)
		r->bad = 1;
	s->proxy_servers = get_strv(r, a, &s->nproxy_servers);
	s->proxy_bypass = get_strv(r, a, &s->nproxy_bypass);
	s->headers = get_strv(r, a, &s->nheaders);
	s->credential = get_str(r, 1);
	s->token_usage = get_enum(r, TOKEN_LOCAL_FILE | TOKEN_NETWORK);
	s->client_certificate = get_str(r, 1);
}

static void
get_set(struct rbuf *r, struct manifest *m, struct mset *s)
{
	struct msettings *t = &s->settings;
	uint32_t src;
	size_t k;

	s->name = get_str(r, 0);
	get_pos(r, m, &s->pos);
	s->source_name = get_str(r, 1);
	get_pos(r, m, &s->source_pos);
	src = get_u32(r);
	if (src != NONE && src >= m->nsources)
		r->bad = 1;
	s->source = src != NONE && !r->bad ? &m->sources[src] : NULL;
	s->path = get_str(r, 1);
	s->destination = get_str(r, 1);
	t->priority = (enum priority)get_enum(r, PRIO_LOW);
	t->refresh = get_u64(r);
	t->retry_delay = get_u64(r);
	t->no_progress_timeout = get_u64(r);
	t->max_download_time = get_u64(r);
	t->on_remove = (enum on_remove)get_enum(r, ON_REMOVE_DELETE);
	t->mode = (enum set_mode)get_enum(r, MODE_MONITOR);
	s->spec_hash = get_str(r, 1);
	if (s->spec_hash != NULL && (strlen(s->spec_hash) != SPEC_HASH_LEN ||
	    strspn(s->spec_hash, "0123456789abcdef") != SPEC_HASH_LEN))
		r->bad = 1;
	s->nfiles = get_count(r, 4 * 6 + 32);
	s->files = s->nfiles ? arena_zalloc(model_arena(m),
	    s->nfiles * sizeof(*s->files)) : NULL;
	for (k = 0; k < s->nfiles && !r->bad; k++) {
		struct mfile *f = &s->files[k];

		f->remote = get_str(r, 0);
		f->local = get_str(r, 0);
		f->has_sha256 = (int)get_enum(r, 1);
		get(r, f->sha256, 32);
		get_pos(r, m, &f->pos);
	}
	if (!r->bad && get_enum(r, 1)) {
		struct mcommand *cmd = arena_zalloc(model_arena(m),
		    sizeof(*cmd));

		cmd->argv = get_strv(r, model_arena(m), &cmd->argc);
		cmd->timeout = get_u64(r);
		get_pos(r, m, &cmd->pos);
		if (cmd->argc == 0 || cmd->argv[0] == NULL)
			r->bad = 1;
		s->on_change = cmd;
	}
}

/* Fills the empty model m from buf; 0, or -1 when buf is no cache for
 * key (m then holds part of it: the caller frees it). */
static int
decode_into(struct manifest *m, const char *buf, size_t len,
    const uint8_t key[32], struct diags *d)
{
	struct rbuf r = { buf, len, 0, 0 };
	const char *magic = take(&r, 8), *k;
	struct diags cd;
	uint64_t sum;
	size_t i, n;
	int rc = -1;

	diags_init(&cd);
	if (magic == NULL || memcmp(magic, MAGIC, 8) != 0 ||
	    get_u32(&r) != FORMAT || (k = take(&r, 32)) == NULL ||
	    memcmp(k, key, 32) != 0 || len < HEADER_BYTES + 8 ||
	    get_u64(&r) != (uint64_t)(len - HEADER_BYTES - 8))
		goto done;
	memcpy(&sum, buf + len - 8, sizeof(sum));
	if (sum != checksum(buf, len - 8))
		goto done;
	r.n = len - 8;
	m->nfiles = get_count(&r, 4);
	m->files = xcalloc(m->nfiles + 1, sizeof(*m->files));
	for (i = 0; i < m->nfiles; i++)
		m->files[i] = (char *)get_str(&r, 0);
	n = get_count(&r, 4 * 12);
	m->sources = xcalloc(n + 1, sizeof(*m->sources));
	for (m->nsources = n, i = 0; i < n && !r.bad; i++)
		get_source(&r, m, &m->sources[i]);
	n = get_count(&r, 4 * 20);
	m->sets = n ? arena_zalloc(model_arena(m), n * sizeof(*m->sets)) :
	    NULL;
	for (m->nsets = n, i = 0; i < n && !r.bad; i++)
		get_set(&r, m, &m->sets[i]);
	n = get_count(&r, 4 * 6);
	for (i = 0; i < n && !r.bad; i++) {
		const char *file = get_str(&r, 0), *rule, *msg;
		uint32_t line = get_u32(&r), col = get_u32(&r);
		uint32_t sev = get_u32(&r);

		rule = rule_id(get_str(&r, 0));
		msg = get_str(&r, 0);
		if (file == NULL || rule == NULL || msg == NULL ||
		    sev != (uint32_t)DIAG_WARNING) {
			/* Only warnings: a load with errors is never cached. */
			r.bad = 1;
			break;
		}
		diag_add(&cd, file, line, col, DIAG_WARNING, rule, "%s", msg);
	}
	if (r.bad || r.off != r.n)
		goto done;
	for (i = 0; i < cd.n; i++)
		diag_add(d, cd.v[i].file, cd.v[i].line, cd.v[i].col,
		    cd.v[i].severity, cd.v[i].rule, "%s", cd.v[i].message);
	rc = 0;
done:
	diags_free(&cd);
	return rc;
}

struct manifest *
mcache_decode(const char *buf, size_t len, const uint8_t key[32],
    struct diags *d)
{
	struct manifest *m = model_new();

	if (decode_into(m, buf, len, key, d) != 0) {
		manifest_free(m);
		return NULL;
	}
	return m;
}

/* ---- the cache file --------------------------------------------------- */

static void
hash_bytes(struct sha256 *h, const void *v, size_t n)
{
	uint64_t len = n;

	sha256_update(h, &len, sizeof(len));
	sha256_update(h, v, n);
}

static void
hash_str(struct sha256 *h, const char *s)
{
	hash_bytes(h, s, strlen(s) + 1);
}

/* Hashes a file as hash_bytes would hash its content, through buf (a
 * few pages, used again for every file: reading a big manifest into
 * fresh memory costs more than hashing it).  0, or -1 when it cannot be
 * read whole or changes size while read. */
static int
hash_file(struct sha256 *h, const char *path, char *buf, size_t bufsz)
{
	struct stat st;
	uint64_t size, got = 0;
	size_t r;
	FILE *f;
	int rc = -1;

	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > YTREE_MAX_BYTES)
		goto done;
	size = (uint64_t)st.st_size;
	sha256_update(h, &size, sizeof(size));
	while ((r = fread(buf, 1, bufsz, f)) > 0) {
		got += r;
		if (got > size)
			goto done;
		sha256_update(h, buf, r);
	}
	if (!ferror(f) && got == size)
		rc = 0;
done:
	fclose(f);
	return rc;
}

/* The key of a load of in: from the files on disk (data NULL), or from
 * the bytes already read.  0, or -1 when a file cannot be hashed. */
/* Rule anonymous-computer depends on the machine keytab (krb.h): its
 * settings and the file as it is now (a host joined, or left, since). */
static void
hash_machine_keytab(struct sha256 *h, const struct config *cfg)
{
	const char *kt = cfg != NULL ? cfg->machine_keytab : "/etc/krb5.keytab";
	int64_t v[5];

	hash_str(h, "machine_keytab");
	hash_str(h, kt != NULL ? kt : "");
	hash_str(h, cfg != NULL && cfg->machine_principal != NULL ?
	    cfg->machine_principal : "");
	krb_keytab_stamp(kt, v);
	hash_bytes(h, v, sizeof(v));
}

static int
make_key(const char *self, const struct manifest_opts *opts,
    const struct manifest_inputs *in, uint8_t key[32])
{
	struct sha256 *h = sha256_new();
	char *buf = NULL;
	uint32_t v[3];
	size_t i;
	int rc = 0;

	hash_str(h, "bitsync manifest cache");
	hash_str(h, self);
	v[0] = (uint32_t)opts->platform;
	v[1] = (uint32_t)opts->permissions;
	v[2] = opts->config != NULL ? opts->config->allow_drives : 0;
	hash_bytes(h, v, sizeof(v));
	for (i = 0; opts->config != NULL && i < opts->config->nallow_roots; i++)
		hash_str(h, opts->config->allow_roots[i]);
	hash_machine_keytab(h, opts->config);
	/* command-not-allowed depends on it. */
	hash_str(h, opts->config != NULL && opts->config->allow_commands ?
	    "commands allowed" : "commands refused");
	hash_str(h, "files");
	for (i = 0; i < in->n && rc == 0; i++) {
		hash_str(h, in->v[i].path);
		hash_bytes(h, &in->v[i].dropin, sizeof(in->v[i].dropin));
		if (in->v[i].data != NULL)
			hash_bytes(h, in->v[i].data, in->v[i].len);
		else {
			if (buf == NULL)
				buf = xmalloc(65536);
			rc = hash_file(h, in->v[i].path, buf, 65536);
		}
	}
	/* Finished either way: the context is freed with the digest. */
	if (sha256_final(h, key) != 0)
		rc = -1;	/* no key: the load is not cached */
	free(buf);
	return rc;
}

static void
store(const char *cache, const struct manifest *m, enum platform platform,
    const struct diags *d, size_t from, const uint8_t key[32])
{
	char *buf, *tmp = xasprintf("%s.tmp.%ld", cache, (long)getpid());
	size_t len;

	mcache_encode(m, platform, d, from, key, &buf, &len);
	/* Best effort: a cache that cannot be written costs time, nothing
	 * else (plan by an unprivileged user, a full disk).  Private like
	 * the state beside it; renamed into place, so a reader sees the old
	 * cache or the new one.  No fsync: after a crash a damaged cache is
	 * a miss. */
	if (platform_write_private(tmp, buf, len) != 0 ||
	    rename(tmp, cache) != 0)
		(void)unlink(tmp);
	free(tmp);
	free(buf);
}

struct manifest *
mcache_manifest_load(const char *cache, const char *const *paths,
    size_t npaths, const struct manifest_opts *opts, struct diags *d,
    int *hit)
{
	struct manifest_inputs in;
	struct manifest *m = NULL;
	const void *map;
	char self[128], **data = NULL;
	uint8_t key[32];
	size_t i, maplen, from = d->n, errors = d->errors;
	int cacheable;

	if (hit != NULL)
		*hit = 0;
	manifest_inputs_collect(paths, npaths, opts, &in);
	cacheable = cache != NULL && in.pre.n == 0 &&
	    platform_self_id(self, sizeof(self)) == 0;
	/* A hit: the files hashed as they are on disk, the cache mapped. */
	if (cacheable && make_key(self, opts, &in, key) == 0 &&
	    (map = platform_map_file(cache, (size_t)1 << 30, &maplen)) !=
	    NULL) {
		m = model_new();
		if (decode_into(m, map, maplen, key, d) == 0) {
			model_keep_map(m, map, maplen);
			if (hit != NULL)
				*hit = 1;
			goto done;
		}
		manifest_free(m);
		platform_unmap_file(map, maplen);
	}
	/* A miss: each file read once, and the key made again from the very
	 * bytes that are parsed (a file edited since it was hashed above
	 * must not be cached under the old content's key). */
	if (cacheable) {
		data = xcalloc(in.n + 1, sizeof(*data));
		for (i = 0; i < in.n && cacheable; i++) {
			cacheable = util_read_file(in.v[i].path,
			    YTREE_MAX_BYTES, &data[i], &in.v[i].len) == 0;
			in.v[i].data = data[i];
		}
		if (cacheable)
			cacheable = make_key(self, opts, &in, key) == 0;
		else
			/* The parser reads them and says what was wrong. */
			for (i = 0; i < in.n; i++)
				in.v[i].data = NULL;
	}
	m = manifest_load_inputs(&in, opts, d);
	if (cacheable && d->errors == errors)
		store(cache, m, opts->platform, d, from, key);
done:
	for (i = 0; data != NULL && i < in.n; i++)
		free(data[i]);
	free(data);
	manifest_inputs_free(&in);
	return m;
}
