/* mcache.h - the validated manifest kept in the state directory, so that
 * plan, apply and the daemon do not parse and check an unchanged manifest
 * again (issue 4: a plan of 10,000 sets in under 100 ms; validation alone
 * took 70 of its milliseconds).
 *
 * The key is a SHA-256 over everything validation depends on: this build
 * of bitsync (platform_self_id), the platform validated for, the
 * permission mode, the agent config's allow_drives and allow_roots, and
 * every file read, with its path, its drop-in flag and its bytes.  Files
 * are read once: hashed, then parsed from the same bytes on a miss, so an
 * edit in between can never be cached under the other content's key.
 * Only a load without errors is cached; a load whose paths, permissions
 * or listing gave any diagnostic does not use the cache at all, so what a
 * hit returns (model and diagnostics, in order) is what the load would
 * have returned.
 *
 * The file is written whole and renamed into place; a cache that is
 * missing, from another build, truncated or damaged is a miss, never an
 * error: the manifest is then read and checked as if there were none. */
#ifndef BITSYNC_MCACHE_H
#define BITSYNC_MCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "manifest.h"

#define MCACHE_FILE "manifest.cache"

/* manifest_load through the cache at path cache (NULL: no cache).
 * *hit (may be NULL) tells whether the cache answered. */
struct manifest *mcache_manifest_load(const char *cache,
    const char *const *paths, size_t npaths,
    const struct manifest_opts *opts, struct diags *d, int *hit);

/* The cache's format, for tests and the fuzz target.  mcache_encode
 * serialises m (with each set's spec hash for platform) and d's
 * diagnostics from..n-1 under key into *out (malloc'ed).
 * mcache_decode returns the model in buf (which must stay valid as long
 * as the model: its strings point into it) and adds its diagnostics to
 * d, or NULL when buf is not a cache for key. */
void mcache_encode(const struct manifest *m, enum platform platform,
    const struct diags *d, size_t from, const uint8_t key[32], char **out,
    size_t *outlen);
struct manifest *mcache_decode(const char *buf, size_t len,
    const uint8_t key[32], struct diags *d);
/* Writes the payload length and the checksum into a cache of len bytes:
 * the encoder's last step, and the fuzz target's first (so that it
 * explores the payload, not the checksum). */
void mcache_seal(char *buf, size_t len);

#endif
