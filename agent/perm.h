/* perm.h - StrictModes for the files that steer a privileged agent
 * (design §7): a manifest, drop-in or config file, and every directory
 * above it, must be writable by no one but the agent's own account and
 * root.  A world-writable directory with the sticky bit (/tmp) is accepted
 * because others cannot replace what the agent owns in it. */
#ifndef BITSYNC_PERM_H
#define BITSYNC_PERM_H

#include "diag.h"

/* Checks path and its parents.  Returns 0 when safe; otherwise adds one
 * file-permissions diagnostic of severity sev to d naming the offending
 * file or directory, its owner and mode, and the command that fixes it,
 * and returns -1.  A path that cannot be inspected gives an io-error and
 * -1.  Warnings serve `validate PATH` on a checkout that the agent will
 * never load itself. */
int perm_check(const char *path, enum diag_severity sev, struct diags *d);

#endif
