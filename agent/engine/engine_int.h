/* engine_int.h - what the engine's own files share: the in-memory job
 * model, one file transfer as the protocol modules see it, and the
 * helpers of store.c, localfile.c, cred.c, http.c and smb.c. */
#ifndef BITSYNC_ENGINE_INT_H
#define BITSYNC_ENGINE_INT_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "backend.h"

struct xhash;		/* xhash.h */

/* HRESULTs the engine reports; the names are BITS's and Win32's, so an
 * administrator can look them up. */
#define HR_WIN32(e)		((int32_t)(0x80070000u | (uint32_t)(e)))
#define HR_HTTP(s)		((int32_t)(0x80190000u | (uint32_t)(s)))
#define HR_ACCESS_DENIED	HR_WIN32(5)	/* E_ACCESSDENIED */
#define HR_FILE_NOT_FOUND	HR_WIN32(2)
#define HR_PATH_NOT_FOUND	HR_WIN32(3)
#define HR_DISK_FULL		HR_WIN32(112)	/* ERROR_DISK_FULL */
#define HR_BAD_NETPATH		HR_WIN32(53)	/* ERROR_BAD_NETPATH */
#define HR_NETNAME_DELETED	HR_WIN32(64)
#define HR_LOGON_FAILURE	HR_WIN32(1326)
#define HR_CANT_ACCESS_FILE	HR_WIN32(1920)	/* reparse point refused */
#define HR_GEN_FAILURE		HR_WIN32(31)
#define HR_INET_TIMEOUT		HR_WIN32(12002)
#define HR_INET_NAME_NOT_RESOLVED HR_WIN32(12007)
#define HR_INET_CANNOT_CONNECT	HR_WIN32(12029)
#define HR_INET_CONNECTION_ABORTED HR_WIN32(12030)
#define HR_INET_CONNECTION_RESET HR_WIN32(12031)
#define HR_INET_INVALID_CA	HR_WIN32(12045)
/* ERROR_INTERNET_CLIENT_AUTH_CERT_NEEDED: the server wants a TLS client
 * certificate (none given, or one it does not accept). */
#define HR_INET_CLIENT_CERT	HR_WIN32(12044)
#define HR_INET_SECURE_FAILURE	HR_WIN32(12175)
#define HR_INET_REDIRECT_FAILED	HR_WIN32(12156)
#define HR_INET_INVALID_URL	HR_WIN32(12005)
#define HR_BG_MAXDOWNLOAD_TIMEOUT ((int32_t)0x80200054u)
#define HR_BG_INVALID_SERVER_RESPONSE ((int32_t)0x8020001Cu)
#define HR_BG_PROXY_FAILED	HR_WIN32(12156)

/* One file of a job, in memory. */
struct efile {
	char *remote;
	char *local;		/* absolute destination path */
	char *temp;		/* temp file's name in local's directory, or NULL */
	uint64_t temp_dev, temp_ino;	/* what temp was when opened; 0 unknown */
	uint64_t total;		/* BK_SIZE_UNKNOWN until the remote says */
	uint64_t done;		/* bytes in the temp file */
	int completed;		/* the temp holds the whole file, fsync'd */
	int active;		/* a worker is transferring it */
	int dirty;		/* changed since last written to the store */
	/* Carried (engine_create_job): this file's temp went to file
	 * handoff_idx of the job with seq handoff_seq; never picked again. */
	int carried;
	int64_t handoff_seq;
	size_t handoff_idx;
	/* Took over a temp whose old worker has not let go of it yet: not
	 * picked until that worker's finish() hands it over. */
	int held;
	struct bk_validators v;	/* of the remote version the temp holds */
	/* A sha256 is declared (bk_file_spec.sha256): the worker hashes the
	 * temp as it writes it (xhash.h); digest_ok says digest is that of
	 * the completed temp temp_dev/temp_ino holding digest_len bytes. */
	int want_hash;
	struct xhash *hash;
	int digest_ok;
	uint8_t digest[32];
	uint64_t digest_len, digest_dev, digest_ino;
};

/* One job, in memory; guarded by the engine's mutex except gen. */
struct ejob {
	bk_guid id;
	int64_t seq;		/* creation order, ties in the queue */
	char *display_name, *description;
	enum bk_state state;
	enum bk_priority priority;
	uint32_t retry_delay, no_progress_timeout, max_download_time;
	enum bk_proxy_usage proxy_usage;
	char *proxy_list, *proxy_bypass, *headers, *credential;
	unsigned token_flags;
	int auth_computer;
	char *client_cert;	/* client_certificate name, or NULL */
	time_t created, modified, transfer_completed;
	uint32_t error_count;
	int has_error;
	struct bk_error err;
	time_t retry_at;	/* TRANSIENT_ERROR: when it goes back to QUEUED */
	time_t stall_since;	/* first transient error since progress; 0 none */
	double active_secs;	/* CONNECTING/TRANSFERRING time since Resume */
	time_t active_since;	/* when the current active stretch began; 0 */
	struct efile *files;
	size_t nfiles;
	size_t nactive;		/* files a worker holds */
	size_t ndirty;		/* files with dirty set */
	time_t flushed;		/* when dirty files were last written */
	/* Bumped whenever the job stops being transferable (suspend, cancel,
	 * error, close): a worker that picked a file under another value
	 * stops at its next callback.  Read without the mutex. */
	atomic_uint gen;
	/* Cancelled: off the job list at once (engine_cancel), its temps
	 * kept until reap_at_ms (monotonic) and until no worker holds one of
	 * its files, so that a job created right after for the same set may
	 * take over what it had (carry); then its temps go and it is freed.
	 * nocarry: it was cancelled in ERROR, its bytes are not trusted. */
	int dying, nocarry;
	int64_t reap_at_ms;
};

/* The remote and local side of one file transfer, as http.c and smb.c see
 * it.  The protocol writes into fd from offset on and reports through the
 * callbacks; the engine owns fd. */
struct xfer {
	const char *remote;
	const struct ejob *job;		/* settings only: proxy, headers */
	const char *user, *password, *domain;	/* helper token, or NULL */
	/* auth: computer with a machine keytab: Kerberos (SMB) or Negotiate
	 * (HTTP) as this principal, NAME$@REALM, from the cache krb.h
	 * keeps; NULL: anonymous. */
	const char *machine;
	const char *ca_file;
	/* The job's client certificate and key (PEM, cred_load_pem), or
	 * NULL: handed to libcurl as a blob. */
	const char *client_pem;
	size_t client_pem_len;
	unsigned smb_port;
	int fd;
	struct xhash *hash;		/* hashes what is written, or NULL */
	uint64_t offset;		/* bytes already in fd */
	const struct bk_validators *have;	/* remote version of those bytes */
	/* Headers or stat seen: the remote's validators and size.  When
	 * restart is set the protocol has emptied fd (the remote changed or
	 * cannot resume).  Returns nonzero to abort. */
	int (*on_start)(struct xfer *x, const struct bk_validators *v,
	    uint64_t total, int restart);
	/* n more bytes are in fd.  Returns nonzero to abort. */
	int (*on_data)(struct xfer *x, size_t n);
	/* Polled while waiting: nonzero to abort. */
	int (*should_abort)(struct xfer *x);
	void *ctx;
	/* result */
	enum bk_error_context ectx;
	int32_t code;
	int transient;
	uint64_t retry_after;		/* seconds the server asked to wait */
	char text[512];
};

enum { XFER_OK = 0, XFER_FAILED = -1, XFER_ABORTED = -2 };

/* Sets x's error; returns XFER_FAILED. */
int xfer_fail(struct xfer *x, enum bk_error_context ctx, int32_t code,
    int transient, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Writes all of buf at fd's position; 0 or an errno. */
int xfer_write(int fd, const void *buf, size_t n);

/* Whether need more bytes in fd leave its filesystem's free-space
 * reserve (64 MiB, or 5 % of a smaller one); what was found in *avail
 * and *reserve.  Unknown (fstatvfs failed) counts as room. */
int xfer_room(int fd, uint64_t need, uint64_t *avail, uint64_t *reserve);

/* http.c: one worker's handle, reused so connections stay open. */
struct http_worker;
int http_available(void);	/* libcurl loaded (dlopen on first call) */
struct http_worker *http_worker_new(void);
void http_worker_free(struct http_worker *w);
int http_transfer(struct http_worker *w, struct xfer *x);
int http_probe(const struct xfer *settings, struct bk_validators *out,
    struct bk_error *err);

/* smb.c */
struct smb_worker;
struct smb_worker *smb_worker_new(void);
void smb_worker_free(struct smb_worker *w);
int smb_transfer(struct smb_worker *w, struct xfer *x);
int smb_probe(const struct xfer *settings, struct bk_validators *out,
    struct bk_error *err);
int smb_is_unc(const char *remote);
/* \\host\share\path -> smb://host:port/share/path (escaped); NULL if bad. */
char *smb_url(const char *unc, unsigned port);

/* localfile.c: destination files that never follow a planted symlink. */
struct lf_ident {
	int set;		/* helper token local_file: act as uid/gid */
	uid_t uid;
	gid_t gid;
};
/* Opens local's directory component by component (O_NOFOLLOW); stores
 * the last component's name in *base (points into local). */
int lf_open_dir(const char *local, int *dfd, const char **base);
/* The last directory lf_open_dir'ed, kept open: many files of a job share
 * one, and walking the path costs an openat per component.  Keep one per
 * identity and job: the walk's permission checks were made for those. */
struct lf_dircache {
	char *dir;
	int fd;			/* -1: none */
};
#define LF_DIRCACHE_INIT { NULL, -1 }
/* As lf_open_dir, but *dfd belongs to the cache; *fresh says it was just
 * opened (not reused). */
int lf_dir_cached(struct lf_dircache *c, const char *local, int *dfd,
    const char **base, int *fresh);
void lf_dir_forget(struct lf_dircache *c);
/* A new temp file .BIT<tag><random>.tmp in dfd, created exclusively. */
int lf_temp_create(int dfd, uint32_t tag, char **name, int *fd);
/* The tag of a store's temp names: a hash of its state directory. */
uint32_t lf_temp_tag(const char *state_dir);
/* 0 when fd is a regular file with one link owned by the writing
 * identity (what lf_temp_create made) and, when dev and ino are not 0,
 * the very file recorded; else an errno value. */
int lf_temp_check(int fd, uint64_t dev, uint64_t ino);
/* Reopens a recorded temp for writing; LF_TEMP_STALE when what the name
 * holds now is not our temp (symlink, FIFO, hard link, other owner):
 * create a fresh one instead. */
#define LF_TEMP_STALE (-1)
int lf_temp_open(int dfd, const char *name, uint64_t dev, uint64_t ino,
    int *fd);
int lf_ident_enter(const struct lf_ident *id, struct lf_ident *saved);
void lf_ident_leave(const struct lf_ident *saved);
int32_t lf_hresult(int err);
/* Looks up the local user of a credential for BK_TOKEN_LOCAL_FILE. */
int lf_ident_for_user(const char *user, struct lf_ident *id);

/* cred.c: a helper-token credential file (credential_dir/NAME). */
struct cred {
	char *username, *password, *domain;
};
int cred_load(const char *dir, const char *name, struct cred *c,
    char *why, size_t whylen);
void cred_free(struct cred *c);
/* A client certificate: credential_dir/NAME.pem (certificate and private
 * key, PEM), held to the checks of cred_load and read through the
 * checked descriptor; *pem is the file's bytes (NUL-terminated).  Free
 * with cred_free_pem, which wipes the key. */
int cred_load_pem(const char *dir, const char *name, char **pem,
    size_t *len, char *why, size_t whylen);
void cred_free_pem(char *pem, size_t len);

/* store.c: the SQLite job store. */
struct store;
int store_open(const char *state_dir, struct store **out);
void store_close(struct store *s);
int store_load(struct store *s, struct ejob ***jobs, size_t *n);
int store_insert_job(struct store *s, const struct ejob *j);
int store_update_job(struct store *s, const struct ejob *j);
int store_update_file(struct store *s, const struct ejob *j, size_t i);
int store_insert_file(struct store *s, const struct ejob *j, size_t i);
/* Groups the writes between them into one transaction. */
int store_begin(struct store *s);
int store_commit(struct store *s);
int store_delete_job(struct store *s, const bk_guid *id);
void ejob_free(struct ejob *j);

#endif
