/* fuzz_jobsplit.c - libFuzzer target over jobsplit's reading of the jobs a
 * backend lists (agent/jobsplit.c): display names and descriptions come
 * from BITS, where any program of the account can write them.  The input
 * is lines "NAME\tDESCRIPTION\tSTATE\tNFILES"; a fake backend lists them,
 * the wrapper folds groups, and every job it shows is then driven through
 * each call.  Invariants: no file is lost or invented, no more jobs come
 * out than went in, and every temp_path and temp_sha256 index of a job
 * reaches a file of the backend job that holds it. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "jobsplit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXJOBS	64

struct backend {
	struct bk_job jobs[MAXJOBS];
	size_t n;
};

static char *
dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p == NULL)
		abort();
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static int
f_list(struct backend *b, struct bk_job **out, size_t *n)
{
	struct bk_job *v = calloc(b->n + 1, sizeof(*v));
	size_t i, k;

	if (v == NULL)
		abort();
	for (i = 0; i < b->n; i++) {
		v[i] = b->jobs[i];
		v[i].display_name = b->jobs[i].display_name ?
		    dup_n(b->jobs[i].display_name,
		    strlen(b->jobs[i].display_name)) : NULL;
		v[i].description = b->jobs[i].description ?
		    dup_n(b->jobs[i].description,
		    strlen(b->jobs[i].description)) : NULL;
		v[i].files = calloc(b->jobs[i].nfiles + 1, sizeof(*v[i].files));
		if (v[i].files == NULL)
			abort();
		for (k = 0; k < b->jobs[i].nfiles; k++) {
			v[i].files[k].remote = dup_n("r", 1);
			v[i].files[k].local = dup_n("l", 1);
		}
		if (b->jobs[i].has_error)
			v[i].error.text = dup_n("e", 1);
	}
	*out = v;
	*n = b->n;
	return BK_OK;
}

static int
f_ok(struct backend *b, const bk_guid *id)
{
	(void)b;
	(void)id;
	return BK_OK;
}

static int
f_temp(struct backend *b, const bk_guid *id, size_t index, char **path)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		if (memcmp(&b->jobs[i].id, id, sizeof(*id)) == 0) {
			if (index >= b->jobs[i].nfiles)
				abort();	/* the wrapper mapped it wrong */
			*path = dup_n("t", 1);
			return BK_OK;
		}
	return BK_E_NOTFOUND;
}

static int
f_sha(struct backend *b, const bk_guid *id, size_t index, uint8_t out[32])
{
	char *p = NULL;
	int rc = f_temp(b, id, index, &p);

	free(p);
	memset(out, 0, 32);
	return rc;
}

static int
f_desc(struct backend *b, const bk_guid *id, const char *d)
{
	(void)b;
	(void)id;
	(void)d;
	return BK_OK;
}

static void
f_close(struct backend *b)
{
	(void)b;
}

static const struct backend_ops fake = {
	.name = "fake",
	.close = f_close,
	.list_jobs = f_list,
	.resume = f_ok,
	.suspend = f_ok,
	.cancel = f_ok,
	.complete = f_ok,
	.temp_path = f_temp,
	.temp_sha256 = f_sha,
	.set_description = f_desc,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct backend b;
	const struct backend_ops *ops = &fake;
	struct backend *w = &b;
	struct bk_job *out = NULL;
	const char *p = (const char *)data, *e = p + size, *nl, *t1, *t2, *t3;
	size_t n = 0, i, k, in_files = 0, out_files = 0;
	char *path;
	uint8_t digest[32];

	memset(&b, 0, sizeof(b));
	while (p < e && b.n < MAXJOBS) {
		struct bk_job *j = &b.jobs[b.n];

		nl = memchr(p, '\n', (size_t)(e - p));
		if (nl == NULL)
			nl = e;
		t1 = memchr(p, '\t', (size_t)(nl - p));
		t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(nl - t1 - 1)) : NULL;
		t3 = t2 ? memchr(t2 + 1, '\t', (size_t)(nl - t2 - 1)) : NULL;
		if (t3 != NULL) {
			j->display_name = dup_n(p, (size_t)(t1 - p));
			j->description = dup_n(t1 + 1, (size_t)(t2 - t1 - 1));
			j->state = (enum bk_state)((unsigned char)t2[1] % 7);
			j->has_error = j->state == BK_ERROR;
			j->nfiles = t3 + 1 < nl ?
			    (size_t)((unsigned char)t3[1] % 8) : 0;
			j->id.b[0] = (uint8_t)b.n;
			j->id.b[1] = 0x5a;
			in_files += j->nfiles;
			b.n++;
		}
		p = nl + 1;
	}
	jobsplit_wrap(&ops, &w, 3, 10);
	if (ops->list_jobs(w, &out, &n) != BK_OK || n > b.n)
		abort();
	for (i = 0; i < n; i++) {
		out_files += out[i].nfiles;
		for (k = 0; k < out[i].nfiles; k++) {
			if (ops->temp_path(w, &out[i].id, k, &path) == BK_OK)
				free(path);
			ops->temp_sha256(w, &out[i].id, k, digest);
		}
		ops->resume(w, &out[i].id);
		ops->suspend(w, &out[i].id);
		ops->set_description(w, &out[i].id, "bitsync/1 set=x spec=y");
	}
	if (out_files != in_files)
		abort();
	for (i = 0; i < n; i++)
		if (i % 2 == 0)
			ops->complete(w, &out[i].id);
		else
			ops->cancel(w, &out[i].id);
	backend_free_jobs(out, n);
	ops->close(w);
	for (i = 0; i < b.n; i++) {
		free(b.jobs[i].display_name);
		free(b.jobs[i].description);
	}
	return 0;
}
