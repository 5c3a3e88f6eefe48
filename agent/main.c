/* main.c - bitsync's command line: global options, then one command. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "cli.h"
#include "config.h"

static int cmd_later(const struct cli *cli, int argc, char **argv)
    __attribute__((unused));	/* every command is built now */

/* The command table.  A command that is not built yet answers 64 with a
 * message (cmd_later), never a crash. */
static const struct command {
	const char *name;
	int (*run)(const struct cli *, int, char **);
	const char *synopsis;
} commands[] = {
	{ "validate", cmd_validate, "[--platform host|windows|posix] "
	    "[--format text|json] [--strict] [PATH...]" },
	{ "plan", cmd_plan, "[--format text|json] [--detailed-exitcode] "
	    "[PATH...]" },
	{ "apply", cmd_apply, "[--wait] [--timeout DURATION] [PATH...]" },
	{ "run", cmd_run, "" },
	{ "status", cmd_status, "[--format text|json] [--watch]" },
#ifdef _WIN32
	{ "service", cmd_service, "install [--account LocalSystem|"
	    "NetworkService|LocalService] | uninstall" },
#endif
	{ "version", cmd_version, "" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: bitsync [-c CONFIG] COMMAND [OPTIONS]\n\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  bitsync [-c CONFIG] %s %s\n", commands[i].name,
		    commands[i].synopsis);
	fprintf(out, "\nCONFIG defaults to %s.  Exit codes: 0 ok, 1 invalid "
	    "or failed, 2 changes pending,\n64 usage, 69 backend "
	    "unavailable, 74 I/O error.\n", CONFIG_DEFAULT_PATH);
}

static int
cmd_later(const struct cli *cli, int argc, char **argv)
{
	(void)cli;
	(void)argc;
	fprintf(stderr, "bitsync: '%s' is not available in this build yet; "
	    "'bitsync validate' checks manifests today\n", argv[0]);
	return EXIT_USAGE;
}

int
cmd_version(const struct cli *cli, int argc, char **argv)
{
	(void)cli;
	if (argc > 1) {
		fprintf(stderr, "bitsync: 'version' takes no arguments "
		    "(got '%s')\n", argv[1]);
		return EXIT_USAGE;
	}
	printf("bitsync %s (libyaml %s, jansson %s)\n", BITSYNC_VERSION,
	    yaml_get_version_string(), jansson_version_str());
	return EXIT_OK;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli cli = { CONFIG_DEFAULT_PATH, 0 };
	size_t i;
	int ch;

	/* '+': stop at the command; its options are its own. */
	while ((ch = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cli.config_path = optarg;
			cli.config_explicit = 1;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[optind], commands[i].name) == 0) {
			/* Commands parse with getopt from a fresh start. */
			char **cargv = argv + optind;
			int cargc = argc - optind;

			optind = 0;
			return commands[i].run(&cli, cargc, cargv);
		}
	fprintf(stderr, "bitsync: unknown command '%s'\n", argv[optind]);
	usage(stderr);
	return EXIT_USAGE;
}
