/* fixture.h - what the reconciliation tests share: their drop-in
 * directory and put(), which writes a manifest file in it as an
 * administrator would leave it (mode 0644, so that the agent's
 * permission checks accept it). */
#ifndef BITSYNC_TEST_FIXTURE_H
#define BITSYNC_TEST_FIXTURE_H

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>

#include "util.h"

static char *mdir;	/* the test's drop-in directory */

static inline void
put(const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", mdir, name);
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
