/* backend.h - the transfer backend: what the reconciler asks of BITS (on
 * Windows) or of bitsync's own engine (elsewhere).
 *
 * The shape follows BITS's COM API one to one, so the bits backend is a
 * thin translation: a job (IBackgroundCopyJob) holds files
 * (IBackgroundCopyFile), has a GUID, a display name and a description, a
 * state from BG_JOB_STATE, a priority from BG_JOB_PRIORITY, progress, and
 * at most one current error (IBackgroundCopyError).  Enumeration returns
 * the jobs of the calling account only (EnumJobs(0)); the reconciler then
 * decides which of those bitsync owns (display name, description and the
 * GUIDs it recorded), so a backend never filters by name itself.
 *
 * Every enum below uses BITS's own numbering. */
#ifndef BITSYNC_BACKEND_H
#define BITSYNC_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct config;

/* BG_JOB_STATE */
enum bk_state {
	BK_QUEUED = 0,
	BK_CONNECTING = 1,
	BK_TRANSFERRING = 2,
	BK_SUSPENDED = 3,
	BK_ERROR = 4,
	BK_TRANSIENT_ERROR = 5,
	BK_TRANSFERRED = 6,
	BK_ACKNOWLEDGED = 7,
	BK_CANCELLED = 8
};

/* BG_JOB_PRIORITY */
enum bk_priority { BK_FOREGROUND = 0, BK_HIGH = 1, BK_NORMAL = 2, BK_LOW = 3 };

/* BG_ERROR_CONTEXT */
enum bk_error_context {
	BK_CTX_NONE = 0,
	BK_CTX_UNKNOWN = 1,
	BK_CTX_GENERAL_QUEUE_MANAGER = 2,
	BK_CTX_QUEUE_MANAGER_NOTIFICATION = 3,
	BK_CTX_LOCAL_FILE = 4,
	BK_CTX_REMOTE_FILE = 5,
	BK_CTX_GENERAL_TRANSPORT = 6,
	BK_CTX_REMOTE_APPLICATION = 7,
	BK_CTX_SERVER_CERTIFICATE_CALLBACK = 8
};

/* BG_JOB_PROXY_USAGE */
enum bk_proxy_usage {
	BK_PROXY_PRECONFIG = 0, BK_PROXY_NO_PROXY = 1, BK_PROXY_OVERRIDE = 2,
	BK_PROXY_AUTODETECT = 3
};

/* BG_TOKEN_* (IBitsTokenOptions::SetHelperTokenFlags) */
enum { BK_TOKEN_LOCAL_FILE = 0x1, BK_TOKEN_NETWORK = 0x2 };

#define BK_SIZE_UNKNOWN UINT64_MAX	/* BG_SIZE_UNKNOWN */

/* Result codes of backend calls; the HRESULT-style codes of a job's error
 * travel in struct bk_error, not here. */
enum bk_result {
	BK_OK = 0,
	BK_PARTIAL = 1,		/* Complete: BG_S_PARTIAL_COMPLETE */
	BK_E_NOTFOUND = -1,	/* no such job (BG_E_NOT_FOUND) */
	BK_E_STATE = -2,	/* not allowed in the job's state (BG_E_INVALID_STATE) */
	BK_E_UNSUPPORTED = -3,	/* this host's backend lacks a needed feature */
	BK_E_IO = -4,		/* the store or a local file failed */
	BK_E_UNAVAILABLE = -5,	/* the service cannot be reached (exit 69) */
	BK_E_INVALID = -6,	/* a bad argument (a bug in the caller) */
	BK_E_INTERRUPTED = -7	/* a probe gave way to bk_probe.interrupt */
};

typedef struct { uint8_t b[16]; } bk_guid;

/* IBackgroundCopyError: the job's current error. */
struct bk_error {
	enum bk_error_context context;
	int32_t code;			/* HRESULT, e.g. 0x80190194 for HTTP 404 */
	char *text;			/* GetErrorDescription, or NULL */
	char *context_text;		/* GetErrorContextDescription, or NULL */
	char *remote;			/* the file it concerns (GetFile), or NULL */
	char *local;
};

/* What the reconciler needs to know about a file after a transfer, to
 * notice later that the remote changed without downloading it again. */
struct bk_validators {
	uint64_t size;			/* BK_SIZE_UNKNOWN if not known */
	int64_t mtime;			/* seconds since the epoch; 0 unknown */
	char *etag;			/* HTTP ETag, or NULL */
	char *last_modified;		/* HTTP Last-Modified, or NULL */
};

struct bk_file {
	char *remote;			/* URL (http[s]://...) or UNC path */
	char *local;			/* destination path */
	uint64_t bytes_total;		/* BK_SIZE_UNKNOWN until known */
	uint64_t bytes_transferred;
	int completed;
	struct bk_validators validators;
};

struct bk_job {
	bk_guid id;
	char *display_name;
	char *description;
	enum bk_state state;
	enum bk_priority priority;
	uint64_t bytes_total;		/* BK_SIZE_UNKNOWN until every file's size is known */
	uint64_t bytes_transferred;
	uint32_t files_total, files_transferred;
	time_t created, modified, transfer_completed;
	uint32_t error_count;		/* GetErrorCount */
	int has_error;
	struct bk_error error;
	struct bk_file *files;
	size_t nfiles;
};

struct bk_file_spec {
	const char *remote;		/* URL or UNC path */
	const char *local;		/* absolute destination path */
	/* A sha256 is declared for it: a backend that can (the engine)
	 * hashes the bytes as they arrive, for temp_sha256. */
	int sha256;
};

struct bk_job_spec {
	const char *display_name;	/* "bitsync:<set>" */
	const char *description;	/* "bitsync/1 set=<set> spec=<hash>" */
	enum bk_priority priority;
	uint32_t retry_delay;		/* SetMinimumRetryDelay, seconds */
	uint32_t no_progress_timeout;	/* SetNoProgressTimeout, seconds */
	uint32_t max_download_time;	/* IBackgroundCopyJob4::SetMaximumDownloadTime; 0 none */
	enum bk_proxy_usage proxy_usage;
	const char *proxy_list;		/* space-separated, as SetProxySettings */
	const char *proxy_bypass;	/* space-separated, as SetProxySettings */
	const char *custom_headers;	/* CRLF-separated, IBackgroundCopyJobHttpOptions */
	const char *credential;		/* helper-token credential name, or NULL */
	unsigned token_flags;		/* BK_TOKEN_* */
	int auth_computer;		/* UNC: machine account / anonymous */
	/* https: TLS client certificate, a credential-store name
	 * (SetClientCertificateByName on LocalMachine\My), or NULL. */
	const char *client_certificate;
	const struct bk_file_spec *files;
	size_t nfiles;
};

/* A remote file's validators, fetched without its body (HEAD, SMB stat):
 * how refresh notices remote change. */
struct bk_probe {
	const char *remote;
	const struct bk_job_spec *settings;	/* proxy, headers, credential */
	/* Polled while the probe waits on the server (NULL: never): nonzero
	 * ends it at once with BK_E_INTERRUPTED, so a daemon that probes on
	 * its own thread still answers a signal or a client. */
	int (*interrupt)(void *arg);
	void *interrupt_arg;
};

struct backend;

/* Called by the backend, from any thread, when a job changes state; the
 * counterpart of IBackgroundCopyCallback.  Must only record the event
 * (e.g. write to a self-pipe): the reconciler acts on it in its own loop.
 * The engine calls it with its job lock held, so it must never call back
 * into the backend.  Changes before set_notify are not replayed: read
 * list_jobs after registering. */
typedef void (*bk_notify_fn)(void *ctx, const bk_guid *job,
    enum bk_state state);

/* Capabilities (backend_ops.caps): how a backend differs where a slot
 * cannot say it, for the callers that must adapt (never its name). */
#define BK_CAP_IN_PROCESS 0x1	/* transfers run in the threads of the
				 * process that opened it and stop with it
				 * (engine): apply stays until they end;
				 * BITS's run in the service */

struct backend_ops {
	/* Short name, as in the config's backend key ("engine", "bits"). */
	const char *name;

	/* BK_CAP_* flags. */
	unsigned caps;

	/* Connects to the service (bits: CoCreateInstance of the manager;
	 * engine: opens its job store under cfg->state_dir and starts its
	 * workers).  BK_E_UNAVAILABLE when the service cannot be had. */
	int (*open)(const struct config *cfg, struct backend **out);

	/* Disconnects; jobs go on (bits) or stay resumable (engine). */
	void (*close)(struct backend *b);

	/* Every job of this account, any owner tag (IEnumBackgroundCopyJobs
	 * from EnumJobs(0)), with files, progress and current error.  As in
	 * BITS, an ACKNOWLEDGED or CANCELLED job is gone: complete and cancel
	 * drop it.  The caller frees the array with backend_free_jobs(). */
	int (*list_jobs)(struct backend *b, struct bk_job **jobs, size_t *n);

	/* CreateJob + AddFile for each file + the settings of spec; the new
	 * job is SUSPENDED, as in BITS.  A setting the host cannot apply gives
	 * BK_E_UNSUPPORTED and no job (never a silent downgrade). */
	int (*create_job)(struct backend *b, const struct bk_job_spec *spec,
	    bk_guid *id);

	/* IBackgroundCopyJob::Resume: SUSPENDED or ERROR -> QUEUED. */
	int (*resume)(struct backend *b, const bk_guid *id);

	/* IBackgroundCopyJob::Suspend. */
	int (*suspend)(struct backend *b, const bk_guid *id);

	/* IBackgroundCopyJob::AddFile on a SUSPENDED job (BK_E_STATE
	 * otherwise): how a spec change that only adds files keeps the job
	 * and what it already transferred.  May be NULL in a backend. */
	int (*add_file)(struct backend *b, const bk_guid *id,
	    const struct bk_file_spec *file);

	/* IBackgroundCopyJob::SetDescription: the job then carries the spec
	 * it was grown to.  May be NULL in a backend. */
	int (*set_description)(struct backend *b, const bk_guid *id,
	    const char *description);

	/* IBackgroundCopyJob::Cancel: removes temporary files; -> CANCELLED. */
	int (*cancel)(struct backend *b, const bk_guid *id);

	/* IBackgroundCopyJob::Complete: TRANSFERRED -> ACKNOWLEDGED, each
	 * temporary file renamed over its destination.  BK_PARTIAL when some
	 * files were not complete (they are left out, as BITS does). */
	int (*complete)(struct backend *b, const bk_guid *id);

	/* The temporary file holding file index of a TRANSFERRED job
	 * (IBackgroundCopyFile3::GetTemporaryName), so the reconciler can
	 * verify a sha256 before Complete; for a file that a Complete cut
	 * short by a crash already committed, its destination (engine).
	 * The caller frees *path. */
	int (*temp_path)(struct backend *b, const bk_guid *id, size_t index,
	    char **path);

	/* The sha256 of file index's completed temp as the backend computed
	 * it while receiving (files whose spec said sha256), so verifying
	 * it needs no second read; BK_E_UNSUPPORTED when it has none (then
	 * the caller hashes temp_path).  May be NULL in a backend. */
	int (*temp_sha256)(struct backend *b, const bk_guid *id, size_t index,
	    uint8_t out[32]);

	/* Validators of a remote file without its body; BK_E_UNSUPPORTED
	 * where the backend cannot ask. */
	int (*probe)(struct backend *b, const struct bk_probe *p,
	    struct bk_validators *out, struct bk_error *err);

	/* Registers fn for state changes (SetNotifyInterface); NULL stops. */
	void (*set_notify)(struct backend *b, bk_notify_fn fn, void *ctx);

	/* One sentence on why the last failed call on b failed (for
	 * BK_E_UNSUPPORTED: what the host lacks and what to do), or NULL.
	 * Valid until the next call on b.  May be NULL in a backend. */
	const char *(*last_error)(struct backend *b);

	/* After a create_job that returned BK_OK: one sentence on a setting
	 * of the spec the host could not apply but the config tolerates
	 * (bits_tolerate_unimplemented, test hosts only), or NULL.  The
	 * caller logs it loudly with the set.  May be NULL in a backend. */
	const char *(*last_warning)(struct backend *b);
};

void backend_free_jobs(struct bk_job *jobs, size_t n);
void backend_free_error(struct bk_error *e);
void backend_free_validators(struct bk_validators *v);

const char *bk_state_name(enum bk_state s);	/* "TRANSFERRING" */
const char *bk_context_name(enum bk_error_context c);
void bk_guid_format(const bk_guid *g, char buf[39]);	/* {XXXXXXXX-...} */
int bk_guid_parse(const char *s, bk_guid *g);

#endif
