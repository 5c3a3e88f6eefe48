/* fuzz_mcache.c - libFuzzer target over the manifest cache's reader
 * (mcache.h): whatever the bytes, decoding gives a miss or a model that
 * every later stage can read, never a crash, a leak or a read out of
 * bounds.  The input is sealed first (its own key accepted, length and
 * checksum fixed), so that mutations reach the payload. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "mcache.h"
#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest *m;
	struct diags d;
	uint8_t key[32];
	char *buf;
	size_t i, k;

	if (size < 8 + 4 + 32 + 8 + 8)
		return 0;
	buf = malloc(size);
	memcpy(buf, data, size);
	memcpy(key, buf + 12, 32);
	mcache_seal(buf, size);
	diags_init(&d);
	m = mcache_decode(buf, size, key, &d);
	if (m != NULL) {
		/* What plan and apply do with a model. */
		for (i = 0; i < m->nsets; i++) {
			struct spec sp;

			for (k = 0; k < m->sets[i].nfiles; k++)
				(void)strlen(m->sets[i].files[k].pos.file ?
				    m->sets[i].files[k].pos.file : "");
			if (spec_build(&m->sets[i], (data[8] & 1) ?
			    PLATFORM_WINDOWS : PLATFORM_POSIX, &sp) == 0)
				spec_free(&sp);
		}
		diags_sort(&d);
		manifest_free(m);
	}
	diags_free(&d);
	free(buf);
	return 0;
}
