/* command_rules.c - the on_change rules (see command_rules.h).
 *
 * A manifest that may run a program as root / LocalSystem is checked more
 * strictly than the rest: the host's owner must have said yes
 * (allow_commands), the program is named by an absolute path (no shell,
 * no search path, as BITS requires of SetNotifyCmdLine programs), and
 * arguments are a list, never one string a shell would split. */
#include "command_rules.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "util.h"

/* The folders a Windows program path may start with: the destinations'
 * known folders (design §2), which expand the same for every account. */
static const char *const win_folders[] = { "ProgramData", "ProgramFiles",
    "ProgramFiles(x86)", "SystemRoot", "WinDir", "SystemDrive", NULL };

static int
has_dotdot(const char *s)
{
	const char *p = s;

	while (*p != '\0') {
		size_t n = strcspn(p, "/\\");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return 1;
		p += n;
		if (*p != '\0')
			p++;
	}
	return 0;
}

int
command_rules_program_ok(const char *s, enum platform platform)
{
	size_t i, n;

	if (has_dotdot(s))
		return -1;
	if (platform == PLATFORM_POSIX)
		return s[0] == '/' ? 0 : -1;
	/* C:\dir\prog.exe: a drive path, never "C:prog" (relative to the
	 * drive's current folder) or a UNC path (a program on a share
	 * would run as LocalSystem from wherever the share points). */
	if (isalpha((unsigned char)s[0]) && s[1] == ':' &&
	    (s[2] == '\\' || s[2] == '/'))
		return 0;
	if (s[0] != '%')
		return -1;
	for (i = 0; win_folders[i] != NULL; i++) {
		n = strlen(win_folders[i]);
		if (strncasecmp(s + 1, win_folders[i], n) == 0 &&
		    s[n + 1] == '%' && (s[n + 2] == '\\' || s[n + 2] == '/'))
			return 0;
	}
	return -1;
}

static const struct ynode *
key_of(const struct ynode *map, const char *name, const struct ynode **val)
{
	uint32_t i;

	for (i = 0; i < map->n; i++) {
		const struct ynode *k = &map->u.pairs[i].key;

		if (k->kind == YN_SCALAR && k->type == YS_STR &&
		    strcmp(k->u.s, name) == 0) {
			*val = &map->u.pairs[i].value;
			return k;
		}
	}
	*val = NULL;
	return NULL;
}

static const char *
example(enum platform platform)
{
	return platform == PLATFORM_WINDOWS ?
	    "run: ['%SystemRoot%\\System32\\sc.exe', 'control', 'contoso', "
	    "'paramchange']" :
	    "run: ['/usr/bin/systemctl', 'reload', 'contoso-tools']";
}

/* The run list: argv of non-empty strings, program absolute. */
static int
check_run(struct diags *d, const char *file, const struct ynode *run,
    enum platform platform, struct mcommand *cmd, struct arena *a)
{
	const char **argv;
	uint32_t i;
	int ok = 1;

	if (run->kind == YN_REFUSED)
		return 0;
	if (run->kind == YN_SCALAR && run->type == YS_STR) {
		diag_add(d, file, run->line, run->col, DIAG_ERROR,
		    RULE_COMMAND_PATH, "'run' is one string, which only a "
		    "shell would split into a program and its arguments; "
		    "bitsync runs no shell: write a list whose first item is "
		    "the program's absolute path, e.g. %s", example(platform));
		return 0;
	}
	if (run->kind != YN_SEQ || run->n == 0) {
		diag_add(d, file, run->line, run->col, DIAG_ERROR, "schema",
		    "'run' must be a non-empty list: the program's absolute "
		    "path, then its arguments, e.g. %s", example(platform));
		return 0;
	}
	if (run->n > COMMAND_ARGS_MAX) {
		diag_add(d, file, run->line, run->col, DIAG_ERROR, "schema",
		    "'run' has %u items; at most %d are allowed", run->n,
		    COMMAND_ARGS_MAX);
		return 0;
	}
	for (i = 0; i < run->n; i++) {
		const struct ynode *it = &run->u.items[i];

		if (it->kind == YN_REFUSED) {
			ok = 0;
			continue;
		}
		/* A number or true is an argument written without quotes:
		 * refused rather than guessed at (1.0 vs 1). */
		if (it->kind != YN_SCALAR || it->type != YS_STR ||
		    (i == 0 && it->n == 0)) {
			diag_add(d, file, it->line, it->col, DIAG_ERROR,
			    "schema", "each item of 'run' must be a string%s, "
			    "not %s; put it in quotes", i == 0 ?
			    " (the program's path)" : "",
			    ynode_describe(it));
			ok = 0;
		}
	}
	if (!ok)
		return 0;
	if (command_rules_program_ok(run->u.items[0].u.s, platform) != 0) {
		const char *p = run->u.items[0].u.s;

		diag_add(d, file, run->u.items[0].line, run->u.items[0].col,
		    DIAG_ERROR, RULE_COMMAND_PATH, "program '%s' is not an "
		    "absolute path%s; bitsync searches no PATH and runs no "
		    "shell: write %s", p, has_dotdot(p) ? " without '..'" : "",
		    platform == PLATFORM_WINDOWS ? "a full path such as "
		    "'C:\\Program Files\\Contoso\\reload.exe' or one that "
		    "starts with a known folder ('%ProgramFiles%\\Contoso\\"
		    "reload.exe'; not a share)" : "its full path, such as "
		    "'/usr/bin/systemctl' (see `command -v NAME`)");
		return 0;
	}
	argv = arena_alloc(a, run->n * sizeof(*argv));
	for (i = 0; i < run->n; i++)
		argv[i] = run->u.items[i].u.s;
	cmd->argv = argv;
	cmd->argc = run->n;
	return 1;
}

const struct mcommand *
command_rules_check(struct diags *d, const char *file,
    const struct ynode *key, const struct ynode *v, enum platform platform,
    const struct config *cfg, struct arena *a)
{
	static const char *const names[] = { "run", "timeout" };
	struct mcommand *cmd = NULL, tmp;
	const struct ynode *run, *to;
	uint64_t secs = COMMAND_TIMEOUT_DEFAULT;
	uint32_t i;
	int ok = 1;

	memset(&tmp, 0, sizeof(tmp));
	tmp.pos.file = file;
	tmp.pos.line = key->line;
	tmp.pos.col = key->col;
	/* First, whatever the value: the host's owner decides whether
	 * manifests may run programs at all. */
	if (cfg == NULL || !cfg->allow_commands)
		diag_add(d, file, key->line, key->col, DIAG_ERROR,
		    RULE_COMMAND_NOT_ALLOWED, "on_change would run a program "
		    "as the agent's account (%s), and this host's agent config "
		    "%s does not allow that: remove on_change, or have the "
		    "host's owner set 'allow_commands = yes' in [agent]",
		    platform == PLATFORM_WINDOWS ? "LocalSystem" : "root",
		    cfg != NULL && cfg->path != NULL ? cfg->path :
		    "(built-in defaults)");
	if (v->kind == YN_REFUSED)
		return NULL;
	if (v->kind != YN_MAP) {
		if (v->kind == YN_SCALAR && v->type == YS_STR)
			diag_add(d, file, v->line, v->col, DIAG_ERROR,
			    RULE_COMMAND_PATH, "on_change is one string, a "
			    "shell line; bitsync runs no shell: write "
			    "'on_change: {%s}'", example(platform));
		else
			diag_add(d, file, v->line, v->col, DIAG_ERROR, "schema",
			    "'on_change' must be a mapping with 'run' (and "
			    "optional 'timeout'), not %s", ynode_describe(v));
		return NULL;
	}
	for (i = 0; i < v->n; i++) {
		const struct ynode *k = &v->u.pairs[i].key;
		const char *near;

		if (k->kind != YN_SCALAR || k->type != YS_STR ||
		    strcmp(k->u.s, "run") == 0 ||
		    strcmp(k->u.s, "timeout") == 0)
			continue;
		near = util_closest(k->u.s, names, 2);
		diag_add(d, file, k->line, k->col, DIAG_ERROR, "schema",
		    "unknown key '%s' in 'on_change'; %s%s%s", k->u.s,
		    near ? "did you mean '" : "valid keys are run, timeout",
		    near ? near : "", near ? "'?" : "");
		ok = 0;
	}
	if (key_of(v, "run", &run) == NULL) {
		diag_add(d, file, key->line, key->col, DIAG_ERROR, "schema",
		    "'on_change' needs 'run', e.g. %s", example(platform));
		ok = 0;
	} else if (!check_run(d, file, run, platform, &tmp, a))
		ok = 0;
	if (key_of(v, "timeout", &to) != NULL && to->kind != YN_REFUSED) {
		if (to->kind != YN_SCALAR || to->type != YS_STR ||
		    util_parse_duration(to->u.s, &secs) != 0 || secs == 0 ||
		    secs > COMMAND_TIMEOUT_MAX) {
			diag_add(d, file, to->line, to->col, DIAG_ERROR,
			    "schema", "on_change 'timeout' must be a duration "
			    "from 1s to 1d, a number followed by s, m, h or d "
			    "such as '2m' (default 5m)");
			ok = 0;
		}
	}
	if (ok) {
		tmp.timeout = secs;
		cmd = arena_alloc(a, sizeof(*cmd));
		*cmd = tmp;
	}
	return cmd;
}
