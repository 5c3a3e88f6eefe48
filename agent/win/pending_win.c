/* pending_win.c - the commands whose modules are not ported to Windows yet
 * (packaging/windows/build.sh: WIN_PENDING).  Each answers with a clear
 * message and exit 69 instead of the build failing, so bitsync.exe ships
 * validate and version today.  build.sh defines PENDING_<command> for each
 * command it leaves out; a ported command simply drops out of the list. */
#include <stdio.h>

#include "cli.h"

static int
pending(const char *cmd)
{
	fprintf(stderr, "bitsync: '%s' is not available in the Windows build "
	    "yet (its reconciler port to BITS is in progress); 'bitsync "
	    "validate' checks manifests today\n", cmd);
	return EXIT_UNAVAILABLE;
}

#define PENDING_CMD(name)						\
int									\
cmd_##name(const struct cli *cli, int argc, char **argv)		\
{									\
	(void)cli;							\
	(void)argc;							\
	(void)argv;							\
	return pending(#name);						\
}

#ifdef PENDING_cmd_plan
PENDING_CMD(plan)
#endif
#ifdef PENDING_cmd_apply
PENDING_CMD(apply)
#endif
#ifdef PENDING_cmd_run
PENDING_CMD(run)
#endif
#ifdef PENDING_cmd_status
PENDING_CMD(status)
#endif
