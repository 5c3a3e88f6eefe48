/* curl_shim.c - a stand-in libcurl.so.4 for the engine tests: forwards
 * every function http.c loads to the real libcurl, except that
 * curl_easy_setopt refuses the option whose number is in
 * $BITSYNC_SHIM_REFUSE (as a libcurl too old for it would).  A test puts
 * its folder first in LD_LIBRARY_PATH, so http.c's dlopen("libcurl.so.4")
 * finds it; the real library is opened by its full path (REAL_CURL). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* Without <curl/curl.h>: its prototypes change constness between
 * releases, and the shim only passes values through.  The option-type
 * bases are libcurl's ABI (CURLOPTTYPE_*). */
typedef int CURLcode;
#define CURLE_UNKNOWN_OPTION	48
#define OPT_OBJECTPOINT		10000
#define OPT_FUNCTIONPOINT	20000
#define OPT_OFF_T		30000
#define OPT_BLOB		40000

static void *real;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
load(void)
{
	real = dlopen(REAL_CURL, RTLD_NOW | RTLD_LOCAL);
}

static void *
sym(const char *name)
{
	pthread_once(&once, load);
	return real ? dlsym(real, name) : NULL;
}

#define FWD(ret, name, params, args) \
	ret name params; \
	ret name params { \
		ret (*f) params; \
		*(void **)&f = sym(#name); \
		return f args; \
	}

FWD(CURLcode, curl_global_init, (long flags), (flags))
FWD(void *, curl_easy_init, (void), ())
FWD(CURLcode, curl_easy_perform, (void *e), (e))
FWD(void, curl_easy_cleanup, (void *e), (e))
FWD(void, curl_easy_reset, (void *e), (e))
FWD(const char *, curl_easy_strerror, (CURLcode c), (c))
FWD(void *, curl_slist_append, (void *l, const char *s), (l, s))
FWD(void, curl_slist_free_all, (void *l), (l))
FWD(time_t, curl_getdate, (const char *p, const time_t *u), (p, u))
FWD(void *, curl_url, (void), ())
FWD(int, curl_url_set, (void *u, int w, const char *p, unsigned int fl),
    (u, w, p, fl))
FWD(int, curl_url_get, (void *u, int w, char **p, unsigned int fl),
    (u, w, p, fl))
FWD(void, curl_url_cleanup, (void *u), (u))
FWD(void, curl_free, (void *p), (p))

CURLcode curl_easy_getinfo(void *e, int info, ...);
CURLcode curl_easy_setopt(void *e, int opt, ...);

CURLcode
curl_easy_getinfo(void *e, int info, ...)
{
	CURLcode (*f)(void *, int, ...);
	va_list ap;
	void *p;

	va_start(ap, info);
	p = va_arg(ap, void *);		/* always a pointer */
	va_end(ap);
	*(void **)&f = sym("curl_easy_getinfo");
	return f(e, info, p);
}

CURLcode
curl_easy_setopt(void *e, int opt, ...)
{
	CURLcode (*f)(void *, int, ...);
	const char *refuse = getenv("BITSYNC_SHIM_REFUSE");
	CURLcode rc;
	va_list ap;

	if (refuse != NULL && atol(refuse) == opt)
		return CURLE_UNKNOWN_OPTION;
	*(void **)&f = sym("curl_easy_setopt");
	va_start(ap, opt);
	/* The argument's type follows from the option's number. */
	if (opt < OPT_OBJECTPOINT)
		rc = f(e, opt, va_arg(ap, long));
	else if (opt < OPT_FUNCTIONPOINT)
		rc = f(e, opt, va_arg(ap, void *));
	else if (opt < OPT_OFF_T)
		rc = f(e, opt, va_arg(ap, void (*)(void)));
	else if (opt < OPT_BLOB)
		rc = f(e, opt, va_arg(ap, int64_t));
	else
		rc = f(e, opt, va_arg(ap, void *));
	va_end(ap);
	return rc;
}
