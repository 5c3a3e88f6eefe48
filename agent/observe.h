/* observe.h - what the planner needs to know about local files, gathered
 * here so that plan.c stays free of I/O. */
#ifndef BITSYNC_OBSERVE_H
#define BITSYNC_OBSERVE_H

#include <stdint.h>

#include "plan.h"
#include "platform.h"
#include "spec.h"
#include "state.h"

/* lstat()s path (a symlink is "something else", never followed) and, when
 * hash and it is a regular file, computes its SHA-256.  Returns 0, or -1
 * when the file could not be read (o->exists is then -1). */
int observe_file(const char *path, int hash, struct plan_obs *o);

/* SHA-256 of a file's content; 0 or -1 (errno set). */
int observe_sha256_file(const char *path, uint8_t out[32]);

/* Observations of every file of a spec, parallel to sp->files.  Files
 * that declare a sha256 are hashed when hash_declared (refresh due).
 * sd (may be NULL): folder handles kept from one spec to the next, so
 * that the stats of many sets walk short paths. */
struct plan_obs *observe_spec(const struct spec *sp, int hash_declared,
    struct platform_statdir *sd);

/* Observations of the files a recorded set placed (for on_remove). */
struct plan_obs *observe_recorded(const struct state_set *r, int hash);

#endif
