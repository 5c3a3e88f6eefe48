/* cli.h - what every command receives from main(), and the commands. */
#ifndef BITSYNC_CLI_H
#define BITSYNC_CLI_H

/* Exit codes (design §5; sysexits.h numbers where they exist). */
enum {
	EXIT_OK = 0,
	EXIT_INVALID = 1,	/* invalid manifest or config, failed apply */
	EXIT_CHANGES = 2,	/* plan --detailed-exitcode: changes pending */
	EXIT_USAGE = 64,
	EXIT_UNAVAILABLE = 69,	/* backend unavailable */
	EXIT_SOFTWARE = 70,	/* internal error, out of memory */
	EXIT_IOERR = 74
};

struct cli {
	const char *config_path;	/* -c, or CONFIG_DEFAULT_PATH */
	int config_explicit;		/* -c given: a missing file is an error */
};

/* A command parses its own options from argv (argv[0] is its name) and
 * returns the process exit code. */
int cmd_validate(const struct cli *cli, int argc, char **argv);
int cmd_version(const struct cli *cli, int argc, char **argv);
int cmd_plan(const struct cli *cli, int argc, char **argv);	/* cmd_plan.c */
int cmd_apply(const struct cli *cli, int argc, char **argv);	/* cmd_apply.c */
/* posix/run_posix.c, win/run_win.c */
int cmd_run(const struct cli *cli, int argc, char **argv);
int cmd_status(const struct cli *cli, int argc, char **argv);	/* cmd_status.c */
#ifdef _WIN32
int cmd_service(const struct cli *cli, int argc, char **argv);	/* win/cmd_service.c */
#endif

#endif
