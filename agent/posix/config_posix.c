/* config_posix.c - the agent configuration (design §6): bitsync.ini,
 * read with inih.
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
 * The keys, their value syntax and the rules between them are shared with
 * the registry reader (win/config_win.c) in config_keys.c; this file is
 * what is INI about the config:
 *  - allow_drives and allow_roots may continue on indented lines (inih's
 *    multi-line values), which keeps long root lists readable; every other
 *    key must fit on its own line.
 *  - key and section names are matched exactly, with a suggestion on a
 *    miss; a key may be set only once.
 *  - paths are POSIX paths; allow_roots entries may also be written the
 *    ways a Windows destination is (a drive, UNC, a known folder), as one
 *    manifest may serve both kinds of hosts. */
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
#include "config_keys.h"
#include "util.h"

#define RULE_CONFIG	"config"
#define RULE_IO		"io-error"

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

/* The service runs with / as its working directory. */
static int
path_absolute(const char *s)
{
	return s[0] == '/';
}

/* Absolute in one of the forms a destination may take: POSIX, UNC, a
 * drive ("X:\"), or a known-folder variable. */
static int
root_absolute(const char *s)
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

static const struct csyntax ini_syntax = {
	.windows = 0,
	.expand = NULL,
	.path_absolute = path_absolute,
	.root_absolute = root_absolute,
	.path_hint = "write one that starts with '/'",
	.root_hint = "write a POSIX path (/srv/data), a known folder "
	    "(%ProgramData%\\Contoso), a drive path (D:\\data) or a UNC path "
	    "(\\\\server\\share)",
	.example_line = 1,
};

/* What the reader and the handler share while one file is read. */
struct cload {
	struct cset	 cs;
	const char	*path;
	FILE		*fp;
	char		*line;		/* getline buffer */
	size_t		 linecap;
	unsigned	 lineno;
	int		 read_error;
	/* Mirrors inih's state, which it does not pass to handlers. */
	int		 has_prev;	/* a key was read since the header */
	int		 cont;		/* this line continues the last key */
	int		 section_ok;	/* the current section is known */
	unsigned	 syntax_line;	/* last line reported as bad syntax */
};

void
config_defaults(struct config *cfg)
{
	ckeys_defaults(cfg);
	cfg->path = NULL;
	cfg->manifest = "/etc/bitsync/manifest.yaml";
	cfg->manifest_dir = "/etc/bitsync/manifest.d";
	cfg->state_dir = "/var/lib/bitsync";
	cfg->backend = BACKEND_ENGINE;
	cfg->credential_dir = "/etc/bitsync/credentials";
	cfg->status_file = "/var/lib/bitsync/status.json";
	cfg->machine_keytab = "/etc/krb5.keytab";
}

static int
known_section(const char *section)
{
	size_t i;

	for (i = 0; i < config_nsections; i++)
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
	diag_vadd(st->cs.d, st->path, line, 0, DIAG_ERROR, RULE_CONFIG, fmt,
	    ap);
	va_end(ap);
	st->cs.errors++;
}

static void
report_unknown_key(struct cload *st, const char *section, const char *name)
{
	const char *cand[CKEYS_MAX], *best;
	size_t i, n = 0;

	if (*name == '\0') {
		cerr(st, st->lineno, "a line has '=' but no key name before "
		    "it; write 'key = value'");
		return;
	}
	/* Right key, wrong section: say where it goes. */
	for (i = 0; i < config_nkeys; i++)
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
		for (i = 0; i < config_nkeys; i++)
			cand[n++] = config_keys[i].name;
		best = util_closest(name, cand, n);
		if (best != NULL)
			cerr(st, st->lineno, "unknown key '%s' before any "
			    "section header; did you mean '%s' (under "
			    "[%s])?", name, best,
			    ckeys_find("agent", best, 0) ? "agent" : "engine");
		else
			cerr(st, st->lineno, "unknown key '%s' before any "
			    "section header; keys go under [agent] or "
			    "[engine]", name);
		return;
	}
	for (i = 0; i < config_nkeys; i++)
		if (strcmp(config_keys[i].section, section) == 0)
			cand[n++] = config_keys[i].name;
	best = util_closest(name, cand, n);
	if (best != NULL)
		cerr(st, st->lineno, "unknown key '%s' in [%s]; did you mean "
		    "'%s'?", name, section, best);
	else
		cerr(st, st->lineno, "unknown key '%s' in [%s]; the keys of "
		    "[%s] are: %s", name, section, section,
		    ckeys_section_list(section));
}

static int
config_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct cload *st = user;
	const struct ckey *k;
	unsigned first;
	int cont = st->cont;

	/* The reader already said why this line is wrong, or the section
	 * is unknown and was reported at its header. */
	if (st->syntax_line == st->lineno)
		goto out;
	/* inih remembers every key, known or not, for continuations. */
	st->has_prev = 1;
	if (*section != '\0' && !st->section_ok)
		goto out;
	k = ckeys_find(section, name, 0);
	if (k == NULL) {
		/* A continuation of an unknown key was reported with it. */
		if (!cont)
			report_unknown_key(st, section, name);
		goto out;
	}
	if (cont) {
		if (k->kind != CK_DRIVES && k->kind != CK_ROOTS) {
			cerr(st, st->lineno, "this line starts with "
			    "whitespace, so it continues the value of '%s' "
			    "(line %u); remove the indentation (only "
			    "allow_drives and allow_roots may continue on "
			    "indented lines)", k->name,
			    ckeys_seen_line(&st->cs, k));
			goto out;
		}
		ckeys_set(&st->cs, k, st->path, st->lineno, value, 1);
		goto out;
	}
	if ((first = ckeys_seen_line(&st->cs, k)) != 0) {
		cerr(st, st->lineno, "duplicate key '%s' (first set on line "
		    "%u); keep only one of the two lines", k->name, first);
		goto out;
	}
	ckeys_set(&st->cs, k, st->path, st->lineno, value, 0);
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
			    config_sections, config_nsections);

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

int
config_load(struct config *cfg, const char *path, int missing_ok,
    struct diags *d)
{
	struct cload st;
	struct stat sb;
	int rc = -1, r;

	config_defaults(cfg);
	memset(&st, 0, sizeof(st));
	st.path = path;
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
	ckeys_begin(&st.cs, cfg, d, &ini_syntax);
	r = ini_parse_stream(config_reader, &st, config_handler, &st);
	if (st.read_error) {
		diag_add(d, path, st.lineno, 0, DIAG_ERROR, RULE_IO, "cannot "
		    "read the agent config: %s", strerror(st.read_error));
		st.cs.errors++;
	} else if (r > 0 && st.cs.errors == 0) {
		/* classify_line mirrors inih's syntax; this catches any
		 * line it did not foresee. */
		cerr(&st, (unsigned)r, "this line is neither a [section] "
		    "header nor 'key = value'");
	} else if (r < 0 && st.cs.errors == 0) {
		diag_add(d, path, 0, 0, DIAG_ERROR, RULE_IO, "cannot read "
		    "the agent config (inih error %d)", r);
		st.cs.errors++;
	}
	/* All or nothing: the rules between keys, then the whole file. */
	if (ckeys_finish(&st.cs, path) == -1)
		goto out;
	cfg->path = config_strndup(cfg, path, strlen(path));
	rc = 0;
out:
	if (rc == -1)
		config_free(cfg);
	if (st.fp != NULL)
		fclose(st.fp);
	free(st.line);
	return rc;
}
