/* run_win.c - `bitsync run` on Windows: daemon.c's passes, woken by
 *   - the Service Control Manager through service.c (STOP and SHUTDOWN
 *     stop as SIGTERM does on POSIX, PARAMCHANGE reloads the settings as
 *     SIGHUP does), or in a console Ctrl+C, Ctrl+Break and closing it;
 *   - ReadDirectoryChangesW (overlapped) on the manifest folders, with the
 *     debounce of daemon.c: a file renamed into place or written counts as
 *     complete, a removal or a bare create waits longer;
 *   - the backend's job notification (a transferred job is completed at
 *     once), and the retry, refresh and interval timers.
 * One WaitForMultipleObjects between those: idle means idle.
 *
 * Under the SCM the service's start, stop and settings reloads (and a
 * refused reload) are also Event Log records of source "bitsync"; so are,
 * in a console too, the per-set decisions an administrator must see (job
 * created, in sync, job error, a file refused by validation), through
 * daemon.c and reconcile.c's platform_event.
 *
 * The control endpoint is the named pipe win_control_pipe(state_dir),
 * one instance, served in the same wait; its DACL admits SYSTEM and the
 * Administrators only (on Linux the socket refuses peers other than root
 * and the agent's user).  What it speaks is control.h's protocol, answered
 * by daemon_serve as on Linux: this file brings only the pipe. */
#include <windows.h>
#include <sddl.h>

#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitsync_msg.h"
#include "cli.h"
#include "daemon.h"
#include "log.h"
#include "platform.h"
#include "reconcile.h"
#include "util.h"
#include "win/service.h"
#include "win/winutil.h"

#define MAX_WATCHES 2

struct watch {
	HANDLE dir;
	OVERLAPPED ov;
	DWORD buf[4096];	/* FILE_NOTIFY_INFORMATION is DWORD-aligned */
};

static HANDLE job_event;

#define CTL_IO_MS	5000	/* a client that stalls longer is dropped */

/* The control pipe: one instance, a ConnectNamedPipe pending on ov. */
struct ctl {
	HANDLE pipe;
	OVERLAPPED ov;
};

struct run_args {
	const struct cli *cli;
	int as_service;
};

static void
event(const struct run_args *ra, unsigned long id, const char *text)
{
	/* The severity is the message id's top two bits (bitsync_msg.mc):
	 * the service's own records follow log_level like the rest (at
	 * error, no "started" or "stopped" information records). */
	unsigned long sev = id >> 30;
	int level = sev == 3 ? LOG_LEVEL_ERROR : sev == 2 ?
	    LOG_LEVEL_WARNING : LOG_LEVEL_INFO;

	if (ra->as_service && log_enabled(level))
		eventlog_report(SERVICE_NAME_DEFAULT, id, text);
}

static void
on_job_event(void *ctx, const bk_guid *job, enum bk_state state)
{
	(void)ctx;
	(void)job;
	(void)state;
	SetEvent(job_event);
}

static int
watch_arm(struct watch *w)
{
	memset(&w->ov.Internal, 0, sizeof(w->ov) - sizeof(w->ov.hEvent));
	ResetEvent(w->ov.hEvent);
	return ReadDirectoryChangesW(w->dir, w->buf, sizeof(w->buf), FALSE,
	    FILE_NOTIFY_CHANGE_FILE_NAME | FILE_NOTIFY_CHANGE_LAST_WRITE |
	    FILE_NOTIFY_CHANGE_SIZE | FILE_NOTIFY_CHANGE_SECURITY, NULL,
	    &w->ov, NULL) ? 0 : -1;
}

static void
watch_close(struct watch *w)
{
	if (w->dir != INVALID_HANDLE_VALUE) {
		CancelIo(w->dir);
		CloseHandle(w->dir);
	}
	if (w->ov.hEvent != NULL)
		CloseHandle(w->ov.hEvent);
	w->dir = INVALID_HANDLE_VALUE;
	w->ov.hEvent = NULL;
}

/* A folder that does not exist (yet) is not watched: the interval still
 * picks it up. */
static int
watch_open(struct watch *w, const char *dir)
{
	wchar_t *wd = win_widen(dir);

	w->dir = INVALID_HANDLE_VALUE;
	w->ov.hEvent = NULL;
	if (wd == NULL)
		return -1;
	w->dir = CreateFileW(wd, FILE_LIST_DIRECTORY, FILE_SHARE_READ |
	    FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_EXISTING,
	    FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OVERLAPPED, NULL);
	free(wd);
	if (w->dir == INVALID_HANDLE_VALUE)
		return -1;
	if ((w->ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL)) == NULL ||
	    watch_arm(w) == -1) {
		watch_close(w);
		return -1;
	}
	return 0;
}

/* Manifests (*.yaml, *.yml, any case as Windows names go); editors'
 * temporary files do not matter. */
static int
relevant(const wchar_t *name, size_t len)
{
	return (len > 5 && _wcsnicmp(name + len - 5, L".yaml", 5) == 0) ||
	    (len > 4 && _wcsnicmp(name + len - 4, L".yml", 4) == 0);
}

/* Reads what the watch saw, moves the debounce deadline, re-arms. */
static void
watch_drain(struct watch *w, int64_t *debounce)
{
	const FILE_NOTIFY_INFORMATION *fi;
	const char *p = (const char *)w->buf;
	DWORD got = 0;
	int complete = 0, other = 0;

	if (!GetOverlappedResult(w->dir, &w->ov, &got, FALSE) || got == 0) {
		/* The buffer overflowed (or the folder went): all that is
		 * known is that something changed. */
		other = 1;
	} else {
		for (;;) {
			fi = (const void *)p;
			if (relevant(fi->FileName, fi->FileNameLength /
			    sizeof(wchar_t))) {
				/* Windows has no close-after-write event: a
				 * write is complete when the writes stop, so
				 * each one moves the deadline out again. */
				if (fi->Action == FILE_ACTION_MODIFIED ||
				    fi->Action == FILE_ACTION_RENAMED_NEW_NAME)
					complete = 1;
				else
					other = 1;
			}
			if (fi->NextEntryOffset == 0)
				break;
			p += fi->NextEntryOffset;
		}
	}
	daemon_debounce(debounce, complete, other);
	if (watch_arm(w) == -1)
		watch_close(w);
}

static void
ctl_close(struct ctl *c)
{
	if (c->pipe != INVALID_HANDLE_VALUE) {
		CancelIo(c->pipe);
		CloseHandle(c->pipe);
	}
	if (c->ov.hEvent != NULL)
		CloseHandle(c->ov.hEvent);
	c->pipe = INVALID_HANDLE_VALUE;
	c->ov.hEvent = NULL;
}

/* Waits for the next client without blocking: the event is set when one
 * connects (at once when it already has). */
static int
ctl_arm(struct ctl *c)
{
	memset(&c->ov.Internal, 0, sizeof(c->ov) - sizeof(c->ov.hEvent));
	ResetEvent(c->ov.hEvent);
	if (ConnectNamedPipe(c->pipe, &c->ov))
		SetEvent(c->ov.hEvent);
	else if (GetLastError() == ERROR_PIPE_CONNECTED)
		SetEvent(c->ov.hEvent);
	else if (GetLastError() != ERROR_IO_PENDING)
		return -1;
	return 0;
}

/* The pipe's security: only SYSTEM and the Administrators may open it;
 * its owner is said to be this process's account, which is what clients
 * check (platform_control_connect): otherwise the token's default owner
 * is used, which Wine gives as the user's primary group. */
static wchar_t *
pipe_sddl(void)
{
	union {
		TOKEN_USER tu;
		char buf[SECURITY_MAX_SID_SIZE + sizeof(TOKEN_USER)];
	} u;
	HANDLE tok;
	DWORD len;
	wchar_t *sid = NULL, *r = NULL;
	size_t n;

	if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok))
		return NULL;
	if (GetTokenInformation(tok, TokenUser, &u, sizeof(u), &len) &&
	    ConvertSidToStringSidW(u.tu.User.Sid, &sid)) {
		n = wcslen(sid) + 64;
		r = xcalloc(n, sizeof(*r));
		_snwprintf(r, n - 1, L"O:%lsD:P(A;;GA;;;SY)(A;;GA;;;BA)", sid);
		LocalFree(sid);
	}
	CloseHandle(tok);
	return r;
}

/* Creates the pipe.  FILE_FLAG_FIRST_PIPE_INSTANCE: when another process
 * holds the name (a second agent, or someone squatting it) we do not
 * share it; apply then finds the lock taken and says so. */
static int
ctl_open(struct ctl *c, const char *state_dir)
{
	SECURITY_ATTRIBUTES sa = { sizeof(sa), NULL, FALSE };
	wchar_t *name = NULL, *sddl = NULL;
	char err[160], *holder, *msg;
	DWORD e;
	int rc = -1;

	c->pipe = INVALID_HANDLE_VALUE;
	c->ov.hEvent = NULL;
	if (state_dir == NULL || (name = win_control_pipe(state_dir)) == NULL)
		goto out;
	if ((sddl = pipe_sddl()) == NULL ||
	    !ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl,
	    SDDL_REVISION_1, &sa.lpSecurityDescriptor, NULL))
		goto fail;
	c->pipe = CreateNamedPipeW(name, PIPE_ACCESS_DUPLEX |
	    FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
	    PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
	    PIPE_REJECT_REMOTE_CLIENTS, 1, 65536, 65536, 0, &sa);
	if (c->pipe == INVALID_HANDLE_VALUE)
		goto fail;
	if ((c->ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL)) == NULL ||
	    ctl_arm(c) == -1)
		goto fail;
	rc = 0;
	goto out;
fail:
	e = GetLastError();
	win_strerror(e, err, sizeof(err));
	/* Taken (U12): by a second agent, or squatted by a user before the
	 * service started (no privilege needed).  Named, and alerted in the
	 * Event Log: admins' apply and plan refuse a server that is not
	 * SYSTEM's, so they cannot reach this agent until it is gone. */
	if ((e == ERROR_ACCESS_DENIED || e == ERROR_PIPE_BUSY) &&
	    (holder = win_pipe_holder(state_dir)) != NULL) {
		msg = xasprintf("control pipe %ls is held by %s, not by this "
		    "agent: another bitsync, or a program squatting its "
		    "name; apply, plan and status cannot reach this agent: "
		    "stop that process (taskkill /PID) and restart the "
		    "bitsync service", name, holder);
		log_error("key=control_pipe error=\"%s\"", msg);
		platform_event(PLATFORM_EV_WARNING, msg);
		free(msg);
		free(holder);
	} else
		log_error("key=control_pipe pipe=\"%ls\" error=\"%s; apply "
		    "beside this agent will find the state directory "
		    "locked\"", name, err);
	ctl_close(c);
out:
	LocalFree(sa.lpSecurityDescriptor);
	free(sddl);
	free(name);
	return rc;
}

/* One overlapped read or write on the pipe, waited for up to CTL_IO_MS.
 * Returns the bytes moved, or -1 (the client went or stalled). */
static long
ctl_io(struct ctl *c, int wr, void *buf, DWORD len)
{
	OVERLAPPED ov;
	DWORD got = 0;
	BOOL ok;

	memset(&ov, 0, sizeof(ov));
	ov.hEvent = c->ov.hEvent;
	ResetEvent(ov.hEvent);
	ok = wr ? WriteFile(c->pipe, buf, len, NULL, &ov) :
	    ReadFile(c->pipe, buf, len, NULL, &ov);
	if (!ok && GetLastError() != ERROR_IO_PENDING)
		return -1;
	if (WaitForSingleObject(ov.hEvent, CTL_IO_MS) != WAIT_OBJECT_0) {
		CancelIo(c->pipe);
		GetOverlappedResult(c->pipe, &ov, &got, TRUE);
		return -1;
	}
	if (!GetOverlappedResult(c->pipe, &ov, &got, FALSE))
		return -1;
	return (long)got;
}

static int
ctl_write(struct ctl *c, const char *p, size_t len)
{
	long n;

	while (len > 0) {
		if ((n = ctl_io(c, 1, (void *)p, len > 65536 ? 65536 :
		    (DWORD)len)) <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* daemon_serve's writer over the pipe. */
static int
ctl_put(void *arg, const char *buf, size_t len)
{
	return ctl_write(arg, buf, len);
}

/* daemon_serve's reader over the pipe. */
static long
ctl_read(void *arg, char *buf, size_t len)
{
	return ctl_io(arg, 0, buf, (DWORD)(len > 65536 ? 65536 : len));
}

/* A client connected: answer its one request, hang up, wait for the
 * next. */
static void
ctl_serve(struct daemon *dm, struct ctl *c)
{
	DWORD got;

	if (!GetOverlappedResult(c->pipe, &c->ov, &got, FALSE) &&
	    GetLastError() != ERROR_PIPE_CONNECTED)
		goto done;
	daemon_serve(dm, ctl_read, ctl_put, c);
	/* The client reads all before it sees the end: let it, then hang
	 * up (DisconnectNamedPipe drops what is unread). */
	FlushFileBuffers(c->pipe);
done:
	DisconnectNamedPipe(c->pipe);
	if (ctl_arm(c) == -1)
		ctl_close(c);
}

static char *
dir_of(const char *path)
{
	const char *s, *b = NULL;

	for (s = path; *s != '\0'; s++)
		if (platform_is_sep((unsigned char)*s))
			b = s;
	if (b == NULL)
		return xstrdup(".");
	return xstrndup(path, (size_t)(b - path));
}

static size_t
watches_open(struct watch *w, const struct config *cfg)
{
	size_t n = 0;
	char *d;

	if (cfg->manifest_dir != NULL && cfg->manifest_dir[0] != '\0' &&
	    watch_open(&w[n], cfg->manifest_dir) == 0)
		n++;
	if (cfg->manifest != NULL && cfg->manifest[0] != '\0') {
		d = dir_of(cfg->manifest);
		if (watch_open(&w[n], d) == 0)
			n++;
		free(d);
	}
	return n;
}

static int
run_body(void *ctx, HANDLE stop)
{
	const struct run_args *ra = ctx;
	const struct cli *cli = ra->cli;
	struct daemon dm;
	struct watch w[MAX_WATCHES];
	struct ctl ctl;
	HANDLE h[4 + MAX_WATCHES], reload = service_reload_event();
	size_t nw = 0, i;
	int64_t debounce = 0;
	int rc, r, renew = 1;
	DWORD k, nh;

	memset(&ctl, 0, sizeof(ctl));
	ctl.pipe = INVALID_HANDLE_VALUE;
	if ((job_event = CreateEventW(NULL, FALSE, FALSE, NULL)) == NULL)
		return EXIT_SOFTWARE;
	if ((rc = daemon_open(&dm, cli)) != EXIT_OK) {
		event(ra, MSG_CONFIG_ERROR, "the service could not open its "
		    "configuration, state or backend (exit code in the "
		    "service's status)");
		goto out;
	}
	event(ra, MSG_SERVICE_STARTED, "settings from HKLM\\SOFTWARE\\bitsync "
	    "and HKLM\\SOFTWARE\\Policies\\bitsync");
	for (;;) {
		if (renew) {
			for (i = 0; i < nw; i++)
				watch_close(&w[i]);
			nw = watches_open(w, &dm.s.cfg);
			/* The state directory may have moved with the
			 * settings: the pipe's name follows it. */
			ctl_close(&ctl);
			ctl_open(&ctl, dm.s.cfg.state_dir);
			if (dm.s.ctx.ops->set_notify != NULL)
				dm.s.ctx.ops->set_notify(dm.s.ctx.b,
				    on_job_event, NULL);
			daemon_schedule_interval(&dm);
			daemon_pass(&dm, "start");
			renew = 0;
		}
		daemon_run_due(&dm, &debounce);
		nh = 0;
		h[nh++] = stop;
		h[nh++] = job_event;
		if (reload != NULL)
			h[nh++] = reload;
		if (ctl.pipe != INVALID_HANDLE_VALUE)
			h[nh++] = ctl.ov.hEvent;
		for (i = 0; i < nw; i++)
			if (w[i].dir != INVALID_HANDLE_VALUE)
				h[nh++] = w[i].ov.hEvent;
		k = WaitForMultipleObjects(nh, h, FALSE,
		    (DWORD)daemon_wait_ms(&dm, debounce));
		if (k == WAIT_TIMEOUT)
			continue;
		if (k == WAIT_FAILED || k >= WAIT_OBJECT_0 + nh) {
			log_error("event=wait-failed code=%lu",
			    GetLastError());
			rc = EXIT_SOFTWARE;
			goto out;
		}
		k -= WAIT_OBJECT_0;
		if (h[k] == stop)
			break;
		if (h[k] == job_event) {
			/* A job changed state: act now (complete what
			 * transferred) without waiting for a timer. */
			daemon_pass(&dm, "job event");
		} else if (h[k] == reload) {
			if ((r = daemon_reload(&dm, &rc)) == -1) {
				event(ra, MSG_CONFIG_ERROR, "reopening with "
				    "the new settings failed; the service "
				    "stops");
				goto out;
			}
			if (r == 1) {
				renew = 1;
				event(ra, MSG_CONFIG_RELOADED, "settings read "
				    "again (SERVICE_CONTROL_PARAMCHANGE)");
			} else
				event(ra, MSG_CONFIG_ERROR, "the new settings "
				    "were refused; the previous ones stay in "
				    "force");
		} else if (ctl.pipe != INVALID_HANDLE_VALUE &&
		    h[k] == ctl.ov.hEvent) {
			ctl_serve(&dm, &ctl);
		} else {
			for (i = 0; i < nw; i++)
				if (h[k] == w[i].ov.hEvent)
					watch_drain(&w[i], &debounce);
		}
	}
	rc = EXIT_OK;
	event(ra, MSG_SERVICE_STOPPED, "stop requested");
out:
	for (i = 0; i < nw; i++)
		watch_close(&w[i]);
	ctl_close(&ctl);
	daemon_close(&dm);
	CloseHandle(job_event);
	job_event = NULL;
	return rc;
}

int
cmd_run(const struct cli *cli, int argc, char **argv)
{
	struct run_args ra;
	int i, as_service = 0;

	/* "--service" is on the command line service_install registers:
	 * only then is the SCM's dispatcher asked (see service.h on why a
	 * console run must not). */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--service") == 0)
			as_service = 1;
		else {
			fprintf(stderr, "bitsync run: takes no arguments; the "
			    "manifests come from the settings in the registry "
			    "(HKLM\\SOFTWARE\\bitsync)\n");
			return EXIT_USAGE;
		}
	}
	ra.cli = cli;
	ra.as_service = as_service;
	if (as_service)
		return service_run(SERVICE_NAME_DEFAULT, run_body, &ra);
	return service_run_console(run_body, &ra);
}
