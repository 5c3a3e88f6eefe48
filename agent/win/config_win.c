/* config_win.c - config.h for Windows: the agent configuration from the
 * registry (design §6), as Windows administrators expect.
 *
 *   HKLM\SOFTWARE\bitsync\<section>\<key>            local settings
 *   HKLM\SOFTWARE\Policies\bitsync\<section>\<key>   Group Policy; wins
 *
 * The names are the INI keys, the section names ([agent], [engine]) are
 * subkeys.  Values are REG_SZ or REG_EXPAND_SZ (expanded) in the INI
 * syntax; numbers (max_parallel, smb_port, rate_limit) may also be
 * REG_DWORD, durations a REG_DWORD of seconds, and allow_drives /
 * allow_roots / bits_tolerate_unimplemented a REG_MULTI_SZ (one entry per
 * string).  bits_tolerate_unimplemented, a setting for test hosts, is read
 * from the local key only: under the Policies key it is an error.  As with
 * the INI file, reading is all or nothing: an unknown subkey or value, a
 * value of the wrong type or a bad value is an error naming the registry
 * value (HKLM\SOFTWARE\Policies\bitsync\engine\max_parallel), and any
 * error leaves the defaults in place.
 *
 * The keys, their value checks and the rules between them are the INI
 * reader's too (config_keys.c); this file is what is registry about the
 * config: the two roots, subkeys for sections, value types, case-insensitive
 * names, and Windows paths.
 *
 * Paths are Windows paths: absolute with a drive ("C:\..."), UNC
 * ("\\server\share\..."), or starting with an environment variable that
 * expands to one ("%ProgramData%\bitsync").
 *
 * config_load's path: NULL or CONFIG_DEFAULT_PATH reads the two keys
 * above; "HKLM\..." or "HKCU\..." reads that one key instead (tests, and
 * agents run from another root); anything else is refused. */
#include <windows.h>

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_keys.h"
#include "util.h"
#include "win/winutil.h"

#define RULE_CONFIG	"config"
#define RULE_IO		"io-error"

/* Registry names are case-insensitive, as Windows administrators expect. */
#define ICASE	1

/* "%ProgramData%\bitsync<suffix>", expanded once into static storage. */
static char *
program_data(char *buf, size_t len, const char *suffix)
{
	wchar_t w[MAX_PATH];
	char *s;

	if (buf[0] != 0)
		return buf;
	if (GetEnvironmentVariableW(L"ProgramData", w, MAX_PATH) == 0)
		wcscpy(w, L"C:\\ProgramData");
	s = win_narrow(w);
	snprintf(buf, len, "%s\\bitsync%s", s, suffix);
	free(s);
	return buf;
}

void
config_defaults(struct config *cfg)
{
	static char manifest[MAX_PATH + 32], dir[MAX_PATH + 32],
	    state[MAX_PATH + 32], cred[MAX_PATH + 32], status[MAX_PATH + 32];

	ckeys_defaults(cfg);
	cfg->manifest = program_data(manifest, sizeof(manifest),
	    "\\manifest.yaml");
	cfg->manifest_dir = program_data(dir, sizeof(dir), "\\manifest.d");
	cfg->state_dir = program_data(state, sizeof(state), "");
	cfg->backend = BACKEND_BITS;
	cfg->credential_dir = program_data(cred, sizeof(cred),
	    "\\credentials");
	cfg->status_file = program_data(status, sizeof(status),
	    "\\status.json");
}

/* ---- reading ------------------------------------------------------------ */

static void
rerr(struct cset *cs, const char *where, const char *fmt, ...)
    __attribute__((format(gnu_printf, 3, 4)));

static void
rerr(struct cset *cs, const char *where, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(cs->d, where, 0, 0, DIAG_ERROR, RULE_CONFIG, fmt, ap);
	va_end(ap);
	cs->errors++;
}

static int
is_sep(char c)
{
	return c == '\\' || c == '/';
}

/* Absolute for a service: a drive path or a UNC path (after expanding). */
static int
win_absolute(const char *s)
{
	if (s[0] == '\\' && s[1] == '\\' && s[2] != 0 && !is_sep(s[2]))
		return 1;
	return isalpha((unsigned char)s[0]) && s[1] == ':' && is_sep(s[2]);
}

static char *
expand(const char *s)
{
	wchar_t *w = win_widen(s), *x;
	DWORD n;
	char *r;

	if (w == NULL)
		return xstrdup(s);
	n = ExpandEnvironmentStringsW(w, NULL, 0);
	x = xcalloc(n + 1, sizeof(wchar_t));
	ExpandEnvironmentStringsW(w, x, n + 1);
	r = win_narrow(x);
	free(w);
	free(x);
	return r;
}

static const struct csyntax reg_syntax = {
	.windows = 1,
	.expand = expand,
	.path_absolute = win_absolute,
	.root_absolute = win_absolute,
	.path_hint = "write one with a drive, a UNC path or a folder variable",
	.root_hint = "write a known folder (%ProgramData%\\Contoso), a drive "
	    "path (D:\\data) or a UNC path (\\\\server\\share)",
	.example_line = 0,
};

static void
unknown_value(struct cset *st, const char *where, const char *section,
    const char *name)
{
	const char *cand[CKEYS_MAX], *best;
	size_t i, n = 0;

	for (i = 0; i < config_nkeys; i++)
		if (_stricmp(config_keys[i].name, name) == 0) {
			rerr(st, where, "'%s' belongs under the %s subkey, not "
			    "%s; move the value there", name,
			    config_keys[i].section, section);
			return;
		}
	for (i = 0; i < config_nkeys; i++)
		if (strcmp(config_keys[i].section, section) == 0)
			cand[n++] = config_keys[i].name;
	best = util_closest(name, cand, n);
	if (best != NULL)
		rerr(st, where, "unknown value '%s' under %s; did you mean "
		    "'%s'?", name, section, best);
	else
		rerr(st, where, "unknown value '%s' under %s; delete it",
		    name, section);
}

/* The value as INI text, or NULL (error reported) for a wrong type. */
static char *
value_text(struct cset *st, const struct ckey *k, const char *where,
    DWORD type, const BYTE *data, DWORD len)
{
	wchar_t *w;
	char *s;

	switch (type) {
	case REG_SZ:
	case REG_EXPAND_SZ:
	case REG_MULTI_SZ:
		w = xcalloc(len / sizeof(wchar_t) + 2, sizeof(wchar_t));
		memcpy(w, data, len);
		if (type == REG_MULTI_SZ) {
			size_t i, n = len / sizeof(wchar_t);

			if (k->kind != CK_DRIVES && k->kind != CK_ROOTS &&
			    k->kind != CK_CALLS) {
				free(w);
				break;
			}
			/* "a\0b\0\0" -> "a,b" */
			while (n > 0 && w[n - 1] == 0)
				n--;
			for (i = 0; i < n; i++)
				if (w[i] == 0)
					w[i] = L',';
			w[n] = 0;
		}
		s = win_narrow(w);
		free(w);
		if (type == REG_EXPAND_SZ && k->kind != CK_PATH &&
		    k->kind != CK_ROOTS) {
			char *x = expand(s);

			free(s);
			s = x;
		}
		return s;
	case REG_DWORD:
		if (len != sizeof(DWORD))
			break;
		if (k->kind == CK_UINT || k->kind == CK_RATE ||
		    k->kind == CK_BOOL)
			return xasprintf("%lu", (unsigned long)*(const DWORD *)
			    (const void *)data);
		if (k->kind == CK_DURATION)
			return xasprintf("%lus", (unsigned long)*(const DWORD *)
			    (const void *)data);
		break;
	default:
		break;
	}
	rerr(st, where, "%s has the wrong registry type; write it as a "
	    "REG_SZ%s, e.g. %s", k->name, k->kind == CK_UINT ||
	    k->kind == CK_RATE || k->kind == CK_DURATION ||
	    k->kind == CK_BOOL ? " or REG_DWORD" :
	    k->kind == CK_DRIVES || k->kind == CK_ROOTS ||
	    k->kind == CK_CALLS ? " or REG_MULTI_SZ" :
	    "", ckeys_example(st, k));
	return NULL;
}

static void
read_section(struct cset *st, HKEY key, const char *keyname,
    const char *section, int policy)
{
	wchar_t name[256];
	BYTE *data = NULL;
	DWORD i, nl, dl, type, cap = 0;
	LONG r;

	for (i = 0;; i++) {
		char *n8, *where, *text;
		const struct ckey *k;

		nl = 256;
		dl = 0;
		r = RegEnumValueW(key, i, name, &nl, NULL, &type, NULL, &dl);
		if (r == ERROR_NO_MORE_ITEMS)
			break;
		if (r != ERROR_SUCCESS && r != ERROR_MORE_DATA) {
			rerr(st, keyname, "cannot read the values of the key");
			break;
		}
		if (dl + 4 > cap) {
			cap = dl + 4;
			data = xrealloc(data, cap);
		}
		nl = 256;
		dl = cap;
		if (RegEnumValueW(key, i, name, &nl, NULL, &type, data,
		    &dl) != ERROR_SUCCESS)
			continue;
		n8 = win_narrow(name);
		where = xasprintf("%s\\%s", keyname, n8);
		k = ckeys_find(section, n8, ICASE);
		if (k == NULL)
			unknown_value(st, where, section, n8);
		else if (policy && (k->flags & CF_LOCAL_ONLY))
			/* A test-host setting must not reach a fleet. */
			rerr(st, where, "%s is a setting for test hosts, not a "
			    "Group Policy; delete it here (on a test host, set "
			    "it under HKLM\\SOFTWARE\\bitsync\\%s)", k->name,
			    k->section);
		else if ((text = value_text(st, k, where, type, data, dl)) !=
		    NULL) {
			ckeys_set(st, k, where, 0, text, 0);
			free(text);
		}
		free(where);
		free(n8);
	}
	free(data);
}

/* Reads one root key (e.g. HKLM\SOFTWARE\bitsync).  A missing key is
 * fine: it sets nothing. */
static void
read_root(struct cset *st, HKEY hive, const wchar_t *path,
    const char *keyname, int policy)
{
	HKEY root, sub;
	wchar_t name[256];
	DWORD i, nl, nvalues = 0;
	LONG r;

	r = RegOpenKeyExW(hive, path, 0, KEY_READ | KEY_WOW64_64KEY, &root);
	if (r == ERROR_FILE_NOT_FOUND)
		return;
	if (r != ERROR_SUCCESS) {
		char t[300];

		win_strerror((unsigned long)r, t, sizeof(t));
		diag_add(st->d, keyname, 0, 0, DIAG_ERROR, RULE_IO, "cannot "
		    "open the registry key: %s", t);
		st->errors++;
		return;
	}
	RegQueryInfoKeyW(root, NULL, NULL, NULL, NULL, NULL, NULL, &nvalues,
	    NULL, NULL, NULL, NULL);
	for (i = 0; i < nvalues; i++) {
		char *n8, *where;
		const struct ckey *k;

		nl = 256;
		if (RegEnumValueW(root, i, name, &nl, NULL, NULL, NULL,
		    NULL) != ERROR_SUCCESS)
			continue;
		n8 = win_narrow(name);
		where = xasprintf("%s\\%s", keyname, n8[0] ? n8 : "(Default)");
		k = ckeys_find("agent", n8, ICASE);
		if (k == NULL)
			k = ckeys_find("engine", n8, ICASE);
		if (k != NULL)
			rerr(st, where, "'%s' must be under the %s subkey "
			    "(%s\\%s\\%s)", n8, k->section, keyname,
			    k->section, n8);
		else
			rerr(st, where, "values go under the agent and engine "
			    "subkeys; delete this one");
		free(where);
		free(n8);
	}
	for (i = 0;; i++) {
		char *n8, *where;
		const char *sec = NULL;
		size_t s;

		nl = 256;
		r = RegEnumKeyExW(root, i, name, &nl, NULL, NULL, NULL, NULL);
		if (r != ERROR_SUCCESS)
			break;
		n8 = win_narrow(name);
		where = xasprintf("%s\\%s", keyname, n8);
		for (s = 0; s < config_nsections; s++)
			if (_stricmp(n8, config_sections[s]) == 0)
				sec = config_sections[s];
		if (sec == NULL) {
			const char *best = util_closest(n8, config_sections,
			    config_nsections);

			rerr(st, where, "unknown subkey '%s'; the subkeys are "
			    "agent and engine%s%s%s", n8,
			    best ? " (did you mean '" : "", best ? best : "",
			    best ? "'?)" : "");
		} else if (RegOpenKeyExW(root, name, 0, KEY_READ |
		    KEY_WOW64_64KEY, &sub) == ERROR_SUCCESS) {
			read_section(st, sub, where, sec, policy);
			RegCloseKey(sub);
		}
		free(where);
		free(n8);
	}
	RegCloseKey(root);
}

int
config_load(struct config *cfg, const char *path, int missing_ok,
    struct diags *d)
{
	struct cset st;
	HKEY hive = NULL;
	wchar_t *wsub = NULL;
	const char *sub = NULL, *name;

	(void)missing_ok;		/* a missing key sets nothing */
	config_defaults(cfg);
	if (path != NULL && strcmp(path, CONFIG_DEFAULT_PATH) != 0) {
		if (_strnicmp(path, "HKLM\\", 5) == 0)
			hive = HKEY_LOCAL_MACHINE;
		else if (_strnicmp(path, "HKCU\\", 5) == 0)
			hive = HKEY_CURRENT_USER;
		if (hive == NULL || path[5] == 0) {
			diag_add(d, path, 0, 0, DIAG_ERROR, RULE_CONFIG, "on "
			    "Windows the agent configuration is read from the "
			    "registry (HKLM\\SOFTWARE\\bitsync and "
			    "HKLM\\SOFTWARE\\Policies\\bitsync); -c takes a "
			    "registry key such as HKLM\\SOFTWARE\\bitsync-test");
			return -1;
		}
		sub = path + 5;
	}
	ckeys_begin(&st, cfg, d, &reg_syntax);
	if (sub != NULL) {
		wsub = win_widen(sub);
		read_root(&st, hive, wsub, path, 0);
		free(wsub);
	} else {
		/* The policy's values are read last, so they win. */
		read_root(&st, HKEY_LOCAL_MACHINE, L"SOFTWARE\\bitsync",
		    "HKLM\\SOFTWARE\\bitsync", 0);
		read_root(&st, HKEY_LOCAL_MACHINE,
		    L"SOFTWARE\\Policies\\bitsync",
		    "HKLM\\SOFTWARE\\Policies\\bitsync", 1);
	}
	if (ckeys_finish(&st, sub != NULL ? path :
	    "HKLM\\SOFTWARE\\bitsync\\agent") == -1)
		return -1;
	name = sub != NULL ? path : "HKLM\\SOFTWARE\\bitsync";
	cfg->path = config_strndup(cfg, name, strlen(name));
	return 0;
}
