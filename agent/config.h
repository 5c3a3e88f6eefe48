/* config.h - the agent configuration (bitsync.ini, read with inih by
 * posix/config_posix.c; the registry on Windows, win/config_win.c).
 *
 * The keys are a data table in config_keys.c (name, type, bounds); an
 * unknown key or a bad value refuses the whole file with FILE:LINE:
 * diagnostics.  A config that is not refused is accepted whole. */
#ifndef BITSYNC_CONFIG_H
#define BITSYNC_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"

#define CONFIG_DEFAULT_PATH "/etc/bitsync/bitsync.ini"

enum config_backend { BACKEND_DEFAULT, BACKEND_ENGINE, BACKEND_BITS };
/* bits_tolerate_unimplemented: the named BITS calls */
#define CONFIG_TOLERATE_SET_PROXY_SETTINGS	0x1	/* SetProxySettings */

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARNING, LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

struct config {
	char *path;			/* file read, or NULL for built-in defaults */
	/* [agent] */
	char *manifest;
	char *manifest_dir;
	char *state_dir;
	enum config_backend backend;
	uint64_t interval;		/* seconds */
	uint64_t splay;			/* seconds */
	uint64_t start_splay;		/* seconds; 0: transfers start at once */
	enum log_level log_level;
	enum log_format log_format;
	uint32_t allow_drives;		/* bit n: drive letter 'A'+n allowed */
	char **allow_roots;		/* NULL-terminated; empty: anywhere */
	size_t nallow_roots;
	char *credential_dir;
	char *status_file;
	char *metrics_file;		/* NULL: off */
	/* POSIX: the computer account's keys for `auth: computer` (krb.h);
	 * NULL: off (anonymous).  machine_principal NULL: the keytab's
	 * HOST$ principal. */
	char *machine_keytab;
	char *machine_principal;
	int allow_commands;		/* manifests may carry on_change */
	/* BITS calls whose E_NOTIMPL is a warning, not a refusal of the set
	 * (CONFIG_TOLERATE_*): for test hosts whose BITS is incomplete
	 * (Wine), never for real Windows.  Default 0: nothing tolerated. */
	uint32_t bits_tolerate;
	unsigned max_set_files;		/* most files of one folder set */
	/* Where status_file and metrics_file were set (the file, or the
	 * registry value, and its line; NULL: the default), for the
	 * messages about their folders (reconcile_outputs_check). */
	const char *status_file_where, *metrics_file_where;
	unsigned status_file_line, metrics_file_line;
	/* [engine] */
	unsigned max_parallel;
	uint64_t rate_limit;		/* bytes per second; 0: unlimited */
	char *ca_file;			/* NULL: system anchors only */
	unsigned smb_port;
	/* rate_schedule (rsched.h), as written: NULL when not set.  Checked
	 * by the config reader; the engine parses it again at open. */
	char *rate_schedule;
	/* BITS's MaxFilesPerJob and MaxJobsPerMachine (default 200 and 300):
	 * [engine] max_files_per_job and max_jobs on POSIX hosts, BITS's own
	 * policy values on Windows (config_win.c).  A set with more files is
	 * carried by several jobs; sets beyond the job budget wait. */
	unsigned max_files_per_job;
	unsigned max_jobs;
	/* Private: storage of the values read from the file; the default
	 * strings are static, so config_defaults() allocates nothing. */
	void *owned;
};

/* Fills cfg with the built-in defaults (design §6).  Allocates nothing, so
 * a struct holding only defaults needs no config_free (it is harmless). */
void config_defaults(struct config *cfg);

/* Reads path over the defaults.  Returns 0 when the file was accepted, -1
 * when it was refused (diagnostics in d, cfg left at defaults).  When
 * missing_ok and the file does not exist, returns 0 with the defaults.
 * cfg is overwritten, not freed: config_free a loaded config before
 * loading into it again.  Every diagnostic has rule "config", except a
 * file that cannot be read ("io-error"). */
int config_load(struct config *cfg, const char *path, int missing_ok,
    struct diags *d);

/* Frees what config_load stored and leaves cfg at the defaults. */
void config_free(struct config *cfg);

/* Printable name of an allowed-drives set, e.g. "C,D", or "none" when no
 * drive is allowed (buf >= 52). */
void config_format_drives(uint32_t drives, char *buf, size_t len);

#endif
