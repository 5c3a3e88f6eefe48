/* config.c - the agent configuration (design §6): bitsync.ini, read with
 * inih.
 *
 * Every key is one row of config_keys[]: section, name, kind, bounds and
 * where the value goes in struct config (after Redis's standardConfig
 * table).  Reading is all or nothing: every problem in the file is reported
 * with FILE:LINE, and a file with any error leaves the defaults in place,
 * so a half-applied config never steers a privileged agent.
 *
 * inih has no line numbers in its handler (Debian builds it without
 * INI_HANDLER_LINENO), so the file is fed through config_reader(), which
 * counts lines and also sees what inih does not tell a handler: section
 * headers (to report unknown sections where they are written), lines
 * inih would silently cut at its 200-byte buffer, lines that are neither
 * "[section]" nor "key = value", and indented lines that inih glues to the
 * previous key as a continuation.
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
 *  - allow_drives and allow_roots may continue on indented lines (inih's
 *    multi-line values), which keeps long root lists readable; every other
 *    key must fit on its own line.
 *  - enum values (backend, log_level) are matched case-insensitively; key
 *    and section names are matched exactly, with a suggestion on a miss.
 *  - splay may not exceed interval: a random delay longer than the period
 *    would make "at least this often" false. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <ini.h>

#include "config.h"
#include "util.h"

#define RULE_CONFIG	"config"
#define RULE_IO		"io-error"

enum ckind {
	CK_PATH,	/* absolute path; char * */
	CK_DURATION,	/* util_parse_duration; uint64_t seconds */
	CK_UINT,	/* decimal; unsigned */
	CK_RATE,	/* bytes per second with k/M/G; uint64_t */
	CK_BACKEND,	/* enum config_backend */
	CK_LOG_LEVEL,	/* enum log_level */
	CK_DRIVES,	/* uint32_t bit mask */
	CK_ROOTS	/* char ** + nallow_roots */
};

#define CF_EMPTY_OFF	0x1	/* an empty value stores NULL (off) */

struct ckey {
	const char	*section;
	const char	*name;
	enum ckind	 kind;
	unsigned	 flags;
	uint64_t	 min, max;	/* CK_DURATION, CK_UINT */
	size_t		 off;
	const char	*example;	/* a good line, for messages */
};

#define DAY	(24 * 3600)

static const struct ckey config_keys[] = {
	{ "agent", "manifest", CK_PATH, CF_EMPTY_OFF, 0, 0,
	    offsetof(struct config, manifest),
	    "manifest = /etc/bitsync/manifest.yaml" },
	{ "agent", "manifest_dir", CK_PATH, CF_EMPTY_OFF, 0, 0,
	    offsetof(struct config, manifest_dir),
	    "manifest_dir = /etc/bitsync/manifest.d" },
	{ "agent", "state_dir", CK_PATH, 0, 0, 0,
	    offsetof(struct config, state_dir),
	    "state_dir = /var/lib/bitsync" },
	{ "agent", "backend", CK_BACKEND, 0, 0, 0,
	    offsetof(struct config, backend),
	    "backend = engine" },
	{ "agent", "interval", CK_DURATION, 0, 1, 365 * DAY,
	    offsetof(struct config, interval),
	    "interval = 15m" },
	{ "agent", "splay", CK_DURATION, 0, 0, 365 * DAY,
	    offsetof(struct config, splay),
	    "splay = 5m" },
	{ "agent", "log_level", CK_LOG_LEVEL, 0, 0, 0,
	    offsetof(struct config, log_level),
	    "log_level = info" },
	{ "agent", "allow_drives", CK_DRIVES, 0, 0, 0,
	    offsetof(struct config, allow_drives),
	    "allow_drives = C,D" },
	{ "agent", "allow_roots", CK_ROOTS, 0, 0, 0,
	    offsetof(struct config, allow_roots),
	    "allow_roots = /srv/bitsync, %ProgramData%\\Contoso" },
	{ "agent", "credential_dir", CK_PATH, 0, 0, 0,
	    offsetof(struct config, credential_dir),
	    "credential_dir = /etc/bitsync/credentials" },
	{ "agent", "status_file", CK_PATH, 0, 0, 0,
	    offsetof(struct config, status_file),
	    "status_file = /var/lib/bitsync/status.json" },
	{ "agent", "metrics_file", CK_PATH, CF_EMPTY_OFF, 0, 0,
	    offsetof(struct config, metrics_file),
	    "metrics_file = /var/lib/prometheus/node-exporter/bitsync.prom" },
	{ "engine", "max_parallel", CK_UINT, 0, 1, 64,
	    offsetof(struct config, max_parallel),
	    "max_parallel = 4" },
	{ "engine", "rate_limit", CK_RATE, 0, 0, 0,
	    offsetof(struct config, rate_limit),
	    "rate_limit = 10M" },
	{ "engine", "ca_file", CK_PATH, CF_EMPTY_OFF, 0, 0,
	    offsetof(struct config, ca_file),
	    "ca_file = /etc/bitsync/ca.pem" },
	{ "engine", "smb_port", CK_UINT, 0, 1, 65535,
	    offsetof(struct config, smb_port),
	    "smb_port = 445" },
};
#define NKEYS	(sizeof(config_keys) / sizeof(config_keys[0]))

static const char *const config_sections[] = { "agent", "engine" };
#define NSECTIONS	(sizeof(config_sections) / sizeof(config_sections[0]))

static const char *const backend_names[] = {
	[BACKEND_ENGINE] = "engine", [BACKEND_BITS] = "bits"
};
static const char *const log_level_names[] = {
	[LOG_LEVEL_ERROR] = "error", [LOG_LEVEL_WARNING] = "warning",
	[LOG_LEVEL_INFO] = "info", [LOG_LEVEL_DEBUG] = "debug"
};

/* An empty list that needs no freeing, for the default. */
static char *config_no_roots[] = { NULL };

/* Storage of a loaded config: one chain of blocks freed together, so the
 * defaults can stay static strings and config_free needs no bookkeeping
 * of which field came from where. */
struct cblock {
	struct cblock	*next;
	max_align_t	 data[];
};

/* What the reader and the handler share while one file is read. */
struct cload {
	struct config	*cfg;
	const char	*path;
	struct diags	*d;
	FILE		*fp;
	char		*line;		/* getline buffer */
	size_t		 linecap;
	unsigned	 lineno;
	int		 read_error;
	int		 errors;
	/* Mirrors inih's state, which it does not pass to handlers. */
	int		 has_prev;	/* a key was read since the header */
	int		 cont;		/* this line continues the last key */
	int		 section_ok;	/* the current section is known */
	unsigned	 syntax_line;	/* last line reported as bad syntax */
	unsigned	 seen[NKEYS];	/* line each key was set on; 0: not */
	char		**roots;	/* allow_roots being built */
	size_t		 nroots, caproots;
};

static void *
cfg_alloc(struct config *cfg, size_t n)
{
	struct cblock *b;

	b = xmalloc(sizeof(*b) + n);
	b->next = cfg->owned;
	cfg->owned = b;
	return b->data;
}

static char *
cfg_strndup(struct config *cfg, const char *s, size_t n)
{
	char *p;

	p = cfg_alloc(cfg, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->path = NULL;
	cfg->manifest = "/etc/bitsync/manifest.yaml";
	cfg->manifest_dir = "/etc/bitsync/manifest.d";
	cfg->state_dir = "/var/lib/bitsync";
#ifdef _WIN32
	cfg->backend = BACKEND_BITS;
#else
	cfg->backend = BACKEND_ENGINE;
#endif
	cfg->interval = 15 * 60;
	cfg->splay = 0;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->allow_drives = 0;
	cfg->allow_roots = config_no_roots;
	cfg->nallow_roots = 0;
	cfg->credential_dir = "/etc/bitsync/credentials";
	cfg->status_file = "/var/lib/bitsync/status.json";
	cfg->metrics_file = NULL;
	cfg->max_parallel = 4;
	cfg->rate_limit = 0;
	cfg->ca_file = NULL;
	cfg->smb_port = 445;
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

static const struct ckey *
find_key(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(config_keys[i].section, section) == 0 &&
		    strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

static int
known_section(const char *section)
{
	size_t i;

	for (i = 0; i < NSECTIONS; i++)
		if (strcmp(config_sections[i], section) == 0)
			return 1;
	return 0;
}

static void
cerr(struct cload *st, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
cerr(struct cload *st, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(st->d, st->path, line, 0, DIAG_ERROR, RULE_CONFIG, fmt, ap);
	va_end(ap);
	st->errors++;
}

/* "manifest, manifest_dir, ..." for a message; static storage. */
static const char *
section_key_list(const char *section)
{
	static char buf[512];
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < NKEYS; i++) {
		if (strcmp(config_keys[i].section, section) != 0)
			continue;
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s",
		    n > 0 ? ", " : "", config_keys[i].name);
		if (n >= sizeof(buf))
			break;
	}
	return buf;
}

static void
report_unknown_key(struct cload *st, const char *section, const char *name)
{
	const char *cand[NKEYS], *best;
	size_t i, n = 0;

	if (*name == '\0') {
		cerr(st, st->lineno, "a line has '=' but no key name before "
		    "it; write 'key = value'");
		return;
	}
	/* Right key, wrong section: say where it goes. */
	for (i = 0; i < NKEYS; i++)
		if (strcmp(config_keys[i].name, name) == 0) {
			if (*section == '\0')
				cerr(st, st->lineno, "key '%s' comes before "
				    "any section header; put it under [%s]",
				    name, config_keys[i].section);
			else
				cerr(st, st->lineno, "key '%s' belongs in "
				    "[%s], not [%s]; move it under [%s]", name,
				    config_keys[i].section, section,
				    config_keys[i].section);
			return;
		}
	if (*section == '\0') {
		for (i = 0; i < NKEYS; i++)
			cand[n++] = config_keys[i].name;
		best = util_closest(name, cand, n);
		if (best != NULL)
			cerr(st, st->lineno, "unknown key '%s' before any "
			    "section header; did you mean '%s' (under "
			    "[%s])?", name, best,
			    find_key("agent", best) ? "agent" : "engine");
		else
			cerr(st, st->lineno, "unknown key '%s' before any "
			    "section header; keys go under [agent] or "
			    "[engine]", name);
		return;
	}
	for (i = 0; i < NKEYS; i++)
		if (strcmp(config_keys[i].section, section) == 0)
			cand[n++] = config_keys[i].name;
	best = util_closest(name, cand, n);
	if (best != NULL)
		cerr(st, st->lineno, "unknown key '%s' in [%s]; did you mean "
		    "'%s'?", name, section, best);
	else
		cerr(st, st->lineno, "unknown key '%s' in [%s]; the keys of "
		    "[%s] are: %s", name, section, section,
		    section_key_list(section));
}

static int
parse_uint(const char *s, uint64_t *v)
{
	uint64_t n = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		if (n > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	if (*s != '\0')
		return -1;
	*v = n;
	return 0;
}

static int
parse_rate(const char *s, uint64_t *v)
{
	uint64_t n = 0, mul = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		if (n > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
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
	if (*s != '\0' || n > UINT64_MAX / mul)
		return -1;
	*v = n * mul;
	return 0;
}

static int
parse_enum(const char *s, const char *const *names, size_t n, int *v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (names[i] != NULL && strcasecmp(names[i], s) == 0) {
			*v = (int)i;
			return 0;
		}
	return -1;
}

/* The known-folder variables design §2 allows at the start of a Windows
 * destination; a root is only useful if a destination can match it. */
static const char *const known_folders[] = {
	"%ProgramData%", "%ProgramFiles%", "%ProgramFiles(x86)%",
	"%SystemRoot%", "%WinDir%", "%SystemDrive%", "%Public%"
};

static int
is_sep(char c)
{
	return c == '/' || c == '\\';
}

/* Absolute in one of the forms a destination may take: POSIX, UNC, a
 * drive ("X:\"), or a known-folder variable. */
static int
root_is_absolute(const char *s)
{
	size_t i, l;

	if (s[0] == '/')
		return 1;
	if (s[0] == '\\' && s[1] == '\\' && s[2] != '\0' && !is_sep(s[2]))
		return 1;
	if (isalpha((unsigned char)s[0]) && s[1] == ':' && is_sep(s[2]))
		return 1;
	for (i = 0; i < sizeof(known_folders) / sizeof(known_folders[0]);
	    i++) {
		l = strlen(known_folders[i]);
		if (strncasecmp(s, known_folders[i], l) == 0 &&
		    (s[l] == '\0' || is_sep(s[l])))
			return 1;
	}
	return 0;
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

static void
set_roots(struct cload *st, const struct ckey *k, const char *value)
{
	const char *p = value, *e, *b;
	char *root;
	size_t l, i, min;

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
		root = cfg_strndup(st->cfg, b, l);
		if (!root_is_absolute(root)) {
			cerr(st, st->lineno, "%s: '%s' is not an absolute "
			    "path; write a POSIX path (/srv/data), a "
			    "known folder (%%ProgramData%%\\Contoso), a "
			    "drive path (D:\\data) or a UNC path "
			    "(\\\\server\\share), e.g. %s", k->name, root,
			    k->example);
			continue;
		}
		if (has_dot_component(root)) {
			cerr(st, st->lineno, "%s: '%s' contains a '.' or "
			    "'..' component; write the folder without them",
			    k->name, root);
			continue;
		}
		/* Keep "/" and "X:\" whole; drop other trailing separators
		 * so that a prefix test needs no special case. */
		min = (isalpha((unsigned char)root[0]) && root[1] == ':') ?
		    3 : 1;
		while (l > min && is_sep(root[l - 1]))
			root[--l] = '\0';
		for (i = 0; i < st->nroots; i++)
			if (strcmp(st->roots[i], root) == 0)
				break;
		if (i < st->nroots)
			continue;
		if (st->nroots + 1 >= st->caproots) {
			st->caproots = st->caproots ? st->caproots * 2 : 8;
			st->roots = xrealloc(st->roots,
			    st->caproots * sizeof(*st->roots));
		}
		st->roots[st->nroots++] = root;
		st->roots[st->nroots] = NULL;
	}
}

static void
set_drives(struct cload *st, const struct ckey *k, const char *value,
    uint32_t *mask)
{
	const char *p = value, *e;
	size_t l;

	while (*p != '\0') {
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		for (e = p; *e != '\0' && *e != ',' &&
		    !isspace((unsigned char)*e); e++)
			;
		l = (size_t)(e - p);
		if ((l == 1 || (l == 2 && p[1] == ':')) &&
		    isalpha((unsigned char)p[0]))
			*mask |= UINT32_C(1) <<
			    (toupper((unsigned char)p[0]) - 'A');
		else
			cerr(st, st->lineno, "%s: '%.*s' is not a drive "
			    "letter; write single letters separated by "
			    "commas, e.g. %s", k->name, (int)l, p,
			    k->example);
		p = e;
	}
}

static void
set_value(struct cload *st, const struct ckey *k, const char *value)
{
	char *field = (char *)st->cfg + k->off;
	uint64_t v;
	int e;

	switch (k->kind) {
	case CK_PATH:
		if (*value == '\0') {
			if (k->flags & CF_EMPTY_OFF)
				*(char **)(void *)field = NULL;
			else
				cerr(st, st->lineno, "%s needs a value; write "
				    "an absolute path, e.g. %s", k->name,
				    k->example);
			break;
		}
		/* The service runs with / as its working directory, so a
		 * relative path would mean something other than it shows. */
		if (value[0] != '/') {
			cerr(st, st->lineno, "%s: '%s' is not an absolute "
			    "path; write one that starts with '/', e.g. %s",
			    k->name, value, k->example);
			break;
		}
		*(char **)(void *)field = cfg_strndup(st->cfg, value,
		    strlen(value));
		break;
	case CK_DURATION:
		if (util_parse_duration(value, &v) == -1) {
			cerr(st, st->lineno, "%s: '%s' is not a duration; "
			    "write an integer followed by s, m, h or d, "
			    "e.g. %s", k->name, value, k->example);
			break;
		}
		if (v < k->min || v > k->max) {
			char lo[32], hi[32];

			util_format_duration(k->min, lo, sizeof(lo));
			util_format_duration(k->max, hi, sizeof(hi));
			cerr(st, st->lineno, "%s: %s is out of range; write "
			    "a duration from %s to %s, e.g. %s", k->name,
			    value, lo, hi, k->example);
			break;
		}
		*(uint64_t *)(void *)field = v;
		break;
	case CK_UINT:
		if (parse_uint(value, &v) == -1 || v < k->min ||
		    v > k->max) {
			cerr(st, st->lineno, "%s: '%s' is not a whole number "
			    "from %" PRIu64 " to %" PRIu64 "; write e.g. %s",
			    k->name, value, k->min, k->max, k->example);
			break;
		}
		*(unsigned *)(void *)field = (unsigned)v;
		break;
	case CK_RATE:
		if (parse_rate(value, &v) == -1) {
			cerr(st, st->lineno, "%s: '%s' is not a rate; write "
			    "bytes per second as an integer, optionally "
			    "followed by k, M or G (times 1024, 1024^2, "
			    "1024^3), or 0 for unlimited, e.g. %s", k->name,
			    value, k->example);
			break;
		}
		*(uint64_t *)(void *)field = v;
		break;
	case CK_BACKEND:
		if (parse_enum(value, backend_names,
		    sizeof(backend_names) / sizeof(backend_names[0]),
		    &e) == -1) {
			cerr(st, st->lineno, "%s: '%s' is not a backend; "
			    "write engine or bits", k->name, value);
			break;
		}
		*(enum config_backend *)(void *)field =
		    (enum config_backend)e;
		break;
	case CK_LOG_LEVEL:
		if (parse_enum(value, log_level_names,
		    sizeof(log_level_names) / sizeof(log_level_names[0]),
		    &e) == -1) {
			const char *best = util_closest(value,
			    log_level_names, sizeof(log_level_names) /
			    sizeof(log_level_names[0]));

			if (best != NULL)
				cerr(st, st->lineno, "%s: '%s' is not a log "
				    "level; did you mean '%s'? (write error, "
				    "warning, info or debug)", k->name, value,
				    best);
			else
				cerr(st, st->lineno, "%s: '%s' is not a log "
				    "level; write error, warning, info or "
				    "debug", k->name, value);
			break;
		}
		*(enum log_level *)(void *)field = (enum log_level)e;
		break;
	case CK_DRIVES:
		set_drives(st, k, value, (uint32_t *)(void *)field);
		break;
	case CK_ROOTS:
		set_roots(st, k, value);
		break;
	}
}

static int
config_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct cload *st = user;
	const struct ckey *k;
	size_t i;
	int cont = st->cont;

	/* The reader already said why this line is wrong, or the section
	 * is unknown and was reported at its header. */
	if (st->syntax_line == st->lineno)
		goto out;
	/* inih remembers every key, known or not, for continuations. */
	st->has_prev = 1;
	if (*section != '\0' && !st->section_ok)
		goto out;
	k = find_key(section, name);
	if (k == NULL) {
		/* A continuation of an unknown key was reported with it. */
		if (!cont)
			report_unknown_key(st, section, name);
		goto out;
	}
	i = (size_t)(k - config_keys);
	if (cont) {
		if (k->kind != CK_DRIVES && k->kind != CK_ROOTS) {
			cerr(st, st->lineno, "this line starts with "
			    "whitespace, so it continues the value of '%s' "
			    "(line %u); remove the indentation (only "
			    "allow_drives and allow_roots may continue on "
			    "indented lines)", k->name, st->seen[i]);
			goto out;
		}
		set_value(st, k, value);
		goto out;
	}
	if (st->seen[i] != 0) {
		cerr(st, st->lineno, "duplicate key '%s' (first set on line "
		    "%u); keep only one of the two lines", k->name,
		    st->seen[i]);
		goto out;
	}
	st->seen[i] = st->lineno;
	/* An empty list says "none" even though the default is also none:
	 * a later continuation line appends to it. */
	if (k->kind == CK_DRIVES)
		*(uint32_t *)(void *)((char *)st->cfg + k->off) = 0;
	set_value(st, k, value);
out:
	/* Nonzero: keep going; errors are counted in st, not by inih. */
	return 1;
}

static const char *
skip_space(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

/* Looks at one physical line the way inih will, to keep what inih does not
 * pass on: line numbers, section headers, continuation lines, syntax. */
static void
classify_line(struct cload *st, const char *line)
{
	const char *start = line, *p, *end;
	char name[64];
	size_t l;

	st->cont = 0;
	if (st->lineno == 1 && strncmp(line, "\xEF\xBB\xBF", 3) == 0)
		line += 3;
	start = skip_space(line);
	if (*start == '\0' || *start == ';' || *start == '#')
		return;
	if (start > line && st->has_prev) {
		st->cont = 1;
		return;
	}
	if (*start == '[') {
		p = strchr(start + 1, ']');
		if (p == NULL) {
			st->syntax_line = st->lineno;
			cerr(st, st->lineno, "section header without ']'; "
			    "write [agent] or [engine]");
			return;
		}
		st->has_prev = 0;
		l = (size_t)(p - (start + 1));
		if (l >= sizeof(name))
			l = sizeof(name) - 1;
		memcpy(name, start + 1, l);
		name[l] = '\0';
		st->section_ok = known_section(name);
		if (!st->section_ok) {
			const char *best = util_closest(name,
			    config_sections, NSECTIONS);

			if (best != NULL)
				cerr(st, st->lineno, "unknown section [%s]; "
				    "did you mean [%s]?", name, best);
			else
				cerr(st, st->lineno, "unknown section [%s]; "
				    "the sections are [agent] and [engine]",
				    name);
		}
		return;
	}
	/* inih splits at the first '=' or ':' before an inline comment. */
	for (end = start; *end != '\0' && *end != '=' && *end != ':'; end++)
		if (*end == ';' && end > start && isspace((unsigned char)
		    end[-1]))
			break;
	if (*end != '=' && *end != ':') {
		st->syntax_line = st->lineno;
		cerr(st, st->lineno, "this line is neither a [section] "
		    "header nor 'key = value'; write 'key = value', or "
		    "start a comment with ';' or '#'");
	}
}

/* inih's fgets-style reader: one physical line per call. */
static char *
config_reader(char *str, int num, void *stream)
{
	struct cload *st = stream;
	const char *p;
	ssize_t n;
	size_t len;

	errno = 0;
	n = getline(&st->line, &st->linecap, st->fp);
	if (n < 0) {
		if (ferror(st->fp))
			st->read_error = errno ? errno : EIO;
		return NULL;
	}
	len = (size_t)n;
	st->lineno++;
	/* Past these two, what inih would see is not what the file says:
	 * hand it an empty line and say why here. */
	if (memchr(st->line, '\0', len) != NULL) {
		cerr(st, st->lineno, "this line contains a NUL byte; the "
		    "config must be a text file");
		goto blank;
	}
	if (num < 2 || len > (size_t)num - 1) {
		/* A long comment is harmless once swallowed whole. */
		p = st->line;
		if (st->lineno == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
			p += 3;
		p = skip_space(p);
		if (*p == ';' || *p == '#')
			goto blank_ok;
		cerr(st, st->lineno, "this line is longer than %d bytes, "
		    "the most the INI reader takes; shorten it, or for "
		    "allow_roots put more entries on indented continuation "
		    "lines", num > 3 ? num - 3 : 0);
		goto blank;
	}
	classify_line(st, st->line);
	memcpy(str, st->line, len + 1);
	return str;
blank:
	st->syntax_line = st->lineno;
blank_ok:
	st->cont = 0;
	if (num >= 2) {
		str[0] = '\n';
		str[1] = '\0';
	} else if (num == 1)
		str[0] = '\0';
	return str;
}

static unsigned
seen_line(const struct cload *st, const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return st->seen[i];
	return 0;
}

/* Rules between keys, checked once the file is read. */
static void
check_whole(struct cload *st)
{
	struct config *cfg = st->cfg;
	unsigned line, l2;
	char a[32], b[32];

	if (cfg->splay > cfg->interval) {
		line = seen_line(st, "splay");
		if (line == 0)
			line = seen_line(st, "interval");
		util_format_duration(cfg->splay, a, sizeof(a));
		util_format_duration(cfg->interval, b, sizeof(b));
		cerr(st, line, "splay (%s) is longer than interval (%s); a "
		    "random delay must fit in the period, so write a splay "
		    "of at most %s", a, b, b);
	}
	if (cfg->manifest == NULL && cfg->manifest_dir == NULL) {
		line = seen_line(st, "manifest");
		l2 = seen_line(st, "manifest_dir");
		cerr(st, line > l2 ? line : l2, "neither manifest nor "
		    "manifest_dir is set, so there is nothing to enforce; set "
		    "at least one, e.g. manifest_dir = /etc/bitsync/manifest.d");
	}
}

int
config_load(struct config *cfg, const char *path, int missing_ok,
    struct diags *d)
{
	struct cload st;
	struct stat sb;
	int rc = -1, r;

	config_defaults(cfg);
	memset(&st, 0, sizeof(st));
	st.cfg = cfg;
	st.path = path;
	st.d = d;
	st.fp = fopen(path, "r");
	if (st.fp == NULL) {
		if (errno == ENOENT && missing_ok) {
			rc = 0;
			goto out;
		}
		diag_add(d, path, 0, 0, DIAG_ERROR, RULE_IO, "cannot open "
		    "the agent config: %s; create it (samples/bitsync.ini "
		    "shows every key) or name another with -c",
		    strerror(errno));
		goto out;
	}
	if (fstat(fileno(st.fp), &sb) == -1 || !S_ISREG(sb.st_mode)) {
		diag_add(d, path, 0, 0, DIAG_ERROR, RULE_IO, "the agent "
		    "config is not a regular file; name the .ini file "
		    "itself");
		goto out;
	}
	r = ini_parse_stream(config_reader, &st, config_handler, &st);
	if (st.read_error) {
		diag_add(d, path, st.lineno, 0, DIAG_ERROR, RULE_IO, "cannot "
		    "read the agent config: %s", strerror(st.read_error));
		goto out;
	}
	/* classify_line mirrors inih's syntax; this catches any line it
	 * did not foresee. */
	if (r > 0 && st.errors == 0)
		cerr(&st, (unsigned)r, "this line is neither a [section] "
		    "header nor 'key = value'");
	else if (r < 0 && st.errors == 0) {
		diag_add(d, path, 0, 0, DIAG_ERROR, RULE_IO, "cannot read "
		    "the agent config (inih error %d)", r);
		goto out;
	}
	if (st.errors == 0)
		check_whole(&st);
	if (st.errors > 0)
		goto out;
	if (st.nroots > 0) {
		cfg->allow_roots = cfg_alloc(cfg,
		    (st.nroots + 1) * sizeof(char *));
		memcpy(cfg->allow_roots, st.roots,
		    (st.nroots + 1) * sizeof(char *));
		cfg->nallow_roots = st.nroots;
	}
	cfg->path = cfg_strndup(cfg, path, strlen(path));
	rc = 0;
out:
	if (rc == -1)
		config_free(cfg);
	if (st.fp != NULL)
		fclose(st.fp);
	free(st.line);
	free(st.roots);
	return rc;
}
