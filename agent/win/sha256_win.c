/* sha256_win.c - SHA-256 of a file through Windows' CNG (BCrypt), for
 * verifying a transferred temporary file before Complete. */
#include <windows.h>
#include <bcrypt.h>

#include <stdio.h>
#include <stdlib.h>

#include "util.h"
#include "win/winutil.h"

int
win_sha256_file(const char *path, char hex[65])
{
	BCRYPT_ALG_HANDLE alg = NULL;
	BCRYPT_HASH_HANDLE h = NULL;
	HANDLE f;
	wchar_t *wp = win_widen(path);
	unsigned char *buf = NULL, dig[32];
	DWORD got;
	int rc = -1, i;

	if (wp == NULL)
		return -1;
	f = CreateFileW(wp, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE,
	    NULL, OPEN_EXISTING, FILE_FLAG_SEQUENTIAL_SCAN, NULL);
	free(wp);
	if (f == INVALID_HANDLE_VALUE)
		return -1;
	if (BCryptOpenAlgorithmProvider(&alg, BCRYPT_SHA256_ALGORITHM, NULL,
	    0) != 0 || BCryptCreateHash(alg, &h, NULL, 0, NULL, 0, 0) != 0)
		goto out;
	buf = xmalloc(1 << 20);
	for (;;) {
		if (!ReadFile(f, buf, 1 << 20, &got, NULL))
			goto out;
		if (got == 0)
			break;
		if (BCryptHashData(h, buf, got, 0) != 0)
			goto out;
	}
	if (BCryptFinishHash(h, dig, sizeof(dig), 0) != 0)
		goto out;
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", dig[i]);
	rc = 0;
out:
	free(buf);
	if (h != NULL)
		BCryptDestroyHash(h);
	if (alg != NULL)
		BCryptCloseAlgorithmProvider(alg, 0);
	CloseHandle(f);
	return rc;
}
