/* fuzz_glob.c - libFuzzer target over the folder-set glob matcher: the
 * input is a pattern, a NUL, and a path (a name a server sent). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "glob.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 2), *path;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	buf[size + 1] = '\0';
	path = buf + strlen(buf) + 1;
	if (path > buf + size)
		path = buf + size;
	(void)glob_check(buf);
	(void)glob_depth(buf);
	(void)glob_match(buf, path, 0);
	(void)glob_match(buf, path, GLOB_FOLD);
	(void)glob_may_enter(buf, path, GLOB_FOLD);
	free(buf);
	return 0;
}
