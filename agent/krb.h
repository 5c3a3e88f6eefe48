/* krb.h - the computer account on Linux: Kerberos from the machine keytab
 * (design §6 round 2, machine_keytab and machine_principal).
 *
 * A host joined to an AD domain (realmd/sssd, adcli, winbind) holds the
 * keys of its computer account (HOST$@REALM) in /etc/krb5.keytab.  With
 * them bitsync gets the computer's ticket-granting ticket into a private
 * credential cache in its state directory and points the process's
 * Kerberos (KRB5CCNAME: libsmbclient's, and libcurl's GSS-API) at it, so
 * `auth: computer` authenticates as the computer, as BITS does under
 * LocalSystem.  POSIX only: on Windows BITS is the computer. */
#ifndef BITSYNC_KRB_H
#define BITSYNC_KRB_H

#include <stddef.h>
#include <stdint.h>

/* Whether keytab (a path) holds the keys of principal (NULL or "": the
 * keytab's first HOST$ principal, NAME$@REALM).  1: usable, the principal
 * written into princ (unparsed); 0: no keytab file (anonymous, as before);
 * -1: a keytab that cannot be used, why says what and what to do. */
int krb_keytab_check(const char *keytab, const char *principal, char *princ,
    size_t plen, char *why, size_t wlen);

/* The keytab file as it is now (inode, size, mtime, mode; zeros when
 * missing), for caches of validation results that depend on it. */
void krb_keytab_stamp(const char *keytab, int64_t out[5]);

/* Sets the process up for the computer account: when keytab is usable,
 * KRB5CCNAME names STATE_DIR/krb5cc_machine (private, 0600) and the
 * principal is remembered; no ticket is asked for yet.  Call before other
 * threads run (it sets the environment).  Returns what krb_keytab_check
 * returns; on 0 and -1 `auth: computer` stays anonymous. */
int krb_machine_init(const char *keytab, const char *principal,
    const char *state_dir, char *why, size_t wlen);

/* The computer's principal (HOST$@REALM) when krb_machine_init found a
 * usable keytab, else NULL. */
const char *krb_machine_principal(void);

/* Makes sure the cache holds a ticket-granting ticket of the computer
 * valid for a while yet: asked for from the keytab when missing, expired
 * or near its end (a quarter of its life, at least 5 minutes, left).
 * Thread-safe.  0, or -1 with why (the KDC's or the library's text). */
int krb_machine_ticket(char *why, size_t wlen);

/* For libcurl's GSS-API on this thread: the machine's cache (machine = 1)
 * or an empty in-memory one (0), so a helper token's Negotiate never
 * presents the computer's ticket. */
void krb_gss_thread_ccache(int machine);

#endif
