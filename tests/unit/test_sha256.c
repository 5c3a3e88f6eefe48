/* test_sha256.c - the digest (agent/sha256.c): known answers, and that a
 * failure is returned to the caller (the library never exits). */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "sha256.h"

static const uint8_t abc[32] = {
	0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
	0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
	0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad
};

int
main(void)
{
	struct sha256 *h;
	const char *why = "unset";
	uint8_t d[32];

	CHECK_INT(sha256_check(&why), 0);
	CHECK(why == NULL);
	CHECK_INT(sha256_buf("abc", 3, d), 0);
	CHECK(memcmp(d, abc, 32) == 0);
	/* In pieces, as observe.c hashes a file. */
	CHECK((h = sha256_new()) != NULL);
	sha256_update(h, "a", 1);
	sha256_update(h, "bc", 2);
	CHECK_INT(sha256_final(h, d), 0);
	CHECK(memcmp(d, abc, 32) == 0);
	/* A hash that could not start: updates do nothing, final says so
	 * and leaves no half-written digest. */
	memset(d, 0xff, sizeof(d));
	sha256_update(NULL, "abc", 3);
	CHECK_INT(sha256_final(NULL, d), -1);
	CHECK(d[0] == 0 && d[31] == 0);
	return check_done();
}
