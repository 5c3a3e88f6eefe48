/* manifest.h - the validated manifest: sources, sets and their files, with
 * every set's effective settings (defaults and overrides merged).
 *
 * manifest_load() reads one manifest file or a drop-in directory, runs every
 * validation rule (rules.h) and returns the model.  The model is built even
 * when some files are invalid, so that later stages can tell which sets came
 * from which file; callers decide from the diagnostics what to enforce. */
#ifndef BITSYNC_MANIFEST_H
#define BITSYNC_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"

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

enum platform manifest_host_platform(void);

/* Reads paths (files or drop-in directories; a directory contributes its
 * *.yaml and *.yml files in byte order of their names) and validates them
 * as one manifest.  Returns NULL only when there was nothing to read. */
struct manifest *manifest_load(const char *const *paths, size_t npaths,
    const struct manifest_opts *opts, struct diags *d);

/* Validates one manifest held in memory (fuzzing, tests); name is used in
 * diagnostics.  dropin: judge it as a drop-in file. */
struct manifest *manifest_load_buffer(const char *name, const void *buf,
    size_t len, int dropin, const struct manifest_opts *opts,
    struct diags *d);

void manifest_free(struct manifest *m);

/* manifest_load in two steps, for a cache of the validated model
 * (mcache.h) that must know which files a load would read.  Collecting
 * looks at paths, permissions and drop-in directories and reads no file;
 * what it finds (a refused or unreadable path) waits in pre, and
 * manifest_load_inputs reports each in its place among the files'
 * diagnostics, as manifest_load does. */
struct manifest_input {
	char *path;
	int dropin;		/* from a drop-in directory */
	size_t ndiag;		/* pre's diagnostics that come before it */
	size_t reserve;		/* bytes of YAML to reserve room for */
	const char *data;	/* its bytes when already read, else NULL */
	size_t len;
};
struct manifest_inputs {
	struct manifest_input *v;
	size_t n, cap;
	struct diags pre;
};
void manifest_inputs_collect(const char *const *paths, size_t npaths,
    const struct manifest_opts *opts, struct manifest_inputs *in);
struct manifest *manifest_load_inputs(const struct manifest_inputs *in,
    const struct manifest_opts *opts, struct diags *d);
void manifest_inputs_free(struct manifest_inputs *in);

/* An empty model; its strings and arrays go into manifest_arena(m). */
struct manifest *manifest_new(void);
/* The model points into a mapping (platform_map_file): unmapped by
 * manifest_free. */
void manifest_keep_map(struct manifest *m, const void *map, size_t len);

/* Defaults a set gets when neither defaults: nor the set names a key. */
extern const struct msettings manifest_builtin_defaults;

#endif
