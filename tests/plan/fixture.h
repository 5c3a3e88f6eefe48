/* fixture.h - what the reconciliation tests share: writing a manifest
 * file as an administrator would leave it (mode 0644, so that the
 * agent's permission checks accept it). */
#ifndef BITSYNC_TEST_FIXTURE_H
#define BITSYNC_TEST_FIXTURE_H

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>

#include "util.h"

static inline void
fixture_put(const char *dir, const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");

	if (f == NULL) {
		perror(p);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
	chmod(p, 0644);
	free(p);
}

#endif
