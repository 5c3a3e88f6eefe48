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

typedef struct evp_md_st { int sha256; } EVP_MD;
typedef struct engine_st ENGINE;
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
	if (c->alg != NULL)
		BCryptCloseAlgorithmProvider(c->alg, 0);
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
	if (c->alg == NULL && BCryptOpenAlgorithmProvider(&c->alg,
	    BCRYPT_SHA256_ALGORITHM, NULL, 0) != 0)
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
