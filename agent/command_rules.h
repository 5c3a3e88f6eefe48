/* command_rules.h - validation of a set's on_change (design §2a, §3):
 * the rules command-not-allowed and command-path, and the schema of the
 * on_change mapping.  Called by rules.c for a set that has the key. */
#ifndef BITSYNC_COMMAND_RULES_H
#define BITSYNC_COMMAND_RULES_H

#include "diag.h"
#include "model.h"
#include "ytree.h"

#define RULE_COMMAND_NOT_ALLOWED	"command-not-allowed"
#define RULE_COMMAND_PATH		"command-path"

#define COMMAND_TIMEOUT_DEFAULT	300		/* 5m */
#define COMMAND_TIMEOUT_MAX	(24 * 3600)	/* a day */
#define COMMAND_ARGS_MAX	256

/* Checks the value v of the on_change key (key: its key node, where
 * command-not-allowed points) for a host of the given platform and
 * config (NULL: built-in defaults, which do not allow commands).  Every
 * problem goes to d under file.  Returns the model (strings point into
 * the tree, which the manifest keeps; arrays from a), or NULL when the
 * value is unusable. */
const struct mcommand *command_rules_check(struct diags *d, const char *file,
    const struct ynode *key, const struct ynode *v, enum platform platform,
    const struct config *cfg, struct arena *a);

/* Whether program is an absolute program path for the platform (POSIX:
 * starts with '/'; Windows: a drive path "C:\..." or a known-folder
 * variable "%ProgramFiles%\...") with no ".." component.  0 when it is. */
int command_rules_program_ok(const char *program, enum platform platform);

#endif
