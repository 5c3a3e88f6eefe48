/* job_drive.c - the BITS jobs as another program sees them, for the
 * reconcile checks in tests/wine/run.sh (bitsync.exe against Wine's BITS):
 *
 *   job_drive foreign URL LOCAL NAME
 *	creates a job named like one of bitsync's ("bitsync:NAME") but with no
 *	description, as another program could, and leaves it suspended (it
 *	never transfers, so nothing has to cancel it mid-transfer: that
 *	crashes Wine's BITS service); prints "GUID {...}".
 *   job_drive list NAME
 *	one line per job whose display name is "bitsync:NAME":
 *	"JOB {guid} STATE own|foreign BYTES", BYTES the sum of its files'
 *	transferred bytes (Wine leaves the job total unknown), then
 *	"COUNT n".
 *
 * Exit 0, or 1 when the backend or a call fails (the reason on stderr). */
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "bits/bits.h"
#include "config.h"

static const struct backend_ops *ops = &bits_backend_ops;

static int
foreign(struct backend *be, const char *url, const char *local,
    const char *name)
{
	struct bk_file_spec f[1];
	struct bk_job_spec s;
	bk_guid id;
	char dn[256], g[39];
	int rc;

	snprintf(dn, sizeof(dn), "bitsync:%s", name);
	f[0].remote = url;
	f[0].local = local;
	memset(&s, 0, sizeof(s));
	s.display_name = dn;
	s.description = NULL;	/* not bitsync's: no ownership tag */
	s.priority = BK_NORMAL;
	s.files = f;
	s.nfiles = 1;
	if ((rc = ops->create_job(be, &s, &id)) != BK_OK) {
		fprintf(stderr, "job_drive: create_job: %d %s\n", rc,
		    ops->last_error(be) ? ops->last_error(be) : "");
		return 1;
	}
	bk_guid_format(&id, g);
	printf("GUID %s\n", g);
	return 0;
}

static int
list(struct backend *be, const char *name)
{
	struct bk_job *jobs;
	char dn[256], g[39];
	size_t n, i, k, count = 0;
	uint64_t bytes;
	int rc;

	snprintf(dn, sizeof(dn), "bitsync:%s", name);
	if ((rc = ops->list_jobs(be, &jobs, &n)) != BK_OK) {
		fprintf(stderr, "job_drive: list_jobs: %d %s\n", rc,
		    ops->last_error(be) ? ops->last_error(be) : "");
		return 1;
	}
	for (i = 0; i < n; i++) {
		if (jobs[i].display_name == NULL ||
		    strcmp(jobs[i].display_name, dn) != 0)
			continue;
		bytes = 0;
		for (k = 0; k < jobs[i].nfiles; k++)
			bytes += jobs[i].files[k].bytes_transferred;
		bk_guid_format(&jobs[i].id, g);
		printf("JOB %s %s %s %llu %lld\n", g,
		    bk_state_name(jobs[i].state),
		    jobs[i].description != NULL &&
		    jobs[i].description[0] != '\0' ? "own" : "foreign",
		    (unsigned long long)bytes, (long long)jobs[i].modified);
		count++;
	}
	printf("COUNT %zu\n", count);
	backend_free_jobs(jobs, n);
	return 0;
}

int
main(int argc, char **argv)
{
	struct backend *be = NULL;
	int rc;

	if (!((argc == 5 && strcmp(argv[1], "foreign") == 0) ||
	    (argc == 3 && strcmp(argv[1], "list") == 0))) {
		fprintf(stderr, "usage: job_drive foreign URL LOCAL NAME | "
		    "job_drive list NAME\n");
		return 64;
	}
	if ((rc = ops->open(NULL, &be)) != BK_OK) {
		fprintf(stderr, "job_drive: backend open: %d\n", rc);
		return 1;
	}
	rc = argc == 5 ? foreign(be, argv[2], argv[3], argv[4]) :
	    list(be, argv[2]);
	ops->close(be);
	fflush(stdout);
	return rc;
}
