/* test_reconcile.c - reading the manifest as it is enforced (design §4's
 * hard rules), without a backend: last-known-good copies, held files,
 * removal, unreadable paths. */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reconcile.h"
#include "util.h"

#include "fixture.h"

static int failures;
static char dir[] = "/tmp/bitsync-reconcile-XXXXXX";
static char *sdir;

#define CHECK(cond, what) do {						\
	if (!(cond)) {							\
		printf("FAIL %s (line %d)\n", what, __LINE__);		\
		failures++;						\
	} else								\
		printf("ok   %s\n", what);				\
} while (0)

static const char sources[] =
    "version: 1\n"
    "sources:\n"
    "  web:\n"
    "    url: https://h.example/p/\n"
    "    proxy:\n"
    "      usage: no_proxy\n";

static char *
set_yaml(const char *name)
{
	return xasprintf("version: 1\nsets:\n  - name: %s\n    source: web\n"
	    "    destination: /srv/%s\n    files:\n      - a.bin\n", name,
	    name);
}

static int
has_set(const struct reconcile_input *in, const char *name)
{
	size_t i;

	for (i = 0; in->m != NULL && i < in->m->nsets; i++)
		if (strcmp(in->m->sets[i].name, name) == 0)
			return 1;
	return 0;
}

int
main(void)
{
	struct config cfg;
	struct state *st;
	struct reconcile_ctx c;
	struct reconcile_input in;
	struct reconcile_view v;
	char *err, *y, *f10, *f20, *cmd;
	int bkrc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (mkdtemp(dir) == NULL)
		return 1;
	chmod(dir, 0755);
	mdir = xasprintf("%s/m.d", dir);
	sdir = xasprintf("%s/state", dir);
	mkdir(mdir, 0755);
	config_defaults(&cfg);
	cfg.manifest_dir = mdir;
	cfg.state_dir = sdir;
	if (state_open(sdir, &st, &err) != 0) {
		printf("FAIL state_open: %s\n", err);
		return 1;
	}
	memset(&c, 0, sizeof(c));
	c.cfg = &cfg;
	c.platform = PLATFORM_POSIX;
	c.st = st;
	f10 = xasprintf("%s/10-a.yaml", mdir);
	f20 = xasprintf("%s/20-b.yaml", mdir);

	put("00-src.yaml", sources);
	y = set_yaml("a");
	put("10-a.yaml", y);
	free(y);
	reconcile_load(&c, NULL, 0, 1, &in);
	CHECK(in.valid && has_set(&in, "a") && in.nheld == 0 &&
	    !in.hold_all, "valid drop-ins load");
	CHECK(reconcile_plan(&c, &in, 1000, &v, &bkrc) == 0 &&
	    v.plan.n == 1 && v.plan.v[0].verb == PLAN_CREATE,
	    "plan without a backend: create");
	reconcile_view_free(&v);
	reconcile_input_free(&in);

	/* Broken: the saved copy is enforced, the error reported. */
	put("10-a.yaml", "version: 1\nsets: [\n");
	reconcile_load(&c, NULL, 0, 1, &in);
	CHECK(!in.valid && has_set(&in, "a") && in.nlkg_used == 1 &&
	    strcmp(in.lkg_used[0], f10) == 0 && in.nheld == 0,
	    "invalid file: last-known-good copy in force");
	CHECK(in.m != NULL && in.m->nsets == 1 &&
	    strcmp(reconcile_origin(&in, &in.m->sets[0]), f10) == 0,
	    "sets of the copy name the live file");
	reconcile_input_free(&in);

	/* A new file that never validated is held. */
	put("20-b.yaml", "version: 1\nsets:\n  - name: b\n    sorce: web\n");
	reconcile_load(&c, NULL, 0, 1, &in);
	CHECK(in.nheld == 1 && strcmp(in.held[0], f20) == 0 &&
	    has_set(&in, "a") && !has_set(&in, "b"),
	    "never-valid file held, the other's copy still in force");
	reconcile_input_free(&in);

	/* Sources broken with no copy of their own: the sets using them
	 * cannot be built, and their files are held, not withdrawn. */
	unlink(f20);
	put("00-src.yaml", "version: 1\nsources: [\n");
	y = xasprintf("%s/00-src.yaml", mdir);
	state_lkg_delete(st, y);
	free(y);
	reconcile_load(&c, NULL, 0, 1, &in);
	CHECK(in.nheld == 2, "a file that loses its sources is held too");
	CHECK(reconcile_plan(&c, &in, 1000, &v, &bkrc) == 0 && v.plan.n == 0,
	    "held sets are neither created nor withdrawn");
	reconcile_view_free(&v);
	reconcile_input_free(&in);
	put("00-src.yaml", sources);

	/* Fixed: valid again, the copy is refreshed. */
	y = set_yaml("a");
	put("10-a.yaml", y);
	free(y);
	reconcile_load(&c, NULL, 0, 1, &in);
	CHECK(in.valid && has_set(&in, "a") && in.nlkg_used == 0,
	    "fixed file is live again");
	reconcile_input_free(&in);

	/* Removed: its copy goes, its sets are withdrawn. */
	unlink(f10);
	reconcile_load(&c, NULL, 0, 1, &in);
	CHECK(in.valid && !has_set(&in, "a") && !in.hold_all,
	    "removed file withdraws its sets");
	reconcile_input_free(&in);
	{
		void *data;
		size_t len;

		CHECK(state_lkg_get(st, f10, &data, &len) == 1,
		    "copy of a removed file dropped");
	}

	/* A lone manifest file (config manifest=) beside the drop-ins:
	 * broken, its copy is enforced as a lone file again. */
	{
		char *lone = xasprintf("%s/manifest.yaml", dir);
		FILE *f = fopen(lone, "w");

		y = set_yaml("c");
		fprintf(f, "%s%s", sources, strstr(y, "sets:"));
		free(y);
		fclose(f);
		chmod(lone, 0644);
		y = xasprintf("%s/00-src.yaml", mdir);
		unlink(y);
		free(y);
		cfg.manifest = lone;
		reconcile_load(&c, NULL, 0, 1, &in);
		CHECK(in.valid && has_set(&in, "c"), "lone manifest loads");
		reconcile_input_free(&in);
		f = fopen(lone, "w");
		fputs("version: 1\nsources: {}\n", f);
		fclose(f);
		reconcile_load(&c, NULL, 0, 1, &in);
		CHECK(!in.valid && has_set(&in, "c") && in.nlkg_used == 1 &&
		    strcmp(in.lkg_used[0], lone) == 0,
		    "broken lone manifest: its copy in force");
		reconcile_input_free(&in);
		cfg.manifest = NULL;
		free(lone);
	}

	/* Unreadable: nothing may be withdrawn. */
	cfg.manifest_dir = "/nonexistent/bitsync";
	reconcile_load(&c, NULL, 0, 1, &in);
	CHECK(in.hold_all, "no manifest at all holds everything");
	reconcile_input_free(&in);

	state_close(st);
	cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("note: could not remove %s\n", dir);
	free(cmd);
	free(f10);
	free(f20);
	if (failures) {
		printf("%d failure(s)\n", failures);
		return 1;
	}
	printf("all passed\n");
	return 0;
}
