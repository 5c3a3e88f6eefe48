/* spec.h - the effective spec of a set: what its transfer job must look like
 * (design §4), and the SHA-256 that names it.
 *
 * spec_build() turns a validated set (defaults and source already merged by
 * the manifest model) into the bk_job_spec a backend creates, with the
 * remote URL and local path of every file worked out for the host, and
 * hashes a canonical serialisation of exactly what goes into that job.  Two
 * manifests that mean the same job (keys in another order, a default written
 * out, files listed in another order, `\` for `/`) give one hash; any change
 * that the job would see gives another.  refresh, on_remove and mode are not
 * part of the job and so not of the hash: changing how often a set is
 * checked must not throw away a transfer in progress. */
#ifndef BITSYNC_SPEC_H
#define BITSYNC_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "model.h"

#define SPEC_HASH_LEN 64		/* hex digits */
#define SPEC_NAME_PREFIX "bitsync:"
#define SPEC_DESC_PREFIX "bitsync/1 set="

/* What the planner and the reconciler need per file beyond bk_file_spec. */
struct spec_file {
	int has_sha256;
	uint8_t sha256[32];
	const struct mfile *mfile;
};

struct spec {
	char hash[SPEC_HASH_LEN + 1];
	const char *display_name;	/* "bitsync:<set>" */
	const char *description;	/* "bitsync/1 set=<set> spec=<hash>" */
	struct bk_job_spec job;		/* points into this struct */
	struct bk_file_spec *files;	/* sorted by local path; job.files */
	struct spec_file *meta;		/* parallel to files, same allocation */
	/* One allocation behind every string above and in job (paths,
	 * proxy lists, headers, names): 10,000 specs are 10,000 blocks, not
	 * 100,000 small strings. */
	char *block;
};

/* Builds the spec of set for a host of the given platform.  Returns 0, or
 * -1 when the set has no usable source (the manifest already reported it). */
int spec_build(const struct mset *set, enum platform platform,
    struct spec *out);
void spec_free(struct spec *s);

/* The hash set would have with sp's settings and these n files instead
 * of its own (files sorted by local path, meta parallel to them): how the
 * planner proves which committed files a spec change left alone
 * (plan_keep_committed). */
void spec_hash_files(const struct mset *set, const struct spec *sp,
    const struct bk_file_spec *files, const struct spec_file *meta,
    size_t n, char hash[SPEC_HASH_LEN + 1]);

/* Remote location of a file: UNC paths with backslashes, URLs with slashes
 * and each path segment percent-encoded.  rel is '/' separated. */
char *spec_remote_path(const struct msource *src, const char *path,
    const char *rel);

/* Local path of a file under destination for the platform. */
char *spec_local_path(const char *destination, const char *rel,
    enum platform platform);

/* Ownership tags.  spec_job_set() returns the set name a display name
 * carries (length through *len), or NULL when it is not "bitsync:<set>".
 * spec_job_hash() returns the spec hash in a description
 * "bitsync/1 set=<set> spec=<hash>" for that set, or NULL. */
const char *spec_job_set(const char *display_name, size_t *len);
const char *spec_job_hash(const char *description, const char *set,
    size_t setlen);

/* SHA-256 helpers (the digest itself is sha256.h's).  spec_sha256: 0,
 * or -1 (out zeroed) when the host cannot hash. */
int spec_sha256(const void *buf, size_t len, uint8_t out[32]);
void spec_hex(const uint8_t *b, size_t n, char *out);	/* out: 2n+1 */
int spec_unhex(const char *s, uint8_t *b, size_t n);	/* 0 or -1 */

#endif
