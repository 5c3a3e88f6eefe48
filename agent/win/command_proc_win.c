/* command_proc_win.c - on_change programs on Windows (command_proc.h).
 *
 * BITS never runs a job's notify program for a service account, so the
 * agent does it itself: CreateProcessW as the service (LocalSystem), with
 * lpApplicationName set (no search, no "C:\Program.exe" for an unquoted
 * path with spaces), a command line quoted as CommandLineToArgvW and the
 * C runtime split it, stdin NUL, stdout and stderr one pipe, and only
 * those three handles inherited (PROC_THREAD_ATTRIBUTE_HANDLE_LIST).  The
 * process starts suspended inside a job object with
 * JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE before it runs a single instruction,
 * so whatever it starts is in the job too and the timeout
 * (TerminateJobObject) or the agent's end kills all of it. */
#include "command_proc.h"

#include <windows.h>

#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "util.h"
#include "winutil.h"

struct cproc {
	HANDLE process, job, out;
	DWORD pid;
	int ended, code;
};

const char *
cproc_path_env(void)
{
	/* Expanded by cproc_start: the system folders only. */
	return "PATH=%SystemRoot%\\System32;%SystemRoot%;"
	    "%SystemRoot%\\System32\\Wbem";
}

static wchar_t *
expand(const wchar_t *s)
{
	DWORD n = ExpandEnvironmentStringsW(s, NULL, 0);
	wchar_t *w;

	if (n == 0)
		return _wcsdup(s);
	w = xcalloc(n + 1, sizeof(*w));
	if (ExpandEnvironmentStringsW(s, w, n + 1) == 0) {
		free(w);
		return _wcsdup(s);
	}
	return w;
}

/* Appends arg quoted so that CommandLineToArgvW gives it back whole:
 * backslashes double only before a quote (or the closing quote). */
static void
quote_arg(wchar_t **buf, size_t *len, size_t *cap, const wchar_t *arg)
{
	size_t need = wcslen(arg) * 2 + 4, i, bs;
	int plain = arg[0] != L'\0' && wcspbrk(arg, L" \t\n\v\"") == NULL;

	if (*len + need + 1 > *cap) {
		*cap = (*len + need + 1) * 2;
		*buf = xrealloc(*buf, *cap * sizeof(**buf));
	}
	if (*len > 0)
		(*buf)[(*len)++] = L' ';
	if (plain) {
		wcscpy(*buf + *len, arg);
		*len += wcslen(arg);
		return;
	}
	(*buf)[(*len)++] = L'"';
	for (i = 0;; i++) {
		for (bs = 0; arg[i] == L'\\'; i++)
			bs++;
		if (arg[i] == L'\0') {
			while (bs-- > 0) {
				(*buf)[(*len)++] = L'\\';
				(*buf)[(*len)++] = L'\\';
			}
			break;
		}
		if (arg[i] == L'"') {
			bs = bs * 2 + 1;
		}
		while (bs-- > 0)
			(*buf)[(*len)++] = L'\\';
		(*buf)[(*len)++] = arg[i];
	}
	(*buf)[(*len)++] = L'"';
	(*buf)[*len] = L'\0';
}

static int
cmp_env(const void *a, const void *b)
{
	return _wcsicmp(*(wchar_t *const *)a, *(wchar_t *const *)b);
}

/* A reparse point (junction, symlink) in a folder of dir past trusted
 * bytes: then the program would run elsewhere than the destination. */
static int
has_reparse(const wchar_t *dir, size_t trusted)
{
	wchar_t *copy = _wcsdup(dir), *p;
	DWORD a;
	int bad = 0;

	for (p = copy + (trusted < wcslen(copy) ? trusted : wcslen(copy));
	    !bad; p++) {
		if (*p == L'\\' || *p == L'/' || *p == L'\0') {
			wchar_t save = *p;

			*p = L'\0';
			if (wcslen(copy) > 3) {
				a = GetFileAttributesW(copy);
				bad = a != INVALID_FILE_ATTRIBUTES &&
				    (a & FILE_ATTRIBUTE_REPARSE_POINT);
			}
			*p = save;
			if (save == L'\0')
				break;
		}
	}
	free(copy);
	return bad;
}

int
cproc_start(const struct cproc_spec *sp, struct cproc **out, char **why)
{
	STARTUPINFOEXW si;
	PROCESS_INFORMATION pi;
	JOBOBJECT_EXTENDED_LIMIT_INFORMATION lim;
	SECURITY_ATTRIBUTES sa = { sizeof(sa), NULL, TRUE };
	HANDLE rd = NULL, wr = NULL, nul = INVALID_HANDLE_VALUE, job = NULL;
	HANDLE inherit[2];
	LPPROC_THREAD_ATTRIBUTE_LIST attrs = NULL;
	SIZE_T asz = 0;
	wchar_t *prog = NULL, *cwd = NULL, *cmd = NULL, *envb = NULL, *w;
	wchar_t **ev = NULL;
	size_t len = 0, cap = 0, i, n = 0, elen = 0;
	struct cproc *p = NULL;
	char msg[256];
	int rc = -1;

	*out = NULL;
	*why = NULL;
	memset(&pi, 0, sizeof(pi));
	if ((w = win_widen(sp->argv[0])) == NULL ||
	    (prog = expand(w)) == NULL) {
		free(w);
		*why = xasprintf("program %s is not UTF-8", sp->argv[0]);
		goto out;
	}
	free(w);
	if ((cwd = win_widen(sp->cwd)) == NULL ||
	    has_reparse(cwd, sp->trusted_len)) {
		*why = xasprintf("working folder %s: %s", sp->cwd, cwd == NULL ?
		    "not UTF-8" : "a reparse point (link, junction) in the "
		    "path; bitsync does not follow links below the allowed "
		    "root");
		goto out;
	}
	quote_arg(&cmd, &len, &cap, prog);
	for (i = 1; i < sp->argc; i++) {
		if ((w = win_widen(sp->argv[i])) == NULL) {
			*why = xasprintf("argument %zu is not UTF-8", i);
			goto out;
		}
		quote_arg(&cmd, &len, &cap, w);
		free(w);
	}
	/* The environment: a sorted block of the given variables, and
	 * SystemRoot, without which Windows' own libraries (Winsock, COM)
	 * fail in the child. */
	while (sp->env[n] != NULL)
		n++;
	ev = xcalloc(n + 2, sizeof(*ev));
	for (i = 0; i < n; i++) {
		wchar_t *t = win_widen(sp->env[i]);

		ev[i] = t ? expand(t) : _wcsdup(L"X=");
		free(t);
	}
	ev[n] = expand(L"SystemRoot=%SystemRoot%");
	qsort(ev, n + 1, sizeof(*ev), cmp_env);
	for (i = 0; i <= n; i++)
		elen += wcslen(ev[i]) + 1;
	envb = xcalloc(elen + 1, sizeof(*envb));
	for (i = 0, elen = 0; i <= n; i++) {
		wcscpy(envb + elen, ev[i]);
		elen += wcslen(ev[i]) + 1;
	}
	if (!CreatePipe(&rd, &wr, &sa, 0) ||
	    !SetHandleInformation(rd, HANDLE_FLAG_INHERIT, 0)) {
		win_strerror(GetLastError(), msg, sizeof(msg));
		*why = xasprintf("pipe: %s", msg);
		goto out;
	}
	nul = CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ |
	    FILE_SHARE_WRITE, &sa, OPEN_EXISTING, 0, NULL);
	if (nul == INVALID_HANDLE_VALUE) {
		win_strerror(GetLastError(), msg, sizeof(msg));
		*why = xasprintf("NUL: %s", msg);
		goto out;
	}
	inherit[0] = nul;
	inherit[1] = wr;
	InitializeProcThreadAttributeList(NULL, 1, 0, &asz);
	attrs = xmalloc(asz);
	if (!InitializeProcThreadAttributeList(attrs, 1, 0, &asz) ||
	    !UpdateProcThreadAttribute(attrs, 0,
	    PROC_THREAD_ATTRIBUTE_HANDLE_LIST, inherit, sizeof(inherit),
	    NULL, NULL)) {
		win_strerror(GetLastError(), msg, sizeof(msg));
		*why = xasprintf("handle list: %s", msg);
		free(attrs);
		attrs = NULL;
		goto out;
	}
	memset(&lim, 0, sizeof(lim));
	lim.BasicLimitInformation.LimitFlags =
	    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
	if ((job = CreateJobObjectW(NULL, NULL)) == NULL ||
	    !SetInformationJobObject(job, JobObjectExtendedLimitInformation,
	    &lim, sizeof(lim))) {
		win_strerror(GetLastError(), msg, sizeof(msg));
		*why = xasprintf("job object: %s", msg);
		goto out;
	}
	memset(&si, 0, sizeof(si));
	si.StartupInfo.cb = sizeof(si);
	si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
	si.StartupInfo.hStdInput = nul;
	si.StartupInfo.hStdOutput = wr;
	si.StartupInfo.hStdError = wr;
	si.lpAttributeList = attrs;
	if (!CreateProcessW(prog, cmd, NULL, NULL, TRUE, CREATE_SUSPENDED |
	    CREATE_NO_WINDOW | CREATE_UNICODE_ENVIRONMENT |
	    EXTENDED_STARTUPINFO_PRESENT | CREATE_NEW_PROCESS_GROUP, envb, cwd,
	    &si.StartupInfo, &pi)) {
		win_strerror(GetLastError(), msg, sizeof(msg));
		*why = xasprintf("cannot start %s: %s", sp->argv[0], msg);
		goto out;
	}
	if (!AssignProcessToJobObject(job, pi.hProcess)) {
		win_strerror(GetLastError(), msg, sizeof(msg));
		*why = xasprintf("job object: %s", msg);
		TerminateProcess(pi.hProcess, 1);
		CloseHandle(pi.hThread);
		CloseHandle(pi.hProcess);
		goto out;
	}
	ResumeThread(pi.hThread);
	CloseHandle(pi.hThread);
	p = xcalloc(1, sizeof(*p));
	p->process = pi.hProcess;
	p->pid = pi.dwProcessId;
	p->job = job;
	p->out = rd;
	job = NULL;
	rd = NULL;
	*out = p;
	rc = 0;
out:
	if (attrs != NULL) {
		DeleteProcThreadAttributeList(attrs);
		free(attrs);
	}
	if (job != NULL)
		CloseHandle(job);
	if (rd != NULL)
		CloseHandle(rd);
	if (wr != NULL)
		CloseHandle(wr);
	if (nul != INVALID_HANDLE_VALUE)
		CloseHandle(nul);
	for (i = 0; ev != NULL && i <= n; i++)
		free(ev[i]);
	free(ev);
	free(envb);
	free(cmd);
	free(cwd);
	free(prog);
	return rc;
}

long
cproc_read(struct cproc *p, char *buf, size_t len)
{
	DWORD avail = 0, got = 0;

	if (p->out == NULL)
		return -1;
	if (!PeekNamedPipe(p->out, NULL, 0, NULL, &avail, NULL)) {
		CloseHandle(p->out);
		p->out = NULL;
		return -1;
	}
	if (avail == 0)
		return 0;
	if (avail > len)
		avail = (DWORD)len;
	if (!ReadFile(p->out, buf, avail, &got, NULL)) {
		CloseHandle(p->out);
		p->out = NULL;
		return -1;
	}
	return (long)got;
}

int
cproc_poll(struct cproc *p, int *code, int *sig)
{
	DWORD c;

	*sig = 0;
	if (!p->ended) {
		if (WaitForSingleObject(p->process, 0) != WAIT_OBJECT_0)
			return 0;
		p->ended = 1;
		p->code = GetExitCodeProcess(p->process, &c) ? (int)c : 1;
	}
	*code = p->code;
	return 1;
}

void
cproc_kill(struct cproc *p)
{
	TerminateJobObject(p->job, 1);
}

long
cproc_pid(const struct cproc *p)
{
	return (long)p->pid;
}

void
cproc_free(struct cproc *p)
{
	if (p == NULL)
		return;
	/* Closing the job kills what is left in it (KILL_ON_JOB_CLOSE). */
	TerminateJobObject(p->job, 1);
	CloseHandle(p->job);
	CloseHandle(p->process);
	if (p->out != NULL)
		CloseHandle(p->out);
	free(p);
}
