/* smb.c - UNC sources through libsmbclient.
 *
 * \\host\share\dir\file becomes smb://host:PORT/share/dir/file (the
 * config's smb_port, since UNC names carry none).  Each worker owns one
 * client context so connections stay open between files; the context is
 * rebuilt when the identity changes (libsmbclient caches sessions per
 * context).  `auth: computer` with a machine keytab is Kerberos as the
 * computer account (krb.h keeps its ticket in the cache KRB5CCNAME
 * names), required: no fall back to NTLM or to an anonymous or guest
 * session.  Without a machine keytab it logs on anonymously, as BITS
 * under LocalService does; a helper token uses the credential's
 * username/password/domain (NTLMv2).
 *
 * Resume by offset: the remote's size and mtime when the temp file's bytes
 * were read are recorded; when either differs now, the temp starts over. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libsmbclient.h>

#include "engine_int.h"
#include "xhash.h"

#ifndef SMB_BUFFER
#define SMB_BUFFER	(1u << 20)	/* per read; larger buys no speed on loopback, costs RSS */
#endif
#define SMB_SYNC_EVERY	(32u << 20)
#define ERROR_BAD_NET_NAME 67
/* Each request to the server gives up after this long (libsmbclient's
 * own default, set so it stays so): a probe on the daemon's thread is
 * bounded by it, like HTTP's probe timeout. */
#define SMB_TIMEOUT_MS	20000
/* How long a probe waits for the library lock (held by a transfer for
 * one request at a time) before it gives way to the next pass. */
#define SMB_PROBE_LOCK_WAIT	5
/* The validator of a resume is size + mtime, and libsmbclient gives
 * the mtime in whole seconds: an in-place edit of the same size within
 * the second of the mtime recorded would go unseen and be spliced onto
 * the bytes read before it.  A file modified less than this long ago
 * (seconds) is therefore read only once it is older: any later edit
 * then carries a later mtime. */
#define SMB_MTIME_FRESH	2

/* libsmbclient is loaded on first use (dlopen), not linked: it pulls in
 * some 120 Samba libraries, which would cost every bitsync process (and
 * every HTTP-only host) ~15 MiB of RSS and tens of milliseconds of
 * start-up.  Hosts without it get an ERROR on UNC jobs that says so. */
static struct {
	__typeof__(smbc_getOptionUserData) *getOptionUserData;
	__typeof__(smbc_free_context) *free_context;
	__typeof__(smbc_new_context) *new_context;
	__typeof__(smbc_setOptionUserData) *setOptionUserData;
	__typeof__(smbc_setFunctionAuthDataWithContext) *setFunctionAuthDataWithContext;
	__typeof__(smbc_setPort) *setPort;
	__typeof__(smbc_setOptionProtocols) *setOptionProtocols;
	__typeof__(smbc_setOptionUseKerberos) *setOptionUseKerberos;
	__typeof__(smbc_setOptionFallbackAfterKerberos) *setOptionFallbackAfterKerberos;
	__typeof__(smbc_setOptionNoAutoAnonymousLogin) *setOptionNoAutoAnonymousLogin;
	__typeof__(smbc_setDebug) *setDebug;
	__typeof__(smbc_setTimeout) *setTimeout;
	__typeof__(smbc_init_context) *init_context;
	__typeof__(smbc_getFunctionOpen) *getFunctionOpen;
	__typeof__(smbc_getFunctionFstat) *getFunctionFstat;
	__typeof__(smbc_getFunctionLseek) *getFunctionLseek;
	__typeof__(smbc_getFunctionRead) *getFunctionRead;
	__typeof__(smbc_getFunctionClose) *getFunctionClose;
	__typeof__(smbc_getFunctionStat) *getFunctionStat;
	__typeof__(smbc_getFunctionOpendir) *getFunctionOpendir;
	__typeof__(smbc_getFunctionReaddirPlus2) *getFunctionReaddirPlus2;
	__typeof__(smbc_getFunctionClosedir) *getFunctionClosedir;
} S;
static pthread_once_t smb_once = PTHREAD_ONCE_INIT;
static int smb_loaded;

/* Samba's thread hooks (lib/util/smb_threads.h, struct
 * smb_thread_functions as Samba 4.17's libsamba-util.so.0 calls it:
 * seven members, create_tls at offset 0x18 and get_tls at 0x30 in its
 * talloc_stackframe code; later Samba added a once member after
 * lock_mutex, so the hooks go in only for the 4.x library this build
 * was made against: see smb_load).  smbc_thread_posix(), which installs them for a
 * libsmbclient user, is not exported by Debian's build, but
 * smb_thread_set_functions() is: installed before the first call into
 * the library, they make its talloc stack of frames (talloc_tos) and its
 * once-initialisations per thread.  With them each worker's own context
 * may read while another worker's reads (Samba's rule: one context per
 * thread); without them (another libsamba-util) every call stays under
 * ctx_mu as before. */
struct smb_thread_fns {
	int (*create_mutex)(const char *, void **, const char *);
	void (*destroy_mutex)(void *, const char *);
	int (*lock_mutex)(void *, int, const char *);
	int (*create_tls)(const char *, void **, const char *);
	void (*destroy_tls)(void **, const char *);
	int (*set_tls)(void *, const void *, const char *);
	void *(*get_tls)(void *, const char *);
};
#define SMB_THREAD_UNLOCK 2

static int
st_create_mutex(const char *name, void **out, const char *loc)
{
	pthread_mutex_t *m = malloc(sizeof(*m));

	(void)name; (void)loc;
	if (m == NULL)
		return ENOMEM;
	pthread_mutex_init(m, NULL);
	*out = m;
	return 0;
}

static void
st_destroy_mutex(void *m, const char *loc)
{
	(void)loc;
	pthread_mutex_destroy(m);
	free(m);
}

static int
st_lock(void *m, int type, const char *loc)
{
	(void)loc;
	return type == SMB_THREAD_UNLOCK ? pthread_mutex_unlock(m) :
	    pthread_mutex_lock(m);
}

static int
st_create_tls(const char *name, void **out, const char *loc)
{
	pthread_key_t *k = malloc(sizeof(*k));
	int err;

	(void)name; (void)loc;
	if (k == NULL)
		return ENOMEM;
	if ((err = pthread_key_create(k, NULL)) != 0) {
		free(k);
		return err;
	}
	*out = k;
	return 0;
}

static void
st_destroy_tls(void **k, const char *loc)
{
	(void)loc;
	if (*k != NULL) {
		pthread_key_delete(*(pthread_key_t *)*k);
		free(*k);
		*k = NULL;
	}
}

static int
st_set_tls(void *k, const void *v, const char *loc)
{
	(void)loc;
	if (k == NULL)
		return EINVAL;
	return pthread_setspecific(*(pthread_key_t *)k, v);
}

/* Samba's talloc_stackframe asks for its key's value before the once
 * that creates the key: no key yet is no value. */
static void *
st_get_tls(void *k, const char *loc)
{
	(void)loc;
	return k == NULL ? NULL : pthread_getspecific(*(pthread_key_t *)k);
}

static const struct smb_thread_fns smb_threads = {
	st_create_mutex, st_destroy_mutex, st_lock, st_create_tls, st_destroy_tls, st_set_tls, st_get_tls
};
/* Set when the hooks are in: reads and other calls on an open file go
 * without ctx_mu.  BITSYNC_SMB_SERIAL=1 keeps every call under it (for
 * the benchmark's before/after). */
static int smb_threaded;

static void
smb_load(void)
{
	void *h;

	if ((h = dlopen("libsmbclient.so.0", RTLD_NOW | RTLD_LOCAL)) == NULL)
		return;
#define SYM(n) if ((*(void **)&S.n = dlsym(h, "smbc_" #n)) == NULL) return
	SYM(getOptionUserData);
	SYM(free_context);
	SYM(new_context);
	SYM(setOptionUserData);
	SYM(setFunctionAuthDataWithContext);
	SYM(setPort);
	SYM(setOptionProtocols);
	SYM(setOptionUseKerberos);
	SYM(setOptionFallbackAfterKerberos);
	SYM(setOptionNoAutoAnonymousLogin);
	SYM(setDebug);
	SYM(setTimeout);
	SYM(init_context);
	SYM(getFunctionOpen);
	SYM(getFunctionFstat);
	SYM(getFunctionLseek);
	SYM(getFunctionRead);
	SYM(getFunctionClose);
	SYM(getFunctionStat);
	SYM(getFunctionOpendir);
	SYM(getFunctionReaddirPlus2);
	SYM(getFunctionClosedir);
#undef SYM
	smb_loaded = 1;
	{
		const char *serial = getenv("BITSYNC_SMB_SERIAL");
		const char *(*version)(void);
		int (*set_fns)(const struct smb_thread_fns *);
		void *u;

		/* Only the Samba whose layout was checked (4.17, Debian
		 * 12's); any other keeps every call under ctx_mu. */
		if ((serial == NULL || strcmp(serial, "1") != 0) &&
		    (*(void **)&version = dlsym(h, "smbc_version")) != NULL &&
		    strncmp(version(), "4.17.", 5) == 0 &&
		    (u = dlopen("libsamba-util.so.0", RTLD_NOW | RTLD_LOCAL |
		    RTLD_NOLOAD)) != NULL &&
		    (*(void **)&set_fns = dlsym(u,
		    "smb_thread_set_functions")) != NULL &&
		    set_fns(&smb_threads) == 0)
			smb_threaded = 1;
	}
}

static int
smb_available(void)
{
	pthread_once(&smb_once, smb_load);
	return smb_loaded;
}

struct smb_worker {
	SMBCCTX *ctx;
	char *key;		/* port|user|domain the context logs on with */
	char *share;		/* "smb://host:port/share/" ctx is connected to */
	char *buf;
	const struct xfer *cur;
};

static void
auth_fn(SMBCCTX *c, const char *srv, const char *shr, char *wg, int wglen,
    char *un, int unlen, char *pw, int pwlen)
{
	struct smb_worker *w = S.getOptionUserData(c);
	const struct xfer *x = w ? w->cur : NULL;
	const char *user = "", *bs, *at;

	(void)srv; (void)shr;
	if (x != NULL && x->user == NULL && x->machine != NULL) {
		/* NAME$@REALM: the user and the realm; no password, so
		 * Samba takes the ticket from the default cache. */
		at = strrchr(x->machine, '@');
		snprintf(un, (size_t)unlen, "%.*s", at ? (int)(at -
		    x->machine) : (int)strlen(x->machine), x->machine);
		if (at != NULL)
			snprintf(wg, (size_t)wglen, "%s", at + 1);
		snprintf(pw, (size_t)pwlen, "%s", "");
		return;
	}
	if (x == NULL || x->user == NULL) {
		/* Anonymous: an empty user and password. */
		snprintf(un, (size_t)unlen, "%s", "");
		snprintf(pw, (size_t)pwlen, "%s", "");
		return;
	}
	user = x->user;
	if ((bs = strchr(user, '\\')) != NULL) {
		snprintf(wg, (size_t)wglen, "%.*s", (int)(bs - user), user);
		user = bs + 1;
	} else if (x->domain != NULL && *x->domain != '\0')
		snprintf(wg, (size_t)wglen, "%s", x->domain);
	snprintf(un, (size_t)unlen, "%s", user);
	snprintf(pw, (size_t)pwlen, "%s", x->password ? x->password : "");
}

/* Debian's libsmbclient does not export smbc_thread_posix(), so without
 * the thread hooks installed in smb_load its global state (smb.conf, the
 * debug system and, on every call, talloc's stack of frames) is shared by
 * all threads: two workers using their own contexts at once corrupt that
 * stack ("Freed frame ..., expected ...") and stall.  With the hooks
 * (smb_threaded) each thread has its own stack of frames and a worker's
 * calls on its own open file need no lock; what still touches global
 * state holds this lock: creating and freeing contexts, the first open
 * of a share on a context (connection, name resolution), and probes.
 * Without the hooks every call holds it, one request at a time (held
 * across a file, it made a refresh probe on the daemon's thread wait for
 * the whole transfer).  It is recursive because a context is set up
 * inside the lock. */
static pthread_mutex_t ctx_mu = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

static void
free_ctx(SMBCCTX *c)
{
	pthread_mutex_lock(&ctx_mu);
	S.free_context(c, 1);
	pthread_mutex_unlock(&ctx_mu);
}

static SMBCCTX *
new_ctx_locked(void *userdata, unsigned port, int kerberos)
{
	SMBCCTX *c;

	if ((c = S.new_context()) == NULL)
		return NULL;
	S.setOptionUserData(c, userdata);
	S.setFunctionAuthDataWithContext(c, auth_fn);
	S.setPort(c, (uint16_t)port);
	S.setOptionProtocols(c, "SMB2_02", "SMB3");
	/* The computer: Kerberos required, and neither NTLM nor an
	 * anonymous session when it fails (the share would see someone
	 * else, and access denied would hide the real cause). */
	S.setOptionUseKerberos(c, kerberos);
	S.setOptionFallbackAfterKerberos(c, !kerberos);
	S.setOptionNoAutoAnonymousLogin(c, kerberos);
	S.setDebug(c, 0);
	S.setTimeout(c, SMB_TIMEOUT_MS);
	if (S.init_context(c) == NULL) {
		S.free_context(c, 1);
		return NULL;
	}
	return c;
}

static SMBCCTX *
new_ctx(void *userdata, unsigned port, int kerberos)
{
	SMBCCTX *c;

	pthread_mutex_lock(&ctx_mu);
	c = new_ctx_locked(userdata, port, kerberos);
	pthread_mutex_unlock(&ctx_mu);
	return c;
}

struct smb_worker *
smb_worker_new(void)
{
	return calloc(1, sizeof(struct smb_worker));
}

void
smb_worker_free(struct smb_worker *w)
{
	if (w == NULL)
		return;
	if (w->ctx != NULL)
		free_ctx(w->ctx);
	free(w->key);
	free(w->share);
	free(w->buf);
	free(w);
}

int
smb_is_unc(const char *remote)
{
	return remote[0] == '\\' && remote[1] == '\\';
}

char *
smb_url(const char *unc, unsigned port)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *p;
	char *out, *o;
	int seps = 0;

	if (!smb_is_unc(unc) || unc[2] == '\0' || unc[2] == '\\')
		return NULL;
	if ((out = malloc(strlen(unc) * 3 + 32)) == NULL)
		return NULL;
	o = out + sprintf(out, "smb://");
	for (p = unc + 2; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch == '\\' || ch == '/') {
			if (seps++ == 0)
				o += sprintf(o, ":%u", port);
			*o++ = '/';
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' &&
		    ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    strchr("-._~$", ch) != NULL)
			*o++ = (char)ch;
		else {
			*o++ = '%';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		}
	}
	*o = '\0';
	if (seps < 2) {		/* a share and a path are required */
		free(out);
		return NULL;
	}
	return out;
}

static int
smb_fail(struct xfer *x, int err, const char *what)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
	case EISDIR:
		return xfer_fail(x, BK_CTX_REMOTE_FILE, HR_FILE_NOT_FOUND, 0,
		    "%s %s: %s", what, x->remote, strerror(err));
	case EACCES:
	case EPERM:
		/* Who was refused: the fix differs (the share's ACL, the
		 * machine keytab, the helper token's account). */
		if (x->user != NULL)
			return xfer_fail(x, BK_CTX_REMOTE_FILE,
			    HR_ACCESS_DENIED, 0, "%s %s: access denied to the "
			    "helper token's account %s%s%s (NTLMv2): check "
			    "its password in the credential store and the "
			    "share's permissions", what, x->remote,
			    x->domain && *x->domain ? x->domain : "",
			    x->domain && *x->domain ? "\\" : "", x->user);
		if (x->machine != NULL)
			return xfer_fail(x, BK_CTX_REMOTE_FILE,
			    HR_ACCESS_DENIED, 0, "%s %s: access denied to the "
			    "computer account %s (Kerberos): grant it (or "
			    "Domain Computers) read access on the share",
			    what, x->remote, x->machine);
		return xfer_fail(x, BK_CTX_REMOTE_FILE, HR_ACCESS_DENIED, 0,
		    "%s %s: access denied to an anonymous session (auth: "
		    "computer without a machine keytab, as LocalService): "
		    "join the host to the domain so that machine_keytab "
		    "holds its key, allow anonymous reads on the share, or "
		    "use a helper_token", what, x->remote);
	case ENODEV:
	case ENXIO:
		return xfer_fail(x, BK_CTX_REMOTE_FILE,
		    HR_WIN32(ERROR_BAD_NET_NAME), 0, "%s %s: no such share",
		    what, x->remote);
	case EINVAL:
		return xfer_fail(x, BK_CTX_REMOTE_FILE, HR_INET_INVALID_URL,
		    0, "%s %s: invalid UNC path", what, x->remote);
	default:
		return xfer_fail(x, BK_CTX_GENERAL_TRANSPORT, HR_BAD_NETPATH,
		    1, "%s %s: %s", what, x->remote, strerror(err));
	}
}

static int
ensure_ctx(struct smb_worker *w, const struct xfer *x)
{
	char key[600];

	snprintf(key, sizeof(key), "%u|%s|%s|%s", x->smb_port,
	    x->user ? x->user : "", x->domain ? x->domain : "",
	    x->user == NULL && x->machine ? x->machine : "");
	if (w->ctx != NULL && w->key != NULL && strcmp(w->key, key) == 0)
		return 0;
	if (w->ctx != NULL)
		free_ctx(w->ctx);
	free(w->key);
	w->key = NULL;
	free(w->share);
	w->share = NULL;
	if ((w->ctx = new_ctx(w, x->smb_port, x->user == NULL &&
	    x->machine != NULL)) == NULL)
		return -1;
	w->key = strdup(key);
	return 0;
}

/* Calls on an open file: under ctx_mu unless the thread hooks are in. */
static void
io_lock(void)
{
	if (!smb_threaded)
		pthread_mutex_lock(&ctx_mu);
}

static void
io_unlock(void)
{
	if (!smb_threaded)
		pthread_mutex_unlock(&ctx_mu);
}

/* Records the "smb://host:port/share/" part of url: w->ctx holds a
 * connection to it. */
static void
remember_share(struct smb_worker *w, const char *url)
{
	const char *p = url + 6;	/* past "smb://" */

	free(w->share);
	w->share = NULL;
	if (strncmp(url, "smb://", 6) != 0 || (p = strchr(p, '/')) == NULL ||
	    (p = strchr(p + 1, '/')) == NULL)
		return;
	w->share = strndup(url, (size_t)(p - url) + 1);
}

static int smb_probe_locked(const struct xfer *settings,
    struct bk_validators *out, struct bk_error *err);

/* A probe runs on a thread of its own and the caller (the daemon's
 * thread) waits for it: libsmbclient has no progress callback, and its
 * timeout is per request, so a server answering each request just in
 * time would hold the daemon for minutes.  The caller gives up after
 * SMB_PROBE_TIMEOUT in all, or at once when should_abort says so; the
 * thread then finishes on its own (bounded by the per-request timeout)
 * and frees what it was given. */
#define SMB_PROBE_TIMEOUT	20
/* Probe threads still running (given up on, their server slow): past
 * this many a probe is deferred at once rather than pile up threads. */
#define SMB_PROBES_MAX	4
static _Atomic int probes_running;

struct probe_run {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int locked, done, abandoned, ret;
	struct xfer x;			/* strings below are the run's own */
	char *remote, *user, *password, *domain, *machine;
	struct bk_validators out;
	struct bk_error err;
};

static void
probe_run_free(struct probe_run *r)
{
	if (r->password != NULL)
		memset(r->password, 0, strlen(r->password));
	free(r->remote);
	free(r->user);
	free(r->password);
	free(r->domain);
	free(r->machine);
	free(r->err.text);
	free(r->err.remote);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

static void *
probe_thread(void *arg)
{
	struct probe_run *r = arg;
	int abandoned;

	pthread_mutex_lock(&ctx_mu);
	pthread_mutex_lock(&r->mu);
	r->locked = 1;
	abandoned = r->abandoned;
	pthread_mutex_unlock(&r->mu);
	if (!abandoned)
		r->ret = smb_probe_locked(&r->x, &r->out, &r->err);
	pthread_mutex_unlock(&ctx_mu);
	pthread_mutex_lock(&r->mu);
	r->done = 1;
	abandoned = r->abandoned;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	if (abandoned)
		probe_run_free(r);
	atomic_fetch_sub(&probes_running, 1);
	return NULL;
}

static char *
dup_or_null(const char *s, int *fail)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*fail = 1;
	return d;
}

/* The caller's error when it stops waiting: deferred (busy or asked to
 * give way) or a timeout. */
static int
probe_gave_up(const struct xfer *x, int timeout, struct bk_error *err)
{
	char text[512];

	memset(err, 0, sizeof(*err));
	err->context = BK_CTX_GENERAL_TRANSPORT;
	if (timeout) {
		err->code = HR_INET_TIMEOUT;
		snprintf(text, sizeof(text), "probing %s: no answer within %d"
		    " s; checked again after the set's refresh (check the"
		    " server and the network path to it)", x->remote,
		    SMB_PROBE_TIMEOUT);
	} else {
		err->code = HR_GEN_FAILURE;
		snprintf(text, sizeof(text), "probe of %s deferred (a signal or"
		    " a request to serve, or the SMB client busy with a"
		    " transfer): probed again on the next pass", x->remote);
	}
	err->text = strdup(text);
	err->remote = strdup(x->remote);
	return timeout ? BK_E_IO : BK_E_INTERRUPTED;
}

int
smb_probe(const struct xfer *settings, struct bk_validators *out,
    struct bk_error *err)
{
	struct probe_run *r;
	struct timespec now, lock_until, until;
	pthread_attr_t attr;
	pthread_t t;
	int fail = 0, ret = BK_E_IO, gave_up = 0;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	if (atomic_load(&probes_running) >= SMB_PROBES_MAX)
		return probe_gave_up(settings, 0, err);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return BK_E_IO;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->x = *settings;
	r->x.job = NULL;	/* the caller's: not used by SMB */
	r->x.should_abort = NULL;
	r->x.remote = r->remote = dup_or_null(settings->remote, &fail);
	r->x.user = r->user = dup_or_null(settings->user, &fail);
	r->x.password = r->password = dup_or_null(settings->password, &fail);
	r->x.domain = r->domain = dup_or_null(settings->domain, &fail);
	/* The thread may outlive the caller's view of the principal (a
	 * reload that sets up the machine identity again). */
	r->x.machine = r->machine = dup_or_null(settings->machine, &fail);
	if (fail || pthread_attr_init(&attr) != 0) {
		probe_run_free(r);
		return BK_E_IO;
	}
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	atomic_fetch_add(&probes_running, 1);
	if (pthread_create(&t, &attr, probe_thread, r) != 0) {
		atomic_fetch_sub(&probes_running, 1);
		pthread_attr_destroy(&attr);
		probe_run_free(r);
		return BK_E_IO;
	}
	pthread_attr_destroy(&attr);
	clock_gettime(CLOCK_REALTIME, &now);
	lock_until = until = now;
	lock_until.tv_sec += SMB_PROBE_LOCK_WAIT;
	until.tv_sec += SMB_PROBE_TIMEOUT;
	pthread_mutex_lock(&r->mu);
	while (!r->done) {
		struct timespec step;

		clock_gettime(CLOCK_REALTIME, &step);
		if (settings->should_abort != NULL &&
		    settings->should_abort((struct xfer *)settings)) {
			gave_up = 1;	/* deferred */
			break;
		}
		if (!r->locked && (step.tv_sec > lock_until.tv_sec ||
		    (step.tv_sec == lock_until.tv_sec &&
		    step.tv_nsec >= lock_until.tv_nsec))) {
			gave_up = 1;	/* busy: deferred */
			break;
		}
		if (step.tv_sec > until.tv_sec || (step.tv_sec ==
		    until.tv_sec && step.tv_nsec >= until.tv_nsec)) {
			gave_up = 2;	/* timeout */
			break;
		}
		step.tv_nsec += 100000000L;	/* poll should_abort 10/s */
		if (step.tv_nsec >= 1000000000L) {
			step.tv_sec++;
			step.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->cv, &r->mu, &step);
	}
	if (gave_up) {
		r->abandoned = 1;	/* the thread frees r */
		pthread_mutex_unlock(&r->mu);
		return probe_gave_up(settings, gave_up == 2, err);
	}
	pthread_mutex_unlock(&r->mu);
	ret = r->ret;
	*out = r->out;
	*err = r->err;
	memset(&r->err, 0, sizeof(r->err));
	probe_run_free(r);
	return ret;
}

/* Every libsmbclient call below holds ctx_mu for that call only (see
 * ctx_mu); errno is kept across the unlock. */
int
smb_transfer(struct smb_worker *w, struct xfer *x)
{
	struct bk_validators v;
	struct stat sb, after;
	SMBCFILE *fh = NULL;
	char *url = NULL;
	uint64_t got = 0, unsynced = 0, size, avail = 0, reserve = 0;
	off_t sync_from, sk;
	ssize_t r;
	size_t want;
	int ret, restart = 0, err, st, locked = 1;

	w->cur = x;
	if (!smb_available()) {
		ret = xfer_fail(x, BK_CTX_GENERAL_TRANSPORT, HR_GEN_FAILURE, 0,
		    "UNC sources need libsmbclient, which is not installed");
		goto out;
	}
	if ((url = smb_url(x->remote, x->smb_port)) == NULL) {
		ret = smb_fail(x, EINVAL, "opening");
		goto out;
	}
	if (w->buf == NULL && (w->buf = malloc(SMB_BUFFER)) == NULL) {
		ret = xfer_fail(x, BK_CTX_GENERAL_QUEUE_MANAGER, HR_GEN_FAILURE,
		    1, "out of memory");
		goto out;
	}
	/* The first open of a share on this worker's context connects
	 * (name resolution, session setup: global state of the library)
	 * and holds ctx_mu; later opens on that connection, and the reads,
	 * go in parallel with the other workers' (smb_threaded). */
	pthread_mutex_lock(&ctx_mu);
	err = ensure_ctx(w, x);
	if (err == 0 && smb_threaded && w->share != NULL &&
	    strncmp(url, w->share, strlen(w->share)) == 0) {
		pthread_mutex_unlock(&ctx_mu);
		locked = 0;
	}
	if (err == 0) {
		errno = 0;
		fh = S.getFunctionOpen(w->ctx)(w->ctx, url, O_RDONLY, 0);
		err = fh == NULL ? (errno ? errno : EIO) : 0;
		if (fh != NULL && locked)
			remember_share(w, url);
	} else
		err = -1;
	if (locked)
		pthread_mutex_unlock(&ctx_mu);
	if (err == -1) {
		ret = xfer_fail(x, BK_CTX_GENERAL_TRANSPORT, HR_GEN_FAILURE, 1,
		    "cannot set up the SMB client");
		goto out;
	}
	if (fh == NULL) {
		ret = smb_fail(x, err, "opening");
		/* A broken session would fail every later open too. */
		if (x->transient) {
			free_ctx(w->ctx);
			w->ctx = NULL;
			free(w->share);
			w->share = NULL;
		}
		goto out;
	}
	io_lock();
	st = S.getFunctionFstat(w->ctx)(w->ctx, fh, &sb);
	err = errno;
	io_unlock();
	if (st != 0) {
		ret = smb_fail(x, err, "reading the size of");
		goto out;
	}
	/* A first read of a file modified just now waits until its mtime's
	 * second is over (SMB_MTIME_FRESH), then takes size and mtime
	 * again. */
	if (x->offset == 0 && (int64_t)time(NULL) - (int64_t)sb.st_mtime <
	    SMB_MTIME_FRESH) {
		struct timespec ts = { SMB_MTIME_FRESH, 0 };

		nanosleep(&ts, NULL);
		io_lock();
		st = S.getFunctionFstat(w->ctx)(w->ctx, fh, &sb);
		err = errno;
		io_unlock();
		if (st != 0) {
			ret = smb_fail(x, err, "reading the size of");
			goto out;
		}
	}
	size = (uint64_t)sb.st_size;
	if (x->offset > 0 && (x->have == NULL ||
	    x->have->size != size ||
	    x->have->mtime != (int64_t)sb.st_mtime ||
	    x->offset > size)) {
		if (ftruncate(x->fd, 0) != 0 || lseek(x->fd, 0, SEEK_SET) != 0) {
			err = errno;
			ret = xfer_fail(x, BK_CTX_LOCAL_FILE, lf_hresult(err), 0,
			    "%s", strerror(err));
			goto out;
		}
		x->offset = 0;
		restart = 1;
	}
	/* The size the server announced must fit, leaving the filesystem
	 * its reserve, as for HTTP. */
	if (!xfer_room(x->fd, size - x->offset, &avail, &reserve)) {
		ret = xfer_fail(x, BK_CTX_LOCAL_FILE, HR_DISK_FULL, 0,
		    "%s announces %llu bytes, which would leave less than the"
		    " %llu bytes kept free on the destination's filesystem"
		    " (%llu free): make room there, or check the file",
		    x->remote, (unsigned long long)(size - x->offset),
		    (unsigned long long)reserve, (unsigned long long)avail);
		goto out;
	}
	memset(&v, 0, sizeof(v));
	v.size = size;
	v.mtime = (int64_t)sb.st_mtime;
	if (x->on_start(x, &v, v.size, restart) != 0) {
		ret = XFER_ABORTED;
		goto out;
	}
	if (x->offset > 0) {
		io_lock();
		sk = S.getFunctionLseek(w->ctx)(w->ctx, fh, (off_t)x->offset,
		    SEEK_SET);
		err = errno;
		io_unlock();
		if (sk < 0) {
			ret = smb_fail(x, err, "seeking in");
			goto out;
		}
	}
	sync_from = (off_t)x->offset;
	for (;;) {
		if (x->should_abort(x)) {
			ret = XFER_ABORTED;
			goto out;
		}
		/* Never past the size the server announced; once there, one
		 * more read must find the end. */
		want = size - x->offset - got < SMB_BUFFER ?
		    (size_t)(size - x->offset - got) : SMB_BUFFER;
		if (want == 0)
			want = 1;
		io_lock();
		r = S.getFunctionRead(w->ctx)(w->ctx, fh, w->buf, want);
		err = errno;
		io_unlock();
		if (r < 0) {
			ret = smb_fail(x, err, "reading");
			goto out;
		}
		if (r == 0)
			break;
		if (x->offset + got >= size) {
			ret = xfer_fail(x, BK_CTX_REMOTE_FILE,
			    HR_BG_INVALID_SERVER_RESPONSE, 0, "%s sent more than"
			    " the %llu bytes its size announced (it grew while"
			    " being read, or the server is wrong): the extra"
			    " bytes were refused; the file is fetched again"
			    " after the retry delay", x->remote,
			    (unsigned long long)size);
			goto out;
		}
		if ((err = xhash_write(x->hash, x->fd, w->buf, (size_t)r)) !=
		    0) {
			ret = xfer_fail(x, BK_CTX_LOCAL_FILE, lf_hresult(err), 0,
			    "writing the temporary file: %s", strerror(err));
			goto out;
		}
		got += (uint64_t)r;
		unsynced += (uint64_t)r;
		if (unsynced >= SMB_SYNC_EVERY) {
			sync_file_range(x->fd, sync_from, (off_t)unsynced,
			    SYNC_FILE_RANGE_WRITE);
			sync_from += (off_t)unsynced;
			unsynced = 0;
		}
		if (x->on_data(x, (size_t)r) != 0) {
			ret = XFER_ABORTED;
			goto out;
		}
	}
	if (x->offset + got != size) {
		ret = xfer_fail(x, BK_CTX_REMOTE_FILE, HR_NETNAME_DELETED, 1,
		    "%s changed size while being read", x->remote);
		goto out;
	}
	/* An edit during the read that kept the size shows in the mtime:
	 * what was read may be two versions, so it is not committed. */
	io_lock();
	st = S.getFunctionFstat(w->ctx)(w->ctx, fh, &after);
	err = errno;
	io_unlock();
	if (st != 0) {
		ret = smb_fail(x, err, "reading the size of");
		goto out;
	}
	if ((uint64_t)after.st_size != size ||
	    after.st_mtime != sb.st_mtime) {
		ret = xfer_fail(x, BK_CTX_REMOTE_FILE, HR_NETNAME_DELETED, 1,
		    "%s changed while being read: fetched again after the"
		    " retry delay", x->remote);
		goto out;
	}
	ret = XFER_OK;
out:
	if (fh != NULL && w->ctx != NULL) {
		io_lock();
		S.getFunctionClose(w->ctx)(w->ctx, fh);
		io_unlock();
	}
	w->cur = NULL;
	free(url);
	return ret;
}

static int
smb_probe_locked(const struct xfer *settings, struct bk_validators *out,
    struct bk_error *err)
{
	struct xfer x = *settings;
	struct smb_worker *w;
	struct stat sb;
	char *url = NULL;
	int ret = BK_E_IO;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	if ((w = smb_worker_new()) == NULL)
		return BK_E_IO;
	w->cur = &x;
	if (!smb_available())
		xfer_fail(&x, BK_CTX_GENERAL_TRANSPORT, HR_GEN_FAILURE, 0,
		    "UNC sources need libsmbclient, which is not installed");
	else if ((url = smb_url(x.remote, x.smb_port)) == NULL)
		smb_fail(&x, EINVAL, "probing");
	else if (ensure_ctx(w, &x) != 0)
		xfer_fail(&x, BK_CTX_GENERAL_TRANSPORT, HR_GEN_FAILURE, 1,
		    "cannot set up the SMB client");
	else if (S.getFunctionStat(w->ctx)(w->ctx, url, &sb) != 0)
		smb_fail(&x, errno, "probing");
	else {
		out->size = (uint64_t)sb.st_size;
		out->mtime = (int64_t)sb.st_mtime;
		ret = BK_OK;
	}
	if (ret != BK_OK) {
		err->context = x.ectx;
		err->code = x.code;
		err->text = strdup(x.text);
		err->remote = strdup(x.remote);
	}
	free(url);
	smb_worker_free(w);
	return ret;
}

/* ---- folder listings (design §2a) ------------------------------------- */

static char **
realloc_subs(char **subs, size_t n)
{
	char **r;

	if (n != 0 && (n < 8 || (n & (n - 1)) != 0))
		return subs;	/* room left: capacities 8, 16, 32, ... */
	if ((r = realloc(subs, (n ? 2 * n : 8) * sizeof(*r))) == NULL) {
		size_t i;

		for (i = 0; i < n; i++)
			free(subs[i]);
		free(subs);
	}
	return r;
}

/* FILE_ATTRIBUTE_REPARSE_POINT: a symbolic link or junction on a Windows
 * server; Samba reports a symlink as what it points to, and refuses to
 * open one that leaves the share (wide links = no, its default). */
#define SMB_ATTR_REPARSE	0x400

/* The most folders one listing enters: room for a tree whose files sit
 * one to a folder a few levels down, bounded by max_set_files. */
#define SMB_LIST_DIRS(max_files)	(4 * (size_t)(max_files) + 1000)

struct smb_walk {
	struct smb_worker *w;
	const struct bk_list *req;
	struct bk_listing *out;
	size_t cap;
	struct xfer *x;
	size_t nkept;		/* usable names listed */
	size_t ndirs;		/* folders queued to be listed */
	int err;		/* errno of a failed opendir, 0 */
	char *failed;		/* the folder it failed on */
};

static int
walk_add(struct smb_walk *k, const char *rel, uint64_t size, int64_t mtime,
    const char *why)
{
	struct bk_entry *e;

	if (k->out->n == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 256;

		if ((e = realloc(k->out->v, cap * sizeof(*e))) == NULL)
			return -1;
		k->out->v = e;
		k->cap = cap;
	}
	e = &k->out->v[k->out->n];
	if ((e->name = strdup(rel)) == NULL)
		return -1;
	e->size = size;
	e->mtime = mtime;
	e->why = why;
	k->out->n++;
	return 0;
}

/* Lists url (the folder rel below the set's folder), depth folders deep;
 * sub-folders after the files, so a stop at the limit keeps the
 * shallower ones.  0, or -1 (k->err, or out of memory). */
static int
walk_dir(struct smb_walk *k, const char *url, const char *rel,
    unsigned depth)
{
	const struct libsmb_file_info *fi;
	SMBCFILE *dh;
	struct stat sb;
	char **subs = NULL, **ns, *child = NULL, *curl = NULL;
	size_t nsubs = 0, i;
	int rc = -1;

	if (k->req->interrupt != NULL &&
	    k->req->interrupt(k->req->interrupt_arg)) {
		k->err = EINTR;
		return -1;
	}
	pthread_mutex_lock(&ctx_mu);
	errno = 0;
	dh = S.getFunctionOpendir(k->w->ctx)(k->w->ctx, url);
	k->err = dh == NULL ? (errno ? errno : EIO) : 0;
	pthread_mutex_unlock(&ctx_mu);
	if (dh == NULL) {
		k->failed = strdup(rel[0] ? rel : ".");
		return -1;
	}
	for (;;) {
		const char *why = NULL;
		int is_dir;

		pthread_mutex_lock(&ctx_mu);
		fi = S.getFunctionReaddirPlus2(k->w->ctx)(k->w->ctx, dh, &sb);
		free(child);
		child = NULL;
		if (fi != NULL && fi->name != NULL) {
			size_t len = strlen(rel) + strlen(fi->name) + 2;

			if ((child = malloc(len)) != NULL)
				snprintf(child, len, "%s%s%s", rel,
				    rel[0] ? "/" : "", fi->name);
		}
		pthread_mutex_unlock(&ctx_mu);
		if (fi == NULL)
			break;
		if (fi->name == NULL || strcmp(fi->name, ".") == 0 ||
		    strcmp(fi->name, "..") == 0)
			continue;
		if (child == NULL)
			goto out;
		is_dir = (fi->attrs & SMBC_DOS_MODE_DIRECTORY) != 0;
		/* A name the server sends is the server's word only: one
		 * holding a separator would be read as several components
		 * once joined, and never reach the globs as itself. */
		if (fi->name[0] == '\0' || strpbrk(fi->name, "/\\") != NULL)
			why = "the name holds a path separator";
		if (fi->attrs & SMB_ATTR_REPARSE) {
			k->out->nlinks++;
			continue;
		}
		if (is_dir) {
			if (why != NULL) {
				if (walk_add(k, child, 0, 0, why) != 0)
					goto out;
				continue;
			}
			if (k->req->enter != NULL &&
			    !k->req->enter(k->req->arg, child))
				continue;
			if (depth >= k->req->max_depth) {
				k->out->ndeep++;
				continue;
			}
			/* Folders cost memory (their names wait here) and a
			 * round trip each, and count toward no file limit: a
			 * server that answers folders without end must not
			 * grow the agent without end. */
			if (++k->ndirs > SMB_LIST_DIRS(k->req->max_entries)) {
				k->err = E2BIG;
				k->failed = strdup(child);
				goto out;
			}
			if ((ns = realloc_subs(subs, nsubs)) == NULL) {
				subs = NULL;
				nsubs = 0;
				goto out;
			}
			subs = ns;
			if ((subs[nsubs] = strdup(fi->name)) == NULL)
				goto out;
			nsubs++;
			continue;
		}
		if (why == NULL && k->req->keep != NULL &&
		    !k->req->keep(k->req->arg, child))
			continue;
		/* Refused names count too, with room: a server that sends
		 * nothing else must not grow the list without end. */
		if ((why == NULL && k->nkept >= k->req->max_entries) ||
		    k->out->n >= k->req->max_entries + 1000) {
			k->out->over = 1;
			rc = 0;
			goto out;
		}
		if (walk_add(k, child, (uint64_t)fi->size,
		    (int64_t)fi->mtime_ts.tv_sec, why) != 0)
			goto out;
		if (why == NULL)
			k->nkept++;
	}
	pthread_mutex_lock(&ctx_mu);
	S.getFunctionClosedir(k->w->ctx)(k->w->ctx, dh);
	pthread_mutex_unlock(&ctx_mu);
	dh = NULL;
	for (i = 0; i < nsubs && !k->out->over; i++) {
		size_t ulen = strlen(url) + 3 * strlen(subs[i]) + 2;
		char *o;
		const char *p;

		free(curl);
		free(child);
		child = NULL;
		if ((curl = malloc(ulen)) == NULL ||
		    (child = malloc(strlen(rel) + strlen(subs[i]) + 2)) == NULL)
			goto out;
		o = curl + sprintf(curl, "%s/", url);
		for (p = subs[i]; *p != '\0'; p++) {
			unsigned char ch = (unsigned char)*p;

			if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' &&
			    ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			    strchr("-._~$", ch) != NULL)
				*o++ = (char)ch;
			else
				o += sprintf(o, "%%%02X", ch);
		}
		*o = '\0';
		sprintf(child, "%s%s%s", rel, rel[0] ? "/" : "", subs[i]);
		if (walk_dir(k, curl, child, depth + 1) != 0)
			goto out;
	}
	rc = 0;
out:
	if (dh != NULL) {
		pthread_mutex_lock(&ctx_mu);
		S.getFunctionClosedir(k->w->ctx)(k->w->ctx, dh);
		pthread_mutex_unlock(&ctx_mu);
	}
	for (i = 0; i < nsubs; i++)
		free(subs[i]);
	free(subs);
	free(child);
	free(curl);
	return rc;
}

/* A folder's URL: a share's root (\\host\share) is a folder too, which
 * smb_url (made for files) refuses. */
static char *
folder_url(const char *unc, unsigned port)
{
	size_t n = strlen(unc);
	char *s, *u;

	if ((s = malloc(n + 2)) == NULL)
		return NULL;
	memcpy(s, unc, n);
	s[n] = '\\';
	s[n + 1] = '\0';
	u = smb_url(s, port);
	free(s);
	return u;
}

int
smb_list(const struct xfer *settings, const struct bk_list *req,
    struct bk_listing *out, struct bk_error *err)
{
	struct xfer x = *settings;
	struct smb_walk k;
	char *url = NULL;
	int ret = BK_E_IO, st;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	memset(&k, 0, sizeof(k));
	k.req = req;
	k.out = out;
	k.x = &x;
	if ((k.w = smb_worker_new()) == NULL)
		return BK_E_IO;
	k.w->cur = &x;
	if (!smb_available())
		xfer_fail(&x, BK_CTX_GENERAL_TRANSPORT, HR_GEN_FAILURE, 0,
		    "UNC sources need libsmbclient, which is not installed");
	else if ((url = folder_url(x.remote, x.smb_port)) == NULL)
		smb_fail(&x, EINVAL, "listing");
	else if (ensure_ctx(k.w, &x) != 0)
		xfer_fail(&x, BK_CTX_GENERAL_TRANSPORT, HR_GEN_FAILURE, 1,
		    "cannot set up the SMB client");
	else {
		/* smb_url keeps a trailing separator as '/': drop it so
		 * that children join with exactly one. */
		size_t n = strlen(url);

		while (n > 0 && url[n - 1] == '/')
			url[--n] = '\0';
		st = walk_dir(&k, url, "", 0);
		if (st == 0)
			ret = BK_OK;
		else if (k.err == EINTR)
			ret = BK_E_INTERRUPTED;
		else if (k.err == EINVAL)
			/* libsmbclient refuses a whole folder whose entries
			 * it cannot convert (a '\\' in a name, from a server
			 * that does not mangle such names). */
			xfer_fail(&x, BK_CTX_REMOTE_FILE, HR_INET_INVALID_URL,
			    0, "listing folder %s of %s: the server sent a "
			    "name the SMB client refuses (a '\\' or another "
			    "character a Windows name cannot hold); rename it "
			    "on the server; nothing of the set was changed",
			    k.failed ? k.failed : ".", x.remote);
		else if (k.err == E2BIG)
			xfer_fail(&x, BK_CTX_REMOTE_FILE, HR_GEN_FAILURE, 0,
			    "listing %s: the folder holds more than %zu "
			    "folders that 'include' enters (at %s), the most "
			    "a listing follows for max_set_files %zu; narrow "
			    "'include', or move the files into fewer folders; "
			    "nothing of the set was changed", x.remote,
			    SMB_LIST_DIRS(req->max_entries),
			    k.failed ? k.failed : ".", req->max_entries);
		else if (k.err != 0) {
			char what[300];

			snprintf(what, sizeof(what), "listing folder %s of",
			    k.failed ? k.failed : ".");
			smb_fail(&x, k.err, what);
		} else
			xfer_fail(&x, BK_CTX_GENERAL_QUEUE_MANAGER,
			    HR_GEN_FAILURE, 0, "out of memory");
	}
	if (ret != BK_OK) {
		backend_free_listing(out);
		err->context = ret == BK_E_INTERRUPTED ?
		    BK_CTX_GENERAL_TRANSPORT : x.ectx;
		err->code = x.code;
		err->text = strdup(ret == BK_E_INTERRUPTED ? "listing "
		    "interrupted: listed again on the next pass" : x.text);
		err->remote = strdup(x.remote);
	}
	free(k.failed);
	free(url);
	smb_worker_free(k.w);
	return ret;
}
