/* reconcile_session.c - config, state and backend for plan and apply. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include "backends.h"
#include "cli.h"
#include "log.h"
#include "perm.h"
#include "platform.h"
#include "jobsplit.h"
#include "reconcile.h"
#include "sha256.h"
#include "util.h"

/* A per-host seed for retry jitter: hosts of a fleet that fail together
 * (a share down) come back at different times, and one host's schedule
 * stays the same from pass to pass. */
static uint64_t
host_seed(const char *state_dir)
{
	char host[256];
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	platform_hostname(host, sizeof(host));
	for (i = 0; host[i] != '\0'; i++) {
		h ^= (unsigned char)host[i];
		h *= 0x100000001b3ULL;
	}
	/* Several agents on one host (containers, tests) differ here. */
	for (i = 0; state_dir != NULL && state_dir[i] != '\0'; i++) {
		h ^= (unsigned char)state_dir[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#ifndef _WIN32
/* ca_file and credential_dir steer a root agent as much as the config
 * does: whoever can write ca_file adds trust anchors and so answers for
 * every https server (root then commits their bytes); whoever can write
 * credential_dir chooses the secrets, or plants a FIFO there.  Both are
 * held to the config's StrictModes (perm_check: owned by root or the
 * agent, no group or other write, nor of a folder above), at every
 * config load (run, apply, plan, status, and a reload).  A ca_file must
 * also be a regular file: a FIFO or device there would block the
 * transfers that read it.  A missing credential_dir is fine (the
 * credentials may come from $CREDENTIALS_DIRECTORY); a missing ca_file
 * is not (every https transfer would fail). */
static int
secrets_check(const struct config *cfg, struct diags *d)
{
	struct stat sb;
	size_t before = d->n;
	int rc = -1;

	if (cfg->ca_file != NULL && *cfg->ca_file != '\0') {
		if (stat(cfg->ca_file, &sb) == -1) {
			diag_add(d, cfg->path, 0, 0, DIAG_ERROR, "io-error",
			    "ca_file %s (key ca_file in [engine]) cannot be "
			    "read: %s; point ca_file at a PEM file of trust "
			    "anchors owned by root, or leave it empty for "
			    "the system's", cfg->ca_file, strerror(errno));
			goto done;
		}
		if (!S_ISREG(sb.st_mode)) {
			diag_add(d, cfg->path, 0, 0, DIAG_ERROR, "io-error",
			    "ca_file %s (key ca_file in [engine]) is not a "
			    "regular file; point ca_file at a PEM file of "
			    "trust anchors", cfg->ca_file);
			goto done;
		}
		if (perm_check(cfg->ca_file, DIAG_ERROR, d) != 0) {
			if (d->n > before)
				diag_add(d, cfg->path, 0, 0, DIAG_ERROR,
				    "file-permissions", "ca_file %s (key "
				    "ca_file in [engine]) is refused: whoever "
				    "can change it can impersonate every "
				    "https server; fix it as said (chown "
				    "root, chmod 0644), or set ca_file to a "
				    "file only root can change",
				    cfg->ca_file);
			goto done;
		}
	}
	if (cfg->credential_dir != NULL && *cfg->credential_dir != '\0' &&
	    stat(cfg->credential_dir, &sb) == 0 &&
	    perm_check(cfg->credential_dir, DIAG_ERROR, d) != 0) {
		if (d->n > before)
			diag_add(d, cfg->path, 0, 0, DIAG_ERROR,
			    "file-permissions", "credential_dir %s (key "
			    "credential_dir in [agent]) is refused: whoever "
			    "can change it chooses the passwords this agent "
			    "sends; fix it as said (chown root, chmod 0700), "
			    "or set credential_dir to a directory only the "
			    "agent's account can change", cfg->credential_dir);
		goto done;
	}
	rc = 0;
done:
	return rc;
}
#endif

int
reconcile_config_load(struct config *cfg, const char *path, int missing_ok,
    struct diags *d)
{
	int rc = -1;
#ifndef _WIN32
	enum platform_kind kind;

	config_defaults(cfg);
	/* Only a file that is there is judged: a missing one is config_load's
	 * to report (or to default).  The Windows config is the registry,
	 * guarded by its own ACL. */
	if (path != NULL && platform_path_kind(path, &kind) == 0 &&
	    kind != PLATFORM_KIND_MISSING && perm_check(path, DIAG_ERROR,
	    d) != 0)
		goto done;
#endif
	rc = config_load(cfg, path, missing_ok, d);
#ifndef _WIN32
	if (rc == 0 && secrets_check(cfg, d) != 0)
		rc = -1;
done:
#endif
	return rc;
}

int
reconcile_state_dir_check(const char *dir, const char *cfgpath,
    struct diags *d)
{
	int rc = -1;
#ifndef _WIN32
	struct passwd *pw;
	struct stat sb;
	char agent[64], owner[64];
	size_t before = d->n;

	if (dir == NULL || *dir == '\0') {
		rc = 0;
		goto done;
	}
	/* Missing: made private (mkdir 0700; the umask can only take
	 * bits away). */
	if (platform_mkdir_private(dir) == -1 || stat(dir, &sb) == -1) {
		diag_add(d, cfgpath, 0, 0, DIAG_ERROR, "io-error", "state_dir "
		    "%s cannot be created or inspected: %s; create it (mode "
		    "0700, owned by the agent's account) or set another "
		    "state_dir", dir, strerror(errno));
		goto done;
	}
	if (!S_ISDIR(sb.st_mode)) {
		diag_add(d, cfgpath, 0, 0, DIAG_ERROR, "io-error", "state_dir "
		    "%s is not a directory; set state_dir to a directory of "
		    "the agent's own", dir);
		goto done;
	}
	if (sb.st_uid != geteuid()) {
		pw = getpwuid(geteuid());
		snprintf(agent, sizeof(agent), "%s", pw != NULL ?
		    pw->pw_name : "the agent's account");
		pw = getpwuid(sb.st_uid);
		if (pw != NULL)
			snprintf(owner, sizeof(owner), "%s", pw->pw_name);
		else
			snprintf(owner, sizeof(owner), "%lu",
			    (unsigned long)sb.st_uid);
		diag_add(d, dir, 0, 0, DIAG_ERROR, "file-permissions",
		    "state_dir %s is owned by '%s' (mode %04o), not by '%s', "
		    "the agent's account; it holds the job store, the "
		    "last-known-good manifests and the control socket: run: "
		    "chown %s %s && chmod 0700 %s, or set state_dir (in %s) "
		    "to a directory of the agent's own", dir, owner,
		    (unsigned)(sb.st_mode & 07777), agent, agent, dir, dir,
		    cfgpath ? cfgpath : "the config");
		goto done;
	}
	/* Writable by the group or others, or below a directory others can
	 * change: perm_check names each and the command that fixes it. */
	if (perm_check(dir, DIAG_ERROR, d) != 0) {
		if (d->n > before)
			diag_add(d, dir, 0, 0, DIAG_ERROR, "file-permissions",
			    "state_dir %s is refused: what it holds steers "
			    "this agent, so only the agent's account may "
			    "change it (mode 0700 is what bitsync creates); "
			    "fix it as said, or set state_dir (in %s) to a "
			    "directory of the agent's own", dir,
			    cfgpath ? cfgpath : "the config");
		goto done;
	}
#else
	/* Windows: platform_mkdir_private judges an existing state_dir's
	 * owner and DACL (U14: a user who pre-created it would own the
	 * store, the last-known-good manifests and the cache). */
	if (dir != NULL && *dir != '\0' && platform_mkdir_private(dir) == -1) {
		const char *why = platform_last_why();

		diag_add(d, why != NULL ? dir : cfgpath, 0, 0, DIAG_ERROR,
		    why != NULL ? "file-permissions" : "io-error", "state_dir "
		    "%s is refused: %s; it holds the job store, the "
		    "last-known-good manifests and the cache, so only SYSTEM "
		    "and Administrators may own or change it: fix it as said, "
		    "or set state_dir (in %s) to a folder of the agent's own",
		    dir, why != NULL ? why : strerror(errno), cfgpath ?
		    cfgpath : "the config");
		goto done;
	}
	(void)cfgpath;
#endif
	rc = 0;
done:
	return rc;
}

/* One output file's folder; see reconcile_outputs_check. */
static int
output_dir_check(const char *key, const char *file, const char *where,
    unsigned line, const char *cfgpath, const char *instead,
    struct diags *d)
{
	enum platform_kind kind = PLATFORM_KIND_MISSING;
	char *dir = NULL;
	const char *why = NULL;
	size_t n, have;
	int rc = -1;

	if (file == NULL || *file == '\0') {
		rc = 0;
		goto done;
	}
	/* Its folder: up to the last separator (both, for Windows paths);
	 * "/x" is in "/". */
	for (n = strlen(file); n > 0 && file[n - 1] != '/' &&
	    file[n - 1] != '\\'; n--)
		;
	if (n > 1)
		n--;
	dir = xstrndup(file, n == 0 ? 1 : n);
	if (n == 0)
		dir[0] = '.';
	if (platform_path_kind(dir, &kind) == -1) {
		why = strerror(errno);
		goto refuse;
	}
	if (kind == PLATFORM_KIND_MISSING) {
		/* The folders that exist were made by an administrator and
		 * are trusted as such; the new ones are made without
		 * following a link planted meanwhile (platform_make_dirs). */
		for (have = n; have > 0; have--) {
			char *up;
			enum platform_kind k2 = PLATFORM_KIND_MISSING;

			if (dir[have - 1] != '/' && dir[have - 1] != '\\')
				continue;
			up = xstrndup(dir, have > 1 ? have - 1 : 1);
			if (platform_path_kind(up, &k2) == 0 &&
			    k2 != PLATFORM_KIND_MISSING) {
				free(up);
				break;
			}
			free(up);
		}
		if (platform_make_dirs(dir, have > 1 ? have - 1 : 0) == -1) {
			why = platform_last_why() != NULL ?
			    platform_last_why() : strerror(errno);
			goto refuse;
		}
		log_info("event=folder-created key=%s folder=%s", key, dir);
		kind = PLATFORM_KIND_DIR;
	}
	if (kind != PLATFORM_KIND_DIR) {
		why = "it is not a folder";
		goto refuse;
	}
#ifndef _WIN32
	if (access(dir, W_OK | X_OK) == -1) {
		why = strerror(errno);
		goto refuse;
	}
#endif
	rc = 0;
	goto done;
refuse:
	diag_add(d, where != NULL ? where : cfgpath, line, 0, DIAG_ERROR,
	    "io-error", "%s %s (key %s in [agent]): its folder %s cannot be "
	    "created or written: %s; create that folder for the agent, or %s",
	    key, file, key, dir, why, instead);
done:
	free(dir);
	return rc;
}

int
reconcile_outputs_check(const struct config *cfg, struct diags *d)
{
	int rc = 0;

	if (output_dir_check("status_file", cfg->status_file,
	    cfg->status_file_where, cfg->status_file_line, cfg->path,
	    "remove status_file so that it follows state_dir (STATE_DIR/"
	    "status.json)", d) == -1)
		rc = -1;
	if (output_dir_check("metrics_file", cfg->metrics_file,
	    cfg->metrics_file_where, cfg->metrics_file_line, cfg->path,
	    "point metrics_file into node_exporter's textfile collector "
	    "folder (Debian: /var/lib/prometheus/node-exporter), or leave it "
	    "empty to write no metrics", d) == -1)
		rc = -1;
	return rc;
}

int
reconcile_session_open(struct reconcile_session *s, const char *config_path,
    int config_explicit, int workers, FILE *log)
{
	struct config bcfg;
	struct diags d;
	const char *why;
	char *err = NULL;
	int rc = EXIT_INVALID, r, tries;

	memset(s, 0, sizeof(*s));
	diags_init(&d);
	config_defaults(&s->cfg);
	if (reconcile_config_load(&s->cfg, config_path, !config_explicit,
	    &d) != 0) {
		diags_print_text(&d, stderr);
		goto done;
	}
	/* A config naming a backend this build does not carry is refused
	 * rather than silently served by the one built in. */
	if ((s->ctx.ops = backends_choose(&s->cfg, &why)) == NULL) {
		fprintf(stderr, "bitsync: %s: %s\n", s->cfg.path ?
		    s->cfg.path : "config", why);
		rc = EXIT_UNAVAILABLE;
		goto done;
	}
	/* Every session hashes (specs, files, copies): a host that cannot
	 * is refused here, once; the hashing library itself never exits. */
	if (sha256_check(&why) != 0) {
		fprintf(stderr, "bitsync: SHA-256 unavailable: %s\n", why);
		rc = EXIT_SOFTWARE;
		goto done;
	}
	if (reconcile_state_dir_check(s->cfg.state_dir, s->cfg.path,
	    &d) != 0) {
		diags_print_text(&d, stderr);
		goto done;
	}
	if (state_open(s->cfg.state_dir, &s->st, &err) != 0) {
		fprintf(stderr, "bitsync: state: %s\n", err);
		rc = EXIT_IOERR;
		goto done;
	}
	/* One process reconciles a store at a time: two applies (or apply
	 * beside `run`) would each create a job for the same set.  The
	 * engine also locks its job store; BITS is shared by the whole
	 * host, so on Windows this lock is the only guard. */
	if (workers && (r = platform_lock(s->cfg.state_dir, "reconcile.lock",
	    &s->lock)) != 0) {
		if (r == 1)
			fprintf(stderr, "bitsync: another bitsync process (the "
			    "run daemon, or an apply) holds the job store in "
			    "%s\n", s->cfg.state_dir);
		else
			fprintf(stderr, "bitsync: cannot lock %s: %s\n",
			    s->cfg.state_dir, strerror(errno));
		rc = r == 1 ? EXIT_UNAVAILABLE : EXIT_IOERR;
		goto done;
	}
	s->ctx.cfg = &s->cfg;
	s->ctx.platform = model_host_platform();
	s->ctx.st = s->st;
	s->ctx.jitter_seed = host_seed(s->cfg.state_dir);
	s->ctx.log = log;
	bcfg = s->cfg;
	if (!workers)
		bcfg.max_parallel = 0;
	/* With the reconcile lock held, only a reader (status or plan,
	 * which take no reconcile lock) can hold the job store, and only
	 * for a moment: a daemon starting then waits instead of failing. */
	for (tries = 0; (r = s->ctx.ops->open(&bcfg, &s->ctx.b)) ==
	    BK_E_UNAVAILABLE && workers && tries < 100; tries++)
		platform_sleep_ms(100);
	if (r != BK_OK) {
		if (r == BK_E_UNAVAILABLE)
			fprintf(stderr, "bitsync: the %s backend is not "
			    "available: another bitsync process (the run "
			    "daemon, or an apply) holds the job store in %s\n",
			    s->ctx.ops->name, s->cfg.state_dir);
		else
			fprintf(stderr, "bitsync: cannot open the %s backend "
			    "(%d)\n", s->ctx.ops->name, r);
		rc = r == BK_E_IO ? EXIT_IOERR : EXIT_UNAVAILABLE;
		s->ctx.b = NULL;
		goto done;
	}
	/* BITS's MaxFilesPerJob and MaxJobsPerMachine: a set larger than
	 * one job is carried by several (jobsplit.h). */
	jobsplit_wrap(&s->ctx.ops, &s->ctx.b, s->cfg.max_files_per_job,
	    s->cfg.max_jobs);
	rc = EXIT_OK;
done:
	free(err);
	diags_free(&d);
	if (rc != EXIT_OK)
		reconcile_session_close(s);
	return rc;
}

void
reconcile_session_close(struct reconcile_session *s)
{
	if (s->ctx.b != NULL && s->ctx.ops != NULL)
		s->ctx.ops->close(s->ctx.b);
	s->ctx.b = NULL;
	state_close(s->st);
	s->st = NULL;
	platform_unlock(s->lock);
	s->lock = NULL;
	config_free(&s->cfg);
}
