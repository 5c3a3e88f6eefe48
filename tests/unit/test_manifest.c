/* test_manifest.c - what the model holds after loading, which validate's
 * output does not show: drop-in order, defaults that apply to their own
 * file only, effective settings, normalised paths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "manifest.h"
#include "util.h"

static void
write_file(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *fp = fopen(path, "w");

	CHECK(fp != NULL);
	if (fp != NULL) {
		fputs(text, fp);
		fclose(fp);
	}
	free(path);
}

static const struct mset *
find_set(const struct manifest *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->nsets; i++)
		if (strcmp(m->sets[i].name, name) == 0)
			return &m->sets[i];
	return NULL;
}

static void
test_dropin(void)
{
	char dir[] = "/tmp/bitsync-manifest-XXXXXX";
	const char *paths[1];
	struct manifest_opts opts;
	const struct mset *a, *b;
	struct manifest *m;
	struct diags d;

	CHECK(mkdtemp(dir) != NULL);
	/* "10-" sorts before "9-" in byte order: sets come in that order. */
	write_file(dir, "9-late.yaml",
	    "version: 1\n"
	    "defaults: {priority: low, refresh: 0}\n"
	    "sets:\n"
	    "  - name: late\n"
	    "    source: web\n"
	    "    destination: /srv/bitsync//late/./x\n"
	    "    files: ['sub\\\\a.bin']\n");
	write_file(dir, "10-early.yaml",
	    "version: 1\n"
	    "sources:\n"
	    "  web:\n"
	    "    url: https://example.com/\n"
	    "    proxy: {usage: no_proxy}\n"
	    "sets:\n"
	    "  - name: early\n"
	    "    source: web\n"
	    "    path: v1\\\\x64\n"
	    "    destination: /srv/bitsync/early\n"
	    "    retry_delay: 30s\n"
	    "    files: [{path: b.bin, as: c/d.bin}]\n");
	write_file(dir, "notes.txt", "not: [yaml\n");
	memset(&opts, 0, sizeof(opts));
	opts.platform = PLATFORM_POSIX;
	diags_init(&d);
	paths[0] = dir;
	m = manifest_load(paths, 1, &opts, &d);
	CHECK_INT(d.n, 0);
	CHECK_INT(m->nfiles, 2);
	CHECK_INT(m->nsets, 2);
	CHECK_STR(m->sets[0].name, "early");
	a = find_set(m, "early");
	b = find_set(m, "late");
	CHECK(a != NULL && b != NULL);
	if (a != NULL && b != NULL) {
		/* 9-late.yaml's defaults do not reach 10-early.yaml. */
		CHECK_INT(a->settings.priority, PRIO_NORMAL);
		CHECK_INT(a->settings.refresh, 6 * 3600);
		CHECK_INT(a->settings.retry_delay, 30);
		CHECK_INT(b->settings.priority, PRIO_LOW);
		CHECK_INT(b->settings.refresh, 0);
		CHECK_INT(b->settings.retry_delay, 600);
		CHECK(a->source == &m->sources[0]);
		CHECK(b->source == &m->sources[0]);
		CHECK_STR(a->path, "v1/x64");
		CHECK_STR(a->files[0].remote, "b.bin");
		CHECK_STR(a->files[0].local, "c/d.bin");
		CHECK_STR(b->destination, "/srv/bitsync/late/x");
		CHECK_STR(b->files[0].local, "sub/a.bin");
		CHECK_STR(b->pos.file + strlen(dir), "/9-late.yaml");
	}
	manifest_free(m);
	diags_free(&d);
	{
		char *rm = xasprintf("rm -rf '%s'", dir);

		CHECK(system(rm) == 0);
		free(rm);
	}
}

int
main(void)
{
	test_dropin();
	return check_done();
}
