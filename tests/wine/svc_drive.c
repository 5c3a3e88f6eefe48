/* svc_drive.c - checks agent/win/service.c under Wine's service manager.
 *
 *   svc_drive.exe test      installs itself as service "bitsync-test"
 *                           (LocalSystem), starts it, sees it run, stops it,
 *                           uninstalls it; installs one as NetworkService
 *                           and checks its account; prints PASS/FAIL lines
 *                           and "N passed, N failed".
 *   svc_drive.exe run --service
 *                           what the SCM starts (service.c's command line):
 *                           the service body writes a marker file, logs an
 *                           event, waits for stop.
 *   svc_drive.exe paramchange NAME
 *                           sends SERVICE_CONTROL_PARAMCHANGE to service
 *                           NAME (Wine's sc has no "control"); exit 0 when
 *                           the service accepted it. */
#include <windows.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitsync_msg.h"
#include "win/service.h"
#include "win/winutil.h"

#define NAME	"bitsync-test"
#define WNAME	L"bitsync-test"

static int passed, failed;

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
marker_path(wchar_t *buf, size_t len)
{
	wchar_t win[MAX_PATH];

	GetWindowsDirectoryW(win, MAX_PATH);
	swprintf(buf, len, L"%ls\\Temp\\bitsync-svc-test.txt", win);
}

static void
marker_write(const char *text)
{
	wchar_t p[MAX_PATH + 64];
	HANDLE h;
	DWORD n;

	marker_path(p, MAX_PATH + 64);
	h = CreateFileW(p, GENERIC_WRITE, FILE_SHARE_READ, NULL, CREATE_ALWAYS,
	    0, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return;
	WriteFile(h, text, (DWORD)strlen(text), &n, NULL);
	CloseHandle(h);
}

static int
marker_is(const char *text)
{
	wchar_t p[MAX_PATH + 64];
	char buf[64] = { 0 };
	HANDLE h;
	DWORD n = 0;

	marker_path(p, MAX_PATH + 64);
	h = CreateFileW(p, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE,
	    NULL, OPEN_EXISTING, 0, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return 0;
	ReadFile(h, buf, sizeof(buf) - 1, &n, NULL);
	CloseHandle(h);
	return strcmp(buf, text) == 0;
}

static int
body(void *ctx, HANDLE stop)
{
	enum service_account acct;
	(void)ctx;

	marker_write(service_current_account(&acct) == 0 ? "running" :
	    "running");
	eventlog_report(NAME, MSG_SERVICE_STARTED, "svc_drive test body");
	WaitForSingleObject(stop, INFINITE);
	eventlog_report(NAME, MSG_SERVICE_STOPPED, "svc_drive test body");
	marker_write("stopped");
	return 0;
}

static DWORD
wait_state(SC_HANDLE svc, DWORD want, int seconds)
{
	SERVICE_STATUS st;
	int i;

	memset(&st, 0, sizeof(st));
	for (i = 0; i < seconds * 10; i++) {
		if (!QueryServiceStatus(svc, &st))
			return 0;
		if (st.dwCurrentState == want)
			break;
		Sleep(100);
	}
	return st.dwCurrentState;
}

static char *
config_account(SC_HANDLE svc, DWORD *start_type)
{
	BYTE buf[8192];
	QUERY_SERVICE_CONFIGW *c = (QUERY_SERVICE_CONFIGW *)(void *)buf;
	DWORD need;

	if (!QueryServiceConfigW(svc, c, sizeof(buf), &need))
		return NULL;
	*start_type = c->dwStartType;
	return win_narrow(c->lpServiceStartName ? c->lpServiceStartName : L"");
}

static int
event_source_registered(const char *name)
{
	char *k = NULL;
	wchar_t *w;
	HKEY h;
	int ok;

	k = malloc(strlen(name) + 80);
	sprintf(k, "SYSTEM\\CurrentControlSet\\Services\\EventLog\\"
	    "Application\\%s", name);
	w = win_widen(k);
	ok = RegOpenKeyExW(HKEY_LOCAL_MACHINE, w, 0, KEY_READ, &h) ==
	    ERROR_SUCCESS;
	if (ok)
		RegCloseKey(h);
	free(w);
	free(k);
	return ok;
}

static void
test(void)
{
	char err[512];
	enum service_account a;
	SC_HANDLE scm, svc;
	DWORD st, start_type = 0;
	char *acct;
	int rc;

	result(service_parse_account("networkservice", &a) == 0 &&
	    a == SVC_NETWORK_SERVICE && service_parse_account("nobody", &a) ==
	    -1, "account names", "parse failed");
	service_uninstall(NAME, err, sizeof(err));	/* a leftover */
	rc = service_install(NAME, SVC_LOCAL_SYSTEM, err, sizeof(err));
	result(rc == 0, "service install (LocalSystem)", "%s", err);
	if (rc != 0)
		return;
	result(event_source_registered(NAME), "Event Log source registered",
	    "no key");
	rc = service_install(NAME, SVC_LOCAL_SYSTEM, err, sizeof(err));
	result(rc == -1 && strstr(err, "installed already"),
	    "a second install says it is installed", "%d %s", rc, err);
	scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_ALL_ACCESS);
	svc = scm ? OpenServiceW(scm, WNAME, SERVICE_ALL_ACCESS) : NULL;
	if (svc == NULL) {
		result(0, "open the installed service", "error %lu",
		    GetLastError());
		return;
	}
	acct = config_account(svc, &start_type);
	result(acct != NULL && _stricmp(acct, "LocalSystem") == 0 &&
	    start_type == SERVICE_AUTO_START, "service config: LocalSystem, "
	    "automatic start", "account '%s' start %lu", acct ? acct : "-",
	    start_type);
	free(acct);
	if (!StartServiceW(svc, 0, NULL)) {
		result(0, "service start", "error %lu", GetLastError());
	} else {
		st = wait_state(svc, SERVICE_RUNNING, 30);
		result(st == SERVICE_RUNNING, "service start: RUNNING", "state %lu",
		    st);
		Sleep(500);
		result(marker_is("running"), "the service body runs", "no marker");
		{
			SERVICE_STATUS ss;

			ControlService(svc, SERVICE_CONTROL_STOP, &ss);
		}
		st = wait_state(svc, SERVICE_STOPPED, 30);
		result(st == SERVICE_STOPPED && marker_is("stopped"),
		    "service stop: the body sees stop and returns", "state %lu",
		    st);
	}
	CloseServiceHandle(svc);
	rc = service_uninstall(NAME, err, sizeof(err));
	result(rc == 0, "service uninstall", "%s", err);
	/* DeleteService only marks the service: the SCM removes it once the
	 * stopped service's process has gone and no handle is left, which
	 * may take a moment after STOPPED (seen under Wine). */
	{
		int tries;

		for (tries = 0; tries < 100; tries++) {
			svc = OpenServiceW(scm, WNAME, SERVICE_QUERY_STATUS);
			if (svc == NULL || tries == 99)
				break;	/* gone, or still there: say so */
			CloseServiceHandle(svc);
			Sleep(100);
		}
	}
	result(svc == NULL && !event_source_registered(NAME),
	    "uninstalled: no service, no Event Log source", "still there");
	if (svc != NULL)
		CloseServiceHandle(svc);

	rc = service_install(NAME "-ns", SVC_NETWORK_SERVICE, err, sizeof(err));
	result(rc == 0, "service install (NetworkService)", "%s", err);
	if (rc == 0) {
		svc = OpenServiceW(scm, WNAME L"-ns", SERVICE_QUERY_CONFIG);
		acct = svc ? config_account(svc, &start_type) : NULL;
		result(acct != NULL && _stricmp(acct,
		    "NT AUTHORITY\\NetworkService") == 0,
		    "service config: NT AUTHORITY\\NetworkService", "'%s'",
		    acct ? acct : "-");
		free(acct);
		if (svc != NULL)
			CloseServiceHandle(svc);
		service_uninstall(NAME "-ns", err, sizeof(err));
	}
	CloseServiceHandle(scm);
}

static int
paramchange(const char *name)
{
	SC_HANDLE scm, svc = NULL;
	SERVICE_STATUS st;
	wchar_t *w = win_widen(name);
	int rc = 1;

	if ((scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT)) == NULL)
		goto out;
	if ((svc = OpenServiceW(scm, w, SERVICE_PAUSE_CONTINUE)) == NULL)
		goto out;
	if (ControlService(svc, SERVICE_CONTROL_PARAMCHANGE, &st))
		rc = 0;
	else
		fprintf(stderr, "svc_drive: ControlService: error %lu\n",
		    GetLastError());
out:
	if (svc != NULL)
		CloseServiceHandle(svc);
	if (scm != NULL)
		CloseServiceHandle(scm);
	free(w);
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "paramchange") == 0)
		return paramchange(argv[2]);
	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		return service_run(NAME, body, NULL);
	if (argc == 2 && strcmp(argv[1], "test") == 0) {
		test();
		printf("%d passed, %d failed\n", passed, failed);
		return failed ? 1 : 0;
	}
	fprintf(stderr, "usage: svc_drive test | run --service | "
	    "paramchange NAME\n");
	return 64;
}
