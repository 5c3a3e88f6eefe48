/* observe.c - local file observations for the planner (see observe.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "observe.h"
#include "platform.h"
#include "sha256.h"
#include "spec.h"
#include "util.h"

int
observe_sha256_file(const char *path, uint8_t out[32])
{
	struct sha256 *h;
	unsigned char *buf = NULL;
	uint8_t d[32];
	ssize_t r;
	int fd, rc = -1, saved;

	/* A symlink planted where a file was placed is not the file
	 * bitsync placed. */
	if ((fd = platform_open_nofollow(path)) == -1)
		return -1;
	buf = xmalloc(1 << 17);
	h = sha256_new();
	while ((r = read(fd, buf, 1 << 17)) != 0) {
		if (r == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		sha256_update(h, buf, (size_t)r);
	}
	/* Finished either way: the context is freed with the digest. */
	if (sha256_final(h, d) != 0 && r == 0) {
		r = -1;
		errno = ENOMEM;	/* no hash: the file cannot be verified */
	}
	if (r == 0) {
		memcpy(out, d, sizeof(d));
		rc = 0;
	}
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return rc;
}

static int
observe_in(struct platform_statdir *sd, const char *path, int hash,
    struct plan_obs *o)
{
	struct platform_stat sb;

	memset(o, 0, sizeof(*o));
	if (platform_lstat_in(sd, path, &sb) == -1) {
		o->exists = -1;
		return -1;
	}
	if (sb.kind == PLATFORM_KIND_MISSING)
		return 0;
	if (sb.kind != PLATFORM_KIND_FILE || sb.is_link) {
		o->exists = -1;
		return 0;
	}
	o->exists = 1;
	o->size = sb.size;
	o->mtime_ns = sb.mtime_ns;
	o->dev = sb.dev;
	o->ino = sb.ino;
	if (hash) {
		if (observe_sha256_file(path, o->sha256) == -1) {
			o->exists = -1;
			return -1;
		}
		o->hashed = 1;
	}
	return 0;
}

int
observe_file(const char *path, int hash, struct plan_obs *o)
{
	return observe_in(NULL, path, hash, o);
}

struct plan_obs *
observe_spec(const struct spec *sp, int hash_declared,
    struct platform_statdir *sd)
{
	struct plan_obs *v = xcalloc(sp->job.nfiles + 1, sizeof(*v));
	size_t i;

	for (i = 0; i < sp->job.nfiles; i++)
		(void)observe_in(sd, sp->files[i].local,
		    hash_declared && sp->meta[i].has_sha256, &v[i]);
	return v;
}

struct plan_obs *
observe_recorded(const struct state_set *r, int hash)
{
	struct plan_obs *v = xcalloc(r->nfiles + 1, sizeof(*v));
	size_t i;

	for (i = 0; i < r->nfiles; i++)
		(void)observe_file(r->files[i].local,
		    hash && r->files[i].has_sha256, &v[i]);
	return v;
}
