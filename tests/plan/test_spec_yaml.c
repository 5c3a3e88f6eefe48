/* test_spec_yaml.c - spec hashes of sets read from YAML: the same job
 * written differently (key order, defaults spelled out, the same default
 * from defaults: or the set) gives one hash; an effective change another. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manifest.h"
#include "spec.h"
#include "util.h"

static int failures;
static char dir[] = "/tmp/bitsync-specyaml-XXXXXX";

/* Loads text as a manifest and returns the hash of set "app" ("" when the
 * manifest is invalid or has no such set). */
static void
hash_yaml(const char *text, char out[65])
{
	char *path = xasprintf("%s/m.yaml", dir);
	const char *paths[1] = { path };
	struct manifest_opts opts = { .platform = PLATFORM_POSIX };
	struct manifest *m;
	struct diags d;
	struct spec sp;
	FILE *f;
	size_t i;

	out[0] = '\0';
	if ((f = fopen(path, "w")) == NULL)
		goto done;
	fputs(text, f);
	fclose(f);
	diags_init(&d);
	m = manifest_load(paths, 1, &opts, &d);
	if (m == NULL || d.errors > 0) {
		diags_print_text(&d, stdout);
	} else {
		for (i = 0; i < m->nsets; i++)
			if (strcmp(m->sets[i].name, "app") == 0 &&
			    spec_build(&m->sets[i], PLATFORM_POSIX, &sp) == 0) {
				memcpy(out, sp.hash, 65);
				spec_free(&sp);
			}
	}
	manifest_free(m);
	diags_free(&d);
done:
	free(path);
}

static const char base[] =
    "version: 1\n"
    "sources:\n"
    "  cdn:\n"
    "    url: https://downloads.example.com/pkgs/\n"
    "    proxy:\n"
    "      usage: override\n"
    "      servers: [\"proxy.corp.example:8080\"]\n"
    "      bypass: [\"<local>\"]\n"
    "    headers: [\"X-Fleet: contoso\"]\n"
    "sets:\n"
    "  - name: app\n"
    "    source: cdn\n"
    "    path: tools/1.0\n"
    "    destination: /opt/app\n"
    "    files:\n"
    "      - a.bin\n"
    "      - path: b.bin\n"
    "        as: sub/b.bin\n"
    "        sha256: 4c1f4c1f4c1f4c1f4c1f4c1f4c1f4c1f4c1f4c1f4c1f4c1f4c1f4c1f4c1f4c1f\n";

/* Keys in another order, defaults spelled out (in defaults: and in the
 * set), a separator style changed, files listed in another order. */
static const char same[] =
    "sets:\n"
    "  - files:\n"
    "      - as: sub\\b.bin\n"
    "        sha256: 4C1F4C1F4C1F4C1F4C1F4C1F4C1F4C1F4C1F4C1F4C1F4C1F4C1F4C1F4C1F4C1F\n"
    "        path: b.bin\n"
    "      - path: a.bin\n"
    "    destination: /opt/app/\n"
    "    path: tools\\1.0\n"
    "    source: cdn\n"
    "    name: app\n"
    "    priority: normal\n"
    "    retry_delay: 10m\n"
    "    refresh: 1h\n"
    "    mode: monitor\n"
    "defaults:\n"
    "  no_progress_timeout: 14d\n"
    "  max_download_time: 90d\n"
    "  on_remove: delete\n"
    "sources:\n"
    "  cdn:\n"
    "    headers: [\"X-Fleet: contoso\"]\n"
    "    proxy:\n"
    "      bypass: [\"<local>\"]\n"
    "      servers: [\"proxy.corp.example:8080\"]\n"
    "      usage: override\n"
    "    url: https://downloads.example.com/pkgs/\n"
    "version: 1\n";

static void
check(const char *what, int ok)
{
	if (!ok) {
		printf("FAIL %s\n", what);
		failures++;
	} else
		printf("ok   %s\n", what);
}

/* base with one line replaced. */
static char *
edit(const char *from, const char *to)
{
	const char *p = strstr(base, from);

	if (p == NULL)
		return xstrdup(base);
	return xasprintf("%.*s%s%s", (int)(p - base), base, to,
	    p + strlen(from));
}

int
main(void)
{
	static const struct { const char *what, *from, *to; } changes[] = {
		{ "another file", "      - a.bin\n", "      - c.bin\n" },
		{ "another sha256", "4c1f4c1f4c1f\n", "4c1f4c1f4c1e\n" },
		{ "another priority", "    destination: /opt/app\n",
		    "    destination: /opt/app\n    priority: high\n" },
		{ "another destination", "/opt/app", "/opt/app2" },
		{ "another path", "tools/1.0", "tools/1.1" },
		{ "another header", "X-Fleet: contoso", "X-Fleet: fabrikam" },
		{ "another proxy", "proxy.corp.example:8080",
		    "proxy2.corp.example:8080" },
		{ "another local name", "as: sub/b.bin", "as: sub/c.bin" },
	};
	char h0[65], h1[65], h2[65];
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (mkdtemp(dir) == NULL)
		return 1;
	hash_yaml(base, h0);
	check("base manifest loads and hashes", strlen(h0) == 64);
	hash_yaml(same, h1);
	check("key order, spelled-out defaults, separators, file order, "
	    "refresh/mode/on_remove: same hash", strcmp(h0, h1) == 0);
	for (i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		char *t = edit(changes[i].from, changes[i].to);
		char what[128];

		hash_yaml(t, h2);
		snprintf(what, sizeof(what), "%s: new hash", changes[i].what);
		check(what, strlen(h2) == 64 && strcmp(h0, h2) != 0);
		free(t);
	}
	{
		char *p = xasprintf("%s/m.yaml", dir);

		unlink(p);
		free(p);
		rmdir(dir);
	}
	if (failures) {
		printf("%d failure(s)\n", failures);
		return 1;
	}
	printf("all passed\n");
	return 0;
}
