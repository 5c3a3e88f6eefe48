/* krb_posix.c - the computer account on Linux: Kerberos from the machine keytab;
 * see krb.h.
 *
 * MIT Kerberos (libkrb5) reads the keytab and asks the KDC for the TGT;
 * the ticket goes into a FILE credential cache in the state directory,
 * which libsmbclient (Samba's own Heimdal reads the same file format) and
 * libcurl (MIT GSS-API) then use through KRB5CCNAME.  A fresh ticket is
 * written to a new file and renamed over the cache, so a transfer that
 * reads the cache meanwhile sees the old ticket or the new one, never a
 * half-written file. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gssapi/gssapi_krb5.h>
#include <krb5.h>

#include "krb.h"
#include "log.h"

#define KRB_CC_NAME	"krb5cc_machine"
/* A ticket is asked for again when less than this much of its life is
 * left (seconds), or a quarter of its life, whichever is more: long
 * enough that a transfer started now does not outlive it at the server's
 * session setup. */
#define KRB_MARGIN_MIN	300
/* What the process uses when it has no machine keytab: an empty cache,
 * never root's own (an administrator's kinit must not become the
 * computer's identity). */
#define KRB_CC_NONE	"MEMORY:bitsync-no-machine-ticket"

static pthread_mutex_t krb_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char *keytab, *principal, *cc_path, *cc_name;
	time_t endtime, margin;
} M;

/* why = "WHAT ARG: the library's text". */
static void
krb_msg(krb5_context ctx, krb5_error_code rc, char *why, size_t wlen,
    const char *what, const char *arg)
{
	const char *m = ctx != NULL ? krb5_get_error_message(ctx, rc) : NULL;

	snprintf(why, wlen, "%s %s: %s", what, arg, m != NULL ? m :
	    "Kerberos error");
	if (m != NULL)
		krb5_free_error_message(ctx, m);
}

/* The principal of a computer account: one component ending in '$'. */
static int
is_host_dollar(krb5_context ctx, krb5_const_principal p)
{
	const krb5_data *c;

	(void)ctx;
	if (p->length != 1)
		return 0;
	c = &p->data[0];
	return c->length > 1 && c->data[c->length - 1] == '$';
}

int
krb_keytab_check(const char *keytab, const char *principal, char *princ,
    size_t plen, char *why, size_t wlen)
{
	krb5_context ctx = NULL;
	krb5_keytab kt = NULL;
	krb5_kt_cursor cur;
	krb5_keytab_entry ent;
	krb5_principal want = NULL;
	krb5_error_code rc;
	struct stat sb;
	char name[4096], *found = NULL;
	int ret = -1, open_seq = 0;

	if (plen > 0)
		princ[0] = '\0';
	if (wlen > 0)
		why[0] = '\0';
	if (keytab == NULL || *keytab == '\0') {
		snprintf(why, wlen, "machine_keytab is off");
		ret = 0;
		goto out;
	}
	if (stat(keytab, &sb) != 0) {
		snprintf(why, wlen, "machine_keytab %s: %s", keytab,
		    strerror(errno));
		ret = errno == ENOENT ? 0 : -1;
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(why, wlen, "machine_keytab %s is not a regular file",
		    keytab);
		goto out;
	}
	if ((rc = krb5_init_context(&ctx)) != 0) {
		snprintf(why, wlen, "cannot start Kerberos (%s)",
		    strerror(rc));
		ctx = NULL;
		goto out;
	}
	snprintf(name, sizeof(name), "FILE:%s", keytab);
	if ((rc = krb5_kt_resolve(ctx, name, &kt)) != 0) {
		krb_msg(ctx, rc, why, wlen, "machine_keytab", keytab);
		goto out;
	}
	if (principal != NULL && *principal != '\0' &&
	    (rc = krb5_parse_name(ctx, principal, &want)) != 0) {
		krb_msg(ctx, rc, why, wlen, "machine_principal", principal);
		goto out;
	}
	if ((rc = krb5_kt_start_seq_get(ctx, kt, &cur)) != 0) {
		krb_msg(ctx, rc, why, wlen, "reading machine_keytab",
		    keytab);
		goto out;
	}
	open_seq = 1;
	while (found == NULL &&
	    krb5_kt_next_entry(ctx, kt, &ent, &cur) == 0) {
		if (want != NULL ? krb5_principal_compare(ctx, want,
		    ent.principal) != 0 : is_host_dollar(ctx, ent.principal))
			if (krb5_unparse_name(ctx, ent.principal, &found) != 0)
				found = NULL;
		krb5_free_keytab_entry_contents(ctx, &ent);
	}
	if (found == NULL) {
		snprintf(why, wlen, "machine_keytab %s holds no key of %s: "
		    "set machine_principal in [agent] to a principal it "
		    "holds (klist -k %s lists them), or join the host again",
		    keytab, want != NULL ? principal :
		    "a computer account (NAME$@REALM)", keytab);
		goto out;
	}
	snprintf(princ, plen, "%s", found);
	ret = 1;
out:
	if (open_seq)
		krb5_kt_end_seq_get(ctx, kt, &cur);
	if (found != NULL)
		krb5_free_unparsed_name(ctx, found);
	if (want != NULL)
		krb5_free_principal(ctx, want);
	if (kt != NULL)
		krb5_kt_close(ctx, kt);
	if (ctx != NULL)
		krb5_free_context(ctx);
	return ret;
}

void
krb_keytab_stamp(const char *keytab, int64_t out[5])
{
	struct stat sb;

	memset(out, 0, 5 * sizeof(*out));
	if (keytab != NULL && stat(keytab, &sb) == 0) {
		out[0] = (int64_t)sb.st_ino;
		out[1] = (int64_t)sb.st_size;
		out[2] = (int64_t)sb.st_mtim.tv_sec;
		out[3] = (int64_t)sb.st_mtim.tv_nsec;
		out[4] = (int64_t)sb.st_mode;
	}
}

static char *
dup_printf(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 1;
	char *s = malloc(n);

	if (s != NULL)
		snprintf(s, n, "%s%s", a, b);
	return s;
}

int
krb_machine_init(const char *keytab, const char *principal,
    const char *state_dir, char *why, size_t wlen)
{
	char princ[1024], *path = NULL;
	int ret;

	ret = krb_keytab_check(keytab, principal, princ, sizeof(princ), why,
	    wlen);
	pthread_mutex_lock(&krb_mu);
	free(M.keytab);
	free(M.principal);
	free(M.cc_path);
	free(M.cc_name);
	memset(&M, 0, sizeof(M));
	if (ret == 1) {
		path = dup_printf(state_dir, "/" KRB_CC_NAME);
		M.keytab = strdup(keytab);
		M.principal = strdup(princ);
		M.cc_path = path;
		M.cc_name = path != NULL ? dup_printf("FILE:", path) : NULL;
		if (M.keytab == NULL || M.principal == NULL ||
		    M.cc_name == NULL) {
			snprintf(why, wlen, "out of memory");
			ret = -1;
			free(M.keytab);
			free(M.principal);
			free(M.cc_path);
			free(M.cc_name);
			memset(&M, 0, sizeof(M));
		}
	}
	/* The whole process's Kerberos names this cache: libsmbclient
	 * takes no cache per context.  Without a keytab an empty one, so
	 * nothing the service inherited speaks for the computer. */
	{
		const char *want = M.cc_name != NULL ? M.cc_name : KRB_CC_NONE;
		const char *have = getenv("KRB5CCNAME");

		/* A reload with the same settings leaves the environment
		 * alone: setenv races getenv on threads still running. */
		if (have == NULL || strcmp(have, want) != 0)
			setenv("KRB5CCNAME", want, 1);
	}
	pthread_mutex_unlock(&krb_mu);
	return ret;
}

const char *
krb_machine_principal(void)
{
	const char *p;

	pthread_mutex_lock(&krb_mu);
	p = M.principal;
	pthread_mutex_unlock(&krb_mu);
	return p;
}

/* The cache is the agent's own regular file, or it is asked for again. */
static int
cache_fresh(time_t now)
{
	struct stat sb;

	if (M.endtime == 0 || now + M.margin >= M.endtime)
		return 0;
	if (lstat(M.cc_path, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_uid != geteuid() || (sb.st_mode & 077) != 0)
		return 0;
	return 1;
}

static int
acquire(char *why, size_t wlen)
{
	krb5_context ctx = NULL;
	krb5_keytab kt = NULL;
	krb5_principal me = NULL;
	krb5_get_init_creds_opt *opt = NULL;
	krb5_ccache cc = NULL;
	krb5_creds creds;
	krb5_error_code rc;
	struct stat sb;
	char name[4200], *tmp = NULL;
	int have_creds = 0, ret = -1;
	time_t life;

	memset(&creds, 0, sizeof(creds));
	if ((rc = krb5_init_context(&ctx)) != 0) {
		snprintf(why, wlen, "cannot start Kerberos (%s)",
		    strerror(rc));
		ctx = NULL;
		goto out;
	}
	snprintf(name, sizeof(name), "FILE:%s", M.keytab);
	if ((rc = krb5_kt_resolve(ctx, name, &kt)) != 0 ||
	    (rc = krb5_parse_name(ctx, M.principal, &me)) != 0 ||
	    (rc = krb5_get_init_creds_opt_alloc(ctx, &opt)) != 0) {
		krb_msg(ctx, rc, why, wlen, "machine_keytab", M.keytab);
		goto out;
	}
	/* The ticket stays on this host: not forwardable, no proxies. */
	krb5_get_init_creds_opt_set_forwardable(opt, 0);
	krb5_get_init_creds_opt_set_proxiable(opt, 0);
	if ((rc = krb5_get_init_creds_keytab(ctx, &creds, me, kt, 0, NULL,
	    opt)) != 0) {
		krb_msg(ctx, rc, why, wlen, "asking the KDC for a ticket of "
		    "the computer account", M.principal);
		goto out;
	}
	have_creds = 1;
	if ((tmp = dup_printf(M.cc_path, ".new")) == NULL) {
		snprintf(why, wlen, "out of memory");
		goto out;
	}
	/* A leftover of a crash, or something planted: the FILE cache
	 * creates its file exclusively (0600), so it must be gone first. */
	if (unlink(tmp) != 0 && errno != ENOENT) {
		snprintf(why, wlen, "cannot replace %s: %s", tmp,
		    strerror(errno));
		goto out;
	}
	snprintf(name, sizeof(name), "FILE:%s", tmp);
	if ((rc = krb5_cc_resolve(ctx, name, &cc)) != 0 ||
	    (rc = krb5_cc_initialize(ctx, cc, me)) != 0 ||
	    (rc = krb5_cc_store_cred(ctx, cc, &creds)) != 0) {
		krb_msg(ctx, rc, why, wlen, "writing the credential cache",
		    tmp);
		goto out;
	}
	krb5_cc_close(ctx, cc);
	cc = NULL;
	if (lstat(tmp, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_uid != geteuid() || chmod(tmp, 0600) != 0 ||
	    rename(tmp, M.cc_path) != 0) {
		snprintf(why, wlen, "cannot put the credential cache at %s: "
		    "%s", M.cc_path, strerror(errno ? errno : EPERM));
		goto out;
	}
	M.endtime = creds.times.endtime;
	life = (time_t)creds.times.endtime - (time_t)(creds.times.starttime ?
	    creds.times.starttime : creds.times.authtime);
	M.margin = life / 4 > KRB_MARGIN_MIN ? life / 4 : KRB_MARGIN_MIN;
	log_info("event=machine-ticket principal=%s cache=%s expires=%lld "
	    "renew_before=%lld", M.principal, M.cc_path,
	    (long long)M.endtime, (long long)(M.endtime - M.margin));
	ret = 0;
out:
	if (cc != NULL)
		krb5_cc_destroy(ctx, cc);
	if (ret != 0 && tmp != NULL)
		unlink(tmp);
	free(tmp);
	if (have_creds)
		krb5_free_cred_contents(ctx, &creds);
	if (opt != NULL)
		krb5_get_init_creds_opt_free(ctx, opt);
	if (me != NULL)
		krb5_free_principal(ctx, me);
	if (kt != NULL)
		krb5_kt_close(ctx, kt);
	if (ctx != NULL)
		krb5_free_context(ctx);
	return ret;
}

int
krb_machine_ticket(char *why, size_t wlen)
{
	int ret = 0;

	pthread_mutex_lock(&krb_mu);
	if (M.principal == NULL) {
		snprintf(why, wlen, "no usable machine keytab");
		ret = -1;
	} else if (!cache_fresh(time(NULL)))
		ret = acquire(why, wlen);
	pthread_mutex_unlock(&krb_mu);
	return ret;
}

void
krb_gss_thread_ccache(int machine)
{
	OM_uint32 minor;
	const char *name = KRB_CC_NONE;

	pthread_mutex_lock(&krb_mu);
	if (machine && M.cc_name != NULL)
		name = M.cc_name;
	/* Per thread in MIT's GSS-API: libcurl's Negotiate on this worker
	 * takes its credentials from here. */
	gss_krb5_ccache_name(&minor, name, NULL);
	pthread_mutex_unlock(&krb_mu);
}
