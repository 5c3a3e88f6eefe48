/* bits.c - the "bits" transfer backend: struct backend_ops over the
 * Background Intelligent Transfer Service's COM API.
 *
 * BITS owns and persists the jobs; this file only translates.  Every
 * optional interface (IBackgroundCopyJob4, IBackgroundCopyJobHttpOptions,
 * IBackgroundCopyFile3, IBitsTokenOptions) is found with QueryInterface, and
 * a job spec that needs one the host's BITS lacks is refused with
 * BK_E_UNSUPPORTED and a sentence in last_error(), never silently
 * downgraded.  Calls that a host's BITS answers with E_NOTIMPL (Wine's
 * SetProxySettings, Suspend) are reported the same way, except the ones
 * the config's bits_tolerate_unimplemented names (a setting for test hosts
 * such as Wine, never for real Windows): then the job is created without
 * that setting and last_warning() says so, for the reconciler to log with
 * the set.
 *
 * list_jobs leaves out ACKNOWLEDGED and CANCELLED jobs, and calls on them
 * give BK_E_NOTFOUND: Windows forgets such jobs at once, Wine lists them
 * for a while, and the reconciler should see one behaviour.
 *
 * Notification: set_notify starts a thread that polls EnumJobs once a
 * second and reports state changes (a polling stand-in for
 * IBackgroundCopyCallback, which would need a registered COM object per
 * job; BITS itself only calls back while the agent process lives, so
 * polling loses nothing that the reconciler's own timer would not catch).
 *
 * probe() asks an http(s) server for a file's validators with a WinHTTP
 * HEAD request; UNC sources are not probed yet (BK_E_UNSUPPORTED). */
#define COBJMACROS
#include <initguid.h>
#include <windows.h>
#include <objbase.h>
#include <bits.h>
#include <bits1_5.h>
#include <bits2_0.h>
#include <bits2_5.h>
#include <bits3_0.h>
#include <bitsmsg.h>
#include <wincred.h>
#include <winhttp.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "bits/bits.h"
#include "bits/bits_folder.h"
#include "bits/bits_http.h"
#include "config.h"
#include "win/wincheck.h"
#include "win/winutil.h"
#include "util.h"

/* ---- interfaces that mingw-w64's headers lack ------------------------
 * Declared from Microsoft's documentation of bits3_0.h / bits4_0.h: the
 * IIDs and the method order of the vtables. */

/* IBackgroundCopyFile3 : IBackgroundCopyFile2 (bits3_0.h) */
typedef struct bs_file3 bs_file3;
typedef struct bs_file3_vtbl {
	HRESULT (STDMETHODCALLTYPE *QueryInterface)(bs_file3 *, REFIID, void **);
	ULONG (STDMETHODCALLTYPE *AddRef)(bs_file3 *);
	ULONG (STDMETHODCALLTYPE *Release)(bs_file3 *);
	HRESULT (STDMETHODCALLTYPE *GetRemoteName)(bs_file3 *, LPWSTR *);
	HRESULT (STDMETHODCALLTYPE *GetLocalName)(bs_file3 *, LPWSTR *);
	HRESULT (STDMETHODCALLTYPE *GetProgress)(bs_file3 *, BG_FILE_PROGRESS *);
	HRESULT (STDMETHODCALLTYPE *GetFileRanges)(bs_file3 *, DWORD *, BG_FILE_RANGE **);
	HRESULT (STDMETHODCALLTYPE *SetRemoteName)(bs_file3 *, LPCWSTR);
	HRESULT (STDMETHODCALLTYPE *GetTemporaryName)(bs_file3 *, LPWSTR *);
	HRESULT (STDMETHODCALLTYPE *SetValidationState)(bs_file3 *, BOOL);
	HRESULT (STDMETHODCALLTYPE *GetValidationState)(bs_file3 *, BOOL *);
	HRESULT (STDMETHODCALLTYPE *IsDownloadedFromPeer)(bs_file3 *, BOOL *);
} bs_file3_vtbl;
struct bs_file3 { const bs_file3_vtbl *lpVtbl; };
static const GUID bs_iid_file3 = { 0x659cdeaa, 0x489e, 0x11d9,
	{ 0xa9, 0xcd, 0x00, 0x0d, 0x56, 0x96, 0x52, 0x51 } };

/* IBitsTokenOptions : IUnknown (bits4_0.h) */
typedef struct bs_tokopt bs_tokopt;
typedef struct bs_tokopt_vtbl {
	HRESULT (STDMETHODCALLTYPE *QueryInterface)(bs_tokopt *, REFIID, void **);
	ULONG (STDMETHODCALLTYPE *AddRef)(bs_tokopt *);
	ULONG (STDMETHODCALLTYPE *Release)(bs_tokopt *);
	HRESULT (STDMETHODCALLTYPE *SetHelperTokenFlags)(bs_tokopt *, DWORD);
	HRESULT (STDMETHODCALLTYPE *GetHelperTokenFlags)(bs_tokopt *, DWORD *);
	HRESULT (STDMETHODCALLTYPE *SetHelperToken)(bs_tokopt *);
	HRESULT (STDMETHODCALLTYPE *ClearHelperToken)(bs_tokopt *);
	HRESULT (STDMETHODCALLTYPE *GetHelperTokenSid)(bs_tokopt *, LPWSTR *);
} bs_tokopt_vtbl;
struct bs_tokopt { const bs_tokopt_vtbl *lpVtbl; };
static const GUID bs_iid_tokopt = { 0x9a2584c3, 0xf7d2, 0x457a,
	{ 0x9a, 0x5e, 0x22, 0xb6, 0x7b, 0xff, 0xc7, 0xd2 } };

/* bitsmsg.h spells these as unsigned long constants. */
#define HR_NOT_FOUND		((HRESULT)BG_E_NOT_FOUND)
#define HR_INVALID_STATE	((HRESULT)BG_E_INVALID_STATE)
#define HR_PARTIAL_COMPLETE	((HRESULT)0x00200017L)

/* ---- the backend ----------------------------------------------------- */

struct poll_seen { bk_guid id; enum bk_state state; };

struct backend {
	IBackgroundCopyManager *mgr;
	int com_owned;			/* CoUninitialize on close */
	char err[1024];			/* last_error() */
	char warn[1024];		/* last_warning() */
	uint32_t tolerate;		/* config's CONFIG_TOLERATE_* */
	char **roots;			/* config's allow_roots (copies) */
	size_t nroots;
	/* temps verified and held until Complete (U21, see hold_temp) */
	struct held_temp {
		bk_guid id;
		HANDLE h;
		char *local;
	} *held;
	size_t nheld;
	/* set_notify's polling thread */
	CRITICAL_SECTION lock;
	HANDLE thread, stop;
	bk_notify_fn fn;
	void *ctx;
};

static void
seterr(struct backend *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->err, sizeof(b->err), fmt, ap);
	va_end(ap);
}

/* ---- strings --------------------------------------------------------- */

/* A CoTaskMem string from BITS, converted and freed. */
static char *
take(LPWSTR w)
{
	char *s = win_narrow(w);

	CoTaskMemFree(w);
	return s;
}

/* The system's text for an HRESULT, trailing newline removed. */
static void
hr_text(HRESULT hr, char *buf, size_t len)
{
	wchar_t wbuf[512];
	DWORD n;
	char *s;

	n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM |
	    FORMAT_MESSAGE_IGNORE_INSERTS, NULL, (DWORD)hr, 0, wbuf,
	    sizeof(wbuf) / sizeof(wbuf[0]), NULL);
	while (n > 0 && (wbuf[n - 1] == L'\n' || wbuf[n - 1] == L'\r' ||
	    wbuf[n - 1] == L' ' || wbuf[n - 1] == L'.'))
		wbuf[--n] = 0;
	if (n == 0) {
		snprintf(buf, len, "HRESULT 0x%08lX", (unsigned long)hr);
		return;
	}
	s = win_narrow(wbuf);
	snprintf(buf, len, "%s (0x%08lX)", s, (unsigned long)hr);
	free(s);
}

/* Maps an HRESULT to a bk_result and records what failed. */
static int
fail(struct backend *b, HRESULT hr, const char *what)
{
	char t[400];

	hr_text(hr, t, sizeof(t));
	seterr(b, "BITS %s failed: %s", what, t);
	switch (hr) {
	case HR_NOT_FOUND:
		return BK_E_NOTFOUND;
	case HR_INVALID_STATE:
		return BK_E_STATE;
	case E_NOTIMPL:
	case E_NOINTERFACE:
		seterr(b, "this host's BITS does not implement %s (%s); "
		    "the set cannot be transferred here as declared", what, t);
		return BK_E_UNSUPPORTED;
	case E_INVALIDARG:
	case E_POINTER:
		return BK_E_INVALID;
	/* BG_E_TOO_MANY_JOBS_PER_MACHINE, BG_E_TOO_MANY_FILES_IN_JOB: a
	 * limit (jobsplit.h), not a broken service; jobs of other accounts,
	 * which EnumJobs(0) does not show, count against MaxJobsPerMachine. */
	case (HRESULT)0x80200050L:
	case (HRESULT)0x80200051L:
		seterr(b, "BITS %s failed: %s (MaxJobsPerMachine and "
		    "MaxFilesPerJob count every account's jobs; the set is "
		    "tried again)", what, t);
		return BK_E_LIMIT;
	case RPC_E_DISCONNECTED:
	case REGDB_E_CLASSNOTREG:
	case CO_E_SERVER_EXEC_FAILURE:
	case HRESULT_FROM_WIN32(RPC_S_SERVER_UNAVAILABLE):
	case HRESULT_FROM_WIN32(RPC_S_CALL_FAILED):
	case HRESULT_FROM_WIN32(ERROR_SERVICE_DISABLED):
		return BK_E_UNAVAILABLE;
	default:
		return BK_E_IO;
	}
}

static time_t
ft_time(const FILETIME *ft)
{
	uint64_t t = (uint64_t)ft->dwHighDateTime << 32 | ft->dwLowDateTime;

	if (t < 116444736000000000ULL)
		return 0;
	return (time_t)((t - 116444736000000000ULL) / 10000000ULL);
}

/* ---- open / close ---------------------------------------------------- */

static int
bits_open(const struct config *cfg, struct backend **out)
{
	struct backend *b = xcalloc(1, sizeof(*b));
	HRESULT hr;

	if (cfg != NULL) {
		size_t i;

		b->tolerate = cfg->bits_tolerate;
		b->roots = xcalloc(cfg->nallow_roots + 1, sizeof(*b->roots));
		for (i = 0; i < cfg->nallow_roots; i++)
			b->roots[i] = xstrdup(cfg->allow_roots[i]);
		b->nroots = cfg->nallow_roots;
	}
	hr = CoInitializeEx(NULL, COINIT_MULTITHREADED);
	if (SUCCEEDED(hr))
		b->com_owned = 1;
	else if (hr != RPC_E_CHANGED_MODE) {
		free(b);
		return BK_E_UNAVAILABLE;
	}
	/* Impersonation level "impersonate" lets BITS take a helper token
	 * from the calling thread (IBitsTokenOptions::SetHelperToken); a
	 * process that already set its security keeps what it set. */
	hr = CoInitializeSecurity(NULL, -1, NULL, NULL,
	    RPC_C_AUTHN_LEVEL_CONNECT, RPC_C_IMP_LEVEL_IMPERSONATE, NULL,
	    EOAC_DYNAMIC_CLOAKING, NULL);
	(void)hr;			/* RPC_E_TOO_LATE is fine */
	hr = CoCreateInstance(&CLSID_BackgroundCopyManager, NULL,
	    CLSCTX_LOCAL_SERVER, &IID_IBackgroundCopyManager,
	    (void **)&b->mgr);
	if (FAILED(hr)) {
		size_t i;

		if (b->com_owned)
			CoUninitialize();
		for (i = 0; i < b->nroots; i++)
			free(b->roots[i]);
		free(b->roots);
		free(b);
		return BK_E_UNAVAILABLE;
	}
	InitializeCriticalSection(&b->lock);
	*out = b;
	return BK_OK;
}

static void bits_set_notify(struct backend *b, bk_notify_fn fn, void *ctx);

/* The BITS service restarts (updates, a crash) and leaves the manager
 * proxy dead; the jobs live on in the service's store.  A call that fails
 * that way reconnects once and is tried again. */
static int
service_gone(HRESULT hr)
{
	return hr == RPC_E_DISCONNECTED || hr == RPC_E_SERVER_DIED ||
	    hr == RPC_E_SERVER_DIED_DNE ||
	    hr == HRESULT_FROM_WIN32(RPC_S_SERVER_UNAVAILABLE) ||
	    hr == HRESULT_FROM_WIN32(RPC_S_CALL_FAILED);
}

static int
reconnect(struct backend *b)
{
	IBackgroundCopyManager *m = NULL;
	HRESULT hr;

	hr = CoCreateInstance(&CLSID_BackgroundCopyManager, NULL,
	    CLSCTX_LOCAL_SERVER, &IID_IBackgroundCopyManager, (void **)&m);
	if (FAILED(hr))
		return -1;
	/* The dead proxy is not released: set_notify's thread may be inside
	 * a call on it, and one proxy per service restart is little. */
	b->mgr = m;
	return 0;
}

static void
bits_close(struct backend *b)
{
	if (b == NULL)
		return;
	bits_set_notify(b, NULL, NULL);
	IBackgroundCopyManager_Release(b->mgr);
	DeleteCriticalSection(&b->lock);
	if (b->com_owned)
		CoUninitialize();
	while (b->nheld > 0) {
		b->nheld--;
		CloseHandle(b->held[b->nheld].h);
		free(b->held[b->nheld].local);
	}
	free(b->held);
	while (b->nroots > 0)
		free(b->roots[--b->nroots]);
	free(b->roots);
	free(b);
}

static const char *
bits_last_error(struct backend *b)
{
	return b->err[0] ? b->err : NULL;
}

static const char *
bits_last_warning(struct backend *b)
{
	return b->warn[0] ? b->warn : NULL;
}

static int
get_job(struct backend *b, const bk_guid *id, IBackgroundCopyJob **job)
{
	GUID g;
	HRESULT hr;

	BG_JOB_STATE st;
	char gs[39];

	memcpy(&g, id->b, sizeof(g));
	bk_guid_format(id, gs);
	hr = IBackgroundCopyManager_GetJob(b->mgr, &g, job);
	if (service_gone(hr) && reconnect(b) == 0)
		hr = IBackgroundCopyManager_GetJob(b->mgr, &g, job);
	if (FAILED(hr)) {
		if (hr == HR_NOT_FOUND) {
			seterr(b, "no BITS job %s", gs);
			return BK_E_NOTFOUND;
		}
		return fail(b, hr, "GetJob");
	}
	/* Windows forgets acknowledged and cancelled jobs at once; Wine
	 * keeps them listed for a while.  Both look the same from here. */
	if (SUCCEEDED(IBackgroundCopyJob_GetState(*job, &st)) &&
	    (st == BG_JOB_STATE_ACKNOWLEDGED || st == BG_JOB_STATE_CANCELLED)) {
		IBackgroundCopyJob_Release(*job);
		*job = NULL;
		seterr(b, "no BITS job %s (it was %s)", gs,
		    st == BG_JOB_STATE_CANCELLED ? "cancelled" : "completed");
		return BK_E_NOTFOUND;
	}
	return BK_OK;
}

/* ---- reading jobs ---------------------------------------------------- */

static void
read_error(IBackgroundCopyJob *job, struct bk_error *e)
{
	IBackgroundCopyError *err = NULL;
	IBackgroundCopyFile *f = NULL;
	BG_ERROR_CONTEXT ctx;
	HRESULT code;
	LPWSTR w;
	DWORD lang = LANGIDFROMLCID(GetThreadLocale());

	if (FAILED(IBackgroundCopyJob_GetError(job, &err)) || err == NULL)
		return;
	if (SUCCEEDED(IBackgroundCopyError_GetError(err, &ctx, &code))) {
		e->context = (enum bk_error_context)ctx;
		e->code = (int32_t)code;
	}
	if (SUCCEEDED(IBackgroundCopyError_GetErrorDescription(err, lang, &w)))
		e->text = take(w);
	else if (SUCCEEDED(IBackgroundCopyError_GetErrorDescription(err,
	    MAKELANGID(LANG_ENGLISH, SUBLANG_ENGLISH_US), &w)))
		e->text = take(w);
	if (e->text == NULL && ((uint32_t)code & 0xFFFF0000u) == 0x80190000u)
		e->text = xasprintf("the server answered HTTP status %u",
		    (unsigned)((uint32_t)code & 0xFFFFu));
	if (e->text == NULL) {
		char t[400];

		hr_text(code, t, sizeof(t));
		e->text = xstrdup(t);
	}
	if (SUCCEEDED(IBackgroundCopyError_GetErrorContextDescription(err,
	    lang, &w)))
		e->context_text = take(w);
	if (SUCCEEDED(IBackgroundCopyError_GetFile(err, &f)) && f != NULL) {
		if (SUCCEEDED(IBackgroundCopyFile_GetRemoteName(f, &w)))
			e->remote = take(w);
		if (SUCCEEDED(IBackgroundCopyFile_GetLocalName(f, &w)))
			e->local = take(w);
		IBackgroundCopyFile_Release(f);
	}
	IBackgroundCopyError_Release(err);
}

static void
read_files(IBackgroundCopyJob *job, struct bk_job *jb)
{
	IEnumBackgroundCopyFiles *en = NULL;
	IBackgroundCopyFile *f;
	ULONG count = 0, got;
	size_t cap;
	int all_known = 1;
	uint64_t sum = 0;

	if (FAILED(IBackgroundCopyJob_EnumFiles(job, &en)))
		return;
	IEnumBackgroundCopyFiles_GetCount(en, &count);
	cap = count ? count : 4;
	jb->files = xcalloc(cap, sizeof(*jb->files));
	while (IEnumBackgroundCopyFiles_Next(en, 1, &f, &got) == S_OK &&
	    got == 1) {
		struct bk_file *bf;
		BG_FILE_PROGRESS p;
		LPWSTR w;

		if (jb->nfiles == cap) {
			cap *= 2;
			jb->files = xrealloc(jb->files, cap * sizeof(*jb->files));
			memset(jb->files + jb->nfiles, 0,
			    (cap - jb->nfiles) * sizeof(*jb->files));
		}
		bf = &jb->files[jb->nfiles++];
		bf->bytes_total = BK_SIZE_UNKNOWN;
		bf->validators.size = BK_SIZE_UNKNOWN;
		if (SUCCEEDED(IBackgroundCopyFile_GetRemoteName(f, &w)))
			bf->remote = take(w);
		if (SUCCEEDED(IBackgroundCopyFile_GetLocalName(f, &w)))
			bf->local = take(w);
		if (SUCCEEDED(IBackgroundCopyFile_GetProgress(f, &p))) {
			bf->bytes_total = p.BytesTotal;
			bf->bytes_transferred = p.BytesTransferred;
			bf->completed = p.Completed ? 1 : 0;
			if (p.Completed)
				bf->validators.size = p.BytesTotal;
		}
		if (bf->bytes_total == BK_SIZE_UNKNOWN)
			all_known = 0;
		else
			sum += bf->bytes_total;
		IBackgroundCopyFile_Release(f);
	}
	IEnumBackgroundCopyFiles_Release(en);
	/* Wine leaves the job's total BG_SIZE_UNKNOWN; the files know. */
	if (jb->bytes_total == BK_SIZE_UNKNOWN && all_known && jb->nfiles > 0)
		jb->bytes_total = sum;
}

static void
read_job(IBackgroundCopyJob *job, struct bk_job *jb, int with_files)
{
	GUID g;
	LPWSTR w;
	BG_JOB_STATE st;
	BG_JOB_PRIORITY pr;
	BG_JOB_PROGRESS p;
	BG_JOB_TIMES t;
	ULONG errs;

	memset(jb, 0, sizeof(*jb));
	jb->bytes_total = BK_SIZE_UNKNOWN;
	if (SUCCEEDED(IBackgroundCopyJob_GetId(job, &g)))
		memcpy(jb->id.b, &g, sizeof(g));
	jb->display_name = SUCCEEDED(IBackgroundCopyJob_GetDisplayName(job,
	    &w)) ? take(w) : xstrdup("");
	/* Wine fails GetDescription on a job that never had one. */
	jb->description = SUCCEEDED(IBackgroundCopyJob_GetDescription(job,
	    &w)) ? take(w) : xstrdup("");
	if (SUCCEEDED(IBackgroundCopyJob_GetState(job, &st)))
		jb->state = (enum bk_state)st;
	if (SUCCEEDED(IBackgroundCopyJob_GetPriority(job, &pr)))
		jb->priority = (enum bk_priority)pr;
	if (SUCCEEDED(IBackgroundCopyJob_GetProgress(job, &p))) {
		jb->bytes_total = p.BytesTotal;
		jb->bytes_transferred = p.BytesTransferred;
		jb->files_total = p.FilesTotal;
		jb->files_transferred = p.FilesTransferred;
	}
	if (SUCCEEDED(IBackgroundCopyJob_GetTimes(job, &t))) {
		jb->created = ft_time(&t.CreationTime);
		jb->modified = ft_time(&t.ModificationTime);
		jb->transfer_completed = ft_time(&t.TransferCompletionTime);
	}
	if (SUCCEEDED(IBackgroundCopyJob_GetErrorCount(job, &errs)))
		jb->error_count = errs;
	if (jb->state == BK_ERROR || jb->state == BK_TRANSIENT_ERROR) {
		read_error(job, &jb->error);
		jb->has_error = jb->error.code != 0 || jb->error.text != NULL;
	}
	if (with_files)
		read_files(job, jb);
}

static void
backend_free_jobs_inplace(struct bk_job *jb)
{
	struct bk_job *one = xmalloc(sizeof(*one));

	*one = *jb;
	backend_free_jobs(one, 1);
	memset(jb, 0, sizeof(*jb));
}

static int
enum_jobs(struct backend *b, struct bk_job **jobs, size_t *n, int with_files)
{
	IEnumBackgroundCopyJobs *en = NULL;
	IBackgroundCopyJob *job;
	ULONG count = 0, got;
	size_t cap, k = 0;
	struct bk_job *v;
	HRESULT hr;

	hr = IBackgroundCopyManager_EnumJobs(b->mgr, 0, &en);
	if (service_gone(hr) && reconnect(b) == 0)
		hr = IBackgroundCopyManager_EnumJobs(b->mgr, 0, &en);
	if (FAILED(hr))
		return fail(b, hr, "EnumJobs");
	IEnumBackgroundCopyJobs_GetCount(en, &count);
	cap = count ? count : 4;
	v = xcalloc(cap, sizeof(*v));
	while (IEnumBackgroundCopyJobs_Next(en, 1, &job, &got) == S_OK &&
	    got == 1) {
		if (k == cap) {
			cap *= 2;
			v = xrealloc(v, cap * sizeof(*v));
		}
		read_job(job, &v[k], with_files);
		IBackgroundCopyJob_Release(job);
		/* Gone jobs (see get_job) are not listed. */
		if (v[k].state == BK_ACKNOWLEDGED || v[k].state == BK_CANCELLED)
			backend_free_jobs_inplace(&v[k]);
		else
			k++;
	}
	IEnumBackgroundCopyJobs_Release(en);
	*jobs = v;
	*n = k;
	return BK_OK;
}

static int
bits_list_jobs(struct backend *b, struct bk_job **jobs, size_t *n)
{
	return enum_jobs(b, jobs, n, 1);
}

/* ---- helper tokens ----------------------------------------------------- */

/* Reads the generic credential `name` from Credential Manager, logs it on,
 * and hands BITS the token while this thread impersonates it. */
static int
set_helper_token(struct backend *b, IBackgroundCopyJob *job,
    const char *name, unsigned flags)
{
	wchar_t *wname = win_widen(name), *user = NULL, *domain = NULL;
	wchar_t *pass = NULL, *at;
	PCREDENTIALW cred = NULL;
	HANDLE tok = NULL;
	bs_tokopt *opt = NULL;
	HRESULT hr;
	int rc = BK_E_IO;
	DWORD logon;

	hr = IBackgroundCopyJob_QueryInterface(job, &bs_iid_tokopt,
	    (void **)&opt);
	if (FAILED(hr) || opt == NULL) {
		seterr(b, "this host's BITS has no IBitsTokenOptions (BITS 4.0, "
		    "Windows 7 and later), so helper_token credential '%s' "
		    "cannot be used; the set is not transferred", name);
		free(wname);
		return BK_E_UNSUPPORTED;
	}
	if (!CredReadW(wname, CRED_TYPE_GENERIC, 0, &cred)) {
		DWORD e = GetLastError();

		seterr(b, "helper_token credential '%s' %s in Windows "
		    "Credential Manager (generic credentials of the agent's "
		    "account; error %lu); add it with: cmdkey /generic:%s "
		    "/user:DOMAIN\\user /pass", name,
		    e == ERROR_NOT_FOUND ? "was not found" : "cannot be read",
		    (unsigned long)e, name);
		goto out;
	}
	if (cred->UserName == NULL || cred->UserName[0] == 0) {
		seterr(b, "helper_token credential '%s' has no user name", name);
		goto out;
	}
	user = _wcsdup(cred->UserName);
	if ((at = wcschr(user, L'\\')) != NULL) {	/* DOMAIN\user */
		*at = 0;
		domain = user;
		user = _wcsdup(at + 1);
	}
	pass = xcalloc(cred->CredentialBlobSize / 2 + 1, sizeof(wchar_t));
	memcpy(pass, cred->CredentialBlob, cred->CredentialBlobSize & ~1u);
	/* Network-only use needs no local logon right: the credentials are
	 * used for outbound connections only.  Local-file use needs a real
	 * logon session. */
	logon = (flags & BK_TOKEN_LOCAL_FILE) ? LOGON32_LOGON_BATCH :
	    LOGON32_LOGON_NEW_CREDENTIALS;
	if (!LogonUserW(user, domain, pass, logon,
	    logon == LOGON32_LOGON_NEW_CREDENTIALS ? LOGON32_PROVIDER_WINNT50 :
	    LOGON32_PROVIDER_DEFAULT, &tok)) {
		char t[300];

		hr_text(HRESULT_FROM_WIN32(GetLastError()), t, sizeof(t));
		seterr(b, "helper_token credential '%s': logon failed: %s",
		    name, t);
		goto out;
	}
	if (!ImpersonateLoggedOnUser(tok)) {
		char t[300];

		hr_text(HRESULT_FROM_WIN32(GetLastError()), t, sizeof(t));
		seterr(b, "helper_token credential '%s': impersonation "
		    "failed: %s", name, t);
		goto out;
	}
	/* The proxy must carry the thread's token to the BITS service. */
	CoSetProxyBlanket((IUnknown *)opt, RPC_C_AUTHN_DEFAULT,
	    RPC_C_AUTHZ_DEFAULT, COLE_DEFAULT_PRINCIPAL,
	    RPC_C_AUTHN_LEVEL_DEFAULT, RPC_C_IMP_LEVEL_IMPERSONATE, NULL,
	    EOAC_DYNAMIC_CLOAKING);
	hr = opt->lpVtbl->SetHelperTokenFlags(opt, flags);
	if (SUCCEEDED(hr))
		hr = opt->lpVtbl->SetHelperToken(opt);
	RevertToSelf();
	if (FAILED(hr)) {
		rc = fail(b, hr, "IBitsTokenOptions::SetHelperToken");
		goto out;
	}
	rc = BK_OK;
out:
	/* Every byte of the blob, an embedded NUL or not (U22), and the
	 * blob itself before CredFree hands its memory back unwiped. */
	if (pass != NULL) {
		SecureZeroMemory(pass, (cred->CredentialBlobSize / 2 + 1) *
		    sizeof(wchar_t));
		free(pass);
	}
	if (cred != NULL) {
		if (cred->CredentialBlob != NULL)
			SecureZeroMemory(cred->CredentialBlob,
			    cred->CredentialBlobSize);
		CredFree(cred);
	}
	if (tok != NULL)
		CloseHandle(tok);
	if (opt != NULL)
		opt->lpVtbl->Release(opt);
	free(user);
	free(domain);
	free(wname);
	return rc;
}

/* client_certificate: NAME picks a certificate of the machine's personal
 * store (LocalMachine\My) through SetClientCertificateByName, which
 * matches NAME against the certificate's subject (one or more adjacent
 * RDNs, e.g. its CN): give the certificate a subject CN of NAME.  A BITS without IBackgroundCopyJobHttpOptions, or one that does
 * not implement the call (Wine's answers E_NOTIMPL), refuses the set:
 * sent without the certificate, the server would refuse every request,
 * or worse serve what it serves anonymous clients.  There is no
 * bits_tolerate_unimplemented for this: nothing useful is transferred
 * without it. */
static int
set_client_certificate(struct backend *b, IBackgroundCopyJob *job,
    const char *name)
{
	IBackgroundCopyJobHttpOptions *ho = NULL;
	wchar_t *w;
	HRESULT hr;

	hr = IBackgroundCopyJob_QueryInterface(job,
	    &IID_IBackgroundCopyJobHttpOptions, (void **)&ho);
	if (FAILED(hr) || ho == NULL) {
		seterr(b, "this host's BITS has no "
		    "IBackgroundCopyJobHttpOptions (BITS 2.5), so client "
		    "certificate '%s' cannot be presented; the set is not "
		    "transferred without it", name);
		return BK_E_UNSUPPORTED;
	}
	w = win_widen(name);
	hr = IBackgroundCopyJobHttpOptions_SetClientCertificateByName(ho,
	    BG_CERT_STORE_LOCATION_LOCAL_MACHINE, L"MY", w);
	free(w);
	IBackgroundCopyJobHttpOptions_Release(ho);
	if (hr == E_NOTIMPL) {
		seterr(b, "this host's BITS does not implement "
		    "SetClientCertificateByName (E_NOTIMPL), so client "
		    "certificate '%s' cannot be presented; the set is not "
		    "transferred without it (Wine's BITS lacks it; real "
		    "Windows has it since BITS 2.5)", name);
		return BK_E_UNSUPPORTED;
	}
	if (FAILED(hr))
		return fail(b, hr, "SetClientCertificateByName (the "
		    "LocalMachine\\My certificate with that subject name: "
		    "import it there with certlm.msc or Import-PfxCertificate "
		    "-CertStoreLocation Cert:\\LocalMachine\\My)");
	return BK_OK;
}

/* HTTP servers see the helper token only with implicit credentials for
 * the negotiating schemes (BITS: SetCredentials with NULL user/password). */
static int
set_implicit_credentials(struct backend *b, IBackgroundCopyJob *job)
{
	IBackgroundCopyJob2 *j2 = NULL;
	BG_AUTH_CREDENTIALS c;
	HRESULT hr;
	int i;
	static const BG_AUTH_SCHEME schemes[] = { BG_AUTH_SCHEME_NEGOTIATE,
		BG_AUTH_SCHEME_NTLM };

	hr = IBackgroundCopyJob_QueryInterface(job, &IID_IBackgroundCopyJob2,
	    (void **)&j2);
	if (FAILED(hr)) {
		seterr(b, "this host's BITS has no IBackgroundCopyJob2, needed "
		    "to use a helper token for HTTP authentication");
		return BK_E_UNSUPPORTED;
	}
	for (i = 0; i < 2; i++) {
		memset(&c, 0, sizeof(c));
		c.Target = BG_AUTH_TARGET_SERVER;
		c.Scheme = schemes[i];
		hr = IBackgroundCopyJob2_SetCredentials(j2, &c);
		if (FAILED(hr))
			break;
	}
	IBackgroundCopyJob2_Release(j2);
	return FAILED(hr) ? fail(b, hr, "SetCredentials") : BK_OK;
}

/* ---- create ------------------------------------------------------------ */

static int
is_http(const char *u)
{
	return _strnicmp(u, "http://", 7) == 0 || _strnicmp(u, "https://", 8) == 0;
}

static const char *
proxy_usage_name(enum bk_proxy_usage u)
{
	return u == BK_PROXY_OVERRIDE ? "override" :
	    u == BK_PROXY_NO_PROXY ? "no_proxy" :
	    u == BK_PROXY_AUTODETECT ? "autodetect" : "preconfig";
}

static int
apply_settings(struct backend *b, IBackgroundCopyJob *job,
    const struct bk_job_spec *s)
{
	HRESULT hr;
	wchar_t *w, *w2;
	size_t i;
	int any_http = 0, rc;

	for (i = 0; i < s->nfiles; i++)
		any_http |= is_http(s->files[i].remote);

	if (s->description != NULL) {
		w = win_widen(s->description);
		hr = IBackgroundCopyJob_SetDescription(job, w);
		free(w);
		if (FAILED(hr))
			return fail(b, hr, "SetDescription");
	}
	hr = IBackgroundCopyJob_SetPriority(job, (BG_JOB_PRIORITY)s->priority);
	if (FAILED(hr))
		return fail(b, hr, "SetPriority");
	if (s->retry_delay != 0) {
		hr = IBackgroundCopyJob_SetMinimumRetryDelay(job, s->retry_delay);
		if (FAILED(hr))
			return fail(b, hr, "SetMinimumRetryDelay");
	}
	if (s->no_progress_timeout != 0) {
		hr = IBackgroundCopyJob_SetNoProgressTimeout(job,
		    s->no_progress_timeout);
		if (FAILED(hr))
			return fail(b, hr, "SetNoProgressTimeout");
	}
	if (s->max_download_time != 0) {
		IBackgroundCopyJob4 *j4 = NULL;

		hr = IBackgroundCopyJob_QueryInterface(job,
		    &IID_IBackgroundCopyJob4, (void **)&j4);
		if (FAILED(hr) || j4 == NULL) {
			seterr(b, "this host's BITS has no IBackgroundCopyJob4 "
			    "(BITS 3.0), so max_download_time cannot be "
			    "applied; set max_download_time: 0 for this set "
			    "or update BITS");
			return BK_E_UNSUPPORTED;
		}
		hr = IBackgroundCopyJob4_SetMaximumDownloadTime(j4,
		    s->max_download_time);
		IBackgroundCopyJob4_Release(j4);
		if (FAILED(hr))
			return fail(b, hr, "SetMaximumDownloadTime");
	}
	if (s->proxy_usage != BK_PROXY_PRECONFIG || s->proxy_list != NULL) {
		w = win_widen(s->proxy_list);
		w2 = win_widen(s->proxy_bypass);
		hr = IBackgroundCopyJob_SetProxySettings(job,
		    (BG_JOB_PROXY_USAGE)s->proxy_usage,
		    s->proxy_usage == BK_PROXY_OVERRIDE ? w : NULL,
		    s->proxy_usage == BK_PROXY_OVERRIDE ? w2 : NULL);
		free(w);
		free(w2);
		if (hr == E_NOTIMPL && (b->tolerate &
		    CONFIG_TOLERATE_SET_PROXY_SETTINGS)) {
			snprintf(b->warn, sizeof(b->warn), "WARNING: this "
			    "host's BITS does not implement SetProxySettings "
			    "(E_NOTIMPL), so proxy usage '%s' is NOT applied "
			    "and the set is transferred with the machine's "
			    "default proxy settings, because the config's "
			    "bits_tolerate_unimplemented names "
			    "SetProxySettings; that setting is for test hosts (Wine), never for "
			    "real Windows", proxy_usage_name(s->proxy_usage));
			hr = S_OK;
		}
		if (hr == E_NOTIMPL) {
			seterr(b, "this host's BITS does not implement "
			    "SetProxySettings (E_NOTIMPL), so proxy usage '%s' "
			    "cannot be applied; the set is not transferred "
			    "rather than sent through the machine's default "
			    "proxy settings (on a test host only, "
			    "bits_tolerate_unimplemented = SetProxySettings "
			    "turns this into a warning)",
			    proxy_usage_name(s->proxy_usage));
			return BK_E_UNSUPPORTED;
		}
		if (FAILED(hr))
			return fail(b, hr, "SetProxySettings");
	}
	if (s->custom_headers != NULL && s->custom_headers[0] != 0) {
		IBackgroundCopyJobHttpOptions *ho = NULL;

		hr = IBackgroundCopyJob_QueryInterface(job,
		    &IID_IBackgroundCopyJobHttpOptions, (void **)&ho);
		if (FAILED(hr) || ho == NULL) {
			seterr(b, "this host's BITS has no "
			    "IBackgroundCopyJobHttpOptions (BITS 2.5), so the "
			    "source's custom headers cannot be sent");
			return BK_E_UNSUPPORTED;
		}
		w = win_widen(s->custom_headers);
		hr = IBackgroundCopyJobHttpOptions_SetCustomHeaders(ho, w);
		free(w);
		IBackgroundCopyJobHttpOptions_Release(ho);
		if (FAILED(hr))
			return fail(b, hr, "SetCustomHeaders");
	}
	if (s->client_certificate != NULL && s->client_certificate[0] != 0 &&
	    (rc = set_client_certificate(b, job, s->client_certificate)) !=
	    BK_OK)
		return rc;
	if (s->credential != NULL && s->credential[0] != 0) {
		rc = set_helper_token(b, job, s->credential,
		    s->token_flags ? s->token_flags : BK_TOKEN_NETWORK);
		if (rc != BK_OK)
			return rc;
		if (any_http && (s->token_flags & BK_TOKEN_NETWORK) &&
		    (rc = set_implicit_credentials(b, job)) != BK_OK)
			return rc;
	}
	return BK_OK;
}

static int
bits_create_job(struct backend *b, const struct bk_job_spec *spec,
    bk_guid *id)
{
	IBackgroundCopyJob *job = NULL;
	GUID g;
	HRESULT hr;
	wchar_t *w, *w2;
	size_t i;
	int rc;

	b->err[0] = 0;
	b->warn[0] = 0;
	if (spec == NULL || spec->display_name == NULL || spec->nfiles == 0) {
		seterr(b, "create_job: a job needs a display name and files");
		return BK_E_INVALID;
	}
	w = win_widen(spec->display_name);
	hr = IBackgroundCopyManager_CreateJob(b->mgr, w, BG_JOB_TYPE_DOWNLOAD,
	    &g, &job);
	if (service_gone(hr) && reconnect(b) == 0)
		hr = IBackgroundCopyManager_CreateJob(b->mgr, w,
		    BG_JOB_TYPE_DOWNLOAD, &g, &job);
	free(w);
	if (FAILED(hr))
		return fail(b, hr, "CreateJob");
	rc = apply_settings(b, job, spec);
	for (i = 0; rc == BK_OK && i < spec->nfiles; i++) {
		w = win_widen(spec->files[i].remote);
		w2 = win_widen(spec->files[i].local);
		hr = IBackgroundCopyJob_AddFile(job, w, w2);
		free(w);
		free(w2);
		if (FAILED(hr)) {
			char save[sizeof(b->err)];

			rc = fail(b, hr, "AddFile");
			snprintf(save, sizeof(save), "%s", b->err);
			seterr(b, "%s (remote %s, local %s)", save,
			    spec->files[i].remote, spec->files[i].local);
		}
	}
	if (rc != BK_OK) {
		/* No half-configured job is left behind. */
		IBackgroundCopyJob_Cancel(job);
		IBackgroundCopyJob_Release(job);
		return rc;
	}
	IBackgroundCopyJob_Release(job);
	memcpy(id->b, &g, sizeof(g));
	return BK_OK;
}

/* ---- state changes ----------------------------------------------------- */

/* U21: a temp that temp_path handed out for verification is opened here
 * and held until Complete returns, shared for reading and deleting only:
 * no one can change its bytes between the verification and the rename
 * (BITS's Complete needs delete access to rename it, so that is shared).
 * A temp BITS itself still holds for writing cannot be held (sharing
 * violation): it is then verified as before, unheld. */
static void
hold_temp(struct backend *b, const bk_guid *id, const char *temp,
    const char *local)
{
	wchar_t *w;
	HANDLE h;
	size_t i;

	for (i = 0; i < b->nheld; i++)
		if (memcmp(&b->held[i].id, id, sizeof(*id)) == 0 &&
		    strcmp(b->held[i].local, local) == 0)
			return;		/* held since an earlier pass */
	if ((w = win_widen(temp)) == NULL)
		return;
	h = CreateFileW(w, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE,
	    NULL, OPEN_EXISTING, FILE_FLAG_OPEN_REPARSE_POINT, NULL);
	free(w);
	if (h == INVALID_HANDLE_VALUE) {
		snprintf(b->warn, sizeof(b->warn), "the temp of %s could not "
		    "be held against writers until Complete (error %lu): it "
		    "is verified without that guard", local,
		    (unsigned long)GetLastError());
		return;
	}
	b->held = xrealloc(b->held, (b->nheld + 1) * sizeof(*b->held));
	b->held[b->nheld].id = *id;
	b->held[b->nheld].h = h;
	b->held[b->nheld].local = xstrdup(local);
	b->nheld++;
}

/* Whether the held temp h is now the file at local: Complete renamed
 * the very file that was verified, not one swapped in for it. */
static int
held_is(HANDLE h, const char *local)
{
	wchar_t f[MAX_PATH * 2], *wl = win_widen(local), *p = f;
	DWORD n = GetFinalPathNameByHandleW(h, f, MAX_PATH * 2,
	    FILE_NAME_OPENED | VOLUME_NAME_DOS);
	int ok;

	if (wl == NULL)
		return 0;
	if (n == 0 || n >= MAX_PATH * 2)
		ok = 1;		/* cannot be told: not reported as a swap */
	else {
		if (wcsncmp(p, L"\\\\?\\UNC\\", 8) == 0) {
			p += 6;
			p[0] = p[1] = L'\\';
		} else if (wcsncmp(p, L"\\\\?\\", 4) == 0)
			p += 4;
		ok = _wcsicmp(p, wl) == 0;
	}
	free(wl);
	return ok;
}

/* Closes the job's held temps; with check (after a Complete that went
 * through), says in last_error which placed file is not the verified
 * one and returns BK_E_IO. */
static int
release_temps(struct backend *b, const bk_guid *id, int check)
{
	size_t i = 0;
	int rc = BK_OK;

	while (i < b->nheld) {
		struct held_temp *t = &b->held[i];

		if (memcmp(&t->id, id, sizeof(*id)) != 0) {
			i++;
			continue;
		}
		if (check && rc == BK_OK && !held_is(t->h, t->local)) {
			seterr(b, "%s is not the file whose sha256 was "
			    "verified: its temp was replaced between the check "
			    "and Complete; delete %s (bitsync fetches it "
			    "again) and make its folder one only "
			    "administrators may write", t->local, t->local);
			rc = BK_E_IO;
		}
		CloseHandle(t->h);
		free(t->local);
		b->held[i] = b->held[--b->nheld];
	}
	return rc;
}

/* Bytes of local that the admin's allowed root covers (the longest that
 * prefixes it, case-insensitively as NTFS compares), 0 when none. */
static size_t
trusted_len(const struct backend *b, const char *local)
{
	size_t i, len, best = 0;

	for (i = 0; i < b->nroots; i++) {
		const char *r = b->roots[i];

		len = strlen(r);
		while (len > 1 && (r[len - 1] == '\\' || r[len - 1] == '/'))
			len--;
		if (len > best && _strnicmp(local, r, len) == 0 &&
		    (local[len] == '\0' || local[len] == '\\' ||
		    local[len] == '/' || r[len - 1] == '\\' ||
		    r[len - 1] == '/'))
			best = len;
	}
	return best;
}

/* BITS writes and renames as SYSTEM through the destination path as it is
 * when it does (U1): right before Resume and before Complete, no folder
 * of any file's path below the allowed root may be a junction, symbolic
 * link or mount point (one swapped in since the folders were made would
 * send SYSTEM's writes anywhere).  BK_OK, or BK_E_IO with the folder
 * named in last_error(). */
static int
check_paths(struct backend *b, IBackgroundCopyJob *job, const char *when)
{
	IEnumBackgroundCopyFiles *en = NULL;
	IBackgroundCopyFile *f = NULL;
	LPWSTR w = NULL;
	char *local = NULL, *where = NULL;
	ULONG got;
	HRESULT hr;
	int rc = BK_OK, r;

	hr = IBackgroundCopyJob_EnumFiles(job, &en);
	if (FAILED(hr))
		return fail(b, hr, "EnumFiles");
	while (rc == BK_OK && IEnumBackgroundCopyFiles_Next(en, 1, &f,
	    &got) == S_OK && got == 1) {
		hr = IBackgroundCopyFile_GetLocalName(f, &w);
		IBackgroundCopyFile_Release(f);
		if (FAILED(hr)) {
			rc = fail(b, hr, "GetLocalName");
			break;
		}
		local = take(w);
		r = win_path_reparse_below(local, trusted_len(b, local),
		    &where);
		if (r == 1) {
			seterr(b, "%s refused: %s (on the way to %s) is a "
			    "junction, symbolic link or mount point now; BITS "
			    "writes there as SYSTEM and bitsync never lets it "
			    "follow one below the allowed root: replace it "
			    "with a real folder (only administrators may write "
			    "it); the job waits until then", when, where,
			    local);
			rc = BK_E_IO;
		} else if (r == -1) {
			seterr(b, "%s refused: the folders of %s cannot be "
			    "inspected (error %lu); check that they exist "
			    "and that the agent may read them", when, local,
			    (unsigned long)GetLastError());
			rc = BK_E_IO;
		}
		free(where);
		where = NULL;
		free(local);
		local = NULL;
	}
	IEnumBackgroundCopyFiles_Release(en);
	return rc;
}

static int
bits_resume(struct backend *b, const bk_guid *id)
{
	IBackgroundCopyJob *job;
	HRESULT hr;
	int rc;

	b->err[0] = 0;
	if ((rc = get_job(b, id, &job)) != BK_OK)
		return rc;
	if ((rc = check_paths(b, job, "Resume")) != BK_OK) {
		IBackgroundCopyJob_Release(job);
		return rc;
	}
	hr = IBackgroundCopyJob_Resume(job);
	IBackgroundCopyJob_Release(job);
	return FAILED(hr) ? fail(b, hr, "Resume") : BK_OK;
}

static int
bits_suspend(struct backend *b, const bk_guid *id)
{
	IBackgroundCopyJob *job;
	HRESULT hr;
	int rc;

	b->err[0] = 0;
	if ((rc = get_job(b, id, &job)) != BK_OK)
		return rc;
	hr = IBackgroundCopyJob_Suspend(job);
	IBackgroundCopyJob_Release(job);
	return FAILED(hr) ? fail(b, hr, "Suspend") : BK_OK;
}

/* IBackgroundCopyJob::AddFile on the suspended job: what it already
 * transferred stays (BITS cannot hand a file's bytes to another job, nor
 * take a file out of one: only this grows a job in place). */
static int
bits_add_file(struct backend *b, const bk_guid *id,
    const struct bk_file_spec *file)
{
	IBackgroundCopyJob *job;
	BG_JOB_STATE st;
	HRESULT hr;
	wchar_t *w, *w2;
	int rc;

	b->err[0] = 0;
	if ((rc = get_job(b, id, &job)) != BK_OK)
		return rc;
	hr = IBackgroundCopyJob_GetState(job, &st);
	if (SUCCEEDED(hr) && st != BG_JOB_STATE_SUSPENDED) {
		IBackgroundCopyJob_Release(job);
		seterr(b, "AddFile: the job is not suspended");
		return BK_E_STATE;
	}
	w = win_widen(file->remote);
	w2 = win_widen(file->local);
	hr = IBackgroundCopyJob_AddFile(job, w, w2);
	free(w);
	free(w2);
	IBackgroundCopyJob_Release(job);
	return FAILED(hr) ? fail(b, hr, "AddFile") : BK_OK;
}

static int
bits_set_description(struct backend *b, const bk_guid *id,
    const char *description)
{
	IBackgroundCopyJob *job;
	HRESULT hr;
	wchar_t *w;
	int rc;

	b->err[0] = 0;
	if ((rc = get_job(b, id, &job)) != BK_OK)
		return rc;
	w = win_widen(description);
	hr = IBackgroundCopyJob_SetDescription(job, w);
	free(w);
	IBackgroundCopyJob_Release(job);
	return FAILED(hr) ? fail(b, hr, "SetDescription") : BK_OK;
}

static int
bits_cancel(struct backend *b, const bk_guid *id)
{
	IBackgroundCopyJob *job;
	HRESULT hr;
	int rc;

	b->err[0] = 0;
	if ((rc = get_job(b, id, &job)) != BK_OK)
		return rc;
	hr = IBackgroundCopyJob_Cancel(job);
	IBackgroundCopyJob_Release(job);
	release_temps(b, id, 0);
	return FAILED(hr) ? fail(b, hr, "Cancel") : BK_OK;
}

static int
bits_complete(struct backend *b, const bk_guid *id)
{
	IBackgroundCopyJob *job;
	HRESULT hr;
	int rc;

	b->err[0] = 0;
	if ((rc = get_job(b, id, &job)) != BK_OK)
		return rc;
	if ((rc = check_paths(b, job, "Complete")) != BK_OK) {
		IBackgroundCopyJob_Release(job);
		return rc;
	}
	hr = IBackgroundCopyJob_Complete(job);
	IBackgroundCopyJob_Release(job);
	if (hr == HR_PARTIAL_COMPLETE) {
		release_temps(b, id, 0);
		seterr(b, "BITS completed the job partially: files that were "
		    "not transferred were left out");
		return BK_PARTIAL;
	}
	if (FAILED(hr)) {
		release_temps(b, id, 0);
		return fail(b, hr, "Complete");
	}
	return release_temps(b, id, 1);
}

static int
bits_temp_path(struct backend *b, const bk_guid *id, size_t index,
    char **path)
{
	IBackgroundCopyJob *job;
	IEnumBackgroundCopyFiles *en = NULL;
	IBackgroundCopyFile *f = NULL;
	bs_file3 *f3 = NULL;
	LPWSTR w;
	char *local;
	ULONG got = 0;
	HRESULT hr;
	int rc;

	b->err[0] = 0;
	*path = NULL;
	if ((rc = get_job(b, id, &job)) != BK_OK)
		return rc;
	hr = IBackgroundCopyJob_EnumFiles(job, &en);
	IBackgroundCopyJob_Release(job);
	if (FAILED(hr))
		return fail(b, hr, "EnumFiles");
	if (index > 0)
		IEnumBackgroundCopyFiles_Skip(en, (ULONG)index);
	hr = IEnumBackgroundCopyFiles_Next(en, 1, &f, &got);
	IEnumBackgroundCopyFiles_Release(en);
	if (hr != S_OK || got != 1) {
		seterr(b, "the job has no file %zu", index);
		return BK_E_INVALID;
	}
	hr = IBackgroundCopyFile_GetLocalName(f, &w);
	local = SUCCEEDED(hr) ? take(w) : NULL;
	hr = IBackgroundCopyFile_QueryInterface(f, &bs_iid_file3, (void **)&f3);
	IBackgroundCopyFile_Release(f);
	if (FAILED(hr) || f3 == NULL) {
		seterr(b, "this host's BITS has no IBackgroundCopyFile3 (BITS "
		    "3.0), so a transferred file cannot be verified before "
		    "Complete; sha256 cannot be enforced on this host");
		free(local);
		return BK_E_UNSUPPORTED;
	}
	hr = f3->lpVtbl->GetTemporaryName(f3, &w);
	f3->lpVtbl->Release(f3);
	if (FAILED(hr)) {
		free(local);
		return fail(b, hr, "GetTemporaryName");
	}
	*path = take(w);
	if (local != NULL)
		hold_temp(b, id, *path, local);
	free(local);
	return BK_OK;
}

/* ---- probe: WinHTTP HEAD ------------------------------------------------- */

static char *
query_header(HINTERNET req, DWORD what)
{
	DWORD len = 0;
	wchar_t *w;
	char *s;

	WinHttpQueryHeaders(req, what, WINHTTP_HEADER_NAME_BY_INDEX, NULL,
	    &len, WINHTTP_NO_HEADER_INDEX);
	if (GetLastError() != ERROR_INSUFFICIENT_BUFFER || len == 0)
		return NULL;
	w = xmalloc(len + sizeof(wchar_t));
	if (!WinHttpQueryHeaders(req, what, WINHTTP_HEADER_NAME_BY_INDEX, w,
	    &len, WINHTTP_NO_HEADER_INDEX)) {
		free(w);
		return NULL;
	}
	s = win_narrow(w);
	free(w);
	return s;
}

static int
probe_error(struct backend *b, struct bk_error *err, const char *remote,
    enum bk_error_context ctx, HRESULT code, const char *what)
{
	char t[400];

	hr_text(code, t, sizeof(t));
	seterr(b, "%s %s: %s", what, remote, t);
	if (err != NULL) {
		err->context = ctx;
		err->code = (int32_t)code;
		err->text = xstrdup(t);
		err->remote = xstrdup(remote);
	}
	return BK_E_IO;
}

static int
bits_probe(struct backend *b, const struct bk_probe *p,
    struct bk_validators *out, struct bk_error *err)
{
	struct bits_http h;
	DWORD len;
	int rc = BK_OK;
	char *v;

	b->err[0] = 0;
	memset(out, 0, sizeof(*out));
	memset(&h, 0, sizeof(h));
	out->size = BK_SIZE_UNKNOWN;
	if (!is_http(p->remote)) {
		seterr(b, "the bits backend cannot probe %s yet (UNC sources "
		    "are checked by transferring them)", p->remote);
		return BK_E_UNSUPPORTED;
	}
	switch (bits_http_send(p->remote, p->settings, L"HEAD", &h)) {
	case BITS_HTTP_URL:
		rc = probe_error(b, err, p->remote, BK_CTX_REMOTE_FILE,
		    HRESULT_FROM_WIN32(GetLastError()), "cannot parse URL");
		goto out;
	case BITS_HTTP_CONNECT:
		rc = probe_error(b, err, p->remote, BK_CTX_GENERAL_TRANSPORT,
		    HRESULT_FROM_WIN32(GetLastError()), "cannot reach");
		goto out;
	case BITS_HTTP_SEND:
		rc = probe_error(b, err, p->remote, BK_CTX_GENERAL_TRANSPORT,
		    HRESULT_FROM_WIN32(GetLastError()), "HEAD request failed for");
		goto out;
	case BITS_HTTP_OK:
		break;
	}
	if (h.status >= 400) {
		/* BG_E_HTTP_ERROR_xxx, as BITS reports it */
		rc = probe_error(b, err, p->remote, BK_CTX_REMOTE_FILE,
		    (HRESULT)(0x80190000u | h.status), "server refused");
		if (err != NULL) {
			free(err->text);
			err->text = xasprintf("HTTP status %lu",
			    (unsigned long)h.status);
		}
		seterr(b, "HEAD %s: HTTP status %lu", p->remote,
		    (unsigned long)h.status);
		goto out;
	}
	if ((v = query_header(h.req, WINHTTP_QUERY_CONTENT_LENGTH)) != NULL) {
		char *end;
		unsigned long long n = strtoull(v, &end, 10);

		if (end != v && *end == 0)
			out->size = n;
		free(v);
	}
	out->etag = query_header(h.req, WINHTTP_QUERY_ETAG);
	out->last_modified = query_header(h.req, WINHTTP_QUERY_LAST_MODIFIED);
	{
		SYSTEMTIME st;
		FILETIME ft;

		len = sizeof(st);
		if (WinHttpQueryHeaders(h.req, WINHTTP_QUERY_LAST_MODIFIED |
		    WINHTTP_QUERY_FLAG_SYSTEMTIME, WINHTTP_HEADER_NAME_BY_INDEX,
		    &st, &len, WINHTTP_NO_HEADER_INDEX) &&
		    SystemTimeToFileTime(&st, &ft))
			out->mtime = (int64_t)ft_time(&ft);
	}
out:
	bits_http_close(&h);
	return rc;
}

/* ---- notification by polling ------------------------------------------- */

static DWORD WINAPI
poll_thread(LPVOID arg)
{
	struct backend *b = arg;
	struct poll_seen *seen = NULL, *now;
	size_t nseen = 0, n, i, j;
	struct bk_job *jobs;
	int com = SUCCEEDED(CoInitializeEx(NULL, COINIT_MULTITHREADED));

	while (WaitForSingleObject(b->stop, 1000) == WAIT_TIMEOUT) {
		if (enum_jobs(b, &jobs, &n, 0) != BK_OK)
			continue;
		now = xcalloc(n ? n : 1, sizeof(*now));
		for (i = 0; i < n; i++) {
			now[i].id = jobs[i].id;
			now[i].state = jobs[i].state;
			for (j = 0; j < nseen; j++)
				if (memcmp(&seen[j].id, &now[i].id,
				    sizeof(bk_guid)) == 0)
					break;
			if (j == nseen || seen[j].state != now[i].state) {
				EnterCriticalSection(&b->lock);
				if (b->fn != NULL)
					b->fn(b->ctx, &now[i].id, now[i].state);
				LeaveCriticalSection(&b->lock);
			}
		}
		backend_free_jobs(jobs, n);
		free(seen);
		seen = now;
		nseen = n;
	}
	free(seen);
	if (com)
		CoUninitialize();
	return 0;
}

static void
bits_set_notify(struct backend *b, bk_notify_fn fn, void *ctx)
{
	EnterCriticalSection(&b->lock);
	b->fn = fn;
	b->ctx = ctx;
	LeaveCriticalSection(&b->lock);
	if (fn != NULL && b->thread == NULL) {
		b->stop = CreateEventW(NULL, TRUE, FALSE, NULL);
		b->thread = CreateThread(NULL, 0, poll_thread, b, 0, NULL);
	} else if (fn == NULL && b->thread != NULL) {
		SetEvent(b->stop);
		WaitForSingleObject(b->thread, INFINITE);
		CloseHandle(b->thread);
		CloseHandle(b->stop);
		b->thread = NULL;
		b->stop = NULL;
	}
}

const struct backend_ops bits_backend_ops = {
	.name = "bits",
	.caps = 0,
	.open = bits_open,
	.close = bits_close,
	.list_jobs = bits_list_jobs,
	.create_job = bits_create_job,
	.resume = bits_resume,
	.suspend = bits_suspend,
	.add_file = bits_add_file,
	.set_description = bits_set_description,
	.cancel = bits_cancel,
	.complete = bits_complete,
	.temp_path = bits_temp_path,
	.probe = bits_probe,
	.list_folder = bits_folder_list,
	.fetch_small = bits_folder_fetch,
	.set_notify = bits_set_notify,
	.last_error = bits_last_error,
	.last_warning = bits_last_warning,
};
