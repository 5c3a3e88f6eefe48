/* test_log.c - the levelled logger: what each level lets through and the
 * form of a line in each of its outputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "check.h"
#include "log.h"

/* What the logger wrote to a temporary stream since it was opened. */
static char *
written(FILE *f)
{
	long n = ftell(f);
	char *buf = calloc(1, (size_t)n + 1);

	rewind(f);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		buf[0] = '\0';
	return buf;
}

static void
test_levels(void)
{
	FILE *f = tmpfile();
	char *out;

	unsetenv("JOURNAL_STREAM");
	log_init(f, LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	log_error("set=a result=failed");
	log_warn("set=a warning=\"w\"");
	log_info("set=a job=x created");
	log_debug("set=a action=wait");
	CHECK(log_enabled(LOG_LEVEL_ERROR));
	CHECK(!log_enabled(LOG_LEVEL_WARNING));
	out = written(f);
	CHECK_STR(out, "level=error set=a result=failed\n");
	free(out);
	fclose(f);

	f = tmpfile();
	log_init(f, LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	log_info("set=a job=x created");
	log_debug("set=a action=wait");
	log_set_level(LOG_LEVEL_DEBUG);
	log_debug("set=b action=wait");
	out = written(f);
	CHECK_STR(out, "level=info set=a job=x created\n"
	    "level=debug set=b action=wait\n");
	free(out);
	fclose(f);
	/* No stream: the level still answers (the Event Log follows it),
	 * nothing is written. */
	log_init(NULL, LOG_LEVEL_WARNING, LOG_FORMAT_TEXT);
	CHECK(log_enabled(LOG_LEVEL_ERROR));
	CHECK(!log_enabled(LOG_LEVEL_INFO));
	log_error("set=a result=failed");
}

static void
test_forms(void)
{
	/* 2026-12-03T12:00:00Z */
	long long t = 1796299200LL;
	char *s;
	json_t *j;

	s = log_format_record(LOG_LEVEL_INFO, "set=a created", 0, t);
	CHECK_STR(s, "level=info set=a created");
	free(s);
	s = log_format_record(LOG_LEVEL_WARNING, "set=a", 1, t);
	CHECK_STR(s, "2026-12-03T12:00:00Z level=warning set=a");
	free(s);
	/* journald: the syslog priority, no time (journald adds it) */
	s = log_format_record(LOG_LEVEL_ERROR, "set=a", 2, t);
	CHECK_STR(s, "<3>level=error set=a");
	free(s);
	s = log_format_record(LOG_LEVEL_DEBUG, "set=a", 2, t);
	CHECK_STR(s, "<7>level=debug set=a");
	free(s);
	s = log_format_record(LOG_LEVEL_INFO, "set=a", 2, t);
	CHECK_STR(s, "<6>level=info set=a");
	free(s);
	/* json: keys, quoted values with escapes, free text under msg */
	s = log_format_record(LOG_LEVEL_ERROR, "reload refused set=app "
	    "error=\"HTTP 404 \\\"x\\\" (context REMOTE_FILE)\" code=0x80190194",
	    3, t);
	j = json_loads(s, 0, NULL);
	CHECK(j != NULL);
	CHECK_STR(json_string_value(json_object_get(j, "level")), "error");
	CHECK_STR(json_string_value(json_object_get(j, "time")),
	    "2026-12-03T12:00:00Z");
	CHECK_STR(json_string_value(json_object_get(j, "set")), "app");
	CHECK_STR(json_string_value(json_object_get(j, "error")),
	    "HTTP 404 \"x\" (context REMOTE_FILE)");
	CHECK_STR(json_string_value(json_object_get(j, "code")),
	    "0x80190194");
	CHECK_STR(json_string_value(json_object_get(j, "msg")),
	    "reload refused");
	json_decref(j);
	free(s);
}

/* Before log_init: an error (a library failing while a command opens its
 * backend) reaches stderr; nothing else is written. */
static void
test_before_init(void)
{
	FILE *f = tmpfile();
	int saved = dup(2);
	char *out;

	fflush(stderr);
	dup2(fileno(f), 2);
	log_warn("event=early-warning");
	log_info("event=early-info");
	log_error("event=early-error store=/x");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	out = written(f);
	CHECK(strstr(out, "level=error event=early-error store=/x") != NULL);
	CHECK(strstr(out, "early-warning") == NULL);
	CHECK(strstr(out, "early-info") == NULL);
	free(out);
	fclose(f);
}

int
main(void)
{
	test_before_init();	/* first: no log_init yet */
	test_levels();
	test_forms();
	return check_done();
}
