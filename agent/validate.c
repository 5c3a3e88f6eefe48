/* validate.c - `bitsync validate`: the config-test mode.  Reads the agent
 * config and the manifest exactly as the agent would, prints every
 * diagnostic, and says "configuration OK" or why not. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "diag.h"
#include "manifest.h"
#include "perm.h"
#include "platform.h"

struct validate_opts {
	enum platform platform;
	int json;
	int strict;
};

static int
parse_options(int argc, char **argv, struct validate_opts *o)
{
	static const struct option longopts[] = {
		{ "platform", required_argument, NULL, 'p' },
		{ "format", required_argument, NULL, 'f' },
		{ "strict", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	o->platform = model_host_platform();
	o->json = 0;
	o->strict = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			if (strcmp(optarg, "windows") == 0)
				o->platform = PLATFORM_WINDOWS;
			else if (strcmp(optarg, "posix") == 0)
				o->platform = PLATFORM_POSIX;
			else if (strcmp(optarg, "host") != 0) {
				fprintf(stderr, "bitsync validate: --platform is "
				    "host, windows or posix, not '%s'\n", optarg);
				return -1;
			}
			break;
		case 'f':
			if (strcmp(optarg, "json") == 0)
				o->json = 1;
			else if (strcmp(optarg, "text") != 0) {
				fprintf(stderr, "bitsync validate: --format is "
				    "text or json, not '%s'\n", optarg);
				return -1;
			}
			break;
		case 's':
			o->strict = 1;
			break;
		default:
			return -1;
		}
	}
	return 0;
}

/* Without PATH the agent's own manifest file and drop-in directory are
 * validated; a configured one that does not exist is skipped (a fresh
 * install has only the directory), unless neither exists. */
static size_t
configured_paths(const struct config *cfg, const char **paths,
    struct diags *d)
{
	const char *cand[2] = { cfg->manifest, cfg->manifest_dir };
	size_t i, n = 0;

	for (i = 0; i < 2; i++) {
		enum platform_kind kind;

		if (cand[i] != NULL && cand[i][0] != '\0' &&
		    platform_path_kind(cand[i], &kind) == 0 &&
		    kind != PLATFORM_KIND_MISSING)
			paths[n++] = cand[i];
	}
	if (n == 0)
		diag_add(d, cfg->path ? cfg->path : "bitsync", 0, 0, DIAG_ERROR,
		    "io-error", "no manifest to validate: neither manifest "
		    "(%s) nor manifest_dir (%s) exists; give a PATH or create "
		    "one", cfg->manifest ? cfg->manifest : "unset",
		    cfg->manifest_dir ? cfg->manifest_dir : "unset");
	return n;
}

static int
config_path_exists(const char *path)
{
	enum platform_kind kind;

	return platform_path_kind(path, &kind) == 0 &&
	    kind != PLATFORM_KIND_MISSING;
}

static int
print_result(const struct diags *d, const struct manifest *m,
    const struct validate_opts *o, int valid)
{
	size_t files = m ? m->nfiles : 0;

	if (o->json)
		return diags_print_json(d, valid, stdout) == 0 ? 0 : -1;
	diags_print_text(d, stdout);
	if (valid)
		printf("configuration OK: %zu file%s, %zu source%s, %zu set%s"
		    "%s\n", files, files == 1 ? "" : "s",
		    m ? m->nsources : 0, m && m->nsources == 1 ? "" : "s",
		    m ? m->nsets : 0, m && m->nsets == 1 ? "" : "s",
		    d->warnings ? " (with warnings)" : "");
	else
		printf("configuration invalid: %zu error%s, %zu warning%s%s\n",
		    d->errors, d->errors == 1 ? "" : "s", d->warnings,
		    d->warnings == 1 ? "" : "s", o->strict && d->errors == 0 ?
		    " (--strict makes warnings errors)" : "");
	return fflush(stdout) == 0 ? 0 : -1;
}

int
cmd_validate(const struct cli *cli, int argc, char **argv)
{
	struct validate_opts o;
	struct manifest_opts mo;
	struct config cfg;
	struct diags d;
	struct manifest *m = NULL;
	const char **paths = NULL;
	size_t npaths;
	int valid, rc;

	if (parse_options(argc, argv, &o) != 0) {
		fprintf(stderr, "usage: bitsync validate [--platform "
		    "host|windows|posix] [--format text|json] [--strict] "
		    "[PATH...]\n");
		return EXIT_USAGE;
	}
	diags_init(&d);
	config_defaults(&cfg);
	/* The config steers what validation allows (drives, roots), and is
	 * held to the same ownership rules as the manifests: checked before
	 * a byte of it is read. */
	if (config_path_exists(cli->config_path) &&
	    perm_check(cli->config_path, DIAG_ERROR, &d) != 0)
		goto report;
	config_load(&cfg, cli->config_path, !cli->config_explicit, &d);
	if (d.errors == 0) {
		memset(&mo, 0, sizeof(mo));
		mo.platform = o.platform;
		mo.config = &cfg;
		paths = calloc((size_t)argc + 2, sizeof(*paths));
		if (paths == NULL) {
			rc = EXIT_SOFTWARE;
			goto out;
		}
		if (optind < argc) {
			for (npaths = 0; optind + (int)npaths < argc; npaths++)
				paths[npaths] = argv[optind + npaths];
			mo.permissions = PERM_WARN;
		} else {
			npaths = configured_paths(&cfg, paths, &d);
			mo.permissions = PERM_REFUSE;
		}
		if (npaths > 0)
			m = manifest_load(paths, npaths, &mo, &d);
	}
report:
	diags_sort(&d);
	valid = d.errors == 0 && !(o.strict && d.warnings > 0);
	if (print_result(&d, m, &o, valid) != 0)
		rc = EXIT_IOERR;
	else if (d.io_errors > 0)
		rc = EXIT_IOERR;
	else
		rc = valid ? EXIT_OK : EXIT_INVALID;
out:
	free(paths);
	manifest_free(m);
	config_free(&cfg);
	diags_free(&d);
	return rc;
}
