/* main.c - bitsync's command line: global options, then one command. */
#include <getopt.h>
#ifndef _WIN32
#include <pwd.h>
#include <unistd.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <jansson.h>
#include <yaml.h>

#include "cli.h"
#include "config.h"

static int cmd_help(const struct cli *cli, int argc, char **argv);

/* The command table: what each command is called, runs, takes, and the
 * lines its --help prints under the synopsis (one "  --option  meaning"
 * line per option; tests/packaging/docs_options.py keeps them and the man
 * page in agreement). */
static const struct command {
	const char *name;
	int (*run)(const struct cli *, int, char **);
	const char *synopsis;
	const char *summary;
	const char *options;
} commands[] = {
	{ "validate", cmd_validate, "[--platform host|windows|posix] "
	    "[--format text|json] [--strict] [PATH...]",
	    "Check manifests against the rules; write nothing.",
	    "  --platform P   check for host (default), windows or posix\n"
	    "  --format F     text (FILE:LINE:COL: ...) or json\n"
	    "  --strict       treat warnings as errors\n" },
	{ "plan", cmd_plan, "[--format text|json] [--detailed-exitcode] "
	    "[--verbose] [PATH...]",
	    "Show what a reconcile pass would do; change nothing.",
	    "  --format F           text or json\n"
	    "  --detailed-exitcode  exit 2 when changes are pending\n"
	    "  --verbose            also list sets that need no action\n" },
	{ "apply", cmd_apply, "[--wait] [--timeout DURATION] [--quiet] "
	    "[PATH...]",
	    "Reconcile now (through the running agent when there is one).",
	    "  --wait               go on until every set is in sync or failed\n"
	    "  --timeout DURATION   with --wait: give up after DURATION (10m)\n"
	    "  --quiet              no summary line\n" },
	{ "run", cmd_run, "",
	    "Run the agent in the foreground (systemd starts it so).", "" },
	{ "status", cmd_status, "[--format text|json] [--watch]",
	    "Show every set: in sync, transferring, failed, drift.",
	    "  --format F     text or json\n"
	    "  --watch        redraw with progress bars until interrupted\n" },
#ifdef _WIN32
	{ "service", cmd_service, "install [--account LocalSystem|"
	    "NetworkService|LocalService] | uninstall",
	    "Install or remove the Windows service.",
	    "  --account A    the service account (default LocalSystem)\n" },
#endif
	{ "version", cmd_version, "", "Print the version and exit.", "" },
	{ "help", cmd_help, "[COMMAND]",
	    "Print the usage of bitsync or of one COMMAND.", "" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: bitsync [-c CONFIG] COMMAND [OPTIONS]\n"
	    "       bitsync --version | --help | help COMMAND\n\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  bitsync [-c CONFIG] %s %s\n", commands[i].name,
		    commands[i].synopsis);
	fprintf(out, "\nCONFIG defaults to %s.  Exit codes: 0 ok, 1 invalid "
	    "or failed, 2 changes pending,\n64 usage, 69 backend "
	    "unavailable, 74 I/O error.  'bitsync help COMMAND' or\n"
	    "'bitsync COMMAND --help' describes one command; man bitsync "
	    "says everything.\n", CONFIG_DEFAULT_PATH);
}

static const struct command *
command_find(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	return NULL;
}

static void
command_usage(FILE *out, const struct command *c)
{
	fprintf(out, "usage: bitsync [-c CONFIG] %s %s\n\n%s\n", c->name,
	    c->synopsis, c->summary);
	if (c->options[0] != '\0')
		fprintf(out, "\noptions:\n%s", c->options);
	fprintf(out, "  -h, --help     print this help and exit\n");
}

/* `COMMAND --help` (or -h) anywhere before a "--": the command's usage on
 * stdout and exit 0, whatever else the line says, as GNU tools do. */
static int
wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return 0;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	}
	return 0;
}

static int
cmd_help(const struct cli *cli, int argc, char **argv)
{
	const struct command *c;

	(void)cli;
	if (argc == 1) {
		usage(stdout);
		return EXIT_OK;
	}
	if (argc > 2 || (c = command_find(argv[1])) == NULL) {
		fprintf(stderr, "bitsync: help: unknown command '%s'; the "
		    "commands are listed by 'bitsync help'\n", argv[1]);
		return EXIT_USAGE;
	}
	command_usage(stdout, c);
	return EXIT_OK;
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

/* bitsync runs as root, often started from an admin's shell (`sudo -E`,
 * `su` without `-`): libsmbclient, loaded later, reads $HOME/.smb/smb.conf
 * and honours SMB_CONF_PATH (and, where Samba keeps it, LIBSMB_PROG), so
 * whoever owns that HOME would steer the agent's SMB client (protocol
 * floor, signing, log and cache paths).  HOME becomes the account's own
 * home from the password database, or is removed. */
static void
sanitize_env(void)
{
#ifndef _WIN32
	struct passwd *pw = getpwuid(geteuid());

	unsetenv("LIBSMB_PROG");
	unsetenv("SMB_CONF_PATH");
	if (pw != NULL && pw->pw_dir != NULL && pw->pw_dir[0] == '/')
		setenv("HOME", pw->pw_dir, 1);
	else
		unsetenv("HOME");
#endif
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli cli = { CONFIG_DEFAULT_PATH, 0 };
	const struct command *c;
	int ch;

	sanitize_env();
	/* '+': stop at the command; its options are its own. */
	while ((ch = getopt_long(argc, argv, "+c:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cli.config_path = optarg;
			cli.config_explicit = 1;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			return cmd_version(&cli, 1, argv);
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((c = command_find(argv[optind])) != NULL) {
		/* Commands parse with getopt from a fresh start. */
		char **cargv = argv + optind;
		int cargc = argc - optind;

		if (wants_help(cargc, cargv)) {
			command_usage(stdout, c);
			return EXIT_OK;
		}
		optind = 0;
#ifdef __linux__
		/* Commands that hold helper passwords (curl, libsmbclient and
		 * cached contexts keep copies we cannot wipe) leave no core
		 * and cannot be ptraced or read through /proc by the user
		 * they act for (audit U19); validate reads no secret and
		 * stays debuggable. */
		if (strcmp(c->name, "run") == 0 ||
		    strcmp(c->name, "apply") == 0 ||
		    strcmp(c->name, "plan") == 0 ||
		    strcmp(c->name, "status") == 0)
			(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
		return c->run(&cli, cargc, cargv);
	}
	fprintf(stderr, "bitsync: unknown command '%s'\n", argv[optind]);
	usage(stderr);
	return EXIT_USAGE;
}
