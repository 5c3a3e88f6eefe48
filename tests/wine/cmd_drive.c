/* cmd_drive.c - the Windows on_change runner (agent/win/command_proc_win.c)
 * under Wine: the command line CreateProcessW gets splits back into the
 * very arguments (CommandLineToArgvW, as the C runtime does), the child
 * sees only the environment it was given and the working folder, stdin is
 * NUL, and killing the job on a timeout takes a grandchild with it.
 *
 *   cmd_drive.exe test WORKDIR     the checks (PASS/FAIL lines, a count)
 *   cmd_drive.exe child ...        prints what it got (ARG/ENV/CWD lines)
 *   cmd_drive.exe hang             starts "sleep" and sleeps
 *   cmd_drive.exe sleep            sleeps */
#include <windows.h>
#include <shellapi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "command_proc.h"
#include "util.h"
#include "win/winutil.h"

static int npass, nfail;

static void
check(int ok, const char *what)
{
	printf("%s %s\n", ok ? "PASS" : "FAIL", what);
	if (ok)
		npass++;
	else
		nfail++;
}

static void
hex_line(const char *tag, const char *s)
{
	printf("%s ", tag);
	for (; *s != '\0'; s++)
		printf("%02x", (unsigned char)*s);
	printf("\n");
}

static int
child(void)
{
	int n, i;
	wchar_t **av = CommandLineToArgvW(GetCommandLineW(), &n);
	wchar_t *env = GetEnvironmentStringsW(), *e, cwd[MAX_PATH];
	char *s;

	for (i = 2; av != NULL && i < n; i++) {
		s = win_narrow(av[i]);
		hex_line("ARG", s);
		free(s);
	}
	for (e = env; e != NULL && *e != L'\0'; e += wcslen(e) + 1) {
		if (e[0] == L'=')
			continue;	/* cmd.exe's per-drive folders */
		s = win_narrow(e);
		*strchr(s, '=') = '\0';
		printf("ENV %s\n", s);
		free(s);
	}
	GetCurrentDirectoryW(MAX_PATH, cwd);
	s = win_narrow(cwd);
	hex_line("CWD", s);
	free(s);
	printf("STDIN %d\n", GetFileType(GetStdHandle(STD_INPUT_HANDLE)) ==
	    FILE_TYPE_CHAR);
	printf("END\n");
	fflush(stdout);
	return 0;
}

static int
hang(void)
{
	wchar_t self[MAX_PATH], cmd[MAX_PATH + 16];
	STARTUPINFOW si;
	PROCESS_INFORMATION pi;

	GetModuleFileNameW(NULL, self, MAX_PATH);
	swprintf(cmd, MAX_PATH + 16, L"\"%ls\" sleep", self);
	memset(&si, 0, sizeof(si));
	si.cb = sizeof(si);
	if (!CreateProcessW(self, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si,
	    &pi))
		return 3;
	printf("GRANDCHILD %lu\n", (unsigned long)pi.dwProcessId);
	fflush(stdout);
	Sleep(INFINITE);
	return 0;
}

/* Runs p to its end (at most ms), collecting its output. */
static char *
collect(struct cproc *p, int ms, int *ended)
{
	char *out = xcalloc(1, 1), buf[4096];
	size_t len = 0;
	long got;
	int code, sig, waited = 0;

	*ended = 0;
	for (;;) {
		while ((got = cproc_read(p, buf, sizeof(buf))) > 0) {
			out = xrealloc(out, len + (size_t)got + 1);
			memcpy(out + len, buf, (size_t)got);
			len += (size_t)got;
			out[len] = '\0';
		}
		if (cproc_poll(p, &code, &sig)) {
			*ended = 1;
			while ((got = cproc_read(p, buf, sizeof(buf))) > 0) {
				out = xrealloc(out, len + (size_t)got + 1);
				memcpy(out + len, buf, (size_t)got);
				len += (size_t)got;
				out[len] = '\0';
			}
			break;
		}
		if (waited >= ms || strstr(out, "GRANDCHILD") != NULL)
			break;
		Sleep(20);
		waited += 20;
	}
	return out;
}

static int
test(const char *work)
{
	static const char *const tricky[] = { "child", "a b", "quote\"d",
	    "trail\\", "back\\\\\"slash", "", "\xc3\xbcn\xc3\xaf", "x y\\",
	    "%PATH%", "tab\there" };
	const char *argv[16], *env[] = { "PATH=%SystemRoot%\\System32",
	    "BITSYNC_SET=s1", "BITSYNC_DESTINATION=D", "BITSYNC_CHANGED=C",
	    NULL };
	struct cproc_spec sp;
	struct cproc *p = NULL;
	wchar_t selfw[MAX_PATH];
	char *self, *why = NULL, *out, *line, *save, want[256];
	size_t i, nargs = sizeof(tricky) / sizeof(tricky[0]), seen = 0;
	int ended, envok = 1, nenv = 0, cwdok = 0, stdinok = 0;
	unsigned long gpid = 0;

	GetModuleFileNameW(NULL, selfw, MAX_PATH);
	self = win_narrow(selfw);
	argv[0] = self;
	for (i = 0; i < nargs; i++)
		argv[i + 1] = tricky[i];
	sp.argv = argv;
	sp.argc = nargs + 1;
	sp.cwd = work;
	sp.trusted_len = 0;
	sp.env = env;
	check(cproc_start(&sp, &p, &why) == 0, "cproc_start of a program "
	    "with arguments that need quoting");
	if (p == NULL) {
		printf("  # %s\n", why);
		goto out;
	}
	out = collect(p, 20000, &ended);
	cproc_free(p);
	p = NULL;
	check(ended && strstr(out, "END") != NULL, "the child ran to its end "
	    "and its output came through the pipe");
	for (line = strtok_r(out, "\r\n", &save); line != NULL;
	    line = strtok_r(NULL, "\r\n", &save)) {
		if (strncmp(line, "ARG ", 4) == 0) {
			want[0] = '\0';
			for (i = 0; seen + 1 < nargs && tricky[seen + 1][i];
			    i++)
				sprintf(want + 2 * i, "%02x",
				    (unsigned char)tricky[seen + 1][i]);
			if (seen + 1 >= nargs || strcmp(line + 4, want) != 0)
				printf("  # argument %zu came back as %s\n",
				    seen + 1, line + 4);
			else
				seen++;
		} else if (strncmp(line, "ENV ", 4) == 0) {
			/* Wine's loader adds these to every process it
			 * starts, whatever its environment block said;
			 * Windows does not. */
			if (strncmp(line + 4, "WINE", 4) == 0 ||
			    _stricmp(line + 4, "SystemDrive") == 0)
				continue;
			nenv++;
			if (_stricmp(line + 4, "PATH") != 0 &&
			    _stricmp(line + 4, "SystemRoot") != 0 &&
			    strncmp(line + 4, "BITSYNC_", 8) != 0) {
				printf("  # unexpected variable %s\n", line + 4);
				envok = 0;
			}
		} else if (strncmp(line, "CWD ", 4) == 0) {
			char *w = xcalloc(strlen(line), 1);

			for (i = 0; line[4 + 2 * i] && line[5 + 2 * i]; i++)
				sscanf(line + 4 + 2 * i, "%2hhx",
				    (unsigned char *)&w[i]);
			cwdok = _stricmp(w, work) == 0;
			if (!cwdok)
				printf("  # working folder %s\n", w);
			free(w);
		} else if (strcmp(line, "STDIN 1") == 0)
			stdinok = 1;
	}
	free(out);
	check(seen + 1 == nargs, "every argument came back whole "
	    "(spaces, quotes, trailing backslashes, empty, UTF-8, %VAR%)");
	check(envok && nenv == 5, "the environment is PATH, SystemRoot and "
	    "BITSYNC_* only (besides what Wine's loader adds to any process)");
	check(cwdok, "the working folder is the one given");
	check(stdinok, "stdin is NUL (a character device)");

	/* The timeout: the job takes the grandchild with it. */
	argv[1] = "hang";
	sp.argc = 2;
	check(cproc_start(&sp, &p, &why) == 0, "cproc_start of a program "
	    "that starts another and hangs");
	if (p == NULL)
		goto out;
	out = collect(p, 20000, &ended);
	if ((line = strstr(out, "GRANDCHILD ")) != NULL)
		gpid = strtoul(line + 11, NULL, 10);
	free(out);
	check(!ended && gpid != 0, "it hangs, its child started");
	if (gpid != 0) {
		HANDLE g = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)gpid);
		int code, sig, k;

		cproc_kill(p);
		for (k = 0; k < 250 && !cproc_poll(p, &code, &sig); k++)
			Sleep(20);
		check(k < 250, "cproc_kill ends the program");
		check(g != NULL && WaitForSingleObject(g, 5000) ==
		    WAIT_OBJECT_0, "and its child (the job object)");
		if (g != NULL)
			CloseHandle(g);
	}
	cproc_free(p);
	p = NULL;

	/* A program that is not there: a clear refusal, no search. */
	argv[0] = "C:\\nonexistent\\prog.exe";
	sp.argc = 1;
	check(cproc_start(&sp, &p, &why) == -1 && why != NULL &&
	    strstr(why, "cannot start") != NULL, "a missing program is "
	    "refused with a message");
	if (why != NULL)
		printf("  # %s\n", why);
out:
	free(why);
	cproc_free(p);
	free(self);
	printf("%d passed, %d failed\n", npass, nfail);
	return nfail != 0;
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc >= 2 && strcmp(argv[1], "child") == 0)
		return child();
	if (argc >= 2 && strcmp(argv[1], "hang") == 0)
		return hang();
	if (argc >= 2 && strcmp(argv[1], "sleep") == 0) {
		Sleep(INFINITE);
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "test") == 0)
		return test(argv[2]);
	fprintf(stderr, "usage: cmd_drive test WORKDIR\n");
	return 64;
}
