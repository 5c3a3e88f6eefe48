/* fuzz_sumindex.c - libFuzzer target over the index file parser (a
 * SHA256SUMS a server sends). */
#include <stddef.h>
#include <stdint.h>

#include "sumindex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sumindex ix;

	(void)sumindex_parse((const char *)data, size, 1000, &ix);
	sumindex_free(&ix);
	return 0;
}
