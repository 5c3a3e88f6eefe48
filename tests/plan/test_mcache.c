/* test_mcache.c - the validated-manifest cache (mcache.h): a hit gives the
 * model and diagnostics a full load gives; any change of content, config
 * or platform is a miss; a load with errors is never cached; a damaged
 * cache is a miss, never a crash or a wrong model. */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "mcache.h"
#include "spec.h"
#include "util.h"
#include "fixture.h"

#include "../unit/check.h"

static char dir[] = "/tmp/bitsync-mcache-XXXXXX";
static char *cache;

static const char sources[] =
    "version: 1\n"
    "sources:\n"
    "  web:\n"
    "    url: http://h.example/p/\n"
    "    proxy:\n"
    "      usage: override\n"
    "      servers: [\"proxy.example:8080\", \"proxy2.example:3128\"]\n"
    "      bypass: [\"<local>\"]\n"
    "    headers: [\"X-Fleet: contoso\"]\n"
    "  share:\n"
    "    url: \\\\fs.example\\dist\n"
    "    auth: computer\n"
    "  tok:\n"
    "    url: https://t.example/\n"
    "    helper_token:\n"
    "      credential: reader\n"
    "      usage: [network, local_file]\n";

/* One http file without sha256: an insecure-transport warning. */
static const char sets[] =
    "version: 1\n"
    "defaults:\n"
    "  refresh: 1h\n"
    "  on_remove: delete\n"
    "sets:\n"
    "  - name: tools\n"
    "    source: web\n"
    "    path: tools/v2\n"
    "    destination: /srv/tools\n"
    "    files:\n"
    "      - a.bin\n"
    "      - path: b.bin\n"
    "        as: sub/b.bin\n"
    "        sha256: 4c1f000000000000000000000000000000000000000000000000000000000000\n"
    "    priority: high\n"
    "  - name: docs\n"
    "    source: share\n"
    "    destination: /srv/docs\n"
    "    mode: monitor\n"
    "    files: [readme.txt]\n"
    "  - name: tok\n"
    "    source: tok\n"
    "    destination: /srv/tok\n"
    "    retry_delay: 90s\n"
    "    files: [t.bin]\n";

struct loaded {
	struct manifest *m;
	struct diags d;
	int hit;
};

static void
load(struct loaded *l, const struct config *cfg, enum platform p,
    const char *cachepath)
{
	struct manifest_opts opts = { .platform = p, .config = cfg,
	    .permissions = PERM_REFUSE };
	const char *paths[1] = { mdir };

	diags_init(&l->d);
	l->m = mcache_manifest_load(cachepath, paths, 1, &opts, &l->d,
	    &l->hit);
}

static void
unload(struct loaded *l)
{
	manifest_free(l->m);
	diags_free(&l->d);
}

/* The two models mean the same: the same specs (every field a job is made
 * of), settings and origins, and the same diagnostics in the same order. */
static int
same(const struct loaded *a, const struct loaded *b, enum platform p)
{
	size_t i;

	if (a->m->nsets != b->m->nsets || a->m->nsources != b->m->nsources ||
	    a->m->nfiles != b->m->nfiles || a->d.n != b->d.n ||
	    a->d.errors != b->d.errors || a->d.warnings != b->d.warnings)
		return 0;
	for (i = 0; i < a->m->nfiles; i++)
		if (strcmp(a->m->files[i], b->m->files[i]) != 0)
			return 0;
	for (i = 0; i < a->d.n; i++)
		if (strcmp(a->d.v[i].file, b->d.v[i].file) != 0 ||
		    a->d.v[i].line != b->d.v[i].line ||
		    a->d.v[i].col != b->d.v[i].col ||
		    a->d.v[i].severity != b->d.v[i].severity ||
		    strcmp(a->d.v[i].rule, b->d.v[i].rule) != 0 ||
		    strcmp(a->d.v[i].message, b->d.v[i].message) != 0)
			return 0;
	for (i = 0; i < a->m->nsets; i++) {
		const struct mset *x = &a->m->sets[i], *y = &b->m->sets[i];
		struct spec sx, sy;
		int ok;

		if (strcmp(x->name, y->name) != 0 ||
		    memcmp(&x->settings, &y->settings,
		    sizeof(x->settings)) != 0 ||
		    strcmp(x->pos.file, y->pos.file) != 0 ||
		    x->pos.line != y->pos.line ||
		    (x->source == NULL) != (y->source == NULL))
			return 0;
		if (x->source == NULL)
			continue;
		if (spec_build(x, p, &sx) != 0)
			return 0;
		ok = spec_build(y, p, &sy) == 0 &&
		    strcmp(sx.hash, sy.hash) == 0 &&
		    strcmp(sx.description, sy.description) == 0;
		spec_free(&sx);
		if (ok)
			spec_free(&sy);
		if (!ok)
			return 0;
	}
	return 1;
}

static int
cache_exists(void)
{
	return access(cache, F_OK) == 0;
}

int
main(void)
{
	struct config cfg, roots;
	struct loaded ref, a, b;
	struct stat st;
	char *text, *root = NULL, *rootsv[2];
	size_t len;
	FILE *f;

	if (mkdtemp(dir) == NULL)
		return 1;
	chmod(dir, 0755);
	mdir = xasprintf("%s/m.d", dir);
	cache = xasprintf("%s/%s", dir, MCACHE_FILE);
	mkdir(mdir, 0755);
	put("00-sources.yaml", sources);
	put("10-sets.yml", sets);
	config_defaults(&cfg);

	/* The reference: a load without a cache. */
	load(&ref, &cfg, PLATFORM_POSIX, NULL);
	/* the fixture is valid, with a warning */
	CHECK(ref.d.errors == 0 && ref.d.warnings > 0 && ref.m->nsets == 3);

	load(&a, &cfg, PLATFORM_POSIX, cache);
	/* first load: a miss, the cache is written */
	CHECK(!a.hit && cache_exists());
	/* the cache is private to the agent (mode 0600) */
	CHECK(stat(cache, &st) == 0 && (st.st_mode & 077) == 0);
	/* a miss gives the full load */
	CHECK(same(&ref, &a, PLATFORM_POSIX));
	load(&b, &cfg, PLATFORM_POSIX, cache);
	/* second load: a hit */
	CHECK(b.hit);
	/* a hit gives the same model, specs and warnings */
	CHECK(same(&ref, &b, PLATFORM_POSIX));
	/* a hit carries the spec hashes, equal to those computed from the
	 * YAML */
	CHECK(ref.m->sets[0].spec_hash == NULL && b.m->sets[0].spec_hash !=
	    NULL && b.m->sets[2].spec_hash != NULL);
	/* a hit keeps settings and sources that are not in the spec hash */
	CHECK(b.m->sets[1].settings.mode == MODE_MONITOR &&
	    b.m->sets[0].settings.on_remove == ON_REMOVE_DELETE &&
	    b.m->sets[0].settings.refresh == 3600 &&
	    b.m->sets[2].settings.retry_delay == 90 &&
	    b.m->sources[2].credential != NULL &&
	    strcmp(b.m->sources[2].credential, "reader") == 0 &&
	    b.m->sources[0].nproxy_servers == 2);
	unload(&a);
	unload(&b);

	/* The same size and mtime, other bytes: still a miss. */
	{
		char *p = xasprintf("%s/10-sets.yml", mdir), *t = xstrdup(sets);
		struct timespec ts[2];

		stat(p, &st);
		*strstr(t, "tools/v2") = 'T';
		put("10-sets.yml", t);
		ts[0] = st.st_atim;
		ts[1] = st.st_mtim;
		utimensat(AT_FDCWD, p, ts, 0);
		load(&a, &cfg, PLATFORM_POSIX, cache);
		/* an edit that keeps size and mtime is a miss */
		CHECK(!a.hit && strcmp(a.m->sets[0].path, "Tools/v2") == 0);
		unload(&a);
		put("10-sets.yml", sets);
		free(t);
		free(p);
	}
	load(&a, &cfg, PLATFORM_POSIX, cache);
	unload(&a);

	/* What validation depends on beyond the files. */
	load(&a, &cfg, PLATFORM_WINDOWS, cache);
	/* another platform is a miss */
	CHECK(!a.hit);
	unload(&a);
	load(&a, &cfg, PLATFORM_POSIX, cache);
	unload(&a);
	config_defaults(&roots);
	root = xstrdup("/srv/tools");
	rootsv[0] = root;
	rootsv[1] = NULL;
	roots.allow_roots = rootsv;
	roots.nallow_roots = 1;
	load(&a, &roots, PLATFORM_POSIX, cache);
	/* other allow_roots: a miss, and their errors */
	CHECK(!a.hit && a.d.errors > 0);
	unload(&a);
	load(&a, &roots, PLATFORM_POSIX, cache);
	/* a load with errors is never cached */
	CHECK(!a.hit);
	unload(&a);
	load(&a, &cfg, PLATFORM_POSIX, cache);
	/* the valid load's cache survived the invalid one */
	CHECK(a.hit);
	unload(&a);

	/* Rule anonymous-computer reads the machine keytab: a keytab that
	 * appears (the host joined) is a miss, and its next load a hit. */
	{
		struct config kt = cfg;
		char *ktp = xasprintf("%s/krb5.keytab", dir);
		FILE *kf;

		kt.machine_keytab = ktp;
		load(&a, &kt, PLATFORM_POSIX, cache);
		CHECK(!a.hit);
		unload(&a);
		load(&a, &kt, PLATFORM_POSIX, cache);
		CHECK(a.hit);
		unload(&a);
		if ((kf = fopen(ktp, "w")) != NULL) {
			fputs("not a keytab", kf);
			fclose(kf);
		}
		load(&a, &kt, PLATFORM_POSIX, cache);
		CHECK(!a.hit);
		unload(&a);
		unlink(ktp);
		free(ktp);
		/* the cache holds one load: the default config's again */
		load(&a, &cfg, PLATFORM_POSIX, cache);
		unload(&a);
	}

	/* Permissions are looked at on every load, hit or not (design §7):
	 * a file others may write is refused even though its bytes are
	 * those of the cache. */
	{
		char *p = xasprintf("%s/10-sets.yml", mdir);

		chmod(p, 0666);
		load(&a, &cfg, PLATFORM_POSIX, cache);
		CHECK(!a.hit && a.d.errors > 0 && a.m->nsets == 0);
		unload(&a);
		chmod(p, 0644);
		load(&a, &cfg, PLATFORM_POSIX, cache);
		CHECK(a.hit);
		unload(&a);
		free(p);
	}

	/* A file added to the drop-in directory. */
	put("20-more.yaml", "version: 1\nsets:\n  - name: more\n"
	    "    source: share\n    destination: /srv/more\n"
	    "    files: [m.bin]\n");
	load(&a, &cfg, PLATFORM_POSIX, cache);
	/* a new drop-in file is a miss */
	CHECK(!a.hit && a.m->nsets == 4);
	unload(&a);
	{
		char *p = xasprintf("%s/20-more.yaml", mdir);

		unlink(p);
		free(p);
	}
	load(&a, &cfg, PLATFORM_POSIX, cache);
	/* a removed drop-in file is a miss */
	CHECK(!a.hit && a.m->nsets == 3);
	unload(&a);

	/* Damage: every truncation and a flipped byte in each region. */
	if ((f = fopen(cache, "rb")) == NULL) {
		CHECK(!"the cache is there to damage");
		return check_done();
	}
	fseek(f, 0, SEEK_END);
	len = (size_t)ftell(f);
	rewind(f);
	text = xmalloc(len);
	if (fread(text, 1, len, f) != len)
		len = 0;
	fclose(f);
	{
		size_t cut, bad = 0, wrong = 0, step = len / 97 + 1;

		for (cut = 0; cut < len; cut += step) {
			f = fopen(cache, "wb");
			fwrite(text, 1, cut, f);
			fclose(f);
			load(&a, &cfg, PLATFORM_POSIX, cache);
			bad += a.hit;
			wrong += !same(&ref, &a, PLATFORM_POSIX);
			unload(&a);
		}
		/* a truncated cache is a miss, and the load is right */
		CHECK(len > 0 && bad == 0 && wrong == 0);
		for (cut = 0; cut < len; cut += step) {
			text[cut] ^= 0x5a;
			f = fopen(cache, "wb");
			fwrite(text, 1, len, f);
			fclose(f);
			text[cut] ^= 0x5a;
			load(&a, &cfg, PLATFORM_POSIX, cache);
			bad += a.hit;
			wrong += !same(&ref, &a, PLATFORM_POSIX);
			unload(&a);
		}
		/* a cache with a damaged byte is a miss, and the load is
		 * right */
		CHECK(bad == 0 && wrong == 0);
	}
	free(text);
	/* Unwritable: the load goes on without a cache. */
	unlink(cache);
	{
		char *nodir = xasprintf("%s/missing/%s", dir, MCACHE_FILE);

		load(&a, &cfg, PLATFORM_POSIX, nodir);
		/* a cache that cannot be written changes nothing */
		CHECK(!a.hit && same(&ref, &a, PLATFORM_POSIX));
		unload(&a);
		free(nodir);
	}

	unload(&ref);
	free(root);
	{
		char *cmd = xasprintf("rm -rf %s", dir);

		CHECK(system(cmd) == 0);
		free(cmd);
	}
	return check_done();
}
