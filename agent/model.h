/* model.h - the validated manifest as the agent holds it: sources, sets
 * and their files, with every set's effective settings (defaults and
 * overrides merged), the arena they live in, the builtin defaults and the
 * host platform.
 *
 * Its own module so that the readers (manifest.c: files and drop-in
 * directories; mcache.c: the cached model), the rules that build it
 * (rules.c) and what consumes it (spec.c, plan.c) all depend on it and on
 * each other in one direction only: before, the arena and the defaults
 * were declared in rules.h and defined in manifest.c, so manifest and rules
 * included each other. */
#ifndef BITSYNC_MODEL_H
#define BITSYNC_MODEL_H

#include <stddef.h>
#include <stdint.h>

struct config;

enum platform { PLATFORM_POSIX, PLATFORM_WINDOWS };

enum priority { PRIO_FOREGROUND, PRIO_HIGH, PRIO_NORMAL, PRIO_LOW };
enum on_remove { ON_REMOVE_KEEP, ON_REMOVE_DELETE };
enum set_mode { MODE_ENFORCE, MODE_MONITOR };
enum source_kind { SOURCE_UNC, SOURCE_HTTP, SOURCE_HTTPS };
/* Numbered as BITS's BG_JOB_PROXY_USAGE so backends can pass them on. */
enum proxy_usage {
	PROXY_PRECONFIG = 0, PROXY_NO_PROXY = 1, PROXY_OVERRIDE = 2,
	PROXY_AUTODETECT = 3, PROXY_UNSET = -1
};
/* Numbered as BITS's BG_TOKEN_* flags. */
enum { TOKEN_LOCAL_FILE = 1, TOKEN_NETWORK = 2 };

struct mpos {
	const char *file;	/* owned by the manifest */
	unsigned line, col;
};

struct msettings {
	enum priority priority;
	uint64_t refresh;		/* seconds; 0 = never */
	uint64_t retry_delay;		/* seconds, >= 5 */
	uint64_t no_progress_timeout;	/* seconds */
	uint64_t max_download_time;	/* seconds; 0 = no limit */
	enum on_remove on_remove;
	enum set_mode mode;
};

struct msource {
	const char *name;
	struct mpos pos;
	const char *url;		/* as written */
	enum source_kind kind;
	int auth_computer;
	enum proxy_usage proxy_usage;
	const char *const *proxy_servers;
	size_t nproxy_servers;
	const char *const *proxy_bypass;
	size_t nproxy_bypass;
	const char *const *headers;	/* "Name: value" */
	size_t nheaders;
	const char *credential;		/* helper_token.credential or NULL */
	unsigned token_usage;		/* TOKEN_* bits */
	const char *client_certificate;	/* https: credential-store name, or NULL */
};

struct mfile {
	const char *remote;	/* relative to the set's source url + path, '/' separated */
	const char *local;	/* relative to the destination, '/' separated */
	int has_sha256;
	uint8_t sha256[32];
	struct mpos pos;
};

/* on_change (design §2a): a program bitsync runs after a commit that
 * changed files of the set; argv[0] an absolute path (command_rules.c). */
struct mcommand {
	const char *const *argv;	/* argc strings */
	size_t argc;
	uint64_t timeout;		/* seconds */
	struct mpos pos;		/* of the on_change key */
};

struct mset {
	const char *name;
	struct mpos pos;
	const char *source_name;
	struct mpos source_pos;		/* where 'source:' names it */
	const struct msource *source;	/* NULL when unknown (already reported) */
	const char *path;		/* sub-path under the source, '/' separated, or "" */
	const char *destination;	/* as written */
	struct mfile *files;
	size_t nfiles;
	struct msettings settings;	/* effective */
	/* The spec hash (spec.h) of this set as the manifest cache stored
	 * it, so that a plan need not canonicalise and hash again; NULL
	 * when read from YAML. */
	const char *spec_hash;
	const struct mcommand *on_change;	/* NULL: none */
};

struct manifest {
	struct msource *sources;
	size_t nsources;
	struct mset *sets;
	size_t nsets;
	char **files;		/* manifest files read, in order */
	size_t nfiles;
	struct manifest_priv *priv;	/* parsed documents and arenas */
};

struct manifest_opts {
	enum platform platform;
	const struct config *config;	/* allow_drives, allow_roots; may be NULL */
	/* Design §7 StrictModes: PERM_REFUSE for what the agent loads (an
	 * unsafe file is not read), PERM_WARN for paths named on the
	 * command line (reported, still read), PERM_OFF for tests. */
	enum { PERM_OFF, PERM_WARN, PERM_REFUSE } permissions;
};

struct ydoc;

/* The platform this binary serves (rules judge paths for it). */
enum platform model_host_platform(void);

/* Defaults a set gets when neither defaults: nor the set names a key. */
extern const struct msettings model_builtin_defaults;

/* An empty model; its strings and arrays go into model_arena(m). */
struct manifest *model_new(void);

/* The arena the model's strings and arrays go into, freed with it. */
struct arena *model_arena(struct manifest *m);

/* Keeps a parsed document (its tree lives in the model's arena) with the
 * model: dropin says it came from a drop-in directory.  Its file name
 * joins m->files. */
void model_add_doc(struct manifest *m, struct ydoc *doc, int dropin);

/* The documents kept so far, in order, and their drop-in flags. */
size_t model_docs(const struct manifest *m, struct ydoc *const **docs,
    const unsigned char **dropin);

/* The model points into a mapping (platform_map_file): unmapped by
 * model_free. */
void model_keep_map(struct manifest *m, const void *map, size_t len);

/* Frees the model, its documents, arena and mapping; NULL is a no-op. */
void model_free(struct manifest *m);

#endif
