/* log.c - the levelled logger (log.h). */
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifndef _WIN32
#include <unistd.h>
#else
#include <io.h>
#define isatty _isatty
#define fileno _fileno
#endif

#include <jansson.h>

#include "util.h"

static FILE *log_out;
static int log_ready;		/* log_init was called */
static int log_level = LOG_LEVEL_INFO;
static int log_kind;		/* as log_format_record's kind */

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error", [LOG_LEVEL_WARNING] = "warning",
	[LOG_LEVEL_INFO] = "info", [LOG_LEVEL_DEBUG] = "debug"
};
/* syslog(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */
static const int level_prio[] = { 3, 4, 6, 7 };

void
log_init(FILE *out, int level, int format)
{
	log_out = out;
	log_ready = 1;
	log_level = level;
	if (format == LOG_FORMAT_JSON)
		log_kind = 3;
	else if (getenv("JOURNAL_STREAM") != NULL)
		log_kind = 2;
	else if (out != NULL && isatty(fileno(out)))
		log_kind = 1;
	else
		log_kind = 0;
}

void
log_set_level(int level)
{
	log_level = level;
}

int
log_enabled(int level)
{
	return level <= log_level;
}

/* The record's key=value pairs into o; what is not key=value (free
 * text) goes under "msg".  Values may be "quoted" with \" inside. */
static void
json_fields(json_t *o, const char *p)
{
	char *msg = NULL;
	size_t msglen = 0;

	while (*p != '\0') {
		const char *k = p, *eq;
		char *v;
		size_t n = 0;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		k = p;
		while (*p != '\0' && *p != ' ' && *p != '=')
			p++;
		if (*p != '=' || p == k) {
			/* free text up to the next space */
			while (*p != '\0' && *p != ' ')
				p++;
			msg = xrealloc(msg, msglen + (size_t)(p - k) + 2);
			if (msglen > 0)
				msg[msglen++] = ' ';
			memcpy(msg + msglen, k, (size_t)(p - k));
			msglen += (size_t)(p - k);
			msg[msglen] = '\0';
			continue;
		}
		eq = p++;
		v = xmalloc(strlen(p) + 1);
		if (*p == '"') {
			for (p++; *p != '\0' && *p != '"'; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				v[n++] = *p;
			}
			if (*p == '"')
				p++;
		} else
			while (*p != '\0' && *p != ' ')
				v[n++] = *p++;
		v[n] = '\0';
		{
			char *key = xstrndup(k, (size_t)(eq - k));

			json_object_set_new(o, key, json_string(v));
			free(key);
		}
		free(v);
	}
	if (msg != NULL)
		json_object_set_new(o, "msg", json_string(msg));
	free(msg);
}

char *
log_format_record(int level, const char *record, int kind, long long now)
{
	char stamp[32];
	time_t t = (time_t)now;
	struct tm tm;
	const char *name = level_names[level];
	char *out;

#ifdef _WIN32
	gmtime_s(&tm, &t);
#else
	gmtime_r(&t, &tm);
#endif
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	switch (kind) {
	case 1:
		out = xasprintf("%s level=%s %s", stamp, name, record);
		break;
	case 2:
		/* journald adds the time; the prefix is the priority. */
		out = xasprintf("<%d>level=%s %s", level_prio[level], name,
		    record);
		break;
	case 3: {
		json_t *o = json_object();

		json_object_set_new(o, "time", json_string(stamp));
		json_object_set_new(o, "level", json_string(name));
		json_fields(o, record);
		out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(o);
		if (out == NULL)
			out = xstrdup("{}");
		break;
	}
	default:
		out = xasprintf("level=%s %s", name, record);
		break;
	}
	return out;
}

void
log_line(int level, const char *record)
{
	/* Before log_init an error still reaches stderr: a library (the
	 * engine's store) may fail while a command opens its backend,
	 * before it knows its config's log settings. */
	FILE *out = log_ready ? log_out : level == LOG_LEVEL_ERROR ? stderr :
	    NULL;
	char *line;

	if (out == NULL || !log_enabled(level))
		return;
	line = log_format_record(level, record, log_kind,
	    (long long)time(NULL));
	/* One write per line: threads and processes sharing the stream
	 * never interleave within a record. */
	fprintf(out, "%s\n", line);
	fflush(out);
	free(line);
}

void
log_vmsg(int level, const char *fmt, va_list ap)
{
	char *record;

	if (!log_enabled(level))
		return;
	record = xvasprintf(fmt, ap);
	log_line(level, record);
	free(record);
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
