/* wincheck.h - the runtime checks of design §3 and §7 that only Windows
 * can make, for the rules and the reconciler to call:
 *  - a drive letter that the config allows must be a local fixed volume
 *    when the agent checks it (GetDriveTypeW);
 *  - a destination path must not pass through a reparse point (symlink,
 *    junction, mount point) that someone planted. */
#ifndef BITSYNC_WINCHECK_H
#define BITSYNC_WINCHECK_H

#include <stddef.h>

/* 1 when drive letter d (A-Z, any case) is a local fixed volume, else 0;
 * *kind names what it is ("fixed", "removable", "network", "CD-ROM",
 * "RAM disk", "not present", "unknown"). */
int win_drive_is_fixed(char d, const char **kind);

/* Checks every existing component of the absolute path p (drive or UNC)
 * from the root down.  Returns 1 and the first component that is a reparse
 * point in *where (newly allocated), 0 when there is none, -1 when a
 * component cannot be inspected (other than not existing yet). */
int win_path_reparse(const char *p, char **where);

/* win_path_reparse for components that end past the first trusted_len
 * bytes of p (the allowed root, which the admin may build of junctions):
 * the check BITS's writes need right before Resume and Complete. */
int win_path_reparse_below(const char *p, size_t trusted_len, char **where);

/* perm_win's DACL judge (design §7) on an open folder or file (the handle
 * needs READ_CONTROL): 0 when its owner is SYSTEM, Administrators,
 * TrustedInstaller or this process's account and no other account may
 * write, add to, delete or re-permission it; -1 refused, with *why (newly
 * allocated) naming the object, the account and an icacls command that
 * fixes it; -2 when its security cannot be read (*why says so). */
int win_judge_handle(void *h, const char *path, int dir, char **why);

#endif
