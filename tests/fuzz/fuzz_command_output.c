/* fuzz_command_output.c - libFuzzer target over the escaping of an
 * on_change program's output before it enters the agent's log
 * (command_escape, agent/command.c): whatever bytes a program prints, the
 * log text has no control character, no unescaped quote and is valid
 * UTF-8, so it can neither forge a record nor break a JSON log. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Length of the well-formed UTF-8 sequence at p (RFC 3629), or 0. */
static size_t
utf8_len(const unsigned char *p)
{
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (p[0] >= 0xe0 && p[0] <= 0xef) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
		    (p[0] == 0xe0 && p[1] < 0xa0) ||
		    (p[0] == 0xed && p[1] >= 0xa0))
			return 0;
		return 3;
	}
	if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
		    (p[3] & 0xc0) != 0x80 || (p[0] == 0xf0 && p[1] < 0x90) ||
		    (p[0] == 0xf4 && p[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *out = command_escape((const char *)data, size);
	const unsigned char *p = (const unsigned char *)out;
	size_t i, n = strlen(out), k;

	for (i = 0; i < n; i += k) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			abort();
		if (p[i] == '\\') {
			/* \", \\ or \xNN */
			if (p[i + 1] == '"' || p[i + 1] == '\\')
				k = 2;
			else if (p[i + 1] == 'x' && p[i + 2] && p[i + 3])
				k = 4;
			else
				abort();
			continue;
		}
		if (p[i] == '"')
			abort();
		if ((k = utf8_len(p + i)) == 0)
			abort();
	}
	free(out);
	return 0;
}
