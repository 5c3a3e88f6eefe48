/* fuzz_rsched.c - libFuzzer target over the rate_schedule parser
 * (agent/rsched.c): any text either parses into windows that are ordered,
 * inside one week and disjoint, or is refused with a message and a column
 * inside the text; a lookup at any second answers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rsched.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rsched s;
	char *text, err[512];
	unsigned col;
	size_t i, k;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (rsched_parse(text, &s, err, sizeof(err), &col) == 0) {
		for (i = 0; i < s.n; i++) {
			if (s.v[i].start >= s.v[i].end ||
			    s.v[i].end > RSCHED_WEEK)
				abort();
			for (k = 0; k < i; k++)
				if (s.v[i].start < s.v[k].end &&
				    s.v[k].start < s.v[i].end)
					abort();
			(void)rsched_rate(&s, s.v[i].start, 1, NULL);
		}
		(void)rsched_rate(&s, (uint32_t)size * 7919u, 1, NULL);
		rsched_free(&s);
	} else if (err[0] == '\0' || col > strlen(text) + 1) {
		abort();
	}
	(void)rsched_parse_moment(text);
	free(text);
	return 0;
}
