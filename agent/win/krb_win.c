/* krb_win.c - krb.h on Windows: BITS itself authenticates as the computer
 * account (LocalSystem, NetworkService), so there is no machine keytab and
 * rule anonymous-computer never applies (rules.c asks only for POSIX). */
#include <stdio.h>
#include <string.h>

#include "krb.h"

int
krb_keytab_check(const char *keytab, const char *principal, char *princ,
    size_t plen, char *why, size_t wlen)
{
	(void)keytab; (void)principal;
	if (plen > 0)
		princ[0] = '\0';
	snprintf(why, wlen, "no machine keytab on Windows (BITS is the "
	    "computer account)");
	return 0;
}

void
krb_keytab_stamp(const char *keytab, int64_t out[5])
{
	(void)keytab;
	memset(out, 0, 5 * sizeof(*out));
}

int
krb_machine_init(const char *keytab, const char *principal,
    const char *state_dir, char *why, size_t wlen)
{
	(void)state_dir;
	return krb_keytab_check(keytab, principal, NULL, 0, why, wlen);
}

const char *
krb_machine_principal(void)
{
	return NULL;
}

int
krb_machine_ticket(char *why, size_t wlen)
{
	snprintf(why, wlen, "no machine keytab on Windows");
	return -1;
}

void
krb_gss_thread_ccache(int machine)
{
	(void)machine;
}
