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
 * There is no control endpoint on Windows yet (a named pipe would be its
 * form): while the service runs, `apply` finds the state directory locked
 * and says so, `plan` and `status` read it in their own process. */
#include <windows.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitsync_msg.h"
#include "cli.h"
#include "daemon.h"
#include "platform.h"
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

struct run_args {
	const struct cli *cli;
	int as_service;
};

static void
event(const struct run_args *ra, unsigned long id, const char *text)
{
	if (ra->as_service)
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
	HANDLE h[3 + MAX_WATCHES], reload = service_reload_event();
	size_t nw = 0, i;
	int64_t debounce = 0;
	int rc, r, renew = 1;
	DWORD k, nh;

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
		for (i = 0; i < nw; i++)
			if (w[i].dir != INVALID_HANDLE_VALUE)
				h[nh++] = w[i].ov.hEvent;
		k = WaitForMultipleObjects(nh, h, FALSE,
		    (DWORD)daemon_wait_ms(&dm, debounce));
		if (k == WAIT_TIMEOUT)
			continue;
		if (k == WAIT_FAILED || k >= WAIT_OBJECT_0 + nh) {
			fprintf(stderr, "bitsync run: waiting failed (error "
			    "%lu)\n", GetLastError());
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
