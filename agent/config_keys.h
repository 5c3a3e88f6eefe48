/* config_keys.h - the agent configuration's keys (design §6), shared by its
 * two readers: posix/config_posix.c (bitsync.ini, read with inih) and
 * win/config_win.c (the registry).
 *
 * The keys are one data table (section, name, kind, bounds, where the value
 * goes in struct config), after Redis's standardConfig.  A reader finds the
 * text of a value in its own store and hands it to ckeys_set() with the
 * place it came from ("FILE", line; or a registry value's full name, line
 * 0): every problem is a diagnostic at that place.  ckeys_finish() checks
 * the rules between keys and accepts the whole config or refuses it all, so
 * a half-applied config never steers a privileged agent.
 *
 * What differs between the readers is the path syntax (POSIX paths as
 * written; Windows paths after expanding %VARIABLES%) and how an example is
 * shown ("interval = 15m" in a file, "15m" in a registry value): struct
 * csyntax. */
#ifndef BITSYNC_CONFIG_KEYS_H
#define BITSYNC_CONFIG_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "diag.h"

enum ckind {
	CK_PATH,	/* absolute path; char * */
	CK_DURATION,	/* util_parse_duration; uint64_t seconds */
	CK_UINT,	/* decimal; unsigned */
	CK_RATE,	/* bytes per second with k/M/G; uint64_t */
	CK_BACKEND,	/* enum config_backend */
	CK_LOG_LEVEL,	/* enum log_level */
	CK_LOG_FORMAT,	/* enum log_format */
	CK_DRIVES,	/* uint32_t bit mask */
	CK_ROOTS,	/* char ** + nallow_roots */
	CK_CALLS,	/* uint32_t mask of CONFIG_TOLERATE_* */
	CK_PRINCIPAL,	/* a Kerberos principal NAME[@REALM]; char *, "" off */
	CK_BOOL		/* yes/no, true/false, on/off, 1/0; int */
};

#define CF_EMPTY_OFF	0x1	/* an empty path stores NULL (off) */
#define CF_LOCAL_ONLY	0x2	/* a test-host setting: not read from Group
				 * Policy (HKLM\SOFTWARE\Policies\bitsync) */

struct ckey {
	const char	*section;
	const char	*name;
	enum ckind	 kind;
	unsigned	 flags;
	uint64_t	 min, max;	/* CK_DURATION, CK_UINT */
	size_t		 off;
	const char	*example;	/* a good value (POSIX) */
	const char	*example_win;	/* on Windows; NULL: as example */
};

#define CKEYS_MAX	32	/* at least config_nkeys, for arrays */

extern const struct ckey config_keys[];
extern const size_t config_nkeys;
extern const char *const config_sections[];
extern const size_t config_nsections;

/* A list of keys of the section for a message, "a, b, c"; static storage. */
const char *ckeys_section_list(const char *section);

/* The key, by exact name (icase: any case, as registry names are). */
const struct ckey *ckeys_find(const char *section, const char *name,
    int icase);

/* What a reader's values look like. */
struct csyntax {
	int	 windows;	/* Windows paths and examples */
	/* Expands a value before it is checked (Windows %VARIABLES%); NULL:
	 * values are taken as written.  Returns an allocated string. */
	char	*(*expand)(const char *);
	/* An absolute path for a path key and for an allow_roots entry. */
	int	 (*path_absolute)(const char *);
	int	 (*root_absolute)(const char *);
	const char *path_hint;	/* "write one that starts with '/'" */
	const char *root_hint;	/* the forms allow_roots takes */
	int	 example_line;	/* examples as "key = value" */
};

/* One load in progress. */
struct cset {
	struct config		*cfg;
	struct diags		*d;
	const struct csyntax	*syn;
	int			 errors;
	/* Where the value being set was written: file or registry value. */
	const char		*where;
	unsigned		 line;
	/* Where each key was last set (allocated), line 0 for a registry. */
	char			**seen_where;
	unsigned		*seen_line;
	char			**roots;	/* allow_roots being built */
	size_t			 nroots, caproots;
	int			 roots_set;
};

void ckeys_begin(struct cset *cs, struct config *cfg, struct diags *d,
    const struct csyntax *syn);

/* Error at the current place (cs->where, cs->line). */
void ckeys_err(struct cset *cs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "name = example" or "example", for a message; static storage. */
const char *ckeys_example(const struct cset *cs, const struct ckey *k);

/* Sets k from its text at (where, line).  append: the value continues the
 * list k was last set to (an INI continuation line); otherwise a list
 * starts anew, so a later source (Group Policy) replaces an earlier one. */
void ckeys_set(struct cset *cs, const struct ckey *k, const char *where,
    unsigned line, const char *value, int append);

/* Line k was set on, 0 when it was not set (or read from a registry). */
unsigned ckeys_seen_line(const struct cset *cs, const struct ckey *k);

/* Checks the rules between keys (fallback: where to report one whose keys
 * were not set here) and commits the lists.  Returns 0 when the config is
 * accepted, -1 (cfg back at the defaults) when it is refused.  Frees what
 * the load held either way. */
int ckeys_finish(struct cset *cs, const char *fallback);

/* Storage of a loaded config, freed by config_free. */
void *config_alloc(struct config *cfg, size_t n);
char *config_strndup(struct config *cfg, const char *s, size_t n);

/* The defaults that are the same everywhere (paths are set by the
 * reader's config_defaults). */
void ckeys_defaults(struct config *cfg);

#endif
