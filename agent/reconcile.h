/* reconcile.h - one reconcile pass: read the manifest as it is to be
 * enforced, look at jobs, state and local files, plan (plan.h), and carry
 * the plan out against a backend.
 *
 * Reading follows design §4's hard rules: every live manifest file that
 * validates is saved as its last-known-good copy; a file that fails is
 * replaced by its last-known-good copy (and its errors reported), or, when
 * it never validated, its recorded sets are held: nothing of theirs is
 * cancelled or deleted.  Only a file that is gone withdraws its sets. */
#ifndef BITSYNC_RECONCILE_H
#define BITSYNC_RECONCILE_H

#include <stdint.h>
#include <stdio.h>

#include "backend.h"
#include "config.h"
#include "diag.h"
#include "manifest.h"
#include "plan.h"
#include "platform.h"
#include "spec.h"
#include "state.h"

/* What the daemon counts per set from its start, for metrics (Prometheus
 * counters: a restart is a reset, which rate() and increase() handle). */
struct reconcile_count {
	char *set;
	uint64_t failures;	/* failures seen: job ERROR, checksum, create */
	uint64_t retries;	/* retries and re-creations after failures */
	uint64_t files;		/* files committed */
	uint64_t bytes;		/* bytes committed (of known size) */
};
struct reconcile_counts {
	struct reconcile_count *v;
	size_t n;
};
/* The set's counters (added on first use). */
struct reconcile_count *reconcile_count_of(struct reconcile_counts *cs,
    const char *set);
void reconcile_counts_free(struct reconcile_counts *cs);

struct reconcile_ctx {
	const struct config *cfg;
	enum platform platform;
	struct state *st;
	const struct backend_ops *ops;
	struct backend *b;
	uint64_t jitter_seed;
	FILE *log;		/* one line per decision; NULL: quiet */
	int one_shot;		/* a command that exits after one pass */
	int retry_now;		/* this pass was asked for by a person (apply) */
	struct reconcile_counts *counts;	/* NULL: not counted */
	int events;		/* the daemon: decisions also platform_event */
	/* The daemon: polled by refresh probes, which run on its only
	 * thread; nonzero (a signal, a client waiting) makes the probe give
	 * way and the set is probed on the next pass.  NULL: never. */
	int (*interrupt)(void *arg);
	void *interrupt_arg;
	/* Folder sets are listed afresh, not from the last listing (a
	 * person's plan or apply; retry_now implies it). */
	int list_now;
};

/* The manifest as enforced. */
struct reconcile_input {
	struct manifest *m;		/* effective model; may be NULL */
	struct diags diags;		/* of the live files: what to report */
	int valid;			/* the live manifest had no errors */
	char **held;			/* live files whose sets are held */
	size_t nheld;
	int hold_all;			/* unreadable: withdraw nothing */
	char **lkg_used;		/* live files enforced from their copy */
	size_t nlkg_used;
	/* The manifest digest (status) over the bytes in force, hex; set
	 * when a copy stands in (its live file says otherwise), else "". */
	char digest[65];
};

/* What the planner saw and decided. */
struct reconcile_view {
	struct plan plan;
	struct plan_desired *desired;
	struct spec *specs;
	struct plan_obs **obs;
	size_t ndesired;
	struct state_set *recorded;
	size_t nrecorded;
	struct plan_obs **recorded_obs;
	struct bk_job *jobs;
	size_t njobs;
	int64_t now;
	struct rfolders *folders;	/* folder sets (reconcile_folder.h) */
};

struct reconcile_summary {
	size_t sets, in_sync, working, drift, failed, held, changed;
	size_t transient;		/* of working: jobs in TRANSIENT_ERROR */
	size_t errors;			/* backend or state calls that failed */
	int again;			/* something to do at once (a recheck saw change) */
	size_t deferred;		/* refresh probes left to the next pass */
};

/* Reads paths (the config's manifest and manifest_dir when npaths is 0).
 * save_lkg: store last-known-good copies (not in plan). */
int reconcile_load(struct reconcile_ctx *c, const char *const *paths,
    size_t npaths, int save_lkg, struct reconcile_input *in);
void reconcile_input_free(struct reconcile_input *in);

/* Adds one manifest file to the manifest digest (status.c): its base
 * name, its length and its bytes.  h may be NULL (sha256.h). */
struct sha256;
void reconcile_digest_file(struct sha256 *h, const char *path,
    const void *data, size_t len);

/* The live file a set was declared in. */
const char *reconcile_origin(const struct reconcile_input *in,
    const struct mset *s);

/* Gathers jobs, state and observations and plans.  0, or -1 with a
 * message on stderr (backend or state unreadable: BK_* code in *bkrc). */
int reconcile_plan(struct reconcile_ctx *c, const struct reconcile_input *in,
    int64_t now, struct reconcile_view *v, int *bkrc);
void reconcile_view_free(struct reconcile_view *v);

/* Carries out v's plan.  Returns 0 when every call succeeded. */
int reconcile_execute(struct reconcile_ctx *c,
    const struct reconcile_input *in, struct reconcile_view *v,
    struct reconcile_summary *sum);

/* Counts what the plan says without doing it. */
void reconcile_summarize(const struct reconcile_view *v,
    struct reconcile_summary *sum);

/* What plan and apply share: the config read, the state store and the
 * backend opened (reconcile_session.c, linked into the bitsync binary). */
struct reconcile_session {
	struct config cfg;
	struct state *st;
	struct platform_lock *lock;	/* held while reconciling (workers) */
	struct reconcile_ctx ctx;
};

/* config_load for the agent itself (run, apply, plan, status): the file
 * is first held to StrictModes (perm_check, design §7) exactly as
 * `validate` holds it, and refused with the same file-permissions
 * diagnostic before a byte of it is read: whoever can write it chooses
 * state_dir, status_file, ca_file and allow_roots of a root agent.
 * A missing file with missing_ok gives the defaults, as config_load. */
int reconcile_config_load(struct config *cfg, const char *path,
    int missing_ok, struct diags *d);

/* The state directory holds the job store, the last-known-good manifests,
 * the manifest cache and the control socket, all trusted like the
 * manifests: creates it 0700 when missing, and refuses one (a diagnostic
 * naming state_dir and the chown/chmod that fixes it, -1) that is not
 * owned by the agent's account, or that the group, others or an unsafe
 * directory above it could change (perm_check).  cfgpath: the config
 * file that names it, for the message. */
int reconcile_state_dir_check(const char *dir, const char *cfgpath,
    struct diags *d);

/* The folders of the files the daemon writes at every pass (status_file,
 * metrics_file): created when missing (mkdir -p below the nearest folder
 * that exists), refused when they are not a folder or cannot be written
 * (a diagnostic at the key's file and line that names the key and what
 * to do, -1).  At the daemon's start and reload, so that a bad value is
 * said once, at load, not by a failed write at every pass. */
int reconcile_outputs_check(const struct config *cfg, struct diags *d);

/* Returns an exit code (cli.h): 0, or 1 bad config, 69 backend
 * unavailable (BK_E_UNAVAILABLE: another process holds the job store),
 * 74 state unreadable.  workers: transfer in this process (apply);
 * otherwise the backend is opened only to look at and change jobs. */
int reconcile_session_open(struct reconcile_session *s,
    const char *config_path, int config_explicit, int workers, FILE *log);
void reconcile_session_close(struct reconcile_session *s);

/* What `plan` prints (cmd_plan.c), to out and err; returns its exit
 * code.  The daemon calls it for a `plan` asked over the socket. */
int plan_render(struct reconcile_ctx *c, const char *const *paths,
    size_t npaths, int json, int detailed, int verbose, FILE *out,
    FILE *err);

#endif
