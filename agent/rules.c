/* rules.c - the manifest's validation rules (README "Validation rules").
 *
 * The structure is checked from data tables (struct field), as Redis does
 * its config: a key's name, type and bounds live in one row, and one
 * generic walker reports unknown keys (with the closest valid one), wrong
 * types, bad enum values and missing keys.  The semantic rules (UNC only,
 * network identity, destinations, secrets, cross-file names) follow as
 * one function each.  Every problem is reported; nothing stops at the
 * first. */
#include "rules.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "command_rules.h"
#include "config.h"
#include "krb.h"
#include "platform.h"
#include "util.h"

struct ctx {
	const struct manifest_opts *opts;
	struct diags *d;
	const struct ydoc *doc;		/* the file being walked */
	int dropin;
	struct manifest *m;
	struct arena *arena;		/* model strings and arrays */
	size_t cap_sources, cap_sets;
	struct strset source_names;	/* name -> struct msource index+1 */
	struct strset set_names;	/* name -> struct mset index+1 */
};

static void
report(struct ctx *c, const struct ynode *at, enum diag_severity sev,
    const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
report(struct ctx *c, const struct ynode *at, enum diag_severity sev,
    const char *rule, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(c->d, c->doc->file, at ? at->line : 1, at ? at->col : 1,
	    sev, rule, fmt, ap);
	va_end(ap);
}

#define ERR(c, at, rule, ...) report(c, at, DIAG_ERROR, rule, __VA_ARGS__)
#define WARN(c, at, rule, ...) report(c, at, DIAG_WARNING, rule, __VA_ARGS__)

/* Whether this validation is for the host it runs on, so the host's own
 * runtime checks apply (not for `validate --platform` of another kind). */
#define for_host(c) ((c)->opts->platform == model_host_platform())

/* ---- the schema tables ---------------------------------------------- */

enum ftype {
	FT_STR,		/* non-empty string */
	FT_VERSION,	/* checked by the version rule */
	FT_ENUM,
	FT_DURATION,
	FT_MAP,
	FT_SEQ,
	FT_STR_SEQ,	/* list of non-empty strings */
	FT_ANY		/* checked by its own rule */
};

struct field {
	const char *name;
	enum ftype type;
	int required;
	const char *const *values;	/* FT_ENUM, NULL-terminated */
	uint64_t min;			/* FT_DURATION: smallest non-zero */
	int zero_ok;			/* FT_DURATION: 0 allowed */
	const char *zero_means;		/* FT_DURATION: for messages */
};

static const char *const priority_values[] =
    { "foreground", "high", "normal", "low", NULL };
static const char *const on_remove_values[] = { "keep", "delete", NULL };
static const char *const mode_values[] = { "enforce", "monitor", NULL };
static const char *const auth_values[] = { "computer", NULL };
static const char *const proxy_usage_values[] =
    { "override", "no_proxy", "preconfig", "autodetect", NULL };
static const char *const token_usage_values[] =
    { "network", "local_file", NULL };

/* The settings any set may override; defaults: holds exactly these. */
#define SETTINGS_FIELDS \
	{ "priority", FT_ENUM, 0, priority_values, 0, 0, NULL }, \
	{ "refresh", FT_DURATION, 0, NULL, 1, 1, "never re-check" }, \
	{ "retry_delay", FT_DURATION, 0, NULL, 5, 0, NULL }, \
	{ "no_progress_timeout", FT_DURATION, 0, NULL, 1, 0, NULL }, \
	{ "max_download_time", FT_DURATION, 0, NULL, 1, 1, "no limit" }, \
	{ "on_remove", FT_ENUM, 0, on_remove_values, 0, 0, NULL }, \
	{ "mode", FT_ENUM, 0, mode_values, 0, 0, NULL }
enum { S_PRIORITY, S_REFRESH, S_RETRY, S_NOPROGRESS, S_MAXTIME, S_ONREMOVE,
	S_MODE, S_COUNT };

static const struct field top_fields[] = {
	{ "version", FT_VERSION, 0, NULL, 0, 0, NULL },
	{ "defaults", FT_MAP, 0, NULL, 0, 0, NULL },
	{ "sources", FT_MAP, 0, NULL, 0, 0, NULL },
	{ "sets", FT_SEQ, 0, NULL, 0, 0, NULL },
};
enum { T_VERSION, T_DEFAULTS, T_SOURCES, T_SETS, T_COUNT };

static const struct field settings_fields[] = { SETTINGS_FIELDS };

static const struct field source_fields[] = {
	{ "url", FT_STR, 1, NULL, 0, 0, NULL },
	{ "auth", FT_ENUM, 0, auth_values, 0, 0, NULL },
	{ "proxy", FT_MAP, 0, NULL, 0, 0, NULL },
	{ "headers", FT_STR_SEQ, 0, NULL, 0, 0, NULL },
	{ "helper_token", FT_MAP, 0, NULL, 0, 0, NULL },
	{ "client_certificate", FT_STR, 0, NULL, 0, 0, NULL },
};
enum { SRC_URL, SRC_AUTH, SRC_PROXY, SRC_HEADERS, SRC_TOKEN, SRC_CLIENT_CERT,
	SRC_COUNT };

static const struct field proxy_fields[] = {
	{ "usage", FT_ENUM, 1, proxy_usage_values, 0, 0, NULL },
	{ "servers", FT_STR_SEQ, 0, NULL, 0, 0, NULL },
	{ "bypass", FT_STR_SEQ, 0, NULL, 0, 0, NULL },
};
enum { PX_USAGE, PX_SERVERS, PX_BYPASS, PX_COUNT };

static const struct field token_fields[] = {
	{ "credential", FT_STR, 1, NULL, 0, 0, NULL },
	{ "usage", FT_STR_SEQ, 0, NULL, 0, 0, NULL },
};
enum { TK_CREDENTIAL, TK_USAGE, TK_COUNT };

static const struct field set_fields[] = {
	SETTINGS_FIELDS,
	{ "name", FT_STR, 1, NULL, 0, 0, NULL },
	{ "source", FT_STR, 1, NULL, 0, 0, NULL },
	{ "path", FT_STR, 0, NULL, 0, 0, NULL },
	{ "destination", FT_STR, 1, NULL, 0, 0, NULL },
	{ "files", FT_SEQ, 1, NULL, 0, 0, NULL },
	{ "on_change", FT_ANY, 0, NULL, 0, 0, NULL },
};
enum { SET_NAME = S_COUNT, SET_SOURCE, SET_PATH, SET_DEST, SET_FILES,
	SET_ON_CHANGE, SET_COUNT };

static const struct field file_fields[] = {
	{ "path", FT_STR, 1, NULL, 0, 0, NULL },
	{ "as", FT_STR, 0, NULL, 0, 0, NULL },
	{ "sha256", FT_STR, 0, NULL, 0, 0, NULL },
};
enum { F_PATH, F_AS, F_SHA, F_COUNT };

#define NFIELDS(t) (sizeof(t) / sizeof((t)[0]))

/* ---- small predicates ----------------------------------------------- */

static int
is_str(const struct ynode *n)
{
	return n->kind == YN_SCALAR && n->type == YS_STR;
}

static int
starts_with_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* Unknown keys that look like secrets get inline-secret instead of a
 * "did you mean": the fix is a different place, not a different name. */
static int
looks_secret_n(const char *key, size_t len)
{
	static const char *const inner[] = { "password", "passwd", "secret",
	    "token", "apikey", "api_key", "api-key", "private_key",
	    "privatekey", "access_key", "credentials" };
	static const char *const whole[] = { "pass", "pwd", "key", "sas",
	    "sig", "signature" };
	char *low = xstrndup(key, len);
	size_t i;
	int found = 0;

	for (i = 0; low[i] != '\0'; i++)
		low[i] = (char)tolower((unsigned char)low[i]);
	for (i = 0; i < NFIELDS(inner) && !found; i++)
		found = strstr(low, inner[i]) != NULL;
	for (i = 0; i < NFIELDS(whole) && !found; i++)
		found = strcmp(low, whole[i]) == 0;
	free(low);
	return found;
}

static int
looks_secret(const char *key)
{
	return looks_secret_n(key, strlen(key));
}

static const char *
enum_list(const char *const *values, char *buf, size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; values[i] != NULL && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
		    i ? ", " : "", values[i]);
	return buf;
}

static void
check_value(struct ctx *c, const struct field *f, const struct ynode *v,
    const struct ynode **slot)
{
	char list[256];
	uint64_t secs;
	size_t i;

	if (v->kind == YN_REFUSED) {
		*slot = NULL;	/* reported by the reader */
		return;
	}
	switch (f->type) {
	case FT_STR:
		if (!is_str(v)) {
			ERR(c, v, RULE_SCHEMA, "'%s' must be a string, not %s%s",
			    f->name, ynode_describe(v), v->kind == YN_SCALAR ?
			    "; put it in quotes" : "");
			*slot = NULL;
		} else if (v->n == 0) {
			ERR(c, v, RULE_SCHEMA, "'%s' is empty; give it a value "
			    "or remove the key", f->name);
			*slot = NULL;
		}
		break;
	case FT_ENUM:
		if (is_str(v))
			for (i = 0; f->values[i] != NULL; i++)
				if (strcmp(v->u.s, f->values[i]) == 0)
					return;
		{
			size_t nv = 0;
			const char *near;

			while (f->values[nv] != NULL)
				nv++;
			near = is_str(v) ? util_closest(v->u.s, f->values, nv) :
			    NULL;

			ERR(c, v, RULE_SCHEMA, "'%s' must be one of %s%s%s%s",
			    f->name, enum_list(f->values, list, sizeof(list)),
			    near ? "; did you mean '" : "", near ? near : "",
			    near ? "'?" : "");
		}
		*slot = NULL;
		break;
	case FT_DURATION:
		if (v->kind == YN_SCALAR && v->type == YS_INT &&
		    strcmp(v->u.s, "0") == 0) {
			if (f->zero_ok)
				return;
		} else if (is_str(v) && util_parse_duration(v->u.s, &secs)
		    == 0) {
			if (secs == 0 && f->zero_ok)
				return;
			if (secs != 0 && secs >= f->min)
				return;
			if (secs != 0) {
				ERR(c, v, RULE_SCHEMA, "'%s' must be at least "
				    "%llus (BITS refuses shorter); write e.g. "
				    "'%llus' or '1m'", f->name,
				    (unsigned long long)f->min,
				    (unsigned long long)f->min);
				*slot = NULL;
				return;
			}
		} else {
			ERR(c, v, RULE_SCHEMA, "'%s' must be a duration: a "
			    "number followed by s, m, h or d, like '90s', "
			    "'10m', '6h' or '14d'%s%s%s", f->name,
			    f->zero_ok ? ", or 0 for " : "",
			    f->zero_ok ? f->zero_means : "",
			    v->kind == YN_SCALAR && v->type == YS_INT ?
			    "; add the unit" : "");
			*slot = NULL;
			return;
		}
		ERR(c, v, RULE_SCHEMA, "'%s' cannot be 0; give a duration "
		    "such as '%s'", f->name, f->min >= 5 ? "10m" : "14d");
		*slot = NULL;
		break;
	case FT_MAP:
		if (v->kind != YN_MAP && !(v->kind == YN_SCALAR &&
		    v->type == YS_NULL)) {
			ERR(c, v, RULE_SCHEMA, "'%s' must be a mapping of keys "
			    "and values, not %s", f->name, ynode_describe(v));
			*slot = NULL;
		}
		break;
	case FT_SEQ:
	case FT_STR_SEQ:
		if (v->kind != YN_SEQ) {
			ERR(c, v, RULE_SCHEMA, "'%s' must be a list (items "
			    "starting with '- ' or written [a, b]), not %s",
			    f->name, ynode_describe(v));
			*slot = NULL;
			return;
		}
		if (f->type == FT_STR_SEQ)
			for (i = 0; i < v->n; i++)
				if (v->u.items[i].kind != YN_REFUSED &&
				    (!is_str(&v->u.items[i]) ||
				    v->u.items[i].n == 0)) {
					ERR(c, &v->u.items[i], RULE_SCHEMA,
					    "each item of '%s' must be a "
					    "non-empty string, not %s", f->name,
					    ynode_describe(&v->u.items[i]));
					*slot = NULL;
				}
		break;
	case FT_VERSION:
	case FT_ANY:
		break;
	}
}

/* Walks a mapping against a table: got[i] receives the value of
 * fields[i] when present and well-typed.  Missing required keys are
 * reported at 'at' (the key that holds the mapping, so the message points
 * where the admin looks).  Returns 0 when map is not a mapping
 * (reported). */
static int
read_map(struct ctx *c, const struct ynode *map, const struct ynode *at,
    const struct field *fields, size_t nfields, const char *where,
    const struct ynode **got)
{
	const char *names[16];
	char list[256];
	size_t i, j;
	unsigned seen = 0;	/* bit j: fields[j] is present */

	memset(got, 0, nfields * sizeof(*got));
	if (map->kind == YN_REFUSED)
		return 0;
	if (map->kind != YN_MAP) {
		ERR(c, map, RULE_SCHEMA, "%s must be a mapping of keys and "
		    "values, not %s", where, ynode_describe(map));
		return 0;
	}
	for (i = 0; i < nfields; i++)
		names[i] = fields[i].name;
	names[nfields] = NULL;
	for (i = 0; i < map->n; i++) {
		const struct ynode *k = &map->u.pairs[i].key;
		const struct ynode *v = &map->u.pairs[i].value;

		if (k->kind == YN_REFUSED)
			continue;
		if (k->kind != YN_SCALAR || k->type != YS_STR) {
			ERR(c, k, RULE_SCHEMA, "keys in %s must be plain names, "
			    "not %s", where, ynode_describe(k));
			continue;
		}
		/* First characters first: most keys differ from most field
		 * names there, and this runs for every key of every set. */
		for (j = 0; j < nfields; j++)
			if (k->u.s[0] == fields[j].name[0] &&
			    strcmp(k->u.s, fields[j].name) == 0)
				break;
		if (j < nfields) {
			seen |= 1u << j;
			got[j] = v;
			check_value(c, &fields[j], v, &got[j]);
			continue;
		}
		if (looks_secret(k->u.s)) {
			ERR(c, k, RULE_INLINE_SECRET, "'%s' looks like a secret; "
			    "secrets never go in a manifest: store it in the "
			    "host's credential store and name it with "
			    "'helper_token: {credential: NAME}'", k->u.s);
			continue;
		}
		{
			const char *near = util_closest(k->u.s, names, nfields);

			if (near != NULL)
				ERR(c, k, RULE_SCHEMA, "unknown key '%s' in %s; "
				    "did you mean '%s'?", k->u.s, where, near);
			else
				ERR(c, k, RULE_SCHEMA, "unknown key '%s' in %s; "
				    "valid keys are %s", k->u.s, where,
				    enum_list(names, list, sizeof(list)));
		}
	}
	for (i = 0; i < nfields; i++)
		if (fields[i].required && !(seen & 1u << i))
			ERR(c, at, RULE_SCHEMA, "%s needs '%s'", where,
			    fields[i].name);
	return 1;
}

/* ---- settings -------------------------------------------------------- */

static int
enum_index(const char *const *values, const char *s)
{
	int i;

	for (i = 0; values[i] != NULL; i++)
		if (strcmp(values[i], s) == 0)
			return i;
	return 0;
}

static uint64_t
duration_of(const struct ynode *n)
{
	uint64_t s = 0;

	if (is_str(n))
		util_parse_duration(n->u.s, &s);
	return s;	/* a well-typed int is 0 */
}

/* Overlays the settings present in got (indexed S_*) on *s. */
static void
apply_settings(struct msettings *s, const struct ynode *const *got)
{
	if (got[S_PRIORITY])
		s->priority = (enum priority)enum_index(priority_values,
		    got[S_PRIORITY]->u.s);
	if (got[S_REFRESH])
		s->refresh = duration_of(got[S_REFRESH]);
	if (got[S_RETRY])
		s->retry_delay = duration_of(got[S_RETRY]);
	if (got[S_NOPROGRESS])
		s->no_progress_timeout = duration_of(got[S_NOPROGRESS]);
	if (got[S_MAXTIME])
		s->max_download_time = duration_of(got[S_MAXTIME]);
	if (got[S_ONREMOVE])
		s->on_remove = (enum on_remove)enum_index(on_remove_values,
		    got[S_ONREMOVE]->u.s);
	if (got[S_MODE])
		s->mode = (enum set_mode)enum_index(mode_values,
		    got[S_MODE]->u.s);
}

/* ---- names ----------------------------------------------------------- */

static int
valid_name(const char *s, int upper_ok)
{
	size_t i;

	if (!(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0]) ||
	    (upper_ok && isupper((unsigned char)s[0]))))
		return 0;
	for (i = 1; s[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!(islower(ch) || isdigit(ch) || ch == '.' || ch == '_' ||
		    ch == '-' || (upper_ok && isupper(ch))))
			return 0;
	}
	return i <= 64;
}

/* ---- paths ----------------------------------------------------------- */

static int
has_drive(const char *s)
{
	return isalpha((unsigned char)s[0]) && s[1] == ':';
}

static int
is_sep(char ch)
{
	return ch == '/' || ch == '\\';
}

/* Rewrites a path with '/' separators, no empty or "." components.
 * Returns -1 when a ".." component is present. */
static int
normalise(const char *in, char *out)
{
	const char *p = in;
	size_t o = 0;
	int dotdot = 0;

	while (*p != '\0') {
		const char *start;
		size_t len;

		while (is_sep(*p))
			p++;
		start = p;
		while (*p != '\0' && !is_sep(*p))
			p++;
		len = (size_t)(p - start);
		if (len == 0 || (len == 1 && start[0] == '.'))
			continue;
		if (len == 2 && start[0] == '.' && start[1] == '.')
			dotdot = 1;
		if (o > 0)
			out[o++] = '/';
		memcpy(out + o, start, len);
		o += len;
	}
	out[o] = '\0';
	return dotdot ? -1 : 0;
}

/* Most paths are already normal: point at the document's string then,
 * and copy only the ones normalising changed.  Frees alloc, the block
 * that holds norm. */
static const char *
keep_or_copy(struct ctx *c, const char *orig, const char *norm, char *alloc)
{
	const char *r = orig;

	if (strcmp(orig, norm) != 0)
		r = arena_strdup(c->arena, norm);
	free(alloc);
	return r;
}

/* A relative path inside a set: path, files[].path, as.  Returns the
 * normalised copy, or NULL when refused (reported). */
static const char *
check_relpath(struct ctx *c, const struct ynode *n, const char *what)
{
	char small[256], *buf;
	const char *r;

	if (is_sep(n->u.s[0])) {
		ERR(c, n, RULE_PATH_TRAVERSAL, "%s '%s' is absolute; write it "
		    "relative to the %s", what, n->u.s, strcmp(what, "path")
		    == 0 ? "source url" : "set's path and destination");
		return NULL;
	}
	if (has_drive(n->u.s)) {
		ERR(c, n, RULE_PATH_TRAVERSAL, "%s '%s' names a drive; write "
		    "it relative to the %s", what, n->u.s, strcmp(what,
		    "path") == 0 ? "source url" : "destination");
		return NULL;
	}
	/* Nearly every path fits on the stack: no allocation per file. */
	buf = n->n < sizeof(small) ? small : xmalloc(n->n + 1);
	r = NULL;
	if (normalise(n->u.s, buf) != 0)
		ERR(c, n, RULE_PATH_TRAVERSAL, "%s '%s' contains '..'; name "
		    "the file inside the set's folder instead", what, n->u.s);
	else if (buf[0] == '\0' && strcmp(what, "path") != 0)
		ERR(c, n, RULE_SCHEMA, "%s '%s' names no file", what, n->u.s);
	else
		r = keep_or_copy(c, n->u.s, buf, NULL);
	if (buf != small)
		free(buf);
	return r;
}

static const char *const known_folders[] = { "ProgramData", "ProgramFiles",
    "ProgramFiles(x86)", "SystemRoot", "WinDir", "SystemDrive", "Public",
    NULL };
static const char *const profile_vars[] = { "USERPROFILE", "APPDATA",
    "LOCALAPPDATA", "TEMP", "TMP", "HOMEPATH", NULL };

static int
in_list_ci(const char *s, size_t len, const char *const *list)
{
	size_t i;

	for (i = 0; list[i] != NULL; i++)
		if (strlen(list[i]) == len && strncasecmp(s, list[i], len)
		    == 0)
			return 1;
	return 0;
}

/* Is dest (normalised, '/' separated) equal to or under root?  Windows
 * names compare case-insensitively. */
static int
under_root(const char *dest, const char *root, int fold)
{
	char *r = xmalloc(strlen(root) + 1);
	size_t rl;
	int ok;

	normalise(root, r);
	rl = strlen(r);
	ok = (fold ? strncasecmp(dest, r, rl) : strncmp(dest, r, rl)) == 0 &&
	    (dest[rl] == '\0' || dest[rl] == '/' || rl == 0);
	free(r);
	return ok;
}

static void
check_roots(struct ctx *c, const struct ynode *n, const char *norm,
    int abs_posix)
{
	const struct config *cfg = c->opts->config;
	char list[512];
	size_t i, off = 0;

	if (cfg == NULL || cfg->nallow_roots == 0)
		return;
	for (i = 0; i < cfg->nallow_roots; i++) {
		/* POSIX roots start with '/', which normalise drops. */
		if (abs_posix != (cfg->allow_roots[i][0] == '/'))
			continue;
		if (under_root(norm, cfg->allow_roots[i],
		    c->opts->platform == PLATFORM_WINDOWS))
			return;
	}
	list[0] = '\0';
	for (i = 0; i < cfg->nallow_roots && off < sizeof(list); i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off,
		    "%s%s", i ? ", " : "", cfg->allow_roots[i]);
	ERR(c, n, RULE_DESTINATION_ROOT, "destination '%s' is outside the "
	    "folders this host lets manifests write to (allow_roots = %s); "
	    "choose a destination under one of them, or ask the host's "
	    "administrator to add it", n->u.s, list);
}

/* Returns the normalised destination, or NULL when refused. */
static const char *
check_destination(struct ctx *c, const struct ynode *n)
{
	const char *s = n->u.s;
	int win = c->opts->platform == PLATFORM_WINDOWS;
	char *norm;		/* two spare bytes in front for the root */

	if (s[0] == '~' || ((starts_with_ci(s, "$HOME") ||
	    starts_with_ci(s, "${HOME}")) && (s[s[1] == '{' ? 7 : 5] == '\0' ||
	    is_sep(s[s[1] == '{' ? 7 : 5])))) {
		ERR(c, n, RULE_USER_PROFILE_PATH, "destination '%s' is under a "
		    "home directory; under a service account it is the "
		    "service's own, never a user's: use %s", s, win ?
		    "%ProgramData%\\... or a UNC path" : "an absolute path "
		    "such as /srv/...");
		return NULL;
	}
	if (s[0] == '%') {
		const char *end = strchr(s + 1, '%');
		size_t len = end ? (size_t)(end - s - 1) : 0;

		if (end != NULL && in_list_ci(s + 1, len, profile_vars)) {
			ERR(c, n, RULE_USER_PROFILE_PATH, "destination '%s' is "
			    "under %%%.*s%%, which under a service account "
			    "resolves to the service's own profile, never a "
			    "user's; use %%ProgramData%%\\... or a UNC path",
			    s, (int)len, s + 1);
			return NULL;
		}
		if (end == NULL || !in_list_ci(s + 1, len, known_folders) ||
		    !(end[1] == '\0' || is_sep(end[1]))) {
			char name[64];
			const char *near;

			snprintf(name, sizeof(name), "%.*s", (int)(end ? len :
			    strcspn(s + 1, "\\/")), s + 1);
			near = util_closest(name, known_folders, 7);
			ERR(c, n, RULE_SCHEMA, "destination '%s' starts with an "
			    "unknown folder variable; use one of %%ProgramData%%, "
			    "%%ProgramFiles%%, %%ProgramFiles(x86)%%, "
			    "%%SystemRoot%%, %%WinDir%%, %%SystemDrive%%, "
			    "%%Public%%%s%s%s", s, near ? " (did you mean %" :
			    "", near ? near : "", near ? "%?)" : "");
			return NULL;
		}
		if (!win) {
			ERR(c, n, RULE_DESTINATION_PLATFORM, "destination '%s' "
			    "is a Windows folder; on a POSIX host write an "
			    "absolute path such as /srv/..., or validate with "
			    "--platform windows", s);
			return NULL;
		}
	} else if (has_drive(s)) {
		int letter = toupper((unsigned char)s[0]) - 'A';
		const struct config *cfg = c->opts->config;
		const char *kind;

		if (!is_sep(s[2])) {
			ERR(c, n, RULE_SCHEMA, "destination '%s' is relative to "
			    "the current folder of drive %c:; write %c:\\%s",
			    s, s[0], s[0], s + 2);
			return NULL;
		}
		if (!win || cfg == NULL ||
		    !(cfg->allow_drives & (1u << letter))) {
			ERR(c, n, RULE_NO_DRIVE_LETTER, "destination '%s' uses "
			    "drive %c:, which this host does not allow: drive "
			    "letters can be per-session mappings a service "
			    "cannot see; use %%ProgramData%%\\... or a UNC "
			    "path, or list the drive in allow_drives in "
			    "bitsync.ini", s, toupper((unsigned char)s[0]));
			return NULL;
		}
		/* Design §3: an allowed drive must also be a local fixed
		 * volume, which only the host itself can tell. */
		if (for_host(c) && platform_drive_fixed(s[0], &kind) == 0) {
			ERR(c, n, RULE_NO_DRIVE_LETTER, "destination '%s': drive "
			    "%c: is not a local fixed volume on this host (%s); "
			    "a service cannot count on it: use "
			    "%%ProgramData%%\\... or a UNC path, or take the "
			    "drive out of allow_drives", s,
			    toupper((unsigned char)s[0]), kind);
			return NULL;
		}
	} else if (is_sep(s[0]) && is_sep(s[1])) {
		if (!win) {
			ERR(c, n, RULE_DESTINATION_PLATFORM, "destination '%s' "
			    "is a UNC path, which only the Windows backend can "
			    "write; on a POSIX host write a local absolute path",
			    s);
			return NULL;
		}
	} else if (s[0] == '/') {
		if (win) {
			ERR(c, n, RULE_DESTINATION_PLATFORM, "destination '%s' "
			    "is a POSIX path; on Windows use "
			    "%%ProgramData%%\\..., an allowed drive or a UNC "
			    "path, or validate with --platform posix", s);
			return NULL;
		}
	} else {
		ERR(c, n, RULE_SCHEMA, "destination '%s' is relative; write an "
		    "absolute path (%s)", s, win ? "%ProgramData%\\..., an "
		    "allowed drive or a UNC path" : "/srv/...");
		return NULL;
	}
	norm = xmalloc(n->n + 3);
	if (normalise(s, norm + 2) != 0) {
		ERR(c, n, RULE_PATH_TRAVERSAL, "destination '%s' contains '..'; "
		    "write the folder it means", s);
		free(norm);
		return NULL;
	}
	/* Put back what normalise drops and the model needs: a POSIX root,
	 * or the leading "\\" of a UNC destination. */
	if (s[0] == '/' || (is_sep(s[0]) && is_sep(s[1]))) {
		int posix = s[0] == '/' && !is_sep(s[1]);

		check_roots(c, n, norm + 2, posix);
		if (posix)
			norm[1] = '/';
		else
			norm[0] = norm[1] = '/';
		return keep_or_copy(c, s, posix ? norm + 1 : norm, norm);
	}
	check_roots(c, n, norm + 2, 0);
	return keep_or_copy(c, s, norm + 2, norm);
}

/* ---- sources --------------------------------------------------------- */

/* Query parameters that carry credentials in signed URLs. */
static int
url_has_secret_param(const char *url)
{
	const char *q = strchr(url, '?');

	while (q != NULL) {
		const char *name = q + 1, *eq = strpbrk(name, "=&#");
		size_t len = eq ? (size_t)(eq - name) : strlen(name);

		if (looks_secret_n(name, len))
			return 1;
		q = strchr(name, '&');
	}
	return 0;
}

static int
check_url(struct ctx *c, const struct ynode *n, enum source_kind *kind)
{
	const char *s = n->u.s;
	/* What the messages echo: the url without its userinfo or query
	 * values (a diagnostic reaches logs, CI output and status). */
	char *r = util_redact_url(s);
	int rc = -1;

	if (is_sep(s[0]) && is_sep(s[1])) {
		const char *host = s + 2, *share;
		size_t hl = strcspn(host, "\\/");

		share = host + hl;
		while (is_sep(*share))
			share++;
		if (hl == 0 || *share == '\0') {
			ERR(c, n, RULE_UNC_ONLY, "url '%s' names no share; write "
			    "\\\\server\\share\\folder", r);
			goto out;
		}
		if (strchr(s, '@') != NULL && strchr(s, ':') != NULL) {
			ERR(c, n, RULE_INLINE_SECRET, "url '%s' carries "
			    "credentials; store them in the host's credential "
			    "store and use helper_token", r);
			goto out;
		}
		*kind = SOURCE_UNC;
		rc = 0;
		goto out;
	}
	if (starts_with_ci(s, "http://") || starts_with_ci(s, "https://")) {
		const char *auth = strstr(s, "//") + 2;
		size_t alen = strcspn(auth, "/?#");

		*kind = starts_with_ci(s, "https://") ? SOURCE_HTTPS :
		    SOURCE_HTTP;
		if (memchr(auth, '@', alen) != NULL) {
			ERR(c, n, RULE_INLINE_SECRET, "url '%s' carries "
			    "credentials before '@'; remove them and use "
			    "'helper_token: {credential: NAME}' with the "
			    "credential in the host's store", r);
			goto out;
		}
		if (url_has_secret_param(s)) {
			ERR(c, n, RULE_INLINE_SECRET, "url '%s' carries a "
			    "secret in its query string; signed URLs expire "
			    "and leak: use a helper_token credential", r);
			goto out;
		}
		if (alen == 0) {
			ERR(c, n, RULE_SCHEMA, "url '%s' names no host", r);
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (starts_with_ci(s, "file:")) {
		ERR(c, n, RULE_UNC_ONLY, "url '%s' is a file: URL; a service "
		    "reads shares by UNC path: write \\\\server\\share\\folder",
		    r);
		goto out;
	}
	if (has_drive(s)) {
		ERR(c, n, RULE_UNC_ONLY, "url '%s' uses drive %c:; mapped drive "
		    "letters belong to one logon session and may vanish after "
		    "a restart, and service accounts cannot see them: write "
		    "the UNC path \\\\server\\share\\folder", r, s[0]);
		goto out;
	}
	if (strstr(s, "://") != NULL) {
		ERR(c, n, RULE_SCHEMA, "url '%s' has a scheme bitsync does not "
		    "transfer; use http://, https:// or a UNC path "
		    "\\\\server\\share", r);
		goto out;
	}
	ERR(c, n, RULE_UNC_ONLY, "url '%s' is a %s path; a source is a UNC "
	    "path \\\\server\\share\\folder or an http(s):// URL", r,
	    s[0] == '/' ? "POSIX" : "relative");
out:
	free(r);
	return rc;
}

static void
check_header(struct ctx *c, const struct ynode *h)
{
	const char *s = h->u.s;
	size_t nl = strspn(s, "!#$%&'*+-.^_`|~0123456789"
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");

	if (nl == 0 || s[nl] != ':' || strpbrk(s, "\r\n") != NULL) {
		/* Only the name is echoed: what follows it may be a secret
		 * ("Authorization Bearer X", the colon forgotten). */
		size_t shown = strcspn(s, ": \t\r\n");

		ERR(c, h, RULE_SCHEMA, "header '%.*s%s' must be 'Name: value' "
		    "on one line, like 'X-Fleet: contoso'", (int)shown, s,
		    s[shown] != '\0' ? " ..." : "");
		return;
	}
	if (!(nl == 13 && strncasecmp(s, "Authorization", nl) == 0) &&
	    !(nl == 19 && strncasecmp(s, "Proxy-Authorization", nl) == 0) &&
	    !(nl == 6 && strncasecmp(s, "Cookie", nl) == 0) &&
	    !looks_secret_n(s, nl))
		return;
	{
		ERR(c, h, RULE_INLINE_SECRET, "header '%.*s' carries a "
		    "credential; store it in the host's credential store and "
		    "use helper_token", (int)nl, s);
	}
}

static unsigned
token_usage(const struct ynode *seq, struct ctx *c)
{
	unsigned bits = 0, bit;
	uint32_t i;

	if (seq == NULL)
		return TOKEN_NETWORK;
	if (seq->n == 0)
		ERR(c, seq, RULE_SCHEMA, "'usage' is empty; list network, "
		    "local_file or both");
	for (i = 0; i < seq->n; i++) {
		const struct ynode *u = &seq->u.items[i];

		if (u->kind != YN_SCALAR)
			continue;	/* refused by the reader, reported */
		if (strcmp(u->u.s, "network") == 0)
			bit = TOKEN_NETWORK;
		else if (strcmp(u->u.s, "local_file") == 0)
			bit = TOKEN_LOCAL_FILE;
		else {
			const char *near = util_closest(u->u.s,
			    token_usage_values, 2);

			ERR(c, u, RULE_SCHEMA, "helper token usage '%s' is not "
			    "network or local_file%s%s%s", u->u.s,
			    near ? "; did you mean '" : "", near ? near : "",
			    near ? "'?" : "");
			continue;
		}
		if (bits & bit)
			ERR(c, u, RULE_SCHEMA, "'%s' is listed twice; remove "
			    "one", u->u.s);
		bits |= bit;
	}
	return bits;
}

static const char *const *
str_list(struct ctx *c, const struct ynode *seq, size_t *n)
{
	const char **v;
	uint32_t i;

	*n = 0;
	if (seq == NULL || seq->kind != YN_SEQ)
		return NULL;
	v = arena_alloc(c->arena, (seq->n + 1) * sizeof(*v));
	for (i = 0; i < seq->n; i++)
		if (seq->u.items[i].kind == YN_SCALAR)
			v[(*n)++] = seq->u.items[i].u.s;
	v[*n] = NULL;
	return v;
}

/* A proxy entry with userinfo ("user:pass@proxy:8080", with or without a
 * scheme) puts a secret in the manifest, as a url with one does. */
static void
check_proxy_servers(struct ctx *c, const struct ynode *seq)
{
	const char *s, *auth;
	uint32_t i;

	if (seq == NULL || seq->kind != YN_SEQ)
		return;
	for (i = 0; i < seq->n; i++) {
		if (seq->u.items[i].kind != YN_SCALAR)
			continue;
		s = seq->u.items[i].u.s;
		auth = strstr(s, "://");
		auth = auth != NULL && auth > s && strcspn(s, "/?#@") >
		    (size_t)(auth - s) ? auth + 3 : s;
		if (memchr(auth, '@', strcspn(auth, "/?#")) != NULL) {
			/* Echoed without the userinfo it refuses. */
			char *r = util_redact_url(s);

			ERR(c, &seq->u.items[i], RULE_INLINE_SECRET, "proxy "
			    "server '%s' carries credentials before '@'; "
			    "remove them: a secret in a manifest reaches every "
			    "host, log and repository it passes through; keep "
			    "it in the host's credential store and name it "
			    "with 'helper_token: {credential: NAME}'", r);
			free(r);
		}
	}
}

static void
check_proxy(struct ctx *c, const struct ynode *pkey, const struct ynode *pn,
    struct msource *src)
{
	const struct ynode *px[PX_COUNT];

	if (pn->kind != YN_MAP) {
		ERR(c, pkey, RULE_SCHEMA, "'proxy' needs 'usage' (override, "
		    "no_proxy, preconfig or autodetect)");
		return;
	}
	if (src->kind == SOURCE_UNC)
		WARN(c, pkey, RULE_PROXY_SCOPE, "'proxy' has no effect on a UNC "
		    "source: proxies apply to HTTP only; remove it");
	read_map(c, pn, pkey, proxy_fields, PX_COUNT, "'proxy'", px);
	check_proxy_servers(c, ynode_get(pn, "servers"));
	if (px[PX_USAGE] == NULL)
		return;
	/* proxy_usage_values is ordered override, no_proxy, preconfig,
	 * autodetect; the model uses BITS's numbers. */
	switch (enum_index(proxy_usage_values, px[PX_USAGE]->u.s)) {
	case 0: src->proxy_usage = PROXY_OVERRIDE; break;
	case 1: src->proxy_usage = PROXY_NO_PROXY; break;
	case 2: src->proxy_usage = PROXY_PRECONFIG; break;
	default: src->proxy_usage = PROXY_AUTODETECT; break;
	}
	if (src->proxy_usage == PROXY_OVERRIDE) {
		if (px[PX_SERVERS] == NULL && ynode_get(pn, "servers") == NULL)
			ERR(c, pkey, RULE_SCHEMA, "'proxy' with usage: override "
			    "needs 'servers', e.g. [\"proxy.corp.example:8080\"]");
		else if (px[PX_SERVERS] != NULL && px[PX_SERVERS]->n == 0)
			ERR(c, px[PX_SERVERS], RULE_SCHEMA, "'servers' is empty; "
			    "list at least one proxy as host:port");
	} else {
		const struct ynode *extra = ynode_get(pn, "servers");

		if (extra == NULL)
			extra = ynode_get(pn, "bypass");
		if (extra != NULL)
			ERR(c, extra, RULE_SCHEMA, "'servers' and 'bypass' apply "
			    "only to usage: override; remove them or set "
			    "usage: override");
	}
	src->proxy_servers = str_list(c, px[PX_SERVERS], &src->nproxy_servers);
	src->proxy_bypass = str_list(c, px[PX_BYPASS], &src->nproxy_bypass);
}

/* auth: computer on a Linux host is Kerberos from the machine keytab
 * (krb.h); without a usable one the engine connects anonymously, as
 * LocalService does: said at the source, with the reason. */
static void
check_machine_keytab(struct ctx *c, const struct ynode *key,
    const struct msource *src)
{
	const struct config *cfg = c->opts->config;
	const char *kt = cfg != NULL ? cfg->machine_keytab : "/etc/krb5.keytab";
	char princ[512], why[768];

	if (!for_host(c) || c->opts->platform != PLATFORM_POSIX)
		return;
	if (krb_keytab_check(kt, cfg != NULL ? cfg->machine_principal : NULL,
	    princ, sizeof(princ), why, sizeof(why)) != 1)
		WARN(c, key, RULE_ANONYMOUS_COMPUTER, "source '%s' says 'auth: "
		    "computer', but this host has no usable machine keytab "
		    "(%s): it would connect anonymously, and a share or site "
		    "that grants the computer account (Domain Computers) "
		    "would refuse it; join the host to the domain so that "
		    "the keytab holds its NAME$ key, or give the source a "
		    "'helper_token'", src->name, why);
}

static void
check_network_identity(struct ctx *c, const struct ynode *key,
    const struct ynode *sn,
    const struct ynode *const *got, const struct msource *src)
{
	const struct ynode *usage = got[SRC_PROXY] ?
	    ynode_get(got[SRC_PROXY], "usage") : NULL;

	if (src->kind == SOURCE_UNC) {
		if (!src->auth_computer && src->credential == NULL &&
		    got[SRC_TOKEN] == NULL)
			ERR(c, key, RULE_NETWORK_IDENTITY, "source '%s' is a share "
			    "with no network identity: a service account "
			    "authenticates as the computer (or anonymously "
			    "under LocalService) unless told otherwise; add "
			    "'auth: computer' or a 'helper_token'", src->name);
		else if (src->auth_computer && got[SRC_TOKEN] == NULL &&
		    for_host(c) && platform_network_anonymous())
			WARN(c, key, RULE_NETWORK_IDENTITY, "source '%s' says "
			    "'auth: computer', but this agent runs as "
			    "LocalService, which reaches shares anonymously: "
			    "the share must allow anonymous reads; or give the "
			    "source a 'helper_token', or run the service as "
			    "NetworkService", src->name);
		else if (src->auth_computer && got[SRC_TOKEN] == NULL)
			check_machine_keytab(c, key, src);
		return;
	}
	if (got[SRC_TOKEN] != NULL)
		return;
	if (src->auth_computer)
		check_machine_keytab(c, key, src);
	if (src->proxy_usage == PROXY_PRECONFIG ||
	    src->proxy_usage == PROXY_AUTODETECT)
		ERR(c, usage, RULE_NETWORK_IDENTITY, "proxy usage '%s' reads "
		    "per-user proxy settings, which system accounts do not "
		    "have; use usage: override with servers, usage: no_proxy, "
		    "or add a 'helper_token'", usage->u.s);
	else if (got[SRC_PROXY] == NULL && ynode_get(sn, "proxy") == NULL)
		ERR(c, key, RULE_NETWORK_IDENTITY, "source '%s' is HTTP with no "
		    "proxy decision: per-user proxy settings are not set for "
		    "system accounts; add 'proxy: {usage: no_proxy}' for a "
		    "direct connection, 'proxy: {usage: override, servers: "
		    "[...]}', or a 'helper_token'", src->name);
}

/* client_certificate: NAME names a certificate in the host's credential
 * store (Linux: NAME.pem in credential_dir; Windows: the LocalMachine\My
 * certificate with that friendly name), never a path or the PEM itself,
 * and means something only inside TLS. */
static void
check_client_certificate(struct ctx *c, const struct ynode *n, int has_url,
    struct msource *src)
{
	src->client_certificate = n->u.s;
	if (!valid_name(n->u.s, 1))
		ERR(c, n, RULE_SCHEMA, "client_certificate '%s' must be the "
		    "name of a certificate in the host's credential store "
		    "(letters, digits, '.', '_', '-'; on Linux NAME.pem in "
		    "credential_dir, on Windows the subject CN of a "
		    "LocalMachine\\My certificate), never a path or the "
		    "certificate itself", n->u.s);
	else if (has_url && src->kind != SOURCE_HTTPS)
		ERR(c, n, RULE_SCHEMA, "'client_certificate' is presented "
		    "in a TLS handshake, which only an https:// source has; "
		    "remove it or use an https:// url");
}

static void
check_source(struct ctx *c, const struct ynode *key, const struct ynode *sn)
{
	const struct ynode *got[SRC_COUNT], *tk[TK_COUNT];
	struct msource *src;
	char where[128];
	const void *prev;
	size_t idx;

	if (key->kind != YN_SCALAR || key->type != YS_STR) {
		ERR(c, key, RULE_SCHEMA, "source names must be plain names, "
		    "not %s", ynode_describe(key));
		return;
	}
	if (!valid_name(key->u.s, 1))
		ERR(c, key, RULE_SCHEMA, "source name '%s' must be 1-64 "
		    "letters, digits, '.', '_' or '-', starting with a letter "
		    "or digit", key->u.s);
	snprintf(where, sizeof(where), "source '%.64s'", key->u.s);
	if (!read_map(c, sn, key, source_fields, SRC_COUNT, where, got))
		return;
	if (c->m->nsources == c->cap_sources) {
		c->cap_sources = c->cap_sources ? c->cap_sources * 2 : 16;
		c->m->sources = xrealloc(c->m->sources,
		    c->cap_sources * sizeof(*c->m->sources));
	}
	idx = c->m->nsources;
	if (strset_add(&c->source_names, key->u.s, (void *)(idx + 1), &prev)) {
		const struct msource *first =
		    &c->m->sources[(size_t)prev - 1];

		/* Twice in one file is a duplicate key, already reported. */
		if (first->pos.file == c->doc->file)
			return;
		ERR(c, key, RULE_DUPLICATE_NAME, "source '%s' is already "
		    "defined in %s:%u; rename one of them", key->u.s,
		    first->pos.file, first->pos.line);
		return;
	}
	src = &c->m->sources[c->m->nsources++];
	memset(src, 0, sizeof(*src));
	src->name = key->u.s;
	src->pos.file = c->doc->file;
	src->pos.line = key->line;
	src->pos.col = key->col;
	src->proxy_usage = PROXY_UNSET;
	src->kind = SOURCE_HTTPS;
	if (got[SRC_URL] != NULL) {
		src->url = got[SRC_URL]->u.s;
		if (check_url(c, got[SRC_URL], &src->kind) != 0)
			got[SRC_URL] = NULL;
	}
	if (got[SRC_AUTH] != NULL) {
		/* Round 2: on http(s) too, Negotiate as the computer
		 * (as BITS under LocalSystem and NetworkService). */
		src->auth_computer = 1;
	}
	if (got[SRC_PROXY] != NULL)
		check_proxy(c, ynode_key_of(got[SRC_PROXY]), got[SRC_PROXY], src);
	if (got[SRC_HEADERS] != NULL) {
		uint32_t i;

		if (src->kind == SOURCE_UNC && got[SRC_URL] != NULL)
			WARN(c, got[SRC_HEADERS], RULE_PROXY_SCOPE, "'headers' "
			    "have no effect on a UNC source: they apply to "
			    "HTTP only; remove them");
		for (i = 0; i < got[SRC_HEADERS]->n; i++)
			if (got[SRC_HEADERS]->u.items[i].kind == YN_SCALAR)
				check_header(c, &got[SRC_HEADERS]->u.items[i]);
		src->headers = str_list(c, got[SRC_HEADERS], &src->nheaders);
	}
	if (got[SRC_TOKEN] != NULL && got[SRC_TOKEN]->kind == YN_MAP &&
	    read_map(c, got[SRC_TOKEN], ynode_key_of(got[SRC_TOKEN]), token_fields,
	    TK_COUNT, "'helper_token'", tk)) {
		if (tk[TK_CREDENTIAL] != NULL) {
			src->credential = tk[TK_CREDENTIAL]->u.s;
			if (!valid_name(src->credential, 1))
				ERR(c, tk[TK_CREDENTIAL], RULE_SCHEMA,
				    "credential '%s' must be the name of an "
				    "entry in the host's credential store "
				    "(letters, digits, '.', '_', '-'), never "
				    "a secret or a path", src->credential);
		}
		src->token_usage = token_usage(tk[TK_USAGE], c);
		/* A password for the network over plain http:// either
		 * crosses it as Basic in the clear, or as an NTLM or Digest
		 * answer a man in the middle can ask for and crack offline;
		 * the engine offers it to Negotiate (Kerberos) only, so a
		 * server without Kerberos answers 401. */
		if (src->kind == SOURCE_HTTP && got[SRC_URL] != NULL &&
		    (src->token_usage & TOKEN_NETWORK))
			WARN(c, ynode_key_of(got[SRC_TOKEN]),
			    RULE_INSECURE_CREDENTIALS, "source '%s' sends a "
			    "helper token's credentials over plain http://, "
			    "where anyone on the path can read, replay or "
			    "crack them (the engine offers them only to "
			    "Negotiate/Kerberos there, never as Basic, NTLM or "
			    "Digest, so other servers answer 401); use an "
			    "https:// url", src->name);
	} else if (got[SRC_TOKEN] != NULL)
		ERR(c, ynode_key_of(got[SRC_TOKEN]), RULE_SCHEMA, "'helper_token' needs "
		    "'credential', the name of an entry in the host's "
		    "credential store");
	if (got[SRC_CLIENT_CERT] != NULL)
		check_client_certificate(c, got[SRC_CLIENT_CERT],
		    got[SRC_URL] != NULL, src);
	if (got[SRC_URL] != NULL)
		check_network_identity(c, key, sn, got, src);
}

/* ---- sets ------------------------------------------------------------ */

/* Each hex digit's value plus one, 0 for anything else: a table,
 * because the digits of a hash are random and a branch on them
 * mispredicts half the time (at 10,000 sets that was a fifth of the
 * rules' time). */
static const uint8_t hexval1[256] = {
	['0'] = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
	['a'] = 11, 12, 13, 14, 15, 16,
	['A'] = 11, 12, 13, 14, 15, 16,
};

static void
check_sha(struct ctx *c, const struct ynode *n, struct mfile *f)
{
	const unsigned char *s = (const unsigned char *)n->u.s;
	unsigned bad = n->n != 64, hi, lo;
	size_t i;

	for (i = 0; !bad && i < 32; i++) {
		hi = hexval1[s[2 * i]];
		lo = hexval1[s[2 * i + 1]];
		bad = hi == 0 || lo == 0;
		f->sha256[i] = (uint8_t)((hi - 1) << 4 | (lo - 1));
	}
	if (bad) {
		ERR(c, n, RULE_SCHEMA, "sha256 must be 64 hexadecimal digits "
		    "(what sha256sum prints); got %u characters", n->n);
		return;
	}
	f->has_sha256 = 1;
}

static void
check_file(struct ctx *c, const struct ynode *fn, struct mfile *f)
{
	const struct ynode *got[F_COUNT];

	memset(f, 0, sizeof(*f));
	f->pos.file = c->doc->file;
	f->pos.line = fn->line;
	f->pos.col = fn->col;
	if (fn->kind == YN_REFUSED)
		return;
	if (is_str(fn) && fn->n > 0) {
		f->remote = check_relpath(c, fn, "file");
		f->local = f->remote;
		return;
	}
	if (fn->kind != YN_MAP) {
		ERR(c, fn, RULE_SCHEMA, "a file is a name ('- setup.exe') or a "
		    "mapping with 'path' (and optional 'as', 'sha256'), not %s",
		    ynode_describe(fn));
		return;
	}
	if (!read_map(c, fn, fn, file_fields, F_COUNT, "a file entry", got))
		return;
	if (got[F_PATH] != NULL)
		f->remote = check_relpath(c, got[F_PATH], "file path");
	f->local = f->remote;
	if (got[F_AS] != NULL)
		f->local = check_relpath(c, got[F_AS], "'as'");
	if (got[F_SHA] != NULL)
		check_sha(c, got[F_SHA], f);
}

static void
check_set(struct ctx *c, const struct ynode *sn,
    const struct msettings *defaults)
{
	const struct ynode *got[SET_COUNT];
	struct mset *set;
	char where[128];
	const void *prev;
	uint32_t i;

	if (sn->kind == YN_MAP && ynode_get(sn, "name") != NULL &&
	    is_str(ynode_get(sn, "name")))
		snprintf(where, sizeof(where), "set '%.64s'",
		    ynode_get(sn, "name")->u.s);
	else
		snprintf(where, sizeof(where), "the set at line %u", sn->line);
	if (!read_map(c, sn, sn, set_fields, SET_COUNT, where, got))
		return;
	/* check_document reserved room for every set of the file. */
	set = &c->m->sets[c->m->nsets];
	memset(set, 0, sizeof(*set));
	set->pos.file = c->doc->file;
	set->pos.line = sn->line;
	set->pos.col = sn->col;
	set->settings = *defaults;
	apply_settings(&set->settings, got);
	if (got[SET_NAME] != NULL) {
		set->name = got[SET_NAME]->u.s;
		if (!valid_name(set->name, 0))
			ERR(c, got[SET_NAME], RULE_SCHEMA, "set name '%s' must "
			    "be 1-64 lowercase letters, digits, '.', '_' or "
			    "'-', starting with a letter or digit (it names "
			    "the job: bitsync:<name>)", set->name);
		else if (strset_add(&c->set_names, set->name,
		    (void *)(c->m->nsets + 1), &prev)) {
			const struct mset *first =
			    &c->m->sets[(size_t)prev - 1];

			ERR(c, got[SET_NAME], RULE_DUPLICATE_NAME, "set '%s' is "
			    "already declared in %s:%u; rename one of them",
			    set->name, first->pos.file, first->pos.line);
			return;
		}
	}
	if (got[SET_SOURCE] != NULL) {
		set->source_name = got[SET_SOURCE]->u.s;
		set->source_pos.file = c->doc->file;
		set->source_pos.line = got[SET_SOURCE]->line;
		set->source_pos.col = got[SET_SOURCE]->col;
	}
	set->path = "";
	if (got[SET_PATH] != NULL) {
		const char *p = check_relpath(c, got[SET_PATH], "path");

		set->path = p ? p : "";
	}
	if (got[SET_DEST] != NULL)
		set->destination = check_destination(c, got[SET_DEST]);
	if (got[SET_FILES] != NULL) {
		const struct ynode *fl = got[SET_FILES];

		if (fl->n == 0)
			ERR(c, fl, RULE_SCHEMA, "'files' is empty; list at least "
			    "one file (a set with nothing to sync is a mistake, "
			    "remove the set instead)");
		set->files = arena_alloc(c->arena, (fl->n ? fl->n : 1) *
		    sizeof(*set->files));
		for (i = 0; i < fl->n; i++)
			check_file(c, &fl->u.items[i], &set->files[i]);
		set->nfiles = fl->n;
	}
	if (got[SET_ON_CHANGE] != NULL)
		set->on_change = command_rules_check(c->d, c->doc->file,
		    ynode_key_of(got[SET_ON_CHANGE]), got[SET_ON_CHANGE],
		    c->opts->platform, c->opts->config, c->arena);
	if (set->name != NULL)
		c->m->nsets++;
}

/* ---- one file -------------------------------------------------------- */

static void
check_document(struct ctx *c)
{
	const struct ynode *root = &c->doc->root, *got[T_COUNT], *dg[S_COUNT];
	struct msettings defaults = model_builtin_defaults;
	uint32_t i;

	if (c->doc->refused)
		return;
	if (!c->doc->has_root || (root->kind == YN_SCALAR &&
	    root->type == YS_NULL)) {
		ERR(c, NULL, RULE_VERSION, "the file is empty; a manifest "
		    "starts with 'version: 1'");
		return;
	}
	if (!read_map(c, root, root, top_fields, T_COUNT, "the manifest", got))
		return;
	if (got[T_VERSION] == NULL && ynode_get(root, "version") == NULL)
		ERR(c, NULL, RULE_VERSION, "'version' is missing; start the "
		    "file with 'version: 1'");
	else if (got[T_VERSION] != NULL && !(got[T_VERSION]->kind == YN_SCALAR
	    && got[T_VERSION]->type == YS_INT &&
	    ynode_int(got[T_VERSION]) == 1))
		ERR(c, got[T_VERSION], RULE_VERSION, "'version' must be 1 (the "
		    "manifest format this bitsync understands), not '%s'",
		    got[T_VERSION]->kind == YN_SCALAR ? got[T_VERSION]->u.s :
		    ynode_describe(got[T_VERSION]));
	if (!c->dropin && ynode_get(root, "sources") == NULL &&
	    ynode_get(root, "sets") == NULL)
		ERR(c, root, RULE_SCHEMA, "a manifest file needs both 'sources' "
		    "and 'sets'");
	else if (!c->dropin && (ynode_get(root, "sources") == NULL ||
	    ynode_get(root, "sets") == NULL))
		ERR(c, root, RULE_SCHEMA, "a manifest file needs both 'sources' "
		    "and 'sets' (only a drop-in directory may split them "
		    "across files); add '%s'", ynode_get(root, "sources") ?
		    "sets" : "sources");
	else if (c->dropin && ynode_get(root, "sources") == NULL &&
	    ynode_get(root, "sets") == NULL)
		ERR(c, root, RULE_SCHEMA, "this drop-in file declares neither "
		    "'sources' nor 'sets'; add them or remove the file");
	if (got[T_DEFAULTS] != NULL && got[T_DEFAULTS]->kind == YN_MAP &&
	    read_map(c, got[T_DEFAULTS], ynode_key_of(got[T_DEFAULTS]), settings_fields,
	    S_COUNT, "'defaults'", dg))
		apply_settings(&defaults, dg);
	if (got[T_SOURCES] != NULL && got[T_SOURCES]->kind == YN_MAP)
		for (i = 0; i < got[T_SOURCES]->n; i++)
			check_source(c, &got[T_SOURCES]->u.pairs[i].key,
			    &got[T_SOURCES]->u.pairs[i].value);
	if (got[T_SETS] != NULL && got[T_SETS]->kind == YN_SEQ) {
		/* From the model's arena, whose big chunks come with their
		 * pages filled in; exactly as many as this file declares when
		 * it is the first, else at least doubled (the old array stays
		 * in the arena: the waste is bounded by the final size). */
		if (c->m->nsets + got[T_SETS]->n > c->cap_sets) {
			size_t cap = c->m->nsets + got[T_SETS]->n;
			struct mset *v;

			if (c->cap_sets > 0 && cap < c->cap_sets * 2)
				cap = c->cap_sets * 2;
			v = arena_alloc(c->arena, cap * sizeof(*v));
			if (c->m->nsets > 0)
				memcpy(v, c->m->sets, c->m->nsets * sizeof(*v));
			c->m->sets = v;
			c->cap_sets = cap;
			strset_reserve_in(&c->set_names, cap, arena_zalloc(
			    c->arena, strset_slots_for(cap) *
			    sizeof(struct strset_slot)));
		}
		for (i = 0; i < got[T_SETS]->n; i++)
			check_set(c, &got[T_SETS]->u.items[i], &defaults);
	}
}

/* ---- across files ---------------------------------------------------- */

static void
report_at(struct ctx *c, const struct mpos *pos, enum diag_severity sev,
    const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
report_at(struct ctx *c, const struct mpos *pos, enum diag_severity sev,
    const char *rule, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(c->d, pos->file, pos->line, pos->col, sev, rule, fmt, ap);
	va_end(ap);
}

static void
resolve_sources(struct ctx *c)
{
	const char **names;
	size_t i;

	names = xcalloc(c->m->nsources + 1, sizeof(*names));
	for (i = 0; i < c->m->nsources; i++)
		names[i] = c->m->sources[i].name;
	for (i = 0; i < c->m->nsets; i++) {
		struct mset *set = &c->m->sets[i];
		const void *idx;
		const char *near;

		if (set->source_name == NULL)
			continue;
		idx = strset_get(&c->source_names, set->source_name);
		if (idx != NULL) {
			set->source = &c->m->sources[(size_t)idx - 1];
			continue;
		}
		near = util_closest(set->source_name, names, c->m->nsources);
		report_at(c, &set->source_pos, DIAG_ERROR, RULE_UNKNOWN_SOURCE,
		    "set "
		    "'%s' names source '%s', which no manifest file defines; "
		    "%s%s%s", set->name, set->source_name,
		    near ? "did you mean '" : "define it under 'sources:'",
		    near ? near : "", near ? "'?" : "");
	}
	free(names);
}

/* The local paths of all files, hashed as destination + '/' + local
 * without building the joined string: at 10,000 sets those strings alone
 * were 1.4 MiB for a check that almost never finds anything.  Paths are
 * composed only to confirm a hash match and for the message. */
struct dest_slot {
	uint64_t hash;			/* 0: empty */
	uint32_t set, file;		/* indexes into the model */
};

/* FNV-1a over s, continuing from h: a set's destination and '/' are
 * hashed once, and each of its files continues from there. */
static uint64_t
hash_more(uint64_t h, const char *s, int fold)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		h ^= fold ? (unsigned char)tolower(*p) : *p;
		h *= 1099511628211ULL;
	}
	return h;
}

static uint64_t
hash_dest(uint64_t prefix, const char *local, int fold)
{
	uint64_t h = util_hash_finish(hash_more(prefix, local, fold));

	return h ? h : 1;
}

static char *
join_dest(const struct mset *set, const struct mfile *f)
{
	return xasprintf("%s/%s", set->destination, f->local);
}

/* Enters one file's local path (hashed into *p) in the table, or reports
 * the file that already writes there. */
static void
dest_insert(struct ctx *c, struct dest_slot *tab, size_t cap, int fold,
    const struct dest_slot *p)
{
	const struct mset *set = &c->m->sets[p->set];
	const struct mfile *f = &set->files[p->file], *first;
	struct dest_slot *sl;
	char *mine = NULL, *theirs;

	for (sl = &tab[p->hash & (cap - 1)]; sl->hash != 0;
	    sl = &tab[(size_t)(sl - tab + 1) & (cap - 1)]) {
		int same;

		if (sl->hash != p->hash)
			continue;
		if (mine == NULL)
			mine = join_dest(set, f);
		theirs = join_dest(&c->m->sets[sl->set],
		    &c->m->sets[sl->set].files[sl->file]);
		same = (fold ? strcasecmp(mine, theirs) :
		    strcmp(mine, theirs)) == 0;
		free(theirs);
		if (same)
			break;
	}
	if (sl->hash == 0) {
		*sl = *p;
		goto out;
	}
	first = &c->m->sets[sl->set].files[sl->file];
	report_at(c, &f->pos, DIAG_ERROR, RULE_DUPLICATE_DESTINATION, "'%s' "
	    "resolves to %s, which %s:%u:%u already writes%s; two jobs would "
	    "fight over one file: give one another 'as' name or destination",
	    f->local, mine, first->pos.file, first->pos.line, first->pos.col,
	    fold ? " (Windows compares names without case)" : "");
out:
	free(mine);
}

/* Files are entered a few behind their hashing, with their slots
 * prefetched: at 10,000 sets the table is bigger than the cache, and a
 * memory round trip per file was half of this check. */
#define DEST_AHEAD 8

static void
check_files_across(struct ctx *c)
{
	int fold = c->opts->platform == PLATFORM_WINDOWS;
	struct dest_slot *tab, ring[DEST_AHEAD];
	size_t i, j, nfiles = 0, cap = 16, queued = 0;

	for (i = 0; i < c->m->nsets; i++)
		nfiles += c->m->sets[i].nfiles;
	/* At most 3/4 full; a smaller table is fewer fresh pages to fault
	 * in, which is what this check costs at 10,000 sets. */
	while (cap * 3 < nfiles * 4)
		cap *= 2;
	tab = arena_zalloc(c->arena, cap * sizeof(*tab));
	for (i = 0; i < c->m->nsets; i++) {
		const struct mset *set = &c->m->sets[i];
		uint64_t prefix = 1469598103934665603ULL;

		if (set->destination != NULL)
			prefix = hash_more(hash_more(prefix, set->destination,
			    fold), "/", fold);
		for (j = 0; j < set->nfiles; j++) {
			const struct mfile *f = &set->files[j];
			struct dest_slot *next;

			if (set->source != NULL && set->source->kind ==
			    SOURCE_HTTP && !f->has_sha256 && f->remote != NULL)
				report_at(c, &f->pos, DIAG_WARNING,
				    RULE_INSECURE_TRANSPORT, "'%s' comes over "
				    "plain http:// without a sha256: anyone on "
				    "the path can change what this privileged "
				    "service writes; add 'sha256:' or use "
				    "https://", f->remote);
			if (set->destination == NULL || f->local == NULL)
				continue;
			next = &ring[queued % DEST_AHEAD];
			if (queued >= DEST_AHEAD)
				dest_insert(c, tab, cap, fold, next);
			next->hash = hash_dest(prefix, f->local, fold);
			next->set = (uint32_t)i;
			next->file = (uint32_t)j;
			__builtin_prefetch(&tab[next->hash & (cap - 1)], 1);
			queued++;
		}
	}
	for (i = queued > DEST_AHEAD ? queued - DEST_AHEAD : 0; i < queued;
	    i++)
		dest_insert(c, tab, cap, fold, &ring[i % DEST_AHEAD]);
}

void
rules_check(struct ydoc *const *docs, const unsigned char *dropin,
    size_t ndocs,
    const struct manifest_opts *opts, struct manifest *m, struct diags *d)
{
	struct ctx c;
	size_t i;

	memset(&c, 0, sizeof(c));
	c.opts = opts;
	c.d = d;
	c.m = m;
	c.arena = model_arena(m);
	strset_init(&c.source_names, 0);
	strset_init(&c.set_names, 0);
	for (i = 0; i < ndocs; i++) {
		c.doc = docs[i];
		c.dropin = dropin[i];
		check_document(&c);
	}
	resolve_sources(&c);
	check_files_across(&c);
	strset_free(&c.source_names);
	strset_free(&c.set_names);
}
