/* log.h - the agent's one levelled logger (OpenBSD ntpd's log.c is the
 * model).  Every line is a key=value record that starts with level=;
 * lines above the configured log_level are dropped.  On a terminal each
 * line starts with a UTC timestamp; under systemd (JOURNAL_STREAM set)
 * with the syslog priority as "<N>", which journald keeps, so
 * `journalctl -p err` finds the errors; with log_format = json each line
 * is one JSON object instead ({"time", "level", and the record's keys}).
 * Before log_init only errors are written, to stderr. */
#ifndef BITSYNC_LOG_H
#define BITSYNC_LOG_H

#include <stdarg.h>
#include <stdio.h>

#include "config.h"

/* out: where lines go (stderr); NULL: nowhere.  level: enum log_level;
 * format: enum log_format. */
void log_init(FILE *out, int level, int format);
void log_set_level(int level);

/* Whether records of this level are wanted (the Event Log follows the
 * same level as the lines). */
int log_enabled(int level);

/* One record: fmt gives its key=value text, without level=. */
void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_vmsg(int level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* The same, for text already formatted. */
void log_line(int level, const char *record);

#define log_error(...)	log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* The record as it would be written (no newline), for tests: kind is
 * 0 plain, 1 terminal, 2 journal, 3 json; now is the time to stamp.
 * Returns a string to free. */
char *log_format_record(int level, const char *record, int kind,
    long long now);

#endif
