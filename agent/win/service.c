/* service.c - see service.h.  Not wired into main.c yet: `bitsync service
 * install|uninstall` and `bitsync run` under the SCM call these once the
 * reconciler runs on Windows. */
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "win/service.h"
#include "win/winutil.h"
#include "bitsync_msg.h"

static const struct {
	const char *name;
	const wchar_t *sam;		/* CreateService's account name */
	DWORD rid;			/* its well-known RID */
} accounts[] = {
	[SVC_LOCAL_SYSTEM] = { "LocalSystem", NULL, SECURITY_LOCAL_SYSTEM_RID },
	[SVC_NETWORK_SERVICE] = { "NetworkService",
	    L"NT AUTHORITY\\NetworkService", SECURITY_NETWORK_SERVICE_RID },
	[SVC_LOCAL_SERVICE] = { "LocalService", L"NT AUTHORITY\\LocalService",
	    SECURITY_LOCAL_SERVICE_RID },
};

int
service_parse_account(const char *s, enum service_account *out)
{
	int i;

	for (i = 0; i < 3; i++)
		if (_stricmp(s, accounts[i].name) == 0) {
			*out = (enum service_account)i;
			return 0;
		}
	return -1;
}

static void
werr(char *err, size_t len, const char *what, DWORD code)
{
	char t[300];

	win_strerror(code, t, sizeof(t));
	snprintf(err, len, "%s: %s", what, t);
}

static wchar_t *
event_key(const char *name)
{
	char *k = xasprintf("SYSTEM\\CurrentControlSet\\Services\\EventLog\\"
	    "Application\\%s", name);
	wchar_t *w = win_widen(k);

	free(k);
	return w;
}

/* The service starts after BITS (a double-NUL-terminated list). */
#define SERVICE_DEPENDENCIES	L"BITS\0"

/* The service's command line: this program's path, quoted (a path with
 * blanks unquoted is the "unquoted service path" hole: C:\Program.exe),
 * then "run --service".  exe: MAX_PATH, cmd: MAX_PATH + 32 characters. */
static int
image_path(wchar_t *exe, wchar_t *cmd)
{
	DWORD n = GetModuleFileNameW(NULL, exe, MAX_PATH);

	if (n == 0 || n >= MAX_PATH)
		return -1;
	swprintf(cmd, MAX_PATH + 32, L"\"%ls\" run --service", exe);
	return 0;
}

/* Restart after SERVICE_RESTART_DELAY_MS, SERVICE_RESTARTS times; the
 * failure count resets after SERVICE_FAILURE_RESET_S (service.h). */
static BOOL
set_failure_actions(SC_HANDLE svc)
{
	SC_ACTION acts[SERVICE_RESTARTS + 1];
	SERVICE_FAILURE_ACTIONSW fa;
	int i;

	for (i = 0; i <= SERVICE_RESTARTS; i++) {
		acts[i].Type = i < SERVICE_RESTARTS ? SC_ACTION_RESTART :
		    SC_ACTION_NONE;
		acts[i].Delay = SERVICE_RESTART_DELAY_MS;
	}
	memset(&fa, 0, sizeof(fa));
	fa.dwResetPeriod = SERVICE_FAILURE_RESET_S;
	fa.cActions = SERVICE_RESTARTS + 1;
	fa.lpsaActions = acts;
	return ChangeServiceConfig2W(svc, SERVICE_CONFIG_FAILURE_ACTIONS, &fa);
}

int
service_install(const char *name, enum service_account account, char *err,
    size_t errlen)
{
	wchar_t exe[MAX_PATH], cmd[MAX_PATH + 32], *wname = win_widen(name);
	wchar_t *ek;
	SC_HANDLE scm = NULL, svc = NULL;
	SERVICE_DESCRIPTIONW desc;
	HKEY k;
	DWORD types = EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE |
	    EVENTLOG_INFORMATION_TYPE;
	int rc = -1;

	if (image_path(exe, cmd) == -1) {
		werr(err, errlen, "cannot find this program's path",
		    GetLastError());
		goto out;
	}
	scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CREATE_SERVICE);
	if (scm == NULL) {
		werr(err, errlen, "cannot open the Service Control Manager "
		    "(run as an administrator)", GetLastError());
		goto out;
	}
	svc = CreateServiceW(scm, wname, L"bitsync file sync agent",
	    SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START,
	    SERVICE_ERROR_NORMAL, cmd, NULL, NULL, SERVICE_DEPENDENCIES,
	    accounts[account].sam, NULL);
	if (svc == NULL) {
		werr(err, errlen, GetLastError() == ERROR_SERVICE_EXISTS ?
		    "the service is installed already (uninstall it first)" :
		    "cannot create the service", GetLastError());
		goto out;
	}
	desc.lpDescription = L"Keeps the file sets declared in bitsync "
	    L"manifests present on this machine, transferring them with BITS.";
	ChangeServiceConfig2W(svc, SERVICE_CONFIG_DESCRIPTION, &desc);
	set_failure_actions(svc);

	ek = event_key(name);
	if (RegCreateKeyExW(HKEY_LOCAL_MACHINE, ek, 0, NULL, 0, KEY_SET_VALUE,
	    NULL, &k, NULL) == ERROR_SUCCESS) {
		RegSetValueExW(k, L"EventMessageFile", 0, REG_EXPAND_SZ,
		    (const BYTE *)exe, (DWORD)(wcslen(exe) + 1) *
		    sizeof(wchar_t));
		RegSetValueExW(k, L"TypesSupported", 0, REG_DWORD,
		    (const BYTE *)&types, sizeof(types));
		RegCloseKey(k);
	} else {
		werr(err, errlen, "cannot register the Event Log source",
		    GetLastError());
		free(ek);
		DeleteService(svc);
		goto out;
	}
	free(ek);
	rc = 0;
out:
	if (svc != NULL)
		CloseServiceHandle(svc);
	if (scm != NULL)
		CloseServiceHandle(scm);
	free(wname);
	return rc;
}

int
service_configure(const char *name, char *err, size_t errlen)
{
	wchar_t exe[MAX_PATH], cmd[MAX_PATH + 32], *wname = win_widen(name);
	SC_HANDLE scm = NULL, svc = NULL;
	int rc = -1;

	if (image_path(exe, cmd) == -1) {
		werr(err, errlen, "cannot find this program's path",
		    GetLastError());
		goto out;
	}
	scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
	if (scm == NULL) {
		werr(err, errlen, "cannot open the Service Control Manager "
		    "(run as an administrator)", GetLastError());
		goto out;
	}
	svc = OpenServiceW(scm, wname, SERVICE_CHANGE_CONFIG |
	    SERVICE_START);
	if (svc == NULL) {
		werr(err, errlen, "no such service (install it first: "
		    "bitsync service install, or the MSI)", GetLastError());
		goto out;
	}
	/* The dependency again although unchanged: Wine's service manager
	 * drops DependOnService when it is passed as NULL ("no change"). */
	if (!ChangeServiceConfigW(svc, SERVICE_NO_CHANGE, SERVICE_NO_CHANGE,
	    SERVICE_NO_CHANGE, cmd, NULL, NULL, SERVICE_DEPENDENCIES, NULL,
	    NULL, NULL)) {
		werr(err, errlen, "cannot set the service's command line",
		    GetLastError());
		goto out;
	}
	if (!set_failure_actions(svc)) {
		werr(err, errlen, "cannot set the service's failure actions",
		    GetLastError());
		goto out;
	}
	rc = 0;
out:
	if (svc != NULL)
		CloseServiceHandle(svc);
	if (scm != NULL)
		CloseServiceHandle(scm);
	free(wname);
	return rc;
}

int
service_uninstall(const char *name, char *err, size_t errlen)
{
	wchar_t *wname = win_widen(name), *ek;
	SC_HANDLE scm, svc;
	SERVICE_STATUS st;
	int rc = -1, i;

	scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
	if (scm == NULL) {
		werr(err, errlen, "cannot open the Service Control Manager "
		    "(run as an administrator)", GetLastError());
		free(wname);
		return -1;
	}
	svc = OpenServiceW(scm, wname, SERVICE_STOP | SERVICE_QUERY_STATUS |
	    DELETE);
	if (svc == NULL) {
		werr(err, errlen, "no such service", GetLastError());
		goto out;
	}
	if (ControlService(svc, SERVICE_CONTROL_STOP, &st)) {
		for (i = 0; i < 300 && QueryServiceStatus(svc, &st) &&
		    st.dwCurrentState != SERVICE_STOPPED; i++)
			Sleep(100);
	}
	if (!DeleteService(svc)) {
		werr(err, errlen, "cannot delete the service", GetLastError());
		CloseServiceHandle(svc);
		goto out;
	}
	CloseServiceHandle(svc);
	ek = event_key(name);
	RegDeleteKeyW(HKEY_LOCAL_MACHINE, ek);
	free(ek);
	rc = 0;
out:
	CloseServiceHandle(scm);
	free(wname);
	return rc;
}

/* ---- running ------------------------------------------------------------ */

static struct {
	wchar_t *name;
	service_body_fn body;
	void *ctx;
	HANDLE stop;
	HANDLE reload;		/* SERVICE_CONTROL_PARAMCHANGE */
	SERVICE_STATUS_HANDLE h;
	SERVICE_STATUS st;
	int rc;
} run;

static void
report(DWORD state, DWORD exit_code, DWORD wait_hint)
{
	static DWORD checkpoint = 1;

	run.st.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
	run.st.dwCurrentState = state;
	run.st.dwControlsAccepted = state == SERVICE_RUNNING ?
	    SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN |
	    SERVICE_ACCEPT_PARAMCHANGE : 0;
	run.st.dwWin32ExitCode = exit_code ? ERROR_SERVICE_SPECIFIC_ERROR :
	    NO_ERROR;
	run.st.dwServiceSpecificExitCode = exit_code;
	run.st.dwWaitHint = wait_hint;
	run.st.dwCheckPoint = state == SERVICE_RUNNING ||
	    state == SERVICE_STOPPED ? 0 : checkpoint++;
	SetServiceStatus(run.h, &run.st);
}

static DWORD WINAPI
ctrl_handler(DWORD ctrl, DWORD type, LPVOID data, LPVOID ctx)
{
	(void)type;
	(void)data;
	(void)ctx;
	switch (ctrl) {
	case SERVICE_CONTROL_STOP:
	case SERVICE_CONTROL_SHUTDOWN:
		report(SERVICE_STOP_PENDING, 0, 30000);
		SetEvent(run.stop);
		return NO_ERROR;
	case SERVICE_CONTROL_PARAMCHANGE:
		/* sc paramchange / a GPO refresh: re-read the settings, as
		 * SIGHUP does on POSIX. */
		SetEvent(run.reload);
		return NO_ERROR;
	case SERVICE_CONTROL_INTERROGATE:
		return NO_ERROR;
	default:
		return ERROR_CALL_NOT_IMPLEMENTED;
	}
}

static void WINAPI
service_main(DWORD argc, LPWSTR *argv)
{
	(void)argc;
	(void)argv;
	run.h = RegisterServiceCtrlHandlerExW(run.name, ctrl_handler, NULL);
	if (run.h == NULL) {
		run.rc = 70;
		return;
	}
	report(SERVICE_START_PENDING, 0, 10000);
	report(SERVICE_RUNNING, 0, 0);
	run.rc = run.body(run.ctx, run.stop);
	report(SERVICE_STOPPED, (DWORD)run.rc, 0);
}

static BOOL WINAPI
console_handler(DWORD type)
{
	switch (type) {
	case CTRL_C_EVENT:
	case CTRL_BREAK_EVENT:
	case CTRL_CLOSE_EVENT:
	case CTRL_SHUTDOWN_EVENT:
		SetEvent(run.stop);
		return TRUE;
	default:
		return FALSE;
	}
}

static int
run_in_console(service_body_fn body, void *ctx)
{
	int rc;

	SetConsoleCtrlHandler(console_handler, TRUE);
	rc = body(ctx, run.stop);
	SetConsoleCtrlHandler(console_handler, FALSE);
	return rc;
}

int
service_run(const char *name, service_body_fn body, void *ctx)
{
	SERVICE_TABLE_ENTRYW table[2];

	run.name = win_widen(name);
	run.body = body;
	run.ctx = ctx;
	run.stop = CreateEventW(NULL, TRUE, FALSE, NULL);
	run.reload = CreateEventW(NULL, FALSE, FALSE, NULL);
	memset(table, 0, sizeof(table));
	table[0].lpServiceName = run.name;
	table[0].lpServiceProc = service_main;
	if (!StartServiceCtrlDispatcherW(table)) {
		if (GetLastError() != ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
			run.rc = 70;
			goto out;
		}
		/* Not started by the SCM: a console run. */
		run.rc = run_in_console(body, ctx);
	}
out:
	CloseHandle(run.stop);
	CloseHandle(run.reload);
	run.reload = NULL;
	free(run.name);
	return run.rc;
}

int
service_run_console(service_body_fn body, void *ctx)
{
	int rc;

	run.stop = CreateEventW(NULL, TRUE, FALSE, NULL);
	run.reload = NULL;
	rc = run_in_console(body, ctx);
	CloseHandle(run.stop);
	run.stop = NULL;
	return rc;
}

HANDLE
service_reload_event(void)
{
	return run.reload;
}

int
service_current_account(enum service_account *out)
{
	HANDLE tok;
	BYTE buf[256];
	DWORD len;
	PSID sid;
	int i, rc = -1;

	if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok))
		return -1;
	if (GetTokenInformation(tok, TokenUser, buf, sizeof(buf), &len)) {
		sid = ((TOKEN_USER *)(void *)buf)->User.Sid;
		for (i = 0; i < 3; i++) {
			if (*GetSidSubAuthorityCount(sid) == 1 &&
			    *GetSidSubAuthority(sid, 0) == accounts[i].rid) {
				*out = (enum service_account)i;
				rc = 0;
			}
		}
	}
	CloseHandle(tok);
	return rc;
}

void
eventlog_report(const char *name, unsigned long id, const char *text)
{
	win_report_event(name, id, text);
}
