/* bits_drive.c - drives the bits backend (bits_backend_ops) through a job's
 * life against Wine's BITS and an nginx on 127.0.0.1; tests/wine/run.sh
 * cross-compiles and runs it.
 *
 *   bits_drive.exe BASE_URL WORKDIR SHA256_OF_a.bin SHA256_OF_b.txt
 *   bits_drive.exe --leave BASE_URL WORKDIR    then, in a new process,
 *   bits_drive.exe --adopt WORKDIR SHA256_OF_b.txt   (an agent restart)
 *
 * BASE_URL serves a.bin, b.txt and big.bin (a few MiB); missing.bin is not
 * there.  WORKDIR is a Windows path of an empty directory.  Each check
 * prints "PASS name" or "FAIL name: why"; the last line is
 * "N passed, N failed".  Where a host's BITS lacks a call (Wine: proxy
 * settings, Suspend, IBackgroundCopyFile3, IBitsTokenOptions), the check is
 * that the backend refuses with BK_E_UNSUPPORTED and says what is missing;
 * with the config's bits_tolerate_unimplemented naming SetProxySettings,
 * that the set proceeds without the proxy and with a loud warning. */
#include <windows.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "bits/bits.h"
#include "config.h"
#include "win/winutil.h"

static int passed, failed;
static const struct backend_ops *ops = &bits_backend_ops;
static struct backend *be;

static void
result(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("PASS %s\n", name);
		passed++;
	} else {
		printf("FAIL %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
		failed++;
	}
	fflush(stdout);
}

static void
note(const char *fmt, ...)
{
	va_list ap;

	printf("  # ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static const char *
lasterr(void)
{
	const char *s = ops->last_error ? ops->last_error(be) : NULL;

	return s ? s : "(no message)";
}

/* Finds a job by id in a fresh listing; returns 1 and a copy of its state
 * (and error) when present. */
static int
find_job(const bk_guid *id, struct bk_job *copy)
{
	struct bk_job *jobs;
	size_t n, i;
	int found = 0;

	if (copy != NULL)
		memset(copy, 0, sizeof(*copy));
	if (ops->list_jobs(be, &jobs, &n) != BK_OK) {
		note("list_jobs failed: %s", lasterr());
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (memcmp(&jobs[i].id, id, sizeof(*id)) == 0) {
			found = 1;
			if (copy != NULL) {
				*copy = jobs[i];
				/* hand the strings over */
				memset(&jobs[i], 0, sizeof(jobs[i]));
			}
		}
	}
	backend_free_jobs(jobs, n);
	return found;
}

static void
free_job(struct bk_job *j)
{
	struct bk_job *v = malloc(sizeof(*v));

	*v = *j;
	backend_free_jobs(v, 1);
	memset(j, 0, sizeof(*j));
}

/* Polls until the job reaches a final-ish state; returns that state. */
static enum bk_state
wait_job(const bk_guid *id, int seconds, struct bk_job *last)
{
	int i;

	if (last != NULL)
		memset(last, 0, sizeof(*last));
	for (i = 0; i < seconds * 10; i++) {
		struct bk_job j;

		if (!find_job(id, &j))
			return BK_CANCELLED;
		if (j.state == BK_TRANSFERRED || j.state == BK_ERROR ||
		    j.state == BK_SUSPENDED || j.state == BK_ACKNOWLEDGED ||
		    j.state == BK_CANCELLED) {
			enum bk_state st = j.state;

			if (last != NULL)
				*last = j;
			else
				free_job(&j);
			return st;
		}
		free_job(&j);
		Sleep(100);
	}
	return BK_TRANSIENT_ERROR;	/* timed out */
}

static char *
path_in(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	snprintf(p, n, "%s\\%s", dir, name);
	return p;
}

static char *
url_of(const char *base, const char *name)
{
	size_t n = strlen(base) + strlen(name) + 2;
	char *p = malloc(n);

	snprintf(p, n, "%s/%s", base, name);
	return p;
}

static int
exists(const char *path)
{
	wchar_t *w = win_widen(path);
	DWORD a = GetFileAttributesW(w);

	free(w);
	return a != INVALID_FILE_ATTRIBUTES;
}

static void
spec_init(struct bk_job_spec *s, const char *set, struct bk_file_spec *f,
    size_t n)
{
	static char name[128], desc[160];

	memset(s, 0, sizeof(*s));
	snprintf(name, sizeof(name), "bitsync:%s", set);
	snprintf(desc, sizeof(desc), "bitsync/1 set=%s spec=%064d", set, 0);
	s->display_name = name;
	s->description = desc;
	s->priority = BK_NORMAL;
	s->retry_delay = 5;
	s->no_progress_timeout = 60;
	s->proxy_usage = BK_PROXY_PRECONFIG;
	s->files = f;
	s->nfiles = n;
}

/* The reconciler's tag filter (design §4), as simple as it gets: the
 * display name and the description prefix. */
static int
is_own(const struct bk_job *j)
{
	return strncmp(j->display_name, "bitsync:", 8) == 0 &&
	    strncmp(j->description, "bitsync/1 set=", 14) == 0;
}

static void
test_lifecycle(const char *base, const char *work, const char *sha_a,
    const char *sha_b)
{
	struct bk_file_spec f[2];
	struct bk_job_spec s;
	struct bk_job j;
	bk_guid id;
	char *tmp = NULL, hex[65], gs[39];
	int rc, i;
	enum bk_state st;

	memset(&j, 0, sizeof(j));
	f[0].remote = url_of(base, "a.bin");
	f[0].local = path_in(work, "a.bin");
	f[1].remote = url_of(base, "b.txt");
	f[1].local = path_in(work, "b.txt");
	spec_init(&s, "lifecycle", f, 2);
	rc = ops->create_job(be, &s, &id);
	result(rc == BK_OK, "create", "create_job: %d %s", rc, lasterr());
	if (rc != BK_OK)
		return;
	bk_guid_format(&id, gs);
	note("job %s", gs);
	result(find_job(&id, &j) && j.state == BK_SUSPENDED && j.nfiles == 2 &&
	    strcmp(j.display_name, "bitsync:lifecycle") == 0 &&
	    strncmp(j.description, "bitsync/1 set=lifecycle", 23) == 0,
	    "created job is SUSPENDED with its name, description, 2 files",
	    "state %s, %zu files, name '%s', description '%s'",
	    bk_state_name(j.state), j.nfiles, j.display_name, j.description);
	free_job(&j);
	rc = ops->resume(be, &id);
	result(rc == BK_OK, "resume", "%d %s", rc, lasterr());
	st = wait_job(&id, 60, &j);
	result(st == BK_TRANSFERRED, "transferred",
	    "state %s (error %s 0x%08lX %s)", bk_state_name(st),
	    bk_context_name(j.error.context), (unsigned long)j.error.code,
	    j.error.text ? j.error.text : "");
	if (st != BK_TRANSFERRED) {
		ops->cancel(be, &id);
		return;
	}
	result(j.files_transferred == 2 && j.nfiles == 2 &&
	    j.files[0].completed && j.files[1].completed &&
	    j.files[0].bytes_total != BK_SIZE_UNKNOWN &&
	    j.files[0].bytes_transferred == j.files[0].bytes_total &&
	    j.bytes_total != BK_SIZE_UNKNOWN,
	    "progress per job and per file",
	    "files %u/%zu, file0 %llu/%llu, job total %llu",
	    j.files_transferred, j.nfiles,
	    (unsigned long long)j.files[0].bytes_transferred,
	    (unsigned long long)j.files[0].bytes_total,
	    (unsigned long long)j.bytes_total);
	/* Wine's GetTimes reports zeros; Windows fills them in. */
	if (j.created != 0)
		result(j.transfer_completed >= j.created, "times",
		    "created %lld completed %lld", (long long)j.created,
		    (long long)j.transfer_completed);
	else
		note("this BITS reports no job times (GetTimes gives 0)");
	free_job(&j);
	result(!exists(f[0].local), "destination untouched before Complete",
	    "%s exists already", f[0].local);

	/* sha256 of the temporary file before Complete */
	rc = ops->temp_path(be, &id, 0, &tmp);
	if (rc == BK_OK) {
		result(win_sha256_file(tmp, hex) == 0 &&
		    strcmp(hex, sha_a) == 0, "temp_path + sha256",
		    "%s: %s", tmp, hex);
	} else {
		result(rc == BK_E_UNSUPPORTED &&
		    strstr(lasterr(), "IBackgroundCopyFile3") != NULL,
		    "temp_path refused clearly where IBackgroundCopyFile3 is "
		    "missing", "%d %s", rc, lasterr());
		note("temp_path: %s", lasterr());
	}
	free(tmp);

	rc = ops->complete(be, &id);
	result(rc == BK_OK, "complete", "%d %s", rc, lasterr());
	result(win_sha256_file(f[0].local, hex) == 0 && strcmp(hex, sha_a) == 0,
	    "a.bin content", "sha256 %s", exists(f[0].local) ? hex : "missing");
	result(win_sha256_file(f[1].local, hex) == 0 && strcmp(hex, sha_b) == 0,
	    "b.txt content", "sha256 %s", exists(f[1].local) ? hex : "missing");
	for (i = 0; i < 20 && find_job(&id, NULL); i++)
		Sleep(100);
	result(!find_job(&id, NULL), "completed job leaves the list",
	    "still listed");
	rc = ops->resume(be, &id);
	result(rc == BK_E_NOTFOUND, "a gone job is BK_E_NOTFOUND",
	    "resume gave %d", rc);
}

/* Cancel removes the job and leaves no file: a job that never ran, and a
 * TRANSFERRED one whose temporary file exists (Cancel must delete it and
 * never commit it).  Not a job in the middle of a transfer: Wine 8's BITS
 * service crashes when such a job is cancelled (within a few tries;
 * RPC_S_CALL_FAILED, then RPC_S_SERVER_UNAVAILABLE for every later call),
 * which would test Wine, not bitsync. */
static void
test_cancel(const char *base, const char *work)
{
	struct bk_file_spec f[1];
	struct bk_job_spec s;
	bk_guid id;
	enum bk_state st;
	int rc;

	f[0].remote = url_of(base, "big.bin");
	f[0].local = path_in(work, "cancelled.bin");
	spec_init(&s, "cancel", f, 1);
	if ((rc = ops->create_job(be, &s, &id)) != BK_OK) {
		result(0, "cancel", "create_job: %d %s", rc, lasterr());
		return;
	}
	rc = ops->cancel(be, &id);
	result(rc == BK_OK, "cancel a suspended job", "%d %s", rc, lasterr());
	result(!find_job(&id, NULL), "cancelled job leaves the list",
	    "still listed");

	f[0].remote = url_of(base, "b.txt");
	f[0].local = path_in(work, "cancelled.txt");
	if ((rc = ops->create_job(be, &s, &id)) != BK_OK) {
		result(0, "cancel", "create_job: %d %s", rc, lasterr());
		return;
	}
	ops->resume(be, &id);
	st = wait_job(&id, 60, NULL);
	result(st == BK_TRANSFERRED, "cancel: job transferred first",
	    "state %s", bk_state_name(st));
	rc = ops->cancel(be, &id);
	result(rc == BK_OK, "cancel a transferred job", "%d %s", rc, lasterr());
	Sleep(300);
	result(!find_job(&id, NULL), "cancelled transferred job leaves the "
	    "list", "still listed");
	result(!exists(f[0].local), "cancel commits no file", "%s exists",
	    f[0].local);
	rc = ops->complete(be, &id);
	result(rc == BK_E_NOTFOUND, "a cancelled job cannot be completed",
	    "complete gave %d", rc);
}

static void
test_enumerate(const char *base, const char *work)
{
	struct bk_file_spec f[1], g[1];
	struct bk_job_spec s, fs;
	bk_guid own, foreign;
	struct bk_job *jobs;
	size_t n, i, own_seen = 0, foreign_seen = 0, selected = 0;
	int rc;

	f[0].remote = url_of(base, "a.bin");
	f[0].local = path_in(work, "enum-own.bin");
	spec_init(&s, "enum", f, 1);
	g[0].remote = url_of(base, "a.bin");
	g[0].local = path_in(work, "enum-foreign.bin");
	/* a foreign job: another program's, no bitsync tags at all */
	memset(&fs, 0, sizeof(fs));
	fs.display_name = "Contoso updater";
	fs.priority = BK_NORMAL;
	fs.files = g;
	fs.nfiles = 1;
	if ((rc = ops->create_job(be, &s, &own)) != BK_OK ||
	    (rc = ops->create_job(be, &fs, &foreign)) != BK_OK) {
		result(0, "enumerate", "create_job: %d %s", rc, lasterr());
		return;
	}
	rc = ops->list_jobs(be, &jobs, &n);
	if (rc != BK_OK) {
		result(0, "enumerate", "list_jobs: %d %s", rc, lasterr());
		return;
	}
	for (i = 0; i < n; i++) {
		if (memcmp(&jobs[i].id, &own, sizeof(own)) == 0)
			own_seen++;
		if (memcmp(&jobs[i].id, &foreign, sizeof(foreign)) == 0) {
			foreign_seen++;
			result(jobs[i].description != NULL &&
			    jobs[i].description[0] == 0,
			    "a job without description reads as empty",
			    "'%s'", jobs[i].description);
		}
	}
	result(own_seen == 1 && foreign_seen == 1,
	    "enumerate lists own and foreign jobs", "own %zu foreign %zu",
	    own_seen, foreign_seen);
	/* the tag filter picks only the own job, and cancels only it */
	for (i = 0; i < n; i++) {
		if (is_own(&jobs[i])) {
			selected++;
			ops->cancel(be, &jobs[i].id);
		}
	}
	backend_free_jobs(jobs, n);
	result(selected >= 1 && !find_job(&own, NULL) &&
	    find_job(&foreign, NULL),
	    "tag filter cancels own jobs, leaves the foreign one alone",
	    "selected %zu, own listed %d, foreign listed %d", selected,
	    find_job(&own, NULL), find_job(&foreign, NULL));
	ops->cancel(be, &foreign);
}

static void
test_404(const char *base, const char *work)
{
	struct bk_file_spec f[1];
	struct bk_job_spec s;
	struct bk_job j;
	bk_guid id;
	enum bk_state st;
	int rc;

	f[0].remote = url_of(base, "missing.bin");
	f[0].local = path_in(work, "missing.bin");
	spec_init(&s, "missing", f, 1);
	if ((rc = ops->create_job(be, &s, &id)) != BK_OK) {
		result(0, "404", "create_job: %d %s", rc, lasterr());
		return;
	}
	ops->resume(be, &id);
	memset(&j, 0, sizeof(j));
	st = wait_job(&id, 60, &j);
	result(st == BK_ERROR, "404 gives ERROR", "state %s", bk_state_name(st));
	if (st == BK_ERROR) {
		result(j.has_error && j.error.context == BK_CTX_REMOTE_FILE &&
		    (uint32_t)j.error.code == 0x80190194u,
		    "404 error context 5, code 0x80190194",
		    "context %d code 0x%08lX", j.error.context,
		    (unsigned long)j.error.code);
		result(j.error.text != NULL && j.error.text[0] != 0,
		    "404 error has a description", "none");
		note("error: %s / %s / %s", j.error.text ? j.error.text : "-",
		    j.error.context_text ? j.error.context_text : "-",
		    j.error.remote ? j.error.remote : "-");
		if (j.error_count == 0)	/* Wine's GetErrorCount stays 0 */
			note("this BITS counts no errors (GetErrorCount gives 0)");
		free_job(&j);
	}
	ops->cancel(be, &id);
	result(!exists(f[0].local), "failed job leaves no file", "exists");
}

/* A spec needing something this BITS may lack: either it works, or the
 * backend refuses with BK_E_UNSUPPORTED, a message naming what is missing,
 * and no job left behind. */
static void
check_optional(const char *name, const struct bk_job_spec *s,
    const char *must_mention)
{
	struct bk_job *jobs;
	size_t n, before, after;
	bk_guid id;
	int rc;
	char label[200];

	before = after = 0;
	if (ops->list_jobs(be, &jobs, &before) == BK_OK)
		backend_free_jobs(jobs, before);
	rc = ops->create_job(be, s, &id);
	if (ops->list_jobs(be, &jobs, &after) == BK_OK)
		backend_free_jobs(jobs, after);
	n = after;
	if (rc == BK_OK) {
		snprintf(label, sizeof(label), "%s: applied", name);
		result(1, label, "");
		ops->cancel(be, &id);
		return;
	}
	snprintf(label, sizeof(label), "%s: refused clearly (BK_E_UNSUPPORTED, "
	    "no job left)", name);
	result(rc == BK_E_UNSUPPORTED && strstr(lasterr(), must_mention) &&
	    n == before, label, "rc %d, jobs %zu -> %zu, message: %s", rc,
	    before, n, lasterr());
	note("%s: %s", name, lasterr());
}

static void
test_optional(const char *base, const char *work)
{
	struct bk_file_spec f[1];
	struct bk_job_spec s;
	bk_guid id;
	int rc;

	f[0].remote = url_of(base, "a.bin");
	f[0].local = path_in(work, "opt.bin");

	spec_init(&s, "proxy", f, 1);
	s.proxy_usage = BK_PROXY_OVERRIDE;
	s.proxy_list = "127.0.0.1:9";
	s.proxy_bypass = "<local>";
	check_optional("proxy override", &s, "SetProxySettings");

	spec_init(&s, "noproxy", f, 1);
	s.proxy_usage = BK_PROXY_NO_PROXY;
	check_optional("proxy no_proxy", &s, "SetProxySettings");

	spec_init(&s, "token", f, 1);
	s.credential = "bitsync-test-reader";
	s.token_flags = BK_TOKEN_NETWORK;
	check_optional("helper token", &s, "IBitsTokenOptions");

	spec_init(&s, "maxtime", f, 1);
	s.max_download_time = 90 * 86400;
	check_optional("max_download_time", &s, "IBackgroundCopyJob4");

	spec_init(&s, "headers", f, 1);
	s.custom_headers = "X-Fleet: contoso";
	check_optional("custom headers", &s, "IBackgroundCopyJobHttpOptions");

	/* client_certificate (issue 14): Wine's BITS answers
	 * SetClientCertificateByName with E_NOTIMPL; the set must then be
	 * refused with a sentence naming the call, never transferred
	 * without the certificate. */
	spec_init(&s, "clientcert", f, 1);
	s.client_certificate = "bitsync-test-client";
	{
		struct bk_job *jobs;
		size_t before = 0, after = 0;

		if (ops->list_jobs(be, &jobs, &before) == BK_OK)
			backend_free_jobs(jobs, before);
		rc = ops->create_job(be, &s, &id);
		if (ops->list_jobs(be, &jobs, &after) == BK_OK)
			backend_free_jobs(jobs, after);
		if (rc == BK_OK)
			ops->cancel(be, &id);
		result(rc == BK_E_UNSUPPORTED &&
		    strstr(lasterr(), "SetClientCertificateByName") != NULL &&
		    strstr(lasterr(), "bitsync-test-client") != NULL &&
		    strstr(lasterr(), "not transferred") != NULL &&
		    after == before, "client certificate refused under Wine"
		    " with a plain message, no job left",
		    "rc %d, jobs %zu -> %zu, message: %s", rc, before, after,
		    lasterr());
		note("client certificate: %s", lasterr());
	}

	spec_init(&s, "suspend", f, 1);
	if (ops->create_job(be, &s, &id) == BK_OK) {
		rc = ops->suspend(be, &id);
		result(rc == BK_OK || (rc == BK_E_UNSUPPORTED &&
		    strstr(lasterr(), "Suspend")), "suspend works or is "
		    "refused clearly", "%d %s", rc, lasterr());
		if (rc != BK_OK)
			note("suspend: %s", lasterr());
		ops->cancel(be, &id);
	}
}

/* bits_tolerate_unimplemented (issue 5): where the host's BITS lacks
 * SetProxySettings, a set with a proxy override is refused (test_optional)
 * unless the config names the call; then the job is created with a loud
 * warning and transfers without the proxy (127.0.0.1:9, which refuses
 * every connection, had it been applied). */
static void
test_tolerate(const char *base, const char *work)
{
	struct backend *strict = be, *lax = NULL;
	struct config cfg;
	struct bk_file_spec f[1];
	struct bk_job_spec s;
	struct bk_job j;
	bk_guid id;
	const char *w;
	enum bk_state st;
	int rc;

	memset(&j, 0, sizeof(j));
	f[0].remote = url_of(base, "b.txt");
	f[0].local = path_in(work, "tolerated.txt");
	spec_init(&s, "tolerate", f, 1);
	s.proxy_usage = BK_PROXY_OVERRIDE;
	s.proxy_list = "127.0.0.1:9";
	rc = ops->create_job(be, &s, &id);
	if (rc == BK_OK) {
		note("this host's BITS implements SetProxySettings: "
		    "bits_tolerate_unimplemented is not exercised");
		ops->cancel(be, &id);
		goto out;
	}
	result(rc == BK_E_UNSUPPORTED && strstr(lasterr(), "SetProxySettings") &&
	    strstr(lasterr(), "bits_tolerate_unimplemented"),
	    "tolerate: without bits_tolerate_unimplemented a proxy override is "
	    "refused, and the message names the setting", "rc %d: %s", rc,
	    lasterr());

	/* Only bits_tolerate is read by the bits backend's open. */
	memset(&cfg, 0, sizeof(cfg));
	cfg.bits_tolerate = CONFIG_TOLERATE_SET_PROXY_SETTINGS;
	rc = ops->open(&cfg, &lax);
	if (rc != BK_OK) {
		result(0, "tolerate: open with bits_tolerate_unimplemented",
		    "rc %d", rc);
		goto out;
	}
	be = lax;
	rc = ops->create_job(be, &s, &id);
	w = ops->last_warning != NULL ? ops->last_warning(be) : NULL;
	result(rc == BK_OK && w != NULL && strstr(w, "WARNING") &&
	    strstr(w, "SetProxySettings") && strstr(w, "NOT applied") &&
	    strstr(w, "never for real Windows"), "tolerate: with "
	    "bits_tolerate_unimplemented = SetProxySettings the job is "
	    "created with a loud warning", "rc %d (%s), warning: %s", rc,
	    lasterr(), w ? w : "(none)");
	if (rc != BK_OK)
		goto out;
	if (w != NULL)
		note("%s", w);
	rc = ops->resume(be, &id);
	st = wait_job(&id, 60, &j);
	result(rc == BK_OK && st == BK_TRANSFERRED, "tolerate: the job "
	    "transfers without the proxy", "resume %d, state %s (0x%08lX %s)",
	    rc, bk_state_name(st), (unsigned long)j.error.code,
	    j.error.text ? j.error.text : "");
	if (st == BK_TRANSFERRED) {
		rc = ops->complete(be, &id);
		result(rc == BK_OK && exists(f[0].local), "tolerate: the job "
		    "completes", "complete %d %s", rc, lasterr());
	} else
		ops->cancel(be, &id);
	free_job(&j);

	/* A spec that needs no tolerated call gets no warning. */
	spec_init(&s, "tolerate-plain", f, 1);
	rc = ops->create_job(be, &s, &id);
	w = ops->last_warning != NULL ? ops->last_warning(be) : NULL;
	result(rc == BK_OK && w == NULL, "tolerate: no warning for a set "
	    "without a proxy override", "rc %d warning %s", rc,
	    w ? w : "(none)");
	if (rc == BK_OK)
		ops->cancel(be, &id);
out:
	be = strict;
	if (lax != NULL)
		ops->close(lax);
	free((char *)f[0].remote);
	free((char *)f[0].local);
}

static void
test_probe(const char *base)
{
	struct bk_probe p;
	struct bk_validators v;
	struct bk_error e;
	char *u = url_of(base, "a.bin");
	int rc;

	memset(&p, 0, sizeof(p));
	memset(&e, 0, sizeof(e));
	p.remote = u;
	rc = ops->probe(be, &p, &v, &e);
	result(rc == BK_OK && v.size == 65536 && v.etag != NULL &&
	    v.last_modified != NULL && v.mtime > 0, "probe (HEAD) validators",
	    "rc %d (%s) size %llu etag %s last-modified %s mtime %lld", rc,
	    lasterr(), (unsigned long long)v.size, v.etag ? v.etag : "-",
	    v.last_modified ? v.last_modified : "-", (long long)v.mtime);
	backend_free_validators(&v);
	backend_free_error(&e);
	free(u);
	u = url_of(base, "missing.bin");
	p.remote = u;
	rc = ops->probe(be, &p, &v, &e);
	result(rc != BK_OK && e.context == BK_CTX_REMOTE_FILE &&
	    (uint32_t)e.code == 0x80190194u, "probe of a missing file",
	    "rc %d context %d code 0x%08lX", rc, e.context,
	    (unsigned long)e.code);
	backend_free_validators(&v);
	backend_free_error(&e);
	free(u);
	p.remote = "\\\\fs01\\dist\\a.bin";
	rc = ops->probe(be, &p, &v, &e);
	result(rc == BK_E_UNSUPPORTED, "probe of UNC refused", "rc %d", rc);
	backend_free_validators(&v);
	backend_free_error(&e);
}

static volatile LONG notified;

static void
on_state(void *ctx, const bk_guid *job, enum bk_state state)
{
	(void)ctx;
	(void)job;
	(void)state;
	InterlockedIncrement(&notified);
}

static void
test_notify(const char *base, const char *work)
{
	struct bk_file_spec f[1];
	struct bk_job_spec s;
	bk_guid id;
	int i;

	f[0].remote = url_of(base, "b.txt");
	f[0].local = path_in(work, "notify.txt");
	spec_init(&s, "notify", f, 1);
	ops->set_notify(be, on_state, NULL);
	if (ops->create_job(be, &s, &id) != BK_OK) {
		result(0, "notify", "create_job: %s", lasterr());
		ops->set_notify(be, NULL, NULL);
		return;
	}
	ops->resume(be, &id);
	for (i = 0; i < 50 && notified < 2; i++)
		Sleep(100);
	ops->set_notify(be, NULL, NULL);
	result(notified >= 1, "set_notify reports state changes", "none");
	ops->cancel(be, &id);
}

/* An agent restart: one process creates and resumes a tagged job and
 * exits (--leave); a new process (--adopt) finds it among all jobs by its
 * tags, waits for it and completes it.  BITS keeps the job between the two
 * (Wine: as long as the wineserver runs). */
static int
leave(const char *base, const char *work)
{
	struct bk_file_spec f[1];
	struct bk_job_spec s;
	bk_guid id;
	char gs[39];
	int rc;

	f[0].remote = url_of(base, "b.txt");
	f[0].local = path_in(work, "adopted.txt");
	spec_init(&s, "restart", f, 1);
	rc = ops->create_job(be, &s, &id);
	result(rc == BK_OK, "restart: first process creates a tagged job",
	    "%d %s", rc, lasterr());
	if (rc != BK_OK)
		return 1;
	rc = ops->resume(be, &id);
	result(rc == BK_OK, "restart: first process resumes it and exits",
	    "%d %s", rc, lasterr());
	bk_guid_format(&id, gs);
	note("left job %s", gs);
	return 0;
}

static int
adopt(const char *work, const char *sha_b)
{
	struct bk_job *jobs;
	size_t n, i, found = 0;
	bk_guid id;
	enum bk_state st;
	char *local = path_in(work, "adopted.txt"), hex[65];
	int rc;

	memset(&id, 0, sizeof(id));
	if ((rc = ops->list_jobs(be, &jobs, &n)) != BK_OK) {
		result(0, "restart: second process lists jobs", "%d %s", rc,
		    lasterr());
		return 1;
	}
	for (i = 0; i < n; i++)
		if (is_own(&jobs[i]) &&
		    strcmp(jobs[i].display_name, "bitsync:restart") == 0) {
			found++;
			id = jobs[i].id;
		}
	backend_free_jobs(jobs, n);
	result(found == 1, "restart: second process finds its job by tags",
	    "%zu found", found);
	if (found != 1)
		return 1;
	st = wait_job(&id, 60, NULL);
	result(st == BK_TRANSFERRED, "restart: the adopted job transfers",
	    "state %s", bk_state_name(st));
	rc = ops->complete(be, &id);
	result(rc == BK_OK && win_sha256_file(local, hex) == 0 &&
	    strcmp(hex, sha_b) == 0, "restart: the adopted job completes with "
	    "the right content", "%d %s", rc, lasterr());
	free(local);
	return 0;
}

int
main(int argc, char **argv)
{
	int rc;

	if (argc == 4 && (strcmp(argv[1], "--leave") == 0 ||
	    strcmp(argv[1], "--adopt") == 0)) {
		if ((rc = ops->open(NULL, &be)) != BK_OK) {
			result(0, "open", "backend open: %d", rc);
		} else {
			if (argv[1][2] == 'l')
				leave(argv[2], argv[3]);
			else
				adopt(argv[2], argv[3]);
			ops->close(be);
		}
		printf("%d passed, %d failed\n", passed, failed);
		return failed ? 1 : 0;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: bits_drive BASE_URL WORKDIR SHA_A SHA_B\n");
		return 64;
	}
	rc = ops->open(NULL, &be);
	result(rc == BK_OK, "open", "backend open: %d", rc);
	if (rc != BK_OK) {
		printf("%d passed, %d failed\n", passed, failed);
		return 1;
	}
	test_lifecycle(argv[1], argv[2], argv[3], argv[4]);
	test_cancel(argv[1], argv[2]);
	test_enumerate(argv[1], argv[2]);
	test_404(argv[1], argv[2]);
	test_optional(argv[1], argv[2]);
	test_tolerate(argv[1], argv[2]);
	test_probe(argv[1]);
	test_notify(argv[1], argv[2]);
	ops->close(be);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
