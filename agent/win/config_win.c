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
 * allow_roots a REG_MULTI_SZ (one entry per string).  As with the INI file,
 * reading is all or nothing: an unknown subkey or value, a value of the
 * wrong type or a bad value is an error naming the registry value
 * (HKLM\SOFTWARE\Policies\bitsync\engine\max_parallel), and any error
 * leaves the defaults in place.
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
#include "util.h"
#include "win/winutil.h"

#define RULE_CONFIG	"config"
#define RULE_IO		"io-error"

enum ckind { CK_PATH, CK_DURATION, CK_UINT, CK_RATE, CK_BACKEND,
	CK_LOG_LEVEL, CK_DRIVES, CK_ROOTS };
#define CF_EMPTY_OFF	0x1

struct ckey {
	const char *section, *name;
	enum ckind kind;
	unsigned flags;
	uint64_t min, max;
	size_t off;
	const char *example;
};

#define DAY	(24 * 3600)

static const struct ckey keys[] = {
	{ "agent", "manifest", CK_PATH, CF_EMPTY_OFF, 0, 0,
	    offsetof(struct config, manifest),
	    "%ProgramData%\\bitsync\\manifest.yaml" },
	{ "agent", "manifest_dir", CK_PATH, CF_EMPTY_OFF, 0, 0,
	    offsetof(struct config, manifest_dir),
	    "%ProgramData%\\bitsync\\manifest.d" },
	{ "agent", "state_dir", CK_PATH, 0, 0, 0,
	    offsetof(struct config, state_dir), "%ProgramData%\\bitsync" },
	{ "agent", "backend", CK_BACKEND, 0, 0, 0,
	    offsetof(struct config, backend), "bits" },
	{ "agent", "interval", CK_DURATION, 0, 1, 365 * DAY,
	    offsetof(struct config, interval), "15m" },
	{ "agent", "splay", CK_DURATION, 0, 0, 365 * DAY,
	    offsetof(struct config, splay), "5m" },
	{ "agent", "log_level", CK_LOG_LEVEL, 0, 0, 0,
	    offsetof(struct config, log_level), "info" },
	{ "agent", "allow_drives", CK_DRIVES, 0, 0, 0,
	    offsetof(struct config, allow_drives), "C,D" },
	{ "agent", "allow_roots", CK_ROOTS, 0, 0, 0,
	    offsetof(struct config, allow_roots),
	    "%ProgramData%\\Contoso, D:\\data" },
	{ "agent", "credential_dir", CK_PATH, 0, 0, 0,
	    offsetof(struct config, credential_dir),
	    "%ProgramData%\\bitsync\\credentials" },
	{ "agent", "status_file", CK_PATH, 0, 0, 0,
	    offsetof(struct config, status_file),
	    "%ProgramData%\\bitsync\\status.json" },
	{ "agent", "metrics_file", CK_PATH, CF_EMPTY_OFF, 0, 0,
	    offsetof(struct config, metrics_file),
	    "%ProgramData%\\bitsync\\bitsync.prom" },
	{ "engine", "max_parallel", CK_UINT, 0, 1, 64,
	    offsetof(struct config, max_parallel), "4" },
	{ "engine", "rate_limit", CK_RATE, 0, 0, 0,
	    offsetof(struct config, rate_limit), "10M" },
	{ "engine", "ca_file", CK_PATH, CF_EMPTY_OFF, 0, 0,
	    offsetof(struct config, ca_file), "%ProgramData%\\bitsync\\ca.pem" },
	{ "engine", "smb_port", CK_UINT, 0, 1, 65535,
	    offsetof(struct config, smb_port), "445" },
};
#define NKEYS	(sizeof(keys) / sizeof(keys[0]))

static const char *const sections[] = { "agent", "engine" };
static const char *const backend_names[] = {
	[BACKEND_ENGINE] = "engine", [BACKEND_BITS] = "bits"
};
static const char *const log_level_names[] = {
	[LOG_LEVEL_ERROR] = "error", [LOG_LEVEL_WARNING] = "warning",
	[LOG_LEVEL_INFO] = "info", [LOG_LEVEL_DEBUG] = "debug"
};
static char *no_roots[] = { NULL };

/* Storage of a loaded config, freed together by config_free. */
struct cblock { struct cblock *next; max_align_t data[]; };

static void *
cfg_alloc(struct config *cfg, size_t n)
{
	struct cblock *b = xmalloc(sizeof(*b) + n);

	b->next = cfg->owned;
	cfg->owned = b;
	return b->data;
}

static char *
cfg_strdup(struct config *cfg, const char *s)
{
	size_t n = strlen(s);
	char *p = cfg_alloc(cfg, n + 1);

	memcpy(p, s, n + 1);
	return p;
}

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

	memset(cfg, 0, sizeof(*cfg));
	cfg->manifest = program_data(manifest, sizeof(manifest),
	    "\\manifest.yaml");
	cfg->manifest_dir = program_data(dir, sizeof(dir), "\\manifest.d");
	cfg->state_dir = program_data(state, sizeof(state), "");
	cfg->backend = BACKEND_BITS;
	cfg->interval = 15 * 60;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->allow_roots = no_roots;
	cfg->credential_dir = program_data(cred, sizeof(cred),
	    "\\credentials");
	cfg->status_file = program_data(status, sizeof(status),
	    "\\status.json");
	cfg->max_parallel = 4;
	cfg->smb_port = 445;
}

void
config_free(struct config *cfg)
{
	struct cblock *b, *next;

	for (b = cfg->owned; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	config_defaults(cfg);
}

void
config_format_drives(uint32_t drives, char *buf, size_t len)
{
	size_t n = 0;
	int i;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (i = 0; i < 26; i++) {
		if ((drives & (UINT32_C(1) << i)) == 0)
			continue;
		if (n + 3 > len)
			break;
		if (n > 0)
			buf[n++] = ',';
		buf[n++] = (char)('A' + i);
		buf[n] = '\0';
	}
	if (n == 0)
		snprintf(buf, len, "none");
}

/* ---- reading ------------------------------------------------------------ */

struct rload {
	struct config *cfg;
	struct diags *d;
	int errors;
	char **roots;
	size_t nroots, caproots;
	int roots_set;
};

static void
rerr(struct rload *st, const char *where, const char *fmt, ...)
    __attribute__((format(gnu_printf, 3, 4)));

static void
rerr(struct rload *st, const char *where, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(st->d, where, 0, 0, DIAG_ERROR, RULE_CONFIG, fmt, ap);
	va_end(ap);
	st->errors++;
}

static int
parse_uint(const char *s, uint64_t *v, int rate)
{
	uint64_t n = 0, mul = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		if (n > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	if (rate && *s != 0) {
		switch (*s++) {
		case 'k': case 'K': mul = UINT64_C(1) << 10; break;
		case 'm': case 'M': mul = UINT64_C(1) << 20; break;
		case 'g': case 'G': mul = UINT64_C(1) << 30; break;
		default: return -1;
		}
	}
	if (*s != 0 || n > UINT64_MAX / mul)
		return -1;
	*v = n * mul;
	return 0;
}

static int
parse_enum(const char *s, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (names[i] != NULL && _stricmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

static int
is_sep(char c)
{
	return c == '\\' || c == '/';
}

/* Absolute for a service: a drive path or a UNC path. */
static int
win_absolute(const char *s)
{
	if (s[0] == '\\' && s[1] == '\\' && s[2] != 0 && !is_sep(s[2]))
		return 1;
	return isalpha((unsigned char)s[0]) && s[1] == ':' && is_sep(s[2]);
}

static int
has_dot_component(const char *s)
{
	const char *p = s, *e;
	size_t l;

	while (*p != 0) {
		while (is_sep(*p))
			p++;
		for (e = p; *e != 0 && !is_sep(*e); e++)
			;
		l = (size_t)(e - p);
		if ((l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' &&
		    p[1] == '.'))
			return 1;
		p = e;
	}
	return 0;
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

static void
add_root(struct rload *st, const char *where, const char *raw)
{
	char *root = expand(raw);
	size_t l = strlen(root), i;

	if (!win_absolute(root)) {
		rerr(st, where, "allow_roots: '%s' is not an absolute path; "
		    "write a known folder (%%ProgramData%%\\Contoso), a drive "
		    "path (D:\\data) or a UNC path (\\\\server\\share)", raw);
		free(root);
		return;
	}
	if (has_dot_component(root)) {
		rerr(st, where, "allow_roots: '%s' contains a '.' or '..' "
		    "component; write the folder without them", raw);
		free(root);
		return;
	}
	while (l > 3 && is_sep(root[l - 1]))
		root[--l] = 0;
	for (i = 0; i < st->nroots; i++)
		if (_stricmp(st->roots[i], root) == 0) {
			free(root);
			return;
		}
	if (st->nroots + 1 >= st->caproots) {
		st->caproots = st->caproots ? st->caproots * 2 : 8;
		st->roots = xrealloc(st->roots, st->caproots * sizeof(char *));
	}
	st->roots[st->nroots++] = cfg_strdup(st->cfg, root);
	st->roots[st->nroots] = NULL;
	free(root);
}

static void
set_value(struct rload *st, const struct ckey *k, const char *where,
    const char *value)
{
	char *field = (char *)st->cfg + k->off;
	uint64_t v;
	int e;

	switch (k->kind) {
	case CK_PATH: {
		char *x;

		if (*value == 0) {
			if (k->flags & CF_EMPTY_OFF)
				*(char **)(void *)field = NULL;
			else
				rerr(st, where, "%s needs a value; write an "
				    "absolute path, e.g. %s", k->name,
				    k->example);
			break;
		}
		x = expand(value);
		if (!win_absolute(x)) {
			rerr(st, where, "%s: '%s' is not an absolute path; "
			    "write one with a drive, a UNC path or a folder "
			    "variable, e.g. %s", k->name, value, k->example);
			free(x);
			break;
		}
		*(char **)(void *)field = cfg_strdup(st->cfg, x);
		free(x);
		break;
	}
	case CK_DURATION:
		if (util_parse_duration(value, &v) == -1) {
			rerr(st, where, "%s: '%s' is not a duration; write an "
			    "integer followed by s, m, h or d, e.g. %s",
			    k->name, value, k->example);
			break;
		}
		if (v < k->min || v > k->max) {
			char lo[32], hi[32];

			util_format_duration(k->min, lo, sizeof(lo));
			util_format_duration(k->max, hi, sizeof(hi));
			rerr(st, where, "%s: %s is out of range; write a "
			    "duration from %s to %s, e.g. %s", k->name, value,
			    lo, hi, k->example);
			break;
		}
		*(uint64_t *)(void *)field = v;
		break;
	case CK_UINT:
		if (parse_uint(value, &v, 0) == -1 || v < k->min ||
		    v > k->max) {
			rerr(st, where, "%s: '%s' is not a whole number from "
			    "%llu to %llu; write e.g. %s", k->name, value,
			    (unsigned long long)k->min,
			    (unsigned long long)k->max, k->example);
			break;
		}
		*(unsigned *)(void *)field = (unsigned)v;
		break;
	case CK_RATE:
		if (parse_uint(value, &v, 1) == -1) {
			rerr(st, where, "%s: '%s' is not a rate; write bytes "
			    "per second as an integer, optionally followed by "
			    "k, M or G, or 0 for unlimited, e.g. %s", k->name,
			    value, k->example);
			break;
		}
		*(uint64_t *)(void *)field = v;
		break;
	case CK_BACKEND:
		e = parse_enum(value, backend_names, 3);
		if (e < 0) {
			rerr(st, where, "%s: '%s' is not a backend; write bits "
			    "(or engine)", k->name, value);
			break;
		}
		*(enum config_backend *)(void *)field = (enum config_backend)e;
		break;
	case CK_LOG_LEVEL:
		e = parse_enum(value, log_level_names, 4);
		if (e < 0) {
			const char *best = util_closest(value,
			    log_level_names, 4);

			rerr(st, where, "%s: '%s' is not a log level; %s%s%s"
			    "write error, warning, info or debug", k->name,
			    value, best ? "did you mean '" : "",
			    best ? best : "", best ? "'? " : "");
			break;
		}
		*(enum log_level *)(void *)field = (enum log_level)e;
		break;
	case CK_DRIVES: {
		const char *p = value, *q;
		uint32_t mask = 0;
		size_t l;

		while (*p != 0) {
			while (*p == ',' || isspace((unsigned char)*p))
				p++;
			if (*p == 0)
				break;
			for (q = p; *q && *q != ',' &&
			    !isspace((unsigned char)*q); q++)
				;
			l = (size_t)(q - p);
			if ((l == 1 || (l == 2 && p[1] == ':')) &&
			    isalpha((unsigned char)p[0]))
				mask |= UINT32_C(1) <<
				    (toupper((unsigned char)p[0]) - 'A');
			else
				rerr(st, where, "%s: '%.*s' is not a drive "
				    "letter; write single letters separated by "
				    "commas, e.g. %s", k->name, (int)l, p,
				    k->example);
			p = q;
		}
		*(uint32_t *)(void *)field = mask;
		break;
	}
	case CK_ROOTS: {
		const char *p = value, *q;

		/* A later root list (the policy's) replaces an earlier one. */
		st->nroots = 0;
		st->roots_set = 1;
		while (*p != 0) {
			char *one;
			size_t l;

			for (q = p; *q && *q != ','; q++)
				;
			while (p < q && isspace((unsigned char)*p))
				p++;
			l = (size_t)(q - p);
			while (l > 0 && isspace((unsigned char)p[l - 1]))
				l--;
			if (l > 0) {
				one = xstrndup(p, l);
				add_root(st, where, one);
				free(one);
			}
			p = *q ? q + 1 : q;
		}
		break;
	}
	}
}

static const struct ckey *
find_key(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, section) == 0 &&
		    _stricmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static void
unknown_value(struct rload *st, const char *where, const char *section,
    const char *name)
{
	const char *cand[NKEYS], *best;
	size_t i, n = 0;

	for (i = 0; i < NKEYS; i++)
		if (_stricmp(keys[i].name, name) == 0) {
			rerr(st, where, "'%s' belongs under the %s subkey, not "
			    "%s; move the value there", name, keys[i].section,
			    section);
			return;
		}
	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, section) == 0)
			cand[n++] = keys[i].name;
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
value_text(struct rload *st, const struct ckey *k, const char *where,
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

			if (k->kind != CK_DRIVES && k->kind != CK_ROOTS) {
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
		if (k->kind == CK_UINT || k->kind == CK_RATE)
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
	    k->kind == CK_RATE || k->kind == CK_DURATION ? " or REG_DWORD" :
	    k->kind == CK_DRIVES || k->kind == CK_ROOTS ? " or REG_MULTI_SZ" :
	    "", k->example);
	return NULL;
}

static void
read_section(struct rload *st, HKEY key, const char *keyname,
    const char *section)
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
		k = find_key(section, n8);
		if (k == NULL)
			unknown_value(st, where, section, n8);
		else if ((text = value_text(st, k, where, type, data, dl)) !=
		    NULL) {
			set_value(st, k, where, text);
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
read_root(struct rload *st, HKEY hive, const wchar_t *path,
    const char *keyname)
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
		k = find_key("agent", n8);
		if (k == NULL)
			k = find_key("engine", n8);
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
		for (s = 0; s < 2; s++)
			if (_stricmp(n8, sections[s]) == 0)
				sec = sections[s];
		if (sec == NULL) {
			const char *best = util_closest(n8, sections, 2);

			rerr(st, where, "unknown subkey '%s'; the subkeys are "
			    "agent and engine%s%s%s", n8,
			    best ? " (did you mean '" : "", best ? best : "",
			    best ? "'?)" : "");
		} else if (RegOpenKeyExW(root, name, 0, KEY_READ |
		    KEY_WOW64_64KEY, &sub) == ERROR_SUCCESS) {
			read_section(st, sub, where, sec);
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
	struct rload st;
	HKEY hive = NULL;
	wchar_t *wsub = NULL;
	const char *sub = NULL;
	char a[32], b[32];

	(void)missing_ok;		/* a missing key sets nothing */
	config_defaults(cfg);
	memset(&st, 0, sizeof(st));
	st.cfg = cfg;
	st.d = d;
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
		wsub = win_widen(sub);
		read_root(&st, hive, wsub, path);
		free(wsub);
	} else {
		read_root(&st, HKEY_LOCAL_MACHINE, L"SOFTWARE\\bitsync",
		    "HKLM\\SOFTWARE\\bitsync");
		read_root(&st, HKEY_LOCAL_MACHINE,
		    L"SOFTWARE\\Policies\\bitsync",
		    "HKLM\\SOFTWARE\\Policies\\bitsync");
	}
	if (st.errors == 0 && cfg->splay > cfg->interval) {
		util_format_duration(cfg->splay, a, sizeof(a));
		util_format_duration(cfg->interval, b, sizeof(b));
		rerr(&st, path && sub ? path : "HKLM\\SOFTWARE\\bitsync\\agent",
		    "splay (%s) is longer than interval (%s); a random delay "
		    "must fit in the period, so write a splay of at most %s",
		    a, b, b);
	}
	if (st.errors == 0 && cfg->manifest == NULL &&
	    cfg->manifest_dir == NULL)
		rerr(&st, path && sub ? path : "HKLM\\SOFTWARE\\bitsync\\agent",
		    "neither manifest nor manifest_dir is set, so there is "
		    "nothing to enforce; set at least one");
	if (st.errors > 0) {
		free(st.roots);
		config_free(cfg);
		return -1;
	}
	if (st.roots_set) {
		cfg->allow_roots = cfg_alloc(cfg, (st.nroots + 1) *
		    sizeof(char *));
		memcpy(cfg->allow_roots, st.roots ? (void *)st.roots :
		    (void *)no_roots, (st.nroots + 1) * sizeof(char *));
		cfg->nallow_roots = st.nroots;
	}
	free(st.roots);
	cfg->path = cfg_strdup(cfg, path && sub ? path :
	    "HKLM\\SOFTWARE\\bitsync");
	return 0;
}
