/* perm_win.c - perm.h for Windows: the StrictModes check of design §7 on
 * DACLs.  A manifest, drop-in or config file, and every directory above
 * it, must be writable by no one but SYSTEM, Administrators,
 * TrustedInstaller and the agent's own account:
 *  - a NULL DACL (everyone has full control) is refused;
 *  - an owner outside that set is refused (an owner may rewrite the DACL);
 *  - an allow ACE that grants another SID write, append, delete, delete
 *    child, WRITE_DAC, WRITE_OWNER, GENERIC_WRITE or GENERIC_ALL is refused
 *    (inherit-only ACEs do not apply to the object itself and are skipped;
 *    deny ACEs are not credited, so the check errs on the side of refusal).
 * The diagnostic names the object, the account, and an icacls command that
 * fixes it. */
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

#include <stdlib.h>
#include <string.h>

#include "perm.h"
#include "util.h"
#include "win/wincheck.h"
#include "win/winutil.h"

#define RULE_PERM	"file-permissions"
#define RULE_IO		"io-error"

#define WRITE_BITS	(FILE_WRITE_DATA | FILE_APPEND_DATA | WRITE_DAC | \
			 WRITE_OWNER | DELETE | GENERIC_WRITE | GENERIC_ALL)
#define DIR_WRITE_BITS	(WRITE_BITS | FILE_DELETE_CHILD)

struct trusted {
	PSID sid[5];
	int n;
	PTOKEN_USER self;
};

static void
trusted_init(struct trusted *t)
{
	static const WELL_KNOWN_SID_TYPE kinds[] = { WinLocalSystemSid,
		WinBuiltinAdministratorsSid };
	DWORD len;
	HANDLE tok;
	size_t i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		len = SECURITY_MAX_SID_SIZE;
		t->sid[t->n] = xmalloc(len);
		if (CreateWellKnownSid(kinds[i], NULL, t->sid[t->n], &len))
			t->n++;
		else
			free(t->sid[t->n]);
	}
	/* NT SERVICE\TrustedInstaller owns much of a Windows installation. */
	if (ConvertStringSidToSidW(L"S-1-5-80-956008885-3418522649-"
	    L"1831038044-1853292631-2271478464", &t->sid[t->n]))
		t->n++;
	if (OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok)) {
		len = 0;
		GetTokenInformation(tok, TokenUser, NULL, 0, &len);
		if (len > 0) {
			t->self = xmalloc(len);
			if (!GetTokenInformation(tok, TokenUser, t->self, len,
			    &len)) {
				free(t->self);
				t->self = NULL;
			}
		}
		CloseHandle(tok);
	}
}

static void
trusted_free(struct trusted *t)
{
	int i;

	/* The TrustedInstaller SID came from LocalAlloc. */
	for (i = 0; i < t->n; i++) {
		if (i == t->n - 1 && !IsWellKnownSid(t->sid[i],
		    WinLocalSystemSid) && !IsWellKnownSid(t->sid[i],
		    WinBuiltinAdministratorsSid))
			LocalFree(t->sid[i]);
		else
			free(t->sid[i]);
	}
	free(t->self);
}

static int
is_trusted(const struct trusted *t, PSID sid)
{
	int i;

	for (i = 0; i < t->n; i++)
		if (EqualSid(t->sid[i], sid))
			return 1;
	return t->self != NULL && EqualSid(t->self->User.Sid, sid);
}

/* "DOMAIN\name (S-1-...)", or the SID string alone. */
static char *
sid_name(PSID sid)
{
	wchar_t name[256], dom[256];
	DWORD nl = 256, dl = 256;
	SID_NAME_USE use;
	LPWSTR ws = NULL;
	char *s = NULL, *n = NULL, *d = NULL, *out;

	if (ConvertSidToStringSidW(sid, &ws)) {
		s = win_narrow(ws);
		LocalFree(ws);
	}
	if (LookupAccountSidW(NULL, sid, name, &nl, dom, &dl, &use)) {
		n = win_narrow(name);
		d = win_narrow(dom);
		out = d[0] ? xasprintf("%s\\%s (%s)", d, n, s ? s : "?") :
		    xasprintf("%s (%s)", n, s ? s : "?");
	} else
		out = xstrdup(s ? s : "an unknown account");
	free(s);
	free(n);
	free(d);
	return out;
}

static char *
fix_command(const char *path, int dir)
{
	return xasprintf("icacls \"%s\" /setowner *S-1-5-32-544 && icacls "
	    "\"%s\" /inheritance:r /grant:r *S-1-5-32-544:%sF "
	    "*S-1-5-18:%sF", path, path, dir ? "(OI)(CI)" : "",
	    dir ? "(OI)(CI)" : "");
}

/* The verdict on one object's owner and DACL: what[0] stays 0 when safe,
 * otherwise what says who may change it. */
static void
judge_sd(const struct trusted *t, PSID owner, PACL dacl, int dir,
    const char *p, char *what, size_t whatlen)
{
	DWORD mask;
	char *who = NULL;
	WORD i;

	mask = dir ? DIR_WRITE_BITS : WRITE_BITS;
	what[0] = 0;
	if (dacl == NULL) {
		snprintf(what, whatlen, "%s %s has no DACL, so everyone "
		    "may write it", dir ? "directory" : "file", p);
	} else if (owner != NULL && !is_trusted(t, owner)) {
		who = sid_name(owner);
		snprintf(what, whatlen, "%s %s is owned by %s, who may "
		    "change its permissions", dir ? "directory" : "file", p,
		    who);
	} else {
		for (i = 0; i < dacl->AceCount && what[0] == 0; i++) {
			ACE_HEADER *h;
			ACCESS_ALLOWED_ACE *a;

			if (!GetAce(dacl, i, (void **)&h))
				continue;
			if (h->AceType != ACCESS_ALLOWED_ACE_TYPE ||
			    (h->AceFlags & INHERIT_ONLY_ACE))
				continue;
			a = (ACCESS_ALLOWED_ACE *)h;
			if ((a->Mask & mask) == 0 ||
			    is_trusted(t, (PSID)&a->SidStart))
				continue;
			who = sid_name((PSID)&a->SidStart);
			snprintf(what, whatlen, "%s %s may be written by "
			    "%s (access mask 0x%08lX)", dir ? "directory" :
			    "file", p, who, (unsigned long)a->Mask);
		}
	}
	free(who);
}

/* Checks one object.  0 safe, -1 refused (diagnostic added), -2 could not
 * be inspected (diagnostic added). */
static int
check_one(const struct trusted *t, const wchar_t *wp, const char *given,
    enum diag_severity sev, struct diags *d)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	PSID owner = NULL;
	PACL dacl = NULL;
	DWORD attrs, e;
	char *p = win_narrow(wp), *who = NULL, *fix, what[512];
	int dir, rc = 0;

	attrs = GetFileAttributesW(wp);
	dir = attrs != INVALID_FILE_ATTRIBUTES &&
	    (attrs & FILE_ATTRIBUTE_DIRECTORY);
	e = GetNamedSecurityInfoW(wp, SE_FILE_OBJECT,
	    OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION, &owner,
	    NULL, &dacl, NULL, &sd);
	if (e != ERROR_SUCCESS) {
		char t2[300];

		win_strerror(e, t2, sizeof(t2));
		diag_add(d, given, 0, 0, DIAG_ERROR, RULE_IO, "cannot read the "
		    "permissions of %s: %s", p, t2);
		free(p);
		return -2;
	}
	judge_sd(t, owner, dacl, dir, p, what, sizeof(what));
	if (what[0] != 0) {
		fix = fix_command(p, dir);
		diag_add(d, given, 0, 0, sev, RULE_PERM, "%s; only SYSTEM, "
		    "Administrators and the agent's own account may write "
		    "what steers the agent; run: %s", what, fix);
		free(fix);
		rc = -1;
	}
	free(who);
	free(p);
	LocalFree(sd);
	return rc;
}

int
perm_check(const char *path, enum diag_severity sev, struct diags *d)
{
	wchar_t *w = win_widen(path), *full;
	DWORD n;
	struct trusted t;
	int rc = 0, r;
	size_t len;

	if (w == NULL) {
		diag_add(d, path, 0, 0, DIAG_ERROR, RULE_IO, "the path is not "
		    "valid UTF-8");
		return -1;
	}
	n = GetFullPathNameW(w, 0, NULL, NULL);
	full = xcalloc(n + 1, sizeof(wchar_t));
	if (n == 0 || GetFullPathNameW(w, n + 1, full, NULL) == 0) {
		char t2[300];

		win_strerror(GetLastError(), t2, sizeof(t2));
		diag_add(d, path, 0, 0, DIAG_ERROR, RULE_IO, "cannot resolve "
		    "the path: %s", t2);
		free(w);
		free(full);
		return -1;
	}
	free(w);
	trusted_init(&t);
	/* The object, then each directory above it up to the root. */
	for (;;) {
		r = check_one(&t, full, path, sev, d);
		if (r != 0) {
			rc = -1;
			break;
		}
		len = wcslen(full);
		while (len > 0 && full[len - 1] != L'\\')
			len--;
		if (len <= 1)
			break;
		/* "C:\" is the last: keep its backslash. */
		if (len == 3 && full[1] == L':') {
			if (wcslen(full) == 3)
				break;
			full[3] = 0;
			continue;
		}
		/* "\\server\share\" is the last of a UNC path. */
		full[len - 1] = 0;
		if (full[0] == L'\\' && full[1] == L'\\') {
			size_t k, seps = 0;

			for (k = 2; full[k]; k++)
				seps += full[k] == L'\\';
			if (seps < 1)
				break;
		}
	}
	trusted_free(&t);
	free(full);
	return rc;
}

int
win_judge_handle(void *h, const char *path, int dir, char **why)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	PSID owner = NULL;
	PACL dacl = NULL;
	struct trusted t;
	char what[512], err[300], *fix;
	DWORD e;
	int rc = -2;

	*why = NULL;
	e = GetSecurityInfo((HANDLE)h, SE_FILE_OBJECT,
	    OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION, &owner,
	    NULL, &dacl, NULL, &sd);
	if (e != ERROR_SUCCESS) {
		win_strerror(e, err, sizeof(err));
		*why = xasprintf("cannot read the permissions of %s: %s", path,
		    err);
		goto out;
	}
	trusted_init(&t);
	what[0] = 0;
	judge_sd(&t, owner, dacl, dir, path, what, sizeof(what));
	trusted_free(&t);
	rc = 0;
	if (what[0] != 0) {
		fix = fix_command(path, dir);
		*why = xasprintf("%s; only SYSTEM, Administrators and the "
		    "agent's own account may write there, since the agent "
		    "writes through it as SYSTEM; run: %s", what, fix);
		free(fix);
		rc = -1;
	}
out:
	LocalFree(sd);
	return rc;
}
