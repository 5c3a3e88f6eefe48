/* reconcile_session.c - config, state and backend for plan and apply. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "platform.h"
#include "reconcile.h"
#include "util.h"

#ifdef _WIN32
#include "bits.h"
#else
#include "engine.h"
#endif

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

int
reconcile_session_open(struct reconcile_session *s, const char *config_path,
    int config_explicit, int workers, FILE *log)
{
	struct config bcfg;
	struct diags d;
	char *err = NULL;
	int rc = EXIT_INVALID, r;

	memset(s, 0, sizeof(*s));
	diags_init(&d);
	config_defaults(&s->cfg);
	if (config_load(&s->cfg, config_path, !config_explicit, &d) != 0) {
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
	s->ctx.platform = manifest_host_platform();
	s->ctx.st = s->st;
	s->ctx.jitter_seed = host_seed(s->cfg.state_dir);
	s->ctx.log = log;
#ifdef _WIN32
	s->ctx.ops = &bits_backend_ops;
#else
	s->ctx.ops = &engine_backend_ops;
#endif
	bcfg = s->cfg;
	if (!workers)
		bcfg.max_parallel = 0;
	if ((r = s->ctx.ops->open(&bcfg, &s->ctx.b)) != BK_OK) {
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

int
control_connect(const char *state_dir)
{
	return platform_control_connect(state_dir);
}
