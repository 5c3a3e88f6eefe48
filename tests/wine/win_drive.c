/* win_drive.c - checks the Windows modules under Wine: config_win.c (the
 * registry configuration), platform_win.c and perm_win.c.
 *
 *   win_drive.exe WORKDIR
 *
 * WORKDIR is a Windows path of an empty directory.  Registry values are
 * written under HKCU\Software\bitsync-test (removed again), read through
 * config_load("HKCU\\Software\\bitsync-test").  Prints "PASS name" or
 * "FAIL name: why" and a last line "N passed, N failed". */
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "diag.h"
#include "perm.h"
#include "platform.h"
#include "win/wincheck.h"
#include "win/winutil.h"

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

#define TESTKEY L"Software\\bitsync-test"

static void
reg_clear(void)
{
	RegDeleteTreeW(HKEY_CURRENT_USER, TESTKEY);
}

static void
reg_sz(const wchar_t *sub, const wchar_t *name, DWORD type,
    const wchar_t *val)
{
	HKEY k;
	wchar_t path[256];
	DWORD len = (DWORD)(wcslen(val) + 1) * sizeof(wchar_t);

	if (type == REG_MULTI_SZ) {
		const wchar_t *p = val;

		while (*p)
			p += wcslen(p) + 1;
		len = (DWORD)((p - val) + 1) * sizeof(wchar_t);
	}
	swprintf(path, 256, L"%ls%ls%ls", TESTKEY, sub[0] ? L"\\" : L"", sub);
	RegCreateKeyExW(HKEY_CURRENT_USER, path, 0, NULL, 0, KEY_ALL_ACCESS,
	    NULL, &k, NULL);
	RegSetValueExW(k, name, 0, type, (const BYTE *)val, len);
	RegCloseKey(k);
}

static void
reg_dword(const wchar_t *sub, const wchar_t *name, DWORD v)
{
	HKEY k;
	wchar_t path[256];

	swprintf(path, 256, L"%ls\\%ls", TESTKEY, sub);
	RegCreateKeyExW(HKEY_CURRENT_USER, path, 0, NULL, 0, KEY_ALL_ACCESS,
	    NULL, &k, NULL);
	RegSetValueExW(k, name, 0, REG_DWORD, (const BYTE *)&v, sizeof(v));
	RegCloseKey(k);
}

static int
has_diag(const struct diags *d, const char *file_suffix, const char *text)
{
	size_t i, l = strlen(file_suffix);

	for (i = 0; i < d->n; i++) {
		size_t fl = strlen(d->v[i].file);

		if (fl >= l && strcmp(d->v[i].file + fl - l, file_suffix) == 0 &&
		    strstr(d->v[i].message, text) != NULL)
			return 1;
	}
	return 0;
}

static void
print_diags(const struct diags *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		printf("  # %s: %s [%s]\n", d->v[i].file, d->v[i].message,
		    d->v[i].rule);
}

static void
test_config(void)
{
	struct config cfg;
	struct diags d;
	char drives[64];
	int rc;

	/* defaults */
	config_defaults(&cfg);
	result(cfg.backend == BACKEND_BITS && cfg.state_dir != NULL &&
	    strstr(cfg.state_dir, "\\bitsync") != NULL &&
	    cfg.max_parallel == 4 && cfg.interval == 900,
	    "config defaults (bits backend, %ProgramData%\\bitsync)",
	    "backend %d state_dir %s", cfg.backend, cfg.state_dir);

	/* a good configuration, every value type */
	reg_clear();
	reg_sz(L"agent", L"manifest_dir", REG_EXPAND_SZ,
	    L"%ProgramData%\\bitsync\\drop");
	reg_sz(L"agent", L"interval", REG_SZ, L"5m");
	reg_dword(L"agent", L"splay", 30);
	reg_sz(L"agent", L"log_level", REG_SZ, L"Debug");
	reg_sz(L"agent", L"allow_drives", REG_MULTI_SZ, L"C\0d:\0");
	reg_sz(L"agent", L"allow_roots", REG_SZ,
	    L"%ProgramData%\\Contoso, D:\\data\\");
	reg_dword(L"engine", L"max_parallel", 8);
	reg_sz(L"engine", L"rate_limit", REG_SZ, L"10M");
	reg_sz(L"agent", L"bits_tolerate_unimplemented", REG_MULTI_SZ,
	    L"SetProxySettings\0");
	diags_init(&d);
	rc = config_load(&cfg, "HKCU\\Software\\bitsync-test", 1, &d);
	config_format_drives(cfg.allow_drives, drives, sizeof(drives));
	result(rc == 0 && d.n == 0 && cfg.interval == 300 &&
	    cfg.splay == 30 && cfg.log_level == LOG_LEVEL_DEBUG &&
	    strcmp(drives, "C,D") == 0 && cfg.nallow_roots == 2 &&
	    strcmp(cfg.allow_roots[1], "D:\\data") == 0 &&
	    strstr(cfg.allow_roots[0], "\\Contoso") != NULL &&
	    cfg.allow_roots[0][1] == ':' && cfg.max_parallel == 8 &&
	    cfg.rate_limit == 10u << 20 && cfg.manifest_dir != NULL &&
	    strstr(cfg.manifest_dir, "bitsync\\drop") != NULL &&
	    cfg.bits_tolerate == CONFIG_TOLERATE_SET_PROXY_SETTINGS,
	    "config from the registry (REG_SZ, REG_EXPAND_SZ, REG_DWORD, "
	    "REG_MULTI_SZ)", "rc %d, %zu diagnostics, interval %llu, "
	    "drives %s, roots %zu, max_parallel %u, manifest_dir %s", rc,
	    d.n, (unsigned long long)cfg.interval, drives, cfg.nallow_roots,
	    cfg.max_parallel, cfg.manifest_dir ? cfg.manifest_dir : "-");
	print_diags(&d);
	diags_free(&d);
	config_free(&cfg);

	/* bad values name the registry value; the config stays default */
	reg_clear();
	reg_sz(L"agent", L"interval", REG_SZ, L"15 minutes");
	reg_dword(L"engine", L"max_parallel", 0);
	reg_sz(L"engine", L"max_paralel", REG_SZ, L"4");
	reg_sz(L"agent", L"state_dir", REG_SZ, L"bitsync\\state");
	reg_sz(L"agnet", L"x", REG_SZ, L"1");
	reg_sz(L"", L"interval", REG_SZ, L"5m");
	reg_dword(L"agent", L"log_level", 3);
	diags_init(&d);
	rc = config_load(&cfg, "HKCU\\Software\\bitsync-test", 1, &d);
	print_diags(&d);
	result(rc == -1 && cfg.interval == 900, "a bad config is refused "
	    "whole", "rc %d interval %llu", rc,
	    (unsigned long long)cfg.interval);
	result(has_diag(&d, "bitsync-test\\agent\\interval", "not a duration"),
	    "bad duration names the registry value", "missing");
	result(has_diag(&d, "bitsync-test\\engine\\max_parallel",
	    "from 1 to 64"), "out-of-range REG_DWORD", "missing");
	result(has_diag(&d, "engine\\max_paralel", "did you mean 'max_parallel'"),
	    "unknown value with a suggestion", "missing");
	result(has_diag(&d, "agent\\state_dir", "not an absolute path"),
	    "relative path refused", "missing");
	result(has_diag(&d, "bitsync-test\\agnet", "did you mean 'agent'"),
	    "unknown subkey with a suggestion", "missing");
	result(has_diag(&d, "bitsync-test\\interval", "agent subkey"),
	    "value outside a section subkey", "missing");
	result(has_diag(&d, "agent\\log_level", "wrong registry type"),
	    "wrong registry type", "missing");
	result(d.n == 7 && d.errors == 7, "one diagnostic per problem",
	    "%zu diagnostics", d.n);
	diags_free(&d);
	config_free(&cfg);

	/* splay > interval */
	reg_clear();
	reg_sz(L"agent", L"interval", REG_SZ, L"1m");
	reg_sz(L"agent", L"splay", REG_SZ, L"2m");
	diags_init(&d);
	rc = config_load(&cfg, "HKCU\\Software\\bitsync-test", 1, &d);
	result(rc == -1 && d.n == 1 && strstr(d.v[0].message, "splay"),
	    "splay longer than interval refused", "rc %d n %zu", rc, d.n);
	diags_free(&d);
	config_free(&cfg);

	/* -c with a file path: refused with the registry's names */
	diags_init(&d);
	rc = config_load(&cfg, "C:\\bitsync.ini", 0, &d);
	result(rc == -1 && d.n == 1 && strstr(d.v[0].message,
	    "HKLM\\SOFTWARE\\Policies\\bitsync"), "an INI path on Windows "
	    "is refused with where the settings live", "rc %d", rc);
	diags_free(&d);
	config_free(&cfg);

	/* bits_tolerate_unimplemented: an unknown call is refused with a
	 * suggestion; under the Group Policy key it is refused outright (a
	 * test-host setting must not reach a fleet) */
	reg_clear();
	reg_sz(L"agent", L"bits_tolerate_unimplemented", REG_SZ,
	    L"SetProxySetting");
	diags_init(&d);
	rc = config_load(&cfg, "HKCU\\Software\\bitsync-test", 1, &d);
	print_diags(&d);
	result(rc == -1 && d.n == 1 && has_diag(&d,
	    "agent\\bits_tolerate_unimplemented",
	    "did you mean 'SetProxySettings'"), "bits_tolerate_unimplemented: "
	    "an unknown call is refused", "rc %d n %zu", rc, d.n);
	diags_free(&d);
	config_free(&cfg);
	{
		HKEY k;
		static const wchar_t v[] = L"SetProxySettings";

		RegCreateKeyExW(HKEY_LOCAL_MACHINE,
		    L"SOFTWARE\\Policies\\bitsync\\agent", 0, NULL, 0,
		    KEY_ALL_ACCESS, NULL, &k, NULL);
		RegSetValueExW(k, L"bits_tolerate_unimplemented", 0, REG_SZ,
		    (const BYTE *)v, sizeof(v));
		RegCloseKey(k);
		diags_init(&d);
		rc = config_load(&cfg, CONFIG_DEFAULT_PATH, 1, &d);
		print_diags(&d);
		result(rc == -1 && d.n == 1 && has_diag(&d, "Policies\\bitsync"
		    "\\agent\\bits_tolerate_unimplemented", "not a Group "
		    "Policy"), "bits_tolerate_unimplemented under the Policies "
		    "key is refused", "rc %d n %zu", rc, d.n);
		diags_free(&d);
		config_free(&cfg);
		RegDeleteTreeW(HKEY_LOCAL_MACHINE,
		    L"SOFTWARE\\Policies\\bitsync");
	}

	/* BITS's bandwidth policy and job limits are BITS's own on Windows:
	 * bitsync's keys for them are refused with a sentence naming the
	 * policy, and the job limits are read from BITS's policy values */
	reg_clear();
	reg_sz(L"engine", L"rate_schedule", REG_SZ,
	    L"Mon-Fri 08:00-18:00 2M");
	reg_dword(L"engine", L"max_files_per_job", 50);
	diags_init(&d);
	rc = config_load(&cfg, "HKCU\\Software\\bitsync-test", 1, &d);
	print_diags(&d);
	result(rc == -1 && d.n == 2 && has_diag(&d, "engine\\rate_schedule",
	    "Limit the maximum network bandwidth for BITS background "
	    "transfers") && has_diag(&d, "engine\\max_files_per_job",
	    "Windows\\BITS\\MaxFilesPerJob"), "rate_schedule and "
	    "max_files_per_job refused, pointing to BITS's own policy",
	    "rc %d n %zu", rc, d.n);
	diags_free(&d);
	config_free(&cfg);
	reg_clear();
	{
		HKEY k;
		DWORD files = 7, jobs = 9;

		RegCreateKeyExW(HKEY_LOCAL_MACHINE,
		    L"SOFTWARE\\Policies\\Microsoft\\Windows\\BITS", 0, NULL,
		    0, KEY_ALL_ACCESS, NULL, &k, NULL);
		RegSetValueExW(k, L"MaxFilesPerJob", 0, REG_DWORD,
		    (const BYTE *)&files, sizeof(files));
		RegSetValueExW(k, L"MaxJobsPerMachine", 0, REG_DWORD,
		    (const BYTE *)&jobs, sizeof(jobs));
		RegCloseKey(k);
		diags_init(&d);
		rc = config_load(&cfg, "HKCU\\Software\\bitsync-test", 1, &d);
		result(rc == 0 && cfg.max_files_per_job == 7 &&
		    cfg.max_jobs == 9, "MaxFilesPerJob and MaxJobsPerMachine "
		    "read from BITS's policy key", "rc %d files %u jobs %u",
		    rc, cfg.max_files_per_job, cfg.max_jobs);
		diags_free(&d);
		config_free(&cfg);
		RegDeleteTreeW(HKEY_LOCAL_MACHINE,
		    L"SOFTWARE\\Policies\\Microsoft\\Windows\\BITS");
		diags_init(&d);
		rc = config_load(&cfg, "HKCU\\Software\\bitsync-test", 1, &d);
		result(rc == 0 && cfg.max_files_per_job == 200 &&
		    cfg.max_jobs == 300, "without BITS's policy values: its "
		    "defaults 200 and 300", "rc %d files %u jobs %u", rc,
		    cfg.max_files_per_job, cfg.max_jobs);
		diags_free(&d);
		config_free(&cfg);
	}

	/* the default keys, absent here: defaults, no error */
	diags_init(&d);
	rc = config_load(&cfg, CONFIG_DEFAULT_PATH, 1, &d);
	result(rc == 0 && d.n == 0 && cfg.backend == BACKEND_BITS,
	    "no registry keys: defaults", "rc %d n %zu", rc, d.n);
	diags_free(&d);
	config_free(&cfg);
	reg_clear();
}

static void
touch(const char *dir, const char *name)
{
	char *p = platform_join(dir, name);
	wchar_t *w = win_widen(p);
	HANDLE h = CreateFileW(w, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0,
	    NULL);

	CloseHandle(h);
	free(w);
	free(p);
}

static void
test_platform(const char *work)
{
	char *dir = platform_join(work, "drop.d"), *sub;
	wchar_t *w = win_widen(dir);
	char **names;
	size_t n, i;
	enum platform_kind kind;
	int rc;

	CreateDirectoryW(w, NULL);
	free(w);
	touch(dir, "b.yaml");
	touch(dir, "a.yml");
	touch(dir, "C.YAML");
	touch(dir, "notes.txt");
	touch(dir, "x.yaml.bak");
	sub = platform_join(dir, "d.yaml");
	w = win_widen(sub);
	CreateDirectoryW(w, NULL);	/* a directory is not a manifest */
	free(w);
	rc = platform_list_manifests(dir, &names, &n);
	result(rc == 0 && n == 3 && strcmp(names[0], "C.YAML") == 0 &&
	    strcmp(names[1], "a.yml") == 0 && strcmp(names[2], "b.yaml") == 0,
	    "drop-in listing: *.yaml and *.yml files in byte order",
	    "rc %d n %zu", rc, n);
	for (i = 0; rc == 0 && i < n; i++)
		printf("  # %s\n", names[i]);
	if (rc == 0)
		platform_free_names(names, n);
	result(platform_path_kind(dir, &kind) == 0 && kind == PLATFORM_KIND_DIR,
	    "path kind: directory", "kind %d", kind);
	free(sub);
	sub = platform_join(dir, "b.yaml");
	result(platform_path_kind(sub, &kind) == 0 &&
	    kind == PLATFORM_KIND_FILE, "path kind: file", "kind %d", kind);
	free(sub);
	sub = platform_join(dir, "nope.yaml");
	result(platform_path_kind(sub, &kind) == 0 &&
	    kind == PLATFORM_KIND_MISSING, "path kind: missing", "kind %d",
	    kind);
	free(sub);
	sub = platform_join("C:\\dir\\", "x");
	result(strcmp(sub, "C:\\dir\\x") == 0, "join", "%s", sub);
	free(sub);
	free(dir);
}

/* Gives path a DACL of exactly the SDDL given. */
static int
set_sddl(const char *path, const wchar_t *sddl)
{
	PSECURITY_DESCRIPTOR sd;
	PACL dacl = NULL;
	PSID owner = NULL;
	BOOL present, def;
	wchar_t *w = win_widen(path);
	DWORD e;

	if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl,
	    SDDL_REVISION_1, &sd, NULL))
		return -1;
	GetSecurityDescriptorDacl(sd, &present, &dacl, &def);
	GetSecurityDescriptorOwner(sd, &owner, &def);
	e = SetNamedSecurityInfoW(w, SE_FILE_OBJECT,
	    DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION |
	    (owner ? OWNER_SECURITY_INFORMATION : 0), owner, NULL, dacl, NULL);
	LocalFree(sd);
	free(w);
	return e == ERROR_SUCCESS ? 0 : -1;
}

static void
test_perm(const char *work)
{
	char *f = platform_join(work, "perm.yaml");
	struct diags d;
	int rc;

	touch(work, "perm.yaml");
	/* Everyone may write: refused, naming Everyone and icacls */
	if (set_sddl(f, L"O:BAD:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FRFW;;;WD)")
	    != 0) {
		result(0, "perm: set a DACL", "SetNamedSecurityInfo failed");
		free(f);
		return;
	}
	diags_init(&d);
	rc = perm_check(f, DIAG_ERROR, &d);
	print_diags(&d);
	result(rc == -1 && d.n >= 1 &&
	    strcmp(d.v[0].rule, "file-permissions") == 0 &&
	    strstr(d.v[0].message, "S-1-1-0") != NULL &&
	    strstr(d.v[0].message, "icacls") != NULL,
	    "perm: a file Everyone may write is refused",
	    "rc %d, %zu diagnostics", rc, d.n);
	diags_free(&d);
	/* only SYSTEM and Administrators: the file itself passes (the
	 * directories above it under Wine's Z: drive may still be refused,
	 * so only the diagnostic's subject is checked) */
	set_sddl(f, L"O:BAD:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FR;;;BU)");
	diags_init(&d);
	rc = perm_check(f, DIAG_ERROR, &d);
	print_diags(&d);
	result(rc == 0 || (d.n == 1 && strstr(d.v[0].message, "perm.yaml") ==
	    NULL), "perm: a file only SYSTEM and Administrators may write "
	    "passes", "rc %d", rc);
	diags_free(&d);
	free(f);
}

static void
test_checks(const char *work)
{
	const char *kind = NULL;
	char *where = NULL, *p, *link, *target;
	wchar_t *wl, *wt;
	int rc;

	rc = win_drive_is_fixed('c', &kind);
	result(rc == 1 && strcmp(kind, "fixed") == 0, "C: is a fixed volume",
	    "%d %s", rc, kind);
	rc = win_drive_is_fixed('Q', &kind);
	result(rc == 0 && strcmp(kind, "not present") == 0,
	    "an absent drive is not fixed", "%d %s", rc, kind);
	p = platform_join(work, "dest\\sub\\file.bin");
	rc = win_path_reparse(p, &where);
	result(rc == 0 && where == NULL, "no reparse point on a plain path "
	    "(missing parts are fine)", "%d %s", rc, where ? where : "-");
	free(where);
	free(p);
	target = platform_join(work, "elsewhere");
	link = platform_join(work, "planted");
	wt = win_widen(target);
	wl = win_widen(link);
	CreateDirectoryW(wt, NULL);
	/* Wine 8's CreateSymbolicLinkW answers TRUE and creates nothing. */
	if (CreateSymbolicLinkW(wl, wt, SYMBOLIC_LINK_FLAG_DIRECTORY) &&
	    GetFileAttributesW(wl) != INVALID_FILE_ATTRIBUTES) {
		p = platform_join(link, "file.bin");
		rc = win_path_reparse(p, &where);
		result(rc == 1 && where != NULL && strstr(where, "planted"),
		    "a planted directory symlink is found", "%d %s", rc,
		    where ? where : "-");
		free(where);
		free(p);
	} else
		printf("  # this host cannot create a symbolic link "
		    "(CreateSymbolicLinkW): reparse point detection is not "
		    "exercised here\n");
	free(wt);
	free(wl);
	free(target);
	free(link);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: win_drive WORKDIR\n");
		return 64;
	}
	test_config();
	test_platform(argv[1]);
	test_perm(argv[1]);
	test_checks(argv[1]);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
