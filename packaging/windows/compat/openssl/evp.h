/* openssl/evp.h for the Windows build - the small part of OpenSSL's EVP
 * digest API that the core uses (SHA-256 only), over Windows' CNG
 * (BCrypt), so bitsync.exe needs no OpenSSL (issue 5: "BCrypt for
 * SHA-256").  Only packaging/windows/build.sh puts this directory on the
 * include path.  Return values follow OpenSSL: 1 success, 0 failure. */
#ifndef BITSYNC_COMPAT_OPENSSL_EVP_H
#define BITSYNC_COMPAT_OPENSSL_EVP_H

#include <windows.h>
#include <bcrypt.h>

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct evp_md_st { int sha256; } EVP_MD;
typedef struct engine_st ENGINE;
typedef struct ossl_lib_ctx_st OSSL_LIB_CTX;
typedef struct evp_md_ctx_st {
	BCRYPT_ALG_HANDLE alg;
	BCRYPT_HASH_HANDLE hash;
} EVP_MD_CTX;

static inline const EVP_MD *
EVP_sha256(void)
{
	static const EVP_MD md = { 1 };

	return &md;
}

/* OpenSSL 3's explicit fetch; only "SHA256" exists here. */
static inline EVP_MD *
EVP_MD_fetch(OSSL_LIB_CTX *ctx, const char *algorithm, const char *props)
{
	static EVP_MD md = { 1 };

	(void)ctx;
	(void)props;
	if (algorithm == NULL || (strcmp(algorithm, "SHA256") != 0 &&
	    strcmp(algorithm, "SHA2-256") != 0))
		return NULL;
	return &md;
}

static inline void
EVP_MD_free(EVP_MD *md)
{
	(void)md;
}

/* One provider handle for the process: opening it is the slow part, and
 * CNG lets threads share it (each hash has its own object). */
static inline BCRYPT_ALG_HANDLE
evp_compat_sha256_alg(void)
{
	static BCRYPT_ALG_HANDLE shared;
	BCRYPT_ALG_HANDLE h;

	if (shared != NULL)
		return shared;
	if (BCryptOpenAlgorithmProvider(&h, BCRYPT_SHA256_ALGORITHM, NULL,
	    0) != 0)
		return NULL;
	if (InterlockedCompareExchangePointer((PVOID *)&shared, h, NULL) !=
	    NULL)
		BCryptCloseAlgorithmProvider(h, 0);
	return shared;
}

static inline EVP_MD_CTX *
EVP_MD_CTX_new(void)
{
	return calloc(1, sizeof(EVP_MD_CTX));
}

static inline void
EVP_MD_CTX_free(EVP_MD_CTX *c)
{
	if (c == NULL)
		return;
	if (c->hash != NULL)
		BCryptDestroyHash(c->hash);
	free(c);
}

static inline int
EVP_DigestInit_ex(EVP_MD_CTX *c, const EVP_MD *md, ENGINE *e)
{
	(void)e;
	if (md == NULL || !md->sha256)
		return 0;
	if (c->hash != NULL) {
		BCryptDestroyHash(c->hash);
		c->hash = NULL;
	}
	if (c->alg == NULL && (c->alg = evp_compat_sha256_alg()) == NULL)
		return 0;
	return BCryptCreateHash(c->alg, &c->hash, NULL, 0, NULL, 0, 0) == 0;
}

static inline int
EVP_DigestUpdate(EVP_MD_CTX *c, const void *d, size_t n)
{
	const unsigned char *p = d;

	while (n > 0) {
		ULONG k = n > 0x40000000 ? 0x40000000 : (ULONG)n;

		if (BCryptHashData(c->hash, (PUCHAR)(uintptr_t)p, k, 0) != 0)
			return 0;
		p += k;
		n -= k;
	}
	return 1;
}

static inline int
EVP_DigestFinal_ex(EVP_MD_CTX *c, unsigned char *out, unsigned int *len)
{
	if (BCryptFinishHash(c->hash, out, 32, 0) != 0)
		return 0;
	if (len != NULL)
		*len = 32;
	return 1;
}

static inline int
EVP_Digest(const void *d, size_t n, unsigned char *out, unsigned int *len,
    const EVP_MD *md, ENGINE *e)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok;

	if (c == NULL)
		return 0;
	ok = EVP_DigestInit_ex(c, md, e) && EVP_DigestUpdate(c, d, n) &&
	    EVP_DigestFinal_ex(c, out, len);
	EVP_MD_CTX_free(c);
	return ok;
}

#endif
