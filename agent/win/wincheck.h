/* wincheck.h - the runtime checks of design §3 and §7 that only Windows
 * can make, for the rules and the reconciler to call:
 *  - a drive letter that the config allows must be a local fixed volume
 *    when the agent checks it (GetDriveTypeW);
 *  - a destination path must not pass through a reparse point (symlink,
 *    junction, mount point) that someone planted. */
#ifndef BITSYNC_WINCHECK_H
#define BITSYNC_WINCHECK_H

/* 1 when drive letter d (A-Z, any case) is a local fixed volume, else 0;
 * *kind names what it is ("fixed", "removable", "network", "CD-ROM",
 * "RAM disk", "not present", "unknown"). */
int win_drive_is_fixed(char d, const char **kind);

/* Checks every existing component of the absolute path p (drive or UNC)
 * from the root down.  Returns 1 and the first component that is a reparse
 * point in *where (newly allocated), 0 when there is none, -1 when a
 * component cannot be inspected (other than not existing yet). */
int win_path_reparse(const char *p, char **where);

#endif
