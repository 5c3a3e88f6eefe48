/* config_keys.c - the agent configuration's key table and value checks
 * (design §6), shared by the INI reader (posix/config_posix.c) and the
 * registry reader (win/config_win.c); see config_keys.h.
 *
 * Value syntax, beyond design §6:
 *  - paths are absolute; an empty value turns off the keys that may be off
 *    (manifest, manifest_dir, metrics_file, ca_file) and is an error for
 *    the others.
 *  - rate_limit is bytes per second: an integer, optionally followed by k,
 *    M or G (either case), which multiply by 1024, 1024^2 and 1024^3.
 *  - allow_drives: letters separated by commas and/or spaces, any case,
 *    each optionally followed by ':' ("C, d:" is C and D).
 *  - allow_roots: absolute paths separated by commas; whitespace around an
 *    entry is trimmed, empty entries (a trailing comma) are ignored, and a
 *    trailing separator is dropped so "/srv/" and "/srv" are one root.
 *  - enum values (backend, log_level) are matched case-insensitively.
 *  - splay may not exceed interval: a random delay longer than the period
 *    would make "at least this often" false.
 *
 * Portable C only: what is Windows about a value (expanding %VARIABLES%,
 * what an absolute path is) comes from the reader's struct csyntax. */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_keys.h"
#include "rsched.h"
#include "util.h"

#define RULE_CONFIG	"config"
#define DAY		(24 * 3600)

const struct ckey config_keys[] = {
	{ "agent", "manifest", CK_PATH, CF_EMPTY_OFF, 0, 0,
	    offsetof(struct config, manifest),
	    "/etc/bitsync/manifest.yaml",
	    "%ProgramData%\\bitsync\\manifest.yaml" },
	{ "agent", "manifest_dir", CK_PATH, CF_EMPTY_OFF, 0, 0,
	    offsetof(struct config, manifest_dir),
	    "/etc/bitsync/manifest.d", "%ProgramData%\\bitsync\\manifest.d" },
	{ "agent", "state_dir", CK_PATH, 0, 0, 0,
	    offsetof(struct config, state_dir),
	    "/var/lib/bitsync", "%ProgramData%\\bitsync" },
	{ "agent", "backend", CK_BACKEND, 0, 0, 0,
	    offsetof(struct config, backend), "engine", "bits" },
	{ "agent", "interval", CK_DURATION, 0, 1, 365 * DAY,
	    offsetof(struct config, interval), "15m", NULL },
	{ "agent", "splay", CK_DURATION, 0, 0, 365 * DAY,
	    offsetof(struct config, splay), "5m", NULL },
	{ "agent", "start_splay", CK_DURATION, 0, 0, DAY,
	    offsetof(struct config, start_splay), "30m", NULL },
	{ "agent", "log_level", CK_LOG_LEVEL, 0, 0, 0,
	    offsetof(struct config, log_level), "info", NULL },
	{ "agent", "log_format", CK_LOG_FORMAT, 0, 0, 0,
	    offsetof(struct config, log_format), "json", NULL },
	{ "agent", "allow_drives", CK_DRIVES, 0, 0, 0,
	    offsetof(struct config, allow_drives), "C,D", NULL },
	{ "agent", "allow_roots", CK_ROOTS, 0, 0, 0,
	    offsetof(struct config, allow_roots),
	    "/srv/bitsync, %ProgramData%\\Contoso",
	    "%ProgramData%\\Contoso, D:\\data" },
	{ "agent", "credential_dir", CK_PATH, 0, 0, 0,
	    offsetof(struct config, credential_dir),
	    "/etc/bitsync/credentials", "%ProgramData%\\bitsync\\credentials" },
	/* default: STATE_DIR/status.json (ckeys_finish) */
	{ "agent", "status_file", CK_PATH, 0, 0, 0,
	    offsetof(struct config, status_file),
	    "/var/lib/bitsync/status.json",
	    "%ProgramData%\\bitsync\\status.json" },
	{ "agent", "metrics_file", CK_PATH, CF_EMPTY_OFF, 0, 0,
	    offsetof(struct config, metrics_file),
	    "/var/lib/prometheus/node-exporter/bitsync.prom",
	    "%ProgramData%\\bitsync\\bitsync.prom" },
	/* Linux: auth: computer as the computer account (krb.h); default
	 * /etc/krb5.keytab (config_defaults), empty: off. */
	{ "agent", "machine_keytab", CK_PATH, CF_EMPTY_OFF, 0, 0,
	    offsetof(struct config, machine_keytab), "/etc/krb5.keytab",
	    NULL },
	{ "agent", "machine_principal", CK_PRINCIPAL, 0, 0, 0,
	    offsetof(struct config, machine_principal),
	    "WS1$@CORP.EXAMPLE", NULL },
	{ "agent", "allow_commands", CK_BOOL, 0, 0, 0,
	    offsetof(struct config, allow_commands), "yes", NULL },
	/* For test hosts (Wine) only; see set_calls(). */
	{ "agent", "bits_tolerate_unimplemented", CK_CALLS, CF_LOCAL_ONLY,
	    0, 0, offsetof(struct config, bits_tolerate),
	    "SetProxySettings", NULL },
	/* design §2a: most files one folder set may hold. */
	{ "agent", "max_set_files", CK_UINT, 0, 1, 1000000,
	    offsetof(struct config, max_set_files), "10000", NULL },
	{ "engine", "max_parallel", CK_UINT, 0, 1, 64,
	    offsetof(struct config, max_parallel), "4", NULL },
	{ "engine", "rate_limit", CK_RATE, 0, 0, 0,
	    offsetof(struct config, rate_limit), "10M", NULL },
	{ "engine", "ca_file", CK_PATH, CF_EMPTY_OFF, 0, 0,
	    offsetof(struct config, ca_file),
	    "/etc/bitsync/ca.pem", "%ProgramData%\\bitsync\\ca.pem" },
	{ "engine", "smb_port", CK_UINT, 0, 1, 65535,
	    offsetof(struct config, smb_port), "445", NULL },
	/* BITS's bandwidth policy and job limits: on Windows BITS's own
	 * Group Policy holds them (CF_NOT_WINDOWS). */
	{ "engine", "rate_schedule", CK_SCHEDULE, CF_NOT_WINDOWS, 0, 0,
	    offsetof(struct config, rate_schedule),
	    "Mon-Fri 08:00-18:00 2M; Sat-Sun 0", NULL },
	{ "engine", "max_files_per_job", CK_UINT, CF_NOT_WINDOWS, 1, 1000000,
	    offsetof(struct config, max_files_per_job), "200", NULL },
	{ "engine", "max_jobs", CK_UINT, CF_NOT_WINDOWS, 1, 1000000,
	    offsetof(struct config, max_jobs), "300", NULL },
};
const size_t config_nkeys = sizeof(config_keys) / sizeof(config_keys[0]);
_Static_assert(sizeof(config_keys) / sizeof(config_keys[0]) <= CKEYS_MAX,
    "raise CKEYS_MAX");

const char *const config_sections[] = { "agent", "engine" };
const size_t config_nsections =
    sizeof(config_sections) / sizeof(config_sections[0]);

static const char *const backend_names[] = {
	[BACKEND_ENGINE] = "engine", [BACKEND_BITS] = "bits"
};
static const char *const log_level_names[] = {
	[LOG_LEVEL_ERROR] = "error", [LOG_LEVEL_WARNING] = "warning",
	[LOG_LEVEL_INFO] = "info", [LOG_LEVEL_DEBUG] = "debug"
};
static const char *const log_format_names[] = {
	[LOG_FORMAT_TEXT] = "text", [LOG_FORMAT_JSON] = "json"
};
/* bits_tolerate_unimplemented: bit i is the BITS method named here. */
static const char *const bits_call_names[] = { "SetProxySettings" };
#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* An empty list that needs no freeing, for the default. */
static char *config_no_roots[] = { NULL };

/* Storage of a loaded config: one chain of blocks freed together, so the
 * defaults can stay static strings and config_free needs no bookkeeping
 * of which field came from where. */
struct cblock {
	struct cblock	*next;
	max_align_t	 data[];
};

void *
config_alloc(struct config *cfg, size_t n)
{
	struct cblock *b;

	b = xmalloc(sizeof(*b) + n);
	b->next = cfg->owned;
	cfg->owned = b;
	return b->data;
}

char *
config_strndup(struct config *cfg, const char *s, size_t n)
{
	char *p;

	p = config_alloc(cfg, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void
ckeys_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->interval = 15 * 60;
	cfg->splay = 0;
	cfg->start_splay = 0;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->log_format = LOG_FORMAT_TEXT;
	cfg->allow_drives = 0;
	cfg->allow_roots = config_no_roots;
	cfg->nallow_roots = 0;
	cfg->metrics_file = NULL;
	cfg->max_set_files = 10000;
	cfg->max_parallel = 4;
	cfg->rate_limit = 0;
	cfg->ca_file = NULL;
	cfg->smb_port = 445;
	cfg->bits_tolerate = 0;
	cfg->rate_schedule = NULL;
	cfg->max_files_per_job = 200;
	cfg->max_jobs = 300;
	cfg->owned = NULL;
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

const struct ckey *
ckeys_find(const char *section, const char *name, int icase)
{
	size_t i;

	for (i = 0; i < config_nkeys; i++)
		if (strcmp(config_keys[i].section, section) == 0 &&
		    (icase ? strcasecmp(config_keys[i].name, name) :
		    strcmp(config_keys[i].name, name)) == 0)
			return &config_keys[i];
	return NULL;
}

const char *
ckeys_section_list(const char *section)
{
	static char buf[512];
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < config_nkeys; i++) {
		if (strcmp(config_keys[i].section, section) != 0)
			continue;
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s",
		    n > 0 ? ", " : "", config_keys[i].name);
		if (n >= sizeof(buf))
			break;
	}
	return buf;
}

void
ckeys_begin(struct cset *cs, struct config *cfg, struct diags *d,
    const struct csyntax *syn)
{
	memset(cs, 0, sizeof(*cs));
	cs->cfg = cfg;
	cs->d = d;
	cs->syn = syn;
	cs->seen_where = xcalloc(config_nkeys, sizeof(*cs->seen_where));
	cs->seen_line = xcalloc(config_nkeys, sizeof(*cs->seen_line));
}

void
ckeys_err(struct cset *cs, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(cs->d, cs->where, cs->line, 0, DIAG_ERROR, RULE_CONFIG, fmt,
	    ap);
	va_end(ap);
	cs->errors++;
}

const char *
ckeys_example(const struct cset *cs, const struct ckey *k)
{
	static char buf[256];
	const char *ex;

	ex = cs->syn->windows && k->example_win != NULL ? k->example_win :
	    k->example;
	if (!cs->syn->example_line)
		return ex;
	snprintf(buf, sizeof(buf), "%s = %s", k->name, ex);
	return buf;
}

unsigned
ckeys_seen_line(const struct cset *cs, const struct ckey *k)
{
	return cs->seen_line[k - config_keys];
}

static int
parse_count(const char *s, uint64_t *v, int rate)
{
	uint64_t n = 0, mul = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		if (n > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	if (rate) {
		switch (*s) {
		case '\0':
			break;
		case 'k': case 'K':
			mul = UINT64_C(1) << 10;
			s++;
			break;
		case 'm': case 'M':
			mul = UINT64_C(1) << 20;
			s++;
			break;
		case 'g': case 'G':
			mul = UINT64_C(1) << 30;
			s++;
			break;
		default:
			return -1;
		}
	}
	if (*s != '\0' || n > UINT64_MAX / mul)
		return -1;
	*v = n * mul;
	return 0;
}

static int
parse_enum(const char *s, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (names[i] != NULL && strcasecmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

static int
is_sep(char c)
{
	return c == '/' || c == '\\';
}

/* A "." or ".." component would let a root and a destination that name
 * one folder fail a prefix match, or one name more than it shows. */
static int
has_dot_component(const char *s)
{
	const char *p = s, *e;
	size_t l;

	while (*p != '\0') {
		while (is_sep(*p))
			p++;
		for (e = p; *e != '\0' && !is_sep(*e); e++)
			;
		l = (size_t)(e - p);
		if ((l == 1 && p[0] == '.') ||
		    (l == 2 && p[0] == '.' && p[1] == '.'))
			return 1;
		p = e;
	}
	return 0;
}

/* The value as the reader's syntax means it; allocated. */
static char *
expand(const struct cset *cs, const char *s)
{
	return cs->syn->expand != NULL ? cs->syn->expand(s) : xstrdup(s);
}

static void
add_root(struct cset *cs, const struct ckey *k, const char *raw)
{
	char *root;
	size_t l, i, min;

	root = expand(cs, raw);
	if (!cs->syn->root_absolute(root)) {
		ckeys_err(cs, "%s: '%s' is not an absolute path; %s, e.g. %s",
		    k->name, raw, cs->syn->root_hint, ckeys_example(cs, k));
		goto out;
	}
	if (has_dot_component(root)) {
		ckeys_err(cs, "%s: '%s' contains a '.' or '..' component; "
		    "write the folder without them", k->name, raw);
		goto out;
	}
	/* Keep "/" and "X:\" whole; drop other trailing separators so that
	 * a prefix test needs no special case. */
	l = strlen(root);
	min = (isalpha((unsigned char)root[0]) && root[1] == ':') ? 3 : 1;
	while (l > min && is_sep(root[l - 1]))
		root[--l] = '\0';
	/* Windows folder names are case-insensitive. */
	for (i = 0; i < cs->nroots; i++)
		if ((cs->syn->windows ? strcasecmp(cs->roots[i], root) :
		    strcmp(cs->roots[i], root)) == 0)
			goto out;
	if (cs->nroots + 1 >= cs->caproots) {
		cs->caproots = cs->caproots ? cs->caproots * 2 : 8;
		cs->roots = xrealloc(cs->roots,
		    cs->caproots * sizeof(*cs->roots));
	}
	cs->roots[cs->nroots++] = config_strndup(cs->cfg, root, l);
	cs->roots[cs->nroots] = NULL;
out:
	free(root);
}

static void
set_roots(struct cset *cs, const struct ckey *k, const char *value)
{
	const char *p = value, *e, *b;
	char *one;
	size_t l;

	while (*p != '\0') {
		for (e = p; *e != '\0' && *e != ','; e++)
			;
		b = p;
		while (b < e && isspace((unsigned char)*b))
			b++;
		l = (size_t)(e - b);
		while (l > 0 && isspace((unsigned char)b[l - 1]))
			l--;
		p = *e == ',' ? e + 1 : e;
		if (l == 0)
			continue;
		one = xstrndup(b, l);
		add_root(cs, k, one);
		free(one);
	}
}

/* The next word of a list separated by commas and/or whitespace, or NULL
 * at its end; *p moves past the word. */
static const char *
next_word(const char **p, size_t *len)
{
	const char *s = *p, *e;

	while (*s == ',' || isspace((unsigned char)*s))
		s++;
	for (e = s; *e != '\0' && *e != ',' && !isspace((unsigned char)*e); e++)
		;
	*p = e;
	*len = (size_t)(e - s);
	return *len > 0 ? s : NULL;
}

static void
set_drives(struct cset *cs, const struct ckey *k, const char *value,
    uint32_t *mask)
{
	const char *p = value, *w;
	size_t l;

	while ((w = next_word(&p, &l)) != NULL) {
		if ((l == 1 || (l == 2 && w[1] == ':')) &&
		    isalpha((unsigned char)w[0]))
			*mask |= UINT32_C(1) <<
			    (toupper((unsigned char)w[0]) - 'A');
		else
			ckeys_err(cs, "%s: '%.*s' is not a drive letter; "
			    "write single letters separated by commas, e.g. "
			    "%s", k->name, (int)l, w, ckeys_example(cs, k));
	}
}

/* The BITS calls whose E_NOTIMPL the bits backend may turn into a loud
 * warning for the set (the transfer then goes on without the setting).
 * That is a downgrade design §4 otherwise refuses, so the list is explicit
 * and names each call: a test host whose BITS lacks a call (Wine's
 * SetProxySettings) can still move bytes.  Never for real Windows, whose
 * BITS implements them all. */
static void
set_calls(struct cset *cs, const struct ckey *k, const char *value,
    uint32_t *mask)
{
	const char *p = value, *w, *best;
	char *one;
	size_t i, l;

	while ((w = next_word(&p, &l)) != NULL) {
		one = xstrndup(w, l);
		for (i = 0; i < NELEM(bits_call_names); i++)
			if (strcmp(bits_call_names[i], one) == 0)
				break;
		if (i < NELEM(bits_call_names)) {
			*mask |= UINT32_C(1) << i;
			free(one);
			continue;
		}
		best = util_closest(one, bits_call_names,
		    NELEM(bits_call_names));
		ckeys_err(cs, "%s: '%s' is not a BITS call this setting can "
		    "tolerate; %s%s%sthe calls are: SetProxySettings (or "
		    "leave it empty: on real Windows it must be)", k->name,
		    one, best ? "did you mean '" : "", best ? best : "",
		    best ? "'? " : "");
		free(one);
	}
}

static void
set_path(struct cset *cs, const struct ckey *k, const char *value,
    char **field)
{
	char *x;

	if (*value == '\0') {
		if (k->flags & CF_EMPTY_OFF)
			*field = NULL;
		else
			ckeys_err(cs, "%s needs a value; write an absolute "
			    "path, e.g. %s", k->name, ckeys_example(cs, k));
		return;
	}
	/* The service runs with / (or C:\Windows\system32) as its working
	 * directory, so a relative path would mean something other than it
	 * shows. */
	x = expand(cs, value);
	if (!cs->syn->path_absolute(x))
		ckeys_err(cs, "%s: '%s' is not an absolute path; %s, e.g. %s",
		    k->name, value, cs->syn->path_hint, ckeys_example(cs, k));
	else
		*field = config_strndup(cs->cfg, x, strlen(x));
	free(x);
}

/* Where bitsync would only shadow what BITS itself enforces, the registry
 * reader refuses the key and names BITS's own policy: two bandwidth limits
 * or two job limits that disagree would leave the admin guessing which
 * one holds. */
static void
not_windows(struct cset *cs, const struct ckey *k)
{
	if (k->kind == CK_SCHEDULE)
		ckeys_err(cs, "%s is not read on Windows: BITS limits its own "
		    "bandwidth by hours; remove this value and set Computer "
		    "Configuration > Administrative Templates > Network > "
		    "Background Intelligent Transfer Service (BITS) > \"Limit "
		    "the maximum network bandwidth for BITS background "
		    "transfers\" (foreground jobs, as bitsync's foreground "
		    "sets, are never limited by it)", k->name);
	else
		ckeys_err(cs, "%s is not read on Windows: BITS enforces its "
		    "own limit; remove this value and set the BITS Group "
		    "Policy (HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\"
		    "BITS\\%s), which bitsync reads", k->name,
		    strcmp(k->name, "max_jobs") == 0 ? "MaxJobsPerMachine" :
		    "MaxFilesPerJob");
}

/* rate_schedule: checked whole here (rsched.h), so that a bad schedule
 * refuses the config with its line; the engine parses it again. */
static void
set_schedule(struct cset *cs, const struct ckey *k, const char *value,
    char **field)
{
	struct rsched rs;
	char why[512];
	unsigned col;

	if (rsched_parse(value, &rs, why, sizeof(why), &col) == -1) {
		ckeys_err(cs, "%s: %s", k->name, why);
		return;
	}
	*field = rs.n > 0 ? config_strndup(cs->cfg, value, strlen(value)) :
	    NULL;
	rsched_free(&rs);
}

/* A Kerberos principal as klist prints it: printable, no blanks (a space
 * or a control character is a typo or a pasted line, never a name). */
static void
set_principal(struct cset *cs, const struct ckey *k, const char *value,
    char **field)
{
	const unsigned char *p;

	if (*value == '\0') {
		*field = NULL;
		return;
	}
	for (p = (const unsigned char *)value; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f)
			break;
	if (*p != '\0' || strlen(value) > 255 || value[0] == '@')
		ckeys_err(cs, "%s: '%s' is not a Kerberos principal; write "
		    "the computer account as klist -k lists it, e.g. %s, or "
		    "leave it empty for the keytab's own NAME$ principal",
		    k->name, value, ckeys_example(cs, k));
	else
		*field = config_strndup(cs->cfg, value, strlen(value));
}

void
ckeys_set(struct cset *cs, const struct ckey *k, const char *where,
    unsigned line, const char *value, int append)
{
	char *field = (char *)cs->cfg + k->off;
	size_t i = (size_t)(k - config_keys);
	uint64_t v;
	int e;

	cs->where = where;
	cs->line = line;
	if ((k->flags & CF_NOT_WINDOWS) && cs->syn->windows) {
		not_windows(cs, k);
		return;
	}
	if (!append) {
		free(cs->seen_where[i]);
		cs->seen_where[i] = xstrdup(where);
		cs->seen_line[i] = line;
		/* An empty list says "none" even though the default is also
		 * none; a later source's list replaces an earlier one. */
		if (k->kind == CK_DRIVES || k->kind == CK_CALLS)
			*(uint32_t *)(void *)field = 0;
		if (k->kind == CK_ROOTS) {
			cs->nroots = 0;
			cs->roots_set = 1;
		}
	}
	switch (k->kind) {
	case CK_PATH:
		set_path(cs, k, value, (char **)(void *)field);
		break;
	case CK_DURATION:
		if (util_parse_duration(value, &v) == -1) {
			ckeys_err(cs, "%s: '%s' is not a duration; write an "
			    "integer followed by s, m, h or d, e.g. %s",
			    k->name, value, ckeys_example(cs, k));
			break;
		}
		if (v < k->min || v > k->max) {
			char lo[32], hi[32];

			util_format_duration(k->min, lo, sizeof(lo));
			util_format_duration(k->max, hi, sizeof(hi));
			ckeys_err(cs, "%s: %s is out of range; write a "
			    "duration from %s to %s, e.g. %s", k->name, value,
			    lo, hi, ckeys_example(cs, k));
			break;
		}
		*(uint64_t *)(void *)field = v;
		break;
	case CK_UINT:
		if (parse_count(value, &v, 0) == -1 || v < k->min ||
		    v > k->max) {
			ckeys_err(cs, "%s: '%s' is not a whole number from "
			    "%" PRIu64 " to %" PRIu64 "; write e.g. %s",
			    k->name, value, k->min, k->max,
			    ckeys_example(cs, k));
			break;
		}
		*(unsigned *)(void *)field = (unsigned)v;
		break;
	case CK_RATE:
		if (parse_count(value, &v, 1) == -1) {
			ckeys_err(cs, "%s: '%s' is not a rate; write bytes "
			    "per second as an integer, optionally followed by "
			    "k, M or G (times 1024, 1024^2, 1024^3), or 0 for "
			    "unlimited, e.g. %s", k->name, value,
			    ckeys_example(cs, k));
			break;
		}
		*(uint64_t *)(void *)field = v;
		break;
	case CK_BACKEND:
		e = parse_enum(value, backend_names, NELEM(backend_names));
		if (e == -1) {
			ckeys_err(cs, "%s: '%s' is not a backend; write "
			    "engine or bits", k->name, value);
			break;
		}
		*(enum config_backend *)(void *)field = (enum config_backend)e;
		break;
	case CK_LOG_LEVEL:
		e = parse_enum(value, log_level_names, NELEM(log_level_names));
		if (e == -1) {
			const char *best = util_closest(value,
			    log_level_names, NELEM(log_level_names));

			if (best != NULL)
				ckeys_err(cs, "%s: '%s' is not a log level; "
				    "did you mean '%s'? (write error, "
				    "warning, info or debug)", k->name, value,
				    best);
			else
				ckeys_err(cs, "%s: '%s' is not a log level; "
				    "write error, warning, info or debug",
				    k->name, value);
			break;
		}
		*(enum log_level *)(void *)field = (enum log_level)e;
		break;
	case CK_LOG_FORMAT:
		e = parse_enum(value, log_format_names,
		    NELEM(log_format_names));
		if (e == -1) {
			ckeys_err(cs, "%s: '%s' is not a log format; write "
			    "text (key=value lines) or json (one object a "
			    "line)", k->name, value);
			break;
		}
		*(enum log_format *)(void *)field = (enum log_format)e;
		break;
	case CK_DRIVES:
		set_drives(cs, k, value, (uint32_t *)(void *)field);
		break;
	case CK_ROOTS:
		set_roots(cs, k, value);
		break;
	case CK_CALLS:
		set_calls(cs, k, value, (uint32_t *)(void *)field);
		break;
	case CK_SCHEDULE:
		set_schedule(cs, k, value, (char **)(void *)field);
		break;
	case CK_PRINCIPAL:
		set_principal(cs, k, value, (char **)(void *)field);
		break;
	case CK_BOOL:
		/* The words an INI or a registry value (REG_DWORD 1/0)
		 * says yes or no with; anything else is refused, never
		 * read as no. */
		if (strcasecmp(value, "yes") == 0 ||
		    strcasecmp(value, "true") == 0 ||
		    strcasecmp(value, "on") == 0 || strcmp(value, "1") == 0)
			*(int *)(void *)field = 1;
		else if (strcasecmp(value, "no") == 0 ||
		    strcasecmp(value, "false") == 0 ||
		    strcasecmp(value, "off") == 0 || strcmp(value, "0") == 0)
			*(int *)(void *)field = 0;
		else
			ckeys_err(cs, "%s: '%s' is not yes or no; write yes "
			    "or no", k->name, value);
		break;
	}
}

/* Where key name was last set, or the fallback; sets the current place. */
static void
place_of(struct cset *cs, const char *name, const char *fallback)
{
	const struct ckey *k;
	size_t i;

	k = ckeys_find("agent", name, 0);
	if (k == NULL)
		k = ckeys_find("engine", name, 0);
	cs->where = fallback;
	cs->line = 0;
	if (k == NULL)
		return;
	i = (size_t)(k - config_keys);
	if (cs->seen_where[i] != NULL) {
		cs->where = cs->seen_where[i];
		cs->line = cs->seen_line[i];
	}
}

/* Keeps where an [agent] key was set beyond the parse (the cset's
 * copies are freed), for checks made later (reconcile_outputs_check). */
static void
keep_place(struct cset *cs, const char *name, const char **where,
    unsigned *line)
{
	size_t i = (size_t)(ckeys_find("agent", name, 0) - config_keys);
	size_t n;
	char *p;

	*where = NULL;
	*line = 0;
	if (cs->seen_where[i] == NULL)
		return;
	n = strlen(cs->seen_where[i]);
	p = config_alloc(cs->cfg, n + 1);
	memcpy(p, cs->seen_where[i], n + 1);
	*where = p;
	*line = cs->seen_line[i];
}

int
ckeys_finish(struct cset *cs, const char *fallback)
{
	struct config *cfg = cs->cfg;
	char a[32], b[32];
	size_t i;
	int rc = -1;

	if (cs->errors > 0)
		goto out;
	if (cfg->splay > cfg->interval) {
		place_of(cs, "splay", fallback);
		if (cs->where == fallback)
			place_of(cs, "interval", fallback);
		util_format_duration(cfg->splay, a, sizeof(a));
		util_format_duration(cfg->interval, b, sizeof(b));
		ckeys_err(cs, "splay (%s) is longer than interval (%s); a "
		    "random delay must fit in the period, so write a splay "
		    "of at most %s", a, b, b);
	}
	if (cfg->manifest == NULL && cfg->manifest_dir == NULL) {
		/* Both were set (empty); report at the later of the two. */
		place_of(cs, "manifest_dir", fallback);
		if (ckeys_seen_line(cs, ckeys_find("agent", "manifest", 0)) >
		    cs->line)
			place_of(cs, "manifest", fallback);
		ckeys_err(cs, "neither manifest nor manifest_dir is set, so "
		    "there is nothing to enforce; set at least one, e.g. %s",
		    ckeys_example(cs, ckeys_find("agent", "manifest_dir", 0)));
	}
	if (cs->errors > 0)
		goto out;
	/* status_file follows state_dir unless it is set itself: with a
	 * custom state_dir the status belongs beside the rest of the
	 * agent's state, not in a default folder no daemon writes. */
	if (cs->seen_where[ckeys_find("agent", "status_file", 0) -
	    config_keys] == NULL && cfg->state_dir != NULL) {
		size_t n = strlen(cfg->state_dir);
		const char *sep = strchr(cfg->state_dir, '\\') != NULL ?
		    "\\" : "/";

		while (n > 1 && (cfg->state_dir[n - 1] == '/' ||
		    cfg->state_dir[n - 1] == '\\'))
			n--;
		cfg->status_file = config_alloc(cfg, n + sizeof(
		    "/status.json"));
		snprintf(cfg->status_file, n + sizeof("/status.json"),
		    "%.*s%sstatus.json", (int)n, cfg->state_dir, sep);
	}
	keep_place(cs, "status_file", &cfg->status_file_where,
	    &cfg->status_file_line);
	keep_place(cs, "metrics_file", &cfg->metrics_file_where,
	    &cfg->metrics_file_line);
	if (cs->roots_set) {
		cfg->allow_roots = config_alloc(cfg,
		    (cs->nroots + 1) * sizeof(char *));
		if (cs->nroots > 0)
			memcpy(cfg->allow_roots, cs->roots,
			    (cs->nroots + 1) * sizeof(char *));
		else
			cfg->allow_roots[0] = NULL;
		cfg->nallow_roots = cs->nroots;
	}
	rc = 0;
out:
	if (rc == -1)
		config_free(cfg);
	for (i = 0; i < config_nkeys; i++)
		free(cs->seen_where[i]);
	free(cs->seen_where);
	free(cs->seen_line);
	free(cs->roots);
	memset(cs, 0, sizeof(*cs));
	return rc;
}
