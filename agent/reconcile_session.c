/* reconcile_session.c - config, state and backend for plan and apply. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "cli.h"
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
host_seed(void)
{
	char host[256] = "";
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	gethostname(host, sizeof(host) - 1);
	for (i = 0; host[i] != '\0'; i++) {
		h ^= (unsigned char)host[i];
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
	s->ctx.cfg = &s->cfg;
	s->ctx.platform = manifest_host_platform();
	s->ctx.st = s->st;
	s->ctx.jitter_seed = host_seed();
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
	config_free(&s->cfg);
}

int
control_connect(const char *state_dir)
{
	struct sockaddr_un sa;
	char *path = xasprintf("%s/control.sock", state_dir);
	int fd = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) < sizeof(sa.sun_path)) {
		memcpy(sa.sun_path, path, strlen(path));
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) !=
		    -1 && connect(fd, (struct sockaddr *)&sa,
		    sizeof(sa)) == -1) {
			close(fd);
			fd = -1;
		}
	}
	free(path);
	return fd;
}
