/* backends.h - the transfer backends (backend.h) this build carries, and
 * the one the config's backend key chooses.
 *
 * One table, backends[] in backends.c: a row per backend bitsync knows,
 * its ops where this build carries it (the engine in the Linux build,
 * BITS in bitsync.exe), else the sentence that refuses it.  Callers adapt
 * to a backend through its capability flags (BK_CAP_*), never its name. */
#ifndef BITSYNC_BACKENDS_H
#define BITSYNC_BACKENDS_H

#include "backend.h"
#include "config.h"

/* The ops of the backend cfg names, or NULL when this build does not
 * carry it: *refusal then says why and what to write instead (exit 69). */
const struct backend_ops *backends_choose(const struct config *cfg,
    const char **refusal);

#endif
